# guest-test-lib.sh — sourced by the ppn-vm guest tests (ppn-vm-test.sh, ppn-vm-images-test.sh,
# ppn-vm-reboot-test.sh, ppn-vm-runas-test.sh): the tiny guest from build-guest.sh, a
# temporary state directory, the clean-up, and the checks ok/bad/expect/jget.
#
# Set before sourcing:  build (BUILD_ROOT), guest_name (the guest's directory under $build),
# tmp_name (the temporary directory is /tmp/$tmp_name.XXXXXX), and optionally state_sub (the
# state directory is then $work/$state_sub, else $work itself).
# Sets: here, V (this build's ppn-vm), guest (absolute), work, state (exported as
# PPN_VM_STATE_DIR), fail=0, RUNPID= (a test may put a foreground ppn-vm's pid there).
# On exit: RUNPID and every QEMU a qemu.pid under $state names are killed, $work removed.
here=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
V=$build/tools/ppn-vm/ppn-vm
guest=$build/$guest_name
"$here/build-guest.sh" "$guest" || { echo "FAIL: build-guest.sh"; exit 1; }
guest=$(cd "$guest" && pwd)
work=$(mktemp -d "/tmp/$tmp_name.XXXXXX")
state=$work${state_sub:+/$state_sub}
mkdir -p "$state"
export PPN_VM_STATE_DIR=$state
fail=0
RUNPID=
cleanup() {
  [ -n "$RUNPID" ] && kill -9 "$RUNPID" 2>/dev/null
  for f in "$state"/*/qemu.pid; do
    pid=$(cat "$f" 2>/dev/null || true)
    [ -n "$pid" ] && grep -q qmp.sock "/proc/$pid/cmdline" 2>/dev/null && kill -9 "$pid" 2>/dev/null
  done
  rm -rf "$work"
}
trap cleanup EXIT
# first "KEY": value of the JSON in $out (no jq on the build machines)
jget() { printf '%s\n' "$out" | sed -n 's/.*"'"$1"'": *"\{0,1\}\([^",}]*\)"\{0,1\}.*/\1/p' | head -n1; }
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }
expect() { # expect STATUS DESCRIPTION -- command...   ($out: its stdout, $work/err: its stderr)
  local want=$1 what=$2; shift 3
  out=$("$@" 2>"$work/err"); st=$?
  if [ "$st" = "$want" ]; then ok "$what"; else bad "$what (exit $st, wanted $want): $out $(cat "$work/err")"; fi
}
