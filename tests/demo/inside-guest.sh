#!/usr/bin/env bash
# Runs inside the guest (tests/demo/three-node-demo.sh starts it).
#
#   laptop-a  genesis seed, administrator         ns a, 192.168.77.1
#   laptop-b  joins with a code                   ns b, 192.168.78.1
#   cloud-c   joins with a code, fleet controller ns c, 192.168.79.1
#
# Every step is checked; the first failure ends the demo with its reason.
set -euo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
bin=$build/tools
pair=$bin/ppn-pair/ppn-pair
ledger=$bin/ppn-ledger/ppn-ledger
wgtool=$bin/ppn-wg/ppn-wg
vm=$bin/ppn-vm/ppn-vm
work=/tmp/ppn-demo
rm -rf "$work"; mkdir -p "$work"
cd "$work"

step() { printf '\n=== %s\n' "$*"; }
fail() { printf 'DEMO FAILED: %s\n' "$*"; exit 1; }
. "$here/../lib/guest-mesh.sh"   # in_ns, now_ms, underlay, ceremony

declare -A lan=([a]=192.168.77.1 [b]=192.168.78.1 [c]=192.168.79.1)
declare -A host=([a]=laptop-a [b]=laptop-b [c]=cloud-c)

step "three machines (network namespaces a, b, c) routed through the guest's root namespace"
underlay a b c
in_ns a ping -c1 -W2 "${lan[b]}" >/dev/null || fail "the underlay network does not work"

step "node keys (Ed25519 identity, WireGuard X25519), files 0600"
for n in a b c; do
  "$pair" keys --state "$work/$n"
  [ "$(stat -c %a "$work/$n/identity.key")" = 600 ] || fail "identity.key of $n is not 0600"
done

step "laptop-a: genesis — ledger, first administrator, WireGuard up"
in_ns a "$pair" genesis --state "$work/a" --origin demo.pointsav/ppn --range 10.8.0.0/24 \
  --endpoint "${lan[a]}:51820" --hostname laptop-a --ifname wg0

# One pairing ceremony between the administrator (a) and node $1.  The two
# "operators" are this script (tests/lib/guest-mesh.sh: ceremony): it reads the code off
# the joining console, types it into the administrator's console, and answers the SAS
# question on each side only after comparing the two SAS displays.
pair_node() {
  local n=$1 r=0
  local jout=$work/join-$n.out aout=$work/admit-$n.out
  show_cmd=(in_ns "$n" "$pair" join --state "$work/$n" --listen "${lan[$n]}:7400" --endpoint "${lan[$n]}:51820"
    --hostname "${host[$n]}" --ifname wg0)
  type_cmd=(in_ns a "$pair" admit --state "$work/a" --connect "${lan[$n]}:7400" --ifname wg0)
  ceremony "$jout" "$aout" || r=$?
  [ "$r" != 2 ] || fail "${host[$n]} showed no code: $(cat "$jout")"
  echo "${host[$n]} console showed code $cer_code"
  echo "SAS on laptop-a: '$cer_sas_type'   SAS on ${host[$n]}: '$cer_sas_show'"
  if [ -n "$cer_sas_type" ] && [ "$cer_sas_type" = "$cer_sas_show" ]; then
    echo "operators: the SAS matched, both confirmed"
  fi
  sed "s/^/  [${host[$n]}] /" "$jout"; sed 's/^/  [laptop-a] /' "$aout"
  [ "$cer_rc_show" = 0 ] && [ "$cer_rc_type" = 0 ] ||
    fail "pairing ${host[$n]} failed (join $cer_rc_show, admit $cer_rc_type)"
  [ -n "$cer_sas_type" ] && [ "$cer_sas_type" = "$cer_sas_show" ] || fail "the SAS differ"
}

step "laptop-b joins: code, CPace, SAS, ledger entry, WireGuard peers"
pair_node b
step "cloud-c joins the same way"
pair_node c

step "a typing error is caught before any traffic; a wrong code ends the ceremony for good"
# A Crockford code with its mod-37 check symbol, as an operator would type it.
alphabet=0123456789ABCDEFGHJKMNPQRSTVWXYZ
checks='0123456789ABCDEFGHJKMNPQRSTVWXYZ*~$=U'
with_check() { # symbols -> symbols + check symbol
  local s=$1 v=0 i c
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}; c=${alphabet%%"$c"*}; v=$(( (v * 32 + ${#c}) % 37 ))
  done
  printf '%s%s' "$s" "${checks:v:1}"
}
"$pair" keys --state "$work/d" >/dev/null
mkfifo "$work/bad.in"
in_ns c "$pair" join --state "$work/d" --listen "${lan[c]}:7401" --hostname intruder --yes <"$work/bad.in" \
  >"$work/bad-join.out" 2>&1 & bj=$!
exec 7>"$work/bad.in"
for _ in $(seq 100); do grep -q '^listening' "$work/bad-join.out" && break; sleep 0.1; done
good=$(awk '$1 == "code" {print $2}' "$work/bad-join.out" | tr -d -)
body=${good:0:${#good}-1}
first=${body:0:1}; other=$([ "$first" = 7 ] && echo 8 || echo 7)
typo="$other${body:1}${good: -1}"           # one symbol mistyped, check symbol kept
wrong=$(with_check "$other${body:1}")       # a different code with a valid check symbol
rc=0; echo "$typo" | in_ns a "$pair" admit --state "$work/a" --connect "${lan[c]}:7401" --yes 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "a mistyped code was accepted"
grep -q '^listening' "$work/bad-join.out" && ! grep -q SAS "$work/bad-join.out" ||
  fail "the typo reached the joining node"
echo "(the joining node is still waiting: nothing was sent)"
rc=0; echo "$wrong" | in_ns a "$pair" admit --state "$work/a" --connect "${lan[c]}:7401" --yes \
  >"$work/bad-admit.out" 2>&1 || rc=$?
exec 7>&-
wrc=0; wait "$bj" || wrc=$?
sed 's/^/  [laptop-a] /' "$work/bad-admit.out"; sed 's/^/  [intruder] /' "$work/bad-join.out"
[ "$rc" != 0 ] && [ "$wrc" != 0 ] || fail "a wrong code was not refused on both sides"
[ ! -e "$work/d/ledger" ] || fail "the refused node received a ledger"
"$ledger" show "$work/a/ledger" --json | grep -q intruder && fail "the refused node is in the ledger"
echo "refused on both sides; nothing recorded"

step "the mesh service on every node: it serves its replica on its mesh address and pulls from the others"
# Nobody imports anything by hand: each node's 'ppn-pair serve' syncs from every other
# member over the tunnel when it starts, every 10 s, and at once when a member nudges it
# (a change there); WireGuard and the names follow the ledger.
declare -A mesh=([a]=10.8.0.1 [b]=10.8.0.2 [c]=10.8.0.3)
serve_pids=()
stop_services() { for p in "${serve_pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait "${serve_pids[@]}" 2>/dev/null || true; }
trap 'rc=$?; stop_services; exit $rc' EXIT
for n in a b c; do
  in_ns "$n" "$pair" serve --state "$work/$n" --listen "${mesh[$n]}:7411" --ifname wg0 \
    --hosts "$work/$n.hosts" >"$work/serve-$n.out" 2>"$work/serve-$n.err" &
  serve_pids+=($!)
done
asize=$("$ledger" show "$work/a/ledger" --json | wc -l)
t0=$(date +%s%N)
for _ in $(seq 200); do
  [ "$("$ledger" show "$work/b/ledger" --json | wc -l)" = "$asize" ] && break
  sleep 0.1
done
[ "$("$ledger" show "$work/b/ledger" --json | wc -l)" = "$asize" ] ||
  fail "laptop-b did not learn of cloud-c by itself: $(cat "$work/serve-b.err")"
echo "laptop-b learned of cloud-c by itself in $(( ($(date +%s%N) - t0) / 1000000 )) ms (pulled from the members)"
for _ in $(seq 100); do grep -q cloud-c "$work/b.hosts" 2>/dev/null && break; sleep 0.1; done
sed 's/^/  [laptop-b hosts] /' "$work/b.hosts"

step "the mesh: every node reaches every other over WireGuard"
for src in a b c; do
  for dst in 1 2 3; do
    addr=10.8.0.$dst
    in_ns "$src" ip -4 addr show dev wg0 | grep -q "inet $addr/" && continue
    # The first packet starts a WireGuard handshake; a lost initiation is
    # retried by the kernel after 5 s (REKEY_TIMEOUT), so allow up to 20 s.
    reached=0
    for try in $(seq 10); do
      in_ns "$src" ping -c1 -W2 "$addr" >/dev/null && { reached=$try; break; }
    done
    [ "$reached" != 0 ] || fail "${host[$src]} cannot reach $addr over wg0"
    echo "${host[$src]} -> $addr ok$([ "$reached" -gt 1 ] && echo " (reply to ping $reached)")"
  done
done
in_ns b "$wgtool" show wg0

step "the ledger: identical on the three nodes, verified, checkpoint signed"
for n in a b c; do
  "$ledger" verify "$work/$n/ledger" || fail "the ledger of ${host[$n]} does not verify"
done
"$ledger" checkpoint "$work/a/ledger"
"$pair" status --state "$work/c"
echo; echo "nodes.jsonl of cloud-c:"; cat "$work/c/ledger/nodes.jsonl"
[ "$(grep -c '"node-join"' "$work/c/ledger/nodes.jsonl")" = 3 ] || fail "nodes.jsonl does not list three nodes"

if [ -x "$here/fleet-step.sh" ]; then
  step "the fleet: heartbeats over the mesh to the controller on cloud-c, advisory placement"
  bash "$here/fleet-step.sh" "$build" "$work"
fi

step "removing laptop-b: a revoke entry (never a deletion); every member drops it by itself"
rc=1
for _ in $(seq 50); do # the mesh service may hold the writer lock for a moment
  in_ns a "$pair" remove --state "$work/a" laptop-b --reason "demo" --ifname wg0 && { rc=0; break; }
  sleep 0.1
done
[ "$rc" = 0 ] || fail "ppn-pair remove laptop-b failed"
in_ns a ping -c1 -W2 10.8.0.2 >/dev/null 2>&1 && fail "laptop-a still reaches the removed laptop-b"
bwg=$(awk '$1 == "wireguard:" {print $2}' <("$pair" status --state "$work/b"))
t0=$(date +%s%N)
# within 6 s, before the next 10 s pull could bring it: the nudge from laptop-a does
while [ $(( $(date +%s%N) - t0 )) -lt 6000000000 ]; do in_ns c "$wgtool" show wg0 peers | grep -qF "$bwg" || break; sleep 0.1; done
in_ns c "$wgtool" show wg0 peers | grep -qF "$bwg" && fail "cloud-c still has laptop-b as a peer 6 s after the removal"
echo "cloud-c dropped laptop-b by itself in $(( ($(date +%s%N) - t0) / 1000000 )) ms (nudged by laptop-a); nobody typed anything there"
in_ns c ping -c1 -W2 10.8.0.2 >/dev/null 2>&1 && fail "cloud-c still reaches the removed laptop-b"
for _ in $(seq 50); do grep -q laptop-b "$work/c.hosts" || break; sleep 0.1; done
grep -q laptop-b "$work/c.hosts" && fail "cloud-c's hosts block still names laptop-b"
echo "laptop-a and cloud-c no longer reach 10.8.0.2; the ledger keeps both the join and the revocation:"
grep -E '"node-(join|revoke)"' "$work/a/ledger/nodes.jsonl" | grep -o '"index":[0-9]*,.*"type":"[a-z-]*"' | sed 's/"leaf_hash":"[0-9a-f]*",//; s/^/  /'
[ "$(grep -c '"node-revoke"' "$work/a/ledger/nodes.jsonl")" = 1 ] || fail "nodes.jsonl does not show the revocation"
"$ledger" verify "$work/a/ledger" || fail "the ledger does not verify after the revocation"
echo
echo "DEMO OK: three nodes paired by code + SAS, recorded in a verified ledger, meshed over WireGuard"
