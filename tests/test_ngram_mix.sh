#!/usr/bin/env bash
# lmfuse ngram mix: static interpolation of back-off models into one ARPA file.
#  1. exactness where the structure allows it: a model mixed with itself has
#     the model's perplexity; with weights 1,0 every n-gram of the first
#     model keeps its probability and the merged model scores every token as
#     the first model does over the union vocabulary;
#  2. two models on different halves of the training text (different
#     vocabularies, orders 3 and 2): the merged model's log-probability
#     equals the dynamic mixture's (an lmfuse recipe, combiner linear, same
#     unk_dub) for every token whose n-gram at its full context is listed,
#     for --dub 0, 5000 and -1; the merged ARPA read by an independent
#     reader (Python, below) sums to 1 over the union vocabulary in sampled
#     contexts and scores every token as lmfuse ppl does; the difference to
#     the dynamic mixture's perplexity is printed;
#  3. IRSTLM's compile-lm reads the merged ARPA and gives lmfuse's perplexity
#     (PP - PPwp, see test_irstlm.sh; skipped without IRSTLM);
#  4. bad input: clear errors naming the file, exit 1 or 2, no output left.
# usage: test_ngram_mix.sh LMFUSE DATA_DIR TMP_DIR
set -u
LMF=$(realpath "$1") DATA=$(realpath "$2") TMP=$3/ngram_mix
rm -rf "$TMP" && mkdir -p "$TMP"
. "$(dirname "$0")/testlib.sh"
# (awk and sed rather than more Python: each interpreter start costs)
ppl_of() { "$LMF" ppl "$1" "$2" --json | sed -n 's/.*"ppl":\([-+.0-9eE]*\).*/\1/p'; }
close() { awk -v a="$1" -v b="$2" -v r="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; m = b < 0 ? -b : b;
  exit !(a != "" && b != "" && d <= r * m) }'; }

# An independent reader of ARPA files and the checks that need one.
cat >"$TMP/arpa.py" <<'EOF'
import sys

def read_arpa(path):
    """{(w1, ..., wn): (log10 p, log10 bow)}, order, words (unigrams except <s>)."""
    ng, order, sec = {}, 0, 0
    for line in open(path, encoding='utf-8'):
        line = line.strip()
        if not line:
            continue
        if line.startswith('ngram '):
            order = max(order, int(line[6:].split('=')[0]))
        elif line.startswith('\\') and line.endswith('-grams:'):
            sec = int(line[1:line.index('-')])
        elif line == '\\end\\':
            break
        elif sec:
            f = line.split()
            ng[tuple(f[1:1 + sec])] = (float(f[0]), float(f[1 + sec]) if len(f) > 1 + sec else 0.0)
    words = [g[0] for g in ng if len(g) == 1 and g[0] != '<s>']
    return ng, order, words

def score(ng, hist, w):
    """log10 p(w | hist) by the ARPA back-off rule (hist: oldest first)."""
    bo = 0.0
    for i in range(len(hist) + 1):
        h = tuple(hist[i:])
        if h + (w,) in ng:
            return bo + ng[h + (w,)][0]
        if h in ng:
            bo += ng[h][1]
    raise KeyError(w)

def tokens(path):
    """[(history (full, oldest first, from <s>), word, log10 p)] from ppl --per-token output."""
    out, hist, line = [], ['<s>'], '1'
    for row in open(path, encoding='utf-8'):
        f = row.rstrip('\n').split('\t')
        if len(f) != 4:
            continue
        if f[0] != line:
            hist, line = ['<s>'], f[0]
        w = '<unk>' if f[3] == '1' else f[1]
        out.append((list(hist), w, float(f[2])))
        hist.append(w)
        if w == '</s>':
            hist = ['<s>']
    return out

def fail(msg):
    print('FAIL: ' + msg, file=sys.stderr)
    sys.exit(1)

cmd = sys.argv[1]
if cmd == 'exact':  # merged.arpa merged.tsv dynamic.tsv: listed full-context tokens agree
    ng, order, _ = read_arpa(sys.argv[2])
    a, b = tokens(sys.argv[3]), tokens(sys.argv[4])
    if len(a) != len(b) or not a:
        fail('token counts differ: %d vs %d' % (len(a), len(b)))
    n = worst = 0
    for (h, w, x), (_, w2, y) in zip(a, b):
        if w != w2:
            fail('token streams differ: %s vs %s' % (w, w2))
        if tuple(h[-(order - 1):] if order > 1 else []) + (w,) in ng:
            n += 1
            worst = max(worst, abs(x - y))
    if n < len(a) // 10 or worst > 2e-5:
        fail('%d of %d tokens listed at full context; largest |log10 p difference| %.2g' % (n, len(a), worst))
    print('  %d of %d tokens listed at their full context: equal to the dynamic mixture (largest difference %.1e)'
          % (n, len(a), worst))
elif cmd == 'norm':  # merged.arpa merged.tsv: sums over U in sampled contexts; lmfuse's scores
    ng, order, words = read_arpa(sys.argv[2])
    toks = tokens(sys.argv[3])
    worst = 0
    for h, w, lp in toks:
        worst = max(worst, abs(score(ng, h[-(order - 1):] if order > 1 else [], w) - lp))
    if worst > 2e-5:
        fail('lmfuse ppl and the Python reader score the merged ARPA differently (by up to %.2g)' % worst)
    ctxs = [['<s>']] + [t[0][-(order - 1):] for t in toks[1::max(1, len(toks) // 12)]]
    ctxs.append(['no-such-word', 'nor-this'][: order - 1])
    bad = []
    for h in ctxs:
        s = sum(10 ** score(ng, h, w) for w in words)
        if abs(s - 1) > 1e-4:
            bad.append('%s: %.6f' % (' '.join(h), s))
    if bad:
        fail('merged model not normalised: ' + '; '.join(bad))
    print('  merged model sums to 1 in %d contexts; the Python reader scores its %d tokens as lmfuse does'
          % (len(ctxs), len(toks)))
elif cmd == 'same':  # x.tsv y.tsv: every token scored alike
    a, b = tokens(sys.argv[2]), tokens(sys.argv[3])
    worst = max(abs(x - y) for (_, _, x), (_, _, y) in zip(a, b)) if a else 1
    if len(a) != len(b) or worst > 2e-5:
        fail('%d and %d tokens; largest |log10 p difference| %.2g' % (len(a), len(b), worst))
    print('  all %d tokens scored alike (largest difference %.1e)' % (len(a), worst))
elif cmd == 'keep':  # a.arpa merged.arpa: weights 1,0 keep a's n-gram probabilities (<unk>: its share)
    a, _, wa = read_arpa(sys.argv[2])
    m, _, wm = read_arpa(sys.argv[3])
    share = __import__('math').log10(len(wm) - len(wa) + 1)
    worst = 0
    for g, (p, _) in a.items():
        if g == ('<s>',):
            continue
        q = m[g][0] + (share if g[-1] == '<unk>' else 0)
        worst = max(worst, abs(p - q))
    if worst > 1e-6:
        fail('weights 1,0: n-gram probabilities of the first model changed by up to %.2g' % worst)
    print('  weights 1,0: all %d n-grams of the first model keep their probabilities' % len(a))
EOF

n=$(wc -l <"$DATA/brown-mini.train.txt")
head -n $((n / 2)) "$DATA/brown-mini.train.txt" >"$TMP/h1.txt"
tail -n $((n - n / 2)) "$DATA/brown-mini.train.txt" >"$TMP/h2.txt"
VALID=$DATA/brown-mini.valid.txt
expect_rc 0 "train a" "$LMF" ngram train -q --order 3 "$TMP/h1.txt" -o "$TMP/a.arpa"
expect_rc 0 "train b" "$LMF" ngram train -q --order 2 "$TMP/h2.txt" -o "$TMP/b.arpa"
expect_rc 0 "train a binary" "$LMF" ngram train -q --order 3 "$TMP/h1.txt" -o "$TMP/a.lmfb"

# 1. exactness
expect_rc 0 "mix a a" "$LMF" ngram mix "$TMP/a.arpa" "$TMP/a.lmfb" --lambda 0.3,0.7 -o "$TMP/aa.arpa"
pa=$(ppl_of "$TMP/a.arpa" "$VALID") paa=$(ppl_of "$TMP/aa.arpa" "$VALID")
close "$paa" "$pa" 1e-4 && echo "a mixed with itself: ppl $paa, a alone $pa" ||
  fail "a mixed with itself: ppl $paa, a alone $pa"
expect_rc 0 "mix 1,0" "$LMF" ngram mix "$TMP/a.arpa" "$TMP/b.arpa" --lambda 1,0 -o "$TMP/a10.arpa"
python3 "$TMP/arpa.py" keep "$TMP/a.arpa" "$TMP/a10.arpa" || fail "weights 1,0 do not keep the first model's n-grams"
# over one vocabulary, weights 1,0 give the first model back, token for token (the back-off
# weights are recomputed: over the union of the lists they come out as the first model's)
expect_rc 0 "train a2" "$LMF" ngram train -q --order 2 "$TMP/h1.txt" -o "$TMP/a2.arpa"
expect_rc 0 "mix a a2" "$LMF" ngram mix "$TMP/a.arpa" "$TMP/a2.arpa" --lambda 1,0 -o "$TMP/aa2.arpa"
"$LMF" ppl "$TMP/a.arpa" "$VALID" --per-token >"$TMP/a.tsv" || fail "ppl a.arpa"
"$LMF" ppl "$TMP/aa2.arpa" "$VALID" --per-token >"$TMP/aa2.tsv" || fail "ppl aa2.arpa"
python3 "$TMP/arpa.py" same "$TMP/a.tsv" "$TMP/aa2.tsv" || fail "a and a2 mixed 1,0 do not score as a"
# with b's vocabulary in the union, a word a lacks has a share of a's p(<unk>|h) wherever a lists
# (h, <unk>), which a back-off model can repeat only for the n-grams it lists: the rest differs
printf '{"combiner":"linear","members":["a.arpa","b.arpa"],"weights":[1,0]}' >"$TMP/a10.json"
echo "  a, b mixed 1,0: ppl merged $(ppl_of "$TMP/a10.arpa" "$VALID"), dynamic $(ppl_of "$TMP/a10.json" "$VALID")"
# the same with the first member binary: the same ARPA, byte for byte
expect_rc 0 "mix binary" "$LMF" ngram mix "$TMP/a.lmfb" "$TMP/b.arpa" --lambda 1,0 -o "$TMP/a10b.arpa"
cmp -s "$TMP/a10.arpa" "$TMP/a10b.arpa" || fail "a binary member gives another ARPA than its ARPA file"

# 2. different vocabularies: agreement with the dynamic mixture where the n-gram is listed
for dub in 0 5000 -1; do
  expect_rc 0 "mix dub $dub" "$LMF" ngram mix "$TMP/a.arpa" "$TMP/b.arpa" --lambda 0.6,0.4 --dub $dub \
    -o "$TMP/ab$dub.arpa" --check "$VALID" --json -q
  cp "$TMP/out" "$TMP/ab$dub.json"
  printf '{"combiner":"linear","members":["a.arpa","b.arpa"],"weights":[0.6,0.4],"unk_dub":%s}' $dub >"$TMP/ab$dub.rcp.json"
  "$LMF" ppl "$TMP/ab$dub.arpa" "$VALID" --per-token >"$TMP/ab$dub.tsv" || fail "ppl merged, dub $dub"
  "$LMF" ppl "$TMP/ab$dub.rcp.json" "$VALID" --per-token >"$TMP/ab$dub.rcp.tsv" || fail "ppl recipe, dub $dub"
  echo "--dub $dub:"
  python3 "$TMP/arpa.py" exact "$TMP/ab$dub.arpa" "$TMP/ab$dub.tsv" "$TMP/ab$dub.rcp.tsv" ||
    fail "dub $dub: merged and dynamic mixture differ on listed n-grams"
  [ $dub = 0 ] && { python3 "$TMP/arpa.py" norm "$TMP/ab$dub.arpa" "$TMP/ab$dub.tsv" || fail "dub 0: normalisation"; }
  pm=$(ppl_of "$TMP/ab$dub.arpa" "$VALID") pd=$(ppl_of "$TMP/ab$dub.rcp.json" "$VALID")
  python3 - "$TMP/ab$dub.json" "$pm" "$pd" <<'EOF' || fail "dub $dub: --check report disagrees with lmfuse ppl ($pm, $pd)"
import json, sys
c = json.load(open(sys.argv[1]))['check']
pm, pd = float(sys.argv[2]), float(sys.argv[3])
ok = abs(c['ppl_merged'] - pm) <= 1e-5 * pm and abs(c['ppl_dynamic'] - pd) <= 1e-5 * pd
print('  ppl merged %.4f, dynamic mixture %.4f (difference %+.4f, %+.2f%%); %d of %d tokens differ by > 1e-4'
      % (pm, pd, pm - pd, 100 * (pm - pd) / pd, c['tokens_differing'], c['tokens']))
sys.exit(not ok)
EOF
done
# three models, and a merged order below the highest (a's trigrams are dropped, its bigrams scored
# by a from one word of context)
expect_rc 0 "mix three" "$LMF" ngram mix "$TMP/a.arpa" "$TMP/b.arpa" "$TMP/a2.arpa" --lambda 5,3,2 -o "$TMP/abc.arpa"
printf '{"combiner":"linear","members":["a.arpa","b.arpa","a2.arpa"],"weights":[0.5,0.3,0.2]}' >"$TMP/abc.json"
"$LMF" ppl "$TMP/abc.arpa" "$VALID" --per-token >"$TMP/abc.tsv" || fail "ppl abc.arpa"
"$LMF" ppl "$TMP/abc.json" "$VALID" --per-token >"$TMP/abc.rcp.tsv" || fail "ppl abc.json"
echo "three models:"
python3 "$TMP/arpa.py" exact "$TMP/abc.arpa" "$TMP/abc.tsv" "$TMP/abc.rcp.tsv" || fail "three models: listed n-grams differ"
expect_rc 0 "mix order 2" "$LMF" ngram mix "$TMP/a.arpa" "$TMP/b.arpa" --order 2 -o "$TMP/ab2.arpa"
grep -q '^ngram 3=' "$TMP/ab2.arpa" && fail "--order 2 wrote trigrams"
"$LMF" ppl "$TMP/ab2.arpa" "$VALID" --per-token >"$TMP/ab2.tsv" || fail "ppl ab2.arpa"
echo "--order 2:"
python3 "$TMP/arpa.py" norm "$TMP/ab2.arpa" "$TMP/ab2.tsv" || fail "--order 2: normalisation"
grep -q '"ngrams":\[' "$TMP/ab0.json" || fail "--json lacks the counts: $(cat "$TMP/ab0.json")"
# the counts written are the counts in \data\ and the lines that follow
python3 - "$TMP/ab0.arpa" <<'EOF' || fail "\\data\\ counts differ from the sections"
import sys, re
txt = open(sys.argv[1]).read()
head = dict((int(a), int(b)) for a, b in re.findall(r'ngram (\d+)=(\d+)', txt))
secs = re.split(r'\\(\d)-grams:\n', txt.split('\\end\\')[0])[1:]
got = {int(secs[i]): len([l for l in secs[i + 1].split('\n') if l.strip()]) for i in range(0, len(secs), 2)}
sys.exit(head != got)
EOF

# 3. IRSTLM reads the merged model and scores it as lmfuse does
if [ -x /usr/lib/irstlm/bin/compile-lm ]; then
  { head -30 "$TMP/h1.txt"; head -30 "$TMP/h2.txt"; } >"$TMP/ev.txt"
  awk '{print "<s> " $0 " </s>"}' "$TMP/ev.txt" >"$TMP/ev.se.txt"
  a=$(/usr/lib/irstlm/bin/compile-lm "$TMP/ab0.arpa" --eval="$TMP/ev.se.txt" 2>&1 | tee "$TMP/irst.log" |
    sed -n 's/.*PP=\([0-9.]*\) PPwp=\([0-9.]*\).*/\1 \2/p' | awk '{printf "%.4f", $1 - $2}')
  b=$(ppl_of "$TMP/ab0.arpa" "$TMP/ev.txt")
  close "$a" "$b" 0.002 && echo "IRSTLM compile-lm on the merged model: $a, lmfuse $b" ||
    fail "IRSTLM compile-lm on the merged model: '$a' vs lmfuse $b (see $TMP/irst.log)"
else
  echo "SKIP: IRSTLM part (no /usr/lib/irstlm/bin/compile-lm; apt-get install irstlm)"
fi

# 4. bad input: clear errors, no output file left
bad() { # expected_rc description expected_stderr args...
  local rc=$1 what=$2 msg=$3; shift 3
  rm -f "$TMP"/bad.arpa*
  expect_rc "$rc" "$what" "$LMF" ngram mix "$@"
  expect_err "$msg"
  ls "$TMP"/bad.arpa* >/dev/null 2>&1 && fail "$what: left $(ls "$TMP"/bad.arpa*)"
}
echo "this is not a language model" >"$TMP/junk.arpa"
bad 1 "missing file" "$TMP/nope.arpa" "$TMP/nope.arpa" "$TMP/a.arpa" -o "$TMP/bad.arpa"
bad 1 "not ARPA" "$TMP/junk.arpa" "$TMP/a.arpa" "$TMP/junk.arpa" -o "$TMP/bad.arpa"
bad 1 "a recipe" "not an n-gram model" "$TMP/a.arpa" "$TMP/ab0.rcp.json" -o "$TMP/bad.arpa"
bad 2 "lambda count" "--lambda has 3 weights for 2 models" "$TMP/a.arpa" "$TMP/b.arpa" --lambda 0.2,0.3,0.5 -o "$TMP/bad.arpa"
bad 2 "lambda negative" "weights must be >= 0" "$TMP/a.arpa" "$TMP/b.arpa" --lambda 1.2,-0.2 -o "$TMP/bad.arpa"
bad 2 "lambda NaN" "--lambda takes finite weights" "$TMP/a.arpa" "$TMP/b.arpa" --lambda nan,0.5 -o "$TMP/bad.arpa"
bad 2 "lambda zero" "all 0" "$TMP/a.arpa" "$TMP/b.arpa" --lambda 0,0 -o "$TMP/bad.arpa"
bad 2 "nothing to mix" "no models to mix" -o "$TMP/bad.arpa"
bad 2 "no output" "missing -o" "$TMP/a.arpa" "$TMP/b.arpa"
bad 1 "order too high" "above the members' highest order 3" "$TMP/a.arpa" "$TMP/b.arpa" --order 4 -o "$TMP/bad.arpa"
bad 1 "missing check text" "$TMP/nope.txt" "$TMP/a.arpa" "$TMP/b.arpa" --check "$TMP/nope.txt" -o "$TMP/bad.arpa"
exit $((fails > 0))
