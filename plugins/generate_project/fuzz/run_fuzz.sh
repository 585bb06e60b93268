#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Fuzzes generate_project's spec parsers (plain text FR/EN, JSON, YAML) and
# the name sanitising behind them for a bounded time; any crash or broken
# invariant fails.
#   run_fuzz.sh SOURCE_DIR WORK_DIR [SECONDS]
set -euo pipefail
src=$1
here="$src/plugins/generate_project"
source "$src/tests/fuzz/lib.sh"
fuzz_start "$2"
bin="$fuzz_work/fuzz_spec"
sources=("$here/fuzz/fuzz_spec.cpp" "$here/spec.cpp" "$here/text_spec.cpp" "$here/names.cpp" "$here/render.cpp")
fuzz_build "$bin" "${sources[@]}" "$here"/*.hpp "$src"/sdk/include/dihya/*.hpp -- -I"$src/sdk/include" "${sources[@]}" -lyaml-cpp -lcrypto
printf 'Une API Flask avec des utilisateurs et des produits, authentification JWT, PostgreSQL' >"$fuzz_work/corpus/fr"
printf 'An Express API called "Shop" with users and orders (total:number, status), JWT auth, Docker and CI, without Kubernetes' >"$fuzz_work/corpus/en"
printf 'Une interface web et une IA nomm\xc3\xa9e \xc2\xabLabo\xc2\xbb pour des cat\xc3\xa9gories (prix: nombre, quantit\xc3\xa9) sans docker' >"$fuzz_work/corpus/fr2"
printf '{"name": "Shop", "stacks": ["flask", "spa"], "features": {"auth": "jwt", "database": "sqlite", "docker": true},\n "resources": [{"name": "products", "fields": [{"name": "price", "type": "number", "required": true}]}, "orders"],\n "templates": {"flask": "flask-api"}, "variables": {"port": 8000}}' >"$fuzz_work/corpus/json"
printf 'name: Shop\nstacks: [express]\nresources:\n  - name: class\n    fields: {from: string, is_active: boolean}\n' >"$fuzz_work/corpus/yaml"
fuzz_run "$bin" "${3:-30}" -max_len=4096
