#!/usr/bin/env bash
# The Debian packages on a clean Debian 12 system (slow: a few minutes, and
# it downloads a minimal system from the Debian mirror, so it is not part of
# ./run.sh test; tests/packaging/package-test.sh is the quick check there).
#
#   tests/packaging/clean-system-test.sh [SRCDIR]     as root
#
# Builds the packages (dpkg-buildpackage -us -uc -b on a copy of SRCDIR,
# default: this checkout), debootstraps a minimal bookworm chroot, installs
# the packages there with apt (which pulls every dependency from the mirror;
# no recommends), then, inside the chroot: builds a program per library with `pkg-config --cflags --libs`
# alone and runs it, runs each tool's --help, makes a ledger with the tools,
# and removes the packages again.
#
# Environment: PPN_MIRROR (default http://deb.debian.org/debian),
# PPN_DEBOOTSTRAP_TARBALL (a tarball from `debootstrap --make-tarball`, to
# skip the download on a rerun), KEEP=1 keeps the work directory.
set -eu
src=$(cd "${1:-$(dirname "$0")/../..}" && pwd)
mirror=${PPN_MIRROR:-http://deb.debian.org/debian}
[ "$(id -u)" = 0 ] || { echo "FAIL: needs root (debootstrap, chroot)"; exit 1; }
for p in debootstrap dpkg-buildpackage; do
  command -v "$p" >/dev/null || { echo "FAIL: $p not found (apt-get install debootstrap dpkg-dev debhelper)"; exit 1; }
done
version=$(sed -n "s/^  version: '\([^']*\)'.*/\1/p" "$src/meson.build" | head -n1)

work=$(mktemp -d "${TMPDIR:-/tmp}/ppn-clean-system.XXXXXX")
chroot=$work/chroot
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
  for m in dev/pts dev proc; do mountpoint -q "$chroot/$m" 2>/dev/null && umount -l "$chroot/$m"; done
  [ "${KEEP:-0}" = 1 ] && { echo "kept $work"; return; }
  rm -rf "$work"
}
trap cleanup EXIT
t0=$(date +%s)

# 1. the packages
tree=$work/libppn-$version
mkdir "$tree"
for e in "$src"/* "$src"/.[!.]*; do
  [ -e "$e" ] || continue
  case $(basename "$e") in .git) continue ;; esac
  [ -d "$e/meson-private" ] && continue
  cp -a "$e" "$tree/"
done
(cd "$tree" && DEB_BUILD_OPTIONS=parallel=2 dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1 ||
  { tail -n 40 "$work/build.log"; echo "FAIL: dpkg-buildpackage"; exit 1; }
t1=$(date +%s); echo "packages built ($((t1 - t0)) s)"

# 2. a minimal Debian 12
if [ -n "${PPN_DEBOOTSTRAP_TARBALL:-}" ]; then
  debootstrap --variant=minbase --unpack-tarball="$PPN_DEBOOTSTRAP_TARBALL" bookworm "$chroot" "$mirror" >"$work/debootstrap.log" 2>&1
else
  debootstrap --variant=minbase bookworm "$chroot" "$mirror" >"$work/debootstrap.log" 2>&1
fi || { tail -n 20 "$work/debootstrap.log"; echo "FAIL: debootstrap bookworm from $mirror"; exit 1; }
t2=$(date +%s); echo "debootstrap --variant=minbase bookworm ($((t2 - t1)) s)"
mount -t proc proc "$chroot/proc"
mount --bind /dev "$chroot/dev"
mount --bind /dev/pts "$chroot/dev/pts"
cp /etc/resolv.conf "$chroot/etc/resolv.conf"
echo "deb $mirror bookworm main" >"$chroot/etc/apt/sources.list"
mkdir "$chroot/debs" "$chroot/progs"
for d in "$work"/*.deb; do case $d in *-dbgsym_*) ;; *) cp "$d" "$chroot/debs/" ;; esac; done
cp "$src"/tests/installed/use-*.c "$chroot/progs/"

# 3. inside: apt installs the packages; a compiler and pkg-config, nothing else
cat >"$chroot/check.sh" <<'EOS'
set -eu
export DEBIAN_FRONTEND=noninteractive
version=$1
apt-get update -q >/dev/null
dpkg-query -W 'libppn*' 'ppn-*' 2>/dev/null | grep . && { echo "FAIL: libppn already in the chroot"; exit 1; }
apt-get install -y -q --no-install-recommends gcc libc6-dev pkg-config /debs/*.deb >/tmp/apt.log 2>&1 ||
  { tail -n 30 /tmp/apt.log; echo "FAIL: apt-get install of the packages"; exit 1; }
dpkg-query -W -f='${Package} ${Version}\n' 'libppn*' 'ppn-*'
fail=0
for l in crypto ledger wg vmm fleet; do
  # shellcheck disable=SC2046
  if ! cc -std=c99 -Wall -Werror /progs/use-$l.c -o /tmp/use-$l $(pkg-config --cflags --libs libppn-$l); then
    echo "FAIL: use-$l.c with pkg-config --cflags --libs libppn-$l"; fail=1; continue
  fi
  out=$(/tmp/use-$l "$version") || { echo "FAIL: use-$l: $out"; fail=1; continue; }
  echo "ok libppn-$l: $out"
done
for t in ppn-ledger ppn-pair ppn-vm ppn-wg; do
  out=$($t --help 2>&1) && grep -q "^Usage: $t " <<<"$out" || { echo "FAIL: $t --help: $out"; fail=1; continue; }
  echo "ok $t --help"
done
ppn-pair keys --state /tmp/node >/dev/null &&
  ppn-ledger init /tmp/ledger --origin clean.test --mesh 10.9.0.0/24 --key /tmp/node/identity.key >/dev/null &&
  ppn-ledger verify /tmp/ledger >/dev/null && echo "ok ppn-pair keys, ppn-ledger init and verify" ||
  { echo "FAIL: ppn-pair keys / ppn-ledger init / verify"; fail=1; }
ls /usr/share/doc/libppn/ | tr '\n' ' '; echo
apt-get purge -y -q 'libppn*' 'ppn-tools' >/tmp/purge.log 2>&1 || { tail /tmp/purge.log; echo "FAIL: purge"; fail=1; }
left=$(ls /usr/lib/*/libppn-* /usr/include/ppn /usr/bin/ppn-* /usr/share/doc/libppn 2>/dev/null || true)
[ -z "$left" ] || { echo "FAIL: left after purge: $left"; fail=1; }
exit $fail
EOS
rc=0
chroot "$chroot" /bin/bash /check.sh "$version" || rc=$?
t3=$(date +%s); echo "in the chroot ($((t3 - t2)) s); total $((t3 - t0)) s"
[ $rc = 0 ] && echo "clean-system-test: PASS" || echo "clean-system-test: FAIL"
exit $rc
