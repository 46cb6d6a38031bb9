#!/usr/bin/env bash
# Four nodes keeping their mesh current by themselves (issue 11), in a QEMU/TCG guest with
# kernel WireGuard and nftables NAT: see tests/pair/four-node-inside.sh.
#   tests/pair/four-node-test.sh [BUILD_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
export PPN_MICROVM_DIR=${PPN_MICROVM_DIR:-$build/microvm}
exec "$root/tests/microvm/run-in-guest.sh" --timeout "${PPN_FOUR_TIMEOUT:-420}" --mem 1024 -- \
  bash "$here/four-node-inside.sh" "$build"
