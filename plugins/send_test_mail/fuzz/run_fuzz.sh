#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Builds send_test_mail's input fuzz target with clang (libFuzzer + ASan +
# UBSan) and runs it for a bounded time; any crash or broken invariant fails.
#   run_fuzz.sh SOURCE_DIR WORK_DIR [SECONDS]
set -euo pipefail
src=$1
work=$2
seconds=${3:-30}
here="$src/plugins/send_test_mail"
mkdir -p "$work/corpus"
if ! command -v clang++ >/dev/null; then
  echo "run_fuzz.sh: clang++ is missing (scripts/install-deps.sh installs it)" >&2
  exit 1
fi
bin="$work/fuzz_mail_input"
sources=("$here/fuzz/fuzz_mail_input.cpp" "$here/address.cpp" "$here/mime_message.cpp")
if [ ! -x "$bin" ] || [ -n "$(find "${sources[@]}" "$here"/*.hpp -newer "$bin")" ]; then
  clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    "${sources[@]}" -lidn2 -o "$bin"
fi
printf 'user@example.com' >"$work/corpus/plain"
printf 'b@b\xc3\xbccher.example' >"$work/corpus/idn"
printf 'a@xn--bcher-kva.example' >"$work/corpus/alabel"
printf 'x@y.z\r\nBcc: v@w.x' >"$work/corpus/crlf"
printf 'Test \xe2\x9c\x93 h\xc3\xa9llo =?UTF-8?B?x?=' >"$work/corpus/subject"
"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 \
  -artifact_prefix="$work/" "$work/corpus" 2>&1 | tail -15
