#!/usr/bin/env bash
# Four nodes keeping their mesh current by themselves (issue 11), in a QEMU/TCG guest with
# kernel WireGuard and nftables NAT: see tests/pair/four-node-inside.sh.
#   tests/pair/four-node-test.sh [BUILD_DIR]
set -euo pipefail
. "$(dirname "$0")/../lib/guest-run.sh"   # here, root, build, guest_run
guest_run "${PPN_FOUR_TIMEOUT:-420}" 1024 four-node-inside.sh
