#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Fuzzes the minisign key and signature parsers for a bounded time.
#   run_fuzz_minisign.sh SOURCE_DIR WORK_DIR [SECONDS]
set -euo pipefail
src=$1
source "$src/tests/fuzz/lib.sh"
fuzz_start "$2"
bin="$fuzz_work/fuzz_minisign"
sources=("$src/tests/fuzz/fuzz_minisign.cpp" "$src/host/src/loading/minisign.cpp" "$src/host/src/loading/libcrypto.cpp")
fuzz_build "$bin" "${sources[@]}" "$src/host/src/loading/minisign.hpp" "$src/host/src/loading/libcrypto.hpp" "$src/host/src/util/dynamic_symbol.hpp" -- -I"$src/host/src" "${sources[@]}" -lcrypto -lfmt
# Seeds: a real key and signature made by minisign 0.11.
cat >"$fuzz_work/corpus/seed.pub" <<'SEED'
untrusted comment: minisign public key 35E11B00E028C221
RWQhwijgABvhNeYT4H4qR8tp4+B2SGZvBuybqC+3iYV12qufrUbobPqD
expires: 2030-01-01
SEED
cat >"$fuzz_work/corpus/seed.minisig" <<'SEED'
untrusted comment: signature from minisign secret key
RUQhwijgABvhNRygxCBtOZnDfbN0JyCxvnJjjz8OyefOZCRk+ExHsSJD3VED/SVaZyxlCNUqFH3QIbHabUZsWuz1AI5poT0NFAw=
trusted comment: timestamp:1796523398	file:f.so	hashed
r0hhiJrhzBbvMPRhjOzAofsy/BiSkyRiSlSQEMGGzroFijCchF1aRRbNXrsA6elosMWgHW0HuaOzzDfTI0xnCA==
SEED
fuzz_run "$bin" "${3:-30}"
