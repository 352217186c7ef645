#!/usr/bin/env bash
# lmfuse vs IRSTLM on the Brown corpus, side by side in the same run:
# n-gram estimation (time, peak RSS), perplexity, query throughput and model
# load time, for the 3-gram and the 5-gram.  Everything is pinned to one core
# (taskset) and reported as ratios as well as absolute figures, because these
# machines are noisy.  See docs/benchmarks.md.  No network is needed.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
LMFUSE=$ROOT/build/lmfuse
DATA=$ROOT/data/brown
OUT=$ROOT/bench/out
RUNS=5
REPEAT=20
CPU=0
ORDERS="3 5"

usage() {
  cat <<EOF
usage: bench/ngram_bench.sh [options]

Runs lmfuse and IRSTLM on the same Brown split and prints a table of
metric, lmfuse, IRSTLM and ratio (ratio > 1 always means lmfuse is better:
IRSTLM/lmfuse for times, sizes, memory and perplexity, lmfuse/IRSTLM for
throughput).

options:
  --lmfuse PATH   lmfuse executable (default build/lmfuse)
  --data DIR      directory with brown.{train,valid,test}.txt (default data/brown,
                  from \`lmfuse data fetch brown\`)
  --out DIR       where models and raw outputs go (default bench/out, git-ignored)
  --runs N        timed runs per measurement after 1 warm-up (default 5)
  --repeat N      copies of the test split in the query file (default 20)
  --cpu N         core to pin every command to (default 0)
  --orders LIST   n-gram orders (default "3 5")
  -h, --help      this text

Needs IRSTLM (apt-get install irstlm), GNU time (/usr/bin/time) and taskset;
uses hyperfine when installed, else a timing loop.  Times are medians.
EOF
}

die() { echo "ngram_bench: $*" >&2; exit 1; }
log() { echo "-- $*" >&2; }

while [ $# -gt 0 ]; do
  case $1 in
    --lmfuse) LMFUSE=${2:?}; shift 2 ;;
    --data) DATA=${2:?}; shift 2 ;;
    --out) OUT=${2:?}; shift 2 ;;
    --runs) RUNS=${2:?}; shift 2 ;;
    --repeat) REPEAT=${2:?}; shift 2 ;;
    --cpu) CPU=${2:?}; shift 2 ;;
    --orders) ORDERS=${2:?}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done

# ---------------------------------------------------------------- checks
[ -x "$LMFUSE" ] || die "lmfuse executable not found: $LMFUSE (build it, or pass --lmfuse PATH)"
LMFUSE=$(cd "$(dirname "$LMFUSE")" && pwd)/$(basename "$LMFUSE")
for s in train valid test; do
  [ -s "$DATA/brown.$s.txt" ] || die "missing $DATA/brown.$s.txt (run \`lmfuse data fetch brown\`, or pass --data DIR)"
done
DATA=$(cd "$DATA" && pwd)

find_irstlm() {  # $1 = program name
  local d
  for d in ${IRSTLM:+"$IRSTLM/bin"} /usr/lib/irstlm/bin /usr/local/bin /usr/bin; do
    [ -x "$d/$1" ] && { echo "$d/$1"; return 0; }
  done
  command -v "$1" 2>/dev/null || return 1
}
TLM=$(find_irstlm tlm) && COMPILE_LM=$(find_irstlm compile-lm) ||
  die "IRSTLM not found (need tlm and compile-lm); install it with: apt-get install irstlm"
[ -x /usr/bin/time ] || die "GNU time not found at /usr/bin/time; install it with: apt-get install time"
command -v taskset >/dev/null || die "taskset not found; install it with: apt-get install util-linux"
HYPERFINE=$(command -v hyperfine || true)
case $RUNS in ''|*[!0-9]*|0) die "--runs must be a positive integer" ;; esac
case $REPEAT in ''|*[!0-9]*|0) die "--repeat must be a positive integer" ;; esac

RAW=$OUT/raw
MOD=$OUT/models
TXT=$OUT/text
mkdir -p "$RAW" "$MOD" "$TXT"
rm -f "$RAW"/* "$OUT/results.tsv"

{
  echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "host: $(nproc) cores, $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)"
  echo "lmfuse: $LMFUSE ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'))"
  echo "irstlm: $TLM ($(dpkg-query -W -f '${Version}' irstlm 2>/dev/null || echo '?'))"
  echo "hyperfine: ${HYPERFINE:-none} $([ -n "$HYPERFINE" ] && "$HYPERFINE" --version)"
  echo "pinned to cpu $CPU, $RUNS runs + 1 warm-up, query file = test split x $REPEAT"
} | tee "$OUT/env.txt" >&2

# ---------------------------------------------------------------- helpers
# bench_time NAME CMD... : median wall seconds of CMD over $RUNS runs
bench_time() {
  local name=$1; shift
  local t
  if [ -n "$HYPERFINE" ]; then
    taskset -c "$CPU" "$HYPERFINE" -N --warmup 1 --runs "$RUNS" \
      --export-json "$RAW/$name.json" -- "$(printf '%q ' "$@")" \
      > "$RAW/$name.hyperfine.txt" 2>&1 || die "$name failed; see $RAW/$name.hyperfine.txt"
    t=$(awk '/"median"/ { gsub(/[^0-9.eE+-]/, "", $2); print $2; exit }' "$RAW/$name.json")
  else
    local i
    : > "$RAW/$name.times"
    for i in $(seq 0 "$RUNS"); do
      /usr/bin/time -f '%e' -o "$RAW/$name.t" taskset -c "$CPU" "$@" >/dev/null 2>"$RAW/$name.err" ||
        die "$name failed; see $RAW/$name.err"
      [ "$i" -gt 0 ] && cat "$RAW/$name.t" >> "$RAW/$name.times"
    done
    t=$(sort -g "$RAW/$name.times" | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
  fi
  [ -n "$t" ] || die "$name: no timing"
  echo "$t" > "$RAW/$name.sec"
  echo "$t"
}

# once NAME CMD... : one run under GNU time; prints peak RSS in MB
once() {
  local name=$1; shift
  /usr/bin/time -f '%e %M' -o "$RAW/$name.rss" taskset -c "$CPU" "$@" \
    > "$RAW/$name.stdout" 2> "$RAW/$name.stderr" || die "$name failed; see $RAW/$name.stderr"
  awk '{ printf "%.1f\n", $2 / 1024 }' "$RAW/$name.rss"
}

# row METRIC LMFUSE IRSTLM KIND : KIND = lower (time, size, memory, ppl: ratio
# IRSTLM/lmfuse) or higher (throughput: ratio lmfuse/IRSTLM)
row() {
  local r
  r=$(awk -v a="$2" -v b="$3" -v k="$4" 'BEGIN {
        if (a + 0 <= 0 || b + 0 <= 0) { print "n/a"; exit }
        printf "%.2f", (k == "higher") ? a / b : b / a }')
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$r" >> "$OUT/results.tsv"
}

lmf_json() {  # FIELD < json
  grep -o "\"$1\":[-0-9.eE+]*" | head -1 | cut -d: -f2
}
irst_field() {  # FIELD < compile-lm --eval output
  tr ' ' '\n' | sed -n "s/^$1=//p" | tail -1
}
# perplexity without IRSTLM's OOV penalty: compile-lm prints PP (with the
# penalty 1/(dub - |V|) on every <unk> token) and PPwp (the part of PP due to
# that penalty), so PP - PPwp scores <unk> by its own probability, as lmfuse does
irst_ppl() {  # MODEL TEXT NAME
  "$COMPILE_LM" "$1" --eval="$2" > "$RAW/$3.txt" 2>&1 || die "compile-lm --eval failed; see $RAW/$3.txt"
  awk -v pp="$(irst_field PP < "$RAW/$3.txt")" -v wp="$(irst_field PPwp < "$RAW/$3.txt")" \
    'BEGIN { printf "%.2f\n", pp - wp }'
}
rate() {  # TOKENS SECONDS -> M tokens/s
  awk -v n="$1" -v t="$2" 'BEGIN { if (t > 0) printf "%.3f\n", n / t / 1e6; else print "n/a" }'
}
sub_time() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f\n", a - b }'; }
secs() { awk -v t="$1" 'BEGIN { f = (t < 0.1) ? "%.4f\n" : (t < 10) ? "%.3f\n" : "%.2f\n"; printf f, t }'; }
mb() { awk -v s="$(stat -c %s "$1")" 'BEGIN { printf "%.1f\n", s / 1048576 }'; }

# ---------------------------------------------------------------- text
# IRSTLM wants explicit sentence markers; its add-start-end.sh also truncates
# words at 80 bytes, so the markers are added here (same effect on Brown).
# lmfuse adds <s>/</s> itself.  Preparation is not timed.
mark() { awk '{ print "<s> " $0 " </s>" }'; }
for s in train valid test; do
  mark < "$DATA/brown.$s.txt" > "$TXT/brown.$s.se.txt"
done
: > "$TXT/query.txt"
for _ in $(seq "$REPEAT"); do cat "$DATA/brown.test.txt" >> "$TXT/query.txt"; done
mark < "$TXT/query.txt" > "$TXT/query.se.txt"
head -n 1 "$DATA/brown.test.txt" > "$TXT/one.txt"
mark < "$TXT/one.txt" > "$TXT/one.se.txt"
TRAIN=$DATA/brown.train.txt
TRAIN_SE=$TXT/brown.train.se.txt

NOTES=$OUT/notes.txt
: > "$NOTES"

for N in $ORDERS; do
  log "$N-gram: estimation"
  # ------------------------------------------------ IRSTLM smoothing choice
  # Modified Kneser-Ney is -lm=ikn (improved Kneser-Ney; msb is an alias).
  # IRSTLM refuses it when the count-of-counts of the KN-corrected unigram
  # counts have n1 <= n2; then interpolated shift-beta (-lm=sb, absolute
  # discounting with one discount per order) is used.  -ps=no: no singleton
  # pruning (IRSTLM prunes singletons by default; lmfuse does not prune).
  LMTYPE=ikn
  if ! taskset -c "$CPU" "$TLM" -tr="$TRAIN_SE" -n="$N" -lm=ikn -ps=no -o="$MOD/irstlm$N.arpa" \
       > "$RAW/irstlm_ikn_probe$N.txt" 2>&1; then
    LMTYPE=sb
    echo "IRSTLM $N-gram: -lm=ikn failed ($(grep -m1 -i 'error' "$RAW/irstlm_ikn_probe$N.txt" || echo "exit status non-zero")); used -lm=sb (interpolated shift-beta)" >> "$NOTES"
  else
    echo "IRSTLM $N-gram: -lm=ikn (improved = modified Kneser-Ney)" >> "$NOTES"
  fi
  echo "$LMTYPE" > "$RAW/irstlm_lmtype$N.txt"
  TLM_ARPA=("$TLM" -tr="$TRAIN_SE" -n="$N" -lm="$LMTYPE" -ps=no -o="$MOD/irstlm$N.arpa")
  # IRSTLM's binary is made by compile-lm from the ARPA file: tlm -obin writes
  # a file that loses n-grams (IRSTLM 6.00.05: 14022 of 14040 Brown unigrams).
  TLM_BIN=("$COMPILE_LM" "$MOD/irstlm$N.arpa" "$MOD/irstlm$N.blm")
  LMF_CONV=("$LMFUSE" ngram convert "$MOD/lmfuse$N.arpa" -o "$MOD/lmfuse$N.conv.lmfb")
  LMF_ARPA=("$LMFUSE" ngram train --order "$N" "$TRAIN" -o "$MOD/lmfuse$N.arpa")
  LMF_BIN=("$LMFUSE" ngram train --order "$N" "$TRAIN" -o "$MOD/lmfuse$N.lmfb")

  rss_la=$(once "lmfuse_train${N}_arpa" "${LMF_ARPA[@]}")
  rss_lb=$(once "lmfuse_train${N}_lmfb" "${LMF_BIN[@]}")
  rss_lc=$(once "lmfuse_convert${N}" "${LMF_CONV[@]}")
  rss_ia=$(once "irstlm_train${N}_arpa" "${TLM_ARPA[@]}")
  rss_ic=$(once "irstlm_convert${N}" "${TLM_BIN[@]}")
  t_la=$(bench_time "lmfuse_train${N}_arpa" "${LMF_ARPA[@]}" -q)
  t_lb=$(bench_time "lmfuse_train${N}_lmfb" "${LMF_BIN[@]}" -q)
  t_lc=$(bench_time "lmfuse_convert${N}" "${LMF_CONV[@]}")
  t_ia=$(bench_time "irstlm_train${N}_arpa" "${TLM_ARPA[@]}")
  t_ic=$(bench_time "irstlm_convert${N}" "${TLM_BIN[@]}")
  # IRSTLM has no direct text -> binary path that works: tlm + compile-lm
  t_ib=$(awk -v a="$t_ia" -v b="$t_ic" 'BEGIN { print a + b }')
  rss_ib=$(awk -v a="$rss_ia" -v b="$rss_ic" 'BEGIN { print (a > b) ? a : b }')
  row "$N-gram build -> ARPA (s)" "$(secs "$t_la")" "$(secs "$t_ia")" lower
  row "$N-gram build -> binary (s) [IRSTLM: tlm + compile-lm]" "$(secs "$t_lb")" "$(secs "$t_ib")" lower
  row "$N-gram ARPA -> binary conversion (s)" "$(secs "$t_lc")" "$(secs "$t_ic")" lower
  row "$N-gram build -> ARPA peak RSS (MB)" "$rss_la" "$rss_ia" lower
  row "$N-gram build -> binary peak RSS (MB)" "$rss_lb" "$rss_ib" lower
  row "$N-gram ARPA size (MB)" "$(mb "$MOD/lmfuse$N.arpa")" "$(mb "$MOD/irstlm$N.arpa")" lower
  row "$N-gram binary size (MB)" "$(mb "$MOD/lmfuse$N.lmfb")" "$(mb "$MOD/irstlm$N.blm")" lower
  grep -m1 '^ngram  *2=' "$MOD/irstlm$N.arpa" > /dev/null &&
    echo "IRSTLM $N-gram n-gram counts: $(sed -n 's/^ngram  *\([0-9]\)= *\([0-9]*\)/\1:\2/p' "$MOD/irstlm$N.arpa" | tr '\n' ' ')/ lmfuse: $(sed -n 's/^ngram  *\([0-9]\)= *\([0-9]*\)/\1:\2/p' "$MOD/lmfuse$N.arpa" | tr '\n' ' ')" >> "$NOTES"

  log "$N-gram: perplexity"
  for s in valid test; do
    p_l=$("$LMFUSE" ppl "$MOD/lmfuse$N.lmfb" "$DATA/brown.$s.txt" --json | tee "$RAW/lmfuse_ppl${N}_$s.json" | lmf_json ppl)
    p_l=$(awk -v p="$p_l" 'BEGIN { printf "%.2f\n", p }')
    p_i=$(irst_ppl "$MOD/irstlm$N.blm" "$TXT/brown.$s.se.txt" "irstlm_ppl${N}_$s")
    row "$N-gram $s perplexity (lmfuse KN / IRSTLM $LMTYPE)" "$p_l" "$p_i" lower
  done

  log "$N-gram: query and load"
  tokens=$("$LMFUSE" ppl "$MOD/lmfuse$N.lmfb" "$TXT/query.txt" --json | lmf_json tokens)
  irst_nw=$("$COMPILE_LM" "$MOD/irstlm$N.blm" --eval="$TXT/query.se.txt" 2>&1 | irst_field Nw)
  [ "$irst_nw" = "$tokens" ] ||
    echo "WARNING: $N-gram query tokens differ: lmfuse $tokens, IRSTLM Nw=$irst_nw" >> "$NOTES"
  for fmt in arpa binary; do
    if [ $fmt = arpa ]; then lm=$MOD/lmfuse$N.arpa; im=$MOD/irstlm$N.arpa; else lm=$MOD/lmfuse$N.lmfb; im=$MOD/irstlm$N.blm; fi
    q_l=$(bench_time "lmfuse_query${N}_$fmt" "$LMFUSE" ppl "$lm" "$TXT/query.txt" --json)
    o_l=$(bench_time "lmfuse_load${N}_$fmt" "$LMFUSE" ppl "$lm" "$TXT/one.txt" --json)
    q_i=$(bench_time "irstlm_query${N}_$fmt" "$COMPILE_LM" "$im" --eval="$TXT/query.se.txt")
    o_i=$(bench_time "irstlm_load${N}_$fmt" "$COMPILE_LM" "$im" --eval="$TXT/one.se.txt")
    rq_l=$(once "lmfuse_query${N}_$fmt" "$LMFUSE" ppl "$lm" "$TXT/query.txt" --json)
    rq_i=$(once "irstlm_query${N}_$fmt" "$COMPILE_LM" "$im" --eval="$TXT/query.se.txt")
    row "$N-gram $fmt query, incl. load (M tok/s)" "$(rate "$tokens" "$q_l")" "$(rate "$tokens" "$q_i")" higher
    row "$N-gram $fmt query, load excluded (M tok/s)" "$(rate "$tokens" "$(sub_time "$q_l" "$o_l")")" "$(rate "$tokens" "$(sub_time "$q_i" "$o_i")")" higher
    row "$N-gram $fmt load + 1 line (s)" "$(secs "$o_l")" "$(secs "$o_i")" lower
    row "$N-gram $fmt query peak RSS (MB)" "$rq_l" "$rq_i" lower
  done
done

# ---------------------------------------------------------------- report
{
  echo
  echo "ratio > 1: lmfuse better (IRSTLM/lmfuse for s, MB, perplexity; lmfuse/IRSTLM for tok/s)."
  echo "query file: Brown test split x $REPEAT = $tokens tokens (words + </s>); 'load excluded' subtracts the"
  echo "time of scoring its first line alone.  Times are medians of $RUNS runs on cpu $CPU."
  echo
  awk -F'\t' 'BEGIN { printf "| %-56s | %10s | %10s | %6s |\n|%s|%s|%s|%s|\n", "metric", "lmfuse", "IRSTLM", "ratio",
                        "---", "---:", "---:", "---:" }
              { printf "| %-56s | %10s | %10s | %6s |\n", $1, $2, $3, $4 }' "$OUT/results.tsv"
  echo
  cat "$NOTES"
  echo
  echo "Reference, NOT measured here (KenLM figures quoted from the issue, one core of this machine type):"
  echo "  KenLM Brown 5-gram: build 1.50 s, peak 227 MB at -S 1G / 75 MB at -S 100M;"
  echo "                      query 5.86 M tok/s including text parsing, 8.75 M tok/s pure lookup"
  echo "  KenLM Brown 3-gram: build 0.69 s, query 8.48 M tok/s"
  echo
  echo "raw outputs: $RAW"
} | tee "$OUT/results.md"
