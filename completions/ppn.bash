# bash completion for ppn-pair, ppn-ledger, ppn-vm and ppn-wg (libppn).
#
# Nothing is listed here by hand: the commands come from the tool itself
# ('<tool> --list-commands', served by tool_dispatch from the table it
# dispatches from), everything else from '<tool> <command> --help':
#   --<TAB>              the options it shows
#   --opt <TAB>          the values it shows as '--opt a|b|c'
#   <TAB>                for a usage written the wg(8) way (no --option in
#                        it): its keywords, and for <interface> the names
#                        '<tool> show interfaces' prints
#   anything else        file names (complete -o default)
# Installed once per tool name, so that bash-completion loads it on demand;
# it can also be sourced directly.  Needs only bash (not bash-completion).

_ppn_complete()
{
    local tool=$1 cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
    local cmds sub help words=
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
    help=$("$tool" "$sub" --help 2>/dev/null)
    if [[ $cur == -* ]]; then
        words=$({ echo --help; echo "$help"; } | grep -oE -- '--[A-Za-z0-9][A-Za-z0-9-]*' | sort -u)
    elif [[ $prev == --?* ]]; then
        words=$(grep -oE -- "$prev [a-z0-9]+(\|[a-z0-9]+)+" <<<"$help" | head -n 1 | cut -d ' ' -f 2 | tr '|' ' ')
    elif [[ $help == Usage:* && $help != *--* ]]; then
        local usage=${help%%$'\n'*}
        usage=${usage#Usage: $tool $sub}
        words=$(sed -e 's/<[^>]*>//g' <<<"$usage" | grep -oE '[a-z][a-z0-9-]*')
        [[ $usage == *'<interface>'* ]] && words+=" $("$tool" show interfaces 2>/dev/null)"
    fi
    [ -n "$words" ] && COMPREPLY=($(compgen -W "$words" -- "$cur"))
    return 0
}

complete -o default -F _ppn_complete ppn-pair ppn-ledger ppn-vm ppn-wg
