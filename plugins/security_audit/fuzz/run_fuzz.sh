#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Builds security_audit's fuzz target with clang (libFuzzer + ASan + UBSan)
# and runs it for a bounded time; any crash or broken invariant fails.
#   run_fuzz.sh SOURCE_DIR WORK_DIR [SECONDS]
set -euo pipefail
src=$1
work=$2
seconds=${3:-30}
here="$src/plugins/security_audit"
mkdir -p "$work/corpus"
if ! command -v clang++ >/dev/null; then
  echo "run_fuzz.sh: clang++ is missing (scripts/install-deps.sh installs it)" >&2
  exit 1
fi
bin="$work/fuzz_inputs"
sources=("$here/fuzz/fuzz_inputs.cpp" "$here/secrets.cpp" "$here/finding.cpp" "$here/ignore_rules.cpp"
         "$here/dependencies.cpp")
if [ ! -x "$bin" ] || [ -n "$(find "${sources[@]}" "$here"/*.hpp -newer "$bin")" ]; then
  clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -I"$src/sdk/include" $(pkg-config --cflags libhs) "${sources[@]}" $(pkg-config --libs libhs) -lcrypto -o "$bin"
fi
# Seeds: tokens built from pieces (no secret-looking string in the repository).
printf 'aws = "%s%s"\n' "AK""IA" "QWERTYUIOPASDFGH" >"$work/corpus/aws"
printf 'url = postgres://app:%s@db:5432/x\n' "Zk8qP2mX9vL4" >"$work/corpus/dsn"
printf -- '-----BEGIN %s-----\nMIIB\n-----END %s-----\n' "RSA PRI""VATE KEY" "RSA PRI""VATE KEY" >"$work/corpus/pem"
printf 'api_secret = "%s"\n' "a8Kd93jLq0Zm4Xv7Rt2Yp6Wn1Bc5Hs3" >"$work/corpus/generic"
printf '**/*a*a*a*a*a*a*a*a*b\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/aaaaaaaaaaaaaaaaaaaaa\n' >"$work/corpus/glob"
printf '1.0.0-rc.1\n1.0.0\n' >"$work/corpus/version"
printf 'bad\xff\xfe\x01name\n' >"$work/corpus/bytes"
# The committed corpus holds every input that once found a bug: it is replayed first.
cp "$here"/fuzz/corpus/* "$work/corpus/"
"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
  -artifact_prefix="$work/" "$work/corpus" 2>&1 | tail -15
