#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Fuzzes the ELF section reader that reads a plugin's metadata and ABI tag
# (tests/fuzz/fuzz_elf_sections.cpp) for a bounded time.
#   run_fuzz_elf_sections.sh SOURCE_DIR WORK_DIR [SECONDS] [TEST_PLUGIN_DIR]
# TEST_PLUGIN_DIR (default: SOURCE_DIR/build/default/tests/plugins) holds the
# built test plugins; the real ones found there are seeds too.
set -euo pipefail
src=$1
source "$src/tests/fuzz/lib.sh"
fuzz_start "$2"
bin="$fuzz_work/fuzz_elf_sections"
host="$src/host/src"
sources=("$src/tests/fuzz/fuzz_elf_sections.cpp" "$host/loading/elf_sections.cpp")
fuzz_build "$bin" "${sources[@]}" "$src/tests/fuzz/fuzz_support.hpp" "$host/loading/elf_sections.hpp" "$host/util/unique_fd.hpp" "$host/errors.hpp" \
  "$src/sdk/include/dihya/file_io.hpp" -- -I"$host" -I"$src/sdk/include" "${sources[@]}"
# Seeds: hand-made tiny shared objects (the sections the host reads, a
# duplicate name, an oversized ABI tag) and a truncated header, committed;
# real plugins of the build (too large to commit), when built: one without
# metadata, one without its factory, a whole one (364 KB).
cp "$src"/tests/fuzz/corpus_elf_sections/* "$fuzz_work/corpus/"
plugins=${4:-$src/build/default/tests/plugins}
for so in libnot_a_plugin.so libmissing_factory.so libnoop.so; do
  if [ -r "$plugins/$so" ]; then cp "$plugins/$so" "$fuzz_work/corpus/real-$so"; fi
done
# -max_len: room for the whole real plugin, whose section table is at its end.
# -malloc_limit_mb: the reader allocates no more than the file's size (and at
# most 1 MiB of section names), so anything near this limit is a bug.
fuzz_run "$bin" "${3:-30}" -max_len=400000 -malloc_limit_mb=64
