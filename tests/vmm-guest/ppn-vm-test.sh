#!/usr/bin/env bash
# ppn-vm guest commands end to end against a real QEMU (TCG) guest from
# build-guest.sh:  ppn-vm-test.sh BUILD_ROOT
set -u
build=$1
guest_name=vmm-guest tmp_name=ppn-vm-test
. "$(dirname "$0")/guest-test-lib.sh"

expect 0 "help" -- "$V" create --help
expect 1 "create without a type" -- "$V" create x
[ "$(wc -l < "$state/err")" -le 2 ] && grep -q "^Usage: ppn-vm create" "$state/err" && ok "one line + usage" || bad "wrong-call output: $(cat "$state/err")"
expect 1 "Totebox without a node" -- "$V" create box --type totebox --disk /tmp/none.img
grep -q "pinned node" "$state/err" || bad "Totebox refusal does not say why"
expect 0 "create a Totebox pinned elsewhere" -- "$V" create tb --type totebox --node elsewhere-node --no-network \
  --memory 128 --kernel "$guest/vmlinuz" --initrd "$guest/initrd.gz"
for verb in start run; do
  expect 1 "$verb a Totebox pinned to another node" -- "$V" $verb tb
  grep -q "VM-Totebox is pinned to node 'elsewhere-node' and starts nowhere else" "$state/err" && ok "$verb refused with the reason" \
    || bad "$verb of a Totebox pinned elsewhere: $(cat "$state/err")"
done
[ ! -e "$state/tb/qemu.pid" ] && ok "nothing started" || bad "a pinned Totebox started elsewhere"
rm -rf "$state/tb"
expect 0 "create" -- "$V" create g1 --type orchestration --memory 320 --vcpus 1 --no-network \
  --kernel "$guest/vmlinuz" --initrd "$guest/initrd.gz" --append "console=ttyS0 panic=-1 loglevel=3"
expect 1 "create twice" -- "$V" create g1 --type orchestration --kernel "$guest/vmlinuz"
# every numeric option with abc, -1 and one past its maximum: exit 1, one line + a usage line
numfail=0
numopt() { # command...
  local rc=0
  "$V" "$@" >"$state/num.out" 2>"$state/num.err" || rc=$?
  if [ "$rc" != 1 ] || [ "$(wc -l <"$state/num.err")" != 2 ] || ! grep -q "^Usage: ppn-vm " "$state/num.err"; then
    bad "ppn-vm $*: exit $rc, $(cat "$state/num.err")"; numfail=1
  fi
}
for v in abc -1 1048577; do numopt create n1 --type orchestration --kernel "$guest/vmlinuz" --memory "$v"; done
for v in abc -1 257; do numopt create n1 --type orchestration --kernel "$guest/vmlinuz" --vcpus "$v"; done
for v in abc -1 1048577; do numopt create n1 --type orchestration --disk /tmp/n1.img --disk-size "$v"; done
for v in tcp:abc:22 tcp:-1:22 tcp:65536:22 tcp:2222:65536; do
  numopt create n1 --type orchestration --kernel "$guest/vmlinuz" --forward "$v"
done
# seconds: also the forms strtod took (empty, an exponent, hexadecimal, a leading space)
for v in abc -1 604801 '' 1e3 0x10 ' 5'; do
  numopt start g1 --timeout "$v"
  numopt shutdown g1 --deadline "$v"
  numopt shutdown g1 --repress "$v"
  numopt balloon g1 100 --wait "$v"
  numopt unit g1 --deadline "$v"
  numopt qmp g1 query-status --timeout "$v"
  numopt reboot g1 --deadline "$v"
  numopt reboot g1 --repress "$v"
done
numopt start g1 --timeout 0
numopt qmp g1 query-status --timeout 0
# the shared parser's usage errors in console and balloon too: one line and the usage line
numopt console g1 --bogus
numopt balloon 'a/b'
numopt qmp 'a/b' query-status
# start, run, reboot and unit share one option parser: an invalid name is a usage error in each
for verb in start run reboot unit; do numopt "$verb" 'a/b'; done
for v in abc -1 4194305; do numopt balloon g1 "$v"; done
for v in abc -1 2147483648; do numopt shutdown g1 --pid "$v"; done
[ ! -e "$state/n1" ] || bad "n1 written by a refused create"
[ "$numfail" = 0 ] && ok "numeric options: abc, -1 and max+1 refused"
expect 1 "create with a missing kernel" -- "$V" create k1 --type orchestration --no-network --kernel /nonexistent/vmlinuz
[ "$(wc -l < "$state/err")" = 1 ] && grep -q -- "--kernel /nonexistent/vmlinuz: No such file or directory" "$state/err" \
  && ok "one line naming the option and file" || bad "missing kernel: $(cat "$state/err")"
[ ! -e "$state/k1" ] && ok "nothing written for k1" || bad "k1 written although its kernel is missing"
# QEMU exits at start: its own line is shown, not "No child processes"
head -c 8192 /dev/zero | tr '\0' x > "$state/not-a-kernel"
expect 0 "create with a bad kernel" -- "$V" create k2 --type orchestration --no-network --kernel "$state/not-a-kernel"
expect 1 "start with a bad kernel" -- "$V" start k2 --timeout 30
grep -q "QEMU exited: qemu.*: invalid kernel header" "$state/err" && ok "QEMU's reason shown" || bad "start failure: $(cat "$state/err")"
[ ! -e "$state/k2/qemu.pid" ] && ok "nothing left running" || bad "qemu.pid left after a failed start"
rm -rf "$state/k2"
expect 0 "list --json" -- "$V" list --json
[ "$(jget name) $(jget running)" = "g1 false" ] && ok "listed, stopped" || bad "list: $out"

expect 0 "start" -- "$V" start g1 --json --timeout 60
pid=$(jget pid); accel=$(jget accel)
case $accel in kvm|tcg) ok "start reports accelerator $accel" ;; *) bad "start: no accelerator: $out" ;; esac
grep -q . "$state/g1/console.log" && ok "start returned after console output" || bad "start returned before the guest wrote anything"
for _ in $(seq 1 900); do grep -q "ppn-guest: ready acpid" "$state/g1/console.log" 2>/dev/null && break; sleep 0.1; done
grep -q "ppn-guest: ready acpid" "$state/g1/console.log" || bad "guest never became ready"
expect 0 "status --json" -- "$V" status g1 --json
[ "$(jget running) $(jget pid) $(jget status) $(jget balloon_actual_bytes)" = "true $pid running 335544320" ] \
  && ok "status: running, 320 MiB" || bad "status: $out"
[ "$(jget accel)" = "$accel" ] && ok "status reports the same accelerator ($accel)" || bad "status accel: $out"
expect 1 "balloon above the VM's memory" -- "$V" balloon g1 100000
grep -q "target 100000 MiB is above the VM's memory (320 MiB)" "$state/err" && ok "balloon refusal says why" \
  || bad "balloon refusal: $(cat "$state/err")"
for p in 1 $$; do
  expect 1 "shutdown --pid $p (not the VM's QEMU)" -- "$V" shutdown g1 --pid $p --deadline 1
  grep -q "pid $p is not its QEMU (that is pid $pid); nothing signalled" "$state/err" && ok "refused: $p" \
    || bad "shutdown --pid $p: $(cat "$state/err")"
done
expect 0 "still running after the refused shutdowns" -- "$V" status g1 --json
[ "$(jget status)" = "running" ] && ok "untouched" || bad "after refused shutdown: $out"
expect 0 "balloon to 200 MiB, waiting" -- "$V" balloon g1 200 --wait 30 --json
[ "$(jget actual_bytes)" = "209715200" ] && ok "actual 200 MiB" || bad "balloon: $out"
expect 0 "console" -- "$V" console g1
printf '%s\n' "$out" | grep -q "ppn-guest: ready acpid" && ok "console shows the guest" || bad "console: $out"
grep -q -- "-sandbox on" "/proc/$pid/cmdline" 2>/dev/null || tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "-sandbox on,obsolete=deny" \
  && ok "QEMU runs with -sandbox on" || bad "no -sandbox: $(tr '\0' ' ' <"/proc/$pid/cmdline")"
expect 1 "remove while running" -- "$V" remove g1
grep -q "it is running" "$state/err" && ok "remove refused in words" || bad "remove: $(cat "$state/err")"
mkdir -p "$state/broken" && echo '{"format": 1, "name": "broken"' >"$state/broken/spec.json"
expect 1 "list with a broken specification" -- "$V" list
printf '%s\n' "$out" | grep -q "^broken .*broken.*(" && ok "broken VM listed with its reason" || bad "list: $out"
rm -rf "$state/broken"
expect 0 "qmp query-status" -- "$V" qmp g1 query-status --json
[ "$(jget status)" = "running" ] && ok "raw QMP" || bad "qmp: $out"
expect 1 "qmp unknown command" -- "$V" qmp g1 no-such-command
grep -q "CommandNotFound" "$state/err" && ok "QMP error class shown" || bad "qmp error: $(cat "$state/err")"
expect 0 "stop" -- "$V" stop g1
expect 0 "status paused" -- "$V" status g1 --json
[ "$(jget status)" = "paused" ] && ok "paused" || bad "after stop: $out"
expect 0 "cont" -- "$V" cont g1
expect 0 "unit" -- "$V" unit g1 --deadline 30
echo "$out" > "$state/ppn-vm-g1.service"
verr=$(systemd-analyze verify "$state/ppn-vm-g1.service" 2>&1 >/dev/null); vst=$?
[ $vst = 0 ] && [ -z "$verr" ] && ok "systemd-analyze verify: clean" || bad "systemd-analyze verify ($vst): $verr"
expect 0 "unit --json" -- "$V" unit g1 --json
[ "$(jget unit)" = "ppn-vm-g1.service" ] && printf '%s' "$out" | grep -q '"text": "# Generated' && ok "unit --json is JSON" || bad "unit --json: $out"
expect 1 "status of no such VM, --json" -- "$V" status nope --json
grep -q '^{"tool": "ppn-vm", "error": ' "$state/err" && ok "errors as JSON under --json" || bad "error under --json: $(cat "$state/err")"
expect 0 "unit --accel tcg" -- "$V" unit g1 --accel tcg
printf '%s\n' "$out" | grep -q '^ExecStart=.*"--accel" "tcg" "g1"$' && ok "the unit carries the accelerator" || bad "unit --accel: $out"
expect 0 "graceful shutdown" -- "$V" shutdown g1 --deadline 30 --json
[ "$(jget outcome)" = "graceful" ] && ok "graceful" || bad "shutdown: $out"
sleep 0.5
expect 0 "list after shutdown" -- "$V" list --json
[ "$(jget running)" = "false" ] && ok "stopped" || bad "after shutdown: $out"
[ ! -e "$state/g1/qemu.pid" ] && ok "supervisor cleaned up" || bad "qemu.pid left behind"
expect 1 "kill a stopped VM" -- "$V" kill g1

# two starts at once: one QEMU, the other says it is already running
"$V" start g1 --timeout 60 >"$state/s1" 2>"$state/e1" & p1=$!
"$V" start g1 --timeout 60 >"$state/s2" 2>"$state/e2" & p2=$!
r1=0; wait $p1 || r1=$?; r2=0; wait $p2 || r2=$?
nq=$(pgrep -fc -- "path=$state/g1/qmp.sock" || true)
if [ "$((r1 + r2))" = 1 ] && [ "$nq" = 1 ] && cat "$state/e1" "$state/e2" | grep -q "already running"; then
  ok "concurrent starts: one QEMU"
else
  bad "concurrent starts: exits $r1 $r2, $nq QEMU(s): $(cat "$state/e1" "$state/e2")"
fi
# the same VM through a relative state directory
out=$(cd "$(dirname "$state")" && "$V" status g1 --state-dir "$(basename "$state")" --json 2>&1)
[ "$(jget running)" = "true" ] && ok "relative --state-dir names the same VM" || bad "relative state dir: $out"
expect 0 "shutdown" -- "$V" shutdown g1 --deadline 30
# a supervisor in the foreground ended by SIGTERM: graceful shutdown, exit 0, nothing left
for _ in $(seq 50); do [ -e "$state/g1/qemu.pid" ] || break; sleep 0.1; done
rm -f "$state/g1/console.log"
"$V" start g1 --foreground --timeout 60 >"$state/fg.out" 2>&1 & fp=$!
for _ in $(seq 900); do grep -q "ppn-guest: ready acpid" "$state/g1/console.log" 2>/dev/null && break; sleep 0.1; done
kill -TERM "$fp"; fr=0; wait "$fp" || fr=$?
# and one that arrives while the start is still under way is not lost either
rm -f "$state/g1/console.log"
"$V" start g1 --foreground --timeout 60 >"$state/fg2.out" 2>&1 & fp=$!
sleep 0.2; kill -TERM "$fp"
fr2=0; timeout 120 tail --pid="$fp" -f /dev/null || fr2=timeout; wait "$fp" || fr2=$?
[ "$fr2" = 0 ] && [ ! -e "$state/g1/qemu.pid" ] && ok "SIGTERM during the start: handled once it is up" \
  || bad "SIGTERM during start: $fr2, $(cat "$state/fg2.out")"
[ "$fr" = 0 ] && [ ! -e "$state/g1/qemu.pid" ] && ok "SIGTERM to the supervisor: exit 0, qemu.pid removed" \
  || bad "supervisor after SIGTERM: exit $fr, $(cat "$state/fg.out"), pid file $(ls "$state/g1")"
for _ in $(seq 50); do [ -e "$state/g1/qemu.pid" ] || break; sleep 0.1; done
expect 0 "remove" -- "$V" remove g1
[ ! -e "$state/g1" ] && ok "removed" || bad "g1 still there"
exit $fail
