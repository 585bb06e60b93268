#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Fuzzes import_templates' JS object-literal parser (and the JS and YAML
# writers it round-trips through) for a bounded time; any crash, sanitizer
# report or broken invariant fails.
#   run_fuzz.sh SOURCE_DIR WORK_DIR [SECONDS]
set -euo pipefail
src=$1
here="$src/plugins/import_templates"
source "$src/tests/fuzz/lib.sh"
fuzz_start "$2"
bin="$fuzz_work/fuzz_js_literal"
sources=("$here/fuzz/fuzz_js_literal.cpp" "$here/js_literal.cpp" "$here/template_yaml.cpp")
fuzz_build "$bin" "${sources[@]}" "$here"/*.hpp "$src"/sdk/include/dihya/*.hpp "$src"/sdk/support/include/dihya/*.hpp -- \
  -I"$src/sdk/include" -I"$src/sdk/support/include" "${sources[@]}" -lyaml-cpp -lcrypto
cp "$src/tests/fixtures/import_templates/templates/express-api.js" "$fuzz_work/corpus/express-api.js"
printf "export default {a: 'x', b: [1, -2.5, .5, 0x1F, +3e2], c: {d: null, e: true}, 'f-g': \`l1\\n\\\\\${x}\`,};" >"$fuzz_work/corpus/mixed"
printf "module.exports = {s: '\\\\u{1F600}\\\\uD83D\\\\uDE00\\\\x41\\\\0', /* c */ t: \"\\\\\"q\\\\\"\", // e\n};" >"$fuzz_work/corpus/escapes"
printf "module.exports = {a: f(1), b: \`\${x}\`, c: y, [d]: 1, ...e};" >"$fuzz_work/corpus/hostile"
printf "module.exports = {x: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]};" >"$fuzz_work/corpus/deep"
# Keys longer than YAML's 1024-character limit for implicit keys (written as "? key").
printf "export default {'%s': 1, '%s': {b: [2]}};" "$(printf 'k%.0s' {1..1100})" "$(printf 'x%.0s' {1..1030})" >"$fuzz_work/corpus/long-keys"
# DEL in a key and a value: JSON leaves it raw, YAML must escape it.
printf "export default {'a\x7fb': 'c\x7fd'};" >"$fuzz_work/corpus/del"
fuzz_run "$bin" "${3:-30}" -max_len=8192
