#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Runs every benchmark side by side with its anchor and prints a Markdown
# table with ratios (also written to build/bench/results.md).
#   bench/run.sh            builds the default preset with its test plugins first
#   bench/run.sh run        only the pair rows (run noop vs the floor and vs
#                           the confined floor, the confined floor vs the
#                           floor, --version vs the bare loader): about a minute
#   BENCH_PAIRS=N           pairs per row (21)
set -euo pipefail
mode=${1:-all}
cd "$(dirname "$0")/.."
root=$(pwd)
./scripts/build.sh default all >/dev/null
cmake --build build/default --target bench_programs >/dev/null
b="$root/build/default"
out="$root/build/bench"
rm -rf "$out"
mkdir -p "$out"
chmod 755 "$out"
export DIHYA_STATE_DIR="$out/state" DIHYA_CACHE_DIR="$out/cache" XDG_CONFIG_HOME="$out/config"
export DIHYA_SYSTEM_CONFIG="$out/none.yaml" DIHYA_PLUGIN_PATH="$b/tests/plugins"
unset DIHYA_DATABASE_URL
host="$b/host/dihya-host"
noop="$b/tests/plugins/libnoop.so"

if [ "$mode" != run ]; then
hyperfine -N --warmup 20 --runs 200 --export-json "$out/run.json" \
  -n "dihya-host run noop" "$host run noop -q" \
  -n "dihya-host run noop, state on tmpfs" "env DIHYA_STATE_DIR=/dev/shm/dihya-bench-state $host run noop -q" \
  -n "bare dlopen loader" "$b/bench/bare_loader $noop" \
  -n "python3 -c 'import sys'" "/usr/bin/python3 -c 'import sys'" >/dev/null

mkdir -p "$out/many"
for i in $(seq -w 1 1000); do
  cp "$b/tests/plugins/libecho_params.so" "$out/many/libplugin_$i.so"
done
chmod -R go-w "$out/many"
hyperfine -N --warmup 3 --runs 30 --export-json "$out/list.json" \
  --prepare "sh -c 'rm -f $out/cache/plugin-metadata-*.json'" -n "list 1000, cold cache" "$host --plugin-path $out/many list --json" \
  >/dev/null
"$host" --plugin-path "$out/many" list >/dev/null
hyperfine -N --warmup 3 --runs 30 --export-json "$out/list_warm.json" \
  -n "list 1000, warm cache" "$host --plugin-path $out/many list --json" >/dev/null

"$b/bench/journal_bench" 2000 >"$out/journal.json"
rm -rf /dev/shm/dihya-bench-state
fi

# Interleaved pairs (A, B, A, B...): both sides see the same machine load;
# medians, and the median of the per-pair ratios.
pairs() {  # pairs NAME N -- A... -- B...
  python3 - "$@" <<'PY'
import json, os, statistics, sys, time
name, n = sys.argv[1], int(sys.argv[2])
rest = sys.argv[4:]
cut = rest.index("--")
a, b = rest[:cut], rest[cut + 1:]
devnull = os.open(os.devnull, os.O_WRONLY)
# Wall time, and CPU time (user + system of the process and the children it
# waited for, from wait4): on a shared machine the wall ratio moves with the
# load and the disk, the CPU ratio much less.
def once(cmd):
    t = time.perf_counter()
    pid = os.posix_spawn(cmd[0], cmd, os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)])
    _, status, usage = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(cmd)} failed")
    return time.perf_counter() - t, usage.ru_utime + usage.ru_stime, usage.ru_minflt
for _ in range(3): once(a); once(b)
ta, tb, ca, cb, fa, fb = [], [], [], [], [], []
for _ in range(n):
    (wa, xa, pa), (wb, xb, pb) = once(a), once(b)
    ta.append(wa); tb.append(wb); ca.append(xa); cb.append(xb); fa.append(pa); fb.append(pb)
ratios = [x / y for x, y in zip(ta, tb)]
cpu_ratios = [x / y for x, y in zip(ca, cb) if y > 0]
json.dump({"a": statistics.median(ta), "b": statistics.median(tb), "ratio": statistics.median(ratios), "n": n,
           "cpu_a": statistics.median(ca), "cpu_b": statistics.median(cb), "cpu_ratio": statistics.median(cpu_ratios),
           "faults_a": statistics.median(fa), "faults_b": statistics.median(fb)},
          open(f"{os.environ['out']}/{name}.json", "w"))
PY
}
export out
floor_state="$out/floor"
confined_state="$out/floor-confined"
mkdir -p "$floor_state" "$confined_state"
# The confined floor must confine as a noop run does: its rules are the
# runtime rules of the sandbox a noop run records (its work and output dirs
# aside), and that sandbox was applied with seccomp on.
"$host" run noop -q >/dev/null
plan_rules=$("$host" history --limit 1 --json | python3 -c '
import json, sys
sandbox = json.load(sys.stdin)[0]["sandbox"]
if not (sandbox["applied"] and sandbox["seccomp"]):
    sys.exit("bench/run.sh: a noop run was not confined: " + sandbox["summary"])
print("\n".join(sorted(r["access"] + " " + r["path"] for r in sandbox["rules"] if r["why"] == "runtime")))')
floor_rules=$("$b/bench/run_floor_confined" --rules | sort)
if [ "$plan_rules" != "$floor_rules" ]; then
  echo "bench/run.sh: the runtime rules of a noop run are not those of bench/run_floor_confined.cpp:" >&2
  diff <(echo "$plan_rules") <(echo "$floor_rules") >&2 || true
  exit 1
fi
load_before=$(cut -d' ' -f1 /proc/loadavg)
pairs_n=${BENCH_PAIRS:-21}
pairs run_floor "$pairs_n" -- "$host" run noop -q -- "$b/bench/run_floor" "$floor_state" "$noop"
pairs run_floor_confined "$pairs_n" -- "$host" run noop -q -- "$b/bench/run_floor_confined" "$confined_state" "$noop"
pairs confinement "$pairs_n" -- "$b/bench/run_floor_confined" "$confined_state" "$noop" -- "$b/bench/run_floor" "$floor_state" "$noop"
pairs version "$pairs_n" -- "$host" --version -- "$b/bench/bare_loader" "$noop"
echo "$load_before at the start, $(cut -d' ' -f1 /proc/loadavg) at the end" >"$out/load"
# Where the gap goes: the system calls of one run of each (strace counts the
# children too) and what a call and a page fault cost here.
syscalls() { strace -f -c -o "$1" "${@:2}" >/dev/null 2>&1; awk '$NF == "total" {print $4}' "$1"; }
if command -v strace >/dev/null; then
  echo "$(syscalls "$out/strace_ours" "$host" run noop -q) $(syscalls "$out/strace_floor" "$b/bench/run_floor" "$floor_state" "$noop")" >"$out/syscalls"
fi
"$b/bench/vm_costs" >"$out/vm_costs.json"

# History at 10^4, 10^5 and 10^6 runs, written by gen_runs through the run
# store and the audit log; kept in build/bench-history between bench runs
# (10^6 takes minutes). The marker names the generator's format: a history
# from an older gen_runs (records without their audit lines) is made again.
hist="$root/build/bench-history"
[ "$mode" = run ] || for n in 10000 100000 1000000; do
  d="$hist/$n"
  if [ ! -f "$d/complete-2" ]; then
    rm -rf "$d"
    mkdir -p "$d/state"
    chmod 700 "$d/state"
    "$b/bench/gen_runs" "$d/state" 0 "$n"
    touch "$d/complete-2"
  fi
  # The first reader builds the index from the log (once).
  DIHYA_STATE_DIR="$d/state" "$host" history --limit 1 >/dev/null
  last=$(DIHYA_STATE_DIR="$d/state" "$host" history --limit 1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
  DIHYA_STATE_DIR="$d/state" hyperfine -N --warmup 3 --runs 30 --export-json "$out/history_$n.json" \
    -n "history --limit 5" "$host history --limit 5" \
    -n "history --plugin rare --limit 5" "$host history --plugin rare --limit 5" \
    -n "history --since --limit 5" "$host history --since 2020-06 --limit 5" \
    -n "history --plugin nosuch (whole index scanned)" "$host history --plugin nosuch" \
    -n "show <id>" "$host show $last" \
    -n "dihya-host --version" "$host --version" >/dev/null
  du -sk --apparent-size "$d/state/runs" | cut -f1 >"$out/history_${n}_kb"
done

python3 - "$out" "$mode" <<'PY' | tee "$out/results.md"
import json, os, sys
out, mode = sys.argv[1], sys.argv[2]
def means(name):
    return {r["command"]: r for r in json.load(open(f"{out}/{name}.json"))["results"]}
def pair_rows():
    p = json.load(open(f"{out}/run_floor.json"))
    print(f"| run noop vs the floor (bench/run_floor.c: start record + fdatasync, fork, dlopen, end record + fdatasync); medians of {p['n']} interleaved pairs | {p['a']*1e3:.2f} ms | {p['b']*1e3:.2f} ms | {p['ratio']:.2f}x |")
    c = json.load(open(f"{out}/run_floor_confined.json"))
    print(f"| run noop vs the confined floor (bench/run_floor_confined.cpp: the floor, plus a private per-run dir, no_new_privs, no core dumps, noop's Landlock runtime rules, the host's seccomp filter); medians of {c['n']} interleaved pairs | {c['a']*1e3:.2f} ms | {c['b']*1e3:.2f} ms | {c['ratio']:.2f}x |")
    k = json.load(open(f"{out}/confinement.json"))
    print(f"| the confined floor vs the floor: what confinement itself costs; medians of {k['n']} interleaved pairs | {k['a']*1e3:.2f} ms | {k['b']*1e3:.2f} ms | {k['ratio']:.2f}x |")
    v = json.load(open(f"{out}/version.json"))
    print(f"| dihya-host --version vs bare dlopen loader; medians of {v['n']} interleaved pairs | {v['a']*1e3:.2f} ms | {v['b']*1e3:.2f} ms | {v['ratio']:.2f}x |")
    print(f"| the same pairs in CPU time (user + system, children included): run noop vs the floor | {p['cpu_a']*1e3:.2f} ms | {p['cpu_b']*1e3:.2f} ms | {p['cpu_ratio']:.2f}x |")
    print(f"| the same pairs in CPU time: run noop vs the confined floor | {c['cpu_a']*1e3:.2f} ms | {c['cpu_b']*1e3:.2f} ms | {c['cpu_ratio']:.2f}x |")
    print(f"| the same pairs in CPU time: the confined floor vs the floor | {k['cpu_a']*1e3:.2f} ms | {k['cpu_b']*1e3:.2f} ms | {k['cpu_ratio']:.2f}x |")
    print(f"| the same pairs in CPU time: --version vs bare dlopen loader | {v['cpu_a']*1e3:.2f} ms | {v['cpu_b']*1e3:.2f} ms | {v['cpu_ratio']:.2f}x |")
    print(f"| the same pairs in minor page faults (children included): run noop vs the floor | {p['faults_a']:.0f} | {p['faults_b']:.0f} | {p['faults_a']/p['faults_b']:.2f}x |")
    costs = json.load(open(f"{out}/vm_costs.json"))
    extra_faults = (p['faults_a'] - p['faults_b']) * costs['page_fault_us'] / 1e3
    if os.path.exists(f"{out}/syscalls"):
        ours_calls, floor_calls = (int(x) for x in open(f"{out}/syscalls").read().split())
        extra_calls = (ours_calls - floor_calls) * costs['syscall_us'] / 1e3
        print(f"| system calls of one run (strace -f -c): run noop vs the floor | {ours_calls} | {floor_calls} | {ours_calls/floor_calls:.2f}x |")
    else:
        extra_calls = 0.0
    print(f"| this machine (bench/vm_costs.c): a system call {costs['syscall_us']:.2f} us (stat {costs['stat_us']:.2f} us), a first write to a page {costs['page_fault_us']:.2f} us ({costs['populated_page_us']:.2f} us populated): the extra page faults and calls of run noop cost ~{extra_faults:.2f} + {extra_calls:.2f} ms of the {(p['a'] - p['b'])*1e3:.2f} ms gap | | | |")
    print(f"| (load average during the pairs: {open(f'{out}/load').read().strip()}) | | | |")
if mode == "run":
    print("| benchmark | ours | anchor | ratio (ours / anchor) |")
    print("|---|---|---|---|")
    pair_rows()
    sys.exit()
run = means("run")
bare = run["bare dlopen loader"]["mean"]
print("| benchmark | ours | anchor | ratio (ours / anchor) |")
print("|---|---|---|---|")
ours = run["dihya-host run noop"]["mean"]
py = run["python3 -c 'import sys'"]["mean"]
print(f"| run noop (supervised, journalled, audited) vs bare dlopen loader | {ours*1e3:.2f} ms | {bare*1e3:.2f} ms | {ours/bare:.2f}x |")
tmpfs = run["dihya-host run noop, state on tmpfs"]["mean"]
print(f"| run noop, state dir on tmpfs (fsync nearly free) vs bare dlopen loader | {tmpfs*1e3:.2f} ms | {bare*1e3:.2f} ms | {tmpfs/bare:.2f}x |")
print(f"| run noop vs `python3 -c 'import sys'` | {ours*1e3:.2f} ms | {py*1e3:.2f} ms | {ours/py:.2f}x |")
cold = means("list")["list 1000, cold cache"]["mean"]
warm = means("list_warm")["list 1000, warm cache"]["mean"]
print(f"| list of 1000 plugins, cold cache | {cold*1e3:.1f} ms | target 50 ms (warm) | - |")
print(f"| list of 1000 plugins, warm cache | {warm*1e3:.1f} ms | target 50 ms | {warm/0.050:.2f}x of target |")
j = json.load(open(f"{out}/journal.json"))
pair_rows()
for n in (10000, 100000, 1000000):
    h = means(f"history_{n}")
    kb = int(open(f"{out}/history_{n}_kb").read())
    for cmd in ("history --limit 5", "history --plugin rare --limit 5", "history --since --limit 5", "show <id>",
                "history --plugin nosuch (whole index scanned)"):
        m = h[cmd]["mean"]
        print(f"| `{cmd}` at {n:,} runs ({kb/1024:.0f} MB of state log + index) | {m*1e3:.1f} ms | target 50 ms; `--version` {h['dihya-host --version']['mean']*1e3:.1f} ms | {m/0.050:.2f}x of target |")
print(f"| journal append with fdatasync ({j['entries']} entries) | {j['journal_per_s']:.0f} entries/s | {j['bare_per_s']:.0f} writes/s (write+fdatasync) | {j['bare_per_s']/j['journal_per_s']:.2f}x slower |")
PY
