"""The Transformer of lmfuse (src/nn/transformer.c) in PyTorch, for the
fixture generators: same module names, so state_dict() is lmfuse's layout.
Input x is [B, T] (batch-major)."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, d, heads, ff, dropout):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.out = nn.Linear(d, ff), nn.Linear(ff, d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        B, T, d = x.shape
        nh = self.heads
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        q, k, v = (t.reshape(B, T, nh, d // nh).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-1, -2)) / math.sqrt(d // nh)
        att = att.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, d)
        x = x + self.drop(self.proj(y))
        return x + self.drop(self.out(F.gelu(self.fc(self.ln2(x)))))


class TinyGPT(nn.Module):
    def __init__(self, V, d, heads, ff, ctx, layers, tied, dropout=0.0):
        super().__init__()
        self.tok_emb, self.pos_emb = nn.Embedding(V, d), nn.Embedding(ctx, d)
        self.blocks = nn.ModuleList([Block(d, heads, ff, dropout) for _ in range(layers)])
        self.ln_f, self.head = nn.LayerNorm(d), nn.Linear(d, V)
        self.drop = nn.Dropout(dropout)
        if tied:
            self.head.weight = self.tok_emb.weight

    def forward(self, x):
        T = x.size(1)
        z = self.drop(self.tok_emb(x) + self.pos_emb(torch.arange(T)))
        for b in self.blocks:
            z = b(z)
        return self.head(self.ln_f(z))


def sliding_logprobs(model, ids, ctx):
    """ln p of ids[1:] the way lmfuse reads a stream: a window of at most ctx
    tokens; when full, its last ctx//2 tokens are kept (re-encoded from
    position 0)."""
    keep = max(ctx // 2, 1)
    window, out = [ids[0]], []
    with torch.no_grad():
        for tok in ids[1:]:
            logits = model(torch.tensor([window]))[0, -1]
            out.append(torch.log_softmax(logits, -1)[tok].item())
            if len(window) == ctx:
                window = window[-keep:]
            window.append(tok)
    return out
