#!/usr/bin/env bash
# Peer agreement with IRSTLM (Debian package irstlm), both directions:
#  1. an ARPA model estimated by IRSTLM (its <s> <s> padding included) is read
#     by lmfuse and scored exactly as IRSTLM's compile-lm scores it;
#  2. an ARPA model written by lmfuse is read by IRSTLM and scored as lmfuse
#     scores it.
# compile-lm charges every <unk> a penalty and reports it as PPwp; PP - PPwp
# is the perplexity with <unk> scored by its own probability, lmfuse's
# convention.  The text has no OOVs (a slice of the training data).
#  3. linear interpolation: two lmfuse models mixed with fixed weights by
#     interpolate-lm and by an lmfuse recipe give the same perplexity, and
#     lmfuse's EM weights are at least as good on the tuning text as those
#     interpolate-lm --learn finds.  interpolate-lm has no PPwp: it charges
#     literal <unk> tokens an OOV penalty, so the mixing text is a slice of
#     the training data with its <unk> tokens dropped (no OOVs at all).
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
# 3. linear interpolation
if command -v interpolate-lm >/dev/null && [ -f "$TMP/lmf3.arpa" ] && [ -f "$TMP/lmf4.arpa" ]; then
  awk '{o=""; for(i=1;i<=NF;i++) if($i!="<unk>") o=o (o?" ":"") $i; if(o!="") print o}' \
    "$DATA/brown-mini.train.txt" | head -120 >"$TMP/mix.txt"
  awk '{print "<s> " $0 " </s>"}' "$TMP/mix.txt" >"$TMP/mix.se.txt"
  (cd "$TMP" && printf 'LMINTERPOLATION 2\n0.3 lmf3.arpa\n0.7 lmf4.arpa\n' >mix.lm)
  printf '{"lmfuse":"recipe","combiner":"linear","members":["lmf3.arpa","lmf4.arpa"],"weights":[0.3,0.7]}' \
    >"$TMP/mix.json"
  a=$(cd "$TMP" && interpolate-lm mix.lm --eval=mix.se.txt 2>&1 | sed -n 's/.*PP=\([0-9.]*\) .*Noov=\([0-9]*\).*/\1 \2/p')
  b=$("$LMF" ppl "$TMP/mix.json" "$TMP/mix.txt" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["ppl"])')
  python3 -c "import sys; pp, noov = '$a'.split(); sys.exit(not (noov == '0' and abs(float(pp) - $b) <= 0.006))" &&
    echo "fixed weights 0.3/0.7: interpolate-lm ${a% *}, lmfuse $b" ||
    fail "fixed-weight mixture: interpolate-lm '$a' vs lmfuse $b"
  (cd "$TMP" && interpolate-lm mix.lm --learn=mix.se.txt >"$TMP/learn.log" 2>&1)
  w=$(awk 'NR > 1 {printf "%s%s", (NR > 2 ? "," : ""), $1}' "$TMP/mix.lm.out")
  printf '{"lmfuse":"recipe","combiner":"linear","members":["lmf3.arpa","lmf4.arpa"],"weights":[%s]}' "$w" \
    >"$TMP/irstw.json"
  "$LMF" tune --method linear --dev "$TMP/mix.txt" "$TMP/lmf3.arpa" "$TMP/lmf4.arpa" -o "$TMP/em.json" -q ||
    fail "lmfuse tune"
  pi=$("$LMF" ppl "$TMP/irstw.json" "$TMP/mix.txt" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["ppl"])')
  pe=$("$LMF" ppl "$TMP/em.json" "$TMP/mix.txt" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["ppl"])')
  python3 -c "import sys; sys.exit(not ($pe <= $pi * (1 + 1e-9)))" &&
    echo "EM: lmfuse weights ppl $pe, interpolate-lm's weights ($w) $pi" ||
    fail "lmfuse EM ($pe) worse than interpolate-lm --learn ($pi, weights $w)"
fi
# 4. mixed vocabularies: two models built by IRSTLM on different halves of the text (each lacks words
#    of the other), fixed weights; interpolate-lm maps a word a model lacks to its <unk>, divided by
#    (dub - |V|) (--dub, default 1e7; --dub=0: <unk> as is), and lmfuse's recipe "unk_dub" does the same.
#    Every token counts, OOVs too.
if command -v interpolate-lm >/dev/null; then
  n=$(wc -l <"$TMP/train.se.txt")
  head -n $((n / 2)) "$TMP/train.se.txt" >"$TMP/half1.se.txt"
  tail -n $((n / 2)) "$TMP/train.se.txt" >"$TMP/half2.se.txt"
  tlm -tr="$TMP/half1.se.txt" -n=3 -lm=wb -ps=no -o="$TMP/h1.arpa" >"$TMP/tlm_h1.log" 2>&1 || fail "tlm half 1"
  tlm -tr="$TMP/half2.se.txt" -n=2 -lm=wb -ps=no -o="$TMP/h2.arpa" >"$TMP/tlm_h2.log" 2>&1 || fail "tlm half 2"
  tail -40 "$DATA/brown-mini.valid.txt" >"$TMP/mv.txt"
  awk '{print "<s> " $0 " </s>"}' "$TMP/mv.txt" >"$TMP/mv.se.txt"
  (cd "$TMP" && printf 'LMINTERPOLATION 2\n0.55 h1.arpa\n0.45 h2.arpa\n' >mv.lm)
  for dub in 10000000 0 5000; do
    a=$(cd "$TMP" && interpolate-lm mv.lm --eval=mv.se.txt --dub=$dub 2>&1 | sed -n 's/.*PP=\([0-9.]*\) .*Noov_any=\([0-9]*\).*/\1 \2/p')
    ud=$dub; [ "$dub" = 0 ] && ud=-1
    printf '{"combiner":"linear","members":["h1.arpa","h2.arpa"],"weights":[0.55,0.45],"unk_dub":%s}' "$ud" >"$TMP/mv.json"
    b=$("$LMF" ppl "$TMP/mv.json" "$TMP/mv.txt" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["ppl"])')
    python3 -c "import sys; pp, nany = '$a'.split(); sys.exit(not (int(nany) > 0 and abs(float(pp) - $b) <= 0.006 + 1e-5 * $b))" &&
      echo "different vocabularies, dub $dub: interpolate-lm ${a% *} (${a#* } tokens unknown to a member), lmfuse $b" ||
      fail "different vocabularies, dub $dub: interpolate-lm '$a' vs lmfuse $b"
  done
fi
exit $((fails > 0))
