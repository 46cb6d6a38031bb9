#!/usr/bin/env bash
# Runs inside the guest (bench/pair/bench-join-ping.sh starts it): R times, a new node pairs
# with laptop-a (code, SAS) while laptop-a, laptop-b and cloud-c run 'ppn-pair serve'; the
# time from the SAS confirmation to the first ping between the new node and each member
# (pings to the three run side by side, 0.2 s apart); then laptop-a removes it.
set -uo pipefail
build=$1; R=${2:-20}
pair=$build/tools/ppn-pair/ppn-pair
ledger=$build/tools/ppn-ledger/ppn-ledger
work=/tmp/ppn-join-ping
rm -rf "$work"; mkdir -p "$work"; cd "$work"
. "$(dirname "${BASH_SOURCE[0]}")/../../tests/lib/guest-mesh.sh"   # in_ns, now_ms, netns_up, underlay, ceremony
declare -A lan=([a]=192.168.77.1 [b]=192.168.78.1 [c]=192.168.79.1)
declare -A host=([a]=laptop-a [b]=laptop-b [c]=cloud-c)
declare -A mesh=([a]=10.8.0.1 [b]=10.8.0.2 [c]=10.8.0.3)
underlay a b c
for n in a b c; do "$pair" keys --state "$work/$n" >/dev/null; done
in_ns a "$pair" genesis --state "$work/a" --origin bench.test/ppn --endpoint "${lan[a]}:51820" --hostname laptop-a \
  --ifname wg0 >/dev/null || exit 1
SAS_MS=0
pair_node() { # STATE NS LISTEN HOSTNAME (tests/lib/guest-mesh.sh: ceremony); SAS_MS: confirmed at
  local st=$1 ns=$2 listen=$3 name=$4 r=0
  rm -f "$work/j.out.in" "$work/a.out.in"
  show_cmd=(in_ns "$ns" "$pair" join --state "$st" --listen "$listen:7400" --endpoint "$listen:51820" --hostname "$name"
    --ifname wg0)
  type_cmd=(in_ns a "$pair" admit --state "$work/a" --connect "$listen:7400" --ifname wg0)
  ceremony "$work/j.out" "$work/a.out" || r=$?
  SAS_MS=$cer_sas_ms
  return "$r"
}
pair_node "$work/b" b "${lan[b]}" laptop-b || { echo "pairing laptop-b failed"; exit 1; }
pair_node "$work/c" c "${lan[c]}" cloud-c || { echo "pairing cloud-c failed"; exit 1; }
for n in a b c; do
  ip netns exec "$n" "$pair" serve --state "$work/$n" --listen "${mesh[$n]}:7411" --ifname wg0 >/dev/null 2>"$work/serve-$n.err" &
done
trap 'kill $(jobs -p) 2>/dev/null' EXIT
sleep 2
for k in $(seq "$R"); do
  netns_up n 4
  "$pair" keys --state "$work/n$k" >/dev/null
  pair_node "$work/n$k" n 192.168.80.1 "new-$k" || { echo "round $k: pairing failed"; cat "$work/j.out" "$work/a.out"; exit 1; }
  for m in a b c; do
    ( for _ in $(seq 150); do in_ns n ping -c1 -W0.2 "${mesh[$m]}" >/dev/null 2>&1 && { echo "$m $(( $(now_ms) - SAS_MS ))"; exit; }; done
      echo "$m -1" ) >"$work/ping-$m" &
  done
  wait $(jobs -p | tail -3) 2>/dev/null
  line="round $k"
  for m in a b c; do line="$line $(cat "$work/ping-$m")"; done
  echo "$line"
  for _ in $(seq 50); do in_ns a "$pair" remove --state "$work/a" "new-$k" >/dev/null 2>&1 && break; sleep 0.1; done
  ip netns del n; ip link del veth-n 2>/dev/null
  sleep 0.5
done
