#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# send_test_mail against its anchors, in one run, on the same local aiosmtpd
# servers: the curl command line (same libcurl, no supervision, no checks) and
# a Python smtplib script (what the loose ops scripts did). Two scenarios:
# plain SMTP, and STARTTLS + AUTH PLAIN with certificate verification.
# Prints a Markdown table with ratios (also written to $OUT/results.md).
#   bench/send_test_mail.sh [BUILD_DIR]     (default: build/default)
# DIHYA_HOST and DIHYA_BUNDLED_PLUGIN_DIR override the binary and plugin dir.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
b=${1:-$root/build/default}
host=${DIHYA_HOST:-$b/host/dihya-host}
plugins=${DIHYA_BUNDLED_PLUGIN_DIR:-$b/plugins}
out=$(mktemp -d /tmp/bench-send_test_mail.XXXXXX)
chmod 755 "$out"
PY=/usr/bin/python3
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
export DIHYA_STATE_DIR="$out/state" DIHYA_CACHE_DIR="$out/cache" XDG_CONFIG_HOME="$out/config"
export DIHYA_SYSTEM_CONFIG="$out/none.yaml" DIHYA_PLUGIN_PATH="$plugins"
unset DIHYA_DATABASE_URL
export SMTP_FIXTURE_PASSWORD="bench-pw-$$" SMTP_PASSWORD="bench-pw-$$"

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
start() {
  local port=$1
  shift
  "$PY" -W ignore tests/fixtures/send_test_mail/smtp_server.py --port "$port" "$@" >"$out/server_$port" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do grep -q ready "$out/server_$port" && return; sleep 0.1; done
  echo "server on $port did not start" >&2
  exit 1
}
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -keyout "$out/key.pem" -out "$out/cert.pem" 2>/dev/null
plain=$(free_port)
tls=$(free_port)
start "$plain" --spool "$out/spool_plain"
start "$tls" --spool "$out/spool_tls" --tls-cert "$out/cert.pem" --tls-key "$out/key.pem" --auth-user alice --auth-require-tls

# The anchors send the message our dry run builds, so all send the same bytes.
"$host" run send_test_mail --dry-run --json -q -p smtp_url=smtp://127.0.0.1:$plain -p from=ops@example.com \
  -p to=admin@example.com | "$PY" -c 'import json, sys; sys.stdout.write(json.load(sys.stdin)["result"]["message"])' >"$out/message.eml"
cat >"$out/smtplib_send.py" <<'PY'
import os, smtplib, ssl, sys
port, mode, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
data = open(path, "rb").read()
if mode == "plain":
    with smtplib.SMTP("127.0.0.1", port) as s:
        s.sendmail("ops@example.com", ["admin@example.com"], data)
else:
    ctx = ssl.create_default_context(cafile=sys.argv[4])
    with smtplib.SMTP("localhost", port) as s:
        s.starttls(context=ctx)
        s.login("alice", os.environ["SMTP_PASSWORD"])
        s.sendmail("ops@example.com", ["admin@example.com"], data)
PY

printf 'machine localhost login alice password %s\n' "$SMTP_PASSWORD" >"$out/netrc"
chmod 600 "$out/netrc"
common=(-p from=ops@example.com -p to=admin@example.com -q)
hyperfine -N --warmup 5 --runs 60 --export-json "$out/plain.json" \
  -n "ours plain" "$host run send_test_mail -p smtp_url=smtp://127.0.0.1:$plain -p starttls=off ${common[*]}" \
  -n "curl plain" "curl -s smtp://127.0.0.1:$plain --mail-from ops@example.com --mail-rcpt admin@example.com -T $out/message.eml" \
  -n "smtplib plain" "$PY $out/smtplib_send.py $plain plain $out/message.eml" >/dev/null
hyperfine -N --warmup 5 --runs 60 --export-json "$out/tls.json" \
  -n "ours tls" "$host run send_test_mail -p smtp_url=smtp://localhost:$tls -p ca_file=$out/cert.pem -p username=alice -p password=@env:SMTP_PASSWORD -p auth=plain ${common[*]}" \
  -n "curl tls" "curl -s smtp://localhost:$tls --ssl-reqd --cacert $out/cert.pem --login-options AUTH=PLAIN --netrc-file $out/netrc --mail-from ops@example.com --mail-rcpt admin@example.com -T $out/message.eml" \
  -n "smtplib tls" "$PY $out/smtplib_send.py $tls tls $out/message.eml $out/cert.pem" >/dev/null

"$PY" - "$out" <<'PY' | tee "$out/results.md"
import json, sys
out = sys.argv[1]
def means(name):
    return {r["command"]: r["mean"] for r in json.load(open(f"{out}/{name}.json"))["results"]}
print("| send_test_mail benchmark (local aiosmtpd, mean of 60) | ours | anchor | ratio (ours / anchor) |")
print("|---|---|---|---|")
for scenario, label in (("plain", "plain SMTP"), ("tls", "STARTTLS + AUTH PLAIN, verified certificate")):
    m = means(scenario)
    ours = m[f"ours {scenario}"]
    for anchor in ("curl", "smtplib"):
        a = m[f"{anchor} {scenario}"]
        name = "curl CLI (same libcurl)" if anchor == "curl" else "python3 smtplib script"
        print(f"| {label}: dihya-host run send_test_mail vs {name} | {ours*1e3:.1f} ms | {a*1e3:.1f} ms | {ours/a:.2f}x |")
PY
echo "(results and raw hyperfine JSON in $out)"
