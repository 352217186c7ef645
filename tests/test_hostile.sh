#!/usr/bin/env bash
# Hostile surroundings: standard output on a full disk or closed, special
# files and links given as -o, temp files left by killed writers, files that
# are no models (devices, JSON arrays, damaged safetensors), bad numbers.
# usage: test_hostile.sh LMFUSE DATA_DIR TMP_DIR
set -u
LMF=$(realpath "$1") DATA=$(realpath "$2") TMP=$(realpath "$3")/hostile
rm -rf "$TMP" && mkdir -p "$TMP"
. "$(dirname "$0")/testlib.sh"
cd "$TMP" || exit 1 # a regression's file named "-" lands here
TRAIN=$DATA/brown-mini.train.txt TEXT=$DATA/brown-mini.test.txt

"$LMF" ngram train -q --order 3 "$TRAIN" -o "$TMP/m3.arpa" || fail "train m3.arpa"
"$LMF" ngram train -q --order 2 "$TRAIN" -o "$TMP/m2.lmfb" || fail "train m2.lmfb"
printf '{"lmfuse": "recipe", "combiner": "linear", "members": ["m3.arpa", "m2.lmfb"]}\n' >"$TMP/r.json"
"$LMF" vocab build "$TRAIN" -o "$TMP/ref.vocab" 2>/dev/null || fail "vocab build"

# ---- output that cannot be written is an error (exit 1, one message), not exit 0
expect_stdout_error() { # reason description command...: stdout to $STDOUT_TO
  local why=$1 what=$2; shift 2
  if [ "$STDOUT_TO" = closed ]; then "$@" >&- 2>"$TMP/err"; else "$@" >"$STDOUT_TO" 2>"$TMP/err"; fi
  local rc=$?
  [ "$rc" = 1 ] || fail "$what with stdout $STDOUT_TO: exit $rc, expected 1 ($(head -c 400 "$TMP/err"))"
  expect_err "error writing to standard output: $why"
  [ "$(grep -c 'writing to standard output' "$TMP/err")" -le 1 ] || fail "$what: the write error is reported twice"
}
if [ -c /dev/full ]; then
  STDOUT_TO=/dev/full
  R="No space left on device"
  expect_stdout_error "$R" "ppl --per-token" "$LMF" ppl "$TMP/m3.arpa" "$TEXT" --per-token
  expect_stdout_error "$R" "ppl --per-token --json" "$LMF" ppl "$TMP/m3.arpa" "$TEXT" --per-token --json
  expect_stdout_error "$R" "ppl (the summary only)" "$LMF" ppl "$TMP/m3.arpa" "$TEXT"
  expect_stdout_error "$R" "ppl --members" "$LMF" ppl "$TMP/r.json" "$TEXT" --members --json
  expect_stdout_error "$R" "generate" "$LMF" generate "$TMP/m3.arpa" --samples 200
  expect_stdout_error "$R" "generate --json" "$LMF" generate "$TMP/m3.arpa" --samples 200 --json
  expect_stdout_error "$R" "explain" "$LMF" explain "$TMP/r.json" "$TEXT"
  expect_stdout_error "$R" "explain --json" "$LMF" explain "$TMP/r.json" "$TEXT" --json
  expect_stdout_error "$R" "explain --summary" "$LMF" explain "$TMP/r.json" "$TEXT" --summary
  expect_stdout_error "$R" "select" "$LMF" select -q --dev "$TEXT" "$TMP/m3.arpa" "$TMP/m2.lmfb" -o "$TMP/sel.json"
  expect_stdout_error "$R" "--help" "$LMF" --help
  expect_stdout_error "$R" "ppl --help" "$LMF" ppl --help
  expect_stdout_error "$R" "help recipe" "$LMF" help recipe
  expect_stdout_error "$R" "--version" "$LMF" --version
  # -o - writes the file to stdout: a full disk fails the write
  "$LMF" vocab build "$TRAIN" -o - >/dev/full 2>"$TMP/err" && fail "vocab build -o - > /dev/full: exit 0"
  expect_err "write failed: No space left on device"
  "$LMF" ngram train -q "$TRAIN" -o - --format arpa >/dev/full 2>"$TMP/err" && fail "ngram train -o - > /dev/full: exit 0"
  expect_err "write failed: No space left on device"
else
  echo "note: no /dev/full here; the full-disk cases are not checked" >&2
fi
STDOUT_TO=closed
expect_stdout_error "Bad file descriptor" "ppl" "$LMF" ppl "$TMP/m3.arpa" "$TEXT"
expect_stdout_error "Bad file descriptor" "generate" "$LMF" generate "$TMP/m3.arpa"

# ---- -o that is no regular file: written through, never replaced
# standard output
"$LMF" vocab build "$TRAIN" -o - >"$TMP/stdout.vocab" 2>"$TMP/err" || fail "vocab build -o -: $(cat "$TMP/err")"
cmp -s "$TMP/stdout.vocab" "$TMP/ref.vocab" || fail "vocab build -o - differs from the file written with -o FILE"
[ -e "$TMP/-" ] && fail "vocab build -o - wrote a file named -"
"$LMF" ngram train -q --order 3 "$TRAIN" -o - --format arpa >"$TMP/stdout.arpa" || fail "ngram train -o -"
cmp -s "$TMP/stdout.arpa" "$TMP/m3.arpa" || fail "ngram train -o - differs from the file written with -o FILE"
# a FIFO: its reader gets the data, the FIFO stays
write_fifo() { # description command... (the command writes to $TMP/fifo)
  local what=$1; shift
  rm -f "$TMP/fifo" "$TMP/fifo.out" && mkfifo "$TMP/fifo" || { fail "mkfifo"; return; }
  cat "$TMP/fifo" >"$TMP/fifo.out" &
  local reader=$!
  "$@" 2>"$TMP/err" || fail "$what -o FIFO: $(head -c 400 "$TMP/err")"
  if [ -p "$TMP/fifo" ]; then
    wait $reader
  else
    fail "$what -o FIFO replaced the FIFO"
    kill $reader 2>/dev/null; wait $reader 2>/dev/null # blocked on a FIFO no one will open
  fi
}
write_fifo "vocab build" "$LMF" vocab build "$TRAIN" -o "$TMP/fifo"
cmp -s "$TMP/fifo.out" "$TMP/ref.vocab" || fail "vocab build -o FIFO: the reader got other bytes"
write_fifo "ngram train" "$LMF" ngram train -q --order 3 "$TRAIN" -o "$TMP/fifo" --format arpa
cmp -s "$TMP/fifo.out" "$TMP/m3.arpa" || fail "ngram train -o FIFO: the reader got other bytes"
# a character device.  As root, a twin of /dev/null made here (so that a
# regression replaces only that one); as another user /dev/null itself.
if [ "$(id -u)" = 0 ]; then
  dev=$TMP/null
  mknod "$dev" c 1 3 2>/dev/null || { dev=; echo "note: mknod failed; the device case is not checked" >&2; }
else
  dev=/dev/null
fi
if [ -n "$dev" ]; then
  expect_rc 0 "vocab build -o $dev" "$LMF" vocab build "$TRAIN" -o "$dev"
  [ -c "$dev" ] || fail "vocab build -o $dev replaced the device with a regular file"
  expect_rc 0 "ngram train -o $dev" "$LMF" ngram train -q "$TRAIN" -o "$dev" --format binary
  [ -c "$dev" ] || fail "ngram train -o $dev replaced the device with a regular file"
  ls "$(dirname "$dev")" | grep -q '^null\.tmp\.' && fail "a temp file was left next to $dev"
fi
# a symbolic link: the target is written, the link stays (also a dangling one)
echo old >"$TMP/target.vocab"
ln -s target.vocab "$TMP/link.vocab"
expect_rc 0 "vocab build -o LINK" "$LMF" vocab build "$TRAIN" -o "$TMP/link.vocab"
[ -L "$TMP/link.vocab" ] || fail "vocab build -o LINK replaced the link with a file"
cmp -s "$TMP/target.vocab" "$TMP/ref.vocab" || fail "vocab build -o LINK did not write the link's target"
mkdir -p "$TMP/sub"
ln -s ../made.arpa "$TMP/sub/dangling.arpa"
expect_rc 0 "ngram train -o DANGLING" "$LMF" ngram train -q --order 3 "$TRAIN" -o "$TMP/sub/dangling.arpa"
[ -L "$TMP/sub/dangling.arpa" ] || fail "ngram train -o DANGLING-LINK replaced the link"
cmp -s "$TMP/made.arpa" "$TMP/m3.arpa" || fail "ngram train -o DANGLING-LINK did not create the link's target"
# a folder is an error naming it
mkdir -p "$TMP/dir.vocab"
expect_rc 1 "vocab build -o DIR" "$LMF" vocab build "$TRAIN" -o "$TMP/dir.vocab"
expect_err "dir.vocab: is a directory"

# ---- temp files of killed writers: removed on the next write to the same
# file; those of running writers, locked ones and other names stay
sh -c 'exit 0' &
dead=$!
wait $dead
sh -c 'exit 0' &
dead2=$!
wait $dead2
out=$TMP/k.arpa
head -c 100000 /dev/zero >"$out.tmp.$dead"
for f in "$out.tmp.$$" "$out.tmp.${dead}x" "$out.tmp.0$dead" "$TMP/other.arpa.tmp.$dead" "$out.tmp.$dead2"; do
  echo keep >"$f"
done
have_flock=0
if command -v flock >/dev/null; then # a writer holding its lock is alive, whatever its PID says
  exec 9<"$out.tmp.$dead2" && flock -x 9 && have_flock=1
fi
[ $have_flock = 1 ] || rm -f "$out.tmp.$dead2"
expect_rc 0 "ngram train over stale temp files" "$LMF" ngram train -q --order 3 "$TRAIN" -o "$out"
[ -e "$out.tmp.$dead" ] && fail "the temp file of dead process $dead was left behind"
expect_err "removed $out.tmp.$dead (100000 bytes), a temporary file left by process $dead, which no longer runs"
for f in "$out.tmp.$$" "$out.tmp.${dead}x" "$out.tmp.0$dead" "$TMP/other.arpa.tmp.$dead"; do
  [ -e "$f" ] || fail "$f was removed"
done
if [ $have_flock = 1 ]; then
  [ -e "$out.tmp.$dead2" ] || fail "a locked temp file was removed"
  exec 9<&-
  expect_rc 0 "ngram train again" "$LMF" ngram train -q --order 3 "$TRAIN" -o "$out"
  [ -e "$out.tmp.$dead2" ] && fail "the temp file of dead process $dead2 was left behind once unlocked"
fi
cmp -s "$out" "$TMP/m3.arpa" || fail "the model written over stale temp files differs"

# ---- files that are no models: refused, saying what they look like
expect_rc 1 "ppl /dev/null" "$LMF" ppl /dev/null "$TEXT"
expect_err "/dev/null: is a character device, not a model file"
expect_rc 1 "ppl DIR" "$LMF" ppl "$TMP/dir.vocab" "$TEXT"
expect_err "is a directory"
# /dev/zero in a recipe would be read until memory runs out: bounded here by
# an address-space limit (skipped where the binary cannot run under one: ASan)
printf '{"lmfuse": "recipe", "combiner": "linear", "members": ["m3.arpa", "/dev/zero"]}\n' >"$TMP/zero.json"
if (ulimit -v 2097152 && "$LMF" --version) >/dev/null 2>&1; then
  (ulimit -v 2097152 && exec "$LMF" ppl "$TMP/zero.json" "$TEXT") >"$TMP/out" 2>"$TMP/err"
  [ $? = 1 ] || fail "recipe with /dev/zero: exit status not 1"
  expect_err "/dev/zero: is a character device"
else
  echo "note: cannot run under an address-space limit (ASan?); /dev/zero is not checked" >&2
fi
printf '  ["m3.arpa", "m2.lmfb"]\n' >"$TMP/array.json"
expect_rc 1 "JSON array as recipe" "$LMF" ppl "$TMP/array.json" "$TEXT"
expect_err "array.json: is a JSON array, but a recipe is a JSON object"
grep -q "ARPA" "$TMP/err" && fail "a JSON array is reported as a bad ARPA file"
# safetensors whose header length is broken (2^40; 0)
{ printf '\0\0\0\0\0\1\0\0'; tail -c +9 "$DATA/rnnlm_rnn.safetensors"; } >"$TMP/badlen.safetensors"
expect_rc 1 "safetensors with a broken header length" "$LMF" ppl "$TMP/badlen.safetensors" "$TEXT"
expect_err "badlen.safetensors: looks like a safetensors file"
grep -q "ARPA" "$TMP/err" && fail "a damaged safetensors file is reported as a bad ARPA file"
{ printf '\0\0\0\0\0\0\0\0'; tail -c +9 "$DATA/rnnlm_rnn.safetensors"; } >"$TMP/zerolen.safetensors"
expect_rc 1 "safetensors with header length 0" "$LMF" generate "$TMP/zerolen.safetensors"
expect_err "zerolen.safetensors: looks like a safetensors file"
expect_rc 0 "the intact safetensors" "$LMF" ppl "$DATA/rnnlm_rnn.safetensors" "$TEXT"
printf '{"lmfuse": "recipe", "combiner": "linear", "members": ["m3.arpa", "badlen.safetensors"]}\n' >"$TMP/badmember.json"
expect_rc 1 "recipe with a damaged member" "$LMF" ppl "$TMP/badmember.json" "$TEXT"
expect_err "badlen.safetensors: looks like a safetensors file"

# ---- bad numbers are usage errors (exit 2)
expect_rc 2 "generate --max-tokens -1" "$LMF" generate "$TMP/m3.arpa" --max-tokens -1
expect_err "max-tokens takes a number 0..1000000"
expect_rc 2 "generate --top-k -1" "$LMF" generate "$TMP/m3.arpa" --top-k -1
expect_rc 0 "generate --max-tokens 0" "$LMF" generate "$TMP/m3.arpa" --max-tokens 0

[ $fails = 0 ] && echo "hostile tests passed" || echo "$fails hostile test(s) failed"
exit $((fails > 0))
