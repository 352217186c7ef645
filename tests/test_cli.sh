#!/usr/bin/env bash
# CLI tests: help texts, exit codes, JSON output, atomic output files.
# usage: test_cli.sh LMFUSE DATA_DIR TMP_DIR
set -u
LMF=$1 DATA=$2 TMP=$3/cli
rm -rf "$TMP" && mkdir -p "$TMP"
. "$(dirname "$0")/testlib.sh"

# help on every command, with defaults shown
expect_rc 0 "help" "$LMF" --help
for c in "ngram train" "ngram convert" "ppl" "vocab build" "data" "train" "convert"; do
  expect_rc 0 "$c --help" $LMF $c --help
done
$LMF ngram train --help | grep -q "default 5" || fail "ngram train --help does not show the default order"
expect_rc 2 "no command" "$LMF"
expect_rc 2 "unknown command" "$LMF" frobnicate
expect_rc 2 "bad order" "$LMF" ngram train --order 9 "$DATA/brown-mini.train.txt" -o "$TMP/x.arpa"
expect_err "order must be 1..6"
expect_rc 2 "unknown option" "$LMF" ppl --bogus a b
expect_rc 2 "missing value" "$LMF" ngram train "$DATA/brown-mini.train.txt" -o

# train, convert, score; ARPA and binary agree exactly
expect_rc 0 "train arpa" "$LMF" ngram train --order 3 "$DATA/brown-mini.train.txt" -o "$TMP/m3.arpa"
expect_rc 0 "train binary" "$LMF" ngram train -q --order 3 "$DATA/brown-mini.train.txt" -o "$TMP/m3.lmfb"
expect_rc 0 "convert" "$LMF" ngram convert "$TMP/m3.arpa" -o "$TMP/m3b.lmfb"
cmp -s "$TMP/m3.lmfb" "$TMP/m3b.lmfb" || fail "binary from training differs from binary converted from ARPA"
expect_rc 0 "convert back" "$LMF" ngram convert "$TMP/m3.lmfb" -o "$TMP/m3c.arpa"
cmp -s "$TMP/m3.arpa" "$TMP/m3c.arpa" || fail "ARPA written while training differs from ARPA written from the model"
"$LMF" ppl "$TMP/m3.arpa" "$DATA/brown-mini.test.txt" --json >"$TMP/a.json" || fail "ppl arpa"
"$LMF" ppl "$TMP/m3.lmfb" "$DATA/brown-mini.test.txt" --json >"$TMP/b.json" || fail "ppl binary"
python3 - "$TMP/a.json" "$TMP/b.json" <<'PY' || fail "ppl --json content"
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
for k in ("ppl", "ppl_excl_oov", "logprob", "tokens", "oovs", "sentences"):
    assert k in a, k
assert a["ppl"] == b["ppl"] and a["logprob"] == b["logprob"]
assert a["sentences"] == 40 and a["tokens"] == a["words"] + 40
PY
ref=$(tail -1 "$DATA/brown-mini.kn3.expected" | awk '{print $3}')
python3 -c "import json,sys; p=json.load(open('$TMP/a.json'))['ppl']; sys.exit(0 if abs(p-$ref)<=1e-4*$ref else 1)" \
  || fail "3-gram ppl differs from the reference $ref"
"$LMF" ppl "$TMP/m3.lmfb" "$DATA/brown-mini.test.txt" --per-token >"$TMP/pt.tsv" || fail "per-token"
[ "$(grep -c $'\t' "$TMP/pt.tsv")" = "$(python3 -c "import json; print(json.load(open('$TMP/a.json'))['tokens'])")" ] \
  || fail "--per-token prints one line per token"
awk -F'\t' '$4 == 1 && $2 == "<unk>"' "$TMP/pt.tsv" | grep -q . && fail "--per-token prints OOVs as <unk> instead of as written"
awk -F'\t' '$4 == 1' "$TMP/pt.tsv" | grep -q . || fail "--per-token shows no OOVs"
"$LMF" ppl "$TMP/m3.lmfb" "$DATA/brown-mini.test.txt" --per-token --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d["tokens"])==d["summary"]["tokens"]' \
  || fail "--per-token --json"

# gzip-compressed ARPA and text are read transparently; a truncated .gz is an error
gzip -c "$TMP/m3.arpa" >"$TMP/m3.arpa.gz"
"$LMF" ppl "$TMP/m3.arpa.gz" "$DATA/brown-mini.test.txt" --json >"$TMP/gz.json" || fail "ppl on .arpa.gz"
cmp -s "$TMP/a.json" <(sed 's/m3.arpa.gz/m3.arpa/' "$TMP/gz.json") || fail "gzip ARPA scores differ"
head -c 20000 "$TMP/m3.arpa.gz" >"$TMP/cut.arpa.gz"
expect_rc 1 "truncated gzip" "$LMF" ppl "$TMP/cut.arpa.gz" "$DATA/brown-mini.test.txt"
expect_err "cut.arpa.gz: the gzip data ends early"
gzip -c "$DATA/brown-mini.train.txt" >"$TMP/train.txt.gz"
expect_rc 0 "train on gzip text" "$LMF" ngram train -q --order 3 "$TMP/train.txt.gz" -o "$TMP/gz3.lmfb"
cmp -s "$TMP/gz3.lmfb" "$TMP/m3.lmfb" || fail "training on gzip text gives a different model"

# bad inputs: clear message naming the file, non-zero exit, no output file left behind
printf 'a b\nc \xff d\n' >"$TMP/bad.txt"
expect_rc 1 "invalid utf-8" "$LMF" ngram train "$TMP/bad.txt" -o "$TMP/bad.arpa"
expect_err "bad.txt:2:3: invalid UTF-8"
[ ! -e "$TMP/bad.arpa" ] || fail "a failed training left an output file"
ls "$TMP" | grep -q '\.tmp\.' && fail "temporary file left behind"
echo "previous" >"$TMP/keep.arpa"
expect_rc 1 "missing input" "$LMF" ngram train "$TMP/nope.txt" -o "$TMP/keep.arpa"
expect_err "nope.txt: cannot open"
[ "$(cat "$TMP/keep.arpa")" = previous ] || fail "a failed run clobbered an existing output"
expect_rc 1 "unwritable output" "$LMF" ngram train "$DATA/brown-mini.train.txt" -o "$TMP/no/such/dir/m.arpa"
expect_err "cannot create"
expect_rc 2 "unknown extension" "$LMF" ngram train "$DATA/brown-mini.train.txt" -o "$TMP/m.bin"
head -c 1000 "$TMP/m3.arpa" >"$TMP/trunc.arpa"
expect_rc 1 "truncated arpa" "$LMF" ppl "$TMP/trunc.arpa" "$DATA/brown-mini.test.txt"
expect_err "trunc.arpa"
head -c 5000 "$TMP/m3.lmfb" >"$TMP/trunc.lmfb"
expect_rc 1 "truncated binary" "$LMF" ppl "$TMP/trunc.lmfb" "$DATA/brown-mini.test.txt"
expect_err "trunc.lmfb: the header says"
: >"$TMP/empty.txt"
expect_rc 1 "empty text" "$LMF" ppl "$TMP/m3.lmfb" "$TMP/empty.txt"
expect_err "empty"
expect_rc 1 "empty train" "$LMF" ngram train "$TMP/empty.txt" -o "$TMP/e.arpa"
head -c 3000000 /dev/zero | tr '\0' 'a' >"$TMP/long.txt"
expect_rc 1 "long line" "$LMF" ngram train --max-line 1000000 "$TMP/long.txt" -o "$TMP/l.arpa"
expect_err "long.txt:1: line longer than 1000000 bytes"

# vocab build
expect_rc 0 "vocab build" "$LMF" vocab build "$DATA/brown-mini.train.txt" --min-count 2 -o "$TMP/v.vocab"
head -1 "$TMP/v.vocab" | grep -q '^#lmfuse-vocab 1 word' || fail "vocab header"

[ $fails = 0 ] && echo "cli tests passed" || echo "$fails cli test(s) failed"
exit $((fails > 0))
