#!/usr/bin/env bash
# The fleet part of the three-node demo (called by inside-guest.sh, in the
# guest, after the mesh is up): the controller on cloud-c, an agent on every
# node, heartbeats over the WireGuard mesh, the fleet table, an advisory
# placement and an explained refusal, then a silent node evicted.
#
# The seeds' timings are 10 s heartbeats and eviction after 30 s of silence;
# the demo runs them 5x faster (2 s / 6 s, grace 2 s) so that it takes
# seconds, not minutes.  The unit tests check the real values to the second.
set -euo pipefail
build=$1 work=$2
vm=$build/tools/ppn-vm/ppn-vm
sock=$work/fleet.sock
fail() { printf 'DEMO FAILED: %s\n' "$*"; exit 1; }
declare -A host=([a]=laptop-a [b]=laptop-b [c]=cloud-c)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

ip netns exec c "$vm" controller --ledger "$work/c/ledger" --listen 10.8.0.3:51900 --socket "$sock" \
  --state "$work/c/fleet.state" --silence-ms 6000 --grace-ms 2000 >"$work/controller.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || fail "the controller did not start: $(cat "$work/controller.log")"

declare -A agent
for n in a b c; do
  ip netns exec "$n" "$vm" agent --key "$work/$n/identity.key" --ledger "$work/$n/ledger" \
    --controller 10.8.0.3:51900 --name "${host[$n]}" --state-dir "$work/$n/vms" --interval-ms 2000 \
    --epoch-file "$work/$n/fleet.epoch" \
    >"$work/agent-$n.log" 2>&1 &
  agent[$n]=$!
  pids+=($!)
done

alive=0
for _ in $(seq 100); do
  alive=$("$vm" fleet --socket "$sock" 2>/dev/null | awk '$3 == "alive"' | wc -l || true)
  [ "$alive" -ge 3 ] && break
  sleep 0.2
done
"$vm" fleet --socket "$sock"
[ "$alive" -ge 3 ] || fail "the controller does not see three live nodes: $(tail -n 5 "$work"/agent-*.log "$work/controller.log")"

echo; echo "advisory placement of a 256 MiB VM (no confirmation needed for a suggestion):"
"$vm" place --socket "$sock" --memory 256 || fail "no node for a 256 MiB VM"
echo; echo "a VM larger than any node is refused, with a reason per node:"
rc=0; "$vm" place --socket "$sock" --memory 1000000 || rc=$?
[ "$rc" = 2 ] || fail "an impossible placement was not refused (exit $rc)"
echo; echo "a VM-Totebox must name its node:"
rc=0; "$vm" place --socket "$sock" --memory 64 --type totebox || rc=$?
[ "$rc" != 0 ] || fail "a VM-Totebox without a node was placed"
"$vm" place --socket "$sock" --memory 64 --type totebox --node cloud-c || fail "pinning a VM-Totebox failed"

echo; echo "laptop-b's agent stops; after 6 s of silence the controller evicts it:"
kill "${agent[b]}"
state=""
for _ in $(seq 100); do
  state=$("$vm" fleet --socket "$sock" | awk '$1 == "laptop-b" {print $3}' || true)
  [ "$state" = evicted ] && break
  sleep 0.2
done
"$vm" fleet --socket "$sock"
[ "$state" = evicted ] || fail "the silent laptop-b was not evicted (state '$state')"
echo; echo "controller log:"; sed 's/^/  /' "$work/controller.log"
