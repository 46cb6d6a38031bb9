#!/usr/bin/env bash
# The shared library exports exactly the functions its version script lists,
# each bound to a version node, all named by the library's prefixes:
# ppn_<library>_ (crypto, ledger, wg, fleet); libppn-vmm has three, one per
# object it is about: ppn_qmp_ (a QMP connection), ppn_vm_ (a VM, its
# specification, unit and runner) and ppn_vmm_ (the library itself: version,
# string vectors, guest statistics, the accelerator probe).
#   exports-test.sh LIB.so LIB.sym PREFIX...
set -u
so=$1; sym=$2; shift 2
prefixes=("$@")
[ ${#prefixes[@]} -gt 0 ] || prefixes=(ppn_)
fail=0
raw=$(nm -D --defined-only "$so" | awk '$2 != "A" {print $3}')
exported=$(printf '%s\n' "$raw" | sed 's/@.*//' | sort)
[ -n "$exported" ] || { echo "FAIL: $so exports nothing"; exit 1; }
pat=$(printf '^%s|' "${prefixes[@]}"); pat=${pat%|}
bad=$(printf '%s\n' "$exported" | grep -Ev "$pat" || true)
if [ -n "$bad" ]; then echo "FAIL: exported symbols without a prefix of ${prefixes[*]}:"; echo "$bad"; fail=1; fi
listed=$(sed -e 's#/\*.*\*/##' "$sym" | tr -d ' \t' | grep -E '^ppn_[A-Za-z0-9_]+;$' | tr -d ';' | sort)
missing=$(comm -13 <(printf '%s\n' "$exported") <(printf '%s\n' "$listed"))
if [ -n "$missing" ]; then echo "FAIL: listed in $sym but not defined in $so:"; echo "$missing"; fail=1; fi
unversioned=$(printf '%s\n' "$raw" | grep -v '@@\?PPN_[A-Z]*_[0-9.]*$' || true)
if [ -n "$unversioned" ]; then echo "FAIL: exports without a version node: $unversioned"; fail=1; fi
echo "$(printf '%s\n' "$exported" | wc -l) symbol(s) exported by $(basename "$so")"
exit $fail
