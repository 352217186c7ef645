#!/bin/bash
# Hostile values through the CLI (issue 15, items 7 and 8): training
# progress through the library's log callback (shown by default, silenced by
# -q); checkpoints with edited progress or settings refused, never trusted
# (a window of -1 read before the token buffer); JSON numbers out of range
# refused before conversion; tune refusing members over different
# vocabularies; NaN or infinite parameters refused at load time.
# usage: test_hostile_val.sh LMFUSE DATA_DIR TMP_DIR
LMF=$1
DATA=$2
TMP=$3/hostile_val
rm -rf "$TMP"
mkdir -p "$TMP"
. "$(dirname "$0")/testlib.sh"

# Sets one key of a JSON metadata value ("lmfuse.train", "lmfuse.progress")
# of a safetensors file to raw JSON text (which may be out of range: 1e30).
set_meta() { # file meta key raw-json
  python3 - "$@" <<'EOF'
import json, struct, sys
path, meta, key, raw = sys.argv[1:5]
b = open(path, 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + n])
d = json.loads(h['__metadata__'][meta])
d[key] = '@@VALUE@@'
h['__metadata__'][meta] = json.dumps(d).replace('"@@VALUE@@"', raw)
js = json.dumps(h).encode()
js += b' ' * (-len(js) % 8)
open(path, 'wb').write(struct.pack('<Q', len(js)) + js + b[8 + n:])
EOF
}

# Sets element `at` of safetensors tensor `name` (F32) to a float ("nan", "inf").
poison_st() { # src dst tensor index value
  python3 - "$@" <<'EOF'
import json, struct, sys
src, dst, name, at, val = sys.argv[1:6]
b = bytearray(open(src, 'rb').read())
n = struct.unpack('<Q', b[:8])[0]
t = json.loads(b[8:8 + n])[name]
assert t['dtype'] == 'F32'
o = 8 + n + t['data_offsets'][0] + 4 * int(at)
b[o:o + 4] = struct.pack('<f', float(val))
open(dst, 'wb').write(b)
EOF
}

# Sets unigram probability `at` of an .lmfb to `val` and recomputes the checksum
# (src/ngram/binary.c: splitmix64 words over the file, checksum field zero).
poison_lmfb() { # src dst index value
  python3 - "$@" <<'EOF'
import struct, sys
src, dst, at, val = sys.argv[1:5]
b = bytearray(open(src, 'rb').read())
M = (1 << 64) - 1
def mix(x):
    x ^= x >> 30; x = (x * 0xbf58476d1ce4e5b9) & M
    x ^= x >> 27; x = (x * 0x94d049bb133111eb) & M
    return x ^ (x >> 31)
uni_off = struct.unpack_from('<Q', b, 72)[0]
struct.pack_into('<f', b, uni_off + 4 * int(at), float(val))
struct.pack_into('<Q', b, 48, 0)
ck = 0x6c6d666e6772616d
for o in range(0, len(b) - 7, 8):
    ck = ((ck ^ mix(struct.unpack_from('<Q', b, o)[0])) * 0x9fb21c651e98df25) & M
struct.pack_into('<Q', b, 48, ck)
open(dst, 'wb').write(b)
EOF
}

# 1. Training progress: the same lines as before by default, none with -q.
tiny=(--arch rnn --layers 1 --hidden 8 --emb 8 --batch 2 --bptt 4 --train "$DATA/train-tiny.txt")
expect_rc 0 "train a tiny model" "$LMF" train "${tiny[@]}" --classes 3 --max-steps 6 --checkpoint-every 4 \
  --log-every 0 -o "$TMP/m.safetensors"
expect_err "^\[rnn\] output layer: 3 frequency classes"
expect_err "^\[rnn\] epoch 1/3 step 6/141 (4.3%) loss .* tok/s ETA"
expect_err "^trained 0 epochs, 6 steps"
expect_rc 0 "train -q" "$LMF" train "${tiny[@]}" --max-steps 2 -q -o "$TMP/q.safetensors"
[ -s "$TMP/err" ] && fail "train -q printed: $(head -c 300 "$TMP/err")"
expect_rc 0 "train with validation" "$LMF" train "${tiny[@]}" --epochs 1 --valid "$DATA/train-tiny.txt" \
  -o "$TMP/v.safetensors"
expect_err "^\[rnn\] epoch 1 done: train ppl [0-9.]*, valid ppl [0-9.]* (best so far)"
[ -f "$TMP/m.safetensors.ckpt" ] || fail "no checkpoint to edit"
# a resume runs on to step 8 (the checkpoint's settings apply, --max-steps among them)
set_meta "$TMP/m.safetensors.ckpt" lmfuse.train max_steps 8 || fail "cannot edit the checkpoint"

# 2. Edited checkpoints: every progress and settings field is checked.
bad_ckpt() { # meta key raw-json expected-message
  cp "$TMP/m.safetensors.ckpt" "$TMP/e.ckpt"
  set_meta "$TMP/e.ckpt" "$1" "$2" "$3" || fail "cannot edit the checkpoint"
  expect_rc 1 "resume with $1 $2 = $3" "$LMF" train --resume "$TMP/e.ckpt" -q
  expect_err "$4"
}
bad_ckpt lmfuse.progress window -1 'e.ckpt: lmfuse.progress "window" must be 0..'
bad_ckpt lmfuse.progress window 1e30 '"window" must be .*a whole number .*(got 1e+30)'
bad_ckpt lmfuse.progress window 1e999 '"window" must be .*a whole number .*(got inf)'
bad_ckpt lmfuse.progress window 2.5 '"window" must be .*a whole number .*(got 2.5)'
bad_ckpt lmfuse.progress window 142 '"window" must be 0..141, a whole number, the windows of an epoch'
bad_ckpt lmfuse.progress window '"3"' '"window" must be .*a whole number .*(got the string "3")'
bad_ckpt lmfuse.progress step -5 '"step" must be .*a whole number'
bad_ckpt lmfuse.progress epoch 4 '"epoch" must be 0..3, a whole number'
bad_ckpt lmfuse.progress epoch_tokens 1e19 '"epoch_tokens" must be .*a whole number'
bad_ckpt lmfuse.progress epoch_nll 1e999 '"epoch_nll" must be a finite number >= 0'
bad_ckpt lmfuse.progress lr_scale 0 '"lr_scale" must be in (0, 1\]'
bad_ckpt lmfuse.progress best_epoch 2 '"best_epoch" must be 0..0, a whole number'
bad_ckpt lmfuse.progress train_hash '"xyz"' '"train_hash" must be 16 hexadecimal digits'
bad_ckpt lmfuse.train batch 1e30 'lmfuse.train "batch" must be 1..65536, a whole number'
bad_ckpt lmfuse.train bptt -1 '"bptt" must be 1..65536, a whole number'
bad_ckpt lmfuse.train hidden 3e9 '"hidden" must be 1..65536, a whole number'
bad_ckpt lmfuse.train classes -7 '"classes" must be .*a whole number'
bad_ckpt lmfuse.train seed -1 '"seed" must be 0..18446744073709551615, a whole number'
bad_ckpt lmfuse.train max_steps 1e300 '"max_steps" must be .*a whole number'
bad_ckpt lmfuse.train lr 1e999 '"lr" must be a finite number >= 0'
bad_ckpt lmfuse.train dropout 2 '"dropout" must be a finite number in \[0, 1\]'
bad_ckpt lmfuse.train tied 1 '"tied" must be true or false'
bad_ckpt lmfuse.train arch 5 '"arch" must be a non-empty string'
# the unedited checkpoint still resumes
cp "$TMP/m.safetensors.ckpt" "$TMP/e.ckpt"
expect_rc 0 "resume the unedited checkpoint" "$LMF" train --resume "$TMP/e.ckpt" -q

# 3. Recipes: numbers out of range are refused before conversion.
cp "$DATA/rnnlm_lstm.safetensors" "$TMP/lstm.safetensors"
recipe() { printf '%s\n' "$1" >"$TMP/r.json"; expect_rc 1 "recipe $1" "$LMF" ppl "$TMP/r.json" "$DATA/rnnlm.txt"; }
recipe '{"combiner": "linear", "members": ["lstm.safetensors", {"cache": {"window": 1e30}}], "weights": [0.5, 0.5]}'
expect_err 'r.json: recipe.members\[1\].cache: window must be 1..16777216, a whole number (got 1e+30)'
recipe '{"combiner": "linear", "members": ["lstm.safetensors", {"cache": {"model": "lstm.safetensors", "window": -1e20, "theta": 0.5}}], "weights": [0.5, 0.5]}'
expect_err 'members\[1\]: window must be 1..100000, a whole number (got -1e+20)'
recipe '{"combiner": "vote", "top_k": 1e300, "members": ["lstm.safetensors", "lstm.safetensors"]}'
expect_err '"top_k" must be 1..1000000, a whole number'
printf '%s\n' '{"lmfuse": "cache", "model": "lstm.safetensors", "window": 4294967296, "theta": 0.5}' >"$TMP/c.json"
expect_rc 1 "cache file with a huge window" "$LMF" ppl "$TMP/c.json" "$DATA/rnnlm.txt"
expect_err 'c.json: recipe: window must be 1..100000, a whole number (got 4294967296)'

# 4. tune fuses members over different vocabularies over their union, for every method; the recipe
#    scores its dev text as tune reported; a bad --dub is refused.
expect_rc 0 "ngram a" "$LMF" ngram train -q --order 2 "$DATA/train-tiny.txt" -o "$TMP/a.arpa"
expect_rc 0 "ngram b" "$LMF" ngram train -q --order 2 "$DATA/brown-mini.test.txt" -o "$TMP/b.arpa"
head -5 "$DATA/train-tiny.txt" >"$TMP/dev.txt"
for m in linear bayes loglinear gate; do
  rm -f "$TMP/t.json"
  expect_rc 0 "tune --method $m over two vocabularies" "$LMF" tune -q --method $m --dev "$TMP/dev.txt" \
    "$TMP/a.arpa" "$TMP/b.arpa" -o "$TMP/t.json"
  [ -s "$TMP/t.json" ] || fail "tune --method $m wrote no recipe over two vocabularies"
  expect_rc 0 "ppl of the $m recipe over two vocabularies" "$LMF" ppl "$TMP/t.json" "$TMP/dev.txt"
done
expect_rc 2 "tune --dub nan" "$LMF" tune -q --method linear --dub nan --dev "$TMP/dev.txt" "$TMP/a.arpa" "$TMP/b.arpa" -o "$TMP/t.json"
expect_rc 0 "tune --dub 1e7" "$LMF" tune -q --method linear --dub 1e7 --dev "$TMP/dev.txt" "$TMP/a.arpa" "$TMP/b.arpa" -o "$TMP/t.json"
grep -q '"unk_dub"' "$TMP/t.json" || fail "the recipe lacks its unk_dub"
expect_rc 0 "tune over one vocabulary" "$LMF" tune -q --method linear --dev "$TMP/dev.txt" "$TMP/a.arpa" \
  "$TMP/a.arpa" -o "$TMP/t.json"

# 5. NaN and infinite parameters are refused at load time.
poison_st "$DATA/rnnlm_lstm.safetensors" "$TMP/nan.safetensors" rnn.weight_ih_l0 2 nan || fail "poison_st"
expect_rc 1 "ppl of a model with a NaN weight" "$LMF" ppl "$TMP/nan.safetensors" "$DATA/rnnlm.txt"
expect_err 'nan.safetensors: tensor "rnn.weight_ih_l0" holds NaN at element 2'
expect_rc 1 "generate from a model with a NaN weight" "$LMF" generate "$TMP/nan.safetensors" --seed 1
expect_err 'holds NaN'
poison_st "$DATA/rnnlm_transformer.safetensors" "$TMP/inf.safetensors" tok_emb.weight 0 inf || fail "poison_st"
expect_rc 1 "ppl of a transformer with an infinite weight" "$LMF" ppl "$TMP/inf.safetensors" "$DATA/rnnlm.txt"
expect_err 'tensor "tok_emb.weight" holds +inf at element 0'
expect_rc 0 "binary n-gram" "$LMF" ngram convert "$TMP/a.arpa" -o "$TMP/a.lmfb"
poison_lmfb "$TMP/a.lmfb" "$TMP/same.lmfb" 4 -1.5 || fail "poison_lmfb"
expect_rc 0 "an edited binary with its checksum recomputed still loads" "$LMF" ppl "$TMP/same.lmfb" "$TMP/dev.txt"
poison_lmfb "$TMP/a.lmfb" "$TMP/nan.lmfb" 4 nan || fail "poison_lmfb"
expect_rc 1 "ppl of a binary n-gram with a NaN probability" "$LMF" ppl "$TMP/nan.lmfb" "$TMP/dev.txt"
expect_err 'nan.lmfb: unigram 4 has log10 probability nan'
expect_rc 1 "generate from a binary n-gram with a NaN probability" "$LMF" generate "$TMP/nan.lmfb" --seed 1
poison_lmfb "$TMP/a.lmfb" "$TMP/inf.lmfb" 4 inf || fail "poison_lmfb"
expect_rc 1 "ppl of a binary n-gram with a +inf probability" "$LMF" ppl "$TMP/inf.lmfb" "$TMP/dev.txt"
expect_err 'unigram 4 has log10 probability inf'
# ARPA: nan and +inf are refused with the line; -inf (probability 0) is accepted
sed '0,/^-[0-9.]*\tthe\t/s//nan\tthe\t/' "$TMP/a.arpa" >"$TMP/nan.arpa"
expect_rc 1 "ARPA with a nan probability" "$LMF" ppl "$TMP/nan.arpa" "$TMP/dev.txt"
expect_err 'nan.arpa:[0-9]*: "nan" is not a number'
sed '0,/^-[0-9.]*\tthe\t/s//inf\tthe\t/' "$TMP/a.arpa" >"$TMP/inf.arpa"
expect_rc 1 "ARPA with a +inf probability" "$LMF" ppl "$TMP/inf.arpa" "$TMP/dev.txt"
expect_err 'inf.arpa:[0-9]*: positive log10 probability inf'
sed '0,/^-[0-9.]*\t<s>\t/s//-inf\t<s>\t/' "$TMP/a.arpa" >"$TMP/minf.arpa"
grep -q '^-inf	<s>' "$TMP/minf.arpa" || fail "no -inf line made"
expect_rc 0 "ARPA with log10 p(<s>) = -inf" "$LMF" ppl "$TMP/minf.arpa" "$TMP/dev.txt"

[ $fails = 0 ] && echo "test_hostile_val: all passed"
exit $((fails > 0))
