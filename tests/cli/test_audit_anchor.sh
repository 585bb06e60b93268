#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Anchoring the audit log, tried as an attacker would: dropping its last lines
# or deleting it (with or without its head record) is reported by `audit
# verify` (exit 1, one line naming what is missing), a cut log is never
# extended, symlinks planted in place of the audit files are refused, and with
# `audit_syslog: true` every line also reaches syslog as written.
source "$(dirname "$0")/lib.sh"

for name in A B C; do dh run echo_params -p name=$name >/dev/null 2>&1; done
audit="$DIHYA_STATE_DIR/audit.jsonl"
head="$audit.head"
expect_eq "$(wc -l <"$audit")" 6 "two audit entries per run"
expect_in "$head" '"seq":6' "the head record names the last seq"
expect_eq "$(sed -n 's/.*"sha256":"\([0-9a-f]*\)".*/\1/p' "$head")" "$(tail -1 "$audit" | tr -d '\n' | sha256sum | cut -c1-64)" \
  "the head record holds the SHA-256 of the last line"
expect_exit 0 "audit verify of an intact log" -- dh audit verify --json
expect_in "$OUT" '"anchored": true' "the log is anchored by its head"
expect_exit 0 "show --json" -- dh show "$(last_run_id)" --json
expect_in "$OUT" '"audit_seq": 5' "the run record names the seq of its run.start"

# A copy of the log and its head, tampered with, checked with --file.
copy() { mkdir -p "$WORK/copy"; rm -f "$WORK/copy"/*; cp "$audit" "$head" "$WORK/copy/"; }
expect_missing() { # description, expected text
  expect_exit 1 "audit verify finds $1" -- dh audit verify --file "$WORK/copy/audit.jsonl"
  expect_in "$OUT" "$2" "$1 is named"
  expect_eq "$(wc -l <"$OUT")" 1 "$1: one line"
}
copy
head -n 4 "$audit" >"$WORK/copy/audit.jsonl"
expect_missing "the last two lines dropped" "2 line(s) missing at the end: the log ends at seq 4"
copy
rm "$WORK/copy/audit.jsonl"
expect_missing "the deleted log" "the log is missing: its head record"
copy
sed -i '$ s/succeeded/failed/' "$WORK/copy/audit.jsonl"
expect_missing "an edited last line" "does not match the SHA-256 in the head record"

# In the state dir: the log cut back together with its head (an attacker who
# knows about the head) still falls short of the run records.
cp "$audit" "$WORK/audit.keep"
cp "$head" "$WORK/head.keep"
head -n 4 "$WORK/audit.keep" >"$audit"
printf '{"seq":4,"sha256":"%s"}\n' "$(sed -n 4p "$WORK/audit.keep" | tr -d '\n' | sha256sum | cut -c1-64)" >"$head"
expect_exit 1 "audit verify finds a log and head cut back together" -- dh audit verify
expect_in "$OUT" "names its run.start as seq 5" "the run record's seq is named"
rm "$audit" "$head"
expect_exit 1 "audit verify finds a log deleted with its head" -- dh audit verify
expect_in "$OUT" "the log ends at seq 0 but run" "the deletion is named"

# A cut log is never extended: the next line would move the head, the only trace.
cp "$WORK/audit.keep" "$audit"
cp "$WORK/head.keep" "$head"
head -n 4 "$WORK/audit.keep" >"$audit"
expect_exit 1 "a run on a cut log is refused" -- dh run echo_params -p name=D
expect_in "$ERR" "lines were removed" "the refusal says why"
expect_eq "$(wc -l <"$audit")" 4 "the cut log was not extended"
cp "$WORK/audit.keep" "$audit"
cp "$WORK/head.keep" "$head"
expect_exit 0 "the restored log verifies" -- dh audit verify

# Without its head (deleted, or failing its check) a log verifies as intact
# but not anchored, and `audit verify` does not anchor it itself.
rm "$head"
expect_exit 0 "audit verify of a log without its head" -- dh audit verify --json
expect_in "$OUT" '"anchored": false' "the log is reported not anchored"
[ ! -e "$head" ] && ok "audit verify wrote no head record" || not_ok "audit verify anchored the log itself"
sed 's/"check":"[0-9a-f]/"check":"g/' "$WORK/head.keep" >"$head"
expect_exit 0 "audit verify of a log whose head fails its check" -- dh audit verify --json
expect_in "$OUT" '"anchored": false' "such a head anchors nothing"
expect_eq "$(cat "$head")" "$(sed 's/"check":"[0-9a-f]/"check":"g/' "$WORK/head.keep")" "audit verify left the head as it was"
cp "$WORK/head.keep" "$head"

# The host writes only a log of its own that nobody else may write: as root
# the state dir is 0711, and another user's file there could carry forged lines.
chmod 666 "$audit"
expect_exit 1 "a run with a world-writable audit log is refused" -- dh run echo_params -p name=G
expect_in "$ERR" "not this user's alone" "the refusal says why"
chmod 600 "$audit"
if [ "$(id -u)" = 0 ]; then
  chown nobody "$audit"
  expect_exit 1 "a run with an audit log another user owns is refused" -- dh run echo_params -p name=H
  expect_in "$ERR" "owned by uid $(id -u nobody)" "the refusal names the owner"
  chown 0 "$audit"
fi
expect_exit 0 "the log verifies again" -- dh audit verify

# Symlinks planted in place of the audit files are refused, their targets untouched.
echo "precious" >"$WORK/precious"
mv "$audit" "$WORK/audit.real"
ln -s "$WORK/precious" "$audit"
expect_exit 1 "a run with audit.jsonl a symlink is refused" -- dh run echo_params -p name=E
expect_in "$ERR" "is a symlink" "the symlink is named"
expect_eq "$(cat "$WORK/precious")" "precious" "the symlink's target is untouched"
expect_exit 1 "audit verify refuses the symlink" -- dh audit verify
rm "$audit"
mv "$WORK/audit.real" "$audit"
mv "$head" "$WORK/head.real"
ln -s "$WORK/precious" "$head"
expect_exit 1 "a run with the head a symlink is refused" -- dh run echo_params -p name=F
expect_eq "$(cat "$WORK/precious")" "precious" "the head symlink's target is untouched"
rm "$head"
mv "$WORK/head.real" "$head"
expect_exit 0 "the log verifies again" -- dh audit verify

# The external witness: a private /dev/log (a mount namespace) receives each line as written.
if [ "$(id -u)" -eq 0 ] && unshare -m true 2>/dev/null; then
  mkdir -p "$XDG_CONFIG_HOME/dihya"
  echo "audit_syslog: true" >"$XDG_CONFIG_HOME/dihya/config.yaml"
  unshare -m bash -s "$WORK" "$DIHYA_HOST" >"$WORK/witness.out" 2>&1 <<'SH' || true
set -e
work=$1 host=$2
mkdir -p "$work/realdev"
mount --rbind /dev "$work/realdev"
mount -t tmpfs tmpfs /dev
for d in null zero urandom random; do touch /dev/$d; mount --bind "$work/realdev/$d" /dev/$d; done
/usr/bin/python3 - "$work/syslog.txt" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
out = open(sys.argv[1], "wb", buffering=0)
s.settimeout(10)
try:
    while True:
        out.write(s.recv(65536) + b"\n")
except socket.timeout:
    pass
PY
for _ in $(seq 100); do [ -S /dev/log ] && break; sleep 0.05; done
"$host" run echo_params -p name=Witness
sleep 0.3
kill %1 2>/dev/null || true
SH
  if [ -f "$WORK/syslog.txt" ]; then
    expect_in "$WORK/syslog.txt" "dihya-host[" "syslog got lines with the ident"
    expect_in "$WORK/syslog.txt" "$(tail -1 "$audit")" "the last audit line reached syslog as written"
    expect_eq "$(grep -c '"event":"run.' "$WORK/syslog.txt")" 2 "run.start and run.end both reached syslog"
  else
    not_ok "the syslog witness got nothing: $(head -c 500 "$WORK/witness.out")"
  fi
  rm "$XDG_CONFIG_HOME/dihya/config.yaml"
else
  echo "skip the syslog witness: needs root and unshare -m"
fi
expect_exit 0 "audit verify at the end" -- dh audit verify
finish
