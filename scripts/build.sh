#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Installs missing Debian packages, then configures and builds one preset
# (default: "default"). Idempotent: a second call only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
# Plugin files and directories must not be group- or world-writable to be loaded.
umask 022
preset=${1:-default}
./scripts/install-deps.sh
if [ ! -f "build/$preset/build.ninja" ]; then
  cmake --preset "$preset" >/dev/null
fi
cmake --build --preset "$preset"
