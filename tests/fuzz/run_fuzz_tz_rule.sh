#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Fuzzes the TZif footer reader and the POSIX TZ rule parser for a bounded time.
#   run_fuzz_tz_rule.sh SOURCE_DIR WORK_DIR [SECONDS]
set -euo pipefail
src=$1
source "$src/tests/fuzz/lib.sh"
fuzz_start "$2"
bin="$fuzz_work/fuzz_tz_rule"
sources=("$src/tests/fuzz/fuzz_tz_rule.cpp")
fuzz_build "$bin" "${sources[@]}" "$src/sdk/support/include/dihya/tz_rule.hpp" -- -I"$src/sdk/include" -I"$src/sdk/support/include" "${sources[@]}"
# Seeds: real zone files (footer included) and the rule forms RFC 8536 allows.
for z in America/New_York Europe/Paris Australia/Sydney Asia/Tokyo UTC; do
  [ -r "/usr/share/zoneinfo/$z" ] && cp "/usr/share/zoneinfo/$z" "$fuzz_work/corpus/tzif-${z//\//-}"
done
i=0
for rule in 'EST5EDT,M3.2.0,M11.1.0' 'CET-1CEST,M3.5.0,M10.5.0/3' 'AEST-10AEDT,M10.1.0,M4.1.0/3' '<+0545>-5:45' \
  'XST3XDT,J60/0,59/-1' '<-02>2<-01>,M3.5.0/-1,M10.5.0/0' 'IST-2IDT,M3.4.4/26,M10.5.0' 'EST5EDT,0/0,J365/25' \
  '<+00>0<+02>-2,M3.5.0/1,M10.5.0/3' 'XXX-24:59:59YYY24,M12.5.6/167,J1/-167' \
  'XXX-24:5:9YYY,M12.5.6/167,J1/-167'; do  # the last one once gave a DST offset of +25:05:09
  printf '%s' "$rule" >"$fuzz_work/corpus/rule-$((i++))"
done
fuzz_run "$bin" "${3:-30}"
