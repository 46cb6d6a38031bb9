#!/usr/bin/env bash
# ppn-ledger end to end: init, append (JSON file, stdin, signed), show, verify, checkpoint,
# prove, consistency, export, import with a fork, errors naming what and where.
set -eu
T=$(realpath "$1")
W=$(mktemp -d /tmp/ppn-ledger-tool-XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
fail() { echo "FAIL: $*"; exit 1; }
umask 077
head -c 32 /dev/urandom | base64 > admin.key
head -c 32 /dev/urandom | base64 > node.key
APK=$("$T" pubkey admin.key); NPK=$("$T" pubkey node.key)
WG=$(head -c 32 /dev/urandom | base64)
"$T" init L --origin tool.example/ledger --mesh 10.8.0.0/24 --key admin.key >/dev/null
cp -a L L2            # a replica with the same genesis
cat > join.jsonl <<J
{"type":"node-join","subject":"$NPK","wg_key":"$WG","mesh":"10.8.0.2","endpoint":"198.51.100.7:51820","hostname":"node-b"}
{"type":"cap-grant","subject":"$NPK","capability":"vm.assign","scope":""}
J
"$T" append L --key admin.key join.jsonl | grep -q 'appended 2 entries at index 1' || fail append
echo "{\"type\":\"vm-assign\",\"vm\":\"totebox-1\",\"node\":\"$NPK\"}" | "$T" append L --key node.key >/dev/null || fail stdin append
# authority: node.key cannot admit nodes
if echo "{\"type\":\"node-join\",\"subject\":\"$APK\",\"wg_key\":\"$WG\",\"mesh\":\"10.8.0.3\",\"endpoint\":\"\",\"hostname\":\"x\"}" | "$T" append L --key node.key 2>err; then fail "unauthorised append accepted"; fi
grep -q "Operation not permitted" err || fail "no EPERM message: $(cat err)"
# a malformed JSON line is named with its line number and what is wrong with it
printf '{"type":"vm-assign","vm":"v1","node":"%s"}\n{"type":"nope"}\n' "$NPK" > bad.jsonl
if "$T" append L --key admin.key bad.jsonl 2>err; then fail "bad entries accepted"; fi
grep -q "bad.jsonl line 2.*\"type\": \"nope\" is not an entry type" err || fail "error does not name the line: $(cat err)"
# issue 14: nothing invalid is written, and the message names the field and the rule
size_before=$(stat -c %s L/entries)
refuse() { # JSON, expected message
    echo "$1" > inv.jsonl
    if "$T" append L --key admin.key inv.jsonl 2>err; then fail "accepted: $1"; fi
    grep -q -- "$2" err || fail "message for $1 lacks '$2': $(cat err)"
    [ "$(stat -c %s L/entries)" = "$size_before" ] || fail "something was written for $1"
}
refuse '{"type":"node-join","mesh":"10.8.0.9"}' '"subject" is missing'
refuse "{\"type\":\"node-join\",\"subject\":\"$APK\",\"wg_key\":\"$WG\",\"mesh\":\"10.8.0.9\",\"hostnmae\":\"h\"}" '"hostnmae" is not a field of node-join'
refuse "{\"type\":\"supersede\",\"target\":3,\"replacement_type\":\"vm-asign\",\"vm\":\"v\",\"node\":\"$NPK\"}" '"replacement_type": "vm-asign"'
refuse "{\"type\":\"node-join\",\"subject\":\"$APK\",\"wg_key\":\"$WG\",\"mesh\":\"10.9.0.999\",\"hostname\":\"h\"}" '"mesh": "10.9.0.999" is not a dotted-quad'
refuse "{\"type\":\"node-join\",\"subject\":\"$APK\",\"wg_key\":\"$WG\",\"mesh\":\"10.8.0.9\",\"endpoint\":\"nohost\",\"hostname\":\"h\"}" '"endpoint": "nohost" is not host:port'
refuse "{\"type\":\"node-join\",\"subject\":\"$APK\",\"wg_key\":\"$WG\",\"mesh\":\"10.8.0.9\",\"hostname\":\"bad_h!\"}" '"hostname": "bad_h!" is not a host name'
refuse "{\"type\":\"node-join\",\"subject\":\"$APK\",\"wg_key\":\"$WG\",\"mesh\":\"10.9.0.9\",\"hostname\":\"h\"}" 'line 1 (entry 4).*not a host address of the mesh range 10.8.0.0/24'
for m in 10.9.0.0/40 garbage 10.9.0.1/24 /0; do
    if "$T" init "bad-$m" --origin o.example --mesh "$m" --key admin.key 2>err; then fail "init --mesh $m accepted"; fi
    grep -q '"mesh"' err || fail "init --mesh $m: $(cat err)"
    [ ! -e "bad-$m" ] || fail "init --mesh $m wrote something"
done
# key files holding a hex seed load (doc/ledger.md allows them)
SEED=$(head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n')
printf '%s\n' "$SEED" > hex.key
printf '%s' "$SEED" | xxd -r -p | base64 > b64.key
[ "$("$T" pubkey hex.key)" = "$("$T" pubkey b64.key)" ] || fail "hex seed key file"
# an entry's exact bytes: their leaf hash is the one show --json reports
"$T" show L 1 --raw > e1.cbor
LH=$("$T" show L 1 --json | sed 's/.*"leaf_hash":"\([0-9a-f]*\)".*/\1/')
[ "$( (printf '\0'; cat e1.cbor) | sha256sum | cut -c1-64)" = "$LH" ] || fail "show --raw bytes"
[ "$("$T" show L 1 --hex)" = "$(od -An -v -tx1 e1.cbor | tr -d ' \n')" ] || fail "show --hex"
"$T" show L | grep -q 'totebox-1' || fail show
[ "$("$T" show L --json | wc -l)" = 4 ] || fail "show --json"
"$T" show L 3 --json | grep -q '"leaf_hash"' || fail "show INDEX --json"
"$T" verify L | grep -q '4 entries verified' || fail verify
"$T" checkpoint L --key admin.key > cp.txt
[ "$(sed -n 2p cp.txt)" = 4 ] || fail "checkpoint size"
"$T" checkpoint L | cmp - cp.txt || fail "stored checkpoint differs"
if "$T" checkpoint L --key node.key 2>/dev/null; then fail "non-admin checkpoint"; fi
"$T" prove L 1 --json | grep -q '"proof":\[' || fail prove
"$T" consistency L 2 4 | grep -q 'proof (' || fail consistency
"$T" export L && grep -q '"hostname":"node-b"' L/nodes.jsonl || fail export
grep -q '"index":1,"leaf_hash":"' L/nodes.jsonl || fail "nodes.jsonl index/leaf hash"
# import into the replica
"$T" import L2 L | grep -q 'imported 3 entries' || fail import
"$T" verify L2 >/dev/null || fail "replica verify"
# a fork: a third replica with a different entry 1 and a checkpoint of the same size
"$T" init F --origin tool.example/ledger --mesh 10.8.0.0/24 --key admin.key >/dev/null
if "$T" import L2 F 2>err; then fail "fork imported"; fi
grep -q "fork at tree size" err || fail "fork not reported: $(cat err)"
# a damaged source is named with its file, entry index and byte offset
cp -a L2 L3
cp -a L L4
printf '\xff' | dd of=L4/entries bs=1 seek=300 conv=notrunc status=none
if "$T" import L3 L4 2>err; then fail "damaged source imported"; fi
grep -q "at entry 1, byte offset [0-9]* of 'L4/entries'" err || fail "import error not located: $(cat err)"
# long operations report progress on a terminal (and only there)
"$T" init P --origin tool.example/ledger --mesh 10.8.0.0/24 --key admin.key >/dev/null
cp -a P P0
{ echo "{\"type\":\"node-join\",\"subject\":\"$NPK\",\"wg_key\":\"$WG\",\"mesh\":\"10.8.0.2\",\"hostname\":\"n\"}"
  for i in $(seq 6000); do echo "{\"type\":\"vm-assign\",\"vm\":\"v$i\",\"node\":\"$NPK\"}"; done; } > many.jsonl
"$T" append P --key admin.key many.jsonl >/dev/null
export PPN_LEDGER_PROGRESS_DELAY_MS=0  # shown from the start (else after 1 s)
script -qec "$T verify P" /dev/null > tty.out
tr '\r' '\n' < tty.out | grep -q "P: signatures [0-9]*/6002" || fail "no progress on a terminal: $(tr '\r' '\n' < tty.out | head -5)"
grep -q "6002 entries verified" tty.out || fail "verify on a terminal"
"$T" verify P > out 2> err
[ ! -s err ] || fail "progress written when not on a terminal: $(cat err)"
PPN_LEDGER_PROGRESS_DELAY_MS=60000 script -qec "$T verify P" /dev/null > tty.out
! grep -q "signatures" tty.out || fail "progress of a quick run shown"
script -qec "$T import P0 P" /dev/null > tty.out
tr '\r' '\n' < tty.out | grep -q "P: appending [0-9]*/6001" || fail "no import progress: $(tr '\r' '\n' < tty.out | head -5)"
grep -q "imported 6001 entries" tty.out || fail "import on a terminal"
# --json for scripts: results on stdout, failures as JSON on stderr
jq_() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
"$T" verify P --json | jq_ 'd["verified"] and d["entries"] == 6002 and len(d["root"]) == 64' | grep -q True || fail "verify --json"
"$T" checkpoint L --json | jq_ 'd["size"] == 4 and d["origin"] and d["note"].startswith(d["origin"])' | grep -q True || fail "checkpoint --json"
"$T" show L --view members --json | jq_ 'all(m["hostname"] and m["mesh"] and len(m["identity"]) == 44 for m in d) and len(d) >= 1' | grep -q True || fail "show --view members --json"
"$T" show L --view grants --json | jq_ 'any(g["capability"] == "admin" for g in d)' | grep -q True || fail "show --view grants --json"
"$T" show L --view members | grep -q "node-b" || fail "show --view members"
if "$T" verify /nonexistent --json 2>err >out; then fail "verify of nothing"; fi
jq_ '"error" in d and d["tool"] == "ppn-ledger"' <err | grep -q True || fail "error not JSON under --json: $(cat err)"
if "$T" show L --view nope 2>err; then fail "--view nope accepted"; fi
"$T" import L2 L --json 2>err | jq_ 'd["imported"] >= 0 and d["source"] == "L"' | grep -q True || fail "import --json: $(cat err)"
rc=0; "$T" import L2 F --json 2>err >/dev/null || rc=$?
[ "$rc" = 2 ] && jq_ 'd["error"] == "fork" and d["fork_size"] >= 1 and len(d["our_root"]) == 64' <err | grep -q True ||
  fail "fork under --json: exit $rc, $(cat err)"
# corruption is refused with index and offset
printf '\xff' | dd of=L/entries bs=1 seek=300 conv=notrunc status=none
if "$T" verify L 2>err; then fail "corruption not detected"; fi
grep -q "at entry 1, byte offset" err || fail "corruption not located: $(cat err)"
# usage errors
if "$T" prove 2>/dev/null; then fail "prove without args"; fi
"$T" init --help | grep -q Usage || fail help
# numeric options and operands: abc, -1, one past the maximum; one line + usage, exit 1
for v in abc -1 257; do
  rc=0; "$T" verify P --threads "$v" >out 2>err || rc=$?
  [ "$rc" = 1 ] && [ "$(wc -l <err)" = 2 ] && grep -q -- "--threads" err && grep -q "^Usage: ppn-ledger verify" err ||
    fail "verify --threads $v: exit $rc, $(cat err)"
done
numopt() { # NAME USAGE-COMMAND command...: exit 1, one line naming NAME, the usage line, no output
  local name=$1 cmd=$2; shift 2
  rc=0; "$@" >out 2>err || rc=$?
  [ "$rc" = 1 ] && [ "$(wc -l <err)" = 2 ] && head -1 err | grep -q -- "$name" &&
    grep -q "^Usage: ppn-ledger $cmd" err && [ ! -s out ] || fail "$*: exit $rc, $(cat err out)"
}
# indices and tree sizes: 0 .. 2^63-1
for v in abc -1 9223372036854775808; do
  numopt INDEX show "$T" show P "$v"
  numopt INDEX prove "$T" prove P "$v"
  numopt SIZE prove "$T" prove P 1 "$v"
  numopt OLD consistency "$T" consistency P "$v"
  numopt NEW consistency "$T" consistency P 1 "$v"
done
"$T" show P 9223372036854775807 2>err && fail "show of an index past the end"
grep -q "Failed to show entry '9223372036854775807'" err || fail "show INDEX at the maximum: $(cat err)"
# the environment: PPN_LEDGER_PROGRESS_DELAY_MS 0..3600000 ms, checked before any command runs
for v in abc -1 3600001; do
  numopt PPN_LEDGER_PROGRESS_DELAY_MS "<command>" env PPN_LEDGER_PROGRESS_DELAY_MS="$v" "$T" init E --origin o.example --mesh 10.8.0.0/24 --key admin.key
  [ ! -e E ] || fail "init with PPN_LEDGER_PROGRESS_DELAY_MS=$v created E"
done
PPN_LEDGER_PROGRESS_DELAY_MS=3600000 "$T" verify P >/dev/null || fail "PPN_LEDGER_PROGRESS_DELAY_MS at its maximum"
# stray positional arguments are refused, naming the first, before anything happens
numopt "unexpected argument '10.9.0.0/24'" init "$T" init E --origin o.example --mesh 10.8.0.0/24 --key admin.key 10.9.0.0/24
[ ! -e E ] || fail "init with a stray argument created E"
size_before=$(stat -c %s P/entries)
numopt "unexpected argument 'extra'" append "$T" append P --key admin.key many.jsonl extra
numopt "unexpected argument 'extra'" append "$T" append P --signed e1.cbor extra
[ "$(stat -c %s P/entries)" = "$size_before" ] || fail "append with a stray argument wrote"
numopt "unexpected argument '9'" prove "$T" prove P 1 2 9
numopt "unexpected argument 'x'" show "$T" show P 1 x
numopt "unexpected argument 'x'" verify "$T" verify P x
numopt "unexpected argument 'x'" checkpoint "$T" checkpoint P x
numopt "unexpected argument 'x'" export "$T" export P x
numopt "unexpected argument 'x'" import "$T" import P P0 x
numopt "unexpected argument 'x'" pubkey "$T" pubkey admin.key x
# key files: one policy (tools/tool-util.h): group or others with any access, or another
# owner, is refused with one line naming the file and its mode, and nothing is written
cp admin.key open.key; chmod 644 open.key
"$T" init KL --origin o.example --mesh 10.8.0.0/24 --key admin.key >/dev/null || fail "init KL"
size_before=$(stat -c %s KL/entries)
kf_refused() { # what, then the command
    local what=$1; shift
    rc=0; "$@" >out 2>err || rc=$?
    [ "$rc" = 1 ] && [ "$(wc -l <err)" = 1 ] &&
      grep -q "^ppn-ledger: Refusing key file 'open.key': mode 0644 lets others read it; chmod 600 it$" err ||
      fail "$what with a 0644 key: exit $rc, $(cat err)"
}
kf_refused pubkey "$T" pubkey open.key
kf_refused init "$T" init K --origin o.example --mesh 10.8.0.0/24 --key open.key
[ ! -e K ] || fail "init with a 0644 key created K"
echo "{\"type\":\"vm-assign\",\"vm\":\"kf\",\"node\":\"$NPK\"}" > kf.jsonl
kf_refused append "$T" append KL --key open.key kf.jsonl
kf_refused checkpoint "$T" checkpoint KL --key open.key
[ "$(stat -c %s KL/entries)" = "$size_before" ] && [ ! -e KL/checkpoint ] ||
  fail "something was written with a 0644 key"
chmod 604 open.key; rc=0; "$T" pubkey open.key 2>err || rc=$?
[ "$rc" = 1 ] && grep -q "mode 0604 lets others read it" err || fail "0604: $(cat err)"
chmod 620 open.key; rc=0; "$T" pubkey open.key 2>err || rc=$?
[ "$rc" = 1 ] && grep -q "mode 0620 lets others write it" err || fail "0620: $(cat err)"
chmod 600 open.key
[ "$("$T" pubkey open.key 2>err)" = "$APK" ] && [ ! -s err ] || fail "0600 key refused or warned: $(cat err)"
echo "ppn-ledger tool test passed"
