#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# generate_project end to end with the built dihya-host and a real PostgreSQL:
# YAML, JSON, French and English text specs and their negations (the
# structured result checked from --json), the understood/ignored report, dry
# run, non-empty target and force, a database template revision overriding
# the bundled one, rollback removing unchanged files and keeping an edited
# one, identifier sanitising,
# and hostile specs (deep nesting, billion laughs, huge or invalid UTF-8
# strings, ../ names, unknown stack, collisions, symlinks) refused with exit 2
# and nothing written. (Whether the generated projects' own tests pass is
# checked by the templates' test.)
source "$(dirname "$0")/lib.sh"
export DIHYA_PLUGIN_PATH="$DIHYA_BUNDLED_PLUGIN_DIR"
: "${DB_URL:?the pg fixture must be running}"

T=$WORK/t
mkdir -p "$T"
result() { jq -r "$1" "$OUT"; }
nothing_at() { if [ -e "$1" ]; then not_ok "$2: $1 exists"; else ok "$2"; fi; }

expect_exit 0 "check: metadata and schema" -- dh check generate_project

# --- structured YAML spec ---------------------------------------------------
cat >"$T/shop.yaml" <<'EOF'
name: "Shop d'été"
description: Online shop */ with a comment breaker
stacks: [flask, spa]
features: {auth: jwt, database: sqlite, admin: true, docker: true, ci: true}
resources:
  - name: products
    fields: [{name: name, type: string, required: true}, {name: price, type: number}, {name: class}]
  - name: Order
    fields: {total: number, status: string, created_at: date}
variables: {unknown_var: 3}
EOF
expect_exit 0 "YAML spec generates" -- dh run generate_project -p spec="$T/shop.yaml" -p out="$T/shop" --json
expect_eq "$(result '.result.spec.resources | map(.name) | join(",")')" "products,orders" "resources normalised (Order -> orders)"
expect_eq "$(result '.result.spec.resources[0].fields | map(.name + ":" + .type) | join(",")')" "name:string,price:number,class_:string" "reserved field name gets a suffix (class -> class_)"
expect_eq "$(result '.result.spec.resources[1].fields | map(.name + ":" + .type) | join(",")')" "created_at:date,status:string,total:number" "short field form (a map: sorted by name) keeps types"
expect_eq "$(result '.result.templates | map(.name + "/" + .source) | join(",")')" "project-base/bundled,flask-api/bundled,spa/bundled,devops/bundled" "bundled templates used without a template table"
expect_eq "$(result '.result.ignored_variables | join(",")')" "unknown_var" "a variable no template declares is reported as ignored"
[ -f "$T/shop/flask-api/app.py" ] && [ -f "$T/shop/flask-api/tests/test_orders.py" ] && ok "per-resource files written" || not_ok "flask-api files missing"
expect_eq "$(stat -c %a "$T/shop/scripts/test.sh")" 755 "shell scripts are 0755"
expect_eq "$(stat -c %a "$T/shop/README.md")" 644 "other files are 0644"
expect_eq "$(result '.result.files | length')" "$(find "$T/shop" -type f | wc -l)" "every written file is listed"
if bash -n "$T/shop/scripts/test.sh"; then ok "generated script passes bash -n"; else not_ok "bash -n"; fi
grep -rqF '*/ with' --include='*.py' --include='*.js' --include='*.sol' --include='*.yml' --include='*.html' "$T/shop" && not_ok "a comment breaker from the description reached the files raw" || ok "description text never reaches files raw"

# --- structured JSON spec -----------------------------------------------------
cat >"$T/api.json" <<'EOF'
{"name": "Inventory", "stack": "express", "features": {"auth": false, "database": "none"},
 "resources": ["items", {"name": "warehouse", "fields": ["city", "capacity:integer", "active"]}]}
EOF
expect_exit 0 "JSON spec generates" -- dh run generate_project -p spec="$T/api.json" -p out="$T/inv" --json
expect_eq "$(result '.result.spec.stacks | join(",")')" "express" "single stack key accepted"
expect_eq "$(result '.result.spec.resources[1] | .name + ":" + (.fields | map(.name + "=" + .type) | join(","))')" "warehouses:city=string,capacity=integer,active=boolean" "types from name:type and guessed (active -> boolean)"
[ -f "$T/inv/express-api/package.json" ] && ok "express project written" || not_ok "express-api/package.json missing"
[ -e "$T/inv/docker-compose.yml" ] && not_ok "devops written without docker/ci/kubernetes" || ok "no devops template without docker/ci/kubernetes"
# Without out, the target is <output dir>/<slug>: checked before the run too.
mkdir -p "$T/shared/inventory" && touch "$T/shared/inventory/kept.txt"
expect_exit 2 "a non-empty default target is refused up front" -- dh run generate_project -p spec="$T/api.json" --output-dir "$T/shared"
expect_in "$ERR" "inventory" "the error names the default target"
expect_eq "$(ls "$T/shared/inventory")" kept.txt "nothing written into it"

# --- template variables: typed, defaults filled, unsafe strings refused ---------
printf '{"name": "V", "stacks": ["flask"], "features": {"docker": true}, "variables": {"flask_port": 8123}}' >"$T/vars.json"
expect_exit 0 "a template variable from the spec" -- dh run generate_project -p spec="$T/vars.json" -p out="$T/vars" --json
expect_eq "$(result '.result.variables["flask-api"] | "\(.flask_port) \(.python_version)"')" "8123 3.11" "spec value used, default filled"
grep -rqF 8123 "$T/vars" && ok "the variable reached the files" || not_ok "8123 not rendered anywhere"
printf '{"name": "V", "stacks": ["flask"], "variables": {"flask_port": "eighty"}}' >"$T/vars2.json"
expect_exit 2 "a variable of the wrong type" -- dh run generate_project -p spec="$T/vars2.json" -p out="$T/vars2"
expect_in "$ERR" "is not of type integer" "the type error names the variable's type"
for port in -1 0 65536 99999999999; do
  printf '{"name": "V", "stacks": ["flask"], "variables": {"flask_port": %s}}' "$port" >"$T/vars-port.json"
  expect_exit 2 "a port variable of $port" -- dh run generate_project -p spec="$T/vars-port.json" -p out="$T/vars-port"
  expect_in "$ERR" "is outside 1..65535" "the refusal gives the range ($port)"
  nothing_at "$T/vars-port" "nothing written for port $port"
done
printf '{"name": "V", "stacks": ["flask"], "variables": {"python_version": "3; rm -rf /"}}' >"$T/vars3.json"
expect_exit 2 "a string variable with shell characters" -- dh run generate_project -p spec="$T/vars3.json" -p out="$T/vars3"
nothing_at "$T/vars3" "nothing written for a bad variable"
# An image tag goes into YAML bare ("image: postgres:16: x" is not YAML): the
# tag variables hold a version or an image tag only.
for tag in "16: x" "16 #x" "16 x" "-16"; do
  jq -n --arg tag "$tag" '{name: "V", stacks: ["ai", "flask"], features: {docker: true, ci: true, database: "postgresql"},
    variables: {postgres_version: $tag}}' >"$T/vars-tag.json"
  expect_exit 2 "an image tag variable of '$tag'" -- dh run generate_project -p spec="$T/vars-tag.json" -p out="$T/vars-tag"
  expect_one_line_error "image tag '$tag'"
  expect_in "$ERR" "variables.postgres_version (template devops, string): $(jq -n --arg t "$tag" '$t') is not a version or image tag" \
    "the refusal names the variable and what it may hold ('$tag')"
  nothing_at "$T/vars-tag" "nothing written for the image tag '$tag'"
  rm -rf "$T/vars-tag"
done
jq -n '{name: "V", stacks: ["ai", "flask"], features: {docker: true, ci: true, database: "postgresql"},
  variables: {postgres_version: "15.4-alpine", python_version: "3.12"}}' >"$T/vars-tag.json"
expect_exit 0 "an image tag variable of 15.4-alpine" -- dh run generate_project -p spec="$T/vars-tag.json" -p out="$T/vars-tag-ok"
expect_in "$T/vars-tag-ok/docker-compose.yml" "image: postgres:15.4-alpine" "the tag reaches docker-compose.yml"
expect_in "$T/vars-tag-ok/.github/workflows/ci.yml" "image: postgres:15.4-alpine" "the tag reaches the CI workflow"
expect_in "$T/vars-tag-ok/flask-api/Dockerfile" "FROM python:3.12-slim" "the tag reaches the Dockerfile"

# --- plain text, French and English ------------------------------------------
fr="Une API Flask avec des utilisateurs et des produits, authentification JWT, PostgreSQL, rapidement"
expect_exit 0 "French text spec" -- dh run generate_project -p text="$fr" -p out="$T/fr" --json
expect_eq "$(result '.result.language')" fr "language detected: fr"
expect_eq "$(result '.result.spec.stacks | join(",")')" flask "fr: stack flask"
expect_eq "$(result '.result.spec.features | "\(.auth) \(.database)"')" "jwt postgresql" "fr: JWT and PostgreSQL understood"
expect_eq "$(result '.result.spec.resources | map(.name) | join(",")')" "users,products" "fr: utilisateurs/produits -> users,products"
expect_eq "$(result '.result.spec.resources[0].fields | map(.name + ":" + .type) | join(",")')" "name:string" "default field name:string"
expect_eq "$(result '[.result.understood[] | select(.rule == "resource") | .words] | join(",")')" "utilisateurs,produits" "understood lists the words each rule used"
expect_eq "$(result '.result.ignored | join(",")')" "rapidement" "ignored words reported"
expect_exit 0 "text report on stdout" -- dh run generate_project -p text="$fr" -p out="$T/fr2" --dry-run
expect_in "$OUT" "Ignored words: rapidement" "report shows ignored words"
expect_in "$OUT" 'stack: "Flask" -> flask' "report shows understood rules"

en="An Express API called Shop with users and orders (total:number, status, email), JWT auth, Docker and CI, without Kubernetes, plus a single-page frontend"
expect_exit 0 "English text spec" -- dh run generate_project -p text="$en" -p out="$T/en" --json
expect_eq "$(result '.result.language')" en "language detected: en"
expect_eq "$(result '.result.spec.name')" Shop "name from 'called Shop'"
expect_eq "$(result '.result.spec.stacks | join(",")')" "express,spa" "en: express and spa"
expect_eq "$(result '.result.spec.features | "\(.auth) \(.docker) \(.ci) \(.kubernetes)"')" "jwt true true false" "en: features and negation"
expect_eq "$(result '.result.spec.resources[1].fields | map(.name + ":" + .type) | join(",")')" "total:number,status:string,email:email" "en: field list with types"
[ -f "$T/en/frontend/index.html" ] || [ -d "$T/en/frontend" ] && ok "frontend written" || not_ok "frontend missing"
printf '%s' "Une interface web et une IA pour des commandes (prix, quantité) sans docker" >"$T/spec.txt"
expect_exit 0 "text_file spec" -- dh run generate_project -p text_file="$T/spec.txt" -p out="$T/tf" --dry-run --json
expect_eq "$(result '.result.spec.stacks | join(",")')" "spa,ai" "text_file: interface web + IA"
expect_eq "$(result '.result.spec.resources[0] | .name + ":" + (.fields | map(.name + "=" + .type) | join(","))')" "orders:price=number,quantity=integer" "text_file: commandes(prix, quantité) -> orders(price:number, quantity:integer)"

# A negation covers the keyword it governs across articles ("without a
# database"), the keyword of the same feature right after it ("no JWT
# authentication") and every keyword joined to it by or/nor/ni ("sans Docker
# ni Kubernetes ni CI"); the positive control shows the same words switch the
# features on when nothing negates them.
features_of() {  # features_of TEXT EXPECTED
  expect_exit 0 "text: $1" -- dh run generate_project --dry-run --json -p text="$1" -p out="$T/neg"
  expect_eq "$(result '.result.spec.features | "auth=\(.auth) database=\(.database) docker=\(.docker) kubernetes=\(.kubernetes) ci=\(.ci)"')" \
    "$2" "text: $1: features"
}
features_of 'A Flask API called Shop with users, with JWT authentication and Docker' \
  "auth=jwt database=none docker=true kubernetes=false ci=false"
features_of 'A Flask API called Shop with users, a database, Docker or Kubernetes' \
  "auth=none database=sqlite docker=true kubernetes=true ci=false"
features_of 'A Flask API called Shop with users, with no JWT authentication' \
  "auth=none database=none docker=false kubernetes=false ci=false"
features_of 'A Flask API called Shop with users, without a database' \
  "auth=none database=none docker=false kubernetes=false ci=false"
features_of 'A Flask API called Shop with users, without Docker containers' \
  "auth=none database=none docker=false kubernetes=false ci=false"
features_of 'A Flask API called Shop with users, without Docker or Kubernetes' \
  "auth=none database=none docker=false kubernetes=false ci=false"
features_of 'Une API Flask nommée Boutique avec des produits, sans Docker ni Kubernetes ni CI' \
  "auth=none database=none docker=false kubernetes=false ci=false"
features_of 'Une API Flask nommée Boutique avec des produits, sans authentification JWT' \
  "auth=none database=none docker=false kubernetes=false ci=false"
features_of "Une API Flask avec des produits, pas d'authentification, Docker" \
  "auth=none database=none docker=true kubernetes=false ci=false"
features_of 'A Flask API with neither Docker nor Kubernetes, and without authentication and CI' \
  "auth=none database=none docker=false kubernetes=false ci=false"
# The negation ends with its clause: a comma, or any word that joins no keyword.
features_of 'A Flask API without Docker, with CI and Kubernetes' \
  "auth=none database=none docker=false kubernetes=true ci=true"
features_of 'A Flask API without Docker use PostgreSQL and CI' \
  "auth=none database=postgresql docker=false kubernetes=false ci=true"
expect_exit 0 "the report shows each negated keyword" -- dh run generate_project --dry-run -p text='Une API Flask, sans Docker ni Kubernetes' -p out="$T/neg"
expect_in "$OUT" 'negation: "ni Kubernetes" -> {"kubernetes":false}' "report: the keyword joined to a negated one is negated"

# --- dry run, non-empty target, force -----------------------------------------
expect_exit 0 "dry run" -- dh run generate_project -p spec="$T/shop.yaml" -p out="$T/dry" --dry-run --json
nothing_at "$T/dry" "dry run writes nothing"
expect_eq "$(result '.result.files | length')" "$(find "$T/shop" -type f | wc -l)" "dry run lists the files"

mkdir -p "$T/busy"
echo "mine" >"$T/busy/README.md"
expect_exit 2 "non-empty target refused" -- dh run generate_project -p spec="$T/shop.yaml" -p out="$T/busy"
expect_one_line_error "non-empty target"
expect_in "$ERR" "not empty" "the error says why"
expect_eq "$(ls "$T/busy")" "README.md" "nothing written into the non-empty target"
expect_exit 0 "force writes into it" -- dh run generate_project -p spec="$T/shop.yaml" -p out="$T/busy" -p force=true
force_run=$(last_run_id)
expect_exit 0 "rollback of the forced run" -- dh rollback "$force_run"
expect_eq "$(cat "$T/busy/README.md")" "mine" "rollback restores the replaced file"
expect_eq "$(find "$T/busy" | wc -l)" 2 "rollback leaves only what was there"

# --- rollback keeps an edited file ----------------------------------------------
expect_exit 0 "generate for rollback" -- dh run generate_project -p spec="$T/api.json" -p out="$T/rb"
rb_run=$(last_run_id)
dh show "$rb_run" --json | python3 -c 'import json,sys; print(json.load(sys.stdin).get("report", ""))' >"$T/report.before"
dh logs "$rb_run" >"$T/log.before"
echo "// my change" >>"$T/rb/README.md"
expect_exit 0 "rollback" -- dh rollback "$rb_run" --json
expect_eq "$(find "$T/rb" -type f)" "$T/rb/README.md" "rollback removes unchanged files, keeps the edited one"
expect_in "$OUT" "$T/rb/README.md" "rollback names the edited file"
expect_in "$ERR" "kept $T/rb/README.md: edited since it was generated" "rollback warns about the edited file"
expect_in "$OUT" "kept 1 edited" "rollback summary counts it"
expect_eq "$(result '.result.kept_edited[0].why')" "edited since it was generated" "rollback --json gives the plugin's data"
# The run's report and log outlive its rollback: the log goes on with the rollback's lines.
[ -s "$T/report.before" ] && ok "the run has a report" || not_ok "the run has no report to keep"
dh show "$rb_run" --json | python3 -c 'import json,sys; print(json.load(sys.stdin).get("report", ""))' >"$T/report.after"
expect_eq "$(cat "$T/report.after")" "$(cat "$T/report.before")" "show keeps the run's report after its rollback"
dh logs "$rb_run" >"$T/log.after"
expect_eq "$(head -n "$(wc -l <"$T/log.before")" "$T/log.after")" "$(cat "$T/log.before")" "logs keeps the run's lines first"
expect_in "$T/log.after" "rollback done" "and the rollback's after them"
expect_exit 0 "rollback again" -- dh rollback "$rb_run"
expect_eq "$(find "$T/rb" -type f)" "$T/rb/README.md" "second rollback changes nothing"
rm "$T/rb/README.md"
# Without --json, rollback prints the plugin's report (the kept files) before its summary.
expect_exit 0 "generate for a text rollback" -- dh run generate_project -p spec="$T/api.json" -p out="$T/rb2"
rb2_run=$(last_run_id)
echo "// my change" >>"$T/rb2/README.md"
expect_exit 0 "rollback, text" -- dh rollback "$rb2_run"
expect_in "$OUT" "Kept (edited after generation; delete them yourself if unwanted):" "rollback prints the plugin's report on stdout"
expect_in "$OUT" "  $T/rb2/README.md  (edited since it was generated)" "the report names the edited file"
rm -r "$T/rb2"
# A generated file swapped for a fifo: rollback keeps and names it, and ends
# (opening the fifo used to block it until the plugin's timeout).
expect_exit 0 "generate for a fifo rollback" -- dh run generate_project -p spec="$T/api.json" -p out="$T/rb3"
rb3_run=$(last_run_id)
rm "$T/rb3/README.md"
mkfifo "$T/rb3/README.md"
expect_exit 0 "rollback beside a fifo ends" -- timeout 20 "$DIHYA_HOST" rollback "$rb3_run"
expect_in "$ERR" "kept $T/rb3/README.md: replaced by something that is not a regular file" "rollback names the fifo"
[ -p "$T/rb3/README.md" ] && ok "the fifo is left in place" || not_ok "the fifo was removed"
expect_eq "$(find "$T/rb3" -type f | wc -l)" 0 "the other generated files are removed"
rm -r "$T/rb3"

# --- database templates override the bundled ones -----------------------------------
psql_q "create schema if not exists dihya;
create table if not exists dihya.templates (id bigserial primary key, name text not null unique, stack text not null,
  description text not null, tags text[] not null default '{}', current_version integer,
  created_at timestamptz not null default now(), updated_at timestamptz not null default now());
create table if not exists dihya.template_versions (template_id bigint not null references dihya.templates (id) on delete cascade,
  version integer not null check (version > 0), declared_version text not null, content jsonb not null, checksum text not null,
  run_id text, created_at timestamptz not null default now(), primary key (template_id, version));" >/dev/null
jq '.files["DB_MARKER.md"] = "from the database for {{project.name}}\n" | .version = "1.0.1"' \
  "$DIHYA_BUILD_DIR/plugins/generate_project/templates/project-base.json" >"$T/pb2.json"
psql -X -q -v ON_ERROR_STOP=1 "$DB_URL" -v content="$(cat "$T/pb2.json")" >/dev/null <<'EOF'
insert into dihya.templates (name, stack, description, current_version) values ('project-base', 'project', 'db copy', 2);
insert into dihya.template_versions (template_id, version, declared_version, content, checksum)
  select id, 2, '1.0.1', :'content'::jsonb, 'test' from dihya.templates where name = 'project-base';
EOF
expect_exit 0 "database revision overrides the bundled template" -- dh run generate_project -p spec="$T/api.json" -p out="$T/db" --json
expect_eq "$(result '.result.templates[0] | "\(.name) \(.source) \(.revision)"')" "project-base database 2" "template source and revision reported"
expect_eq "$(cat "$T/db/DB_MARKER.md" 2>/dev/null)" "from the database for Inventory" "the database revision was rendered"
expect_exit 0 "templates_from=bundled ignores the database" -- dh run generate_project -p spec="$T/api.json" -p out="$T/db2" -p templates_from=bundled
nothing_at "$T/db2/DB_MARKER.md" "bundled template used"
expect_exit 2 "templates_from=database needs every template there" -- dh run generate_project -p spec="$T/api.json" -p out="$T/db3" -p templates_from=database
expect_in "$ERR" "express-api" "the error names the missing template"
nothing_at "$T/db3" "nothing written"
# A required variable the spec does not give.
jq '.variables = {"licence": {"type": "string", "required": true}}' "$T/pb2.json" >"$T/pb5.json"
psql -X -q -v ON_ERROR_STOP=1 "$DB_URL" -v content="$(cat "$T/pb5.json")" >/dev/null <<'EOF'
insert into dihya.template_versions (template_id, version, declared_version, content, checksum)
  select id, 5, '1.0.5', :'content'::jsonb, 'test' from dihya.templates where name = 'project-base';
update dihya.templates set current_version = 5 where name = 'project-base';
EOF
expect_exit 2 "a required template variable missing" -- dh run generate_project -p spec="$T/api.json" -p out="$T/req"
expect_in "$ERR" "variables.licence" "the missing variable is named"
nothing_at "$T/req" "nothing written without a required variable"
# A database template writing a path another template writes: a collision.
jq '.files["express-api/server.js"] = "x"' "$T/pb2.json" >"$T/pb3.json"
psql -X -q -v ON_ERROR_STOP=1 "$DB_URL" -v content="$(cat "$T/pb3.json")" >/dev/null <<'EOF'
insert into dihya.template_versions (template_id, version, declared_version, content, checksum)
  select id, 3, '1.0.2', :'content'::jsonb, 'test' from dihya.templates where name = 'project-base';
update dihya.templates set current_version = 3 where name = 'project-base';
EOF
expect_exit 2 "two templates writing one file" -- dh run generate_project -p spec="$T/api.json" -p out="$T/clash"
expect_one_line_error "collision"
expect_in "$ERR" "already written by" "collision named"
nothing_at "$T/clash" "nothing written on a collision"
# An unsafe rendered path in a database template.
jq '.files["{{project.name}}/x"] = "x"' "$T/pb2.json" | jq '.files["{{project.name}}/x"] = "x"' >"$T/pb4.json"
psql -X -q -v ON_ERROR_STOP=1 "$DB_URL" -v content="$(cat "$T/pb4.json")" >/dev/null <<'EOF'
insert into dihya.template_versions (template_id, version, declared_version, content, checksum)
  select id, 4, '1.0.3', :'content'::jsonb, 'test' from dihya.templates where name = 'project-base';
update dihya.templates set current_version = 4 where name = 'project-base';
EOF
# A mustache error in a database template names the template and the entry.
jq '.files["BAD.md"] = "{{#project}} never closed"' "$T/pb2.json" >"$T/pb6.json"
psql -X -q -v ON_ERROR_STOP=1 "$DB_URL" -v content="$(cat "$T/pb6.json")" >/dev/null <<'EOF'
insert into dihya.template_versions (template_id, version, declared_version, content, checksum)
  select id, 6, '1.0.6', :'content'::jsonb, 'test' from dihya.templates where name = 'project-base';
update dihya.templates set current_version = 6 where name = 'project-base';
EOF
expect_exit 2 "a mustache error in a template" -- dh run generate_project -p spec="$T/api.json" -p out="$T/bad"
expect_in "$ERR" 'template project-base: files["BAD.md"]' "the render error names the template and the entry"
nothing_at "$T/bad" "nothing written on a render error"
# Sections nested five deep over 200 resources repeat their 100 bytes 200^5
# times (32 TB): rendering stops at the project's 512 MiB, in bounded memory
# (`bounded`, lib.sh) and quickly; the same template renders as before for a small spec.
jq --arg bomb "$(nest '{{#resources}}')$(printf 'X%.0s' {1..100})$(nest '{{/resources}}')" \
  '.files["BOMB.md"] = $bomb' "$T/pb2.json" >"$T/pb7.json"
psql -X -q -v ON_ERROR_STOP=1 "$DB_URL" -v content="$(cat "$T/pb7.json")" >/dev/null <<'EOF'
insert into dihya.template_versions (template_id, version, declared_version, content, checksum)
  select id, 7, '1.0.7', :'content'::jsonb, 'test' from dihya.templates where name = 'project-base';
update dihya.templates set current_version = 7 where name = 'project-base';
EOF
jq -n '{name: "Many", stack: "flask", resources: [range(200) | "thing\(.)"]}' >"$T/many.json"
expect_exit 2 "sections nested over 200 resources" -- bounded "$DIHYA_HOST" run generate_project -p spec="$T/many.json" -p out="$T/bomb"
expect_one_line_error "nested sections"
expect_in "$ERR" 'template project-base: files["BOMB.md"]: renders more than the 512 MiB a project may hold' "the error names the template, the file and the limit"
nothing_at "$T/bomb" "nothing written for nested sections"
expect_exit 2 "the same in a dry run" -- bounded "$DIHYA_HOST" run generate_project -p spec="$T/many.json" -p out="$T/bomb" --dry-run
expect_in "$ERR" "renders more than the 512 MiB" "the dry run refuses it too"
echo '{"name": "Few", "stack": "flask", "resources": ["apples", "pears"]}' >"$T/few.json"
expect_exit 0 "the nested template with two resources" -- dh run generate_project -p spec="$T/few.json" -p out="$T/few"
expect_eq "$(wc -c <"$T/few/BOMB.md" 2>/dev/null)" 3200 "two resources: 2^5 copies of the text"
# The same nesting without text: nothing to write, but 200^5 walks.
jq --arg bomb "$(nest '{{#resources}}')$(nest '{{/resources}}')" '.files["BOMB.md"] = $bomb' "$T/pb2.json" >"$T/pb8.json"
psql -X -q -v ON_ERROR_STOP=1 "$DB_URL" -v content="$(cat "$T/pb8.json")" >/dev/null <<'EOF'
insert into dihya.template_versions (template_id, version, declared_version, content, checksum)
  select id, 8, '1.0.8', :'content'::jsonb, 'test' from dihya.templates where name = 'project-base';
update dihya.templates set current_version = 8 where name = 'project-base';
EOF
expect_exit 2 "empty sections nested over 200 resources" -- bounded "$DIHYA_HOST" run generate_project -p spec="$T/many.json" -p out="$T/bomb"
expect_in "$ERR" 'files["BOMB.md"]: the project takes more than' "the error names the file and the step limit"
psql_q "update dihya.templates set current_version = 4 where name = 'project-base'" >/dev/null
echo '{"name": "..", "stacks": ["flask"]}' >"$T/dots.json"
expect_exit 2 "a rendered path leaving the target" -- dh run generate_project -p spec="$T/dots.json" -p out="$T/dots"
expect_in "$ERR" "rendered path" "unsafe rendered path named"
nothing_at "$T/dots" "nothing written for an unsafe rendered path"
psql_q "set client_min_messages = warning; drop schema dihya cascade" >/dev/null

# The same through import_templates, when it is built: the packed bundled
# templates are importable as they are, and a newer import wins.
if [ -f "$DIHYA_BUNDLED_PLUGIN_DIR/libimport_templates.so" ]; then
  expect_exit 0 "the packed bundled templates import" -- dh run import_templates -p path="$DIHYA_BUILD_DIR/plugins/generate_project/templates" --yes
  expect_exit 0 "generate from the imported templates only" -- dh run generate_project -p spec="$T/api.json" -p out="$T/imp" -p templates_from=database --json
  expect_eq "$(result '[.result.templates[] | "\(.source)/\(.revision)"] | unique | join(",")')" "database/1" "every template came from the database"
  imported=$(result '[.result.templates[].checksum] | join(",")')
  expect_exit 0 "the same from the bundled copies" -- dh run generate_project -p spec="$T/api.json" -p out="$T/imp2" -p templates_from=bundled --dry-run --json
  expect_eq "$(result '[.result.templates[].checksum] | join(",")')" "$imported" "imported and bundled templates have the same checksum"
  cp "$T/pb2.json" "$T/project-base.json"
  expect_exit 0 "import a new revision of project-base" -- dh run import_templates -p path="$T/project-base.json" --yes
  expect_exit 0 "generate after the import" -- dh run generate_project -p spec="$T/api.json" -p out="$T/imp3" --json
  expect_eq "$(result '.result.templates[0] | "\(.source) \(.revision)"')" "database 2" "the new revision is used"
  expect_eq "$(cat "$T/imp3/DB_MARKER.md" 2>/dev/null)" "from the database for Inventory" "the imported revision was rendered"
  psql_q "set client_min_messages = warning; drop schema dihya cascade" >/dev/null
else
  echo "skip import_templates round trip: libimport_templates.so is not built"
fi

# --- a path with an escape character is shown escaped, never raw -------------------
esc_out="$T/esc"$'\x1b'"[31m"
expect_exit 0 "a target whose name holds an escape character" -- dh run generate_project -p text="Flask API with users" -p out="$esc_out"
expect_in "$OUT" 'esc\x1b[31m' "the summary shows it escaped"
expect_not_in "$OUT" $'\x1b' "the summary holds no raw escape character"
expect_exit 0 "history" -- dh history
expect_in "$OUT" 'esc\x1b[31m' "history shows it escaped"
expect_not_in "$OUT" $'\x1b' "history holds no raw escape character"

# --- words whose plural is themselves, and singulars ending in s ---------------------
# "news" was put in the plural as "newses" and its struct named "Newse".
printf 'name: Words\nstacks: [flask, express, solidity]\nresources: [news, series, species, gas, lens, status]\n' >"$T/words.yaml"
expect_exit 0 "resources news, series, species, gas, lens, status" -- dh run generate_project -p spec="$T/words.yaml" -p out="$T/words" --json
expect_eq "$(result '.result.spec.resources | map(.name) | join(",")')" "news,series,species,gases,lenses,statuses" \
  "news, series and species are their own plural"
expect_in "$T/words/blockchain/contracts/Registry.sol" "struct NewsItemInput" "a word that is its own plural gets an _item singular"
for class in SeriesItem SpeciesItem Gas Lens Status; do
  expect_in "$T/words/blockchain/contracts/Registry.sol" "struct ${class}Input" "singular class $class"
done
expect_not_in "$T/words/blockchain/contracts/Registry.sol" "Newse" "no Newse"
expect_not_in "$T/words/express-api/src/app.js" "newses" "no newses"

# --- Kubernetes names: DNS-1035 labels of at most 63 characters -----------------------
# The slug was capped at 63 and the templates append "-express-api": 66.
k8s_names() {  # k8s_names DIR: every metadata.name and secretKeyRef.name, one a line
  /usr/bin/python3 - "$1" <<'PY'
import pathlib, sys, yaml
def walk(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("metadata", "secretKeyRef") and isinstance(value, dict) and "name" in value:
                print(value["name"])
            walk(value)
    elif isinstance(node, list):
        for value in node:
            walk(value)
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.yaml")):
    for doc in yaml.safe_load_all(path.read_text()):
        walk(doc)
PY
}
k8s_name_check() {  # k8s_name_check LABEL NAME
  jq -n --arg name "$2" '{name: $name, stacks: ["flask", "express", "spa"], features: {kubernetes: true, auth: "jwt"}}' >"$T/k8s.json"
  rm -rf "$T/k8s"
  expect_exit 0 "kubernetes manifests, $1" -- dh run generate_project -p spec="$T/k8s.json" -p out="$T/k8s"
  k8s_names "$T/k8s/k8s" >"$T/k8s-names"
  expect_in "$T/k8s-names" "-express-api" "$1: the express-api Service is there"
  bad=$(grep -vcE '^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$' "$T/k8s-names" || true)
  expect_eq "$bad" 0 "$1: every Kubernetes name is a DNS-1035 label of at most 63 ($(awk '{ if (length($0) > m) m = length($0) } END { print "longest " m }' "$T/k8s-names"))"
}
k8s_name_check "six words, 64 characters" 'Abcdefghij Abcdefghij Abcdefghij Abcdefghij Abcdefghij Abcdefghi'
k8s_name_check "one 64-letter word" "$(printf 'x%.0s' {1..64})"
k8s_name_check "one 64-character word starting with a digit" "7$(printf 'y%.0s' {1..63})"

# --- hostile specs: exit 2, one line, nothing written ------------------------------
hostile() {  # hostile NAME PARAM=VALUE TEXT_IN_ERROR
  expect_exit 2 "hostile: $1" -- dh run generate_project -p "$2" -p out="$T/hostile"
  expect_one_line_error "hostile: $1"
  expect_in "$ERR" "$3" "hostile: $1: clear error"
  nothing_at "$T/hostile" "hostile: $1: nothing written"
}
python3 -c 'print("{\"name\": \"x\", \"stacks\": [\"flask\"], \"features\": " + "[" * 200 + "]" * 200 + "}")' >"$T/deep.json"
hostile "deep JSON nesting" spec="$T/deep.json" "nested more than"
python3 -c '
print("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]")
for i in range(1, 10): print(f"{chr(97+i)}: &{chr(97+i)} [*{chr(96+i)},*{chr(96+i)},*{chr(96+i)},*{chr(96+i)},*{chr(96+i)},*{chr(96+i)},*{chr(96+i)},*{chr(96+i)},*{chr(96+i)}]")
print("name: bomb\nstacks: [flask]\nresources: *j")' >"$T/laughs.yaml"
hostile "billion laughs YAML" spec="$T/laughs.yaml" "alias bomb"
python3 -c 'print("name: x\nstacks: [flask]\nfeatures: " + "[" * 300 + "]" * 300)' >"$T/deep.yaml"
hostile "deep YAML nesting" spec="$T/deep.yaml" "nested"
python3 -c 'print("name: " + "x" * 100000 + "\nstacks: [flask]")' >"$T/huge.yaml"
hostile "huge name" spec="$T/huge.yaml" "longer than"
printf 'name: "caf\xe9"\nstacks: [flask]\n' >"$T/latin1.yaml"
hostile "invalid UTF-8 YAML" spec="$T/latin1.yaml" "UTF-8"
printf 'Une API Flask avec des produits \xff\xfe' >"$T/bad.txt"
hostile "invalid UTF-8 text" text_file="$T/bad.txt" "UTF-8"
printf '{"name": "x", "stacks": ["flask"], "resources": ["../../etc/passwd"]}' >"$T/dotdot.json"
hostile "../ resource name" spec="$T/dotdot.json" "only letters, digits"
printf '{"name": "x", "stacks": ["flask"], "resources": [{"name": "a", "fields": ["b/../../c"]}]}' >"$T/dotdot2.json"
hostile "../ field name" spec="$T/dotdot2.json" "only letters, digits"
printf '{"name": "x", "stacks": ["cobol"]}' >"$T/cobol.json"
hostile "unknown stack" spec="$T/cobol.json" "unknown stack"
printf '{"name": "x", "stacks": ["flask"], "resources": ["user", "users"]}' >"$T/dup.json"
hostile "duplicate resources" spec="$T/dup.json" "same resource"
# Two tables but one singular: struct PersonInput and createPerson were declared twice.
printf 'name: Dup\nstacks: [flask, solidity]\nresources: [people, persons, indices, indexes, news, series]\n' >"$T/dup-singular.yaml"
hostile "people and persons" spec="$T/dup-singular.yaml" 'resources[1]: "persons" and "people" would both be "person" in the generated code'
printf 'name: Dup\nstacks: [flask, solidity]\nresources: [indices, indexes]\n' >"$T/dup-index.yaml"
hostile "indices and indexes" spec="$T/dup-index.yaml" '"indexes" and "indices" would both be "index"'
printf 'name: Dup\nstacks: [solidity]\nresources: [news, news_items]\n' >"$T/dup-item.yaml"
hostile "news and news_items" spec="$T/dup-item.yaml" '"news_items" and "news" would both be "news_item"'
python3 -c 'import json; print(json.dumps({"name": "x", "stacks": ["flask"], "resources": ["r%d" % i for i in range(201)]}))' >"$T/many.json"
hostile "more than 200 resources" spec="$T/many.json" "more than 200"
printf '{"name": "x", "stacks": ["flask"], "templates": {"express": "flask-api"}, "stack": ["flask", "express"]}' >"$T/clash.json"
hostile "template collision" spec="$T/clash.json" "already written by"
printf '{"name": "x", "stacks": ["flask"], "rm -rf": 1}' >"$T/key.json"
hostile "unknown key" spec="$T/key.json" "unknown key"
printf '{"name": "x", "stacks": 888e88888888888}' >"$T/bignum.json"
hostile "JSON number too large" spec="$T/bignum.json" "a number is too large"
printf '{"name": "x", "stacks": ["flask"], "features": {"a\\nb\\u001b[31m": true}}' >"$T/keys.json"
hostile "control characters in a key" spec="$T/keys.json" "features"
expect_not_in "$ERR" $'\x1b' "hostile: control characters in a key: no raw escape character"
hostile "nonexistent spec" spec="$T/nope.yaml" "not a readable file"
mkdir -p "$T/sym/flask-api" "$T/elsewhere"
ln -s "$T/elsewhere" "$T/sym/flask-api/tests"
expect_exit 2 "a symlink inside the target is refused, even with force" -- dh run generate_project -p text="Flask API with users" -p out="$T/sym" -p force=true
expect_in "$ERR" "symbolic link" "the symlink is named"
expect_eq "$(ls -A "$T/elsewhere")" "" "nothing written through the symlink"
ln -s "$T/elsewhere" "$T/link-out"
expect_exit 2 "out itself a symlink" -- dh run generate_project -p text="Flask API with users" -p out="$T/link-out"
expect_exit 2 "out itself a symlink, with a trailing slash" -- dh run generate_project -p text="Flask API with users" -p out="$T/link-out/"
expect_in "$ERR" "out: $T/link-out is a symbolic link" "a trailing slash: the link is named"
expect_exit 2 "out itself a symlink, with trailing slashes" -- dh run generate_project -p text="Flask API with users" -p out="$T/link-out//"
expect_eq "$(ls -A "$T/elsewhere")" "" "nothing written through the symlink given with a trailing slash"
# Solidity reserves more than its keywords: every sized type name (int8..uint256
# by 8, bytes1..32, (u)fixedMxN), assembly, unicode. solc is not installed: the
# field names of the contract carry the suffix.
printf 'name: Sol\nstacks: [solidity]\nresources:\n  - name: parts\n    fields: [assembly, uint8, int8, bytes32, uint128, int64, ufixed128x18, fixed8x0, unicode, error, uint7, bytes33, int264, integer]\n' >"$T/sol.yaml"
expect_exit 0 "Solidity reserved field names" -- dh run generate_project -p spec="$T/sol.yaml" -p out="$T/sol" -p templates_from=bundled --json
expect_eq "$(result '.result.spec.resources[0].fields | map(.name) | join(",")')" "assembly_,uint8_,int8_,bytes32_,uint128_,int64_,ufixed128x18_,fixed8x0_,unicode_,error_,uint7,bytes33,int264,integer" "Solidity: sized type names and keywords get a suffix, look-alikes do not"
expect_eq "$(grep -cE '^ +string (assembly|uint8|int8|bytes32|uint128|int64|ufixed128x18|fixed8x0|unicode|error);' "$T/sol/blockchain/contracts/Registry.sol")" "0" "Solidity: no reserved word as a field of the contract"
expect_in "$T/sol/blockchain/contracts/Registry.sol" "string ufixed128x18_;" "Solidity: the contract declares the suffixed field"
# A dangling link on the way to a new out: refused before the run (it was
# exit 5, "rolled_back: cannot create", once mkdir failed); a link to a
# directory on the way is where the new target is made.
ln -s "$T/nowhere" "$T/dangling"
expect_exit 2 "a dangling symlink in out's path" -- dh run generate_project -p text="Flask API with users" -p out="$T/dangling/sub"
expect_one_line_error "a dangling symlink in out's path"
expect_in "$ERR" "out: $T/dangling is a symbolic link to nothing" "the dangling link is named"
nothing_at "$T/nowhere" "nothing made where the dangling link points"
mkdir -p "$T/linked"
ln -s "$T/linked" "$T/dir-link"
expect_exit 0 "a symlink to a directory in out's path" -- dh run generate_project -p text="Flask API with users" -p out="$T/dir-link/sub"
[ -f "$T/linked/sub/README.md" ] && ok "the project is made in the linked directory" || not_ok "no README.md under $T/linked/sub"
# A second of silence: an empty transcription is exit 2 (the spoken path is
# tested in full by test_spoken_specs.sh).
/usr/bin/python3 -c 'import sys, wave; o = wave.open(sys.argv[1], "wb"); o.setnchannels(1); o.setsampwidth(2); o.setframerate(16000); o.writeframes(bytes(32000)); o.close()' "$T/silence.wav"
expect_exit 2 "audio: silence" -- dh run generate_project -p audio="$T/silence.wav" -p out="$T/audio"
expect_in "$ERR" "transcription is empty" "audio: empty transcription refused"
nothing_at "$T/audio" "audio: nothing written"
expect_exit 2 "a text without words" -- dh run generate_project -p text=".,;" -p out="$T/nowords"
expect_in "$ERR" "no words" "the empty text is named"
expect_exit 2 "two spec sources" -- dh run generate_project -p text="Flask API" -p spec="$T/api.json" -p out="$T/two"

# --- conformance kit: dry run changes nothing, run -> rollback restores ---------------
mkdir -p "$T/exercise"
( cd "$T/exercise" && "$DIHYA_HOST" check generate_project --exercise ) >"$OUT" 2>"$ERR" && got=0 || got=$?
expect_eq "$got" 0 "check --exercise passes"
expect_eq "$(ls -A "$T/exercise")" "" "the exercise leaves nothing behind"

finish
