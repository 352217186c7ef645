#!/usr/bin/env python3
"""The PyTorch peer of `lmfuse train`: the same word language models, trained
the way PyTorch's word_language_model example trains them, for side-by-side
throughput and perplexity in bench/nn_bench.sh.

  rnn | lstm | gru : Embedding -> dropout -> nn.RNN/LSTM/GRU (dropout between
                     layers) -> dropout -> Linear (optionally tied)
  transformer      : token + learned position embeddings -> dropout ->
                     pre-LN blocks (causal multi-head attention, GELU MLP,
                     dropout on each residual branch) -> LayerNorm -> Linear

The token stream is every line's words followed by </s>, laid out in `batch`
columns; recurrent models carry their hidden state across BPTT windows
(detached), the Transformer trains on windows of `ctx` tokens.  The loss is the
mean cross-entropy of a window; Adam(W), gradient-norm clipping.

  --steps N      throughput only: time N steps after 3 warm-up steps, print
                 one JSON line {"arch", "tok_per_s", ...}
  --epochs N     full training with validation each epoch, best epoch kept,
                 then test perplexity (JSON line at the end)
  --save PATH    write the trained model as safetensors in lmfuse's layout
                 (include/lmf/nn.h), so lmfuse can score it
  --score TEXT   scoring throughput only: perplexity of TEXT with the
                 (untrained) model as evaluation reads it, timed; one JSON line
  --autocast     train under torch.autocast("cpu", dtype=torch.bfloat16):
                 PyTorch's own mixed precision, the peer of `lmfuse train
                 --bf16` (which ops run in bfloat16 is PyTorch's choice)

usage: /usr/bin/python3 bench/torch_lm.py --arch lstm --train T --valid V --test X [options]
(needs Debian's python3-torch)
"""
import argparse
import json
import math
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--arch", default="lstm", choices=["rnn", "lstm", "gru", "transformer"])
p.add_argument("--train", required=True)
p.add_argument("--valid")
p.add_argument("--test")
p.add_argument("--layers", type=int, default=2)
p.add_argument("--hidden", type=int, default=256)
p.add_argument("--emb", type=int, default=256)
p.add_argument("--heads", type=int, default=4)
p.add_argument("--ff", type=int, default=1024)
p.add_argument("--ctx", type=int, default=64)
p.add_argument("--dropout", type=float, default=0.2)
p.add_argument("--tied", action="store_true")
p.add_argument("--batch", type=int, default=32)
p.add_argument("--bptt", type=int, default=35)
p.add_argument("--lr", type=float, default=2e-3)
p.add_argument("--clip", type=float, default=0.25)
p.add_argument("--epochs", type=int, default=0)
p.add_argument("--steps", type=int, default=0)
p.add_argument("--threads", type=int, default=1)
p.add_argument("--seed", type=int, default=1)
p.add_argument("--save")
p.add_argument("--autocast", action="store_true")
p.add_argument("--score")
a = p.parse_args()
torch.manual_seed(a.seed)
torch.set_num_threads(a.threads)


def read(path):
    with open(path, encoding="utf-8") as f:
        return [line.split() + ["</s>"] for line in f]


train_lines = read(a.train)
vocab = {"<unk>": 0, "</s>": 1}
for line in train_lines:
    for w in line:
        vocab.setdefault(w, len(vocab))
V = len(vocab)


def ids(lines):
    return torch.tensor([vocab.get(w, 0) for line in lines for w in line], dtype=torch.long)


def batchify(x, bsz):
    n = x.size(0) // bsz
    return x[: n * bsz].view(bsz, n).t().contiguous()  # [n, bsz]


class RNNModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.drop = nn.Dropout(a.dropout)
        self.encoder = nn.Embedding(V, a.emb)
        cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[a.arch]
        self.rnn = cls(a.emb, a.hidden, a.layers, dropout=a.dropout if a.layers > 1 else 0.0)
        self.decoder = nn.Linear(a.hidden, V)
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -0.1, 0.1)
        if a.tied:
            self.decoder.weight = self.encoder.weight

    def forward(self, x, h):
        out, h = self.rnn(self.drop(self.encoder(x)), h)
        return self.decoder(self.drop(out)), h

    def init_hidden(self, bsz):
        z = torch.zeros(a.layers, bsz, a.hidden)
        return (z, z.clone()) if a.arch == "lstm" else z


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        d = a.hidden
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.out = nn.Linear(d, a.ff), nn.Linear(a.ff, d)
        self.drop = nn.Dropout(a.dropout)

    def forward(self, x):
        T, B, d = x.shape
        nh = a.heads
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        q, k, v = (t.reshape(T, B * nh, d // nh).transpose(0, 1) for t in (q, k, v))
        att = (q @ k.transpose(1, 2)) / math.sqrt(d // nh)
        mask = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)
        att = att.masked_fill(mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(0, 1).reshape(T, B, d)
        x = x + self.drop(self.proj(y))
        return x + self.drop(self.out(F.gelu(self.fc(self.ln2(x)))))


class TransformerModel(nn.Module):
    def __init__(self):
        super().__init__()
        d = a.hidden
        self.tok_emb, self.pos_emb = nn.Embedding(V, d), nn.Embedding(a.ctx, d)
        self.blocks = nn.ModuleList([Block() for _ in range(a.layers)])
        self.ln_f, self.head = nn.LayerNorm(d), nn.Linear(d, V)
        self.drop = nn.Dropout(a.dropout)
        for n_, p_ in self.named_parameters():
            if p_.dim() == 2:
                nn.init.normal_(p_, 0.0, 0.02)
            elif n_.endswith(".bias") and "ln" not in n_:
                nn.init.zeros_(p_)
        if a.tied:
            self.head.weight = self.tok_emb.weight

    def forward(self, x, h):
        T = x.size(0)
        z = self.drop(self.tok_emb(x) + self.pos_emb(torch.arange(T)).unsqueeze(1))
        for b in self.blocks:
            z = b(z)
        return self.head(self.ln_f(z)), h

    def init_hidden(self, bsz):
        return None


model = RNNModel() if a.arch != "transformer" else TransformerModel()
nparams = sum(p_.numel() for p_ in model.parameters())
opt = torch.optim.Adam(model.parameters(), lr=a.lr)
win = a.ctx if a.arch == "transformer" else a.bptt


def detach(h):
    if h is None:
        return None
    return tuple(t.detach() for t in h) if isinstance(h, tuple) else h.detach()


def train_steps(data, max_steps=None, timer=None):
    model.train()
    h = model.init_hidden(a.batch)
    total, count, steps = 0.0, 0, 0
    for i in range(0, data.size(0) - 1, win):
        n = min(win, data.size(0) - 1 - i)
        x, y = data[i : i + n], data[i + 1 : i + 1 + n]
        h = detach(h)
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.autocast):
            logits, h = model(x, h)
            loss = F.cross_entropy(logits.view(-1, V), y.reshape(-1))
        loss.backward()
        if a.clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), a.clip)
        opt.step()
        total += loss.item() * n
        count += n
        steps += 1
        if timer is not None:
            timer(steps, n * a.batch)
        if max_steps and steps >= max_steps:
            break
    return math.exp(total / max(count, 1))


def evaluate(lines):
    """Perplexity of every token of the text read as one stream (batch 1)
    that starts after an end of line; recurrent state carried throughout,
    the Transformer restarts its context every ctx tokens."""
    model.eval()
    data = torch.cat([torch.tensor([1]), ids(lines)]).view(-1, 1)
    h = model.init_hidden(1)
    nll, n_tok = 0.0, 0
    step = a.ctx if a.arch == "transformer" else 256
    with torch.no_grad():
        for i in range(0, data.size(0) - 1, step):
            n = min(step, data.size(0) - 1 - i)
            logits, h = model(data[i : i + n], h)
            nll += F.cross_entropy(logits.view(-1, V), data[i + 1 : i + 1 + n].view(-1), reduction="sum").item()
            n_tok += n
    return math.exp(nll / n_tok)


if a.score:
    lines = read(a.score)
    t0 = time.perf_counter()
    ppl = evaluate(lines)
    dt = time.perf_counter() - t0
    print(json.dumps({"arch": a.arch, "threads": a.threads, "tokens": sum(map(len, lines)),
                      "tok_per_s": sum(map(len, lines)) / dt, "ppl": ppl}))
    sys.exit(0)

train = batchify(ids(train_lines), a.batch)
if a.steps:
    marks = {}

    def timer(step, ntok):
        if step == 3:
            marks["t0"] = time.perf_counter()
            marks["tok"] = 0
        elif step > 3:
            marks["tok"] += ntok

    train_steps(train, a.steps + 3, timer)
    dt = time.perf_counter() - marks["t0"]
    print(json.dumps({"arch": a.arch, "params": nparams, "steps": a.steps, "threads": a.threads,
                      "tok_per_s": marks["tok"] / dt}))
    sys.exit(0)

best, best_state, log = float("inf"), None, []
for ep in range(1, a.epochs + 1):
    t0 = time.perf_counter()
    tr = train_steps(train)
    va = evaluate(read(a.valid))
    log.append({"epoch": ep, "train_ppl": tr, "valid_ppl": va, "seconds": time.perf_counter() - t0})
    print(json.dumps(log[-1]), file=sys.stderr)
    if va < best:
        best, best_state = va, {k: v.clone() for k, v in model.state_dict().items()}
model.load_state_dict(best_state)
res = {"arch": a.arch, "params": nparams, "best_valid": best, "epochs": log}
if a.test:
    res["test"] = evaluate(read(a.test))
print(json.dumps(res))

if a.save:
    sd = dict(model.state_dict())
    if a.tied:
        sd.pop("decoder.weight" if a.arch != "transformer" else "head.weight")
    words = [w for w, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    meta = {"lmfuse.arch": a.arch, "lmfuse.vocab": json.dumps(words), "generator": "bench/torch_lm.py"}
    if a.arch == "transformer":
        meta["lmfuse.heads"] = str(a.heads)
    header, blob = {"__metadata__": meta}, b""
    for name, t in sd.items():
        raw = t.detach().contiguous().float().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [len(blob), len(blob) + len(raw)]}
        blob += raw
    js = json.dumps(header, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 8)
    with open(a.save, "wb") as f:
        f.write(struct.pack("<Q", len(js)) + js + blob)
