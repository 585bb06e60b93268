#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Installs missing Debian packages, then configures and builds one preset
# (default: "default"). Idempotent: a second call only rebuilds what changed.
#   scripts/build.sh [PRESET]        the host, the bundled plugins, the man page
#                                    (what is installed and what the main job runs)
#   scripts/build.sh PRESET all      and the test programs and test plugins
#                                    (scripts/test.sh, the benchmarks)
set -euo pipefail
cd "$(dirname "$0")/.."
# Plugin files and directories must not be group- or world-writable to be loaded.
umask 022
preset=${1:-default}
./scripts/install-deps.sh
if [ ! -f "build/$preset/build.ninja" ]; then
  cmake --preset "$preset" >/dev/null
fi
if [ "${2:-}" = all ]; then
  cmake --build --preset "$preset"
else
  cmake --build --preset "$preset" --target dihya_product
fi
