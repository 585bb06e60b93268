#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# What operators build around the host: metrics for node_exporter, log styles
# for log shippers, bash completion, the man page, systemd units, Kubernetes
# examples and the Debian package, each tried as an operator would.
source "$(dirname "$0")/lib.sh"
src=$DIHYA_SOURCE_DIR

# Metrics: a textfile-collector file rewritten after every run.
export DIHYA_METRICS_DIR="$WORK/metrics"
dh run echo_params -p name=a >/dev/null 2>&1
dh run echo_params -p name=b >/dev/null 2>&1
dh run hostile -p behaviour=exit7 >/dev/null 2>&1 || true
prom="$DIHYA_METRICS_DIR/dihya.prom"
expect_in "$prom" 'dihya_runs_total{plugin="echo_params",outcome="succeeded"} 2' "runs are counted per plugin and outcome"
expect_in "$prom" 'dihya_runs_total{plugin="hostile",outcome="crashed"} 1' "failures are counted by outcome"
expect_in "$prom" 'dihya_run_last_success_timestamp{plugin="echo_params"}' "last success time of a plugin that succeeded"
expect_not_in "$prom" 'dihya_run_last_success_timestamp{plugin="hostile"}' "no success time for a plugin that never succeeded"
expect_in "$prom" 'dihya_run_last_exit_code{plugin="hostile"} 1' "last exit code"
expect_in "$prom" 'dihya_run_duration_seconds{plugin="echo_params"}' "duration of the last run"
[ "$(ls -A "$DIHYA_METRICS_DIR")" = dihya.prom ] && ok "no temporary file left beside dihya.prom" || not_ok "stray files: $(ls -A "$DIHYA_METRICS_DIR")"
echo garbage >"$DIHYA_STATE_DIR/metrics.json"
expect_exit 0 "a corrupted counter file does not fail a run" -- dh run echo_params -p name=c
expect_in "$prom" 'dihya_runs_total{plugin="echo_params",outcome="succeeded"} 1' "counters start afresh"
python3 -c 'import sys; n = 200000; sys.stdout.write("{\"a_plugin\":" + "[" * n + "]" * n + "}")' >"$DIHYA_STATE_DIR/metrics.json"
expect_exit 0 "a counter file nested 200,000 levels does not fail a run" -- dh run echo_params -p name=c
expect_in "$prom" 'dihya_runs_total{plugin="echo_params",outcome="succeeded"} 1' "counters start afresh after it"
if command -v promtool >/dev/null; then
  expect_exit 0 "promtool accepts the file" -- promtool check metrics <"$prom"
fi
# A run whose host was killed is counted interrupted by the next command that
# finds it, once; `rollback` counts what it made of the run. Neither was
# counted: the alert on interrupted runs never fired.
run_logs() {  # how many run directories hold a log.txt
  local n=0 f
  for f in "$DIHYA_STATE_DIR"/runs/*/log.txt; do [ -e "$f" ] && n=$((n + 1)); done
  echo "$n"
}
kill_mid_run() {  # leaves an interrupted hostile run that logged, journalled nothing
  local before host_pid
  before=$(run_logs)
  "$DIHYA_HOST" run hostile -p behaviour=log_and_hang -p seconds=60 >/dev/null 2>&1 &
  host_pid=$!
  for _ in $(seq 100); do
    [ "$(run_logs)" -gt "$before" ] && break
    sleep 0.1
  done
  kill -9 "$host_pid"
  wait "$host_pid" 2>/dev/null || true
}
kill_mid_run
killed=$(last_run_id)
dh run echo_params -p name=d >/dev/null 2>&1
expect_in "$prom" 'dihya_runs_total{plugin="hostile",outcome="interrupted"} 1' "the next run counts a run found interrupted"
expect_not_in "$prom" 'dihya_run_last_exit_code{plugin="hostile"}' "without last-run gauges for it (its last run is not known)"
dh run echo_params -p name=e >/dev/null 2>&1
expect_in "$prom" 'dihya_runs_total{plugin="hostile",outcome="interrupted"} 1' "and counts it once"
expect_exit 0 "rollback of the interrupted run" -- dh rollback "$killed"
expect_in "$prom" 'dihya_runs_total{plugin="hostile",outcome="rolled_back"} 1' "rollback counts the run it rolled back"
kill_mid_run
expect_exit 0 "rollback of a run killed just before" -- dh rollback "$(last_run_id)"
expect_in "$prom" 'dihya_runs_total{plugin="hostile",outcome="interrupted"} 2' "rollback counts the interrupted run it finds"
expect_in "$prom" 'dihya_runs_total{plugin="hostile",outcome="rolled_back"} 2' "and what it made of it"
# The exposition format, checked line by line: HELP/TYPE comments or samples.
bad=$(grep -vE '^# (HELP|TYPE) dihya_[a-z_]+ |^dihya_[a-z_]+\{plugin="[a-z_]+"(,outcome="[a-z_]+")?\} [0-9.e+-]+$' "$prom" || true)
expect_eq "$bad" "" "every line of dihya.prom is well-formed"
unset DIHYA_METRICS_DIR

# Log styles.
expect_exit 0 "--log-format json" -- dh --log-format json run echo_params -p name=Ada -p loud=true
if python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$ERR"; then ok "every stderr line is a JSON object"; else not_ok "stderr is not JSON lines"; fi
expect_in "$ERR" '"level":"warn","message":"LOUD"' "level and message fields"
expect_exit 0 "--quiet" -- dh --quiet run echo_params -p name=Ada -p loud=true
expect_not_in "$ERR" "param name" "--quiet hides info lines"
expect_in "$ERR" "LOUD" "--quiet keeps warnings"
expect_exit 0 "--verbose" -- dh --verbose run echo_params -p name=Ada
expect_in "$ERR" "[debug] dry run: false" "--verbose shows debug lines"
expect_exit 0 "default verbosity" -- dh run echo_params -p name=Ada
expect_not_in "$ERR" "[debug]" "debug lines hidden by default"
expect_exit 2 "--quiet with --verbose" -- dh --quiet --verbose list
expect_exit 2 "unknown --log-format" -- dh --log-format xml list
expect_one_line_error "unknown --log-format"
# Colours only on a terminal, and never with NO_COLOR.
script -qec "$DIHYA_HOST run echo_params -p name=Ada -p loud=true" /dev/null >"$OUT" 2>&1 || true
expect_in "$OUT" "$(printf '\033[33m[warn]')" "colours on a terminal"
NO_COLOR=1 script -qec "$DIHYA_HOST run echo_params -p name=Ada -p loud=true" /dev/null >"$OUT" 2>&1 || true
expect_not_in "$OUT" "$(printf '\033[')" "NO_COLOR: no escape sequences"
dh run echo_params -p name=Ada -p loud=true >"$OUT" 2>"$ERR"
expect_not_in "$ERR" "$(printf '\033[')" "not a terminal: no escape sequences"

# Bash completion, driven as bash drives it.
complete_words() {
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _dihya_host; printf "%s\n" "${COMPREPLY[@]}"' \
    _ "$src/host/share/dihya-host.bash" "$@"
}
export PATH="$(dirname "$DIHYA_HOST"):$PATH"
complete_words dihya-host ro >"$OUT"
expect_in "$OUT" "rollback" "completes commands"
complete_words dihya-host run echo_p >"$OUT"
expect_eq "$(cat "$OUT")" "echo_params" "completes plugin names from metadata"
complete_words dihya-host run echo_params -p co >"$OUT"
expect_eq "$(cat "$OUT")" "count=" "completes parameter names"
complete_words dihya-host run echo_params --param mode= >"$OUT"
expect_eq "$(tr '\n' ' ' <"$OUT")" "mode=fast mode=safe " "completes enum values"
complete_words dihya-host run echo_params --dry >"$OUT"
expect_eq "$(cat "$OUT")" "--dry-run" "completes a command's options"
complete_words dihya-host run --memory-max 1G echo_params -p co >"$OUT"
expect_eq "$(cat "$OUT")" "count=" "the plugin is found after --memory-max and its value"
complete_words dihya-host run echo_params --memory-max o >"$OUT"
expect_eq "$(cat "$OUT")" "off" "completes --memory-max sizes"
DIHYA_PLUGIN_PATH= complete_words dihya-host run echo_p >"$OUT"
expect_eq "$(cat "$OUT")" "" "no plugin path, no plugin"
DIHYA_PLUGIN_PATH= complete_words dihya-host --plugin-path "$DIHYA_TEST_PLUGIN_DIR" run echo_p >"$OUT"
expect_eq "$(cat "$OUT")" "echo_params" "a global --plugin-path is passed on"
complete_words dihya-host schedule a >"$OUT"
expect_eq "$(cat "$OUT")" "add" "completes a command's actions"
complete_words dihya-host schedule add nightly --pl >"$OUT"
expect_eq "$(cat "$OUT")" "--plugin" "completes an action's own options"
complete_words dihya-host schedule add nightly --plugin echo_params -p co >"$OUT"
expect_eq "$(cat "$OUT")" "count=" "the plugin of schedule add is the value of --plugin"
complete_words dihya-host history prune --older >"$OUT"
expect_eq "$(cat "$OUT")" "--older-than" "completes history prune's options"
expect_exit 0 "complete never fails" -- dh complete params no_such_plugin x
expect_eq "$(cat "$OUT")" "" "nothing for an unknown plugin"

# The man page, generated from the --help texts.
man_page="$DIHYA_BUILD_DIR/dihya-host.1"
if [ -f "$man_page" ]; then
  expect_in "$man_page" ".SS rollback" "the man page has a section per command"
  expect_in "$man_page" "Exit codes" "the man page documents exit codes"
  expect_in "$man_page" ".SS schedule add" "the man page has a section per action"
  expect_in "$man_page" "--older-than" "history prune's options are in the man page"
  if command -v groff >/dev/null; then
    groff -man -Tutf8 -wall "$man_page" >/dev/null 2>"$WORK/groff.err" && ok "groff renders it" || not_ok "groff: $(head -3 "$WORK/groff.err")"
  fi
else
  not_ok "no man page at $man_page (is help2man installed?)"
fi

# systemd units: verified with the real binary in place of /usr/bin/dihya-host.
if command -v systemd-analyze >/dev/null; then
  mkdir "$WORK/units"
  for unit in "$src"/examples/systemd/*; do
    sed "s|/usr/bin/dihya-host|$DIHYA_HOST|g" "$unit" >"$WORK/units/$(basename "$unit")"
  done
  expect_exit 0 "systemd-analyze verify accepts the units" -- systemd-analyze verify --man=no "$WORK"/units/*
  expect_eq "$(cat "$OUT" "$ERR")" "" "and has nothing to say"
  for hardening in ProtectSystem=strict NoNewPrivileges=yes PrivateTmp=yes; do
    expect_eq "$(grep -L "^$hardening" "$src"/examples/systemd/*.service)" "" "every service sets $hardening"
  done
fi

# Kubernetes examples parse, forbid overlaps and keep secrets out of args.
python3 - "$src/examples/kubernetes/backup-cronjob.yaml" >"$OUT" 2>"$ERR" <<'PY' && ok "CronJob examples: Forbid, secrets by @env:" || not_ok "CronJob examples"
import sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
assert docs and all(d["kind"] == "CronJob" for d in docs)
for d in docs:
    assert d["spec"]["concurrencyPolicy"] == "Forbid"
    c = d["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    for arg in c["args"]:
        assert "password=" not in arg or "@env:" in arg, arg
    assert any("secretKeyRef" in e.get("valueFrom", {}) for e in c["env"])
PY

# The Debian package: built by CPack, unpacked into a throwaway root, run there.
if (cd "$DIHYA_BUILD_DIR" && cpack -G DEB -B "$WORK/deb" >"$WORK/cpack.log" 2>&1); then
  deb=$(ls "$WORK"/deb/*.deb)
  ok "cpack builds $(basename "$deb")"
  dpkg-deb -f "$deb" Depends >"$OUT"
  expect_in "$OUT" "libpq5" "Depends names libpq5 (loaded with dlopen)"
  # The host's shared libraries (libfmt) and the plugins' (libssl3: the host links libcrypto statically).
  expect_in "$OUT" "libfmt9" "Depends found by dpkg-shlibdeps: the host's libfmt"
  expect_in "$OUT" "libssl3" "and the plugins' OpenSSL"
  dpkg-deb -c "$deb" >"$OUT"
  expect_in "$OUT" "./usr/bin/dihya-host" "binary in /usr/bin"
  expect_in "$OUT" "./etc/dihya/config.example.yaml" "config example in /etc/dihya"
  expect_in "$OUT" "./usr/include/dihya/plugin.hpp" "SDK headers"
  expect_in "$OUT" "DihyaSDKConfig.cmake" "SDK CMake package"
  expect_in "$OUT" "./usr/share/bash-completion/completions/dihya-host" "bash completion"
  expect_in "$OUT" "./usr/share/man/man1/dihya-host.1" "man page"
  if [ "$(id -u)" -eq 0 ]; then
    expect_exit 0 "apt can resolve the package's dependencies" -- apt-get install --simulate "$deb"
    expect_in "$OUT" "Inst dihya-host" "apt would install it"
  fi
  dpkg-deb -x "$deb" "$WORK/root"
  expect_exit 0 "the unpacked binary runs" -- "$WORK/root/usr/bin/dihya-host" --version
  plugins=$( (find "$WORK/root/usr/lib/dihya/plugins" -name '*.so' 2>/dev/null || true) | wc -l)
  env -u DIHYA_PLUGIN_PATH "$WORK/root/usr/bin/dihya-host" list --json >"$OUT" 2>"$ERR" && got=0 || got=$?
  expect_eq "$got" 0 "list from the unpacked package"
  listed=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$OUT")
  expect_eq "$listed" "$plugins" "it finds the bundled plugins beside itself ($plugins)"
else
  not_ok "cpack failed: $(tail -5 "$WORK/cpack.log")"
fi
finish
