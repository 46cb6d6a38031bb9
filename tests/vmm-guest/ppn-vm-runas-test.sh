#!/usr/bin/env bash
# QEMU as an unprivileged user (root runs this): ppn-vm create --run-as, against real QEMU
# (TCG) guests from build-guest.sh.  With --run-as nobody the QEMU process's uids and gids
# are nobody's, the guest boots, QMP (balloon, reboot) and the graceful shutdown work on the
# monitor socket QEMU made before dropping, and the supervisor removes what the unprivileged
# QEMU could not; the unit says so and its ExecStart path (ppn-vm run) drops too.  Without
# the option QEMU runs as the 'ppn-vm' system user where one exists, else as root with a
# note; --run-as root keeps root and the full seccomp filter.  Bad and unknown users are
# refused before anything is written.
# Usage: ppn-vm-runas-test.sh BUILD_ROOT
set -u
build=$1
guest_name=vmm-guest-runas tmp_name=ppn-vm-runas
. "$(dirname "$0")/guest-test-lib.sh"
[ "$(id -u)" = 0 ] || { echo "FAIL: needs root (QEMU drops from root to another user)"; exit 1; }
uids() { sed -n 's/^Uid:[[:space:]]*//p' "/proc/$1/status" | tr -s '\t ' ' '; }
gids() { sed -n 's/^Gid:[[:space:]]*//p' "/proc/$1/status" | tr -s '\t ' ' '; }
NOBODY_UID=$(id -u nobody); NOBODY_GID=$(id -g nobody)
BOOT=(--kernel "$guest/vmlinuz" --initrd "$guest/initrd.gz" --append "console=ttyS0 panic=-1 loglevel=3")
wait_ready() { for _ in $(seq 1200); do grep -q "ppn-guest: ready" "$state/$1/console.log" 2>/dev/null && return 0; sleep 0.1; done; return 1; }

# refusals, nothing written
expect 1 "--run-as with a bad name" -- "$V" create u0 --type orchestration --memory 128 --no-network "${BOOT[@]}" --run-as 'Bad!'
grep -q -- "--run-as is a user name" "$state/err" && ok "named in words" || bad "bad name: $(cat "$state/err")"
expect 1 "--run-as an unknown user" -- "$V" create u0 --type orchestration --memory 128 --no-network "${BOOT[@]}" --run-as ppn-no-such-user
grep -q "Failed to create 'u0': --run-as ppn-no-such-user: no such user on this host" "$state/err" && ok "unknown user in words" ||
  bad "unknown user: $(cat "$state/err")"
[ ! -e "$state/u0" ] && ok "nothing left behind" || bad "u0 written"

# --run-as nobody
expect 0 "create --run-as nobody" -- "$V" create u1 --type orchestration --memory 192 --vcpus 1 --no-network "${BOOT[@]}" --run-as nobody
printf '%s\n' "$out" | grep -q "^  QEMU runs as user nobody$" && ok "create says so" || bad "create: $out"
grep -q '"run_as": "nobody"' "$state/u1/spec.json" && ok "stored in the spec" || bad "spec: $(cat "$state/u1/spec.json")"
expect 0 "start u1" -- "$V" start u1 --accel tcg --timeout 120
pid=$(cat "$state/u1/qemu.pid" 2>/dev/null)
[ -n "$pid" ] && [ "$(uids "$pid")" = "$NOBODY_UID $NOBODY_UID $NOBODY_UID $NOBODY_UID" ] &&
  ok "QEMU's uids are nobody's ($(uids "$pid"))" || bad "QEMU uids: $(uids "$pid")"
[ "$(gids "$pid")" = "$NOBODY_GID $NOBODY_GID $NOBODY_GID $NOBODY_GID" ] && ok "and its gids" || bad "QEMU gids: $(gids "$pid")"
tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "-runas nobody" && ok "-runas on QEMU's command line" || bad "no -runas"
wait_ready u1 && ok "the guest runs" || bad "no guest: $(tail -3 "$state/u1/console.log")"
expect 0 "balloon over the monitor" -- "$V" balloon u1 150 --wait 30 --json
[ "$(jget actual_bytes)" = 157286400 ] && ok "balloon 150 MiB" || bad "balloon: $out"
expect 0 "reboot" -- "$V" reboot u1 --deadline 60 --json
[ "$(jget outcome)" = graceful ] && ok "graceful reboot as nobody" || bad "reboot: $out"
for _ in $(seq 1200); do [ "$(grep -c 'ppn-guest: ready' "$state/u1/console.log")" -ge 2 ] && break; sleep 0.1; done
expect 0 "shutdown" -- "$V" shutdown u1 --deadline 30 --json
[ "$(jget outcome)" = graceful ] && ok "graceful shutdown" || bad "shutdown: $out"
for _ in $(seq 50); do [ -e "$state/u1/qemu.pid" ] || break; sleep 0.1; done
[ ! -e "$state/u1/qmp.sock" ] && [ ! -e "$state/u1/qemu.pid" ] && ok "socket and pid file removed" ||
  bad "left: $(ls "$state/u1")"

# the unit: it says so, and its ExecStart (ppn-vm run) drops too
expect 0 "unit" -- "$V" unit u1 --deadline 30
printf '%s\n' "$out" | grep -q "^# QEMU opens the VM's files as root, then runs as user nobody (-runas)$" && ok "the unit says so" || bad "unit: $out"
echo "$out" > "$state/ppn-vm-u1.service"
if command -v systemd-analyze > /dev/null; then
  verr=$(systemd-analyze verify "$state/ppn-vm-u1.service" 2>&1 >/dev/null); vst=$?
  [ $vst = 0 ] && [ -z "$verr" ] && ok "systemd-analyze verify: clean" || bad "systemd-analyze verify ($vst): $verr"
fi
rm -f "$state/u1/console.log"
"$V" run u1 --accel tcg > "$state/run.out" 2>&1 & RUNPID=$!
for _ in $(seq 100); do [ "$(uids $RUNPID 2>/dev/null | cut -d' ' -f1)" = "$NOBODY_UID" ] && break; sleep 0.1; done
[ "$(uids $RUNPID)" = "$NOBODY_UID $NOBODY_UID $NOBODY_UID $NOBODY_UID" ] && ok "ppn-vm run: QEMU (the unit's main process) runs as nobody" ||
  bad "run: uids $(uids $RUNPID) $(cat "$state/run.out")"
wait_ready u1 && ok "the guest runs under ppn-vm run" || bad "no guest under run"
kill -9 $RUNPID; wait $RUNPID 2>/dev/null; RUNPID=

# without --run-as: the ppn-vm system user where there is one, else root with a note
expect 0 "create without --run-as" -- "$V" create u2 --type orchestration --memory 128 --vcpus 1 --no-network "${BOOT[@]}"
if getent passwd ppn-vm > /dev/null; then
  printf '%s\n' "$out" | grep -q "^  QEMU runs as user ppn-vm$" && ok "default: the ppn-vm user" || bad "default: $out"
else
  printf '%s\n' "$out" | grep -q "^  QEMU runs as root (no 'ppn-vm' user here: --run-as USER, or create that system user, makes it drop privileges)$" &&
    ok "default: root, with the note" || bad "default: $out"
  grep -q run_as "$state/u2/spec.json" && bad "run_as stored without a user"
fi
# --run-as root: root and the full filter
expect 0 "create --run-as root" -- "$V" create u3 --type orchestration --memory 128 --vcpus 1 --no-network "${BOOT[@]}" --run-as root
expect 0 "start u3" -- "$V" start u3 --accel tcg --timeout 120
pid=$(cat "$state/u3/qemu.pid" 2>/dev/null)
[ -n "$pid" ] && [ "$(uids "$pid" | cut -d' ' -f1)" = 0 ] && ok "--run-as root: uid 0" || bad "u3 uids: $(uids "$pid")"
tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "elevateprivileges=deny" && ok "and the full seccomp filter" || bad "u3 sandbox"
expect 0 "kill u3" -- "$V" kill u3
exit $fail
