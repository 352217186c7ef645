#!/usr/bin/env bash
# lmfuse rescore on the committed sample of the speech benchmark (sample/asr:
# 20 dev and 20 test utterances recognised by pocketsphinx, lattices and
# 50-best lists): tuning, applying, the same WER through two code paths,
# determinism, and clear errors for bad lattices, lists and references.
# usage: test_rescore_cli.sh LMFUSE SAMPLE_DIR TMP_DIR
set -u
LMF=$1 S=$2 TMP=$3/rescore_cli
rm -rf "$TMP" && mkdir -p "$TMP"
. "$(dirname "$0")/testlib.sh"
A=$S/asr

# a 3-gram on the sample's tagged Brown text, normalised as the benchmark's training text
awk 'NF == 0 { if (s != "") print s; s = ""; next }
     { w = tolower($1); if (w ~ /^[a-z]+('"'"'[a-z]+)?$/) s = (s == "" ? w : s " " w) }
     END { if (s != "") print s }' "$S/brown-tag/brown-tag.train.conll" >"$TMP/lm.txt"
expect_rc 0 "ngram train" "$LMF" ngram train -q --order 3 "$TMP/lm.txt" -o "$TMP/kn3.arpa"

# the first pass and the 50-best lists as they come
expect_rc 0 "wer" "$LMF" rescore wer "$A/test.hyp" "$A/test.ref" --json
grep -q '"sentences": 20' "$TMP/out" || fail "wer --json: $(cat "$TMP/out")"
expect_rc 0 "eval nbest" "$LMF" rescore eval "$A/test/nbest" "$A/test.ref"
grep -q "plain lists: 20 sentences, 1000 hypotheses" "$TMP/out" || fail "eval nbest: $(cat "$TMP/out")"
expect_rc 0 "eval lattices" "$LMF" rescore eval "$A/dev/lat" "$A/dev.ref" --lattice-lm "$TMP/kn3.arpa" --nbest 50
grep -q "slf lists: 20 sentences" "$TMP/out" || fail "eval lattices: $(cat "$TMP/out")"

# tune on dev lattices, apply to test lattices
expect_rc 0 "tune" "$LMF" rescore tune "$A/dev/lat" "$A/dev.ref" -m kn3="$TMP/kn3.arpa" --lattice-lm "$TMP/kn3.arpa" \
  --nbest 50 --restarts 5 -o "$TMP/r.json"
grep -q '"lmfuse":.*"rescore"' "$TMP/r.json" || fail "tune wrote no rescorer"
grep -q '"lm:kn3"' "$TMP/r.json" || fail "rescorer lacks the model's weight"
tuned=$(awk '/^tuned/ { print $3 }' "$TMP/out")
top=$(awk '/^top/ { print $3 }' "$TMP/out")
awk -v a="$tuned" -v b="$top" 'BEGIN { exit !(a + 0 <= b + 0) }' || fail "tuning made dev worse: $top -> $tuned"
# the same settings give the same weights
expect_rc 0 "tune again" "$LMF" rescore tune "$A/dev/lat" "$A/dev.ref" -m kn3="$TMP/kn3.arpa" --lattice-lm "$TMP/kn3.arpa" \
  --nbest 50 --restarts 5 -o "$TMP/r2.json"
[ "$(grep -A8 '"weights"' "$TMP/r.json")" = "$(grep -A8 '"weights"' "$TMP/r2.json")" ] || fail "tuning is not deterministic"
expect_rc 0 "apply" "$LMF" rescore apply "$TMP/r.json" "$A/test/lat" --ref "$A/test.ref" -o "$TMP/test.trn" --json
grep -q '"rescored": {"wer"' "$TMP/out" || fail "apply --json: $(cat "$TMP/out")"
w1=$(sed -n 's/.*"rescored": {"wer": \([0-9.]*\).*/\1/p' "$TMP/out")
[ "$(wc -l <"$TMP/test.trn")" = 20 ] || fail "apply wrote $(wc -l <"$TMP/test.trn") lines"
expect_rc 0 "wer of the written 1-best" "$LMF" rescore wer "$TMP/test.trn" "$A/test.ref" --json
w2=$(sed -n 's/.*"hyp": {"wer": \([0-9.]*\).*/\1/p' "$TMP/out")
[ -n "$w1" ] && [ "$w1" = "$w2" ] || fail "apply's WER $w1 differs from the WER of what it wrote ($w2)"
# a rescorer moved with its model still loads (paths are relative to it)
mkdir -p "$TMP/moved" && cp "$TMP/r.json" "$TMP/kn3.arpa" "$TMP/moved/"
expect_rc 0 "apply moved" "$LMF" rescore apply "$TMP/moved/r.json" "$A/test/lat" -o "$TMP/test2.trn"
cmp -s "$TMP/test.trn" "$TMP/test2.trn" || fail "the moved rescorer decides differently"

# plain 50-best lists: their single score, the model features
expect_rc 0 "tune nbest" "$LMF" rescore tune "$A/dev/nbest" "$A/dev.ref" -m kn3="$TMP/kn3.arpa" --restarts 2 -o "$TMP/p.json"
expect_rc 0 "apply nbest" "$LMF" rescore apply "$TMP/p.json" "$A/test/nbest" --ref "$A/test.ref"

# hostile input: every error names the file and what is wrong
expect_rc 1 "formats differ" "$LMF" rescore apply "$TMP/r.json" "$A/test/nbest"
expect_err "tuned on slf lists and these are plain lists"
mkdir -p "$TMP/cyc" "$TMP/miss" "$TMP/noscore" "$TMP/empty" "$TMP/nan" "$TMP/mixed"
printf 'N=3 L=3\nI=0 W=!NULL\nI=1 W=a\nI=2 W=b\nJ=0 S=0 E=1 a=-1\nJ=1 S=1 E=2 a=-1\nJ=2 S=2 E=1 a=-1\n' >"$TMP/cyc/u1.lat"
expect_rc 1 "cycle" "$LMF" rescore eval "$TMP/cyc" "$A/dev.ref"
expect_err "cyc/u1.lat: the lattice has a cycle"
printf 'N=2 L=1\nI=0 W=!NULL\nI=1 W=a\nJ=0 S=0 E=5 a=-1\n' >"$TMP/miss/u1.lat"
expect_rc 1 "missing node" "$LMF" rescore eval "$TMP/miss" "$A/dev.ref"
expect_err "miss/u1.lat line 4: a link to a node (E=) outside 0..N-1"
printf 'a b -3\nc d\n' >"$TMP/noscore/u1.hyp"
expect_rc 1 "no score" "$LMF" rescore eval "$TMP/noscore" "$A/dev.ref"
expect_err "noscore/u1.hyp line 2"
: >"$TMP/empty/u1.hyp"
expect_rc 1 "empty list" "$LMF" rescore eval "$TMP/empty" "$A/dev.ref"
expect_err "empty/u1.hyp: an empty n-best list"
printf 'a b -3\nc d nan\n' >"$TMP/nan/u1.hyp"
expect_rc 1 "non-finite" "$LMF" rescore eval "$TMP/nan" "$A/dev.ref"
expect_err "nan/u1.hyp line 2"
sed '3s/^u0003/u9999/' "$A/test.ref" >"$TMP/ids.ref"
expect_rc 1 "ids differ" "$LMF" rescore eval "$A/test/nbest" "$TMP/ids.ref"
expect_err "ids.ref line 3: reference \"u9999\" where the lists' sentence 3 is \"u0003\""
head -5 "$A/test.ref" >"$TMP/short.ref"
expect_rc 1 "too few references" "$LMF" rescore eval "$A/test/nbest" "$TMP/short.ref"
expect_err "5 references for 20 n-best lists"
printf 'N=2 L=1\nI=0 W=!NULL\nI=1 W=a\nJ=0 S=0 E=1 a=-1\n' >"$TMP/mixed/u1.lat"
printf 'a -1\n' >"$TMP/mixed/u2.hyp"
expect_rc 1 "mixed formats" "$LMF" rescore eval "$TMP/mixed" "$A/dev.ref"
expect_err "a plain list among slf ones"
expect_rc 2 "bad option" "$LMF" rescore tune "$A/dev/lat" "$A/dev.ref" -m nomodel -o "$TMP/x.json"
expect_rc 1 "bad model" "$LMF" rescore tune "$A/dev/lat" "$A/dev.ref" -m x="$TMP/none.arpa" -o "$TMP/x.json"
expect_err "model x"
[ ! -e "$TMP/x.json" ] || fail "a failed tune left a file"
printf '{"lmfuse": "rescore", "format": "slf", "metric": "wer", "models": [], "lattice": {"lm": null, "lm_scale": 1e400, "wip": 0, "beam": 1, "nbest": 1}, "weights": {}}' >"$TMP/bad.json"
expect_rc 1 "bad rescorer" "$LMF" rescore apply "$TMP/bad.json" "$A/test/lat"
expect_err "bad.json"

[ "$fails" = 0 ] && echo "rescore cli: all passed"
exit $((fails > 0))
