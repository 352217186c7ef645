#!/usr/bin/env bash
# Fusion from the command line: tune -> recipe -> ppl, nested recipes,
# --members, malformed recipes.
# usage: test_fuse.sh LMFUSE DATA_DIR TMP_DIR
set -u
LMF=$(realpath "$1") DATA=$(realpath "$2") TMP=$3/fuse
rm -rf "$TMP" && mkdir -p "$TMP/models" "$TMP/recipes"
. "$(dirname "$0")/testlib.sh"
ppl_of() { "$LMF" ppl "$1" "$2" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["ppl"])'; }
close() { python3 -c "import sys; a,b=float('$1'),float('$2'); sys.exit(abs(a-b) > $3*abs(b))"; }

for n in 2 3; do
  expect_rc 0 "ngram $n" "$LMF" ngram train -q --order $n "$DATA/brown-mini.train.txt" -o "$TMP/models/m$n.arpa"
done
DEV=$DATA/brown-mini.valid.txt TEST=$DATA/brown-mini.test.txt

# 1. tune writes a recipe whose ppl on the dev text is the one it reports,
#    with member paths relative to the recipe's folder
expect_rc 0 "tune linear" "$LMF" tune --method linear --dev "$DEV" "$TMP/models/m2.arpa" "$TMP/models/m3.arpa" \
  -o "$TMP/recipes/a.json"
grep -q '"\.\./models/m2.arpa"' "$TMP/recipes/a.json" || fail "member path not relative: $(cat "$TMP/recipes/a.json")"
dev_ppl=$(python3 -c "import json; print(json.load(open('$TMP/recipes/a.json'))['tuning']['dev_ppl'])")
close "$(ppl_of "$TMP/recipes/a.json" "$DEV")" "$dev_ppl" 1e-5 || fail "recipe ppl on dev differs from tune's $dev_ppl"
p2=$(ppl_of "$TMP/models/m2.arpa" "$TEST") p3=$(ppl_of "$TMP/models/m3.arpa" "$TEST") pa=$(ppl_of "$TMP/recipes/a.json" "$TEST")
python3 -c "import sys; sys.exit(not ($pa < min($p2, $p3)))" || fail "tuned mixture ($pa) does not beat its members ($p2, $p3)"
# --members reports each member on the same tokens
"$LMF" ppl "$TMP/recipes/a.json" "$TEST" --members --json >"$TMP/mem.json" || fail "ppl --members"
python3 -c "
import json, sys
j = json.load(open('$TMP/mem.json'))
m = [x['ppl'] for x in j['members']]
sys.exit(not (len(m) == 2 and abs(m[0] - $p2) < 1e-4 * $p2 and abs(m[1] - $p3) < 1e-4 * $p3))" ||
  fail "ppl --members: $(cat "$TMP/mem.json")"

# log-linear: Newton's reported dev perplexity is the recipe's, on the
# exact (n-gram) path and on the sampled path (a recipe member)
expect_rc 0 "tune loglinear" "$LMF" tune --method loglinear --dev "$DEV" "$TMP/models/m2.arpa" \
  "$TMP/models/m3.arpa" -o "$TMP/recipes/ll.json" -q
python3 -c "import json,sys; t=json.load(open('$TMP/recipes/ll.json'))['tuning']; sys.exit(not (t['exact'] and t['positions'] == t['dev_tokens']))" ||
  fail "loglinear tuning of n-grams is not exact: $(cat "$TMP/recipes/ll.json")"
dev_ppl=$(python3 -c "import json; print(json.load(open('$TMP/recipes/ll.json'))['tuning']['dev_ppl'])")
close "$(ppl_of "$TMP/recipes/ll.json" "$DEV")" "$dev_ppl" 1e-5 || fail "loglinear recipe ppl on dev differs from tune's $dev_ppl"
expect_rc 0 "tune loglinear, sampled" "$LMF" tune --method loglinear --dev "$DEV" "$TMP/recipes/a.json" \
  "$TMP/models/m3.arpa" -o "$TMP/recipes/ll2.json" -q
python3 -c "import json,sys; t=json.load(open('$TMP/recipes/ll2.json'))['tuning']; sys.exit(t['exact'] or t['positions'] < 1)" ||
  fail "loglinear tuning with a recipe member: $(cat "$TMP/recipes/ll2.json")"

# 2. nesting: a recipe of recipes, three deep, with inline recipes and a cache;
#    weight 1 on a nested recipe reproduces it
cat >"$TMP/recipes/b.json" <<JSON
{"combiner": "linear", "members": ["a.json", {"cache": {"window": 100, "beta": 1}}], "weights": [0.9, 0.1]}
JSON
cat >"$TMP/c.json" <<JSON
{"combiner": "loglinear", "weights": [0.6, 0.5],
 "members": ["recipes/b.json", {"recipe": {"combiner": "max", "members": ["models/m3.arpa", "models/m2.arpa"]}}]}
JSON
cat >"$TMP/one.json" <<JSON
{"combiner": "linear", "members": ["recipes/a.json", "models/m2.arpa"], "weights": [1, 0]}
JSON
pc=$(ppl_of "$TMP/c.json" "$TEST") || fail "three-deep recipe"
python3 -c "import math,sys; sys.exit(not math.isfinite($pc))" || fail "three-deep recipe ppl $pc"
close "$(ppl_of "$TMP/one.json" "$TEST")" "$pa" 1e-6 || fail "weight 1 on a nested recipe does not reproduce it"
expect_rc 0 "tune with a recipe member" "$LMF" tune --method bayes --dev "$DEV" "$TMP/recipes/a.json" \
  "$TMP/models/m2.arpa" -o "$TMP/d.json" -q
grep -q '"share"' "$TMP/d.json" || fail "bayes recipe has no share"

# gate: the trainer's dev perplexity is the recipe's; it records its
# held-out estimate; a damaged gate block is refused
expect_rc 0 "tune gate" "$LMF" tune --method gate --folds 3 --dev "$DEV" "$TMP/models/m2.arpa" \
  "$TMP/models/m3.arpa" -o "$TMP/recipes/gate.json" -q
dev_ppl=$(python3 -c "import json; print(json.load(open('$TMP/recipes/gate.json'))['tuning']['dev_ppl'])")
close "$(ppl_of "$TMP/recipes/gate.json" "$DEV")" "$dev_ppl" 1e-5 || fail "gate recipe ppl on dev differs from tune's $dev_ppl"
python3 -c "import json,sys; t=json.load(open('$TMP/recipes/gate.json'))['tuning']; sys.exit(not (t['folds'] == 3 and t['cv_ppl'] > 0))" ||
  fail "gate tuning record: $(cat "$TMP/recipes/gate.json")"
python3 - "$TMP/recipes/gate.json" "$TMP/recipes/bad_g.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
r["gate"]["A"][1] = r["gate"]["A"][1][:-1]
json.dump(r, open(sys.argv[2], "w"))
PY
expect_rc 1 "gate with a short row" "$LMF" ppl "$TMP/recipes/bad_g.json" "$TEST"
expect_err "A\[1\] must be an array of 10 numbers"
python3 - "$TMP/recipes/gate.json" "$TMP/recipes/old_g.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))  # as an lmfuse with 4 features per member wrote it
g = r["gate"]
for key in ("mean", "sd"): g[key] = [x for i, x in enumerate(g[key]) if i % 5 != 4]
g["A"] = [[x for i, x in enumerate(row) if i % 5 != 4] for row in g["A"]]
json.dump(r, open(sys.argv[2], "w"))
PY
expect_rc 1 "gate from an older lmfuse" "$LMF" ppl "$TMP/recipes/old_g.json" "$TEST"
expect_err "from an older lmfuse: tune it again"

# vote and cascade recipes run; a cascade needs exactly two members
cat >"$TMP/vote.json" <<JSON
{"combiner": "vote", "members": ["models/m2.arpa", "models/m3.arpa"], "weights": [0.4, 0.6], "top_k": 5, "vote_mass": 0.2}
JSON
cat >"$TMP/casc.json" <<JSON
{"combiner": "cascade", "members": ["models/m2.arpa", "models/m3.arpa"], "top_k": 50}
JSON
for r in vote casc; do
  p=$(ppl_of "$TMP/$r.json" "$TEST") || fail "$r recipe"
  python3 -c "import math,sys; sys.exit(not math.isfinite($p))" || fail "$r recipe ppl $p"
done
echo '{"combiner": "cascade", "members": ["models/m2.arpa", "models/m3.arpa", "models/m2.arpa"]}' >"$TMP/bad_c.json"
expect_rc 1 "cascade of three" "$LMF" ppl "$TMP/bad_c.json" "$TEST"
expect_err "exactly two members"
echo '{"combiner": "vote", "members": ["models/m2.arpa"], "vote_mass": 1.5}' >"$TMP/bad_v.json"
expect_rc 1 "vote mass > 1" "$LMF" ppl "$TMP/bad_v.json" "$TEST"
expect_err '"vote_mass" must be a number'

# select: greedy forward selection starts from the best member, each step
# lowers the dev perplexity, the recipe's dev perplexity is the last step's,
# and a duplicate of a chosen member is never added
"$LMF" select --dev "$DEV" "$TMP/models/m2.arpa" "$TMP/models/m3.arpa" "$TMP/models/m3.arpa" \
  -o "$TMP/recipes/sel.json" -q >"$TMP/sel.tsv" || fail "select: $(cat "$TMP/sel.tsv")"
python3 - "$TMP/sel.tsv" "$TMP/recipes/sel.json" "$(ppl_of "$TMP/recipes/sel.json" "$DEV")" \
  "$(ppl_of "$TMP/models/m2.arpa" "$DEV")" "$(ppl_of "$TMP/models/m3.arpa" "$DEV")" <<'PY' || fail "select: $(cat "$TMP/sel.tsv")"
import json, sys
rows = [l.split('\t') for l in open(sys.argv[1]).read().splitlines()[1:]]
steps = [r for r in rows if r[0] != '-']
r = json.load(open(sys.argv[2]))
recipe_ppl, p2, p3 = map(float, sys.argv[3:6])
ppl = [float(s[2]) for s in steps]
first, second = ('m2.arpa', 'm3.arpa') if p2 < p3 else ('m3.arpa', 'm2.arpa')
ok = len(steps) == 2 and steps[0][1].endswith(first) and steps[1][1].endswith(second)
ok = ok and abs(ppl[0] - min(p2, p3)) < 1e-3 and ppl[1] < ppl[0]
ok = ok and abs(recipe_ppl - ppl[-1]) < 1e-5 * ppl[-1] and len(r['members']) == 2
sys.exit(not ok)
PY
expect_rc 2 "select without --dev" "$LMF" select "$TMP/models/m2.arpa" -o "$TMP/x.json"
expect_rc 2 "select --min-gain 2" "$LMF" select --min-gain 2 --dev "$DEV" "$TMP/models/m2.arpa" -o "$TMP/x.json"
expect_rc 1 "select, missing model" "$LMF" select --dev "$DEV" "$TMP/nope.arpa" -o "$TMP/x.json"

# explain: one row per token, responsibilities summing to 1, the fusion's
# ln p matching lmfuse ppl; JSON with the diversity matrices; single models
# refused
head -3 "$TEST" >"$TMP/three.txt"
"$LMF" explain "$TMP/recipes/a.json" "$TMP/three.txt" >"$TMP/ex.tsv" 2>"$TMP/ex.err" || fail "explain: $(cat "$TMP/ex.err")"
python3 - "$TMP/ex.tsv" "$(ppl_of "$TMP/recipes/a.json" "$TMP/three.txt")" <<'PY' || fail "explain TSV: $(head -3 "$TMP/ex.tsv")"
import math, sys
rows = [l.split('\t') for l in open(sys.argv[1]).read().splitlines()]
head, rows = rows[0], rows[1:]
ok = head[:5] == ['line', 'pos', 'word', 'oov', 'lnp'] and len(head) == 9
ok = ok and all(abs(float(r[7]) + float(r[8]) - 1) < 2e-4 for r in rows)
ppl = math.exp(-sum(float(r[4]) for r in rows) / len(rows))
ok = ok and abs(ppl - float(sys.argv[2])) < 1e-4 * ppl and rows[-1][2] == '</s>' and rows[-1][0] == '3'
sys.exit(not ok)
PY
grep -q 'Jensen-Shannon' "$TMP/ex.err" || fail "explain: no diversity summary on stderr"
"$LMF" explain "$TMP/recipes/a.json" "$TMP/three.txt" --json >"$TMP/ex.json" || fail "explain --json"
python3 -c "
import json, sys
j = json.load(open('$TMP/ex.json'))
ok = len(j['members']) == 2 and len(j['js']) == 2 and j['loss_corr'][0][0] == 1 and len(j['tokens']) == j['tokens_total']
sys.exit(not ok)" || fail "explain --json: $(head -c 300 "$TMP/ex.json")"
expect_rc 1 "explain a single model" "$LMF" explain "$TMP/models/m2.arpa" "$TMP/three.txt"
expect_err 'explain needs a fusion recipe'
expect_rc 2 "explain without text" "$LMF" explain "$TMP/recipes/a.json"

# scoring a recipe on its own tuning text warns; other text does not
expect_rc 0 "ppl on the tuning text" "$LMF" ppl "$TMP/recipes/a.json" "$DEV"
expect_err 'was tuned on .*optimistic'
expect_rc 0 "ppl on other text" "$LMF" ppl "$TMP/recipes/a.json" "$TEST"
grep -q 'optimistic' "$TMP/err" && fail "warning on text that was not the tuning text"

# the format the errors point to exists
"$LMF" help recipe | grep -q '"combiner"' || fail "lmfuse help recipe does not describe recipes"

# 3. malformed recipes: clear errors naming the file
printf '{"combiner": "linear",\n "members": ["models/m2.arpa",]\n}\n' >"$TMP/bad1.json"
expect_rc 1 "bad JSON" "$LMF" ppl "$TMP/bad1.json" "$TEST"
expect_err "bad1.json:2: not valid JSON"
echo '{"combiner": "linear", "members": ["models/m2.arpa"], "wieghts": [1]}' >"$TMP/bad2.json"
expect_rc 1 "unknown key" "$LMF" ppl "$TMP/bad2.json" "$TEST"
expect_err 'unknown key "wieghts"'
echo '{"combiner": "linear", "members": ["models/nope.arpa"]}' >"$TMP/bad3.json"
expect_rc 1 "missing member" "$LMF" ppl "$TMP/bad3.json" "$TEST"
expect_err 'bad3.json: recipe.members\[0\] ("models/nope.arpa")'
echo '{"combiner": "linear", "members": ["bad4.json"]}' >"$TMP/bad4.json"
expect_rc 1 "self-including recipe" "$LMF" ppl "$TMP/bad4.json" "$TEST"
expect_err "the recipe includes itself"
echo '{"combiner": "linear", "members": ["models/m2.arpa", "models/m3.arpa"], "weights": [1]}' >"$TMP/bad5.json"
expect_rc 1 "weights count" "$LMF" ppl "$TMP/bad5.json" "$TEST"
expect_err "array of 2 numbers"
echo '{"combiner": "average", "members": ["models/m2.arpa"]}' >"$TMP/bad6.json"
expect_rc 1 "unknown combiner" "$LMF" ppl "$TMP/bad6.json" "$TEST"
expect_err '"combiner" must be one of'
echo '{"combiner": "linear", "members": ["models/m2.arpa", "'"$DATA"'/rnnlm_lstm.safetensors"]}' >"$TMP/bad7.json"
# members over different vocabularies: fused over their union (each member's <unk> shared by the words it lacks)
expect_rc 0 "different vocabularies" "$LMF" ppl "$TMP/bad7.json" "$TEST"
grep -q "ppl=" "$TMP/out" || fail "ppl over a union vocabulary: $(cat "$TMP/out")"
expect_rc 2 "tune without --dev" "$LMF" tune --method linear "$TMP/models/m2.arpa" "$TMP/models/m3.arpa" -o "$TMP/x.json"
expect_rc 2 "tune one model" "$LMF" tune --method linear --dev "$DEV" "$TMP/models/m2.arpa" -o "$TMP/x.json"
expect_rc 1 "tune missing model" "$LMF" tune --method linear --dev "$DEV" "$TMP/models/m2.arpa" "$TMP/nope" -o "$TMP/x.json"
[ -e "$TMP/x.json" ] && fail "a failed tune left an output file"

# 4. generate from a recipe: seeded, reproducible; bad options refused
g1=$("$LMF" generate "$TMP/recipes/a.json" --prompt "The jury" --max-tokens 12 --seed 3) || fail "generate"
g2=$("$LMF" generate "$TMP/recipes/a.json" --prompt "The jury" --max-tokens 12 --seed 3)
[ "$g1" = "$g2" ] || fail "same seed, different text: '$g1' vs '$g2'"
case $g1 in "The jury "*) ;; *) fail "output does not continue the prompt: $g1" ;; esac
"$LMF" generate "$TMP/recipes/a.json" --beam 3 --max-tokens 8 --json >"$TMP/g.json" || fail "beam search"
python3 -c "import json; j=json.load(open('$TMP/g.json')); assert j['generated'] and j['logprob'] < 0" 2>/dev/null ||
  fail "generate --json: $(cat "$TMP/g.json")"
expect_rc 2 "bad temperature" "$LMF" generate "$TMP/recipes/a.json" --temperature 0
expect_rc 2 "bad top-p" "$LMF" generate "$TMP/recipes/a.json" --top-p 1.5

# 5. continuous cache: tune --method cache writes a cache file whose mixture
#    with its model scores what tune reported; the file is a member like any
#    model; bad inputs are named
RTXT=$DATA/rnnlm.txt
python3 -c "
t = open('$RTXT').read().split('\\n')
t = [l for l in t if l.strip()]
print('\\n'.join(t[(i * 5) % len(t)] for i in range(60)))" >"$TMP/rdev.txt"
expect_rc 0 "tune cache" "$LMF" tune --method cache --dev "$TMP/rdev.txt" "$DATA/rnnlm_gru.safetensors" \
  --window 30,100 -o "$TMP/recipes/gru.cache.json" -q
python3 -c "import json,sys; j=json.load(open('$TMP/recipes/gru.cache.json')); sys.exit(not (j['lmfuse'] == 'cache' and j['window'] in (30, 100) and len(j['tuning']['grid']) == 26))" ||
  fail "cache file: $(head -c 400 "$TMP/recipes/gru.cache.json")"
read -r lam mix <<<"$(python3 -c "import json; t=json.load(open('$TMP/recipes/gru.cache.json'))['tuning']; print(t['mixture_weight'], t['dev_ppl_mixture'])")"
python3 -c "
import json
print(json.dumps({'combiner': 'linear', 'members': ['$DATA/rnnlm_gru.safetensors', 'gru.cache.json'], 'weights': [1 - $lam, $lam]}))" >"$TMP/recipes/gc.json"
close "$(ppl_of "$TMP/recipes/gc.json" "$TMP/rdev.txt")" "$mix" 1e-4 || fail "model + cache ppl differs from tune's $mix"
"$LMF" tune --method linear --dev "$TMP/rdev.txt" "$DATA/rnnlm_gru.safetensors" "$TMP/recipes/gru.cache.json" -o "$TMP/recipes/gc2.json" -q ||
  fail "a cache file as a tune member"
expect_rc 2 "tune cache, two models" "$LMF" tune --method cache --dev "$TMP/rdev.txt" "$DATA/rnnlm_gru.safetensors" "$DATA/rnnlm_lstm.safetensors" -o "$TMP/x.json"
expect_rc 1 "tune cache, n-gram" "$LMF" tune --method cache --dev "$DEV" "$TMP/models/m2.arpa" -o "$TMP/x.json"
expect_err "needs a neural model"
expect_rc 2 "tune cache, bad window" "$LMF" tune --method cache --dev "$DEV" "$TMP/models/m2.arpa" --window 10,x -o "$TMP/x.json"
[ -e "$TMP/x.json" ] && fail "a failed tune left an output file"
echo '{"lmfuse": "cache", "model": "'"$DATA"'/rnnlm_gru.safetensors", "window": 100, "theta": 0.5, "flor": 0.1}' >"$TMP/badc1.json"
expect_rc 1 "cache file, unknown key" "$LMF" ppl "$TMP/badc1.json" "$TMP/rdev.txt"
expect_err 'unknown key "flor"'
echo '{"lmfuse": "cache", "model": "'"$TMP"'/models/m2.arpa", "window": 100, "theta": 0.5}' >"$TMP/badc2.json"
expect_rc 1 "cache file over an n-gram" "$LMF" ppl "$TMP/badc2.json" "$DEV"
expect_err "needs a neural model"
echo '{"lmfuse": "cache", "model": "nope.safetensors", "window": 100, "theta": 0.5}' >"$TMP/badc3.json"
expect_rc 1 "cache file, missing model" "$LMF" ppl "$TMP/badc3.json" "$DEV"
expect_err "nope.safetensors"
echo '{"combiner": "linear", "members": ["'"$DATA"'/rnnlm_gru.safetensors", {"cache": {"model": "'"$DATA"'/rnnlm_gru.safetensors", "window": 0, "theta": 1}}]}' >"$TMP/badc4.json"
expect_rc 1 "inline cache, window 0" "$LMF" ppl "$TMP/badc4.json" "$TMP/rdev.txt"
expect_err "window must be 1"

[ $fails = 0 ] && echo "all fusion tests passed"
exit $((fails > 0))
