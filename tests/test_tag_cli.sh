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
exit $((fails > 0))
