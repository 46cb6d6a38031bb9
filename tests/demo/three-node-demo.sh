#!/usr/bin/env bash
# The three-node demo: a PointSav Private Network of three nodes, each in its
# own network namespace of a QEMU/TCG guest that has kernel WireGuard (the
# build machines' kernel has none).  See doc/demo.md.
#
#   tests/demo/three-node-demo.sh [BUILD_DIR]
#
# Exit status 0 only when every step worked and was checked.
set -euo pipefail
. "$(dirname "$0")/../lib/guest-run.sh"   # here, root, build, guest_run
guest_run "${PPN_DEMO_TIMEOUT:-600}" 2048 inside-guest.sh
