#!/usr/bin/env bash
# The mesh keeping itself current (no WireGuard needed): three members in a
# network namespace, each with its mesh address on lo as the tunnel would give
# it, each running `ppn-pair serve` with the default 10 s pull.  An entry
# appended at A reaches B and C by itself through the nudges, well before the
# next pull (the waits below are shorter than the pull interval), and their
# managed hosts blocks follow; with A stopped, a removal by a second
# administrator (B) still reaches C; a failing pull is logged once, not every
# round; a flood of nudges costs a bounded number of pulls.
#   ppn-pair-mesh-test.sh PPN_PAIR PPN_LEDGER   (root)
set -u
P=$(realpath "$1"); L=$(realpath "$2")
W=$(mktemp -d /tmp/ppn-mesh-test.XXXXXX)
NS=ppnmesh-$$
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  ip netns del "$NS" 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT
fails=0
ok() { echo "ok - $*"; }
bad() { echo "not ok - $*"; fails=$((fails + 1)); }
cd "$W"
ip netns add "$NS" || { echo "not ok - ip netns add (root needed)"; exit 1; }
ip -n "$NS" link set lo up
for i in 1 2 3 4; do ip -n "$NS" addr add "10.8.0.$i/32" dev lo; done

for n in A B C; do "$P" keys --state "$n" >/dev/null || exit 1; done
"$P" genesis --state A --origin mesh.test/ledger --hostname node-a >/dev/null || exit 1
wgk() { head -c 32 /dev/urandom | base64; }
idk() { "$L" pubkey "$1/identity.key"; }
{
  echo "{\"type\":\"node-join\",\"subject\":\"$(idk B)\",\"wg_key\":\"$("$P" status --state B | awk '/^wireguard/ {print $2}')\",\"mesh\":\"10.8.0.2/24\",\"endpoint\":\"\",\"hostname\":\"node-b\"}"
  echo "{\"type\":\"node-join\",\"subject\":\"$(idk C)\",\"wg_key\":\"$("$P" status --state C | awk '/^wireguard/ {print $2}')\",\"mesh\":\"10.8.0.3/24\",\"endpoint\":\"\",\"hostname\":\"node-c\"}"
  echo "{\"type\":\"cap-grant\",\"subject\":\"$(idk B)\",\"capability\":\"admin\"}"
} | "$L" append A/ledger --key A/identity.key - >/dev/null || { echo "not ok - ledger setup"; exit 1; }
"$L" checkpoint A/ledger --key A/identity.key >/dev/null
# as if both had paired: each holds the replica as it was
cp -a A/ledger B/ledger && cp -a A/ledger C/ledger
rm -f B/ledger/lock C/ledger/lock 2>/dev/null
printf '127.0.0.1\tlocalhost\n' | tee A.hosts B.hosts > C.hosts

for n in A B C; do
  i=$(( $(printf '%d' "'$n") - 64 ))
  ip netns exec "$NS" "$P" serve --state "$n" --listen "10.8.0.$i:7411" --hosts "$W/$n.hosts" \
    >"$n.out" 2>"$n.err" &
  pids+=($!)
  eval "pid_$n=$!"
done
size() { "$L" show "$1/ledger" --json 2>/dev/null | wc -l; }
waitfor() { # SECONDS COMMAND...
  local t=$(( $1 * 10 )); shift
  for _ in $(seq "$t"); do "$@" && return 0; sleep 0.1; done
  return 1
}
waitfor 10 grep -q "node-c" C.hosts && grep -q $'10.8.0.2\tnode-b' C.hosts && grep -q '^127.0.0.1' C.hosts &&
  ok "hosts block written at start, the rest of the file kept" || bad "hosts at start: $(cat C.hosts)"

# an entry appended at A reaches B and C by itself
t0=$(date +%s%N)
echo "{\"type\":\"node-join\",\"subject\":\"$(head -c 32 /dev/urandom | base64)\",\"wg_key\":\"$(wgk)\",\"mesh\":\"10.8.0.4/24\",\"endpoint\":\"\",\"hostname\":\"node-d\"}" |
  "$L" append A/ledger --key A/identity.key - >/dev/null || bad "append at A"
"$L" checkpoint A/ledger --key A/identity.key >/dev/null
want=$(size A)
if waitfor 4 bash -c "[ \$($L show B/ledger --json | wc -l) = $want ] && [ \$($L show C/ledger --json | wc -l) = $want ]"; then
  ok "a join appended at A reached B and C in $(( ($(date +%s%N) - t0) / 1000000 )) ms, no command typed there"
else
  bad "propagation: A $want, B $(size B), C $(size C); $(cat B.err C.err)"
fi
"$L" verify B/ledger >/dev/null && "$L" verify C/ledger >/dev/null && ok "replicas verify" || bad "replica verify"
waitfor 3 grep -q $'10.8.0.4\tnode-d' C.hosts && ok "C's hosts block names node-d" || bad "hosts after join: $(cat C.hosts)"

# A stops; B, an administrator by grant, removes node-d; C still hears of it
kill "$pid_A"; wait "$pid_A" 2>/dev/null
rc=1
for _ in $(seq 50); do "$P" remove --state B node-d >rm.out 2>rm.err && { rc=0; break; }; sleep 0.1; done
[ "$rc" = 0 ] && ok "B removes node-d with A stopped" || bad "remove at B: $(cat rm.err)"
"$L" checkpoint B/ledger --key B/identity.key >/dev/null 2>&1
waitfor 4 bash -c "! grep -q node-d C.hosts" && "$L" show C/ledger --view members | grep -vq node-d &&
  ok "the removal reached C through B, and C's hosts block dropped node-d" || bad "removal: $(cat C.hosts) $(cat C.err)"
# a failing member is logged once, not every round (C again, pulling every second)
kill "$pid_C"; wait "$pid_C" 2>/dev/null
ip netns exec "$NS" "$P" serve --state C --listen "10.8.0.3:7411" --pull 1 >C2.out 2>C2.err &
pid_C=$!; pids+=($!)
sleep 3.5
n_a=$(grep -c "pull from node-a" C2.err || true)
[ "$n_a" = 1 ] && ok "the stopped member is reported once, not every round" || bad "pull failures logged $n_a times: $(cat C2.err)"

# a nudge carries no authority and its cost is bounded: 2 s of nudges as fast as a socket
# sends them, from the address of a (stopped) member and from that of a removed node, each
# with a TCP listener counting the pulls it causes
cat >flood.py <<'PY'
import socket, sys, time, threading
counts = {}
def listen(ip):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip, 7411)); s.listen(64); s.settimeout(0.2); counts[ip] = 0
    end = time.time() + 3.5
    while time.time() < end:
        try:
            c, _ = s.accept(); counts[ip] += 1; c.close()
        except socket.timeout:
            pass
ts = [threading.Thread(target=listen, args=(ip,)) for ip in sys.argv[1:]]
[t.start() for t in ts]
time.sleep(0.2)
us = []
for ip in sys.argv[1:]:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind((ip, 0)); us.append(u)
msg = b"PPNNUDG1" + (99).to_bytes(8, "big")
sent = 0
end = time.time() + 2
while time.time() < end:
    for u in us:
        u.sendto(msg, ("10.8.0.3", 7411)); sent += 1
[t.join() for t in ts]
print(sent, *[counts[ip] for ip in sys.argv[1:]])
PY
read -r sent n_member n_removed < <(ip netns exec "$NS" python3 flood.py 10.8.0.1 10.8.0.4)
if [ "${n_member:-99}" -ge 6 ] && [ "${n_member:-99}" -le 18 ] && [ "${n_removed:-99}" = 0 ]; then
  ok "$sent nudges in 2 s: $n_member pulls from the member's address (at most 5 a second, plus the 1 s pull), none from a removed node's"
else
  bad "nudge flood: $sent sent, $n_member pulls from the member address, $n_removed from the removed one"
fi
kill -0 "$pid_C" && ok "serve survives the flood" || bad "serve died in the flood"

# members cosign what they verified and pass the cosignatures on: C keeps its own and B's
ncos() { python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); print(d[8] if d[:8]==b"PPNCOSG1" and len(d)==9+144*d[8] else -1)' "$1" 2>/dev/null || echo 0; }
[ "$(ncos C/ledger/cosignatures)" -ge 2 ] && [ "$(ncos B/ledger/cosignatures)" -ge 2 ] &&
  ok "cosignatures kept and passed on (C holds $(ncos C/ledger/cosignatures), B $(ncos B/ledger/cosignatures))" ||
  bad "cosignatures: C $(ncos C/ledger/cosignatures), B $(ncos B/ledger/cosignatures)"

# the topology: refusals before anything is written, a change that reaches the others
"$P" keys --state G >/dev/null
"$P" genesis --state G --origin g.test/l --hostname node-g --topology hub --hub node-x >g.out 2>g.err &&
  bad "genesis with another node as hub accepted" || { [ ! -e G/ledger ] && grep -q "only be this node" g.err &&
  ok "genesis --hub naming another node refused before the ledger is written" || bad "genesis --hub: $(cat g.err)"; }
"$P" genesis --state G --origin g.test/l --topology star 2>g.err && bad "--topology star accepted" ||
  { [ ! -e G/ledger ] && ok "genesis --topology star refused, nothing written" || bad "--topology star wrote a ledger"; }
before=$(size B)
"$P" topology --state B hub nobody 2>t.err && bad "a hub that is no member accepted" ||
  { [ "$(size B)" = "$before" ] && ok "topology hub of a non-member refused: $(cat t.err)" || bad "topology wrote something"; }
for _ in $(seq 50); do "$P" topology --state B hub node-b >t.out 2>t.err && break; sleep 0.1; done
grep -q "^topology.hub.node-b" t.out && ok "B makes itself the routing hub" || bad "topology hub at B: $(cat t.err)"
waitfor 4 bash -c "'$P' status --state C | grep -q 'topology:  hub node-b'" &&
  ok "C learns the topology by itself: $("$P" topology --state C)" || bad "topology at C: $("$P" topology --state C)"

# a member serving a forked replica is refused by the others, with the size and both roots:
# C's replica gets an entry signed by B (an administrator) that B's own replica does not
# have, B's another one at the same index
kill "$pid_C"; wait "$pid_C" 2>/dev/null
echo "{\"type\":\"vm-assign\",\"subject\":\"$(idk C)\",\"text\":\"fork-c\"}" | "$L" append C/ledger --key B/identity.key - >/dev/null &&
  "$L" checkpoint C/ledger --key B/identity.key >/dev/null || bad "fork at C"
for _ in $(seq 50); do
  echo "{\"type\":\"vm-assign\",\"subject\":\"$(idk C)\",\"text\":\"fork-b\"}" | "$L" append B/ledger --key B/identity.key - >/dev/null 2>&1 && break
  sleep 0.1
done
"$L" checkpoint B/ledger --key B/identity.key >/dev/null 2>&1 || { sleep 0.3; "$L" checkpoint B/ledger --key B/identity.key >/dev/null; }
bsize=$(size B)
ip netns exec "$NS" "$P" serve --state C --listen "10.8.0.3:7411" >C3.out 2>C3.err &
pid_C=$!; pids+=($!)
if waitfor 5 grep -q "fork at size $bsize, ours [0-9a-f]\{64\} theirs [0-9a-f]\{64\}" B.err &&
   waitfor 5 grep -q "fork at size $bsize, ours [0-9a-f]\{64\} theirs [0-9a-f]\{64\}" C3.err; then
  ok "the forked replica is refused on both sides with the evidence: $(grep -o 'fork at size [0-9]*' B.err | head -1)"
else
  bad "fork not reported: B: $(tail -2 B.err) C: $(tail -2 C3.err)"
fi
[ "$(size B)" = "$bsize" ] && "$L" verify B/ledger >/dev/null && ok "nothing of the fork was appended at B" || bad "B changed by the fork"
# a member unreachable when serve starts is retried with backoff (250 ms, 500 ms, 1 s, ...),
# not only at the next 10 s round: F starts while E does not serve yet; E then serves
# without nudging (--pull 0), and F learns E's entry by its own retry
ip -n "$NS" addr add 10.9.0.1/32 dev lo; ip -n "$NS" addr add 10.9.0.2/32 dev lo
for n in E F; do "$P" keys --state "$n" >/dev/null; done
"$P" genesis --state E --origin e.test/ledger --range 10.9.0.0/24 --hostname node-e >/dev/null
echo "{\"type\":\"node-join\",\"subject\":\"$(idk F)\",\"wg_key\":\"$("$P" status --state F | awk '/^wireguard/ {print $2}')\",\"mesh\":\"10.9.0.2/24\",\"endpoint\":\"\",\"hostname\":\"node-f\"}" |
  "$L" append E/ledger --key E/identity.key - >/dev/null && "$L" checkpoint E/ledger --key E/identity.key >/dev/null
cp -a E/ledger F/ledger && rm -f F/ledger/lock
echo "{\"type\":\"node-join\",\"subject\":\"$(head -c 32 /dev/urandom | base64)\",\"wg_key\":\"$(wgk)\",\"mesh\":\"10.9.0.3/24\",\"endpoint\":\"\",\"hostname\":\"node-g\"}" |
  "$L" append E/ledger --key E/identity.key - >/dev/null && "$L" checkpoint E/ledger --key E/identity.key >/dev/null
ip netns exec "$NS" "$P" serve --state F --listen "10.9.0.2:7411" >F.out 2>F.err &
pids+=($!)
sleep 1
ip netns exec "$NS" "$P" serve --state E --listen "10.9.0.1:7411" --pull 0 >E.out 2>E.err &
pids+=($!)
t0=$(date +%s%N)
if waitfor 5 bash -c "[ \$($L show F/ledger --json | wc -l) = $(size E) ]"; then
  ok "a member unreachable at start is retried: F learnt E's entry $(( ($(date +%s%N) - t0) / 1000000 )) ms after E came up (the round is 10 s)"
else
  bad "retry: F $(size F), E $(size E); $(cat F.err)"
fi
[ "$(grep -c 'pull from node-e' F.err)" = 1 ] && ok "the refused pulls before it were logged once" ||
  bad "retry log: $(cat F.err)"

# a hub revoked outright (not moved) turns off the IPv4 forwarding it turned on as the hub:
# F as a hub that turned it on (its mark, forwarding on in the namespace), then E removes F
kill "${pids[-2]}" 2>/dev/null; wait "${pids[-2]}" 2>/dev/null # F's serve
printf 'IPv4 forwarding turned on by ppn-pair: this node is the routing hub\n' >F/forwarding
ip netns exec "$NS" sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'
"$P" remove --state E node-f --reason test >/dev/null 2>rmf.err || bad "remove node-f: $(cat rmf.err)"
rm -rf F/ledger && cp -a E/ledger F/ledger && rm -f F/ledger/lock
rc=0; ip netns exec "$NS" "$P" mesh --state F --ifname ppnt0 >fmesh.out 2>fmesh.err || rc=$?
[ "$rc" = 1 ] && [ "$(ip netns exec "$NS" cat /proc/sys/net/ipv4/ip_forward)" = 0 ] && [ ! -e F/forwarding ] &&
  grep -q "not a current member" fmesh.err && ok "a revoked hub turned its forwarding off again" ||
  bad "revoked hub: rc $rc, forwarding $(ip netns exec "$NS" cat /proc/sys/net/ipv4/ip_forward), $(cat fmesh.out fmesh.err)"

kill -TERM "$pid_B"; rc=0; wait "$pid_B" || rc=$?
[ "$rc" = 0 ] && ok "serve exits 0 on SIGTERM" || bad "serve exit $rc"
echo "$fails failure(s)"
exit "$fails"
