#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Signed plugins: minisign signatures (Ed25519 over BLAKE2b-512), made here
# with the stock minisign tool and throwaway keys, verified by the host on the
# descriptor it loads. Each way a signature can be wrong is refused with one
# line and exit 3; the bundled plugins, signed with a test key, load under
# `signatures: require`.
source "$(dirname "$0")/lib.sh"
P="$DIHYA_TEST_PLUGIN_DIR"
if ! command -v minisign >/dev/null; then
  echo "skip: minisign is not installed (scripts/install-deps.sh installs it)"
  exit 77
fi

K="$WORK/keys"
mkdir -m 755 "$K" "$WORK/secret" "$WORK/signed"
minisign -G -W -p "$WORK/secret/a.pub" -s "$WORK/secret/a.key" >/dev/null
minisign -G -W -p "$WORK/secret/b.pub" -s "$WORK/secret/b.key" >/dev/null
key_id() { sed -n 's/^untrusted comment: minisign public key //p' "$1"; }
A_ID=$(key_id "$WORK/secret/a.pub")
cp "$WORK/secret/a.pub" "$K/a.pub"
chmod 644 "$K/a.pub"
sign() { minisign -S -s "$WORK/secret/$1.key" -m "$2" >/dev/null; }

cat >"$WORK/require.yaml" <<EOF
signatures: require
trusted_keys_dir: $K
EOF
cat >"$WORK/if-present.yaml" <<EOF
signatures: if-present
trusted_keys_dir: $K
EOF
req() { dh --config "$WORK/require.yaml" "$@"; }

cp "$P/libnoop.so" "$P/libecho_params.so" "$WORK/signed/"
S="$WORK/signed"

expect_exit 3 "require: an unsigned plugin is refused" -- req run "$S/libnoop.so"
expect_one_line_error "unsigned"
expect_in "$ERR" "minisign -Sm" "says how to sign it"
expect_exit 0 "if-present: an unsigned plugin runs" -- dh --config "$WORK/if-present.yaml" run "$S/libnoop.so"

sign a "$S/libnoop.so"
expect_exit 0 "require: a plugin signed by a trusted key runs" -- req run "$S/libnoop.so"
expect_in "$OUT" "nothing done" "and its code ran"
expect_exit 0 "by name through the search path too" -- env DIHYA_PLUGIN_PATH="$S" "$DIHYA_HOST" --config "$WORK/require.yaml" run noop

# One byte changed in the middle of the file (the ELF metadata stays readable).
cp "$S/libnoop.so" "$WORK/tampered.so"
cp "$S/libnoop.so.minisig" "$WORK/tampered.so.minisig"
size=$(stat -c %s "$WORK/tampered.so")
printf '\x5a' | dd of="$WORK/tampered.so" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
expect_exit 3 "a file with one byte changed is refused" -- req run "$WORK/tampered.so"
expect_one_line_error "tampered"
expect_in "$ERR" "not those key $A_ID signed" "says the bytes are not what was signed"

cp "$S/libnoop.so.minisig" "$S/libecho_params.so.minisig"
expect_exit 3 "the signature of another file is refused" -- req run "$S/libecho_params.so" --param name=x
expect_in "$ERR" "another file" "says so"

sign b "$S/libecho_params.so"
expect_exit 3 "a signature by a key that is not trusted is refused" -- req run "$S/libecho_params.so" --param name=x
expect_in "$ERR" "not among the trusted keys" "says the key is not trusted"

sed -i '3s/^trusted comment: /trusted comment: altered /' "$S/libnoop.so.minisig"
expect_exit 3 "an altered trusted comment is refused" -- req run "$S/libnoop.so"
expect_in "$ERR" "trusted comment" "says the comment was altered"
sign a "$S/libnoop.so"

echo "$A_ID  # leaked 2026-12" >"$K/revoked"
chmod 644 "$K/revoked"
expect_exit 3 "a revoked key is refused" -- req run "$S/libnoop.so"
expect_in "$ERR" "revoked" "says the key is revoked"
# minisign prints key ids without leading zeros; a list written with all 16 digits matches too.
printf '%016x\n' "0x$A_ID" >"$K/revoked"
expect_exit 3 "a revoked key written with 16 lower-case digits is refused" -- req run "$S/libnoop.so"
rm "$K/revoked"

echo "expires: 2001-01-01" >>"$K/a.pub"
expect_exit 3 "an expired key is refused" -- req run "$S/libnoop.so"
expect_in "$ERR" "expired on 2001-01-01" "says when it expired"
cp "$WORK/secret/a.pub" "$K/a.pub"
echo "expires: 2999-01-01" >>"$K/a.pub"
expect_exit 0 "a key that expires later is accepted" -- req run "$S/libnoop.so"

chmod 777 "$K"
expect_exit 3 "a trusted-keys directory writable by others is refused" -- req run "$S/libnoop.so"
expect_in "$ERR" "chmod go-w $K" "the fix is named"
chmod 755 "$K"
chmod 666 "$K/a.pub"
expect_exit 3 "a key file writable by others is refused" -- req run "$S/libnoop.so"
chmod 644 "$K/a.pub"

# Key rotation: add the new key, re-sign, retire the old one.
cp "$WORK/secret/b.pub" "$K/b.pub"
chmod 644 "$K/b.pub"
expect_exit 0 "rotation: the old signature still verifies while both keys are trusted" -- req run "$S/libnoop.so"
sign b "$S/libnoop.so"
rm "$K/a.pub"
expect_exit 0 "rotation: re-signed with the new key, the old key retired" -- req run "$S/libnoop.so"

printf 'signatures: sometimes\n' >"$WORK/bad.yaml"
expect_exit 2 "an unknown signatures setting" -- dh --config "$WORK/bad.yaml" list
expect_one_line_error "bad setting"

# The bundled plugins, signed at build time of this test with a throwaway key
# (run_scheduler among them: out of the host's own plugin dir, a plugin that
# starts the host may run without Landlock only when a trusted key signed it).
if [ -n "${DIHYA_BUNDLED_PLUGIN_DIR:-}" ] && ls "$DIHYA_BUNDLED_PLUGIN_DIR"/*.so >/dev/null 2>&1; then
  mkdir -m 755 "$WORK/bundled"
  cp "$DIHYA_BUNDLED_PLUGIN_DIR"/*.so "$WORK/bundled/"
  for f in "$WORK/bundled"/*.so; do sign b "$f"; done
  for f in "$WORK/bundled"/*.so; do
    name=$(basename "$f" .so)
    name=${name#lib}
    expect_exit 0 "bundled $name, signed, loads under require" -- \
      env DIHYA_PLUGIN_PATH="$WORK/bundled" "$DIHYA_HOST" --config "$WORK/require.yaml" check "$name"
  done
fi

finish
