#!/usr/bin/env bash
# The main job, small: `lmfuse demo --quick` on the shipped Brown sample
# trains its five models, tunes a continuous cache over the two best neural ones,
# tunes the fusions and prints the table; every
# number it reports is reproduced by `lmfuse ppl` from the models and
# recipes it leaves behind; the tuned linear fusion beats every model on
# test, and the best neural model with its cache, which beats that model
# alone; bad invocations fail cleanly.
# usage: test_demo.sh LMFUSE SAMPLE_DIR TMP_DIR [EPOCHS]
set -u
LMF=$(realpath "$1") SAMPLE=$(realpath "$2") TMP=$3/demo EPOCHS=${4:-2}
rm -rf "$TMP" && mkdir -p "$TMP"
. "$(dirname "$0")/testlib.sh"

"$LMF" demo --quick --data "$SAMPLE" --dir "$TMP/run" --epochs "$EPOCHS" --jobs 2 >"$TMP/table.txt" 2>"$TMP/err.txt" ||
  fail "demo --quick failed: $(tail -5 "$TMP/err.txt")"
for row in transformer lstm gru rnn 'KN 5-gram' 'fusion: linear' 'fusion: log-linear' 'fusion: gate' \
  '[a-z]* + its cache'; do
  grep -q "^$row " "$TMP/table.txt" || fail "no table row \"$row\": $(cat "$TMP/table.txt")"
done
[ "$(grep -c '^cache: [a-z]* ' "$TMP/table.txt")" = 2 ] || fail "not two cache rows: $(cat "$TMP/table.txt")"
grep -q '1/5 training' "$TMP/err.txt" && grep -q '5/5 test' "$TMP/err.txt" || fail "no progress on stderr"
# every member's and fusion's test perplexity, recomputed by lmfuse ppl
python3 - "$LMF" "$TMP/run/results.json" <<'PY' || fail "results.json disagrees with lmfuse ppl"
import json, subprocess, sys
lmf, res = sys.argv[1], json.load(open(sys.argv[2]))
def ppl(model, text):
    out = subprocess.run([lmf, "ppl", model, text, "--json"], capture_output=True, text=True, check=True).stdout
    return json.loads(out)["ppl"]
bad = 0
rows = [(m["name"], m["file"], m["test_ppl"]) for m in res["members"]] + \
       [(f["name"], f["recipe"], f["test_ppl"]) for f in res["fusions"]]
for name, path, p in rows:
    q = ppl(path, res["test"])
    if abs(p - q) > 1e-5 * q:
        print(f"{name}: demo says {p}, lmfuse ppl {q}"); bad = 1
# the valid column of exact rows too (the log-linear one is its sampled objective)
for f in res["fusions"]:
    if f["valid_exact"]:
        q = ppl(f["recipe"], res["valid"])
        if abs(f["valid_ppl"] - q) > 1e-4 * q:
            print(f"{f['name']} valid: demo says {f['valid_ppl']}, lmfuse ppl {q}"); bad = 1
models = [m for m in res["members"] if m["kind"] == "model"]
best = min(m["test_ppl"] for m in models)
fus = {f["name"]: f["test_ppl"] for f in res["fusions"]}
if not fus["linear"] < min(best, fus["model+cache"]):
    print(f"linear fusion {fus['linear']} does not beat the best model {best} and the best with its cache"); bad = 1
import os
mc = [f for f in res["fusions"] if f["name"] == "model+cache"][0]
base = os.path.basename(json.load(open(mc["recipe"]))["members"][0])
alone = [m["test_ppl"] for m in models if os.path.basename(m["file"]) == base]
if len(alone) != 1 or not fus["model+cache"] < alone[0]:
    print(f"{base} with its cache {fus['model+cache']} does not beat it alone {alone}"); bad = 1
if len(models) != 5 or len(res["members"]) != 7 or len(res["fusions"]) != 4: bad = 1
sys.exit(bad)
PY
# the recipes record how they were tuned
python3 -c "
import json, sys
for r in ('linear', 'loglinear', 'gate'):
    t = json.load(open('$TMP/run/%s.json' % r))['tuning']
    if t['by'] != 'lmfuse demo' or not t['dev'].endswith('brown.valid.txt'): sys.exit(1)" ||
  fail "recipes lack their tuning record"

# bad invocations
expect_rc 1 "demo, data missing" "$LMF" demo --quick --data "$TMP/nowhere" --dir "$TMP/o2"
expect_err 'brown.train.txt is missing'
expect_rc 2 "demo --jobs 0" "$LMF" demo --jobs 0
expect_rc 2 "demo --epochs x" "$LMF" demo --epochs x
expect_rc 2 "demo, unknown argument" "$LMF" demo --bogus
touch "$TMP/afile"
expect_rc 1 "demo, dir is a file" "$LMF" demo --quick --data "$SAMPLE" --dir "$TMP/afile/sub"
expect_rc 0 "demo --help" "$LMF" demo --help

[ $fails = 0 ] && echo "all demo tests passed"
exit $((fails > 0))
