#!/usr/bin/env bash
# completion-test.sh COMPLETION BINDIR — the bash completion, driven as bash
# drives it (COMP_WORDS, COMP_CWORD, the function 'complete' registered),
# against the built tools in BINDIR/tools/<tool>/<tool>.
set -uo pipefail
script=$1 bindir=$2
for t in ppn-pair ppn-ledger ppn-vm ppn-wg; do PATH=$bindir/tools/$t:$PATH; done
export PATH LC_ALL=C
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# shellcheck source=/dev/null
source "$script" || { echo "FAIL: sourcing $script"; exit 1; }

# complete LINE...: the words; the last is the one being completed.
# Prints the sorted candidates on one line.
complete_words() {
    local spec fn
    spec=$(complete -p "$1" 2>/dev/null) || { echo "(no completion for $1)"; return; }
    fn=$(sed -nE 's/.* -F ([^ ]+) .*/\1/p' <<<"$spec")
    COMP_WORDS=("$@")
    COMP_CWORD=$(($# - 1))
    COMP_LINE="$*" COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    "$fn" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
}

expect() { # expected words...  (after "--")
    local want=$1; shift
    local got
    got=$(complete_words "$@")
    if [ "$got" = "$want" ]; then echo "ok: '$*<TAB>' -> $got"; else fail "'$*<TAB>' gives '$got', expected '$want'"; fi
}

# The cases the brief names.
expect "start status stop" ppn-vm st
expect "--accel --foreground --help --json --node --qemu --state-dir --timeout" ppn-vm start --
# And around them.
expect "--foreground" ppn-vm start web1 --f
expect "--help --hex --json --raw --view" ppn-ledger show /tmp/ledger --
expect "--help --version" ppn-vm --
expect "" ppn-vm no-such-command --
expect "agent" ppn-vm ag
expect "syncconf" ppn-wg sy
expect "--import" ppn-pair mesh --state /tmp/s --im
# Values the help shows as '--opt a|b|c'; nothing where it shows none.
expect "auto kvm tcg" ppn-vm start web1 --accel ""
expect "general totebox" ppn-vm place --memory 512 --type ""
expect "assignments grants members" ppn-ledger show /tmp/ledger --view ""
expect "" ppn-vm start web1 --timeout ""
expect "" ppn-ledger show /tmp/ledger ""
# ppn-wg's usage lines are written the wg(8) way: their keywords.
expect "dump" ppn-wg show wg0 d
expect "peer persistent-keepalive preshared-key private-key" ppn-wg set wg0 p
expect "all allowed-ips" ppn-wg show al
# Level 1 of every tool is exactly the command list of its --help.
for t in ppn-pair ppn-ledger ppn-vm ppn-wg; do
    want=$("$t" --help | awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }' | sort | tr '\n' ' ' | sed 's/ $//')
    [ -n "$want" ] || fail "$t --help lists no command"
    expect "$want" "$t" ""
done
# Every registered name uses the same function, with file names as the fallback.
for t in ppn-pair ppn-ledger ppn-vm ppn-wg; do
    complete -p "$t" | grep -q -- '-o default' || fail "$t: no '-o default' (file names) in: $(complete -p "$t")"
done

[ "$fails" -eq 0 ] || { echo "$fails failures"; exit 1; }
echo "bash completion ok"
