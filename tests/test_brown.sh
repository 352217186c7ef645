#!/usr/bin/env bash
# Brown benchmark checks: the split's md5 sums, and Kneser-Ney 3-gram and
# 5-gram valid/test perplexities against KenLM lmplz's figures (within 0.1%).
# usage: test_brown.sh LMFUSE BROWN_DIR TMP_DIR     (exit 77 = skipped)
set -u
LMF=$1 D=$2 TMP=$3/brown
if [ ! -f "$D/brown.train.txt" ]; then
  echo "skipped: $D/brown.train.txt missing (run: lmfuse data fetch brown)"
  exit 77
fi
mkdir -p "$TMP"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
check_md5() {
  local got; got=$(md5sum "$D/brown.$1.txt" | cut -d' ' -f1)
  [ "$got" = "$2" ] || fail "brown.$1.txt md5 $got, expected $2"
}
check_md5 train b82aa911532328d088ac92f3fdf5ffa1
check_md5 valid b80f9a43520f76af08e25a70b3fafa1c
check_md5 test dafa5cedbbca56eefc5c72fccaf548ee
# KenLM lmplz (interpolated modified KN, <unk> an ordinary word, </s> scored)
for spec in "3 valid 201.09" "3 test 189.32" "5 valid 199.98" "5 test 187.99"; do
  set -- $spec
  m="$TMP/brown$1.lmfb"
  [ -f "$m" ] || "$LMF" ngram train -q --order "$1" "$D/brown.train.txt" -o "$m" || { fail "train order $1"; continue; }
  got=$("$LMF" ppl "$m" "$D/brown.$2.txt" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["ppl"])')
  python3 -c "import sys; g=$got; k=$3; sys.exit(0 if abs(g-k) <= 0.001*k else 1)" \
    && echo "order $1 $2: lmfuse $got, KenLM $3" \
    || fail "order $1 $2: lmfuse $got vs KenLM $3 (more than 0.1% apart)"
done
exit $((fails > 0))
