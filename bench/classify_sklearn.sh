#!/usr/bin/env bash
# scikit-learn peer for document classification (issue 16): runs
# bench/classify_sklearn.py on spam-full, spam-body and brown-genre, each on
# one core, and writes bench/out/classify-sklearn/{TASK.md,TASK.json,TASK.log}
# and results.md (all tables).
#
#   bench/classify_sklearn.sh [--data DIR] [--out DIR] [--jobs N] [TASK...]
#
# --data  folder holding spam/ and brown/ as `lmfuse data fetch` leaves them
#         (default: data)
# --jobs  run N tasks at once, task i pinned to core i % N (default 1: one
#         after the other, all on core 0)
# Needs Debian's python3-sklearn: scripts/deps.sh bench.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data=$root/data out=$root/bench/out/classify-sklearn jobs=1 tasks=()
while [ $# -gt 0 ]; do
  case $1 in
    --data) data=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) tasks+=("$1"); shift ;;
  esac
done
[ ${#tasks[@]} -gt 0 ] || tasks=(spam-full spam-body brown-genre)
py=${PYTHON:-/usr/bin/python3}
"$py" -c 'import sklearn' 2>/dev/null || { echo "no scikit-learn for $py: run scripts/deps.sh bench" >&2; exit 1; }
mkdir -p "$out"
pin() { if command -v taskset >/dev/null; then taskset -c "$1" "${@:2}"; else "${@:2}"; fi; }

i=0 pids=() fail=0
for t in "${tasks[@]}"; do
  case $t in spam-*) dir=$data/spam ;; brown-*) dir=$data/brown ;; *) echo "unknown task $t" >&2; exit 2 ;; esac
  [ -f "$dir/$t.train.txt" ] || { echo "missing $dir/$t.train.txt (lmfuse data fetch)" >&2; exit 1; }
  core=$(( i % jobs ))
  echo "$t on core $core -> $out/$t.md" >&2
  pin "$core" "$py" "$root/bench/classify_sklearn.py" "$t" "$dir" \
      --json "$out/$t.json" --md "$out/$t.md" >/dev/null 2>"$out/$t.log" &
  pids+=($!)
  i=$((i + 1))
  if [ ${#pids[@]} -ge "$jobs" ]; then wait "${pids[0]}" || fail=1; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p" || fail=1; done
[ $fail = 0 ] || { echo "a task failed: see $out/*.log" >&2; exit 1; }

{ echo "# scikit-learn peer, document classification"
  echo
  echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'); one core per task"
  for t in "${tasks[@]}"; do echo; cat "$out/$t.md"; done
} > "$out/results.md"
cat "$out/results.md"
