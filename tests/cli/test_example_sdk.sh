#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# The SDK as a plugin author gets it: install to a temporary prefix, build
# examples/hello_plugin and examples/expire_sessions out of tree with
# find_package(DihyaSDK), check them, and run the destructive example's own
# Catch2 test (the conformance helper) on the seeded platform database.
source "$(dirname "$0")/lib.sh"
: "${DIHYA_BUILD_DIR:?}" "${DIHYA_SOURCE_DIR:?}"

expect_exit 0 "install the SDK to a temporary prefix" -- cmake --install "$DIHYA_BUILD_DIR" --prefix "$WORK/prefix"
[ -f "$WORK/prefix/include/dihya/plugin.hpp" ] && ok "headers installed" || not_ok "headers missing"
expect_exit 0 "configure the example against the installed SDK" -- \
  cmake -S "$DIHYA_SOURCE_DIR/examples/hello_plugin" -B "$WORK/example" -G Ninja -DCMAKE_PREFIX_PATH="$WORK/prefix"
expect_exit 0 "build the example" -- cmake --build "$WORK/example"
so="$WORK/example/libhello.so"
expect_exit 0 "the example passes check --exercise" -- dh check "$so" --exercise
expect_in "$OUT" "hello: conforms" "conforms"
expect_exit 0 "the example runs" -- dh run "$so" -p name=CI
expect_in "$OUT" "greeted CI" "and greets"

# The destructive, reversible example, on the reference platform schema.
: "${DB_URL:?the pg fixture must be running}"
"$DIHYA_SOURCE_DIR/tests/fixtures/platform/seed.sh" --database-url "$DB_URL" --users 1000 2>/dev/null
expired() { psql_q "select count(*) from public.sessions where expires_at < now()"; }
sessions_checksum() { psql_q "select md5(coalesce(string_agg(s::text, '|' order by id), '')) from public.sessions s"; }
n_expired=$(expired)
[ "$n_expired" -gt 0 ] && ok "the seed has $n_expired expired sessions" || not_ok "no expired session in the seed"
before=$(sessions_checksum)
expect_exit 0 "configure expire_sessions against the installed SDK" -- \
  cmake -S "$DIHYA_SOURCE_DIR/examples/expire_sessions" -B "$WORK/expire" -G Ninja -DCMAKE_PREFIX_PATH="$WORK/prefix"
expect_exit 0 "build expire_sessions and its test" -- cmake --build "$WORK/expire"
so="$WORK/expire/libexpire_sessions.so"
# `rollback <run-id>` finds the plugin by name, as operators install it: on the search path.
ex() { dh --plugin-path "$WORK/expire" "$@"; }
expect_exit 0 "its own Catch2 test passes (conformance helper, --exercise)" -- ctest --test-dir "$WORK/expire" --output-on-failure
expect_in "$OUT" "100% tests passed" "ctest summary"
expect_eq "$(sessions_checksum)" "$before" "the exercise left the sessions untouched"
expect_exit 0 "check --exercise" -- dh check "$so" --exercise
expect_in "$OUT" "public.sessions" "the per-table report names sessions"
expect_in "$OUT" "expire_sessions: conforms" "conforms"

expect_exit 0 "dry run" -- ex run expire_sessions -p batch=100 --dry-run
expect_in "$OUT" "BATCH  SESSIONS" "the dry run prints its plan"
expect_in "$OUT" "expire_sessions: dry_run: would delete $n_expired expired session(s)" "the plan counts every expired session"
expect_eq "$(sessions_checksum)" "$before" "a dry run changes nothing"

expect_exit 0 "run" -- ex run expire_sessions -p batch=100 --yes
expect_in "$OUT" "deleted $n_expired expired session(s)" "deletes the expired sessions"
expect_in "$OUT" "    1       100" "the report table lists the batches"
expect_eq "$(expired)" 0 "none left"
run_id=$(last_run_id)
entries=$(wc -l <"$DIHYA_STATE_DIR/runs/$run_id/journal.jsonl")
[ "$entries" -ge $(( (n_expired + 99) / 100 )) ] && ok "one undo entry per batch ($entries lines)" || not_ok "journal has $entries lines"
expect_exit 0 "show keeps the report" -- ex show "$run_id"
expect_in "$OUT" "BATCH  SESSIONS" "the report is shown again"
expect_exit 0 "rollback" -- ex rollback "$run_id"
expect_in "$OUT" "restored $n_expired session(s)" "every session comes back"
expect_eq "$(sessions_checksum)" "$before" "rollback is exact (row checksum)"
expect_exit 0 "rollback again" -- ex rollback "$run_id"
expect_in "$OUT" "already rolled back" "a finished rollback is not replayed"

# Cancellation between batches: a timeout stops it, the plugin says where, the host restores.
before=$(sessions_checksum)
expect_exit 4 "a run stopped by its timeout" -- ex run expire_sessions -p batch=1 --timeout 0.5 --yes
expect_in "$ERR" "cancelled after deleting" "the plugin's own message is kept"
expect_eq "$(sessions_checksum)" "$before" "and what it deleted is rolled back"
finish
