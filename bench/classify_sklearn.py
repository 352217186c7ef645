#!/usr/bin/python3
"""scikit-learn peer for lmfuse's document classification (issue 16).

    bench/classify_sklearn.py TASK DATA_DIR [--json OUT.json] [--md OUT.md]

TASK is spam-full, spam-body or brown-genre; DATA_DIR holds
TASK.{train,valid,test}.txt (fastText lines, "__label__NAME document", line
breaks and control bytes escaped as \\n \\r \\\\ \\xHH; see
shared/data/classification-splits.md).  Runs on one core.

Models: MultinomialNB, LogisticRegression (word 1-2 gram tf-idf),
LogisticRegression (char_wb 3-5 gram tf-idf), LinearSVC (word 1-2 gram
tf-idf), hard and soft voting over those four, stacking (5-fold out-of-fold,
LogisticRegression meta-learner) and blending (members fitted on train, a
LogisticRegression fitted on their valid predictions).  Each member's C or
alpha is chosen on valid (fitted on train, best valid accuracy, ties to the
first value of the grid); test figures are reported.

Vectorizers are fitted once per task on train (vocabulary and idf) and shared:
every model reads its columns of one matrix, so the ensembles refit only
classifiers.  Fit seconds include the vectorizers the model uses (fit on
train), predict seconds the transform of test by them."""
import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
           "BLIS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse
import json
import re
import sys
import time

import numpy as np
import scipy.sparse as sp
import sklearn
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import StackingClassifier, VotingClassifier
from sklearn.feature_extraction.text import (CountVectorizer, TfidfTransformer,
                                             TfidfVectorizer)
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (accuracy_score, confusion_matrix, f1_score,
                             roc_auc_score)
from sklearn.model_selection import StratifiedKFold
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

TASKS = {"spam-full": "spam", "spam-body": "spam", "brown-genre": "brown"}
SPLITS = ("train", "valid", "test")
POSITIVE = "spam"          # the positive class of the two-class spam tasks
SEED = 0

_ESC = re.compile(r"\\(n|r|\\|x[0-9a-fA-F]{2})")


def unescape(s):
    def rep(m):
        e = m.group(1)
        if e == "n":
            return "\n"
        if e == "r":
            return "\r"
        if e == "\\":
            return "\\"
        return chr(int(e[1:], 16))
    return _ESC.sub(rep, s)


def read_split(path):
    labels, docs = [], []
    with open(path, encoding="utf-8", newline="\n") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.startswith("__label__"):
                sys.exit("%s:%d: no __label__ prefix" % (path, n))
            head, _, doc = line.partition(" ")
            labels.append(head[len("__label__"):])
            docs.append(unescape(doc))
    return np.array(labels), docs


class Columns(BaseEstimator, TransformerMixin):
    """Selects columns [lo, hi) of a sparse matrix: the block of one
    feature set in the shared matrix."""

    def __init__(self, lo=0, hi=0):
        self.lo = lo
        self.hi = hi

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X[:, self.lo:self.hi]


class Features:
    """The feature sets, fitted once on train and stacked side by side:
    word 1-2 gram counts, their tf-idf, char_wb 3-5 gram tf-idf."""

    def __init__(self, train_docs):
        self.fit_s = {}
        t = time.perf_counter()
        self.count = CountVectorizer(ngram_range=(1, 2), dtype=np.float64)
        c = self.count.fit_transform(train_docs)
        self.fit_s["count"] = time.perf_counter() - t
        t = time.perf_counter()
        self.tfidf = TfidfTransformer(sublinear_tf=True)
        w = self.tfidf.fit_transform(c)
        self.fit_s["word"] = self.fit_s["count"] + time.perf_counter() - t
        t = time.perf_counter()
        self.char = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5),
                                    sublinear_tf=True)
        ch = self.char.fit_transform(train_docs)
        self.fit_s["char"] = time.perf_counter() - t
        self.blocks = {}
        lo = 0
        for name, m in (("count", c), ("word", w), ("char", ch)):
            self.blocks[name] = (lo, lo + m.shape[1])
            lo += m.shape[1]
        self.train = sp.hstack([c, w, ch], format="csr")
        self.transform_s = {}

    def transform(self, docs, split):
        t = time.perf_counter()
        c = self.count.transform(docs)
        tc = time.perf_counter() - t
        t = time.perf_counter()
        w = self.tfidf.transform(c)
        tw = tc + time.perf_counter() - t
        t = time.perf_counter()
        ch = self.char.transform(docs)
        tch = time.perf_counter() - t
        self.transform_s[split] = {"count": tc, "word": tw, "char": tch}
        return sp.hstack([c, w, ch], format="csr")

    def cost(self, kinds, split=None):
        kinds = set(kinds)
        if "count" in kinds and "word" in kinds:
            kinds.discard("count")      # word's time includes the counting
        src = self.fit_s if split is None else self.transform_s[split]
        return sum(src[k] for k in kinds)

    def select(self, kind):
        lo, hi = self.blocks[kind]
        return Columns(lo, hi)


def logreg(C, n_classes):
    # liblinear: one-vs-rest for more than two classes (lbfgs's multinomial
    # fit took minutes per C on brown-genre's 15 classes on one core)
    return LogisticRegression(C=C, solver="liblinear", max_iter=1000,
                              random_state=SEED)


def member_specs(n_classes):
    """(name, label, grid [(value, features, make estimator)])."""
    nb = [(("%s alpha=%g" % (k, a)), k, (lambda a=a: MultinomialNB(alpha=a)))
          for k in ("count", "word")
          for a in (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)]
    lrw = [("C=%g" % C, "word", (lambda C=C: logreg(C, n_classes)))
           for C in (1, 3, 10, 30, 100, 300)]
    lrc = [("C=%g" % C, "char", (lambda C=C: logreg(C, n_classes)))
           for C in (1, 3, 10, 30, 100, 300)]
    svm = [("C=%g" % C, "word", (lambda C=C: LinearSVC(C=C, max_iter=10000, random_state=SEED)))
           for C in (0.03, 0.1, 0.3, 1, 3, 10)]
    return [("nb", "MultinomialNB (word 1-2 gram)", nb),
            ("lr-word", "LogisticRegression, word 1-2 gram tf-idf", lrw),
            ("lr-char", "LogisticRegression, char_wb 3-5 gram tf-idf", lrc),
            ("svm-word", "LinearSVC, word 1-2 gram tf-idf", svm)]


def scores(est, X):
    """Continuous scores, one column per class (or the positive class's
    column for two classes, as decision_function gives it)."""
    if hasattr(est, "predict_proba"):
        return est.predict_proba(X)
    return est.decision_function(X)


def metrics(y, pred, classes, score=None):
    r = {"accuracy": accuracy_score(y, pred),
         "macro_f1": f1_score(y, pred, average="macro", zero_division=0),
         "micro_f1": f1_score(y, pred, average="micro", zero_division=0)}
    if len(classes) == 2 and POSITIVE in classes:
        neg = [c for c in classes if c != POSITIVE][0]
        cm = confusion_matrix(y, pred, labels=[neg, POSITIVE])
        r["spam_f1"] = f1_score(y, pred, pos_label=POSITIVE, average="binary",
                                zero_division=0)
        r["fp"] = int(cm[0, 1])
        r["fn"] = int(cm[1, 0])
        if score is not None:
            r["roc_auc"] = roc_auc_score(y == POSITIVE, score)
    return r


def positive_score(s, classes):
    """The positive class's score from a scores() matrix."""
    s = np.asarray(s)
    if s.ndim == 1:
        return s
    return s[:, list(classes).index(POSITIVE)]


def run(task, data_dir, log):
    data = {}
    for split in SPLITS:
        data[split] = read_split(os.path.join(data_dir, "%s.%s.txt" % (task, split)))
    ytr, yva, yte = (data[s][0] for s in SPLITS)
    classes = sorted(set(ytr))
    two = len(classes) == 2
    if two and POSITIVE not in classes:
        sys.exit("two classes but none is %r: %s" % (POSITIVE, classes))
    log("%s: %d/%d/%d documents, %d classes" % (task, len(ytr), len(yva), len(yte), len(classes)))

    feats = Features(data["train"][1])
    Xtr = feats.train
    Xva = feats.transform(data["valid"][1], "valid")
    Xte = feats.transform(data["test"][1], "test")
    log("features: " + ", ".join("%s %d (fit %.1fs)" % (k, hi - lo, feats.fit_s[k])
                                  for k, (lo, hi) in feats.blocks.items()))

    results = []

    def add(name, label, setting, kinds, fit_s, pred_s, pred, score, valid_acc=None):
        r = {"model": name, "label": label, "setting": setting,
             "valid_accuracy": valid_acc,
             "fit_s": fit_s + feats.cost(kinds),
             "predict_s": pred_s + feats.cost(kinds, "test")}
        r.update(metrics(yte, pred, classes,
                         positive_score(score, classes) if (two and score is not None) else None))
        results.append(r)
        log("  %-9s %-22s test acc %.4f macro-F1 %.4f" % (name, setting, r["accuracy"], r["macro_f1"]))

    # Members: grid on valid.
    chosen = {}
    for name, label, grid in member_specs(len(classes)):
        best = None
        for setting, kind, make in grid:
            est = make_pipeline(feats.select(kind), make())
            t = time.perf_counter()
            est.fit(Xtr, ytr)
            fit_s = time.perf_counter() - t
            acc = accuracy_score(yva, est.predict(Xva))
            log("    %-9s %-20s valid acc %.4f (fit %.1fs)" % (name, setting, acc, fit_s))
            if best is None or acc > best[0]:
                best = (acc, setting, kind, make, est, fit_s)
        acc, setting, kind, make, est, fit_s = best
        chosen[name] = (kind, make, est, fit_s)
        t = time.perf_counter()
        pred = est.predict(Xte)
        sc = scores(est, Xte)
        pred_s = time.perf_counter() - t
        add(name, label, setting, [kind], fit_s, pred_s, pred, sc, acc)

    names = list(chosen)
    kinds = [chosen[n][0] for n in names]

    def fresh(n, calibrated=False):
        kind, make = chosen[n][0], chosen[n][1]
        clf = make()
        if calibrated and not hasattr(clf, "predict_proba"):
            clf = CalibratedClassifierCV(clf, cv=5, method="sigmoid")
        return make_pipeline(feats.select(kind), clf)

    def timed(est, label, name, setting):
        t = time.perf_counter()
        est.fit(Xtr, ytr)
        fit_s = time.perf_counter() - t
        va = accuracy_score(yva, est.predict(Xva))
        t = time.perf_counter()
        pred = est.predict(Xte)
        pred_s = time.perf_counter() - t
        return est, fit_s, pred_s, pred, va

    # Hard voting: majority of the four predictions, ties to the first
    # class in sorted order; the score for ROC-AUC is the share of votes.
    est, fit_s, pred_s, pred, va = timed(
        VotingClassifier([(n, fresh(n)) for n in names], voting="hard"),
        None, "vote-hard", "")
    t = time.perf_counter()
    # (the members inside predict encoded labels: indices into classes_)
    votes = est.transform(Xte)
    share = (votes == list(est.classes_).index(POSITIVE)).mean(axis=1) if two else None
    add("vote-hard", "hard voting over the four", "majority", kinds, fit_s,
        pred_s + time.perf_counter() - t, pred, share, va)

    # Soft voting: mean of the members' probabilities; LinearSVC gets them
    # from CalibratedClassifierCV (sigmoid, 5 folds).
    est, fit_s, pred_s, pred, va = timed(
        VotingClassifier([(n, fresh(n, calibrated=True)) for n in names], voting="soft"),
        None, "vote-soft", "")
    t = time.perf_counter()
    sc = est.predict_proba(Xte)
    add("vote-soft", "soft voting over the four (SVC calibrated)", "mean proba",
        kinds, fit_s, pred_s + time.perf_counter() - t, pred, sc, va)

    # Stacking: members' out-of-fold scores (5 stratified folds, in file
    # order), LogisticRegression on them; members refitted on all of train.
    est, fit_s, pred_s, pred, va = timed(
        StackingClassifier([(n, fresh(n)) for n in names],
                           final_estimator=LogisticRegression(max_iter=2000),
                           cv=StratifiedKFold(5), n_jobs=1),
        None, "stack", "")
    t = time.perf_counter()
    sc = est.predict_proba(Xte)
    add("stack", "stacking, 5-fold OOF, LogisticRegression meta", "meta C=1",
        kinds, fit_s, pred_s + time.perf_counter() - t, pred, sc, va)

    # Blending: the members fitted on train (as chosen above), a
    # LogisticRegression fitted on their valid scores.
    def meta_x(X):
        cols = []
        for n in names:
            s = np.asarray(scores(chosen[n][2], X))
            if s.ndim == 1:
                s = s[:, None]
            elif two:
                s = s[:, 1:]            # one column suffices for two classes
            cols.append(s)
        return np.hstack(cols)

    t = time.perf_counter()
    meta = LogisticRegression(max_iter=2000).fit(meta_x(Xva), yva)
    fit_s = sum(chosen[n][3] for n in names) + (time.perf_counter() - t) + feats.cost(kinds, "valid")
    t = time.perf_counter()
    mx = meta_x(Xte)
    pred = meta.predict(mx)
    sc = meta.predict_proba(mx)
    pred_s = time.perf_counter() - t
    add("blend", "blending, LogisticRegression on valid scores", "meta C=1",
        kinds, fit_s, pred_s, pred, sc, None)

    return {"task": task, "classes": classes,
            "sizes": {s: len(data[s][0]) for s in SPLITS},
            "features": {k: hi - lo for k, (lo, hi) in feats.blocks.items()},
            "feature_fit_s": feats.fit_s, "feature_transform_s": feats.transform_s,
            "sklearn": sklearn.__version__, "numpy": np.__version__,
            "python": sys.version.split()[0],
            "results": results}


def markdown(rep):
    two = len(rep["classes"]) == 2
    head = ["model", "setting (valid)", "valid acc", "test acc", "macro-F1", "micro-F1"]
    if two:
        head += ["spam-F1", "FP", "FN", "ROC-AUC"]
    head += ["fit s", "predict s"]
    out = ["%s (train/valid/test %d/%d/%d; scikit-learn %s)" % (
        rep["task"], rep["sizes"]["train"], rep["sizes"]["valid"],
        rep["sizes"]["test"], rep["sklearn"]), "",
        "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rep["results"]:
        row = [r["model"], r["setting"],
               "%.4f" % r["valid_accuracy"] if r["valid_accuracy"] is not None else "(fit on it)",
               "%.4f" % r["accuracy"], "%.4f" % r["macro_f1"], "%.4f" % r["micro_f1"]]
        if two:
            row += ["%.4f" % r["spam_f1"], str(r["fp"]), str(r["fn"]),
                    "%.4f" % r["roc_auc"] if "roc_auc" in r else "-"]
        row += ["%.1f" % r["fit_s"], "%.2f" % r["predict_s"]]
        out.append("| " + " | ".join(row) + " |")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("task", choices=sorted(TASKS))
    ap.add_argument("data_dir")
    ap.add_argument("--json", metavar="FILE", help="write the report as JSON ('-': stdout)")
    ap.add_argument("--md", metavar="FILE", help="write the markdown table to FILE too")
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args()
    log = (lambda s: None) if a.quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    rep = run(a.task, a.data_dir, log)
    md = markdown(rep)
    if a.json == "-":
        json.dump(rep, sys.stdout, indent=1)
        print()
    else:
        if a.json:
            with open(a.json, "w") as f:
                json.dump(rep, f, indent=1)
        sys.stdout.write(md)
    if a.md:
        with open(a.md, "w") as f:
            f.write(md)


if __name__ == "__main__":
    main()
