#!/usr/bin/env bash
# Build the speech-recognition rescoring benchmark of ../shared/data/asr-nbest.md:
# sentences from the tagged Brown split, synthesised by flite, recognised by
# pocketsphinx (its own acoustic model, generic 3-gram and dictionary), which
# writes first-pass hypotheses, HTK SLF lattices and 50-best lists.
#
#   bench/asr_build.sh [DATA_DIR [OUT_DIR]]
#
# DATA_DIR holds brown-tag.{train,valid,test}.conll (default data/brown);
# OUT_DIR (default data/asr) receives, for each part P in dev and test:
#   P.ref          "uNNNN words" per line, the reference transcripts
#   P.hyp          the recogniser's first pass, "words (uNNNN score)"
#   P/lat/uNNNN.lat, P/nbest/uNNNN.nbest   lattices and 50-best lists
# and lm-train.txt: the train part normalised the same way (one sentence per
# line), the rescoring models' training text.
#
# Needs flite, sox, pocketsphinx and pocketsphinx-en-us (scripts/deps.sh asr).
# ASR_DEV and ASR_TEST change the sentence counts (200 and 500).
set -euo pipefail
DATA=${1:-data/brown}
OUT=${2:-data/asr}
NDEV=${ASR_DEV:-200}
NTEST=${ASR_TEST:-500}
M=/usr/share/pocketsphinx/model/en-us
for t in flite sox pocketsphinx_batch; do
  command -v $t >/dev/null || { echo "asr_build: $t is missing; run scripts/deps.sh asr" >&2; exit 1; }
done
[ -f "$M/en-us.lm.bin" ] || { echo "asr_build: $M is missing; run scripts/deps.sh asr" >&2; exit 1; }
for p in train valid test; do
  [ -f "$DATA/brown-tag.$p.conll" ] || { echo "asr_build: $DATA/brown-tag.$p.conll is missing; run: lmfuse data fetch brown" >&2; exit 1; }
done
mkdir -p "$OUT"

# Headwords of the recogniser's dictionary, without "(2)" suffixes.
sed -e 's/[ \t].*//' -e 's/([0-9]*)$//' "$M/cmudict-en-us.dict" | sort -u > "$OUT/dict.words"

# Sentences of a CoNLL file, lowercased, only [a-z]+('[a-z]+)? tokens.
# $2 = 1: keep only 5..20 tokens all in the dictionary, first $3, with ids.
norm() {
  awk -v select="$2" -v max="$3" -v dict="$OUT/dict.words" '
    BEGIN { if (select) while ((getline w < dict) > 0) D[w] = 1 }
    function flush(   ok, i) {
      if (n > 0) {
        if (!select) print s
        else if (n >= 5 && n <= 20 && kept < max) {
          ok = 1
          for (i = 1; i <= n; i++) if (!(t[i] in D)) { ok = 0; break }
          if (ok) printf "u%04d %s\n", ++kept, s
        }
      }
      n = 0; s = ""
    }
    /^[ \t]*$/ { flush(); next }
    { w = tolower($1)
      if (w ~ /^[a-z]+('"'"'[a-z]+)?$/) { t[++n] = w; s = (n > 1 ? s " " : "") w } }
    END { flush() }' "$1"
}

norm "$DATA/brown-tag.train.conll" 0 0 > "$OUT/lm-train.txt"
norm "$DATA/brown-tag.valid.conll" 1 "$NDEV" > "$OUT/dev.ref"
norm "$DATA/brown-tag.test.conll" 1 "$NTEST" > "$OUT/test.ref"
echo "asr_build: $(wc -l < "$OUT/lm-train.txt") training lines, $(wc -l < "$OUT/dev.ref") dev and $(wc -l < "$OUT/test.ref") test sentences"

for part in dev test; do
  d="$OUT/$part"
  mkdir -p "$d/wav" "$d/lat" "$d/nbest"
  : > "$d/ctl"
  while read -r id words; do
    if [ ! -s "$d/wav/$id.wav" ]; then
      flite -voice slt -t "$words" -o "$d/wav/$id.tmp.wav"
      sox "$d/wav/$id.tmp.wav" -r 16000 -c 1 -b 16 "$d/wav/$id.wav"
      rm -f "$d/wav/$id.tmp.wav"
    fi
    echo "$id" >> "$d/ctl"
  done < "$OUT/$part.ref"
  pocketsphinx_batch -adcin yes -cepdir "$d/wav" -cepext .wav -ctl "$d/ctl" \
    -hmm "$M/en-us" -lm "$M/en-us.lm.bin" -dict "$M/cmudict-en-us.dict" \
    -hyp "$OUT/$part.hyp" -outlatdir "$d/lat" -outlatfmt htk -nbest 50 -nbestdir "$d/nbest" \
    > "$d/pocketsphinx.log" 2>&1 || { echo "asr_build: pocketsphinx_batch failed; see $d/pocketsphinx.log" >&2; exit 1; }
  echo "asr_build: $part: $(ls "$d/lat" | wc -l) lattices, $(ls "$d/nbest" | wc -l) n-best lists"
done
