#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# make-man.sh DIHYA_HOST OUT: writes the dihya-host(1) man page with help2man from
# the top-level --help, plus one section per command from `<command> --help`.
set -euo pipefail
host=$1 out=$2
include=$(mktemp)
trap 'rm -f "$include"' EXIT
{
  echo "[COMMANDS]"
  "$host" --help | awk '/^Commands:/{on=1; next} /^$/{on=0} on{print $1}' | while read -r cmd; do
    echo ".SS $cmd"
    echo ".nf"
    "$host" "$cmd" --help | sed -e 's/\\/\\e/g' -e 's/^\./\\\&./'
    echo ".fi"
  done
  echo "[FILES]"
  echo "/etc/dihya/config.yaml, \$XDG_CONFIG_HOME/dihya/config.yaml: settings. /var/lib/dihya: runs, journals, audit log, embedded cluster (as root)."
} >"$include"
help2man --no-info --no-discard-stderr --section 1 --name "run automation plugins, supervised and audited" \
  --include "$include" --output "$out" "$host"
