# Sourced by the loopback tests of ppn-pair (tests/pair/ppn-pair-*-test.sh) once $pair and
# $ledger are set: a scratch directory as the working directory (on exit: stopped jobs
# continued, every job killed and reaped, the directory removed), ok/bad counting
# $failures, a random base $port, and the small readers the tests share.
work=$(mktemp -d)
trap 'kill -CONT $(jobs -p) 2>/dev/null; kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
cd "$work" || exit 1
failures=0
ok() { echo "ok - $*"; }
bad() { echo "not ok - $*"; failures=$((failures + 1)); }
port=$((20000 + RANDOM % 20000))
# members LEDGER_DIR: how many node-join entries it holds
members() { "$ledger" show "$1" --json 2>/dev/null | grep -c '"node-join"'; }
# wait_line FILE REGEX: until FILE has a line matching REGEX (10 s at the most)
wait_line() { for _ in $(seq 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done; return 1; }
# code_of FILE: the code a listener's console shows
code_of() { awk '$1 == "code" {print $2}' "$1"; }

# genesis ORIGIN STATE...: node keys in each STATE; the first holds the genesis (node-a,
# endpoint 127.0.0.1:51820).  Ends the test when either fails.
genesis() {
  local origin=$1 n; shift
  for n in "$@"; do "$pair" keys --state "$n" >/dev/null || { echo "keys failed"; exit 1; }; done
  "$pair" genesis --state "$1" --origin "$origin" --hostname node-a --endpoint 127.0.0.1:51820 >/dev/null ||
    { echo "genesis failed"; exit 1; }
}
