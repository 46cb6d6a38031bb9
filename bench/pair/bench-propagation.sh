#!/usr/bin/env bash
# How long a change takes to reach every member through 'ppn-pair serve' (nudges, with the
# default 10 s pull behind them): N members in a network namespace, each with its mesh
# address on lo as the tunnel would give it (no WireGuard: this measures the ledger's
# propagation, not the tunnel).  R joins and R revocations are appended at member 1; for
# each, the time from the start of the command that stores the checkpoint ('ppn-ledger
# checkpoint' after the append; 'ppn-pair remove', which appends and checkpoints) until every
# other member's stored checkpoint has that size (an upper bound: the command's own run is in).  Floor: one 'ppn-pair sync' of the same
# change from member 1 into a copy, measured in the same run (a process, a connection, one
# answer applied); innernet's daemon fetches every 60 s (its default), a 30 s mean.
#   sudo bench/pair/bench-propagation.sh BUILD_DIR [MEMBERS=4] [ROUNDS=20]
set -u
B=$(realpath "${1:-build}"); N=${2:-4}; R=${3:-20}
P=$B/tools/ppn-pair/ppn-pair; L=$B/tools/ppn-ledger/ppn-ledger
W=$(mktemp -d /tmp/ppn-bench-prop.XXXXXX)
NS=ppnbench-$$
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; ip netns del "$NS" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
cd "$W"
ip netns add "$NS" || { echo "ip netns add: root needed"; exit 1; }
ip -n "$NS" link set lo up
for i in $(seq "$N"); do ip -n "$NS" addr add "10.8.0.$i/32" dev lo; done
for i in $(seq "$N"); do "$P" keys --state "n$i" >/dev/null; done
"$P" genesis --state n1 --origin bench.test/ledger --hostname node-1 >/dev/null
idk() { "$L" pubkey "$1/identity.key"; }
wgk() { "$P" status --state "$1" | awk '/^wireguard/ {print $2}'; }
for i in $(seq 2 "$N"); do
  echo "{\"type\":\"node-join\",\"subject\":\"$(idk "n$i")\",\"wg_key\":\"$(wgk "n$i")\",\"mesh\":\"10.8.0.$i/24\",\"endpoint\":\"\",\"hostname\":\"node-$i\"}"
done | "$L" append n1/ledger --key n1/identity.key - >/dev/null
"$L" checkpoint n1/ledger --key n1/identity.key >/dev/null
for i in $(seq 2 "$N"); do cp -a n1/ledger "n$i/ledger"; rm -f "n$i/ledger/lock"; done
for i in $(seq "$N"); do
  ip netns exec "$NS" "$P" serve --state "n$i" --listen "10.8.0.$i:7411" >"n$i.out" 2>"n$i.err" &
  pids+=($!)
done
sleep 1
cpsize() { local s; { read -r _; read -r s; } <"$1/ledger/checkpoint" 2>/dev/null; echo "${s:-0}"; }
now() { date +%s%N; }
# waits until every member but 1 holds size $1; prints the ms since $2
reach_all() {
  local want=$1 t0=$2 i
  while :; do
    for i in $(seq 2 "$N"); do [ "$(cpsize "n$i")" -ge "$want" ] || continue 2; done
    echo $(( ($(now) - t0) / 1000000 )); return
  done
}
stats() { sort -n | awk '{a[NR]=$1} END {m = NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%s %s", m, a[NR]}'; }
joins=(); revokes=(); floors=()
for k in $(seq "$R"); do
  echo "{\"type\":\"node-join\",\"subject\":\"$(head -c 32 /dev/urandom | base64)\",\"wg_key\":\"$(head -c 32 /dev/urandom | base64)\",\"mesh\":\"10.8.0.$((10 + k))/24\",\"endpoint\":\"\",\"hostname\":\"extra-$k\"}" |
    "$L" append n1/ledger --key n1/identity.key - >/dev/null || { echo "append failed"; exit 1; }
  t0=$(now)
  "$L" checkpoint n1/ledger --key n1/identity.key >/dev/null
  want=$(cpsize n1)
  joins+=("$(reach_all "$want" "$t0")")
  sleep 0.3
done
for k in $(seq "$R"); do
  t0=$(now)
  "$P" remove --state n1 "extra-$k" >/dev/null 2>rm.err || { sleep 0.05; "$P" remove --state n1 "extra-$k" >/dev/null || exit 1; }
  want=$(cpsize n1)
  revokes+=("$(reach_all "$want" "$t0")")
  sleep 0.3
done
# floor: 'ppn-pair sync' of one entry, from member 1 into a replica one entry behind
for k in $(seq "$R"); do
  rm -rf f; mkdir -p f; cp n2/identity.key n2/wg.key f/
  cp -a n2/ledger f/ledger; rm -f f/ledger/lock
  echo "{\"type\":\"node-join\",\"subject\":\"$(head -c 32 /dev/urandom | base64)\",\"wg_key\":\"$(head -c 32 /dev/urandom | base64)\",\"mesh\":\"10.8.0.$((100 + k))/24\",\"endpoint\":\"\",\"hostname\":\"floor-$k\"}" |
    "$L" append n1/ledger --key n1/identity.key - >/dev/null && "$L" checkpoint n1/ledger --key n1/identity.key >/dev/null
  t0=$(now)
  ip netns exec "$NS" "$P" sync --state f --from 10.8.0.1:7411 >/dev/null || echo "floor sync failed"
  floors+=($(( ($(now) - t0) / 1000000 )))
  sleep 0.3
done
read -r jm jx < <(printf '%s\n' "${joins[@]}" | stats)
read -r rm_ rx < <(printf '%s\n' "${revokes[@]}" | stats)
read -r fm fx < <(printf '%s\n' "${floors[@]}" | stats)
echo "members $N, rounds $R, default pull 10 s (nudges between pulls)"
echo "join reaches every member:       median $jm ms, max $jx ms  (ratio to one sync: $(awk "BEGIN {printf \"%.1f\", $jm / ($fm > 0 ? $fm : 1)}"))"
echo "revocation reaches every member: median $rm_ ms, max $rx ms  (ratio to one sync: $(awk "BEGIN {printf \"%.1f\", $rm_ / ($fm > 0 ? $fm : 1)}"))"
echo "floor, one 'ppn-pair sync' of one entry: median $fm ms, max $fx ms"
echo "innernet's default fetch interval: 60000 ms (mean wait 30000 ms): join ratio $(awk "BEGIN {printf \"%.4f\", $jm / 30000}") of innernet's mean"
