#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Help, version, list, info, docs and the errors of a mistyped command line.
source "$(dirname "$0")/lib.sh"

expect_exit 0 "--help" -- dh --help
expect_in "$OUT" "Exit codes:" "--help documents exit codes"
expect_exit 0 "--version" -- dh --version
expect_in "$OUT" "SDK ABI 2.0" "--version names the ABI"
expect_exit 0 "--version after the command, as any global option" -- dh list --version
expect_in "$OUT" "SDK ABI 2.0" "list --version prints the version"
expect_exit 0 "complete plugins --help" -- dh complete plugins --help
expect_in "$OUT" "Usage: dihya-host complete plugins" "an action's --help is help, not a prefix"
expect_exit 0 "--help" -- dh --help
expect_in "$OUT" '$XDG_CONFIG_HOME/dihya/config.yaml' "--help never cuts the config path in two"
for cmd in list info validate run check docs db history show logs rollback audit; do
  expect_exit 0 "$cmd --help" -- dh "$cmd" --help
done
expect_exit 2 "unknown command" -- dh frobnicate
expect_one_line_error "unknown command"
expect_exit 2 "unknown option" -- dh list --frob
expect_one_line_error "unknown option"
# No command, no schedule action, a bad global option without a command: one
# line on stderr (they dumped the usage on stdout; the bad value went unsaid).
for args in "" "schedule" "--log-format bogus"; do
  # shellcheck disable=SC2086
  expect_exit 2 "'dihya-host $args'" -- dh $args
  expect_one_line_error "'dihya-host $args'"
  [ ! -s "$OUT" ] && ok "'dihya-host $args': nothing on stdout" || not_ok "'dihya-host $args' printed on stdout"
done
expect_in "$ERR" "--log-format 'bogus'" "the bad option is what is said"

expect_exit 0 "list" -- dh list
expect_in "$OUT" "echo_params" "list shows echo_params"
expect_in "$OUT" "purge_rows" "list shows purge_rows"
expect_not_in "$OUT" "not_a_plugin" "list hides unusable files by default"
expect_exit 0 "list --all" -- dh list --all
expect_in "$OUT" "libnot_a_plugin.so" "list --all shows unusable files"
expect_exit 0 "list --json" -- dh list --json
count=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$OUT")
[ "$count" -ge 4 ] && ok "list --json is a JSON array of plugins" || not_ok "list --json has $count entries"
expect_exit 0 "list again (warm cache)" -- dh list
compgen -G "$DIHYA_CACHE_DIR/plugin-metadata-*.json" >/dev/null && ok "metadata cache written" || not_ok "no metadata cache"

expect_exit 0 "info" -- dh info echo_params
expect_in "$OUT" "| \`count\` | integer | no | \`3\`" "info shows the parameter table"
expect_in "$OUT" "## Security" "info shows security notes"
expect_in "$OUT" "## Rollback" "info shows rollback notes"
expect_exit 0 "info --json" -- dh info echo_params --json
expect_in "$OUT" '"writeOnly": true' "info --json is the whole plugin.json"
expect_exit 2 "info of an unknown plugin" -- dh info nosuchplugin
expect_one_line_error "unknown plugin"
expect_in "$ERR" "unknown plugin 'nosuchplugin'" "unknown plugin is named"

expect_exit 0 "docs" -- dh docs --out "$WORK/docs"
echo x >"$WORK/not-a-dir"
expect_exit 2 "docs --out of a file" -- dh docs --out "$WORK/not-a-dir"
expect_in "$ERR" "not a directory" "it says so"
expect_exit 2 "docs --out of /dev/null" -- dh docs --out /dev/null
[ -f "$WORK/docs/echo_params.md" ] && [ -f "$WORK/docs/index.md" ] && ok "docs writes one page per plugin" || not_ok "docs pages missing"
expect_exit 0 "docs --out of a name holding an escape and a newline" -- dh docs --out "$WORK/d"$'\e]0;x\a\nforged'
expect_one_line_error "docs --out of a name holding an escape and a newline"
expect_in "$ERR" '\x1b]0;x\x07\nforged' "the name is escaped"

echo "plugin_path: [$WORK/nowhere]" >"$WORK/conf.yaml"
expect_exit 0 "config file adds plugin dirs" -- dh --config "$WORK/conf.yaml" list
echo "plugin_path: [unterminated" >"$WORK/bad.yaml"
expect_exit 2 "malformed config file" -- dh --config "$WORK/bad.yaml" list
expect_one_line_error "malformed config"
echo "colour: blue" >"$WORK/typo.yaml"
expect_exit 2 "unknown config setting" -- dh --config "$WORK/typo.yaml" list

# A path given on the command line that is not a log is bad input (exit 2),
# said as it is, never as an internal error.
mkdir "$WORK/not_a_log"
expect_exit 2 "audit verify of a directory" -- dh audit verify --file "$WORK/not_a_log"
expect_one_line_error "a directory where the audit log should be"
expect_in "$ERR" "not a regular file" "the message says what is wrong"
expect_not_in "$ERR" "internal error" "an operator fault is not called an internal error"
finish
