#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# A run's run.end line that never reaches audit.jsonl (its host killed
# between the state log and the audit file, or the audit file's write
# refused by a full disk: strace injects both) leaves the state log carrying
# it past the log's end, and the next append takes its seq. When that append
# is no run's (a rollback's, a prune's), `audit verify` still passes: the
# line is carried too, so the state log's copy of the seq is its own. An
# edit of that line, with the chain and head recomputed, is still found.
source "$(dirname "$0")/lib.sh"

require_strace
audit="$DIHYA_STATE_DIR/audit.jsonl"

# lost_end INJECTION: a failing journalled run whose second write to
# audit.jsonl (its run.end line) gets INJECTION (signal=KILL, error=ENOSPC).
lost_end() {
  strace -f -qq -o /dev/null -P "$audit" -e trace=write -e inject=write:"$1":when=2 \
    "$DIHYA_HOST" run hostile_journal --timeout 300 -p behaviour=journal_then_fail --no-rollback >"$OUT" 2>"$ERR" || true
}
# edit_line N OLD NEW: line N of audit.jsonl edited, every seq and prev after
# it and the head record recomputed, as an editor who knows the format would.
edit_line() {
  python3 - "$audit" "$@" <<'PY'
import hashlib, re, sys
path, k, old, new = sys.argv[1], int(sys.argv[2]) - 1, sys.argv[3].encode(), sys.argv[4].encode()
lines = open(path, "rb").read().split(b"\n")[:-1]
assert old in lines[k], lines[k]
lines[k] = lines[k].replace(old, new, 1)
prev = b"0" * 64
for i, line in enumerate(lines):
    lines[i] = re.sub(rb'"prev":"[0-9a-f]{64}"', b'"prev":"' + prev + b'"', line, count=1)
    prev = hashlib.sha256(lines[i]).hexdigest().encode()
open(path, "wb").write(b"".join(l + b"\n" for l in lines))
head = open(path + ".head", "rb").read()
boot = re.search(rb'"boot":"([0-9a-f]*)"', head).group(1)
check = hashlib.sha256(b"%d:%s" % (len(lines), prev)).hexdigest()[:16].encode()
text = b'{"seq":%d,"sha256":"%s","check":"%s","boot":"%s"}' % (len(lines), prev, check, boot)
open(path + ".head", "wb").write(text.ljust(159, b" ") + b"\n")
PY
}
events() { sed -E 's/.*"event":"([a-z.]*)".*/\1/' "$audit" | tr '\n' ' '; }

expect_exit 0 "a first run" -- dh run noop -q

# --- Killed between the state log and audit.jsonl, then rolled back.
lost_end signal=KILL
run_id=$(last_run_id)
expect_eq "$(events)" "run.start run.end run.start " "the killed run's run.end is not in audit.jsonl"
expect_exit 0 "audit verify with the lost line" -- dh audit verify
expect_in "$ERR" "1 line(s) past the log's end" "the carried line past the end is said"
expect_exit 0 "rollback of the run" -- dh rollback "$run_id"
expect_eq "$(events)" "run.start run.end run.start rollback.start rollback.end " "rollback.start took the lost line's seq"
expect_exit 0 "audit verify after the rollback took the lost line's seq" -- dh audit verify --json
expect_in "$OUT" '"ok": true' "the log verifies"
expect_in "$OUT" '"carried_past_end": 0' "no copy past the end any more"
cp -a "$DIHYA_STATE_DIR" "$WORK/after-rollback"
# The rollback.start line (seq 4) forged, chain and head recomputed: the
# state log's copy of seq 4, its own, shows it.
edit_line 4 '"entries":1' '"entries":0'
expect_exit 0 "the forged chain and head hold on their own" -- dh audit verify --file "$audit"
expect_exit 1 "audit verify finds the forged rollback.start" -- dh audit verify
expect_in "$OUT" "line 4 (seq 4) differs from the copy the state log carries" "the forged line is named"
rm -rf "$DIHYA_STATE_DIR" && cp -a "$WORK/after-rollback" "$DIHYA_STATE_DIR"

# --- The audit file's write refused (a full disk), then a prune takes the seq.
lost_end error=ENOSPC
expect_in "$ERR" "No space left on device" "the run says its audit line was not written"
expect_eq "$(events)" "run.start run.end run.start rollback.start rollback.end run.start " \
  "the run's run.end is not in audit.jsonl"
expect_exit 0 "history prune --keep 1" -- dh history prune --keep 1 --yes
expect_eq "$(tail -1 "$audit" | grep -c '"event":"history.prune"')" 1 "the prune's line took the lost line's seq"
expect_exit 0 "audit verify after the prune took the lost line's seq" -- dh audit verify --json
expect_in "$OUT" '"ok": true' "the log verifies after the prune"
expect_exit 0 "a run after" -- dh run noop -q
expect_exit 0 "audit verify after the next run" -- dh audit verify --json
expect_in "$OUT" '"ok": true' "the log verifies after the next run"
finish
