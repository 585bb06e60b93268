#!/usr/bin/env bash
# Syntax checks of every generated file: shell, JavaScript, Python, JSON, YAML.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
status=0
while IFS= read -r -d '' f; do bash -n "$f" || status=1; done < <(find . -name node_modules -prune -o -name '*.sh' -print0)
if command -v node >/dev/null; then
  while IFS= read -r -d '' f; do node --check "$f" || status=1; done < <(find . -name node_modules -prune -o -name '*.js' -print0)
fi
while IFS= read -r -d '' f; do "$PYTHON" -m py_compile "$f" || status=1; done < <(find . -name '*.py' -print0)
while IFS= read -r -d '' f; do "$PYTHON" -m json.tool "$f" >/dev/null || status=1; done < <(find . -name node_modules -prune -o -name '*.json' -print0)
if "$PYTHON" -c 'import yaml' 2>/dev/null; then
  while IFS= read -r -d '' f; do
    "$PYTHON" -c 'import sys, yaml; list(yaml.safe_load_all(open(sys.argv[1])))' "$f" || status=1
  done < <(find . -name node_modules -prune -o \( -name '*.yml' -o -name '*.yaml' \) -print0)
fi
[ "$status" -eq 0 ] && echo "every file parses"
exit "$status"
