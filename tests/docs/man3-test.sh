#!/usr/bin/env bash
# man3-test.sh GEN SRCROOT VERSION — the section 3 pages that doc/man/gen-man3.sh
# generates from the public headers: one per library, each listing every
# symbol of the library's version script (libppn-<lib>.sym) with a line of
# text, rendering without a groff warning.  Then the generator itself, on a
# copy of a header with a declaration added: a multi-line one under its
# comment must be listed with the comment's first sentence.
set -uo pipefail
gen=$1 src=$2 version=$3
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
command -v groff >/dev/null || fail "groff is not installed (package groff-base)"

for l in crypto ledger wg vmm fleet; do
    h=$src/libppn-$l/include/ppn/$l.h sym=$src/libppn-$l/libppn-$l.sym page=$tmp/libppn-$l.3
    if ! sh "$gen" "$h" "$version" >"$page" 2>"$tmp/err"; then
        fail "gen-man3.sh $h: $(cat "$tmp/err")"
        continue
    fi
    grep -q "^\.TH LIBPPN-$(tr a-z A-Z <<<"$l") 3 " "$page" || fail "libppn-$l.3: no .TH line"
    grep -q "^libppn-$l \\\\- ." "$page" || fail "libppn-$l.3: no NAME line"
    n=0
    for s in $(grep -oE '^[[:space:]]+[a-z_0-9]+;' "$sym" | tr -d ' \t;'); do
        n=$((n + 1))
        # '.B name' then one line of text that is not a macro
        awk -v s="$s" 'p { exit ($0 ~ /^\./ || $0 == "") } $0 == ".B " s { p = 1 } END { if (!p) exit 1 }' "$page" ||
            fail "libppn-$l.3 does not list $s (in $(basename "$sym")) with a line of text"
    done
    [ "$n" -gt 0 ] || fail "no symbol read from $sym"
    listed=$(awk '/^\.SH FUNCTIONS/ { on = 1 } /^\.SH RETURN/ { on = 0 } on && /^\.B / { n++ } END { print n + 0 }' "$page")
    w=$(LC_ALL=C.UTF-8 groff -man -ww -z -Tutf8 "$page" 2>&1)
    [ -z "$w" ] || fail "groff warns on libppn-$l.3: $w"
    undocumented=$(sed -n 's/.*warning: no comment for//p' "$tmp/err")
    echo "libppn-$l.3: $listed functions listed, $n symbols in the version script${undocumented:+; without a comment in the header:$undocumented}"
done

# The generator on a declaration it has not seen: spread over lines, with
# a comment of two sentences above it and a blank line before the comment.
h=$tmp/extra.h
cp "$src/libppn-ledger/include/ppn/ledger.h" "$h"
cat >>"$h" <<'EOF'

/* Counts the widgets of a ledger for the test.  Not real.
 * Second line of the comment. */
PPN_EXPORT int
ppn_ledger_test_widgets(const ppn_ledger *ledger,
                        size_t *ret_count);
EOF
if sh "$gen" "$h" "$version" >"$tmp/extra.3" 2>/dev/null; then
    awk '$0 == ".B ppn_ledger_test_widgets" { getline; print; exit }' "$tmp/extra.3" >"$tmp/line"
    [ "$(cat "$tmp/line")" = "Counts the widgets of a ledger for the test." ] ||
        fail "an added declaration is listed as '$(cat "$tmp/line")'"
else
    fail "gen-man3.sh fails on a header with an added declaration"
fi
# A header with no function is an error, not an empty page.
printf '/* libppn-none \342\200\224 nothing */\n#define X 1\n' >"$tmp/none.h"
sh "$gen" "$tmp/none.h" "$version" >/dev/null 2>&1 && fail "gen-man3.sh accepts a header with no function"

[ "$fails" -eq 0 ] || { echo "$fails failures"; exit 1; }
echo "section 3 pages ok"
