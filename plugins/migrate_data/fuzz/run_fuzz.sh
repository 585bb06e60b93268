#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Fuzzes migrate_data's statement splitters and its loader of every layout
# (golang-migrate, Flyway, diesel, dbmate, goose, its own) for a bounded time;
# any crash or broken invariant fails.
#   run_fuzz.sh SOURCE_DIR WORK_DIR [SECONDS]
set -euo pipefail
src=$1
here="$src/plugins/migrate_data"
source "$src/tests/fuzz/lib.sh"
fuzz_start "$2"
bin="$fuzz_work/fuzz_migration_files"
sources=("$here/fuzz/fuzz_migration_files.cpp" "$here/migration_files.cpp" "$here/sql_script.cpp")
fuzz_build "$bin" "${sources[@]}" "$here"/*.hpp "$src"/sdk/include/dihya/*.hpp -- -I"$src/sdk/include" "${sources[@]}" -lcrypto
for f in "$src"/tests/fixtures/migrate_data/*/*.sql "$src"/tests/fixtures/migrate_data/diesel/*/up.sql; do
  cp "$f" "$fuzz_work/corpus/$(basename "$(dirname "$f")")_$(basename "$f")"
done
printf -- '-- +goose Up\n-- +goose StatementBegin\nselect $$a;b$$;\n-- +goose StatementEnd\n-- +goose Down\n' >"$fuzz_work/corpus/goose_block"
printf 'create function f() returns int begin atomic select 1; select 2; end;\nselect E'"'"'\\'"'"';'"'"';\n' >"$fuzz_work/corpus/atomic"
printf -- '-- migrate:up transaction:false\nvacuum;\n-- migrate:down\n' >"$fuzz_work/corpus/dbmate"
# Found by this fuzzer: a StatementBegin left open at the very end made an empty statement.
printf -- '-- +ga;b$$;\n-- +goose Statmo Usope\n-- +goose StatementBegin\n' >"$fuzz_work/corpus/goose_open_block_at_end"
fuzz_run "$bin" "${3:-30}" -max_len=4096
