#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# security_audit against real files, a real PostgreSQL cluster and a real OSV
# file: planted fake secrets are all found and never printed, decoys are not
# reported, each permission and PostgreSQL misconfiguration is reported once
# made and not before, SARIF validates against the official 2.1.0 schema,
# fail_on sets the exit code, baselines and allow lists suppress.
source "$(dirname "$0")/lib.sh"
export DIHYA_PLUGIN_PATH="$DIHYA_BUNDLED_PLUGIN_DIR"
: "${DIHYA_SOURCE_DIR:?set by CTest}"
: "${DB_URL:?needs the test PostgreSQL cluster (DIHYA_TEST_PG_DIR)}"

PY=/usr/bin/python3
FIX="$DIHYA_SOURCE_DIR/tests/fixtures/security_audit"
# The manifest holds the planted values: it lives beside, never inside, what is checked for leaks.
MANIFEST="$WORK/manifest.jsonl"
CAPTURE="$WORK/capture"   # every stdout/stderr of every run, checked for leaks at the end
REPORTS="$WORK/reports"
mkdir -p "$CAPTURE" "$REPORTS"
runs=0
keep() { runs=$((runs + 1)); cp "$OUT" "$CAPTURE/$runs.out"; cp "$ERR" "$CAPTURE/$runs.err"; }
audit() { dh run security_audit "$@"; }

R="sa_$$"
cleanup() {
  psql -X -q "$base_url" -c "drop database if exists $DB_NAME with (force)" >/dev/null 2>&1 || true
  for role in super cr nopw md5 app; do psql -X -q "$base_url" -c "drop role if exists ${R}_$role" >/dev/null 2>&1 || true; done
  rm -rf "$WORK" "$HOST_DIRS"
}
trap cleanup EXIT

# json_check FILE PYTHON-EXPR DESCRIPTION: the expression sees `r` (the run
# record's result) and `f` (its findings) and prints "ok" or what is wrong.
json_check() {
  local got
  got=$("$PY" - "$1" "$2" <<'PYEOF' 2>&1
import json, sys
r = json.load(open(sys.argv[1]))["result"]
f = r.get("findings", [])
ids = [x["id"] for x in f]
print(eval(sys.argv[2]))
PYEOF
) || true
  expect_eq "$got" "ok" "$3"
}

# --- secrets -----------------------------------------------------------------
TREE="$WORK/tree"
"$PY" "$FIX/make_tree.py" "$TREE" --manifest "$MANIFEST" --size-mb 0.4 --every-kb 6 --seed "$$"
planted=$(wc -l <"$MANIFEST")

expect_exit 0 "secrets: scan of the planted tree" -- audit --json --param path="$TREE" --param checks=secrets
keep
cp "$OUT" "$WORK/secrets.json"
got=$("$PY" - "$WORK/secrets.json" "$MANIFEST" <<'PYEOF'
import json, sys
found = json.load(open(sys.argv[1]))["result"]["findings"]
planted = [json.loads(l) for l in open(sys.argv[2])]
at = {(x["path"], x["line"]): x for x in found}
problems = []
for p in planted:
    x = at.get((p["file"], p["line"]))
    if x is None:
        problems.append("missed %s at %s:%d" % (p["kind"], p["file"], p["line"]))
    elif x["id"] != p["kind"].split("#")[0]:
        problems.append("%s:%d reported as %s, planted %s" % (p["file"], p["line"], x["id"], p["kind"]))
spots = {(p["file"], p["line"]) for p in planted}
for x in found:
    if (x["path"], x["line"]) not in spots:
        problems.append("false positive %s at %s" % (x["id"], x["location"]))
kinds = {p["kind"] for p in planted}
print("ok" if not problems and len(kinds) >= 20 else "; ".join(problems[:8]) or "only %d kinds" % len(kinds))
PYEOF
)
expect_eq "$got" "ok" "secrets: each of the $planted planted secrets found with its rule, no false positive"
json_check "$WORK/secrets.json" "'ok' if not [x for x in f if x['path'].startswith('decoys/')] else 'decoy reported'" \
  "secrets: no decoy (placeholders, \${VAR}, example keys, UUIDs, integrity hashes, changeme) reported"
json_check "$WORK/secrets.json" "'ok' if all(len(x['fingerprint']) == 64 and '\u2026(' in x['evidence'] for x in f) else 'bad evidence'" \
  "secrets: evidence masked as first 4 chars + length, sha256 fingerprints"

expect_exit 0 "secrets: one thread" -- audit --json --param path="$TREE" --param checks=secrets --param threads=1
keep
got=$("$PY" -c "import json,sys; a,b=(sorted(x['fingerprint'] for x in json.load(open(p))['result']['findings']) for p in sys.argv[1:]); print('ok' if a == b else 'differ')" "$WORK/secrets.json" "$OUT")
expect_eq "$got" "ok" "secrets: threads=1 finds exactly what the parallel scan finds"

expect_exit 0 "secrets: text report" -- audit --param path="$TREE" --param checks=secrets
keep
expect_in "$OUT" "SEVERITY" "secrets: text report is a table"
expect_in "$OUT" "AKIA…(20 chars)" "secrets: text report shows the masked AWS key"

# Binary files, size limit, symlinks out of the tree.
EDGE="$WORK/edge"
mkdir -p "$EDGE" "$WORK/outside"
# A random token; its value is also listed in $WORK/extra.jsonl for the leak check at the end.
tok() {
  # Drawn again while the value holds one of the scanner's placeholder words
  # ("test", "fake", "xxxx"...: one random token in a few hundred does) or an
  # ascending run: such a value is rightly not reported, and would make the
  # expectations below fail at random.
  "$PY" -c "
import json, random, sys
r = random.SystemRandom()
stop = ('example', 'xxxx', 'changeme', 'change_me', 'change-me', 'dummy', 'sample', 'placeholder', 'your', 'password',
        'test', 'fake', 'redacted', 'replace', 'insert', 'notasecret', 'not-a-secret', 'secret_here', 'getenv', 'environ')
def ascending(v):
    run = 1
    for a, b in zip(v, v[1:]):
        run = run + 1 if ord(b) == ord(a) + 1 else 1
        if run >= 6: return True
    return False
while True:
    v = '$1' + ''.join(r.choice('$2') for _ in range($3))
    if not any(w in v.lower() for w in stop) and not ascending(v): break
print(v)
print(json.dumps({'value': v}), file=open(sys.argv[1], 'a'))" "$WORK/extra.jsonl"
}
echo "gh_token = $(tok ghp_ ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 36)" >"$WORK/outside/secret.txt"
ln -s "$WORK/outside/secret.txt" "$EDGE/link.txt"
ln -s "$WORK/outside" "$EDGE/linkdir"
{ printf 'bin\0ary\n'; echo "k = $(tok ghp_ ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 36)"; } >"$EDGE/blob.bin"
{ head -c 3000 /dev/zero | tr '\0' 'a'; echo; echo "k = $(tok ghp_ ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 36)"; } >"$EDGE/big.txt"
echo "k = $(tok npm_ ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 36)" >"$EDGE/small.txt"
expect_exit 0 "secrets: edge tree" -- audit --json --param path="$EDGE" --param checks=secrets --param max_file_size=2000
keep
json_check "$OUT" "'ok' if ids == ['npm-token'] and r['scanned']['skipped_binary'] == 1 and r['scanned']['skipped_large'] == 1 else (ids, r['scanned'])" \
  "secrets: binary file and file over max_file_size skipped, symlinks out of the tree not followed"

BAD="$WORK/badname"
mkdir -p "$BAD"
echo "k = $(tok npm_ ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 36)" >"$BAD/bad"$'\xff'"name.txt"
expect_exit 0 "secrets: a file name that is not UTF-8" -- audit --json --param path="$BAD" --param checks=secrets,permissions
keep
json_check "$OUT" "'ok' if [x['path'] for x in f if x['id'] == 'npm-token'] == ['bad\\\\xffname.txt'] else [x['path'] for x in f]" \
  "secrets: a non-UTF-8 file name is reported with its bad byte escaped"

# Empty files, alone or among others, in one thread or several: an empty file
# holds nothing (it once crashed the scan: a null buffer for vectorscan, and the
# exception it threw ended the process from a worker thread).
EMPTY="$WORK/empty"
mkdir -p "$EMPTY/sub" "$WORK/one-empty"
touch "$EMPTY/a.txt" "$EMPTY/b.txt" "$EMPTY/sub/c.cfg" "$WORK/one-empty/x.txt"
echo hello >"$EMPTY/c.txt"
echo "k = $(tok npm_ ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 36)" >"$EMPTY/sub/d.env"
expect_exit 0 "empty files: secrets and permissions, text" -- audit --param path="$EMPTY" --param checks=secrets,permissions --param threads=4
keep
expect_in "$OUT" "npm-token" "empty files: the token beside them is reported"
for threads in 1 4; do
  expect_exit 0 "empty files: secrets, $threads thread(s)" -- audit --json --param path="$EMPTY" --param checks=secrets --param threads=$threads
  keep
  json_check "$OUT" "'ok' if ids == ['npm-token'] and f[0]['path'] == 'sub/d.env' and r['scanned']['files'] == 5 and r['scanned']['bytes'] == 6 + $(wc -c <"$EMPTY/sub/d.env") and not r['notes'] else (ids, r['scanned'], r['notes'])" \
    "empty files ($threads thread(s)): scanned as nothing, counted, the one token found"
done
expect_exit 0 "empty files: a tree of one empty file" -- audit --json --param path="$WORK/one-empty" --param checks=secrets
keep
json_check "$OUT" "'ok' if not f and r['scanned']['files'] == 1 and r['scanned']['bytes'] == 0 else (ids, r['scanned'])" \
  "empty files: a lone empty file scans cleanly"
# procfs files say their size is 0 and have content: read to their end.
expect_exit 0 "procfs: /proc/self" -- audit --json --param path=/proc/self --param checks=secrets
keep
json_check "$OUT" "'ok' if r['scanned']['files'] > 10 and r['scanned']['bytes'] > 0 else r['scanned']" \
  "procfs: /proc/self scanned without a crash, its zero-size files read to their end"

# The labelled corpus (tests/fixtures/security_audit/secret_corpus.jsonl: generated
# tokens of every format, public rule fixtures, look-alikes, placeholders, hashes,
# UUIDs, base64 blobs, code, URLs without a secret), one sample per file.
CORPUS="$WORK/corpus"
"$PY" "$FIX/secret_corpus.py" materialize "$FIX/secret_corpus.jsonl" "$CORPUS"
expect_exit 0 "corpus: scan of the labelled corpus" -- audit --json --param path="$CORPUS" --param checks=secrets
keep
cp "$OUT" "$WORK/corpus.json"
score=$("$PY" "$FIX/secret_corpus.py" score "$FIX/secret_corpus.jsonl" "$WORK/corpus.json")
echo "     corpus: $score"
got=$("$PY" -c "import json,sys; s=json.loads(sys.argv[1]); print('ok' if s['recall'] >= 0.90 and s['false_positive_rate'] <= 0.05 and s['formats'] >= 100 and s['negatives'] >= 300 else s)" "$score")
expect_eq "$got" "ok" "corpus: recall >= 0.90 and false-positive rate <= 0.05 over >= 100 formats and >= 300 negatives"
got=$("$PY" -c "import json,sys; s=json.loads(sys.argv[1]); print('ok' if not s['also_reported_as'] else s['also_reported_as'])" "$score")
expect_eq "$got" "ok" "corpus: no secret is reported twice under two rules"
# The formats the issue named, each found on every one of its samples.
got=$("$PY" - "$FIX/secret_corpus.jsonl" "$WORK/corpus.json" <<'PYEOF'
import json, sys
samples = [json.loads(l) for l in open(sys.argv[1])]
found = {}
for x in json.load(open(sys.argv[2]))["result"]["findings"]:
    found.setdefault(int(x["path"][1:5]), set()).add(x["id"])
named = ["tailscale-key", "grafana-token", "huggingface-token", "databricks-api-token", "docker-hub-token", "figma-token",
         "notion-token", "vercel-token", "1password-secret-key", "1password-service-account-token", "secp256k1-private-key",
         "github-app-installation-token", "slack-app-token", "shopify-token", "hashicorp-vault-batch-token",
         "dsn-default-credentials"]
missed = sorted({s["label"] for s in samples if s["label"] in named and s["label"] not in found.get(s["id"], set())})
absent = [n for n in named if not any(s["label"] == n for s in samples)]
print("ok" if not missed and not absent else {"missed": missed, "absent": absent})
PYEOF
)
expect_eq "$got" "ok" "corpus: Tailscale, Grafana, Hugging Face, Databricks, Docker, Figma, Notion, Vercel, 1Password, secp256k1, ghs_+JWT, xapp-, Shopify base62, hvb. and default DSN credentials all found"

# Weak default credentials: one rule, every scheme; a strong password keeps its own rule.
DSN="$WORK/dsn"
mkdir -p "$DSN"
for u in postgres://postgres:postgres@db/app mysql://mysql:mysql@db/app mongodb://admin:admin@db/app \
         redis://default:redis@cache:6379 amqp://guest:guest@mq:5672/ mysql://root:root@127.0.0.1/x; do
  echo "URL=$u" >>"$DSN/weak.env"
done
echo "URL=mysql://shop:$(tok '' ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 18)@db/shop" >"$DSN/strong.env"
echo "URL=postgres://user:password@localhost/app" >"$DSN/doc.env"
expect_exit 0 "dsn: default credentials" -- audit --json --param path="$DSN" --param checks=secrets
keep
json_check "$OUT" "'ok' if sorted((x['path'], x['id']) for x in f) == sorted([('weak.env', 'dsn-default-credentials')] * 6 + [('strong.env', 'dsn-password')]) and all(x['severity'] == 'critical' for x in f if x['path'] == 'weak.env') else sorted((x['path'], x['line'], x['id']) for x in f)" \
  "dsn: postgres, mysql, mongodb, redis, amqp default credentials each reported once by one rule; a strong password as dsn-password; a documentation placeholder not at all"

# The committed corpus holds every token cut in two: scanning the fixtures finds nothing.
expect_exit 0 "corpus: the committed fixture files" -- audit --json --param path="$FIX" --param checks=secrets
keep
json_check "$OUT" "'ok' if not f and r['scanned']['files'] >= 4 else [(x['path'], x['id']) for x in f]" \
  "corpus: the repository's fixture files themselves hold nothing a scan reports"

# The .gitignore subset: *, **, ?, leading /, trailing /, ! negation; plus .dihyaignore and exclude.
IGN="$WORK/ign"
mkdir -p "$IGN/sub/deep" "$IGN/docs" "$IGN/keepdir"
for f in a.py keep.py b.txt sub/c.txt sub/deep/d.txt docs/e1.md docs/e22.md keepdir/f.cfg top.cfg; do
  echo "k = $(tok npm_ ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 36)" >"$IGN/$f"
done
printf '*.py\n!keep.py\n/b.txt\nsub/\ndocs/e?.md\n' >"$IGN/.gitignore"
printf '**/*.cfg\n!keepdir/**\n' >"$IGN/.dihyaignore"
expect_exit 0 "ignore: scan with .gitignore and .dihyaignore" -- audit --json --param path="$IGN" --param checks=secrets
keep
json_check "$OUT" "'ok' if sorted(x['path'] for x in f) == ['docs/e22.md', 'keep.py', 'keepdir/f.cfg'] else sorted(x['path'] for x in f)" \
  "ignore: *, ?, leading /, trailing /, ** and ! negation select exactly the expected files"
expect_exit 0 "ignore: exclude param" -- audit --json --param path="$IGN" --param checks=secrets --param exclude=keep.py,docs/
keep
json_check "$OUT" "'ok' if sorted(x['path'] for x in f) == ['keepdir/f.cfg'] else sorted(x['path'] for x in f)" \
  "ignore: exclude adds to the ignore files"
expect_exit 0 "ignore: gitignore=false" -- audit --json --param path="$IGN" --param checks=secrets --param gitignore=false
keep
json_check "$OUT" "'ok' if len(f) == 9 else len(f)" "ignore: gitignore=false scans every file"

# --- output: SARIF, JSON file, fail_on -----------------------------------------
expect_exit 0 "sarif: written" -- audit --param path="$TREE" --param format=sarif --param output="$REPORTS/audit.sarif"
keep
got=$("$PY" - "$FIX/sarif-schema-2.1.0.json" "$REPORTS/audit.sarif" "$WORK/secrets.json" <<'PYEOF' 2>&1
import json, sys
try:
    import jsonschema
except ImportError:
    print("python3-jsonschema is not installed: apt-get install python3-jsonschema"); sys.exit()
schema = json.load(open(sys.argv[1])); doc = json.load(open(sys.argv[2]))
errors = sorted(jsonschema.Draft4Validator(schema).iter_errors(doc), key=lambda e: list(e.path))
if errors:
    print("schema: %s at %s" % (errors[0].message[:200], list(errors[0].path))); sys.exit()
run = doc["runs"][0]; results = run["results"]; rules = {r["id"] for r in run["tool"]["driver"]["rules"]}
secrets = json.load(open(sys.argv[3]))["result"]["findings"]
problems = []
sec = [r for r in results if r["properties"]["check"] == "secrets"]
if len(sec) != len(secrets): problems.append("%d secret results, %d findings" % (len(sec), len(secrets)))
for r in sec:
    loc = r["locations"][0]["physicalLocation"]
    if loc["artifactLocation"]["uri"].startswith("/"): problems.append("absolute uri")
    if loc["region"]["startLine"] < 1 or loc["region"]["startColumn"] < 1: problems.append("bad region")
    if r["ruleId"] not in rules: problems.append("rule %s not in driver" % r["ruleId"])
    if len(r["partialFingerprints"]["dihyaFingerprint/v1"]) != 64: problems.append("fingerprint")
print("ok" if not problems else problems[:5])
PYEOF
)
expect_eq "$got" "ok" "sarif: validates against the SARIF 2.1.0 schema; relative URIs, regions, rules, fingerprints"

expect_exit 0 "json: report file in the run's output dir" -- audit --param path="$EDGE" --param checks=secrets --param format=json --param max_file_size=2000
keep
json_file=$(find "$DIHYA_STATE_DIR" -name security_audit.json | head -1)
expect_eq "$("$PY" -c "import json,sys; print(len(json.load(open(sys.argv[1]))['findings']))" "$json_file")" "1" \
  "json: report file written atomically in the output dir with the findings"
expect_exit 0 "dry run writes no report" -- audit --dry-run --param path="$EDGE" --param checks=secrets --param format=sarif --param output="$REPORTS/dry.sarif"
keep
expect_eq "$(test -e "$REPORTS/dry.sarif" && echo written || echo absent)" "absent" "dry run: no report file"

expect_exit 1 "fail_on=high fails the run on high findings" -- audit --param path="$TREE" --param checks=secrets --param fail_on=high
keep
expect_in "$ERR" "fail_on=high" "fail_on: summary names the threshold"
expect_exit 0 "fail_on=critical passes when the worst finding is high" -- audit --param path="$EDGE" --param checks=secrets --param fail_on=critical
keep
expect_exit 1 "fail_on=high fails on the npm token" -- audit --param path="$EDGE" --param checks=secrets --param fail_on=high
keep

# --- baseline and allow list ----------------------------------------------------
expect_exit 0 "baseline: write" -- audit --param path="$TREE" --param checks=secrets --param mode=baseline --param baseline="$REPORTS/baseline.json"
keep
expect_eq "$("$PY" -c "import json,sys; print(len(json.load(open(sys.argv[1]))['findings']))" "$REPORTS/baseline.json")" "$planted" \
  "baseline: holds one fingerprint per finding"
expect_exit 0 "baseline: scan with it" -- audit --json --param path="$TREE" --param checks=secrets --param baseline="$REPORTS/baseline.json" --param fail_on=low
keep
json_check "$OUT" "'ok' if not f and r['suppressed']['baseline'] == $planted else (len(f), r['suppressed'])" \
  "baseline: every known finding suppressed, fail_on sees none"
echo "stripe.api_key = \"$(tok sk_live_ ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 32)\"" >>"$TREE/decoys/decoy00.py"
expect_exit 0 "baseline: a new secret" -- audit --json --param path="$TREE" --param checks=secrets --param baseline="$REPORTS/baseline.json"
keep
json_check "$OUT" "'ok' if ids == ['stripe-secret-key'] else ids" "baseline: only the new secret is reported"
fp=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['result']['findings'][0]['fingerprint'])" "$OUT")
expect_exit 0 "allow: by fingerprint" -- audit --json --param path="$TREE" --param checks=secrets --param baseline="$REPORTS/baseline.json" --param "allow=[{\"fingerprint\":\"$fp\"}]"
keep
json_check "$OUT" "'ok' if not f and r['suppressed']['allow'] == 1 else ids" "allow: a fingerprint suppresses its finding"
expect_exit 0 "allow: by rule and path glob" -- audit --json --param path="$TREE" --param checks=secrets --param 'allow=[{"rule":"aws-access-key-id"},{"path":"src/mod000/file0000[0-3].*"}]'
keep
json_check "$OUT" "'ok' if 'aws-access-key-id' not in ids and not [x for x in f if x['path'][:20] in ('src/mod000/file00000', 'src/mod000/file00001', 'src/mod000/file00002', 'src/mod000/file00003')] and r['suppressed']['allow'] > 0 else ids" \
  "allow: a rule and a path glob suppress their findings"

# A real key's random base64 may hold a stop word ("test", "fake") by chance: still a key.
K="$WORK/stopword-key"
mkdir -p "$K"
{ echo "-----BEGIN ""RSA PRIVATE KEY-----"; head -c 300 /dev/urandom | base64 -w 64; echo "TeStFaKe$(head -c 240 /dev/urandom | base64 -w 0 | head -c 56)"; echo "-----END ""RSA PRIVATE KEY-----"; } >"$K/id_rsa"
{ echo "-----BEGIN ""RSA PRIVATE KEY-----"; echo "MIIEpAIBAAKCAQEA..."; echo "-----END ""RSA PRIVATE KEY-----"; } >"$K/doc.md"
expect_exit 0 "secrets: keys with stop words" -- audit --json --param path="$K" --param checks=secrets
keep
json_check "$OUT" "'ok' if sorted((x['path'], x['id']) for x in f) == [('id_rsa', 'private-key')] else [(x['path'], x['id']) for x in f]" \
  "secrets: a key whose random body holds 'TeSt' is found; a documentation key with '...' is not"

# --- where reports and baselines may be written ------------------------------------
# A read-only audit destroys nothing it did not make: it writes nothing inside
# the tree it audits, and replaces an existing file only when it is its own
# earlier report (output) or baseline (baseline).
W="$WORK/wtree"
DATA="$WORK/data"
mkdir -p "$W" "$DATA"
echo "DB_HOST=db" >"$W/app.env"; chmod 644 "$W/app.env"
echo "keep me" >"$DATA/important.txt"
echo '{"findings": []}' >"$DATA/other.json"
ln -s "$DATA/important.txt" "$DATA/link.sarif"
untouched() { sha256sum "$W/app.env" "$DATA/important.txt" "$DATA/other.json"; ls -l "$DATA/link.sarif" | sed 's/.* -> //'; }
before=$(untouched)
expect_exit 2 "output: an existing file that is no report" -- audit --param path="$W" --param checks=secrets --param format=json --param output="$DATA/important.txt"
keep; expect_one_line_error "output over a file that is no report"
expect_in "$ERR" "$DATA/important.txt exists and is not a security_audit report" "output: the refusal names the file"
expect_exit 2 "output: a JSON file that is not our report" -- audit --param path="$W" --param checks=secrets --param format=json --param output="$DATA/other.json"
keep
expect_exit 2 "output: a symbolic link" -- audit --param path="$W" --param checks=secrets --param format=sarif --param output="$DATA/link.sarif"
keep
expect_exit 2 "output: a file of the audited tree" -- audit --param path="$W" --param checks=secrets --param output="$W/app.env"
keep; expect_one_line_error "output inside the audited tree"
expect_in "$ERR" "inside the audited tree" "output: the refusal says why"
expect_exit 2 "output: a file of the audited tree, dry run" -- audit --dry-run --param path="$W" --param checks=secrets --param output="$W/app.env"
keep
expect_exit 2 "output: a new file inside the audited tree" -- audit --param path="$W" --param checks=secrets --param format=sarif --param output="$W/audit.sarif"
keep
expect_exit 2 "baseline: an existing file that is no baseline" -- audit --param path="$W" --param checks=secrets --param mode=baseline --param baseline="$DATA/important.txt"
keep; expect_one_line_error "baseline over a file that is no baseline"
expect_exit 2 "baseline: inside the audited tree" -- audit --param path="$W" --param checks=secrets --param mode=baseline --param baseline="$W/.secrets.baseline"
keep
expect_exit 2 "baseline: inside the audited tree, dry run" -- audit --dry-run --param path="$W" --param checks=secrets --param mode=baseline --param baseline="$W/.secrets.baseline"
keep
expect_eq "$(untouched)" "$before" "refused: the audited file, the foreign files and the symlink are unchanged"
expect_eq "$(ls -A "$W")" "app.env" "refused: nothing written inside the audited tree"

# Scheduled audits rewrite the same report and baseline paths run after run.
inode() { stat -c %i "$1"; }
for fmt in sarif json text; do
  expect_exit 0 "output: first $fmt report" -- audit --param path="$W" --param checks=secrets,permissions --param format=$fmt --param output="$DATA/sched.$fmt"
  keep
  first=$(inode "$DATA/sched.$fmt")
  expect_exit 0 "output: the same $fmt report path again" -- audit --param path="$W" --param checks=secrets,permissions --param format=$fmt --param output="$DATA/sched.$fmt"
  keep
  expect_eq "$([ "$(inode "$DATA/sched.$fmt")" != "$first" ] && echo replaced || echo same)" "replaced" "output: our own $fmt report replaced"
  expect_in "$DATA/sched.$fmt" "perm-secret-config-readable" "output: the $fmt report holds the new findings"
done
expect_exit 0 "output: a JSON report over our SARIF report" -- audit --param path="$W" --param checks=permissions --param format=json --param output="$DATA/sched.sarif"
keep
"$PY" -c "import json; json.dump({'checks': [], 'findings': [], 'counts': {}, 'suppressed': {}, 'scanned': {}}, open('$DATA/old.json', 'w'))"
expect_exit 0 "output: a JSON report written before the tool field" -- audit --param path="$W" --param checks=permissions --param format=json --param output="$DATA/old.json"
keep
expect_exit 0 "baseline: first" -- audit --param path="$W" --param checks=permissions --param mode=baseline --param baseline="$DATA/sched.baseline"
keep
first=$(inode "$DATA/sched.baseline")
expect_exit 0 "baseline: the same path again" -- audit --param path="$W" --param checks=permissions --param mode=baseline --param baseline="$DATA/sched.baseline"
keep
expect_eq "$([ "$(inode "$DATA/sched.baseline")" != "$first" ] && echo replaced || echo same)" "replaced" "baseline: our own baseline replaced"
before=$(sha256sum "$DATA/sched.baseline" "$DATA/sched.json")
expect_exit 2 "output: a report over our baseline" -- audit --param path="$W" --param checks=permissions --param format=json --param output="$DATA/sched.baseline"
keep
expect_in "$ERR" "is a security_audit baseline, not a report" "output: a baseline is never replaced by a report"
expect_exit 2 "baseline: a baseline over our report" -- audit --param path="$W" --param checks=permissions --param mode=baseline --param baseline="$DATA/sched.json"
keep
expect_eq "$(sha256sum "$DATA/sched.baseline" "$DATA/sched.json")" "$before" "refused: the baseline and the report are unchanged"

# --- permissions ------------------------------------------------------------------
P="$WORK/perm"
mkdir -p "$P/bin" "$P/shared" "$P/tmp" "$P/keys"
chmod 755 "$P" "$P/bin" "$P/tmp" "$P/keys"
echo 'print("hi")' >"$P/app.py"; chmod 644 "$P/app.py"
cp /bin/true "$P/bin/tool"; cp /bin/true "$P/bin/tool2"; chmod 755 "$P/bin/tool" "$P/bin/tool2"
{ echo "-----BEGIN ""PRIVATE KEY-----"; head -c 600 /dev/urandom | base64; echo "-----END ""PRIVATE KEY-----"; } >"$P/keys/server.pem"
{ echo "-----BEGIN CERTIFICATE-----"; head -c 600 /dev/urandom | base64; echo "-----END CERTIFICATE-----"; } >"$P/keys/server.crt.pem"
echo "DB_HOST=db" >"$P/.env"
chmod 600 "$P/keys/server.pem" "$P/.env"; chmod 644 "$P/keys/server.crt.pem"
chmod 1777 "$P/shared"
mkdir -p "$WORK/ww"; chmod 777 "$WORK/ww"; ln -s "$WORK/ww" "$P/wwlink"
PLUG="$WORK/plugins-ok"; mkdir -p "$PLUG"; chmod 755 "$PLUG"
expect_exit 0 "permissions: clean tree" -- audit --json --param path="$P" --param checks=permissions --param "plugin_dirs=$PLUG"
keep
json_check "$OUT" "'ok' if not f else ids" "permissions: quiet on a clean tree (sticky 1777 dir, 0644 certificate, symlink to a 0777 dir outside)"
chmod o+w "$P/app.py"
chmod 777 "$P/tmp"
chmod u+s "$P/bin/tool"
chmod g+s "$P/bin/tool2"
chmod 644 "$P/keys/server.pem" "$P/.env"
chmod 777 "$PLUG"
expect_exit 0 "permissions: misconfigured tree" -- audit --json --param path="$P" --param checks=permissions --param "plugin_dirs=$PLUG"
keep
json_check "$OUT" "'ok' if sorted((x['id'], x.get('path') or x.get('object')) for x in f) == sorted([('perm-world-writable-file', 'app.py'), ('perm-world-writable-dir', 'tmp'), ('perm-setuid', 'bin/tool'), ('perm-setgid', 'bin/tool2'), ('perm-private-key-readable', 'keys/server.pem'), ('perm-secret-config-readable', '.env'), ('perm-plugin-dir-untrusted', '$PLUG')]) else sorted((x['id'], x.get('path') or x.get('object')) for x in f)" \
  "permissions: o+w file, 0777 dir, setuid, setgid, 0644 key and .env, writable plugin dir each reported once"

# --- PostgreSQL -------------------------------------------------------------------------
expect_exit 0 "postgres: before the misconfiguration" -- audit --json --param checks=postgres
keep
cp "$OUT" "$WORK/pg-before.json"
json_check "$WORK/pg-before.json" "'ok' if not [x for x in f if '$R' in x['location']] and 'pg-public-schema-create' not in ids and 'pg-untrusted-extension' not in ids else ids" \
  "postgres: quiet on our roles, schema public and extensions before the test misconfigures them"
json_check "$WORK/pg-before.json" "'ok' if {'pg-app-role-superuser', 'pg-hba-trust', 'pg-ssl-off'} <= set(ids) else ids" \
  "postgres: the test cluster's real state reported (app connects as superuser, trust lines in pg_hba.conf, ssl off)"
psql -X -q -v ON_ERROR_STOP=1 "$base_url" >/dev/null <<SQL
create role ${R}_super superuser login;
create role ${R}_cr createrole login password 'not-used-1';
create role ${R}_nopw login;
set password_encryption = 'md5';
create role ${R}_md5 login password 'not-used-2';
reset password_encryption;
create role ${R}_app login password 'not-used-3';
SQL
psql_q "grant create on schema public to public; create extension bloom;" >/dev/null
expect_exit 0 "postgres: after the misconfiguration" -- audit --json --param checks=postgres
keep
cp "$OUT" "$WORK/pg-after.json"
for pair in "pg-superuser-login:${R}_super" "pg-createrole-login:${R}_cr" "pg-role-without-password:${R}_nopw" \
            "pg-md5-password:${R}_md5" "pg-public-schema-create:$DB_NAME" "pg-untrusted-extension:bloom"; do
  rule=${pair%%:*}; obj=${pair#*:}
  json_check "$WORK/pg-after.json" "'ok' if [x for x in f if x['id'] == '$rule' and '$obj' in x['object']] else [x['object'] for x in f if x['id'] == '$rule']" \
    "postgres: $rule reported for $obj"
done
json_check "$WORK/pg-after.json" "'ok' if not [x for x in f if x['id'] == 'pg-role-without-password' and '${R}_md5' in x['object']] else 'md5 role reported as passwordless'" \
  "postgres: a role with a password is not reported as passwordless"
APP_URL="${DB_URL/user=postgres/user=${R}_app}"
expect_exit 0 "postgres: as an unprivileged app role" -- env DIHYA_DATABASE_URL="$APP_URL" "$DIHYA_HOST" run security_audit --json --param checks=postgres
keep
json_check "$OUT" "'ok' if 'pg-app-role-superuser' not in ids and any('skipped (permission denied' in n for n in r['notes']) and 'pg-public-schema-create' in ids else (ids, r['notes'])" \
  "postgres: superuser-only checks skipped with a note when the app role is not superuser"

CR_URL="${DB_URL/user=postgres/user=${R}_cr}"
expect_exit 0 "postgres: as a CREATEROLE app role" -- env DIHYA_DATABASE_URL="$CR_URL" "$DIHYA_HOST" run security_audit --json --param checks=postgres
keep
json_check "$OUT" "'ok' if [x for x in f if x['id'] == 'pg-app-role-createrole' and '${R}_cr' in x['object']] else ids" \
  "postgres: pg-app-role-createrole reported when the app connects with CREATEROLE"

# --- dependencies ---------------------------------------------------------------------------
D="$WORK/deps"
mkdir -p "$D/web" "$D/old"
printf 'Django==3.2.10\nrequests==2.31.0\nflask>=2.0\ndjango_extra[foo]==1.0 ; python_version > "3"\n# comment\n' >"$D/requirements.txt"
cat >"$D/web/package-lock.json" <<'JSON'
{"name": "web", "lockfileVersion": 3, "packages": {
  "": {"name": "web"},
  "node_modules/lodash": {"version": "4.17.20"},
  "node_modules/@scope/left-pad": {"version": "1.0.2"},
  "node_modules/minimist": {"version": "2.0.0-beta.1"},
  "node_modules/foo/node_modules/minimist": {"version": "2.0.0"}}}
JSON
cat >"$D/old/package-lock.json" <<'JSON'
{"name": "old", "lockfileVersion": 1, "dependencies": {
  "lodash": {"version": "4.17.21"},
  "a": {"version": "1.0.0", "dependencies": {"lodash": {"version": "4.17.4"}}}}}
JSON
expect_exit 0 "dependencies: scan" -- audit --json --param path="$D" --param checks=dependencies --param advisories="$FIX/advisories.json"
keep
json_check "$OUT" "'ok' if sorted((x['id'], x['object']) for x in f) == sorted([('GHSA-test-pypi-0001', 'PyPI:django@3.2.10'), ('GHSA-test-npm-0001', 'npm:lodash@4.17.20'), ('GHSA-test-npm-0001', 'npm:lodash@4.17.4'), ('GHSA-test-npm-0002', 'npm:@scope/left-pad@1.0.2'), ('GHSA-test-npm-0003', 'npm:minimist@2.0.0-beta.1')]) else sorted((x['id'], x['object']) for x in f)" \
  "dependencies: ranges, version lists, pre-releases, lockfile v1 and v3, requirements pins matched; fixed versions not"
json_check "$OUT" "'ok' if [x for x in f if x['id'] == 'GHSA-test-pypi-0001' and x['fix'] == 'upgrade django to 3.2.25 or later' and x['severity'] == 'high' and x['location'] == 'requirements.txt:1:1'] else f[0]" \
  "dependencies: fix names the fixed version, severity from the advisory, location file:line"
mkdir -p "$WORK/osv"; cp "$FIX/advisories.json" "$WORK/osv/"
"$PY" -c "print('[' * 100000 + ']' * 100000)" >"$WORK/osv/deep.json"
expect_exit 0 "dependencies: hostile advisory file" -- audit --json --param path="$D" --param checks=dependencies --param advisories="$WORK/osv"
keep
json_check "$OUT" "'ok' if len(f) == 5 and any('deep.json' in n and 'nesting' in n for n in r['notes']) else (len(f), r['notes'])" \
  "dependencies: a 100000-deep advisory file is refused with a note, the others still used"

# --- refused input ----------------------------------------------------------------------------
expect_exit 2 "refused: missing path" -- audit --param path="$WORK/nope"
keep; expect_one_line_error "missing path"
expect_exit 2 "refused: dependencies without advisories" -- audit --param path="$D" --param checks=dependencies
keep; expect_one_line_error "dependencies without advisories"
expect_exit 2 "refused: unreadable baseline" -- audit --param path="$D" --param baseline="$WORK/nope.json"
keep
expect_exit 2 "refused: unknown fail_on" -- audit --param path="$D" --param fail_on=severe
keep
expect_exit 2 "refused: postgres without a database" -- env -u DIHYA_DATABASE_URL "$DIHYA_HOST" run security_audit --param checks=postgres
keep
expect_exit 0 "no database: postgres is left out of the default checks" -- env -u DIHYA_DATABASE_URL "$DIHYA_HOST" run security_audit --json --param path="$P"
keep
json_check "$OUT" "'ok' if r['checks'] == ['permissions', 'secrets'] else r['checks']" "default checks without a database: secrets and permissions"

# --- what a walk cannot reach is never reported clean ---------------------------------------------
# Deeper than 256 levels: counted, named in a note, the result incomplete; a gate (fail_on) does not pass.
DEEP="$WORK/deep"
deep_dir="$DEEP/$(printf 'd/%.0s' $(seq 260))"
mkdir -p "$deep_dir" && cp /bin/true "${deep_dir}suid" && chmod 4755 "${deep_dir}suid" && touch "${deep_dir}ww" && chmod 666 "${deep_dir}ww"
expect_exit 0 "incomplete: a tree deeper than 256 levels" -- audit --json --param path="$DEEP" --param checks=permissions,secrets
keep
json_check "$OUT" "'ok' if not f and r['complete'] is False and r['scanned']['not_examined'] == 2 and len(r['notes']) == 2 and all('not examined (1 deeper than 256 levels)' in n for n in r['notes']) else (r['complete'], r['scanned'], r['notes'])" \
  "incomplete: too deep a tree is counted in a note per check, complete=false"
expect_exit 0 "incomplete: text" -- audit --param path="$DEEP" --param checks=permissions
expect_in "$OUT" "INCOMPLETE: 1 path(s) could not be examined" "incomplete: the text report says so"
expect_in "$OUT" "INCOMPLETE: 1 path(s) not examined" "incomplete: the summary line says so"
expect_exit 1 "incomplete: fail_on=critical cannot pass an incomplete scan" -- audit --json --param path="$DEEP" --param checks=permissions --param fail_on=critical
keep
json_check "$OUT" "'ok' if r['failed_on'] == 'incomplete' else r['failed_on']" "incomplete: failed_on is 'incomplete'"
# Longer than PATH_MAX: walked relative to each parent, so checked in full.
LONG="$WORK/long"
mkdir -p "$LONG"
long_dir=$(cd "$LONG" && for i in $(seq 17); do n=$(printf "%0250d" "$i"); mkdir "$n" && cd "$n" || exit 1; done && printf 'password = "%s"\n' "Zk3j8sLq92nX$((7 * 13))vP0w" >s.env && chmod 4777 s.env && echo ok)
expect_eq "$long_dir" "ok" "long paths: a file 4 KiB deep made"
expect_exit 0 "long paths: scanned" -- audit --json --param path="$LONG" --param checks=permissions,secrets
keep
json_check "$OUT" "'ok' if r['complete'] and sorted(ids) == ['generic-secret-assignment', 'perm-secret-config-readable', 'perm-setuid', 'perm-world-writable-file'] and r['scanned']['files'] == 1 and all(len(x['path']) > 4096 for x in f) else (r['scanned'], r['notes'], ids)" \
  "long paths: a file past PATH_MAX is scanned and its modes checked"
rm -rf "$DEEP" "$LONG"

# --- names that are not text: shown escaped, written for what reads them -------------------------
ODD="$WORK/odd"
mkdir -p "$ODD" && printf x >"$ODD/"$'new\nline.env' && printf x >"$ODD/"$'bad\xffutf.env' && chmod 644 "$ODD"/*
expect_exit 0 "odd names: SARIF" -- audit --param path="$ODD" --param checks=permissions --param format=sarif --param output="$REPORTS/odd.sarif"
keep
expect_in "$OUT" 'new\x0aline.env is readable' "odd names: the terminal sees the name escaped"
expect_in "$OUT" "fix: chmod 600 \$'new\\nline.env'" "odd names: the fix quotes the real name for the shell"
expect_in "$OUT" "fix: chmod 600 \$'bad\\xffutf.env'" "odd names: an invalid byte in the fix is a shell escape"
got=$("$PY" -c "import json,sys; print(sorted(r['locations'][0]['physicalLocation']['artifactLocation']['uri'] for r in json.load(open(sys.argv[1]))['runs'][0]['results']))" "$REPORTS/odd.sarif")
expect_eq "$got" "['bad%FFutf.env', 'new%0Aline.env']" "odd names: SARIF URIs percent-encode the raw bytes"
fix=$(grep -a "fix: chmod 600 \$'new" "$OUT" | sed 's/.*fix: //')
expect_eq "$(cd "$ODD" && eval "${fix/chmod 600/stat -c %n}")" $'new\nline.env' "odd names: the fix, run by a shell, names the real file"
rm -rf "$ODD"

expect_exit 0 "conformance kit" -- dh check security_audit --exercise
keep

# --- no planted value anywhere --------------------------------------------------------------------
got=$("$PY" - "$MANIFEST" "$CAPTURE" "$REPORTS" "$DIHYA_STATE_DIR" <<'PYEOF'
import json, os, sys
values = []
for l in list(open(sys.argv[1])) + list(open(sys.argv[1].replace("manifest.jsonl", "extra.jsonl"))):
    v = json.loads(l)["value"]
    # a private key block: its body lines are the secret
    values += [s for s in v.split("\n") if len(s) >= 16 and "-----" not in s] if "\n" in v else [v]
leaks = []
for root in sys.argv[2:]:
    for d, _, files in os.walk(root):
        for name in files:
            data = open(os.path.join(d, name), "rb").read().decode("utf-8", "replace")
            for v in values:
                if v in data:
                    leaks.append("%s in %s" % (v[:4] + "...", os.path.join(d, name)))
print("ok" if not leaks else leaks[:5])
PYEOF
)
expect_eq "$got" "ok" "no planted value in full in any stdout/stderr, report, SARIF, baseline or the state dir ($runs runs)"

finish
