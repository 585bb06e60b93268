#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Fuzzes the plugin metadata cache reader behind `list` and plugin lookup
# (tests/fuzz/fuzz_catalog_cache.cpp says what is checked) for a bounded time.
#   run_fuzz_catalog_cache.sh SOURCE_DIR WORK_DIR [SECONDS] [TEST_PLUGIN_DIR]
# TEST_PLUGIN_DIR (default: SOURCE_DIR/build/default/tests/plugins) holds the
# built test plugins; the target copies libnoop.so and libecho_params.so.
set -euo pipefail
src=$1
source "$src/tests/fuzz/lib.sh"
fuzz_start "$2"
bin="$fuzz_work/fuzz_catalog_cache"
host="$src/host/src"
sources=("$src/tests/fuzz/fuzz_catalog_cache.cpp" "$host/loading/catalog.cpp" "$host/loading/plugin_file.cpp"
  "$host/loading/elf_sections.cpp" "$host/loading/signature.cpp" "$host/loading/minisign.cpp"
  "$host/loading/libcrypto.cpp" "$host/util/trusted_path.cpp" "$host/util/atomic_file.cpp" "$host/util/sha256.cpp"
  "$host/util/utc_time.cpp" "$host/params/json_input.cpp" "$host/util/printable.cpp")
fuzz_build "$bin" "${sources[@]}" "$src/tests/fuzz/fuzz_support.hpp" "$host/loading/catalog.hpp" "$host/loading/plugin_file.hpp" \
  "$host/loading/elf_sections.hpp" "$host/loading/signature.hpp" "$host/config/settings.hpp" "$host/errors.hpp" \
  "$host/util/atomic_file.hpp" "$host/util/sha256.hpp" "$host/util/trusted_path.hpp" "$host/util/unique_fd.hpp" \
  -- -I"$host" -I"$src/sdk/include" "${sources[@]}" -lfmt -lcrypto -lyaml-cpp
export DIHYA_FUZZ_TEST_PLUGINS=${4:-$src/build/default/tests/plugins}
# Seeds: the cache a run without one writes (it names the target's own plugin
# paths and stamps, so it is made here, not committed), the same naming
# echo_params "noop" (a forged entry the lookup meets first), and small
# hand-made documents, committed.
written="$fuzz_work/corpus/seed-written-cache.json"
DIHYA_FUZZ_WRITE_SEED="$written" "$bin"
sed 's/"name":"echo_params"/"name":"noop"/' "$written" >"$fuzz_work/corpus/seed-forged-noop.json"
cp "$src"/tests/fuzz/corpus_catalog_cache/* "$fuzz_work/corpus/"
fuzz_run "$bin" "${3:-30}"
