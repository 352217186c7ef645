#!/usr/bin/python3
"""Writes the metric fixtures of `lmfuse classify eval` (issue 16) into
tests/data/classify/ (or OUT_DIR):

    dev/gen_classify_metrics_fixtures.py [OUT_DIR]

Needs Debian's python3-sklearn (scripts/deps.sh bench).  For each case NAME:

  NAME.gold.txt       one gold label per line, 40 lines
  NAME.proba.tsv      header "label<TAB>CLASS1<TAB>CLASS2..." (the classes in
                      sorted order), then one row per gold line: the predicted
                      label, then one probability per class; probabilities
                      are k/1000 written with three decimals, so each row sums
                      to exactly 1 in decimal
  NAME.expected.json  what scikit-learn computes from the gold labels and
                      the predicted labels (and for two classes the positive
                      class's probability column)

The predicted label is the argmax of the row; a tie goes to the lowest
class index in sorted order (the first of the tied columns), which is what
numpy.argmax does.  Rows with such ties are included on purpose.

Cases: "three" (3 classes, gamma in gold but never predicted; it ties for the
maximum in some rows and loses the tie), "three_nogold" (3 classes, gamma
predicted but absent from gold), "two" (ham/spam; positive = spam, the second
class in sorted order; ties at 0.500/0.500 go to ham).  In every case each
class of the header occurs in the gold labels or in the predictions, so
scikit-learn's default label set (the union of both) equals the header's."""
import json
import os
import random
import sys

import numpy as np
import sklearn
from sklearn.metrics import (accuracy_score, classification_report,
                             confusion_matrix, f1_score, roc_auc_score)

SEED = 16
N = 40
TIE_BREAK = ("argmax of the probability row; ties go to the lowest class "
             "index in sorted order")


def row(rng, k, top, tie_with=None):
    """k integers summing to 1000 whose maximum is at `top` (and also at
    `tie_with` when given, an exact tie)."""
    v = [0] * k
    if tie_with is None:
        m = rng.randint(1000 // k + 1, 950)
        v[top] = m
        rest = [i for i in range(k) if i != top]
    else:
        m = rng.randint((1000 + 1) // 2 if k == 2 else 1000 // k + 1, 500)
        if k == 2:
            m = 500
        v[top] = v[tie_with] = m
        rest = [i for i in range(k) if i not in (top, tie_with)]
    left = 1000 - sum(v)
    for j, i in enumerate(rest):
        if j == len(rest) - 1:
            v[i] = left
        else:
            lo = max(0, left - (m - 1) * (len(rest) - j - 1))
            v[i] = rng.randint(lo, min(m - 1, left))
            left -= v[i]
    assert sum(v) == 1000 and max(v) == m
    assert all(x < m for i, x in enumerate(v) if i not in (top, tie_with))
    return v


def make_case(rng, classes, gold_pool, pred_pool, ties):
    """gold drawn from gold_pool; prediction equal to gold with chance 0.65
    when allowed, else drawn from pred_pool; `ties` rows (index, winner,
    loser) tie the maximum between two columns."""
    k = len(classes)
    gold, rows = [], []
    tie_at = {i: (w, l) for i, w, l in ties}
    for n in range(N):
        g = rng.choice(gold_pool)
        if n in tie_at:
            w, l = tie_at[n]
            v = row(rng, k, classes.index(w), classes.index(l))
        else:
            p = g if (g in pred_pool and rng.random() < 0.65) else rng.choice(pred_pool)
            v = row(rng, k, classes.index(p))
        gold.append(g)
        rows.append(v)
    return gold, rows


def expected(classes, gold, rows, positive=None):
    P = np.array(rows, dtype=float) / 1000.0
    pred = [classes[i] for i in np.argmax(P, axis=1)]     # first max wins
    present = sorted(set(gold) | set(pred))
    assert present == classes, (present, classes)
    rep = classification_report(gold, pred, labels=classes, output_dict=True,
                                zero_division=0)
    out = {
        "scikit_learn": sklearn.__version__,
        "classes": classes,
        "n": len(gold),
        "tie_break": TIE_BREAK,
        "accuracy": accuracy_score(gold, pred),
        "per_class": {c: {"precision": rep[c]["precision"], "recall": rep[c]["recall"],
                          "f1": rep[c]["f1-score"], "support": int(rep[c]["support"])}
                      for c in classes},
        "macro_f1": f1_score(gold, pred, labels=classes, average="macro", zero_division=0),
        "micro_f1": f1_score(gold, pred, labels=classes, average="micro", zero_division=0),
        "weighted_f1": f1_score(gold, pred, labels=classes, average="weighted", zero_division=0),
        "macro_avg": {"precision": rep["macro avg"]["precision"],
                      "recall": rep["macro avg"]["recall"],
                      "f1": rep["macro avg"]["f1-score"]},
        "weighted_avg": {"precision": rep["weighted avg"]["precision"],
                         "recall": rep["weighted avg"]["recall"],
                         "f1": rep["weighted avg"]["f1-score"]},
        "confusion_matrix_layout": "rows gold, columns predicted, classes in sorted order",
        "confusion_matrix": confusion_matrix(gold, pred, labels=classes).tolist(),
        "notes": "classification_report and f1_score with zero_division=0 and "
                 "labels = the classes above; micro F1 equals accuracy here",
    }
    # The explicit label set must not change anything against sklearn's default.
    assert out["macro_f1"] == f1_score(gold, pred, average="macro", zero_division=0)
    if positive is not None:
        assert len(classes) == 2 and classes[1] == positive
        neg = classes[0]
        out["positive"] = positive
        out["positive_rule"] = ("positive class = the second class in sorted order; "
                                "ROC-AUC is roc_auc_score(gold == positive, its "
                                "probability column); FP = gold negative predicted "
                                "positive, FN = gold positive predicted negative")
        out["roc_auc"] = roc_auc_score([g == positive for g in gold], P[:, 1])
        out["positive_f1"] = f1_score(gold, pred, pos_label=positive, average="binary",
                                      zero_division=0)
        out["fp"] = sum(1 for g, p in zip(gold, pred) if g == neg and p == positive)
        out["fn"] = sum(1 for g, p in zip(gold, pred) if g == positive and p == neg)
    return pred, out


def write(out_dir, name, classes, gold, rows, positive=None):
    pred, exp = expected(classes, gold, rows, positive)
    with open(os.path.join(out_dir, name + ".gold.txt"), "w", newline="\n") as f:
        f.write("".join(g + "\n" for g in gold))
    with open(os.path.join(out_dir, name + ".proba.tsv"), "w", newline="\n") as f:
        f.write("\t".join(["label"] + classes) + "\n")
        for p, v in zip(pred, rows):
            f.write("\t".join([p] + ["%d.%03d" % divmod(x, 1000) for x in v]) + "\n")
    with open(os.path.join(out_dir, name + ".expected.json"), "w", newline="\n") as f:
        json.dump(exp, f, indent=1)
        f.write("\n")
    print("%s: accuracy %.4f macro-F1 %.4f%s" % (
        name, exp["accuracy"], exp["macro_f1"],
        " ROC-AUC %.4f" % exp["roc_auc"] if positive else ""))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "tests", "data", "classify")
    os.makedirs(out_dir, exist_ok=True)
    rng = random.Random(SEED)

    c3 = ["alpha", "beta", "gamma"]
    # gamma is gold but never predicted: it only ties for the maximum and
    # loses (rows 3, 17, 29); rows 8 and 33 tie alpha with beta.
    gold, rows = make_case(rng, c3, c3, ["alpha", "beta"],
                           [(3, "alpha", "gamma"), (17, "beta", "gamma"),
                            (29, "alpha", "gamma"), (8, "alpha", "beta"),
                            (33, "alpha", "beta")])
    write(out_dir, "three", c3, gold, rows)

    # gamma is predicted but absent from gold; ties in rows 5, 21 and 36.
    gold, rows = make_case(rng, c3, ["alpha", "beta"], c3,
                           [(5, "alpha", "beta"), (21, "beta", "gamma"),
                            (36, "alpha", "gamma")])
    write(out_dir, "three_nogold", c3, gold, rows)

    c2 = ["ham", "spam"]
    gold, rows = make_case(rng, c2, c2, c2,
                           [(2, "ham", "spam"), (13, "ham", "spam"),
                            (26, "ham", "spam"), (38, "ham", "spam")])
    write(out_dir, "two", c2, gold, rows, positive="spam")


if __name__ == "__main__":
    main()
