#!/usr/bin/env bash
# kill -9 soak: the test suite's kill loop with more iterations.
#   bench/ledger/soak.sh BUILD-DIR [ITERATIONS]
set -eu
build=${1:-build}
export PPN_LEDGER_KILL_ITERATIONS=${2:-3000}
export CK_RUN_CASE=durability CK_RUN_SUITE=ledger CK_TIMEOUT_MULTIPLIER=1000
# Only the kill loop: Check has no per-test filter, so run the durability case; the other
# durability tests take a few seconds.
exec "$build/libppn-ledger/tests/test-ledger"
