#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Builds the parameter-parser fuzz target with clang (libFuzzer + ASan + UBSan)
# and runs it for a bounded time: any crash, leak-free abort or uncaught
# exception other than the parser's usage error fails the test.
#   run_fuzz.sh SOURCE_DIR WORK_DIR [SECONDS]
set -euo pipefail
src=$1
work=$2
seconds=${3:-30}
mkdir -p "$work/corpus"
if ! command -v clang++ >/dev/null; then
  echo "run_fuzz.sh: clang++ is missing (scripts/install-deps.sh installs it)" >&2
  exit 1
fi
bin="$work/fuzz_params"
sources=("$src/tests/fuzz/fuzz_params.cpp" "$src"/host/src/params/*.cpp)
if [ ! -x "$bin" ] || [ -n "$(find "${sources[@]}" "$src"/host/src/params/*.hpp -newer "$bin")" ]; then
  clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -I"$src/host/src" -I"$src/sdk/include" -DVALIJSON_USE_EXCEPTIONS=1 \
    "${sources[@]}" -lyaml-cpp -lfmt -o "$bin"
fi
# Seeds: small valid and invalid documents.
printf '{"name": "Ada", "count": 3, "tags": ["a", "b"]}' >"$work/corpus/seed.json"
printf 'name: Ada\ncount: 3\ntags: [a, b]\nmerge: &m {x: 1}\nother: *m\n' >"$work/corpus/seed.yaml"
printf '[[[[[[[[[[' >"$work/corpus/deep"
# The committed corpus holds every input that once found a bug: it is replayed first.
cp "$src"/tests/fuzz/corpus/* "$work/corpus/"
"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$work/" "$work/corpus" 2>&1 | tail -15
