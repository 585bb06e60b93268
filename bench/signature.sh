#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Cost of verifying a plugin's minisign signature (BLAKE2b-512 of the file +
# two Ed25519 verifications) on a 10 MB plugin: `dihya-host info` with
# `signatures: require` minus the same command with `signatures: off`, next to
# the anchor `minisign -V` of the same file (a C program doing only that work).
#   bench/signature.sh [SIZE_MB]     needs a built default preset (scripts/build.sh default all) and minisign
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
size_mb=${1:-10}
host=${DIHYA_HOST:-$root/build/default/host/dihya-host}
noop=$root/build/default/tests/plugins/libnoop.so
command -v minisign >/dev/null || { echo "minisign is not installed" >&2; exit 2; }
command -v hyperfine >/dev/null || { echo "hyperfine is not installed" >&2; exit 2; }
work=$(mktemp -d /tmp/dihya-bench-signature.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
export DIHYA_STATE_DIR="$work/state" DIHYA_CACHE_DIR="$work/cache" XDG_CONFIG_HOME="$work/config"
export DIHYA_SYSTEM_CONFIG="$work/none.yaml" DIHYA_PLUGIN_PATH="$work/plugins"
mkdir -m 755 "$work/plugins" "$work/keys"
# A plugin padded to SIZE_MB: bytes after the ELF sections are hashed like any others.
cp "$noop" "$work/plugins/libnoop.so"
head -c "$((size_mb * 1024 * 1024))" /dev/urandom >>"$work/plugins/libnoop.so"
minisign -G -W -p "$work/keys/k.pub" -s "$work/k.key" >/dev/null
minisign -S -s "$work/k.key" -m "$work/plugins/libnoop.so" >/dev/null
cc -O2 "$root/bench/signature_floor.c" -o "$work/signature_floor" -lcrypto
printf 'signatures: require\ntrusted_keys_dir: %s\n' "$work/keys" >"$work/require.yaml"
printf 'signatures: off\n' >"$work/off.yaml"
"$host" --config "$work/require.yaml" info noop >/dev/null  # fails loudly if the signature does not verify

hyperfine -N --warmup 10 --runs 60 --export-json "$work/sig.json" \
  -n "dihya-host info, signatures off" "$host --config $work/off.yaml info noop" \
  -n "dihya-host info, signatures require" "$host --config $work/require.yaml info noop" \
  -n "minisign -V (anchor)" "minisign -q -V -p $work/keys/k.pub -m $work/plugins/libnoop.so" \
  -n "floor" "$work/signature_floor $work/keys/k.pub $work/plugins/libnoop.so" \
  -n "empty process" "$work/signature_floor" >/dev/null

python3 - "$work/sig.json" "$size_mb" <<'EOF'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
med = lambda k: r[k]["median"] * 1000
off, req, anchor = med("dihya-host info, signatures off"), med("dihya-host info, signatures require"), med("minisign -V (anchor)")
# The floor's own process start is not verification work: subtract it, as the
# host's start is subtracted through the `signatures: off` run.
floor = med("floor") - med("empty process")
cost = req - off
print(f"| signature verification, {sys.argv[2]} MB plugin | {cost:.2f} ms (info {req:.2f} - {off:.2f} ms) | minisign -V {anchor:.2f} ms; floor {floor:.2f} ms | {cost / anchor:.2f}x / {cost / floor:.2f}x |")
EOF
