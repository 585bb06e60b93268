#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# export_user_data against a real PostgreSQL: the platform seed plus tables
# shaped to trip a foreign-key walk (cycle, composite key, self-reference,
# quoted mixed-case names, a table named with a quote and a semicolon). The
# export must equal, table by table and byte for byte, what hand-written SQL
# returns; secrets are omitted; the archive is 0600, checksummed, never
# partial; text that is not UTF-8 (SQL_ASCII) is exported as base64, marked;
# a user with 1 M rows exports in flat memory.
source "$(dirname "$0")/lib.sh"
: "${DB_URL:?the pg fixture must be running}"
export DIHYA_PLUGIN_PATH="$DIHYA_BUNDLED_PLUGIN_DIR"
fixtures="$DIHYA_SOURCE_DIR/tests/fixtures"

"$fixtures/platform/seed.sh" --database-url "$DB_URL" --users 50 2>/dev/null
psql -X -q -v ON_ERROR_STOP=1 "$DB_URL" -f "$fixtures/export_user_data/extra.sql" >/dev/null
users_before=$(psql_q "select md5(string_agg(u::text, '|' order by id)) from users u")

x="$WORK/x"
export_to() {  # export_to DIR ARCHIVE: unpacks a zip into DIR
  rm -rf "$1"; mkdir -p "$1"
  python3 -c 'import sys,zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$2" "$1"
}
# The rows of a table's JSON file, one per line, sorted (the file has one row per line).
file_rows() {
  python3 - "$1" "$2" <<'PY'
import json, sys
d = sys.argv[1]
m = json.load(open(d + "/manifest.json"))
schema, table = sys.argv[2].split(".", 1)
t = [t for t in m["tables"] if t["schema"] == schema and t["table"] == table]
if len(t) != 1: print("MISSING TABLE"); sys.exit(0)
lines = open(d + "/" + t[0]["files"]["json"]["path"], encoding="utf-8").read().split("\n")
rows = [l[:-1] if l.endswith(",") else l for l in lines if l not in ("[", "]", "[]", "")]
print("\n".join(sorted(rows)))
PY
}
sql_rows() { psql_q "select row_to_json(x)::text from ($1) x" | LC_ALL=C sort | python3 -c 'import sys; print("\n".join(sorted(sys.stdin.read().splitlines())))'; }
same_rows() {  # same_rows TABLE SQL
  local got want
  got=$(file_rows "$x" "$1"); want=$(sql_rows "$2")
  if [ "$got" = "$want" ] && [ -n "$want" ]; then ok "export of $1 equals the hand-written query ($(printf '%s\n' "$want" | wc -l) rows)"
  else not_ok "export of $1 differs from the hand-written query"; diff <(echo "$got") <(echo "$want") | head -10 || true; fi
}

U=1
expect_exit 0 "export of user 1 by email" -- dh run export_user_data -p user=user1@example.test -p output="$WORK/u1.zip" --json
expect_eq "$(stat -c %a "$WORK/u1.zip")" 600 "archive mode is 0600"
export_to "$x" "$WORK/u1.zip"
[ -s "$x/README.txt" ] && ok "README.txt for the person" || not_ok "README.txt missing"
python3 - "$x" <<'PY' >"$OUT" && ok "manifest: every file's SHA-256 and byte count match" || not_ok "manifest checksums"
import hashlib, json, sys
d = sys.argv[1]; m = json.load(open(d + "/manifest.json"))
assert m["schema_version"] == 1 and m["generated_at"].endswith("Z") and m["run_id"]
for t in m["tables"]:
    for f in t["files"].values():
        data = open(d + "/" + f["path"], "rb").read()
        assert hashlib.sha256(data).hexdigest() == f["sha256"], f["path"]
        assert len(data) == f["bytes"]
    csv_lines = open(d + "/" + t["files"]["csv"]["path"], newline="").read()
    import csv, io
    assert len(list(csv.reader(io.StringIO(csv_lines)))) == t["rows"] + 1, t["table"]
print(len(m["tables"]))
PY
expect_eq "$(cat "$OUT")" 18 "18 tables reached from users (13 platform + 5 test, the evil one included)"

same_rows public.users "select id, email, display_name, locale, created_at, last_login_at, deleted_at from users where id = $U"
same_rows public.sessions "select id, user_id, created_at, expires_at, ip, user_agent from sessions where user_id = $U"
same_rows public.projects "select * from projects where owner_id = $U"
same_rows public.project_members "select * from project_members where user_id = $U or project_id in (select id from projects where owner_id = $U)"
same_rows public.templates "select * from templates where created_by = $U"
same_rows public.template_versions "select * from template_versions where template_id in (select id from templates where created_by = $U)"
same_rows public.generations "select * from generations where requested_by = $U or project_id in (select id from projects where owner_id = $U)
  or template_version_id in (select v.id from template_versions v join templates t on t.id = v.template_id where t.created_by = $U)"
same_rows public.audit_logs "select * from audit_logs where user_id = $U"
same_rows public.mail_outbox "select * from mail_outbox where user_id = $U"
same_rows public.consents "select * from consents where user_id = $U"
same_rows public.articles "select * from articles where author_id = $U or reviewer_id = $U or featured_comment_id in (select id from comments where author_id = $U)"
same_rows public.comments "select id, article_id, author_id, parent_id, \"order\", body, score, translate(encode(attachment, 'base64'), E'\n', '') as attachment, meta, created_at
  from comments where author_id = $U or article_id in (select id from articles where author_id = $U or reviewer_id = $U)"
same_rows public.shelves "select * from shelves where owner_id = $U"
same_rows public.shelf_items "select i.* from shelf_items i join shelves s using (owner_id, shelf_no) where s.owner_id = $U"
same_rows public.UserNotes "select * from \"UserNotes\" where \"UserId\" = $U"
same_rows 'public.evil"; DROP TABLE users; --' "select * from \"evil\"\"; DROP TABLE users; --\" where user_id = $U"
expect_eq "$(file_rows "$x" public.uploads)" "" "a table without rows for the user is exported empty"
expect_eq "$(psql_q "select md5(string_agg(u::text, '|' order by id)) from users u")" "$users_before" "the evil table name injected nothing (users intact)"

expect_not_in "$x/tables/001_public.users.json" password_hash "password_hash is not exported"
grep -rl token_hash "$x/tables" >"$OUT" 2>&1 && not_ok "token_hash leaked: $(cat "$OUT")" || ok "token_hash columns not exported"
expect_in "$x/manifest.json" '"password_hash"' "omitted columns listed in the manifest"
c1=$(grep -h '"id":1,' "$x"/tables/*comments.json)
case "$c1" in *'"created_at":"2026-03-01T09:00:00+00:00"'*) ok "timestamptz in ISO-8601 UTC" ;; *) not_ok "timestamptz: $c1" ;; esac
case "$c1" in *'"score":12345678901234567.123456789012'*) ok "numeric exact" ;; *) not_ok "numeric: $c1" ;; esac
case "$c1" in *'"attachment":"AP8Q"'*) ok "bytea as base64" ;; *) not_ok "bytea: $c1" ;; esac
case "$c1" in *'"meta":{"a": null, "b": [1, 2.50, "x"]}'*) ok "jsonb as JSON" ;; *) not_ok "jsonb: $c1" ;; esac
expect_in "$(ls "$x"/tables/*_public.comments.csv)" '"premier, ""cité""' "CSV quotes commas, quotes and newlines"

# tar.zst: the same files, same checksums.
expect_exit 0 "tar.zst export" -- dh run export_user_data -p user=$U -p format=tar.zst -p output="$WORK/u1.tar.zst"
mkdir -p "$WORK/t" && tar --zstd -xf "$WORK/u1.tar.zst" -C "$WORK/t"
expect_eq "$(python3 -c 'import json,sys; print([[f["sha256"] for f in t["files"].values()] for t in json.load(open(sys.argv[1]))["tables"]])' "$WORK/t/manifest.json")" \
  "$(python3 -c 'import json,sys; print([[f["sha256"] for f in t["files"].values()] for t in json.load(open(sys.argv[1]))["tables"]])' "$x/manifest.json")" \
  "tar.zst holds the same files as the zip"

# A config: a logical link without a constraint, an excluded table, an omitted column.
psql_q "create table visits (id serial primary key, visitor bigint, page text); insert into visits (visitor, page) values ($U, '/a'), ($U, '/b'), (2, '/c')" >/dev/null
cat >"$WORK/config.yaml" <<'YAML'
graph:
  links:
    - {from: visits, columns: [visitor], to: users, ref_columns: [id]}
  exclude_tables: [shelves]
omit_columns:
  - {table: public.comments, column: body}
YAML
expect_exit 0 "export with a config" -- dh run export_user_data -p user=$U -p config="$WORK/config.yaml" -p output="$WORK/c.zip"
export_to "$WORK/c" "$WORK/c.zip"
x="$WORK/c" same_rows public.visits "select * from visits where visitor = $U"
x="$WORK/c"; expect_eq "$(file_rows "$x" public.shelf_items)" "MISSING TABLE" "excluded table (and what hangs only from it) not exported"
grep -q '"body"' "$x"/tables/*comments.json && not_ok "omitted column body exported" || ok "configured omitted column left out"
x="$WORK/x"

# Hostile inputs: one line, exit 2, nothing written.
expect_exit 2 "unknown user" -- dh run export_user_data -p user=999999 -p output="$WORK/no1.zip"
expect_one_line_error "unknown user"
expect_exit 2 "an injection attempt as user" -- dh run export_user_data -p "user=1; DROP TABLE users" -p output="$WORK/no2.zip"
expect_exit 2 "an injection attempt as email" -- dh run export_user_data -p "user=' or 1=1 --@x" -p output="$WORK/no3.zip"
expect_exit 2 "existing output is never overwritten" -- dh run export_user_data -p user=$U -p output="$WORK/u1.zip"
ln -s "$WORK/link-target.zip" "$WORK/dangling.zip"
expect_exit 2 "an output that is a dangling symbolic link is refused before the run" -- \
  dh run export_user_data -p user=$U -p output="$WORK/dangling.zip"
expect_in "$ERR" "already exists (never overwritten)" "the refusal says the name is taken"
[ ! -e "$WORK/link-target.zip" ] && ok "nothing was written through the link" || not_ok "the archive went through the link"
printf 'graph: [unclosed\n' >"$WORK/bad.yaml"
expect_exit 2 "bad config YAML" -- dh run export_user_data -p user=$U -p config="$WORK/bad.yaml" -p output="$WORK/no4.zip"
expect_one_line_error "bad config YAML"
printf 'graph:\n  links:\n    - {from: "no_such_table", columns: [a], to: users}\n' >"$WORK/bad2.yaml"
expect_exit 2 "config naming an unknown table" -- dh run export_user_data -p user=$U -p config="$WORK/bad2.yaml" -p output="$WORK/no5.zip"
printf 'surprise: 1\n' >"$WORK/bad3.yaml"
expect_exit 2 "config with an unknown key" -- dh run export_user_data -p user=$U -p config="$WORK/bad3.yaml" -p output="$WORK/no6.zip"
# A database that cannot be reached is a failed run (exit 1), not a bad `user`.
DIHYA_DATABASE_URL="postgresql:///x?host=$WORK/no-such-socket-dir&user=postgres" \
  expect_exit 1 "an unreachable database fails the run" -- dh run export_user_data -p user=1 -p output="$WORK/no7.zip"
expect_one_line_error "an unreachable database"
expect_in "$ERR" "cannot connect to the database" "the error says the database cannot be reached"
expect_not_in "$ERR" "parameter 'user'" "the error does not blame the user parameter"
ls "$WORK"/no*.zip >/dev/null 2>&1 && not_ok "a refused run wrote a file" || ok "refused runs wrote nothing"
expect_eq "$(psql_q "select md5(string_agg(u::text, '|' order by id)) from users u")" "$users_before" "users table intact after hostile inputs"

# A SQL_ASCII database stores text as any bytes. What is not UTF-8 is
# exported as the base64 of its exact bytes ({"$bytes_base64": ...}, in CSV
# and keys "$bytes_base64:..."), named in the manifest: every file stays
# UTF-8 and every JSON file parses; valid text is exported as it is.
asc_db="${DB_NAME}_ascii"
psql -X -q -v ON_ERROR_STOP=1 "$base_url" -c "create database $asc_db encoding 'SQL_ASCII' lc_collate 'C' lc_ctype 'C' template template0" >/dev/null
asc_url=${base_url/\/dihya_test\?/\/$asc_db?}
/usr/bin/python3 - "$WORK/ascii.sql" <<'PY'
import sys
open(sys.argv[1], "wb").write(
    b"set client_encoding = 'SQL_ASCII';\n"
    b"create table users (id int primary key, email text, bio text, city text);\n"
    b"insert into users values (1, 'a@x', 'bad\xff\xfe utf8 \xc3', 'Montr\xc3\xa9al'), (2, 'b@x', 'fine', 'Oran');\n"
    b"create table notes (id int primary key, user_id int references users, j json, tags text[], \"k\xe9y\" text);\n"
    b"insert into notes values (1, 1, '{\"a\xff\": \"v\xfe\\u00e9\\n\", \"ok\": [1, \"x\xc3\"]}', array['ok', 't\xe9'], '\xe9t\xe9');\n")
PY
psql -X -q -v ON_ERROR_STOP=1 "$asc_url" -f "$WORK/ascii.sql" >/dev/null
expect_exit 0 "export from a SQL_ASCII database holding text that is not UTF-8" -- \
  dh --database-url "$asc_url" run export_user_data -p user=1 -p output="$WORK/ascii.zip"
export_to "$WORK/a" "$WORK/ascii.zip"
/usr/bin/python3 - "$WORK/a" >"$OUT" 2>&1 <<'PY' && ok "every file is UTF-8, every JSON file parses, the bytes come back exactly" || not_ok "not-UTF-8 text in the archive"
import base64, csv, io, json, os, sys
d = sys.argv[1]
for root, _, files in os.walk(d):
    for f in files:
        data = open(os.path.join(root, f), "rb").read()
        data.decode("utf-8")  # strict: raises on any invalid byte
        if f.endswith(".json"): json.loads(data)
m = json.load(open(d + "/manifest.json", encoding="utf-8"))
b = lambda v: base64.b64decode(v["$bytes_base64"])
users = json.load(open(d + "/tables/001_public.users.json", encoding="utf-8"))
assert users == [{"id": 1, "email": "a@x", "bio": {"$bytes_base64": base64.b64encode(b"bad\xff\xfe utf8 \xc3").decode()},
                  "city": "Montr\u00e9al"}], users
notes = json.load(open(d + "/tables/002_public.notes.json", encoding="utf-8"))[0]
key = "$bytes_base64:" + base64.b64encode(b"k\xe9y").decode()
assert b(notes[key]) == b"\xe9t\xe9", notes
assert notes["tags"][0] == "ok" and b(notes["tags"][1]) == b"t\xe9", notes
j = notes["j"]
assert list(j) == ["$bytes_base64:" + base64.b64encode(b"a\xff").decode(), "ok"], j
assert b(j[list(j)[0]]) == b"v\xfe\xc3\xa9\n" and j["ok"][0] == 1 and b(j["ok"][1]) == b"x\xc3", j
rows = list(csv.reader(io.StringIO(open(d + "/tables/001_public.users.csv", encoding="utf-8", newline="").read())))
assert rows[1] == ["1", "a@x", "$bytes_base64:" + base64.b64encode(b"bad\xff\xfe utf8 \xc3").decode(), "Montr\u00e9al"], rows
cols = {t["table"]: (t["columns"], t["bytes_base64_columns"]) for t in m["tables"]}
assert cols == {"users": (["id", "email", "bio", "city"], ["bio"]),
                "notes": (["id", "user_id", "j", "tags", key], ["j", "tags", key])}, cols
assert "$bytes_base64" in m["bytes_base64"]
PY
psql -X -q "$base_url" -c "drop database $asc_db" >/dev/null
# Another encoding (LATIN1) is converted to UTF-8, not exported as its own bytes.
l1_db="${DB_NAME}_latin1"
psql -X -q -v ON_ERROR_STOP=1 "$base_url" -c "create database $l1_db encoding 'LATIN1' lc_collate 'C' lc_ctype 'C' template template0" >/dev/null
l1_url=${base_url/\/dihya_test\?/\/$l1_db?}
psql -X -q -v ON_ERROR_STOP=1 "$l1_url" -c "create table users (id int primary key, email text, bio text)" \
  -c "insert into users values (1, convert_from('\\x6a6f73e94078'::bytea, 'LATIN1'), convert_from('\\x636166e9'::bytea, 'LATIN1'))" >/dev/null
expect_exit 0 "export from a LATIN1 database, the user named by a UTF-8 email" -- \
  dh --database-url "$l1_url" run export_user_data -p user=josé@x -p output="$WORK/latin1.zip"
export_to "$WORK/l" "$WORK/latin1.zip"
expect_eq "$(cat "$WORK/l/tables/001_public.users.json")" $'[\n{"id":1,"email":"josé@x","bio":"café"}\n]' "LATIN1 text comes out as UTF-8"
psql -X -q "$base_url" -c "drop database $l1_db" >/dev/null

# Before the million rows below: the exercise copies and fingerprints the whole database.
expect_exit 0 "check --exercise" -- dh check export_user_data --exercise

# 1 M rows for user 3: flat memory, and a timeout leaves no partial archive.
N=${EXPORT_BIG_ROWS:-1000000}
psql_q "create table events (id bigserial primary key, user_id bigint not null references users (id), kind text not null, payload jsonb, at timestamptz not null);
        insert into events (user_id, kind, payload, at) select 3, 'click', jsonb_build_object('n', g, 'path', '/p/' || g), '2026-01-01'::timestamptz + g * interval '1 second' from generate_series(1, $N) g;
        create index on events (user_id); analyze events" >/dev/null
if [ "$N" -ge 200000 ]; then
  expect_exit 4 "a timed-out export" -- dh run export_user_data -p user=3 -p output="$WORK/big-timeout.zip" --timeout 1
  ls -a "$WORK" | grep -q 'big-timeout' && not_ok "a partial archive was left: $(ls -a "$WORK" | grep big-timeout)" || ok "no partial archive after a timeout"
fi
start=$EPOCHREALTIME
/usr/bin/time -f '%M' -o "$WORK/rss" "$DIHYA_HOST" run export_user_data -p user=3 -p output="$WORK/big.zip" --json >"$OUT" 2>"$ERR" && ok "export of $N rows" || not_ok "export of $N rows"
secs=$(python3 -c "print(round($EPOCHREALTIME - $start, 1))")
rss_kb=$(cat "$WORK/rss")
echo "     ($N rows in ${secs}s, max RSS of the host and its plugin child: $((rss_kb / 1024)) MB)"
# AddressSanitizer's shadow memory and quarantine say nothing of the plugin's own use.
if [ "${DIHYA_TEST_SANITIZED:-0}" = 1 ]; then
  echo "skip max RSS under 100 MB: sanitizer build ($((rss_kb / 1024)) MB)"
else
  [ "$rss_kb" -lt 102400 ] && ok "max RSS under 100 MB ($((rss_kb / 1024)) MB)" || not_ok "max RSS $((rss_kb / 1024)) MB"
fi
expect_eq "$(python3 -c 'import json,sys,zipfile; m=json.loads(zipfile.ZipFile(sys.argv[1]).read("manifest.json")); print([t["rows"] for t in m["tables"] if t["table"]=="events"][0])' "$WORK/big.zip")" "$N" "all $N rows in the archive"

# A file created at the output path while the export runs (after validate
# found none) is never replaced: the export fails and leaves no temp file.
# Created as soon as the temp archive appears, seconds before the rename.
if [ "$N" -ge 200000 ]; then
  race="$WORK/race.zip"
  "$DIHYA_HOST" run export_user_data -p user=3 -p output="$race" >"$OUT" 2>"$ERR" &
  export_pid=$!
  for _ in $(seq 1200); do compgen -G "$WORK/.race.zip.partial-*" >/dev/null && break; sleep 0.05; done
  compgen -G "$WORK/.race.zip.partial-*" >/dev/null && ok "the temp archive appeared" || not_ok "no temp archive seen"
  echo "operator's own file" >"$race"
  got=0; wait "$export_pid" || got=$?
  expect_eq "$got" 1 "an export whose output appeared meanwhile fails"
  expect_in "$ERR" "$race was created while the export ran" "the error names the output"
  expect_eq "$(cat "$race")" "operator's own file" "the file created meanwhile is intact"
  expect_eq "$(compgen -G "$WORK/.race.zip.partial-*" || true)" "" "no temp archive left"
fi

finish
