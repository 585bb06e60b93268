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
# Journal entries whose acks the plugin never reads filled the ack pipe and
# blocked the host in write(): no timeout, no Ctrl-C, the run left running.
hostile ignore_acks 1 rollback_failed --timeout 30
expect_in "$ERR" "does not read the host's acknowledgements" "unread acks are a protocol error"
# A load error forged after loading read as exit 3, "nothing was run".
hostile forged_load_error 1 crashed
expect_in "$ERR" "a load error after the plugin had loaded" "a forged load error is a protocol error"
# Read as a boolean and strings, a forged {"ok": "yes"} ended the run as a host error.
hostile forged_result 1 crashed
expect_in "$ERR" "a result frame whose ok, summary, report or invalid has the wrong type" \
  "a result of the wrong types is a protocol error"
# A plugin that may start programs (an exec grant) runs, where the host can
# make one (as root), in a pid namespace of its own under an init that waits
# for it. An init ignores the signals it has no handler for, even its own
# (abort()): the plugin is not that init, so its crash is named the same.
if [ "$(id -u)" = 0 ]; then
  sandbox_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sandbox"].get(sys.argv[2]))' "$OUT" "$1"; }
  hostile ok 0 succeeded -p program=/bin/true
  expect_exit 0 "show --json of a run with an exec grant" -- dh show "$(last_run_id)" --json
  expect_eq "$(sandbox_field pid_namespace)" True "its record says it had a pid namespace of its own"
  case "$(sandbox_field summary)" in
    *"own pid namespace") ok "and its sandbox summary" ;;
    *) not_ok "the sandbox summary does not name the pid namespace" ;;
  esac
  hostile segfault 1 crashed -p program=/bin/true
  expect_in "$ERR" "SIGSEGV" "in a pid namespace: segfault is named"
  hostile abort 1 crashed -p program=/bin/true
  expect_in "$ERR" "SIGABRT" "in a pid namespace: abort is named"
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" hostile exit7 1 crashed -p program=/bin/true
  expect_in "$ERR" "status 7" "in a pid namespace: the exit status is named"
  hostile hang 4 timed_out --timeout 1 -p program=/bin/true
  expect_exit 4 "in a pid namespace: a plugin ignoring SIGTERM is killed after the grace period" -- \
    timeout 60 "$DIHYA_HOST" run hostile -p behaviour=hang_ignoring_cancel -p program=/bin/true --timeout 1 --grace 1
  hostile ok 0 succeeded
  expect_exit 0 "show --json of a run without an exec grant" -- dh show "$(last_run_id)" --json
  expect_eq "$(sandbox_field pid_namespace)" False "a plugin that starts no program runs in the host's pid namespace"
else
  echo "note: not root: no pid namespace for a run, not checked"
fi
hostile flood 0 succeeded
run_id=$(last_run_id)
size=$(stat -c %s "$DIHYA_STATE_DIR/runs/$run_id/log.txt")
[ "$size" -lt 8000000 ] && ok "flooded output is capped in the log ($size bytes)" || not_ok "log is $size bytes"
expect_exit 0 "logs of the flood run" -- dh logs "$run_id"
expect_in "$OUT" "dropped" "the log says output was dropped"
# ctx.log() has its budget too (4 MiB a child, 16 KiB a message): 100
# messages of 200 kB once made a 20 MB log.txt and as much on stderr.
hostile log_flood 0 succeeded
run_id=$(last_run_id)
size=$(stat -c %s "$DIHYA_STATE_DIR/runs/$run_id/log.txt")
[ "$size" -lt 8000000 ] && ok "a flooded ctx.log() is capped in the log ($size bytes)" || not_ok "log is $size bytes"
size=$(stat -c %s "$ERR")
[ "$size" -lt 8000000 ] && ok "a flooded ctx.log() is capped on stderr ($size bytes)" || not_ok "stderr is $size bytes"
expect_exit 0 "logs of the log flood run" -- dh logs "$run_id"
expect_in "$OUT" "log flood 0 LLLL" "the first messages are kept"
expect_in "$OUT" "bytes in all]" "a long message is cut, and says so"
expect_in "$OUT" "plugin log beyond 4 MiB dropped" "the log says messages were dropped"
expect_not_in "$OUT" "log flood 99 " "the last messages are dropped"

hostile hang 4 timed_out --timeout 1
hostile wait_for_cancel 4 timed_out --timeout 1
# A timeout that fires while the child is still starting (before it set its
# own SIGTERM handler) is still a timeout, never "cancelled by the operator":
# the child once ran the host's handler, which wrote into the host's signal
# pipe. The smallest timeout makes that window likely; ten tries.
early=""
for i in 1 2 3 4 5 6 7 8 9 10; do
  rc=0
  timeout 60 "$DIHYA_HOST" run hostile -p behaviour=wait_for_cancel --timeout 0.001 --grace 2 >/dev/null 2>&1 || rc=$?
  early+="$rc $(last_run_field outcome);"
done
expect_eq "$early" "$(printf '4 timed_out;%.0s' 1 2 3 4 5 6 7 8 9 10)" "a timeout at the child's start is recorded as timed out, exit 4"
expect_exit 2 "--timeout below a millisecond (it was 0 ms)" -- dh run hostile -p behaviour=ok --timeout 0.0001
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

# A child killed with SIGKILL while it journals (the OOM killer) crashed:
# the host's ack to its last entry then finds the pipe closed (EPIPE), which
# was reported as "plugin broke the host protocol" (8 times in 9). Killed
# once its journal has entries; five tries.
killed=""
for i in 1 2 3 4 5; do
  touch "$WORK/flood.mark"
  "$DIHYA_HOST" run hostile_journal -p behaviour=journal_flood -p count=100000 >"$OUT" 2>"$ERR" &
  pid=$!
  for _ in $(seq 1 200); do
    [ -n "$(find "$DIHYA_STATE_DIR/runs" -name journal.jsonl -newer "$WORK/flood.mark" -size +8k 2>/dev/null)" ] && break
    sleep 0.05
  done
  kill -9 $(pgrep -P "$pid") 2>/dev/null || true
  code=0
  wait "$pid" || code=$?
  killed+="$code $(last_run_field outcome) $(grep -c 'crashed with SIGKILL' "$ERR" || true) $(grep -c 'host protocol' "$ERR" || true);"
done
expect_eq "$killed" "$(printf '5 rolled_back 1 0;%.0s' 1 2 3 4 5)" \
  "a child killed with SIGKILL while journalling crashed with SIGKILL, rolled back (exit 5), never a protocol breach"

# An undo entry over the 16 MiB frame limit: record() throws, the run fails with that message.
expect_exit 1 "a journal entry over the frame limit fails the run" -- dh run hostile -p behaviour=huge_journal
expect_in "$ERR" "16 MiB limit" "the message says the entry is over the limit"
expect_not_in "$ERR" "without a result" "the child did not vanish"

# Memory: each child holds at most memory_max (RLIMIT_DATA). A plugin that
# leaks until allocation fails ends failed, naming its limit; the host lives.
# Not under AddressSanitizer, whose shadow memory the limit would count.
mkdir -p "$XDG_CONFIG_HOME/dihya"
if [ "${DIHYA_TEST_SANITIZED:-0}" != 1 ]; then
  expect_exit 1 "a plugin leaking memory stops at --memory-max" -- bounded "$DIHYA_HOST" run hostile -p behaviour=hog --memory-max 256M
  expect_eq "$(last_run_field outcome)" failed "the leaking run is recorded as failed"
  expect_in "$ERR" "memory limit of 256 MiB" "the message names the limit"
  expect_exit 0 "show of the leaking run" -- dh show "$(last_run_id)" --json
  expect_eq "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sandbox"]["memory_max"])' "$OUT")" \
    $((256 << 20)) "the record holds the limit"
  printf 'memory_max: 200M\n' >"$XDG_CONFIG_HOME/dihya/config.yaml"
  expect_exit 1 "memory_max in the config limits the child" -- bounded "$DIHYA_HOST" run hostile -p behaviour=hog
  expect_in "$ERR" "memory limit of 200 MiB" "the config's limit is named"
  # The system config's value is a ceiling: a user config above it is cut
  # down to it, a flag above it (or off) refused.
  printf 'memory_max: 300M\n' >"$HOST_DIRS/system.yaml"
  printf 'memory_max: 4G\n' >"$XDG_CONFIG_HOME/dihya/config.yaml"
  expect_exit 1 "a user config above the system's memory_max gets the system's" -- \
    bounded env DIHYA_SYSTEM_CONFIG="$HOST_DIRS/system.yaml" "$DIHYA_HOST" run hostile -p behaviour=hog
  expect_in "$ERR" "memory limit of 300 MiB" "the system's ceiling holds"
  for flag in 1G off; do
    expect_exit 2 "--memory-max $flag above the system's memory_max" -- \
      env DIHYA_SYSTEM_CONFIG="$HOST_DIRS/system.yaml" "$DIHYA_HOST" run hostile -p behaviour=ok --memory-max "$flag"
    expect_in "$ERR" "above the system config's memory_max of 300 MiB" "--memory-max $flag: the ceiling is named"
  done
  rm -f "$HOST_DIRS/system.yaml" "$XDG_CONFIG_HOME/dihya/config.yaml"
fi
runs_before=$(dh history --json --limit 100000 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
for bad in 12X 1 10M 99999999999999999999T -1G ""; do
  expect_exit 2 "--memory-max '$bad' is refused" -- dh run hostile -p behaviour=ok --memory-max "$bad"
  if [ -n "$bad" ]; then expected="expected a size of at least 32M"; else expected="--memory-max: empty value"; fi
  expect_in "$ERR" "$expected" "--memory-max '$bad': the message says what is expected"
done
printf 'memory_max: lots\n' >"$XDG_CONFIG_HOME/dihya/config.yaml"
expect_exit 2 "a malformed memory_max in the config" -- dh run hostile -p behaviour=ok
expect_in "$ERR" "memory_max 'lots'" "the config's value is named"
rm -f "$XDG_CONFIG_HOME/dihya/config.yaml"
expect_eq "$(dh history --json --limit 100000 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" \
  "$runs_before" "no refused limit started a run"
expect_exit 0 "--memory-max off is accepted without a ceiling" -- dh run hostile -p behaviour=ok --memory-max off
expect_exit 0 "show of a run without a memory limit" -- dh show "$(last_run_id)"
expect_in "$OUT" "no memory limit" "show says the run had no memory limit"
# The sandbox keeps the limit where the host set it, and the host's own
# limits out of the plugin's reach (its RLIMIT_FSIZE at 0 would kill the
# host with SIGXFSZ at its next record).
expect_exit 0 "a plugin raising its limits" -- dh run hostile -p behaviour=raise_limits
expect_in "$OUT" "memory limit kept, host's limits kept" "neither its memory limit nor the host's limits moved"
expect_exit 0 "audit verify after the memory runs" -- dh audit verify

# validate is bounded like run: --timeout, else the plugin's timeout_seconds
# (it was five minutes whatever the plugin said), and a timeout exits 4.
expect_exit 4 "validate whose validate() hangs, --timeout 1" -- \
  timeout 60 "$DIHYA_HOST" validate hostile -p behaviour=hang_in_validate --timeout 1
expect_one_line_error "validate timed out"
expect_in "$ERR" "hostile: validate timed out after 1 s" "the timeout is named"
expect_exit 3 "validate of a plugin that hangs while loading, within its timeout_seconds (2)" -- \
  timeout 60 "$DIHYA_HOST" validate hang_on_load
expect_in "$ERR" "timed out after 2 s while loading" "the plugin's own timeout applied"
expect_exit 2 "validate --timeout 0" -- dh validate hostile -p behaviour=ok --timeout 0
expect_exit 0 "validate --help" -- dh validate --help
expect_in "$OUT" "--timeout" "validate --help documents --timeout"

# Bytes a plugin writes that are not UTF-8 (a lone \xe9, a bare C1 \x9b)
# arrive escaped as \xNN, in the summary, the report, the log and the data,
# as everywhere else: never as U+FFFD, which hides the byte.
expect_exit 0 "a plugin's text that is not UTF-8" -- dh run hostile -p behaviour=bad_utf8
expect_in "$OUT" 'summary caf\xe9 \x9b' "the summary shows the bytes escaped"
expect_in "$OUT" 'report caf\xe9' "the report shows the bytes escaped"
expect_in "$ERR" 'log caf\xe9' "the log line shows the bytes escaped"
expect_not_in "$OUT" $'\xef\xbf\xbd' "no U+FFFD on stdout"
expect_not_in "$ERR" $'\xef\xbf\xbd' "no U+FFFD on stderr"
expect_exit 0 "show of that run" -- dh show "$(last_run_id)" --json
expect_in "$OUT" '"note": "data caf\\xe9"' "the data keeps the bytes escaped"
expect_not_in "$OUT" '\ufffd' "no U+FFFD in the record"

expect_exit 0 "history" -- dh history
expect_in "$OUT" "timed_out" "history shows outcomes"
expect_exit 0 "history --plugin --json" -- dh history --plugin hostile --json
expect_exit 0 "show" -- dh show "$(last_run_id)"
expect_in "$OUT" "sha256" "show names the plugin's sha256"
expect_exit 2 "show of a bad run id" -- dh show ../../etc/passwd
expect_exit 2 "show of an unknown run" -- dh show 20200101T000000.000Z-abcdef
finish
