#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Hostile plugins: each ends with the documented exit code and a recorded
# outcome, and the host itself survives.
source "$(dirname "$0")/lib.sh"

hostile() { # behaviour expected_exit expected_outcome [extra args]
  local behaviour=$1 code=$2 outcome=$3
  shift 3
  expect_exit "$code" "hostile $behaviour" -- timeout 60 "$DIHYA_HOST" run hostile -p behaviour="$behaviour" "$@"
  expect_eq "$(last_run_field outcome)" "$outcome" "hostile $behaviour recorded as $outcome"
}

hostile ok 0 succeeded
hostile segfault 1 crashed
expect_in "$ERR" "SIGSEGV" "segfault is named"
hostile abort 1 crashed
expect_in "$ERR" "SIGABRT" "abort is named"
hostile throw 1 failed
expect_in "$ERR" "threw on purpose" "the exception message is kept"
# Under ASan, LeakSanitizer's check at exit stops the process with ptrace,
# which the sandbox's seccomp filter denies to a plugin: it would replace the
# plugin's own exit status with its error status. The status is what is tested.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" hostile exit7 1 crashed
expect_in "$ERR" "status 7" "the exit status is named"
hostile close_pipe 1 crashed
hostile garbage 1 crashed
expect_in "$ERR" "protocol" "garbage on the pipe is a protocol error"
# A result nested 1,000,000 levels deep once overflowed the host's stack
# (exit 139, the run left without an end record).
hostile deep_result 1 crashed
expect_in "$ERR" "nested more than 128 levels" "a result nested too deeply is a protocol error"
hostile flood 0 succeeded
run_id=$(last_run_id)
size=$(stat -c %s "$DIHYA_STATE_DIR/runs/$run_id/log.txt")
[ "$size" -lt 8000000 ] && ok "flooded output is capped in the log ($size bytes)" || not_ok "log is $size bytes"
expect_exit 0 "logs of the flood run" -- dh logs "$run_id"
expect_in "$OUT" "dropped" "the log says output was dropped"

hostile hang 4 timed_out --timeout 1
hostile wait_for_cancel 4 timed_out --timeout 1
expect_exit 4 "a plugin ignoring SIGTERM is killed after the grace period" -- timeout 60 "$DIHYA_HOST" run hostile -p behaviour=hang_ignoring_cancel --timeout 1 --grace 1

# Ctrl-C: SIGINT to the host cancels the run and exits 130.
"$DIHYA_HOST" run hostile -p behaviour=wait_for_cancel >"$OUT" 2>"$ERR" &
pid=$!
sleep 1
kill -INT "$pid"
code=0
wait "$pid" || code=$?
expect_eq "$code" 130 "Ctrl-C exits 130"
expect_eq "$(last_run_field outcome)" cancelled "Ctrl-C recorded as cancelled"

# An undo entry over the 16 MiB frame limit: record() throws, the run fails with that message.
expect_exit 1 "a journal entry over the frame limit fails the run" -- dh run hostile -p behaviour=huge_journal
expect_in "$ERR" "16 MiB limit" "the message says the entry is over the limit"
expect_not_in "$ERR" "without a result" "the child did not vanish"

expect_exit 0 "history" -- dh history
expect_in "$OUT" "timed_out" "history shows outcomes"
expect_exit 0 "history --plugin --json" -- dh history --plugin hostile --json
expect_exit 0 "show" -- dh show "$(last_run_id)"
expect_in "$OUT" "sha256" "show names the plugin's sha256"
expect_exit 2 "show of a bad run id" -- dh show ../../etc/passwd
expect_exit 2 "show of an unknown run" -- dh show 20200101T000000.000Z-abcdef
finish
