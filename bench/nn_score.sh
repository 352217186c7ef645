#!/usr/bin/env bash
# Neural scoring throughput: `lmfuse ppl` against PyTorch (bench/torch_lm.py
# --score) in the same run, same model sizes as bench/nn_bench.sh
# (vocabulary of Brown train, embedding = hidden = 256, 2 layers, tied;
# Transformer 4 heads, ff 1024, ctx 64).  Both read the text as one stream
# (batch 1) with the recurrent state carried; the weights do not matter for
# speed (lmfuse's model has trained one step, PyTorch's none).  Transformer:
# lmfuse slides its window (each prediction after the first ctx tokens sees
# ctx/2 .. ctx-1 tokens, so each token is encoded about twice), PyTorch
# restarts its context every ctx tokens (each token encoded once, 32 tokens
# of context on average): not the same work, the table says so.
# Tokens/s of the whole command for lmfuse (model load and text reading
# included), of the evaluation loop for PyTorch.
#
# usage: bench/nn_score.sh [--lmfuse PATH] [--threads "1 2"] [--archs "rnn lstm gru transformer"] [--text FILE]
set -eu
LMF=build/lmfuse THREADS="1 2" ARCHS="rnn lstm gru transformer" TEXT=data/brown/brown.test.txt
while [ $# -gt 0 ]; do
  case $1 in
    --lmfuse) LMF=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --archs) ARCHS=$2; shift 2 ;;
    --text) TEXT=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
TRAIN=data/brown/brown.train.txt
[ -f $TRAIN ] && [ -f "$TEXT" ] || { echo "needs $TRAIN and $TEXT (lmfuse data fetch brown && lmfuse data split brown)" >&2; exit 2; }
PY=/usr/bin/python3
$PY -c 'import torch' 2>/dev/null || { echo "needs Debian's python3-torch" >&2; exit 2; }
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

echo "| arch | threads | tokens | PyTorch tok/s | lmfuse tok/s | ratio | lmfuse context |"
echo "|---|---|---|---|---|---|---|"
for a in $ARCHS; do
  cfg=(--layers 2 --hidden 256 --emb 256 --dropout 0.2 --tied --batch 32)
  if [ $a = transformer ]; then cfg+=(--heads 4 --ff 1024 --ctx 64); else cfg+=(--bptt 35); fi
  "$LMF" train --arch $a "${cfg[@]}" --train $TRAIN -o "$OUT/$a.safetensors" --max-steps 1 --checkpoint-every 0 \
    --log-every 1000 2>"$OUT/train.err" || { cat "$OUT/train.err" >&2; exit 1; }
  for th in $THREADS; do
    cores=0; [ "$th" -ge 2 ] && cores=0-$((th - 1))
    MALLOC_MMAP_MAX_=0 taskset -c $cores $PY bench/torch_lm.py --arch $a "${cfg[@]}" --threads "$th" --train $TRAIN \
      --score "$TEXT" >"$OUT/pt.json"
    pt=$($PY -c "import json; print(round(json.load(open('$OUT/pt.json'))['tok_per_s']))")
    t0=$(date +%s.%N)
    taskset -c $cores "$LMF" ppl "$OUT/$a.safetensors" "$TEXT" --threads "$th" --json >"$OUT/lm.json"
    t1=$(date +%s.%N)
    tok=$($PY -c "import json; print(json.load(open('$OUT/lm.json'))['tokens'])")
    lm=$(awk "BEGIN { printf \"%.0f\", $tok / ($t1 - $t0) }")
    ctx="carried state"; [ $a = transformer ] && ctx="sliding, 32-63 tokens"
    echo "| $a | $th | $tok | $pt | $lm | $(awk "BEGIN { printf \"%.2f\", $lm / $pt }") | $ctx |"
  done
done
