# SPDX-License-Identifier: AGPL-3.0-or-later
# bash completion for dihya-host: commands and options from the --help texts,
# plugin names and `--param key=value` words from the plugins' metadata
# (`dihya-host complete`), so nothing here needs updating when plugins change.

_dihya_host() {
  local cur prev words cword
  if declare -F _init_completion >/dev/null; then
    _init_completion -n = || return
  else
    cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} words=("${COMP_WORDS[@]}") cword=$COMP_CWORD
  fi
  local host=${words[0]}
  local -a global=()
  local i command="" command_at=0
  # Global options come before the command; keep them for the helper calls
  # (a --plugin-path changes which plugins exist).
  for ((i = 1; i < cword; i++)); do
    case ${words[i]} in
      --config|--plugin-path|--database-url|--state-dir|--log-format)
        global+=("${words[i]}" "${words[i+1]}"); ((i++)) ;;
      -*) global+=("${words[i]}") ;;
      *) command=${words[i]}; command_at=$i; break ;;
    esac
  done

  if [ -z "$command" ]; then
    case $prev in
      --config|--state-dir|--plugin-path) COMPREPLY=($(compgen -f -- "$cur")); return ;;
      --log-format) COMPREPLY=($(compgen -W "text json" -- "$cur")); return ;;
      --database-url) return ;;
    esac
    if [[ $cur == -* ]]; then
      COMPREPLY=($(compgen -W "$("$host" --help 2>/dev/null | grep -oE -- '--[a-z][a-z-]*' | sort -u)" -- "$cur"))
    else
      COMPREPLY=($(compgen -W "$("$host" --help 2>/dev/null | awk '/^Commands:/{on=1; next} /^$/{on=0} on{print $1}')" -- "$cur"))
    fi
    return
  fi

  # A command with actions (schedule add, history prune, db start) names
  # them in its --help; the action's own --help has its options.
  local actions
  actions=$({ "$host" "$command" --help 2>/dev/null | awk '/^Actions:/{on=1; next} /^$/{on=0} on && /^  [a-z]/{print $1}'
              "$host" "$command" --help 2>/dev/null | grep -oE "dihya-host $command [a-z-]+ --help" | awk '{print $3}'; } | sort -u)
  # The plugin: the value of --plugin (schedule add), else the first word after
  # the command that is not an option, when the command has no actions.
  local plugin="" action="" bare=0
  for ((i = command_at + 1; i < cword; i++)); do
    case ${words[i]} in
      --plugin) plugin=${words[i+1]}; ((i++)) ;;
      -p|--param|--params-file|--timeout|--grace|--memory-max|--concurrency|--output-dir|--limit|--since|--file|--out|\
      --cron|--tz|--misfire|--starting-deadline|--overlap|--retries|--backoff|--older-than|--keep)
        ((i++)) ;;
      -*) ;;
      *)
        if [ "$bare" -eq 0 ] && [ -n "$actions" ] && grep -qxF -- "${words[i]}" <<<"$actions"; then
          action=${words[i]}
        elif [ "$bare" -eq 0 ] && [ -z "$actions" ] && [ -z "$plugin" ]; then
          plugin=${words[i]}
        fi
        ((bare++)) ;;
    esac
  done

  case $prev in
    -p|--param)
      [ -n "$plugin" ] || return
      compopt -o nospace 2>/dev/null
      # The host filters by prefix and offers only inert words; read as lines,
      # never through `compgen -W`, which would expand them.
      mapfile -t COMPREPLY < <("$host" "${global[@]}" complete params "$plugin" "$cur" 2>/dev/null)
      return ;;
    --params-file|--output-dir|--file|--out) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --concurrency) COMPREPLY=($(compgen -W "allow forbid wait" -- "$cur")); return ;;
    --memory-max) COMPREPLY=($(compgen -W "512M 1G 2G 4G 8G off" -- "$cur")); return ;;
    --plugin) COMPREPLY=($(compgen -W "$("$host" "${global[@]}" complete plugins 2>/dev/null)" -- "$cur")); return ;;
  esac

  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$("$host" "$command" ${action:+"$action"} --help 2>/dev/null | grep -oE -- '--[a-z][a-z-]*' | sort -u)" -- "$cur"))
    return
  fi
  if [ "$bare" -eq 0 ] && [ -n "$actions" ]; then
    COMPREPLY=($(compgen -W "$actions" -- "$cur"))
    return
  fi
  if [ -z "$plugin" ]; then
    case $command in
      run|info|validate)
        COMPREPLY=($(compgen -W "$("$host" "${global[@]}" complete plugins 2>/dev/null)" -- "$cur")) ;;
      check) COMPREPLY=($(compgen -f -X '!*.so' -- "$cur") $(compgen -W "$("$host" "${global[@]}" complete plugins 2>/dev/null)" -- "$cur")) ;;
      audit) COMPREPLY=($(compgen -W "verify" -- "$cur")) ;;
    esac
  fi
}
complete -F _dihya_host dihya-host
