#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# `audit verify` cross-checks every audit line the state log carries (each
# run's run.start and run.end) against audit.jsonl, tried as an editor with
# write access to the state dir would, short of rewriting both files
# consistently: a line of audit.jsonl edited, dropped, moved or duplicated
# with the hash chain and the head record recomputed after it; its tail cut
# with the head rewritten; the state log cut, reordered or its copy edited;
# audit.jsonl replaced by a symlink or a FIFO. Each is found (exit 1, one
# line naming the seq and the files); what the host itself leaves (a line
# carried by a host that stopped before writing it, a prune) is not.
source "$(dirname "$0")/lib.sh"

audit="$DIHYA_STATE_DIR/audit.jsonl"
state_log="$DIHYA_STATE_DIR/runs/state.log"

# forge audit OP ARGS: rewrites audit.jsonl as an editor who knows the format
# would, recomputing every seq and prev after the change and the head record.
# forge state OP ARGS: rewrites the state log, recomputing the checksum of the
# entries it changes unless told not to.
cat >"$WORK/forge.py" <<'PY'
import hashlib, re, sys
from state_log_line import state_line

def rechain(lines):
    prev = b"0" * 64
    for i, line in enumerate(lines):
        line = re.sub(rb'^\{"seq":\d+,', b'{"seq":%d,' % (i + 1), line, count=1)
        line = re.sub(rb'"prev":"[0-9a-f]{64}"', b'"prev":"' + prev + b'"', line, count=1)
        lines[i] = line
        prev = hashlib.sha256(line).hexdigest().encode()
    return lines

def write_head(path, lines):
    old = open(path + ".head", "rb").read()
    boot = re.search(rb'"boot":"([0-9a-f]*)"', old).group(1)
    seq = len(lines)
    sha = hashlib.sha256(lines[-1]).hexdigest().encode()
    check = hashlib.sha256(b"%d:%s" % (seq, sha)).hexdigest()[:16].encode()
    text = b'{"seq":%d,"sha256":"%s","check":"%s","boot":"%s"}' % (seq, sha, check, boot)
    open(path + ".head", "wb").write(text.ljust(159, b" ") + b"\n")

kind, path, op, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
lines = open(path, "rb").read().split(b"\n")[:-1]
if kind == "audit":
    n = [int(a) for a in args if a.isdigit()]
    if op == "edit":      # edit LINE OLD NEW
        k = int(args[0]) - 1
        assert args[1].encode() in lines[k], lines[k]
        lines[k] = lines[k].replace(args[1].encode(), args[2].encode(), 1)
    elif op == "delete":  # delete LINE
        del lines[n[0] - 1]
    elif op == "swap":    # swap FIRST COUNT SECOND: COUNT lines at FIRST with COUNT lines at SECOND
        a, c, b = n[0] - 1, n[1], n[2] - 1
        lines[a:a + c], lines[b:b + c] = lines[b:b + c], lines[a:a + c]
    elif op == "duplicate":  # duplicate LINE
        lines.insert(n[0], lines[n[0] - 1])
    elif op == "cut":     # cut COUNT: the last COUNT lines
        lines = lines[:-n[0]]
    open(path, "wb").write(b"".join(l + b"\n" for l in rechain(lines)))
    write_head(path, lines)
else:
    if op == "cut":       # cut COUNT: the last COUNT entries
        lines = lines[:-int(args[0])]
    elif op == "swap":    # swap SEQ_A SEQ_B: the entries carrying these audit seqs
        at = {}
        for i, line in enumerate(lines):
            m = re.search(rb'"audit":"\{\\"seq\\":(\d+),', line)
            if m: at[int(m.group(1))] = i
        a, b = at[int(args[0])], at[int(args[1])]
        lines[a], lines[b] = lines[b], lines[a]
    elif op == "edit-copy":  # edit-copy SEQ OLD NEW [nocrc]: in the copy of that seq only
        for i, line in enumerate(lines):
            if re.search(rb'"audit":"\{\\"seq\\":%d,' % int(args[0]), line):
                head, body = line[:18], line[18:]
                old = b'\\"' + args[1].encode() + b'\\"'
                assert old in body, body
                body = body.replace(old, b'\\"' + args[2].encode() + b'\\"', 1)
                lines[i] = head + body if args[3:] == ["nocrc"] else state_line(body)
    elif op == "carry":   # carry: an entry carrying the next line, as a host stopped before writing it leaves
        alines = open(args[0], "rb").read().split(b"\n")[:-1]
        prev = hashlib.sha256(alines[-1]).hexdigest()
        text = '{"seq":%d,"ts":"2026-12-07T00:00:00.000Z","prev":"%s","event":"run.end","data":{}}' % (len(alines) + 1, prev)
        body = '{"audit":%s,"op":"put","run":{"id":"20261207T000000.000Z-abcdef"}}' % (
            '"' + text.replace('\\', '\\\\').replace('"', '\\"') + '"')
        lines.append(state_line(body.encode()))
    open(path, "wb").write(b"".join(l + b"\n" for l in lines))
PY
forge() { PYTHONPATH="$CLI_DIR" python3 "$WORK/forge.py" "$@"; }

# Four runs one after the other (seq 1 to 8), then two overlapping: hostile
# starts (9) and waits to be cancelled, noop runs whole (10, 11), then hostile
# is cancelled and ends (12). No run record names seq 11 or 12. Then a prune
# (13).
for name in A B C D; do dh run echo_params -p name=$name >/dev/null 2>&1; done
"$DIHYA_HOST" run hostile -p behaviour=wait_for_cancel --grace 5 >/dev/null 2>&1 &
waiting=$!
for _ in $(seq 1 600); do
  [ "$(grep -c '"event":"run.start"' "$audit")" -eq 5 ] && break
  sleep 0.1
done
expect_exit 0 "a run while another runs" -- dh run noop -q
kill -TERM "$waiting"
wait "$waiting" || true
expect_eq "$(wc -l <"$audit")" 12 "six runs, two lines each"
expect_eq "$(sed -n 12p "$audit" | grep -c '"outcome":"cancelled"')" 1 "the overlapping run ended last"
expect_exit 0 "audit verify of the intact log" -- dh audit verify --json
expect_in "$OUT" '"cross_checked": 12' "every line is cross-checked with the state log's copy"
expect_in "$OUT" '"carried_past_end": 0' "no copy past the end"
# A prune of the first run: its lines are no longer carried, and the log's
# last line (the prune's, 13) is not a line the state log carries.
expect_exit 0 "history prune of the first run" -- dh history prune --keep 5 --yes
expect_eq "$(tail -1 "$audit" | grep -c '"event":"history.prune"')" 1 "the prune's line is the last"
expect_exit 0 "audit verify after the prune" -- dh audit verify --json
expect_in "$OUT" '"cross_checked": 10' "the five runs kept keep their ten lines cross-checked"

cp -a "$DIHYA_STATE_DIR" "$WORK/pristine"
restore() { rm -rf "$DIHYA_STATE_DIR"; cp -a "$WORK/pristine" "$DIHYA_STATE_DIR"; }
# found DESCRIPTION TEXT...: audit verify exits 1, with one line naming each TEXT.
found() {
  local what=$1
  shift
  expect_exit 1 "audit verify finds $what" -- dh audit verify
  for text in "$@"; do expect_in "$OUT" "$text" "$what: names '$text'"; done
  expect_eq "$(wc -l <"$OUT")" 1 "$what: one line"
  restore
}
# Guard: the forger's chain and head verify as a copy (--file checks only
# the chain and the head), so what finds each attack is the cross-check.
forged_chain_holds() {
  expect_exit 0 "$1: the forged chain and head hold on their own" -- dh audit verify --file "$audit"
}

forge audit "$audit" edit 4 '"outcome":"succeeded"' '"outcome":"failed"'
forged_chain_holds "a middle line edited"
found "a middle line edited, chain and head recomputed" "line 4 (seq 4) differs from the copy" "$state_log"

forge audit "$audit" delete 5
forged_chain_holds "a middle line deleted"
found "a middle line deleted, chain and head recomputed" "line 5 (seq 5) differs" "$state_log"

forge audit "$audit" swap 3 2 5
forged_chain_holds "two runs' lines swapped"
found "two runs' lines swapped, chain and head recomputed" "line 3 (seq 3) differs"

forge audit "$audit" duplicate 4
forged_chain_holds "a middle line duplicated"
found "a middle line duplicated, chain and head recomputed" "line 5 (seq 5) differs"

# An edit anywhere before a carried line changes it: recomputing the chain
# rewrites every line after the edit.
# (Line 1 is the pruned run's: line 3 is the first carried line it changes.)
forge audit "$audit" edit 1 '"name":"A"' '"name":"Z"'
found "the first line edited, chain and head recomputed" "line 3 (seq 3) differs"

# The tail cut and the head rewritten: no run record names seq 11 or 12,
# the state log's copies of them show the cut.
forge audit "$audit" cut 3
forged_chain_holds "the tail cut"
found "the last three lines cut, head rewritten" "the log ends at seq 10" "carries 2 line(s) after it, seq 11 to 12"

# One line past the end is what a host stopped between the state log and the
# audit file leaves (its seq is the next append's): tolerated, and said.
forge audit "$audit" cut 2
expect_exit 0 "audit verify with one copy past the end" -- dh audit verify --json
expect_in "$OUT" '"carried_past_end": 1' "its JSON counts it"
expect_in "$ERR" "past the log's end" "stderr says so"
restore
forge state "$state_log" carry "$audit"
expect_exit 0 "audit verify with the line of a host stopped before writing it" -- dh audit verify
expect_in "$ERR" "1 line(s) past the log's end" "stderr names it"
expect_exit 0 "the next run takes its seq" -- dh run noop -q
expect_exit 0 "audit verify after" -- dh audit verify --json
expect_in "$OUT" '"carried_past_end": 0' "the copy was replaced by the line that took its seq"
restore

# The state log cut: the audit file's last lines are no longer carried.
forge state "$state_log" cut 1
found "the state log's last entry cut" "line 12 (seq 12, run.end of run" "$state_log"
forge state "$state_log" cut 3
found "the state log's last three entries cut" "is not carried by the state log"

# Two runs' entries swapped in the state log.
forge state "$state_log" swap 4 6
found "two runs' entries swapped in the state log" "not carried by the state log"

# The state log's copy edited, alone: with its checksum recomputed, and without.
forge state "$state_log" edit-copy 6 succeeded failed
found "the state log's copy edited" "line 6 (seq 6) differs from the copy the state log carries" "one of the two was edited"
forge state "$state_log" edit-copy 6 succeeded failed nocrc
found "the state log's copy edited, its checksum left" "line 6 (seq 6) differs" "checksum fails"

# audit.jsonl replaced by a symlink to an intact copy, or by a FIFO.
cp "$audit" "$WORK/audit.elsewhere"
rm "$audit" && ln -s "$WORK/audit.elsewhere" "$audit"
expect_exit 1 "audit verify refuses audit.jsonl as a symlink" -- dh audit verify
expect_in "$ERR" "is a symlink" "the symlink is named"
restore
rm "$audit" && mkfifo "$audit"
expect_exit 1 "audit verify refuses audit.jsonl as a FIFO (no hang)" -- timeout 20 "$DIHYA_HOST" audit verify
expect_in "$ERR" "not a regular file" "the FIFO is named"
restore

# A prune keeps verify valid: the kept runs keep both their copies, so an
# edit of the kept run's run.start is still found, and the pruned runs'
# lines, no longer carried, are not reported as missing.
expect_exit 0 "history prune --keep 2" -- dh history prune --keep 2 --yes
expect_eq "$(tail -1 "$audit" | grep -c '"count":3')" 1 "three runs were pruned"
expect_exit 0 "audit verify after the prune" -- dh audit verify --json
expect_in "$OUT" '"cross_checked": 4' "the kept runs' four lines are cross-checked"
cp -a "$DIHYA_STATE_DIR" "$WORK/pristine-pruned"
forge audit "$audit" edit 10 '"plugin":"noop"' '"plugin":"nope"'
expect_exit 1 "audit verify finds a kept run's run.start edited after the prune" -- dh audit verify
expect_in "$OUT" "line 10 (seq 10) differs" "the line is named"
rm -rf "$DIHYA_STATE_DIR" && cp -a "$WORK/pristine-pruned" "$DIHYA_STATE_DIR"
forge audit "$audit" edit 2 '"outcome":"succeeded"' '"outcome":"failed"'
expect_exit 1 "audit verify finds a pruned run's line edited, the chain recomputed after it" -- dh audit verify
expect_in "$OUT" "differs from the copy the state log carries" "a later carried line shows it"
rm -rf "$DIHYA_STATE_DIR" && cp -a "$WORK/pristine-pruned" "$DIHYA_STATE_DIR"
expect_exit 0 "runs go on after the prune" -- dh run noop -q
expect_exit 0 "audit verify" -- dh audit verify --json
expect_in "$OUT" '"cross_checked": 6' "and their lines are cross-checked too"
finish
