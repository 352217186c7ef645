#!/usr/bin/env bash
# Labelled tasks (lmfuse data labelled; src/data/labelled.c).
# 1. Small packages made here: exact output, byte for byte, written out
#    below by hand from ../shared/data/classification-splits.md and the
#    escaping documented in include/lmf/data.h.
# 2. The real packages, when fetched (data/spam, data/brown): the counts of
#    the specification, and the same bytes as dev/labelled_reference.py, an
#    independent implementation in Python.
# 3. Bad packages: clear errors, no output file left.
# usage: test_labelled.sh LMFUSE DATA_ROOT TMP_DIR
set -u
LMF=$(realpath "$1") ROOT=$2 TMP=$3/labelled
SRC=$(cd "$(dirname "$0")/.." && pwd)
rm -rf "$TMP" && mkdir -p "$TMP"
. "$(dirname "$0")/testlib.sh"

# 1a. spam: CRLF, a lone CR, latin-1, a backslash, NUL, TAB; a message without
#     a blank line (empty body); md5 digits 3 (train), b (valid), F (test);
#     .json twins and files outside the folders are ignored.
P=$TMP/spam/package/data
mkdir -p "$P/easy-ham-1" "$P/spam-2"
printf 'Subject: hi\r\nFrom: a\\b\r\n\r\nbody\tline\r\nsecond\rline \351t\351\000x\n' >"$P/easy-ham-1/00001.0123456789abcdef0123456789abcde3.txt"
printf '{"ignored": 1}' >"$P/easy-ham-1/00001.0123456789abcdef0123456789abcde3.json"
printf 'Subject: buy\n\nnow\n\n\nmore' >"$P/spam-2/00007.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab.txt"
printf 'Subject: no body at all\n' >"$P/spam-2/00002.ffffffffffffffffffffffffffffffFF.txt"
printf '[]' >"$P/file_list.json"
expect_rc 0 "labelled spam (small)" "$LMF" data labelled spam "$TMP/spam/package" "$TMP/o"
want() { printf '%b' "$2" >"$TMP/want" && cmp -s "$TMP/want" "$1" || fail "$1: got $(od -c "$1" | head -5), want $(od -c "$TMP/want" | head -5)"; }
want "$TMP/o/spam-full.train.txt" '__label__ham Subject: hi\\nFrom: a\\\\b\\n\\nbody\tline\\nsecond\\rline \0303\0251t\0303\0251\\x00x\\n\n'
want "$TMP/o/spam-body.train.txt" '__label__ham body\tline\\nsecond\\rline \0303\0251t\0303\0251\\x00x\\n\n'
want "$TMP/o/spam-full.valid.txt" '__label__spam Subject: buy\\n\\nnow\\n\\n\\nmore\n'
want "$TMP/o/spam-body.valid.txt" '__label__spam now\\n\\n\\nmore\n'
want "$TMP/o/spam-full.test.txt" '__label__spam Subject: no body at all\\n\n'
want "$TMP/o/spam-body.test.txt" '__label__spam\n'
grep -q "train $TMP/o/spam-full.train.txt: 1 documents (ham 1, spam 0)" "$TMP/err" || fail "no count line: $(cat "$TMP/err")"

# 1b. brown-genre: chunks of 200 tokens, tags stripped (from the last '/'),
#     the partial chunk dropped; file numbers 05 (test), 11 (valid), 12
#     (train); other names ignored.
B=$TMP/brown/package
mkdir -p "$B"
gen() { # FILE COUNT: COUNT tagged tokens w1/nn ... , one with two slashes
  awk -v n="$2" 'BEGIN { for (i = 1; i <= n; i++) printf("%s%s", i == 7 ? "a/b/cd" : "w" i "/nn", i % 10 ? " " : "\n\n\t") }' >"$1"
}
gen "$B/ca05" 450
gen "$B/cr11" 200
gen "$B/cb12" 199
gen "$B/cz01" 400
printf 'x' >"$B/README"
expect_rc 0 "labelled brown-genre (small)" "$LMF" data labelled brown-genre "$B" "$TMP/o"
words() { awk -v a="$1" -v b="$2" 'BEGIN { for (i = a; i <= b; i++) printf("%s%s", i == 7 ? "a/b" : "w" i, i < b ? " " : "") }'; }
{ printf '__label__a %s\n' "$(words 1 200)"; printf '__label__a %s\n' "$(words 201 400)"; } >"$TMP/want"
cmp -s "$TMP/want" "$TMP/o/brown-genre.test.txt" || fail "brown-genre test: $(head -c 300 "$TMP/o/brown-genre.test.txt")"
printf '__label__r %s\n' "$(words 1 200)" >"$TMP/want"
cmp -s "$TMP/want" "$TMP/o/brown-genre.valid.txt" || fail "brown-genre valid: $(head -c 300 "$TMP/o/brown-genre.valid.txt")"
[ -s "$TMP/o/brown-genre.train.txt" ] && fail "brown-genre train: a partial chunk was kept"

# 2. The real packages, when fetched: counts and the Python reference.
check_real() { # TASK SPLIT... "label count" expectations: TASK FILE WANT
  local f=$1 want=$2
  got=$(awk '{ n[$1]++ } END { for (l in n) print l, n[l] }' "$f" | sort | tr '\n' ' ')
  [ "$got" = "$want" ] || fail "$f: label counts \"$got\", the specification says \"$want\""
}
if [ -d "$ROOT/spam/package/data" ]; then
  expect_rc 0 "labelled spam" "$LMF" data labelled spam "$ROOT/spam/package" "$TMP/real"
  for t in spam-full spam-body; do
    check_real "$TMP/real/$t.train.txt" "__label__ham 2619 __label__spam 1179 "
    check_real "$TMP/real/$t.valid.txt" "__label__ham 510 __label__spam 226 "
    check_real "$TMP/real/$t.test.txt" "__label__ham 1021 __label__spam 491 "
  done
  if command -v python3 >/dev/null; then
    python3 "$SRC/dev/labelled_reference.py" spam "$ROOT/spam/package" "$TMP/ref" >/dev/null || fail "python reference (spam)"
    for t in spam-full spam-body; do for s in train valid test; do
      cmp -s "$TMP/real/$t.$s.txt" "$TMP/ref/$t.$s.txt" || fail "$t.$s.txt differs from dev/labelled_reference.py's"
    done; done
  fi
else
  echo "note: data/spam not fetched; the real spam tasks were not checked"
fi
if [ -f "$ROOT/brown/package/ca01" ]; then
  expect_rc 0 "labelled brown-genre" "$LMF" data labelled brown-genre "$ROOT/brown/package" "$TMP/real"
  for s in train:3370 valid:1171 test:1036; do
    n=$(wc -l <"$TMP/real/brown-genre.${s%%:*}.txt")
    [ "$n" = "${s#*:}" ] || fail "brown-genre.${s%%:*}.txt: $n documents, the specification says ${s#*:}"
  done
  [ "$(cut -d' ' -f1 "$TMP/real/brown-genre.train.txt" | sort -u | wc -l)" = 15 ] || fail "brown-genre: not 15 genres"
  if command -v python3 >/dev/null; then
    python3 "$SRC/dev/labelled_reference.py" brown "$ROOT/brown/package" "$TMP/ref" >/dev/null || fail "python reference (brown)"
    for s in train valid test; do
      cmp -s "$TMP/real/brown-genre.$s.txt" "$TMP/ref/brown-genre.$s.txt" || fail "brown-genre.$s.txt differs from dev/labelled_reference.py's"
    done
  fi
else
  echo "note: data/brown not fetched; the real brown-genre task was not checked"
fi

# 3. Bad packages.
expect_rc 1 "no package" "$LMF" data labelled spam "$TMP/nowhere" "$TMP/bad"
expect_err "cannot open the directory"
mkdir -p "$TMP/badspam/data/easy-ham-1"
printf 'x' >"$TMP/badspam/data/easy-ham-1/nomd5.txt"
expect_rc 1 "a file name without md5" "$LMF" data labelled spam "$TMP/badspam" "$TMP/bad"
expect_err "nomd5.txt: the file name has no md5"
[ -e "$TMP/bad/spam-full.train.txt" ] && fail "a failed run left an output file"
mkdir -p "$TMP/emptybrown"
expect_rc 1 "no Brown files" "$LMF" data labelled brown-genre "$TMP/emptybrown" "$TMP/bad"
expect_err "no Brown corpus files"
expect_rc 2 "unknown task" "$LMF" data labelled nosuch "$B" "$TMP/bad"
expect_rc 2 "missing arguments" "$LMF" data labelled spam

[ $fails = 0 ] && echo "all labelled-task tests passed"
exit $((fails > 0))
