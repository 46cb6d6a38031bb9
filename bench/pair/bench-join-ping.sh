#!/usr/bin/env bash
# From the SAS confirmation to the first ping between a new node and every member, R times
# (default 20), in a QEMU/TCG guest with kernel WireGuard (bench/pair/join-ping-inside.sh);
# prints the median and maximum per member and to all three.  Beside it: innernet's daemon
# fetches its peer list every 60 s by default (a 30 s mean wait for the other members).
#   bench/pair/bench-join-ping.sh BUILD_DIR [ROUNDS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
R=${2:-20}
export PPN_MICROVM_DIR=${PPN_MICROVM_DIR:-$build/microvm}
out=$(mktemp)
"$root/tests/microvm/run-in-guest.sh" --timeout $((120 + R * 30)) --mem 1024 -- \
  bash "$here/join-ping-inside.sh" "$build" "$R" | tee "$out" | grep -v '^round' || true
grep '^round' "$out" | awk -v R="$R" '
  function stats(name, arr, n,   i, j, t, m) {
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (arr[j] < arr[i]) { t = arr[i]; arr[i] = arr[j]; arr[j] = t }
    m = n % 2 ? arr[(n + 1) / 2] : (arr[n / 2] + arr[n / 2 + 1]) / 2
    printf "%-28s median %6d ms   max %6d ms   (%d rounds)\n", name, m, arr[n], n
  }
  { all = 0; for (f = 4; f <= NF; f += 2) { v = $f; if (v < 0) { bad++; next } m = $(f - 1); x[m, ++c[m]] = v; if (v > all) all = v } y[++n] = all }
  END {
    split("a b c", ms, " "); split("laptop-a (administrator) laptop-b cloud-c", names, " ")
    label["a"] = "to laptop-a (administrator)"; label["b"] = "to laptop-b"; label["c"] = "to cloud-c"
    for (k = 1; k <= 3; k++) { delete z; for (i = 1; i <= c[ms[k]]; i++) z[i] = x[ms[k], i]; stats(label[ms[k]], z, c[ms[k]]) }
    stats("to every member", y, n)
    if (bad) printf "%d rounds without a ping to some member\n", bad
    printf "innernet, for comparison: the other members fetch every 60 s (30 s mean)\n"
  }'
rm -f "$out"
