#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# The secrets boundary, tried as an attacker would: canary secrets given
# through @env:/@file: (into writeOnly and plain parameters), a multi-line
# secret, and a percent-encoded database password must never show in any
# child's environment block (validate, run, automatic and manual rollback,
# check --exercise), in any file of the state dir, or on the terminal. The
# secret_probe plugin copies its own /proc/self/environ, core limit and
# dumpable flag into DIHYA_PROBE_DIR from inside each child.
source "$(dirname "$0")/lib.sh"

stamp=$(date +%s%N)
token="tok-$stamp-Zq7"
salt="salt-$stamp-Vb3"
pw="pw-$stamp/K@9"
pw_enc="pw-$stamp%2FK%409"
export PROBE_TOKEN="$token" PROBE_SALT="$salt"
export DIHYA_PROBE_DIR="$WORK/probe"
mkdir -p "$DIHYA_PROBE_DIR"
# The probe writes into DIHYA_PROBE_DIR, outside every dir the sandbox grants
# (test_sandbox.sh covers the sandbox): these children run unconfined.
mkdir -p "$XDG_CONFIG_HOME/dihya"
printf 'sandbox: off\n' >"$XDG_CONFIG_HOME/dihya/config.yaml"
# A database URL whose password is percent-encoded, as the environment holds it.
if [ -n "$DB_NAME" ]; then
  export DIHYA_DATABASE_URL="$DB_URL&password=$pw_enc"
else
  export DIHYA_DATABASE_URL="postgresql://app:$pw_enc@db.invalid/app"
fi
printf -- '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC%s\nQ7XW=\n-----END PRIVATE KEY-----\n' "$stamp" >"$WORK/key.pem"
pem_long="MIIEvQIBADANBgkqhkiG9w0BAQEFAASC$stamp"

# no_secret_in FILE DESCRIPTION: none of the canaries, in any spelling.
no_secret_in() {
  local file=$1 what=$2 found=""
  for s in "$token" "$salt" "$pw" "$pw_enc" "$pem_long" "Q7XW="; do
    if grep -qF -- "$s" "$file"; then found="$s"; break; fi
  done
  if [ -z "$found" ]; then ok "$what"; else not_ok "$what: '$found' found in $file"; fi
}

# The probe files of one operation, each checked: present (a positive guard
# for the negative checks), no secret in the environment block, core dumps off.
check_probes() {
  local op=$1 what=$2 files
  files=$(ls "$DIHYA_PROBE_DIR"/"$op"-*.txt 2>/dev/null || true)
  if [ -z "$files" ]; then not_ok "$what: the $op child left no probe"; return; fi
  for f in $files; do
    expect_in "$f" "DIHYA_PROBE_DIR=" "$what: the $op child's environment was read"
    no_secret_in "$f" "$what: the $op child's environment holds no secret"
    expect_in "$f" "core_limit=0" "$what: the $op child's core limit is 0"
    expect_in "$f" "dumpable=0" "$what: the $op child is not dumpable"
    mv "$f" "$f.seen"
  done
}

state_has_no_secret() {
  local hit
  hit=$(grep -rlF -e "$token" -e "$salt" -e "$pw" -e "$pw_enc" -e "$pem_long" -e "Q7XW=" "$DIHYA_STATE_DIR" 2>/dev/null | head -1 || true)
  if [ -z "$hit" ]; then ok "$1: no file under the state dir holds a secret"; else not_ok "$1: a secret is in $hit"; fi
}

# --- validate: gets its secrets, and its environment holds none
expect_exit 0 "validate with a salt secret and a token from @env:" -- \
  env TOKEN_IN_URL="https://x.invalid/?t=$token" "$DIHYA_HOST" validate secret_probe -p salt=@env:PROBE_SALT -p token=@env:PROBE_TOKEN --json
no_secret_in "$OUT" "validate --json shows no secret"
no_secret_in "$ERR" "validate's stderr shows no secret"
expect_in "$DIHYA_PROBE_DIR"/validate-*.txt "salt_bytes=${#salt}" "validate gives the plugin its writeOnly secret"
# A variable that is a secret and nothing else is masked and dropped: what
# the plugin starts finds it unset, not a row of '*' it would take for it.
expect_in "$(ls "$DIHYA_PROBE_DIR"/validate-*.txt | head -n 1)" "PROBE_TOKEN in environ: unset" \
  "a variable that is a whole secret is gone from the child's environ"
expect_in "$(ls "$DIHYA_PROBE_DIR"/validate-*.txt | head -n 1)" "TOKEN_IN_URL=https://x.invalid/?t=*" \
  "a variable holding a secret among other text is masked"
check_probes validate "validate"

# The bundled cleanup plugin asks validate() for its salt: validate must succeed as run does.
if [ -n "$DB_NAME" ] && [ -n "${DIHYA_BUNDLED_PLUGIN_DIR:-}" ]; then
  psql_q "create table people (id int primary key, email text, created_at timestamptz)" >/dev/null
  printf 'tables:\n  - table: people\n    timestamp_column: created_at\n    older_than: 30d\n    action: anonymise\n    columns:\n      email: {strategy: hash}\n' >"$WORK/policy.yaml"
  expect_exit 0 "validate cleanup with a salt from @env:" -- \
    dh --plugin-path "$DIHYA_BUNDLED_PLUGIN_DIR" validate cleanup -p policy="$WORK/policy.yaml" -p salt=@env:PROBE_SALT
  no_secret_in "$ERR" "validate cleanup shows no secret"
else
  echo "skip validate cleanup: no test PostgreSQL cluster or bundled plugins"
fi

# --- run that fails after one journal entry: automatic rollback
expect_exit 5 "a failing run is rolled back" -- \
  dh run secret_probe -p salt=@env:PROBE_SALT -p token=@env:PROBE_TOKEN -p fail=true
no_secret_in "$OUT" "run: stdout shows no secret"
no_secret_in "$ERR" "run: stderr shows no secret"
check_probes run "run"
check_probes rollback "automatic rollback"
run_id=$(last_run_id)
expect_exit 0 "show --json" -- dh show "$run_id" --json
expect_in "$OUT" '"token": "***"' "a plain parameter read through @env: is stored as ***"
no_secret_in "$OUT" "show --json shows no secret"
expect_exit 0 "history --json" -- dh history --json
no_secret_in "$OUT" "history --json shows no secret"
state_has_no_secret "after run and automatic rollback"

# An integer read through @env: is a secret as a whole, not only where its text occurs.
export PROBE_PAUSE="0.0$RANDOM"
expect_exit 0 "a number read through @env:" -- dh run secret_probe -p pause=@env:PROBE_PAUSE --json
expect_in "$OUT" '"pause": "***"' "a number read through @env: is stored as ***"
rm -f "$DIHYA_PROBE_DIR"/*.txt

# --- manual rollback: the operator's shell no longer holds the run's secrets,
# but the database password is still in its environment.
expect_exit 1 "a failing run kept for a manual rollback" -- \
  dh run secret_probe -p token=@env:PROBE_TOKEN -p fail=true --no-rollback
rm -f "$DIHYA_PROBE_DIR"/*.txt
run_id=$(last_run_id)
expect_exit 0 "manual rollback" -- env PROBE_TOKEN=other PROBE_SALT=other "$DIHYA_HOST" rollback "$run_id"
no_secret_in "$OUT" "rollback: stdout shows no secret"
check_probes rollback "manual rollback"

# --- check --exercise: dry run, run, rollback children on the database (the
# shell's PROBE_* are not this command's secrets: only the database password is)
if [ -n "$DB_NAME" ]; then
  expect_exit 0 "check --exercise with a password in DIHYA_DATABASE_URL" -- \
    env PROBE_TOKEN=other PROBE_SALT=other "$DIHYA_HOST" check secret_probe --exercise
  no_secret_in "$OUT" "check: stdout shows no secret"
  check_probes dryrun "check --exercise"
  check_probes run "check --exercise"
  check_probes rollback "check --exercise"
else
  echo "skip check --exercise: no test PostgreSQL cluster"
fi

# --- a multi-line secret through @file:, printed whole on stdout and logged
expect_exit 0 "a PEM key through @file:" -- dh --verbose run secret_probe -p note=@file:"$WORK/key.pem"
expect_in "$ERR" "note: ***" "the printed note is redacted"
no_secret_in "$OUT" "PEM: stdout shows no line of it"
no_secret_in "$ERR" "PEM: stderr shows no line of it"
expect_exit 0 "logs of the PEM run" -- dh logs "$(last_run_id)"
expect_in "$OUT" "out   note: ***" "the run log holds the redacted output"
no_secret_in "$OUT" "PEM: the run log holds no line of it"
state_has_no_secret "after the PEM run"
rm -f "$DIHYA_PROBE_DIR"/*.txt

# --- the child's environment read from outside while it runs
"$DIHYA_HOST" run secret_probe -p token=@env:PROBE_TOKEN -p salt=@env:PROBE_SALT -p pause=20 >"$OUT" 2>"$ERR" &
host_pid=$!
child=""
for _ in $(seq 200); do
  child=$(pgrep -P "$host_pid" | head -1 || true)
  [ -n "$child" ] && [ -n "$(ls "$DIHYA_PROBE_DIR"/run-*.txt 2>/dev/null)" ] && break
  sleep 0.05
done
if [ -n "$child" ]; then
  if tr '\0' '\n' <"/proc/$child/environ" >"$WORK/environ" 2>/dev/null; then
    expect_in "$WORK/environ" "PROBE_TOKEN=" "the running child's environment was read"
    no_secret_in "$WORK/environ" "the running child's /proc/<pid>/environ holds no secret"
  else
    ok "the running child's /proc/<pid>/environ is unreadable to this user (not dumpable)"
  fi
  grep -E '^Max core file size' "/proc/$child/limits" | awk '{print $5, $6}' >"$WORK/core" || true
  expect_eq "$(cat "$WORK/core")" "0 0" "the running child's core limit is 0 (soft and hard)"
else
  not_ok "the plugin child was not found"
fi

# --- a command that connects from the host itself (schedule list) holds the
# password in its own memory: it leaves no core file and is not dumpable.
# A listener that accepts and never answers keeps it connecting.
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
print(s.getsockname()[1], flush=True)
c = s.accept(); open(sys.argv[1], "w").close(); time.sleep(60)' "$WORK/listener-accepted" >"$WORK/listener-port" &
listener=$!
for _ in $(seq 100); do [ -s "$WORK/listener-port" ] && break; sleep 0.05; done
printf 'postgresql://app:Cz8core-Pw1@127.0.0.1:%s/app?connect_timeout=30&sslmode=disable\n' "$(cat "$WORK/listener-port")" >"$WORK/hold-url"
chmod 600 "$WORK/hold-url"
mkdir -p "$WORK/cores"
(cd "$WORK/cores" && ulimit -c unlimited && exec "$DIHYA_HOST" --database-url "@file:$WORK/hold-url" schedule list) >/dev/null 2>&1 &
holder=$!
for _ in $(seq 200); do [ -e "$WORK/listener-accepted" ] && break; sleep 0.05; done
grep -E '^Max core file size' "/proc/$holder/limits" | awk '{print $5, $6}' >"$WORK/core" || true
expect_eq "$(cat "$WORK/core")" "0 0" "schedule list's core limit is 0 though the shell allowed cores"
if [ "$(id -u)" != 0 ]; then
  if cat "/proc/$holder/environ" >/dev/null 2>&1; then not_ok "schedule list is dumpable"; else ok "schedule list's environ is unreadable (not dumpable)"; fi
fi
kill -SEGV "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true
kill "$listener" 2>/dev/null || true
wait "$listener" 2>/dev/null || true
if grep -rqF "Cz8core-Pw1" "$WORK/cores" 2>/dev/null; then not_ok "a core file holds the password"; else ok "no core file holds the password"; fi
expect_eq "$(ls -A "$WORK/cores")" "" "schedule list killed by SIGSEGV left no core file"

# --- kill -9 of the host: the pgpass file of its work dir is removed by the next run
for _ in $(seq 200); do
  [ -n "$(ls "$DIHYA_STATE_DIR"/work/*/pgpass 2>/dev/null)" ] && break
  sleep 0.05
done
# A run that starts meanwhile sweeps abandoned work dirs: a live run's (held
# with flock by its host) is passed by, its pgpass left in place.
live_dir=$(dirname "$(ls "$DIHYA_STATE_DIR"/work/*/pgpass | head -1)")
expect_exit 0 "a run beside the live one" -- dh run noop
[ -f "$live_dir/pgpass" ] && ok "the live run's work dir and pgpass were left alone" || not_ok "the sweep removed a live run's work dir"
kill -9 "$host_pid"
wait "$host_pid" 2>/dev/null || true
if grep -rqF "$salt" "$DIHYA_STATE_DIR/work"; then ok "the killed run left its pgpass file (the attack is real)"; else not_ok "the killed run left no pgpass file: nothing tested"; fi
expect_exit 0 "the next run" -- dh run noop
state_has_no_secret "after kill -9 and the next run"

# --- a symlink planted as <state>/work never receives a pgpass file
rm -rf "$DIHYA_STATE_DIR/work"
mkdir "$WORK/elsewhere"
ln -s "$WORK/elsewhere" "$DIHYA_STATE_DIR/work"
expect_exit 1 "a run with <state>/work a symlink is refused" -- dh run secret_probe -p salt=@env:PROBE_SALT
expect_in "$ERR" "is not a directory of yours" "the refusal names the work directory"
expect_eq "$(ls -A "$WORK/elsewhere")" "" "nothing was written through the symlink"
rm "$DIHYA_STATE_DIR/work"

# --- a scheduled job is forked from the scheduler's zygote: its
# /proc/<pid>/environ is the zygote's block (the scheduler's environment,
# which holds what a job's @env: names), not the job's own scrubbed copy.
if [ -n "$DB_NAME" ]; then
  rm -f "$DIHYA_PROBE_DIR"/*.txt
  expect_exit 0 "schedule the probe" -- dh schedule add probe --plugin secret_probe --cron "@daily" --param salt=@env:PROBE_SALT
  psql_q "update dihya.schedules set misfire = 'run_all', starting_deadline_seconds = 36000,
          cron = extract(minute from now() at time zone 'UTC')::int || ' ' || extract(hour from now() at time zone 'UTC')::int || ' * * *',
          created_at = date_trunc('minute', now()) - interval '1 second', next_due_at = date_trunc('minute', now())
          where name = 'probe'" >/dev/null
  expect_exit 0 "one scheduler tick runs it, forked from the zygote" -- \
    env DIHYA_PLUGIN_PATH="$DIHYA_PLUGIN_PATH:$DIHYA_BUNDLED_PLUGIN_DIR" "$DIHYA_HOST" run run_scheduler -p once=true
  expect_eq "$(psql_q "select outcome from dihya.schedule_runs r join dihya.schedules s on s.id = r.schedule_id where s.name = 'probe'")" \
    "succeeded" "the scheduled probe ran"
  check_probes run "a job forked from the zygote"
  expect_exit 0 "remove the schedule" -- dh schedule remove probe --yes
fi

# --- a password on the command line: warned about, never echoed
expect_exit 0 "--database-url with a password" -- dh --database-url "postgresql://app:$pw_enc@db.invalid/app" run noop
expect_in "$ERR" "visible to other users" "a password in --database-url is warned about"
no_secret_in "$ERR" "the warning does not echo the password"
expect_exit 0 "--database-url @env:" -- env DB_URL_SECRET="postgresql://app:$pw_enc@db.invalid/app" "$DIHYA_HOST" --database-url @env:DB_URL_SECRET run noop
expect_not_in "$ERR" "visible to other users" "--database-url @env: is not warned about"

# --- libpq quotes the URL or its bad token in its error: a URL it cannot
# parse is refused before anything uses it (exit 2), with libpq's reason and
# every piece of the URL it quotes masked; a connection error is redacted.
printf 'postgresql://app:Tr0ub%%4dor%%zzQ@db.invalid/app\n' >"$WORK/bad-url"
chmod 600 "$WORK/bad-url"
expect_exit 2 "schedule list with a malformed password" -- dh --database-url "@file:$WORK/bad-url" schedule list
expect_in "$ERR" "invalid percent-encoded token" "libpq's reason is kept"
expect_not_in "$ERR" "Tr0ub" "the malformed password is not echoed"
expect_exit 2 "schedule list --json with a malformed password" -- env DIHYA_DATABASE_URL="@file:$WORK/bad-url" "$DIHYA_HOST" schedule list --json
expect_not_in "$OUT" "Tr0ub" "nor in the JSON error"
expect_exit 2 "a URL libpq cannot parse" -- env DIHYA_DATABASE_URL="postgresql://u:Hx7pw2@[bad" "$DIHYA_HOST" schedule list
expect_in "$ERR" "in URI" "libpq says where"
expect_not_in "$ERR" "Hx7pw2" "the URI's password is masked"
# A secrets file holding only the password, and a password with an unquoted
# blank: libpq quoted the token it could not read, which is (a piece of) the
# password, and no rule told it apart: they were shown, and recorded in the
# run record, state.log and the audit log.
printf 'Zq9PaSsWoRd7\n' >"$WORK/bare-password"
chmod 600 "$WORK/bare-password"
for url in "@file:$WORK/bare-password" 'host=/nonexistent password=Zq9Pa SsWoRd7 dbname=x'; do
  expect_exit 2 "schedule list, the URL '${url:0:10}...'" -- env DIHYA_DATABASE_URL="$url" "$DIHYA_HOST" schedule list
  expect_not_in "$ERR" "SsWoRd7" "the password is not echoed (${url:0:10})"
  expect_one_line_error "schedule list, the URL '${url:0:10}...'"
  expect_exit 2 "a run needing the database, the URL '${url:0:10}...'" -- env DIHYA_DATABASE_URL="$url" "$DIHYA_HOST" run leaky_dry_run -p table=items
  expect_not_in "$ERR" "SsWoRd7" "nor by a run (${url:0:10})"
  expect_exit 0 "a run without the database, the URL '${url:0:10}...'" -- env DIHYA_DATABASE_URL="$url" "$DIHYA_HOST" run noop
done
if grep -rqF "SsWoRd7" "$DIHYA_STATE_DIR"; then not_ok "the password is in $(grep -rlF SsWoRd7 "$DIHYA_STATE_DIR" | head -1)"; else ok "no state file holds the bare or cut password"; fi
expect_exit 2 "check --exercise with a malformed password" -- env DIHYA_DATABASE_URL="@file:$WORK/bad-url" \
  "$DIHYA_HOST" check "$DIHYA_TEST_PLUGIN_DIR/libpurge_rows.so" --exercise --json
expect_not_in "$OUT" "Tr0ub" "check --exercise --json does not echo it"
# A '?' or a '/' left unencoded in the password: libpq reads the user info up
# to the first '@' before a '/', and takes the piece before a '/' for a port.
for bad in 'Qm9vz2Lx?%ZZ' 'Qm9vz2Lx?%00' 'Qm9vz2Lx/rest-of-it'; do
  printf 'postgresql://app:%s@/app?host=/nonexistent\n' "$bad" >"$WORK/bad-url"
  # '%ZZ' and '%00' cannot be parsed (2); the '/' one parses, and connecting fails (1).
  code=2; [ "${bad:8:1}" = / ] && code=1
  expect_exit $code "schedule list, a password with an unencoded '${bad:8:1}'" -- dh --database-url "@file:$WORK/bad-url" schedule list
  expect_not_in "$ERR" "Qm9vz2Lx" "the password is not echoed (${bad:8:1})"
  expect_exit $code "a run, a password with an unencoded '${bad:8:1}'" -- dh --database-url "@file:$WORK/bad-url" run leaky_dry_run -p table=items
  expect_not_in "$ERR" "Qm9vz2Lx" "nor by a run (${bad:8:1})"
  if grep -rqF "Qm9vz2Lx" "$DIHYA_STATE_DIR"; then not_ok "the password is in $(grep -rlF Qm9vz2Lx "$DIHYA_STATE_DIR" | head -1)"; else ok "no state file holds it (${bad:8:1})"; fi
done
finish
