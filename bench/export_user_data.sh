#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# export_user_data against its anchor, side by side in one run, in a private
# PostgreSQL cluster: the export of one user owning ROWS rows of an events
# table (plus the platform seed) vs `psql -c "\copy (same query) to file"`.
# Ours writes a JSON and a CSV file per table, SHA-256s them and packs them
# into an archive, so it is compared with one \copy (JSON) and with two
# (JSON + CSV). Prints a Markdown table (also in $OUT/results.md).
#
#   bench/export_user_data.sh [ROWS] [RUNS]      defaults: 1000000, 3
# Env: DIHYA_HOST, DIHYA_BUNDLED_PLUGIN_DIR (default build/default/plugins), KEEP_BENCH=1.
set -euo pipefail
rows=${1:-1000000}
runs=${2:-3}
source "$(dirname "$0")/lib.sh"
bench_setup export_user_data
bench_start_pg
"$root/tests/fixtures/platform/seed.sh" --database-url "$url" --users 1000 2>/dev/null
psql -X -q -v ON_ERROR_STOP=1 "$url" -c "
  create table events (id bigserial primary key, user_id bigint not null references users (id), kind text not null,
                       payload jsonb, amount numeric(12, 2), at timestamptz not null);
  insert into events (user_id, kind, payload, amount, at)
    select 3, 'click', jsonb_build_object('n', g, 'path', '/p/' || g), g / 100.0, '2026-01-01'::timestamptz + g * interval '1 second'
    from generate_series(1, $rows) g;
  create index on events (user_id)" -c "vacuum analyze"
q="SELECT t.id, t.user_id, t.kind, t.payload, t.amount, t.at FROM public.events t WHERE t.user_id = 3 ORDER BY t.id"
cat >"$work/copy_json.sh" <<SH
psql -X -q "$url" -c "SET TimeZone = 'UTC'" -c "\\copy (SELECT row_to_json(x)::text FROM ($q) x) to '$work/copy.json'"
SH
cat >"$work/copy_both.sh" <<SH
psql -X -q "$url" -c "SET TimeZone = 'UTC'" -c "\\copy (SELECT row_to_json(x)::text FROM ($q) x) to '$work/copy.json'" \
  -c "\\copy ($q) to '$work/copy.csv' csv header"
SH
hyperfine --runs "$runs" --export-json "$work/h.json" \
  -n "ours zip" --prepare "rm -f $work/o.zip" "$host run export_user_data -q -p user=3 -p output=$work/o.zip" \
  -n "ours tar.zst" --prepare "rm -f $work/o.tar.zst" "$host run export_user_data -q -p user=3 -p format=tar.zst -p output=$work/o.tar.zst" \
  -n "psql \\copy JSON" --prepare "rm -f $work/copy.json" "sh $work/copy_json.sh" \
  -n "psql \\copy JSON + CSV" --prepare "rm -f $work/copy.json $work/copy.csv" "sh $work/copy_both.sh" >&2
/usr/bin/python3 - "$work/h.json" "$rows" <<'PY' | tee "$OUT/results.md"
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
rows = int(sys.argv[2])
print("| export of one user's %d rows (+ seed tables) | median s | rows/s | throughput vs \\copy JSON | vs \\copy JSON + CSV |" % rows)
print("|---|---:|---:|---:|---:|")
for name in ["ours zip", "ours tar.zst", "psql \\copy JSON", "psql \\copy JSON + CSV"]:
    t = r[name]
    print("| %s | %.2f | %.0f | %.2f× | %.2f× |" % (name, t, rows / t, r["psql \\copy JSON"] / t, r["psql \\copy JSON + CSV"] / t))
PY
