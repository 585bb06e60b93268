#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Cost of the plugin sandbox per run (no_new_privs, the Landlock ruleset of
# the runtime and the run's dirs, the seccomp filter): the same command with
# `sandbox: require` and with `sandbox: off`, in interleaved pairs so that
# load changes hit both alike; medians of each and of the per-pair difference.
# `validate noop` forks the supervised child like `run` but writes no record
# or audit line, whose fsyncs would drown a sub-millisecond difference; `run
# noop` (state dir on tmpfs) is measured too. Wall time and CPU time (user +
# system of the host and its child, from wait4): CPU time stays readable when
# the machine is loaded.
#   bench/sandbox.sh [PAIRS]     needs a built default preset (scripts/build.sh default all)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pairs=${1:-200}
host=${DIHYA_HOST:-$root/build/default/host/dihya-host}
work=$(mktemp -d /dev/shm/dihya-bench-sandbox.XXXXXX 2>/dev/null || mktemp -d /tmp/dihya-bench-sandbox.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
export DIHYA_STATE_DIR="$work/state" DIHYA_CACHE_DIR="$work/cache" XDG_CONFIG_HOME="$work/config"
export DIHYA_SYSTEM_CONFIG="$work/none.yaml" DIHYA_PLUGIN_PATH="$root/build/default/tests/plugins"
printf 'sandbox: require\n' >"$work/require.yaml"
printf 'sandbox: off\n' >"$work/off.yaml"
"$host" --config "$work/require.yaml" run noop --json | python3 -c 'import json,sys; print("sandbox:", json.load(sys.stdin)["sandbox"]["summary"])'

python3 - "$host" "$work" "$pairs" <<'PY'
import os, statistics, sys, time
host, work, pairs = sys.argv[1], sys.argv[2], int(sys.argv[3])
devnull = os.open(os.devnull, os.O_WRONLY)
def once(config, *args):
    """Wall time and CPU time (user + system of the host and its plugin child) in ms."""
    t = time.perf_counter()
    pid = os.posix_spawn(host, [host, "--config", f"{work}/{config}.yaml", *args], os.environ,
                         file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1)])
    _, status, usage = os.wait4(pid, 0)
    wall = (time.perf_counter() - t) * 1000
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{args} failed with sandbox {config}")
    return wall, (usage.ru_utime + usage.ru_stime) * 1000
for label, args in (("validate noop", ["validate", "noop"]), ("run noop (tmpfs state)", ["run", "noop"])):
    for _ in range(10):
        once("require", *args); once("off", *args)
    rows = {"wall": ([], [], []), "cpu": ([], [], [])}
    for i in range(pairs):
        # Alternate which goes first: neither always gets the warmer cache.
        if i % 2:
            a = once("require", *args); b = once("off", *args)
        else:
            b = once("off", *args); a = once("require", *args)
        for k, j in (("wall", 0), ("cpu", 1)):
            on, off, diff = rows[k]
            on.append(a[j]); off.append(b[j]); diff.append(a[j] - b[j])
    for k, (on, off, diff) in rows.items():
        m_on, m_off, m_diff = statistics.median(on), statistics.median(off), statistics.median(diff)
        print(f"| sandbox setup, {label}, {k} time ({pairs} interleaved pairs) | {m_diff:.2f} ms "
              f"(require {m_on:.2f} - off {m_off:.2f} ms) | target 1 ms | {m_on / m_off:.2f}x of off |")
PY
