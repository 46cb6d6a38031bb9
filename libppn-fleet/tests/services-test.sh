#!/bin/bash
# The fleet services end to end, as root, on loopback:
#   a ledger (genesis, two member nodes, an operator with "vm.create"), one controller, two
#   member agents and one non-member agent; the table; advisory placement and its refusal
#   text; refused requests (no capability, declined confirmation, VM-Totebox without node);
#   then placement -> confirmation -> signed dispatch -> a real QEMU (TCG) guest started by
#   the agent, seen in the next heartbeat; finally an agent goes silent and is evicted.
# Usage: services-test.sh PPN_VM PPN_LEDGER BUILD_GUEST_SH
set -u
VM=$(realpath "$1"); LEDGER=$(realpath "$2"); BUILD_GUEST=$(realpath "$3")
. "$(dirname "$0")/fleet-env.sh" services   # W, PIDS, cleanup, fail, fleet_ledger, fleet_members

"$BUILD_GUEST" "$W/guest" >/dev/null || fail "build-guest.sh"
fleet_ledger 127.77.0.0/24 na nb nc op stranger
OP=$("$LEDGER" pubkey op.key)
fleet_members 127.77.0 "$OP"

PORT=$((20000 + RANDOM % 20000)); APORT=$((PORT + 1))
SOCK="$W/ctl.sock"
# Members' mesh addresses are 127.77.0.x (loopback): dispatch goes there, never to a source.
"$VM" controller --ledger L --listen 127.0.0.1:$PORT --socket "$SOCK" --grace-ms 0 \
    --silence-ms 3000 --agent-port $APORT --state "$W/ctl.state" 2> ctl.log &
PIDS+=($!)
for i in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || fail "controller socket"
start_agent() { # key name mesh-address
    "$VM" agent --key $1.key --ledger L --controller 127.0.0.1:$PORT --name $2 \
        --listen $3:$APORT --epoch-file "$W/epoch-$2" \
        --state-dir "$W/vms-$2" --interval-ms 1000 --accel tcg 2> agent-$2.log &
    PIDS+=($!)
}
start_agent na node-a 127.77.0.2
PID_A=$!
start_agent nb node-b 127.77.0.3
PID_B=$!
start_agent nc node-c 127.77.0.9   # not a member
alive=0
for i in $(seq 100); do
    alive=$("$VM" fleet --socket "$SOCK" --json | grep -c '"state": "alive"')
    [ "$alive" = 2 ] && break
    sleep 0.1
done
[ "$alive" = 2 ] || fail "two alive nodes, got $alive"
"$VM" fleet --socket "$SOCK" > table.txt || fail "fleet table"
grep -q '^node-a .* alive ' table.txt || fail "table: $(cat table.txt)"
grep -q 'LAST HEARD' table.txt || fail "table header"
sleep 1.5
"$VM" fleet --socket "$SOCK" --json | grep -q '"wrong source address": [1-9]' || fail "non-member heartbeats not counted"

# Advisory placement and its refusal.
"$VM" place --socket "$SOCK" --memory 256 > place.txt || fail "place"
grep -q 'suggested node: node-[ab]' place.txt || fail "place: $(cat place.txt)"
"$VM" place --socket "$SOCK" --memory 100000000 > place2.txt
[ $? = 2 ] || fail "impossible placement not refused"
grep -q '^0/2 nodes are available: 2 insufficient memory$' place2.txt || fail "refusal text: $(cat place2.txt)"
grep -q "^  $NA: insufficient memory$" place2.txt || fail "per-node reason: $(cat place2.txt)"
"$VM" place --socket "$SOCK" --memory 256 --node node-b | grep -q 'suggested node: node-b' || fail "pinned placement"
"$VM" place --socket "$SOCK" --memory 256 --type totebox 2> tb.err && fail "totebox without node placed"
grep -q 'named node' tb.err || fail "totebox message: $(cat tb.err)"

GUEST_ARGS=(--memory 256 --kernel "$W/guest/vmlinuz" --initrd "$W/guest/initrd.gz"
            --append "console=ttyS0 panic=-1 loglevel=3" --socket "$SOCK")
# Refused: a signer without "vm.create"; a declined confirmation; a totebox without node.
"$VM" request nope-1 "${GUEST_ARGS[@]}" --key stranger.key --yes > /dev/null 2> r1.err && fail "request without capability"
grep -q 'vm.create' r1.err || fail "capability message: $(cat r1.err)"
echo n | "$VM" request nope-2 "${GUEST_ARGS[@]}" --key op.key > /dev/null 2> r2.err && fail "declined request dispatched"
grep -q 'Operation canceled' r2.err || fail "declined message: $(cat r2.err)"
"$VM" request nope-3 "${GUEST_ARGS[@]}" --key op.key --type totebox --yes 2> r3.err && fail "totebox without node"
grep -q "named node" r3.err || fail "totebox request message: $(cat r3.err)"
grep -q dispatched ctl.log && fail "something was dispatched"

# The full path, confirmed interactively (stdin), to a real guest.
echo y | "$VM" request guest-1 "${GUEST_ARGS[@]}" --key op.key --wait 90 > req.txt 2> req.err || fail "request: $(cat req.err)"
grep -q "^'guest-1' runs on node 'node-[ab]'" req.txt || fail "request output: $(cat req.txt)"
NODE=$(sed -n "s/^'guest-1' runs on node '\(node-[ab]\)'/\1/p" req.txt)
grep -q "dispatched VM 'guest-1' to node $NODE" ctl.log || fail "controller log"
grep -q "started VM 'guest-1'" agent-$NODE.log || fail "agent log"
for i in $(seq 120); do grep -q 'ppn-guest: ready' "$W/vms-$NODE/guest-1/console.log" 2>/dev/null && break; sleep 0.5; done
grep -q 'ppn-guest: ready' "$W/vms-$NODE/guest-1/console.log" || fail "guest did not boot"
kill -0 "$(cat "$W/vms-$NODE/guest-1/qemu.pid")" || fail "QEMU not running"
"$VM" fleet --socket "$SOCK" | grep -q "^$NODE .* 1  " || fail "VM count in table"

# The other node goes silent: evicted after 3 s of silence.
if [ "$NODE" = node-a ]; then QUIET=$PID_B; Q=node-b; else QUIET=$PID_A; Q=node-a; fi
kill "$QUIET"
for i in $(seq 100); do
    "$VM" fleet --socket "$SOCK" | grep -q "^$Q .* evicted " && break
    sleep 0.1
done
"$VM" fleet --socket "$SOCK" | grep -q "^$Q .* evicted " || fail "silent node not evicted"
grep -q "evicted node '$Q'" ctl.log || fail "eviction not reported"
echo "services test: OK (guest on $NODE)"
