#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# import_templates against the scripts it replaces, side by side in one run, in
# a private PostgreSQL cluster, on N generated templates (5 files, ~4 KiB each):
#   import   `import_templates` of N new templates (parse, validate, checksum,
#            journal, one transaction)  vs  a python3 + psycopg2 script doing
#            the same inserts (json.load, canonical dump, SHA-256, per-template
#            INSERTs in one transaction, no validation)  vs  psql \copy of the
#            documents prepared beforehand (the raw insert floor)
#   re-import  the same N templates again (all unchanged: a no-op)  vs  the
#            python script comparing checksums
# Prints a Markdown table with ratios (ours / anchor), also in $OUT/results.md.
#
#   bench/import_templates.sh [TEMPLATES] [RUNS]     defaults: 1000 templates, 5 runs
# Env: DIHYA_HOST, DIHYA_BUNDLED_PLUGIN_DIR (default: build/default), KEEP_BENCH=1 keeps the work dir.
set -euo pipefail
count=${1:-1000}
runs=${2:-5}
source "$(dirname "$0")/lib.sh"
bench_setup import_templates
bench_start_pg
py=/usr/bin/python3  # Debian's, with python3-psycopg2
"$py" -c 'import psycopg2' 2>/dev/null || { echo "python3-psycopg2 is missing (apt-get install python3-psycopg2)" >&2; exit 2; }

# N templates as JSON files, and the same documents as a COPY file for the floor.
"$py" - "$work" "$count" <<'PY'
import hashlib, json, os, sys
work, count = sys.argv[1], int(sys.argv[2])
os.makedirs(f"{work}/templates", exist_ok=True)
body = "".join(f"line {i}: {{{{project.name}}}} uses {{{{var.port}}}}\n" for i in range(20))
with open(f"{work}/docs.tsv", "w") as tsv:
    for i in range(count):
        doc = {"name": f"tpl-{i:05d}", "version": "1.0.0", "stack": "flask", "description": f"generated template {i}",
               "tags": ["bench", f"group{i % 10}"],
               "variables": {"port": {"type": "integer", "default": 5000 + i}},
               "files": {f"svc/file{j}.py": f"# file {j} of template {i}\n" + body for j in range(4)},
               "per_resource": {"svc/tests/test_{{name}}.py": "def test_{{name}}():\n    assert True\n"}}
        with open(f"{work}/templates/tpl-{i:05d}.json", "w") as f:
            json.dump(doc, f, indent=2)
        canon = json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        esc = lambda s: s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
        tsv.write("\t".join([doc["name"], esc(json.dumps(doc)), hashlib.sha256(canon.encode()).hexdigest()]) + "\n")
PY

cat >"$work/anchor.py" <<'PY'
# What an operations script would do: read, canonicalise, hash, insert.
import glob, hashlib, json, sys
import psycopg2
url, folder = sys.argv[1], sys.argv[2]
con = psycopg2.connect(url)
with con, con.cursor() as cur:
    for path in sorted(glob.glob(f"{folder}/*.json")):
        with open(path) as f:
            doc = json.load(f)
        canon = json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        digest = hashlib.sha256(canon.encode()).hexdigest()
        cur.execute("select t.id, t.current_version, v.checksum, (select max(version) from anchor.template_versions w where w.template_id = t.id)"
                    " from anchor.templates t left join anchor.template_versions v on v.template_id = t.id and v.version = t.current_version"
                    " where t.name = %s for update of t", (doc["name"],))
        row = cur.fetchone()
        if row and row[2] == digest:
            continue
        if row is None:
            cur.execute("insert into anchor.templates (name, stack, description, tags, current_version) values (%s, %s, %s, %s, 1) returning id",
                        (doc["name"], doc["stack"], doc["description"], doc.get("tags", [])))
            tid, version = cur.fetchone()[0], 1
        else:
            tid, version = row[0], row[3] + 1
            cur.execute("update anchor.templates set current_version = %s, updated_at = now() where id = %s", (version, tid))
        cur.execute("insert into anchor.template_versions (template_id, version, declared_version, content, checksum) values (%s, %s, %s, %s, %s)",
                    (tid, version, doc["version"], canon, digest))
PY

ddl="create schema anchor;
create table anchor.templates (id bigserial primary key, name text not null unique, stack text not null, description text not null,
  tags text[] not null default '{}', current_version integer, created_at timestamptz not null default now(), updated_at timestamptz not null default now());
create table anchor.template_versions (template_id bigint not null references anchor.templates (id) on delete cascade,
  version integer not null check (version > 0), declared_version text not null, content jsonb not null, checksum text not null,
  run_id text, created_at timestamptz not null default now(), primary key (template_id, version));
create table anchor.docs (name text, content jsonb, checksum text);"
# hyperfine -N runs no shell: the preparations live in small scripts.
{
  echo "#!/bin/sh"
  echo "psql -X -q -v ON_ERROR_STOP=1 '$url' -c 'set client_min_messages = warning' -c 'drop schema if exists dihya cascade' -c 'drop schema if exists anchor cascade' >/dev/null"
  echo "psql -X -q -v ON_ERROR_STOP=1 '$url' >/dev/null <<'SQL'"
  echo "$ddl"
  echo "SQL"
} >"$work/reset.sh"
cat >"$work/copy.sql" <<SQL
begin;
\\copy anchor.docs from '$work/docs.tsv'
insert into anchor.templates (name, stack, description, tags, current_version)
  select name, content->>'stack', content->>'description', array(select jsonb_array_elements_text(content->'tags')), 1 from anchor.docs;
insert into anchor.template_versions (template_id, version, declared_version, content, checksum)
  select t.id, 1, d.content->>'version', d.content, d.checksum from anchor.docs d join anchor.templates t using (name);
commit;
SQL
chmod +x "$work/reset.sh"

ours="$host run import_templates -p path=$work/templates --yes -q"
anchor="$py $work/anchor.py $url $work/templates"
hyperfine -N --runs "$runs" --export-json "$work/import.json" --prepare "$work/reset.sh" \
  -n "import_templates ($count new)" "$ours" \
  -n "python3 + psycopg2 script" "$anchor" \
  -n "psql \\copy of prepared documents" "psql -X -q -v ON_ERROR_STOP=1 $url -f $work/copy.sql" >&2
"$work/reset.sh"
$ours >/dev/null
$anchor
hyperfine -N --runs "$runs" --export-json "$work/reimport.json" \
  -n "import_templates ($count unchanged)" "$ours" \
  -n "python3 + psycopg2 script (unchanged)" "$anchor" >&2
[ "$(psql -X -t -A "$url" -c 'select count(*) from dihya.template_versions')" = "$count" ] || { echo "re-import was not a no-op" >&2; exit 1; }

"$py" - "$work" "$count" <<'PY' | tee "$OUT/results.md"
import json, sys
work, count = sys.argv[1], int(sys.argv[2])
def means(name):
    return [r["mean"] for r in json.load(open(f"{work}/{name}.json"))["results"]]
print("| benchmark | ours | anchor | ratio (ours / anchor) |")
print("|---|---|---|---|")
ours, script, copy = means("import")
print(f"| import of {count:,} new templates vs python3 + psycopg2 script (same inserts, no validation) | {ours*1e3:.0f} ms | {script*1e3:.0f} ms | {ours/script:.2f}x |")
print(f"| import of {count:,} new templates vs psql \\copy of the prepared documents (insert floor) | {ours*1e3:.0f} ms | {copy*1e3:.0f} ms | {ours/copy:.2f}x |")
ours, script = means("reimport")
print(f"| re-import of {count:,} unchanged templates (no-op) vs the python3 script | {ours*1e3:.0f} ms | {script*1e3:.0f} ms | {ours/script:.2f}x |")
PY
