#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Fuzzes send_test_mail's address parser and MIME encoders for a bounded time;
# any crash or broken invariant fails.
#   run_fuzz.sh SOURCE_DIR WORK_DIR [SECONDS]
set -euo pipefail
src=$1
here="$src/plugins/send_test_mail"
source "$src/tests/fuzz/lib.sh"
fuzz_start "$2"
bin="$fuzz_work/fuzz_mail_input"
sources=("$here/fuzz/fuzz_mail_input.cpp" "$here/address.cpp" "$here/mime_message.cpp")
fuzz_build "$bin" "${sources[@]}" "$here"/*.hpp "$src"/sdk/include/dihya/*.hpp -- -I"$src/sdk/include" "${sources[@]}" -lidn2
printf 'user@example.com' >"$fuzz_work/corpus/plain"
printf 'b@b\xc3\xbccher.example' >"$fuzz_work/corpus/idn"
printf 'a@xn--bcher-kva.example' >"$fuzz_work/corpus/alabel"
printf 'x@y.z\r\nBcc: v@w.x' >"$fuzz_work/corpus/crlf"
printf 'Test \xe2\x9c\x93 h\xc3\xa9llo =?UTF-8?B?x?=' >"$fuzz_work/corpus/subject"
fuzz_run "$bin" "${3:-30}" -max_len=4096
