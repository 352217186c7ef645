#!/usr/bin/env python3
"""Scores a text with an lmfuse recurrent model (full softmax) in PyTorch,
read as B parallel streams the way training reads it: the text after one
</s> is cut into B equal columns, each column starts from a zero state and
is read in windows of 35 with the state carried.  Prints the perplexity.

With B = 1 this is `lmfuse ppl MODEL TEXT`.  A model whose state can fall
into a region its output layer never saw (a GRU at Adam lr 2e-3 can: see
docs/benchmarks.md) scores far worse with B > 1 than with B = 1 on the same
text; a sound one scores about the same.

usage: /usr/bin/python3 dev/stream_ppl.py MODEL.safetensors TEXT B
"""
import json
import math
import sys

import torch
import torch.nn.functional as F

import lmf_st

path, text, B = sys.argv[1], sys.argv[2], int(sys.argv[3])
meta, W = lmf_st.read(path)
arch = meta["lmfuse.arch"]
if arch not in ("rnn", "lstm", "gru") or "lmfuse.classes" in meta:
    sys.exit(f"{path}: a full-softmax rnn, lstm or gru model is needed (this is {arch})")
vocab = json.loads(meta["lmfuse.vocab"])
index = {w: i for i, w in enumerate(vocab)}
emb = W["encoder.weight"]
dec_w = W.get("decoder.weight", emb)
dec_b = W["decoder.bias"]
net = lmf_st.recurrent(arch, W)
L, H = net.num_layers, net.hidden_size

ids = [index["</s>"]]
with open(text, encoding="utf-8") as f:
    for line in f:
        ids += [index.get(w, index["<unk>"]) for w in line.split()] + [index["</s>"]]
cols = len(ids) // B
data = torch.tensor(ids[: cols * B]).view(B, cols).t()
z = torch.zeros(L, B, H)
h = (z, z.clone()) if arch == "lstm" else z
nll, count = 0.0, 0
with torch.no_grad():
    for i in range(0, cols - 1, 35):
        t = min(35, cols - 1 - i)
        out, h = net(emb[data[i:i + t]], h)
        logits = out @ dec_w.t() + dec_b
        nll += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), data[i + 1:i + 1 + t].reshape(-1),
                               reduction="sum").item()
        count += t * B
print(f"{path}: {count} tokens in {B} stream(s): ppl {math.exp(nll / count):.2f}")
