#!/usr/bin/env bash
# The tagged Brown split (lmfuse data tagged; src/data/tagged.c).
# 1. A small package made here: exact output, written out below by hand from
#    ../shared/data/brown-tagging.md (tag normalisation, sentences, latin-1).
# 2. The real corpus, when fetched: the specification's md5s and counts.
# 3. Bad packages: clear errors naming file and line, no output file left.
# usage: test_tagged.sh LMFUSE DATA_ROOT TMP_DIR
set -u
LMF=$(realpath "$1") ROOT=$2 TMP=$3/tagged
rm -rf "$TMP" && mkdir -p "$TMP"
. "$(dirname "$0")/testlib.sh"

P=$TMP/package
mkdir -p "$P"
# -tl/-hl/-nc before the end, '-' or '+'; twice (nn-tl-hl); fw- after them;
# "-tlx" is not a suffix; compound tags kept; a word with '/' inside; a
# latin-1 byte; blank lines (with spaces) separate paragraphs, each
# non-empty line is a sentence
printf '\n\n\tThe/at Fulton/np-tl County/nn-tl-hl\n\tsaid/vbd ./.\n \n\tIt/pps+bez 1/2/cd de/fw-in-tl la/fw-at-hl x/nn-tlx y/nps-nc+hvz caf\351/nn\n' >"$P/ca01"
printf '\tEnd/nn-hl ./.\n' >"$P/cb02"
printf 'ignored/nn\n' >"$P/README"
expect_rc 1 "data tagged (small: not the benchmark, so the md5 check fails after writing)" "$LMF" data tagged "$P" "$TMP/o"
printf 'The\tat\nFulton\tnp\nCounty\tnn\n\nsaid\tvbd\n.\t.\n\nIt\tpps+bez\n1/2\tcd\nde\tin\nla\tat\nx\tnn-tlx\ny\tnps+hvz\ncaf\303\251\tnn\n\nEnd\tnn\n.\t.\n\n' >"$TMP/want"
cmp -s "$TMP/want" "$TMP/o/brown-tag.train.conll" || fail "train: got $(od -c "$TMP/o/brown-tag.train.conll" | head -8)"
[ -f "$TMP/o/brown-tag.valid.conll" ] && [ ! -s "$TMP/o/brown-tag.valid.conll" ] || fail "valid should be empty"
grep -q "train $TMP/o/brown-tag.train.conll: 4 sentences, 14 tokens" "$TMP/err" || fail "counts: $(cat "$TMP/err")"
expect_err "md5 .*expected e440da0d49b9cad108320ad6f43f5cb2"  # not the benchmark corpus: said, files kept

# bad tokens: named by file and line, nothing written
for bad in 'word' '/nn' 'word/' 'x/-tl'; do
  rm -rf "$TMP/b" && mkdir -p "$TMP/b"
  printf 'ok/nn\n\nfine/jj %s\n' "$bad" >"$TMP/b/cc03"
  expect_rc 1 "bad token $bad" "$LMF" data tagged "$TMP/b" "$TMP/bo"
  expect_err "cc03 line 3"
  [ ! -e "$TMP/bo/brown-tag.train.conll" ] || fail "bad token $bad: output left behind"
done
expect_rc 1 "no corpus files" "$LMF" data tagged "$TMP/o" "$TMP/bo"
expect_err "no corpus files"
expect_rc 2 "missing argument" "$LMF" data tagged "$P"

# the real corpus
D=$ROOT/brown
if [ -d "$D/package" ]; then
  expect_rc 0 "data tagged (Brown)" "$LMF" data tagged "$D/package" "$TMP/real"
  for spec in "train 35141 790373 e440da0d49b9cad108320ad6f43f5cb2" "valid 11272 197219 0fa6fcb628e9bf92d42c388dfbc5229f" \
              "test 10927 173600 b803fac155b189b0d9ed5261d52f918a"; do
    set -- $spec
    f=$TMP/real/brown-tag.$1.conll
    [ "$(md5sum <"$f" | cut -d' ' -f1)" = "$4" ] || fail "$1: md5 differs from the specification's"
    [ "$(grep -c '^$' "$f")" = "$2" ] || fail "$1: sentences"
    [ "$(grep -c . "$f")" = "$3" ] || fail "$1: tokens"
  done
  [ "$(cat "$TMP"/real/*.conll | cut -f2 | grep . | sort -u | wc -l)" = 190 ] || fail "not 190 tags"
else
  echo "the real corpus part skipped: $D/package missing (run: lmfuse data fetch brown)"
fi
exit $((fails > 0))
