#!/usr/bin/env python3
"""PyTorch reference values for lmfuse's neural kernels.

Runs one step of torch.nn.RNNCell (tanh), LSTMCell and GRUCell (the cells
behind nn.RNN / nn.LSTM / nn.GRU: same equations, gate order and two bias
vectors) on random inputs, with loss = sum(h * r_h) (+ sum(c * r_c) for the
LSTM), then LayerNorm, exact GELU and three AdamW steps, and stores inputs, weights, outputs and gradients in
tests/data/cells.safetensors (written with json + struct).

usage: /usr/bin/python3 dev/gen_cell_fixtures.py   (needs Debian's python3-torch)
"""
import json
import struct

import torch

torch.manual_seed(20261123)
B, I, H = 3, 5, 4
out = {}


def put(name, t):
    out[name] = t.detach().contiguous().to(torch.float32)


for kind in ("rnn", "lstm", "gru"):
    cell = {"rnn": torch.nn.RNNCell, "lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell}[kind](I, H)
    x = torch.randn(B, I, requires_grad=True)
    h0 = torch.randn(B, H, requires_grad=True)
    rh = torch.randn(B, H)
    if kind == "lstm":
        c0 = torch.randn(B, H, requires_grad=True)
        rc = torch.randn(B, H)
        h1, c1 = cell(x, (h0, c0))
        loss = (h1 * rh).sum() + (c1 * rc).sum()
    else:
        h1 = cell(x, h0)
        loss = (h1 * rh).sum()
    loss.backward()
    for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        p = getattr(cell, n)
        put(f"{kind}.{n}", p)
        put(f"{kind}.grad.{n}", p.grad)
    put(f"{kind}.x", x)
    put(f"{kind}.h0", h0)
    put(f"{kind}.r_h", rh)
    put(f"{kind}.h1", h1)
    put(f"{kind}.grad.x", x.grad)
    put(f"{kind}.grad.h0", h0.grad)
    if kind == "lstm":
        put("lstm.c0", c0)
        put("lstm.r_c", rc)
        put("lstm.c1", c1)
        put("lstm.grad.c0", c0.grad)

# LayerNorm (C = 6, eps 1e-5) and exact GELU, loss = sum(y * r)
x = torch.randn(B, 6, requires_grad=True)
ln = torch.nn.LayerNorm(6)
with torch.no_grad():
    ln.weight.copy_(torch.randn(6))
    ln.bias.copy_(torch.randn(6))
r = torch.randn(B, 6)
(ln(x) * r).sum().backward()
put("ln.x", x), put("ln.weight", ln.weight), put("ln.bias", ln.bias), put("ln.r", r)
put("ln.y", ln(x)), put("ln.grad.x", x.grad), put("ln.grad.weight", ln.weight.grad), put("ln.grad.bias", ln.bias.grad)
x = torch.randn(B, 6, requires_grad=True) * 3
x.retain_grad()
y = torch.nn.GELU()(x)
(y * r).sum().backward()
put("gelu.x", x), put("gelu.y", y), put("gelu.grad.x", x.grad)

# three AdamW steps (lr 2e-3, betas (0.9, 0.999), eps 1e-8, weight decay 0.01)
p0 = torch.randn(10)
p = p0.clone().requires_grad_(True)
opt = torch.optim.AdamW([p], lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
grads = torch.randn(3, 10)
for t in range(3):
    opt.zero_grad()
    p.grad = grads[t].clone()
    opt.step()
put("adamw.p0", p0), put("adamw.grads", grads), put("adamw.p3", p)

# causal self-attention, B=2, T=5, C=8, 2 heads; qkv is the input, loss = sum(out * r)
Bq, T, C, NH = 2, 5, 8, 2
hs = C // NH
qkv = torch.randn(Bq, T, 3 * C, requires_grad=True)
q, k, v = qkv.split(C, dim=2)
q = q.view(Bq, T, NH, hs).transpose(1, 2)
k = k.view(Bq, T, NH, hs).transpose(1, 2)
v = v.view(Bq, T, NH, hs).transpose(1, 2)
att = (q @ k.transpose(-2, -1)) / hs ** 0.5
att = att.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf")).softmax(-1)
o = (att @ v).transpose(1, 2).reshape(Bq, T, C)
r = torch.randn(Bq, T, C)
(o * r).sum().backward()
put("attn.qkv", qkv), put("attn.r", r), put("attn.out", o), put("attn.grad.qkv", qkv.grad)

header, data = {"__metadata__": {"generator": "dev/gen_cell_fixtures.py", "torch": torch.__version__}}, b""
for name in sorted(out):
    t = out[name]
    raw = struct.pack("<%df" % t.numel(), *t.flatten().tolist())
    header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [len(data), len(data) + len(raw)]}
    data += raw
js = json.dumps(header, separators=(",", ":")).encode()
js += b" " * (-len(js) % 8)
with open("tests/data/cells.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(js)) + js + data)
print("wrote tests/data/cells.safetensors:", len(out), "tensors")
