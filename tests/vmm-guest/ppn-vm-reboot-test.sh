#!/usr/bin/env bash
# ppn-vm reboot against real QEMU (TCG) guests from build-guest.sh:
#   the acpid guest reboots gracefully (its console shows the power button, then a second
#   boot, in the same QEMU process) and shuts down normally afterwards (the shutdown action
#   was set back); the deaf guest (no acpid) is reset at the deadline and the output says so,
#   or with --no-reset is left running with exit 1; a paused or stopped VM is refused.
# Usage: ppn-vm-reboot-test.sh BUILD_ROOT
set -u
build=$1
guest_name=vmm-guest-reboot tmp_name=ppn-vm-reboot
. "$(dirname "$0")/guest-test-lib.sh"
boots() { grep -c "ppn-guest: ready" "$state/$1/console.log" 2>/dev/null || echo 0; }
wait_boots() { # name count
  for _ in $(seq 1200); do [ "$(boots "$1")" -ge "$2" ] && return 0; sleep 0.1; done
  return 1
}

for v in abc -1 2147483648; do
  expect 1 "reboot --deadline $v refused" -- "$V" reboot g1 --deadline "$v"
  expect 1 "reboot --repress $v refused" -- "$V" reboot g1 --repress "$v"
done
expect 1 "reboot without a name" -- "$V" reboot
APPEND="console=ttyS0 panic=-1 loglevel=3"
expect 0 "create g1 (acpid)" -- "$V" create g1 --type orchestration --memory 192 --vcpus 1 --no-network \
  --kernel "$guest/vmlinuz" --initrd "$guest/initrd.gz" --append "$APPEND"
expect 1 "reboot a stopped VM" -- "$V" reboot g1
grep -q "Failed to reboot 'g1': it is not running" "$state/err" && ok "refused in words" || bad "stopped: $(cat "$state/err")"
expect 0 "start g1" -- "$V" start g1 --accel tcg --timeout 120
wait_boots g1 1 || bad "g1 did not boot"
pid=$(cat "$state/g1/qemu.pid")

# paused: refused, nothing pressed
expect 0 "stop" -- "$V" stop g1
expect 1 "reboot a paused VM" -- "$V" reboot g1 --deadline 5
grep -q "it is not running (paused or shut down)" "$state/err" && ok "paused refused in words" || bad "paused: $(cat "$state/err")"
expect 0 "cont" -- "$V" cont g1

# graceful: the guest's own shutdown, then a second boot in the same QEMU
expect 0 "reboot g1" -- "$V" reboot g1 --deadline 60 --json
[ "$(jget outcome)" = graceful ] && ok "outcome graceful" || bad "reboot: $out"
wait_boots g1 2 && ok "the console shows a second boot" || bad "no second boot: $(grep ppn-guest "$state/g1/console.log")"
grep -A1000 "ppn-guest: power button, powering off" "$state/g1/console.log" | grep -q "ppn-guest: ready acpid" &&
  ok "after the guest's own shutdown" || bad "console: $(grep ppn-guest "$state/g1/console.log")"
[ "$(cat "$state/g1/qemu.pid" 2>/dev/null)" = "$pid" ] && kill -0 "$pid" && ok "same QEMU process" || bad "QEMU changed or gone"
expect 0 "status" -- "$V" status g1 --json
[ "$(jget status)" = running ] && ok "running after the reboot" || bad "status: $out"
expect 0 "reboot g1 again (text)" -- "$V" reboot g1 --deadline 60
printf '%s\n' "$out" | grep -q "^g1: rebooted gracefully after [0-9.]* s (the guest shut down on the power button; 1 press)$" &&
  ok "text output" || bad "text: $out"
wait_boots g1 3 || bad "no third boot"
# the shutdown action is poweroff again: a graceful shutdown ends QEMU
expect 0 "shutdown after reboots" -- "$V" shutdown g1 --deadline 30 --json
[ "$(jget outcome)" = graceful ] && ok "graceful shutdown, QEMU gone" || bad "shutdown after reboot: $out"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && bad "QEMU still runs after the guest's poweroff (shutdown action left at pause)"

# deaf guest: no answer to the button
expect 0 "create g2 (deaf)" -- "$V" create g2 --type orchestration --memory 192 --vcpus 1 --no-network \
  --kernel "$guest/vmlinuz" --initrd "$guest/initrd-deaf.gz" --append "$APPEND"
expect 0 "start g2" -- "$V" start g2 --accel tcg --timeout 120
wait_boots g2 1 || bad "g2 did not boot"
expect 1 "reboot --no-reset of the deaf guest" -- "$V" reboot g2 --deadline 2 --repress 1 --no-reset
grep -q "Failed to reboot 'g2': the guest did not shut down within 2 s ([0-9]* presses); left running (--no-reset)" "$state/err" &&
  ok "says it was left running" || bad "--no-reset: $(cat "$state/err")"
sleep 1
[ "$(boots g2)" = 1 ] && ok "not rebooted" || bad "g2 rebooted with --no-reset"
expect 0 "reboot the deaf guest: reset at the deadline" -- "$V" reboot g2 --deadline 2 --repress 1
printf '%s\n' "$out" | grep -q "^g2: the guest did not shut down within 2 s ([0-9]* presses): reset it (system_reset, not graceful)$" &&
  ok "the fallback is reported" || bad "fallback: $out"
wait_boots g2 2 && ok "reset: a second boot" || bad "no second boot after the reset"
expect 0 "reboot the deaf guest --json" -- "$V" reboot g2 --deadline 1 --repress 0 --json
[ "$(jget outcome)" = reset ] && [ "$(jget presses)" = 1 ] && ok "json outcome reset, 1 press" || bad "json: $out"
expect 0 "kill g2" -- "$V" kill g2
exit $fail
