#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# The projects generate_project writes with its bundled templates work: the
# three sample plain-text specs of the README and a YAML spec with every field
# type are generated, then every project runs its own tests (pytest with
# Debian's python3-flask/python3-pytest, node --test with Debian's
# node-express), every YAML and JSON file parses, every .sh passes bash -n,
# every .js passes node --check, and db/schema.sql loads into PostgreSQL,
# where the Flask API's tests run a second time.
source "$(dirname "$0")/lib.sh"
export DIHYA_PLUGIN_PATH="$DIHYA_BUNDLED_PLUGIN_DIR"
FIXTURES="${DIHYA_SOURCE_DIR:?set by CTest}/tests/fixtures/generated_projects"
# The system Python has Flask and pytest (a pyenv or venv python3 first in PATH may not).
PY=/usr/bin/python3
# PYTHON is also what the front end's tests start the Flask API with.
export NODE_PATH=/usr/share/nodejs PYTHONDONTWRITEBYTECODE=1 PYTHON="$PY"

# The sample specs are read from the README's sample-specs block, so the README
# shows exactly what is tested.
mapfile -t SPECS < <(sed -n '/^<!-- sample-specs -->$/,/^<!-- \/sample-specs -->$/p' "$DIHYA_SOURCE_DIR/README.md" |
  grep -vE '^(<!--|```)')
expect_eq "${#SPECS[@]}" 3 "the README has three sample specs"
SPEC1=${SPECS[0]} SPEC2=${SPECS[1]} SPEC3=${SPECS[2]}
expect_eq "${SPEC1:0:18}" "Une API Flask nomm" "the first sample spec is the French one"

# Real tools or nothing: a missing one is a failure, not a skip.
"$PY" -c 'import flask, pytest, yaml' 2>"$ERR" >"$OUT" && ok "python3 has flask, pytest and yaml" \
  || not_ok "python3-flask, python3-pytest and python3-yaml are needed"
node -e 'require("express")' >"$OUT" 2>"$ERR" && ok "node finds express" || not_ok "node-express is needed"

# run_in LABEL DIR -- command...: runs a project's own test command, keeps its summary line.
run_in() {
  local label=$1 dir=$2
  shift 3
  local got=0
  (cd "$dir" && "$@") >"$OUT" 2>"$ERR" || got=$?
  local summary
  summary=$(grep -E '^(# pass|# fail|[0-9]+ passed|=+ .*(passed|failed))' "$OUT" "$ERR" 2>/dev/null | sed 's/^[^:]*://' | tr '\n' ' ')
  if [ "$got" -eq 0 ]; then ok "$label: ${summary:-exit 0}"; else not_ok "$label: exit $got ${summary}"; fi
}

# expect_file PATH DESCRIPTION / expect_no_file PATH DESCRIPTION
expect_file() { if [ -f "$1" ]; then ok "$2"; else not_ok "$2: ${1#"$WORK"/} missing"; fi; }
expect_no_file() { if [ -e "$1" ]; then not_ok "$2: ${1#"$WORK"/} exists"; else ok "$2"; fi; }

# Every YAML, JSON, shell and JavaScript file of a project is well-formed.
check_syntax() {
  local label=$1 dir=$2 bad=0 n=0 f
  if "$PY" - "$dir" >"$OUT" 2>"$ERR" <<'EOF'
import json, pathlib, sys, yaml
root = pathlib.Path(sys.argv[1])
count = 0
for path in sorted(root.rglob("*")):
    if path.suffix in (".yml", ".yaml"):
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        assert docs, "%s: no YAML document" % path
        count += 1
    elif path.suffix == ".json":
        json.loads(path.read_text())
        count += 1
print(count, "YAML/JSON files parse")
EOF
  then ok "$label: $(cat "$OUT")"; else not_ok "$label: a YAML or JSON file does not parse"; fi
  while IFS= read -r -d '' f; do n=$((n + 1)); bash -n "$f" 2>>"$ERR" || bad=1; done < <(find "$dir" -name '*.sh' -print0)
  if [ "$bad" -eq 0 ] && [ "$n" -gt 0 ]; then ok "$label: bash -n passes on $n scripts"; else not_ok "$label: bash -n ($n scripts)"; fi
  bad=0 n=0
  while IFS= read -r -d '' f; do n=$((n + 1)); node --check "$f" 2>>"$ERR" || bad=1; done < <(find "$dir" -name '*.js' -print0)
  if [ "$bad" -eq 0 ]; then ok "$label: node --check passes on $n .js files"; else not_ok "$label: node --check"; fi
  # No placeholder survived rendering and no file is empty by accident.
  if grep -rlE '\{\{[#^/]?[a-z_.]+\}\}' "$dir" >"$OUT" 2>/dev/null; then not_ok "$label: mustache tags left in $(head -1 "$OUT")"
  else ok "$label: no mustache tag left"; fi
}

# The tests each stack of a project brings, run the way the README says.
run_project_tests() {
  local label=$1 dir=$2
  [ -d "$dir/flask-api" ] && run_in "$label: flask-api pytest" "$dir/flask-api" -- "$PY" -m pytest -q -p no:cacheprovider
  [ -d "$dir/express-api" ] && run_in "$label: express-api node --test" "$dir/express-api" -- bash -c 'node --test test/*.test.js'
  [ -d "$dir/frontend" ] && run_in "$label: frontend node --test" "$dir/frontend" -- bash -c 'node --test test/*.test.js'
  [ -d "$dir/ai" ] && run_in "$label: ai pytest" "$dir/ai" -- "$PY" -m pytest -q -p no:cacheprovider
  [ -d "$dir/blockchain" ] && run_in "$label: blockchain node --test" "$dir/blockchain" -- bash -c 'node --test test/*.test.js'
  return 0
}

# db/schema.sql loads into its own PostgreSQL schema; the Flask tests then run against it.
check_schema() {
  local label=$1 dir=$2 schema=$3
  [ -f "$dir/db/schema.sql" ] || return 0
  if [ -z "${DB_URL:-}" ]; then not_ok "$label: db/schema.sql needs the PostgreSQL fixture"; return 0; fi
  psql_q "create schema $schema" >/dev/null
  if PGOPTIONS="-c search_path=$schema" psql -X -q -v ON_ERROR_STOP=1 "$DB_URL" -f "$dir/db/schema.sql" >"$OUT" 2>"$ERR"; then
    ok "$label: db/schema.sql loads into PostgreSQL"
  else
    not_ok "$label: db/schema.sql does not load"
  fi
  local tables
  tables=$(psql_q "select count(*) from information_schema.tables where table_schema = '$schema'")
  expect_eq "$tables" "$(grep -c '^CREATE TABLE' "$dir/db/schema.sql")" "$label: one table per resource"
  if [ -d "$dir/flask-api" ]; then
    if "$PY" -c 'import psycopg2' 2>/dev/null; then
      run_in "$label: flask-api pytest on PostgreSQL" "$dir/flask-api" -- \
        env TEST_DATABASE_URL="$DB_URL&options=-csearch_path%3D$schema" "$PY" -m pytest -q -p no:cacheprovider
    else
      not_ok "$label: python3-psycopg2 is needed to test the Flask API on PostgreSQL"
    fi
  fi
}

# 1. French: Flask, two resources, JWT, PostgreSQL.
P1="$WORK/boutique"
expect_exit 0 "spec 1 (French text) generates" -- dh run generate_project -p "text=$SPEC1" -p "out=$P1"
expect_file "$P1/flask-api/app.py" "spec 1: Flask API"
expect_file "$P1/flask-api/auth.py" "spec 1: JWT auth module"
expect_file "$P1/flask-api/tests/test_users.py" "spec 1: users tests"
expect_file "$P1/flask-api/tests/test_products.py" "spec 1: products tests"
expect_file "$P1/db/schema.sql" "spec 1: PostgreSQL schema"
expect_no_file "$P1/express-api" "spec 1: no Express API"
expect_no_file "$P1/docker-compose.yml" "spec 1: no compose file without docker"
check_syntax "spec 1" "$P1"
run_project_tests "spec 1" "$P1"
check_schema "spec 1" "$P1" gp_boutique
run_in "spec 1: make test" "$P1" -- make -s test "PYTHON=$PY"

# 2. English: Express, typed fields, SPA, Docker, Kubernetes.
P2="$WORK/orders"
expect_exit 0 "spec 2 (English text) generates" -- dh run generate_project -p "text=$SPEC2" -p "out=$P2"
expect_file "$P2/express-api/test/customers.test.js" "spec 2: customers tests"
expect_file "$P2/express-api/test/orders.test.js" "spec 2: orders tests"
expect_in "$P2/express-api/src/schema.js" "{ name: 'total', type: 'number'" "spec 2: total is a number"
expect_file "$P2/frontend/index.html" "spec 2: single-page app"
expect_file "$P2/frontend/test/express.test.js" "spec 2: the front end is tested against the Express API"
expect_file "$P2/express-api/Dockerfile" "spec 2: Express Dockerfile"
expect_file "$P2/frontend/Dockerfile" "spec 2: front-end Dockerfile"
expect_file "$P2/docker-compose.yml" "spec 2: compose file"
expect_file "$P2/k8s/express-api.yaml" "spec 2: Kubernetes manifests for the API"
expect_file "$P2/k8s/frontend.yaml" "spec 2: Kubernetes manifests for the front end"
expect_no_file "$P2/express-api/src/auth.js" "spec 2: no auth module without auth"
expect_no_file "$P2/.github" "spec 2: no CI workflow when not asked"
check_syntax "spec 2" "$P2"
run_project_tests "spec 2" "$P2"
if "$PY" - "$P2" >"$OUT" 2>"$ERR" <<'EOF'
import sys, yaml
compose = yaml.safe_load(open(sys.argv[1] + "/docker-compose.yml"))
assert set(compose["services"]) == {"express-api", "frontend"}, compose["services"]
kinds = [d["kind"] for d in yaml.safe_load_all(open(sys.argv[1] + "/k8s/express-api.yaml"))]
assert kinds == ["Deployment", "Service"], kinds
EOF
then ok "spec 2: compose services and k8s kinds"; else not_ok "spec 2: compose services and k8s kinds"; fi

# 3. Everything at once; generated twice, byte-identical.
P3="$WORK/agora"
expect_exit 0 "spec 3 (every stack) generates" -- dh run generate_project -p "text=$SPEC3" -p "out=$P3"
for f in flask-api/app.py express-api/src/app.js frontend/src/api.js ai/classifier.py blockchain/contracts/Registry.sol \
  blockchain/scripts/deploy.js docker-compose.yml .github/workflows/ci.yml k8s/flask-api.yaml k8s/express-api.yaml \
  db/schema.sql flask-api/tests/test_authors.py express-api/test/posts.test.js frontend/test/flask.test.js \
  frontend/test/express.test.js Makefile README.md scripts/check.sh; do
  expect_file "$P3/$f" "spec 3: $f"
done
check_syntax "spec 3" "$P3"
run_project_tests "spec 3" "$P3"
check_schema "spec 3" "$P3" gp_agora
if "$PY" - "$P3" >"$OUT" 2>"$ERR" <<'EOF'
import sys, yaml
compose = yaml.safe_load(open(sys.argv[1] + "/docker-compose.yml"))
assert set(compose["services"]) == {"flask-api", "express-api", "frontend", "db"}, compose["services"]
ci = yaml.safe_load(open(sys.argv[1] + "/.github/workflows/ci.yml"))
assert set(ci["jobs"]) == {"checks", "flask-api", "express-api", "frontend", "ai", "blockchain"}, ci["jobs"]
EOF
then ok "spec 3: compose services and CI jobs"; else not_ok "spec 3: compose services and CI jobs"; fi
expect_exit 0 "spec 3 generates again" -- dh run generate_project -p "text=$SPEC3" -p "out=$WORK/agora2"
if diff -r "$P3" "$WORK/agora2" >"$OUT" 2>&1; then ok "generation is deterministic (identical trees)"
else not_ok "generation is not deterministic"; fi

# 4. YAML spec: every field type, key words as names, a name needing escaping.
P4="$WORK/all_types"
expect_exit 0 "YAML spec with every field type generates" -- dh run generate_project -p "spec=$FIXTURES/all_types.yaml" -p "out=$P4"
check_syntax "all types" "$P4"
run_project_tests "all types" "$P4"
# The display name reaches Python and JavaScript as exact string literals.
want=$("$PY" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["name"])' "$FIXTURES/all_types.yaml")
got=$(cd "$P4/flask-api" && "$PY" -c 'import app; print(app.PROJECT_NAME)' 2>"$ERR") || true
expect_eq "$got" "$want" "all types: project name exact in Python"
got=$(cd "$P4/frontend" && node --input-type=module -e 'import("./src/config.js").then((m) => console.log(m.PROJECT_NAME))' 2>"$ERR") || true
expect_eq "$got" "$want" "all types: project name exact in JavaScript"

# 5. The bundled templates are importable templates: imported into the
# database by import_templates, they generate the very same project.
PACKED="${DIHYA_BUILD_DIR:?set by CTest}/plugins/generate_project/templates"
if [ -f "$DIHYA_BUNDLED_PLUGIN_DIR/libimport_templates.so" ] && [ -d "$PACKED" ] && [ -n "${DB_URL:-}" ]; then
  expect_exit 0 "import_templates imports the bundled templates" -- dh run import_templates -p "path=$PACKED" --yes
  expect_in "$OUT" "7 added" "the seven bundled templates are valid template documents"
  expect_exit 0 "generate from the imported templates" -- \
    dh run generate_project -p "spec=$FIXTURES/all_types.yaml" -p "out=$WORK/all_types_db" -p templates_from=database
  expect_in "$OUT" "flask-api (database revision 1)" "the database's templates were used"
  if diff -r "$P4" "$WORK/all_types_db" >"$OUT" 2>&1; then ok "database and bundled templates give identical projects"
  else not_ok "database and bundled templates differ"; fi
else
  not_ok "import check needs import_templates, the packed templates in $PACKED and the PostgreSQL fixture"
fi

finish
