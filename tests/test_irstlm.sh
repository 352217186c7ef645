#!/usr/bin/env bash
# Peer agreement with IRSTLM (Debian package irstlm), both directions:
#  1. an ARPA model estimated by IRSTLM (its <s> <s> padding included) is read
#     by lmfuse and scored exactly as IRSTLM's compile-lm scores it;
#  2. an ARPA model written by lmfuse is read by IRSTLM and scored as lmfuse
#     scores it.
# compile-lm charges every <unk> a penalty and reports it as PPwp; PP - PPwp
# is the perplexity with <unk> scored by its own probability, lmfuse's
# convention.  The text has no OOVs (a slice of the training data).
# usage: test_irstlm.sh LMFUSE DATA_DIR TMP_DIR        (exit 77 = skipped)
set -u
LMF=$1 DATA=$2 TMP=$3/irstlm
export PATH=$PATH:/usr/lib/irstlm/bin
if ! command -v tlm >/dev/null || ! command -v compile-lm >/dev/null; then
  echo "skipped: IRSTLM not installed (apt-get install irstlm)"
  exit 77
fi
rm -rf "$TMP" && mkdir -p "$TMP"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
awk '{print "<s> " $0 " </s>"}' "$DATA/brown-mini.train.txt" >"$TMP/train.se.txt"
head -50 "$DATA/brown-mini.train.txt" >"$TMP/eval.txt"
awk '{print "<s> " $0 " </s>"}' "$TMP/eval.txt" >"$TMP/eval.se.txt"

irst_ppl() { # MODEL -> PP - PPwp
  compile-lm "$1" --eval="$TMP/eval.se.txt" 2>&1 | tee "$TMP/$(basename "$1").eval" |
    sed -n 's/.*PP=\([0-9.]*\) PPwp=\([0-9.]*\).*/\1 \2/p' | awk '{printf "%.4f", $1 - $2}'
}
lmf_ppl() { "$LMF" ppl "$1" "$TMP/eval.txt" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["ppl"])'; }
close() { python3 -c "import sys; a=float('$1' or 'nan'); b=float('$2' or 'nan'); sys.exit(0 if abs(a-b) <= 0.002*b else 1)"; }

for order in 3 4; do
  tlm -tr="$TMP/train.se.txt" -n=$order -lm=sb -ps=no -o="$TMP/irst$order.arpa" >"$TMP/tlm$order.log" 2>&1 \
    || { fail "tlm failed (see $TMP/tlm$order.log)"; continue; }
  a=$(irst_ppl "$TMP/irst$order.arpa"); b=$(lmf_ppl "$TMP/irst$order.arpa")
  close "$b" "$a" && echo "IRSTLM $order-gram: compile-lm $a, lmfuse $b" || fail "IRSTLM $order-gram model: compile-lm $a vs lmfuse $b"
  "$LMF" ngram train -q --order $order "$DATA/brown-mini.train.txt" -o "$TMP/lmf$order.arpa" || fail "lmfuse train"
  a=$(irst_ppl "$TMP/lmf$order.arpa"); b=$(lmf_ppl "$TMP/lmf$order.arpa")
  close "$a" "$b" && echo "lmfuse $order-gram: lmfuse $b, compile-lm $a" || fail "lmfuse $order-gram model: lmfuse $b vs compile-lm $a"
done
exit $((fails > 0))
