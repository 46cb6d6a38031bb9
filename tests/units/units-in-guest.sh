#!/usr/bin/env bash
# Runs inside the guest with systemd as PID 1 (run-in-guest.sh --systemd):
# the project's units (this build's copies, units/test-*.service) installed
# in /etc/systemd/system with their configuration in /etc/ppn, then under
# the real systemd:
#   ppn-mesh      starts (READY only after its first pull round), brings up
#                 WireGuard from the ledger (ppn0, the mesh address, the
#                 peer), answers a sync from another node;
#   ppn-vm-fleet  starts, answers `ppn-vm fleet` on /run/ppn/fleet.sock;
#   ppn-vm-host   starts (READY after its first heartbeat), its node is
#                 alive at the controller;
# hardening in /proc/PID/status (NoNewPrivs, CapBnd/CapEff, Seccomp); each
# killed with SIGKILL comes back (Restart=on-failure) with a new PID; stop
# is clean (inactive, not failed); restart gives a new PID.
#   units-in-guest.sh BUILDDIR
set -u
B=$(realpath "$1")
# The services see neither /tmp (PrivateTmp=yes) nor /root and /home (ProtectHome=yes), so a
# build tree there (CI's fresh clone may be under /tmp) is bind-mounted where they can see it
# and the installed units name it there.  The binaries find their libraries relative to
# themselves ($ORIGIN), so they run from either path.
UB=/opt/ppn-build
mkdir -p $UB && mount --bind "$B" $UB || { echo "not ok - bind-mount the build tree at $UB"; exit 1; }
P=$B/tools/ppn-pair/ppn-pair; L=$B/tools/ppn-ledger/ppn-ledger; V=$B/tools/ppn-vm/ppn-vm
fails=0
ok() { echo "ok - $*"; }
bad() { echo "not ok - $*"; fails=$((fails + 1)); }
t0=$(date +%s%N)
ms() { echo $(( ($(date +%s%N) - t0) / 1000000 )); }
waitfor() { # SECONDS COMMAND...
  local t=$(( $1 * 10 )); shift
  for _ in $(seq "$t"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}
logs() { journalctl -u "$1" --no-pager -o cat 2>/dev/null | tail -n 15 | sed 's/^/    /'; }
units=(ppn-mesh ppn-vm-fleet ppn-vm-host)   # long-running; ppn-pairing runs once

# ---- the node: A (this guest), B a second member whose replica is older
S=/var/lib/ppn/node
mkdir -p /var/lib/ppn && chmod 700 /var/lib/ppn
W=$(mktemp -d /root/units-test.XXXXXX)
umask 077
"$P" keys --state $S >/dev/null && "$P" keys --state "$W/B" >/dev/null || { echo "not ok - keys"; exit 1; }
"$P" genesis --state $S --origin units.test/ledger --hostname node-a >/dev/null || { echo "not ok - genesis"; exit 1; }
BWG=$("$P" status --state "$W/B" | awk '/^wireguard/ {print $2}')
echo "{\"type\":\"node-join\",\"subject\":\"$("$L" pubkey "$W/B/identity.key")\",\"wg_key\":\"$BWG\",\"mesh\":\"10.8.0.2/24\",\"endpoint\":\"\",\"hostname\":\"node-b\"}" |
  "$L" append $S/ledger --key $S/identity.key - >/dev/null && "$L" checkpoint $S/ledger --key $S/identity.key >/dev/null ||
  { echo "not ok - ledger setup"; exit 1; }
cp -a $S/ledger "$W/B/ledger"; rm -f "$W/B/ledger/lock"

# ---- the units and their configuration
asan=0
ldd "$P" 2>/dev/null | grep -q libasan && asan=1
for u in "${units[@]}" ppn-pairing; do
  sed "s|$B/|$UB/|g" "$B/units/test-$u.service" > "/etc/systemd/system/$u.service" || bad "install $u"
  mkdir -p "/etc/systemd/system/$u.service.d"
  # a start that never becomes ready fails in 30 s, not 90
  printf '[Service]\nTimeoutStartSec=30\n' > "/etc/systemd/system/$u.service.d/test.conf"
  # LeakSanitizer stops the world with ptrace, which the filter refuses
  [ $asan = 1 ] && printf '[Service]\nEnvironment=ASAN_OPTIONS=detect_leaks=0:disable_coredump=0\n' \
    > "/etc/systemd/system/$u.service.d/asan.conf"
done
mkdir -p /etc/ppn
printf 'PPN_MESH_LISTEN=10.8.0.1:7411\nPPN_MESH_PULL=2\n' > /etc/ppn/mesh.conf
printf '# defaults: heartbeats on the mesh address, /run/ppn/fleet.sock\nPPN_VM_CONTROLLER_OPTS="--grace-ms 0 --silence-ms 4000 --margin-mib 64"\n' > /etc/ppn/vm-fleet.conf
printf 'PPN_VM_CONTROLLER=10.8.0.1\nPPN_VM_AGENT_OPTS="--interval-ms 1000 --accel tcg --pool-margin-mib 0"\n' > /etc/ppn/vm-host.conf
systemctl daemon-reload || bad "daemon-reload"
for u in "${units[@]}"; do
  [ "$(systemctl show -P LoadState "$u")" = loaded ] || bad "$u does not load: $(systemctl status "$u" 2>&1 | head -3)"
done

pid_of() { systemctl show -P MainPID "$1"; }
status_field() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
hardened() { # UNIT CAPBND
  local pid; pid=$(pid_of "$1")
  [ "${pid:-0}" != 0 ] || { bad "$1: no main PID"; return; }
  local nnp bnd eff sec
  nnp=$(status_field "$pid" NoNewPrivs); bnd=$(status_field "$pid" CapBnd)
  eff=$(status_field "$pid" CapEff); sec=$(status_field "$pid" Seccomp)
  if [ "$nnp" = 1 ] && [ "$bnd" = "$2" ] && [ "$eff" = "$2" ] && [ "$sec" = 2 ]; then
    ok "$1 (pid $pid): NoNewPrivs 1, CapBnd = CapEff = $2, Seccomp filter"
  else
    bad "$1 (pid $pid): NoNewPrivs $nnp CapBnd $bnd CapEff $eff Seccomp $sec (want 1, $2, $2, 2)"
  fi
  # ProtectSystem=strict: /usr read-only in its mount namespace, its state directory writable
  if nsenter -t "$pid" -m sh -c '! touch /usr/.ppn-w 2>/dev/null && touch /var/lib/ppn/.ppn-w && rm /var/lib/ppn/.ppn-w'; then
    ok "$1: /usr read-only, /var/lib/ppn writable in its namespace"
  else bad "$1: ProtectSystem/StateDirectory not in effect"; fi
}

echo "# $(ms) ms: ppn-pairing"
# ---- ppn-pairing: node C (its own network namespace, a veth to this one) joins
C=/var/lib/ppn/c
"$P" keys --state $C >/dev/null || bad "keys for C"
ip netns add nodec && ip link add ppnv0 type veth peer name ppnv1 && ip link set ppnv1 netns nodec &&
  ip addr add 192.168.77.1/24 dev ppnv0 && ip link set ppnv0 up && ip -n nodec addr add 192.168.77.2/24 dev ppnv1 &&
  ip -n nodec link set ppnv1 up && ip -n nodec link set lo up || bad "namespace for node C"
printf 'PPN_STATE=%s\nPPN_PAIRING_LISTEN=192.168.77.2:7412\nPPN_MESH_IFNAME=ppnc\nPPN_PAIRING_OPTS="--yes --hostname node-c --endpoint 192.168.77.2:51820"\n' $C > /etc/ppn/pairing.conf
# the test reads the code from a file instead of the console (and confirms with --yes)
printf '[Service]\nStandardInput=null\nStandardOutput=file:/run/ppn-pairing.out\nNetworkNamespacePath=/run/netns/nodec\n' \
  > /etc/systemd/system/ppn-pairing.service.d/test-console.conf
systemctl daemon-reload
s=$(ms)
if systemctl start ppn-pairing; then ok "ppn-pairing started (ready after $(( $(ms) - s )) ms: the code is shown)"
else bad "ppn-pairing start"; logs ppn-pairing; fi
hardened ppn-pairing 0000000000001000
code=$(awk '$1 == "code" {print $2}' /run/ppn-pairing.out 2>/dev/null)
[ -n "$code" ] || bad "no code shown: $(cat /run/ppn-pairing.out 2>&1)"
echo "$code" | "$P" admit --state $S --connect 192.168.77.2:7412 --yes >"$W/admit.out" 2>&1 || { bad "admit: $(cat "$W/admit.out")"; logs ppn-pairing; }
inactive() { [ "$(systemctl is-active "$1")" = inactive ]; }
waitfor 20 inactive ppn-pairing
res=$(systemctl show -P Result ppn-pairing)
if inactive ppn-pairing && [ "$res" = success ] && [ -d $C/ledger ] && "$P" status --state $C 2>/dev/null | grep -q node-c &&
   ip -n nodec -4 addr show ppnc 2>/dev/null | grep -q '10\.8\.0\.'; then
  ok "the ceremony completed: ppn-pairing ended (result $res), C holds the ledger and its WireGuard interface ppnc"
else bad "after the ceremony: $(systemctl is-active ppn-pairing), result $res"; cat /run/ppn-pairing.out; logs ppn-pairing; fi

echo "# $(ms) ms: ppn-mesh"
# ---- ppn-mesh
s=$(ms)
if systemctl start ppn-mesh; then
  ok "ppn-mesh started (ready after $(( $(ms) - s )) ms: listening and the first pull round done)"
else bad "ppn-mesh start"; logs ppn-mesh; fi
[ "$(systemctl is-active ppn-mesh)" = active ] && ok "ppn-mesh is active" || bad "ppn-mesh is $(systemctl is-active ppn-mesh)"
journalctl -u ppn-mesh --no-pager -o cat | grep -q '^serving' || bad "ppn-mesh: no 'serving' line in the journal"
ip -4 addr show ppn0 2>/dev/null | grep -q '10.8.0.1/24' && wg show ppn0 peers 2>/dev/null | grep -q "$BWG" &&
  ok "WireGuard follows the ledger: ppn0 has 10.8.0.1/24 and node-b as peer (CAP_NET_ADMIN)" ||
  { bad "ppn0: $(ip -4 addr show ppn0 2>&1 | head -3) peers: $(wg show ppn0 peers 2>&1)"; logs ppn-mesh; }
[ -d /run/ppn/mesh ] && ok "RuntimeDirectory /run/ppn/mesh" || bad "no /run/ppn/mesh"
hardened ppn-mesh 0000000000001000
OP=$(head -c 32 /dev/urandom | base64 > "$W/op.key"; "$L" pubkey "$W/op.key")
appended=0
for _ in $(seq 50); do
  echo "{\"type\":\"cap-grant\",\"subject\":\"$OP\",\"capability\":\"vm.create\",\"scope\":\"\"}" |
    "$L" append $S/ledger --key $S/identity.key - >/dev/null 2>&1 && "$L" checkpoint $S/ledger --key $S/identity.key >/dev/null 2>&1 &&
    { appended=1; break; }
  sleep 0.1  # the service's pull round holds the ledger for a moment
done
[ $appended = 1 ] || bad "append at A"
if out=$("$P" sync --state "$W/B" --from 10.8.0.1:7411 --timeout 10 2>&1) && echo "$out" | grep -q '^synced	[1-9]'; then
  ok "ppn-mesh answers a sync: node-b pulled the new entry ($out)"
else bad "sync from ppn-mesh: $out"; logs ppn-mesh; fi

echo "# $(ms) ms: ppn-vm-fleet"
# ---- ppn-vm-fleet
s=$(ms)
systemctl start ppn-vm-fleet && ok "ppn-vm-fleet started (ready after $(( $(ms) - s )) ms)" || { bad "ppn-vm-fleet start"; logs ppn-vm-fleet; }
[ "$(systemctl is-active ppn-vm-fleet)" = active ] || bad "ppn-vm-fleet is $(systemctl is-active ppn-vm-fleet)"
"$V" fleet >"$W/fleet0.txt" 2>&1 && grep -q 'LAST HEARD' "$W/fleet0.txt" &&
  ok "ppn-vm fleet answers on the default socket /run/ppn/fleet.sock" || { bad "ppn-vm fleet: $(cat "$W/fleet0.txt")"; logs ppn-vm-fleet; }
hardened ppn-vm-fleet 0000000000000000

echo "# $(ms) ms: ppn-vm-host"
# ---- ppn-vm-host
s=$(ms)
systemctl start ppn-vm-host && ok "ppn-vm-host started (ready after $(( $(ms) - s )) ms: first heartbeat sent)" || { bad "ppn-vm-host start"; logs ppn-vm-host; }
alive() { "$V" fleet --json 2>/dev/null | grep -q '"state": "alive"'; }
if waitfor 10 alive; then ok "the agent's heartbeats reach the controller: node-a alive"
else bad "no alive node: $("$V" fleet 2>&1)"; logs ppn-vm-host; logs ppn-vm-fleet; fi
[ -d /run/ppn/agent ] && ok "RuntimeDirectory /run/ppn/agent" || bad "no /run/ppn/agent"
hardened ppn-vm-host 0000000000000000

# a service that did not start: report now rather than wait out every later step
[ $fails = 0 ] || { echo "units under systemd: $fails failure(s), stopped after the starts"; exit $fails; }
echo "# $(ms) ms: Restart=on-failure"
# ---- Restart=on-failure: SIGKILL each main PID; each comes back with a new PID
declare -A old
for u in "${units[@]}"; do old[$u]=$(pid_of "$u"); [ "${old[$u]:-0}" != 0 ] && kill -9 "${old[$u]}"; done
s=$(ms)
back() { for u in "${units[@]}"; do p=$(pid_of "$u"); [ "$(systemctl is-active "$u")" = active ] && [ "$p" != 0 ] && [ "$p" != "${old[$u]}" ] || return 1; done; }
if waitfor 40 back; then ok "all three killed with SIGKILL came back by themselves in $(( $(ms) - s )) ms (RestartSec=5)"
else for u in "${units[@]}"; do bad "$u after SIGKILL: $(systemctl is-active "$u"), pid $(pid_of "$u") (was ${old[$u]})"; done; fi
for u in "${units[@]}"; do
  [ "$(systemctl show -P NRestarts "$u")" -ge 1 ] 2>/dev/null || bad "$u: NRestarts $(systemctl show -P NRestarts "$u")"
done
waitfor 10 alive && "$V" fleet >/dev/null 2>&1 && ok "after the restarts: the controller answers, node-a alive again" ||
  bad "after the restarts: $("$V" fleet 2>&1)"

echo "# $(ms) ms: a VM through"
# ---- a VM through the controller: the agent (under its hardening) writes the VM's unit and
# systemd starts it; the agent stopped -> its node evicted, the VM stays; the agent back ->
# the VM is reported again.  (The guest's own boot under nested TCG is not waited for.)
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# (the images under /var/lib/ppn: ProtectHome=yes hides /root and /home from the agent;
# built on the host side, before the boot)
G=/var/lib/ppn/images
mkdir -p $G
if cp "$B/units/guest/vmlinuz" "$B/units/guest/initrd.gz" $G/; then
  s=$(ms)
  if "$V" request vm1 --key "$W/op.key" --memory 128 --vcpus 1 --no-network --kernel "$G/vmlinuz" \
       --initrd "$G/initrd.gz" --append "console=ttyS0 panic=-1 loglevel=3" --yes --wait 60 >"$W/req.out" 2>&1; then
    ok "ppn-vm request: $(head -1 "$W/req.out") ($(( $(ms) - s )) ms to running)"
  else bad "request: $(cat "$W/req.out")"; logs ppn-vm-host; fi
  vmunit=$(cd /etc/systemd/system && ls | grep -m1 'vm1' || true)
  [ -n "$vmunit" ] && [ "$(systemctl is-active "$vmunit")" = active ] &&
    ok "the agent installed and started the VM's unit $vmunit (systemd runs its QEMU)" ||
    { bad "VM unit '$vmunit': $(systemctl is-active "$vmunit" 2>&1)"; logs ppn-vm-host; }
  # its nested-TCG boot would take the test's CPU: the least weight (it runs on)
  [ -n "$vmunit" ] && systemctl set-property --runtime "$vmunit" CPUWeight=1 2>/dev/null
  s=$(ms)
  systemctl stop ppn-vm-host
  evicted() { "$V" fleet 2>/dev/null | grep -q '^node-a .* evicted '; }
  if waitfor 20 evicted && [ "$(systemctl is-active "$vmunit")" = active ]; then
    ok "the agent stopped: node-a evicted after $(( $(ms) - s )) ms (4 s of silence here), the VM's unit still active"
  else bad "after stopping the agent: $("$V" fleet 2>&1), VM $(systemctl is-active "$vmunit")"; fi
  s=$(ms)
  systemctl start ppn-vm-host
  reported() { "$V" fleet --json 2>/dev/null | grep -q '"name": "vm1"' && "$V" fleet 2>/dev/null | grep -q '^node-a .* alive '; }
  waitfor 20 reported && ok "the agent back: node-a alive, vm1 reported again ($(( $(ms) - s )) ms)" ||
    bad "after the agent's return: $("$V" fleet --json 2>&1 | head -30)"
  # its QEMU costs the rest of the test CPU; still booting, it would not heed the power button
  systemctl kill --signal=SIGKILL "$vmunit" 2>/dev/null; systemctl stop "$vmunit" 2>/dev/null
else bad "no test guest in $B/units/guest"; fi

echo "# $(ms) ms: stop and restart"
# ---- stop and restart
s=$(ms)
systemctl stop ppn-vm-host
st=$(systemctl is-active ppn-vm-host); res=$(systemctl show -P Result ppn-vm-host)
[ "$st" = inactive ] && [ "$res" = success ] && ok "ppn-vm-host stopped cleanly ($(( $(ms) - s )) ms, result $res)" ||
  { bad "ppn-vm-host after stop: $st, result $res"; logs ppn-vm-host; }
[ ! -d /run/ppn/agent ] && [ -S /run/ppn/fleet.sock ] && ok "its runtime directory went, the controller's socket stayed" ||
  bad "runtime directories after the stop: $(ls -la /run/ppn 2>&1)"
for u in ppn-mesh ppn-vm-fleet; do
  p=$(pid_of $u)
  systemctl restart $u && [ "$(systemctl is-active $u)" = active ] && [ "$(pid_of $u)" != "$p" ] &&
    ok "$u restarted (new pid $(pid_of $u))" || { bad "$u restart"; logs $u; }
done
"$V" fleet >/dev/null 2>&1 && ok "ppn-vm fleet answers after the controller's restart" || bad "fleet after restart"
for u in ppn-mesh ppn-vm-fleet; do
  systemctl stop $u
  [ "$(systemctl is-active $u)" = inactive ] && [ "$(systemctl show -P Result $u)" = success ] ||
    { bad "$u after stop: $(systemctl is-active $u), $(systemctl show -P Result $u)"; logs $u; }
done
ok "stopped: ppn-mesh and ppn-vm-fleet inactive, result success"
[ -n "${PPN_UNITS_SECURITY:-}" ] && for u in "${units[@]}"; do
  echo "# systemd-analyze security $u: $(systemd-analyze security --no-pager "$u" 2>/dev/null | sed -n 's/.*Overall exposure level for .*: //p')"
done
echo "# units test in the guest: $(ms) ms"
[ $fails = 0 ] && echo "units under systemd: OK" || echo "units under systemd: $fails failure(s)"
exit $fails
