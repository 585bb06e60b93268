#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Parameters: coercion by schema, files, secrets references, and every kind
# of bad input ending in one line on stderr, exit 2 and nothing run.
source "$(dirname "$0")/lib.sh"

expect_exit 0 "typed parameters are coerced" -- dh run echo_params --json -p name=Ada -p count=7 -p ratio=0.25 -p loud=true -p tags=a,b
python3 - "$OUT" <<'PY' && ok "values arrive typed, defaults filled" || not_ok "typed values"
import json, sys
r = json.load(open(sys.argv[1]))
p = r["result"]["params"]
assert p["count"] == 7 and p["ratio"] == 0.25 and p["loud"] is True and p["tags"] == ["a", "b"], p
assert p["mode"] == "safe", p
PY

runs_before=$(dh history --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
expect_exit 2 "not an integer" -- dh run echo_params -p name=Ada -p count=abc
expect_one_line_error "not an integer"
expect_exit 2 "out of range" -- dh run echo_params -p name=Ada -p count=1000
expect_exit 2 "k=v without =" -- dh run echo_params -p name
expect_one_line_error "k=v without ="
expect_exit 2 "unknown parameter" -- dh run echo_params -p name=Ada -p colour=red
expect_in "$ERR" "colour" "unknown parameter is named"
expect_exit 2 "missing required parameter" -- dh run echo_params
expect_in "$ERR" "name" "missing parameter is named"
expect_exit 2 "enum violation" -- dh run echo_params -p name=Ada -p mode=reckless
expect_exit 2 "invalid UTF-8 value" -- dh run echo_params -p "name=$(printf 'A\xff\xfe')"
expect_one_line_error "invalid UTF-8"

printf '{"name": "Bob", "count": 2}' >"$WORK/p.json"
expect_exit 0 "JSON params file" -- dh run echo_params --params-file "$WORK/p.json"
printf 'name: Carol\ncount: 4\n' >"$WORK/p.yaml"
expect_exit 0 "YAML params file" -- dh run echo_params --params-file "$WORK/p.yaml" --json
expect_in "$OUT" '"count": 4' "YAML values are typed"
# --params-fd: key=value items, each ended by a NUL byte (a value may hold a
# line break), typed as --param's; an explicit --param wins.
printf 'name=Dora\nDee\0count=5\0loud=true\0' >"$WORK/p.nul"
expect_exit 0 "parameters from a descriptor" -- dh run echo_params --params-fd 3 -p count=6 --json 3<"$WORK/p.nul"
expect_in "$OUT" '"name": "Dora\nDee"' "a value from the descriptor keeps its line break"
expect_in "$OUT" '"loud": true' "values from the descriptor are typed"
expect_in "$OUT" '"count": 6' "--param wins over the descriptor"
printf 'name=Eve' >"$WORK/cut.nul"
expect_exit 2 "an item not ended by NUL" -- dh run echo_params --params-fd 3 3<"$WORK/cut.nul"
expect_one_line_error "an item not ended by NUL"
expect_exit 2 "a descriptor that is not open" -- dh run echo_params --params-fd 77
expect_one_line_error "a descriptor that is not open"
expect_in "$ERR" "--params-fd 77" "the option is named"
# A NUL in a value, whatever brought it, is refused: a path or C string would
# be cut short at it where the plugin uses it.
printf 'ab\0cd' >"$WORK/nul-value"
chmod 600 "$WORK/nul-value"
printf '{"name": "ab\\u0000cd"}' >"$WORK/nul.json"
for source in "-p name=@file:$WORK/nul-value" "--params-file $WORK/nul.json"; do
  # shellcheck disable=SC2086
  expect_exit 2 "a NUL in a value ($source)" -- dh run echo_params $source
  expect_in "$ERR" "parameter 'name': holds a NUL character" "the refusal names the parameter ($source)"
  expect_one_line_error "a NUL in a value ($source)"
done
printf '{"name": "Bob", "count": }' >"$WORK/bad.json"
expect_exit 2 "malformed JSON file" -- dh run echo_params --params-file "$WORK/bad.json"
expect_one_line_error "malformed JSON"
expect_in "$ERR" "bad.json" "the bad file is named"
printf 'name: [unclosed\n' >"$WORK/bad.yaml"
expect_exit 2 "malformed YAML file" -- dh run echo_params --params-file "$WORK/bad.yaml"
expect_one_line_error "malformed YAML"
expect_exit 2 "missing params file" -- dh run echo_params --params-file "$WORK/nope.json"
python3 -c "print('['*100000 + ']'*100000)" >"$WORK/deep.json"
expect_exit 2 "100000-deep JSON" -- dh run echo_params --params-file "$WORK/deep.json"
expect_one_line_error "deep JSON"
cat >"$WORK/bomb.yaml" <<'Y'
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
name: *g
Y
expect_exit 2 "YAML alias bomb" -- timeout 20 "$DIHYA_HOST" run echo_params --params-file "$WORK/bomb.yaml"
expect_one_line_error "alias bomb"
printf '\xff\xfe{"name": "x"}' >"$WORK/binary.json"
expect_exit 2 "invalid UTF-8 file" -- dh run echo_params --params-file "$WORK/binary.json"

expect_exit 2 "semantic validation (validate())" -- dh run echo_params -p name=nobody
expect_in "$ERR" "nobody cannot be greeted" "validate() message is shown"
expect_exit 0 "validate command" -- dh validate echo_params -p name=Ada
expect_exit 2 "validate command rejects" -- dh validate echo_params -p name=nobody
expect_exit 2 "validate command rejects bad types" -- dh validate echo_params -p name=Ada -p count=x

export DIHYA_TEST_SECRET_NAME=Dora
echo "Eve" >"$WORK/name.txt"
expect_exit 0 "@env: reference" -- dh run echo_params -p name=@env:DIHYA_TEST_SECRET_NAME --json
expect_exit 0 "@file: reference" -- dh run echo_params -p name=@file:"$WORK/name.txt" --json
expect_exit 2 "@env: of a missing variable" -- dh run echo_params -p name=@env:DIHYA_NO_SUCH_VARIABLE
expect_in "$ERR" "DIHYA_NO_SUCH_VARIABLE" "missing variable is named"
expect_exit 2 "@file: of a missing file" -- dh run echo_params -p name=@file:"$WORK/none.txt"
expect_exit 0 "@@ escapes a leading @" -- dh run echo_params -p name=@@home --json
expect_in "$OUT" '"name": "@home"' "@@ gives a literal @"

expect_exit 0 "a plugin's report goes to stdout" -- dh run echo_params -p name=Ada -p count=4
expect_in "$OUT" "$(printf 'count\t4')" "the report's lines are printed"
expect_in "$OUT" "echoed 5 parameter(s)" "then the summary line"
expect_exit 0 "--json prints data, not the report" -- dh run echo_params -p name=Ada --json
expect_not_in "$OUT" "$(printf 'count\t3')" "no report in --json"

# A parameter echoed into the run's log: C1 and C0 controls never reach the
# terminal or log.txt raw.
expect_exit 0 "a parameter holding a C1 CSI and an ESC sequence" -- dh run echo_params --param "name=$(printf 'a\xc2\x9b2Jb\x1b[31mc')"
if grep -q "$(printf '\xc2\x9b')" "$ERR" || grep -q "$(printf '\x1b')" "$ERR"; then not_ok "a control reached the terminal"; else ok "the log line on the terminal is escaped"; fi
run_id=$(dh history --limit 1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
expect_exit 0 "logs of that run" -- dh logs "$run_id"
if grep -q "$(printf '\xc2\x9b')" "$OUT" || grep -q "$(printf '\x1b')" "$OUT"; then not_ok "a control reached log.txt"; else ok "log.txt holds it escaped"; fi

# The bundled migrate_data as an operator met it: a 50 000-character
# history_table killed the host (SIGSEGV, std::regex recursing under
# valijson's pattern check, before maxLength had its say). The same value
# through a params file, and a long target under its version pattern.
if [ -f "${DIHYA_BUNDLED_PLUGIN_DIR:-}/libmigrate_data.so" ]; then
  long=$(printf 'a%.0s' $(seq 50000))
  mkdir -p "$WORK/migrations"
  expect_exit 2 "migrate_data with a 50 000-character history_table" -- \
    dh --plugin-path "$DIHYA_BUNDLED_PLUGIN_DIR" validate migrate_data --param migrations_dir="$WORK/migrations" --param history_table="$long"
  expect_one_line_error "a 50 000-character history_table"
  expect_in "$ERR" "parameter 'history_table': must be at most 54 characters long" "its maxLength is named"
  printf '{"migrations_dir": "%s", "target": "%s"}' "$WORK/migrations" "${long//a/1}" >"$WORK/long.json"
  expect_exit 2 "migrate_data with a 50 000-digit target from a params file" -- \
    dh --plugin-path "$DIHYA_BUNDLED_PLUGIN_DIR" validate migrate_data --params-file "$WORK/long.json"
  expect_in "$ERR" "parameter 'target': must be at most 200 characters long" "its maxLength is named"
  expect_exit 2 "migrate_data refuses a history schema in pg_*" -- \
    dh --plugin-path "$DIHYA_BUNDLED_PLUGIN_DIR" validate migrate_data --param migrations_dir="$WORK/migrations" --param schema=pg_temp
  expect_in "$ERR" "parameter 'schema': 'pg_temp' must not match the pattern ^pg_" "the system schema is refused by the schema"
fi

finish
