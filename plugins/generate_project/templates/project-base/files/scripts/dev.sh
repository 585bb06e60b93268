#!/usr/bin/env bash
# Runs the generated services locally, in the foreground; Ctrl-C stops them all.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
export NODE_PATH=${NODE_PATH:-/usr/share/nodejs}
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT INT TERM
{{#stacks.flask}}
(cd flask-api && exec "$PYTHON" app.py) &
pids+=("$!")
{{/stacks.flask}}
{{#stacks.express}}
(cd express-api && exec node server.js) &
pids+=("$!")
{{/stacks.express}}
{{#stacks.spa}}
(cd frontend && exec "$PYTHON" -m http.server "${FRONTEND_PORT:-8080}" --bind 127.0.0.1) &
pids+=("$!")
{{/stacks.spa}}
if [ "${#pids[@]}" -eq 0 ]; then echo "no service to run"; exit 0; fi
wait
