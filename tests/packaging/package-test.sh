#!/usr/bin/env bash
# The Debian packages, quickly (about a minute): `meson dist` makes the
# release tarball; dpkg-buildpackage -us -uc -b builds the packages from it
# (so the tarball builds, with -Dtests=disabled, which builds no fuzz
# harness or benchmark); lintian (no error, no warning but the one a
# package outside the Debian archive always has); the contents of each
# package; then the packages unpacked into a temporary root where one
# program per library builds with nothing but pkg-config (shared and
# static) and the packaged tools run.  The slow check on a debootstrap'd
# Debian 12 system is tests/packaging/clean-system-test.sh.
#
# usage: package-test.sh SRCDIR BUILDDIR VERSION
set -eu
src=$1; build=$2; version=$3
progs=$src/tests/installed
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
libs=(crypto ledger wg vmm fleet)
tools=(ppn-ledger ppn-pair ppn-vm ppn-wg)

work=$(mktemp -d "${TMPDIR:-/tmp}/ppn-package-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# The source tree to package: in a git checkout, the `meson dist` tarball
# (committed files only: HEAD is what is tested); otherwise the tree is
# itself a release tarball, copied without its build directories.
tree=$work/libppn-$version
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
  git -C "$src" diff-index --quiet HEAD -- ||
    echo "NOTE: uncommitted changes are not in the dist tarball; this tests HEAD"
  if ! meson dist -C "$build" --no-tests --allow-dirty --formats xztar >"$work/dist.log" 2>&1; then
    cat "$work/dist.log"; echo "FAIL: meson dist --no-tests"; exit 1
  fi
  tarball=$build/meson-dist/libppn-$version.tar.xz
  [ -f "$tarball" ] || { cat "$work/dist.log"; echo "FAIL: meson dist made no $tarball"; exit 1; }
  cp "$tarball" "$work/libppn_$version.orig.tar.xz"
  tar -C "$work" -xJf "$tarball"
  [ -d "$tree" ] || { echo "FAIL: $tarball does not unpack into libppn-$version/"; exit 1; }
  echo "meson dist: $(basename "$tarball"), $(tar -tJf "$tarball" | grep -vc '/$') files"
else
  mkdir "$tree"
  for e in "$src"/* "$src"/.[!.]*; do
    [ -e "$e" ] || continue
    [ -d "$e/meson-private" ] && continue
    cp -a "$e" "$tree/"
  done
fi

deb_version=$(cd "$tree" && dpkg-parsechangelog -SVersion)
upstream=${deb_version%-*}
[ "$upstream" = "$version" ] ||
  bad "debian/changelog is at $deb_version, meson.build at $version (add a changelog entry)"

(cd "$tree" && dpkg-checkbuilddeps) || { echo "FAIL: build dependencies missing (see above)"; exit 1; }
t0=$(date +%s)
if ! (cd "$tree" && DEB_BUILD_OPTIONS=parallel=2 dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1; then
  tail -n 40 "$work/build.log"
  echo "FAIL: dpkg-buildpackage -us -uc -b"
  exit 1
fi
t1=$(date +%s)
echo "dpkg-buildpackage -us -uc -b: $((t1 - t0)) s"
grep -E '^dpkg-gensymbols: warning' -A20 "$work/build.log" &&
  bad "dpkg-gensymbols: debian/libppn-*1.symbols and the libraries differ (a new version node needs its
  line '(symver)PPN_<LIB>_<node> <version>', see debian/README.source)"
built=$(find "$tree"/obj-* -type f \( -name 'fuzz-*' -o -name 'bench-*' \) -perm -u+x 2>/dev/null || true)
[ -z "$built" ] || bad "the package build (-Dtests=disabled) built fuzz harnesses or benchmarks: $built"
changes=$work/libppn_${deb_version}_${arch}.changes
[ -f "$changes" ] || { echo "FAIL: no $changes"; exit 1; }

# lintian: nothing at warning level or above.  initial-upload-closes-no-bugs
# is suppressed: these packages are not uploaded to Debian (no ITP bug).
if ! lintian --fail-on error,warning --suppress-tags initial-upload-closes-no-bugs \
      --display-info "$changes" >"$work/lintian.log" 2>&1; then
  cat "$work/lintian.log"
  bad "lintian reports errors or warnings"
else
  sed 's/^/lintian: /' "$work/lintian.log" | grep -v 'running with root privileges' || true
  echo "lintian: no errors, no warnings ($(date +%s | awk -v t="$t1" '{print $1 - t}') s)"
fi

deb() { echo "$work/${1}_${deb_version}_$2.deb"; }
contents() { dpkg-deb -c "$1" | awk '{print $6}' | sed 's#^\./#/#'; }
has() { # deb path...
  local d=$1 p list; shift
  list=$(contents "$d")
  for p in "$@"; do
    printf '%s\n' "$list" | grep -qx -- "$p" || bad "$(basename "$d") lacks $p"
  done
}

# One runtime package per library, named after the soname.
for l in "${libs[@]}"; do
  d=$(deb "libppn-${l}1" "$arch")
  [ -f "$d" ] || { bad "no package libppn-${l}1"; continue; }
  has "$d" "/usr/lib/$multiarch/libppn-$l.so.1" "/usr/lib/$multiarch/libppn-$l.so.1.0.0"
  extra=$(contents "$d" | grep -E '\.so|\.a$|/include/' | grep -v "/libppn-$l\.so\.1" || true)
  [ -z "$extra" ] || bad "libppn-${l}1 holds files of the -dev package: $extra"
  dpkg-deb --ctrl-tarfile "$d" | tar -xOf - ./symbols | grep -q "^libppn-$l.so.1 libppn-${l}1 " ||
    bad "libppn-${l}1 has no symbols file for libppn-$l.so.1"
  [ "$(dpkg-deb -f "$d" Multi-Arch)" = same ] || bad "libppn-${l}1 is not Multi-Arch: same"
done
dev=$(deb libppn-dev "$arch")
for l in "${libs[@]}"; do
  has "$dev" "/usr/include/ppn/$l.h" "/usr/lib/$multiarch/libppn-$l.a" \
    "/usr/lib/$multiarch/libppn-$l.so" "/usr/lib/$multiarch/pkgconfig/libppn-$l.pc"
  dpkg-deb -f "$dev" Depends | grep -q "libppn-${l}1 (= $deb_version)" ||
    bad "libppn-dev does not depend on libppn-${l}1 (= $deb_version)"
done
tdeb=$(deb ppn-tools "$arch")
has "$tdeb" "${tools[@]/#//usr/bin/}" /usr/share/man/man1/ppn-ledger.1.gz \
  /usr/share/man/man1/ppn-pair.1.gz /usr/share/man/man1/ppn-vm.1.gz /usr/share/man/man8/ppn-wg.8.gz
# the services' units (doc/services.md), in systemd's directory under /usr
has "$tdeb" /usr/lib/systemd/system/ppn-mesh.service /usr/lib/systemd/system/ppn-vm-host.service \
  /usr/lib/systemd/system/ppn-vm-fleet.service /usr/lib/systemd/system/ppn-pairing.service
# the ppn-vm system user (QEMU's -runas, `ppn-vm create`'s default): its
# sysusers.d file, and a postinst that creates it from that file
has "$tdeb" /usr/lib/sysusers.d/ppn-vm.conf
grep -qx 'u ppn-vm - "PPN VM guests (QEMU -runas)" / /usr/sbin/nologin' \
  <(dpkg-deb --fsys-tarfile "$tdeb" | tar -xOf - ./usr/lib/sysusers.d/ppn-vm.conf) ||
  bad "ppn-tools' sysusers.d/ppn-vm.conf does not declare the ppn-vm user"
dpkg-deb --ctrl-tarfile "$tdeb" | tar -xOf - ./postinst 2>/dev/null | grep -q 'systemd-sysusers.*ppn-vm.conf' ||
  bad "ppn-tools' postinst does not create the ppn-vm user (systemd-sysusers ppn-vm.conf)"
docdeb=$(deb libppn-doc all)
for f in "$src"/doc/*.md README.md NEWS; do
  n=$(basename "$f")
  contents "$docdeb" | grep -qxE "/usr/share/doc/libppn/$n(\.gz)?" || bad "libppn-doc lacks /usr/share/doc/libppn/$n"
done
# meson installs all of doc/ but man/ and meson.build there (install_subdir):
# anything not a page is misplaced (completions, units: outside doc/).
other=$(contents "$docdeb" | grep '^/usr/share/doc/libppn/.' | grep -vxE '/usr/share/doc/libppn/([^/]+\.md|NEWS)(\.gz)?' || true)
[ -z "$other" ] || bad "share/doc/libppn holds files that are not pages (move them out of doc/ or exclude them): $other"

# Unpack every package (not the -dbgsym ones) into a temporary root.
root=$work/root
mkdir "$root"
for d in "$work"/*.deb; do
  case $d in *-dbgsym_*) continue ;; esac
  dpkg-deb -x "$d" "$root"
done
libdir=$root/usr/lib/$multiarch

# The tools' shlibs dependencies name every libppn library they link.
for t in "${tools[@]}"; do
  for n in $(readelf -d "$root/usr/bin/$t" | sed -n 's/.*(NEEDED).*\[libppn-\([a-z]*\)\.so\.1\]/\1/p'); do
    dpkg-deb -f "$tdeb" Depends | grep -q "libppn-${n}1 (>= " || bad "ppn-tools links libppn-$n but does not depend on libppn-${n}1"
  done
done

# A program per library from pkg-config alone: shared, then static (the
# archive and pkg-config --static's private dependencies).  The packaged .pc
# files with their prefix moved into the temporary root; the Requires.private
# modules (libsodium, ...) from this system, as the -dev package depends on them.
mkdir "$work/pc"
for l in "${libs[@]}"; do
  sed "s#^prefix=/usr\$#prefix=$root/usr#" "$libdir/pkgconfig/libppn-$l.pc" >"$work/pc/libppn-$l.pc"
done
export PKG_CONFIG_PATH=$work/pc
# pkg-config resolves Requires.private even without --static: libppn-dev must
# depend on the Debian package of each such module.
for l in "${libs[@]}"; do
  for m in $(pkg-config --print-requires-private "libppn-$l" | awk '{print $1}'); do
    p=$(dpkg -S "$(pkg-config --variable=pcfiledir "$m")/$m.pc" 2>/dev/null | cut -d: -f1)
    [ -n "$p" ] || { bad "no installed package holds $m.pc (needed by libppn-$l.pc)"; continue; }
    dpkg-deb -f "$dev" Depends | tr ',' '\n' | sed 's/^ *//; s/ .*//' | grep -qx "$p" ||
      bad "libppn-dev does not depend on $p ($m, Requires.private of libppn-$l.pc)"
  done
done
for l in "${libs[@]}"; do
  if ! cflags=$(pkg-config --cflags "libppn-$l") || ! lflags=$(pkg-config --libs "libppn-$l") ||
     ! sflags=$(pkg-config --static --libs "libppn-$l"); then
    bad "pkg-config libppn-$l"; continue
  fi
  # shellcheck disable=SC2046,SC2086
  if ! cc -std=c99 -Wall -Werror $cflags "$progs/use-$l.c" -o "$work/use-$l" $lflags; then
    bad "use-$l.c does not build against the packaged libppn-$l"; continue
  fi
  if ! out=$(LD_LIBRARY_PATH=$libdir "$work/use-$l" "$version"); then
    bad "use-$l: $out"; continue
  fi
  readelf -d "$work/use-$l" | grep -q "NEEDED.*\[libppn-$l\.so\.1\]" || bad "use-$l does not need libppn-$l.so.1"
  # shellcheck disable=SC2046,SC2086
  if ! cc -std=c99 -Wall -Werror $cflags "$progs/use-$l.c" -o "$work/use-$l-static" \
         $(printf '%s\n' $sflags | sed "s#^-lppn-$l\$#$libdir/libppn-$l.a#"); then
    bad "use-$l.c does not link the packaged libppn-$l.a with pkg-config --static"; continue
  fi
  if readelf -d "$work/use-$l-static" | grep -q 'NEEDED.*libppn'; then bad "use-$l-static needs a libppn shared library"; fi
  out=$("$work/use-$l-static" "$version") || { bad "use-$l-static: $out"; continue; }
  echo "ok libppn-$l (shared and static): $out"
done

# All five archives in one program (as a tool links them): each carries its
# own copy of the internal common/ objects, which must not collide.
{
  for l in "${libs[@]}"; do echo "#include <ppn/$l.h>"; done
  echo '#include <stdio.h>'
  echo 'int main(void) {'
  for l in "${libs[@]}"; do echo "    printf(\"%s \", ppn_${l}_version());"; done
  echo '    return 0;'
  echo '}'
} >"$work/use-all.c"
sall=$(pkg-config --static --libs "${libs[@]/#/libppn-}")
# shellcheck disable=SC2086
for l in "${libs[@]}"; do sall=$(printf '%s\n' $sall | sed "s#^-lppn-$l\$#$libdir/libppn-$l.a#"); done
# shellcheck disable=SC2046,SC2086
if cc -std=c99 -Wall -Werror $(pkg-config --cflags "${libs[@]/#/libppn-}") "$work/use-all.c" \
     -o "$work/use-all" $sall && out=$("$work/use-all") &&
   [ "$out" = "$(printf "$version %.0s" "${libs[@]}")" ]; then
  echo "ok the five static libraries in one program"
else
  bad "one program with the five packaged static libraries: ${out:-does not link}"
fi

# The packaged tools run from the packaged libraries.
for t in "${tools[@]}"; do
  if ! out=$(LD_LIBRARY_PATH=$libdir "$root/usr/bin/$t" --help 2>&1) || ! grep -q "^Usage: $t " <<<"$out"; then
    bad "$t --help: $out"
  fi
done
if LD_LIBRARY_PATH=$libdir "$root/usr/bin/ppn-pair" keys --state "$work/node" >/dev/null &&
   LD_LIBRARY_PATH=$libdir "$root/usr/bin/ppn-ledger" init "$work/ledger" --origin pkg.test \
     --mesh 10.9.0.0/24 --key "$work/node/identity.key" >/dev/null &&
   LD_LIBRARY_PATH=$libdir "$root/usr/bin/ppn-ledger" verify "$work/ledger" >/dev/null; then
  echo "ok ppn-tools: ppn-pair keys, ppn-ledger init and verify"
else
  bad "the packaged ppn-pair keys / ppn-ledger init / verify"
fi
exit $fail
