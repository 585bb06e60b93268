#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# A run that journals, fills the disk its state dir (and TMPDIR) lives on and
# fails: its automatic rollback cannot make a work directory. The run must
# still end recorded (rollback_failed, the cause named), leave no work dir,
# and roll back by hand once there is space again. Needs root, for a tmpfs of
# 8 MiB and 400 inodes (the plugin fills both: a directory takes no block
# there); skipped (77) without.
source "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ]; then
  echo "skipped: mounting a small filesystem needs root"
  exit 77
fi
small=$(mktemp -d /tmp/dihya-small.XXXXXX)
unmount_small() {
  umount "$small" 2>/dev/null || umount -l "$small" 2>/dev/null || true
  rmdir "$small" 2>/dev/null || true
}
# Unmounted first, then lib.sh's cleanup (as test_trust_boundary.sh does it).
trap 'unmount_small; rm -rf "$WORK" "$HOST_DIRS"; [ -n "$DB_NAME" ] && psql -X -q "$base_url" -c "drop database if exists $DB_NAME with (force)" >/dev/null 2>&1 || true' EXIT
if ! mount -t tmpfs -o size=8m,nr_inodes=400,mode=0755 tmpfs "$small"; then
  echo "skipped: cannot mount a tmpfs"
  exit 77
fi
export DIHYA_STATE_DIR="$small/state"
export TMPDIR="$small/tmp"
mkdir -p "$TMPDIR"

expect_exit 0 "a run on the small filesystem" -- dh run noop
expect_exit 1 "a run that fills the disk after journalling" -- \
  timeout 120 "$DIHYA_HOST" run hostile_journal --timeout 60 -p behaviour=fill_disk
expect_in "$ERR" "No space left on device" "the rollback's failure names the full disk"
expect_eq "$(last_run_field outcome)" rollback_failed "the run is recorded as rollback_failed, not interrupted"
id=$(last_run_id)
expect_exit 0 "show of that run" -- dh show "$id" --json
expect_in "$OUT" "cannot start the rollback" "its record says the rollback could not start"
if [ -e "$DIHYA_STATE_DIR/work/$id" ]; then not_ok "the run's work dir is left behind"; else ok "no work dir left behind"; fi
expect_eq "$(find "$TMPDIR" -mindepth 1 | wc -l)" 0 "no scratch dir left in TMPDIR"
expect_not_in "$DIHYA_STATE_DIR/runs/$id/journal.jsonl" '"rollback":"started"' "the rollback was not marked started"

rm -rf "$DIHYA_STATE_DIR/runs/$id/output/fill"
expect_exit 0 "the run rolls back once there is space" -- dh rollback "$id" --timeout 60
expect_in "$OUT" "rolled back" "the manual rollback went through"
expect_eq "$(last_run_field outcome)" rolled_back "the run is recorded as rolled back"
expect_exit 0 "audit verify" -- dh audit verify
finish
