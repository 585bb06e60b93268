#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Files that are not loadable plugins: a clear one-line error and exit 3,
# never a crash of the host.
source "$(dirname "$0")/lib.sh"
P="$DIHYA_TEST_PLUGIN_DIR"

expect_exit 3 "a shared library that is not a plugin" -- dh info "$P/libnot_a_plugin.so"
expect_one_line_error "not a plugin"
expect_in "$ERR" "not a dihya plugin" "says it is not a plugin"
expect_exit 3 "ABI major mismatch" -- dh run "$P/libabi_mismatch.so"
expect_one_line_error "ABI mismatch"
expect_in "$ERR" "ABI 99.0" "names the plugin's ABI"
expect_in "$ERR" "this host speaks ABI 2.0" "names the host's ABI"
expect_exit 3 "a plugin built against the previous SDK major (1.0)" -- dh run "$P/libabi_older_major.so"
expect_one_line_error "older ABI"
expect_in "$ERR" "built for SDK ABI 1.0, this host speaks ABI 2.0; rebuild the plugin" "says to rebuild it"
expect_exit 3 "missing factory symbol" -- dh run "$P/libmissing_factory.so"
expect_one_line_error "missing symbol"
expect_in "$ERR" "dihya_create_plugin" "names the missing symbol"
expect_exit 3 "crash while loading" -- dh run crash_on_load
expect_one_line_error "crash while loading"
expect_in "$ERR" "while loading" "says it crashed while loading"
expect_exit 0 "list after a crash" -- dh list
expect_in "$OUT" "unstable" "list remembers the crash"
# An _exit(7) in a constructor is a crash while loading too, for run as for check.
expect_exit 3 "exit while loading" -- dh run exit_on_load
expect_one_line_error "exit while loading"
expect_in "$ERR" "plugin exited with status 7 while loading" "says it exited while loading"
expect_exit 0 "list --all after an exit while loading" -- dh list --all
if grep "exit_on_load" "$OUT" | grep -q "unstable"; then ok "list remembers the exit"; else not_ok "list remembers the exit"; fi
expect_exit 3 "check of a plugin that exits while loading" -- dh check exit_on_load
expect_in "$ERR" "cannot load plugin: plugin exited with status 7 while loading" "check says it could not be loaded"
# A constructor that never returns: check gives up within the plugin's
# timeout_seconds (2) and says the plugin could not be loaded, naming the
# hang, instead of passing "loads" and failing metadata() after 60 s.
expect_exit 3 "check of a plugin whose constructor never returns" -- timeout 120 "$DIHYA_HOST" check hang_on_load
expect_one_line_error "a hang while loading"
expect_in "$ERR" "cannot load plugin: timed out after 2 s while loading (its constructors or static initialisers" \
  "check names the hang"
expect_not_in "$OUT" "pass  loads in a child process" "check does not say it loads"
expect_exit 2 "a mistyped plugin name" -- dh run crash_on_laod
expect_exit 0 "list after the typo" -- dh list
expect_in "$OUT" "unstable" "the typo's fresh scan keeps the mark (the file did not change)"

expect_exit 3 "embedded plugin.json nested 5000 deep" -- dh info "$P/libdeep_metadata.so"
expect_one_line_error "deep metadata"
expect_in "$ERR" "deeper than" "says the metadata is nested too deeply"

mkdir -p "$WORK/plugins"
echo "not an elf" >"$WORK/plugins/libtext.so"
expect_exit 3 "a non-ELF file" -- dh info "$WORK/plugins/libtext.so"
expect_in "$ERR" "not an ELF file" "says it is not ELF"
head -c 100 "$P/libnoop.so" >"$WORK/plugins/libtruncated.so"
expect_exit 3 "a truncated ELF file" -- dh info "$WORK/plugins/libtruncated.so"
cp "$P/libnoop.so" "$WORK/plugins/libshared.so"
chmod g+w "$WORK/plugins/libshared.so"
expect_exit 3 "a group-writable plugin" -- dh run "$WORK/plugins/libshared.so"
expect_in "$ERR" "chmod go-w" "the fix is named"
chmod g-w "$WORK/plugins/libshared.so"
chmod o+w "$WORK/plugins"
expect_exit 3 "a plugin in a world-writable directory" -- dh run "$WORK/plugins/libshared.so"
chmod o-w "$WORK/plugins"
expect_exit 0 "the same plugin once fixed" -- dh run "$WORK/plugins/libshared.so"

expect_exit 0 "check of a conforming plugin" -- dh check "$P/libecho_params.so"
expect_in "$OUT" "conforms" "check says conforms"
expect_exit 0 "check --json" -- dh check "$P/libnoop.so" --json
expect_in "$OUT" '"ok": true' "check --json reports ok"
expect_exit 3 "check of a non-plugin" -- dh check "$P/libnot_a_plugin.so"
finish
