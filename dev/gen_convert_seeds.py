#!/usr/bin/env python3
"""Seeds of fuzz/fuzz_convert.c (fuzz/corpus/convert/), each
    [flags][L, 2 bytes little-endian][token list, L bytes][state dict]
with flags bit 0 = give the token list, bits 1-3 = heads:
  pt_lstm        the fixture of dev/gen_convert_fixtures.py with its list
  rnn_meta       tests/data/rnnlm_rnn.safetensors, its own lmfuse.vocab
  tf_heads       tests/data/rnnlm_transformer.safetensors without lmfuse
                 metadata, its tokens as a list, --heads 2
  control_bytes  a small nn.RNN state dict whose tokens are runs of \\x01
                 and other control bytes (issue 15), <unk>/<eos> inside
  rules          the same state dict, one token breaking a rule (a tab)
Each stays under the 8192 bytes CI gives libFuzzer (-max_len).

usage: python3 dev/gen_convert_seeds.py   (standard library only)
"""
import json
import os
import struct


def read_st(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    return json.loads(b[8 : 8 + n]), b[8 + n :]


def write_st(tensors, meta=None):
    """tensors: list of (name, shape, raw F32 bytes)."""
    header, blob = {}, b""
    if meta:
        header["__metadata__"] = meta
    for name, shape, raw in tensors:
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(blob), len(blob) + len(raw)]}
        blob += raw
    js = json.dumps(header, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 8)
    return struct.pack("<Q", len(js)) + js + blob


def seed(name, flags, tokens, state_dict):
    data = bytes([flags]) + struct.pack("<H", len(tokens)) + tokens + state_dict
    assert len(data) <= 8192, (name, len(data))
    with open(os.path.join("fuzz/corpus/convert", name), "wb") as f:
        f.write(data)


os.makedirs("fuzz/corpus/convert", exist_ok=True)
seed("pt_lstm", 1, open("tests/data/pt_lstm.vocab.txt", "rb").read(), open("tests/data/pt_lstm.safetensors", "rb").read())
seed("rnn_meta", 0, b"", open("tests/data/rnnlm_rnn.safetensors", "rb").read())

h, blob = read_st("tests/data/rnnlm_transformer.safetensors")
vocab = json.loads(h["__metadata__"]["lmfuse.vocab"])
tensors = [(k, v["shape"], blob[v["data_offsets"][0] : v["data_offsets"][1]]) for k, v in h.items() if k != "__metadata__"]
seed("tf_heads", 1 | 2 << 1, "".join(t + "\n" for t in vocab).encode(), write_st(tensors, {"format": "pt"}))

V, E = 8, 2
vals = lambda n, k: struct.pack("<%df" % n, *[((i + k) * 37 % 101) / 100 - 0.5 for i in range(n)])
rnn = write_st([("encoder.weight", [V, E], vals(V * E, 0)), ("lstm.weight_ih_l0", [E, E], vals(E * E, 1)),
                ("lstm.weight_hh_l0", [E, E], vals(E * E, 2)), ("lstm.bias_ih_l0", [E], vals(E, 3)),
                ("lstm.bias_hh_l0", [E], vals(E, 4)), ("decoder.weight", [V, E], vals(V * E, 5)),
                ("decoder.bias", [V], vals(V, 6))], {"format": "pt"})
toks = [b"\x01" * 40, b"\x01" * 41, b"<unk>", b"\x1b[0m", b"\x7f", b"<eos>", "caf\u00e9".encode(), b"\x01\x02"]
seed("control_bytes", 1, b"\n".join(toks) + b"\n", rnn)
toks[3] = b"a\tb"
seed("rules", 1, b"\n".join(toks) + b"\n", rnn)
