#!/usr/bin/env bash
# ppn-pair over real TCP on loopback (no WireGuard needed: no --ifname):
# success, a declined SAS, a typo caught before traffic, a wrong code, an
# expired window, a node admitted twice, a non-administrator, keys that
# others can read, and codes never in argv.
set -uo pipefail
pair=$1
ledger=$2
proxy=$3
. "$(dirname "${BASH_SOURCE[0]}")/../lib/pair-env.sh"   # work, ok/bad, port, genesis
genesis test.pointsav/ledger A B C

# start_join NAME STATE [ARGS...]: a join in the background reading answers from a fifo
start_join() {
  local name=$1 state=$2; shift 2
  port=$((port + 1))
  rm -f "$name.in"; mkfifo "$name.in"; : >"$name.out"   # never an earlier console under this name
  "$pair" join --state "$state" --listen "127.0.0.1:$port" --hostname "$name" "$@" <"$name.in" >"$name.out" 2>&1 &
  jpid=$!
  exec 7>"$name.in"
  for _ in $(seq 100); do grep -q '^listening' "$name.out" && break; sleep 0.05; done
  code=$(awk '$1 == "code" {print $2}' "$name.out")
}
finish_join() { exec 7>&-; jrc=0; wait "$jpid" || jrc=$?; }
members() { "$ledger" show "$1" --json 2>/dev/null | grep -c '"node-join"'; }

# 1. success: both confirm; the joiner gets a verified replica with itself in it
start_join node-b B
{ echo "$code"; sleep 0.5; echo y; } | "$pair" admit --state A --connect "127.0.0.1:$port" >admit1.out 2>&1 &
apid=$!
for _ in $(seq 100); do grep -q '^SAS' node-b.out && break; sleep 0.05; done
echo y >&7
finish_join; arc=0; wait "$apid" || arc=$?
sa=$(awk '$1=="SAS"{print $2 $3}' admit1.out); sb=$(awk '$1=="SAS"{print $2 $3}' node-b.out)
if [ "$jrc" = 0 ] && [ "$arc" = 0 ] && [ -n "$sa" ] && [ "$sa" = "$sb" ] && [ -d B/ledger ] &&
   grep -q '^joined.*10.8.0.2/24' node-b.out && "$ledger" verify B/ledger >/dev/null; then
  ok "ceremony over TCP: same SAS, node-b admitted as 10.8.0.2, replica verifies"
else
  bad "ceremony over TCP (join $jrc, admit $arc, SAS '$sa' '$sb')"; cat node-b.out admit1.out
fi
[ "$(stat -c %a B/identity.key)" = 600 ] && ok "identity.key is 0600" || bad "identity.key mode"
grep -q '"hostname":"node-b"' A/ledger/nodes.jsonl && ok "nodes.jsonl lists node-b" || bad "nodes.jsonl"
"$pair" status --state B --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
me = [m for m in d["members"] if m["self"]]
assert d["ledger"]["entries"] >= 2 and len(me) == 1 and me[0]["hostname"] == "node-b" and me[0]["identity"] == d["identity"]
' && ok "status --json" || bad "status --json: $("$pair" status --state B --json 2>&1)"
"$pair" status --state nowhere --json 2>err.json >/dev/null
python3 -c 'import json,sys; assert "error" in json.load(open("err.json"))' && ok "status --json error as JSON" || bad "status error: $(cat err.json)"

# 2. the joining operator declines the SAS: both sides fail, nothing recorded
before=$(members A/ledger)
start_join node-c C
{ echo "$code"; sleep 0.5; echo y; } | "$pair" admit --state A --connect "127.0.0.1:$port" >admit2.out 2>&1 &
apid=$!
for _ in $(seq 100); do grep -q '^SAS' node-c.out && break; sleep 0.05; done
echo n >&7
finish_join; arc=0; wait "$apid" || arc=$?
if [ "$jrc" != 0 ] && [ "$arc" != 0 ] && [ ! -e C/ledger ] && [ "$(members A/ledger)" = "$before" ] &&
   grep -q 'declined' admit2.out; then
  ok "declined SAS: both fail, nothing recorded, nothing released"
else
  bad "declined SAS (join $jrc, admit $arc)"; cat node-c.out admit2.out
fi

# 3. a typo caught by the check symbol: refused before any traffic; the joiner still waits
start_join node-c C --yes
first=${code:0:1}; other=$([ "$first" = 7 ] && echo 8 || echo 7)
typo="$other${code:1}"
rc=0; echo "$typo" | "$pair" admit --state A --connect "127.0.0.1:$port" --yes >typo.out 2>&1 || rc=$?
if [ "$rc" != 0 ] && grep -q 'check symbol.*nothing was sent' typo.out && ! grep -q SAS node-c.out; then
  ok "typo: refused with its position before any byte was sent"
else
  bad "typo"; cat typo.out node-c.out
fi
# 4. ...then a wrong code that passes the check: the ceremony fails on both sides for good
alphabet=0123456789ABCDEFGHJKMNPQRSTVWXYZ; checks='0123456789ABCDEFGHJKMNPQRSTVWXYZ*~$=U'
body=$(echo "$typo" | tr -d - | sed 's/.$//'); v=0
for ((i = 0; i < ${#body}; i++)); do c=${body:i:1}; c=${alphabet%%"$c"*}; v=$(( (v * 32 + ${#c}) % 37 )); done
wrong="$body${checks:v:1}"
rc=0; echo "$wrong" | "$pair" admit --state A --connect "127.0.0.1:$port" --yes >wrong.out 2>&1 || rc=$?
finish_join
if [ "$rc" != 0 ] && [ "$jrc" != 0 ] && grep -q 'code was wrong' wrong.out && grep -q 'code was wrong' node-c.out &&
   [ ! -e C/ledger ]; then
  ok "wrong code: both sides end with an error; the code is used up"
else
  bad "wrong code (admit $rc, join $jrc)"; cat wrong.out node-c.out
fi

# 5. nobody comes within the window: the code expires
start_join node-c C --yes --timeout 2
finish_join
grep -q 'expired' node-c.out && [ "$jrc" != 0 ] && ok "expired window" || { bad "expired window"; cat node-c.out; }

# 6. admitting a member again is refused and records nothing
before=$(members A/ledger)
rm -rf B2; cp -r B B2; rm -rf B2/ledger
start_join node-b B2 --yes
rc=0; echo "$code" | "$pair" admit --state A --connect "127.0.0.1:$port" --yes >again.out 2>&1 || rc=$?
finish_join
[ "$rc" != 0 ] && grep -q 'already a member' again.out && [ "$(members A/ledger)" = "$before" ] &&
  ok "a member cannot be admitted twice" || { bad "admitted twice"; cat again.out; }

# 7. a node that is not an administrator cannot admit
rc=0; echo 0000-0000-0 | "$pair" admit --state B --connect 127.0.0.1:1 --yes >notadmin.out 2>&1 || rc=$?
[ "$rc" != 0 ] && grep -q 'not an administrator' notadmin.out && ok "non-administrator refused" ||
  { bad "non-administrator"; cat notadmin.out; }

# 8. a key file readable by others is refused
# (one line naming the file and its mode, the rule of every ppn tool), and so is wg.key
chmod 644 C/identity.key
rc=0; "$pair" status --state C >perm.out 2>&1 || rc=$?
[ "$rc" = 1 ] && [ "$(cat perm.out)" = "ppn-pair: Refusing key file 'C/identity.key': mode 0644 lets others read it; chmod 600 it" ] &&
  ok "identity key readable by others is refused" || { bad "key mode not checked"; cat perm.out; }
rc=0; "$pair" genesis --state C --origin t.example/ledger --hostname node-c --endpoint 127.0.0.1:51820 >perm.out 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "Refusing key file 'C/identity.key': mode 0644" perm.out && [ ! -e C/ledger ] &&
  ok "genesis with a 0644 key writes nothing" || { bad "genesis with a 0644 key"; cat perm.out; ls C; }
chmod 600 C/identity.key
chmod 640 C/wg.key
rc=0; "$pair" status --state C >perm.out 2>&1 || rc=$?
[ "$rc" = 1 ] && [ "$(cat perm.out)" = "ppn-pair: Refusing key file 'C/wg.key': mode 0640 lets others read it; chmod 600 it" ] &&
  ok "WireGuard key readable by the group is refused" || { bad "wg.key mode not checked"; cat perm.out; }
chmod 600 C/wg.key
rc=0; "$pair" status --state C >perm.out 2>&1 || rc=$?
grep -q "Refusing" perm.out && { bad "0600 keys refused"; cat perm.out; } || ok "0600 keys accepted"

# 9. usage errors: one line on stderr, exit 1; --help exit 0
rc=0; "$pair" frobnicate 2>usage.err || rc=$?
[ "$rc" = 1 ] && grep -q "unknown command 'frobnicate'" usage.err && ok "unknown command" || bad "unknown command"
"$pair" join --help >/dev/null && ok "--help" || bad "--help"

# 10. a man in the middle who lets the ceremony through but changes one bit of
# what follows it inside the session (the replica and the prepared entry): the
# session ends on both sides, nothing is recorded or stored; and the replica is
# never on the wire in the clear
tampered=0; clear=0
for off in 1 2 4 5 6 9 40 150 300 800 1200 2000; do
  n=t$off
  "$pair" keys --state "$n" >/dev/null
  start_join "$n" "$n" --yes
  pport=$((port + 500))
  "$proxy" "$pport" "$port" "$off" >"proxy-$off.out" 2>&1 &
  ppid=$!
  for _ in $(seq 50); do grep -q listening "proxy-$off.out" && break; sleep 0.05; done
  before=$(members A/ledger)
  rc=0; echo "$code" | "$pair" admit --state A --connect "127.0.0.1:$pport" --yes >"admit-$off.out" 2>&1 || rc=$?
  finish_join
  wait "$ppid" 2>/dev/null
  grep -q clear "proxy-$off.out" && clear=$((clear + 1))
  grep -q flipped "proxy-$off.out" || continue
  tampered=$((tampered + 1))
  if [ "$jrc" != 0 ] && [ "$rc" != 0 ] && [ ! -e "$n/ledger" ] && [ ! -e "$n/pending" ] &&
     [ "$(members A/ledger)" = "$before" ] && grep -q "nothing recorded" "admit-$off.out"; then
    :
  else
    bad "a record with byte $off flipped was accepted or mishandled (join $jrc, admit $rc)"
    cat "$n.out" "admit-$off.out"
    tampered=-1000
  fi
done
[ "$tampered" -ge 10 ] && ok "tampered channel record ($tampered offsets flipped): both sides fail, nothing recorded or stored" ||
  bad "tampered channel cases ($tampered)"
[ "$clear" = 0 ] && ok "the replica never travels in the clear" || bad "the replica was seen in the clear $clear time(s)"

# remove: a revoke entry and a checkpoint; the member is gone, its keys stay out
rc=0; "$pair" remove --state B node-a >rm.out 2>rm.err || rc=$?
[ "$rc" = 1 ] && grep -q "lacks node.admit" rm.err && ok "remove by a non-administrator refused" || bad "remove by B: $rc $(cat rm.err)"
rc=0; "$pair" remove --state A node-a >rm.out 2>rm.err || rc=$?
[ "$rc" = 1 ] && grep -q "that is this node" rm.err && ok "remove of oneself refused" || bad "remove self: $rc $(cat rm.err)"
before=$(members A/ledger)
if "$pair" remove --state A node-b --reason "decommissioned" >rm.out 2>rm.err && grep -q "^removed	node-b	10.8.0.2/24	entry" rm.out &&
   ! "$pair" status --state A | grep -q "node-b" && "$ledger" verify A/ledger >/dev/null; then
  ok "remove node-b: revoked, checkpointed, gone from status"
else
  bad "remove node-b: $(cat rm.out rm.err)"
fi
rc=0; "$pair" remove --state A node-b 2>rm.err || rc=$?
[ "$rc" = 1 ] && grep -q "no current member" rm.err && ok "removing twice says so" || bad "remove twice: $rc $(cat rm.err)"

# every numeric and address option is checked before a code is shown or anything is written:
# abc, -1 and one past the maximum, each one line + a usage line, exit 1, no ledger for Z
"$pair" keys --state Z >/dev/null
optcheck() { # DESCRIPTION command...
  local what=$1; shift
  local rc=0
  "$@" >optcheck.out 2>optcheck.err </dev/null || rc=$?
  if [ "$rc" = 1 ] && [ "$(wc -l <optcheck.err)" = 2 ] && grep -q '^Usage: ppn-pair ' optcheck.err &&
     ! grep -q '^code' optcheck.out && [ ! -e Z/ledger ]; then
    :
  else
    bad "$what: exit $rc, $(cat optcheck.err optcheck.out)"; optfail=1
  fi
}
optfail=0
for v in abc -1 65536; do
  optcheck "join --listen-port $v" "$pair" join --state Z --listen 127.0.0.1:0 --ifname wg9 --listen-port "$v"
  optcheck "admit --listen-port $v" "$pair" admit --state A --connect 127.0.0.1:1 --ifname wg9 --listen-port "$v"
  optcheck "genesis --listen-port $v" "$pair" genesis --state Z --origin o --ifname wg9 --listen-port "$v"
  optcheck "mesh --listen-port $v" "$pair" mesh --state A --listen-port "$v"
  optcheck "remove --listen-port $v" "$pair" remove --state A x --ifname wg9 --listen-port "$v"
  optcheck "join --listen 127.0.0.1:$v" "$pair" join --state Z --listen "127.0.0.1:$v"
  optcheck "admit --connect 127.0.0.1:$v" "$pair" admit --state A --connect "127.0.0.1:$v"
done
for v in abc -1 3601; do
  optcheck "join --timeout $v" "$pair" join --state Z --listen 127.0.0.1:0 --timeout "$v"
  optcheck "admit --timeout $v" "$pair" admit --state A --connect 127.0.0.1:1 --timeout "$v"
done
for v in abc -1 5 11; do
  optcheck "join --symbols $v" "$pair" join --state Z --listen 127.0.0.1:0 --symbols "$v"
done
optcheck "join --ifname of 16 bytes" "$pair" join --state Z --listen 127.0.0.1:0 --ifname abcdefghijklmnop
optcheck "join --endpoint nohost" "$pair" join --state Z --listen 127.0.0.1:0 --endpoint nohost
optcheck "genesis --ifname a/b" "$pair" genesis --state Z --origin o --ifname a/b
optcheck "genesis with a stray range" "$pair" genesis --state Z --origin o 10.9.0.0/24
optcheck "join --listen-port without --ifname" "$pair" join --state Z --listen 127.0.0.1:0 --listen-port 51821
for v in abc -1 3601; do
  optcheck "invite --timeout $v" "$pair" invite --state A --listen 127.0.0.1:0 --timeout "$v"
  optcheck "join --join --timeout $v" "$pair" join --state Z --join --connect 127.0.0.1:1 --timeout "$v"
done
for v in abc -1 3601; do
  optcheck "serve --pull $v" "$pair" serve --state Z --listen 127.0.0.1:0 --pull "$v"
done
for v in abc -1 65536; do
  optcheck "serve --peer-port $v" "$pair" serve --state Z --listen 127.0.0.1:0 --peer-port "$v"
  optcheck "serve --listen-port $v" "$pair" serve --state Z --listen 127.0.0.1:0 --ifname wg9 --listen-port "$v"
done
optcheck "invite --listen 127.0.0.1:99999" "$pair" invite --state A --listen 127.0.0.1:99999
optcheck "invite --symbols 11" "$pair" invite --state A --listen 127.0.0.1:0 --symbols 11
optcheck "invite --ifname a/b" "$pair" invite --state A --listen 127.0.0.1:0 --ifname a/b
optcheck "join --join without --connect" "$pair" join --state Z --join
optcheck "join --join with --listen" "$pair" join --state Z --join --connect 127.0.0.1:1 --listen 127.0.0.1:0
optcheck "join --join --symbols" "$pair" join --state Z --join --connect 127.0.0.1:1 --symbols 8
optcheck "admit with --listen and --connect" "$pair" admit --state A --listen 127.0.0.1:0 --connect 127.0.0.1:1
optcheck "admit --symbols without --listen" "$pair" admit --state A --connect 127.0.0.1:1 --symbols 8
[ "$optfail" = 0 ] && ok "options checked before anything happens (abc, -1, max+1, names, operands)"

echo "$failures failure(s)"
exit "$failures"
