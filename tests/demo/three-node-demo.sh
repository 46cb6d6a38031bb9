#!/usr/bin/env bash
# The three-node demo (work in progress: see doc/ARCHITECTURE.md).
set -euo pipefail
build=${1:-build}
for t in ppn-pair ppn-ledger ppn-wg ppn-vm; do
  "$build/tools/$t/$t" --version
done
