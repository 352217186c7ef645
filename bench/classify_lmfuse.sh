#!/usr/bin/env bash
# lmfuse on the three labelled tasks, the side of the table that
# bench/classify_sklearn.sh measures for scikit-learn: members (LM
# classifiers over words and characters, naive Bayes, the tf-idf linear one;
# on brown-genre also class-balanced word and character linear ones) and
# their fusions, fitted on valid (stack: on train's out-of-fold outputs,
# with --stack), scored on test; then "stack, train+valid": every member
# trained again on train and valid (--refit), a meta-model over ln
# probabilities on their out-of-fold outputs over both (class-balanced on
# brown-genre, whose measure is macro-F1).  One core per task (--jobs N runs N tasks at
# once).  Output: bench/out/classify-lmfuse/TASK.md (a table) and TASK.tsv.
# usage: bench/classify_lmfuse.sh [--jobs N] [--stack] [--data DIR] [TASK...]
#   TASK: spam-full spam-body brown-genre (default: all three)
set -euo pipefail
cd "$(dirname "$0")/.."
LMF=${LMF:-build/lmfuse}
jobs=1 stack=0 data=data tasks=()
while [ $# -gt 0 ]; do
  case $1 in
    --jobs) jobs=$2; shift 2 ;;
    --stack) stack=1; shift ;;
    --data) data=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) tasks+=("$1"); shift ;;
  esac
done
[ ${#tasks[@]} -gt 0 ] || tasks=(spam-full spam-body brown-genre)
[ -x "$LMF" ] || { echo "build lmfuse first (scripts/build.sh)" >&2; exit 1; }
out=bench/out/classify-lmfuse
mkdir -p "$out"
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

run_task() {
  local t=$1 dir
  case $t in
    spam-*) dir=$data/spam; local chars="--chars --order 5" words2="--order 4" bal="" ;;
    brown-genre) dir=$data/brown; local chars="--chars --order 4" words2="--order 1" bal="--balanced" ;;
    *) echo "unknown task $t" >&2; return 1 ;;
  esac
  local tr=$dir/$t.train.txt va=$dir/$t.valid.txt te=$dir/$t.test.txt w=$out/$t
  for f in "$tr" "$va" "$te"; do [ -f "$f" ] || { echo "$f missing: lmfuse data fetch spam|brown" >&2; return 1; }; done
  mkdir -p "$w"
  : >"$w.tsv"
  member() { # name kind options...
    local name=$1 kind=$2; shift 2
    local t0=$(date +%s.%N)
    "$LMF" classify train -q --kind "$kind" "$@" "$tr" --valid "$va" -o "$w/$name.json" 2>/dev/null
    local secs=$(awk "BEGIN{print $(date +%s.%N) - $t0}")
    printf '%s\t%s\t%s\n' "$name" "$w/$name.json" "$secs" >>"$w.tsv"
    # the same choices, trained again on train + valid (for the last row)
    "$LMF" classify train -q --kind "$kind" "$@" "$tr" --valid "$va" --refit -o "$w/refit-$name.json" 2>/dev/null
    refits+=("$w/refit-$name.json")
  }
  local refits=()
  member lm-word3 lm --calibration platt --order 3
  member lm-word-b lm --calibration platt $words2
  member lm-char lm --calibration platt $chars
  member nb nb
  member linear linear
  local members=("$w/lm-word3.json" "$w/lm-word-b.json" "$w/lm-char.json" "$w/nb.json" "$w/linear.json")
  if [ -n "$bal" ]; then
    member linear-words-bal linear --balanced --char-ngrams 0
    member linear-chars-bal linear --balanced --word-ngrams 0
    members+=("$w/linear-words-bal.json" "$w/linear-chars-bal.json")
  fi
  local methods=(average weighted acc-weighted geometric geo-weighted max vote weighted-vote select blend blend-full)
  [ $stack = 1 ] && methods+=(stack stack-full)
  for m in "${methods[@]}"; do
    local t0=$(date +%s.%N)
    "$LMF" classify fuse -q --method "$m" --valid "$va" --train "$tr" "${members[@]}" -o "$w/fusion-$m.json" 2>/dev/null
    printf '%s\t%s\t%s\n' "fusion: $m" "$w/fusion-$m.json" "$(awk "BEGIN{print $(date +%s.%N) - $t0}")" >>"$w.tsv"
  done
  local t0=$(date +%s.%N)
  "$LMF" classify fuse -q --method stack-full --meta logp $bal --train "$tr" --train "$va" "${refits[@]}" \
    -o "$w/fusion-stack-trainvalid.json" 2>/dev/null
  printf '%s\t%s\t%s\n' "fusion: stack, train+valid" "$w/fusion-stack-trainvalid.json" \
    "$(awk "BEGIN{print $(date +%s.%N) - $t0}")" >>"$w.tsv"
  {
    echo "| $t | test acc | macro-F1 | FP | FN | fit s |"
    echo "|---|---|---|---|---|---|"
    while IFS=$'\t' read -r name file secs; do
      "$LMF" classify eval "$file" "$te" --json |
        /usr/bin/python3 -c "
import json, sys
m = json.load(sys.stdin)
fp = m.get('fp', ''); fn = m.get('fn', '')
print('| %s | %.4f | %.4f | %s | %s | %.1f |' % ('$name', m['accuracy'], m['macro_f1'], fp, fn, float('$secs')))"
    done <"$w.tsv"
  } >"$w.md"
  cat "$w.md"
}

pids=()
for t in "${tasks[@]}"; do
  run_task "$t" >"$out/$t.log" 2>&1 &
  pids+=($!)
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do sleep 1; done
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
for t in "${tasks[@]}"; do cat "$out/$t.log"; echo; done
exit $rc
