# Sourced by the host side of a guest test (tests/demo/three-node-demo.sh,
# tests/pair/four-node-test.sh) with the test's arguments: $here (the script's directory),
# $root (the source tree) and $build (BUILD_DIR, the first argument, or $root/build).
# guest_run TIMEOUT MEM SCRIPT: runs 'bash $here/SCRIPT $build' as the guest's job
# (tests/microvm/run-in-guest.sh, QEMU/TCG), in place of this shell.
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
export PPN_MICROVM_DIR=${PPN_MICROVM_DIR:-$build/microvm}
guest_run() {
  exec "$root/tests/microvm/run-in-guest.sh" --timeout "$1" --mem "$2" -- bash "$here/$3" "$build"
}
