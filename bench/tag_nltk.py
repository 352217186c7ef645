#!/usr/bin/env python3
"""NLTK peer for part-of-speech tagging: train NLTK's taggers on a CoNLL
training file ("word<TAB>tag" lines, an empty line after each sentence), tag
the test sentences (words only) and score them.

  python3 bench/tag_nltk.py --train TRAIN --test TEST
      [--taggers tnt,hmm,perceptron,crf] [--perceptron-iter 5]
      [--limit-test N] [--json OUT.json]

Taggers (NLTK's own code, default settings unless said):
  tnt         nltk.tag.tnt.TnT(): no unknown-word model, unseen words get "Unk".
  hmm         HiddenMarkovModelTrainer(tags, words).train_supervised() with a
              Lidstone estimator, gamma 0.1 (what HiddenMarkovModelTagger.train
              uses by default); Viterbi via .tag().
  perceptron  PerceptronTagger(load=False).train(sents, nr_iter); train()
              shuffles with the random module, seeded with random.seed(0).
  crf         nltk.tag.CRFTagger, only if python-crfsuite imports.
Per tagger: train seconds, test tokens/s (tagging only), token accuracy,
accuracy on known words (form seen in TRAIN, case-sensitive) and unknown
words, sentence accuracy.  --limit-test N tags only the first N test
sentences (TnT and the HMM are slow): figures then cover those sentences.
Times are wall seconds (time.perf_counter).
"""
import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time

import nltk


def read_conll(path):
    """List of sentences, each a list of (word, tag)."""
    sents, cur = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                if cur:
                    sents.append(cur)
                    cur = []
                continue
            word, tag = line.split("\t")
            cur.append((word, tag))
    if cur:
        sents.append(cur)
    return sents


# Each trainer returns (tag function: list of words -> list of tags, extra
# figures for the JSON).  Only the call to the trainer is timed as training.

def train_tnt(train, args):
    from nltk.tag.tnt import TnT
    t = TnT()
    t.train(train)
    return lambda words: [tag for _, tag in t.tag(words)], {}


def train_hmm(train, args):
    from nltk.probability import LidstoneProbDist
    from nltk.tag.hmm import HiddenMarkovModelTrainer
    tags = sorted({t for s in train for _, t in s})
    words = sorted({w for s in train for w, _ in s})
    trainer = HiddenMarkovModelTrainer(tags, words)
    hmm = trainer.train_supervised(
        train, estimator=lambda fd, bins: LidstoneProbDist(fd, 0.1, bins))
    # NLTK fills its tag x word log-probability table lazily on the first
    # tag() call (a Python loop over every cell); do it here so that it counts
    # as training, not as tagging the first test sentence.
    t0 = time.perf_counter()
    hmm.tag([w for w, _ in train[0]])
    extra = {"estimator": "LidstoneProbDist(gamma=0.1, bins)",
             "table_build_s": round(time.perf_counter() - t0, 3)}
    return lambda words: [tag for _, tag in hmm.tag(words)], extra


def train_perceptron(train, args):
    from nltk.tag.perceptron import PerceptronTagger
    random.seed(0)  # train() shuffles the sentences after each iteration
    t = PerceptronTagger(load=False)
    t.train(train, nr_iter=args.perceptron_iter)
    return (lambda words: [tag for _, tag in t.tag(words)],
            {"nr_iter": args.perceptron_iter, "seed": 0})


def train_crf(train, args):
    from nltk.tag import CRFTagger
    model = os.path.join(tempfile.mkdtemp(), "crf.model")
    t = CRFTagger()
    t.train(train, model)  # NLTK's default features and crfsuite settings
    return lambda words: [tag for _, tag in t.tag(words)], {}


TRAINERS = {"tnt": train_tnt, "hmm": train_hmm,
            "perceptron": train_perceptron, "crf": train_crf}


def evaluate(tag_fn, test, vocab):
    """Tag every test sentence; return the timing and the scores."""
    t0 = time.perf_counter()
    pred = [tag_fn([w for w, _ in s]) for s in test]
    tag_s = time.perf_counter() - t0
    n = ok = nk = okk = nu = oku = sent_ok = 0
    for s, p in zip(test, pred):
        assert len(p) == len(s)
        all_ok = True
        for (w, gold), guess in zip(s, p):
            hit = guess == gold
            all_ok &= hit
            n += 1
            ok += hit
            if w in vocab:
                nk += 1
                okk += hit
            else:
                nu += 1
                oku += hit
        sent_ok += all_ok
    div = lambda a, b: round(a / b, 4) if b else None
    return {"accuracy": div(ok, n), "known_accuracy": div(okk, nk),
            "unknown_accuracy": div(oku, nu), "sentence_accuracy": div(sent_ok, len(test)),
            "tag_s": round(tag_s, 3), "tokens_per_s": round(n / tag_s, 1),
            "test_sentences": len(test), "test_tokens": n, "unknown_tokens": nu}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--taggers", default="tnt,hmm,perceptron,crf")
    ap.add_argument("--perceptron-iter", type=int, default=5)
    ap.add_argument("--limit-test", type=int, default=0,
                    help="tag only the first N test sentences (0: all)")
    ap.add_argument("--json", help="write all figures here")
    args = ap.parse_args()
    names = [t for t in args.taggers.split(",") if t]
    for t in names:
        if t not in TRAINERS:
            ap.error(f"unknown tagger {t} (known: {', '.join(TRAINERS)})")

    train, test = read_conll(args.train), read_conll(args.test)
    n_test_sents = len(test)
    if args.limit_test > 0:
        test = test[:args.limit_test]
    vocab = {w for s in train for w, _ in s}
    print(f"python {platform.python_version()}, nltk {nltk.__version__}")
    print(f"train {args.train}: {len(train)} sentences, {sum(map(len, train))} tokens;"
          f" test {args.test}: {len(test)} of {n_test_sents} sentences,"
          f" {sum(map(len, test))} tokens")
    out = {"python": platform.python_version(), "nltk": nltk.__version__,
           "train": args.train, "test": args.test, "train_sentences": len(train),
           "train_tokens": sum(map(len, train)), "test_sentences_in_file": n_test_sents,
           "limit_test": args.limit_test, "taggers": {}}
    hdr = (f"{'tagger':<11}{'acc':>8}{'known':>8}{'unknown':>8}{'sent':>8}"
           f"{'train s':>9}{'tok/s':>9}{'tokens':>8}{'unk':>7}")
    print(hdr, flush=True)
    for name in names:
        if name == "crf":
            try:
                import pycrfsuite  # noqa: F401
            except ImportError:
                print("crf: skipped (python-crfsuite not packaged)", flush=True)
                out["taggers"]["crf"] = {"skipped": "python-crfsuite not packaged"}
                continue
        t0 = time.perf_counter()
        tag_fn, extra = TRAINERS[name](train, args)
        train_s = time.perf_counter() - t0
        r = {"train_s": round(train_s, 3), **evaluate(tag_fn, test, vocab), **extra}
        out["taggers"][name] = r
        f = lambda x: f"{x:8.4f}" if x is not None else f"{'-':>8}"
        print(f"{name:<11}{f(r['accuracy'])}{f(r['known_accuracy'])}"
              f"{f(r['unknown_accuracy'])}{f(r['sentence_accuracy'])}"
              f"{train_s:9.1f}{r['tokens_per_s']:9.0f}{r['test_tokens']:8d}"
              f"{r['unknown_tokens']:7d}", flush=True)
        if args.json:  # rewrite after each tagger, so a long run keeps what it has
            with open(args.json, "w") as fo:
                json.dump(out, fo, indent=1)
    if args.json:
        with open(args.json, "w") as fo:
            json.dump(out, fo, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
