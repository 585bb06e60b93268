#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Least privilege: the hostile `escape` plugin declares nothing and tries every
# way out (secrets, the host's environment, writes outside its dirs, the audit
# log and run records, TCP and abstract-socket connects, exec, ptrace and
# signals to the host, namespaces, packet sockets, io_uring). Under the default
# sandbox every attempt fails, the listeners see nothing, the audit chain holds
# and the host ends normally. The same plugin declaring a directory and a port
# gets exactly those. `sandbox: off` lets the escapes through: the positive
# control that proves these checks can fail.
source "$(dirname "$0")/lib.sh"

abi=$(/usr/bin/python3 -c 'import ctypes; l=ctypes.CDLL(None, use_errno=True); print(max(0, l.syscall(444, None, 0, 1)))')
if [ "$abi" -lt 1 ]; then
  echo "skip: this kernel has no Landlock"
  exit 77
fi
echo "kernel Landlock ABI $abi"

# A TCP listener and an abstract Unix socket listener; each connection is
# counted in a file. They run until the test ends.
cat >"$WORK/listen.py" <<'PY'
import socket, sys, threading, os
tcp = socket.socket(); tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind(("127.0.0.1", 0)); tcp.listen(16)
tcp2 = socket.socket(); tcp2.bind(("127.0.0.1", 0)); tcp2.listen(16)
unix = socket.socket(socket.AF_UNIX); unix.bind("\0" + sys.argv[2]); unix.listen(16)
def serve(s, name):
    while True:
        c, _ = s.accept()
        with open(os.path.join(sys.argv[1], name), "a") as f: f.write("x\n")
        c.close()
for s, n in ((tcp, "tcp"), (tcp2, "tcp_declared"), (unix, "abstract")):
    threading.Thread(target=serve, args=(s, n), daemon=True).start()
with open(os.path.join(sys.argv[1], "ports"), "w") as f: f.write("%d %d\n" % (tcp.getsockname()[1], tcp2.getsockname()[1]))
threading.Event().wait()
PY
mkdir -p "$WORK/seen" "$WORK/outside" "$WORK/declared"
ABSTRACT="dihya-escape-$$"
/usr/bin/python3 "$WORK/listen.py" "$WORK/seen" "$ABSTRACT" &
LISTENER=$!
trap 'kill $LISTENER 2>/dev/null || true; rm -rf "$WORK" "$HOST_DIRS"; [ -n "$DB_NAME" ] && psql -X -q "$base_url" -c "drop database if exists $DB_NAME with (force)" >/dev/null 2>&1 || true' EXIT
for _ in $(seq 50); do [ -s "$WORK/seen/ports" ] && break; sleep 0.1; done
read -r PORT DECLARED_PORT <"$WORK/seen/ports"
echo "secret canary" >"$WORK/canary.txt"
chmod 600 "$WORK/canary.txt"

# A first run leaves an audit log and the run store's log (the records) to attack.
expect_exit 0 "a first run (noop)" -- dh run noop
RECORD="$DIHYA_STATE_DIR/runs/state.log"
AUDIT="$DIHYA_STATE_DIR/audit.jsonl"
[ -f "$RECORD" ] && [ -f "$AUDIT" ] && ok "the record and the audit log exist (they are what is attacked)" || not_ok "no record or audit log"

escape_params=(-p "canary=$WORK/canary.txt" -p "outside_dir=$WORK/outside" -p "audit_log=$AUDIT" -p "record=$RECORD"
               -p "listen_port=$PORT" -p "abstract_name=$ABSTRACT")
attempt() { /usr/bin/python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(r['result'][sys.argv[2]].get(sys.argv[3], 'missing'))" "$OUT" "$@"; }
ALL="read_canary read_shadow read_host_environ write_outside append_audit_log append_run_record tcp_connect abstract_unix_connect exec_sh ptrace_host signal_host unshare_user packet_socket io_uring"
field() { /usr/bin/python3 -c "import json,sys; r=json.load(open(sys.argv[1])); [r := r[k] for k in sys.argv[2:]]; print(r)" "$OUT" "$@"; }
# "alive", or "gone" for a pid that exited (a zombie is gone: it runs nothing).
liveness() { /usr/bin/python3 -c "import sys
try: st = open('/proc/%s/stat' % sys.argv[1]).read().rsplit(')', 1)[1].split()[0]
except OSError: st = 'X'
print('gone' if st in 'ZX' else 'alive')" "$1"; }

## The default sandbox (require): every escape fails ###########################

expect_exit 0 "the escape plugin runs under the default sandbox" -- dh run escape "${escape_params[@]}" --json
cp "$OUT" "$WORK/confined.json"
for a in $ALL; do
  got=$(attempt attempts "$a")
  case "$got" in
    ok|missing) not_ok "confined: $a got through ($got)" ;;
    *) ok "confined: $a fails ($got)" ;;
  esac
done
expect_eq "$(attempt allowed write_output)" "ok" "confined: its own output dir stays writable"
expect_eq "$(ls "$WORK/outside" | wc -l)" "0" "nothing was written outside"
expect_eq "$(cat "$WORK/seen/tcp" 2>/dev/null | wc -l)" "0" "the TCP listener saw no connection"
expect_eq "$(cat "$WORK/seen/abstract" 2>/dev/null | wc -l)" "0" "the abstract socket saw no connection"
expect_exit 0 "the audit chain is intact" -- dh audit verify
kill -0 $LISTENER && ok "the listener is still up (the checks above had something to connect to)" || not_ok "listener died"

# The run record names the sandbox; show prints it.
/usr/bin/python3 - "$WORK/confined.json" "$abi" <<'PY' && ok "the run record names the sandbox (mode, ABI, rules, seccomp)" || not_ok "run record sandbox"
import json, sys
s = json.load(open(sys.argv[1]))["sandbox"]
assert s["mode"] == "require", s
assert s["landlock_abi"] == int(sys.argv[2]), s
assert s["seccomp"] is True and s["ip_sockets"] is False, s
assert any(r["why"] == "work dir" and r["access"] == "write" for r in s["rules"]), s
assert not any(r["path"] in ("/", "/etc", "/tmp") for r in s["rules"]), s
assert s["applied"] is True and "error" not in s, s  # what the child applied, not only the plan
PY
expect_exit 0 "show prints the run" -- dh show "$(last_run_id)"
expect_in "$OUT" "Landlock ABI $abi" "show names the sandbox"

# Constructors are confined too: the sandbox is applied before the library is loaded.
expect_exit 0 "a plugin whose constructor writes a canary" -- env DIHYA_TEST_CANARY="$WORK/ctor-canary" "$DIHYA_HOST" run canary_ctor
[ ! -e "$WORK/ctor-canary" ] && ok "its constructor could not write outside (confined before dlopen)" || not_ok "the constructor wrote the canary"

## Declared: a write dir and a port, exactly those ##############################

expect_exit 0 "the escape plugin declaring a dir and a port" -- \
  dh run escape "${escape_params[@]}" -p "allowed_dir=$WORK/declared" -p "allowed_port=$DECLARED_PORT" --json
expect_eq "$(attempt allowed write_declared)" "ok" "declared: the declared dir is writable"
[ -f "$WORK/declared/declared.txt" ] && ok "declared: the file is there" || not_ok "declared: no file"
if [ "$abi" -ge 4 ]; then
  expect_eq "$(attempt allowed tcp_declared)" "ok" "declared: the declared port connects"
  expect_eq "$(cat "$WORK/seen/tcp_declared" 2>/dev/null | wc -l)" "1" "declared: its listener saw one connection"
  got=$(attempt attempts tcp_connect)
  [ "$got" != ok ] && ok "declared: another port still fails ($got)" || not_ok "declared: another port connected"
  expect_eq "$(cat "$WORK/seen/tcp" 2>/dev/null | wc -l)" "0" "declared: the other listener still saw nothing"
fi
for a in write_outside append_audit_log read_canary exec_sh signal_host ptrace_host; do
  got=$(attempt attempts "$a")
  [ "$got" != ok ] && ok "declared: $a still fails ($got)" || not_ok "declared: $a got through"
done
expect_eq "$(ls "$WORK/outside" | wc -l)" "0" "declared: nothing was written outside"

## A declared write path never reaches the host's own files ####################
# A path that does not exist yet is granted on its nearest existing parent:
# one under / or beside the state dir would hand the plugin the audit log.
runs_before=$(dh history --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
expect_exit 2 "a write path whose nearest existing parent is / is refused" -- \
  dh run escape "${escape_params[@]}" -p "allowed_dir=/nonexistent-$$/sub"
expect_in "$ERR" "the grant on / holds the host's state dir" "the refusal names the grant and the state dir"
expect_in "$ERR" "nothing was run" "the refusal says nothing was run"
expect_eq "$(wc -l <"$ERR")" "1" "the refusal is one line"
expect_exit 2 "a write path inside the state dir is refused" -- \
  dh run escape "${escape_params[@]}" -p "allowed_dir=$DIHYA_STATE_DIR/backups"
expect_in "$ERR" "the grant on $DIHYA_STATE_DIR is the host's state dir" "the refusal names the state dir"
expect_exit 2 "the state dir itself is refused" -- dh run escape "${escape_params[@]}" -p "allowed_dir=$DIHYA_STATE_DIR"
expect_exit 2 "a dir inside the state dir is refused" -- dh run escape "${escape_params[@]}" -p "allowed_dir=$DIHYA_STATE_DIR/runs"
ln -s "$DIHYA_STATE_DIR" "$WORK/state-link"
expect_exit 2 "a symlink to the state dir is refused" -- dh run escape "${escape_params[@]}" -p "allowed_dir=$WORK/state-link"
expect_exit 2 "the plugin dir is refused" -- dh run escape "${escape_params[@]}" -p "allowed_dir=$DIHYA_TEST_PLUGIN_DIR/new"
expect_in "$ERR" "the host's plugin dir" "the refusal names the plugin dir"
expect_exit 2 "the host binary's dir is refused" -- dh run escape "${escape_params[@]}" -p "allowed_dir=$(dirname "$DIHYA_HOST")"
# The metrics dir: node_exporter reads what is there.
mkdir -p "$WORK/metrics"
expect_exit 2 "the metrics dir is refused" -- env DIHYA_METRICS_DIR="$WORK/metrics" "$DIHYA_HOST" run escape \
  "${escape_params[@]}" -p "allowed_dir=$WORK/metrics"
expect_in "$ERR" "the host's metrics dir" "the refusal names the metrics dir"
# --output-dir is the operator's, but the same rule holds for it: with it on
# the state dir a plugin rewrote the audit log and the run records.
for dir in "$DIHYA_STATE_DIR" "$DIHYA_STATE_DIR/runs" / "$DIHYA_TEST_PLUGIN_DIR" "$WORK/state-link"; do
  expect_exit 2 "--output-dir $dir is refused" -- dh run escape --output-dir "$dir" \
    -p "audit_log=$DIHYA_STATE_DIR/audit.jsonl" -p "record=$DIHYA_STATE_DIR/runs/state.log"
  expect_in "$ERR" "which no plugin may write" "--output-dir $dir: the refusal says why"
done
expect_eq "$(dh history --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" "$runs_before" \
  "no refused run was recorded"
expect_exit 0 "audit verify after the refusals" -- dh audit verify

# A path that is a secret parameter is redacted in the record, like the parameter itself.
mkdir -p "$WORK/hidden-Zq7-$$"
expect_exit 0 "a secret path parameter" -- dh run escape -p "secret_dir=$WORK/hidden-Zq7-$$" --json
expect_in "$OUT" '"why": "read param:secret_dir"' "the secret path got its rule"
expect_not_in "$OUT" "hidden-Zq7-$$" "the run record does not show the secret path"
expect_not_in "$DIHYA_STATE_DIR/runs/state.log" "hidden-Zq7-$$" "nor does the stored record"

## A denial gets a hint ##########################################################

expect_exit 1 "a plugin failing on a denied read" -- dh run escape -p "fail_reading=$WORK/canary.txt"
expect_in "$ERR" "Permission denied" "the plugin's error is shown"
expect_in "$ERR" "sandbox may have denied" "the summary says the sandbox may have denied it"
expect_in "$ERR" "$WORK/canary.txt is outside what the plugin declares" "the hint names the path"
expect_in "$ERR" "{\"read\": [\"$WORK/canary.txt\"]}" "the hint names the capability that would allow it"
expect_one_line_error "the denial hint"

## info and check ###############################################################

expect_exit 0 "info shows the capabilities" -- dh info escape
expect_in "$OUT" "sandbox capabilities: reads param:secret_dir; writes param:allowed_dir; executes param:allowed_program; connects to TCP ports param:allowed_port" "info: one line of capabilities"
expect_exit 0 "info --json carries them" -- dh info escape --json
expect_in "$OUT" '"capabilities"' "info --json: capabilities"
expect_exit 0 "check passes a well-formed declaration" -- dh check escape
expect_in "$OUT" "pass  sandbox capabilities are well-formed" "check: the capabilities item"
expect_in "$OUT" "pass  sandbox capabilities name declared parameters" "check: every param: of escape is declared"
expect_exit 1 "check fails an unknown capability" -- dh check bad_capabilities
expect_in "$OUT" "unknown key 'network'" "check names the bad key"
expect_exit 1 "check --json fails it too" -- dh check bad_capabilities --json
expect_in "$OUT" '"ok": false' "check --json: not ok"
expect_exit 1 "check fails a capability naming a parameter the schema lacks" -- dh check undeclared_param
expect_in "$OUT" "fail  sandbox capabilities name declared parameters: capabilities.write: 'param:nonexistent' names no parameter of the schema (declared: name)" \
  "check names the unknown parameter"
expect_exit 3 "a plugin with an unknown capability is never run" -- dh run bad_capabilities
expect_in "$ERR" "unknown key 'network'" "the refusal names the bad key"
expect_one_line_error "unknown capability"

## Settings ######################################################################

mkdir -p "$XDG_CONFIG_HOME/dihya"
printf 'sandbox: sometimes\n' >"$WORK/bad.yaml"
expect_exit 2 "an unknown sandbox setting" -- dh --config "$WORK/bad.yaml" run noop
expect_one_line_error "unknown sandbox setting"

# require on a kernel without Landlock (simulated: the hook can only refuse).
expect_exit 2 "require without Landlock refuses to run" -- env DIHYA_TEST_LANDLOCK_ABI=0 "$DIHYA_HOST" run noop
expect_in "$ERR" "no Landlock" "the refusal says why"
expect_one_line_error "require without Landlock"
expect_exit 2 "require refuses a declared port on Landlock ABI 3" -- \
  env DIHYA_TEST_LANDLOCK_ABI=3 "$DIHYA_HOST" run escape -p "allowed_port=$DECLARED_PORT"
expect_in "$ERR" "ABI 4" "the refusal names the ABI needed"

## A process left behind dies with the run; its dirs serve no later run #######
# Empty run, work and output dirs go back to <state>/spare for the next runs,
# once no process of the run is left: the host, a child subreaper while it
# supervises, kills whatever the run left behind. This one leaves the run's
# process group (a new session), then keeps writing through descriptors of
# its dirs, to reach whichever run gets them next.
sleep 30 &
SLEEPER=$!
expect_eq "$(liveness "$SLEEPER")" "alive" "liveness sees a live process (the checks below can fail)"
kill "$SLEEPER"
printf 'sandbox: off\n' >"$WORK/off.yaml"
# A plugin that starts no program (no exec grant) may make no process.
expect_exit 0 "confined, no exec grant: a plugin that tries to leave a process behind" -- \
  dh run escape -p linger_ms=1500 --json
expect_eq "$(field result lingerer_new_session)" "fork: EPERM" "confined, no exec grant: it cannot fork"
expect_eq "$(field sandbox processes)" "False" "confined, no exec grant: the record says no new processes"
for config in "" "$WORK/off.yaml"; do
  mode=${config:+off}; mode=${mode:-"confined, exec grant"}
  expect_exit 0 "$mode: a plugin that leaves a process behind" -- \
    dh ${config:+--config "$config"} run escape -p allowed_program=/bin/true -p linger_ms=1500 --json
  LINGER_RUN=$(field id)
  LINGERER=$(field result lingerer)
  expect_eq "$(field result lingerer_new_session)" "ok" "$mode: it left the run's process group"
  sleep 0.3
  expect_eq "$(liveness "$LINGERER")" "gone" "$mode: it died with its run all the same"
  for i in 1 2 3; do dh ${config:+--config "$config"} run noop >/dev/null 2>&1; done
  sleep 1.5
  expect_eq "$(find "$DIHYA_STATE_DIR" -name 'lingered-*' -not -path "*/runs/$LINGER_RUN/*" | wc -l)" "0" \
    "$mode: nothing it wrote reached a spare or a later run's dirs"
done
# Killed with kill -9, the host cleans up nothing: a plugin that may start
# programs (an exec grant) runs, where the host can make one (as root), in a
# pid namespace of its own, whose init dies with the host (PDEATHSIG), and
# the kernel then kills every process left in it.
if [ "$(id -u)" = 0 ]; then
  # killed_host_leaves_nothing DIR WHAT HOST...: HOST... runs escape, which
  # leaves a daemon (its pid in DIR/lingerer.pid); the host is killed with
  # kill -9 mid-run, and the daemon must be gone.
  killed_host_leaves_nothing() {
    local dir=$1 what=$2 host lingerer
    shift 2
    rm -f "$dir/lingerer.pid"
    "$@" run escape -p allowed_program=/bin/true -p "allowed_dir=$dir" -p linger_ms=20000 -p hang_ms=20000 \
      >"$WORK/killed.out" 2>&1 &
    host=$!
    for _ in $(seq 200); do [ -s "$dir/lingerer.pid" ] && break; sleep 0.05; done
    lingerer=$(cat "$dir/lingerer.pid" 2>/dev/null || echo 0)
    expect_eq "$(liveness "$lingerer")" "alive" "$what: the process the run left is alive while its host runs"
    kill -9 "$host"
    wait "$host" 2>/dev/null || true
    for _ in $(seq 100); do [ "$(liveness "$lingerer")" = gone ] && break; sleep 0.02; done
    expect_eq "$(liveness "$lingerer")" "gone" "$what: it died with its host (kill -9)"
  }
  killed_host_leaves_nothing "$WORK/declared" "exec grant, own pid namespace" "$DIHYA_HOST"
  # exec keeps the shell's pid: the plugin is told its host's.
  expect_exit 0 "exec grant: a run that leaves a process behind" -- \
    sh -c 'exec "$0" run escape -p host_pid=$$ -p allowed_program=/bin/true -p linger_ms=1500 --json' "$DIHYA_HOST"
  LINGERER=$(field result lingerer)
  expect_eq "$(liveness "$LINGERER")" "gone" "exec grant: it died with its run"
  expect_eq "$(field sandbox pid_namespace)" "True" "exec grant: the record names the run's own pid namespace"
  for a in signal_host ptrace_host read_host_environ; do
    case "$(attempt attempts "$a")" in
      ok|missing) not_ok "exec grant, own pid namespace: $a got through" ;;
      *) ok "exec grant, own pid namespace: $a fails" ;;
    esac
  done
  # A host that is not root cannot make a pid namespace: its child stays the
  # run's keeper, a child subreaper with a parent-death signal of its own,
  # which kills what the run left when the run ends or the host dies. As
  # nobody: the same daemon, then the same kill -9.
  # The host and the plugin copied where nobody can reach them (a build dir
  # may be private, e.g. under /root).
  nb_home="$WORK/nobody-home"; nb_dir="$WORK/nobody-declared"; nb_bin="$WORK/nobody-bin"
  mkdir -p "$nb_home" "$nb_dir" "$nb_bin/plugins" && chown 65534:65534 "$nb_home" "$nb_dir"
  cp "$DIHYA_HOST" "$nb_bin/dihya-host" && cp "$DIHYA_TEST_PLUGIN_DIR/libescape.so" "$nb_bin/plugins/"
  chmod -R go-w "$nb_bin" && chmod 755 "$nb_bin" "$nb_bin/plugins"
  # (exec: in the background, $! is then the host's pid, not a subshell's)
  nb() { (exec_nb "$@"); }
  exec_nb() {
    exec setpriv --reuid 65534 --regid 65534 --clear-groups env HOME="$nb_home" DIHYA_STATE_DIR="$nb_home/state" \
      DIHYA_CACHE_DIR="$nb_home/cache" XDG_CONFIG_HOME="$nb_home/config" DIHYA_SYSTEM_CONFIG="$nb_home/none.yaml" \
      DIHYA_PLUGIN_PATH="$nb_bin/plugins" "$nb_bin/dihya-host" "$@"
  }
  if nb --version >/dev/null 2>&1; then
    expect_exit 0 "not root, exec grant: a plugin that leaves a process behind" -- \
      nb run escape -p allowed_program=/bin/true -p "allowed_dir=$nb_dir" -p linger_ms=1500 --json
    LINGERER=$(field result lingerer)
    expect_eq "$(field result lingerer_new_session)" "ok" "not root: it left the run's process group"
    expect_eq "$(liveness "$LINGERER")" "gone" "not root: it died with its run"
    expect_eq "$(field sandbox keeper)" "True" "not root: the record names the keeper"
    expect_in "$OUT" "kept by a keeper process" "not root: the sandbox summary says so"
    expect_eq "$(field sandbox pid_namespace)" "False" "not root: no pid namespace"
    case "$(attempt attempts signal_host)" in  # its parent, the keeper
      ok|missing) not_ok "not root: the plugin could signal its keeper" ;;
      *) ok "not root: the plugin cannot signal its keeper" ;;
    esac
    killed_host_leaves_nothing "$nb_dir" "not root, a keeper" exec_nb
  else
    not_ok "nobody cannot run a copy of the host: $(nb --version 2>&1 | head -n 1)"
  fi
else
  echo "note: not root: no pid namespace for a run; the kill -9 case not checked"
fi
[ -n "$(ls "$DIHYA_STATE_DIR/spare" 2>/dev/null)" ] && ok "the runs' empty dirs are kept as spares" || not_ok "no spare dirs"
expect_eq "$(find "$DIHYA_STATE_DIR/spare" -mindepth 1 -maxdepth 1 -not -empty | wc -l)" "0" "every spare is empty"

printf 'sandbox: best-effort\n' >"$WORK/best.yaml"
expect_exit 0 "best-effort runs where require refuses" -- \
  env DIHYA_TEST_LANDLOCK_ABI=0 "$DIHYA_HOST" --config "$WORK/best.yaml" run noop

# The system config wins over the user's: a user cannot switch it off.
printf 'sandbox: off\n' >"$WORK/off.yaml"
printf 'sandbox: require\n' >"$WORK/system.yaml"
expect_exit 0 "a user's sandbox: off under a system require" -- \
  env DIHYA_SYSTEM_CONFIG="$WORK/system.yaml" "$DIHYA_HOST" --config "$WORK/off.yaml" run escape "${escape_params[@]}" --json
expect_eq "$(attempt attempts read_canary)" "EACCES" "the system's require wins"

## Positive control: sandbox off lets the escapes through #######################

expect_exit 0 "the escape plugin with sandbox: off" -- dh --config "$WORK/off.yaml" run escape "${escape_params[@]}" --json
for a in read_canary read_host_environ write_outside append_audit_log append_run_record tcp_connect abstract_unix_connect exec_sh signal_host; do
  expect_eq "$(attempt attempts "$a")" "ok" "off: $a gets through (the check above can fail)"
done
# These need root (and no Yama ptrace restriction) to succeed even unconfined.
if [ "$(id -u)" -eq 0 ] && [ "$(cat /proc/sys/kernel/yama/ptrace_scope 2>/dev/null || echo 0)" = 0 ]; then
  for a in read_shadow ptrace_host unshare_user packet_socket io_uring; do
    expect_eq "$(attempt attempts "$a")" "ok" "off (root): $a gets through (the check above can fail)"
  done
else
  echo "note: not root or Yama on: read_shadow, ptrace_host, unshare_user, packet_socket, io_uring not checked unconfined"
fi
expect_eq "$(cat "$WORK/seen/tcp" 2>/dev/null | wc -l)" "1" "off: the listener saw the connection"
expect_exit 0 "the canary plugin with sandbox: off" -- env DIHYA_TEST_CANARY="$WORK/ctor-canary" "$DIHYA_HOST" --config "$WORK/off.yaml" run canary_ctor
[ -e "$WORK/ctor-canary" ] && ok "off: the constructor writes the canary (the check above can fail)" || not_ok "off: no canary"
expect_exit 0 "the audit chain is still intact (appending nothing is no damage)" -- dh audit verify

# A plugin that starts the host runs with no Landlock: its page says so plainly.
expect_exit 0 "info run_scheduler" -- env DIHYA_PLUGIN_PATH="$DIHYA_BUNDLED_PLUGIN_DIR" "$DIHYA_HOST" info run_scheduler
expect_in "$OUT" "UNCONFINED FILES: it executes dihya-host, so it runs with no Landlock" "info says the plugin is unconfined"
expect_exit 0 "check run_scheduler" -- "$DIHYA_HOST" check "$DIHYA_BUNDLED_PLUGIN_DIR/librun_scheduler.so"
expect_in "$OUT" "pass  sandbox capabilities are well-formed: UNCONFINED FILES: it executes dihya-host" \
  "check's text says it too, not only its --json"
expect_exit 0 "the host's own run_scheduler is run so" -- env DIHYA_PLUGIN_PATH="$DIHYA_BUNDLED_PLUGIN_DIR" \
  "$DIHYA_HOST" validate run_scheduler -p once=true
# Any plugin may declare it: one from elsewhere (here, the same file copied) is
# refused under require, and run, noted, under best-effort.
mkdir -p "$WORK/third-party"
cp "$DIHYA_BUNDLED_PLUGIN_DIR/librun_scheduler.so" "$WORK/third-party/"
chmod -R go-w "$WORK/third-party"
expect_exit 2 "a third-party plugin that declares exec dihya-host is refused under require" -- \
  env DIHYA_PLUGIN_PATH="$WORK/third-party" "$DIHYA_HOST" validate run_scheduler -p once=true
expect_in "$ERR" "only a plugin that ships with the host (in its own plugin dir) or is signed by a trusted key may" \
  "the refusal says why"
printf 'sandbox: best-effort\n' >"$WORK/best-effort.yaml"
expect_exit 0 "and run under best-effort" -- env DIHYA_PLUGIN_PATH="$WORK/third-party" "$DIHYA_HOST" \
  --config "$WORK/best-effort.yaml" validate run_scheduler -p once=true

finish
