#!/usr/bin/env bash
# Runs the tests of every stack of the project (same as `make test`).
set -euo pipefail
cd "$(dirname "$0")/.."
exec make test "$@"
