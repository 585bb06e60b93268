#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# send_test_mail against real SMTP servers (aiosmtpd, started here): plain,
# STARTTLS with a throwaway certificate and AUTH PLAIN/LOGIN, implicit TLS,
# SMTPUTF8. Received messages are parsed with Python's email module: display
# names, Cc, Bcc (envelope only) and attachments (bytes and checksums) are
# checked in what the server received. Hostile input
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
start_server tls --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem" --auth-user alice --auth-require-tls --smtputf8
start_server smtps --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem" --implicit-tls --auth-user alice
start_server plainauth --auth-user alice
start_server silent --silent
start_server utf8 --smtputf8
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
# Sections nested five deep over a list of 200 repeat their 100 bytes 200^5
# times (32 TB): rendering stops at the 4 MiB a body may hold, in bounded
# memory (`bounded`, lib.sh) and quickly, in the dry run as in a real run.
bomb="$(nest '{{#a}}')$(printf 'X%.0s' {1..100})$(nest '{{/a}}')"
many="{\"a\": [$(printf '1,%.0s' {1..199})1]}"
for mode in --dry-run ""; do
  expect_exit 2 "text: sections nested over a list of 200 ${mode:-(real run)}" -- \
    bounded "$DIHYA_HOST" run send_test_mail "${plain[@]}" -p to=admin@example.com -p "text=$bomb" -p "variables=$many" $mode
  expect_one_line_error "nested sections ${mode:-(real run)}"
  expect_in "$ERR" "parameter 'text': the template renders more than 4 MiB" "the error names the field and the limit"
done
expect_exit 2 "html and subject: the same nesting" -- bounded "$DIHYA_HOST" run send_test_mail "${plain[@]}" -p to=admin@example.com \
  -p "html=$bomb" -p "subject=$bomb" -p "variables=$many" --dry-run
expect_in "$ERR" "parameter 'html': the template renders more than 4 MiB" "the html part is bounded"
expect_in "$ERR" "parameter 'subject': the template renders more than 4 MiB" "the subject is bounded"
printf '%s\n' "$bomb" >"$WORK/bomb.mustache"
expect_exit 2 "a template file with the same nesting" -- bounded "$DIHYA_HOST" run send_test_mail "${plain[@]}" -p to=admin@example.com \
  -p "template=$WORK/bomb.mustache" -p "variables=$many" --dry-run
expect_in "$ERR" "parameter 'template': the template renders more than 4 MiB" "the template file is bounded"
expect_exit 2 "empty sections nested over a list of 200" -- bounded "$DIHYA_HOST" run send_test_mail "${plain[@]}" -p to=admin@example.com \
  -p "text=x$(nest '{{#a}}')$(nest '{{/a}}')" -p "variables=$many" --dry-run
expect_in "$ERR" "parameter 'text': the template takes more than" "nesting that renders nothing is bounded by its steps"
# 50000 nested sections overflowed the stack of kainjow's recursive parser (SIGSEGV).
printf '{{#a}}%.0s' {1..50000} >"$WORK/deep.mustache"
printf '{{/a}}%.0s' {1..50000} >>"$WORK/deep.mustache"
expect_exit 2 "sections nested 50000 levels" -- bounded "$DIHYA_HOST" run send_test_mail "${plain[@]}" -p to=admin@example.com \
  -p "template=$WORK/deep.mustache" -p 'variables={"a": [1]}' --dry-run
expect_in "$ERR" "parameter 'template': sections nested more than 100 levels" "the nesting limit is named"
expect_exit 0 "the same nesting over a list of 2 is sent" -- dh run send_test_mail "${plain[@]}" -p to=admin@example.com \
  -p "text=$bomb" -p 'variables={"a": [1, 1]}' --json
expect_eq "$(eml_field "$WORK/plain/spool/$(json result.queue_id).eml" text)" "$(printf 'X%.0s' {1..3200})" \
  "2^5 copies of the text received"

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
refuse "one header twice, in two cases" -p to=admin@example.com -p 'headers={"Reply-To": "a@example.com", "reply-to": "b@example.com"}'
expect_in "$ERR" "given twice (field names ignore case)" "the duplicate header refusal says why"
# A template file is read as an attachment is: no symbolic link, no '..'.
printf 'Hello {{who}}\n' >"$WORK/body.txt"
ln -sf /etc/passwd "$WORK/body-link.txt"
refuse "a template file behind a symbolic link" -p to=admin@example.com -p template="$WORK/body-link.txt"
expect_in "$ERR" "symbolic link" "the template refusal names the link"
refuse "a template path with '..'" -p to=admin@example.com -p template="$WORK/../$(basename "$WORK")/body.txt"
mkfifo "$WORK/body.fifo"
refuse "a FIFO as the template file" -p to=admin@example.com -p template="$WORK/body.fifo"
expect_in "$ERR" "not a regular file" "the FIFO refusal says why"
expect_exit 0 "the template file itself is read" -- dh run send_test_mail "${plain[@]}" --dry-run -p to=admin@example.com \
  -p template="$WORK/body.txt" -p 'variables={"who": "ops"}'
expect_in "$OUT" "Hello ops" "the dry run shows the rendered template"
refuse "CRLF in the EHLO name" -p to=admin@example.com -p $'ehlo_name=host\r\nMAIL FROM:<x@y.z>'
refuse "CRLF smuggled through a subject variable" -p to=admin@example.com -p 'subject=Hi {{who}}' -p 'variables={"who": "x\r\nBcc: victim@example.net"}'
refuse "an address without @" -p to=admin
expect_in "$ERR" "has no '@'" "no-@ refusal names the problem"
refuse "a local part over 64 characters" -p to=$(printf 'a%.0s' $(seq 65))@example.com
expect_in "$ERR" "longer than 64" "length refusal cites the limit"
refuse "a path over 256 characters" -p to=a@$(printf 'abcdefghij%.0s' $(seq 25)).example.com
refuse "a domain IDNA2008 forbids" -p to=a@☃.example
expect_in "$ERR" "not a valid international domain name" "IDNA refusal"
refuse "invalid punycode" -p to=a@xn--zz.example
refuse "a display name with an unclosed angle bracket" -p 'to=Admin <admin@example.com'
expect_in "$ERR" "without a closing '>'" "the unclosed bracket is named"
refuse "credentials inside smtp_url" -p to=admin@example.com -p "smtp_url=smtp://alice:$canary@localhost:$plain_port"
expect_not_in "$ERR" "$canary" "the refused URL is not echoed with its password"
expect_eq "$(received plain)" "$before" "nothing was sent by any refused run"

# ---------------------------------------------------------------- display names, Cc, Bcc, attachments
head -c 200000 /dev/urandom >"$WORK/report.pdf"
printf 'id;name\r\n1;Zoé\r\n\0binary\xff\xfe tail without newline' >"$WORK/data.bin"
printf 'quoted name' >"$WORK/quote.txt"
long_name="Résumé ✓ — rapport annuel de l'équipe d'exploitation 2026 (version finale).txt"
printf 'plain text attachment\n' >"$WORK/$long_name"
"$PY" - "$WORK" "$plain_port" "$long_name" <<'PY'
import json, sys
work, port, long_name = sys.argv[1], sys.argv[2], sys.argv[3]
json.dump({"smtp_url": f"smtp://127.0.0.1:{port}", "starttls": "off",
           "from": "Zoé Ops ✓ <ops@example.com>",
           "to": ['"Doe, John \\"JD\\"" <john@example.com>', "Admin <admin@example.com>"],
           "cc": ["Team Lead <lead@example.com>", "audit@example.com"],
           "bcc": ["hidden@example.net"],
           "subject": "Attachments ✓", "text": "See the attached files.\n", "html": "<p>See the attached files.</p>",
           "attachments": [f"{work}/report.pdf", f"{work}/{long_name}",
                           {"path": f"{work}/data.bin", "filename": "données.csv", "content_type": "text/csv"},
                           {"path": f"{work}/quote.txt", "filename": 'say "hi" (v2).txt'}]},
          open(f"{work}/mixed_params.json", "w"), ensure_ascii=False)
PY
expect_exit 0 "display names, Cc, Bcc and four attachments" -- dh run send_test_mail --params-file "$WORK/mixed_params.json" --json
eml="$WORK/plain/spool/$(json result.queue_id).eml"
expect_eq "$(eml_field "$eml" from_mailbox)" "Zoé Ops ✓|ops@example.com" "From: the non-ASCII display name decodes back"
if grep -q '^From: =?UTF-8?B?' "$eml"; then ok "From: the non-ASCII display name is an RFC 2047 encoded-word"; else not_ok "From header: $(grep '^From:' "$eml")"; fi
expect_eq "$(eml_field "$eml" to_mailboxes)" 'Doe, John "JD"|john@example.com;Admin|admin@example.com' "To: display names with specials decode back"
expect_in "$eml" 'To: "Doe, John \"JD\"" <john@example.com>' "To: a name with a comma and quotes is a quoted-string"
expect_eq "$(eml_field "$eml" cc_mailboxes)" "Team Lead|lead@example.com;|audit@example.com" "Cc header with and without a display name"
expect_eq "$("$PY" "$FIXTURES/read_eml.py" "$eml" --mentions lead@example.com)" True "the raw message holds the Cc address (guard)"
expect_eq "$(eml_field "$eml" bcc)" None "no Bcc header"
case ",$(eml_field "$eml" header_names)," in *,cc,*) ok "the header names include cc (guard)" ;; *) not_ok "no cc in $(eml_field "$eml" header_names)" ;; esac
case ",$(eml_field "$eml" header_names)," in *,bcc,*) not_ok "a bcc header was sent" ;; *) ok "the header names hold no bcc" ;; esac
expect_eq "$("$PY" "$FIXTURES/read_eml.py" "$eml" --mentions hidden@example.net)" False "the Bcc address appears nowhere in the message"
qid=$(json result.queue_id)
expect_eq "$(jget "$WORK/plain/spool/$qid.json" rcpt_tos)" "john@example.com,admin@example.com,lead@example.com,audit@example.com,hidden@example.net" "the envelope holds To, Cc and Bcc recipients"
expect_eq "$(json result.bcc)" "hidden@example.net" "the result lists the Bcc recipient for the operator"
expect_eq "$(eml_field "$eml" top_parts)" "multipart/alternative,application/pdf,text/plain,text/csv,text/plain" "multipart/mixed: the alternative body, then the attachments"
expect_eq "$(eml_field "$eml" parts)" "text/plain,text/html" "the body inside multipart/mixed keeps its text and html parts"
expect_eq "$(eml_field "$eml" text)" "See the attached files. " "the text part inside multipart/mixed decodes"
sum_pdf=$(sha256sum "$WORK/report.pdf" | cut -d' ' -f1)
sum_long=$(sha256sum "$WORK/$long_name" | cut -d' ' -f1)
sum_bin=$(sha256sum "$WORK/data.bin" | cut -d' ' -f1)
expect_eq "$(eml_field "$eml" attachment0)" "report.pdf|application/pdf|200000|$sum_pdf" "attachment 0: name, guessed type, size and checksum as received"
expect_eq "$(eml_field "$eml" attachment1)" "$long_name|text/plain|22|$sum_long" "attachment 1: a long non-ASCII file name decodes back (RFC 2231)"
expect_eq "$(eml_field "$eml" attachment2)" "données.csv|text/csv|$(stat -c %s "$WORK/data.bin")|$sum_bin" "attachment 2: the given name and type, binary bytes intact"
expect_eq "$(eml_field "$eml" attachment3 | cut -d'|' -f1)" 'say "hi" (v2).txt' "attachment 3: an ASCII name with quotes decodes back"
expect_eq "$(json result.attachments.0.sha256 result.attachments.2.sha256)" "$sum_pdf,$sum_bin" "the result reports each attachment's sha256"
"$PY" "$FIXTURES/read_eml.py" "$eml" --attachment 0 "$WORK/got.pdf"
"$PY" "$FIXTURES/read_eml.py" "$eml" --attachment 2 "$WORK/got.bin"
cmp -s "$WORK/report.pdf" "$WORK/got.pdf" && ok "the 200 KB attachment arrives byte for byte" || not_ok "report.pdf differs after the trip"
cmp -s "$WORK/data.bin" "$WORK/got.bin" && ok "the binary attachment (NUL, CRLF, 0xFF) arrives byte for byte" || not_ok "data.bin differs after the trip"
expect_eq "$(eml_field "$eml" attachment0_encoding)" base64 "attachments are base64"
expect_eq "$(eml_field "$eml" attachment0_longest_line)" 76 "base64 lines are 76 characters"
expect_in "$eml" "filename*0*=UTF-8''R%C3%A9sum%C3%A9" "the non-ASCII file name uses RFC 2231 sections"
if awk 'length($0) > 79 { found = 1 } END { exit !found }' "$eml"; then not_ok "a line exceeds 78 characters"; else ok "every line of the message fits 78 characters"; fi

expect_exit 0 "display names given with -p (comma-separated list)" -- \
  dh run send_test_mail "${plain[@]}" -p 'to=Ana Admin <admin@example.com>, ops@example.org' -p 'cc=<lead@example.com>' --json
eml="$WORK/plain/spool/$(json result.queue_id).eml"
expect_eq "$(eml_field "$eml" to_mailboxes)" "Ana Admin|admin@example.com;|ops@example.org" "To from the command line"
expect_in "$eml" "To: Ana Admin <admin@example.com>," "an atom display name stays unquoted"

expect_exit 0 "dry run with an attachment given relative to the current directory" -- \
  bash -c 'cd "$1" && shift && exec "$@"' _ "$WORK" "$DIHYA_HOST" run send_test_mail "${plain[@]}" -p to=admin@example.com \
  -p attachments=report.pdf --dry-run
expect_in "$OUT" "attachment  report.pdf (application/pdf, 200000 bytes, sha256 $sum_pdf)" "dry run: the envelope lists the attachment"
expect_in "$OUT" "(200000 bytes of report.pdf go here, base64; sha256 $sum_pdf)" "dry run: the attachment body is described"
[ "$(wc -c <"$OUT")" -lt 20000 ] && ok "dry run output stays small ($(wc -c <"$OUT") bytes)" || not_ok "dry run printed $(wc -c <"$OUT") bytes"

# ---------------------------------------------------------------- attachments: limits and hostile paths, exit 2, nothing sent
before=$(received plain)
head -c 2000 /dev/urandom >"$WORK/two_k.bin"
head -c 600 /dev/urandom >"$WORK/six_a.bin"
head -c 600 /dev/urandom >"$WORK/six_b.bin"
mkdir -p "$WORK/realdir" "$WORK/sub"
ln -sf "$WORK/report.pdf" "$WORK/link.pdf"
ln -sfn "$WORK/realdir" "$WORK/linkdir"
cp "$WORK/report.pdf" "$WORK/realdir/inside.pdf"
rm -f "$WORK/pipe"; mkfifo "$WORK/pipe"
refuse_attachment() {
  local what=$1 needle=$2
  shift 2
  expect_exit 2 "$what" -- timeout 60 "$DIHYA_HOST" run send_test_mail "${plain[@]}" -p to=admin@example.com "$@"
  expect_one_line_error "$what"
  expect_in "$ERR" "$needle" "$what: the error says why"
}
refuse_attachment "an attachment over max_attachment_bytes" "is 2000 bytes, over the per-attachment limit of 1000 bytes (max_attachment_bytes)" \
  -p "attachments=$WORK/two_k.bin" -p max_attachment_bytes=1000
refuse_attachment "attachments over max_total_attachment_bytes together" "over what the total limit of 1000 bytes (max_total_attachment_bytes) leaves: 400 bytes" \
  -p "attachments=$WORK/six_a.bin,$WORK/six_b.bin" -p max_total_attachment_bytes=1000
refuse_attachment "a '..' component in the path" "'..' component" -p "attachments=$WORK/sub/../report.pdf"
refuse_attachment "a symbolic link to a file" "symbolic link" -p "attachments=$WORK/link.pdf"
refuse_attachment "a path through a symbolic link to a directory" "symbolic link" -p "attachments=$WORK/linkdir/inside.pdf"
refuse_attachment "a FIFO (must not block)" "is a FIFO (named pipe)" -p "attachments=$WORK/pipe"
refuse_attachment "a directory" "is a directory" -p "attachments=$WORK/realdir"
refuse_attachment "a device" "is a device" -p "attachments=/dev/zero"
refuse_attachment "a missing file" "does not exist" -p "attachments=$WORK/nope.pdf"
refuse_attachment "CRLF in an attachment's file name" "control character" -p "attachments=[{\"path\": \"$WORK/quote.txt\", \"filename\": \"a\\r\\nContent-Type: text/html\"}]"
refuse_attachment "a slash in an attachment's file name" "may not contain '/'" -p "attachments=[{\"path\": \"$WORK/quote.txt\", \"filename\": \"../etc/passwd\"}]"
refuse_attachment "a content type with parameters" "is not type/subtype" -p "attachments=[{\"path\": \"$WORK/quote.txt\", \"content_type\": \"text/plain; charset=x\"}]"
refuse_attachment "a multipart content type" "cannot be sent base64-encoded" -p "attachments=[{\"path\": \"$WORK/quote.txt\", \"content_type\": \"multipart/mixed\"}]"
expect_eq "$(received plain)" "$before" "no refused attachment sent anything"

# ---------------------------------------------------------------- display names and Cc/Bcc: injection refused
refuse "CRLF in the From display name" -p $'from=Ops\r\nBcc: victim@example.net <ops@example.com>' -p to=admin@example.com
expect_in "$ERR" "header injection refused" "the display-name refusal says why"
refuse "LF in a Cc display name" -p to=admin@example.com -p $'cc=Lead\nX-Evil: 1 <lead@example.com>'
refuse "a tab (control character) in a To display name" -p $'to=Ad\tmin <admin@example.com>'
expect_in "$ERR" "control character" "the control character is named"
refuse "a C1 control character in a display name" -p $'to=Ad\xc2\x85min <admin@example.com>'
refuse "an unquoted display name holding a quote" -p 'to=Ad"min <admin@example.com>'
refuse "a display name on a Bcc recipient" -p to=admin@example.com -p 'bcc=Hidden <hidden@example.net>'
expect_in "$ERR" "Bcc recipient has no header" "the Bcc display-name refusal says why"
refuse "the same recipient in To and Bcc" -p to=admin@example.com -p bcc=admin@EXAMPLE.com
expect_in "$ERR" "is given twice (in to and bcc)" "the duplicate is named"
refuse "an escape character in the subject" -p to=admin@example.com -p $'subject=Hi \x1b[31mred'
expect_in "$ERR" "contains a control character" "the subject's control character is refused"
refuse "a control character in a header value" -p to=admin@example.com -p 'headers={"X-Note": "a\u0001b"}'
expect_eq "$(received plain)" "$before" "nothing was sent by the refused display names"

# ---------------------------------------------------------------- SMTPUTF8
expect_exit 0 "an international local part through a server with SMTPUTF8" -- \
  dh run send_test_mail -p "smtp_url=smtp://127.0.0.1:$utf8_port" -p starttls=off -p 'from=José <josé@example.com>' \
  -p to=δοκιμή@παράδειγμα.example,admin@example.com --json
qid=$(json result.queue_id)
eml="$WORK/utf8/spool/$qid.eml"
expect_eq "$(jget "$WORK/utf8/spool/$qid.json" smtputf8)" true "MAIL FROM carried SMTPUTF8"
expect_eq "$(jget "$WORK/utf8/spool/$qid.json" mail_from)" "josé@example.com" "the envelope sender is the UTF-8 address"
expect_eq "$(jget "$WORK/utf8/spool/$qid.json" rcpt_tos)" "δοκιμή@xn--hxajbheg2az3al.example,admin@example.com" "the envelope holds the UTF-8 local part (domain as punycode)"
expect_eq "$(json result.smtputf8)" true "the result says SMTPUTF8 was used"
expect_eq "$(eml_field "$eml" from_mailbox)" "José|josé@example.com" "From header: UTF-8 address (RFC 6532) with its display name"
expect_exit 0 "only a recipient needs SMTPUTF8" -- \
  dh run send_test_mail -p "smtp_url=smtp://127.0.0.1:$utf8_port" -p starttls=off -p from=$from -p to=jörg@example.com --json
expect_eq "$(jget "$WORK/utf8/spool/$(json result.queue_id).json" smtputf8 rcpt_tos)" "true,jörg@example.com" "a UTF-8 recipient alone turns SMTPUTF8 on"
expect_exit 0 "SMTPUTF8 read from the EHLO reply after STARTTLS, with AUTH" -- \
  dh run send_test_mail "${tls[@]}" -p password=@env:SMTP_TEST_PASSWORD -p to=zoë@example.com --json
expect_eq "$(jget "$WORK/tls/spool/$(json result.queue_id).json" tls smtputf8 rcpt_tos)" "true,true,zoë@example.com" "STARTTLS + AUTH + SMTPUTF8: the server saw all three"
expect_exit 0 "ASCII addresses through the SMTPUTF8 server" -- \
  dh run send_test_mail -p "smtp_url=smtp://127.0.0.1:$utf8_port" -p starttls=off -p from=$from -p to=admin@example.com --json
expect_eq "$(json result.smtputf8)" false "SMTPUTF8 is not asked for when no address needs it"
before=$(received plain)
expect_exit 1 "an international local part against a server without SMTPUTF8" -- \
  dh run send_test_mail "${plain[@]}" -p to=jösé@example.com
expect_eq "$(grep -c 'send_test_mail: failed: SMTP server 127.0.0.1:[0-9]* does not advertise SMTPUTF8' "$ERR")" 1 "the missing SMTPUTF8 is named in one error line"
expect_in "$ERR" "nothing was sent" "the error says nothing was sent"
expect_eq "$(received plain)" "$before" "no message reached the server without SMTPUTF8"
run=$(last_run_id)
expect_exit 0 "logs of the refused SMTPUTF8 run" -- dh logs "$run"
expect_in "$OUT" "smtp S: 250" "the EHLO exchange was logged (guard)"
expect_not_in "$OUT" "smtp C: MAIL FROM" "no MAIL FROM was sent"

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
# A server that falls silent after a command: timeout_seconds bounds the whole
# session, also the wait for the reply to the end of DATA (libcurl's own
# limit there is 120 s). `timeout 60` keeps a regression from hanging here.
for step in EHLO AUTH MAIL DATA; do
  start_server "stall_$step" --stall-after $step
  port_var="stall_${step}_port"
  start_s=$(date +%s)
  expect_exit 1 "a server silent after $step, timeout_seconds=2" -- timeout 60 "$DIHYA_HOST" run send_test_mail \
    -p "smtp_url=smtp://127.0.0.1:${!port_var}" -p starttls=off -p username=alice -p password=@env:SMTP_TEST_PASSWORD \
    -p timeout_seconds=2 -p from=$from -p to=admin@example.com
  elapsed=$(( $(date +%s) - start_s ))
  expect_in "$ERR" "timed out talking to SMTP server 127.0.0.1:${!port_var} after $step (timeout_seconds=2)" "silent after $step: the timeout error names the step"
  [ "$elapsed" -lt 30 ] && ok "silent after $step: the run ended on timeout_seconds (${elapsed}s), well under libcurl's 120 s" || not_ok "silent after $step: the run took ${elapsed}s"
done

# A server that echoes the credentials it received in its 535 reply: the
# reply is masked before it reaches the error, the result, the transcript
# and the logs, for PLAIN and LOGIN alike.
start_server echo --echo-auth
for mech in plain login; do
  MECH=$(echo $mech | tr a-z A-Z)
  expect_exit 1 "AUTH $MECH against a server that echoes the credentials" -- dh run send_test_mail \
    -p "smtp_url=smtp://127.0.0.1:$echo_port" -p starttls=off -p username=alice -p password=@env:SMTP_TEST_PASSWORD \
    -p auth=$mech -p from=$from -p to=admin@example.com --json
  cp "$OUT" "$WORK/echo_$mech.json"
  cp "$ERR" "$WORK/echo_$mech.err"
  case "$(json summary)" in
    *"rejected the credentials of user 'alice' (535 5.7.8 you sent: AUTH $MECH "*"| ***)"*) ok "echo $MECH: the error quotes the reply with the credentials masked" ;;
    *) not_ok "echo $MECH: error '$(json summary)'" ;;
  esac
  expect_in "$WORK/echo_$mech.json" "S: 535 5.7.8 you sent: AUTH $MECH" "echo $MECH: the 535 reply is in the --json transcript (guard)"
  expect_exit 0 "logs of the echoed AUTH $MECH run" -- dh logs "$(last_run_id)"
  cp "$OUT" "$WORK/echo_$mech.log"
  expect_in "$WORK/echo_$mech.log" "smtp S: 535 5.7.8 you sent: AUTH $MECH" "echo $MECH: the 535 reply is logged (guard)"
  [ "$mech" = plain ] && forms=("$canary" "$canary_plain_b64") || forms=("$canary" "$canary_b64")
  for needle in "${forms[@]}"; do
    for what in err json log; do
      expect_not_in "$WORK/echo_$mech.$what" "$needle" "echo $MECH: no ${needle:0:6}... in the $what output"
    done
    if grep -rqF -- "$needle" "$DIHYA_STATE_DIR"; then not_ok "echo $MECH: ${needle:0:6}... is in $(grep -rlF -- "$needle" "$DIHYA_STATE_DIR" | head -1)"; else ok "echo $MECH: no ${needle:0:6}... under the state dir (run record, audit.jsonl, state.log)"; fi
  done
done
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
