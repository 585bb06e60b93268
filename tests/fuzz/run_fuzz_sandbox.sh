#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Fuzzes the sandbox's capability parser and plan builder for a bounded time.
#   run_fuzz_sandbox.sh SOURCE_DIR WORK_DIR [SECONDS]
set -euo pipefail
src=$1
source "$src/tests/fuzz/lib.sh"
fuzz_start "$2"
bin="$fuzz_work/fuzz_sandbox"
sources=("$src/tests/fuzz/fuzz_sandbox.cpp" "$src/host/src/supervise/sandbox.cpp" "$src/host/src/loading/capabilities.cpp"
  "$src/host/src/util/printable.cpp" "$src/host/src/util/memory_size.cpp")
fuzz_build "$bin" "${sources[@]}" "$src/host/src/supervise/sandbox.hpp" "$src/host/src/loading/capabilities.hpp" "$src/host/src/util/printable.hpp" "$src/sdk/include/dihya/utf8.hpp" -- \
  -I"$src/host/src" -I"$src/sdk/include" "${sources[@]}" -lfmt
cat >"$fuzz_work/corpus/seed.json" <<'SEED'
{"capabilities": {"read": ["/etc/ssl", "param:path"], "write": ["param:out", "param:policy#logs[].dir"],
  "exec": ["dihya-host", "/usr/bin/true"], "connect": [25, "param:url"], "database": true, "dns": true},
 "params": {"path": "rel/dir", "out": "/tmp/new/x", "policy": "/p.yaml", "url": "smtps://u:p@[::1]:2525/"},
 "database_url": "postgresql://a:b@%2Frun%2Fpg/db?port=6000&host=/run/x", "doc": {"logs": [{"dir": "/var/log"}, {"dir": 3}]},
 "message": "cannot open '/etc/shadow': Permission denied"}
SEED
fuzz_run "$bin" "${3:-30}"
