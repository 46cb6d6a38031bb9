#!/usr/bin/env bash
# ppn-pair sync / serve over real TCP on loopback: B pulls what A appended (a join, a
# revocation), a drip-feeding, a flooding and a crowd of idle clients cannot hold the server,
# a client gives up at its deadline, and a fork is refused with its evidence.
set -uo pipefail
pair=$1
ledger=$2
. "$(dirname "${BASH_SOURCE[0]}")/../lib/pair-env.sh"   # work, ok/bad, port, genesis
genesis sync.pointsav/ledger A B C

# admit NAME STATE: a ceremony on loopback (both --yes)
admit() {
  port=$((port + 1))
  rm -f "$1.in"; mkfifo "$1.in"; : >"$1.out"   # never an earlier console under this name
  "$pair" join --state "$2" --listen "127.0.0.1:$port" --hostname "$1" --yes <"$1.in" >"$1.out" 2>&1 &
  local jpid=$!
  exec 7>"$1.in"
  for _ in $(seq 100); do grep -q '^listening' "$1.out" && break; sleep 0.05; done
  local code; code=$(awk '$1 == "code" {print $2}' "$1.out")
  echo "$code" | "$pair" admit --state A --connect "127.0.0.1:$port" --yes >"admit-$1.out" 2>&1
  local arc=$?
  exec 7>&-
  wait "$jpid"; local jrc=$?
  [ "$arc" = 0 ] && [ "$jrc" = 0 ] || { echo "ceremony for $1 failed"; cat "$1.out" "admit-$1.out"; exit 1; }
}
admit node-b B
admit node-c C   # after B joined: B does not know C yet
has() { "$ledger" show "$1" --json 2>/dev/null | grep -c "$2"; }

sport=$((port + 100))
"$pair" serve --state A --listen "127.0.0.1:$sport" >serve.out 2>serve.err &
spid=$!
for _ in $(seq 100); do grep -q '^serving' serve.out && break; sleep 0.05; done

# 1. B pulls C's join from A
[ "$(has B/ledger '"hostname":"node-c"')" = 0 ] || bad "B knew node-c before syncing"
rc=0; "$pair" sync --state B --from "127.0.0.1:$sport" >sync1.out 2>&1 || rc=$?
if [ "$rc" = 0 ] && grep -q '^synced	1 entries' sync1.out && [ "$(has B/ledger '"hostname":"node-c"')" = 1 ] &&
   "$ledger" verify B/ledger >/dev/null && grep -q node-c B/ledger/nodes.jsonl &&
   cmp -s A/ledger/entries B/ledger/entries && cmp -s A/ledger/checkpoint B/ledger/checkpoint; then
  ok "B pulls the entry appended at A (node-c's join) and A's checkpoint; B verifies"
else
  bad "sync of a new entry ($rc)"; cat sync1.out
fi
rc=0; "$pair" sync --state B --from "127.0.0.1:$sport" >sync2.out 2>&1 || rc=$?
[ "$rc" = 0 ] && grep -q '^synced	0 entries' sync2.out && ok "nothing new: nothing appended" || { bad "idle sync"; cat sync2.out; }

# 2. a revocation at A reaches B
cpk=$("$ledger" pubkey C/identity.key)
echo "{\"type\":\"node-revoke\",\"subject\":\"$cpk\",\"reason\":\"test\"}" | "$ledger" append A/ledger --key A/identity.key - >/dev/null &&
  "$ledger" checkpoint A/ledger --key A/identity.key >/dev/null || bad "revoking at A"
rc=0; "$pair" sync --state B --from "127.0.0.1:$sport" >sync3.out 2>&1 || rc=$?
if [ "$rc" = 0 ] && [ "$(has B/ledger '"node-revoke"')" = 1 ] && ! "$pair" status --state B | grep -q '^node-c '; then
  ok "a revocation at A reaches B: node-c is no longer a member there"
else
  bad "revocation ($rc)"; cat sync3.out; "$pair" status --state B
fi

# 3. hostile clients.  A drip-feeder (one byte a second) and a client announcing a 4 GiB
# request: a real sync beside them completes at once; the 4 GiB one is dropped unread and the
# drip-feeder (a well-formed length, then a byte a second) is cut off by the connection deadline (10 s from its connect), never answered
syncs_fast() { # LABEL
  local t0 t1 rc=0
  t0=$(date +%s%N)
  "$pair" sync --state B --from "127.0.0.1:$sport" --timeout 5 >"sync-$1.out" 2>&1 || rc=$?
  t1=$(date +%s%N)
  ms=$(( (t1 - t0) / 1000000 ))
  [ "$rc" = 0 ] && [ "$ms" -lt 3000 ]
}
exec 3<>"/dev/tcp/127.0.0.1/$sport"
dt0=$(date +%s%N)
( printf '\0\0\0\x44P' >&3; for i in $(seq 30); do sleep 1; printf 'P' >&3 2>/dev/null || exit 0; done ) &
drip=$!
exec 4<>"/dev/tcp/127.0.0.1/$sport"; printf '\xff\xff\xff\xff' >&4
syncs_fast drip && ok "a sync is served beside a drip-feeding client (${ms} ms)" || { bad "sync beside a drip-feed"; cat sync-drip.out; }
got=$(timeout 3 cat <&4 | wc -c)
[ "$got" = 0 ] && grep -q 'dropped a request of 4294967295 bytes' serve.err && ok "a request announcing 4 GiB is dropped unread" ||
  { bad "4 GiB request ($got)"; cat serve.err; }
got=$(timeout 20 cat <&3 | wc -c)
dt1=$(date +%s%N)
dms=$(( (dt1 - dt0) / 1000000 ))
[ "$got" = 0 ] && [ "$dms" -ge 9500 ] && [ "$dms" -le 12000 ] &&
  ok "a drip-feeding client is cut off by the 10 s connection deadline (after ${dms} ms), unanswered" ||
  bad "drip-feed: $got bytes, cut off after $dms ms"
kill "$drip" 2>/dev/null; wait "$drip" 2>/dev/null
exec 3>&- 4>&-
# A flood of garbage and a crowd of 20 idle connections (more than the 16 slots): the oldest
# make room, a real sync still completes at once
exec 5<>"/dev/tcp/127.0.0.1/$sport"; head -c 100000 /dev/urandom >&5 2>/dev/null
for i in $(seq 20); do eval "exec $((10 + i))<>/dev/tcp/127.0.0.1/$sport"; done
syncs_fast crowd && ok "a sync is served beside 100 kB of garbage and 20 idle clients (${ms} ms)" ||
  { bad "sync beside a crowd"; cat sync-crowd.out; }
exec 5>&-
for i in $(seq 20); do eval "exec $((10 + i))>&-"; done
kill -0 "$spid" 2>/dev/null && ok "the server is still running" || bad "the server died"

# 4. a client's deadline: a server that accepts (the kernel completes the handshake) and never
# answers: the serving process is stopped
kill -STOP "$spid"
t0=$(date +%s%N)
rc=0; "$pair" sync --state B --from "127.0.0.1:$sport" --timeout 2 >sync5.out 2>&1 || rc=$?
t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
kill -CONT "$spid"
[ "$rc" = 1 ] && [ "$ms" -ge 1900 ] && [ "$ms" -lt 3500 ] && grep -q 'timed out' sync5.out &&
  ok "a silent server: the client gives up at its 2 s deadline (${ms} ms)" ||
  { bad "client deadline ($rc, $ms ms)"; cat sync5.out; }

# 5. a fork: A2 (a copy of A with the same keys) signs a different history; B pulling from it
# is refused with the first size at which they differ and both roots, and B keeps its own
cp -r A A2
echo '{"type":"cap-grant","subject":"'"$cpk"'","capability":"vm.create","scope":"x"}' |
  "$ledger" append A/ledger --key A/identity.key - >/dev/null && "$ledger" checkpoint A/ledger --key A/identity.key >/dev/null
"$pair" sync --state B --from "127.0.0.1:$sport" >/dev/null 2>&1
echo '{"type":"cap-grant","subject":"'"$cpk"'","capability":"vm.create","scope":"y"}' |
  "$ledger" append A2/ledger --key A2/identity.key - >/dev/null && "$ledger" checkpoint A2/ledger --key A2/identity.key >/dev/null
fport=$((sport + 3))
"$pair" serve --state A2 --listen "127.0.0.1:$fport" >serve2.out 2>&1 &
s2=$!
for _ in $(seq 100); do grep -q '^serving' serve2.out && break; sleep 0.05; done
size=$("$ledger" show B/ledger --json | grep -c '"index"')
before=$(md5sum <B/ledger/entries)
rc=0; "$pair" sync --state B --from "127.0.0.1:$fport" >sync6.out 2>&1 || rc=$?
if [ "$rc" = 1 ] && grep -q "^fork	$size	first	ours [0-9a-f]\{64\}	theirs [0-9a-f]\{64\}" sync6.out &&
   grep -q 'fork' sync6.out && [ "$(md5sum <B/ledger/entries)" = "$before" ]; then
  ok "a fork is refused with evidence: first differing size $size, both roots; nothing appended"
else
  bad "fork ($rc, size $size)"; cat sync6.out
fi
kill "$s2"; wait "$s2" 2>/dev/null

# 6. options
for v in abc 0 99999; do
  rc=0; "$pair" sync --state B --from "127.0.0.1:$v" 2>o.err || rc=$?
  [ "$rc" = 1 ] && [ "$(wc -l <o.err)" = 2 ] || bad "sync --from 127.0.0.1:$v: exit $rc $(cat o.err)"
  rc=0; "$pair" serve --state A --listen "127.0.0.1:$v" 2>o.err || rc=$?
  [ "$rc" = 1 ] && [ "$(wc -l <o.err)" = 2 ] || bad "serve --listen 127.0.0.1:$v: exit $rc $(cat o.err)"
done
for v in abc -1 0.01 3601; do
  rc=0; "$pair" sync --state B --from 127.0.0.1:1 --timeout "$v" 2>o.err || rc=$?
  [ "$rc" = 1 ] && [ "$(wc -l <o.err)" = 2 ] || bad "sync --timeout $v: exit $rc $(cat o.err)"
done
for v in abc 4095 16777217; do
  rc=0; "$pair" sync --state B --from 127.0.0.1:1 --max-bytes "$v" 2>o.err || rc=$?
  [ "$rc" = 1 ] && [ "$(wc -l <o.err)" = 2 ] || bad "sync --max-bytes $v: exit $rc $(cat o.err)"
done
ok "sync and serve options checked"

kill "$spid"; wait "$spid"; src=$?
[ "$src" = 0 ] && ok "serve exits 0 on SIGTERM" || bad "serve exit $src on SIGTERM"
echo "$failures failure(s)"
exit "$failures"
