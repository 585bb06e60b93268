#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# generate_project against its anchor, in one run: generating a Flask API
# project with 50 resources (6 typed fields each) with `dihya-host run
# generate_project` (supervised child, audit, journal fsynced before writing)
# and with cookiecutter (Debian's python3-cookiecutter) rendering a comparable
# template (tests/fixtures/generate_project/cookiecutter-flask: the same routes
# and tests, rendered by Jinja loops since cookiecutter cannot write one file
# per resource). Prints a Markdown table with ratios (also $out/results.md).
#   bench/generate_project.sh [BUILD_DIR]     (default: build/default)
# DIHYA_HOST and DIHYA_BUNDLED_PLUGIN_DIR override the binary and plugin dir.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
b=${1:-$root/build/default}
host=${DIHYA_HOST:-$b/host/dihya-host}
plugins=${DIHYA_BUNDLED_PLUGIN_DIR:-$b/plugins}
PY=/usr/bin/python3
if ! "$PY" -c 'import cookiecutter' 2>/dev/null; then
  echo "python3-cookiecutter is not installed (apt-get install -y python3-cookiecutter)" >&2
  exit 2
fi
out=$(mktemp -d /tmp/bench-generate_project.XXXXXX)
chmod 755 "$out"
export DIHYA_STATE_DIR="$out/state" DIHYA_CACHE_DIR="$out/cache" XDG_CONFIG_HOME="$out/config"
export DIHYA_SYSTEM_CONFIG="$out/none.yaml" DIHYA_PLUGIN_PATH="$plugins"
unset DIHYA_DATABASE_URL

# One spec, written for both tools.
cp -r tests/fixtures/generate_project/cookiecutter-flask "$out/cc-template"
"$PY" - "$out" <<'PY'
import json, sys
out = sys.argv[1]
nouns = ("product order customer invoice payment supplier employee task project book author event team "
         "student course vehicle patient doctor store cart review tag comment category article message "
         "ticket device sensor reading shipment warehouse coupon discount refund account profile address "
         "contract meeting room booking lesson exam grade campaign lead deal note photo").split()
plural = lambda n: n[:-1] + "ies" if n.endswith("y") else n + "es" if n.endswith("ss") else n + "s"
assert len(nouns) == 50
fields = [("name", "string", True, "'Sample name'"), ("price", "number", False, "19.5"),
          ("quantity", "integer", False, "42"), ("active", "boolean", False, "True"),
          ("due_date", "date", False, "'2024-01-31'"), ("contact_email", "email", False, "'user@example.com'")]
spec = {"name": "Bench Shop", "description": "50 resources", "stacks": ["flask"],
        "resources": [{"name": plural(n), "fields": [{"name": f, "type": t, "required": r} for f, t, r, _ in fields]}
                      for n in nouns]}
json.dump(spec, open(f"{out}/spec50.json", "w"))
cc = {"project_name": "Bench Shop", "project_slug": "bench-shop", "description": "50 resources",
      "resources": {"list": [{"name": plural(n), "singular": n,
                              "fields": [{"name": f, "type": t, "required": r, "sample": s} for f, t, r, s in fields]}
                             for n in nouns]}}
json.dump(cc, open(f"{out}/cc-template/cookiecutter.json", "w"))
PY

ours=("$host" run generate_project -q -p spec="$out/spec50.json" -p out="$out/ours" -p templates_from=bundled)
dry=("$host" run generate_project -q --dry-run -p spec="$out/spec50.json" -p out="$out/dry" -p templates_from=bundled)
anchor=("$PY" -m cookiecutter --no-input -f -o "$out/cc" "$out/cc-template")
"${ours[@]}" >/dev/null 2>&1
"${anchor[@]}" >/dev/null
files_ours=$(find "$out/ours" -type f | wc -l)
bytes_ours=$(du -sb "$out/ours" | cut -f1)
files_cc=$(find "$out/cc" -type f | wc -l)
bytes_cc=$(du -sb "$out/cc" | cut -f1)

hyperfine -N --warmup 3 --runs 30 --export-json "$out/gen.json" \
  --prepare "rm -rf $out/ours $out/cc" \
  -n ours "${ours[*]}" -n "ours (dry run: parse + render, no write)" "${dry[*]}" -n cookiecutter "${anchor[*]}" \
  >"$out/hyperfine.txt" 2>&1 || { cat "$out/hyperfine.txt"; exit 1; }

"$PY" - "$out" "$files_ours" "$bytes_ours" "$files_cc" "$bytes_cc" <<'PY' | tee "$out/results.md"
import json, sys
out, fo, bo, fc, bc = sys.argv[1:]
r = {x["command"]: x for x in json.load(open(f"{out}/gen.json"))["results"]}
cc = r["cookiecutter"]["mean"]
print("| generate_project benchmark: Flask API, 50 resources x 6 fields (mean of 30) | time | ratio (ours / cookiecutter) |")
print("|---|---:|---:|")
for name in ("ours", "ours (dry run: parse + render, no write)", "cookiecutter"):
    m, s = r[name]["mean"], r[name]["stddev"]
    print(f"| {name} | {m * 1000:.1f} ms ± {s * 1000:.1f} | {m / cc:.2f} |")
print(f"\nours wrote {fo} files ({int(bo) // 1024} KiB on disk); cookiecutter wrote {fc} files ({int(bc) // 1024} KiB).")
PY
echo "(results and raw hyperfine JSON in $out)"
