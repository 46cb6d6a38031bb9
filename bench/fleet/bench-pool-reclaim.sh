#!/bin/bash
# bench-pool-reclaim.sh BUILDDIR [ROUNDS] — balloon reclaim time under real host memory pressure.
#
# Root.  The set-up of the fleet-pool-pressure test (libppn-fleet/tests/pool-env.sh): the
# agent and a 512 MiB TCG guest that touched 300 MiB and freed it, in a memory cgroup of
# 1200 MiB; margin 512 MiB.  Each round, on a freshly booted guest:
#   reclaim: mem-hog takes the cgroup to 250 MiB left; the time from the hog holding its pages
#            to the cgroup having the margin again (what the agent reads: limit minus working
#            set) — the agent's passes, its steps and the guest's inflation together;
#   floor:   on another fresh guest, without the agent, the balloon set straight to the size
#            the agent ended at; the time until QEMU reports it (query-balloon, polled: each
#            poll is a ppn-vm process, ~10 ms) — the guest's own inflation of the same amount,
#            which no policy can beat.
# Prints each round, then median and max of both and the ratio of the medians.
set -u
B=$(realpath "${1:?usage: bench-pool-reclaim.sh BUILDDIR [ROUNDS]}")
ROUNDS=${2:-5}
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
VM=$B/tools/ppn-vm/ppn-vm; LEDGER=$B/tools/ppn-ledger/ppn-ledger; HOG=$B/libppn-fleet/tests/mem-hog
BUILD_GUEST=$SRC/tests/vmm-guest/build-guest.sh; PY=python3
W=$(mktemp -d /tmp/ppn-bench-pool-XXXXXX)
HOGPID=; AGENT=
fail() { echo "bench-pool-reclaim: $*" >&2; for f in "$W"/*.log; do echo "--- $f" >&2; tail -n 20 "$f" >&2; done; exit 1; }
cleanup() {
    [ -n "$HOGPID" ] && kill "$HOGPID" 2>/dev/null
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for f in "$W"/vms/*/qemu.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done
    wait 2>/dev/null
    cg_cleanup
    rm -rf "$W"
}
trap cleanup EXIT
. "$SRC/libppn-fleet/tests/pool-env.sh"
umask 077
[ "$(id -u)" = 0 ] || fail "needs root (a memory cgroup is made)"
"$BUILD_GUEST" "$W/guest" > /dev/null || fail "build-guest.sh"
cg_make
pool_ledger_controller
MARGIN=512
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
avail_mib() { # what the agent reads: limit - (usage - inactive_file)
    local f=memory.current k=inactive_file
    [ "$CG_VERSION" = 1 ] && { f=memory.usage_in_bytes; k=total_inactive_file; }
    local u i
    u=$(cat "$CG/$f"); i=$(awk -v k=$k '$1 == k {print $2}' "$CG/memory.stat")
    echo $(( POOL_LIMIT_MIB - (u - ${i:-0}) / 1048576 ))
}
guest_down() {
    "$VM" kill g1 --state-dir "$W/vms" > /dev/null 2>&1
    for i in $(seq 50); do [ -f "$W/vms/g1/qemu.pid" ] || break; sleep 0.1; done
    "$VM" remove g1 --state-dir "$W/vms" > /dev/null 2>&1 || rm -rf "$W/vms/g1"
}
stop_agent() { [ -n "$AGENT" ] && kill "$AGENT" 2>/dev/null && wait "$AGENT" 2>/dev/null; AGENT=; }

declare -a RT FT AMT
for r in $(seq "$ROUNDS"); do
    # reclaim under pressure
    pool_guest g1 512 300
    pool_agent $MARGIN
    sleep 3 # the agent's first passes: steady
    FREE=$(avail_mib)
    [ "$FREE" -gt $((MARGIN + 64)) ] || fail "round $r: only $FREE MiB left before the pressure"
    hog_on $((FREE - 250))
    T0=$(now_ms)
    while [ "$(avail_mib)" -lt $MARGIN ]; do
        [ $(( $(now_ms) - T0 )) -lt 120000 ] || fail "round $r: the pressure stayed for 120 s"
        sleep 0.05
    done
    T1=$(now_ms)
    sleep 2.5 # the pass after: nothing more is taken
    BM=$(balloon_mib g1)
    hog_off
    stop_agent
    guest_down
    # the floor: the same inflation straight from QMP, no agent
    pool_guest g1 512 300
    # (polled: QEMU sends BALLOON_CHANGE at most once a second, too coarse to wait on)
    F0=$(now_ms)
    "$VM" balloon g1 "$BM" --state-dir "$W/vms" > /dev/null || fail "round $r: balloon $BM"
    until [ "$(balloon_mib g1)" = "$BM" ]; do
        [ $(( $(now_ms) - F0 )) -lt 120000 ] || fail "round $r: the balloon did not reach $BM MiB"
    done
    F1=$(now_ms)
    guest_down
    RT+=($((T1 - T0))); FT+=($((F1 - F0))); AMT+=($((512 - BM)))
    echo "round $r: reclaim ${RT[-1]} ms (512 -> $BM MiB, $((512 - BM)) MiB), floor ${FT[-1]} ms (the guest inflating the same)"
done
stats() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {m = NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%d %d\n", m, a[NR]}'; }
read -r RM RX < <(stats "${RT[@]}")
read -r FM FX < <(stats "${FT[@]}")
echo "reclaim under pressure to the margin ($ROUNDS rounds): median $RM ms, max $RX ms"
echo "floor (the guest's own inflation of the same amount): median $FM ms, max $FX ms"
awk -v a="$RM" -v b="$FM" 'BEGIN {printf "ratio (median reclaim / median floor): %.2f\n", (b > 0) ? a / b : 0}'
grep "pool:" "$W/agent.log" | tail -n 6
