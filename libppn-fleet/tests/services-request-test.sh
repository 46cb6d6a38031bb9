#!/bin/bash
# A request is a VM, end to end on loopback, as root, with real TCG guests:
#   an operator requests a VM-MediaKit through the controller (type defaults, forwards,
#   cloud-init hostname and user), confirms on stdin; the chosen node's agent writes the
#   specification and starts it; `ppn-vm fleet` shows it running; the guest printed the
#   hostname its NoCloud seed gave it.  Refused: an unconfirmed request (at the controller
#   and straight at the agent), an altered one, one that would move the VM to the other node
#   (no live migration), and a VM-Totebox pinned to another node (by the agent, at start).
# Usage: services-request-test.sh PPN_VM PPN_LEDGER BUILD_GUEST_SH REQUEST_FORGE PYTHON3
set -u
VM=$(realpath "$1"); LEDGER=$(realpath "$2"); BUILD_GUEST=$(realpath "$3"); FORGE=$(realpath "$4"); PY=$5
FAIL_TAIL=25
. "$(dirname "$0")/fleet-env.sh" request   # W, PIDS, cleanup, fail, fleet_ledger, fleet_members

"$BUILD_GUEST" "$W/guest" >/dev/null || fail "build-guest.sh"
fleet_ledger 127.78.0.0/24 na nb op
OP=$("$LEDGER" pubkey op.key)
fleet_members 127.78.0 "$OP"

# Options: each bad value refused with one line naming it, exit 1, before any query.
badopt() { # expected-text option...
    local want=$1; shift
    "$VM" request bad-1 "$@" --key op.key --socket "$W/none.sock" > opt.out 2> opt.err
    [ $? = 1 ] || fail "request $* accepted"
    grep -q -- "$want" opt.err || fail "request $*: $(cat opt.err)"
}
for v in abc -1 0; do badopt "bad --memory '$v'" --memory "$v"; done
badopt "memory must be 64..1048576" --memory 1048577
for v in abc -1 0; do badopt "bad --vcpus '$v'" --vcpus "$v"; done
badopt "vcpus must be 1..256" --vcpus 257
for v in abc -1 0 1048577; do badopt "bad --disk-size '$v'" --disk-size "$v"; done
for v in abc -1 3601; do badopt "bad --wait '$v'" --wait "$v"; done
for v in 1:x 0:80 65536:80 80; do badopt "forward is" --forward "$v"; done
badopt "unknown --type 'bogus'" --type bogus
badopt "disk must be an absolute path" --disk rel/disk.img
badopt "needs --disk" --base /x.img
for v in abc -1 1073741825; do
    "$VM" agent --key na.key --ledger L --controller 127.0.0.1 --pool-margin-mib "$v" 2> opt.err
    [ $? = 1 ] && grep -q -- "bad --pool-margin-mib '$v'" opt.err || fail "--pool-margin-mib $v: $(cat opt.err)"
done
"$VM" agent --key na.key --ledger L --controller 127.0.0.1 --runner bogus 2> opt.err
[ $? = 1 ] && grep -q -- "bad --runner 'bogus'" opt.err || fail "--runner bogus: $(cat opt.err)"

PORT=$((20000 + RANDOM % 20000)); APORT=$((PORT + 1))
SOCK="$W/ctl.sock"
"$VM" controller --ledger L --listen 127.0.0.1:$PORT --socket "$SOCK" --grace-ms 0 \
    --silence-ms 3000 --agent-port $APORT --state "$W/ctl.state" 2> ctl.log &
PIDS+=($!)
for i in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || fail "controller socket"
declare -A APID
start_agent() { # key name mesh-address [agent options]
    local k=$1 n=$2 ip=$3; shift 3
    "$VM" agent --key $k.key --ledger L --controller 127.0.0.1:$PORT --name $n \
        --listen $ip:$APORT --epoch-file "$W/epoch-$n" --runner direct \
        --state-dir "$W/vms-$n" --interval-ms 1000 --accel tcg "$@" 2>> agent-$n.log &
    PIDS+=($!)
    APID[$n]=$!
}
start_agent na node-a 127.78.0.2
start_agent nb node-b 127.78.0.3
for i in $(seq 100); do
    [ "$("$VM" fleet --socket "$SOCK" --json | grep -c '"state": "alive"')" = 2 ] && break
    sleep 0.1
done
[ "$("$VM" fleet --socket "$SOCK" --json | grep -c '"state": "alive"')" = 2 ] || fail "two alive nodes"

BOOT=(--kernel "$W/guest/vmlinuz" --initrd "$W/guest/initrd.gz" --append "console=ttyS0 panic=-1 loglevel=3")
FPORT=$((PORT + 2))
# 1. A VM-MediaKit, as create would describe it, confirmed on stdin.
echo y | "$VM" request media-1 --type mediakit --memory 256 --vcpus 1 "${BOOT[@]}" \
    --no-default-forwards --forward $FPORT:9096 --hostname vm-mediakit --user foundry \
    --key op.key --socket "$SOCK" --wait 120 > req.txt 2> req.err || fail "request: $(cat req.txt req.err)"
grep -q "^Create VM-MediaKit 'media-1' (256 MiB, 1 vCPUs, 1 forwards) on node 'node-[ab]'?" req.err ||
    grep -q "^Create VM-MediaKit 'media-1' (256 MiB, 1 vCPUs, 1 forwards) on node 'node-[ab]'?" req.txt ||
    fail "confirmation question: $(cat req.txt req.err)"
NODE=$(sed -n "s/^'media-1' runs on node '\(node-[ab]\)'$/\1/p" req.txt)
[ -n "$NODE" ] || fail "request output: $(cat req.txt)"
if [ "$NODE" = node-a ]; then OTHER=node-b; OTHER_KEY=$NB; NODE_KEY=$NA; else OTHER=node-a; OTHER_KEY=$NA; NODE_KEY=$NB; fi
grep "^request to running:" req.txt
grep -q "dispatched VM 'media-1' to node $NODE" ctl.log || fail "controller log"
grep -q "started VM 'media-1' (VM-MediaKit, 256 MiB, 1 vCPUs)" agent-$NODE.log || fail "agent log"
S="$W/vms-$NODE/media-1"
grep -q '"node": *"'$NODE'"' "$S/spec.json" || fail "spec not pinned to $NODE: $(cat "$S/spec.json")"
grep -q '"hostname": *"vm-mediakit"' "$S/spec.json" || fail "spec hostname: $(cat "$S/spec.json")"
kill -0 "$(cat "$S/qemu.pid")" || fail "QEMU not running"
for i in $(seq 120); do grep -q 'ppn-guest: ready' "$S/console.log" 2>/dev/null && break; sleep 0.5; done
grep -q 'ppn-guest: cidata .* hostname=vm-mediakit user=foundry' "$S/console.log" ||
    fail "NoCloud seed not read: $(grep ppn-guest "$S/console.log")"
grep -q -- "hostfwd=tcp:127.0.0.1:$FPORT-:9096" "/proc/$(cat "$S/qemu.pid")/cmdline" 2>/dev/null ||
    tr '\0' ' ' < "/proc/$(cat "$S/qemu.pid")/cmdline" | grep -q "$FPORT-:9096" || fail "forward not on QEMU's command line"
"$VM" fleet --socket "$SOCK" > table.txt || fail "fleet"
grep -q "^  vm media-1 .* running " table.txt || fail "fleet does not show media-1 running: $(cat table.txt)"
"$VM" fleet --socket "$SOCK" --json | grep -q '"state": "running"' || fail "fleet json state"

# 2. The same name on the other node: a VM never moves.
"$VM" request media-1 --type mediakit --memory 256 --vcpus 1 "${BOOT[@]}" --no-default-forwards \
    --node $OTHER --key op.key --socket "$SOCK" --yes > mv.txt 2> mv.err && fail "a move was dispatched"
grep -q "no live migration: VM 'media-1' is placed on node '$NODE'" mv.err || fail "move message: $(cat mv.err)"
[ "$(grep -c "dispatched VM 'media-1'" ctl.log)" = 1 ] || fail "move reached an agent"
"$VM" request media-1 --type mediakit --memory 256 --vcpus 1 "${BOOT[@]}" --no-default-forwards \
    --node $OTHER --key op.key --socket "$SOCK" --yes --json > mvj.txt 2> mvj.err && fail "a move was dispatched (--json)"
grep -q '^{"tool": "ppn-vm", "error": ".*no live migration' mvj.err || fail "move refusal under --json: $(cat mvj.err)"

# 3. Signed by the operator, but not confirmed; then confirmed and altered after signing.
ask() { # hex -> the controller's answer line
    "$PY" - "$SOCK" "$1" <<'P'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(5)
s.sendall((json.dumps({"op": "request", "request": sys.argv[2]}) + "\n").encode())
print(s.makefile().readline().strip())
P
}
HEX=$("$FORGE" op.key "$OTHER_KEY" forged-1 unconfirmed "$W/guest/vmlinuz") || fail "forge"
ask "$HEX" > a1.txt
grep -q '"ok": false' a1.txt || grep -q '"ok":false' a1.txt || fail "unconfirmed request accepted: $(cat a1.txt)"
grep -q 'not confirmed' a1.txt || fail "unconfirmed answer: $(cat a1.txt)"
# Straight at the agent, from the controller's address (the controller bypassed).
OIP=127.78.0.2; [ "$OTHER" = node-b ] && OIP=127.78.0.3
"$PY" - "$OIP" "$APORT" "$HEX" <<'P'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0))
s.sendto(bytes.fromhex(sys.argv[3]), (sys.argv[1], int(sys.argv[2])))
P
for i in $(seq 30); do grep -q "refused request 'forged-1' .*Operation canceled" agent-$OTHER.log && break; sleep 0.1; done
grep -q "refused request 'forged-1' .*Operation canceled" agent-$OTHER.log || fail "agent took an unconfirmed request"
HEX=$("$FORGE" op.key "$OTHER_KEY" forged-2 altered "$W/guest/vmlinuz") || fail "forge"
ask "$HEX" > a2.txt
grep -q 'does not verify' a2.txt || fail "altered answer: $(cat a2.txt)"
# The forge's confirmed form is dispatched (so the refusals above are about what they say).
# (Its kernel does not exist on the node: the agent refuses it at once and starts nothing.)
HEX=$("$FORGE" op.key "$OTHER_KEY" forged-3 confirmed "/nonexistent/vmlinuz") || fail "forge"
ask "$HEX" > a3.txt
grep -q '"dispatched": true' a3.txt || grep -q '"dispatched":true' a3.txt || fail "confirmed forge refused: $(cat a3.txt)"
for i in $(seq 50); do grep -q "Failed to create 'forged-3': kernel" agent-$OTHER.log && break; sleep 0.1; done
grep -q "Failed to create 'forged-3': kernel: No such file or directory" agent-$OTHER.log || fail "forged-3 on the agent: $(grep forged-3 agent-$OTHER.log)"
grep -q "dispatched VM 'forged-1'\|dispatched VM 'forged-2'" ctl.log && fail "a refused request was dispatched"
ls "$W/vms-$OTHER" 2>/dev/null | grep -q 'forged-[12]' && fail "a refused request left a VM"

# 4. A VM-Totebox pinned to the other node is refused by the agent, at start.
"$VM" create tb-1 --type totebox --node $OTHER --memory 128 --vcpus 1 "${BOOT[@]}" \
    --state-dir "$W/vms-$NODE" > /dev/null || fail "create totebox"
"$VM" request tb-1 --type totebox --node $NODE --memory 128 --vcpus 1 "${BOOT[@]}" \
    --key op.key --socket "$SOCK" --yes --wait 60 > tb.txt 2> tb.err && fail "pinned-elsewhere totebox started"
grep -q "refused 'tb-1': pinned to node '$OTHER', this is '$NODE'" agent-$NODE.log || fail "agent pin log: $(cat tb.err)"
grep -q "VM-Totebox is pinned to its node and starts nowhere else" agent-$NODE.log || fail "pin reason"
[ -f "$W/vms-$NODE/tb-1/qemu.pid" ] && kill -0 "$(cat "$W/vms-$NODE/tb-1/qemu.pid")" 2>/dev/null && fail "totebox QEMU runs"
"$VM" fleet --socket "$SOCK" | grep -q "^  vm tb-1 .* failed " || fail "fleet: tb-1 not failed: $("$VM" fleet --socket "$SOCK")"
"$VM" fleet --socket "$SOCK" | grep -q "^  vm media-1 .* running " || fail "media-1 no longer running"

# 5. The resource pool, with the real MemAvailable: a margin above what the host has is
#    pressure, so the agent reclaims from media-1 (which has memory free), never below its
#    floor (128 MiB), and the heartbeat says so; with a small margin it gives it back.
mem_of() { "$VM" fleet --socket "$SOCK" --json | "$PY" -c '
import json, sys
for n in json.load(sys.stdin)["nodes"]:
    for v in n["vms"]:
        if v["name"] == sys.argv[1]: print(v["mem_bytes"] // 1048576)' "$1"; }
[ "$(mem_of media-1)" = 256 ] || fail "media-1 advertised with $(mem_of media-1) MiB before the pool"
AVAIL=$(( $(sed -n 's/^MemAvailable: *\([0-9]*\) kB/\1/p' /proc/meminfo) / 1024 ))
IP=127.78.0.2; [ "$NODE" = node-b ] && IP=127.78.0.3
KEY=na; [ "$NODE" = node-b ] && KEY=nb
kill "${APID[$NODE]}"; wait "${APID[$NODE]}" 2>/dev/null
kill -0 "$(cat "$S/qemu.pid")" || fail "QEMU ended with its agent"
T0=$(date +%s%N)
start_agent $KEY $NODE $IP --pool-margin-mib $((AVAIL + 4096))
for i in $(seq 150); do [ "$(mem_of media-1)" -lt 256 ] && break; sleep 0.2; done
T1=$(date +%s%N)
M=$(mem_of media-1)
[ "$M" -lt 256 ] || fail "nothing reclaimed: $M MiB advertised; $(grep pool agent-$NODE.log)"
echo "pool: first reclaim from media-1 (256 -> $M MiB) seen $(( (T1 - T0) / 1000000 )) ms after the agent started"
sleep 5 # more passes: the guest's reserve (64 MiB of its free memory) and its floor hold
M=$(mem_of media-1)
[ "$M" -ge 128 ] && [ "$M" -lt 256 ] || fail "advertised $M MiB (floor 128)"
grep -q "pool: host has .* under pressure" agent-$NODE.log || fail "pressure not logged"
grep -q "pool: reclaim from VM 'media-1' balloon 256 -> $M MiB\|pool: reclaim from VM 'media-1' balloon 256 -> [0-9]* MiB" agent-$NODE.log || fail "reclaim not logged: $(grep pool agent-$NODE.log)"
grep "pool: reclaim from" agent-$NODE.log | sed -n 's/.* -> \([0-9]*\) MiB.*/\1/p' | while read t; do
    [ "$t" -ge 128 ] || { echo "FAIL: below the floor: $t"; exit 1; }; done || fail "below the floor"
kill "${APID[$NODE]}"; wait "${APID[$NODE]}" 2>/dev/null
start_agent $KEY $NODE $IP --pool-margin-mib 1
# the guest deflates its balloon itself: at 128 MiB with 49 MiB free, under TCG on a loaded
# machine, that took more than 30 s once (the agent had asked at once); the wait is a bound only
T0=$(date +%s%N)
for i in $(seq 450); do [ "$(mem_of media-1)" = 256 ] && break; sleep 0.2; done
[ "$(mem_of media-1)" = 256 ] || fail "not given back in 90 s: $(mem_of media-1) MiB; $(grep pool agent-$NODE.log)"
echo "pool: given back to 256 MiB $(( ($(date +%s%N) - T0) / 1000000 )) ms after the agent restarted with a small margin"
grep -q "pool: give back to VM 'media-1' balloon $M -> 256 MiB" agent-$NODE.log || fail "give-back not logged: $(grep pool agent-$NODE.log)"

# 6. The node's agent stops: the node is evicted, the VM stays where it is (a request for it
#    elsewhere is still a move); the agent returns and the VM is reported again, running.
kill "${APID[$NODE]}"; wait "${APID[$NODE]}" 2>/dev/null
for i in $(seq 100); do "$VM" fleet --socket "$SOCK" | grep -q "^$NODE .* evicted " && break; sleep 0.1; done
"$VM" fleet --socket "$SOCK" | grep -q "^$NODE .* evicted " || fail "$NODE not evicted"
kill -0 "$(cat "$S/qemu.pid")" || fail "QEMU ended with its agent"
"$VM" request media-1 --type mediakit --memory 256 --vcpus 1 "${BOOT[@]}" --no-default-forwards \
    --node $OTHER --key op.key --socket "$SOCK" --yes > mv2.txt 2> mv2.err && fail "moved while its node is evicted"
grep -q "no live migration: VM 'media-1' is placed on node '$NODE'" mv2.err || fail "move message: $(cat mv2.err)"
start_agent $KEY $NODE $IP
for i in $(seq 100); do "$VM" fleet --socket "$SOCK" | grep -q "^$NODE .* alive " && break; sleep 0.1; done
"$VM" fleet --socket "$SOCK" > table2.txt
grep -q "^$NODE .* alive " table2.txt || fail "$NODE not back: $(cat table2.txt)"
sed -n "/^$NODE /,/^node-/p" table2.txt | grep -q "^  vm media-1 .* running " || fail "media-1 not reported again: $(cat table2.txt)"

# 7. The unit runner, forced on a host where systemd is not PID 1: the agent writes the VM's
#    unit (ppn_vm_unit: ExecStart "ppn-vm run" on its state directory) and reports the start
#    as failed when systemctl cannot reach systemd.  (Starting units needs systemd as PID 1.)
OKEY=na; OIP2=127.78.0.2; [ "$OTHER" = node-b ] && { OKEY=nb; OIP2=127.78.0.3; }
kill "${APID[$OTHER]}"; wait "${APID[$OTHER]}" 2>/dev/null
mkdir -p "$W/units"
start_agent $OKEY $OTHER $OIP2 --runner systemd --unit-dir "$W/units"
for i in $(seq 100); do "$VM" fleet --socket "$SOCK" | grep -q "^$OTHER .* alive " && break; sleep 0.1; done
"$VM" request unit-1 --memory 128 --vcpus 1 "${BOOT[@]}" --no-default-forwards --node $OTHER \
    --key op.key --socket "$SOCK" --yes --wait 60 > u.txt 2> u.err && fail "a unit started without systemd"
grep -q "Failed to start 'unit-1' on node '$OTHER'" u.err || fail "unit failure message: $(cat u.txt u.err)"
U="$W/units/ppn-vm-unit-1.service"
[ -f "$U" ] || fail "no unit written: $(ls "$W/units"; grep unit-1 agent-$OTHER.log)"
grep -qxF "ExecStart=\"$VM\" \"run\" \"--state-dir\" \"$W/vms-$OTHER\" \"--accel\" \"tcg\" \"unit-1\"" "$U" ||
    fail "unit ExecStart: $(cat "$U")"
if command -v systemd-analyze > /dev/null; then
    systemd-analyze verify "$U" > verify.txt 2>&1 || fail "systemd-analyze verify: $(cat verify.txt)"
fi
grep -q "Failed to start 'unit-1': systemctl daemon-reload failed" agent-$OTHER.log || fail "agent: $(grep unit-1 agent-$OTHER.log)"
"$VM" fleet --socket "$SOCK" | grep -q "^  vm unit-1 .* failed " || fail "unit-1 not failed in the table"
echo "request test: OK (media-1 on $NODE)"
