#!/usr/bin/env bash
# Installs the build into a temporary DESTDIR, then builds and runs one small
# program per library using nothing but `pkg-config --cflags --libs`.
set -eu
build=$1; progs=$2; sanitize=$3; version=$4
dest=$(mktemp -d); trap 'rm -rf "$dest"' EXIT
meson install -C "$build" --no-rebuild --destdir "$dest" --quiet >/dev/null
pcdir=$(dirname "$(find "$dest" -name libppn-crypto.pc | head -n1)")
[ -d "$pcdir" ] || { echo "FAIL: no libppn-crypto.pc installed"; exit 1; }
libdir=$(dirname "$pcdir")
export PKG_CONFIG_LIBDIR="$pcdir:$(pkg-config --variable pc_path pkg-config)"
export PKG_CONFIG_SYSROOT_DIR="$dest"
san=()
[ "$sanitize" != none ] && san=(-fsanitize="$sanitize")
fail=0
for l in crypto ledger wg vmm fleet; do
  for f in "$libdir/libppn-$l.so.1" "$libdir/libppn-$l.a"; do
    [ -e "$f" ] || { echo "FAIL: $f not installed"; fail=1; }
  done
  cflags=$(pkg-config --cflags "libppn-$l") && libs=$(pkg-config --libs "libppn-$l") || { fail=1; continue; }
  # shellcheck disable=SC2086
  if ! cc -std=c99 -Wall -Werror "${san[@]}" $cflags "$progs/use-$l.c" -o "$dest/use-$l" $libs; then
    echo "FAIL: use-$l.c does not build against the installed libppn-$l"; fail=1; continue
  fi
  if ! out=$(LD_LIBRARY_PATH="$libdir" "$dest/use-$l" "$version"); then
    echo "FAIL: use-$l: $out"; fail=1; continue
  fi
  echo "ok libppn-$l: $out"
  # statically, by a program that has internal-sounding names of its own
  static=$(pkg-config --static --libs "libppn-$l" | sed 's/-lppn-[a-z]*//')
  # shellcheck disable=SC2086
  if ! cc -std=c99 -Wall -Werror "${san[@]}" $cflags -DPPN_OWN_NAMES "$progs/use-$l.c" "$progs/own-names.c" \
       -o "$dest/use-$l-static" "$libdir/libppn-$l.a" $static; then
    echo "FAIL: use-$l.c does not link statically next to its own ppnc_* names"; fail=1; continue
  fi
  if ! out=$("$dest/use-$l-static" "$version"); then
    echo "FAIL: use-$l (static): $out"; fail=1; continue
  fi
  leaked=$(nm "$libdir/libppn-$l.a" | awk '$2 ~ /^[A-Z]$/ && $2 != "U" && $2 != "W" && $3 !~ /^ppn_/ {print $3}' | head -3)
  [ -z "$leaked" ] || { echo "FAIL: libppn-$l.a exports internal symbols: $leaked"; fail=1; continue; }
  echo "ok libppn-$l.a: only ppn_* symbols; linked beside a program's own ppnc_wipe"
done
exit $fail
