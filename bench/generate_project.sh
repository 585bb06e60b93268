#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# generate_project against its anchor, in one run: generating a Flask API
# project with 50 resources (6 typed fields each) with `dihya-host run
# generate_project` (supervised child, audit, journal fsynced before writing)
# and with cookiecutter (Debian's python3-cookiecutter) rendering a comparable
# template (tests/fixtures/generate_project/cookiecutter-flask: the same routes
# and tests, rendered by Jinja loops since cookiecutter cannot write one file
# per resource). Prints a Markdown table with ratios (also $out/results.md).
# Then spoken specs: the corpus of tests/fixtures/generate_project/spoken_specs.tsv
# said by espeak-ng, transcribed by generate_project (its spec language model)
# and by the anchor, pocketsphinx_continuous with the general English model (the
# previous audio path); prints the share of fields recovered (tuning and
# held-out specs apart, typed text beside) and the transcription time.
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

# --- spoken specs -----------------------------------------------------------------
for tool in espeak-ng sox pocketsphinx_continuous; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed (scripts/install-deps.sh)" >&2; exit 2; }
done
mkdir -p "$out/speech"
model=/usr/share/pocketsphinx/model/en-us
while IFS=$'\t' read -r id set voice wpm text expected; do
  case "$id" in ''|'#'*) continue ;; esac
  espeak-ng -v "$voice" -s "$wpm" -w "$out/speech/$id.wav" "$text"
  sox "$out/speech/$id.wav" -r 16000 -c 1 -b 16 "$out/speech/$id.16k.wav"
  gen=("$host" run generate_project --dry-run --json -p templates_from=bundled -p out="$out/speech/o")
  s0=$(date +%s%N)
  "${gen[@]}" -p audio="$out/speech/$id.wav" >"$out/speech/$id.audio.json" 2>/dev/null || echo '{}' >"$out/speech/$id.audio.json"
  s1=$(date +%s%N)
  "${gen[@]}" -p text="$text" >"$out/speech/$id.typed.json" 2>/dev/null || echo '{}' >"$out/speech/$id.typed.json"
  s2=$(date +%s%N)
  pocketsphinx_continuous -hmm "$model/en-us" -lm "$model/en-us.lm.bin" -dict "$model/cmudict-en-us.dict" \
    -infile "$out/speech/$id.16k.wav" -logfn /dev/null >"$out/speech/$id.general.txt" 2>/dev/null || true
  s3=$(date +%s%N)
  general=$(tr '\n' ' ' <"$out/speech/$id.general.txt")
  "${gen[@]}" -p text="${general:-nothing}" >"$out/speech/$id.general.json" 2>/dev/null || echo '{}' >"$out/speech/$id.general.json"
  printf '%s\t%s\t%s\t%s\t%s\n' "$id" "$set" "$expected" "$(( (s1 - s0) / 1000000 ))" "$(( (s3 - s2) / 1000000 ))" >>"$out/speech/runs.tsv"
done <tests/fixtures/generate_project/spoken_specs.tsv

"$PY" - "$out/speech" <<'PY' | tee -a "$out/results.md"
import json, sys
d = sys.argv[1]
def fields(path):
    try:
        r = json.load(open(path))["result"]
    except Exception:
        return [""] * 8
    s, f = r["spec"], r["spec"]["features"]
    return [s["name"].lower(), ",".join(s["stacks"]), ",".join(x["name"] for x in s["resources"]), f["auth"],
            f["database"], str(f["docker"]).lower(), str(f["ci"]).lower(), str(f["kubernetes"]).lower()]
score = {}
times, per10, general_per10 = [], [], []
for line in open(f"{d}/runs.tsv"):
    id_, set_, expected, t_ours, t_general = line.rstrip("\n").split("\t")
    want = expected.split("|")
    want[0] = want[0].lower()
    row = score.setdefault(set_, {"audio": 0, "typed": 0, "general": 0, "n": 0})
    for kind in ("audio", "typed", "general"):
        row[kind] += sum(a == b for a, b in zip(fields(f"{d}/{id_}.{kind}.json"), want))
    row["n"] += 8
    r = json.load(open(f"{d}/{id_}.audio.json")).get("result", {}).get("audio", {})
    if r:
        times.append((r["seconds"], r["transcription_seconds"], float(t_ours) / 1000))
        per10.append(r["transcription_seconds"] * 10 / r["seconds"])
        general_per10.append(float(t_general) / 1000 * 10 / r["seconds"])
print("\n| spoken specs (espeak-ng, 5 voices, 130-170 wpm) | fields from audio: ours | anchor: general model | typed text |")
print("|---|---:|---:|---:|")
for set_, label in (("tune", "tuning specs (12)"), ("held", "held-out specs (12)")):
    r = score[set_]
    print(f"| {label} | {r['audio'] / r['n']:.2f} | {r['general'] / r['n']:.2f} | {r['typed'] / r['n']:.2f} |")
longest = max(times)
mean = lambda v: sum(v) / len(v)
print(f"\ntranscription (model loading included), per 10 s of speech: ours {mean(per10):.2f} s, "
      f"anchor {mean(general_per10):.2f} s (ratio {mean(per10) / mean(general_per10):.2f}); "
      f"longest spec: {longest[0]:.1f} s of audio transcribed in {longest[1]:.2f} s ({longest[2]:.2f} s for the whole dry run).")
PY
echo "(results and raw hyperfine JSON in $out)"
