#!/usr/bin/env bash
# Reading sphinxbase binary trie LMs (src/ngram/sphinx.c), checked against
# sphinxbase itself (Debian packages sphinxbase-utils, pocketsphinx-en-us):
#  1. small models of orders 1..5, estimated by lmfuse from brown-mini and
#     packed into tries by Debian's sphinx_lm_convert: lmfuse's ARPA of each
#     trie has the same n-grams as sphinx_lm_convert's own ARPA of it (whose
#     writer works on these), values within its 4 decimals, and stays within
#     the 16-bit quantisation of the model it came from; gzip-compressed too;
#  2. pocketsphinx-en-us's en-us.lm.bin: n-gram counts (the header's bigram
#     count is 6 too high; two misfiled trigrams are left out), unigrams as in
#     the first lines of sphinx_lm_convert's ARPA (which then aborts), the
#     misfiled trigrams that sphinxbase's lookup finds kept, the others not;
#  3. hostile input: truncated copies (head -c), damaged headers, pointers and
#     word lists, random byte flips: exit 1 with a message naming the file
#     (never a signal), no output file left behind.
# usage: test_sphinx.sh LMFUSE DATA_DIR TMP_DIR        (exit 77 = skipped)
set -u
LMF=$1 DATA=$2 TMP=$3/sphinx
ENUS=/usr/share/pocketsphinx/model/en-us/en-us.lm.bin
have_conv=0 have_enus=0
command -v sphinx_lm_convert >/dev/null && have_conv=1
[ -r "$ENUS" ] && have_enus=1
if [ $have_conv = 0 ] && [ $have_enus = 0 ]; then
  echo "skipped: neither sphinx_lm_convert nor $ENUS (apt-get install sphinxbase-utils pocketsphinx-en-us)"
  exit 77
fi
rm -rf "$TMP" && mkdir -p "$TMP"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# cmp_arpa A B TOL: same n-grams per order, |prob|, |backoff| differences <= TOL
# (words may be separated by spaces or tabs: sphinx_lm_convert uses tabs)
cmp_arpa() {
  awk -v A="$1" -v B="$2" -v tol="$3" '
    function load(f, t,   line, n, a, k, i, key) {
      n = 0
      while ((getline line < f) > 0) {
        if (line ~ /^\\[0-9]+-grams:/) { n = substr(line, 2) + 0; continue }
        if (line ~ /^\\end\\/) { n = 0; continue }
        if (!n || line ~ /^[[:space:]]*$/) continue
        k = split(line, a, /[ \t]+/)
        key = n ":"; for (i = 2; i <= n + 1; i++) key = key " " a[i]
        if ((t, key) in P) { print "duplicate in " f ": " key; bad = 1 }
        P[t, key] = a[1]; Q[t, key] = (k > n + 1) ? a[n + 2] : 0; C[t, n]++
        if (t == 1) keys[key] = 1
      }
      close(f)
    }
    function abs(x) { return x < 0 ? -x : x }
    BEGIN {
      load(A, 1); load(B, 2)
      for (key in keys) {
        if (!((2, key) in P)) { if (miss++ < 3) print "only in " A ": " key; bad = 1; continue }
        d = abs(P[1, key] - P[2, key]); e = abs(Q[1, key] - Q[2, key])
        if (d > mx) mx = d
        if (e > mx) mx = e
      }
      for (n = 1; n <= 9; n++) if (C[1, n] != C[2, n]) { print "order " n ": " C[1, n] " vs " C[2, n] " n-grams"; bad = 1 }
      if (mx > tol) { print "max |difference| " mx " > " tol; bad = 1 }
      exit bad
    }'
}

# expect_fail FILE WHAT: conversion fails cleanly, saying WHAT, naming FILE
expect_fail() {
  local out=$TMP/fail.arpa rc
  rm -f "$out"
  "$LMF" ngram convert "$1" -o "$out" 2>"$TMP/err"
  rc=$?
  if [ $rc != 1 ]; then
    fail "$1: exit status $rc, expected 1 ($(head -c 300 "$TMP/err"))"
  elif ! grep -q -- "$2" "$TMP/err" || ! grep -qF -- "$1" "$TMP/err"; then
    fail "$1: message does not say \"$2\" and name the file: $(head -c 300 "$TMP/err")"
  fi
  [ -e "$out" ] && fail "$1: $out written despite the error"
  ls "$TMP"/fail.arpa.tmp.* >/dev/null 2>&1 && fail "$1: temporary output left behind"
}

small=""
if [ $have_conv = 1 ]; then
  printf '\\data\\\nngram 1=3\n\n\\1-grams:\n-1\t</s>\n-99\t<s>\n-0.5\tfoo\n\n\\end\\\n' >"$TMP/m1.arpa"
  for order in 1 2 3 4 5; do
    m=$TMP/m$order
    if [ $order -gt 1 ]; then
      "$LMF" ngram train -q --order $order "$DATA/brown-mini.train.txt" -o "$m.arpa" || { fail "train $order"; continue; }
    fi
    sphinx_lm_convert -i "$m.arpa" -o "$m.lm.bin" >"$m.conv.log" 2>&1 || { fail "sphinx_lm_convert -> $m.lm.bin"; continue; }
    sphinx_lm_convert -i "$m.lm.bin" -o "$m.sphinx.arpa" >"$m.back.log" 2>&1 || { fail "sphinx_lm_convert <- $m.lm.bin"; continue; }
    "$LMF" ngram convert "$m.lm.bin" -o "$m.ours.arpa" 2>"$m.ours.log" || { fail "lmfuse ngram convert $m.lm.bin: $(cat "$m.ours.log")"; continue; }
    [ -s "$m.ours.log" ] && fail "order $order: unexpected messages: $(cat "$m.ours.log")"
    cmp_arpa "$m.ours.arpa" "$m.sphinx.arpa" 6e-5 || fail "order $order: lmfuse's ARPA differs from sphinx_lm_convert's"
    cmp_arpa "$m.ours.arpa" "$m.arpa" 2e-4 || fail "order $order: lmfuse's ARPA differs from the model packed"
    # lmfuse reads what it wrote
    "$LMF" ngram convert "$m.ours.arpa" -o "$m.lmfb" 2>/dev/null || fail "order $order: lmfuse cannot read its ARPA"
  done
  gzip -c "$TMP/m3.lm.bin" >"$TMP/m3.lm.bin.gz"
  "$LMF" ngram convert "$TMP/m3.lm.bin.gz" -o "$TMP/m3gz.arpa" && cmp -s "$TMP/m3gz.arpa" "$TMP/m3.ours.arpa" ||
    fail "gzip-compressed trie: different ARPA"
  "$LMF" ngram convert "$TMP/m3.lm.bin" -o "$TMP/m3.lmfb" 2>"$TMP/err"
  [ $? = 2 ] && grep -q "converts to ARPA only" "$TMP/err" || fail "trie -> .lmfb: expected a usage error with a hint"
  small=$TMP/m3.lm.bin
else
  echo "skipped part 1: no sphinx_lm_convert (apt-get install sphinxbase-utils)"
fi

if [ $have_enus = 1 ]; then
  "$LMF" ngram convert "$ENUS" -o "$TMP/en-us.arpa" 2>"$TMP/en-us.log" || fail "en-us.lm.bin: $(cat "$TMP/en-us.log")"
  grep -q "the header announces 2051547 2-grams, the trie holds 2051541" "$TMP/en-us.log" ||
    fail "en-us.lm.bin: no warning about the bigram count"
  grep -q "left out 2 n-gram(s)" "$TMP/en-us.log" || fail "en-us.lm.bin: no warning about the n-grams left out"
  counts=$(sed -n 's/^ngram \([0-9]\)=\([0-9]*\)$/\1=\2/p' "$TMP/en-us.arpa" | tr '\n' ' ')
  [ "$counts" = "1=72547 2=2051541 3=1669623 " ] || fail "en-us.lm.bin: counts $counts"
  awk '/^\\[0-9]+-grams:/ { s = substr($0, 2) + 0; next } /^\\end/ { s = 0 } s && NF { c[s]++ }
       END { exit !(c[1] == 72547 && c[2] == 2051541 && c[3] == 1669623) }' "$TMP/en-us.arpa" ||
    fail "en-us.lm.bin: the sections do not hold the header's counts"
  # unigrams as the first lines of sphinx_lm_convert's (partial) ARPA print them
  awk -F'\t' 'BEGIN {
      want["a"] = "-1.6510 -0.9118"; want["</s>"] = "-1.1261 0.0000"; want["<s>"] = "-99.0000 -1.3321"
      want["\x27bout"] = "-6.2831 -0.0754"; want["the"] = "-1.3895 -0.5416"
    }
    /^\\1-grams:/ { s = 1; next } /^\\2-grams:/ { s = 0 }
    s && ($2 in want) {
      split(want[$2], w, " ")
      if ($1 - w[1] > 6e-5 || w[1] - $1 > 6e-5 || $3 - w[2] > 6e-5 || w[2] - $3 > 6e-5) { print "unigram " $2 ": " $1 " " $3; bad = 1 }
      seen++
    }
    END { exit bad || seen != 5 }' "$TMP/en-us.arpa" || fail "en-us.lm.bin: unigram values"
  for g in "teased and bullhorns" "coach and jerri"; do
    grep -qP "^\\S+\\t$g\$" "$TMP/en-us.arpa" || fail "en-us.lm.bin: \"$g\" (found by sphinxbase) missing"
  done
  for g in "whips and bullhorns" "<s> and jerri"; do
    grep -qP "^\\S+\\t$g\$" "$TMP/en-us.arpa" && fail "en-us.lm.bin: \"$g\" (not found by sphinxbase) present"
  done
  rm -f "$TMP/en-us.arpa"
  # truncated copies of the real thing: inside the header, the quantisation
  # tables, the unigrams, the bigram and trigram records, the word list
  size=$(stat -c %s "$ENUS")
  for n in 19 20 30 35 36 500000 786468 1000000 1657044 10000000 19608097 26495316 $((size - 619068)) $((size - 1)); do
    head -c $n "$ENUS" >"$TMP/cut$n.lm.bin"
    expect_fail "$TMP/cut$n.lm.bin" "truncated"
    rm -f "$TMP/cut$n.lm.bin"
  done
else
  echo "skipped part 2: no $ENUS (apt-get install pocketsphinx-en-us)"
fi

# damaged files: the small trie if there is one, else en-us.lm.bin; each line
# of the generator's output is a damaged copy and what the message must say
src=${small:-$ENUS}
for n in 0 5; do
  head -c $n "$src" >"$TMP/short$n.lm.bin"
  "$LMF" ngram convert "$TMP/short$n.lm.bin" -o "$TMP/fail.arpa" 2>/dev/null
  [ $? = 1 ] || fail "$n-byte file: expected exit status 1"
done
python3 - "$src" "$TMP" >"$TMP/damaged.list" <<'EOF'
import struct, sys
src, tmp = sys.argv[1], sys.argv[2]
data = open(src, 'rb').read()
order, V = data[19], struct.unpack('<I', data[20:24])[0]
counts = [struct.unpack('<I', data[20 + 4 * i:24 + 4 * i])[0] for i in range(order)]
uni = 20 + 4 * order + 4 + (2 * (order - 2) + 1) * 65536 * 4
off = uni + 12 * (V + 1)
for n in range(2, order + 1):
    width = V.bit_length() + (32 + counts[n].bit_length() if n < order else 16)
    off += ((counts[n - 1] + 1) * width + 7) // 8 + 8
words_at = off + 4
words = data[words_at:].split(b'\0')[:V]

def emit(name, expect, edits=(), tail=b''):
    d = bytearray(data)
    for at, b in edits:
        d[at:at + len(b)] = b
    path = '%s/dmg-%s.lm.bin' % (tmp, name)
    open(path, 'wb').write(bytes(d) + tail)
    print('%s\t%s' % (path, expect))

u32 = lambda x: struct.pack('<I', x)
emit('order', 'order 9', [(19, b'\x09')])
emit('nowords', '0 words in the header', [(20, u32(0))])
emit('manywords', 'words in the header; sphinxbase handles', [(20, u32(1 << 25))])
emit('bigrams', '2-grams in the header', [(24, u32(0xffffffff))])
emit('quant', 'quantisation type 7', [(20 + 4 * order, u32(7))])
emit('trailing', 'bytes after the word list', tail=b'xyz')
emit('overlap', 'overlap', [(uni + 12 * 3 + 8, u32(0xffffff))])
emit('sentinel', 'more than the', [(uni + 12 * V + 8, u32(counts[1] + 1))])
emit('nan', 'must be finite', [(uni + 12 * 2, u32(0xffc00000))])
emit('space', 'white space', [(words_at + len(words[0]), b' ')])
i = next(i for i in range(1, V) if len(words[i]) == len(words[i - 1]))
emit('duplicate', 'appears twice', [(words_at + sum(len(w) + 1 for w in words[:i]), words[i - 1])])
emit('fewwords', 'truncated: the word list needs', [(words_at - 4, u32(len(data)))])
EOF
[ $? = 0 ] || fail "making damaged copies"
while IFS=$'\t' read -r f what; do
  expect_fail "$f" "$what"
done <"$TMP/damaged.list"
# random byte flips (the small trie only: each run reads the whole file)
if [ -n "$small" ]; then
  python3 - "$small" "$TMP" "$LMF" <<'EOF'
import os, random, subprocess, sys
src, tmp, lmf = sys.argv[1:4]
data = bytearray(open(src, 'rb').read())
rng = random.Random(7)
bad = 0
for it in range(60):
    d = bytearray(data)
    for _ in range(rng.choice([1, 4, 32])):
        i = rng.randrange(len(d)) if rng.random() < 0.5 else rng.randrange(min(len(d), 4096))
        d[i] = rng.randrange(256)
    path = os.path.join(tmp, 'flip.lm.bin')
    open(path, 'wb').write(d)
    r = subprocess.run([lmf, 'ngram', 'convert', path, '-o', os.path.join(tmp, 'flip.arpa')],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode not in (0, 1) or (r.returncode == 1 and path.encode() not in r.stderr):
        print('FAIL: byte flips, run %d: exit %d: %s' % (it, r.returncode, r.stderr[:300]), file=sys.stderr)
        bad += 1
sys.exit(1 if bad else 0)
EOF
  [ $? = 0 ] || fail "random byte flips"
fi

if [ $fails != 0 ]; then
  echo "$fails failure(s)"
  exit 1
fi
echo "sphinx trie LMs: all checks passed"
