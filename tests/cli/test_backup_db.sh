#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# backup_db end to end on the seeded reference schema: backup, verify (and
# every kind of damage it must catch), list, restore over a modified database
# and rollback of it, restore refused without force, prune with its refusal to
# delete the only verified backup, and a password that never reaches argv.
source "$(dirname "$0")/lib.sh"
: "${DB_URL:?the pg fixture must be running}"
export DIHYA_PLUGIN_PATH="$DIHYA_BUNDLED_PLUGIN_DIR"
SRC=${DIHYA_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}

"$SRC/tests/fixtures/platform/seed.sh" --database-url "$DB_URL" --users 300 2>/dev/null

B="$WORK/backups"
bdb() { dh run backup_db -p backup_dir="$B" "$@"; }

# One md5 per table, over the rows ordered by their text: equal output means
# equal content.
fingerprint() {
  psql -X -q -t -A -v ON_ERROR_STOP=1 "${1:-$DB_URL}" <<'SQL'
select format('select %L || '':'' || md5(coalesce(string_agg(t::text, ''|'' order by t::text), '''')) from %I.%I t',
              tablename, schemaname, tablename)
from pg_tables where schemaname = 'public' order by tablename \gexec
SQL
}
url_of() { echo "${DB_URL/\/$DB_NAME\?/\/$1?}"; }
json_field() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
only_backup() { ls "$B" | grep -v '^\.' | head -n 1; }

original=$(fingerprint)
[ "$(echo "$original" | wc -l)" -ge 10 ] && ok "seeded schema has tables" || not_ok "seed gave too few tables"

expect_exit 0 "conformance checks (metadata, schema, loading)" -- dh check backup_db
expect_in "$OUT" "backup_db: conforms" "backup_db conforms"
# The first example with params is a read-only list: safe to exercise.
expect_exit 0 "check --exercise (dry run, run, rollback of the first example)" -- dh check backup_db --exercise
expect_in "$OUT" "pass  run then rollback restores the prior state" "conformance run->rollback passes"

# --- validation and dry run --------------------------------------------------
expect_exit 2 "relative backup_dir refused" -- dh run backup_db -p backup_dir=relative/dir
expect_exit 2 "verify of a missing backup_dir refused" -- bdb -p mode=verify
expect_one_line_error "missing backup_dir"
expect_in "$ERR" "does not exist" "the error names the problem"
expect_exit 2 "prune without keep rules refused" -- bdb -p mode=prune
expect_exit 0 "list of a backup_dir that does not exist yet" -- bdb -p mode=list
expect_in "$OUT" "0 backup(s)" "an empty list"
expect_exit 0 "dry-run backup" -- bdb -p mode=backup --dry-run
expect_in "$OUT" "would run" "dry run says what it would do"
[ ! -e "$B" ] && ok "dry run created nothing" || not_ok "dry run created $B"

# --- backup -------------------------------------------------------------------
expect_exit 0 "backup" -- bdb -p mode=backup -p jobs=2
name=$(only_backup)
[ -n "$name" ] && [ -f "$B/$name/manifest.json" ] && ok "backup directory with manifest" || not_ok "no backup in $B"
expect_eq "$(ls -A "$B" | grep -c '^\.partial' || true)" 0 "no partial directory left"
manifest="$B/$name/manifest.json"
expect_eq "$(json_field 'all(len(f["sha256"])==64 for f in d["files"]) and len(d["files"])>5 and len(d["manifest_sha256"])==64 and "PostgreSQL" in d["pg_dump_version"] and d["database"]!=""' <"$manifest")" True \
  "manifest has a sha256 per file, its own checksum and tool versions"
files_sum=$(json_field 'sum(f["size"] for f in d["files"])' <"$manifest")
expect_eq "$files_sum" "$(find "$B/$name/dump" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')" "manifest sizes match the files"
expect_eq "$(cd "$B/$name" && json_field '"\n".join(f["sha256"]+"  "+f["path"] for f in d["files"])' <manifest.json | sha256sum -c --quiet 2>&1 | wc -l)" 0 \
  "manifest checksums agree with sha256sum"

# --- verify and list --------------------------------------------------------------
expect_exit 0 "verify of an intact backup" -- bdb -p mode=verify
expect_in "$OUT" "archive entries" "verify ran pg_restore --list"
expect_exit 0 "list --json" -- bdb -p mode=list --json
expect_eq "$(json_field '[(b["name"], b["verified"], type(b["age_seconds"]).__name__, b["size_bytes"] > 0) for b in d["result"]["backups"]]' <"$OUT")" \
  "[('$name', 'ok', 'int', True)]" "list --json: name, verified state, age, size"
expect_exit 0 "list as a table" -- bdb -p mode=list
expect_in "$OUT" "VERIFIED" "list prints a table"

# --- damage is caught ----------------------------------------------------------------
damaged_copy() {  # damaged_copy DIR: a fresh copy of the backup in DIR
  rm -rf "$1"; mkdir -p "$1"; cp -a "$B/$name" "$1/"; rm -f "$1/$name/verified.json"
}
big=$(cd "$B/$name" && find dump -name '*.dat.gz' -printf '%s %p\n' | sort -n | tail -n 1 | cut -d' ' -f2)
D="$WORK/damage"
damaged_copy "$D"
python3 - "$D/$name/$big" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 0x01
open(p, "wb").write(b)
PY
expect_exit 1 "verify catches a flipped byte" -- dh run backup_db -p backup_dir="$D" -p mode=verify
expect_in "$OUT" "changed: $big: expected sha256" "the report names the changed file and both checksums"
expect_exit 0 "list after a failed verify" -- dh run backup_db -p backup_dir="$D" -p mode=list
expect_in "$OUT" "failed" "list shows the failed verification"

damaged_copy "$D"
rm "$D/$name/$big"
expect_exit 1 "verify catches a deleted file" -- dh run backup_db -p backup_dir="$D" -p mode=verify
expect_in "$OUT" "missing: $big" "the report names the missing file"

damaged_copy "$D"
echo "not part of the backup" >"$D/$name/dump/9999.dat"
expect_exit 1 "verify catches an extra file" -- dh run backup_db -p backup_dir="$D" -p mode=verify
expect_in "$OUT" "extra: dump/9999.dat" "the report names the extra file"

damaged_copy "$D"
mkfifo "$D/$name/dump/planted.fifo"
expect_exit 1 "verify reports a planted fifo without hanging" -- timeout 20 "$DIHYA_HOST" run backup_db -p backup_dir="$D" -p mode=verify
expect_in "$OUT" "unreadable: dump/planted.fifo" "the fifo is named"
expect_in "$OUT" "extra: dump/planted.fifo (not in the manifest)" "the fifo is extra, with no checksum to show"

# A data file replaced by a symlink to a copy elsewhere is named by its place
# in the backup, not by where the link leads (it was "unreadable: ../../real.gz").
damaged_copy "$D"
mv "$D/$name/$big" "$WORK/real.gz"
ln -s ../../../real.gz "$D/$name/$big"
expect_exit 1 "verify catches a data file replaced by a symlink" -- dh run backup_db -p backup_dir="$D" -p mode=verify
expect_in "$OUT" "unreadable: $big (" "the report names the file inside the backup"
expect_in "$OUT" "$big is a symlink to ../../../real.gz, not a regular file" "the report says it is a symlink, and to what"
expect_eq "$(grep -c 'DAMAGED' "$OUT")" 1 "one problem: not also missing, extra or changed"
rm -f "$WORK/real.gz"

damaged_copy "$D"
python3 - "$D/$name/manifest.json" <<'PY'
import json, sys
p = sys.argv[1]
m = json.load(open(p))
m["files"] = {"not": "a list"}
m["manifest_sha256"] = 42
json.dump(m, open(p, "w"))
PY
expect_exit 1 "verify of a manifest with wrong types" -- dh run backup_db -p backup_dir="$D" -p mode=verify
expect_in "$OUT" "manifest.json: has no list of files" "a malformed manifest is reported, not a crash"

damaged_copy "$D"
python3 - "$D/$name/manifest.json" <<'PY'
import json, sys
p = sys.argv[1]
m = json.load(open(p))
m["database_size_bytes"] += 1
json.dump(m, open(p, "w"), indent=2)
PY
expect_exit 1 "verify catches an edited manifest" -- dh run backup_db -p backup_dir="$D" -p mode=verify
expect_in "$OUT" "manifest.json: manifest checksum mismatch" "the report names the manifest"

damaged_copy "$D"
python3 - "$D/$name/manifest.json" "$big" <<'PY'
import json, sys
p, big = sys.argv[1], sys.argv[2]
m = json.load(open(p))
for f in m["files"]:
    if f["path"] == big:
        f["sha256"] = "0" * 64
json.dump(m, open(p, "w"), indent=2)
PY
expect_exit 1 "verify catches a forged file checksum in the manifest" -- dh run backup_db -p backup_dir="$D" -p mode=verify
expect_in "$OUT" "changed: $big: expected sha256 0000" "forged checksum: the file is named"
expect_in "$OUT" "manifest checksum mismatch" "forged checksum: the manifest seal is broken too"
expect_exit 1 "restore refuses a damaged backup" -- dh run backup_db -p backup_dir="$D" -p mode=restore -p target_database="${DB_NAME}_x" --yes
expect_eq "$(psql_q "select count(*) from pg_database where datname = '${DB_NAME}_x'")" 0 "nothing created from a damaged backup"

# --- a backup named by absolute path outside backup_dir ---------------------------------
# Verified read-only: the plugin may write in backup_dir only, so the verdict
# is reported, not recorded in the backup (it used to fail the run with a
# sandbox denial while the dry run passed); the dry run says the same.
E="$WORK/elsewhere"
mkdir -p "$E" && cp -a "$B/$name" "$E/" && rm -f "$E/$name/verified.json"
for mode in --dry-run ""; do
  expect_exit 0 "verify of a backup outside backup_dir ${mode:-(real run)}" -- bdb -p mode=verify -p backup="$E/$name" $mode --json
  expect_eq "$(json_field '(d["result"]["ok"], d["result"]["recorded"], d["result"]["path"])' <"$OUT")" "(True, False, '$E/$name')" \
    "outside backup_dir ${mode:-(real run)}: verified, not recorded"
  expect_in "$OUT" "the verified state was not recorded: $E/$name is outside backup_dir $B" "the result says why ${mode:-(real run)}"
done
expect_exit 0 "the same as a text report" -- bdb -p mode=verify -p backup="$E/$name"
expect_in "$OUT" "is outside backup_dir $B" "the report says the verdict was not recorded"
expect_in "$OUT" "checksums and archive ok (outside backup_dir: not recorded)" "the summary says it too"
[ ! -e "$E/$name/verified.json" ] && ok "nothing written in the backup outside backup_dir" || not_ok "$E/$name/verified.json written"
rm "$E/$name/$big"
expect_exit 1 "a damaged backup outside backup_dir fails verify" -- bdb -p mode=verify -p backup="$E/$name"
expect_in "$OUT" "missing: $big" "the damage is reported"
[ ! -e "$E/$name/verified.json" ] && ok "nor is a failed verdict written there" || not_ok "$E/$name/verified.json written"
# Positive guard: named by absolute path inside backup_dir, it is recorded.
rm -f "$B/$name/verified.json"
expect_exit 0 "verify of a backup in backup_dir named by absolute path" -- bdb -p mode=verify -p backup="$B/$name" --json
expect_eq "$(json_field 'd["result"]["recorded"]' <"$OUT")" "True" "inside backup_dir: recorded"
[ -f "$B/$name/verified.json" ] && ok "verified.json written in backup_dir" || not_ok "$B/$name/verified.json missing"
# Through a symbolic link in backup_dir to the outside copy: still outside.
ln -s "$E/$name" "$B/linked"
expect_exit 1 "verify through a symlink in backup_dir to a damaged backup outside" -- bdb -p mode=verify -p backup="$B/linked"
expect_in "$OUT" "is outside backup_dir" "a symlink out of backup_dir is not inside it"
rm "$B/linked"

# --- restore over a modified database, then rollback -------------------------------------
psql_q "delete from audit_logs where id % 2 = 0; update users set display_name = 'changed' where id < 50; drop table consents" >/dev/null
modified=$(fingerprint)
[ "$modified" != "$original" ] && ok "data changed after the backup" || not_ok "the modification changed nothing"

expect_exit 2 "restore over a non-empty database without force is refused" -- bdb -p mode=restore --yes
expect_one_line_error "restore without force"
expect_in "$ERR" "force=true" "the refusal names the fix"
expect_eq "$(fingerprint)" "$modified" "refused restore changed nothing"

expect_exit 0 "restore dry run" -- bdb -p mode=restore -p force=true --dry-run
expect_in "$OUT" "would snapshot database $DB_NAME" "dry run announces the snapshot"
expect_eq "$(fingerprint)" "$modified" "restore dry run changed nothing"

expect_exit 0 "restore with force" -- bdb -p mode=restore -p force=true -p jobs=2 --yes
restore_run=$(last_run_id)
expect_eq "$(fingerprint)" "$original" "restored data is identical to the backup (row checksums per table)"
[ -d "$B/.snapshots/$restore_run" ] && ok "snapshot kept after the restore" || not_ok "no snapshot in $B/.snapshots/$restore_run"

expect_exit 0 "rollback of the restore" -- dh rollback "$restore_run"
expect_eq "$(fingerprint)" "$modified" "rollback brings the prior content back"
expect_exit 0 "rollback again (idempotent)" -- dh rollback "$restore_run"
expect_eq "$(fingerprint)" "$modified" "second rollback leaves the prior content"

# Under umask 000 every directory the plugin makes is still 0700, parents
# included; a snapshot another user could have swapped is not restored.
U="$WORK/umask0/backups"
um_db="${DB_NAME}_umask"
um_q() { psql -X -q -t -A -v ON_ERROR_STOP=1 "$(url_of "$um_db")" -c "$1"; }
psql_q "create database $um_db" >/dev/null
um_q "create table t(x text); insert into t values ('backed up')" >/dev/null
old_umask=$(umask)
umask 000
DIHYA_DATABASE_URL="$(url_of "$um_db")" expect_exit 0 "backup under umask 000" -- \
  dh run backup_db -p backup_dir="$U" -p mode=backup
um_q "update t set x = 'after the backup'" >/dev/null
DIHYA_DATABASE_URL="$(url_of "$um_db")" expect_exit 0 "restore under umask 000" -- \
  dh run backup_db -p backup_dir="$U" -p mode=restore -p force=true --yes
umask "$old_umask"
umask_run=$(last_run_id)
expect_eq "$(stat -c %a "$WORK/umask0" "$U" "$U/.snapshots" "$U/.snapshots/$umask_run" | sort -u)" 700 \
  "backup_dir, its new parent, .snapshots and the run's snapshot dir are 0700"
chmod 777 "$U/.snapshots"
DIHYA_DATABASE_URL="$(url_of "$um_db")" expect_exit 1 "rollback from a snapshot dir others could write is refused" -- \
  dh rollback "$umask_run"
expect_in "$ERR" "writable by others" "the refusal says why"
expect_eq "$(um_q "select x from t")" "backed up" "the refused rollback changed nothing"
chmod 700 "$U/.snapshots"
DIHYA_DATABASE_URL="$(url_of "$um_db")" expect_exit 0 "rollback once the snapshot dir is private again" -- \
  dh rollback "$umask_run"
expect_eq "$(um_q "select x from t")" "after the backup" "that rollback brings the prior content back"
psql_q "drop database $um_db" >/dev/null

# A snapshot that fails for lack of space leaves no directory behind: not
# .snapshots/<run-id>, nor .snapshots when the run made it; one that was
# there stays. Needs root, for a 200 KiB tmpfs.
small=$(mktemp -d /tmp/dihya-small.XXXXXX)
unmount_small() {
  umount "$small" 2>/dev/null || umount -l "$small" 2>/dev/null || true
  rmdir "$small" 2>/dev/null || true
}
# Unmounted first, then lib.sh's cleanup (as test_rollback_full_disk.sh does it).
trap 'unmount_small; rm -rf "$WORK" "$HOST_DIRS"; [ -n "$DB_NAME" ] && psql -X -q "$base_url" -c "drop database if exists $DB_NAME with (force)" >/dev/null 2>&1 || true' EXIT
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=200k,mode=0700 tmpfs "$small"; then
  snap_src="${DB_NAME}_snapsrc"; snap_tgt="${DB_NAME}_snaptgt"
  psql_q "create database $snap_src" >/dev/null
  psql_q "create database $snap_tgt" >/dev/null
  psql -X -q -v ON_ERROR_STOP=1 "$(url_of "$snap_src")" -c "create table t(x text); insert into t values ('small')" >/dev/null
  psql -X -q -v ON_ERROR_STOP=1 "$(url_of "$snap_tgt")" -c \
    "create table big as select g, md5(g::text) || md5((g * 7)::text) as v from generate_series(1, 20000) g" >/dev/null
  DIHYA_DATABASE_URL="$(url_of "$snap_src")" expect_exit 0 "a small backup" -- \
    dh run backup_db -p backup_dir="$WORK/snap-backups" -p mode=backup
  cp -a "$WORK/snap-backups/." "$small/"
  snap_backup=$(ls "$small")
  expect_exit 1 "a restore whose snapshot does not fit on the disk fails" -- \
    dh run backup_db -p backup_dir="$small" -p mode=restore -p target_database="$snap_tgt" -p force=true --yes
  expect_in "$ERR" "No space left on device" "the failure names the full disk"
  expect_eq "$(ls -A "$small")" "$snap_backup" "no .snapshots directory is left behind"
  mkdir -p -m 700 "$small/.snapshots"
  expect_exit 1 "the same restore with a .snapshots already there" -- \
    dh run backup_db -p backup_dir="$small" -p mode=restore -p target_database="$snap_tgt" -p force=true --yes
  expect_eq "$(ls -A "$small" | tr '\n' ' ')$(ls -A "$small/.snapshots")" ".snapshots $snap_backup " \
    "the .snapshots that was there stays, without the run's directory"
  expect_eq "$(psql -X -q -t -A "$(url_of "$snap_tgt")" -c "select count(*) from big")" 20000 "the target is untouched"
  unmount_small
  psql_q "drop database $snap_src" >/dev/null
  psql_q "drop database $snap_tgt" >/dev/null
else
  echo "skip a snapshot that fails for lack of space: mounting a small tmpfs needs root"
  rmdir "$small"
fi

# Into a database that did not exist: rollback drops it.
new_db="${DB_NAME}_new"
expect_exit 0 "restore into a new database" -- bdb -p mode=restore -p target_database="$new_db" --yes
new_run=$(last_run_id)
expect_eq "$(fingerprint "$(url_of "$new_db")")" "$original" "new database holds the backup"
expect_exit 0 "rollback of the restore into a new database" -- dh rollback "$new_run"
expect_eq "$(psql_q "select count(*) from pg_database where datname = '$new_db'")" 0 "rollback dropped the created database"

# A restore that fails half-way (the backup names a role that is gone) is
# rolled back by the host from the snapshot: the target keeps its content.
src_db="${DB_NAME}_src"; tgt_db="${DB_NAME}_tgt"; gone_role="bdb_gone_$$"
F="$WORK/fail-backups"
for sql in "create database $src_db" "create database $tgt_db" "create role $gone_role"; do psql_q "$sql" >/dev/null; done
psql -X -q -v ON_ERROR_STOP=1 "$(url_of "$src_db")" -c "create table t(x int); insert into t values (1); alter table t owner to $gone_role" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 "$(url_of "$tgt_db")" -c "create table keep_me(x text); insert into keep_me values ('prior content')" >/dev/null
DIHYA_DATABASE_URL="$(url_of "$src_db")" expect_exit 0 "backup of a database with a table owned by a role" -- \
  dh run backup_db -p backup_dir="$F" -p mode=backup
psql_q "drop database $src_db" >/dev/null
psql_q "drop role $gone_role" >/dev/null
tgt_before=$(fingerprint "$(url_of "$tgt_db")")
expect_exit 5 "a restore that fails is rolled back (exit 5)" -- \
  dh run backup_db -p backup_dir="$F" -p mode=restore -p target_database="$tgt_db" -p force=true --yes
expect_in "$ERR" "pg_restore failed" "the error quotes pg_restore"
expect_in "$ERR" "$gone_role" "the error says what pg_restore could not do"
expect_eq "$(fingerprint "$(url_of "$tgt_db")")" "$tgt_before" "the target is back to its prior content"
psql_q "drop database $tgt_db" >/dev/null

# From the check for other roles' code to the last row loaded, the restored
# tables stay locked against new checks, defaults and generated columns:
# sampled while pg_restore's COPY into a 1,000,000-row table runs, another
# session of the restore holds SHARE UPDATE EXCLUSIVE on that table.
big_src="${DB_NAME}_bigsrc"; big_tgt="${DB_NAME}_bigtgt"
psql_q "create database $big_src" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 "$(url_of "$big_src")" -c \
  "create table big as select g::bigint as id, md5(g::text) as v from generate_series(1, 1000000) g" >/dev/null
DIHYA_DATABASE_URL="$(url_of "$big_src")" expect_exit 0 "backup of a 1,000,000-row table" -- \
  dh run backup_db -p backup_dir="$WORK/big-backups" -p mode=backup
( while :; do
    psql -X -q -t -A "$(url_of "$big_tgt")" -c "select (select count(*) from pg_stat_activity
        where datname = current_database() and state = 'active' and query ilike 'copy %big%from stdin%') || ' ' ||
      (select count(*) from pg_locks where relation = to_regclass('public.big')
        and mode = 'ShareUpdateExclusiveLock' and granted and pid <> pg_backend_pid())" 2>/dev/null || sleep 0.01
  done ) >"$WORK/load-samples" &
sampler=$!
expect_exit 0 "restore of it into a new database" -- dh run backup_db -p backup_dir="$WORK/big-backups" -p mode=restore \
  -p target_database="$big_tgt" --yes
kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
copying=$(grep -c '^[1-9]' "$WORK/load-samples" || true)
unguarded=$(grep -c '^[1-9][0-9]* 0$' "$WORK/load-samples" || true)
[ "$copying" -gt 0 ] && ok "the load was sampled while its COPY ran ($copying samples)" || not_ok "no sample caught the COPY"
expect_eq "$unguarded" 0 "no sample of the COPY without the guard's lock"
expect_eq "$(psql -X -q -t -A "$(url_of "$big_tgt")" -c "select count(*) from big")" 1000000 "every row was restored"
psql_q "drop database $big_src" >/dev/null
psql_q "drop database $big_tgt" >/dev/null

# Custom format: one file, same guarantees.
C="$WORK/custom-backups"
expect_exit 0 "custom-format backup" -- dh run backup_db -p backup_dir="$C" -p mode=backup -p format=custom
cname=$(ls "$C" | grep -v '^\.' | head -n 1)
[ -f "$C/$cname/dump.pgdump" ] && ok "custom format is one dump file" || not_ok "no dump.pgdump in $C/$cname"
expect_exit 0 "verify of a custom-format backup" -- dh run backup_db -p backup_dir="$C" -p mode=verify
expect_exit 0 "restore of a custom-format backup into a new database" -- \
  dh run backup_db -p backup_dir="$C" -p mode=restore -p target_database="${DB_NAME}_c" --yes
expect_eq "$(fingerprint "$(url_of "${DB_NAME}_c")")" "$modified" "custom-format restore is identical"
psql_q "drop database ${DB_NAME}_c" >/dev/null

# --- password handling ----------------------------------------------------------------------
# Wrappers in place of pg_dump/pg_restore record the argv and environment they get.
# They are shell scripts writing a log outside the plugin's dirs, which the
# sandbox rightly forbids (no /bin/sh, no such write): these runs go unconfined.
printf 'sandbox: off\n' >"$WORK/unsandboxed.yaml"
FAKE="$WORK/fakebin"
real_bindir="/usr/lib/postgresql/$(( $(psql_q "show server_version_num") / 10000 ))/bin"
mkdir -p "$FAKE"
for tool in pg_dump pg_restore; do
  cat >"$FAKE/$tool" <<EOF
#!/bin/sh
echo "argv: \$0 \$*" >>"$WORK/tool.log"
env | grep '^PG' | sed 's/^/env: /' >>"$WORK/tool.log"
[ -n "\${PGPASSFILE:-}" ] && echo "passfile-mode: \$(stat -c %a "\$PGPASSFILE")" >>"$WORK/tool.log"
[ -f "$WORK/slow_$tool" ] && sleep 30
exec "$real_bindir/$tool" "\$@"
EOF
  chmod 755 "$FAKE/$tool"
done
secret="S3cr3t-pw-$$"
P="$WORK/pw-backups"
DIHYA_DATABASE_URL="$DB_URL&password=$secret" expect_exit 0 "backup with a password in the URL" -- \
  dh --config "$WORK/unsandboxed.yaml" run backup_db -p backup_dir="$P" -p pg_bindir="$FAKE" -p mode=backup
pw_run=$(last_run_id)
expect_in "$WORK/tool.log" "argv: $FAKE/pg_dump" "the wrapper saw pg_dump run"
expect_not_in "$WORK/tool.log" "$secret" "the password is in neither the argv nor the environment of pg_dump"
expect_in "$WORK/tool.log" "env: PGPASSFILE=" "pg_dump got a PGPASSFILE"
expect_in "$WORK/tool.log" "passfile-mode: 600" "the PGPASSFILE has mode 0600"
expect_not_in "$OUT" "$secret" "password not on stdout"
expect_not_in "$ERR" "$secret" "password not on stderr"
dh logs "$pw_run" >"$WORK/run.log" 2>&1 || true
expect_in "$WORK/run.log" "running: $FAKE/pg_dump" "the run log lists the argv"
expect_not_in "$WORK/run.log" "$secret" "password not in the run log"
[ -z "$(find "$DIHYA_STATE_DIR" -name 'pgpass-*' 2>/dev/null)" ] && ok "the PGPASSFILE is gone after the run" || not_ok "PGPASSFILE left behind"

# A backup cancelled by its timeout stops pg_dump (and what it started) and
# leaves no partial backup behind.
touch "$WORK/slow_pg_dump"
expect_exit 4 "a backup that times out" -- dh --config "$WORK/unsandboxed.yaml" run backup_db -p backup_dir="$P" -p pg_bindir="$FAKE" -p mode=backup --timeout 2 --grace 10
rm -f "$WORK/slow_pg_dump"
expect_eq "$(ls -A "$P" | grep -c '^\.partial' || true)" 0 "the partial backup of the timed-out run is removed"
pgrep -f "$FAKE/pg_dump" >/dev/null && not_ok "the tool outlived the cancelled run" || ok "the tool was stopped with the run"

# kill -9 of the host in the middle of a restore, after the target was
# dropped and recreated empty: `dihya-host rollback` puts the snapshot back.
before_kill=$(fingerprint)
touch "$WORK/slow_pg_restore"
"$DIHYA_HOST" --config "$WORK/unsandboxed.yaml" run backup_db -p backup_dir="$B" -p pg_bindir="$FAKE" -p mode=restore -p force=true --yes >"$OUT" 2>"$ERR" &
host_pid=$!
for _ in $(seq 300); do grep -q "argv: $FAKE/pg_restore --verbose" "$WORK/tool.log" && break; sleep 0.1; done
{ kill -9 "$host_pid" && wait "$host_pid"; } 2>/dev/null || true
rm -f "$WORK/slow_pg_restore"
# The tool dies with the plugin, itself killed with its host (a parent-death
# signal): left running, it would restore on while the run is rolled back.
for _ in $(seq 100); do pgrep -f "^/bin/sh $FAKE/pg_restore" >/dev/null || break; sleep 0.1; done
pgrep -f "^/bin/sh $FAKE/pg_restore" >/dev/null && not_ok "pg_restore outlived its killed host" || ok "pg_restore died with its killed host"
for pid in $(pgrep -f "^/bin/sh $FAKE/pg_restore" || true); do kill -9 -- "-$pid" 2>/dev/null || true; done
[ "$(fingerprint)" != "$before_kill" ] && ok "the target was emptied before the kill" || not_ok "the kill came before the drop"
expect_eq "$(last_run_field outcome)" interrupted "the killed restore shows as interrupted"
killed_run=$(last_run_id)
expect_exit 0 "rollback of the interrupted restore" -- dh --config "$WORK/unsandboxed.yaml" rollback "$killed_run"
expect_eq "$(fingerprint)" "$before_kill" "rollback after kill -9 restores the prior content"

# Real password authentication, when the test cluster's pg_hba.conf can take a
# rule for a role of our own (it trusts every other local connection).
hba="${DIHYA_TEST_PG_DIR:-}/data/pg_hba.conf"
role="bdb_pw_$$"
if [ -n "${DIHYA_TEST_PG_DIR:-}" ] && [ -w "$hba" ]; then
  # ':' and '\' must be escaped in a password file: use both.
  hard_secret="pw:with\\back-$$"
  hard_encoded=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$hard_secret")
  psql_q "create role $role login superuser password '$hard_secret'" >/dev/null
  sed -i "1i local all $role scram-sha-256" "$hba"
  psql_q "select pg_reload_conf()" >/dev/null
  sleep 0.3
  pw_url=$(echo "$DB_URL" | sed "s/user=postgres/user=$role/")
  DIHYA_DATABASE_URL="$pw_url&password=$hard_encoded" expect_exit 0 "backup as a role that needs its password (scram, with : and \\)" -- \
    dh run backup_db -p backup_dir="$P" -p mode=backup
  DIHYA_DATABASE_URL="$pw_url&password=wrong-$secret" expect_exit 1 "a wrong password fails the backup" -- \
    dh run backup_db -p backup_dir="$P" -p mode=backup
  expect_in "$ERR" "password authentication failed" "the error says why"
  expect_not_in "$ERR" "wrong-$secret" "the wrong password is not echoed"
  sed -i "/^local all $role scram-sha-256\$/d" "$hba"
  psql_q "select pg_reload_conf()" >/dev/null
  psql_q "drop role $role" >/dev/null
else
  echo "skip scram password test: pg_hba.conf of the test cluster is not writable"
fi

# --- prune ------------------------------------------------------------------------------------
for _ in 1 2 3; do bdb -p mode=backup >/dev/null 2>&1; done
expect_eq "$(ls "$B" | grep -vc '^\.')" 4 "four backups"
oldest=$(ls "$B" | grep -v '^\.' | head -n 1)
expect_eq "$oldest" "$name" "the verified backup is the oldest"
expect_exit 0 "prune keep_last=2 dry run" -- bdb -p mode=prune -p keep_last=1 -p keep_within=1h --dry-run
expect_in "$OUT" "would delete 0 backup(s)" "keep_within keeps recent backups"
expect_exit 2 "prune refuses to delete the only verified backup" -- bdb -p mode=prune -p keep_last=2 --yes
expect_in "$ERR" "every verified backup ($name)" "the refusal names the verified backup"
expect_eq "$(ls "$B" | grep -vc '^\.')" 4 "nothing deleted by the refused prune"
newest=$(ls "$B" | grep -v '^\.' | tail -n 1)
expect_exit 0 "verify the newest backup" -- bdb -p mode=verify -p backup="$newest"
expect_exit 0 "prune keep_last=2 dry run" -- bdb -p mode=prune -p keep_last=2 --dry-run
expect_in "$OUT" "would delete $name" "dry run lists what would go"
expect_eq "$(ls "$B" | grep -vc '^\.')" 4 "dry run deleted nothing"
expect_exit 0 "prune keep_last=2" -- bdb -p mode=prune -p keep_last=2 --yes
prune_run=$(last_run_id)
expect_eq "$(ls "$B" | grep -v '^\.' | tr '\n' ' ')" "$(ls "$B" | grep -v '^\.' | tail -n 2 | tr '\n' ' ')" "two newest kept"
expect_eq "$(ls "$B" | grep -vc '^\.')" 2 "two deleted"
[ ! -e "$B/.trash" ] && ok "trash emptied after the successful prune" || not_ok "trash left in $B/.trash"
# A prune that dies before its end leaves the pruned backups in its trash;
# rollback moves them back from there (simulated: re-create that state).
keep_one=$(ls "$B" | grep -v '^\.' | head -n 1)
mkdir -p "$B/.trash/$prune_run"
cp -a "$B/$keep_one" "$B/.trash/$prune_run/$name"
expect_exit 0 "rollback of a prune whose trash is still there" -- dh rollback "$prune_run"
[ -d "$B/$name" ] && ok "rollback moved the pruned backup back" || not_ok "$name not back in $B"
expect_exit 0 "verify of the backup put back" -- bdb -p mode=verify -p backup="$name"

# --- hostile backup_dir content -----------------------------------------------------------------
R="$WORK/retention"
real_backups() { ls "$R" | grep -E '^[0-9]{8}T[0-9]{6}Z_' | grep -v '^20990101T000000Z_x$' || true; }
for _ in 1 2; do dh run backup_db -p backup_dir="$R" >/dev/null 2>&1; sleep 1; done
expect_eq "$(real_backups | wc -l)" 2 "two backups to prune"
# A window of centuries overflowed a nanosecond time difference and deleted
# every backup; windows are durations as everywhere (dihya/duration.hpp): at
# most 100 years, a longer one refused before anything is touched.
for window in 999999d 999999w; do
  expect_exit 2 "prune keep_within=$window (beyond what a time point holds)" -- \
    dh run backup_db -p backup_dir="$R" -p mode=prune -p keep_within="$window" --yes
  expect_in "$ERR" "keep_within is longer than 100 years" "keep_within=$window: the bound is named"
  expect_eq "$(real_backups | wc -l)" 2 "keep_within=$window keeps both backups"
done
expect_exit 0 "prune keep_within=36500d (the longest window)" -- \
  dh run backup_db -p backup_dir="$R" -p mode=prune -p keep_within=36500d --yes
expect_in "$OUT" "deleted 0 backup(s)" "keep_within=36500d deletes nothing"
expect_eq "$(real_backups | wc -l)" 2 "keep_within=36500d keeps both backups"

# A fifo where a manifest or verified.json is expected is refused, not read:
# list, verify and prune used to hang until the run's 24 h timeout.
FF="$WORK/fifo-backups"
mkdir -p "$FF/20990101T000000Z_x"
mkfifo "$FF/20990101T000000Z_x/manifest.json"
expect_exit 0 "list with a fifo as manifest.json ends" -- timeout 20 "$DIHYA_HOST" run backup_db -p backup_dir="$FF" -p mode=list --json
expect_in "$OUT" "manifest.json is not a regular file" "list: the fifo manifest is named as not a regular file"
expect_exit 1 "verify of a backup whose manifest is a fifo ends" -- timeout 20 "$DIHYA_HOST" run backup_db -p backup_dir="$FF" -p mode=verify
expect_in "$ERR" "manifest.json is not a regular file" "verify: the fifo manifest is named as not a regular file"
expect_exit 0 "prune --dry-run beside a fifo manifest ends" -- \
  timeout 20 "$DIHYA_HOST" run backup_db -p backup_dir="$FF" -p mode=prune -p keep_last=1 --dry-run
first=$(real_backups | head -n 1)
cp -a "$R/$first" "$FF/"
rm -f "$FF/$first/verified.json"
mkfifo "$FF/$first/verified.json"
expect_exit 0 "list with a fifo as verified.json ends" -- timeout 20 "$DIHYA_HOST" run backup_db -p backup_dir="$FF" -p mode=list --json
expect_eq "$(json_field "[b['verified'] for b in d['result']['backups'] if b['name'] == '$first']" <"$OUT")" "['failed']" \
  "a fifo verified.json shows as a failed verification"

# A manifest that is not UTF-8 is reported and the failed verify recorded,
# not ended by a library exception.
U="$WORK/utf8-backups"
mkdir -p "$U/20990101T000000Z_bad"
printf '{"database":"\xff\xfe"}' >"$U/20990101T000000Z_bad/manifest.json"
expect_exit 1 "verify of a manifest holding invalid UTF-8" -- dh run backup_db -p backup_dir="$U" -p mode=verify
expect_in "$ERR" "manifest.json is not valid UTF-8 (byte 13)" "the error says the manifest is not UTF-8"
expect_not_in "$ERR" "json.exception" "no library exception text"
expect_eq "$(json_field 'd["ok"]' <"$U/20990101T000000Z_bad/verified.json" 2>&1)" False "the failed verification is recorded"

# Prune deletes only directories named as backups whose manifest backup_db
# sealed, and ranks them by the manifest's time, not by name.
mkdir "$R/0-team-notes" "$R/webapp" "$R/20990101T000000Z_x"
echo '{"app":"notes"}' >"$R/0-team-notes/manifest.json"
echo notes >"$R/0-team-notes/notes.txt"
echo '{"name":"my web app"}' >"$R/webapp/manifest.json"
echo '{"app":"x","finished_at":"2099-01-01T00:00:00Z"}' >"$R/20990101T000000Z_x/manifest.json"
older=$(real_backups | head -n 1)
newer=$(real_backups | tail -n 1)
mv "$R/$newer" "$R/20000101T000000Z_renamed"  # the newest backup, with a name that sorts first
expect_exit 0 "list beside foreign directories" -- dh run backup_db -p backup_dir="$R" -p mode=list
expect_not_in "$OUT" "webapp" "a directory not named as a backup is not listed"
expect_in "$OUT" "manifest not written by backup_db" "a foreign manifest in a backup-named directory is shown as such"
expect_exit 0 "prune keep_last=1 beside foreign directories" -- \
  dh run backup_db -p backup_dir="$R" -p mode=prune -p keep_last=1 --yes --json
expect_eq "$(json_field '(d["result"]["deleted"], d["result"]["kept"], [s["name"] for s in d["result"]["skipped"]])' <"$OUT")" \
  "(['$older'], ['20000101T000000Z_renamed'], ['20990101T000000Z_x'])" "prune deletes the older backup, keeps the newest by manifest time"
[ -d "$R/20000101T000000Z_renamed" ] && [ ! -e "$R/$older" ] && ok "the newest backup kept, the older one deleted" || not_ok "wrong backups pruned: $(ls "$R")"
expect_eq "$(cat "$R/0-team-notes/notes.txt" 2>&1)" notes "a foreign directory with a manifest.json is untouched"
[ -f "$R/webapp/manifest.json" ] && [ -f "$R/20990101T000000Z_x/manifest.json" ] && ok "foreign manifests untouched" || not_ok "foreign dir removed: $(ls "$R")"

psql_q "drop database if exists ${DB_NAME}_x" >/dev/null 2>&1
finish
