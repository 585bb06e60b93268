#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# The SDK as a plugin author gets it: install to a temporary prefix, build
# examples/hello_plugin and examples/expire_sessions out of tree with
# find_package(DihyaSDK) and -Werror, check them, and run the destructive
# example's own Catch2 tests (the conformance helper, and unit tests with the
# SDK's FakeContext) on the seeded platform database. The installed file list
# is the API's, nothing more.
source "$(dirname "$0")/lib.sh"
: "${DIHYA_BUILD_DIR:?}" "${DIHYA_SOURCE_DIR:?}"

expect_exit 0 "install the SDK to a temporary prefix" -- cmake --install "$DIHYA_BUILD_DIR" --prefix "$WORK/prefix"
[ -f "$WORK/prefix/include/dihya/plugin.hpp" ] && ok "headers installed" || not_ok "headers missing"

# The installed API is the list in sdk/CMakeLists.txt, nothing more: the support
# headers (cron, fk_graph, templates, schedules) live apart, under dihya-support.
installed() { (cd "$WORK/prefix/include/$1" && find . -type f | sed 's|^\./||' | sort | tr '\n' ' '); }
expect_eq "$(installed dihya)" "abi.hpp advisory_lock.hpp child_process.hpp context.hpp database.hpp duration.hpp error.hpp \
file_io.hpp journal.hpp json_text.hpp logger.hpp params.hpp plugin.hpp result.hpp sha256.hpp testing/conformance.hpp testing/fake_context.hpp utc_time.hpp utf8.hpp \
yaml_file.hpp " "include/dihya holds the plugin API and the testing kit, file by file"
expect_eq "$(installed dihya-support)" "dihya/bounded_mustache.hpp dihya/cron.hpp dihya/fk_graph.hpp dihya/job_zygote.hpp \
dihya/pg_search_path.hpp dihya/pg_untrusted_code.hpp dihya/schedule_store.hpp dihya/template_format.hpp \
dihya/template_store.hpp dihya/tz_rule.hpp " "the support headers are installed apart"
cfgdir=$(dirname "$(find "$WORK/prefix" -name DihyaSDKConfig.cmake | head -n 1)")
for f in DihyaSDKConfig.cmake DihyaSDKConfigVersion.cmake DihyaSDKTargets.cmake DihyaSupportTargets.cmake DihyaPlugin.cmake; do
  [ -f "$cfgdir/$f" ] && ok "package file $f installed" || not_ok "package file $f missing"
done
# README's list of the installed SDK is what a plugin author reads: every
# support header installed and every support target exported is named there.
readme_support=$(sed -n '/^include\/dihya-support\/dihya\//,/(component `support`)/p' "$DIHYA_SOURCE_DIR/README.md")
for header in $(installed dihya-support); do
  if grep -qwF -- "${header#dihya/}" <<<"$readme_support"; then ok "README lists $header"; else not_ok "README lists $header"; fi
done
for target in $(grep -o 'add_library(Dihya::[a-z_]*' "$cfgdir/DihyaSupportTargets.cmake" | sed 's/add_library(//' | sort -u); do
  expect_in "$DIHYA_SOURCE_DIR/README.md" "\`$target\`" "README names the support target $target"
done
expect_in "$cfgdir/DihyaSDKConfigVersion.cmake" 'set(PACKAGE_VERSION "2.0")' "the package version is the ABI's, 2.0"
# The support component, as a bundled plugin built out of tree gets it:
# Dihya::cron brings its include path and date-tz; a CronError is a dihya::Error.
mkdir -p "$WORK/support"
cat >"$WORK/support/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.20)
project(support_probe LANGUAGES CXX)
find_package(DihyaSDK 2.0 REQUIRED COMPONENTS support)
add_executable(cron_probe cron_probe.cpp)
target_link_libraries(cron_probe PRIVATE Dihya::sdk Dihya::cron)
CMAKE
cat >"$WORK/support/cron_probe.cpp" <<'CPP'
#include <dihya/cron.hpp>
#include <cstdio>
int main(int argc, char** argv) {
  try {
    dihya::cron::parse(argc > 1 ? argv[1] : "");
    std::puts("parsed");
  } catch (const dihya::Error& e) {
    std::printf("dihya::Error: %s\n", e.what());
  }
}
CPP
expect_exit 0 "configure against the support component" -- \
  cmake -S "$WORK/support" -B "$WORK/support/build" -G Ninja -DCMAKE_PREFIX_PATH="$WORK/prefix"
expect_exit 0 "build with Dihya::cron" -- cmake --build "$WORK/support/build"
expect_exit 0 "the installed cron engine parses" -- "$WORK/support/build/cron_probe" "*/15 9-17 * * mon-fri"
expect_in "$OUT" "parsed" "a valid expression parses"
expect_exit 0 "and refuses" -- "$WORK/support/build/cron_probe" "61 * * * *"
expect_in "$OUT" "dihya::Error:" "a bad expression throws a dihya::Error"

# A plugin source that includes only the API parses neither Boost.DLL nor libpqxx.
printf '#include <dihya/plugin.hpp>\n' >"$WORK/one_line.cpp"
expect_exit 0 "preprocess a one-line plugin source against the installed SDK" -- \
  c++ -std=c++17 -E -I"$WORK/prefix/include" "$WORK/one_line.cpp" -o "$WORK/one_line.i"
expect_in "$WORK/one_line.i" "nlohmann" "the API's JSON is there (guard)"
expect_not_in "$WORK/one_line.i" "boost/dll" "no Boost.DLL"
expect_not_in "$WORK/one_line.i" "pqxx/connection_base.hxx" "no libpqxx headers"

# The examples build with the project's warnings, as errors.
strict=(-DCMAKE_CXX_FLAGS="-Wall -Wextra -Wpedantic -Wshadow -Wold-style-cast -Werror")
expect_exit 0 "configure the example against the installed SDK" -- \
  cmake -S "$DIHYA_SOURCE_DIR/examples/hello_plugin" -B "$WORK/example" -G Ninja -DCMAKE_PREFIX_PATH="$WORK/prefix" "${strict[@]}"
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
  cmake -S "$DIHYA_SOURCE_DIR/examples/expire_sessions" -B "$WORK/expire" -G Ninja -DCMAKE_PREFIX_PATH="$WORK/prefix" \
  "${strict[@]}"
expect_exit 0 "build expire_sessions and its test" -- cmake --build "$WORK/expire"
so="$WORK/expire/libexpire_sessions.so"
# `rollback <run-id>` finds the plugin by name, as operators install it: on the search path.
ex() { dh --plugin-path "$WORK/expire" "$@"; }
expect_exit 0 "its own Catch2 tests pass (conformance helper, FakeContext unit tests)" -- \
  ctest --test-dir "$WORK/expire" --output-on-failure
expect_in "$OUT" "100% tests passed, 0 tests failed out of 2" "ctest summary: both tests ran"
expect_eq "$(sessions_checksum)" "$before" "the exercise and the unit tests left the sessions as they were"
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
