#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# import_templates against a real PostgreSQL: JSON, YAML and JS templates
# imported, re-import is a no-op, new content is a new revision, the dry-run
# diff, export -> import -> export byte-identical in all three formats,
# rollback restoring the previous current revisions, rollback of an export
# keeping what the user put in place of an exported file, and hostile inputs
# (deep nesting, billion laughs, huge strings, invalid UTF-8, ../ and absolute
# paths, symlinks out, JS code) each refused with exit 2 and nothing written.
source "$(dirname "$0")/lib.sh"
: "${DB_URL:?the pg fixture must be running}"
export DIHYA_PLUGIN_PATH="$DIHYA_BUNDLED_PLUGIN_DIR"
fixtures="$DIHYA_SOURCE_DIR/tests/fixtures/import_templates"
T="$WORK/templates"
cp -r "$fixtures/templates" "$T"

# The whole catalog, as one checksum: "nothing written" means this is unchanged.
catalog() {
  if [ "$(psql_q "select to_regclass('dihya.template_versions') is null")" = t ]; then echo none; return; fi
  psql_q "select (select md5(coalesce(string_agg(t::text, '|' order by t.id), '')) from dihya.templates t) || '/' ||
                 (select md5(coalesce(string_agg(v::text, '|' order by v.template_id, v.version), '')) from dihya.template_versions v)"
}
current_of() { psql_q "select coalesce(current_version::text, 'null') from dihya.templates where name = '$1'"; }
# A valid template named $1.
good_json() { sed -e "s/\"name\": \"flask-api\"/\"name\": \"$1\"/" "$fixtures/templates/backend/flask-api.json"; }
json_field() { python3 -c "import json,sys; d=json.load(open('$OUT'))['result']; print(eval(sys.argv[1]))" "$1"; }

# --- conformance kit: dry run changes nothing, run -> rollback restores all tables
mkdir -p "$WORK/exercise" && cp -r "$fixtures/templates" "$WORK/exercise/templates"
(cd "$WORK/exercise" && dh check "$DIHYA_BUNDLED_PLUGIN_DIR/libimport_templates.so" --exercise) >"$OUT" 2>"$ERR" && got=0 || got=$?
expect_eq "$got" 0 "check --exercise passes (dry run, run -> rollback -> rollback)"
expect_eq "$(catalog)" none "run -> rollback of a first import drops the tables it created"

# --- dry run on an empty database, then import
expect_exit 0 "dry run of three templates" -- dh run import_templates -p path="$T" --dry-run
expect_in "$OUT" "added      flask-api 1.0.0" "dry run lists flask-api as added"
expect_in "$OUT" "added      express-api 2.1.0-beta.1" "dry run lists the JS template"
expect_in "$OUT" "added      spa 0.3.0" "dry run lists the YAML template"
expect_eq "$(catalog)" none "dry run creates nothing"

expect_exit 0 "import JSON, YAML and JS" -- dh run import_templates -p path="$T" --yes
expect_not_in "$ERR" "Flask(__name__)" "template contents are not logged"
expect_eq "$(psql_q 'select count(*) from dihya.templates where current_version = 1')" 3 "three templates at revision 1"
expect_eq "$(psql_q "select port from (select (v.content->'variables'->'port'->>'default')::int port from dihya.templates t join dihya.template_versions v on v.template_id = t.id where t.name = 'express-api') x")" 3000 \
  "JS hex literal 0xBB8 stored as 3000"
expect_eq "$(psql_q "select v.content->'files'->>'frontend/app.js' from dihya.templates t join dihya.template_versions v on v.template_id = t.id where t.name = 'spa'" | head -1)" \
  'const api = `/api`;' "YAML literal block stored as is"
first=$(catalog)

expect_exit 0 "re-import" -- dh run import_templates -p path="$T" --yes --json
expect_eq "$(json_field "d['unchanged'], d['added'], d['changed']")" "(3, 0, 0)" "re-import reports 3 unchanged"
expect_eq "$(catalog)" "$first" "re-import is a no-op (tables byte-identical, updated_at too)"

# --- a new version: one file modified, one added, one removed, declared 1.0.0 -> 1.1.0
python3 - "$T/backend/flask-api.json" <<'PY'
import json, sys
p = sys.argv[1]; d = json.load(open(p))
d["version"] = "1.1.0"
d["files"]["flask-api/app.py"] += "# v1.1\n"
d["files"]["flask-api/extra.py"] = "X = 1\n"
del d["files"]["flask-api/Makefile"]
json.dump(d, open(p, "w"), indent=1)
PY
expect_exit 0 "dry run of a changed template" -- dh run import_templates -p path="$T" --dry-run
expect_in "$OUT" "changed    flask-api 1.0.0 -> 1.1.0 (revision 1 -> 2): files +1 -1 ~1" "diff: declared version and file counts"
expect_in "$OUT" "    + flask-api/extra.py" "diff: added file"
expect_in "$OUT" "    - flask-api/Makefile" "diff: removed file"
expect_in "$OUT" "    ~ flask-api/app.py" "diff: modified file"
expect_in "$OUT" "unchanged  spa 0.3.0" "diff: unchanged template"
expect_not_in "$OUT" "# v1.1" "diff shows no content"
expect_exit 0 "dry run --json" -- dh run import_templates -p path="$T" --dry-run --json
expect_eq "$(json_field "[t['files'] for t in d['templates'] if t['change'] == 'changed']")" \
  "[{'added': ['flask-api/extra.py'], 'modified': ['flask-api/app.py'], 'removed': ['flask-api/Makefile']}]" "--json diff data"
expect_eq "$(catalog)" "$first" "dry run of a change writes nothing"

expect_exit 0 "import the new version" -- dh run import_templates -p path="$T" --yes
expect_eq "$(current_of flask-api)" 2 "flask-api revision 2 is current"
expect_eq "$(psql_q "select declared_version from dihya.template_versions v join dihya.templates t on t.id = v.template_id and v.version = t.current_version where t.name = 'flask-api'")" 1.1.0 "declared version 1.1.0 current"
expect_eq "$(psql_q 'select count(*) from dihya.template_versions')" 4 "one new revision stored"

# --- rollback of that import restores the previous current revisions
run_id=$(last_run_id)
expect_exit 0 "rollback of the import" -- dh rollback "$run_id"
expect_eq "$(catalog)" "$first" "rollback restores revision 1 as current and removes revision 2 (tables identical)"
expect_exit 0 "rollback is idempotent" -- dh rollback "$run_id"
expect_eq "$(catalog)" "$first" "second rollback changes nothing"

# A new template created by a run is removed by its rollback; older ones stay.
mkdir -p "$WORK/more"
sed -e 's/"name": "flask-api"/"name": "flask-extra"/' "$fixtures/templates/backend/flask-api.json" >"$WORK/more/extra.json"
cp "$T/backend/flask-api.json" "$WORK/more/flask-api.json"
expect_exit 0 "import one new and one changed template" -- dh run import_templates -p path="$WORK/more" --yes
expect_eq "$(current_of flask-extra)/$(current_of flask-api)" 1/2 "new template added, flask-api at revision 2"
expect_exit 0 "rollback" -- dh rollback "$(last_run_id)"
expect_eq "$(catalog)" "$first" "rollback removes the new template and restores flask-api revision 1"

# Importing an older content again makes that revision current (no duplicate).
expect_exit 0 "import v1.1 again" -- dh run import_templates -p path="$T" --yes -q
readded_run=$(last_run_id)
cp "$fixtures/templates/backend/flask-api.json" "$WORK/v1.json"
expect_exit 0 "import v1.0 again" -- dh run import_templates -p path="$WORK/v1.json" --yes
expect_in "$OUT" "(revision 2 -> 1, an earlier revision)" "an earlier content re-activates its revision"
expect_eq "$(current_of flask-api)/$(psql_q 'select count(*) from dihya.template_versions')" 1/4 "no duplicate revision"
expect_exit 0 "import v1.1 again (revision 2 current)" -- dh run import_templates -p path="$T" --yes -q
after_v2=$(catalog)
# Rolling back the run that stored revision 2 must not undo the later run that
# made revision 2 current again: that template is kept and reported.
expect_exit 0 "rollback of a run whose revision a later run made current again" -- dh rollback "$readded_run"
expect_in "$OUT" "kept: current revision moved by a later run" "rollback reports the template it keeps"
expect_eq "$(catalog)" "$after_v2" "rollback of an older run leaves a later run's choice alone"

# A run failing after its journal entries (a trigger refuses one revision) is
# rolled back: exit 5, nothing changed.
psql_q "create function pg_temp_fail() returns trigger language plpgsql as \$\$ begin
          if new.declared_version = '6.6.6' then raise exception 'refused by test trigger'; end if; return new; end \$\$;
        create trigger fail_666 before insert on dihya.template_versions for each row execute function pg_temp_fail();" >/dev/null
mkdir -p "$WORK/failing"
sed -e 's/"version": "1.0.0"/"version": "6.6.6"/' "$fixtures/templates/backend/flask-api.json" >"$WORK/failing/flask-api.json"
good_json brand-new >"$WORK/failing/new.json"
expect_exit 5 "an import failing in the database is rolled back" -- dh run import_templates -p path="$WORK/failing" --yes
expect_in "$ERR" "refused by test trigger" "the database error is shown"
psql_q "drop trigger fail_666 on dihya.template_versions; drop function pg_temp_fail()" >/dev/null
expect_eq "$(catalog)" "$after_v2" "failed import: tables unchanged"

# --- list (read-only: no confirmation needed, even without --yes on a terminal)
expect_exit 0 "list --json" -- dh run import_templates -p mode=list --json
expect_eq "$(json_field "[(t['name'], t['current_version'], t['revisions']) for t in d['templates']]")" \
  "[('express-api', 1, 1), ('flask-api', 2, 2), ('spa', 1, 1)]" "list data"
expect_exit 0 "list by tag" -- dh run import_templates -p mode=list -p tag=python
expect_in "$OUT" "flask-api" "tag filter keeps flask-api"
expect_not_in "$OUT" "spa " "tag filter drops spa"
printf '' | script -qec "$DIHYA_HOST run import_templates -p mode=list" /dev/null >"$OUT" 2>&1 && got=0 || got=$?
expect_eq "$got" 0 "list on a terminal runs without a confirmation prompt"
expect_not_in "$OUT" "[y/N]" "no prompt for list"

# --- export -> import -> export, byte-identical, in the three formats
for fmt in json yaml js; do
  expect_exit 0 "export all as $fmt" -- dh run import_templates -p mode=export -p format=$fmt -p out="$WORK/export1/$fmt" --yes
  expect_eq "$(ls "$WORK/export1/$fmt" | tr '\n' ' ')" "express-api.$fmt flask-api.$fmt spa.$fmt " "three $fmt files"
  expect_exit 0 "import the $fmt export" -- dh run import_templates -p path="$WORK/export1/$fmt" --yes --json
  expect_eq "$(json_field "d['unchanged'], d['added'], d['changed']")" "(3, 0, 0)" "$fmt export -> import is a no-op (same checksums)"
  expect_exit 0 "export again as $fmt" -- dh run import_templates -p mode=export -p format=$fmt -p out="$WORK/export2/$fmt" --yes
  if diff -r "$WORK/export1/$fmt" "$WORK/export2/$fmt" >/dev/null; then ok "$fmt export -> import -> export is byte-identical"; else not_ok "$fmt exports differ"; fi
done
expect_eq "$(catalog)" "$after_v2" "round trips changed nothing in the database"
expect_eq "$(sha256sum "$WORK/export1/json/flask-api.json" | cut -d' ' -f1)" \
  "$(psql_q "select v.checksum from dihya.templates t join dihya.template_versions v on v.template_id = t.id and v.version = t.current_version where t.name = 'flask-api'")" \
  "the stored checksum is the SHA-256 of the exported canonical JSON"
# Other readers agree: PyYAML reads the YAML export, node the JS one, as the JSON export.
canon='import json,sys; print(json.dumps(json.load(open(sys.argv[1])), sort_keys=True, separators=(",",":"), ensure_ascii=False))'
if /usr/bin/python3 -c 'import yaml' 2>/dev/null; then
  for name in flask-api express-api spa; do
    a=$(/usr/bin/python3 -c 'import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1])), sort_keys=True, separators=(",",":"), ensure_ascii=False))' "$WORK/export1/yaml/$name.yaml")
    expect_eq "$a" "$(python3 -c "$canon" "$WORK/export1/json/$name.json")" "PyYAML reads the YAML export of $name as the JSON export"
  done
fi
if command -v node >/dev/null; then
  for name in flask-api express-api spa; do
    a=$(node -e 'const m=require(process.argv[1]);const s=(v)=>v&&typeof v==="object"&&!Array.isArray(v)?Object.keys(v).sort().reduce((o,k)=>(o[k]=s(v[k]),o),{}):Array.isArray(v)?v.map(s):v;console.log(JSON.stringify(s(m)))' "$WORK/export1/js/$name.js")
    expect_eq "$a" "$(python3 -c "$canon" "$WORK/export1/json/$name.json")" "node reads the JS export of $name as the JSON export"
  done
fi
expect_exit 2 "export refuses to overwrite" -- dh run import_templates -p mode=export -p out="$WORK/export1/json" --yes
expect_in "$ERR" "exists: use -p force=true" "says how to overwrite"
echo "edited" >"$WORK/export1/json/spa.json"
expect_exit 0 "export with force" -- dh run import_templates -p mode=export -p name=spa -p out="$WORK/export1/json" -p force=true --yes
expect_exit 0 "rollback of the forced export" -- dh rollback "$(last_run_id)"
expect_eq "$(cat "$WORK/export1/json/spa.json")" edited "rollback puts the overwritten file back"
# The overwritten file's permissions: kept by the export and by its rollback,
# which put the content back as 0644; never a set-id bit (the file written in
# its place belongs to whoever runs the export).
X="$WORK/export1/json/spa.json"
for case in "600 600" "4750 750"; do
  before=${case% *} want=${case#* }
  echo mine >"$X" && chmod "$before" "$X"
  expect_exit 0 "export with force over a $before file" -- dh run import_templates -p mode=export -p name=spa -p out="$WORK/export1/json" -p force=true --yes
  expect_eq "$(stat -c %a "$X")" "$want" "the export over a $before file writes it $want"
  expect_exit 0 "rollback of the export over a $before file" -- dh rollback "$(last_run_id)"
  expect_eq "$(stat -c %a "$X"):$(cat "$X")" "$want:mine" "rollback restores the $before file's content, mode $want"
done
chmod 600 "$X"
expect_exit 0 "export with force over a 0600 file, then removed" -- dh run import_templates -p mode=export -p name=spa -p out="$WORK/export1/json" -p force=true --yes
rm "$X"
expect_exit 0 "rollback with the overwritten 0600 file removed" -- dh rollback "$(last_run_id)"
expect_eq "$(stat -c %a "$X"):$(cat "$X")" "600:mine" "rollback puts the removed file back with its mode"
# What the user put in place of an exported file after the export is theirs:
# rollback keeps a symlink, a directory or a FIFO there and says so (it
# replaced a symlink with the old content, and failed on a directory at every
# attempt); only a missing file gets its previous content back.
X="$WORK/export1/json/spa.json"
echo mine >"$WORK/mine.txt"
forced_export() {  # WHAT: exports spa with force over X holding "edited"; the run id in $forced
  rm -rf "$X" && echo edited >"$X"
  expect_exit 0 "export with force over spa.json ($1)" -- \
    dh run import_templates -p mode=export -p name=spa -p out="$WORK/export1/json" -p force=true --yes
  forced=$(last_run_id)
}
forced_export "then a symlink in its place"
rm "$X" && ln -s "$WORK/mine.txt" "$X"
expect_exit 0 "rollback with a symlink in place of the exported file" -- dh rollback "$forced"
expect_in "$OUT" "spa.json: kept: replaced since the export" "rollback keeps a symlink put in place and says so"
[ -L "$X" ] && [ "$(readlink "$X")" = "$WORK/mine.txt" ] && ok "the symlink is still there" || not_ok "rollback replaced the symlink"
expect_eq "$(cat "$WORK/mine.txt")" mine "nothing written through the symlink"
forced_export "then a directory in its place"
rm "$X" && mkdir "$X" && echo keep >"$X/inside"
expect_exit 0 "rollback with a directory in place of the exported file" -- dh rollback "$forced"
expect_in "$OUT" "spa.json: kept: replaced since the export" "rollback keeps a directory put in place and says so"
expect_eq "$(cat "$X/inside")" keep "the directory and its content are untouched"
forced_export "then a FIFO in its place"
rm "$X" && mkfifo "$X"
expect_exit 0 "rollback with a FIFO in place of the exported file" -- timeout 60 "$DIHYA_HOST" rollback "$forced"
expect_in "$OUT" "spa.json: kept: replaced since the export" "rollback keeps a FIFO put in place, unread"
[ -p "$X" ] && ok "the FIFO is still there" || not_ok "rollback replaced the FIFO"
forced_export "then removed"
rm "$X"
expect_exit 0 "rollback with the exported file removed" -- dh rollback "$forced"
expect_in "$OUT" "spa.json: restored" "rollback restores a removed file"
expect_eq "$(cat "$X")" edited "with the content the export overwrote"
# Without force the export wrote new files: one replaced by a symlink or a
# directory is kept (it was reported "already undone"), the others removed.
for kind in symlink directory; do
  expect_exit 0 "export into a new directory (then a $kind in place of a file)" -- \
    dh run import_templates -p mode=export -p out="$WORK/export4-$kind" --yes
  Y="$WORK/export4-$kind/spa.json"
  rm "$Y"
  if [ "$kind" = symlink ]; then ln -s "$WORK/mine.txt" "$Y"; else mkdir "$Y"; fi
  expect_exit 0 "rollback of that export with a $kind in place of a file it wrote" -- dh rollback "$(last_run_id)"
  expect_in "$OUT" "spa.json: kept: replaced since the export" "rollback keeps that $kind and says so"
  expect_not_in "$OUT" "already undone" "and does not call it undone"
  { [ -L "$Y" ] || [ -d "$Y" ]; } && ok "the $kind is still there" || not_ok "rollback removed the $kind"
  [ ! -e "$WORK/export4-$kind/flask-api.json" ] && ok "the files it wrote are removed" || not_ok "files it wrote left"
done
# An export into a directory whose parents it made too: its rollback removes
# them all (it used to leave the parents: the rollback was granted only the
# export directory's parent), and keeps one the user has put a file in since.
expect_exit 0 "export into new nested directories" -- dh run import_templates -p mode=export -p name=spa -p out="$WORK/nest/a/b/" --yes
expect_exit 0 "its rollback" -- dh rollback "$(last_run_id)"
[ ! -e "$WORK/nest" ] && ok "rollback removes every directory the export made" || not_ok "left behind: $(find "$WORK/nest" | tr '\n' ' ')"
expect_exit 0 "export into new nested directories again" -- dh run import_templates -p mode=export -p name=spa -p out="$WORK/nest/a/b" --yes
echo mine >"$WORK/nest/a/mine.txt"
expect_exit 0 "its rollback, a file of the user's in a parent it made" -- dh rollback "$(last_run_id)"
expect_eq "$(find "$WORK/nest" | sort | tr '\n' ' ')" "$WORK/nest $WORK/nest/a $WORK/nest/a/mine.txt " "the export directory is removed, the parents holding the user's file kept"
expect_in "$OUT" "kept: not empty" "and says so"
rm -r "$WORK/nest"
mkdir -p "$WORK/linked" && ln -s "$WORK/elsewhere.json" "$WORK/linked/spa.json"
expect_exit 2 "export over a symlink is refused, even with force" -- dh run import_templates -p mode=export -p name=spa -p out="$WORK/linked" -p force=true --yes
expect_in "$ERR" "is not a regular file" "says why"
[ ! -e "$WORK/elsewhere.json" ] && [ -L "$WORK/linked/spa.json" ] && ok "nothing written through the link" || not_ok "export wrote through a symlink"
# A name edited in the database to leave the export directory is skipped.
psql_q "update dihya.templates set name = '../escaped' where name = 'spa'" >/dev/null
expect_exit 0 "export with a hostile stored name" -- dh run import_templates -p mode=export -p out="$WORK/export3" --yes
expect_in "$ERR" 'skipped' "the hostile name is reported and skipped"
[ ! -e "$WORK/escaped.json" ] && ok "nothing written outside the export directory" || not_ok "export escaped through a stored name"
expect_eq "$(ls "$WORK/export3" | sort | tr '\n' ' ')" "express-api.json flask-api.json " "the other templates are exported"
psql_q "update dihya.templates set name = 'spa' where name = '../escaped'" >/dev/null
expect_exit 2 "export of an unknown name" -- dh run import_templates -p mode=export -p name=nope -p out="$WORK/x" --yes

# --- hostile inputs: exit 2, one clear line, nothing written
H="$WORK/hostile"
hostile() {  # hostile DESCRIPTION EXPECTED_TEXT FILE...: each in a dir with a valid new template
  local what=$1 text=$2
  shift 2
  rm -rf "$H" && mkdir -p "$H"
  sed -e 's/"name": "flask-api"/"name": "innocent"/' "$fixtures/templates/backend/flask-api.json" >"$H/innocent.json"
  for f in "$@"; do cp "$WORK/$f" "$H/"; done
  expect_exit 2 "$what" -- dh run import_templates -p path="$H" --yes
  expect_in "$ERR" "$text" "$what: clear message"
  expect_one_line_error "$what"
  expect_eq "$(catalog)" "$after_v2" "$what: nothing written"
}

python3 -c 'print("{\"name\": \"deep\", \"x\": " + "[" * 100000 + "]" * 100000 + "}")' >"$WORK/deep.json"
hostile "JSON nested 100000 deep" "deep.json: nested more than 64 levels" deep.json
python3 -c 'print("module.exports = {name: \"deep\", x: " + "[" * 100000 + "]" * 100000 + "};")' >"$WORK/deep.js"
hostile "JS nested 100000 deep" "deep.js:1:" deep.js
python3 -c 'print("name: deep\nx: " + "[" * 5000 + "]" * 5000)' >"$WORK/deep.yaml"
hostile "YAML nested 5000 deep" "deep.yaml:2:67: nested more than 64 levels" deep.yaml
{
  echo 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'
  for i in b c d e f g h i; do p=$(printf '%s' "$i" | tr 'b-i' 'a-h'); echo "$i: &$i [*$p,*$p,*$p,*$p,*$p,*$p,*$p,*$p,*$p]"; done
  echo 'name: laughs'
} >"$WORK/laughs.yaml"
hostile "billion laughs YAML" "more than 200000 nodes once aliases are expanded (alias bomb?)" laughs.yaml
python3 -c '
import json
d = json.load(open("'"$fixtures"'/templates/backend/flask-api.json")); d["name"] = "huge"; d["files"]["big.txt"] = "x" * (2 << 20)
json.dump(d, open("'"$WORK"'/huge.json", "w"))'
hostile "a 2 MiB file content" 'huge.json: files["big.txt"]: content larger than 1048576 bytes' huge.json
head -c $((9 << 20)) /dev/zero | tr '\0' ' ' >"$WORK/vast.json"
hostile "a 9 MiB template file" "vast.json: larger than 8 MiB" vast.json
printf '{\n  "name": "bad\xc3\x28utf8"\n}\n' >"$WORK/utf8.json"
hostile "invalid UTF-8 (JSON)" "utf8.json:2:15: not valid UTF-8" utf8.json
printf "module.exports = {\n  name: 'ok',\n  description: '\xed\xa0\x80',\n};\n" >"$WORK/surrogate.js"
hostile "invalid UTF-8 (JS, encoded surrogate)" "surrogate.js:3:17: not valid UTF-8" surrogate.js
good_json dotdot | python3 -c 'import json,sys; d=json.load(sys.stdin); d["files"]["../../etc/cron.d/x"]="boom"; print(json.dumps(d))' >"$WORK/dotdot.json"
hostile "../ in a files key" 'dotdot.json: files["../../etc/cron.d/x"]: path leaves the template' dotdot.json
good_json absolute | python3 -c 'import json,sys; d=json.load(sys.stdin); d["per_resource"]["/etc/passwd"]="x"; print(json.dumps(d))' >"$WORK/absolute.json"
hostile "absolute path in a per_resource key" 'absolute.json: per_resource["/etc/passwd"]: absolute path' absolute.json
good_json mustache-dotdot | python3 -c 'import json,sys; d=json.load(sys.stdin); d["files"]["{{x}}/../../y"]="x"; print(json.dumps(d))' >"$WORK/mdotdot.json"
hostile "../ after a mustache span" "mdotdot.json: files" mdotdot.json
good_json many | python3 -c 'import json,sys; d=json.load(sys.stdin); d["files"]={f"f{i}.txt": "x" for i in range(1001)}; print(json.dumps(d))' >"$WORK/many.json"
hostile "1001 files in one template" "many.json: more than 1000 files" many.json
good_json innocent >"$WORK/twice.json"
hostile "one name in two files" "template 'innocent' is also defined in" twice.json

printf "module.exports = {\n  name: 'x',\n  stack: require('child_process').execSync('touch /tmp/pwned'),\n};\n" >"$WORK/call.js"
hostile "JS with a function call" "call.js:3:10: function call \`require(...)\` is not allowed" call.js
printf "export default {\n  name: 'x',\n  files: {'a.txt': \`\${process.exit(1)}\`},\n};\n" >"$WORK/interp.js"
hostile "JS template string with \${}" "interp.js:3:21: template substitution \`\${...}\` is not allowed" interp.js
printf "module.exports = {\n  name: 'x',\n  stack: flask,\n};\n" >"$WORK/ident.js"
hostile "JS identifier as a value" "ident.js:3:10: identifier \`flask\` is not a value" ident.js
printf "module.exports = {\n  name: 'x',\n  files: { 'a.txt': () => 'x' },\n};\n" >"$WORK/arrow.js"
hostile "JS arrow function" "arrow.js:3:21: parentheses are not allowed" arrow.js
printf "module.exports = {\n  name: 'x', ...other,\n};\n" >"$WORK/spread.js"
hostile "JS spread" "spread.js:2:14: spread" spread.js
printf "module.exports = {\n  [name]: 'x',\n};\n" >"$WORK/computed.js"
hostile "JS computed key" "computed.js:2:3: computed keys" computed.js
printf "const t = {name: 'x'};\nmodule.exports = t;\n" >"$WORK/code.js"
hostile "JS statements before the export" "code.js:1:1: expected \`module.exports = {\`" code.js
printf "module.exports = {\n  name: 'x',\n  tags: ['a' + 'b'],\n};\n" >"$WORK/concat.js"
hostile "JS expression" "concat.js:3:14: expected \`,\` or \`]\`" concat.js
printf "module.exports = {\n  name: 'x',\n  name: 'y',\n};\n" >"$WORK/dupkey.js"
hostile "JS duplicate key" 'dupkey.js:3:3: duplicate key "name"' dupkey.js
printf 'name: x\nstack: a\nname: y\n' >"$WORK/dupkey.yaml"
hostile "YAML duplicate key" 'dupkey.yaml:3:1: duplicate key "name"' dupkey.yaml
printf '{\n  "name": "x",\n  "stack": "flask",\n  "name": "y"\n}\n' >"$WORK/dupkey.json"
hostile "JSON duplicate key" 'dupkey.json: invalid JSON: duplicate key "name"' dupkey.json
printf '{\n  "name": "x",\n  "stack": \n}\n' >"$WORK/syntax.json"
hostile "JSON syntax error" "syntax.json: invalid JSON: parse error at line 4, column 1" syntax.json
printf '{\n  "name": "x",\n  "version": 1e999999\n}\n' >"$WORK/bignum.json"
hostile "JSON number too large" "bignum.json: invalid JSON: a number is too large" bignum.json
# Mustache generate_project can never compile: every generation would fail.
mustache_json() {  # NAME SECTION KEY CONTENT
  good_json "$1" | python3 -c 'import json,sys; d=json.load(sys.stdin); d[sys.argv[1]]={sys.argv[2]: sys.argv[3]}; print(json.dumps(d))' "$2" "$3" "$4"
}
mustache_json unclosed files a.txt '{{#resources}}x' >"$WORK/unclosed.json"
hostile "a file whose mustache section is never closed" 'unclosed.json: files["a.txt"]: Unclosed section "resources"' unclosed.json
mustache_json badpath per_resource '{{#name}}x.txt' 'x' >"$WORK/badpath.json"
hostile "a path whose mustache section is never closed" 'badpath.json: per_resource["{{#name}}x.txt"] (path): Unclosed section "name"' badpath.json
mustache_json delim files a.txt 'x {{=<% %>=}} <%y%>' >"$WORK/delim.json"
hostile "a file changing the mustache delimiters" 'delim.json: files["a.txt"]: changing the mustache delimiters' delim.json
mustache_json nested files a.txt "$(python3 -c 'print("{{#a}}" * 101 + "{{/a}}" * 101)')" >"$WORK/nested.json"
hostile "sections nested 101 deep" 'nested.json: files["a.txt"]: sections nested more than 100 levels' nested.json
esc_name="esc"$'\x1b'"]0;x"$'\x07'".json"
printf '{\n' >"$WORK/$esc_name"
hostile "control characters in a file name" 'esc\x1b]0;x\x07.json: invalid JSON' "$esc_name"
expect_not_in "$ERR" $'\x1b' "the error shows no raw escape character"
if [ ! -e /tmp/pwned ]; then ok "no JS was ever run"; else not_ok "JS ran"; fi

rm -rf "$H" && mkdir -p "$H/sub" "$WORK/outside"
good_json outside-tpl >"$WORK/outside/secret.json"
ln -s "$WORK/outside/secret.json" "$H/sub/link.json"
good_json innocent >"$H/innocent.json"
expect_exit 2 "symlink leaving the directory" -- dh run import_templates -p path="$H" --yes
expect_in "$ERR" "sub/link.json: symlink leaves" "symlink: clear message"
expect_eq "$(catalog)" "$after_v2" "symlink: nothing written"
ln -s "$WORK/outside" "$H/dirlink"
rm "$H/sub/link.json"
expect_exit 2 "directory symlink leaving the directory" -- dh run import_templates -p path="$H" --yes
expect_in "$ERR" "dirlink: symlink leaves" "directory symlink: clear message"
rm "$H/dirlink" && ln -s ../innocent.json "$H/sub/inside.json"
expect_exit 2 "a symlink inside the directory is read (and names the duplicate)" -- dh run import_templates -p path="$H" --yes
expect_in "$ERR" "also defined in" "symlink inside: read"

expect_exit 2 "import without path" -- dh run import_templates --yes
expect_exit 2 "missing path" -- dh run import_templates -p path="$WORK/none" --yes
expect_in "$ERR" "no such file or directory" "missing path: clear message"
expect_eq "$(catalog)" "$after_v2" "refused runs wrote nothing"

# --- three imports of one template rolled back in every order: B over A, then
# A again (revision 1 current once more). Rolling back the run that stored B
# while A is current deleted revision 2 ("already undone"), and the third run's
# rollback then made that deleted revision current.
rb_import() {  # NAME VERSION CONTENT: the run id
  printf '{"name":"%s","version":"%s","stack":"flask","description":"d","files":{"a.txt":"%s"}}' "$1" "$2" "$3" >"$WORK/rb.json"
  dh run import_templates -p path="$WORK/rb.json" --yes --json 2>"$ERR" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}
# Template $1's current_version when it names no stored revision.
dangling() {
  psql_q "select t.current_version from dihya.templates t where t.name = '$1' and not exists
            (select 1 from dihya.template_versions v where v.template_id = t.id and v.version = t.current_version)"
}
# current:revisions of template $1, or gone.
rb_state() {
  psql_q "select coalesce((select t.current_version || ':' || (select string_agg(v.version::text, ',' order by v.version)
            from dihya.template_versions v where v.template_id = t.id) from dihya.templates t where t.name = '$1'), 'gone')"
}
for case in "1 2 3=2:1,2" "1 3 2=1:1" "2 1 3=2:1,2" "2 3 1=2:1,2" "3 1 2=1:1" "3 2 1=gone"; do
  order=${case%=*} want=${case#*=} name="rb${case%=*}" && name=${name// /}
  runs=("" "$(rb_import "$name" 1.0.0 A)" "$(rb_import "$name" 1.1.0 B)" "$(rb_import "$name" 1.0.0 A)")
  expect_eq "$(rb_state "$name")" 1:1,2 "rollback order $order: revision 1 current again after the third import"
  for r in $order; do
    dh rollback "${runs[$r]}" >"$OUT" 2>"$ERR" && got=0 || got=$?
    expect_eq "$got/$(dangling "$name")" 0/ "rollback order $order: after run $r, current_version names a stored revision"
    if [ "$order" = "2 1 3" ] && [ "$r" = 2 ]; then
      expect_in "$OUT" "template $name: kept: current revision moved by a later run" "rolling back the run a later run undid reports the template kept"
    fi
  done
  expect_eq "$(rb_state "$name")" "$want" "rollback order $order: template ends as $want"
done
# Nor when the previous revision was deleted by other means (pruned by hand).
pruned=$(rb_import rbpruned 1.0.0 A) && pruned=$(rb_import rbpruned 1.1.0 B)
psql_q "delete from dihya.template_versions v using dihya.templates t where t.id = v.template_id and t.name = 'rbpruned' and v.version = 1" >/dev/null
expect_exit 0 "rollback of an import whose previous revision was deleted since" -- dh rollback "$pruned"
expect_in "$OUT" "template rbpruned: kept: its previous revision 1 was deleted since" "says why the template is kept"
expect_eq "$(rb_state rbpruned)" 2:2 "the current revision stays"
psql_q "delete from dihya.templates where name like 'rb%'" >/dev/null
expect_eq "$(catalog)" "$after_v2" "rollback orders: other templates untouched"

# --- characters YAML may not hold as they are (C1 controls, U+FFFE/U+FFFF) or
# takes for line breaks (NEL, LS, PS) are escaped in the YAML export: PyYAML
# refused the file ("unacceptable character #x0080"), and a line separator in
# a quoted scalar lost the spaces around it.
mkdir -p "$WORK/odd"
python3 - "$WORK/odd/odd-chars.json" <<'PY'
import json, sys
json.dump({"name": "odd-chars", "version": "1.0.0", "stack": "flask", "description": "d\u0080e \u2028 f",
           "files": {"c1.txt": "x\u0080y\n\nmore\u009f\n", "ls.txt": "one line with \u2028 sep",
                     "breaks.txt": "a\u0085b \u2029 c\nd\ufffe\uffff\ufeffe\n", "del.txt": "x\u007fy\n"}},
          open(sys.argv[1], "w"))
PY
expect_exit 0 "import a template with C1 controls, NEL, LS, PS, U+FFFE" -- dh run import_templates -p path="$WORK/odd" --yes
for fmt in yaml json; do
  expect_exit 0 "export it as $fmt" -- dh run import_templates -p mode=export -p name=odd-chars -p format=$fmt -p out="$WORK/odd-$fmt" --yes
done
expect_not_in "$WORK/odd-yaml/odd-chars.yaml" $'\xc2\x80' "no raw C1 control in the YAML export"
expect_not_in "$WORK/odd-yaml/odd-chars.yaml" $'\xe2\x80\xa8' "no raw line separator in the YAML export"
expect_exit 0 "import the YAML export" -- dh run import_templates -p path="$WORK/odd-yaml" --yes --json
expect_eq "$(json_field "d['unchanged'], d['added'], d['changed']")" "(1, 0, 0)" "the YAML export imports to the same checksum"
expect_eq "$(python3 -c "$canon" "$WORK/odd-json/odd-chars.json")" "$(python3 -c "$canon" "$WORK/odd/odd-chars.json")" "the JSON export holds the imported content"
if /usr/bin/python3 -c 'import yaml' 2>/dev/null; then
  a=$(/usr/bin/python3 -c 'import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1], encoding="utf-8")), sort_keys=True, separators=(",",":"), ensure_ascii=False))' "$WORK/odd-yaml/odd-chars.yaml" 2>&1 || true)
  expect_eq "$a" "$(python3 -c "$canon" "$WORK/odd/odd-chars.json")" "PyYAML reads the YAML export as the imported content"
fi
if NODE_PATH=/usr/share/nodejs node -e 'require("js-yaml")' 2>/dev/null; then
  a=$(NODE_PATH=/usr/share/nodejs node -e 'const s=(v)=>v&&typeof v==="object"&&!Array.isArray(v)?Object.keys(v).sort().reduce((o,k)=>(o[k]=s(v[k]),o),{}):Array.isArray(v)?v.map(s):v;console.log(JSON.stringify(s(require("js-yaml").load(require("fs").readFileSync(process.argv[1], "utf8")))))' "$WORK/odd-yaml/odd-chars.yaml" 2>&1 || true)
  expect_eq "$a" "$(python3 -c "$canon" "$WORK/odd/odd-chars.json")" "js-yaml reads the YAML export as the imported content"
fi
psql_q "delete from dihya.templates where name = 'odd-chars'" >/dev/null

# --- -0.0 is canonical as 0.0, which is what jsonb gives back: the checksum was
# taken of -0.0, so the JSON export of such a template imported again was a change.
mkdir -p "$WORK/negzero"
printf '{"name":"negzero","version":"1.0.0","stack":"flask","description":"d","variables":{"ratio":{"type":"number","default":-0.0,"maximum":-0.0}},"files":{"a.txt":"x"}}' >"$WORK/negzero/negzero.json"
expect_exit 0 "import a template with -0.0" -- dh run import_templates -p path="$WORK/negzero" --yes
expect_exit 0 "export it as JSON" -- dh run import_templates -p mode=export -p name=negzero -p out="$WORK/negzero-out" --yes
expect_not_in "$ERR" "does not match its checksum" "the stored content matches its checksum"
expect_eq "$(sha256sum "$WORK/negzero-out/negzero.json" | cut -d' ' -f1)" \
  "$(psql_q "select v.checksum from dihya.templates t join dihya.template_versions v on v.template_id = t.id where t.name = 'negzero'")" \
  "the checksum is that of the exported canonical JSON"
expect_exit 0 "import the export" -- dh run import_templates -p path="$WORK/negzero-out" --yes --json
expect_eq "$(json_field "d['unchanged'], d['added'], d['changed']")" "(1, 0, 0)" "the export of -0.0 imports to the same checksum"
psql_q "delete from dihya.templates where name = 'negzero'" >/dev/null

# --- -2^63 is an integer in a JS module as in JSON: the JS export of a template
# holding it read back as a double (a change), and -0x8000000000000000 was
# "number too large".
mkdir -p "$WORK/int64min" "$WORK/int64min-js"
printf '{"name":"int64min","version":"1.0.0","stack":"flask","description":"d","variables":{"n":{"type":"integer","default":-9223372036854775808,"minimum":-9223372036854775808}},"files":{"a.txt":"x"}}' >"$WORK/int64min/int64min.json"
expect_exit 0 "import a template with -9223372036854775808" -- dh run import_templates -p path="$WORK/int64min" --yes
expect_exit 0 "export it as JS" -- dh run import_templates -p mode=export -p name=int64min -p format=js -p out="$WORK/int64min-out" --yes
expect_exit 0 "import the JS export" -- dh run import_templates -p path="$WORK/int64min-out" --yes --json
expect_eq "$(json_field "d['unchanged'], d['added'], d['changed']")" "(1, 0, 0)" "the JS export of -2^63 imports to the same checksum"
sed -e 's/-9223372036854775808/-0x8000000000000000/g' "$WORK/int64min-out/int64min.js" >"$WORK/int64min-js/int64min.js"
expect_exit 0 "import -0x8000000000000000 from JS" -- dh run import_templates -p path="$WORK/int64min-js" --yes --json
expect_eq "$(json_field "d['unchanged'], d['added'], d['changed']")" "(1, 0, 0)" "-0x8000000000000000 is the same integer"
psql_q "delete from dihya.templates where name = 'int64min'" >/dev/null

finish
