#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Runs every benchmark side by side with its anchor and prints a Markdown
# table with ratios (also written to build/bench/results.md).
#   bench/run.sh            needs a built default preset (scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
./scripts/build.sh default >/dev/null
b="$root/build/default"
out="$root/build/bench"
rm -rf "$out"
mkdir -p "$out"
chmod 755 "$out"
export DIHYA_STATE_DIR="$out/state" DIHYA_CACHE_DIR="$out/cache" XDG_CONFIG_HOME="$out/config"
export DIHYA_SYSTEM_CONFIG="$out/none.yaml" DIHYA_PLUGIN_PATH="$b/tests/plugins"
unset DIHYA_DATABASE_URL
host="$b/host/dihya-host"
noop="$b/tests/plugins/libnoop.so"

hyperfine -N --warmup 20 --runs 200 --export-json "$out/run.json" \
  -n "dihya-host run noop" "$host run noop -q" \
  -n "dihya-host run noop, state on tmpfs" "env DIHYA_STATE_DIR=/dev/shm/dihya-bench-state $host run noop -q" \
  -n "bare dlopen loader" "$b/bench/bare_loader $noop" \
  -n "python3 -c 'import sys'" "/usr/bin/python3 -c 'import sys'" >/dev/null

mkdir -p "$out/many"
for i in $(seq -w 1 1000); do
  cp "$b/tests/plugins/libecho_params.so" "$out/many/libplugin_$i.so"
done
chmod -R go-w "$out/many"
hyperfine -N --warmup 3 --runs 30 --export-json "$out/list.json" \
  --prepare "rm -f $out/cache/plugin-metadata.json" -n "list 1000, cold cache" "$host --plugin-path $out/many list --json" \
  >/dev/null
"$host" --plugin-path "$out/many" list >/dev/null
hyperfine -N --warmup 3 --runs 30 --export-json "$out/list_warm.json" \
  -n "list 1000, warm cache" "$host --plugin-path $out/many list --json" >/dev/null

"$b/bench/journal_bench" 2000 >"$out/journal.json"
rm -rf /dev/shm/dihya-bench-state

python3 - "$out" <<'PY' | tee "$out/results.md"
import json, sys
out = sys.argv[1]
def means(name):
    return {r["command"]: r for r in json.load(open(f"{out}/{name}.json"))["results"]}
run = means("run")
bare = run["bare dlopen loader"]["mean"]
print("| benchmark | ours | anchor | ratio (ours / anchor) |")
print("|---|---|---|---|")
ours = run["dihya-host run noop"]["mean"]
py = run["python3 -c 'import sys'"]["mean"]
print(f"| run noop (supervised, journalled, audited) vs bare dlopen loader | {ours*1e3:.2f} ms | {bare*1e3:.2f} ms | {ours/bare:.2f}x |")
tmpfs = run["dihya-host run noop, state on tmpfs"]["mean"]
print(f"| run noop, state dir on tmpfs (fsync nearly free) vs bare dlopen loader | {tmpfs*1e3:.2f} ms | {bare*1e3:.2f} ms | {tmpfs/bare:.2f}x |")
print(f"| run noop vs `python3 -c 'import sys'` | {ours*1e3:.2f} ms | {py*1e3:.2f} ms | {ours/py:.2f}x |")
cold = means("list")["list 1000, cold cache"]["mean"]
warm = means("list_warm")["list 1000, warm cache"]["mean"]
print(f"| list of 1000 plugins, cold cache | {cold*1e3:.1f} ms | target 50 ms (warm) | - |")
print(f"| list of 1000 plugins, warm cache | {warm*1e3:.1f} ms | target 50 ms | {warm/0.050:.2f}x of target |")
j = json.load(open(f"{out}/journal.json"))
print(f"| journal append with fdatasync ({j['entries']} entries) | {j['journal_per_s']:.0f} entries/s | {j['bare_per_s']:.0f} writes/s (write+fdatasync) | {j['bare_per_s']/j['journal_per_s']:.2f}x slower |")
PY
