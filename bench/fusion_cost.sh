#!/usr/bin/env bash
# What a fusion costs against its members: `lmfuse ppl` of each recipe of a
# demo folder (gate, linear, log-linear) and of each of its members alone
# (the members' own scoring), on the first LINES lines of Brown test, one
# thread, pinned to one core, best of RUNS.  Prints seconds and each
# recipe's time over the sum of its members' times.  With --base PATH,
# another lmfuse binary (say, an older commit's build) times the same
# commands in the same run, so two builds compare on one machine.
#
# usage: bench/fusion_cost.sh [--lmfuse PATH] [--base PATH] [--dir build/demo] [--lines 400] [--runs 3] [--core 0]
#   needs the demo's models: scripts/main.sh (or lmfuse demo --dir build/demo)
set -eu
LMF=build/lmfuse BASE= DIR=build/demo LINES=400 RUNS=3 CORE=0
while [ $# -gt 0 ]; do
  case $1 in
    --lmfuse) LMF=$2; shift 2 ;;
    --base) BASE=$2; shift 2 ;;
    --dir) DIR=$2; shift 2 ;;
    --lines) LINES=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --core) CORE=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
TEXT=data/brown/brown.test.txt
[ -f "$DIR/gate.json" ] && [ -f $TEXT ] || { echo "needs $DIR/gate.json (lmfuse demo --dir $DIR) and $TEXT" >&2; exit 2; }
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
head -n "$LINES" $TEXT >"$OUT/text.txt"
tokens=$("$LMF" ppl "$DIR/kn5.lmfb" "$OUT/text.txt" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["tokens"])')
members=$(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["members"]))' "$DIR/gate.json")

# best wall seconds of RUNS runs of `BIN ppl MODEL text --threads 1`
best() {
  local bin=$1 model=$2 b=
  for _ in $(seq "$RUNS"); do
    local t0 t1
    t0=$(date +%s.%N)
    taskset -c "$CORE" "$bin" ppl "$DIR/$model" "$OUT/text.txt" --threads 1 --json >"$OUT/out.json"
    t1=$(date +%s.%N)
    b=$(awk -v a="$t0" -v z="$t1" -v b="$b" 'BEGIN { t = z - a; if (b == "" || t < b) b = t; printf "%.3f", b }')
  done
  echo "$b"
}

bins=$LMF
[ -n "$BASE" ] && bins="$BASE $LMF"
echo "first $LINES lines of Brown test ($tokens tokens), one thread, core $CORE, best of $RUNS; seconds"
printf "| model |"
for b in $bins; do printf " %s |" "$b"; done
printf "\n|---|"
for b in $bins; do printf -- "---|"; done
printf "\n"
declare -A sum
for m in $members; do
  printf "| %s |" "$m"
  for b in $bins; do
    t=$(best "$b" "$m")
    sum[$b]=$(awk -v s="${sum[$b]:-0}" -v t="$t" 'BEGIN { printf "%.3f", s + t }')
    printf " %s |" "$t"
  done
  printf "\n"
done
printf "| members, summed |"
for b in $bins; do printf " %s |" "${sum[$b]}"; done
printf "\n"
for r in linear loglinear gate; do
  printf "| %s.json |" "$r"
  for b in $bins; do
    t=$(best "$b" "$r.json")
    printf " %s (%.2fx) |" "$t" "$(awk -v t="$t" -v s="${sum[$b]}" 'BEGIN { print t / s }')"
  done
  printf "\n"
done
