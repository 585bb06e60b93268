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
fuzz_build "$bin" "${sources[@]}" "$here"/*.hpp "$src"/sdk/include/dihya/*.hpp "$src"/sdk/support/include/dihya/*.hpp -- -I"$src/sdk/include" -I"$src/sdk/support/include" "${sources[@]}" -lyaml-cpp -lcrypto
printf 'Une API Flask avec des utilisateurs et des produits, authentification JWT, PostgreSQL' >"$fuzz_work/corpus/fr"
printf 'An Express API called "Shop" with users and orders (total:number, status), JWT auth, Docker and CI, without Kubernetes' >"$fuzz_work/corpus/en"
printf 'Une interface web et une IA nomm\xc3\xa9e \xc2\xabLabo\xc2\xbb pour des cat\xc3\xa9gories (prix: nombre, quantit\xc3\xa9) sans docker' >"$fuzz_work/corpus/fr2"
printf '{"name": "Shop", "stacks": ["flask", "spa"], "features": {"auth": "jwt", "database": "sqlite", "docker": true},\n "resources": [{"name": "products", "fields": [{"name": "price", "type": "number", "required": true}]}, "orders"],\n "templates": {"flask": "flask-api"}, "variables": {"port": 8000}}' >"$fuzz_work/corpus/json"
printf 'name: Shop\nstacks: [express]\nresources:\n  - name: class\n    fields: {from: string, is_active: boolean}\n' >"$fuzz_work/corpus/yaml"
printf 'name: Words\nstacks: [solidity]\nresources: [news, series, gases, people, indexes, statuses]\n' >"$fuzz_work/corpus/plurals"
fuzz_run "$bin" "${3:-30}" -max_len=4096

# The audio reader, for half the time, over its own corpus: small WAV, FLAC,
# OGG and MP3 files made by sox when it is installed. Leak detection is off
# for it: libvorbis leaks on some truncated OGG streams inside libsndfile.
spec_work=$fuzz_work
fuzz_start "$spec_work/audio"
abin="$fuzz_work/fuzz_audio"
asources=("$here/fuzz/fuzz_audio.cpp" "$here/audio_input.cpp")
# shellcheck disable=SC2046
fuzz_build "$abin" "${asources[@]}" "$here/audio_input.hpp" -- -I"$src/sdk/include" "${asources[@]}" $(pkg-config --cflags --libs sndfile soxr)
if command -v sox >/dev/null && [ ! -e "$fuzz_work/corpus/a.wav" ]; then
  sox -n -r 8000 -c 1 -b 16 "$fuzz_work/corpus/a.wav" synth 0.3 sine 440
  sox -n -r 22050 -c 2 "$fuzz_work/corpus/b.flac" synth 0.3 sine 440
  sox -n -r 16000 -c 1 "$fuzz_work/corpus/c.ogg" synth 0.3 sine 440
  sox -n -r 16000 -c 1 "$fuzz_work/corpus/d.mp3" synth 0.3 sine 440 2>/dev/null || true
fi
ASAN_OPTIONS=detect_leaks=0 fuzz_run "$abin" "$(( (${3:-30} + 1) / 2 ))" -max_len=65536 -detect_leaks=0
