#!/usr/bin/env bash
# Three nodes' agents under a real systemd (PID 1 in a TCG guest): see
# fleet-in-guest.sh.   Usage: fleet-guest-test.sh BUILDDIR SRCDIR MEM_HOG
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# the tiny guest the chosen agent starts as a VM (cached in the build tree)
"$2/tests/vmm-guest/build-guest.sh" "$1/units/guest" || exit 1
exec "$2/tests/microvm/run-in-guest.sh" --systemd --timeout 660 --mem 1536 -- bash "$here/fleet-in-guest.sh" "$1" "$3"
