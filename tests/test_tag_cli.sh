#!/usr/bin/env bash
# lmfuse tag train|eval|predict: outputs, and clear errors for bad input
# (no tab, empty word or tag, an empty file, a tag training never saw, a
# sentence over the model's limit, a damaged model, bad options).
# usage: test_tag_cli.sh LMFUSE DATA_DIR TMP_DIR
set -u
LMF=$1 D=$2 TMP=$3/tag_cli
rm -rf "$TMP" && mkdir -p "$TMP"
. "$(dirname "$0")/testlib.sh"
TR=$D/tag-tiny.train.conll

expect_rc 0 "train hmm" "$LMF" tag train -q "$TR" -o "$TMP/h.lmft"
expect_rc 0 "train hmm order 1" "$LMF" tag train -q --order 1 --beam 0 "$TR" -o "$TMP/h1.lmft"
expect_rc 0 "train perceptron" "$LMF" tag train -q --kind perceptron --iters 3 "$TR" -o "$TMP/p.lmft"
# on its own training text the tagger is nearly perfect; the JSON has every field
expect_rc 0 "eval --json" "$LMF" tag eval "$TMP/p.lmft" "$TR" --json
python3 - "$TMP/out" <<'PY' || fail "eval --json: $(head -c 300 "$TMP/out")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["tokens"] == 206 and r["unknown"] == 0 and r["accuracy"] > 0.9, r
assert set(r) >= {"known_accuracy", "unknown_accuracy", "sentence_accuracy", "per_tag", "errors", "tokens_per_s"}
PY
printf 'the\tdt\nZorbs\tnn\nruns\tvb\n\nRex\tnp\n' >"$TMP/g.conll"
expect_rc 0 "eval text" "$LMF" tag eval "$TMP/h.lmft" "$TMP/g.conll"
grep -q "unknown words .*(1 tokens" "$TMP/out" || fail "eval: $(cat "$TMP/out")"
# predict: one column in, two (three with --probs) out, sentences kept
printf 'the\nZorbs\nruns\n\nRex\n' >"$TMP/in.conll"
expect_rc 0 "predict" "$LMF" tag predict "$TMP/h.lmft" "$TMP/in.conll" -o "$TMP/pred.conll"
[ "$(cut -f1 "$TMP/pred.conll" | tr '\n' ' ')" = "the Zorbs runs  Rex  " ] || fail "predict words: $(cat "$TMP/pred.conll")"
[ "$(awk -F'\t' 'NF==2' "$TMP/pred.conll" | wc -l)" = 4 ] || fail "predict columns"
expect_rc 0 "predict --probs" "$LMF" tag predict "$TMP/p.lmft" "$TMP/in.conll" --probs
awk -F'\t' 'NF && (NF != 3 || $3 <= 0 || $3 > 1) {bad=1} END {exit bad}' "$TMP/out" || fail "probs: $(cat "$TMP/out")"

# bad input: named file and line, exit 1, no model written
printf 'the\tdt\nbad line\n' >"$TMP/notab.conll"
expect_rc 1 "no tab" "$LMF" tag train -q "$TMP/notab.conll" -o "$TMP/x.lmft"
expect_err "notab.conll line 2: no tab"
[ ! -e "$TMP/x.lmft" ] || fail "a model written from bad input"
printf 'the\tdt\n\tnn\n' >"$TMP/noword.conll"
expect_rc 1 "empty word" "$LMF" tag eval "$TMP/h.lmft" "$TMP/noword.conll"
expect_err "noword.conll line 2: an empty word"
printf 'the\tdt\nx\t\n' >"$TMP/notag.conll"
expect_rc 1 "empty tag" "$LMF" tag train -q "$TMP/notag.conll" -o "$TMP/x.lmft"
expect_err "notag.conll line 2: an empty tag"
: >"$TMP/empty.conll"
expect_rc 1 "empty file" "$LMF" tag train -q "$TMP/empty.conll" -o "$TMP/x.lmft"
expect_err "empty.conll: no tokens"
printf 'the\tdt\ndog\tzz\n' >"$TMP/unseen.conll"
expect_rc 0 "unseen tag counts as an error" "$LMF" tag eval "$TMP/h.lmft" "$TMP/unseen.conll"
expect_err "1 tokens of .*unseen.conll have tags the tagger never saw (the first: line 2, \"zz\")"
expect_rc 1 "unseen tag, --strict" "$LMF" tag eval "$TMP/h.lmft" "$TMP/unseen.conll" --strict
expect_err "unseen.conll line 2: tag \"zz\" was never seen in training"
awk 'BEGIN { print "the\tdt"; for (i = 0; i < 1000; i++) print "dog\tnn" }' >"$TMP/long.conll"
expect_rc 1 "sentence over the limit" "$LMF" tag eval "$TMP/h.lmft" "$TMP/long.conll"
expect_err "long.conll line 1: a sentence of 1001 tokens; the tagger takes at most 1000"
expect_rc 1 "sentence over the limit (predict)" "$LMF" tag predict "$TMP/h.lmft" "$TMP/long.conll" -o "$TMP/long.out"
[ ! -e "$TMP/long.out" ] || fail "predict left a file"
head -c 2000 "$TMP/h.lmft" >"$TMP/trunc.lmft"
expect_rc 1 "truncated model" "$LMF" tag eval "$TMP/trunc.lmft" "$TMP/g.conll"
expect_err "trunc.lmft"
expect_rc 1 "not a tagger" "$LMF" tag eval "$TR" "$TMP/g.conll"
expect_err "tag-tiny.train.conll"
expect_rc 2 "bad kind" "$LMF" tag train --kind crf "$TR" -o "$TMP/x.lmft"
expect_rc 2 "bad order" "$LMF" tag train --order 3 "$TR" -o "$TMP/x.lmft"
expect_rc 2 "no output" "$LMF" tag train "$TR"
expect_rc 2 "unknown subcommand" "$LMF" tag fly
# fuse and stack from the command line; a recipe is a tagger like the others
expect_rc 0 "fuse weighted" "$LMF" tag fuse "$TMP/h.lmft" "$TMP/p.lmft" --method weighted --valid "$TR" -o "$TMP/f.json"
expect_rc 0 "eval a fusion" "$LMF" tag eval "$TMP/f.json" "$TMP/g.conll"
expect_rc 0 "fuse a fusion" "$LMF" tag fuse "$TMP/f.json" "$TMP/h1.lmft" --method vote -o "$TMP/ff.json"
expect_rc 0 "eval nested" "$LMF" tag eval "$TMP/ff.json" "$TMP/g.conll"
for m in precision-vote precision-recall-vote pair-vote; do
  expect_rc 0 "fuse $m" "$LMF" tag fuse "$TMP/h.lmft" "$TMP/p.lmft" "$TMP/h1.lmft" --method $m --valid "$TR" -o "$TMP/v-$m.json"
  expect_rc 0 "eval $m" "$LMF" tag eval "$TMP/v-$m.json" "$TR" --json
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["accuracy"] > 0.8, r["accuracy"]' "$TMP/out" || fail "$m: $(head -c 200 "$TMP/out")"
done
grep -q '"pairs"' "$TMP/v-pair-vote.json" && grep -q '"vote_against"' "$TMP/v-precision-recall-vote.json" || fail "vote tables not in the recipes"
expect_rc 2 "fuse: fitted method without valid" "$LMF" tag fuse "$TMP/h.lmft" "$TMP/p.lmft" --method weighted -o "$TMP/x.json"
expect_rc 2 "fuse: unknown method" "$LMF" tag fuse "$TMP/h.lmft" --method nope -o "$TMP/x.json"
printf 'the\tdt\ndog\tzz\n\n' >"$TMP/zz.conll"
expect_rc 0 "train on other tags" "$LMF" tag train -q "$TMP/zz.conll" -o "$TMP/zz.lmft"
expect_rc 1 "fuse: other tags" "$LMF" tag fuse "$TMP/h.lmft" "$TMP/zz.lmft" --method average -o "$TMP/x.json"
expect_err "other tags"
expect_rc 0 "stack out of fold" "$LMF" tag stack -q "$TMP/h.lmft" "$TMP/p.lmft" --train "$TR" --folds 3 -o "$TMP/s.lmft"
expect_rc 0 "eval a stack" "$LMF" tag eval "$TMP/s.lmft" "$TMP/g.conll"
grep -q "member 2 " "$TMP/out" && grep -q "error reduction .* against the best member" "$TMP/out" || fail "stack eval: $(cat "$TMP/out")"
expect_rc 2 "stack: train and valid" "$LMF" tag stack "$TMP/h.lmft" --train "$TR" --valid "$TR" -o "$TMP/x.lmft"
printf '{"lmfuse": "tagger fusion", "combiner": "linear", "members": ["gone.lmft"]}' >"$TMP/bad.json"
expect_rc 1 "recipe with a missing member" "$LMF" tag eval "$TMP/bad.json" "$TMP/g.conll"
expect_err "bad.json: member 1"
printf '{"lmfuse": "tagger fusion", "combiner": "linear", "members": ["h.lmft"], "decode": "viterbi"}' >"$TMP/bad2.json"
expect_rc 1 "viterbi without member" "$LMF" tag eval "$TMP/bad2.json" "$TMP/g.conll"
expect_err "viterbi_member"
printf '{"lmfuse": "tagger fusion", "combiner": "linear", "members": ["p.lmft"], "decode": "viterbi", "viterbi_member": 1}' >"$TMP/bad3.json"
expect_rc 1 "viterbi with a perceptron" "$LMF" tag eval "$TMP/bad3.json" "$TMP/g.conll"
expect_err "not one"

# demo tag --quick: every row of its table is what tag eval gives for its file
SRC=$(cd "$(dirname "$0")/.." && pwd)
expect_rc 0 "demo tag --quick" "$LMF" demo tag --quick --dir "$TMP/demo" --data "$SRC/sample/brown-tag"
python3 - "$TMP/demo/results.json" "$LMF" "$SRC/sample/brown-tag/brown-tag.test.conll" <<'PY' || fail "demo rows not reproduced"
import json, subprocess, sys, os
r = json.load(open(sys.argv[1]))
assert len(r["rows"]) >= 10, r
for row in r["rows"]:
    out = subprocess.run([sys.argv[2], "tag", "eval", os.path.join(os.path.dirname(sys.argv[1]), row["file"]), sys.argv[3], "--json"],
                         capture_output=True, text=True, check=True).stdout
    e = json.loads(out)
    assert abs(e["accuracy"] - row["accuracy"]) < 1e-6 and abs(e["unknown_accuracy"] - row["unknown"]) < 1e-6, (row, e)
PY
exit $((fails > 0))
