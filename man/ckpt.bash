# bash completion for ckpt. Commands and options are read from ckpt's own
# --help at completion time, so they are always those of the installed ckpt.
_ckpt() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
  local ckpt=${COMP_WORDS[0]} cmd="" i
  for ((i = 1; i < COMP_CWORD; i++)); do
    [[ ${COMP_WORDS[i]} == -- ]] && { COMPREPLY=($(compgen -c -- "$cur")); return; }
    [[ -z $cmd && ${COMP_WORDS[i]} != -* ]] && cmd=${COMP_WORDS[i]}
  done
  if [[ -z $cmd ]]; then
    local cmds
    cmds=$("$ckpt" --help 2>/dev/null | sed -n '/^Subcommands:/,$s/^  \([a-z-]*\) .*/\1/p')
    COMPREPLY=($(compgen -W "$cmds --help --version" -- "$cur"))
    return
  fi
  case $prev in
    --dir) COMPREPLY=($(compgen -d -- "$cur")); return ;;
    --signal|--stop-signal|--app-signal)
      COMPREPLY=($(compgen -W "USR1 USR2 TERM INT HUP none" -- "$cur")); return ;;
    --interval|--keep|--compress|--zstd|--lead|--max-restarts) return ;;
  esac
  if [[ $cur == -* ]]; then
    local opts
    opts=$("$ckpt" help "$cmd" 2>/dev/null | grep -o -- '--[a-z][a-z-]*' | sort -u)
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  elif [[ $cmd == help ]]; then
    COMPREPLY=($(compgen -W "$("$ckpt" --help 2>/dev/null | sed -n '/^Subcommands:/,$s/^  \([a-z-]*\) .*/\1/p')" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -F _ckpt ckpt
