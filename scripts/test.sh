#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# The whole test suite, from a fresh clone: install what is missing, build,
# then run every CTest test (unit, CLI end to end, integration against a
# throwaway PostgreSQL cluster that the suite starts and stops itself).
#   scripts/test.sh          the default (RelWithDebInfo) build
#   scripts/test.sh asan     the same suite under ASan + UBSan
set -euo pipefail
cd "$(dirname "$0")/.."
# Plugin files and directories must not be group- or world-writable to be loaded.
umask 022
preset=${1:-default}
./scripts/build.sh "$preset" all
# Test plugins crash on purpose: with ASan's SIGSEGV handler the child would
# exit 1 instead of dying of the signal the host must report.
export ASAN_OPTIONS=${ASAN_OPTIONS:-handle_segv=0}
# One test more than CPUs: the tests often wait (PostgreSQL, fsync, the
# scheduler's clock, a plugin's timeout), so CPUs + 1 keeps the CPUs busy
# (2 cores: 271 s with -j2, 233 s with -j3, the same fresh clone).
ctest --preset "$preset" -j "$(( $(nproc) + 1 ))"
