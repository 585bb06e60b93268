#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# make-man.sh DIHYA_HOST OUT: writes the dihya-host(1) man page with help2man from
# the top-level --help, plus one section per command from `<command> --help`
# and one per action with help of its own (`schedule add --help`,
# `history prune --help`).
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
    # Actions: those an "Actions:" list names, and any `dihya-host CMD ACTION --help` quoted.
    { "$host" "$cmd" --help | awk '/^Actions:/{on=1; next} /^$/{on=0} on && /^  [a-z]/{print $1}'
      "$host" "$cmd" --help | grep -o "dihya-host $cmd [a-z-]* --help" | awk '{print $3}' || true
    } | awk '!seen[$0]++' | while read -r action; do
      action_help=$("$host" "$cmd" "$action" --help 2>/dev/null) || continue
      [ "$action_help" != "$("$host" "$cmd" --help)" ] || continue
      echo ".SS $cmd $action"
      echo ".nf"
      printf '%s\n' "$action_help" | sed -e 's/\\/\\e/g' -e 's/^\./\\\&./'
      echo ".fi"
    done
  done
  echo "[FILES]"
  echo "/etc/dihya/config.yaml, \$XDG_CONFIG_HOME/dihya/config.yaml: settings. /var/lib/dihya: runs, journals, audit log, embedded cluster (as root)."
} >"$include"
help2man --no-info --no-discard-stderr --section 1 --name "run automation plugins, supervised and audited" \
  --include "$include" --output "$out" "$host"
