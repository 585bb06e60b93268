#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# A canary secret given through @env: never appears in clear: not in any file
# of the state dir, not on stdout or stderr, not in the child's command line or
# environment. Passwords inside connection strings are redacted too.
source "$(dirname "$0")/lib.sh"

canary="canary-$(date +%s%N)-Zq7"
export DIHYA_TEST_CANARY="$canary"

expect_exit 0 "a run with a writeOnly secret from @env:" -- dh run echo_params -p name=Ada -p password=@env:DIHYA_TEST_CANARY -p "url=postgresql://app:$canary@db.example/app"
expect_not_in "$OUT" "$canary" "stdout has no secret"
expect_not_in "$ERR" "$canary" "stderr has no secret"
expect_in "$ERR" "the secret is ***" "the plugin's log line is redacted"
# Spellings libpq and libcurl read as a password: a percent-encoded query key,
# a quote or a blank in the user info.
expect_exit 0 "a URL with ?%70assword=" -- dh run echo_params -p name=Ada -p "url=postgresql://app@db.example/app?%70assword=$canary"
expect_exit 0 "a URL whose password holds a quote and a blank" -- \
  dh run echo_params -p name=Ada -p "url=smtp://bob:q\"\` $canary@mail.example:25"
expect_not_in "$OUT" "$canary" "stdout has no secret"
expect_exit 0 "history --json" -- dh history --json
expect_not_in "$OUT" "$canary" "history has no secret"
expect_exit 0 "logs" -- dh logs "$(last_run_id)"
expect_not_in "$OUT" "$canary" "the run log has no secret"
if grep -rqF "$canary" "$DIHYA_STATE_DIR"; then not_ok "the secret is in $(grep -rlF "$canary" "$DIHYA_STATE_DIR" | head -1)"; else ok "no file under the state dir holds the secret"; fi

# A secret made of '*' matches its own mask: blanking it out of a variable
# that holds it among other text still ends.
expect_exit 0 "a secret '*' and a variable holding one" -- \
  env STAR_VAR='x*y' "$DIHYA_HOST" run echo_params -p name=Ada -p 'password=*' --timeout 30

expect_exit 2 "a bad secret value is not echoed" -- dh run echo_params -p name=@env:DIHYA_TEST_CANARY -p count=@env:DIHYA_TEST_CANARY
expect_not_in "$ERR" "$canary" "the error does not echo the secret"

"$DIHYA_HOST" run hostile -p behaviour=hang -p password=@env:DIHYA_TEST_CANARY --timeout 20 >"$OUT" 2>"$ERR" &
host_pid=$!
child=""
for _ in $(seq 100); do
  child=$(pgrep -P "$host_pid" | head -1 || true)
  [ -n "$child" ] && break
  sleep 0.05
done
if [ -n "$child" ]; then
  sleep 0.2
  tr '\0' ' ' <"/proc/$child/cmdline" >"$WORK/cmdline"
  expect_not_in "$WORK/cmdline" "$canary" "the child's command line has no secret"
  # The child is not dumpable: only root can read its environment at all.
  if tr '\0' '\n' <"/proc/$child/environ" >"$WORK/environ" 2>/dev/null; then
    expect_not_in "$WORK/environ" "$canary" "the child's environment has no secret"
  else
    ok "the child's environment is unreadable to this user"
  fi
else
  not_ok "the plugin child was not found"
fi
kill -INT "$host_pid"
wait "$host_pid" || true
if grep -rqF "$canary" "$DIHYA_STATE_DIR"; then not_ok "after cancel, the secret is in the state dir"; else ok "after cancel, the state dir holds no secret"; fi
finish
