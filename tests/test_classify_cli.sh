#!/usr/bin/env bash
# lmfuse classify and lmfuse demo classify --quick on the brown-genre sample
# shipped in sample/genre: every row of the demo's table is reproduced by
# `lmfuse classify eval` from the files it leaves; the fusion with the best
# valid accuracy beats the member with the best valid accuracy on test
# macro-F1 (both picked without looking at test: which member or fusion
# is best on 60 test documents is noise); predict writes one row per document with probabilities
# summing to 1; malformed input fails with the file and line named.
# usage: test_classify_cli.sh LMFUSE SAMPLE_DIR TMP_DIR
set -u
LMF=$(realpath "$1") SAMPLE=$(realpath "$2") TMP=$3/classify_cli
rm -rf "$TMP" && mkdir -p "$TMP"
. "$(dirname "$0")/testlib.sh"
TR=$SAMPLE/brown-genre.train.txt VA=$SAMPLE/brown-genre.valid.txt TE=$SAMPLE/brown-genre.test.txt

# ---- the demo, quick ----
"$LMF" demo classify --quick --data "$SAMPLE" --dir "$TMP/run" >"$TMP/table.txt" 2>"$TMP/demo.err" ||
  fail "demo classify --quick failed: $(grep -v warning "$TMP/demo.err" | tail -5)"
for row in 'LM word 3-gram' 'LM char 4-gram' 'naive Bayes' 'linear tf-idf' 'linear chars, bal.' 'fusion: average' \
  'fusion: stack' 'fusion: blend' 'fusion: vote' 'fusion: select' 'fusion: geo-weighted' 'fusion: stack, train+valid'; do
  grep -q "^$row " "$TMP/table.txt" || fail "no table row \"$row\""
done
grep -q '7/7 training linear chars' "$TMP/demo.err" || fail "no progress on stderr"
/usr/bin/python3 - "$LMF" "$TMP/run/results.json" "$TMP/run" <<'PY' || fail "results.json disagrees with lmfuse classify eval"
import json, os, subprocess, sys
lmf, res, run = sys.argv[1], json.load(open(sys.argv[2])), sys.argv[3]
bad = 0
for r in res["rows"]:
    out = subprocess.run([lmf, "classify", "eval", os.path.join(run, r["file"]), res["test"], "--json"],
                         capture_output=True, text=True)
    if out.returncode:
        print(r["name"], out.stderr); bad = 1; continue
    m = json.loads(out.stdout)
    if abs(m["accuracy"] - r["test_accuracy"]) > 1e-6 or abs(m["macro_f1"] - r["test_macro_f1"]) > 1e-6:
        print(f"{r['name']}: demo {r['test_accuracy']} {r['test_macro_f1']}, eval {m['accuracy']} {m['macro_f1']}")
        bad = 1
members = [r for r in res["rows"] if not r["name"].startswith("fusion")]
fusions = [r for r in res["rows"] if r["name"].startswith("fusion")]
if len(members) != 7 or len(fusions) < 16: print(len(members), "members,", len(fusions), "fusions"); bad = 1
bm = max(members, key=lambda r: r["valid_accuracy"])
bf = max((r for r in fusions if r["valid_accuracy"] is not None), key=lambda r: r["valid_accuracy"])
if not bf["test_macro_f1"] > bm["test_macro_f1"]:
    print(f"the best fusion on valid ({bf['name']}) does not beat the best member on valid ({bm['name']}) on test macro-F1"); bad = 1
sys.exit(bad)
PY

# ---- train, eval, predict ----
M=$TMP/run/lm-word3.json
expect_rc 0 "eval --json" "$LMF" classify eval "$M" "$TE" --json
/usr/bin/python3 -c "import json,sys; m=json.load(open('$TMP/out')); sys.exit(not (m['documents']==60 and len(m['classes'])==15))" ||
  fail "eval --json lacks documents or classes"
sed 's/^__label__[^ ]* //' "$TE" >"$TMP/unlabelled.txt"
expect_rc 0 "predict unlabelled" "$LMF" classify predict "$M" "$TMP/unlabelled.txt" -o "$TMP/pred.tsv"
/usr/bin/python3 - "$TMP/pred.tsv" <<'PY' || fail "predict output malformed"
import sys
rows = open(sys.argv[1]).read().splitlines()
head = rows[0].split("\t")
assert head[0] == "label" and len(head) == 16 and len(rows) == 61
for r in rows[1:]:
    f = r.split("\t"); p = [float(x) for x in f[1:]]
    assert abs(sum(p) - 1) < 1e-4 and f[0] == head[1 + p.index(max(p))]
PY
expect_rc 0 "fuse average" "$LMF" classify fuse -q --method average "$TMP/run/lm-word3.json" "$TMP/run/lm-char4.json" -o "$TMP/avg.json"
expect_rc 0 "eval of the fusion" "$LMF" classify eval "$TMP/avg.json" "$TE"

# ---- a neural classifier from random weights learns a separable toy task ----
for i in $(seq 20); do printf '__label__a goal team match win\n__label__b bread soup cook oven\n'; done >"$TMP/toy.txt"
expect_rc 0 "train --kind neural" "$LMF" classify train -q --kind neural --hidden 16 --emb 16 --epochs 30 --lr 1e-2 \
  --min-count 1 "$TMP/toy.txt" --valid "$TMP/toy.txt" -o "$TMP/nn.json"
expect_rc 0 "eval neural" "$LMF" classify eval "$TMP/nn.json" "$TMP/toy.txt" --json
/usr/bin/python3 -c "import json,sys; sys.exit(json.load(open('$TMP/out'))['accuracy'] != 1)" || fail "neural toy accuracy below 1"
expect_rc 2 "neural, bad pooling" "$LMF" classify train --kind neural --pooling max "$TMP/toy.txt" -o "$TMP/x.json"
expect_rc 2 "neural --refit" "$LMF" classify train --kind neural --refit "$TMP/toy.txt" --valid "$TMP/toy.txt" -o "$TMP/x.json"
expect_rc 2 "--refit without valid" "$LMF" classify train --kind nb --refit "$TMP/toy.txt" -o "$TMP/x.json"
expect_rc 2 "--char-ngrams 5-3" "$LMF" classify train --kind linear --char-ngrams 5-3 "$TMP/toy.txt" -o "$TMP/x.json"

# ---- naive Bayes trained again on train + valid, and stacked over both files ----
expect_rc 0 "nb --refit" "$LMF" classify train -q --kind nb "$TR" --valid "$VA" --refit -o "$TMP/rnb.json"
/usr/bin/python3 -c "import json,sys; sys.exit(sum(json.load(open('$TMP/rnb.json'))['documents']) != 210)" ||
  fail "nb --refit did not train on train + valid (150 + 60 documents)"
expect_rc 0 "lm --refit" "$LMF" classify train -q --kind lm --order 2 "$TR" --valid "$VA" --refit -o "$TMP/rlm.json"
expect_rc 0 "stack over train + valid" "$LMF" classify fuse -q --method stack-full --meta logp --balanced \
  --train "$TR" --train "$VA" "$TMP/rnb.json" "$TMP/rlm.json" --oof-out "$TMP/oof" -o "$TMP/stk.json"
/usr/bin/python3 - "$TMP" <<'PY' || fail "stack over train + valid: recipe or out-of-fold outputs wrong"
import json, sys
t = sys.argv[1]
j = json.load(open(t + "/stk.json"))
assert j["stack"]["features"] == "logp" and j["tuning"]["balanced"] is True and "+" in j["tuning"]["train"]
for k in (1, 2):
    rows = open(f"{t}/oof.{k}.tsv").read().splitlines()
    assert len(rows) == 211, len(rows)
PY
expect_rc 0 "eval the stack" "$LMF" classify eval "$TMP/stk.json" "$TE"

# ---- malformed input: file and line named ----
printf '__label__a one\nno label here\n' >"$TMP/nolabel.txt"
expect_rc 1 "a line without a label" "$LMF" classify train -q --kind lm "$TMP/nolabel.txt" -o "$TMP/x.json"
expect_err "nolabel.txt:2: the line has no label"
printf '__label__a one two\n__label__b\n' >"$TMP/empty.txt"
expect_rc 1 "an empty document" "$LMF" classify train -q --kind lm "$TMP/empty.txt" -o "$TMP/x.json"
expect_err "empty.txt:2: empty label name\|empty.txt:2: the document"
head -3 "$TE" >"$TMP/newlab.txt"; echo '__label__zz a new genre' >>"$TMP/newlab.txt"
expect_rc 1 "a label training never saw" "$LMF" classify eval "$M" "$TMP/newlab.txt"
expect_err 'newlab.txt:4: label "zz" is not one the model was trained on'
printf '__label__only one\n__label__only two\n' >"$TMP/one.txt"
expect_rc 1 "one class" "$LMF" classify train -q --kind lm "$TMP/one.txt" -o "$TMP/x.json"
expect_err "one class only"
printf '__label__a x y\n__label__b z w\n' >"$TMP/two.txt"
expect_rc 0 "a two-class classifier" "$LMF" classify train -q --kind lm "$TMP/two.txt" -o "$TMP/two.json"
expect_rc 1 "members over other label sets" "$LMF" classify fuse -q --method average "$M" "$TMP/two.json" -o "$TMP/x.json"
expect_err "different label sets"
printf '{"lmfuse": "classifier", "kind": "lm", "classes": ["a", "b"], "models": ["gone.lmfb", "gone.lmfb"], "prior": [0.5, 0.5], "units": "word", "calibration": {"method": "none", "a": 1, "b": [0, 0]}}\n' >"$TMP/gone.json"
expect_rc 1 "a missing class model" "$LMF" classify eval "$TMP/gone.json" "$TMP/two.txt"
expect_err "gone.json: the model of class a"
expect_rc 1 "a classifier as a language model" "$LMF" ppl "$M" "$TE"
expect_err "is a document classifier"
expect_rc 1 "a language-model recipe as a classifier" "$LMF" classify eval "$(dirname "$0")/data/rnnlm_rnn.safetensors" "$TE"
expect_rc 2 "no kind" "$LMF" classify train "$TR" -o "$TMP/x.json"
expect_rc 2 "bad method" "$LMF" classify fuse --method nope "$M" -o "$TMP/x.json"
expect_rc 2 "blend without valid" "$LMF" classify fuse --method blend "$M" -o "$TMP/x.json"
expect_err "fitted on --valid"
expect_rc 2 "unknown subcommand" "$LMF" classify bogus
expect_rc 1 "demo classify, data missing" "$LMF" demo classify --quick --data "$TMP/nowhere" --dir "$TMP/o2"

[ $fails = 0 ] && echo "all classify CLI tests passed"
exit $((fails > 0))
