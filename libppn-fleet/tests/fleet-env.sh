# Sourced by the fleet services tests (services-*-test.sh, controller-attack-test.sh) once
# $LEDGER is set:  . "$(dirname "$0")/fleet-env.sh" NAME
# Gives a scratch directory $W (/tmp/ppn-fleet-NAME-*) as the working directory, umask 077;
# PIDS, the background processes to kill on exit (then any QEMU a test's agents left under
# $W/vms-*, then the caller's cleanup_more if it defines one, then $W removed); fail (the
# reason and the last $FAIL_TAIL (20) lines of every log, exit 1); and the ledger set-up.
W=$(mktemp -d "/tmp/ppn-fleet-$1-XXXXXX")
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for f in "$W"/vms-*/*/qemu.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done
    wait 2>/dev/null
    if declare -F cleanup_more >/dev/null; then cleanup_more; fi
    rm -rf "$W"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    for f in "$W"/*.log; do echo "--- $f"; tail -n "${FAIL_TAIL:-20}" "$f"; done
    exit 1
}
cd "$W" || exit 1
umask 077

# fleet_ledger MESH KEY...: admin.key and KEY.key (random), $WG (a WireGuard key for the
# members), and the ledger L (genesis by admin.key, mesh range MESH).
fleet_ledger() {
    local mesh=$1 k; shift
    for k in admin "$@"; do head -c 32 /dev/urandom | base64 > "$k.key"; done
    WG=$(head -c 32 /dev/urandom | base64)
    "$LEDGER" init L --origin fleet.example/ledger --mesh "$mesh" --key admin.key >/dev/null || fail "ledger init"
}

# fleet_members PREFIX [OP]: na.key and nb.key join L as node-a (PREFIX.2) and node-b
# (PREFIX.3), their keys in $NA and $NB; with OP (a public key), OP holds "vm.create".
fleet_members() {
    NA=$("$LEDGER" pubkey na.key); NB=$("$LEDGER" pubkey nb.key)
    {
        echo "{\"type\":\"node-join\",\"subject\":\"$NA\",\"wg_key\":\"$WG\",\"mesh\":\"$1.2\",\"endpoint\":\"\",\"hostname\":\"node-a\"}"
        echo "{\"type\":\"node-join\",\"subject\":\"$NB\",\"wg_key\":\"$WG\",\"mesh\":\"$1.3\",\"endpoint\":\"\",\"hostname\":\"node-b\"}"
        [ -z "${2:-}" ] || echo "{\"type\":\"cap-grant\",\"subject\":\"$2\",\"capability\":\"vm.create\",\"scope\":\"\"}"
    } > entries.jsonl
    "$LEDGER" append L --key admin.key entries.jsonl >/dev/null || fail "ledger append"
}
