#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Fuzzes cron expressions, their fire times and ISO-8601 times
# (tests/fuzz/fuzz_cron.cpp says what the input holds) for a bounded time.
#   run_fuzz_cron.sh SOURCE_DIR WORK_DIR [SECONDS]
set -euo pipefail
src=$1
source "$src/tests/fuzz/lib.sh"
fuzz_start "$2"
bin="$fuzz_work/fuzz_cron"
support="$src/sdk/support/include/dihya"
sources=("$src/tests/fuzz/fuzz_cron.cpp")
# date/tz as its CMake package builds it (date::date-tz): the OS zone database.
fuzz_build "$bin" "${sources[@]}" "$src/tests/fuzz/fuzz_support.hpp" "$support/cron.hpp" "$support/tz_rule.hpp" "$src/sdk/include/dihya/error.hpp" -- \
  -I"$src/sdk/include" -I"$src/sdk/support/include" -DUSE_OS_TZDB=1 -DONLY_C_LOCALE=1 -DHAS_STRING_VIEW=1 \
  "${sources[@]}" -ldate-tz -lpthread
# Seeds: each syntax form (lists, ranges, steps, names, macros, a seconds
# field) with a time near a DST change and zones whose changes are odd (half
# an hour, a skipped day, a negative summer offset), and refused forms.
i=0
while IFS= read -r seed; do
  printf '%b' "$seed" >"$fuzz_work/corpus/seed-$((i++))"
done <<'SEEDS'
* * * * *
*/15 9-17 * * MON-FRI\n2026-03-08T01:59:00\nAmerica/New_York
0,30 1,2,3 * * *\n2026-11-01T01:30:00-04:00\nAmerica/New_York
5/10 2 * 3,10 sun\n2026-03-29T01:00:00Z\nEurope/Paris
0 0 1 jan *\n2026-12-31T23:59:59.999Z
0 12 * JAN-MAR,sep-Dec 1-5/2
0 0 29 2 *\n2097-01-01
0 0 13 * 5\n2026-01-01T00:00Z
30 2 * * 7\n2037-11-01T00:00:00\nAustralia/Lord_Howe
0 0 30 12 *\n2011-12-29T23:00:00\nPacific/Apia
0 1 * * *\n2026-03-29 00:30\nEurope/Dublin
@daily
@hourly\n2026-04-05T02:30:00+10:30\nAustralia/Lord_Howe
@weekly\n\nAfrica/Casablanca
*/5 */2 * * * *\n2026-03-08T01:59:58\nAmerica/New_York
59 59 23 31 12 *\n9999-12-31T23:59:59Z
0 0 30 2 *
60 * * * *
* * * *
@every 5m
0 0 L * *
0 0 * * 1#2\n2026-13-01\nEtc/Nowhere
1-2-3 */0 * * *\n2026-02-30T25:00\n../etc/passwd
SEEDS
# The committed corpus holds every input that once found a bug (parse_iso()
# taking a sign or a blank where a digit stands): it is replayed first.
cp "$src"/tests/fuzz/corpus_cron/* "$fuzz_work/corpus/"
fuzz_run "$bin" "${3:-30}" -timeout=5
