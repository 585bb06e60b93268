#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# The other bound of a run's journal (test_rollback_limits.sh tries its 256
# MiB): a plugin that records entries without end is refused the
# 1,000,001st, its run is rolled back through all 1,000,000, and the journal
# holds exactly those. A million entries mean a million fdatasyncs: the
# state dir is on tmpfs (/dev/shm), where they cost nothing, or the test
# would take most of an hour. About a minute on a 2-core machine.
source "$(dirname "$0")/lib.sh"

if [ "${DIHYA_TEST_SANITIZED:-0}" = 1 ]; then
  echo "skip: a million journal round trips under the sanitizers take too long"
  exit 77
fi
shm=$(mktemp -d /dev/shm/dihya-journal.XXXXXX 2>/dev/null) || { echo "skip: no /dev/shm"; exit 77; }
chmod 755 "$shm"
previous_trap=$(trap -p EXIT)
previous_trap=${previous_trap#trap -- \'}
previous_trap=${previous_trap%\' EXIT}
# shellcheck disable=SC2064
trap "rm -rf '$shm'; $previous_trap" EXIT
export DIHYA_STATE_DIR="$shm/state"

expect_exit 5 "a run journalling entries without end" -- bounded "$DIHYA_HOST" run hostile_journal --timeout 600 \
  -p behaviour=journal_flood -p size=0 -p count=1000001
expect_in "$ERR" "entry refused: the run's journal holds 1000000 entries, its limit" "the error names the limit"
expect_in "$ERR" "rollback done: rolled back 1000000 entries" "every recorded entry is rolled back"
expect_eq "$(last_run_field outcome)" rolled_back "the run is recorded as rolled back"
journal="$DIHYA_STATE_DIR/runs/$(last_run_id)/journal.jsonl"
expect_eq "$(grep -c '"action":"noop"' "$journal")" 1000000 "the journal holds exactly 1,000,000 entries"
expect_eq "$(tail -n 1 "$journal")" '{"rollback":"done"}' "and says the rollback is done"
expect_exit 0 "audit verify" -- dh audit verify

finish
