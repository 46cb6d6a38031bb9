#!/usr/bin/env bash
# The three-node demo: a PointSav Private Network of three nodes, each in its
# own network namespace of a QEMU/TCG guest that has kernel WireGuard (the
# build machines' kernel has none).  See doc/demo.md.
#
#   tests/demo/three-node-demo.sh [BUILD_DIR]
#
# Exit status 0 only when every step worked and was checked.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
export PPN_MICROVM_DIR=${PPN_MICROVM_DIR:-$build/microvm}
exec "$root/tests/microvm/run-in-guest.sh" --timeout "${PPN_DEMO_TIMEOUT:-600}" --mem 2048 -- \
  bash "$here/inside-guest.sh" "$build"
