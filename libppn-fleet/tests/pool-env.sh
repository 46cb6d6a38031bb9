# Sourced by pool-pressure-test.sh and bench/fleet/bench-pool-reclaim.sh: real host memory
# pressure for the agent's resource pool.  A memory cgroup (v2 memory.max, or the v1
# memory controller's memory.limit_in_bytes) is made under this process's own, with a
# limit of POOL_LIMIT_MIB; the agent and a real TCG guest run inside it, so the agent's
# "host available" is what the cgroup leaves; mem-hog touches pages inside it to apply
# pressure.  Needs: VM LEDGER BUILD_GUEST HOG (paths), W (work dir), fail().
POOL_LIMIT_MIB=${POOL_LIMIT_MIB:-1200}
PIDS=()

# Makes $CG (the cgroup directory) and sets CG_VERSION, CG_LIMIT_FILE.
cg_make() {
    local path mp
    mp=$(awk '/ - cgroup2 / {print $5; exit}' /proc/self/mountinfo)
    path=$(sed -n 's/^0:://p' /proc/self/cgroup)
    if [ -n "$mp" ] && [ -f "$mp$path/cgroup.controllers" ] && grep -qw memory "$mp$path/cgroup.controllers"; then
        CG_VERSION=2; CG="$mp${path%/}/ppn-pool-$$"; CG_LIMIT_FILE=memory.max
        mkdir "$CG" || fail "mkdir $CG"
        grep -qw memory "$mp$path/cgroup.subtree_control" ||
            echo +memory > "$mp$path/cgroup.subtree_control" ||
            fail "cannot delegate the memory controller below $mp$path (cgroup v2 allows it only where no process runs)"
    else
        mp=$(awk '/ - cgroup / && $NF ~ /(^|,)memory(,|$)/ {print $5; exit}' /proc/self/mountinfo)
        path=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3; exit}' /proc/self/cgroup)
        [ -n "$mp" ] && [ -n "$path" ] || fail "no memory cgroup controller on this host (v1 or v2)"
        CG_VERSION=1; CG="$mp${path%/}/ppn-pool-$$"; CG_LIMIT_FILE=memory.limit_in_bytes
        mkdir "$CG" || fail "mkdir $CG"
    fi
    echo $((POOL_LIMIT_MIB * 1048576)) > "$CG/$CG_LIMIT_FILE" || fail "cannot set $CG/$CG_LIMIT_FILE"
}

cg_usage_mib() {
    local f=memory.current; [ "$CG_VERSION" = 1 ] && f=memory.usage_in_bytes
    echo $(( $(cat "$CG/$f") / 1048576 ))
}

# Runs "$@" inside the cgroup, in the background ($! is its pid).
in_cg() { ( echo "$BASHPID" > "$CG/cgroup.procs" && exec "$@" ) & }

cg_cleanup() {
    [ -n "${CG:-}" ] && [ -d "$CG" ] || return 0
    local p
    for p in $(cat "$CG/cgroup.procs" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    for i in $(seq 50); do [ -z "$(cat "$CG/cgroup.procs" 2>/dev/null)" ] && break; sleep 0.1; done
    rmdir "$CG" 2>/dev/null
}

# The ledger (one node, node-a, and an operator) and the controller.
pool_ledger_controller() {
    for k in admin na op; do (umask 077; head -c 32 /dev/urandom | base64 > "$W/$k.key"); done
    local na wg
    na=$("$LEDGER" pubkey "$W/na.key"); wg=$(head -c 32 /dev/urandom | base64)
    "$LEDGER" init "$W/L" --origin pool.example/ledger --mesh 127.79.0.0/24 --key "$W/admin.key" >/dev/null ||
        fail "ledger init"
    echo "{\"type\":\"node-join\",\"subject\":\"$na\",\"wg_key\":\"$wg\",\"mesh\":\"127.79.0.2\",\"endpoint\":\"\",\"hostname\":\"node-a\"}" \
        > "$W/entries.jsonl"
    "$LEDGER" append "$W/L" --key "$W/admin.key" "$W/entries.jsonl" >/dev/null || fail "ledger append"
    PORT=$((20000 + RANDOM % 20000)); APORT=$((PORT + 1)); SOCK="$W/ctl.sock"
    "$VM" controller --ledger "$W/L" --listen 127.0.0.1:$PORT --socket "$SOCK" --grace-ms 0 \
        --silence-ms 5000 --agent-port $APORT --state "$W/ctl.state" 2> "$W/ctl.log" &
    PIDS+=($!)
    for i in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
    [ -S "$SOCK" ] || fail "controller socket"
}

# A guest of MEM MiB in the cgroup that touched TOUCH MiB and freed it (host pages it has free).
pool_guest() { # name mem touch
    "$VM" create "$1" --type orchestration --memory "$2" --vcpus 1 --kernel "$W/guest/vmlinuz" \
        --initrd "$W/guest/initrd.gz" --append "console=ttyS0 panic=-1 loglevel=3 ppn.touch=$3" \
        --no-network --state-dir "$W/vms" > /dev/null || fail "create $1"
    in_cg "$VM" start "$1" --accel tcg --state-dir "$W/vms" --foreground >> "$W/start-$1.log" 2>&1
    PIDS+=($!)
    for i in $(seq 240); do grep -q 'ppn-guest: ready' "$W/vms/$1/console.log" 2>/dev/null && break; sleep 0.5; done
    grep -q "ppn-guest: touched $3 MiB" "$W/vms/$1/console.log" 2>/dev/null ||
        fail "guest $1 did not touch its memory: $(cat "$W/vms/$1/console.log" 2>/dev/null | tail -5)"
}

pool_agent() { # margin-mib [options]
    local m=$1; shift
    in_cg "$VM" agent --key "$W/na.key" --ledger "$W/L" --controller 127.0.0.1:$PORT --name node-a \
        --listen 127.79.0.2:$APORT --epoch-file "$W/epoch" --runner direct --state-dir "$W/vms" \
        --interval-ms 1000 --accel tcg --pool-margin-mib "$m" "$@" 2>> "$W/agent.log"
    AGENT=$!
    PIDS+=($AGENT)
}

# The balloon's actual size in MiB, from QEMU (query-balloon); retried while the agent holds
# the monitor (QEMU serves one client at a time).
balloon_mib() {
    local out
    for i in $(seq 20); do
        out=$("$VM" qmp "$1" query-balloon --state-dir "$W/vms" 2>/dev/null) &&
            { echo "$out" | sed -n 's/.*"actual": *\([0-9]*\).*/\1/p' | awk '{print int($1 / 1048576)}'; return 0; }
        sleep 0.1
    done
    return 1
}

hog_on() { # MiB: touches them inside the cgroup; returns once they are held
    in_cg "$HOG" "$1" 600 > "$W/hog.out" 2>> "$W/hog.err"
    HOGPID=$!
    for i in $(seq 200); do grep -q '^held' "$W/hog.out" && return 0; kill -0 $HOGPID 2>/dev/null || break; sleep 0.05; done
    fail "mem-hog did not hold $1 MiB: $(cat "$W/hog.err")"
}

hog_off() { kill "$HOGPID" 2>/dev/null; wait "$HOGPID" 2>/dev/null; HOGPID=; }

# What the heartbeat advertises: "TOTAL AVAILABLE VM-MEMORY" in MiB for node-a and VM $1.
advertised() {
    "$VM" fleet --socket "$SOCK" --json | "$PY" -c '
import json, sys
for n in json.load(sys.stdin)["nodes"]:
    if n["name"] != "node-a": continue
    vm = [v["mem_bytes"] for v in n["vms"] if v["name"] == sys.argv[1]]
    print(n["ram_total_bytes"] >> 20, n["ram_available_bytes"] >> 20, (vm[0] >> 20) if vm else -1)' "$1"
}
