#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Fuzzes the state log, its index and the audit log's completion from it
# (tests/fuzz/fuzz_state_log.cpp says what the input holds) for a bounded time.
#   run_fuzz_state_log.sh SOURCE_DIR WORK_DIR [SECONDS]
set -euo pipefail
src=$1
source "$src/tests/fuzz/lib.sh"
fuzz_start "$2"
bin="$fuzz_work/fuzz_state_log"
host="$src/host/src"
sources=("$src/tests/fuzz/fuzz_state_log.cpp" "$host/runs/run_log.cpp" "$host/audit/audit_log.cpp"
  "$host/util/line_tail.cpp" "$host/runs/run_id.cpp" "$host/runs/process_identity.cpp" "$host/util/utc_time.cpp"
  "$host/util/sha256.cpp")
fuzz_build "$bin" "${sources[@]}" "$src/tests/fuzz/fuzz_support.hpp" "$host/runs/run_log.hpp" "$host/audit/audit_log.hpp" "$host/util/line_tail.hpp" \
  "$host/runs/run_id.hpp" "$host/runs/process_identity.hpp" "$host/util/utc_time.hpp" "$host/util/sha256.hpp" \
  "$host/util/unique_fd.hpp" "$host/errors.hpp" "$src/sdk/include/dihya/file_io.hpp" \
  "$src/sdk/include/dihya/json_text.hpp" \
  "$src/sdk/include/dihya/sha256.hpp" -- -I"$host" -I"$src/sdk/include" "${sources[@]}" -lfmt -lcrypto
# Seeds: what two runs of a plugin write (trimmed), torn and damaged forms of
# it, and every input that once found a bug (an index whose entry count wraps,
# fields of the wrong type, a record nested 5,000 levels, a carried line
# holding a newline).
cp "$src"/tests/fuzz/corpus_state_log/* "$fuzz_work/corpus/"
fuzz_run "$bin" "${3:-30}"
