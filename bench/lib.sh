# SPDX-License-Identifier: AGPL-3.0-or-later
# Shared by the plugin benchmarks: the built host and bundled plugins, a private
# work dir and dihya-host state, and a private PostgreSQL cluster stopped on exit.
#   source "$(dirname "$0")/lib.sh"; bench_setup <plugin>; bench_start_pg
# Env: DIHYA_HOST, DIHYA_BUNDLED_PLUGIN_DIR (default: build/default), KEEP_BENCH=1
# keeps the work dir, OUT (default: the work dir) receives results.md.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

bench_cleanup() {
  "$root/tests/fixtures/pg_cluster.sh" stop "$work/pg" >/dev/null 2>&1 || true
  [[ "${KEEP_BENCH:-0}" == 1 ]] || rm -rf "$work" "$host_dirs"
}

# bench_setup PLUGIN: sets host, plugins, work, OUT and the private dihya-host
# environment. The host's state, cache and config dirs are not in the work
# dir: a plugin may not be granted a directory that holds the state dir, and
# the benchmarks give plugins paths in the work dir (backup_db's backup_dir).
bench_setup() {
  local plugin=$1
  host=${DIHYA_HOST:-$root/build/default/host/dihya-host}
  plugins=${DIHYA_BUNDLED_PLUGIN_DIR:-$root/build/default/plugins}
  [[ -x "$host" ]] || { echo "no dihya-host at $host: build first or set DIHYA_HOST" >&2; exit 2; }
  [[ -f "$plugins/lib$plugin.so" ]] || { echo "no lib$plugin.so in $plugins: set DIHYA_BUNDLED_PLUGIN_DIR" >&2; exit 2; }
  work=$(mktemp -d "/tmp/dihya-bench-$plugin.XXXXXX")
  chmod 755 "$work"
  OUT=${OUT:-$work}
  host_dirs=$(mktemp -d "/tmp/dihya-bench-host.XXXXXX")
  trap bench_cleanup EXIT
  export DIHYA_STATE_DIR="$host_dirs/state" DIHYA_CACHE_DIR="$host_dirs/cache" XDG_CONFIG_HOME="$host_dirs/config"
  export DIHYA_SYSTEM_CONFIG="$host_dirs/none.yaml" DIHYA_PLUGIN_PATH="$plugins"
  unset DIHYA_DATABASE_URL
}

# bench_start_pg: a throwaway cluster in $work/pg; sets url and DIHYA_DATABASE_URL.
bench_start_pg() {
  "$root/tests/fixtures/pg_cluster.sh" start "$work/pg" >/dev/null
  url=$(cat "$work/pg/url")
  export DIHYA_DATABASE_URL="$url"
}
