#!/usr/bin/env bash
# One scheme for constants (doc/API.md): every size, maximum and limit a library's header
# defines as a macro has an id PPN_<LIB>_CONSTANT_<NAME> for ppn_<lib>_constant(), and every id
# names such a macro.  <NAME> is the macro's name after the library's prefix (PPN_<LIB>_, and
# PPN_ for libppn-vmm, whose macros are PPN_QMP_*, PPN_VM_*, PPN_VMM_*).  Bit flags for a flags
# argument (..._CHECK, ..._ACCEL_*, ..._START_PAUSED) are values, not constants of this kind.
# The values themselves are checked by each library's unit test.
#   constants-test.sh HEADER LIB
set -u
header=$1 lib=$2
L=$(printf '%s' "$lib" | tr a-z A-Z)
strip="PPN_${L}_"; [ "$lib" = vmm ] && strip=PPN_
fail=0
macros=$(grep -E '^#[[:space:]]*define PPN_[A-Z0-9_]+[[:space:]]+[^" ]' "$header" |
         sed -E 's/^#[[:space:]]*define (PPN_[A-Z0-9_]+).*/\1/' | grep -v '^PPN_EXPORT$' | grep -Ev '_CHECK$|_ACCEL_|_START_PAUSED$|_REBOOT_NO_RESET$' | sort -u)
ids=$(grep -oE "PPN_${L}_CONSTANT_[A-Z0-9_]+ = [0-9]+" "$header" | awk '{print $1}' | sort -u)
[ -n "$ids" ] || { echo "FAIL: $header defines no PPN_${L}_CONSTANT_ id"; exit 1; }
grep -q "PPN_EXPORT int64_t ppn_${lib}_constant(uint32_t id);" "$header" ||
  { echo "FAIL: $header does not declare int64_t ppn_${lib}_constant(uint32_t id)"; fail=1; }
for m in $macros; do
  want="PPN_${L}_CONSTANT_${m#"$strip"}"
  printf '%s\n' "$ids" | grep -qx "$want" || { echo "FAIL: $m has no id $want"; fail=1; }
done
for i in $ids; do
  m="$strip${i#PPN_${L}_CONSTANT_}"
  printf '%s\n' "$macros" | grep -qx "$m" || { echo "FAIL: $i names no macro $m"; fail=1; }
done
# ids are 0, 1, 2, ... in order, none repeated
nums=$(grep -oE "PPN_${L}_CONSTANT_[A-Z0-9_]+ = [0-9]+" "$header" | awk '{print $3}' | tr '\n' ' ')
exp=$(seq 0 $(( $(printf '%s\n' "$ids" | wc -l) - 1 )) | tr '\n' ' ')
[ "$nums" = "$exp" ] || { echo "FAIL: ids are not 0..n-1 in order: $nums"; fail=1; }
echo "$(printf '%s\n' "$ids" | wc -l) constant(s) of libppn-$lib through ppn_${lib}_constant()"
exit $fail
