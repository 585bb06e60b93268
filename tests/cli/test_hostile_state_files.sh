#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# What the host reads back from its state and cache dirs, replaced by what it
# never writes: a device or a sparse file of gigabytes in place of a cache, a
# journal, a log or a report must be refused in one line (or the cache
# rebuilt), never read until the host runs out of memory.
source "$(dirname "$0")/lib.sh"
S="$DIHYA_STATE_DIR"

# limited COMMAND...: within 2 GB of address space, as the operator's ulimit
# might be; a read of a whole device would reach "internal error: std::bad_alloc".
limited() {
  if [ "${DIHYA_TEST_SANITIZED:-0}" = 1 ]; then timeout 60 "$@"; else (ulimit -v 2000000 && exec timeout 60 "$@"); fi
}

## The plugin metadata cache ##################################################

expect_exit 0 "list writes the metadata cache" -- dh list
cache=$(ls "$DIHYA_CACHE_DIR"/plugin-metadata-*.json)
[ -f "$cache" ] && ok "the cache is there" || not_ok "no cache file"
rm "$cache" && mknod "$cache" c 1 5
expect_exit 0 "a cache replaced by /dev/zero is ignored" -- limited "$DIHYA_HOST" run noop
expect_not_in "$ERR" "internal error" "no internal error"
[ -f "$cache" ] && ok "and rebuilt as a regular file" || not_ok "the device is still there"
rm "$cache" && truncate -s 3G "$cache"
expect_exit 0 "a sparse cache of 3 GB is ignored" -- limited "$DIHYA_HOST" run noop
expect_eq "$([ "$(stat -c %s "$cache")" -lt 1048576 ] && echo small)" small "and rebuilt"

## A run's journal, log and report ###########################################

expect_exit 1 "a failed run kept for rollback" -- \
  dh run hostile_journal --param behaviour=journal_then_fail --no-rollback
id=$(last_run_id)
journal="$S/runs/$id/journal.jsonl"
[ -s "$journal" ] && ok "its journal is there" || not_ok "no journal"
cp "$journal" "$WORK/journal.jsonl"
rm "$journal" && mknod "$journal" c 1 5
expect_exit 1 "rollback of a journal replaced by /dev/zero" -- limited "$DIHYA_HOST" rollback "$id"
expect_one_line_error "journal device"
expect_in "$ERR" "journal $journal: not a regular file" "names the journal"
rm "$journal" && truncate -s 300M "$journal"
expect_exit 1 "rollback of a journal larger than a journal may grow" -- limited "$DIHYA_HOST" rollback "$id"
expect_one_line_error "journal too large"
expect_in "$ERR" "larger than a run's journal may grow (256 MiB)" "says why"
rm "$journal" && cp "$WORK/journal.jsonl" "$journal"
expect_exit 0 "the journal put back rolls back" -- dh rollback "$id"

expect_exit 0 "a run" -- dh run noop
id=$(last_run_id)
mkdir -p "$S/runs/$id"
mknod "$S/runs/$id/log.txt" c 1 5
mknod "$S/runs/$id/report.txt" c 1 5
expect_exit 1 "logs of a log.txt replaced by /dev/zero" -- limited "$DIHYA_HOST" logs "$id"
expect_one_line_error "log device"
expect_in "$ERR" "log.txt: not a regular file" "names the file"
expect_exit 0 "show of a report.txt replaced by /dev/zero shows the run" -- limited "$DIHYA_HOST" show "$id"
expect_not_in "$ERR" "internal error" "no internal error"
rm "$S/runs/$id/log.txt" "$S/runs/$id/report.txt"
truncate -s 3G "$S/runs/$id/log.txt"
expect_exit 1 "logs of a sparse log.txt of 3 GB" -- limited "$DIHYA_HOST" logs "$id"
expect_in "$ERR" "larger than 64 MiB" "says why"
rm -r "$S/runs/$id"

## A read-only state dir ####################################################

# The reading commands answer from an index of their own when the one on disk
# is missing or stale and cannot be written (a snapshot, a backup mounted
# read-only), as they do on a full disk.
RO="$WORK/ro"
mkdir -p "$RO"
if mount -t tmpfs -o size=32m tmpfs "$RO" 2>/dev/null; then
  trap 'umount "$RO" 2>/dev/null || true; rm -rf "$WORK" "$HOST_DIRS"' EXIT
  ro_state="$RO/state"
  expect_exit 0 "a run in the state dir to be made read-only" -- env DIHYA_STATE_DIR="$ro_state" "$DIHYA_HOST" run noop
  ro_id=$(DIHYA_STATE_DIR="$ro_state" last_run_id)
  expect_exit 0 "history writes the index" -- env DIHYA_STATE_DIR="$ro_state" "$DIHYA_HOST" history
  cp "$ro_state/runs/state.idx" "$WORK/state.idx"
  expect_exit 0 "another run" -- env DIHYA_STATE_DIR="$ro_state" "$DIHYA_HOST" run noop
  cp "$WORK/state.idx" "$ro_state/runs/state.idx"  # stale: it misses the last run
  mount -o remount,ro "$RO"
  for how in stale missing; do
    expect_exit 0 "history with a $how index on a read-only state dir" -- env DIHYA_STATE_DIR="$ro_state" "$DIHYA_HOST" history
    expect_eq "$(grep -c ' noop ' "$OUT")" 2 "both runs listed ($how index)"
    expect_exit 0 "show ($how index)" -- env DIHYA_STATE_DIR="$ro_state" "$DIHYA_HOST" show "$ro_id"
    expect_exit 0 "logs ($how index)" -- env DIHYA_STATE_DIR="$ro_state" "$DIHYA_HOST" logs "$ro_id"
    expect_exit 0 "audit verify ($how index)" -- env DIHYA_STATE_DIR="$ro_state" "$DIHYA_HOST" audit verify
    mount -o remount,rw "$RO"
    rm -f "$ro_state/runs/state.idx"
    mount -o remount,ro "$RO"
  done
  umount "$RO"
else
  echo "skip: a read-only state dir needs mount (root)"
fi

## A state dir out of inodes ###############################################

# A run that cannot make its work or output dir (no inode left) once its
# start is recorded ends recorded: failed, exit 1, the cause named, its
# run.end audited, nothing of it left. It was left running (read as
# interrupted) with an empty run dir and work dir. 30 inodes: the 8th run
# finds none.
INO="$WORK/ino"
mkdir -p "$INO"
if mount -t tmpfs -o size=5m,nr_inodes=30 tmpfs "$INO" 2>/dev/null; then
  trap 'umount "$INO" 2>/dev/null || true; rm -rf "$WORK" "$HOST_DIRS"' EXIT
  ino() { env DIHYA_STATE_DIR="$INO/state" "$DIHYA_HOST" "$@"; }
  codes="" nospace=0
  for i in $(seq 1 12); do
    rc=0
    ino run hostile_journal -p behaviour=journal_then_fail --no-rollback >"$OUT" 2>"$ERR" || rc=$?
    codes+="$rc "
    grep -q "No space left on device" "$ERR" && nospace=$((nospace + 1))
  done
  [ "$nospace" -gt 0 ] && ok "runs found no inode left ($nospace of 12)" || not_ok "no run found the inodes exhausted"
  expect_eq "$codes" "$(printf '1 %.0s' $(seq 1 12))" "every run exits 1 (failed)"
  expect_exit 0 "history of the state dir out of inodes" -- ino history --json
  expect_eq "$(python3 -c 'import json,sys; print(sorted({r["outcome"] for r in json.load(open(sys.argv[1]))}))' "$OUT")" \
    "['failed']" "every run recorded is recorded failed, none running or interrupted"
  expect_in "$OUT" "host error: cannot create" "the record names what could not be made"
  expect_eq "$(grep -c '"event":"run.start"' "$INO/state/audit.jsonl")" "$(grep -c '"event":"run.end"' "$INO/state/audit.jsonl")" \
    "each run.start in the audit log has its run.end"
  expect_exit 0 "audit verify of the state dir out of inodes" -- ino audit verify
  expect_eq "$(find "$INO/state/work" "$INO/state/runs" -mindepth 1 -type d -empty | wc -l)" 0 "no empty run or work dir left"
  umount "$INO"
else
  echo "skip: a state dir out of inodes needs mount (root)"
fi

## Directories of the state dir #############################################

# A refused --output-dir (exit 2, nothing run) makes nothing, not even inside
# the state dir, where a directory at state.log's name once broke every
# later command.
fresh="$WORK/fresh-state"
expect_exit 2 "an --output-dir inside a new state dir is refused" -- \
  env DIHYA_STATE_DIR="$fresh" "$DIHYA_HOST" run noop --output-dir "$fresh/runs/state.log/x"
expect_in "$ERR" "lies inside the host's state dir" "says why"
[ ! -e "$fresh/runs/state.log" ] && ok "nothing was made there" || not_ok "the refused --output-dir was made"
expect_exit 0 "the state dir still works" -- env DIHYA_STATE_DIR="$fresh" "$DIHYA_HOST" history
expect_exit 2 "an --output-dir inside the cache dir is refused" -- dh run noop --output-dir "$DIHYA_CACHE_DIR/new/out"
[ ! -e "$DIHYA_CACHE_DIR/new" ] && ok "and not made" || not_ok "a refused --output-dir was made in the cache dir"
expect_exit 0 "an accepted --output-dir is made" -- dh run noop --output-dir "$WORK/made/out"
[ -d "$WORK/made/out" ] && ok "and is there" || not_ok "the --output-dir was not made"

# runs/, locks/ and spare/ planted as symlinks are refused like work/: the
# state log, locks and spare directories must not be kept elsewhere.
expect_exit 0 "a run makes the state dir's directories" -- dh run noop --concurrency forbid
for sub in runs locks spare work; do
  mkdir -p "$WORK/elsewhere-$sub" "$S/$sub"
  mv "$S/$sub" "$WORK/$sub.real"
  ln -s "$WORK/elsewhere-$sub" "$S/$sub"
  expect_exit 1 "a run with $sub/ a symlink" -- dh run noop --concurrency forbid
  expect_in "$ERR" "$S/$sub is not a directory of yours (a symlink?)" "names $sub/"
  expect_eq "$(ls -A "$WORK/elsewhere-$sub")" "" "nothing was written through $sub/"
  rm "$S/$sub"
  mv "$WORK/$sub.real" "$S/$sub"
done
expect_exit 0 "runs again with the directories back" -- dh run noop --concurrency forbid

finish
