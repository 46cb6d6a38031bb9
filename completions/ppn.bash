# bash completion for ppn-pair, ppn-ledger, ppn-vm and ppn-wg (libppn).
#
# Nothing is listed here by hand: the commands come from the tool itself
# ('<tool> --list-commands', served by tool_dispatch from the table it
# dispatches from) and a command's options from '<tool> <command> --help'.
# Installed once per tool name, so that bash-completion loads it on demand;
# it can also be sourced directly.  Needs only bash (not bash-completion).

_ppn_complete()
{
    local tool=$1 cur=${COMP_WORDS[COMP_CWORD]} cmds sub opts
    COMPREPLY=()
    cmds=$("$tool" --list-commands 2>/dev/null) || return 0
    if [ "$COMP_CWORD" -eq 1 ]; then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "--help --version" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$cmds" -- "$cur"))
        fi
        return 0
    fi
    sub=${COMP_WORDS[1]}
    # Only a command of the tool is ever run with --help.
    [[ $'\n'$cmds$'\n' == *$'\n'$sub$'\n'* ]] || return 0
    if [[ $cur == -* ]]; then
        opts=$({ echo --help; "$tool" "$sub" --help 2>/dev/null; } |
               grep -oE -- '--[A-Za-z0-9][A-Za-z0-9-]*' | sort -u)
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    fi
    # Anything else: file names (complete -o default).
    return 0
}

complete -o default -F _ppn_complete ppn-pair ppn-ledger ppn-vm ppn-wg
