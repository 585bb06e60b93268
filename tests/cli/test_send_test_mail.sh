#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# send_test_mail against real SMTP servers (aiosmtpd, started here): plain,
# STARTTLS with a throwaway certificate and AUTH PLAIN/LOGIN, implicit TLS.
# Received messages are parsed with Python's email module. Hostile input
# (CR/LF in a subject, address, header or EHLO name; bad addresses) exits 2 and
# sends nothing; server down, TLS refused, auth rejected, timeout and an
# untrusted certificate each fail with their own message; the password never
# shows up in output, logs, history or the state dir.
source "$(dirname "$0")/lib.sh"
export DIHYA_PLUGIN_PATH="$DIHYA_BUNDLED_PLUGIN_DIR"
: "${DIHYA_SOURCE_DIR:?set by CTest}"

# Debian's interpreter: another python3 on PATH may lack aiosmtpd.
PY=/usr/bin/python3
FIXTURES="$DIHYA_SOURCE_DIR/tests/fixtures/send_test_mail"
if ! "$PY" -c 'import aiosmtpd' 2>/dev/null; then
  echo "FAIL python3-aiosmtpd is not installed (apt-get install python3-aiosmtpd)"
  exit 1
fi

SERVER_PIDS=()
stop_servers() {
  local pid
  for pid in "${SERVER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${SERVER_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  SERVER_PIDS=()
}
lib_exit_trap=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT\$//")
trap "stop_servers; $lib_exit_trap" EXIT

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_server NAME [fixture options...]: sets NAME_port; spool in $WORK/NAME/spool.
start_server() {
  local name=$1 port
  shift
  port=$(free_port)
  mkdir -p "$WORK/$name/spool"
  SMTP_FIXTURE_PASSWORD="$canary" "$PY" -W ignore "$FIXTURES/smtp_server.py" --port "$port" \
    --spool "$WORK/$name/spool" "$@" >"$WORK/$name/out" 2>"$WORK/$name/err" &
  SERVER_PIDS+=($!)
  for _ in $(seq 100); do
    grep -q '^ready' "$WORK/$name/out" 2>/dev/null && break
    sleep 0.1
  done
  grep -q '^ready' "$WORK/$name/out" || { echo "FAIL the $name SMTP server did not start: $(cat "$WORK/$name/err")"; exit 1; }
  printf -v "${name}_port" '%s' "$port"
}

received() { find "$WORK/$1/spool" -name '*.eml' | wc -l; }
# jget FILE PATH...: values at dotted paths ("result.tls.version", "a.0.b"),
# comma-joined; lists comma-joined, booleans as true/false.
jget() {
  "$PY" - "$@" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
def show(v):
    if isinstance(v, bool): return "true" if v else "false"
    if isinstance(v, list): return ",".join(show(x) for x in v)
    return "" if v is None else str(v)
out = []
for path in sys.argv[2:]:
    v = doc
    for key in path.split("."):
        v = v[int(key)] if isinstance(v, list) else v[key]
    out.append(show(v))
print(",".join(out))
PY
}
json() { jget "$OUT" "$@"; }
# eml_field FILE KEY: one field of read_eml.py's output.
eml_field() { "$PY" "$FIXTURES/read_eml.py" "$1" | sed -n "s/^$2=//p"; }

canary="pw-$(date +%s%N)-Zq7"
export SMTP_TEST_PASSWORD="$canary"
export SMTP_WRONG_PASSWORD="not-the-$canary-x"
canary_plain_b64=$(printf '\0alice\0%s' "$canary" | base64 -w0)
canary_b64=$(printf '%s' "$canary" | base64 -w0)

openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
start_server plain
start_server tls --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem" --auth-user alice --auth-require-tls
start_server smtps --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem" --implicit-tls --auth-user alice
start_server plainauth --auth-user alice
start_server silent --silent
down_port=$(free_port)

from=ops@example.com
plain=(-p "smtp_url=smtp://127.0.0.1:$plain_port" -p starttls=off -p from=$from)
tls=(-p "smtp_url=smtp://localhost:$tls_port" -p "ca_file=$WORK/cert.pem" -p username=alice -p from=$from)

# ---------------------------------------------------------------- plain send
subject='Test ✓ héllo — dihya'
expect_exit 0 "plain send with an IDN recipient and a non-ASCII subject" -- \
  dh run send_test_mail "${plain[@]}" -p to=admin@example.com,b@bücher.example -p "subject=$subject" \
  -p $'text=Grüße aus dem Test\nline 2' -p 'html=<p>Grüße <b>HTML</b></p>' -p 'headers={"X-Purpose": "smoke test ✓"}' --json
run_id=$(json id)
queue_id=$(json result.queue_id)
eml="$WORK/plain/spool/$queue_id.eml"
[ -n "$queue_id" ] && [ -f "$eml" ] && ok "the queue id from the 250 reply names the received message" || not_ok "no message for queue id '$queue_id'"
expect_eq "$(json result.greeting | cut -c1-4)" "220 " "the server greeting is reported"
expect_eq "$(json result.tls.negotiated)" false "no TLS reported with starttls=off"
expect_eq "$(json result.accepted_recipients)" "admin@example.com,b@xn--bcher-kva.example" "accepted recipients reported, IDN as punycode"
[ "$(json result.latency_ms)" -ge 0 ] 2>/dev/null && ok "latency is reported ($(json result.latency_ms) ms)" || not_ok "latency: '$(json result.latency_ms)'"
expect_eq "$(jget "$WORK/plain/spool/$queue_id.json" rcpt_tos)" "admin@example.com,b@xn--bcher-kva.example" "the envelope holds both recipients"
expect_eq "$(eml_field "$eml" run_id)" "$run_id" "X-Dihya-Run-Id is the run id of run --json"
expect_eq "$(eml_field "$eml" subject)" "$subject" "the non-ASCII subject decodes back (RFC 2047)"
case "$(eml_field "$eml" message_id)" in "<$run_id."*) ok "Message-ID starts with the run id" ;; *) not_ok "Message-ID: $(eml_field "$eml" message_id)" ;; esac
case "$(eml_field "$eml" message_id)" in *@example.com\>) ok "Message-ID uses the sender's domain" ;; *) not_ok "Message-ID domain: $(eml_field "$eml" message_id)" ;; esac
expect_eq "$(eml_field "$eml" date_utc)" True "Date parses as an RFC 5322 date in UTC"
expect_eq "$(eml_field "$eml" date_year)" "$(date -u +%Y)" "Date is now"
expect_eq "$(eml_field "$eml" parts)" "text/plain,text/html" "multipart/alternative with text and html parts"
expect_eq "$(eml_field "$eml" text)" "Grüße aus dem Test line 2" "the text part decodes to the given text"
expect_eq "$(eml_field "$eml" html)" "<p>Grüße <b>HTML</b></p>" "the html part decodes to the given html"
expect_eq "$(eml_field "$eml" to)" "admin@example.com, b@xn--bcher-kva.example" "To header"
expect_eq "$(eml_field "$eml" mime_version)" "1.0" "MIME-Version header"

# A body that must survive SMTP and MIME exactly: lone dots (the end of DATA
# if curl did not dot-stuff), trailing white space, "From " lines, long lines,
# non-ASCII, "=" signs and ~300 KB so the message streams in many reads.
"$PY" - "$WORK/body.txt" "$WORK/body_params.json" "$plain_port" <<'PY'
import json, sys
body = ".\n..two dots\n.x\nFrom the start\ntrailing spaces   \ntab\t\n=?UTF-8?B?x?= a=b\n"
body += ("Grüße ✓ " * 120) + "\n"
body += "\n".join(f"line {i} " + "x" * (i % 200) for i in range(3000)) + "\n.\nend"
long_subject = "Ünïcode subject " + "✓ long words " * 20
open(sys.argv[1], "w", encoding="utf-8").write(body)
json.dump({"smtp_url": f"smtp://127.0.0.1:{sys.argv[3]}", "starttls": "off", "from": "ops@example.com",
           "to": ["admin@example.com"], "subject": long_subject, "text": body}, open(sys.argv[2], "w"))
print(long_subject, file=open(sys.argv[1] + ".subject", "w", encoding="utf-8"), end="")
PY
expect_exit 0 "a 300 KB body with lone dots, trailing spaces and long lines" -- \
  dh run send_test_mail --params-file "$WORK/body_params.json" --json
eml="$WORK/plain/spool/$(json result.queue_id).eml"
expect_eq "$("$PY" "$FIXTURES/read_eml.py" "$eml" --text-equals "$WORK/body.txt")" True "the text part arrives byte for byte"
expect_eq "$(eml_field "$eml" subject)" "$(cat "$WORK/body.txt.subject")" "a long non-ASCII subject is folded and decodes back"
if awk 'length($0) > 999 { found = 1 } END { exit !found }' "$eml"; then not_ok "a line of the message exceeds 998 octets"; else ok "no line of the message exceeds 998 octets"; fi

# ---------------------------------------------------------------- STARTTLS + AUTH
for mech in plain login; do
  MECH=$(echo $mech | tr a-z A-Z)
  expect_exit 0 "STARTTLS required + AUTH $MECH with the throwaway certificate as ca_file" -- \
    dh run send_test_mail "${tls[@]}" -p password=@env:SMTP_TEST_PASSWORD -p auth=$mech -p to=admin@example.com \
    -p ehlo_name=client.example.org --json
  expect_not_in "$OUT" "$canary" "$MECH: no password on stdout"
  expect_not_in "$ERR" "$canary" "$MECH: no password on stderr"
  expect_eq "$(json result.tls.negotiated)" true "$MECH: TLS negotiated"
  case "$(json result.tls.version)" in TLSv1.[23]) ok "$MECH: TLS version reported ($(json result.tls.version) $(json result.tls.cipher))" ;; *) not_ok "$MECH: TLS version '$(json result.tls.version)'" ;; esac
  expect_eq "$(json result.auth.mechanism)" "$MECH" "$MECH: the mechanism asked for was used"
  qid=$(json result.queue_id)
  expect_eq "$(jget "$WORK/tls/spool/$qid.json" tls authenticated ehlo)" "true,true,client.example.org" "$MECH: the server saw TLS, AUTH and the EHLO name"
  tls_run=$(json id)
  expect_exit 0 "$MECH: logs of the run" -- dh logs "$tls_run"
  expect_in "$OUT" "smtp C: AUTH $MECH" "$MECH: the transcript is logged at debug level"
  expect_in "$OUT" "smtp C: ***" "$MECH: the credentials in the transcript are redacted"
  expect_in "$OUT" "smtp S: 235" "$MECH: the AUTH success reply is logged"
  expect_not_in "$OUT" "$canary_plain_b64" "$MECH: no base64 PLAIN credentials in the log"
  expect_not_in "$OUT" "$canary_b64" "$MECH: no base64 password in the log"
  expect_not_in "$OUT" "$canary" "$MECH: no password in the log"
done

expect_exit 0 "smtps:// (implicit TLS) + AUTH" -- \
  dh run send_test_mail -p "smtp_url=smtps://localhost:$smtps_port" -p "ca_file=$WORK/cert.pem" -p username=alice \
  -p password=@env:SMTP_TEST_PASSWORD -p from=$from -p to=admin@example.com --json
expect_eq "$(json result.tls.negotiated result.tls.mode result.auth.used)" "true,implicit TLS,true" "smtps: TLS from the first byte, then AUTH"

expect_exit 0 "starttls=optional against a server without TLS sends in clear" -- \
  dh run send_test_mail -p "smtp_url=smtp://127.0.0.1:$plain_port" -p starttls=optional -p from=$from -p to=admin@example.com --json
expect_eq "$(json result.tls.negotiated)" false "optional: no TLS when none is offered"
expect_exit 0 "starttls=optional against a STARTTLS server uses it" -- \
  dh run send_test_mail "${tls[@]}" -p starttls=optional -p password=@env:SMTP_TEST_PASSWORD -p to=admin@example.com --json
expect_eq "$(json result.tls.negotiated)" true "optional: TLS when offered"

expect_exit 0 "AUTH without TLS (starttls=off) works but warns" -- \
  dh run send_test_mail -p "smtp_url=smtp://127.0.0.1:$plainauth_port" -p starttls=off -p username=alice \
  -p password=@env:SMTP_TEST_PASSWORD -p from=$from -p to=admin@example.com
expect_in "$OUT" "warning     the credentials were sent unencrypted" "the report warns about clear-text credentials"
expect_exit 1 "starttls=off against a server that offers AUTH only after STARTTLS" -- \
  dh run send_test_mail -p "smtp_url=smtp://localhost:$tls_port" -p starttls=off -p username=alice \
  -p password=@env:SMTP_TEST_PASSWORD -p from=$from -p to=admin@example.com
expect_in "$ERR" "did not offer AUTH on this connection" "the error explains that AUTH was not offered"

# ---------------------------------------------------------------- templates
printf 'Hello {{name}},\n{{#items}}- {{.}}\n{{/items}}Project: {{project.title}}\n' >"$WORK/body.mustache"
vars='{"name": "Zoé <b>&", "items": ["one", "two"], "project": {"title": "shop"}}'
expect_exit 0 "template file + html template with variables" -- \
  dh run send_test_mail "${plain[@]}" -p to=admin@example.com -p "template=$WORK/body.mustache" \
  -p 'html=<p>Hello {{name}}</p><p>{{{name}}}</p>' -p 'subject=For {{name}}' -p "variables=$vars" --json
eml="$WORK/plain/spool/$(json result.queue_id).eml"
expect_eq "$(eml_field "$eml" text)" "Hello Zoé <b>&, - one - two Project: shop " "text part: values rendered as they are"
expect_eq "$(eml_field "$eml" html)" "<p>Hello Zoé &lt;b&gt;&amp;</p><p>Zoé <b>&</p>" "html part: {{name}} HTML-escaped, {{{name}}} not"
expect_eq "$(eml_field "$eml" subject)" "For Zoé <b>&" "subject rendered without escaping"
expect_exit 0 "inline template: its html part is the escaped text" -- \
  dh run send_test_mail "${plain[@]}" -p to=admin@example.com -p 'template=Hi {{name}}!{{! comment }}' -p "variables=$vars" --json
eml="$WORK/plain/spool/$(json result.queue_id).eml"
expect_in <(eml_field "$eml" html) "<pre style=\"font-family: inherit; white-space: pre-wrap\">Hi Zoé &lt;b&gt;&amp;!</pre>" "inline template rendered into both parts"
expect_exit 2 "a variable missing from variables" -- dh run send_test_mail "${plain[@]}" -p to=admin@example.com -p 'text=Hi {{nmae}}' -p "variables=$vars"
expect_in "$ERR" "variable 'nmae' is used but not given" "the missing variable is named"
expect_exit 2 "a template file that does not exist" -- dh run send_test_mail "${plain[@]}" -p to=admin@example.com -p "template=$WORK/nope.mustache"
expect_in "$ERR" "does not exist" "the missing template file is named"

# ---------------------------------------------------------------- hostile input: exit 2, nothing sent
before=$(received plain)
refuse() {
  local what=$1
  shift
  expect_exit 2 "$what" -- dh run send_test_mail "${plain[@]}" "$@"
  expect_one_line_error "$what"
}
refuse "CRLF in the subject" -p to=admin@example.com -p $'subject=Hi\r\nBcc: victim@example.net'
expect_in "$ERR" "header injection refused" "the subject refusal says why"
refuse "LF in a recipient" -p to=$'admin@example.com\nRCPT TO:<victim@example.net>'
refuse "CR in the sender" -p from=$'ops@example.com\rX-Evil: 1' -p to=admin@example.com
refuse "NUL-free but CRLF in a header value" -p to=admin@example.com -p 'headers={"X-Note": "a\r\nBcc: victim@example.net"}'
refuse "a header that overrides From" -p to=admin@example.com -p 'headers={"From": "boss@example.com"}'
refuse "a header name with a colon" -p to=admin@example.com -p 'headers={"X-A: b": "c"}'
refuse "CRLF in the EHLO name" -p to=admin@example.com -p $'ehlo_name=host\r\nMAIL FROM:<x@y.z>'
refuse "CRLF smuggled through a subject variable" -p to=admin@example.com -p 'subject=Hi {{who}}' -p 'variables={"who": "x\r\nBcc: victim@example.net"}'
refuse "an address without @" -p to=admin
expect_in "$ERR" "has no '@'" "no-@ refusal names the problem"
refuse "a local part over 64 characters" -p to=$(printf 'a%.0s' $(seq 65))@example.com
expect_in "$ERR" "longer than 64" "length refusal cites the limit"
refuse "a path over 256 characters" -p to=a@$(printf 'abcdefghij%.0s' $(seq 25)).example.com
refuse "a non-ASCII local part (no SMTPUTF8)" -p to=jösé@example.com
expect_in "$ERR" "SMTPUTF8" "non-ASCII local part refusal explains why"
refuse "a domain IDNA2008 forbids" -p to=a@☃.example
expect_in "$ERR" "not a valid international domain name" "IDNA refusal"
refuse "invalid punycode" -p to=a@xn--zz.example
refuse "a display name instead of a bare address" -p 'to=Admin <admin@example.com>'
refuse "credentials inside smtp_url" -p to=admin@example.com -p "smtp_url=smtp://alice:$canary@localhost:$plain_port"
expect_not_in "$ERR" "$canary" "the refused URL is not echoed with its password"
expect_eq "$(received plain)" "$before" "nothing was sent by any refused run"

# ---------------------------------------------------------------- failures, each with its own message
expect_exit 1 "server down" -- dh run send_test_mail -p "smtp_url=smtp://127.0.0.1:$down_port" -p starttls=off -p from=$from -p to=admin@example.com
expect_in "$ERR" "cannot connect to SMTP server 127.0.0.1:$down_port: connection refused" "server down: clear error"
expect_exit 1 "STARTTLS required against a server without TLS" -- dh run send_test_mail -p "smtp_url=smtp://127.0.0.1:$plain_port" -p from=$from -p to=admin@example.com
expect_in "$ERR" "does not offer STARTTLS and starttls=required" "TLS refused: clear error"
expect_exit 1 "wrong password" -- dh run send_test_mail "${tls[@]}" -p password=@env:SMTP_WRONG_PASSWORD -p to=admin@example.com
expect_in "$ERR" "rejected the credentials of user 'alice' (535" "auth rejected: clear error"
expect_not_in "$ERR" "$SMTP_WRONG_PASSWORD" "auth rejected: the password is not in the error"
expect_exit 1 "AUTH required but no credentials given" -- dh run send_test_mail -p "smtp_url=smtp://localhost:$tls_port" -p "ca_file=$WORK/cert.pem" -p from=$from -p to=admin@example.com
expect_in "$ERR" "requires authentication" "missing credentials: clear error"
expect_exit 1 "self-signed certificate without ca_file" -- dh run send_test_mail -p "smtp_url=smtp://localhost:$tls_port" -p username=alice -p password=@env:SMTP_TEST_PASSWORD -p from=$from -p to=admin@example.com
expect_in "$ERR" "is not trusted" "untrusted certificate: clear error naming ca_file"
expect_exit 1 "a server that never greets (timeout)" -- dh run send_test_mail -p "smtp_url=smtp://127.0.0.1:$silent_port" -p starttls=off -p timeout_seconds=1 -p from=$from -p to=admin@example.com
expect_in "$ERR" "did not greet within the time allowed" "timeout: clear error"
start_s=$(date +%s)
expect_exit 4 "the host's run timeout cancels a hanging session" -- dh run send_test_mail -p "smtp_url=smtp://127.0.0.1:$silent_port" -p starttls=off -p timeout_seconds=60 -p from=$from -p to=admin@example.com --timeout 1 --grace 20
elapsed=$(( $(date +%s) - start_s ))
[ "$elapsed" -lt 10 ] && ok "the transfer stopped on cancellation, not on the grace kill (${elapsed}s)" || not_ok "cancellation took ${elapsed}s"
expect_exit 1 "a rejected recipient" -- dh run send_test_mail "${plain[@]}" -p to=reject-me@example.com,admin@example.com
expect_in "$ERR" "rejected recipient reject-me@example.com (550" "recipient rejected: clear error"
expect_exit 0 "allow_recipient_failures sends to the accepted ones" -- dh run send_test_mail "${plain[@]}" -p to=reject-me@example.com,admin@example.com -p allow_recipient_failures=true --json
expect_eq "$(json result.accepted_recipients):$(json result.rejected_recipients.0.address)" "admin@example.com:reject-me@example.com" "accepted and rejected recipients reported"

# ---------------------------------------------------------------- dry run
before=$(received tls)
expect_exit 0 "dry run prints the MIME message" -- dh run send_test_mail "${tls[@]}" -p password=@env:SMTP_TEST_PASSWORD -p to=admin@example.com -p "subject=$subject" --dry-run
expect_in "$OUT" "MIME-Version: 1.0" "dry run: MIME headers printed"
expect_in "$OUT" "X-Dihya-Run-Id: " "dry run: run id header printed"
expect_in "$OUT" "Content-Type: multipart/alternative" "dry run: multipart body printed"
expect_in "$OUT" "password ***" "dry run: the password is shown redacted"
expect_not_in "$OUT" "$canary" "dry run: no password on stdout"
expect_eq "$(received tls)" "$before" "dry run sends nothing"
expect_exit 0 "dry run against a server that is down makes no connection" -- dh run send_test_mail -p "smtp_url=smtp://127.0.0.1:$down_port" -p from=$from -p to=admin@example.com --dry-run

# ---------------------------------------------------------------- the password is nowhere
expect_exit 0 "history --json" -- dh history --json
expect_not_in "$OUT" "$canary" "history holds no password"
for needle in "$canary" "$canary_b64" "$canary_plain_b64"; do
  if grep -rqF -- "$needle" "$DIHYA_STATE_DIR"; then not_ok "a secret form is in $(grep -rlF -- "$needle" "$DIHYA_STATE_DIR" | head -1)"; else ok "no file under the state dir holds the password (or its base64: ${needle:0:6}...)"; fi
done

expect_exit 0 "check --exercise (dry run of the example)" -- dh check send_test_mail --exercise
expect_in "$OUT" "pass  dry run changes nothing" "conformance dry run passes"

stop_servers
finish
