#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# security_audit's secrets scan against secretlint (its recommended preset) and
# against sha256sum over the same files, on generated trees with planted fake
# secrets; prints a Markdown table: wall times, ratios, recall and precision.
#
#   bench/security_audit.sh [SIZE_MB] [SUBSET_SIZES]     default: 100 "10 30"
#
# Each size gets its own tree (tests/fixtures/security_audit/make_tree.py,
# fixed seed, one planted secret per 100 KiB, kinds both tools know, decoys).
# secretlint is installed with npm into $SECRETLINT_DIR (default
# ~/.cache/dihya-bench/secretlint) on first use and run once per size (it takes
# minutes); ours and sha256sum run under hyperfine (1 warm-up, 3 runs) on a
# warm page cache. Recall and precision compare reported (file, line) pairs
# with the planted ones. Then both scan the labelled corpus
# (tests/fixtures/security_audit/secret_corpus.jsonl, one sample per file):
# recall and false-positive rate, ours by rule and both by "any finding".
# Environment: DIHYA_HOST, DIHYA_BUNDLED_PLUGIN_DIR (default: build/default),
# SECRETLINT_TIMEOUT (seconds, default 1800), SECRETLINT_TREES=no to run
# secretlint on the corpus only (the trees take it minutes).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
size=${1:-100}
subsets=${2:-"10 30"}
host=${DIHYA_HOST:-$root/build/default/host/dihya-host}
export DIHYA_PLUGIN_PATH=${DIHYA_BUNDLED_PLUGIN_DIR:-$root/build/default/plugins}
sl_dir=${SECRETLINT_DIR:-$HOME/.cache/dihya-bench/secretlint}
sl_timeout=${SECRETLINT_TIMEOUT:-1800}
py=/usr/bin/python3

work=$(mktemp -d /tmp/dihya-bench-sa.XXXXXX)
trap 'rm -rf "$work"' EXIT
export DIHYA_STATE_DIR="$work/state" DIHYA_CACHE_DIR="$work/cache" XDG_CONFIG_HOME="$work/config"
export DIHYA_SYSTEM_CONFIG="$work/none.yaml"
unset DIHYA_DATABASE_URL

if [ ! -x "$sl_dir/node_modules/.bin/secretlint" ]; then
  mkdir -p "$sl_dir"
  (cd "$sl_dir" && npm init -y >/dev/null && npm install --no-audit --no-fund secretlint @secretlint/secretlint-rule-preset-recommend >/dev/null)
fi
secretlint="$sl_dir/node_modules/.bin/secretlint"
echo '{"rules": [{"id": "@secretlint/secretlint-rule-preset-recommend"}]}' >"$work/secretlintrc.json"

mean() { "$py" -c "import json,sys; print(json.load(open(sys.argv[1]))['results'][0]['mean'])" "$1"; }
cpu() { "$py" -c "import json,sys; r=json.load(open(sys.argv[1]))['results'][0]; print(r['user'] + r['system'])" "$1"; }

rows=()
for mb in $subsets $size; do
  tree="$work/t$mb"
  "$py" "$root/tests/fixtures/security_audit/make_tree.py" "$tree" --manifest "$work/m$mb.jsonl" --size-mb "$mb" \
    --every-kb 100 --kinds common --seed 7
  files=$(find "$tree" -type f | wc -l)
  bytes=$(find "$tree" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
  find "$tree" -type f -print0 | xargs -0 cat >/dev/null  # warm the page cache for every tool

  "$host" run security_audit --json --param path="$tree" --param checks=secrets >"$work/ours$mb.json" 2>/dev/null
  hyperfine -N --warmup 1 --runs 3 --export-json "$work/h-ours$mb.json" \
    "$host run security_audit -q --param path=$tree --param checks=secrets" >/dev/null
  hyperfine --warmup 1 --runs 3 --export-json "$work/h-sha$mb.json" \
    "find $tree -type f -print0 | xargs -0 sha256sum >/dev/null" >/dev/null
  hyperfine --warmup 1 --runs 3 --export-json "$work/h-shap$mb.json" \
    "find $tree -type f -print0 | xargs -0 -n 64 -P $(nproc) sha256sum >/dev/null" >/dev/null

  sl_status=ok
  if [ "${SECRETLINT_TREES:-yes}" = no ]; then
    sl_status=skipped; echo "0 0 0" >"$work/sl$mb.time"; echo "[]" >"$work/sl$mb.json"
  else
  (cd "$tree" && /usr/bin/time -f '%e %U %S' -o "$work/sl$mb.time" timeout "$sl_timeout" "$secretlint" \
    --secretlintrc "$work/secretlintrc.json" --format json --maskSecrets "**/*" >"$work/sl$mb.json" 2>"$work/sl$mb.err") ||
    { rc=$?; [ "$rc" -eq 124 ] && sl_status=timeout; }
  fi
  # The machine may be shared: CPU seconds (user + system) are reported beside wall times.
  read -r sl_time sl_user sl_sys < <(tail -1 "$work/sl$mb.time")
  sl_cpu=$("$py" -c "import sys; print(float(sys.argv[1]) + float(sys.argv[2]))" "$sl_user" "$sl_sys")

  rows+=("$("$py" - "$work" "$mb" "$tree" "$files" "$bytes" "$sl_time" "$sl_status" \
    "$(mean "$work/h-ours$mb.json")" "$(mean "$work/h-sha$mb.json")" "$(mean "$work/h-shap$mb.json")" \
    "$(cpu "$work/h-ours$mb.json")" "$(cpu "$work/h-sha$mb.json")" "$sl_cpu" <<'PYEOF'
import json, os, sys
work, mb, tree, files, nbytes, sl_time, sl_status, ours, sha, shap, ours_cpu, sha_cpu, sl_cpu = sys.argv[1:]
nbytes, sl_time, ours, sha, shap = int(nbytes), float(sl_time), float(ours), float(sha), float(shap)
ours_cpu, sha_cpu, sl_cpu = float(ours_cpu), float(sha_cpu), float(sl_cpu)
planted = {(m["file"], m["line"]) for m in map(json.loads, open(f"{work}/m{mb}.jsonl"))}
def score(found):
    tp = len(found & planted)
    return tp / len(planted), (tp / len(found) if found else 1.0)
ours_found = {(f["path"], f["line"]) for f in json.load(open(f"{work}/ours{mb}.json"))["result"]["findings"]}
sl_found = set()
if sl_status == "ok":
    for f in json.load(open(f"{work}/sl{mb}.json")):
        for m in f["messages"]:
            sl_found.add((os.path.relpath(f["filePath"], tree), m["loc"]["start"]["line"]))
ro, po = score(ours_found)
rs, ps = score(sl_found) if sl_status == "ok" else (float("nan"), float("nan"))
mbs = nbytes / 1e6
print(f"| {mbs:.0f} MB, {files} files, {len(planted)} planted | {ours:.2f} s ({mbs/ours:.0f} MB/s), cpu {ours_cpu:.2f} s | "
      f"{sha:.2f} s ({mbs/sha:.0f} MB/s), cpu {sha_cpu:.2f} s | {shap:.2f} s ({mbs/shap:.0f} MB/s) | {sha/ours:.2f}x / {shap/ours:.2f}x | "
      + (f"{sl_time:.1f} s{'' if sl_status == 'ok' else ' (timeout)'}, cpu {sl_cpu:.1f} s | {sl_time/ours:.0f}x wall, {sl_cpu/ours_cpu:.0f}x cpu | "
         if sl_status != "skipped" else "not run (SECRETLINT_TREES=no) | — | ") +
      f"{ro:.3f} / {po:.3f} | {rs:.3f} / {ps:.3f} |")
PYEOF
)")
  rm -rf "$tree"
done

echo
echo "security_audit secrets scan ($(nproc) CPUs, threads=0 i.e. one per CPU) vs sha256sum and secretlint $("$secretlint" --version)"
echo
echo "| tree | ours | sha256sum (1 process) | sha256sum (-P $(nproc)) | ours throughput vs sha256sum (1 / -P) | secretlint | secretlint / ours | ours recall / precision | secretlint recall / precision |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"

# The labelled corpus: formats the planted trees do not have, and the negatives.
corpus_py="$root/tests/fixtures/security_audit/secret_corpus.py"
corpus="$root/tests/fixtures/security_audit/secret_corpus.jsonl"
"$py" "$corpus_py" materialize "$corpus" "$work/corpus"
"$host" run security_audit --json --param path="$work/corpus" --param checks=secrets >"$work/corpus-ours.json" 2>/dev/null
(cd "$work/corpus" && timeout "$sl_timeout" "$secretlint" --secretlintrc "$work/secretlintrc.json" --format json \
  --maskSecrets "**/*" >"$work/corpus-sl.json" 2>/dev/null) || true
echo
echo "Labelled corpus ($(wc -l <"$corpus") samples): recall / false-positive rate"
echo
"$py" - "$corpus" "$work/corpus-ours.json" "$work/corpus-sl.json" <<'PYEOF'
import json, os, sys
samples = [json.loads(l) for l in open(sys.argv[1])]
ours = {}
for x in json.load(open(sys.argv[2]))["result"]["findings"]:
    ours.setdefault(int(x["path"][1:5]), set()).add(x["id"])
sl = {}
try:
    for f in json.load(open(sys.argv[3])):
        if f["messages"]:
            sl[int(os.path.basename(f["filePath"])[1:5])] = {m["ruleId"] for m in f["messages"]}
except (ValueError, KeyError):
    sl = None
pos = [s for s in samples if s["label"]]
neg = [s for s in samples if not s["label"]]
def rates(hit):
    return (sum(1 for s in pos if hit(s)) / len(pos), sum(1 for s in neg if hit(s)) / len(neg))
print("| scanner | positives (%d formats) | negatives | recall | false-positive rate |" % len({s["label"] for s in pos}))
print("|---|---|---|---|---|")
r, f = rates(lambda s: s["label"] in ours.get(s["id"], set()))
print("| ours, the labelled rule | %d | %d | %.3f | %.3f |" % (len(pos), len(neg), r, f))
r, f = rates(lambda s: bool(ours.get(s["id"])))
print("| ours, any finding | %d | %d | %.3f | %.3f |" % (len(pos), len(neg), r, f))
if sl is not None:
    r, f = rates(lambda s: bool(sl.get(s["id"])))
    print("| secretlint (recommended preset), any finding | %d | %d | %.3f | %.3f |" % (len(pos), len(neg), r, f))
PYEOF
