#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Fuzzes send_test_mail's address and mailbox parsers and its MIME encoders
# (headers, display names, RFC 2231 file names, base64) for a bounded time;
# any crash or broken invariant fails.
#   run_fuzz.sh SOURCE_DIR WORK_DIR [SECONDS]
set -euo pipefail
src=$1
here="$src/plugins/send_test_mail"
source "$src/tests/fuzz/lib.sh"
fuzz_start "$2"
bin="$fuzz_work/fuzz_mail_input"
sources=("$here/fuzz/fuzz_mail_input.cpp" "$here/address.cpp" "$here/attachment.cpp" "$here/mime_message.cpp")
fuzz_build "$bin" "${sources[@]}" "$here"/*.hpp "$src"/sdk/include/dihya/*.hpp -- -I"$src/sdk/include" "${sources[@]}" -lidn2 -lcrypto
printf 'user@example.com' >"$fuzz_work/corpus/plain"
printf 'b@b\xc3\xbccher.example' >"$fuzz_work/corpus/idn"
printf 'a@xn--bcher-kva.example' >"$fuzz_work/corpus/alabel"
printf 'x@y.z\r\nBcc: v@w.x' >"$fuzz_work/corpus/crlf"
printf 'Test \xe2\x9c\x93 h\xc3\xa9llo =?UTF-8?B?x?=' >"$fuzz_work/corpus/subject"
printf '"Doe, John \\"JD\\"" <j@example.com>' >"$fuzz_work/corpus/quoted_name"
printf 'Zo\xc3\xa9 \xe2\x9c\x93 Ops <ops@example.com>' >"$fuzz_work/corpus/utf8_name"
printf 'j\xc3\xb6s\xc3\xa9@example.com' >"$fuzz_work/corpus/utf8_local"
printf 'r\xc3\xa9sum\xc3\xa9 %%final%% (v2).pdf' >"$fuzz_work/corpus/filename"
fuzz_run "$bin" "${3:-30}" -max_len=4096
