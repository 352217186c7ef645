#!/usr/bin/env bash
# Training tests: PyTorch agreement over 10 steps, determinism, SIGKILL and
# resume, divergence, bad options and files.
# usage: test_train.sh LMFUSE DATA_DIR TMP_DIR
set -u
LMF=$(realpath "$1") DATA=$(realpath "$2") TMP=$3/train
rm -rf "$TMP" && mkdir -p "$TMP"
. "$(dirname "$0")/testlib.sh"

# Ten logged steps (TSV: step, loss, norm, lr) against PyTorch's expected
# file: every loss within relative LOSS_TOL and, when NORM_TOL is given,
# every gradient norm within it; the differing steps go to stderr.
losses_match() { # label expected tsv loss_tol [norm_tol]
  paste <(grep -v '^#' "$2") "$3" | awk -v a="$1" -v lt="$4" -v nt="${5:-}" '
    function rel(x, y) { d = x - y; if (d < 0) d = -d; return d / (y < 0 ? -y : y) }
    { n++; if ($1 != $4 || rel($5, $2) > lt || (nt != "" && rel($6, $3) > nt)) {
        bad++; print a " step " $1 ": loss " $5 " vs " $2 ", norm " $6 " vs " $3 } }
    END { if (n != 10 || bad) { print a ": " n " steps, " bad+0 " differ from PyTorch"; exit 1 } }' >&2
}

# 1. Ten steps from PyTorch's initial weights give PyTorch's losses and
#    gradient norms (dev/gen_train_fixtures.py: Adam, clipping, carried state).
#    lstm_cls has the class-factored output layer (--classes); rnn_drop
#    trains with dropout 0.3, PyTorch drawing lmfuse's masks.
for a in rnn lstm gru transformer lstm_cls rnn_drop; do
  extra=; [ $a = lstm ] && extra=--tied
  [ $a = transformer ] && extra="--tied --heads 2 --ff 32 --ctx 8"
  [ $a = lstm_cls ] && extra="--tied --classes 6"
  drop=0; [ $a = rnn_drop ] && extra="--tied --seed 1" drop=0.3
  expect_rc 0 "train $a from PyTorch init" "$LMF" train --arch ${a%_*} $extra --layers 2 --hidden 16 --emb 16 \
    --dropout $drop --batch 4 --bptt 8 --lr 5e-3 --clip 0.25 --schedule constant --train "$DATA/train-tiny.txt" \
    --init "$DATA/train_${a}_init.safetensors" -o "$TMP/pt_$a.safetensors" --max-steps 10 \
    --loss-log "$TMP/pt_$a.tsv" -q
  losses_match "$a" "$DATA/train_$a.expected" "$TMP/pt_$a.tsv" 2e-6 2e-5 || fail "$a: training steps differ from PyTorch's"
done

# 2. A trained model scores through the model interface; the valid ppl that
#    training reports is what `lmfuse ppl` gives.
common=(--arch gru --layers 1 --hidden 24 --emb 16 --dropout 0.3 --batch 4 --bptt 10 --epochs 2
  --train "$DATA/train-tiny.txt" --valid "$DATA/train-tiny.txt" --checkpoint-every 7 --log-every 0)
expect_rc 0 "train gru" "$LMF" train "${common[@]}" -o "$TMP/g1.safetensors"
vp=$(grep -o 'valid ppl [0-9.]*' "$TMP/err" | tail -1 | cut -d' ' -f3)
best=$(grep -o 'best valid ppl [0-9.]*' "$TMP/err" | cut -d' ' -f4)
"$LMF" ppl "$TMP/g1.safetensors" "$DATA/train-tiny.txt" --json >"$TMP/p.json" || fail "ppl of trained model"
python3 -c "import json,sys; p=json.load(open('$TMP/p.json'))['ppl']; sys.exit(abs(p-float('$best'))>0.01*max(p,1))" ||
  fail "lmfuse ppl ($(cat "$TMP/p.json")) differs from training's best valid ppl $best"
[ -n "$vp" ] || fail "no validation line in the progress output"
grep -q 'tok/s' "$TMP/err" || fail "no progress line with tok/s"
grep -q 'ETA' "$TMP/err" || fail "no progress line with ETA"

# 3. Same seed, same threads: identical weights; another seed: different.
expect_rc 0 "train gru again" "$LMF" train "${common[@]}" -o "$TMP/g2.safetensors"
cmp -s "$TMP/g1.safetensors" "$TMP/g2.safetensors" || fail "two runs with the same seed differ"
expect_rc 0 "train gru seed 2" "$LMF" train "${common[@]}" --seed 2 -o "$TMP/g3.safetensors"
cmp -s "$TMP/g1.safetensors" "$TMP/g3.safetensors" && fail "runs with different seeds are identical"

# 4. SIGKILL, then --resume: the same final weights as an uninterrupted run.
#    Both runs use the same relative paths (the settings are stored).
long=(--arch lstm --layers 2 --hidden 32 --emb 32 --tied --dropout 0.2 --batch 8 --bptt 12 --epochs 3
  --train "$DATA/brown-mini.train.txt" --valid "$DATA/brown-mini.valid.txt" --checkpoint-every 5 -q
  -o m.safetensors --loss-log loss.tsv)
mkdir -p "$TMP/a" "$TMP/b"
(cd "$TMP/a" && "$LMF" train "${long[@]}") || fail "uninterrupted run"
# The run kills itself with SIGKILL once step 7 is done (LMFUSE_TEST_KILL_AT_STEP,
# read by the CLI): after the checkpoint of step 5, before that of step 10.
(cd "$TMP/b" && LMFUSE_TEST_KILL_AT_STEP=7 exec "$LMF" train "${long[@]}")
rc=$?
[ $rc = 137 ] || fail "the run to be killed at step 7 exited with $rc, not by SIGKILL (137)"
killed_at=$(wc -l <"$TMP/b/loss.tsv")
[ "$killed_at" = 7 ] || fail "killed after step 7: the loss log has $killed_at lines"
(cd "$TMP/b" && "$LMF" train --resume m.safetensors.ckpt -q) || fail "resume after SIGKILL"
cmp -s "$TMP/a/m.safetensors" "$TMP/b/m.safetensors" ||
  fail "best model after kill (at step $killed_at) and resume differs from the uninterrupted run's"
cmp -s "$TMP/a/m.safetensors.ckpt" "$TMP/b/m.safetensors.ckpt" ||
  fail "final checkpoint after kill and resume differs from the uninterrupted run's"
cmp -s "$TMP/a/loss.tsv" "$TMP/b/loss.tsv" ||
  fail "the loss log after kill and resume differs from the uninterrupted run's (steps lost or repeated)"
expect_rc 2 "a kill step that is not a number" env LMFUSE_TEST_KILL_AT_STEP=x "$LMF" train "${long[@]}"
# A seed above 2^53 (not exact as a JSON number) survives the checkpoint:
# with dropout, seed 2^60 + 1 read back as 2^60 would draw other masks.
mkdir -p "$TMP/s1" "$TMP/s2"
big=(--seed 1152921504606846977 --epochs 3 --max-steps 12 --checkpoint-every 5 "${common[@]:0:14}" -q
  --train "$DATA/train-tiny.txt"
  -o m.safetensors)
(cd "$TMP/s1" && "$LMF" train "${big[@]}") || fail "run with a seed above 2^53"
(cd "$TMP/s2" && LMFUSE_TEST_KILL_AT_STEP=7 exec "$LMF" train "${big[@]}")
(cd "$TMP/s2" && "$LMF" train --resume m.safetensors.ckpt -q) || fail "resume of a run with a seed above 2^53"
cmp -s "$TMP/s1/m.safetensors.ckpt" "$TMP/s2/m.safetensors.ckpt" ||
  fail "a seed above 2^53: the resumed run differs from the uninterrupted one"

# 5. Divergence is detected and reported; the last good checkpoint stays.
expect_rc 1 "diverging run" "$LMF" train --arch rnn --layers 1 --hidden 8 --emb 8 --batch 2 --bptt 4 --lr 1e38 \
  --clip 0 --schedule constant --train "$DATA/train-tiny.txt" --checkpoint-every 1 -o "$TMP/nan.safetensors" -q
expect_err "diverged at step"
[ -f "$TMP/nan.safetensors.ckpt" ] || fail "no checkpoint kept after divergence"
"$LMF" train --resume "$TMP/nan.safetensors.ckpt" -q 2>/dev/null # must not crash either way
[ $? -le 1 ] || fail "resuming a diverged run crashed"
# options that would change a resumed run are refused, not silently ignored
expect_rc 2 "resume with --max-steps" "$LMF" train --resume "$TMP/nan.safetensors.ckpt" --max-steps 1 -q
expect_err "cannot change a resumed run"
expect_rc 2 "resume with --epochs" "$LMF" train --resume "$TMP/nan.safetensors.ckpt" --threads 1 --epochs 9
expect_err "--epochs cannot change"

# 6. Bad options and files: clear errors, nothing written.
t=(--train "$DATA/train-tiny.txt" -o "$TMP/bad.safetensors" -q)
expect_rc 1 "unknown arch" "$LMF" train --arch xlstm "${t[@]}"; expect_err 'unknown --arch "xlstm"'
expect_rc 1 "zero layers" "$LMF" train --layers 0 "${t[@]}"; expect_err "layers must be 1"
expect_rc 1 "tied sizes" "$LMF" train --tied --emb 8 --hidden 16 "${t[@]}"; expect_err "tied needs --emb equal"
expect_rc 1 "dropout 1" "$LMF" train --dropout 1 "${t[@]}"; expect_err "dropout must be in"
expect_rc 1 "too much memory" "$LMF" train --batch 60000 --bptt 60000 "${t[@]}"; expect_err "more than this machine"
expect_rc 1 "batch too large for text" "$LMF" train --batch 5000 "${t[@]}"; expect_err "too few for --batch"
expect_rc 1 "heads do not divide" "$LMF" train --arch transformer --hidden 30 --emb 30 --heads 4 "${t[@]}"
expect_err "must divide"
expect_rc 1 "context beyond memory" "$LMF" train --arch transformer --ctx 60000 --batch 64 "${t[@]}"
expect_err "more than this machine"
expect_rc 2 "bad number" "$LMF" train --lr fast "${t[@]}"; expect_err 'bad value "fast" for --lr'
expect_rc 2 "no output" "$LMF" train --train "$DATA/train-tiny.txt"; expect_err "required"
expect_rc 1 "missing train" "$LMF" train --train "$TMP/nope.txt" -o "$TMP/bad.safetensors" -q; expect_err "nope.txt"
[ -e "$TMP/bad.safetensors" ] && fail "a failed run left an output file"
expect_rc 0 "init with another vocabulary (domain adaptation)" "$LMF" train --arch rnn --layers 2 --hidden 16 --emb 16 \
  --train "$DATA/brown-mini.train.txt" --init "$DATA/train_rnn_init.safetensors" -o "$TMP/adapted.safetensors" \
  --max-steps 2
expect_err "words start from its rows"
expect_rc 1 "init with other sizes" "$LMF" train --arch rnn --layers 2 --hidden 32 --emb 16 \
  --train "$DATA/train-tiny.txt" --init "$DATA/train_rnn_init.safetensors" -o "$TMP/bad.safetensors" -q
expect_err "needs shape"
expect_rc 1 "resume a model, not a checkpoint" "$LMF" train --resume "$TMP/g1.safetensors" -q
expect_err "not a training checkpoint"
head -c 3000 "$TMP/a/m.safetensors.ckpt" >"$TMP/trunc.ckpt"
expect_rc 1 "truncated checkpoint" "$LMF" train --resume "$TMP/trunc.ckpt" -q
expect_err "trunc.ckpt"
head -c 5000 "$TMP/g1.safetensors" >"$TMP/trunc.safetensors"
expect_rc 1 "truncated model" "$LMF" ppl "$TMP/trunc.safetensors" "$DATA/train-tiny.txt"
expect_err "trunc.safetensors"
[ -e "$TMP/bad.safetensors" ] && fail "a failed run left an output file"

# 7. PyTorch state dicts in and out (dev/gen_convert_fixtures.py): module named
#    lstm, tied weights stored twice, <unk>/<eos> in the middle of the vocabulary.
expect_rc 0 "convert from pytorch" "$LMF" convert --from pytorch "$DATA/pt_lstm.safetensors" \
  --vocab "$DATA/pt_lstm.vocab.txt" -o "$TMP/c.safetensors"
"$LMF" ppl "$TMP/c.safetensors" "$DATA/rnnlm.txt" --per-token | awk -F'\t' 'NF == 4 { print $3 * log(10) }' >"$TMP/c.lp"
paste "$TMP/c.lp" "$DATA/pt_lstm.expected" | awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d; n++ }
  END { if (n != 43 || m > 2e-5) { print n " tokens, worst |ln p - PyTorch| " m; exit 1 } }' >&2 ||
  fail "converted PyTorch model does not score as PyTorch"
ls "$TMP" | grep -E '\.(convert|tmp)\.' && fail "a conversion left a temporary file"
# the converted file is read back before it is kept: not into a device
expect_rc 1 "convert into /dev/null" "$LMF" convert --from pytorch "$DATA/pt_lstm.safetensors" \
  --vocab "$DATA/pt_lstm.vocab.txt" -o /dev/null
expect_err "not a regular file"
expect_rc 0 "convert to pytorch" "$LMF" convert --to pytorch "$TMP/c.safetensors" -o "$TMP/c_pt.safetensors"
expect_rc 0 "and back" "$LMF" convert --from pytorch "$TMP/c_pt.safetensors" --vocab "$TMP/c_pt.safetensors.vocab.txt" \
  -o "$TMP/c2.safetensors"
[ "$("$LMF" ppl "$TMP/c.safetensors" "$DATA/rnnlm.txt")" = "$("$LMF" ppl "$TMP/c2.safetensors" "$DATA/rnnlm.txt")" ] ||
  fail "round trip through a PyTorch state dict changes perplexity"
head -5 "$DATA/pt_lstm.vocab.txt" >"$TMP/short.vocab"
expect_rc 1 "vocab of the wrong size" "$LMF" convert --from pytorch "$DATA/pt_lstm.safetensors" --vocab "$TMP/short.vocab" -o "$TMP/bad.safetensors"
expect_err "lists 5 tokens"
grep -v '<unk>' "$DATA/pt_lstm.vocab.txt" >"$TMP/nounk.vocab"; echo extra >>"$TMP/nounk.vocab"
expect_rc 1 "vocab without <unk>" "$LMF" convert --from pytorch "$DATA/pt_lstm.safetensors" --vocab "$TMP/nounk.vocab" -o "$TMP/bad.safetensors"
expect_err "needs <unk>"
expect_rc 1 "no vocabulary" "$LMF" convert --from pytorch "$DATA/pt_lstm.safetensors" -o "$TMP/bad.safetensors"
expect_err "give the tokens with --vocab"
expect_rc 2 "no direction" "$LMF" convert "$DATA/pt_lstm.safetensors" -o "$TMP/bad.safetensors"
expect_rc 2 "--heads not a number" "$LMF" convert --from pytorch "$DATA/pt_lstm.safetensors" --heads x -o "$TMP/bad.safetensors"
# The token rules of include/lmf/nn.h: tokens a word model cannot have are
# refused with the list's name and line (line 4 replaced).
bad_token() { # name bytes(printf format) expected-message
  { head -3 "$DATA/pt_lstm.vocab.txt"; printf "$2\n"; tail -n +5 "$DATA/pt_lstm.vocab.txt"; } >"$TMP/$1.vocab"
  expect_rc 1 "token with $1" "$LMF" convert --from pytorch "$DATA/pt_lstm.safetensors" --vocab "$TMP/$1.vocab" \
    -o "$TMP/bad.safetensors"
  expect_err "$1.vocab:4: $3"
}
bad_token nul 'a\0b' "byte 2 of the token is NUL"
bad_token vt 'a\vb' "byte 2 of the token is whitespace"
bad_token latin1 'caf\351' "the token is not valid UTF-8 (byte 4)"
bad_token bos '<s>' '"<s>" is reserved'
bad_token repeat 'w3' "the token repeats line 2"
[ -e "$TMP/bad.safetensors" ] && fail "a failed conversion left an output file"
# The control-byte vocabulary of issue 15: 38 tokens of ~2,000 \x01 bytes,
# six bytes each once escaped, overflowed the converter's buffer.  Now a
# correct model whose tokens come back unchanged (and clean under ASan).
python3 - "$TMP/ctl.safetensors" "$TMP/ctl.vocab" <<'PY'
import json, struct, sys
V, E = 38, 4
header, blob = {"__metadata__": {"format": "pt"}}, b""
for name, shape in [("encoder.weight", [V, E]), ("rnn.weight_ih_l0", [E, E]), ("rnn.weight_hh_l0", [E, E]),
                    ("rnn.bias_ih_l0", [E]), ("rnn.bias_hh_l0", [E]), ("decoder.bias", [V])]:
    n = shape[0] * (shape[1] if len(shape) > 1 else 1)
    raw = struct.pack("<%df" % n, *[(i * 37 % 101) / 100 - 0.5 for i in range(len(blob), len(blob) + n)])
    header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(blob), len(blob) + len(raw)]}
    blob += raw
js = json.dumps(header).encode()
open(sys.argv[1], "wb").write(struct.pack("<Q", len(js)) + js + blob)
open(sys.argv[2], "wb").write(b"<unk>\n</s>\n" + b"".join(b"\x01" * (2000 + i) + b"\n" for i in range(V - 2)))
PY
expect_rc 0 "control-byte vocabulary" "$LMF" convert --from pytorch "$TMP/ctl.safetensors" --vocab "$TMP/ctl.vocab" \
  -o "$TMP/ctl_m.safetensors"
expect_rc 0 "control-byte vocabulary back" "$LMF" convert --to pytorch "$TMP/ctl_m.safetensors" -o "$TMP/ctl_pt.safetensors"
cmp -s "$TMP/ctl.vocab" "$TMP/ctl_pt.safetensors.vocab.txt" || fail "control-byte tokens changed on the way"

# 8. Class-factored output layer (--classes): the model file scores as
#    training validated it, for both families; mismatches are refused.
for a in lstm transformer; do
  extra=; [ $a = transformer ] && extra="--heads 2 --ctx 8"
  expect_rc 0 "train $a with classes" "$LMF" train --arch $a $extra --layers 1 --hidden 16 --emb 16 --classes 7 \
    --batch 4 --bptt 8 --epochs 1 --train "$DATA/train-tiny.txt" --valid "$DATA/train-tiny.txt" --log-every 0 \
    -o "$TMP/cls_$a.safetensors"
  best=$(grep -o 'best valid ppl [0-9.]*' "$TMP/err" | cut -d' ' -f4)
  "$LMF" ppl "$TMP/cls_$a.safetensors" "$DATA/train-tiny.txt" --json >"$TMP/p.json" || fail "ppl of $a class model"
  python3 -c "import json,sys; p=json.load(open('$TMP/p.json'))['ppl']; sys.exit(abs(p-float('$best'))>0.01*max(p,1))" ||
    fail "$a class model: lmfuse ppl ($(cat "$TMP/p.json")) differs from training's best valid ppl $best"
done
expect_rc 1 "classes beyond the vocabulary" "$LMF" train --arch lstm --classes 100000 --train "$DATA/train-tiny.txt" \
  -o "$TMP/bad.safetensors"
expect_err "exceeds the vocabulary size"
expect_rc 1 "class model as init of a full softmax" "$LMF" train --arch lstm --layers 1 --hidden 16 --emb 16 \
  --train "$DATA/train-tiny.txt" --init "$TMP/cls_lstm.safetensors" -o "$TMP/bad.safetensors" -q
expect_err "class-factored output layer"
expect_rc 1 "other classes" "$LMF" train --arch lstm --layers 1 --hidden 16 --emb 16 --classes 5 \
  --train "$DATA/train-tiny.txt" --init "$TMP/cls_lstm.safetensors" -o "$TMP/bad.safetensors" -q
expect_err "output classes differ"
[ -e "$TMP/bad.safetensors" ] && fail "a failed run left an output file"

# 9. --bf16: the full softmax's products in bfloat16.  Where the CPU has
#    AVX512_BF16: ten steps from PyTorch's initial weights stay within
#    bfloat16 rounding of PyTorch's float losses, runs are reproducible, and
#    the setting survives a checkpoint.  Elsewhere: a clear refusal.
if grep -qw avx512_bf16 /proc/cpuinfo && { [ -z "${LMFUSE_NO_BF16:-}" ] || [ "$LMFUSE_NO_BF16" = 0 ]; }; then
  for th in 1 2; do
    expect_rc 0 "train lstm --bf16 from PyTorch init ($th threads)" "$LMF" train --arch lstm --tied --layers 2 \
      --hidden 16 --emb 16 --dropout 0 --batch 4 --bptt 8 --lr 5e-3 --clip 0.25 --schedule constant --bf16 \
      --threads $th --train "$DATA/train-tiny.txt" --init "$DATA/train_lstm_init.safetensors" \
      -o "$TMP/bf_$th.safetensors" --max-steps 10 --loss-log "$TMP/bf_$th.tsv" -q
    losses_match "lstm --bf16" "$DATA/train_lstm.expected" "$TMP/bf_$th.tsv" 2e-3 ||
      fail "--bf16 ($th threads): losses are not within bfloat16 rounding of PyTorch's"
    cmp -s "$TMP/bf_$th.tsv" "$TMP/pt_lstm.tsv" && fail "--bf16 ($th threads) gave exactly the float losses"
  done
  for a in rnn gru transformer; do
    extra=; [ $a = transformer ] && extra="--tied --heads 2 --ff 32 --ctx 8"
    expect_rc 0 "train $a --bf16 from PyTorch init" "$LMF" train --arch $a $extra --layers 2 --hidden 16 --emb 16 \
      --dropout 0 --batch 4 --bptt 8 --lr 5e-3 --clip 0.25 --schedule constant --bf16 --train "$DATA/train-tiny.txt" \
      --init "$DATA/train_${a}_init.safetensors" -o "$TMP/bf_$a.safetensors" --max-steps 10 --loss-log "$TMP/bf_$a.tsv" -q
    losses_match "$a --bf16" "$DATA/train_$a.expected" "$TMP/bf_$a.tsv" 2e-3 || fail "$a --bf16: losses are not within bfloat16 rounding of PyTorch's"
  done
  expect_rc 0 "train --bf16 again" "$LMF" train --arch lstm --tied --layers 2 --hidden 16 --emb 16 --dropout 0 \
    --batch 4 --bptt 8 --lr 5e-3 --clip 0.25 --schedule constant --bf16 --threads 2 --train "$DATA/train-tiny.txt" \
    --init "$DATA/train_lstm_init.safetensors" -o "$TMP/bf_again.safetensors" --max-steps 10 -q
  cmp -s "$TMP/bf_2.safetensors" "$TMP/bf_again.safetensors" || fail "two --bf16 runs with the same seed differ"
  python3 - "$TMP/bf_2.safetensors.ckpt" <<'PY' || fail "the checkpoint of a --bf16 run does not record it"
import json, struct, sys
f = open(sys.argv[1], "rb"); n = struct.unpack("<Q", f.read(8))[0]
sys.exit(0 if json.loads(json.loads(f.read(n))["__metadata__"]["lmfuse.train"]).get("bf16") is True else 1)
PY
else
  expect_rc 1 "--bf16 without AVX512_BF16" "$LMF" train --arch lstm --bf16 --train "$DATA/train-tiny.txt" \
    -o "$TMP/bad.safetensors"
  expect_err "AVX512_BF16"
fi
expect_rc 1 "--bf16 with classes" "$LMF" train --arch lstm --bf16 --classes 5 --train "$DATA/train-tiny.txt" \
  -o "$TMP/bad.safetensors"
expect_err "for the full softmax"
[ -e "$TMP/bad.safetensors" ] && fail "a failed run left an output file"

# Domain adaptation: --init from a model over another vocabulary.  With a
# learning rate too small to move anything, the words both vocabularies know
# keep the general model's rows, the new words have a fresh run's rows (same
# seed), every other tensor is the general model's; for each architecture.
head -200 "$DATA/brown-mini.train.txt" >"$TMP/gen.txt"
tail -200 "$DATA/brown-mini.train.txt" >"$TMP/dom.txt"
for args in "--arch lstm --layers 2 --tied" "--arch gru --layers 1 --classes 8" "--arch transformer --layers 1 --heads 2 --ctx 16"; do
  sz="--hidden 32 --emb 32 --epochs 1"
  rm -f "$TMP"/ad-*.safetensors*
  expect_rc 0 "general $args" "$LMF" train -q $args $sz --train "$TMP/gen.txt" -o "$TMP/ad-gen.safetensors"
  expect_rc 0 "adapted $args" "$LMF" train $args $sz --lr 1e-30 --max-steps 1 --init "$TMP/ad-gen.safetensors" \
    --train "$TMP/dom.txt" -o "$TMP/ad-dom.safetensors"
  grep -q "words start from its rows" "$TMP/err" || fail "--init over another vocabulary: $(cat "$TMP/err")"
  expect_rc 0 "fresh $args" "$LMF" train -q $args $sz --lr 1e-30 --max-steps 1 --train "$TMP/dom.txt" \
    -o "$TMP/ad-fresh.safetensors"
  python3 "$(dirname "$0")/../dev/st_init_rows.py" "$TMP/ad-gen.safetensors" "$TMP/ad-dom.safetensors" \
    "$TMP/ad-fresh.safetensors" >"$TMP/rows.txt" 2>&1 || fail "--init rows, $args: $(cat "$TMP/rows.txt")"
done
expect_rc 1 "--init of another architecture" "$LMF" train -q --arch gru --layers 1 --hidden 32 --emb 32 --epochs 1 \
  --init "$TMP/ad-gen.safetensors" --train "$TMP/dom.txt" -o "$TMP/ad-bad.safetensors"
expect_err "init needs a model of the same architecture"

[ $fails = 0 ] && echo "all training tests passed"
exit $((fails > 0))
