#!/bin/bash
# The controller and agent under attack, through ppn-vm on loopback (mesh addresses 127.77.0.x):
#   - a client trickling bytes on the UNIX socket never stalls the controller: other queries
#     are answered and a live node is not evicted;
#   - names come from the ledger, not from heartbeats (an agent announcing another's name);
#   - a garbage flood at the controller and at an agent gives a handful of log lines, not one
#     per datagram, and genuine heartbeats keep coming through; a flood from one member's own
#     address is cut at its rate and never evicts another member;
#   - a controller restarted on its state file and an agent restarted on its epoch file carry
#     on without refusing anything as a replay;
#   - numeric options are range-checked (abc, -1, one past the maximum).
# Usage: controller-attack-test.sh PPN_VM PPN_LEDGER PYTHON3
set -u
VM=$(realpath "$1"); LEDGER=$(realpath "$2"); PY=$3
. "$(dirname "$0")/fleet-env.sh" attack   # W, PIDS, cleanup, fail, fleet_ledger, fleet_members
fleet_ledger 127.77.0.0/24 na nb
fleet_members 127.77.0

# Key files: the rule of every ppn tool (tools/tool-util.h).  A key that others can read is
# refused with one line naming the file and its mode, before any socket or file exists.
cp na.key open.key; chmod 644 open.key
rc=0; "$VM" agent --key open.key --ledger L --controller 127.0.0.1:9 --name node-a \
    --listen 127.77.0.2:9 --epoch-file "$W/epoch-open" --state-dir "$W/vms-open" > kf.out 2> kf.err || rc=$?
[ "$rc" = 1 ] && [ "$(cat kf.err)" = "ppn-vm: Refusing key file 'open.key': mode 0644 lets others read it; chmod 600 it" ] ||
    fail "agent with a 0644 key: exit $rc, $(cat kf.err)"
[ ! -e "$W/epoch-open" ] && [ ! -e "$W/vms-open" ] || fail "agent with a 0644 key wrote its state"
rc=0; "$VM" request kf-1 --memory 64 --vcpus 1 --key open.key --socket "$W/none.sock" --yes > kf.out 2> kf.err || rc=$?
[ "$rc" = 1 ] && [ "$(cat kf.err)" = "ppn-vm: Refusing key file 'open.key': mode 0644 lets others read it; chmod 600 it" ] ||
    fail "request with a 0644 key: exit $rc, $(cat kf.err)"
chmod 600 open.key
rc=0; "$VM" request kf-1 --memory 64 --vcpus 1 --key open.key --socket "$W/none.sock" --yes > kf.out 2> kf.err || rc=$?
[ "$rc" != 0 ] && ! grep -q "Refusing\|read key file" kf.err && grep -q "none.sock" kf.err ||
    fail "request with a 0600 key did not get as far as the socket: exit $rc, $(cat kf.err)"

# Numeric options: each refused with one line naming it, exit 1.
for bad in abc -1 86400001; do
    "$VM" controller --ledger L --silence-ms "$bad" 2> opt.err; [ $? = 1 ] || fail "--silence-ms $bad accepted"
    grep -q -- "bad --silence-ms '$bad'" opt.err || fail "message: $(cat opt.err)"
done
for bad in abc -1 65536 0; do
    "$VM" controller --ledger L --agent-port "$bad" 2> opt.err; [ $? = 1 ] || fail "--agent-port $bad accepted"
done
for bad in abc -1 1000001; do
    "$VM" controller --ledger L --member-rate "$bad" 2> opt.err; [ $? = 1 ] || fail "--member-rate $bad accepted"
    grep -q -- "bad --member-rate '$bad'" opt.err || fail "message: $(cat opt.err)"
done
for opt in --grace-ms --claim-ttl-ms; do
    for bad in abc -1 86400001; do
        "$VM" controller --ledger L $opt "$bad" 2> opt.err; [ $? = 1 ] || fail "$opt $bad accepted"
        grep -q -- "bad $opt '$bad'" opt.err || fail "message: $(cat opt.err)"
    done
done
for bad in abc -1 1073741825; do
    "$VM" controller --ledger L --margin-mib "$bad" 2> opt.err; [ $? = 1 ] || fail "--margin-mib $bad accepted"
    grep -q -- "bad --margin-mib '$bad'" opt.err || fail "message: $(cat opt.err)"
    "$VM" agent --key na.key --ledger L --controller 127.0.0.1 --pool-margin-mib "$bad" 2> opt.err
    [ $? = 1 ] || fail "--pool-margin-mib $bad accepted"
    grep -q -- "--pool-margin-mib" opt.err || fail "message: $(cat opt.err)"
done
for bad in abc -1 4294967296 99; do
    "$VM" agent --key na.key --ledger L --controller 127.0.0.1 --interval-ms "$bad" 2> opt.err
    [ $? = 1 ] || fail "--interval-ms $bad accepted"
done
"$VM" controller --ledger L --socket "$W/x.sock" 2> nolisten.err && fail "controller without a mesh address started"
grep -q "mesh address in 127.77.0.0/24" nolisten.err || fail "message: $(cat nolisten.err)"

PORT=$((20000 + RANDOM % 20000)); APORT=$((PORT + 1))
SOCK="$W/ctl.sock"
start_controller() {
    "$VM" controller --ledger L --listen 127.0.0.1:$PORT --socket "$SOCK" --grace-ms 0 \
        --silence-ms 1500 --agent-port $APORT --state "$W/ctl.state" 2>> ctl.log &
    CTL=$!
    PIDS+=($CTL)
    for i in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
    [ -S "$SOCK" ] || fail "controller socket"
}
start_agent() { # key announced-name mesh-address
    "$VM" agent --key $1.key --ledger L --controller 127.0.0.1:$PORT --name $2 \
        --listen $3:$APORT --epoch-file "$W/epoch-$1" --state-dir "$W/vms-$1" \
        --interval-ms 300 2>> agent-$1.log &
    PIDS+=($!)
    LAST_AGENT=$!
}
alive() { "$VM" fleet --socket "$SOCK" --json | grep -c '"state": "alive"'; }
wait_alive() {
    for i in $(seq 100); do [ "$(alive)" = "$1" ] && return 0; sleep 0.1; done
    fail "$1 alive nodes, got $(alive)"
}
start_controller
start_agent na node-b 127.77.0.2     # announces node-b's name
AGENT_A=$LAST_AGENT
start_agent nb node-b 127.77.0.3
wait_alive 2
"$VM" fleet --socket "$SOCK" > table.txt
grep -q '^node-a ' table.txt || fail "name not from the ledger: $(cat table.txt)"
[ "$(grep -c '^node-b ' table.txt)" = 1 ] || fail "two node-b: $(cat table.txt)"

# A client trickling one byte every 0.3 s for 6 s, and four that connect and say nothing.
"$PY" - "$SOCK" <<'P' &
import socket, sys, time
quiet = []
for _ in range(4):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); quiet.append(s)
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
for b in b'{"op":"fleet"}' + b' ' * 6:
    try:
        s.send(bytes([b]))
    except OSError:
        break
    time.sleep(0.3)
P
TRICKLE=$!
PIDS+=($TRICKLE)
for i in $(seq 12); do
    t0=$(date +%s%N)
    "$VM" fleet --socket "$SOCK" --json > q.json || fail "query while a client trickles"
    t1=$(date +%s%N)
    # a controller that served one client at a time would answer only after the five idle and
    # trickling clients had each run out their 2 s deadline (about 10 s); 3 s leaves room for a
    # loaded ASan machine (1.4 s seen)
    [ $(( (t1 - t0) / 1000000 )) -lt 3000 ] || fail "query took $(( (t1 - t0) / 1000000 )) ms"
    sleep 0.5
done
wait $TRICKLE
grep -q evicted ctl.log && fail "a live node was evicted while a client trickled"
[ "$(alive)" = 2 ] || fail "nodes not alive after the trickle"

# Garbage floods at the controller's port and at an agent's: a few log lines, nodes stay alive.
before=$(wc -l < ctl.log); before_a=$(wc -l < agent-na.log)
"$PY" - $PORT $APORT <<'P'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.9", 0))
end = time.time() + 3
n = 0
while time.time() < end:
    for port, ip in ((int(sys.argv[1]), "127.0.0.1"), (int(sys.argv[2]), "127.77.0.2")):
        try:
            s.sendto(b"\x83\x01garbage", (ip, port))
            n += 1
        except OSError:
            pass
print(n)
P
sleep 1.2
ctl_lines=$(( $(wc -l < ctl.log) - before )); agent_lines=$(( $(wc -l < agent-na.log) - before_a ))
[ "$ctl_lines" -le 8 ] || fail "controller logged $ctl_lines lines for a flood"
[ "$agent_lines" -le 8 ] || fail "agent logged $agent_lines lines for a flood"
[ "$ctl_lines" -ge 1 ] || fail "controller did not report the flood"
[ "$agent_lines" -ge 1 ] || fail "agent did not report the flood"
grep -q evicted ctl.log && fail "a node was evicted during the flood"
[ "$(alive)" = 2 ] || fail "nodes not alive after the flood"

# From node-a's own mesh address (its key stolen, say): node-b must not suffer.
"$PY" - $PORT <<'P'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.77.0.2", 0))
end = time.time() + 2
while time.time() < end:
    try:
        s.sendto(b"\x83\x01garbage", ("127.0.0.1", int(sys.argv[1])))
    except OSError:
        pass
P
grep -q "evicted node 'node-b'" ctl.log && fail "node-b evicted by a flood from node-a's address"
"$VM" fleet --socket "$SOCK" --json > rate.json
grep -q '"over the member'"'"'s rate": [1-9]' rate.json || fail "rate refusals not counted: $(cat rate.json)"
"$VM" fleet --socket "$SOCK" | grep -q '^node-b .* alive ' || fail "node-b not alive"
wait_alive 2   # node-a comes back once the flood stops

# Restarts: the controller on its state file, then an agent on its epoch file.
kill $CTL; wait $CTL 2>/dev/null
start_controller
wait_alive 2
kill $AGENT_A; wait $AGENT_A 2>/dev/null
start_agent na node-a 127.77.0.2
sleep 1
wait_alive 2
"$VM" fleet --socket "$SOCK" --json | grep -q '"replay or old sequence": 0' || fail "a restart caused refusals as replays: $("$VM" fleet --socket "$SOCK" --json | grep replay)"
[ "$(cat "$W/epoch-na")" -gt 1 ] || fail "epoch file"
echo "controller attack test: OK"
