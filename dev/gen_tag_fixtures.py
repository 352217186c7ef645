#!/usr/bin/env python3
"""Fixtures for tests/test_tag.c: a small tagged corpus and, for a few
sentences, the best tag sequence and every token's posterior marginals of
the TnT-style HMM specified in src/tag/hmm.c's header, computed here
independently: the model from its definition (counts, deleted
interpolation, suffix model) and the answers by enumerating every tag
sequence (no Viterbi, no forward-backward).

usage: python3 dev/gen_tag_fixtures.py tests/data
writes tag-tiny.train.conll and tag-tiny.expect (one block per sentence and
order: "order N" / "words ..." / "best ..." / one line of marginals per
token, in tag byte order)."""
import itertools
import math
import random
import sys

TAGS = ["dt", "jj", "nn", "np", "vb"]
LEX = {
    "dt": ["the", "a", "that"],
    "jj": ["big", "red", "that", "old"],
    "nn": ["dog", "cat", "runs", "walk", "old"],
    "np": ["Rex", "Ann", "Paris"],
    "vb": ["runs", "walk", "sees", "likes"],
}
RARE = {"nn": ["table", "cable", "fable"], "jj": ["bluish", "reddish"], "np": ["Boston", "Austin"], "vb": ["jumps"]}


def corpus(rng):
    sents = []
    for _ in range(60):
        n = rng.randint(1, 6)
        s, prev = [], None
        for _ in range(n):
            choices = {"dt": ["jj", "nn"], "jj": ["nn", "jj"], "nn": ["vb", "nn"], "np": ["vb"],
                       "vb": ["dt", "np"], None: ["dt", "np"]}[prev]
            t = rng.choice(choices)
            pool = LEX[t] + (RARE.get(t, []) if rng.random() < 0.15 else [])
            s.append((rng.choice(pool), t))
            prev = t
        sents.append(s)
    return sents


class TnT:
    def __init__(self, sents, order, suffix_len=10, rare_max=10):
        self.order = order
        self.tags = sorted({t for s in sents for _, t in s})
        T = len(self.tags)
        self.T = T
        B = T  # boundary index
        idx = {t: i for i, t in enumerate(self.tags)}
        self.uni = [0] * (T + 1)
        self.bi = {}
        self.tri = {}
        self.lex = {}
        for s in sents:
            seq = [idx[t] for _, t in s] + [B]
            a, b = B, B
            for c in seq:
                self.uni[c] += 1
                self.bi[(b, c)] = self.bi.get((b, c), 0) + 1
                self.tri[(a, b, c)] = self.tri.get((a, b, c), 0) + 1
                a, b = b, c
            for w, t in s:
                self.lex.setdefault(w, {}).setdefault(idx[t], 0)
                self.lex[w][idx[t]] += 1
        self.N = sum(self.uni)
        self.ctx1 = {}
        for (b, c), f in self.bi.items():
            self.ctx1[b] = self.ctx1.get(b, 0) + f
        self.ctx2 = {}
        for (a, b, c), f in self.tri.items():
            self.ctx2[(a, b)] = self.ctx2.get((a, b), 0) + f
        lam = [0.0, 0.0, 0.0]
        if order == 1:
            for (b, c), f in self.bi.items():
                c2 = (f - 1) / (self.ctx1[b] - 1) if self.ctx1[b] > 1 else 0
                c1 = (self.uni[c] - 1) / (self.N - 1)
                lam[1 if c2 >= c1 else 0] += f
        else:
            for (a, b, c), f in self.tri.items():
                c3 = (f - 1) / (self.ctx2[(a, b)] - 1) if self.ctx2[(a, b)] > 1 else 0
                c2 = (self.bi[(b, c)] - 1) / (self.ctx1[b] - 1) if self.ctx1[b] > 1 else 0
                c1 = (self.uni[c] - 1) / (self.N - 1)
                if c3 >= c2 and c3 >= c1:
                    lam[2] += f
                elif c2 >= c1:
                    lam[1] += f
                else:
                    lam[0] += f
        z = sum(lam)
        self.lam = [x / z for x in lam]
        if self.lam[0] <= 0:
            self.lam[0] = 1e-6
            z = sum(self.lam)
            self.lam = [x / z for x in self.lam]
        # suffix model over the tokens of rare words, per capitalisation class
        ntag = sum(self.uni[:T])
        self.ptag = [self.uni[t] / ntag for t in range(T)]
        mean = sum(self.ptag) / T
        self.theta = math.sqrt(sum((p - mean) ** 2 for p in self.ptag) / (T - 1))
        self.suf = {}
        for w, d in self.lex.items():
            if sum(d.values()) > rare_max:
                continue
            cls = "C" if "A" <= w[0] <= "Z" else "l"
            for i in range(0, min(len(w), suffix_len) + 1):
                key = cls + (w[len(w) - i:] if i else "")
                e = self.suf.setdefault(key, {})
                for t, f in d.items():
                    e[t] = e.get(t, 0) + f
        self.suffix_len = suffix_len

    def p(self, a, b, c):
        l1, l2, l3 = self.lam
        u = self.uni[c] / self.N
        w2 = l2 if self.ctx1.get(b, 0) > 0 else 0
        bg = self.bi.get((b, c), 0) / self.ctx1[b] if w2 else 0
        if self.order == 1:
            return (l1 * u + w2 * bg) / (l1 + w2)
        w3 = l3 if self.ctx2.get((a, b), 0) > 0 else 0
        tg = self.tri.get((a, b, c), 0) / self.ctx2[(a, b)] if w3 else 0
        return (l1 * u + w2 * bg + w3 * tg) / (l1 + w2 + w3)

    def emit(self, w, t):
        if w in self.lex:
            return self.lex[w].get(t, 0) / self.uni[t]
        cls = "C" if "A" <= w[0] <= "Z" else "l"
        base = self.suf.get(cls)
        if base:
            tot = sum(base.values())
            P = [base.get(x, 0) / tot for x in range(self.T)]
        else:
            P = list(self.ptag)
        th = self.theta
        for i in range(1, min(len(w), self.suffix_len) + 1):
            e = self.suf.get(cls + w[len(w) - i:])
            if e is None:
                break
            tot = sum(e.values())
            P = [(e.get(x, 0) / tot + th * P[x]) / (1 + th) for x in range(self.T)]
        return P[t] / self.ptag[t]

    def enumerate(self, words):
        T, B = self.T, self.T
        best, bestp, marg = None, -1.0, [[0.0] * T for _ in words]
        for seq in itertools.product(range(T), repeat=len(words)):
            pr, a, b = 1.0, B, B
            for w, c in zip(words, seq):
                pr *= self.p(a, b, c) * self.emit(w, c)
                a, b = b, c
            pr *= self.p(a, b, B)
            if pr > bestp:
                best, bestp = seq, pr
            for i, c in enumerate(seq):
                marg[i][c] += pr
        z = sum(marg[0])
        return [self.tags[c] for c in best], [[m / z for m in row] for row in marg]


def main():
    out = sys.argv[1]
    rng = random.Random(7)
    sents = corpus(rng)
    with open(f"{out}/tag-tiny.train.conll", "w") as f:
        for s in sents:
            for w, t in s:
                f.write(f"{w}\t{t}\n")
            f.write("\n")
    tests = [["the", "dog", "runs"], ["Rex", "likes", "that", "old", "cable"], ["Boxton", "sees", "a", "greyish", "zable"],
             ["walk"], ["that", "old", "Quux", "runs", "walk"]]
    with open(f"{out}/tag-tiny.expect", "w") as f:
        for order in (1, 2):
            m = TnT(sents, order)
            for words in tests:
                best, marg = m.enumerate(words)
                f.write(f"order {order}\nwords {' '.join(words)}\nbest {' '.join(best)}\n")
                for row in marg:
                    f.write(" ".join(f"{x:.12e}" for x in row) + "\n")


if __name__ == "__main__":
    main()
