# SPDX-License-Identifier: AGPL-3.0-or-later
# Shared by the CLI tests: a private state dir, config and cache per test file,
# the built dihya-host, the test plugins, and small assertions that count
# passes and failures. Each test file ends with `finish`.
set -euo pipefail

: "${DIHYA_HOST:?set by CTest}"
: "${DIHYA_TEST_PLUGIN_DIR:?set by CTest}"

# Python helpers beside the scripts (state_log_line.py): PYTHONPATH="$CLI_DIR".
CLI_DIR=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /tmp/dihya-cli.XXXXXX)
chmod 755 "$WORK"
# The host's own dirs apart from $WORK, where the tests let plugins write: no
# plugin may be granted write on a dir that holds them (supervise/sandbox.hpp).
HOST_DIRS=$(mktemp -d /tmp/dihya-host.XXXXXX)
chmod 755 "$HOST_DIRS"
trap 'rm -rf "$WORK" "$HOST_DIRS"' EXIT
export DIHYA_STATE_DIR="$HOST_DIRS/state"
export DIHYA_CACHE_DIR="$HOST_DIRS/cache"
export XDG_CONFIG_HOME="$HOST_DIRS/config"
export DIHYA_SYSTEM_CONFIG="$HOST_DIRS/no-system-config.yaml"
export DIHYA_PLUGIN_PATH="$DIHYA_TEST_PLUGIN_DIR"
unset DIHYA_DATABASE_URL DIHYA_CONFIG
# Each test file gets a database of its own: tests run in parallel, and
# `check --exercise` compares whole-database fingerprints.
DB_NAME=""
if [ -n "${DIHYA_TEST_PG_DIR:-}" ] && [ -f "$DIHYA_TEST_PG_DIR/url" ]; then
  base_url=$(cat "$DIHYA_TEST_PG_DIR/url")
  DB_NAME="t_$(basename "$0" .sh)_$$"
  psql -X -q -v ON_ERROR_STOP=1 "$base_url" -c "create database $DB_NAME" >/dev/null
  DB_URL=${base_url/\/dihya_test\?/\/$DB_NAME?}
  export DIHYA_DATABASE_URL="$DB_URL"
  trap 'rm -rf "$WORK" "$HOST_DIRS"; psql -X -q "$base_url" -c "drop database if exists $DB_NAME with (force)" >/dev/null 2>&1 || true' EXIT
fi

PASSED=0
FAILED=0
OUT="$WORK/stdout"
ERR="$WORK/stderr"

dh() { "$DIHYA_HOST" "$@"; }

ok() { PASSED=$((PASSED + 1)); echo "ok   $1"; }
not_ok() {
  FAILED=$((FAILED + 1))
  echo "FAIL $1"
  echo "  stdout: $(head -c 2000 "$OUT" 2>/dev/null)"
  echo "  stderr: $(head -c 2000 "$ERR" 2>/dev/null)"
}

# bounded COMMAND...: runs COMMAND within 4 GB and 600 s, so that a regression
# that eats memory fails the test instead of the machine. AddressSanitizer's
# shadow memory needs terabytes of address space: under it, its RSS limit
# stands in for the address-space limit.
bounded() {
  if [ "${DIHYA_TEST_SANITIZED:-0}" = 1 ]; then
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}hard_rss_limit_mb=4000" timeout 600 "$@"
  else
    (ulimit -v 4000000 && exec timeout 600 "$@")
  fi
}

# nest TEXT: TEXT five times (mustache sections nested five deep).
nest() { printf "$1%.0s" 1 2 3 4 5; }

# expect_exit CODE DESCRIPTION -- command...
expect_exit() {
  local want=$1 what=$2
  shift 3
  local got=0
  "$@" >"$OUT" 2>"$ERR" || got=$?
  if [ "$got" -eq "$want" ]; then ok "$what (exit $got)"; else not_ok "$what: exit $got, expected $want"; fi
}

# expect_in FILE TEXT DESCRIPTION
expect_in() {
  if grep -qF -- "$2" "$1"; then ok "$3"; else not_ok "$3: '$2' not found in $(basename "$1")"; fi
}

# expect_not_in FILE TEXT DESCRIPTION: a missing or unreadable FILE fails (it
# would make any absence true).
expect_not_in() {
  if [ ! -r "$1" ]; then not_ok "$3: $1 does not exist"; return; fi
  if grep -qF -- "$2" "$1"; then not_ok "$3: '$2' found in $(basename "$1")"; else ok "$3"; fi
}

# The error of a refused command is one line.
expect_one_line_error() {
  local lines
  lines=$(wc -l <"$ERR")
  if [ "$lines" -eq 1 ]; then ok "$1: one-line error"; else not_ok "$1: $lines lines on stderr"; fi
}

expect_eq() {
  if [ "$1" = "$2" ]; then ok "$3"; else not_ok "$3: '$1' != '$2'"; fi
}

psql_q() { psql -X -q -t -A -v ON_ERROR_STOP=1 "$DB_URL" -c "$1"; }

# The last run's id, from history.
last_run_id() { dh history --json | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r[-1]["id"])'; }
last_run_field() { dh history --json | python3 -c "import json,sys; r=json.load(sys.stdin); print(r[-1]['$1'])"; }

finish() {
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ]
}

# require_strace: for the tests that inject faults with `strace --inject`.
# Skips the test (exit 77) where strace cannot trace; under ASan, turns off
# LeakSanitizer's exit check (it stops the process with ptrace, which fails
# under strace, and adds a clone to the traced calls); makes the state dir.
require_strace() {
  if ! command -v strace >/dev/null || ! strace -qq -o /dev/null true 2>/dev/null; then
    echo "skip: strace cannot trace here"
    exit 77
  fi
  if [ "${DIHYA_TEST_SANITIZED:-0}" = 1 ]; then
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
  fi
  mkdir -p "$DIHYA_STATE_DIR" && chmod 700 "$DIHYA_STATE_DIR"
}
