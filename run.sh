#!/usr/bin/env bash
# libppn developer entry point.  As root on a fresh Debian 12 machine:
#   ./run.sh demo   install dependencies, build, run the three-node demo
#   ./run.sh test   install dependencies, build twice (plain, ASan+UBSan), run every test
# Ends with one line "N passed, N failed" for 'test'.
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(
  build-essential pkg-config meson ninja-build git
  libsodium-dev libcbor-dev libmnl-dev libnl-3-dev libnl-route-3-dev libjansson-dev check
  qemu-system-x86 qemu-utils busybox-static wireguard-tools linux-image-amd64 kmod xz-utils cpio
  iproute2 iputils-ping systemd procps binutils dosfstools mtools nftables
  dpkg-dev debhelper lintian abigail-tools python3 groff-base
)

install_deps() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
}

setup() { # dir [meson options...]
  local dir=$1 out; shift
  local re=()
  [ -f "$dir/build.ninja" ] && re=(--reconfigure)
  # quiet when it works; meson's own words when it does not
  if ! out=$(meson setup "${re[@]}" "$dir" "$@" 2>&1); then
    printf '%s\n' "$out" >&2
    echo "== meson setup $dir failed" >&2
    return 1
  fi
  ninja -C "$dir"
}

# Prints "ok fail" from a finished 'meson test' log.  A skipped test counts
# as failed: this script installs everything the suite needs, so a skip means
# something did not run.
count() {
  local log=$1
  awk '/^Ok:/ {ok=$2} /^Expected Fail:/ {xf=$3} /^Fail:/ {f=$2} /^Unexpected Pass:/ {up=$3}
       /^Skipped:/ {sk=$2} /^Timeout:/ {to=$2}
       END {print ok+xf, f+up+sk+to}' "$log"
}

run_suite() { # dir label
  local dir=$1 label=$2 log
  log=$(mktemp)
  echo "== meson test ($label)"
  meson test -C "$dir" --no-rebuild --print-errorlogs --num-processes 2 --timeout-multiplier 2 | tee "$log" || true
  read -r ok bad < <(count "$log")
  if ! grep -q '^Ok:' "$log"; then bad=$((bad + 1)); fi  # meson itself failed
  rm -f "$log"
  passed=$((passed + ok)); failed=$((failed + bad))
}

cmd_test() {
  install_deps
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1:print_summary=1
  export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1
  passed=0; failed=0
  setup build -Dwerror=true -Dtests=enabled -Dguest_tests=enabled -Dpackaging_tests=enabled
  setup build-asan -Dwerror=true -Dtests=enabled -Dguest_tests=enabled -Db_sanitize=address,undefined -Dbuildtype=debug
  run_suite build "plain"
  run_suite build-asan "address,undefined"
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

cmd_demo() {
  install_deps
  setup build -Dtests=enabled
  exec tests/demo/three-node-demo.sh build
}

case "${1:-}" in
  test) cmd_test ;;
  demo) cmd_demo ;;
  *) echo "usage: $0 demo|test" >&2; exit 1 ;;
esac
