#!/bin/bash
# The resource pool under real host memory pressure (root, real TCG guest).
#   The agent and a guest (512 MiB, which touched 300 MiB and freed it: the host holds pages
#   the guest has free) run in a memory cgroup limited to 1200 MiB (pool-env.sh), so the
#   agent's "host available" is what the cgroup leaves.  mem-hog then touches enough pages
#   inside the cgroup to push that below the agent's margin (512 MiB): the agent reclaims
#   from the guest in steps of at most 128 MiB, never below its floor (128 MiB), logging each
#   step; QEMU's balloon (query-balloon) shrinks, the pages the guest gave up leave the
#   cgroup and the pressure goes; the heartbeat advertises the cgroup's total and the
#   guest's ballooned memory.  The hog ends: the agent gives the memory back (512 MiB).
# Usage: pool-pressure-test.sh PPN_VM PPN_LEDGER BUILD_GUEST_SH MEM_HOG PYTHON3
set -u
VM=$(realpath "$1"); LEDGER=$(realpath "$2"); BUILD_GUEST=$(realpath "$3"); HOG=$(realpath "$4"); PY=$5
W=$(mktemp -d /tmp/ppn-pool-XXXXXX)
HOGPID=
cleanup() {
    [ -n "$HOGPID" ] && kill "$HOGPID" 2>/dev/null
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for f in "$W"/vms/*/qemu.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done
    wait 2>/dev/null
    cg_cleanup
    rm -rf "$W"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    for f in "$W"/*.log; do echo "--- $f"; tail -n 30 "$f"; done
    exit 1
}
. "$(dirname "$0")/pool-env.sh"
cd "$W"
umask 077
[ "$(id -u)" = 0 ] || fail "needs root (a memory cgroup is made)"

"$BUILD_GUEST" "$W/guest" >/dev/null || fail "build-guest.sh"
cg_make
pool_ledger_controller
pool_guest g1 512 300
MARGIN=512
pool_agent $MARGIN
for i in $(seq 100); do grep -q "pool: available memory bounded by memory cgroup" agent.log && break; sleep 0.1; done
grep -q "pool: available memory bounded by memory cgroup $CG (v$CG_VERSION, limit $POOL_LIMIT_MIB MiB)" agent.log ||
    fail "the agent does not read its cgroup: $(grep pool agent.log)"
for i in $(seq 100); do read -r TOT AV VMM < <(advertised g1); [ "${TOT:-0}" = "$POOL_LIMIT_MIB" ] && break; sleep 0.1; done
[ "$TOT" = "$POOL_LIMIT_MIB" ] || fail "heartbeat total $TOT MiB, not the cgroup's $POOL_LIMIT_MIB"
[ "$AV" -le "$POOL_LIMIT_MIB" ] || fail "heartbeat available $AV MiB above the cgroup's limit"
[ "$VMM" = 512 ] || fail "g1 advertised with $VMM MiB before any pressure"

# No pressure yet: the cgroup leaves more than the margin; nothing is reclaimed.
U=$(cg_usage_mib)
FREE=$((POOL_LIMIT_MIB - U))
echo "pool: cgroup limit $POOL_LIMIT_MIB MiB, used $U MiB (guest and agent), $FREE MiB left, margin $MARGIN MiB"
[ "$FREE" -gt $((MARGIN + 64)) ] || fail "no room to start with: $FREE MiB left"
sleep 4
grep -q "pool: reclaim from" agent.log && fail "reclaimed without pressure: $(grep pool agent.log)"
[ "$(balloon_mib g1)" = 512 ] || fail "balloon moved without pressure"

# Pressure: leave 250 MiB (262 below the margin).
HOGMIB=$((FREE - 250))
T0=$(date +%s%N)
hog_on $HOGMIB
echo "pool: mem-hog holds $HOGMIB MiB in the cgroup"
for i in $(seq 300); do B=$(balloon_mib g1); [ -n "$B" ] && [ "$B" -lt 512 ] && break; sleep 0.2; done
T1=$(date +%s%N)
[ -n "$B" ] && [ "$B" -lt 512 ] || fail "nothing reclaimed under pressure (balloon ${B:-?} MiB)"
echo "pool: first reclaim seen $(( (T1 - T0) / 1000000 )) ms after the pressure"
grep -q "pool: host has [0-9]* MiB available, margin $MARGIN MiB: under pressure" agent.log || fail "pressure not logged"
# The pressure goes as the guest's pages leave the cgroup.
for i in $(seq 300); do
    U=$(cg_usage_mib)
    [ $((POOL_LIMIT_MIB - U)) -ge $MARGIN ] && break
    sleep 0.2
done
T2=$(date +%s%N)
[ $((POOL_LIMIT_MIB - U)) -ge $MARGIN ] || fail "the pressure stayed: $((POOL_LIMIT_MIB - U)) MiB left, balloon $(balloon_mib g1) MiB"
echo "pool: $((POOL_LIMIT_MIB - U)) MiB left in the cgroup again $(( (T2 - T0) / 1000000 )) ms after the pressure"
sleep 5 # more passes: nothing more is taken once the margin holds
B=$(balloon_mib g1)
[ "$B" -ge 128 ] && [ "$B" -lt 512 ] || fail "balloon $B MiB (floor 128)"
grep "pool: reclaim from VM 'g1'" agent.log > reclaim.txt || fail "reclaim not logged"
cat reclaim.txt
LAST=512
while read -r from to; do
    [ "$from" = "$LAST" ] || fail "log skips a step: $LAST then $from -> $to"
    [ "$to" -lt "$from" ] && [ $((from - to)) -le 128 ] || fail "step $from -> $to MiB larger than 128"
    [ "$to" -ge 128 ] || fail "below the floor: $to"
    LAST=$to
done < <(sed -n "s/.*balloon \([0-9]*\) -> \([0-9]*\) MiB (guest free [0-9]* MiB, floor 128 MiB, host available \([0-9]*\) MiB).*/\1 \2/p" reclaim.txt)
[ "$LAST" = "$B" ] || fail "the log ends at $LAST MiB, QEMU's balloon is $B MiB"
sed -n 's/.*host available \([0-9]*\) MiB.*/\1/p' reclaim.txt | while read -r a; do
    [ "$a" -lt "$MARGIN" ] || { echo "FAIL: reclaimed with $a MiB available"; exit 1; }
done || fail "a reclaim above the margin"
# The heartbeat advertises the ballooned guest.
for i in $(seq 50); do read -r TOT AV VMM < <(advertised g1); [ "$VMM" = "$B" ] && break; sleep 0.1; done
[ "$VMM" = "$B" ] || fail "heartbeat advertises g1 with $VMM MiB, balloon $B MiB"
[ "$TOT" = "$POOL_LIMIT_MIB" ] || fail "heartbeat total $TOT MiB under pressure"
echo "pool: under pressure the heartbeat advertises $AV/$TOT MiB available, g1 with $VMM MiB"

# The pressure ends: the memory goes back to the guest, in steps.
hog_off
for i in $(seq 300); do [ "$(balloon_mib g1)" = 512 ] && break; sleep 0.2; done
[ "$(balloon_mib g1)" = 512 ] || fail "not given back: balloon $(balloon_mib g1) MiB; $(grep pool agent.log)"
grep -q "pool: host has [0-9]* MiB available, margin $MARGIN MiB: pressure gone, giving memory back" agent.log ||
    fail "give-back not logged"
grep -q "pool: give back to VM 'g1' balloon [0-9]* -> 512 MiB" agent.log || fail "last give-back step not logged"
grep "pool: give back to VM 'g1'" agent.log | sed -n 's/.*balloon \([0-9]*\) -> \([0-9]*\) MiB.*/\1 \2/p' |
    while read -r from to; do [ "$to" -gt "$from" ] && [ $((to - from)) -le 128 ] || { echo "FAIL: give-back step $from -> $to"; exit 1; }; done ||
    fail "give-back steps"
for i in $(seq 50); do read -r TOT AV VMM < <(advertised g1); [ "$VMM" = 512 ] && break; sleep 0.1; done
[ "$VMM" = 512 ] || fail "heartbeat still advertises $VMM MiB after the give-back"
grep "pool:" agent.log
echo "pool pressure test: OK"
