#!/bin/bash
# ppn-vm controller and agents in separate network namespaces joined by veth pairs (root),
# each with a "mesh" address 10.79.0.x routed over its link, as WireGuard would give it:
# the controller finds its listen address (the one local address in the ledger's mesh range),
# agents send from their ledger addresses (their default), every member is seen alive from it,
# a non-member's heartbeats are refused, and an agent whose link goes down is evicted on the
# controller's clock.
# Usage: services-netns-test.sh PPN_VM PPN_LEDGER
set -u
VM=$(realpath "$1"); LEDGER=$(realpath "$2")
TAG=$$
C=ppnfsc$TAG
. "$(dirname "$0")/fleet-env.sh" netns   # W, PIDS, cleanup, fail, fleet_ledger
cleanup_more() {
    for i in 1 2 3; do ip netns del ppnfs$i-$TAG 2>/dev/null; done
    ip netns del $C 2>/dev/null
}
fleet_ledger 10.79.0.0/24 n1 n2 n3
for i in 1 2; do
    echo "{\"type\":\"node-join\",\"subject\":\"$("$LEDGER" pubkey n$i.key)\",\"wg_key\":\"$WG\",\"mesh\":\"10.79.0.$((i + 1))/24\",\"endpoint\":\"\",\"hostname\":\"n$i\"}"
done > join.jsonl
"$LEDGER" append L --key admin.key join.jsonl >/dev/null || fail "ledger append"

ip netns add $C || fail "netns"
ip -n $C link set lo up
ip -n $C addr add 10.79.0.1/32 dev lo
for i in 1 2 3; do
    ip netns add ppnfs$i-$TAG || fail "netns $i"
    ip link add pfsa$i-$((TAG % 10000)) netns ppnfs$i-$TAG type veth peer name pfsc$i-$((TAG % 10000)) netns $C || fail "veth $i"
    ip -n ppnfs$i-$TAG addr add 10.78.$i.2/24 dev pfsa$i-$((TAG % 10000))
    ip -n ppnfs$i-$TAG link set pfsa$i-$((TAG % 10000)) up
    ip -n $C addr add 10.78.$i.1/24 dev pfsc$i-$((TAG % 10000))
    ip -n $C link set pfsc$i-$((TAG % 10000)) up
    ip -n ppnfs$i-$TAG addr add 10.79.0.$((i + 1))/32 dev pfsa$i-$((TAG % 10000))
    ip -n ppnfs$i-$TAG route add 10.79.0.1/32 via 10.78.$i.1
    ip -n $C route add 10.79.0.$((i + 1))/32 via 10.78.$i.2
done

SOCK="$W/ctl.sock"
ip netns exec $C "$VM" controller --ledger L --socket "$SOCK" --state "$W/ctl.state" \
    --grace-ms 0 --silence-ms 3000 2> ctl.log &
PIDS+=($!)
for i in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || fail "controller socket"
for i in $(seq 20); do grep -q "heartbeats on" ctl.log && break; sleep 0.1; done
grep -q "heartbeats on 10.79.0.1:51900" ctl.log || fail "controller not on its mesh address"
for i in 1 2 3; do
    # n3 is no member: it has no ledger address, so it names one.
    LISTEN=(); [ $i = 3 ] && LISTEN=(--listen 10.79.0.4)
    ip netns exec ppnfs$i-$TAG "$VM" agent --key n$i.key --ledger L --controller 10.79.0.1 \
        "${LISTEN[@]}" --epoch-file "$W/epoch-$i" \
        --name n$i --state-dir "$W/vms-$i" --interval-ms 500 2> agent-$i.log &
    PIDS+=($!)
done
for i in $(seq 100); do
    [ "$("$VM" fleet --socket "$SOCK" --json | grep -c '"state": "alive"')" = 2 ] && break
    sleep 0.1
done
"$VM" fleet --socket "$SOCK" --json > fleet.json
[ "$(grep -c '"state": "alive"' fleet.json)" = 2 ] || fail "two alive nodes: $(cat fleet.json)"
grep -q '"source": "10.79.0.2:51901"' fleet.json || fail "node 1 address: $(cat fleet.json)"
grep -q '"source": "10.79.0.3:51901"' fleet.json || fail "node 2 address: $(cat fleet.json)"
grep -q '"addr": "10.79.0.2:51901"' fleet.json || fail "node 1 dispatch address: $(cat fleet.json)"
sleep 1
"$VM" fleet --socket "$SOCK" --json | grep -q '"wrong source address": [1-9]' || fail "non-member not counted"

# Node 2's link goes down: silent on the controller's clock, evicted after 3 s.
ip -n ppnfs2-$TAG link set pfsa2-$((TAG % 10000)) down
for i in $(seq 100); do
    "$VM" fleet --socket "$SOCK" | grep -q '^n2 .* evicted ' && break
    sleep 0.1
done
"$VM" fleet --socket "$SOCK" > table.txt
grep -q '^n2 .* evicted ' table.txt || fail "n2 not evicted: $(cat table.txt)"
grep -q '^n1 .* alive ' table.txt || fail "n1 not alive: $(cat table.txt)"
# Back up: alive again with its next heartbeat.
ip -n ppnfs2-$TAG link set pfsa2-$((TAG % 10000)) up
ip -n ppnfs2-$TAG route replace 10.79.0.1/32 via 10.78.2.1   # the link took its route down
for i in $(seq 50); do
    "$VM" fleet --socket "$SOCK" | grep -q '^n2 .* alive ' && break
    sleep 0.1
done
"$VM" fleet --socket "$SOCK" | grep -q '^n2 .* alive ' || fail "n2 did not come back"
echo "services netns test: OK"
