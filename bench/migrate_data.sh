#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# migrate_data against bare psql, side by side in one run, in a private
# PostgreSQL cluster:
#   schema    `migrate_data up` of N small SQL migrations (checksums, lock,
#             journal, one transaction + history row each)  vs  one psql session
#             running the same files, each in BEGIN/COMMIT with a history insert
#   backfill  `migrate_data up` of a .data.json backfill of ROWS rows in resumable
#             keyset batches of BATCH  vs  one bare `UPDATE` statement in psql
# Prints a Markdown table with ratios (ours / anchor), also in $OUT/results.md.
#
#   bench/migrate_data.sh [MIGRATIONS] [ROWS] [BATCH] [RUNS]
#     defaults: 100 migrations, 500000 rows, batches of 10000, 5 runs
# Env: DIHYA_HOST, DIHYA_BUNDLED_PLUGIN_DIR (default: build/default), KEEP_BENCH=1 keeps the work dir.
set -euo pipefail
count=${1:-100}
rows=${2:-500000}
batch=${3:-10000}
runs=${4:-5}
source "$(dirname "$0")/lib.sh"
bench_setup migrate_data
bench_start_pg

# N schema migrations: a table with an index and a comment each.
mkdir -p "$work/schema"
echo "create table if not exists anchor_history (version text primary key, checksum text, applied_at timestamptz default clock_timestamp());" \
  >"$work/anchor_schema.sql"
for i in $(seq 1 "$count"); do
  f="$work/schema/V${i}__table_$i.up.sql"
  {
    echo "create table bench.t_$i (id bigserial primary key, name text not null, created_at timestamptz not null default now(), payload jsonb);"
    echo "create index t_${i}_created_at_idx on bench.t_$i (created_at);"
    echo "comment on table bench.t_$i is 'migration $i';"
  } >"$f"
  printf 'begin;\n\\i %s\ninsert into anchor_history (version, checksum) values (%s, %s);\ncommit;\n' \
    "$f" "'$i'" "'$(sha256sum "$f" | cut -d' ' -f1)'" >>"$work/anchor_schema.sql"
done
# hyperfine -N runs no shell: the preparations live in small scripts.
{
  echo "#!/bin/sh"
  echo "psql -X -q -v ON_ERROR_STOP=1 '$url' -c 'set client_min_messages = warning' -c 'drop schema if exists bench cascade' \\"
  echo "  -c 'create schema bench' -c 'drop table if exists anchor_history, dihya_schema_history, dihya_schema_history_progress' >/dev/null"
} >"$work/reset_schema.sh"

# The backfill: ROWS rows, v2 computed from v.
mkdir -p "$work/backfill"
echo "{\"table\": \"big\", \"key\": \"id\", \"set\": {\"v2\": \"md5(v)\"}, \"batch_size\": $batch}" \
  >"$work/backfill/V1__backfill.data.json"
{
  echo "#!/bin/sh"
  echo "psql -X -q -v ON_ERROR_STOP=1 '$url' -c 'set client_min_messages = warning' \\"
  echo "  -c 'drop table if exists big, dihya_schema_history, dihya_schema_history_progress' \\"
  echo "  -c 'create table big (id bigint primary key, v text not null, v2 text)' \\"
  echo "  -c 'insert into big (id, v) select g, g::text from generate_series(1, $rows) g' -c 'vacuum analyze big' >/dev/null"
} >"$work/reset_backfill.sh"
chmod +x "$work/reset_schema.sh" "$work/reset_backfill.sh"

hyperfine -N --runs "$runs" --export-json "$work/schema.json" --prepare "$work/reset_schema.sh" \
  -n "migrate_data up ($count migrations)" "$host run migrate_data -p mode=up -p migrations_dir=$work/schema --yes -q" \
  -n "psql, one transaction + history row per file" "psql -X -q -v ON_ERROR_STOP=1 $url -f $work/anchor_schema.sql" >&2
hyperfine -N --runs "$runs" --export-json "$work/backfill.json" --prepare "$work/reset_backfill.sh" \
  -n "migrate_data up (backfill)" "$host run migrate_data -p mode=up -p migrations_dir=$work/backfill --yes -q" \
  -n "psql, one UPDATE" "psql -X -q -v ON_ERROR_STOP=1 $url -c 'update big set v2 = md5(v)'" >&2

python3 - "$work" "$count" "$rows" "$batch" <<'PY' | tee "$OUT/results.md"
import json, sys
work, count, rows, batch = sys.argv[1:]
def means(name):
    return [r["mean"] for r in json.load(open(f"{work}/{name}.json"))["results"]]
print("| benchmark | ours | anchor | ratio (ours / anchor) |")
print("|---|---|---|---|")
ours, anchor = means("schema")
print(f"| up of {count} SQL migrations vs psql running them (BEGIN/COMMIT + history insert each) | {ours*1e3:.0f} ms | {anchor*1e3:.0f} ms | {ours/anchor:.2f}x |")
ours, anchor = means("backfill")
print(f"| backfill of {int(rows):,} rows in resumable batches of {int(batch):,} vs one bare UPDATE | {ours*1e3:.0f} ms | {anchor*1e3:.0f} ms | {ours/anchor:.2f}x |")
PY
