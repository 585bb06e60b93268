#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# The main job, from a fresh clone: install what is missing, build, install the
# SDK and build the example plugin against it, start the embedded PostgreSQL,
# load the Dihya platform schema with seed data, then list and run plugins:
# the example, backup_db backing up the embedded database, import_templates and
# generate_project making a project from a plain-text spec.
# Idempotent and quick on the second call.
set -euo pipefail
cd "$(dirname "$0")/.."
# Plugin files and directories must not be group- or world-writable to be loaded.
umask 022
root=$(pwd)
./scripts/build.sh default

# The example is built out of tree, against the installed SDK, as a plugin author would.
prefix="$root/build/sdk-prefix"
cmake --install build/default --prefix "$prefix" >/dev/null
if [ ! -f build/example/build.ninja ]; then
  cmake -S examples/hello_plugin -B build/example -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
fi
cmake --build build/example >/dev/null

export DIHYA_PLUGIN_PATH="$root/build/example:$root/build/default/plugins"
host="$root/build/default/host/dihya-host"
set -x
"$host" db start
"$root/tests/fixtures/platform/seed.sh" --database-url "$("$host" db url)" --users 1000
"$host" list
"$host" info hello
"$host" check "$root/build/example/libhello.so"
"$host" run hello --param name=Dihya --param times=2
# What the plugins write goes under build/demo: a dir of its own, since no plugin may be
# granted write on one that holds the host's plugin dirs or binary (build/default).
demo="$root/build/demo"
mkdir -p "$demo"
# A bundled plugin on the embedded database: back it up, prove the backup readable, list backups.
"$host" run backup_db --param mode=backup --param backup_dir="$demo/backups"
"$host" run backup_db --param mode=verify --param backup_dir="$demo/backups"
"$host" run backup_db --param mode=prune --param keep_last=3 --param backup_dir="$demo/backups" --yes
"$host" run backup_db --param mode=list --param backup_dir="$demo/backups"
# The platform's own job: templates into the database, then a project from a plain-text spec,
# rendered from those templates, and the generated project's own tests.
"$host" run import_templates --param path="$prefix/share/dihya/templates" --yes
rm -rf "$demo/project"
"$host" run generate_project --param out="$demo/project" \
  --param text="Une API Flask nommée Boutique avec des utilisateurs et des produits, authentification JWT, PostgreSQL"
make -s -C "$demo/project" test PYTHON=/usr/bin/python3   # Debian's Python has Flask and pytest
"$host" schedule next --cron "30 2 * * *" --tz Europe/Paris --count 3
"$host" history --limit 5
"$host" audit verify
