#!/usr/bin/env bash
# Runs inside the guest with systemd as PID 1 (run-in-guest.sh --systemd):
# three nodes n1..n3, each agent a systemd service instance ppn-vm-host@nI
# (a template made here from this build's ppn-vm-host.service: per-instance
# state, configuration, epoch file and runtime directory) in its own network
# namespace (NetworkNamespacePath=, a veth to this one, its "mesh" address
# 10.79.0.I+1 routed over it as WireGuard would), heartbeats to one
# ppn-vm-fleet unit on 10.79.0.1 with the default 30 s of silence:
#   `ppn-vm fleet` shows three nodes alive;
#   an operator requests a VM-MediaKit through the controller and confirms
#   on stdin; the chosen node's agent writes its unit, systemd starts it;
#   that node's agent stopped -> the node is evicted after 30 s (the real
#   default), the VM's unit stays active, the other two stay alive;
#   the agent started again -> the node is alive, the VM reported again;
#   the guest booted (nested TCG) and printed the hostname its NoCloud seed
#   gave it, its forward 19096 -> 9096 answers (a listener in the tiny guest); memory pressure in the slice the agents and the VM's unit share
#   (cgroup v2, MemoryMax=) -> the agent reclaims through the balloon and
#   gives the memory back when the pressure ends.
#   fleet-in-guest.sh BUILDDIR MEM_HOG
set -u
B=$(realpath "$1"); HOG=$(realpath "$2")
# The services see neither /tmp (PrivateTmp=yes) nor /root and /home (ProtectHome=yes): the
# build tree (CI's fresh clone may be under /tmp) is bind-mounted where they can see it, and the
# installed units name it there (the binaries find their libraries through $ORIGIN).
UB=/opt/ppn-build
mkdir -p $UB && mount --bind "$B" $UB || { echo "not ok - bind-mount the build tree at $UB"; exit 1; }
LIMIT=1000; MARGIN=128   # the slice's MemoryMax= and the agent's margin under pressure (MiB)
HYST=256                 # the pool gives back only above margin + 256 MiB (tools/glue/pool.c)
L=$B/tools/ppn-ledger/ppn-ledger; V=$B/tools/ppn-vm/ppn-vm
fails=0
ok() { echo "ok - $*"; }
bad() { echo "not ok - $*"; fails=$((fails + 1)); }
t0=$(date +%s%N)
ms() { echo $(( ($(date +%s%N) - t0) / 1000000 )); }
waitfor() { # SECONDS COMMAND...: a deadline in seconds, however long each try takes
  local end=$(( SECONDS + $1 )); shift
  while :; do "$@" >/dev/null 2>&1 && return 0; [ $SECONDS -lt $end ] || return 1; sleep 0.1; done
}
logs() { journalctl -u "$1" --no-pager -o cat 2>/dev/null | tail -n 15 | sed 's/^/    /'; }
nodes=(n1 n2 n3)

# ---- the ledger: three members n1..n3 (mesh 10.79.0.2..4) and an operator holding vm.create
W=$(mktemp -d /root/fleet-test.XXXXXX)
umask 077
mkdir -p /var/lib/ppn/node && chmod 700 /var/lib/ppn
for k in admin op "${nodes[@]}"; do head -c 32 /dev/urandom | base64 > "$W/$k.key"; done
WG=$(head -c 32 /dev/urandom | base64)
"$L" init "$W/L" --origin fleet.test/ledger --mesh 10.79.0.0/24 --key "$W/admin.key" >/dev/null || { echo "not ok - ledger init"; exit 1; }
{ i=2; for n in "${nodes[@]}"; do
    echo "{\"type\":\"node-join\",\"subject\":\"$("$L" pubkey "$W/$n.key")\",\"wg_key\":\"$WG\",\"mesh\":\"10.79.0.$i/24\",\"endpoint\":\"\",\"hostname\":\"$n\"}"
    i=$((i + 1)); done
  echo "{\"type\":\"cap-grant\",\"subject\":\"$("$L" pubkey "$W/op.key")\",\"capability\":\"vm.create\",\"scope\":\"\"}"
} > "$W/entries.jsonl"
"$L" append "$W/L" --key "$W/admin.key" "$W/entries.jsonl" >/dev/null || { echo "not ok - ledger append"; exit 1; }
cp -a "$W/L" /var/lib/ppn/node/ledger
for n in "${nodes[@]}"; do
  mkdir -p /var/lib/ppn/$n && cp -a "$W/L" /var/lib/ppn/$n/ledger && cp "$W/$n.key" /var/lib/ppn/$n/identity.key
done

# ---- the network: the controller's 10.79.0.1 on lo here, each node in a namespace
ip link set lo up; ip addr add 10.79.0.1/32 dev lo
i=1
for n in "${nodes[@]}"; do
  ip netns add $n && ip link add v$n type veth peer name v$n-in netns $n &&
    ip addr add 10.78.$i.1/24 dev v$n && ip link set v$n up &&
    ip -n $n link set lo up && ip -n $n addr add 10.78.$i.2/24 dev v$n-in && ip -n $n link set v$n-in up &&
    ip -n $n addr add 10.79.0.$((i + 1))/32 dev v$n-in && ip -n $n route add 10.79.0.1/32 via 10.78.$i.1 &&
    ip route add 10.79.0.$((i + 1))/32 via 10.78.$i.2 || bad "namespace $n"
  i=$((i + 1))
done

# ---- the units: the controller, and the agent as a template (one instance per node)
asan=0
ldd "$V" 2>/dev/null | grep -q libasan && asan=1
U=/etc/systemd/system
sed "s|$B/|$UB/|g" "$B/units/test-ppn-vm-fleet.service" > $U/ppn-vm-fleet.service || bad "install ppn-vm-fleet"
sed -e "s|$B/|$UB/|g" -e 's|PPN_STATE=/var/lib/ppn/node PPN_VM_STATE_DIR=/var/lib/ppn/vms|PPN_STATE=/var/lib/ppn/%i PPN_VM_STATE_DIR=/var/lib/ppn/vms-%i|' \
    -e 's|/etc/ppn/vm-host.conf|/etc/ppn/vm-host-%i.conf|g' \
    -e 's|/var/lib/ppn/fleet/agent.epoch|/var/lib/ppn/fleet/agent-%i.epoch|' \
    -e 's|^RuntimeDirectory=ppn/agent$|RuntimeDirectory=ppn/agent-%i|' \
    "$B/units/test-ppn-vm-host.service" > $U/ppn-vm-host@.service || bad "make the template"
for f in 'PPN_STATE=/var/lib/ppn/%i ' vm-host-%i.conf agent-%i.epoch 'RuntimeDirectory=ppn/agent-%i'; do
  grep -qF -- "$f" $U/ppn-vm-host@.service || bad "template: '$f' not substituted (the unit changed?)"
done
for u in ppn-vm-fleet ppn-vm-host@; do
  mkdir -p $U/$u.service.d
  printf '[Service]\nTimeoutStartSec=30\n' > $U/$u.service.d/test.conf
  [ $asan = 1 ] && printf '[Service]\nEnvironment=ASAN_OPTIONS=detect_leaks=0:disable_coredump=0\n' > $U/$u.service.d/asan.conf
done
printf '[Service]\nNetworkNamespacePath=/run/netns/%%i\n' > $U/ppn-vm-host@.service.d/netns.conf
# the pool: the agents and the VM's unit (written later by the agent) in one memory-limited slice
printf '[Slice]\nMemoryMax=%dM\n' $LIMIT > $U/ppn-pool.slice
mkdir -p $U/ppn-vm-media-1.service.d
for d in ppn-vm-host@ ppn-vm-media-1; do printf '[Service]\nSlice=ppn-pool.slice\n' > $U/$d.service.d/slice.conf; done
mkdir -p /etc/ppn
# the defaults: 30 s of silence; heartbeats on the mesh address (10.79.0.1)
printf 'PPN_VM_CONTROLLER_OPTS="--grace-ms 0 --margin-mib 64"\n' > /etc/ppn/vm-fleet.conf
for n in "${nodes[@]}"; do
  printf 'PPN_VM_CONTROLLER=10.79.0.1\nPPN_VM_AGENT_OPTS="--interval-ms 1000 --accel tcg --pool-margin-mib 0"\n' > /etc/ppn/vm-host-$n.conf
done
systemctl daemon-reload || bad "daemon-reload"
s=$(ms)
systemctl start ppn-vm-fleet && ok "ppn-vm-fleet started ($(( $(ms) - s )) ms)" || { bad "ppn-vm-fleet start"; logs ppn-vm-fleet; }
journalctl -u ppn-vm-fleet --no-pager -o cat | grep -q 'heartbeats on 10.79.0.1:51900' ||
  { bad "controller not on its mesh address"; logs ppn-vm-fleet; }
s=$(ms)
for n in "${nodes[@]}"; do
  systemctl start ppn-vm-host@$n || { bad "ppn-vm-host@$n start"; logs ppn-vm-host@$n; }
done
echo "# $(ms) ms: three agents started ($(( $(ms) - s )) ms)"
for n in "${nodes[@]}"; do
  p=$(systemctl show -P MainPID ppn-vm-host@$n)
  [ "$(readlink /proc/$p/ns/net)" = "$(ip netns exec $n readlink /proc/self/ns/net)" ] &&
    ok "ppn-vm-host@$n (pid $p) runs in network namespace $n" || bad "ppn-vm-host@$n not in namespace $n"
done
alive_count() { "$V" fleet --json 2>/dev/null | grep -c '"state": "alive"'; }
three() { [ "$(alive_count)" = 3 ]; }
if waitfor 20 three; then ok "three nodes alive at the controller: $("$V" fleet | awk '$1 ~ /^n[123]$/ {printf "%s %s; ", $1, $0 ~ / alive / ? "alive" : "?"}')"
else bad "not three alive nodes: $("$V" fleet 2>&1)"; for n in "${nodes[@]}"; do logs ppn-vm-host@$n; done; logs ppn-vm-fleet; fi
"$V" fleet --json > "$W/fleet.json" 2>&1
for i in 2 3 4; do grep -q "\"source\": \"10.79.0.$i:51901\"" "$W/fleet.json" || bad "no heartbeats from 10.79.0.$i:51901"; done

[ $fails = 0 ] || { echo "fleet under systemd: $fails failure(s), stopped after the starts"; exit $fails; }

echo "# $(ms) ms: a VM-MediaKit requested"
# ---- an operator's request, confirmed on stdin (images under /var/lib/ppn: ProtectHome=yes)
G=/var/lib/ppn/images
mkdir -p $G && cp "$B/units/guest/vmlinuz" "$B/units/guest/initrd.gz" $G/ || bad "images"
s=$(ms)
echo y | "$V" request media-1 --type mediakit --memory 256 --vcpus 1 --kernel $G/vmlinuz --initrd $G/initrd.gz \
    --append "console=ttyS0 panic=-1 loglevel=3 ppn.touch=150" --no-default-forwards --forward 19096:9096 \
    --hostname vm-mediakit --user foundry --key "$W/op.key" --wait 60 > "$W/req.out" 2>&1 ||
  { bad "request: $(cat "$W/req.out")"; for n in "${nodes[@]}"; do logs ppn-vm-host@$n; done; }
grep -q "^Create VM-MediaKit 'media-1' (256 MiB, 1 vCPUs, 1 forwards) on node 'n[123]'?" "$W/req.out" &&
  ok "the operator was asked: $(grep -o "^Create VM-MediaKit.*?" "$W/req.out")" || bad "confirmation question: $(cat "$W/req.out")"
N=$(sed -n "s/^'media-1' runs on node '\(n[123]\)'$/\1/p" "$W/req.out")
if [ -n "$N" ]; then ok "confirmed: media-1 runs on node $N ($(( $(ms) - s )) ms; $(grep '^request to running' "$W/req.out"))"
else bad "no node in the answer: $(cat "$W/req.out")"; echo "fleet under systemd: $fails failure(s)"; exit $fails; fi
vmunit=$(cd $U && ls | grep -m1 'media-1.*\.service$' || true)
[ -n "$vmunit" ] && [ "$(systemctl is-active "$vmunit")" = active ] &&
  ok "the agent of $N installed and started the VM's unit $vmunit" || { bad "VM unit '$vmunit': $(systemctl is-active "$vmunit" 2>&1)"; logs ppn-vm-host@$N; }
grep -q '"node": *"'$N'"' /var/lib/ppn/vms-$N/media-1/spec.json 2>/dev/null &&
  grep -q '"hostname": *"vm-mediakit"' /var/lib/ppn/vms-$N/media-1/spec.json &&
  ok "its specification in $N's state directory: pinned to $N, hostname vm-mediakit" ||
  bad "spec: $(cat /var/lib/ppn/vms-$N/media-1/spec.json 2>&1)"
tr '\0' ' ' < "/proc/$(systemctl show -P MainPID "$vmunit")/cmdline" 2>/dev/null | grep -q '19096-:9096' &&
  ok "its forward 19096 -> 9096 is on QEMU's command line" || bad "forward not on QEMU's command line"
running() { "$V" fleet 2>/dev/null | grep -q '^  vm media-1 .* running '; }
waitfor 10 running && ok "ppn-vm fleet shows media-1 running" || bad "fleet: $("$V" fleet 2>&1)"
# its nested-TCG boot (about 160 s to its first line) would take the test's CPU: the least weight
systemctl set-property --runtime "$vmunit" CPUWeight=1 2>/dev/null

echo "# $(ms) ms: the agent of $N stopped"
# ---- the real 30 s: stop the agent; the node evicted after 30 s of silence, the VM stays
s=$(ms)
systemctl stop ppn-vm-host@$N
evicted() { "$V" fleet 2>/dev/null | grep -q "^$N .* evicted "; }
for _ in $(seq 250); do evicted && break; sleep 0.2; done
e=$(( $(ms) - s ))
if evicted; then
  # heartbeats every second: the last one reached the controller at most ~1 s before the stop
  [ $e -ge 29000 ] && [ $e -le 45000 ] && ok "node $N evicted $e ms after its agent stopped (30 s of silence, the default)" ||
    bad "node $N evicted after $e ms (want 29000..45000)"
else bad "node $N not evicted after $e ms: $("$V" fleet 2>&1)"; fi
# the controller's own account: silent for more than 30 s (and not much more)
sil=$(journalctl -u ppn-vm-fleet --no-pager -o cat | sed -n "s/.*evicted node '$N': silent for \([0-9]*\) ms.*/\1/p" | tail -1)
[ -n "$sil" ] && [ "$sil" -gt 30000 ] && [ "$sil" -le 32000 ] && ok "the controller: 'evicted node $N: silent for $sil ms'" ||
  { bad "the controller's eviction line: silent for '${sil:-?}' ms (want 30001..32000)"; logs ppn-vm-fleet; }
[ "$(systemctl is-active "$vmunit")" = active ] && ok "the VM's unit $vmunit is still active" || bad "VM unit $(systemctl is-active "$vmunit")"
[ "$(alive_count)" = 2 ] && ok "the two other nodes stayed alive" || bad "alive nodes: $("$V" fleet 2>&1)"
s=$(ms)
# it comes back with a margin for the pool's part below
printf 'PPN_VM_CONTROLLER=10.79.0.1\nPPN_VM_AGENT_OPTS="--interval-ms 1000 --accel tcg --pool-margin-mib %d"\n' $MARGIN > /etc/ppn/vm-host-$N.conf
systemctl start ppn-vm-host@$N || bad "restart ppn-vm-host@$N"
reported() { "$V" fleet 2>/dev/null | grep -q "^$N .* alive " && running; }
waitfor 20 reported && ok "the agent back: $N alive, media-1 reported running again ($(( $(ms) - s )) ms)" ||
  bad "after the agent's return: $("$V" fleet 2>&1)"
[ "$(alive_count)" = 3 ] || bad "not three alive: $("$V" fleet 2>&1)"

echo "# $(ms) ms: memory pressure (cgroup v2)"
# ---- the resource pool under real memory pressure, cgroup v2 under systemd: the agents and
# the VM's unit run in ppn-pool.slice (MemoryMax=$LIMIT MiB), so an agent's "host available"
# is what the slice leaves; $N's agent came back with a margin of $MARGIN MiB.  The guest
# touched 150 MiB and freed it (the host holds pages it has free); mem-hog, a unit of its own
# in the slice, leaves less than the margin: the agent reclaims through the balloon, never
# below the floor (128 MiB), and gives the memory back when the hog ends.
con=/var/lib/ppn/vms-$N/media-1/console.log
vs=$(systemctl show -P ActiveEnterTimestampMonotonic "$vmunit")
booted() { grep -q 'ppn-guest: touched 150 MiB' $con; }
if waitfor 420 booted; then
  now=$(awk '{printf "%d", $1 * 1000000}' /proc/uptime)
  ok "the VM booted under nested TCG: 'ppn-guest: touched 150 MiB' by $(( (now - vs) / 1000 )) ms after its unit started"
else bad "the VM did not boot: $(tail -5 $con 2>&1)"; fi
grep -q 'ppn-guest: cidata .* hostname=vm-mediakit user=foundry' $con &&
  ok "its NoCloud seed gave it its hostname: $(grep -o 'ppn-guest: cidata .*' $con | head -1)" ||
  bad "NoCloud hostname not on the console: $(grep ppn-guest $con)"
# its forward answers: 127.0.0.1:19096 here (QEMU's user network) -> the guest's listener on 9096,
# which names the hostname the seed gave it
fwd=
for _ in 1 2 3; do
  fwd=$(timeout 20 bash -c 'exec 3<>/dev/tcp/127.0.0.1/19096 && head -n 1 <&3' 2>&1)
  [ -n "$fwd" ] && break; sleep 2
done
[ "$fwd" = "ppn-guest: port 9096 on vm-mediakit" ] && ok "its forward answers: 127.0.0.1:19096 -> :9096 says '$fwd'" ||
  bad "forward 19096 -> 9096: '$fwd' ($(grep 'ppn-guest: eth0' $con))"
cg=$(systemctl show -P ControlGroup ppn-pool.slice)
[ "$(systemctl show -P ControlGroup "$vmunit")" = "$cg/$vmunit" ] &&
  [ "$(systemctl show -P ControlGroup ppn-vm-host@$N)" = "$cg/ppn-vm-host@$N.service" ] &&
  ok "the agent and the VM's unit in $cg (memory.max $(cat /sys/fs/cgroup$cg/memory.max))" ||
  bad "cgroups: agent $(systemctl show -P ControlGroup ppn-vm-host@$N), VM $(systemctl show -P ControlGroup "$vmunit")"
journalctl -u ppn-vm-host@$N --no-pager -o cat | grep -q "pool: available memory bounded by memory cgroup .*ppn-pool.slice (v2, limit $LIMIT MiB)" &&
  ok "the agent reads cgroup v2: $(journalctl -u ppn-vm-host@$N --no-pager -o cat | grep -m1 'pool: available memory bounded')" ||
  bad "the agent does not read its v2 cgroup: $(journalctl -u ppn-vm-host@$N --no-pager -o cat | grep pool | tail -3)"
balloon() { # MiB, from QEMU (retried while the agent holds the monitor)
  local out
  for _ in $(seq 20); do
    out=$("$V" qmp media-1 query-balloon --state-dir /var/lib/ppn/vms-$N 2>/dev/null) &&
      { echo "$out" | sed -n 's/.*"actual": *\([0-9]*\).*/\1/p' | awk '{print int($1 / 1048576)}'; return 0; }
    sleep 0.1
  done
}
used() { echo $(( $(cat /sys/fs/cgroup$cg/memory.current) / 1048576 )); }
b=$(balloon); FREE=$((LIMIT - $(used)))
echo "# pool: slice limit $LIMIT MiB, $FREE MiB left, margin $MARGIN MiB, balloon ${b:-?} MiB"
[ "$b" = 256 ] || bad "balloon ${b:-?} MiB before any pressure"
if [ "$FREE" -gt $((MARGIN + HYST + 16)) ]; then
  HOGMIB=$((FREE - MARGIN / 2))
  s=$(ms)
  systemd-run --quiet --unit=ppn-hog --slice=ppn-pool -p StandardOutput=file:/run/ppn-hog.out "$HOG" $HOGMIB 300 ||
    bad "mem-hog unit"
  held() { grep -q '^held' /run/ppn-hog.out; }
  waitfor 30 held || bad "mem-hog did not hold $HOGMIB MiB"
  less() { b=$(balloon); [ -n "$b" ] && [ "$b" -lt 256 ]; }
  if waitfor 60 less; then ok "under pressure (mem-hog holds $HOGMIB MiB in the slice): the agent reclaimed, balloon 256 -> $b MiB, first seen $(( $(ms) - s )) ms after the hog"
  else bad "nothing reclaimed under pressure: balloon ${b:-?}; $(journalctl -u ppn-vm-host@$N --no-pager -o cat | grep pool | tail -5)"; fi
  sleep 5
  b=$(balloon)
  journalctl -u ppn-vm-host@$N --no-pager -o cat | grep "pool: reclaim from VM 'media-1'" > "$W/reclaim.txt"
  sed 's/^/#   /' "$W/reclaim.txt"
  [ "${b:-0}" -ge 128 ] && [ "$b" -lt 256 ] && [ -s "$W/reclaim.txt" ] &&
    ok "after 5 s more: balloon $b MiB (floor 128), $(wc -l < "$W/reclaim.txt") reclaim step(s) logged, $(( LIMIT - $(used) )) MiB left in the slice" ||
    bad "balloon ${b:-?} MiB after the pressure; $(cat "$W/reclaim.txt")"
  sed -n 's/.*balloon \([0-9]*\) -> \([0-9]*\) MiB.*/\1 \2/p' "$W/reclaim.txt" | while read -r f t; do
    [ "$t" -lt "$f" ] && [ $((f - t)) -le 128 ] && [ "$t" -ge 128 ] || echo "step $f -> $t"; done > "$W/badsteps"
  [ -s "$W/badsteps" ] && bad "reclaim steps: $(cat "$W/badsteps")"
  s=$(ms)
  systemctl stop ppn-hog
  full() { [ "$(balloon)" = 256 ]; }
  if waitfor 90 full; then ok "the hog ended: the agent gave the memory back, balloon 256 MiB after $(( $(ms) - s )) ms"
  else bad "not given back: balloon $(balloon) MiB; $(journalctl -u ppn-vm-host@$N --no-pager -o cat | grep pool | tail -5)"; fi
  journalctl -u ppn-vm-host@$N --no-pager -o cat | grep -q "pool: give back to VM 'media-1' balloon [0-9]* -> 256 MiB" ||
    bad "give-back not logged"
else bad "no room for the pressure: $FREE MiB left in the slice (margin $MARGIN MiB + $HYST MiB for the give-back)"; fi

# ---- the end: the VM (still booting, it would not heed the power button) and the services
systemctl kill --signal=SIGKILL "$vmunit" 2>/dev/null; systemctl stop "$vmunit" 2>/dev/null
for n in "${nodes[@]}"; do
  systemctl stop ppn-vm-host@$n
  [ "$(systemctl show -P Result ppn-vm-host@$n)" = success ] || bad "ppn-vm-host@$n: result $(systemctl show -P Result ppn-vm-host@$n)"
done
systemctl stop ppn-vm-fleet
echo "# fleet test in the guest: $(ms) ms"
[ $fails = 0 ] && echo "fleet under systemd: OK" || echo "fleet under systemd: $fails failure(s)"
exit $fails
