#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# The SDK as a plugin author gets it: install to a temporary prefix, build
# examples/hello_plugin out of tree with find_package(DihyaSDK), and check it.
source "$(dirname "$0")/lib.sh"
: "${DIHYA_BUILD_DIR:?}" "${DIHYA_SOURCE_DIR:?}"

expect_exit 0 "install the SDK to a temporary prefix" -- cmake --install "$DIHYA_BUILD_DIR" --prefix "$WORK/prefix"
[ -f "$WORK/prefix/include/dihya/plugin.hpp" ] && ok "headers installed" || not_ok "headers missing"
expect_exit 0 "configure the example against the installed SDK" -- \
  cmake -S "$DIHYA_SOURCE_DIR/examples/hello_plugin" -B "$WORK/example" -G Ninja -DCMAKE_PREFIX_PATH="$WORK/prefix"
expect_exit 0 "build the example" -- cmake --build "$WORK/example"
so="$WORK/example/libhello.so"
expect_exit 0 "the example passes check --exercise" -- dh check "$so" --exercise
expect_in "$OUT" "hello: conforms" "conforms"
expect_exit 0 "the example runs" -- dh run "$so" -p name=CI
expect_in "$OUT" "greeted CI" "and greets"
finish
