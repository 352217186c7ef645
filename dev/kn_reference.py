#!/usr/bin/env python3
"""Independent reference for interpolated modified Kneser-Ney.

Written straight from the definitions (Chen & Goodman 1998, section 3.5 and
eq. 26; the variant KenLM's lmplz implements), with dictionaries and a
recursive probability, sharing no code or data structure with lmfuse's C
estimator.  It computes p(w | h) by interpolation directly (no ARPA backoff
form), so comparing its per-token log10 probabilities with what lmfuse scores
through its ARPA/binary tables checks estimation *and* the backoff
representation.

usage: kn_reference.py ORDER TRAIN TEST > expected.tsv
Output: one line per predicted token of TEST: "log10p" (words then </s> per
line), then a final line "# ppl <value>".
"""
import math
import sys
from collections import Counter, defaultdict


def read(path):
    with open(path, encoding="utf-8") as f:
        return [line.split() for line in f]


def main():
    order = int(sys.argv[1])
    train = read(sys.argv[2])
    test = read(sys.argv[3])

    vocab = {"<unk>", "</s>"}
    for line in train:
        vocab.update(line)
    V = len(vocab)  # predictable tokens; <s> excluded

    # distinct n-grams of the padded lines "<s> w1 .. wk </s>" (one <s>)
    seen = [None] + [Counter() for _ in range(order)]
    for line in train:
        s = ["<s>"] + line + ["</s>"]
        for i in range(1, len(s)):
            for n in range(1, order + 1):
                if i - n + 1 < 0:
                    break
                seen[n][tuple(s[i - n + 1:i + 1])] += 1

    # adjusted counts: highest order and <s>-initial n-grams keep raw counts,
    # the others count distinct left neighbours
    adj = [None] + [dict() for _ in range(order)]
    adj[order] = dict(seen[order])
    for n in range(order - 1, 0, -1):
        left = Counter()
        for g in seen[n + 1]:
            left[g[1:]] += 1
        for g, c in seen[n].items():
            adj[n][g] = c if g[0] == "<s>" else left[g]

    D = [None]
    for n in range(1, order + 1):
        t = Counter(min(c, 5) for c in adj[n].values())
        y = t[1] / (t[1] + 2 * t[2])
        D.append([0.0] + [k - (k + 1) * y * t[k + 1] / t[k] for k in (1, 2, 3)])

    # per-context sums
    den = [None] + [defaultdict(float) for _ in range(order)]
    gam = [None] + [defaultdict(float) for _ in range(order)]
    for n in range(1, order + 1):
        for g, c in adj[n].items():
            den[n][g[:-1]] += c
            gam[n][g[:-1]] += D[n][min(c, 3)]

    def prob(w, h):
        n = len(h) + 1
        lower = 1.0 / V if n == 1 else prob(w, h[1:])
        d = den[n].get(h, 0.0)
        if d == 0:
            return lower
        c = adj[n].get(h + (w,), 0)
        disc = D[n][min(c, 3)] if c else 0.0
        return (c - disc) / d + gam[n][h] / d * lower

    total, count = 0.0, 0
    for line in test:
        hist = ["<s>"]
        for w in line + ["</s>"]:
            if w not in vocab:
                w = "<unk>"
            h = tuple(hist[-(order - 1):]) if order > 1 else ()
            lp = math.log10(prob(w, h))
            print(f"{lp:.9f}")
            total += lp
            count += 1
            hist.append(w)
    print(f"# ppl {10 ** (-total / count):.6f}")


if __name__ == "__main__":
    main()
