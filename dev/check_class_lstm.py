#!/usr/bin/env python3
"""Independent check of a class-factored recurrent model trained by lmfuse
(`lmfuse train --classes C`): PyTorch scores a text with the model's
weights, normalising each distribution over the whole vocabulary
(p(w|h) = softmax_c(cls(h))[c(w)] * softmax over all words of class c),
and prints the perplexity, to compare with `lmfuse ppl MODEL TEXT`.

usage: /usr/bin/python3 dev/check_class_lstm.py MODEL.safetensors TEXT
"""
import json
import math
import sys

import torch

import lmf_st

path, text = sys.argv[1], sys.argv[2]
meta, T = lmf_st.read(path)
vocab = json.loads(meta["lmfuse.vocab"])
start = json.loads(meta["lmfuse.classes"])
arch = meta["lmfuse.arch"]
V, C = len(vocab), len(start) - 1
index = {w: i for i, w in enumerate(vocab)}
cls_of = torch.tensor([k for k in range(C) for _ in range(start[k + 1] - start[k])])
rnn = lmf_st.recurrent(arch, T)
dec_w = T.get("decoder.weight", T["encoder.weight"])
ids = [1] + [index.get(w, 0) for line in open(text, encoding="utf-8") for w in line.split() + ["</s>"]]
x = torch.tensor(ids[:-1]).view(-1, 1)
y = torch.tensor(ids[1:])
with torch.no_grad():
    out, _ = rnn(torch.nn.functional.embedding(x, T["encoder.weight"]))
    h = out.view(-1, rnn.hidden_size)
    lc = torch.log_softmax(h @ T["cls.weight"].t() + T["cls.bias"], -1)
    nll, total_mass_err = 0.0, 0.0
    for i0 in range(0, len(y), 512):
        hb, yb = h[i0:i0 + 512], y[i0:i0 + 512]
        logits = hb @ dec_w.t() + T["decoder.bias"]
        lw = torch.empty_like(logits)
        for k in range(C):
            s, e = start[k], start[k + 1]
            lw[:, s:e] = torch.log_softmax(logits[:, s:e], -1) + lc[i0:i0 + 512, k:k + 1]
        total_mass_err = max(total_mass_err, (lw.exp().sum(-1) - 1).abs().max().item())
        nll -= lw.gather(1, yb[:, None]).sum().item()
print(json.dumps({"tokens": len(y), "ppl": math.exp(nll / len(y)), "max_abs_sum_minus_1": total_mass_err}))
