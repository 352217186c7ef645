#!/usr/bin/env bash
# lmfuse's taggers beside NLTK's, in one run, on one core, on the tagged Brown
# split: training seconds, tagging tokens/s, accuracy (all, known, unknown
# words, sentences).  lmfuse: the TnT-style HMM (2nd order, Viterbi) and the
# averaged perceptron; NLTK 3.8 (bench/tag_nltk.py): TnT and the averaged
# perceptron.  NLTK's TnT tags about 200 tokens/s, so by default it tags the
# first 500 test sentences for its speed (--tnt-full: all of them, ~12 min);
# lmfuse's HMM is timed on the same 500 sentences as well as on all.
#
#   bench/tag_bench.sh [--tnt-full] [--no-perceptron]
#
# Environment: CPU (default 0), LMF (default build/lmfuse), DATA (default
# data/brown).  Output: bench/out/tag/ (models, JSON of every run, table.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cpu=${CPU:-0} lmf=${LMF:-$root/build/lmfuse} data=${DATA:-$root/data/brown}
out=$root/bench/out/tag
tnt_limit=500 perc=1
for a in "$@"; do
  case $a in
    --tnt-full) tnt_limit=0 ;;
    --no-perceptron) perc=0 ;;
    *) echo "usage: bench/tag_bench.sh [--tnt-full] [--no-perceptron]" >&2; exit 2 ;;
  esac
done
for s in train test; do
  [ -f "$data/brown-tag.$s.conll" ] || { echo "missing $data/brown-tag.$s.conll: run $lmf data fetch brown" >&2; exit 1; }
done
mkdir -p "$out"
pin=()
command -v taskset >/dev/null && pin=(taskset -c "$cpu")
tr=$data/brown-tag.train.conll te=$data/brown-tag.test.conll
awk -v n=$tnt_limit 'n == 0 || s < n { print } /^$/ { s++ }' "$te" >"$out/test-first.conll"

secs() { /usr/bin/time -f %e -o "$out/time.txt" "$@" >/dev/null 2>&1; cat "$out/time.txt"; }
# lmfuse: train, then eval (its JSON has tagging tokens/s, timed inside)
t_hmm=$(secs "${pin[@]}" "$lmf" tag train -q "$tr" -o "$out/hmm2.lmft")
"${pin[@]}" "$lmf" tag eval "$out/hmm2.lmft" "$te" --json >"$out/lmfuse-hmm.json" 2>/dev/null
"${pin[@]}" "$lmf" tag eval "$out/hmm2.lmft" "$out/test-first.conll" --json >"$out/lmfuse-hmm-first.json" 2>/dev/null
if [ $perc = 1 ]; then
  t_perc=$(secs "${pin[@]}" "$lmf" tag train -q --kind perceptron "$tr" -o "$out/perc.lmft")
  "${pin[@]}" "$lmf" tag eval "$out/perc.lmft" "$te" --json >"$out/lmfuse-perc.json" 2>/dev/null
fi
# NLTK in the same run
CPU=$cpu NAME=tnt DATA=$data "$root/bench/tag_nltk.sh" --taggers tnt --limit-test $tnt_limit >/dev/null 2>&1
[ $perc = 1 ] && CPU=$cpu NAME=perceptron DATA=$data "$root/bench/tag_nltk.sh" --taggers perceptron >/dev/null 2>&1

python3 - "$out" "$t_hmm" "${t_perc:-0}" "$perc" "$tnt_limit" "$root/bench/out/tag-nltk" <<'PY' | tee "$out/table.md"
import json, sys
out, t_hmm, t_perc, perc, lim, nout = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4] == "1", int(sys.argv[5]), sys.argv[6]
L = lambda f: json.load(open(f"{out}/{f}"))
nl = lambda f: json.load(open(f"{nout}/{f}"))["taggers"]
rows = []
h, hf = L("lmfuse-hmm.json"), L("lmfuse-hmm-first.json")
rows.append(("lmfuse HMM, 2nd order (Viterbi)", "all", h["accuracy"], h["known_accuracy"], h["unknown_accuracy"], h["sentence_accuracy"], t_hmm, h["tokens_per_s"]))
rows.append(("lmfuse HMM, 2nd order (Viterbi)", f"first {lim}" if lim else "all", hf["accuracy"], hf["known_accuracy"], hf["unknown_accuracy"], hf["sentence_accuracy"], t_hmm, hf["tokens_per_s"]))
t = nl("tnt.json")["tnt"]
rows.append(("NLTK TnT", f"first {lim}" if lim else "all", t["accuracy"], t["known_accuracy"], t["unknown_accuracy"], t["sentence_accuracy"], t["train_s"], t["tokens_per_s"]))
if perc:
    p, q = L("lmfuse-perc.json"), nl("perceptron.json")["perceptron"]
    rows.append(("lmfuse averaged perceptron (5 passes)", "all", p["accuracy"], p["known_accuracy"], p["unknown_accuracy"], p["sentence_accuracy"], t_perc, p["tokens_per_s"]))
    rows.append(("NLTK averaged perceptron (5 passes)", "all", q["accuracy"], q["known_accuracy"], q["unknown_accuracy"], q["sentence_accuracy"], q["train_s"], q["tokens_per_s"]))
print("| tagger | test sentences | accuracy | known | unknown | sentences | train s | tokens/s |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r[0]} | {r[1]} | {r[2]:.4f} | {r[3]:.4f} | {r[4]:.4f} | {r[5]:.4f} | {r[6]:.1f} | {r[7]:,.0f} |")
sp = hf["tokens_per_s"] / t["tokens_per_s"]
print(f"\nHMM tagging speed: lmfuse {hf['tokens_per_s']:,.0f} tokens/s, NLTK TnT {t['tokens_per_s']:,.0f} tokens/s on the same sentences: {sp:,.0f}x")
if perc:
    print(f"perceptron: lmfuse trains {q['train_s'] / t_perc:.1f}x faster and tags {p['tokens_per_s'] / q['tokens_per_s']:.1f}x faster")
PY
