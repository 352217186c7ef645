#!/usr/bin/env bash
# Rescoring pocketsphinx's lattices with lmfuse models and their fusions
# (../shared/data/asr-nbest.md).  Needs the benchmark built by
# bench/asr_build.sh (data/asr) and pocketsphinx-en-us (its generic 3-gram).
#
#   bench/asr_rescore.sh [ASR_DIR [OUT_DIR]]
#
# Models, all trained on the normalised Brown train text only (the last 2000
# lines held out for early stopping and for tuning fusion weights):
#   cmu3   the recogniser's own generic 3-gram (en-us.lm.bin read by lmfuse ngram convert)
#   kn5    Kneser-Ney 5-gram
#   lstm, gru  2-layer recurrent models (256 units, 200 output classes, 4 epochs)
#   mix    linear fusion of cmu3 + kn5 + lstm (+ gru) over their union vocabulary, EM on the held-out text
# (the log-linear fusion is the row with the three models as features: MERT
# weighs their log-probabilities, and ranking needs no normalisation; a
# normalised log-linear recipe with a neural member would need full
# distributions over the 75k-word union at every token: too slow here)
# Lists: the 100 best word strings of each lattice under acoustic + 10 ln P_cmu3
# (the recogniser's own LM; the top of these lists is its first pass again).
# Each row adds its models' features (ln P and out-of-vocabulary count per
# model) to the lists' acoustic score, word count and lattice posterior,
# tunes the weights by MERT on the 200 dev sentences and applies them to the
# 500 test sentences.  Writes OUT_DIR/asr_rescore.md.
set -euo pipefail
A=${1:-data/asr}
OUT=${2:-bench/out/asr}
LMF=${LMF:-build/lmfuse}
EPOCHS=${EPOCHS:-4}
mkdir -p "$OUT"
for f in lm-train.txt dev.ref test.ref dev.hyp test.hyp; do
  [ -f "$A/$f" ] || { echo "asr_rescore: $A/$f is missing; run bench/asr_build.sh" >&2; exit 1; }
done
BIN=/usr/share/pocketsphinx/model/en-us/en-us.lm.bin
[ -f "$BIN" ] || { echo "asr_rescore: $BIN is missing; run scripts/deps.sh asr" >&2; exit 1; }

head -n -2000 "$A/lm-train.txt" >"$OUT/tr.txt"
tail -n 2000 "$A/lm-train.txt" >"$OUT/va.txt"
cut -d' ' -f2- "$A/test.ref" >"$OUT/test.txt"
t() { /usr/bin/time -f "%e s, %M KB" "$@"; }
[ -s "$OUT/cmu3.lmfb" ] || { "$LMF" ngram convert "$BIN" -o "$OUT/cmu3.arpa" 2>/dev/null && "$LMF" ngram convert "$OUT/cmu3.arpa" -o "$OUT/cmu3.lmfb" 2>/dev/null; }
[ -s "$OUT/kn5.lmfb" ] || "$LMF" ngram train -q "$OUT/tr.txt" -o "$OUT/kn5.lmfb"
for arch in lstm gru; do
  [ -s "$OUT/$arch.safetensors" ] || "$LMF" train -q --arch $arch --train "$OUT/tr.txt" --valid "$OUT/va.txt" \
    -o "$OUT/$arch.safetensors" --classes 200 --epochs "$EPOCHS" --hidden 256 --emb 256 --tied
done
"$LMF" tune -q --method linear --dev "$OUT/va.txt" "$OUT/cmu3.lmfb" "$OUT/kn5.lmfb" "$OUT/lstm.safetensors" -o "$OUT/mix3.json"
"$LMF" tune -q --method linear --dev "$OUT/va.txt" "$OUT/cmu3.lmfb" "$OUT/kn5.lmfb" "$OUT/lstm.safetensors" \
  "$OUT/gru.safetensors" -o "$OUT/mix4.json"

ppl() { "$LMF" ppl "$1" "$OUT/test.txt" 2>/dev/null | sed -n 's/.* ppl= \([0-9.]*\).*ppl_excl_oov= \([0-9.]*\).*/\1 (\2 without OOVs)/p'; }
wer() { awk -v f="$1" '$1 == f { print $3 }'; }
{
  echo "| rescoring models | context | dev WER (tuned) | test WER | test ppl of the model |"
  echo "|---|---|---|---|---|"
  fp=$("$LMF" rescore wer "$A/test.hyp" "$A/test.ref" | awk '{print $3}')
  fd=$("$LMF" rescore wer "$A/dev.hyp" "$A/dev.ref" | awk '{print $3}')
  echo "| pocketsphinx first pass | | $fd | $fp | |"
} >"$OUT/asr_rescore.md"
row() { # name context models...
  local name=$1 ctx=$2; shift 2
  local args=() desc=""
  for m in "$@"; do args+=(-m "$m=$OUT/$m"); desc="$desc${desc:+ + }${m%%.*}"; done
  "$LMF" rescore tune "$A/dev/lat" "$A/dev.ref" --lattice-lm "$OUT/cmu3.lmfb" --context "$ctx" \
    ${args[@]+"${args[@]}"} -o "$OUT/r-$name.json" >"$OUT/tune-$name.log"
  "$LMF" rescore apply "$OUT/r-$name.json" "$A/test/lat" --ref "$A/test.ref" -o "$OUT/test-$name.trn" >"$OUT/apply-$name.log"
  local p=""
  [ $# = 1 ] && p=$(ppl "$OUT/$1")
  echo "| ${desc:-none (acoustic, words, posterior)} | $ctx | $(awk '/^tuned/ {print $3}' "$OUT/tune-$name.log") | $(awk '/^rescored/ {print $3}' "$OUT/apply-$name.log") | $p |" >>"$OUT/asr_rescore.md"
  echo "asr_rescore: $name done" >&2
}
row none 0
row cmu3 0 cmu3.lmfb
row kn5 0 kn5.lmfb
row lstm 0 lstm.safetensors
row gru 0 gru.safetensors
row lstm-ctx 200 lstm.safetensors
row cmu3+kn5+lstm 0 cmu3.lmfb kn5.lmfb lstm.safetensors
row mix3 0 mix3.json
row mix3-ctx 200 mix3.json
row mix4-ctx 200 mix4.json
echo >>"$OUT/asr_rescore.md"
echo "top of the extracted lists and their oracle, test: $(awk '/^top/ {print $3, "oracle", $NF}' "$OUT/apply-none.log")" >>"$OUT/asr_rescore.md"
cat "$OUT/asr_rescore.md"
