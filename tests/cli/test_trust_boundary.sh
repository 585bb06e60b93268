#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# The trust boundary, tried as an attacker would: plugins reached through
# symlinks into directories another user can write, a file swapped while runs
# happen, a poisoned metadata cache, a newer SDK minor, state dirs made under
# umask 000 or planted with symlinks, config files another user can edit,
# FIFOs and other hostile inputs, and a full disk. The attacker is a second
# local user, created here when the test runs as root (and removed at exit).
source "$(dirname "$0")/lib.sh"
P="$DIHYA_TEST_PLUGIN_DIR"

EVE=""
if [ "$(id -u)" -eq 0 ] && command -v useradd >/dev/null; then
  EVE="dihya-eve-$$"
  useradd --no-create-home --shell /usr/sbin/nologin "$EVE"
  trap 'userdel "$EVE" 2>/dev/null || true; rm -rf "$WORK" "$HOST_DIRS"; [ -n "$DB_NAME" ] && psql -X -q "$base_url" -c "drop database if exists $DB_NAME with (force)" >/dev/null 2>&1 || true' EXIT
else
  echo "skip: the second-user cases need root (useradd); running the others"
fi

# expect_quick CODE DESCRIPTION -- command...: the exit code, within 5 s (a hang is a failure).
expect_quick() {
  local want=$1 what=$2
  shift 3
  if [ "$1" = dh ]; then shift; set -- "$DIHYA_HOST" "$@"; fi
  expect_exit "$want" "$what" -- timeout 5 "$@"
  expect_one_line_error "$what"
}

## Plugin loading ###########################################################

mkdir -p "$WORK/loop" && ln -s "$WORK/loop/b.so" "$WORK/loop/a.so" && ln -s "$WORK/loop/a.so" "$WORK/loop/b.so"
expect_quick 2 "check of a symlink loop" -- dh check "$WORK/loop/a.so"
expect_in "$ERR" "Too many levels of symbolic links" "it names the loop, not a missing file"
expect_quick 2 "check of a missing file" -- dh check "$WORK/loop/none.so"
expect_in "$ERR" "no such plugin file" "a missing file is said as such"

mkdir -p "$WORK/trusted" "$WORK/open"
chmod 755 "$WORK/trusted"
chmod 777 "$WORK/open"   # writable by everyone, not sticky: anyone can swap what it holds
cp "$P/libnoop.so" "$WORK/open/libnoop.so"
chmod 644 "$WORK/open/libnoop.so"
ln -s "$WORK/open/libnoop.so" "$WORK/trusted/libnoop.so"
expect_exit 3 "a root-owned symlink into a world-writable directory is refused" -- \
  env DIHYA_PLUGIN_PATH="$WORK/trusted" "$DIHYA_HOST" run noop
expect_one_line_error "symlink into a writable directory"
expect_in "$ERR" "directory $WORK/open is writable by group or others" "the refusal names the real culprit directory"
expect_in "$ERR" "chmod go-w $WORK/open" "and the fix that closes it"
expect_not_in "$ERR" "chown" "no advice to chown the link (that fixes nothing)"
expect_exit 3 "the same file by its path through the link" -- dh run "$WORK/trusted/libnoop.so"

# A sticky world-writable directory (like /tmp) is fine for an entry owned by root or you.
mkdir -p "$WORK/sticky"
chmod 1777 "$WORK/sticky"
mkdir -p "$WORK/sticky/plugins"
cp "$P/libnoop.so" "$WORK/sticky/plugins/"
expect_exit 0 "a plugin below a sticky world-writable directory, entry owned by you" -- \
  dh run "$WORK/sticky/plugins/libnoop.so"

if [ -n "$EVE" ]; then
  mkdir -p "$WORK/eve"
  cp "$P/libnoop.so" "$WORK/eve/libnoop.so"
  chown -R "$EVE" "$WORK/eve"
  chmod 755 "$WORK/eve"
  expect_exit 3 "a plugin in a directory owned by another user" -- dh run "$WORK/eve/libnoop.so"
  expect_in "$ERR" "owned by uid $(id -u "$EVE")" "names the other user's uid"
  mkdir -p "$WORK/sticky/eve-plugins"
  cp "$P/libnoop.so" "$WORK/sticky/eve-plugins/"
  chown "$EVE" "$WORK/sticky/eve-plugins"
  expect_exit 3 "below a sticky directory, an entry owned by another user is refused" -- \
    dh run "$WORK/sticky/eve-plugins/libnoop.so"
fi

# The swap race: while runs go on, the file behind the name is swapped back
# and forth with foreign code whose constructor leaves a canary. The host
# loads the descriptor it checked, never the path again, so the canary must
# never appear. First in a directory others can write (every run refused),
# then in a trusted one (each run loads exactly what it checked).
export DIHYA_TEST_CANARY="$WORK/canary"
# Without the sandbox: it would keep the canary's constructor from writing
# anywhere, and this test is about which file loads, not what it may do.
printf 'sandbox: off\n' >"$WORK/unsandboxed.yaml"
swap_loop() {  # swap_loop DIR: alternates DIR/libnoop.so between noop and the canary plugin
  local dir=$1
  cp "$P/libnoop.so" "$dir/good.plugin"
  cp "$P/libcanary_ctor.so" "$dir/evil.plugin"
  chmod 644 "$dir/good.plugin" "$dir/evil.plugin"
  for _ in $(seq 1 4000); do
    cp -p "$dir/evil.plugin" "$dir/.swap" && mv -f "$dir/.swap" "$dir/libnoop.so"
    cp -p "$dir/good.plugin" "$dir/.swap" && mv -f "$dir/.swap" "$dir/libnoop.so"
    [ -e "$dir/stop" ] && break
  done
}
race() {  # race DIR RUNS: counts the runs that exited 0 ($RACE_OK), refused 2 or 3 ($RACE_REFUSED), other ($RACE_OTHER)
  local dir=$1 runs=$2
  rm -f "$dir/stop"
  swap_loop "$dir" &
  local loop=$!
  RACE_OK=0
  RACE_REFUSED=0
  RACE_OTHER=0
  for _ in $(seq 1 "$runs"); do
    local code=0
    DIHYA_PLUGIN_PATH="$dir" "$DIHYA_HOST" --config "$WORK/unsandboxed.yaml" run noop >/dev/null 2>&1 || code=$?
    case $code in 0) RACE_OK=$((RACE_OK + 1)) ;; 2 | 3) RACE_REFUSED=$((RACE_REFUSED + 1)) ;; *) RACE_OTHER=$((RACE_OTHER + 1)) ;; esac
  done
  touch "$dir/stop"
  wait "$loop" || true
}
rm -f "$DIHYA_TEST_CANARY"
race "$WORK/open" 30
expect_eq "$RACE_REFUSED" 30 "swap race in a world-writable directory: every run refused"
if [ -e "$DIHYA_TEST_CANARY" ]; then not_ok "foreign code ran during the swap race (open dir)"; else ok "no foreign code ran (open dir)"; fi
mkdir -p "$WORK/own"
chmod 755 "$WORK/own"
race "$WORK/own" 60
expect_eq "$RACE_OTHER" 0 "swap race in a trusted directory: every run ran noop or was refused"
if [ "$RACE_OK" -gt 0 ]; then ok "noop ran $RACE_OK time(s) during the race"; else not_ok "noop never ran during the race"; fi
if [ -e "$DIHYA_TEST_CANARY" ]; then not_ok "foreign code ran during the swap race (trusted dir)"; else ok "no foreign code ran (trusted dir)"; fi
# Positive control: the canary plugin, run by its own name, does leave the canary.
expect_exit 0 "the canary plugin run on purpose" -- dh --config "$WORK/unsandboxed.yaml" run canary_ctor
if [ -e "$DIHYA_TEST_CANARY" ]; then ok "the canary test can fail: the canary appears when that code runs"; else not_ok "the canary plugin left no canary"; fi
unset DIHYA_TEST_CANARY

# A poisoned cache: the entries of noop and echo_params swap names, stamps kept.
expect_exit 0 "list fills the metadata cache" -- dh list
cache=$(ls -t "$DIHYA_CACHE_DIR"/plugin-metadata-*.json | head -n 1)  # the one list just wrote
python3 - "$cache" "$P" <<'EOF'
import json, sys
path, plugins = sys.argv[1], sys.argv[2]
doc = json.load(open(path))
files = doc["files"]
a, b = files[plugins + "/libnoop.so"], files[plugins + "/libecho_params.so"]
a["name"], b["name"] = b["name"], a["name"]
json.dump(doc, open(path, "w"))
EOF
expect_exit 0 "run noop with a poisoned cache" -- dh run noop --json
expect_in "$OUT" '"plugin": "noop"' "the run is noop's"
expect_in "$OUT" '"summary": "nothing done"' "and noop's code ran, not echo_params'"
expect_exit 2 "run echo_params with the poisoned cache still validates echo_params' own schema" -- dh run echo_params
expect_in "$ERR" "name" "echo_params' required parameter is asked for"
# A cached digest counts only while the file's stamp is the one it was
# computed for: an entry whose stamp no longer matches is hashed again.
expect_exit 0 "list rebuilds the metadata cache" -- dh list
expect_exit 0 "a run puts noop's digest in the cache" -- dh run noop
real_sha=$(sha256sum "$P/libnoop.so" | cut -c1-64)
python3 - "$cache" "$P" <<'EOF'
import json, sys
path, plugins = sys.argv[1], sys.argv[2]
doc = json.load(open(path))
entry = doc["files"][plugins + "/libnoop.so"]
assert entry["sha256"], "no cached digest"
entry["sha256"] = "0" * 64
entry["mtime_ns"] += 1
json.dump(doc, open(path, "w"))
EOF
expect_exit 0 "run noop with a stale cached digest" -- dh run noop --json
expect_in "$OUT" "\"plugin_sha256\": \"$real_sha\"" "the run records the file's real SHA-256"
# Hostile caches (deep nesting, arrays, wrong types, cut short) are rebuilt.
deep=$(python3 -c 'print("{\"format\":\"dihya-metadata-cache-3\",\"files\":" + "{\"a\":" * 5000 + "1" + "}" * 5001)')
for doc in "$deep" '{"format":"dihya-metadata-cache-3","files":[1,2]}' \
  '{"format":"dihya-metadata-cache-3","files":{"x":{"size":-1,"name":7}}}' '{"format":"dihya-metadata-cache-3","fi'; do
  printf '%s' "$doc" >"$cache"
  expect_exit 0 "run noop with a hostile cache (${doc:0:60})" -- dh run noop --json
  expect_in "$OUT" "\"plugin_sha256\": \"$real_sha\"" "the run records the real SHA-256 (${doc:0:60})"
  if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["files"][sys.argv[2] + "/libnoop.so"]["name"] == "noop"' \
    "$cache" "$P" 2>/dev/null; then ok "the hostile cache was rebuilt (${doc:0:60})"; else not_ok "the hostile cache was not rebuilt (${doc:0:60})"; fi
done
expect_quick 2 "run of an empty plugin name loads nothing" -- dh run ''
expect_in "$ERR" "plugin: empty value" "says the name is empty"

# ABI minor: a plugin built for a newer SDK minor than the host's.
expect_exit 3 "a plugin built for a newer SDK minor" -- dh run abi_newer_minor
expect_in "$ERR" "libabi_newer_minor.so" "the name leads to the file and its reason, not 'unknown plugin'"
expect_exit 3 "the same by path" -- dh run "$P/libabi_newer_minor.so"
expect_one_line_error "newer ABI minor"
expect_in "$ERR" "ABI 2.9" "names the plugin's ABI"
expect_in "$ERR" "ABI 2.0" "names the host's ABI"

## State, cache and metrics dirs ############################################

(
  umask 000
  export DIHYA_STATE_DIR="$WORK/u/state" DIHYA_CACHE_DIR="$WORK/u/cache" DIHYA_METRICS_DIR="$WORK/u/metrics"
  dh run noop --concurrency forbid >"$OUT" 2>"$ERR"
  dh run noop -q --output-dir "$WORK/u/out/deep" >/dev/null 2>&1
  dh docs --out "$WORK/u/docs/plugins" >/dev/null 2>&1
)
mode_ok() {  # mode_ok PATH DESCRIPTION: no write bit for group or others
  local m
  m=$(stat -c %a "$1")
  if [ $((8#$m & 8#022)) -eq 0 ]; then ok "$2 (mode $m)"; else not_ok "$2: mode $m"; fi
}
mode_ok "$WORK/u/state" "umask 000: the state dir is not writable by others"
mode_ok "$WORK/u/state/runs" "umask 000: runs/"
expect_eq "$(stat -c %a "$WORK/u/state/runs")" 700 "umask 000: runs/ is 0700"
expect_eq "$(stat -c %a "$WORK/u/state/locks")" 700 "umask 000: locks/ is 0700"
expect_eq "$(stat -c %a "$WORK/u/cache")" 700 "umask 000: the cache dir is 0700"
expect_eq "$(stat -c %a "$WORK/u/metrics")" 755 "umask 000: the metrics dir is 0755 (node_exporter reads it)"
expect_eq "$(stat -c %a "$WORK/u/state/runs/state.log")" 600 "umask 000: the state log (the run records) is 0600"
for d in out out/deep docs docs/plugins; do
  expect_eq "$(stat -c %a "$WORK/u/$d" 2>/dev/null)" 755 "umask 000: $d made by --output-dir / docs --out is 0755"
done
if [ "$(id -u)" -eq 0 ]; then
  expect_eq "$(stat -c %a "$WORK/u/state")" 711 "as root the state dir is 0711 (the embedded cluster's user passes through)"
else
  expect_eq "$(stat -c %a "$WORK/u/state")" 700 "the state dir is 0700"
fi

S="$WORK/s/state"
mkdir -p "$S"
chmod 700 "$S"
export DIHYA_STATE_DIR="$S"
expect_exit 0 "a first run in a fresh state dir" -- dh run noop --concurrency forbid
echo "precious" >"$WORK/victim"
ln -sf "$WORK/victim" "$S/locks/noop.lock"
expect_exit 1 "a lock file planted as a symlink is refused" -- dh run noop --concurrency forbid
expect_one_line_error "planted lock symlink"
expect_in "$ERR" "$S/locks/noop.lock" "names the lock file"
expect_eq "$(cat "$WORK/victim")" "precious" "the symlink's target was not truncated"
rm -f "$S/locks/noop.lock"
ln -s "$WORK/victim" "$S/metrics.lock"
expect_exit 0 "a run with a planted metrics.lock symlink still runs" -- env DIHYA_METRICS_DIR="$WORK/s/metrics" "$DIHYA_HOST" run noop
expect_in "$ERR" "metrics not written" "the metrics are refused with a warning"
expect_eq "$(cat "$WORK/victim")" "precious" "metrics.lock's target untouched"
rm -f "$S/metrics.lock"
id=$(last_run_id)
rm -f "$S/runs/state.idx"
ln -s "$WORK/victim" "$S/runs/state.idx"
expect_exit 1 "an index planted as a symlink is refused" -- dh show "$id"
expect_one_line_error "planted index symlink"
expect_in "$ERR" "$S/runs/state.idx" "names the index"
expect_eq "$(cat "$WORK/victim")" "precious" "the index symlink's target was not written"
rm "$S/runs/state.idx"
expect_exit 0 "the index is rebuilt once the symlink is gone" -- dh show "$id"

chmod 777 "$S"
expect_quick 2 "a world-writable state dir is refused" -- dh run noop
expect_in "$ERR" "chmod go-w $S" "the fix is named"
expect_quick 2 "history in a world-writable state dir is refused too" -- dh history
chmod 700 "$S"
if [ -n "$EVE" ]; then
  chown "$EVE" "$S"
  expect_quick 2 "a state dir owned by another user is refused" -- dh run noop
  expect_in "$ERR" "owned by uid $(id -u "$EVE")" "names the owner"
  chown "$(id -u)" "$S"
  mkdir -p "$WORK/eve-cache"
  chown "$EVE" "$WORK/eve-cache"
  expect_quick 2 "a cache dir owned by another user is refused" -- env DIHYA_CACHE_DIR="$WORK/eve-cache" "$DIHYA_HOST" list
  # A symlink another user owns, in a sticky public dir, would choose where root's runs go.
  mkdir -p "$WORK/pub" && chmod 1777 "$WORK/pub"
  ln -s "$S" "$WORK/pub/state" && chown -h "$EVE" "$WORK/pub/state"
  expect_quick 2 "a state dir reached through another user's symlink is refused" -- \
    env DIHYA_STATE_DIR="$WORK/pub/state" "$DIHYA_HOST" run noop
  expect_in "$ERR" "is a symlink owned by uid $(id -u "$EVE")" "names the symlink's owner"
  expect_quick 2 "history through it too" -- env DIHYA_STATE_DIR="$WORK/pub/state" "$DIHYA_HOST" history
  # The same for the directory a run writes its files to.
  mkdir -p "$WORK/eve-out" && chown "$EVE" "$WORK/eve-out"
  ln -s "$WORK/eve-out" "$WORK/pub/out" && chown -h "$EVE" "$WORK/pub/out"
  expect_quick 2 "--output-dir through another user's symlink is refused" -- dh run noop --output-dir "$WORK/pub/out"
  expect_in "$ERR" "$WORK/pub/out is a symlink owned by uid $(id -u "$EVE")" "names the link's owner"
  # Not only as the last component: a directory below it would be made in the directory the link's owner chose.
  chmod 777 "$WORK/eve-out"
  expect_quick 2 "--output-dir below another user's symlink is refused" -- dh run noop --output-dir "$WORK/pub/out/sub"
  expect_in "$ERR" "$WORK/pub/out is a symlink owned by uid $(id -u "$EVE")" "names the link on the way"
  expect_eq "$(ls -A "$WORK/eve-out")" "" "nothing was made through it"
  # A new state dir inside a directory another user owns: refused before anything is made there.
  mkdir -p "$WORK/eve-dir" && chown "$EVE" "$WORK/eve-dir"
  expect_quick 2 "a new state dir in another user's directory is refused" -- \
    env DIHYA_STATE_DIR="$WORK/eve-dir/state" "$DIHYA_HOST" run noop
  expect_eq "$(ls -A "$WORK/eve-dir")" "" "nothing was made in it"
  ln -s "$S" "$WORK/pub/mine"
  expect_exit 0 "a symlink of our own in a sticky dir is followed" -- env DIHYA_STATE_DIR="$WORK/pub/mine" "$DIHYA_HOST" run noop
fi
mkdir -p "$WORK/open-state" && chmod 777 "$WORK/open-state"
expect_quick 2 "a new state dir in a dir others can write is refused" -- env DIHYA_STATE_DIR="$WORK/open-state/new" "$DIHYA_HOST" run noop
expect_eq "$(ls -A "$WORK/open-state")" "" "nothing was made in it"
ln -s "$S" "$WORK/open-state/state"
expect_quick 2 "a state dir symlink in a dir others can write is refused" -- \
  env DIHYA_STATE_DIR="$WORK/open-state/state" "$DIHYA_HOST" run noop
expect_in "$ERR" "chmod go-w $WORK/open-state" "the fix is named"
expect_exit 0 "the fixed state dir works again" -- dh run noop

## Config files ##############################################################

mkdir -p "$WORK/cfg"
# A NUL written as a YAML escape would cut the path in two (C calls stop there):
# two state dirs, one of them in /tmp/evil.
printf 'state_dir: "%s/nul-state\\0/../../evil-%s"\n' "$WORK" "$$" >"$WORK/cfg/nul.yaml"
expect_quick 2 "a NUL escaped in a config path is refused" -- dh --config "$WORK/cfg/nul.yaml" run noop
expect_in "$ERR" "nul.yaml:1:12: a scalar decodes to a NUL character" "it names the file and the place"
[ ! -e "$WORK/nul-state" ] && [ ! -e "/tmp/evil-$$" ] && ok "no state dir was made" || not_ok "a state dir was made"
printf 'signatures: "bo\\0gus"\n' >"$WORK/cfg/nul-sig.yaml"
expect_quick 2 "a NUL escaped in another setting" -- dh --config "$WORK/cfg/nul-sig.yaml" list
# The plugin path written as one string (dir:dir) is no exception.
printf 'plugin_path: "%s\\0junk"\n' "$DIHYA_TEST_PLUGIN_DIR" >"$WORK/cfg/nul-path.yaml"
expect_quick 2 "a NUL escaped in plugin_path written as a string" -- dh --config "$WORK/cfg/nul-path.yaml" run noop
expect_in "$ERR" "a scalar decodes to a NUL character" "it says why"
# A directory setting relative to wherever the command runs is refused.
for setting in state_dir cache_dir metrics_dir trusted_keys_dir; do
  printf '%s: relative/dir\n' "$setting" >"$WORK/cfg/relative.yaml"
  cd "$WORK"
  expect_quick 2 "a relative $setting" -- dh --config "$WORK/cfg/relative.yaml" list
  cd - >/dev/null
  expect_in "$ERR" "'$setting' must be an absolute path, not 'relative/dir'" "it names $setting"
done
[ ! -e "$WORK/relative" ] && ok "no directory was made relative to the working directory" || not_ok "a relative dir was made"
expect_quick 2 "an empty --state-dir" -- dh --state-dir "" list
expect_quick 2 "an empty --config" -- dh --config "" list
# An empty URL or plugin dir would fall back to the environment or the
# embedded cluster, not what the flag asked for.
DIHYA_DATABASE_URL="postgresql://app@db.invalid/app" expect_quick 2 "an empty --database-url" -- dh --database-url "" history
expect_in "$ERR" "--database-url: empty URL" "it names --database-url"
expect_quick 2 "an empty --plugin-path" -- dh --plugin-path "" list
# A setting's name is echoed in its error: masked when it holds a URL password.
printf 'postgresql://u:Kw9-s3cret@h/db: 1\n' >"$WORK/cfg/urlkey.yaml"
chmod 600 "$WORK/cfg/urlkey.yaml"
expect_quick 2 "an unknown setting named by a URL" -- dh --config "$WORK/cfg/urlkey.yaml" list
expect_in "$ERR" "unknown setting 'postgresql://u:***@h/db'" "the error names the setting, masked"
expect_not_in "$ERR" "Kw9-s3cret" "the error shows no password"
cd "$WORK"
expect_quick 2 "docs --out with an empty path" -- dh docs --out ""
expect_in "$ERR" "--out: empty value" "docs says which option is empty"
expect_quick 2 "run --output-dir with an empty path" -- dh run noop --output-dir ""
cd - >/dev/null
[ -z "$(ls "$WORK"/*.md 2>/dev/null)" ] && ok "nothing was written to the working directory" || not_ok "docs wrote into the cwd"
expect_quick 2 "show with an empty run id" -- dh show ""
printf 'state_dir: %s\n' "$WORK/evil-state" >"$WORK/cfg/config.yaml"
chmod 666 "$WORK/cfg/config.yaml"
expect_quick 2 "a config file writable by others is refused" -- dh --config "$WORK/cfg/config.yaml" history
expect_in "$ERR" "config file" "says which file"
chmod 644 "$WORK/cfg/config.yaml"
chmod 777 "$WORK/cfg"
expect_quick 2 "a config file in a world-writable directory is refused" -- dh --config "$WORK/cfg/config.yaml" history
chmod 755 "$WORK/cfg"
if [ -n "$EVE" ]; then
  chown "$EVE" "$WORK/cfg/config.yaml"
  expect_quick 2 "a config file owned by another user is refused" -- dh --config "$WORK/cfg/config.yaml" history
  chown "$(id -u)" "$WORK/cfg/config.yaml"
fi
if [ -e "$WORK/evil-state" ]; then not_ok "a refused config was used"; else ok "no refused config was used"; fi
expect_exit 0 "the fixed config file is read" -- dh --config "$WORK/cfg/config.yaml" history
printf -- '- [a]: 1\n' >"$WORK/cfg/odd.yaml"
printf '{a: 1}: x\n' >"$WORK/cfg/odd.yaml"
expect_quick 2 "a config file with a mapping as key" -- dh --config "$WORK/cfg/odd.yaml" history
expect_quick 2 "--config naming a directory" -- dh --config "$WORK/cfg" history
mkfifo "$WORK/fifo"
expect_quick 2 "--config naming a FIFO" -- dh --config "$WORK/fifo" history
expect_in "$ERR" "FIFO" "says it is a FIFO"

## Hostile inputs ############################################################

expect_quick 2 "--params-file naming a FIFO" -- dh run echo_params --params-file "$WORK/fifo"
expect_quick 2 "@file: naming a FIFO" -- dh run echo_params --param name=@file:"$WORK/fifo"
expect_quick 2 "a plugin path naming a FIFO" -- dh run "$WORK/fifo"
expect_quick 2 "a plugin path naming a directory" -- dh run "$WORK/trusted/"
echo "a file" >"$WORK/a-file"
expect_quick 2 "--state-dir naming a file" -- dh --state-dir "$WORK/a-file" run noop
expect_in "$ERR" "not a directory" "says it is not a directory"
before=$(dh history --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
expect_quick 2 "--output-dir naming a file" -- dh run noop --output-dir "$WORK/a-file"
after=$(dh history --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
expect_eq "$after" "$before" "--output-dir naming a file leaves no phantom run"
id=$(last_run_id)
for t in nan inf -1 0 1e9; do
  expect_quick 2 "rollback --timeout $t" -- dh rollback "$id" --timeout "$t"
done
expect_not_in "$ERR" "-9223372036854776" "no overflowed number in the message"
expect_quick 2 "run --timeout nan" -- dh run noop --timeout nan
for since in garbage 2026-13 2026-11-25X 2026-11-25T25 "2026-11-25 10:00"; do
  expect_quick 2 "history --since '$since'" -- dh history --since "$since"
done
for since in 2026 2026-11 2026-11-25 2026-11-25T10 2026-11-25T10:00 2026-11-25T10:00:00Z 2026-11-25T10:00:00.5Z; do
  expect_exit 0 "history --since $since" -- dh history --since "$since"
done
if [ -n "$DB_NAME" ]; then
  expect_exit 1 "a database error from libpq" -- dh --database-url "postgresql:///nowhere?host=$WORK/no-such-socket-dir" \
    run purge_rows --yes --param table=items --param max_id=1
  expect_one_line_error "libpq error"
  expect_in "$ERR" "failed" "the libpq reason is kept"
fi

## A full disk ###############################################################

if [ "$(id -u)" -eq 0 ] && mkdir -p "$WORK/full" && mount -t tmpfs -o size=1m tmpfs "$WORK/full" 2>/dev/null; then
  F="$WORK/full/state"
  mkdir -m 700 "$F"
  export DIHYA_STATE_DIR="$F"
  expect_exit 0 "a run on the small state filesystem" -- dh run noop
  dd if=/dev/zero of="$WORK/full/fill" bs=4k 2>/dev/null || true
  # Runs still go through while their records fit in blocks already there
  # (the state log's reserve, the audit log's last page, the head rewritten
  # in place); the first that needs a new block must fail cleanly.
  code=0
  for _ in $(seq 1 30); do
    runs_before=$(ls "$F/runs" | wc -l)
    dh run noop >"$OUT" 2>"$ERR" || { code=$?; break; }
  done
  expect_eq "$code" 1 "a run on a full state filesystem fails once a record needs a new block (exit 1)"
  expect_one_line_error "full disk"
  grep -qi "no space left" "$ERR" && ok "says no space left" || not_ok "does not say no space left"
  expect_in "$ERR" "$F" "names the path"
  expect_not_in "$ERR" "internal error" "not an internal error"
  expect_eq "$(ls "$F/runs" | wc -l)" "$runs_before" "no debris: no run directory left behind"
  # Runs whose end records are larger: each that starts has the room for its end set aside.
  big=$(head -c 3000 /dev/zero | tr '\0' a)
  for _ in $(seq 1 30); do dh run echo_params -p "name=$big" >/dev/null 2>&1 || break; done
  # Reading still works on the full disk (the index this process needs stays in memory).
  expect_exit 0 "history on the full disk" -- dh history --json
  outcomes=$(python3 -c 'import json,sys; print(" ".join(sorted(set(r["outcome"] for r in json.load(open(sys.argv[1]))))))' "$OUT")
  expect_eq "$outcomes" "succeeded" "every run that started on the filling disk ended recorded as succeeded"
  expect_exit 0 "audit verify on the full disk" -- dh audit verify
  expect_eq "$(ls "$F/runs" | grep -c tmp || true)" "0" "no temporary index left behind"
  # Full during the run: the record still says how the run ended.
  rm -f "$WORK/full/fill"
  dh run hostile --param behaviour=hang --param seconds=2 >"$OUT" 2>"$ERR" &
  runner=$!
  for _ in $(seq 1 50); do [ "$(ls "$F/runs" | wc -l)" -gt "$runs_before" ] && break; sleep 0.05; done
  sleep 0.3
  dd if=/dev/zero of="$WORK/full/fill" bs=4k 2>/dev/null || true
  code=0
  wait "$runner" || code=$?
  expect_eq "$code" 0 "a run that filled up the disk while running ends with its own exit code"
  rm -f "$WORK/full/fill"  # history builds its index: room for it
  expect_eq "$(last_run_field outcome)" succeeded "its record says succeeded, not interrupted"
  umount "$WORK/full"
  export DIHYA_STATE_DIR="$S"
else
  echo "skip: the full-disk cases need root to mount a small tmpfs"
fi

finish
