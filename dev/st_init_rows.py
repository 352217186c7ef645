"""Checks a model trained with --init over another vocabulary (tests/test_train.sh).

usage: st_init_rows.py GENERAL ADAPTED FRESH
Reads three safetensors files with the standard library only.  The words
both vocabularies know must have the general model's rows in ADAPTED, the
new words a fresh run's rows (FRESH: same options and seed, no --init), and
every tensor without vocabulary rows the general model's values.
"""
import json, struct, sys
def load(p):
    b = open(p, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n])
    meta = h.pop('__metadata__', {})
    out = {}
    for k, v in h.items():
        s, e = v['data_offsets']
        assert v['dtype'] == 'F32'
        data = struct.unpack('<%df' % ((e - s) // 4), b[8 + n + s:8 + n + e])
        out[k] = (v['shape'], data)
    voc = json.loads(meta['lmfuse.vocab'])
    return out, voc
g, gv = load(sys.argv[1]); a, av = load(sys.argv[2]); f, fv = load(sys.argv[3])
assert av == fv
gi = {w: i for i, w in enumerate(gv)}
known = new = 0; worst_k = worst_n = worst_o = 0.0
for name, (shape, data) in a.items():
    gs, gd = g[name]; fs, fd = f[name]
    if shape == gs and name not in ('encoder.weight', 'decoder.weight', 'decoder.bias', 'tok_emb.weight', 'head.weight', 'head.bias'):
        worst_o = max(worst_o, max(abs(x - y) for x, y in zip(data, gd)))
        continue
    width = len(data) // shape[0]
    for r, w in enumerate(av):
        row = data[r * width:(r + 1) * width]
        if w in gi:
            known += 1
            o = gi[w]
            worst_k = max(worst_k, max(abs(x - y) for x, y in zip(row, gd[o * width:(o + 1) * width])))
        else:
            new += 1
            worst_n = max(worst_n, max(abs(x - y) for x, y in zip(row, fd[r * width:(r + 1) * width])))
print(f"known rows {known} (max diff from the general model {worst_k:.3g}), new rows {new} (max diff from a fresh run {worst_n:.3g}), other tensors max diff {worst_o:.3g}")
sys.exit(0 if known and new and worst_k < 1e-20 and worst_n < 1e-20 and worst_o < 1e-20 else 1)
