#!/usr/bin/python3
"""Writes the naive Bayes fixtures of `lmfuse classify train --kind nb`
(issue 16) into tests/data/classify/ (or OUT_DIR):

    dev/gen_classify_nb_fixtures.py [OUT_DIR]

Needs Debian's python3-sklearn.  Files:

  nb.train.txt, nb.test.txt  fastText labelled documents (3 classes, random
                             words of overlapping class vocabularies, case and
                             punctuation kept, the literal word "<unk>" in
                             training and "</s>" only in test)
  nb.expected.tsv            header "label<TAB>CLASS..." then, per test line,
                             scikit-learn's MultinomialNB(alpha=0.5) predicted
                             label and predict_proba row (%.17g), fitted on
                             CountVectorizer(lowercase=False,
                             token_pattern=r"\\S+") counts of nb.train.txt"""
import os
import random
import sys

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.naive_bayes import MultinomialNB

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "data", "classify")
rng = random.Random(16)
shared = ["the", "a", "of", "and", "The", "in", "to", ",", "."]
own = {"art": ["paint", "canvas", "Gallery", "brush", "colour"],
       "law": ["court", "judge", "Statute", "appeal", "jury"],
       "sea": ["ship", "harbour", "Tide", "sail", "whale"]}


def doc(c, n, extra=()):
    words = [rng.choice(shared) if rng.random() < 0.5 else rng.choice(own[rng.choice(list(own)) if rng.random() < 0.25 else c])
             for _ in range(n)]
    words += list(extra)
    rng.shuffle(words)
    return " ".join(words)


train, test = [], []
for c, k in (("art", 7), ("law", 4), ("sea", 2)):
    for i in range(k):
        train.append((c, doc(c, rng.randint(5, 30), ("<unk>",) if i == 0 else ())))
for i in range(12):
    c = rng.choice(list(own))
    test.append((c, doc(c, rng.randint(3, 25), ("</s>", "unseenword") if i % 4 == 0 else ())))
with open(os.path.join(out, "nb.train.txt"), "w") as f:
    for c, t in train:
        f.write("__label__%s %s\n" % (c, t))
with open(os.path.join(out, "nb.test.txt"), "w") as f:
    for c, t in test:
        f.write("__label__%s %s\n" % (c, t))
vec = CountVectorizer(lowercase=False, token_pattern=r"\S+")
X = vec.fit_transform([t for _, t in train])
clf = MultinomialNB(alpha=0.5).fit(X, [c for c, _ in train])
P = clf.predict_proba(vec.transform([t for _, t in test]))
with open(os.path.join(out, "nb.expected.tsv"), "w") as f:
    f.write("label\t" + "\t".join(clf.classes_) + "\n")
    for row in P:
        f.write(clf.classes_[int(np.argmax(row))] + "\t" + "\t".join("%.17g" % p for p in row) + "\n")
