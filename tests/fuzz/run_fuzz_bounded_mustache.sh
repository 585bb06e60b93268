#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Fuzzes the bounded mustache render against kainjow for a bounded time.
#   run_fuzz_bounded_mustache.sh SOURCE_DIR WORK_DIR [SECONDS]
set -euo pipefail
src=$1
source "$src/tests/fuzz/lib.sh"
fuzz_start "$2"
bin="$fuzz_work/fuzz_bounded_mustache"
sources=("$src/tests/fuzz/fuzz_bounded_mustache.cpp")
fuzz_build "$bin" "${sources[@]}" "$src/sdk/support/include/dihya/bounded_mustache.hpp" -- \
  -I"$src/sdk/support/include" "${sources[@]}"
# Seeds: the forms kainjow renders (first byte: the limit and the escape).
i=0
for t in 'plain text' '{{s}} {{{s}}} {{&s}}' '{{#a}}<{{.}}>{{/a}}' '{{^e}}empty{{/e}}' \
  '{{#items}}{{v}}{{#flag}}!{{/flag}}{{/items}}' '{{#o}}{{n}}{{#a}}{{.}}{{/a}}{{/o}}' \
  $'line\n  {{#a}}\n  {{.}}\n  {{/a}}\nend\n' '{{=<% %>=}}<% s %><%={{ }}=%>{{s}}' '{{>p}}{{>inc}}' \
  '{{#a}}{{#a}}{{#a}}x{{/a}}{{/a}}{{/a}}' '{{! comment }}{{missing}}{{#t}}T{{/t}}{{^f}}F{{/f}}'; do
  { printf "\\$(printf %03o $((i * 23 % 256)))"; printf '%s' "$t"; } >"$fuzz_work/corpus/seed-$((i++))"
done
# Inputs that once broke an invariant.
cp "$src"/tests/fuzz/corpus_bounded_mustache/* "$fuzz_work/corpus/"
fuzz_run "$bin" "${3:-30}"
