#!/usr/bin/env python3
"""PyTorch reference for lmfuse's training loop: 10 optimizer steps of a
small recurrent model, from the same initial weights, on the same data.

For each architecture (rnn, lstm tied, gru, transformer tied: dev/torch_tf.py,
width 16, 2 heads, ff 32, context 8 = the window; and lstm_cls, a tied LSTM
with a class-factored output layer over CLASSES frequency classes) this writes
  tests/data/train_<arch>_init.safetensors   initial weights + lmfuse metadata
  tests/data/train_<arch>.expected           per step: loss, gradient norm
The data is tests/data/train-tiny.txt laid out as `lmfuse train` lays it
out: one stream (</s>, then every line's words followed by </s>) cut into
B columns, windows of BPTT steps, hidden state carried across windows.
Vocabulary as `lmfuse vocab build`: <unk>, </s>, then words by decreasing
count, ties by first appearance.  Adam (betas 0.9/0.999, eps 1e-8), constant
lr, gradient-norm clipping, no dropout, mean cross-entropy per window.

usage: /usr/bin/python3 dev/gen_train_fixtures.py   (needs Debian's python3-torch)
"""
import json
import math
import struct

import torch

from torch_tf import TinyGPT

B, BPTT, E, H, L, LR, CLIP, STEPS = 4, 8, 16, 16, 2, 5e-3, 0.25, 10
lines = [l.split() for l in open("tests/data/train-tiny.txt", encoding="utf-8")]
count, first = {}, {}
for line in lines:
    for w in line:
        if w == "<unk>":
            continue
        count[w] = count.get(w, 0) + 1
        first.setdefault(w, len(first))
words = sorted(count, key=lambda w: (-count[w], first[w]))
vocab = ["<unk>", "</s>"] + words
index = {w: i for i, w in enumerate(vocab)}
stream = [1] + [i for line in lines for i in [index.get(w, 0) for w in line] + [1]]
cols = len(stream) // B
data = torch.tensor(stream[: cols * B]).view(B, cols).t().contiguous()
assert cols - 1 >= STEPS * BPTT


def save(path, tensors, meta):
    header, blob = {"__metadata__": meta}, b""
    for name, t in tensors.items():
        raw = t.detach().contiguous().float().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [len(blob), len(blob) + len(raw)]}
        blob += raw
    js = json.dumps(header, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(js)) + js + blob)


class Net(torch.nn.Module):
    def __init__(self, arch, tied):
        super().__init__()
        self.encoder = torch.nn.Embedding(len(vocab), E)
        self.rnn = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[arch](E, H, L)
        self.decoder = torch.nn.Linear(H, len(vocab))
        torch.nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
        torch.nn.init.uniform_(self.decoder.weight, -0.1, 0.1)
        torch.nn.init.uniform_(self.decoder.bias, -0.1, 0.1)
        if tied:
            self.decoder.weight = self.encoder.weight

    def forward(self, x, h):
        out, h = self.rnn(self.encoder(x), h)
        return self.decoder(out), h


torch.manual_seed(11)
for arch in ("rnn", "lstm", "gru"):
    tied = arch == "lstm"
    net = Net(arch, tied)
    sd = dict(net.state_dict())
    if tied:
        del sd["decoder.weight"]
    save(f"tests/data/train_{arch}_init.safetensors", sd,
         {"lmfuse.arch": arch, "lmfuse.vocab": json.dumps(vocab), "generator": "dev/gen_train_fixtures.py"})
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    z = torch.zeros(L, B, H)
    h = (z, z.clone()) if arch == "lstm" else z
    with open(f"tests/data/train_{arch}.expected", "w") as f:
        f.write(f"# {arch} tied={int(tied)} B={B} bptt={BPTT} emb={E} hidden={H} layers={L} lr={LR} clip={CLIP}\n")
        for step in range(STEPS):
            x, y = data[step * BPTT: (step + 1) * BPTT], data[step * BPTT + 1: (step + 1) * BPTT + 1]
            h = tuple(t.detach() for t in h) if arch == "lstm" else h.detach()
            opt.zero_grad()
            logits, h = net(x, h)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, len(vocab)), y.reshape(-1))
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(net.parameters(), CLIP)
            opt.step()
            f.write(f"{step + 1}\t{loss.item():.9g}\t{norm.item():.9g}\n")
    print(arch, "vocab", len(vocab), "cols", cols)

torch.manual_seed(12)
net = TinyGPT(len(vocab), E, 2, 32, BPTT, L, tied=True)
for name, p in net.named_parameters():
    torch.nn.init.normal_(p, 0.0, 0.1) if p.dim() == 2 else torch.nn.init.uniform_(p, -0.1, 0.1)
sd = dict(net.state_dict())
del sd["head.weight"]
save("tests/data/train_transformer_init.safetensors", sd,
     {"lmfuse.arch": "transformer", "lmfuse.heads": "2", "lmfuse.vocab": json.dumps(vocab),
      "generator": "dev/gen_train_fixtures.py"})
opt = torch.optim.Adam(net.parameters(), lr=LR)
with open("tests/data/train_transformer.expected", "w") as f:
    f.write(f"# transformer tied=1 B={B} ctx={BPTT} width={E} heads=2 ff=32 layers={L} lr={LR} clip={CLIP}\n")
    for step in range(STEPS):
        x, y = data[step * BPTT: (step + 1) * BPTT], data[step * BPTT + 1: (step + 1) * BPTT + 1]
        opt.zero_grad()
        logits = net(x.t())
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, len(vocab)), y.t().reshape(-1))
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(net.parameters(), CLIP)
        opt.step()
        f.write(f"{step + 1}\t{loss.item():.9g}\t{norm.item():.9g}\n")
print("transformer done")


# A tied LSTM whose output layer is class-factored: p(w|h) = p(c|h) p(w|c,h),
# classes = id ranges of about equal sqrt-frequency mass (as lmfuse makes
# them from the training counts), the word softmax restricted to the class.
CLASSES = 6
cnt = [0] * len(vocab)
for i in stream[1:]:
    cnt[i] += 1
total, cum, start = sum(math.sqrt(c) for c in cnt), 0.0, [0]
for v in range(len(vocab)):
    if len(start) >= CLASSES:
        break
    cum += math.sqrt(cnt[v])
    if len(vocab) - (v + 1) == CLASSES - len(start) or cum >= total * len(start) / CLASSES:
        start.append(v + 1)
start.append(len(vocab))
cls_of = torch.tensor([k for k in range(CLASSES) for _ in range(start[k + 1] - start[k])])

torch.manual_seed(13)
net = Net("lstm", True)
net.cls = torch.nn.Linear(H, CLASSES)
torch.nn.init.uniform_(net.cls.weight, -0.1, 0.1)
torch.nn.init.uniform_(net.cls.bias, -0.1, 0.1)
sd = dict(net.state_dict())
del sd["decoder.weight"]
save("tests/data/train_lstm_cls_init.safetensors", sd,
     {"lmfuse.arch": "lstm", "lmfuse.vocab": json.dumps(vocab), "lmfuse.classes": json.dumps(start),
      "generator": "dev/gen_train_fixtures.py"})
opt = torch.optim.Adam(net.parameters(), lr=LR)
z = torch.zeros(L, B, H)
h = (z, z.clone())
with open("tests/data/train_lstm_cls.expected", "w") as f:
    f.write(f"# lstm tied=1 classes={start} B={B} bptt={BPTT} emb={E} hidden={H} layers={L} lr={LR} clip={CLIP}\n")
    for step in range(STEPS):
        x, y = data[step * BPTT: (step + 1) * BPTT], data[step * BPTT + 1: (step + 1) * BPTT + 1]
        h = tuple(t.detach() for t in h)
        opt.zero_grad()
        out, h = net.rnn(net.encoder(x), h)
        out, y = out.reshape(-1, H), y.reshape(-1)
        c = cls_of[y]
        lc = torch.log_softmax(net.cls(out), -1).gather(1, c[:, None])
        words = net.decoder(out).masked_fill(cls_of[None, :] != c[:, None], float("-inf"))
        lw = torch.log_softmax(words, -1).gather(1, y[:, None])
        loss = -(lc + lw).mean()
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(net.parameters(), CLIP)
        opt.step()
        f.write(f"{step + 1}\t{loss.item():.9g}\t{norm.item():.9g}\n")
print("lstm_cls classes", start)


# A tied tanh RNN trained with dropout 0.3 (on the embeddings, between the
# layers and on the output), drawing lmfuse's masks: they are a pure function
# of (seed, step, site, index) (src/nn/ops.c lmf_dropout_mask, the key as
# src/nn/train.c makes it), reproduced here, so PyTorch applies the very
# masks lmfuse draws and the losses must agree as without dropout.
M64 = (1 << 64) - 1


def mix64(x):
    x &= M64
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & M64
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def lmf_mask(shape, p, key):
    n = math.prod(shape)
    p32 = struct.unpack("<f", struct.pack("<f", p))[0]
    thresh = min(int(p32 * 4294967296.0), 4294967295)
    keep = (torch.tensor(1.0) / (torch.tensor(1.0) - torch.tensor(p32))).item()
    k, out = mix64(key), []
    for i in range(0, n, 2):
        r = mix64(k ^ i)
        out.append(0.0 if (r & 0xFFFFFFFF) < thresh else keep)
        out.append(0.0 if (r >> 32) < thresh else keep)
    return torch.tensor(out[:n], dtype=torch.float32).view(shape)


DROP, SEED = 0.3, 1
torch.manual_seed(14)
enc = torch.nn.Embedding(len(vocab), E)
layers = [torch.nn.RNN(E if l == 0 else H, H, 1) for l in range(L)]
dec_b = torch.nn.Parameter(torch.empty(len(vocab)))
torch.nn.init.uniform_(enc.weight, -0.1, 0.1)
torch.nn.init.uniform_(dec_b, -0.1, 0.1)
sd = {"encoder.weight": enc.weight}
for l, m in enumerate(layers):
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        sd[f"rnn.{name}_l{l}"] = getattr(m, name + "_l0")
sd["decoder.bias"] = dec_b
save("tests/data/train_rnn_drop_init.safetensors", sd,
     {"lmfuse.arch": "rnn", "lmfuse.vocab": json.dumps(vocab), "generator": "dev/gen_train_fixtures.py"})
params = [enc.weight, dec_b] + [p_ for m in layers for p_ in m.parameters()]
opt = torch.optim.Adam(params, lr=LR)
h = [torch.zeros(1, B, H) for _ in range(L)]
with open("tests/data/train_rnn_drop.expected", "w") as f:
    f.write(f"# rnn tied=1 dropout={DROP} seed={SEED} B={B} bptt={BPTT} emb={E} hidden={H} layers={L} lr={LR} "
            f"clip={CLIP}\n")
    for step in range(STEPS):
        x, y = data[step * BPTT: (step + 1) * BPTT], data[step * BPTT + 1: (step + 1) * BPTT + 1]
        key = mix64((SEED * 0x9E3779B97F4A7C15 + step + 1) & M64) | 1
        h = [t.detach() for t in h]
        opt.zero_grad()
        out = enc(x) * lmf_mask((BPTT, B, E), DROP, key * 64)
        for l, m in enumerate(layers):
            out, h[l] = m(out, h[l])
            out = out * lmf_mask((BPTT, B, H), DROP, key * 64 + 1 + l)
        logits = out @ enc.weight.t() + dec_b
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, len(vocab)), y.reshape(-1))
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(params, CLIP)
        opt.step()
        f.write(f"{step + 1}\t{loss.item():.9g}\t{norm.item():.9g}\n")
print("rnn_drop done")
