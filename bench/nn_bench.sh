#!/usr/bin/env bash
# Neural training throughput and peak memory: lmfuse against PyTorch
# (bench/torch_lm.py, Debian's python3-torch) in the same run, same configs:
# vocabulary of Brown train (14,039), embedding = hidden = 256, 2 layers,
# dropout 0.2, tied, batch 32, BPTT 35 (Transformer: 4 heads, ff 1024,
# context 64 = window), Adam lr 2e-3, clip 0.25.  PyTorch runs with
# MALLOC_MMAP_MAX_=0 (its best allocator setting).  Each tool trains STEPS
# steps after warm-up; tokens/s, peak RSS.  With --classes C, lmfuse also
# trains with its class-factored output layer (--classes C; PyTorch has no
# equivalent in these scripts): two more columns.  With --bf16, lmfuse also
# trains with --bf16 (bfloat16 products, float sums; CPUs with AVX512_BF16),
# and PyTorch under torch.autocast("cpu", dtype=torch.bfloat16), its own
# mixed precision: five more columns (the last ratio is lmfuse --bf16 over
# PyTorch with autocast).
#
# usage: bench/nn_bench.sh [--lmfuse PATH] [--steps N] [--threads "1 2"] [--archs "rnn lstm gru transformer"]
#                          [--classes C] [--bf16]
set -eu
LMF=build/lmfuse STEPS=20 THREADS="1 2" ARCHS="rnn lstm gru transformer" CLASSES= BF16=
while [ $# -gt 0 ]; do
  case $1 in
    --lmfuse) LMF=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --archs) ARCHS=$2; shift 2 ;;
    --classes) CLASSES=$2; shift 2 ;;
    --bf16) BF16=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
TRAIN=data/brown/brown.train.txt
[ -f $TRAIN ] || { echo "needs $TRAIN (lmfuse data fetch brown && lmfuse data split brown)" >&2; exit 2; }
PY=/usr/bin/python3
$PY -c 'import torch' 2>/dev/null || { echo "needs Debian's python3-torch" >&2; exit 2; }
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

rss() { awk -F': ' '/Maximum resident/ { printf "%.0f", $2 / 1024 }' "$1"; }

head="| arch | threads | PyTorch tok/s | lmfuse tok/s | ratio | PyTorch peak MB | lmfuse peak MB |" rule="|---|---|---|---|---|---|---|"
[ -n "$CLASSES" ] && head="$head lmfuse --classes $CLASSES tok/s | ratio | peak MB |" rule="$rule---|---|---|"
[ -n "$BF16" ] && head="$head lmfuse --bf16 tok/s | ratio | peak MB | PyTorch autocast tok/s | ratio to it |" rule="$rule---|---|---|---|---|"
echo "$head"
echo "$rule"
for th in $THREADS; do
  cores=0; [ "$th" -ge 2 ] && cores=0-$((th - 1))
  for a in $ARCHS; do
    cfg=(--layers 2 --hidden 256 --emb 256 --dropout 0.2 --tied --batch 32 --lr 2e-3 --clip 0.25 --threads "$th")
    if [ $a = transformer ]; then cfg+=(--heads 4 --ff 1024 --ctx 64); else cfg+=(--bptt 35); fi
    MALLOC_MMAP_MAX_=0 /usr/bin/time -v taskset -c $cores $PY bench/torch_lm.py --arch $a "${cfg[@]}" \
      --train $TRAIN --steps "$STEPS" >"$OUT/pt.json" 2>"$OUT/pt.time"
    pt=$($PY -c "import json; print(round(json.load(open('$OUT/pt.json'))['tok_per_s']))")
    /usr/bin/time -v taskset -c $cores "$LMF" train --arch $a "${cfg[@]}" --schedule constant --train $TRAIN \
      -o "$OUT/m.safetensors" --max-steps $((STEPS + 3)) --checkpoint-every 0 --log-every 1000 2>"$OUT/lm.err"
    lm=$(grep -o 'steps, [0-9]* tokens/s' "$OUT/lm.err" | grep -o '[0-9]* tokens' | cut -d' ' -f1)
    row="| $a | $th | $pt | $lm | $(awk "BEGIN { printf \"%.2f\", $lm / $pt }") | $(rss "$OUT/pt.time") | $(rss "$OUT/lm.err") |"
    if [ -n "$CLASSES" ]; then
      /usr/bin/time -v taskset -c $cores "$LMF" train --arch $a "${cfg[@]}" --classes "$CLASSES" --schedule constant \
        --train $TRAIN -o "$OUT/m.safetensors" --max-steps $((STEPS + 3)) --checkpoint-every 0 --log-every 1000 2>"$OUT/lc.err"
      lc=$(grep -o 'steps, [0-9]* tokens/s' "$OUT/lc.err" | grep -o '[0-9]* tokens' | cut -d' ' -f1)
      row="$row $lc | $(awk "BEGIN { printf \"%.2f\", $lc / $pt }") | $(rss "$OUT/lc.err") |"
    fi
    if [ -n "$BF16" ]; then
      /usr/bin/time -v taskset -c $cores "$LMF" train --arch $a "${cfg[@]}" --bf16 --schedule constant \
        --train $TRAIN -o "$OUT/m.safetensors" --max-steps $((STEPS + 3)) --checkpoint-every 0 --log-every 1000 2>"$OUT/lb.err"
      lb=$(grep -o 'steps, [0-9]* tokens/s' "$OUT/lb.err" | grep -o '[0-9]* tokens' | cut -d' ' -f1)
      MALLOC_MMAP_MAX_=0 taskset -c $cores $PY bench/torch_lm.py --arch $a "${cfg[@]}" --autocast \
        --train $TRAIN --steps "$STEPS" >"$OUT/pa.json"
      pa=$($PY -c "import json; print(round(json.load(open('$OUT/pa.json'))['tok_per_s']))")
      row="$row $lb | $(awk "BEGIN { printf \"%.2f\", $lb / $pt }") | $(rss "$OUT/lb.err") | $pa | $(awk "BEGIN { printf \"%.2f\", $lb / $pa }") |"
    fi
    echo "$row"
  done
done
