#!/bin/sh
# meson install script: each installed libppn-*.a becomes one relocatable
# object whose hidden symbols (the libraries' internals and the common
# helper, ppnc_*) are local, so a program that links the archive sees only
# the ppn_* API and may define names such as ppnc_wipe itself.
#   localize-static.sh LIBDIR   (relative to the install prefix)
set -eu
dir="${MESON_INSTALL_DESTDIR_PREFIX:?run by meson install}/$1"
for a in "$dir"/libppn-*.a; do
  [ -e "$a" ] || continue
  t=$(mktemp -d)
  ${LD:-ld} -r -o "$t/lib.o" --whole-archive "$a"
  ${OBJCOPY:-objcopy} --localize-hidden "$t/lib.o"
  rm -f "$a"
  ${AR:-ar} rcs "$a" "$t/lib.o"
  rm -rf "$t"
done
