#!/usr/bin/env bash
# The shared library exports exactly the functions its version script lists,
# all named ppn_*, each bound to a version node.
set -u
so=$1; sym=$2
fail=0
raw=$(nm -D --defined-only "$so" | awk '$2 != "A" {print $3}')
exported=$(printf '%s\n' "$raw" | sed 's/@.*//' | sort)
[ -n "$exported" ] || { echo "FAIL: $so exports nothing"; exit 1; }
bad=$(printf '%s\n' "$exported" | grep -v '^ppn_' || true)
if [ -n "$bad" ]; then echo "FAIL: exported symbols without the ppn_ prefix:"; echo "$bad"; fail=1; fi
listed=$(sed -e 's#/\*.*\*/##' "$sym" | tr -d ' \t' | grep -E '^ppn_[A-Za-z0-9_]+;$' | tr -d ';' | sort)
missing=$(comm -13 <(printf '%s\n' "$exported") <(printf '%s\n' "$listed"))
if [ -n "$missing" ]; then echo "FAIL: listed in $sym but not defined in $so:"; echo "$missing"; fail=1; fi
unversioned=$(printf '%s\n' "$raw" | grep -v '@@\?PPN_[A-Z]*_[0-9.]*$' || true)
if [ -n "$unversioned" ]; then echo "FAIL: exports without a version node: $unversioned"; fail=1; fi
echo "$(printf '%s\n' "$exported" | wc -l) symbol(s) exported by $(basename "$so")"
exit $fail
