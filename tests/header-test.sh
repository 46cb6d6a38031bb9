#!/usr/bin/env bash
# Compiles every public header under $1/ppn alone: as C99 with -pedantic
# -Werror, twice in one unit (include guards), and as C++11.
set -u
inc=$1
cc=${CC:-cc}; cxx=${CXX:-c++}
fail=0; n=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for h in "$inc"/ppn/*.h; do
  name=ppn/$(basename "$h")
  printf '#include <%s>\n#include <%s>\nint main(void) { return 0; }\n' "$name" "$name" > "$tmp/t.c"
  if ! $cc -std=c99 -pedantic -Wall -Wextra -Werror -I"$inc" -c "$tmp/t.c" -o "$tmp/t.o"; then
    echo "FAIL: $name does not compile alone as C99 -pedantic -Werror"; fail=1
  fi
  cp "$tmp/t.c" "$tmp/t.cc"
  if command -v "$cxx" >/dev/null && ! $cxx -std=c++11 -pedantic -Wall -Wextra -Werror -I"$inc" -c "$tmp/t.cc" -o "$tmp/t.o"; then
    echo "FAIL: $name does not compile alone as C++11"; fail=1
  fi
  n=$((n+1))
done
[ $n -gt 0 ] || { echo "FAIL: no headers in $inc/ppn"; exit 1; }
echo "$n header(s) checked"
exit $fail
