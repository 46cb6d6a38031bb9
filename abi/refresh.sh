#!/usr/bin/env bash
# Writes the ABI baselines abi/libppn-<lib>.abi from a plain (not sanitized)
# build with debug information:  abi/refresh.sh BUILD_DIR
set -eu
build=${1:?usage: abi/refresh.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
for l in crypto ledger wg vmm fleet; do
  abidw --no-corpus-path --headers-dir "$here/../libppn-$l/include" \
    --out-file "$here/libppn-$l.abi" "$build/libppn-$l.so"
  echo "abi/libppn-$l.abi"
done
