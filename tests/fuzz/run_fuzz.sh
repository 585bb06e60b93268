#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Fuzzes the parameter parsers (JSON, YAML, --param coercion, schema
# patterns) for a bounded time: any crash, leak-free abort or uncaught
# exception other than the parser's usage error fails the test.
#   run_fuzz.sh SOURCE_DIR WORK_DIR [SECONDS]
set -euo pipefail
src=$1
source "$src/tests/fuzz/lib.sh"
fuzz_start "$2"
bin="$fuzz_work/fuzz_params"
sources=("$src/tests/fuzz/fuzz_params.cpp" "$src"/host/src/params/*.cpp "$src/host/src/util/printable.cpp")
fuzz_build "$bin" "${sources[@]}" "$src"/host/src/params/*.hpp "$src"/sdk/include/dihya/*.hpp -- \
  -I"$src/host/src" -I"$src/sdk/include" -DVALIJSON_USE_EXCEPTIONS=1 "${sources[@]}" -lyaml-cpp -lfmt -lhs
# Seeds: small valid and invalid documents.
printf '{"name": "Ada", "count": 3, "tags": ["a", "b"]}' >"$fuzz_work/corpus/seed.json"
printf 'name: Ada\ncount: 3\ntags: [a, b]\nmerge: &m {x: 1}\nother: *m\n' >"$fuzz_work/corpus/seed.yaml"
printf '[[[[[[[[[[' >"$fuzz_work/corpus/deep"
# The committed corpus holds every input that once found a bug: it is replayed first.
cp "$src"/tests/fuzz/corpus/* "$fuzz_work/corpus/"
fuzz_run "$bin" "${3:-30}"
