#!/usr/bin/env bash
# NLTK peer for part-of-speech tagging on the tagged Brown split: trains
# NLTK 3.8's TnT, HMM (Lidstone 0.1) and averaged-perceptron taggers (and
# CRFTagger where python-crfsuite is there: Debian 12 does not package it) on
# brown-tag.train.conll, tags brown-tag.test.conll and reports token accuracy,
# accuracy on known/unknown words, sentence accuracy, training seconds and
# tagging tokens/s, on one core (bench/tag_nltk.py does the work).
#
#   bench/tag_nltk.sh [--taggers tnt,hmm,perceptron,crf] [--perceptron-iter 5]
#                     [--limit-test N]
#
# Options go to bench/tag_nltk.py as they are; --limit-test N tags only the
# first N test sentences (TnT and the HMM tag a few hundred tokens/s).
# Environment: CPU=core to pin to (default 0), NAME=output name (default nltk),
# DATA=folder of the brown-tag.*.conll files (default data/brown),
# PYTHON=interpreter (default /usr/bin/python3, the one Debian's nltk is for).
# Output: bench/out/tag-nltk/$NAME.json (all figures) and $NAME.log (the table).
# Installs python3-nltk and python3-numpy (the HMM needs it) when missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-/usr/bin/python3} cpu=${CPU:-0} name=${NAME:-nltk}
data=${DATA:-$root/data/brown}
out=$root/bench/out/tag-nltk

# Same convention as scripts/deps.sh: apt-get, through sudo when not root.
if ! "$py" -c 'import nltk, numpy' 2>/dev/null; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "need root or sudo to install python3-nltk" >&2; exit 1; }
    SUDO=sudo
  fi
  echo "installing python3-nltk python3-numpy" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >&2 || true
  $SUDO apt-get install -y -qq --no-install-recommends python3-nltk python3-numpy >&2
fi

for s in train test; do
  [ -f "$data/brown-tag.$s.conll" ] ||
    { echo "missing $data/brown-tag.$s.conll: run build/lmfuse data fetch brown" >&2; exit 1; }
done

mkdir -p "$out"
pin=()
command -v taskset >/dev/null && pin=(taskset -c "$cpu")
echo "core $cpu -> $out/$name.json, $out/$name.log" >&2
"${pin[@]}" "$py" "$root/bench/tag_nltk.py" \
  --train "$data/brown-tag.train.conll" --test "$data/brown-tag.test.conll" \
  --json "$out/$name.json" "$@" 2>&1 | tee "$out/$name.log"
