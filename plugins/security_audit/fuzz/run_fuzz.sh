#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Fuzzes security_audit's scanners, masking, ignore rules and version ranges
# for a bounded time; any crash or broken invariant fails.
#   run_fuzz.sh SOURCE_DIR WORK_DIR [SECONDS]
set -euo pipefail
src=$1
here="$src/plugins/security_audit"
source "$src/tests/fuzz/lib.sh"
fuzz_start "$2"
bin="$fuzz_work/fuzz_inputs"
sources=("$here/fuzz/fuzz_inputs.cpp" "$here/secrets.cpp" "$here/secret_rules.cpp" "$here/finding.cpp" "$here/ignore_rules.cpp"
         "$here/dependencies.cpp" "$here/tree_walk.cpp")
# shellcheck disable=SC2046
fuzz_build "$bin" "${sources[@]}" "$here"/*.hpp -- \
  -I"$src/sdk/include" $(pkg-config --cflags libhs) "${sources[@]}" $(pkg-config --libs libhs) -lcrypto
# Seeds: tokens built from pieces (no secret-looking string in the repository).
printf 'aws = "%s%s"\n' "AK""IA" "QWERTYUIOPASDFGH" >"$fuzz_work/corpus/aws"
printf 'url = postgres://app:%s@db:5432/x\n' "Zk8qP2mX9vL4" >"$fuzz_work/corpus/dsn"
printf -- '-----BEGIN %s-----\nMIIB\n-----END %s-----\n' "RSA PRI""VATE KEY" "RSA PRI""VATE KEY" >"$fuzz_work/corpus/pem"
printf 'api_secret = "%s"\n' "a8Kd93jLq0Zm4Xv7Rt2Yp6Wn1Bc5Hs3" >"$fuzz_work/corpus/generic"
printf '**/*a*a*a*a*a*a*a*a*b\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/aaaaaaaaaaaaaaaaaaaaa\n' >"$fuzz_work/corpus/glob"
printf '1.0.0-rc.1\n1.0.0\n' >"$fuzz_work/corpus/version"
printf 'bad\xff\xfe\x01name\n' >"$fuzz_work/corpus/bytes"
# The committed corpus holds every input that once found a bug: it is replayed first.
cp "$here"/fuzz/corpus/* "$fuzz_work/corpus/"
fuzz_run "$bin" "${3:-30}" -max_len=65536
