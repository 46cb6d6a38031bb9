#!/usr/bin/env bash
# The services' units (units/, doc/services.md) as meson installs them:
#   1. `meson install --destdir` puts ppn-mesh, ppn-vm-host and ppn-vm-fleet
#      into the unit directory;
#   2. `systemd-analyze verify` accepts each installed unit (its ExecStart
#      pointed at the installed binary under DESTDIR) with no message at all
#      (unknown keys are only warnings there: any output fails), and a unit
#      with a misspelt key is caught (the check can fail);
#   3. each has readiness, a restart policy (the pairing: one attempt, a window), a runtime directory and its
#      hardening (a grep of the directives, the guest test checks they act);
#   4. the copies generated for the tests differ only in paths.
# Usage: units-verify-test.sh BUILDDIR SRCDIR
set -uo pipefail
build=$1; src=$2
sa=$(command -v systemd-analyze) || { echo "FAIL: systemd-analyze not found (apt-get install systemd)"; exit 1; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
fails=0
ok() { echo "ok - $*"; }
bad() { echo "not ok - $*"; fails=$((fails + 1)); }
units=(ppn-mesh.service ppn-vm-host.service ppn-vm-fleet.service ppn-pairing.service)

dest=$work/dest
meson install -C "$build" --no-rebuild --destdir "$dest" --tags runtime --quiet >/dev/null 2>"$work/install.err" ||
  { cat "$work/install.err"; bad "meson install"; }
unitdir=$(meson introspect "$build" --installed | python3 -c '
import json, sys
for built, inst in json.load(sys.stdin).items():
    if inst.endswith("/ppn-mesh.service"): print(inst.rsplit("/", 1)[0])')
[ -n "$unitdir" ] || bad "ppn-mesh.service is not among the installed files"

verify() { # DIR UNIT...: verify with no output
  local d=$1; shift
  (cd "$d" && "$sa" verify --man=no "$@") >"$work/verify.out" 2>&1
  local rc=$?
  [ $rc = 0 ] && [ ! -s "$work/verify.out" ]
}
mkdir "$work/inst"
for u in "${units[@]}"; do
  f=$dest$unitdir/$u
  [ -f "$f" ] || { bad "$u not installed in $unitdir"; continue; }
  exe=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$f")
  [ -x "$dest$exe" ] || bad "$u: ExecStart $exe is not an installed binary"
  sed -E "s|^(Exec[A-Za-z]*=)$exe |\1$dest$exe |" "$f" > "$work/inst/$u"
done
if verify "$work/inst" "${units[@]}"; then ok "systemd-analyze verify: the installed units ($unitdir), silent"
else bad "systemd-analyze verify of the installed units:"; cat "$work/verify.out"; fi

mkdir "$work/neg"
sed 's/^NoNewPrivileges=/NoNewPrivilege=/' "$work/inst/ppn-mesh.service" > "$work/neg/ppn-mesh.service"
if verify "$work/neg" ppn-mesh.service; then bad "a misspelt key passed the check"
else ok "a misspelt key is caught ($(head -1 "$work/verify.out" | sed 's/.*: //'))"; fi

for u in "${units[@]}"; do
  f=$work/inst/$u
  [ -f "$f" ] || continue
  miss=()
  # the pairing service: one attempt (Restart=no) within a window (RuntimeMaxSec)
  restart=('^Restart=on-failure$' '^RestartSec=')
  [ "$u" = ppn-pairing.service ] && restart=('^Restart=no$' '^RuntimeMaxSec=')
  for d in '^Type=notify$' '^NotifyAccess=main$' "${restart[@]}" '^RuntimeDirectory=' \
           '^StateDirectory=' '^EnvironmentFile=' '^NoNewPrivileges=yes$' '^CapabilityBoundingSet=' \
           '^ProtectSystem=strict$' '^ProtectHome=yes$' '^PrivateTmp=yes$' '^LockPersonality=yes$' \
           '^RestrictAddressFamilies=' '^SystemCallFilter=@system-service' '^SystemCallArchitectures=native$'; do
    grep -q "$d" "$f" || miss+=("$d")
  done
  [ ${#miss[@]} = 0 ] && ok "$u: readiness, restart policy, directories, hardening" || bad "$u lacks ${miss[*]}"
done
for u in ppn-mesh.service ppn-pairing.service; do
  grep -q '^CapabilityBoundingSet=CAP_NET_ADMIN$' "$work/inst/$u" && ok "$u: CAP_NET_ADMIN only" || bad "$u capabilities"
done
for u in ppn-vm-host.service ppn-vm-fleet.service; do
  grep -q '^CapabilityBoundingSet=$' "$work/inst/$u" && ok "$u: no capability" || bad "$u capabilities"
done

strip() { grep -v -E '^(Exec[A-Za-z]*|EnvironmentFile|ConditionPathExists|Documentation)=|^#' "$1"; }
for u in "${units[@]}"; do
  if diff <(strip "$build/units/$u") <(strip "$build/units/test-$u") >/dev/null; then ok "test-$u differs from $u only in paths"
  else bad "test-$u and $u differ beyond paths"; fi
done
[ $fails = 0 ] && echo "units verify: OK" || echo "units verify: $fails failure(s)"
exit $fails
