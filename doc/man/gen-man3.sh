#!/bin/sh
# gen-man3.sh HEADER VERSION — writes the section 3 overview page of one
# libppn library to standard output, generated from its public header so that
# it stays in step with it (built by doc/meson.build, checked by
# tests/docs/man3-test.sh):
#   NAME         from the header's first line ("libppn-x — what it is")
#   DESCRIPTION  the rest of the header's first comment
#   FUNCTIONS    every PPN_EXPORT function, with the first sentence of the
#                comment above it (a comment above a group of declarations
#                serves each of them)
# A function without a comment is listed as such, with a warning on stderr.
# Only POSIX sh and awk.  Exit 1 if the header yields no function or a
# declaration without a name.
set -eu
[ $# -eq 2 ] || { echo "usage: gen-man3.sh HEADER VERSION" >&2; exit 1; }
header=$1 version=$2
[ -r "$header" ] || { echo "gen-man3.sh: cannot read '$header'" >&2; exit 1; }
base=$(basename "$header" .h)

awk -v base="$base" -v version="$version" -v header="$header" '
function trim(s) { gsub(/^[ \t]+|[ \t]+$/, "", s); return s }
# roff-safe text: backslashes doubled, a leading dot or quote protected.
function esc(s) { gsub(/\\/, "\\e", s); gsub(/—/, "\\(em", s); if (s ~ /^[.\047]/) s = "\\&" s; return s }
function sentence(s,   i) {
    s = trim(s)
    i = match(s, /[.]  /)                   # the headers end a sentence with two spaces
    if (i) s = substr(s, 1, i)
    gsub(/[ \t]+/, " ", s)
    if (length(s) > 160) { s = substr(s, 1, 157); sub(/ [^ ]*$/, "", s); s = s " ..." }
    return s
}
function flush_decl(   d, name) {
    d = decl
    sub(/^[ \t]*PPN_EXPORT[ \t]+/, "", d)
    if (!match(d, /[A-Za-z_][A-Za-z0-9_]*[ \t]*\(/)) { bad = bad " (no name in: " d ")"; return }
    name = substr(d, RSTART, RLENGTH); sub(/[ \t]*\($/, "", name)
    n++; names[n] = name; what[n] = sentence(comment)
    if (what[n] == "" && match(decl, /\/\*.*\*\//))        # a comment after it
        what[n] = sentence(substr(decl, RSTART + 2, RLENGTH - 4))
    if (what[n] == "" && (toupper(name) in defined))
        what[n] = "The value of " toupper(name) " at run time (for bindings)."
    if (what[n] == "") { missing = missing " " name; what[n] = "(Declared without a comment.)" }
    decl = ""; indecl = 0; after_decl = 1
}
NR == 1 && /^\/\* SPDX/ { next }
!seen_top && /^\/\*/ {                      # the header comment
    intop = 1
}
intop {
    line = $0; sub(/^\/\*[ \t]?/, "", line); sub(/^ \*[ \t]?/, "", line)
    end = sub(/[ \t]*\*\/.*$/, "", line)
    if (!title) { title = line }
    else top[++ntop] = line
    if (end) { intop = 0; seen_top = 1 }
    next
}
incomment {
    line = $0; end = sub(/\*\/.*$/, "", line); sub(/^[ \t]*\*?[ \t]?/, "", line)
    if (line !~ /^-+$/) ctext = ctext " " line
    if (end) { incomment = 0; comment = ctext; if (comment ~ /^[ -]*$/) comment = "" }
    next
}
indecl { decl = decl " " trim($0); if ($0 ~ /;/) flush_decl(); next }
/^[ \t]*\/\*/ {
    after_decl = 0; after_decl_gap = 0
    line = $0; sub(/^[ \t]*\/\*+[ \t]?/, "", line)
    if (sub(/[ \t]*\*\/.*$/, "", line)) {    # a one-line comment
        comment = (line ~ /^[ -]*$/ ? "" : line)
        next
    }
    incomment = 1; ctext = (line ~ /^-+$/ ? "" : line); next
}
/^[ \t]*PPN_EXPORT[ \t]/ && $0 !~ /define/ {
    if (after_decl_gap) { comment = ""; after_decl_gap = 0 }
    decl = trim($0); indecl = 1
    if ($0 ~ /;/) flush_decl()
    next
}
intypedef { if ($0 ~ /;/) intypedef = 0; next }
/^#[ \t]*define[ \t]+[A-Z_0-9]+/ {         # keeps the comment (it may serve a group)
    d = $0; sub(/^#[ \t]*define[ \t]+/, "", d); sub(/[ \t(].*$/, "", d); defined[d] = 1
    after_decl = 0; after_decl_gap = 0; next
}
/^typedef[ \t]/ { if ($0 !~ /;/) intypedef = 1; after_decl = 0; after_decl_gap = 0; next }
/^[ \t]*$/ { if (after_decl) { after_decl_gap = 1; after_decl = 0 } ; next }
{ comment = ""; after_decl = 0; after_decl_gap = 0 }
END {
    if (n == 0) { print "gen-man3.sh: " header ": no PPN_EXPORT function found" > "/dev/stderr"; exit 1 }
    if (bad != "") { print "gen-man3.sh: " header ": unreadable declaration" bad > "/dev/stderr"; exit 1 }
    if (missing != "")
        print "gen-man3.sh: " header ": warning: no comment for" missing > "/dev/stderr"
    lib = title; sub(/[ \t].*$/, "", lib)
    desc = title; sub(/^[^ \t]+[ \t]+(—|--|-)[ \t]+/, "", desc)
    up = toupper(lib)
    printf ".\\\" Generated from %s by doc/man/gen-man3.sh; do not edit.\n", "ppn/" base ".h"
    printf ".TH %s 3 \"\" \"libppn %s\" \"libppn Library Functions\"\n", up, version
    print ".SH NAME"
    printf "%s \\- %s\n", lib, esc(desc)
    print ".SH SYNOPSIS"
    print ".nf"
    printf ".B #include <ppn/%s.h>\n", base
    print ".PP"
    printf "cc prog.c $(pkg-config \\-\\-cflags \\-\\-libs %s)\n", lib
    print ".fi"
    print ".SH DESCRIPTION"
    para = 0; nf = 0                        # indented lines (tables) are kept as they are
    for (i = 1; i <= ntop; i++) {
        if (trim(top[i]) == "") { if (nf) { print ".fi"; nf = 0 } if (para) { print ".PP"; para = 0 } continue }
        if (top[i] ~ /^[ \t]/) { if (!nf) { print ".nf"; nf = 1 } print esc(top[i]) }
        else { if (nf) { print ".fi"; nf = 0 } print esc(trim(top[i])) }
        para = 1
    }
    if (nf) print ".fi"
    print ".PP"
    printf "The declarations, with the full comment of each function (its arguments, return value and\n"
    printf "the negative errno values it documents), are in\n.IR <ppn/%s.h> .\n", base
    print ".SH FUNCTIONS"
    for (i = 1; i <= n; i++) {
        print ".TP"
        printf ".B %s\n", names[i]
        print esc(what[i])
    }
    print ".SH RETURN VALUE"
    print "Functions that can fail return an int: 0 (or a count) on success, a negative errno on"
    print "failure; the errno values of each function are listed in its header comment and in"
    print ".IR ERRORS.md ."
    print ".SH FILES"
    printf ".TP\n.I /usr/include/ppn/%s.h\nthe declarations.\n", base
    printf ".TP\n.I %s.pc\nfor\n.BR pkg-config (1).\n", lib
    print ".SH SEE ALSO"
    n2 = split("libppn-crypto libppn-ledger libppn-wg libppn-vmm libppn-fleet", all, " ")
    sep = ""
    for (i = 1; i <= n2; i++) if (all[i] != lib) { printf "%s.BR %s (3)", sep, all[i]; sep = ",\n" }
    print ""
    print ".PP"
    printf "The library\047s design page is\n.IR %s.md ,\nthe errno catalogue\n.IR ERRORS.md ,\n", base
    print "both in the libppn documentation directory (doc/ in the source tree)."
}
' "$header"
