#!/usr/bin/env bash
# man-test.sh MANDIR BINDIR — the manual pages are in step with --help.
#
# For each of the four tools: every subcommand that '<tool> --help' lists has a
# '.SS <subcommand>' section in the tool's page, '<tool> --list-commands' (the
# hidden option the bash completion uses) lists the same commands, and every
# --option that '<tool> <subcommand> --help' shows is in that subcommand's
# section, in the page's OPTIONS section, or in the subcommand's own page.
# (A page may instead list its commands as '.TP' items of '.SH COMMANDS',
# the tag starting with the command's name; the top-level options may be in
# OPTIONS or SYNOPSIS.)
# Every page renders without a groff warning.  The check is then run once
# more on a copy of the pages with one option removed, and must fail there
# (a test that cannot fail is no test).
#
# BINDIR holds tools/<tool>/<tool> (the build tree).
set -uo pipefail
mandir=$1 bindir=$2

# tool:page, and subcommand=page for subcommands with a page of their own.
# ppn-wg.8 lists its commands as '.TP' items of COMMANDS (see tp_item).
TOOLS=(ppn-pair:ppn-pair.1 ppn-ledger:ppn-ledger.1 ppn-vm:ppn-vm.1 ppn-wg:ppn-wg.8)
declare -A OWN_PAGE=([ppn-vm:agent]=ppn-vm-agent.8 [ppn-vm:controller]=ppn-vm-controller.8)
EXCLUDED=()

fails=0 checked_cmds=0 checked_opts=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# The page as plain text lines: roff escapes for '-' and fonts removed.
plain() { sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\f(..//g' -e 's/\\&//g' -e 's/\\e/\\/g' "$1"; }

# Lines of the section that starts with '.SS NAME' or '.SH NAME' (to the next .SS/.SH).
section() { # file kind name
    plain "$1" | awk -v k="$2" -v n="$3" '
        $1 == "." k && $2 == n && NF == 2 { on = 1; next }
        on && ($1 == ".SS" || $1 == ".SH") { exit }
        on { print }'
}

# The item of command NAME in a '.SH COMMANDS' made of '.TP' items (as
# ppn-wg.8 is): from the '.TP' whose tag starts with NAME to the next item
# of a command in CMDS, or the next .SH/.SS.
tp_item() { # file name cmds
    plain "$1" | awk -v n="$2" -v cmds=" $(echo $3) " '
        function first(l) { sub(/^\.(B|BI|BR|I|IR|IB)[ \t]+/, "", l); gsub(/"/, "", l); sub(/[ \t].*$/, "", l); return l }
        $0 == ".SH COMMANDS" { inc = 1; next }
        inc && /^\.S[HS]/ { exit }
        inc && $1 == ".TP" { tp = 1; next }
        inc && tp { tp = 0; w = first($0); if (index(cmds, " " w " ")) { if (on) exit; on = (w == n) } }
        on { print }'
}

has_option() { # text option
    grep -qE -- "(^|[^A-Za-z0-9-])$2([^A-Za-z0-9-]|\$)" <<<"$1"
}

options_of() { grep -oE -- '--[A-Za-z0-9][A-Za-z0-9-]*' | sort -u; }

commands_of() { awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { exit }'; }

check_tool() { # mandir tool page
    local dir=$1 tool=$2 page=$1/$3 exe=$bindir/tools/$2/$2 help cmds listed
    [ -x "$exe" ] || { fail "$exe is not built"; return; }
    [ -r "$page" ] || { fail "$page is missing"; return; }
    help=$("$exe" --help) || fail "$tool --help exits $?"
    cmds=$(commands_of <<<"$help")
    [ -n "$cmds" ] || { fail "$tool --help lists no command"; return; }
    listed=$("$exe" --list-commands) || fail "$tool --list-commands exits $?"
    [ "$listed" = "$cmds" ] || fail "$tool --list-commands ($(echo $listed)) differs from --help ($(echo $cmds))"
    local common
    common=$(section "$page" SH OPTIONS; section "$page" SH SYNOPSIS)
    # Options in the list of commands belong to their command (checked below).
    for o in $(grep -v '^  [a-z]' <<<"$help" | options_of); do
        checked_opts=$((checked_opts + 1))
        has_option "$common" "$o" || fail "'$tool --help' shows $o, not in the OPTIONS or SYNOPSIS of $3"
    done
    for c in $cmds; do
        checked_cmds=$((checked_cmds + 1))
        local text own=${OWN_PAGE[$tool:$c]:-} sub where
        text=$(section "$page" SS "$c")
        [ -n "$text" ] || text=$(tp_item "$page" "$c" "$cmds")
        [ -n "$text" ] || { fail "$3 has no '.SS $c' section nor '.TP' item in COMMANDS ('$tool --help' lists $c)"; continue; }
        where="section $c or OPTIONS of $3"
        if [ -n "$own" ]; then
            [ -r "$dir/$own" ] || { fail "$dir/$own (the page of '$tool $c') is missing"; continue; }
            text=$(plain "$dir/$own") where=$own
        else
            text+=$'\n'$common
        fi
        sub=$("$exe" "$c" --help 2>&1)
        local st=$?
        [ $st -eq 0 ] || fail "'$tool $c --help' exits $st"
        [ -n "$sub" ] || fail "'$tool $c --help' prints nothing"
        sub+=$'\n'$(grep -E "^  $c( |\$)" <<<"$help")   # its line in '$tool --help'
        for o in $(options_of <<<"$sub"); do
            checked_opts=$((checked_opts + 1))
            has_option "$text" "$o" || fail "'$tool $c --help' shows $o, not in $where"
        done
    done
}

check_all() { # mandir
    for t in "${TOOLS[@]}"; do check_tool "$1" "${t%%:*}" "${t#*:}"; done
}

# 1. The pages themselves.
check_all "$mandir"
command -v groff >/dev/null || fail "groff is not installed (package groff-base)"
for p in "$mandir"/*.[18]; do
    w=$(LC_ALL=C.UTF-8 groff -man -ww -z -Tutf8 "$p" 2>&1)
    [ -z "$w" ] || fail "groff warns on $(basename "$p"): $w"
done
echo "checked $checked_cmds subcommands and $checked_opts options against ${#TOOLS[@]} tools' pages${EXCLUDED[*]:+ (excluded: ${EXCLUDED[*]})}"
real_fails=$fails

# 2. The same check must catch an option removed from a page.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$mandir"/*.[18] "$tmp"/
# '--qemu' of 'ppn-vm start': drop every line of the start section that names it.
awk '$1 == ".SS" { s = $2 } !(s == "start" && /qemu/) { print }' "$mandir/ppn-vm.1" >"$tmp/ppn-vm.1"
fails=0
out=$(check_all "$tmp"; echo "fails=$fails")
if ! grep -q "'ppn-vm start --help' shows --qemu, not in section start or OPTIONS of ppn-vm.1" <<<"$out"; then
    echo "FAIL: the check does not notice --qemu missing from ppn-vm.1's start section:"
    echo "$out"
    real_fails=$((real_fails + 1))
else
    echo "ok: with --qemu removed from ppn-vm.1 the check fails as it should"
fi

[ "$real_fails" -eq 0 ] || { echo "$real_fails failures"; exit 1; }
echo "all manual pages in step with --help"
