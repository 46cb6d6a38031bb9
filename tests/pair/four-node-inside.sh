#!/usr/bin/env bash
# Runs inside the guest (tests/pair/four-node-test.sh starts it): four nodes that keep their
# mesh current by themselves, kernel WireGuard, a hub, a node behind NAT.
#
#   laptop-a  genesis, administrator                 ns a, 192.168.77.1
#   laptop-b  joins (join/admit); administrator by grant; the routing hub   ns b, 192.168.78.1
#   cloud-c   joins by --join (laptop-a shows the code) ns c, 192.168.79.1
#   nat-d     behind NAT: ns d 10.99.0.2 -> ns natd masquerades as 192.168.80.1; nothing
#             routes to 10.99.0.0/24, so nobody can open anything towards d; joins by --join
#
# After the ceremonies nobody types anything on another node: every member's
# 'ppn-pair serve' (default 10 s pull, nudges between) carries each change.  "Within the
# bound" is BOUND_S (8 s, shorter than the 10 s pull; in this TCG guest the checks themselves
# take a good part of it, the propagation alone takes well under a second on real hardware).
# Every check prints "ok - ..." or "not ok - ..."; the exit status is the number of failures.
set -uo pipefail
build=$1
bin=$build/tools
pair=$bin/ppn-pair/ppn-pair
ledger=$bin/ppn-ledger/ppn-ledger
wgtool=$bin/ppn-wg/ppn-wg
work=/tmp/ppn-four
BOUND_S=8
rm -rf "$work"; mkdir -p "$work"; cd "$work"
fails=0
T0=$(date +%s)
ok() { echo "ok - $* [$(( $(date +%s) - T0 )) s]"; }
bad() { echo "not ok - $*"; fails=$((fails + 1)); }
die() { echo "not ok - $*"; echo "1 fatal failure"; kill $(jobs -p) 2>/dev/null; exit 1; }
. "$(dirname "${BASH_SOURCE[0]}")/../lib/guest-mesh.sh"   # in_ns, now_ms, underlay, ceremony
# within SECONDS COMMAND...: true as soon as COMMAND is
within() { local end=$(( $(now_ms) + $1 * 1000 )); shift; while :; do "$@" && return 0; [ "$(now_ms)" -lt "$end" ] || return 1; sleep 0.1; done; }

declare -A lan=([a]=192.168.77.1 [b]=192.168.78.1 [c]=192.168.79.1 [d]=10.99.0.2)
declare -A host=([a]=laptop-a [b]=laptop-b [c]=cloud-c [d]=nat-d)
declare -A mesh=([a]=10.8.0.1 [b]=10.8.0.2 [c]=10.8.0.3 [d]=10.8.0.4)

echo "# the underlay: a, b, c routed by the guest's root namespace; d behind NAT"
underlay a b c natd
ip netns add d
ip link add lan0 netns natd type veth peer name eth0 netns d
in_ns natd ip addr add 10.99.0.1/24 dev lan0
in_ns natd ip link set lan0 up
in_ns d ip addr add 10.99.0.2/24 dev eth0
in_ns d ip link set eth0 up
in_ns d ip link set lo up
in_ns d ip route add default via 10.99.0.1
in_ns natd sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'
modprobe -a nf_tables nft_chain_nat nft_nat nft_masq nf_nat 2>/dev/null
in_ns natd nft -f - <<'NFT' || die "nft: no NAT in this guest"
table ip nat {
  chain post { type nat hook postrouting priority 100; oifname "eth0" masquerade; }
}
NFT
in_ns d ping -c1 -W2 192.168.77.1 >/dev/null && ok "d reaches the outside through the NAT" || die "the NAT does not work"
in_ns a ping -c1 -W1 10.99.0.2 >/dev/null 2>&1 && die "d is reachable from outside" || ok "nothing reaches d from outside"
# a new namespace inherits the root's forwarding (on, for the underlay): off on the nodes, so
# that only the hub's own switching turns it on
for n in a b c d; do in_ns "$n" sh -c 'echo 0 > /proc/sys/net/ipv4/ip_forward'; done
fwd() { in_ns "$1" cat /proc/sys/net/ipv4/ip_forward; }

for n in a b c d; do "$pair" keys --state "$work/$n" >/dev/null || die "keys $n"; done
in_ns a "$pair" genesis --state "$work/a" --origin four.test/ppn --range 10.8.0.0/24 \
  --endpoint "${lan[a]}:51820" --hostname laptop-a --ifname wg0 >/dev/null || die "genesis"

# One ceremony: node $1 joins (listening on $2, reached by the administrator at $3, endpoint $4).
# The script plays both operators (tests/lib/guest-mesh.sh: ceremony).  SAS_MS[$1]: SAS
# confirmed, in ms.
declare -A SAS_MS
pair_node() {
  local n=$1 listen=$2 connect=$3 endpoint=$4 r=0
  show_cmd=(in_ns "$n" "$pair" join --state "$work/$n" --listen "$listen" ${endpoint:+--endpoint "$endpoint"}
    --hostname "${host[$n]}" --ifname wg0)
  type_cmd=(in_ns a "$pair" admit --state "$work/a" --connect "$connect" --ifname wg0)
  ceremony "$work/join-$n.out" "$work/admit-$n.out" || r=$?
  [ "$r" != 2 ] || die "${host[$n]} showed no code: $(cat "$work/join-$n.out")"
  SAS_MS[$n]=$cer_sas_ms
  [ "$r" = 0 ] && ok "${host[$n]} paired (code, SAS $cer_sas_type on both consoles)" ||
    die "pairing ${host[$n]} (join $cer_rc_show, admit $cer_rc_type): $(tail -3 "$work/join-$n.out") / $(tail -3 "$work/admit-$n.out")"
}

# The other direction (vm-architecture.md: "joins the mesh via --join <short-code>"): laptop-a
# opens the pairing server and shows the code; node $1 (endpoint $2) types it and connects out,
# so it needs to accept no connection at all.
pair_invite() {
  local n=$1 endpoint=$2 r=0
  show_cmd=(in_ns a "$pair" invite --state "$work/a" --listen "${lan[a]}:7401" --ifname wg0)
  type_cmd=(in_ns "$n" "$pair" join --state "$work/$n" --join - --connect "${lan[a]}:7401"
    ${endpoint:+--endpoint "$endpoint"} --hostname "${host[$n]}" --ifname wg0)
  ceremony "$work/invite-$n.out" "$work/join-$n.out" || r=$?
  [ "$r" != 2 ] || die "laptop-a showed no code: $(cat "$work/invite-$n.out")"
  SAS_MS[$n]=$cer_sas_ms
  [ "$r" = 0 ] && ok "${host[$n]} paired by --join (laptop-a showed the code, SAS $cer_sas_show on both consoles)" ||
    die "pairing ${host[$n]} by --join (join $cer_rc_type, invite $cer_rc_show): $(tail -3 "$work/join-$n.out") / $(tail -3 "$work/invite-$n.out")"
}

pair_node b "${lan[b]}:7400" "${lan[b]}:7400" "${lan[b]}:51820"
pair_invite c "${lan[c]}:51820"
# laptop-b becomes an administrator too (a grant in the ledger, signed by laptop-a)
bid=$("$ledger" pubkey "$work/b/identity.key")
echo "{\"type\":\"cap-grant\",\"subject\":\"$bid\",\"capability\":\"admin\"}" |
  "$ledger" append "$work/a/ledger" --key "$work/a/identity.key" - >/dev/null &&
  "$ledger" checkpoint "$work/a/ledger" --key "$work/a/identity.key" >/dev/null || die "grant admin to laptop-b"

echo "# the mesh service on laptop-a, laptop-b, cloud-c (nat-d's once it has paired); from here on"
echo "# nobody types anything on another node"
declare -A spid
start_serve() { # (ip netns exec execs serve: $! is serve itself)
  ip netns exec "$1" "$pair" serve --state "$work/$1" --listen "${mesh[$1]}:7411" --ifname wg0 \
    --hosts "$work/$1.hosts" >>"$work/serve-$1.out" 2>>"$work/serve-$1.err" &
  spid[$1]=$!
}
stop_serve() { kill "${spid[$1]}" 2>/dev/null; wait "${spid[$1]}" 2>/dev/null; }
trap 'for n in a b c d e; do kill "${spid[$n]:-}" 2>/dev/null; done' EXIT
for n in a b c; do start_serve "$n"; done
# nat-d accepts no inbound connection: it pairs by --join (it only connects out, through its
# NAT); nothing is forwarded to it, and it records no endpoint.
pair_invite d ""

start_serve d
# the figure for bench/: from nat-d's SAS confirmation to its first ping with every member
# (laptop-a recorded it; its service nudged the others, which pulled and added the peer)
for m in a b c; do
  first=""
  for _ in $(seq 100); do in_ns d ping -c1 -W1 "${mesh[$m]}" >/dev/null 2>&1 && { first=$(( $(now_ms) - SAS_MS[d] )); break; }; done
  [ -n "$first" ] && ok "nat-d's first ping with ${host[$m]}: ${first} ms after the SAS confirmation" ||
    bad "nat-d never reached ${host[$m]}"
  echo "# figure: sas-to-ping ${host[$m]} $first ms"
done
size() { "$ledger" show "$work/$1/ledger" --json 2>/dev/null | wc -l; }
same_size() { local s; s=$(size "$1"); shift; for n in "$@"; do [ "$(size "$n")" = "$s" ] || return 1; done; }
within 15 same_size a b c d && ok "the four replicas agree ($(size a) entries)" ||
  bad "replicas: a $(size a) b $(size b) c $(size c) d $(size d)"

peers() { in_ns "$1" "$wgtool" show wg0 peers 2>/dev/null | wc -l; }
hub_is() { "$pair" topology --state "$work/$1" | grep -q "^topology.hub.laptop-b"; }
# with laptop-a stopped, the second administrator changes the topology: laptop-b is the hub
stop_serve a
! kill -0 "${spid[a]}" 2>/dev/null && ! in_ns a ss -ltn 2>/dev/null | grep -q ":7411 " && ok "laptop-a's service is stopped" ||
  bad "laptop-a's service still runs"
t0=$(now_ms)
in_ns b "$pair" topology --state "$work/b" hub laptop-b >/dev/null ||
  { sleep 0.3; in_ns b "$pair" topology --state "$work/b" hub laptop-b >/dev/null; } || bad "topology hub at laptop-b"
spokes_follow() { hub_is c && hub_is d && [ "$(peers c)" = 1 ] && [ "$(peers d)" = 1 ]; }
if within $BOUND_S spokes_follow; then
  ok "with laptop-a stopped, laptop-b's entry reached cloud-c and nat-d in $(( $(now_ms) - t0 )) ms: each peers with the hub only"
else
  bad "topology from laptop-b: c $("$pair" topology --state "$work/c"), d $("$pair" topology --state "$work/d"), peers c $(peers c) d $(peers d)"
fi
start_serve a
a_follows() { hub_is a && [ "$(peers a)" = 1 ]; }
within $BOUND_S a_follows &&
  ok "laptop-a, back, follows (one peer: the hub)" || bad "laptop-a after restart: $("$pair" topology --state "$work/a"), $(peers a) peers"
[ "$(peers b)" = 3 ] && [ "$(fwd b)" = 1 ] && [ -e "$work/b/forwarding" ] &&
  ok "the hub peers with all three and forwards (turned on by itself, remembered in its state)" ||
  bad "hub: $(peers b) peers, forwarding $(fwd b), $(ls "$work/b")"
[ -z "$("$ledger" show "$work/d/ledger" --view members 2>/dev/null | grep nat-d | grep -o '192[^ ]*')" ] &&
  ok "nat-d has no endpoint in the ledger" || bad "nat-d has an endpoint"

# every member reaches every other over the mesh (nat-d first: its handshake opens the NAT)
reach() { # SRC DSTIP: a reply within 10 tries of 2 s (a lost first handshake is retried after 5 s)
  for _ in $(seq 10); do in_ns "$1" ping -c1 -W2 "$2" >/dev/null 2>&1 && return 0; done; return 1
}
for src in d a b c; do
  for dst in a b c d; do
    [ "$src" = "$dst" ] && continue
    reach "$src" "${mesh[$dst]}" && ok "${host[$src]} reaches ${host[$dst]} (${mesh[$dst]})" ||
      bad "${host[$src]} cannot reach ${host[$dst]} (${mesh[$dst]})"
  done
done

# laptop-a removes cloud-c: every member drops it within the bound, and cloud-c reaches no one
cwg=$("$pair" status --state "$work/c" | awk '$1 == "wireguard:" {print $2}')
t0=$(now_ms)
for _ in $(seq 50); do in_ns a "$pair" remove --state "$work/a" cloud-c --reason test >/dev/null 2>&1 && break; sleep 0.1; done
dropped() {
  ! in_ns b "$wgtool" show wg0 peers | grep -qF "$cwg" &&
  ! grep -q cloud-c "$work/a.hosts" && ! grep -q cloud-c "$work/b.hosts" && ! grep -q cloud-c "$work/d.hosts"
}
within $BOUND_S dropped && ok "every member dropped cloud-c in $(( $(now_ms) - t0 )) ms (the hub's peer, every hosts block)" ||
  bad "cloud-c not dropped: hub peers $(in_ns b "$wgtool" show wg0 peers | grep -cF "$cwg"), hosts a/b/d: $(grep -c cloud-c "$work/a.hosts" "$work/b.hosts" "$work/d.hosts" | tr '\n' ' ')"
for dst in a b d; do
  in_ns c ping -c1 -W1 "${mesh[$dst]}" >/dev/null 2>&1 && bad "cloud-c still reaches ${host[$dst]}" ||
    ok "cloud-c no longer reaches ${host[$dst]}"
done
in_ns a ping -c1 -W1 "${mesh[c]}" >/dev/null 2>&1 && bad "laptop-a still reaches cloud-c" || ok "laptop-a no longer reaches cloud-c"

# a member serving a forked replica is refused everywhere, with the evidence: nat-d's
# service stops; laptop-a appends an entry the others get; nat-d's replica gets another one
# at the same index, signed by laptop-b (an administrator: a fork, not a forgery)
stop_serve d
did=$("$ledger" pubkey "$work/d/identity.key")
for _ in $(seq 50); do
  echo "{\"type\":\"vm-assign\",\"subject\":\"$did\",\"text\":\"main-line\"}" |
    "$ledger" append "$work/a/ledger" --key "$work/a/identity.key" - >/dev/null 2>&1 && break; sleep 0.1
done
"$ledger" checkpoint "$work/a/ledger" --key "$work/a/identity.key" >/dev/null 2>&1 ||
  { sleep 0.3; "$ledger" checkpoint "$work/a/ledger" --key "$work/a/identity.key" >/dev/null; }
within $BOUND_S same_size a b || bad "the entry did not reach laptop-b"
echo "{\"type\":\"vm-assign\",\"subject\":\"$did\",\"text\":\"forked\"}" |
  "$ledger" append "$work/d/ledger" --key "$work/b/identity.key" - >/dev/null &&
  "$ledger" checkpoint "$work/d/ledger" --key "$work/b/identity.key" >/dev/null || bad "the fork at nat-d"
fsize=$(size a)
start_serve d
forked() { grep -q "fork at size $fsize, ours [0-9a-f]\{64\} theirs [0-9a-f]\{64\}" "$work/serve-$1.err"; }
for n in a b d; do
  within $BOUND_S forked "$n" && ok "${host[$n]} refuses the other history with the evidence: $(grep -o "fork at size $fsize, ours [0-9a-f]\{8\}" "$work/serve-$n.err" | head -1)…" ||
    bad "${host[$n]} did not report the fork: $(tail -2 "$work/serve-$n.err")"
done
"$ledger" show "$work/a/ledger" --json | grep -q forked && bad "the forked entry reached laptop-a" || ok "nothing of the fork was appended at laptop-a"
"$ledger" verify "$work/b/ledger" >/dev/null && ok "laptop-b's replica verifies" || bad "laptop-b's replica does not verify"

# the hub moves: forwarding that laptop-b turned on as the hub is turned off again; laptop-a's,
# set by its operator before it became the hub, stays on after it stops being the hub
in_ns a sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'
in_ns a "$pair" topology --state "$work/a" hub laptop-a >/dev/null ||
  { sleep 0.3; in_ns a "$pair" topology --state "$work/a" hub laptop-a >/dev/null; } || bad "topology hub at laptop-a"
b_off() { "$pair" topology --state "$work/b" | grep -q "^topology.hub.laptop-a" && [ "$(fwd b)" = 0 ] && [ ! -e "$work/b/forwarding" ]; }
within $BOUND_S b_off && [ "$(fwd a)" = 1 ] && [ ! -e "$work/a/forwarding" ] &&
  ok "laptop-b, no longer the hub, turned its forwarding off again; laptop-a (hub) forwards, the operator's setting" ||
  bad "forwarding after the hub moved: b $(fwd b) ($(ls "$work/b" | tr '\n' ' ')), a $(fwd a)"
in_ns a "$pair" topology --state "$work/a" mesh >/dev/null ||
  { sleep 0.3; in_ns a "$pair" topology --state "$work/a" mesh >/dev/null; } || bad "topology mesh"
a_mesh() { "$pair" topology --state "$work/b" | grep -q "^topology.mesh" && [ "$(peers a)" = 2 ] && [ "$(peers b)" = 2 ]; }
within $BOUND_S a_mesh && [ "$(fwd a)" = 1 ] &&
  ok "full mesh again: laptop-a leaves the forwarding its operator set on" ||
  bad "mesh again: peers a $(peers a) b $(peers b), forwarding a $(fwd a)"

# a node whose hand-off is cut before the final part (the administrator stops there and is
# killed) completes through the tunnel by itself: its 'serve --pull --ifname wg0' brings the
# tunnel up from its pending replica, syncs from laptop-a's mesh address, becomes a member
# and reaches the members; laptop-a's status then says the hand-off completed
ip netns add e
ip link add veth-e type veth peer name eth0 netns e
ip addr add 192.168.81.254/24 dev veth-e; ip link set veth-e up
in_ns e ip addr add 192.168.81.1/24 dev eth0; in_ns e ip link set eth0 up; in_ns e ip link set lo up
in_ns e ip route add default via 192.168.81.254
host[e]=late-e; mesh[e]=10.8.0.5
"$pair" keys --state "$work/e" >/dev/null || bad "keys e"
in_ns e "$pair" join --state "$work/e" --listen 192.168.81.1:7400 --endpoint 192.168.81.1:51820 --hostname late-e \
  --ifname wg0 --yes --timeout 20 </dev/null >"$work/join-e.out" 2>&1 &
jpid=$!
for _ in $(seq 100); do grep -q '^listening' "$work/join-e.out" && break; sleep 0.1; done
awk '$1 == "code" {print $2}' "$work/join-e.out" >"$work/code-e"
# (ip netns exec and env exec: $! is the admit itself, which the kill below must reach)
ip netns exec a env PPN_PAIR_TEST_STOP=before-final "$pair" admit --state "$work/a" --connect 192.168.81.1:7400 \
  --ifname wg0 --yes --timeout 20 <"$work/code-e" >"$work/admit-e.out" 2>&1 &
apid=$!
for _ in $(seq 300); do grep -q '^stopping.before-final' "$work/admit-e.out" && break; sleep 0.1; done
kill -9 "$apid"; wait "$apid" 2>/dev/null
jrc=0; wait "$jpid" || jrc=$?
t0=$(now_ms)
es=$("$pair" status --state "$work/e" | grep '^pairing:')
as=$("$pair" status --state "$work/a" | grep '^handoff: late-e' || true)
[ "$jrc" = 1 ] && [[ $es == *"pending: admitted by laptop-a"* ]] && [[ $as == *"late-e admitted at entry"* ]] &&
  ok "late-e's hand-off cut before the final part: late-e pending, laptop-a's status lists it unconfirmed" ||
  bad "cut hand-off (join $jrc, '$es', '$as'): $(tail -2 "$work/join-e.out") / $(tail -2 "$work/admit-e.out")"
ip netns exec e "$pair" serve --state "$work/e" --listen "${mesh[e]}:7411" --pull 2 --peer-port 7411 --ifname wg0 \
  --hosts "$work/e.hosts" >>"$work/serve-e.out" 2>>"$work/serve-e.err" &
spid[e]=$!
within 30 grep -q '^completed' "$work/serve-e.out" && [ -d "$work/e/ledger" ] &&
  ok "late-e completed through the tunnel by itself in $(( $(now_ms) - t0 )) ms" ||
  bad "late-e did not complete: $(tail -3 "$work/serve-e.out" "$work/serve-e.err")"
for dst in a b; do
  reach e "${mesh[$dst]}" && ok "late-e reaches ${host[$dst]} (${mesh[$dst]})" || bad "late-e cannot reach ${host[$dst]}"
done
settled() { ! "$pair" status --state "$work/a" | grep -q '^handoff: late-e admitted'; }
within 15 settled && [ -z "$(ls "$work/a/handoff" 2>/dev/null)" ] &&
  ok "laptop-a's status: late-e's hand-off completed (its cosignature reached laptop-a)" ||
  bad "laptop-a still lists late-e: $("$pair" status --state "$work/a" | grep '^handoff')"

echo "$fails failure(s)"
exit "$fails"
