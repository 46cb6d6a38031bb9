#!/usr/bin/env bash
# The ABI gate: the built library against its committed baseline.
#   abi/check.sh LIB.so BASELINE.abi SUPPRESSIONS PUBLIC-INCLUDE-DIR
# Fails when abidiff reports a change (bit 4) or an incompatible change
# (bit 8) that the suppressions do not cover -- unless the soname was bumped,
# which is how an intended break is declared.  Refresh the baselines with
# abi/refresh.sh BUILD_DIR together with each new version node (README.md).
set -u
so=$1; base=$2; supp=$3; inc=$4
command -v abidiff >/dev/null || { echo "FAIL: abidiff not found (apt-get install abigail-tools)"; exit 1; }
[ -f "$base" ] || { echo "FAIL: no baseline $base (abi/refresh.sh BUILD_DIR makes it)"; exit 1; }
# types defined outside the public headers (opaque handles) are the
# library's own business: --headers-dir leaves them out
out=$(abidiff --suppressions "$supp" --headers-dir1 "$inc" --headers-dir2 "$inc" --no-show-locs "$base" "$so" 2>&1)
st=$?
if [ $((st & 3)) -ne 0 ]; then
  echo "FAIL: abidiff could not compare $base with $so (status $st):"; echo "$out"; exit 1
fi
if [ $((st & 12)) -eq 0 ]; then
  echo "ok $(basename "$so"): no ABI change against $(basename "$base") beyond additions"
  exit 0
fi
old_soname=$(sed -n "s/.*soname='\([^']*\)'.*/\1/p" "$base" | head -n1)
new_soname=$(objdump -p "$so" | awk '$1 == "SONAME" {print $2}')
if [ -n "$old_soname" ] && [ "$old_soname" != "$new_soname" ]; then
  echo "ok $(basename "$so"): ABI changed with a soname bump ($old_soname -> $new_soname); refresh the baseline"
  exit 0
fi
kind=$([ $((st & 8)) -ne 0 ] && echo "an incompatible ABI change" || echo "an ABI change")
echo "FAIL: $(basename "$so") has $kind against $(basename "$base") without a soname bump ($new_soname):"
echo "$out"
exit 1
