#!/usr/bin/env bash
# Runs one command inside a QEMU/TCG guest that has a Debian kernel with
# WireGuard and the host's whole userland (read-only 9p root + tmpfs
# overlay).  See tests/microvm/README.md.
#
#   run-in-guest.sh [--systemd] [--timeout SECONDS] [--mem MiB] [--cpus N] -- COMMAND [ARGS...]
#
# --systemd: systemd is PID 1 in the guest and the command runs as a oneshot
# service of ppn-test.target (systemctl works; units can be started).
# The command runs as root in the current working directory with the
# current environment; its output (stdout and stderr) is streamed to
# stdout.  Exit status: the command's; 124 when the guest timed out; 125
# when the guest did not report a result (boot failure, crash); 126 for a
# host-side problem (no kernel with WireGuard, no qemu).
set -euo pipefail

timeout_s=300
mem=1024
cpus=2
systemd=0
while [ $# -gt 0 ]; do
  case "$1" in
    --systemd) systemd=1; shift ;;
    --timeout) timeout_s=$2; shift 2 ;;
    --timeout=*) timeout_s=${1#*=}; shift ;;
    --mem) mem=$2; shift 2 ;;
    --mem=*) mem=${1#*=}; shift ;;
    --cpus) cpus=$2; shift 2 ;;
    --cpus=*) cpus=${1#*=}; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --) shift; break ;;
    *) echo "run-in-guest: unknown option '$1'" >&2
       echo "usage: run-in-guest.sh [--systemd] [--timeout SECONDS] [--mem MiB] [--cpus N] -- COMMAND [ARGS...]" >&2
       exit 126 ;;
  esac
done
if [ $# -eq 0 ]; then
  echo "run-in-guest: no command given" >&2
  echo "usage: run-in-guest.sh [--systemd] [--timeout SECONDS] [--mem MiB] [--cpus N] -- COMMAND [ARGS...]" >&2
  exit 126
fi
case "$timeout_s$mem$cpus" in *[!0-9]*) echo "run-in-guest: --timeout, --mem and --cpus take numbers" >&2; exit 126 ;; esac

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# Cache: $PPN_MICROVM_DIR (the meson tests point it into their build dir),
# else <repo>/build/microvm when that build dir exists, else /tmp.
cache=${PPN_MICROVM_DIR:-}
if [ -z "$cache" ]; then
  if [ -d "$repo/build" ]; then cache=$repo/build/microvm; else cache=${TMPDIR:-/tmp}/ppn-microvm-$(id -u); fi
fi
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

die() { echo "run-in-guest: $*" >&2; exit 126; }

qemu=$(command -v qemu-system-x86_64) || die "qemu-system-x86_64 not found"
busybox=$(command -v busybox) || die "busybox not found"
[ -n "$(ldd "$busybox" 2>&1 | grep -v 'not a dynamic' || true)" ] && die "busybox must be static (busybox-static)"

# The newest kernel that has a WireGuard module.
kver=
for k in $(ls -1 /boot/vmlinuz-* 2>/dev/null | sed 's|/boot/vmlinuz-||' | sort -V -r); do
  if [ -n "$(find "/lib/modules/$k" -name 'wireguard.ko*' 2>/dev/null | head -1)" ]; then kver=$k; break; fi
done
[ -n "$kver" ] || die "no /boot/vmlinuz-* with a wireguard module in /lib/modules"
kernel=/boot/vmlinuz-$kver

# Modules in dependency order, each once.
modules=()
for m in virtio_pci 9pnet_virtio 9p overlay wireguard veth; do
  while read -r verb path _; do
    [ "$verb" = insmod ] || continue
    seen=0
    for x in "${modules[@]}"; do [ "$x" = "$path" ] && seen=1; done
    [ $seen = 1 ] || modules+=("$path")
  done < <(modprobe -S "$kver" --show-depends "$m" 2>/dev/null || true)
done
[ ${#modules[@]} -gt 0 ] || die "modprobe --show-depends found no modules for $kver"

# /tmp is deliberately not a fresh tmpfs: a checkout or build tree under the host's
# /tmp (CI clones anywhere) must stay visible; writes land in the overlay's tmpfs anyway.
init_script='#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
while read -r m; do insmod "/modules/$m" || echo "microvm: insmod $m failed"; done < /modules/order
job= mode=
for w in $(cat /proc/cmdline); do case "$w" in ppn.job=*) job=${w#ppn.job=} ;; ppn.mode=*) mode=${w#ppn.mode=} ;; esac; done
mkdir -p /host /ovl /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose host /host || echo "microvm: 9p mount failed"
mount -t tmpfs -o size=80% tmpfs /ovl
mkdir -p /ovl/upper /ovl/work
mount -t overlay overlay -o lowerdir=/host,upperdir=/ovl/upper,workdir=/ovl/work /newroot || echo "microvm: overlay mount failed"
mount -t proc proc /newroot/proc
mount -t sysfs sys /newroot/sys
mount -t devtmpfs dev /newroot/dev
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts devpts /newroot/dev/pts
mount -t tmpfs tmpfs /newroot/dev/shm
ln -sf /proc/self/fd /newroot/dev/fd
ln -sf /proc/self/fd/0 /newroot/dev/stdin
ln -sf /proc/self/fd/1 /newroot/dev/stdout
ln -sf /proc/self/fd/2 /newroot/dev/stderr
mount -t tmpfs tmpfs /newroot/run
ip link set lo up
hostname ppn-guest
if [ "$mode" = systemd ] && [ -n "$job" ] && [ -f "/newroot$job" ]; then
  # systemd as PID 1 (tests/microvm/README.md): the test is a oneshot of
  # ppn-test.target; what a test does not need is masked (boot time).
  d=/newroot/etc/systemd/system
  mkdir -p $d
  for u in $(cat /modules/masked); do ln -sf /dev/null "$d/$u"; done
  printf "%s\n" "[Unit]" "Description=ppn microvm test" "Requires=basic.target ppn-test.service" \
    "After=basic.target ppn-test.service" "AllowIsolate=yes" > $d/ppn-test.target
  printf "%s\n" "[Unit]" "Description=ppn microvm test command" "After=basic.target" \
    "[Service]" "Type=oneshot" "ExecStart=/etc/ppn-microvm-test.sh $job" "StandardInput=null" \
    "StandardOutput=tty" "StandardError=inherit" "TTYPath=/dev/ttyS0" "TimeoutStartSec=infinity" > $d/ppn-test.service
  printf "%s\n" "#!/bin/bash" "read -r up _ < /proc/uptime" "echo \"PPN-MICROVM-BOOT: \$up\"" \
    "echo PPN-MICROVM-START" "/bin/bash \"\$1\"" "echo \"PPN-MICROVM-RESULT: \$?\"" \
    "/bin/systemctl poweroff --force --force" > /newroot/etc/ppn-microvm-test.sh
  chmod 755 /newroot/etc/ppn-microvm-test.sh
  mkdir -p /newroot/etc/systemd/system.conf.d
  printf "%s\n" "[Manager]" "ShowStatus=no" > /newroot/etc/systemd/system.conf.d/ppn-microvm.conf
  umount /proc /sys /dev 2>/dev/null
  exec switch_root /newroot /lib/systemd/systemd systemd.unit=ppn-test.target
  echo "microvm: switch_root failed"
fi
status=125
if [ -n "$job" ] && [ -f "/newroot$job" ]; then
  echo "PPN-MICROVM-START"
  chroot /newroot /bin/bash "$job"
  status=$?
else
  echo "microvm: no job file"
fi
echo "PPN-MICROVM-RESULT: $status"
poweroff -f
'

# Units a --systemd test does not need: over 9p systemd-tmpfiles-setup alone
# takes about a minute under TCG; udev, the journal's flush to /var, the
# kernel's debug file systems, timers and the host's own services go too.
masked='systemd-tmpfiles-setup.service systemd-tmpfiles-setup-dev.service systemd-tmpfiles-clean.timer
systemd-udevd.service systemd-udev-trigger.service systemd-udevd-control.socket systemd-udevd-kernel.socket
systemd-udev-settle.service systemd-journal-flush.service systemd-journal-catalog-update.service
systemd-random-seed.service systemd-update-utmp.service systemd-sysusers.service systemd-firstboot.service
systemd-machine-id-commit.service systemd-repart.service systemd-binfmt.service proc-sys-fs-binfmt_misc.automount
systemd-modules-load.service systemd-sysctl.service systemd-remount-fs.service systemd-fsck-root.service
ldconfig.service systemd-hwdb-update.service systemd-update-done.service systemd-pstore.service
systemd-timesyncd.service systemd-pcrphase.service systemd-pcrphase-sysinit.service kmod-static-nodes.service
dev-hugepages.mount dev-mqueue.mount sys-kernel-debug.mount sys-kernel-tracing.mount sys-kernel-config.mount
sys-fs-fuse-connections.mount systemd-ask-password-console.path systemd-ask-password-wall.path
timers.target dbus.socket dbus.service systemd-journald-audit.socket getty.target serial-getty@ttyS0.service
systemd-logind.service postgresql.service apparmor.service'

# Rebuild the initramfs when any input changed.
stamp_in=$( { echo "$kver"; echo "$init_script"; echo "$masked"; sha256sum "$busybox";
              for m in "${modules[@]}"; do stat -c '%n %s %Y' "$m"; done; } | sha256sum | cut -d' ' -f1)
initrd=$cache/initrd-$kver.gz
(
  flock 9
  if [ ! -f "$initrd" ] || [ "$(cat "$cache/initrd.stamp" 2>/dev/null)" != "$stamp_in" ]; then
    work=$(mktemp -d "$cache/initrd.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    mkdir -p "$work"/{bin,proc,sys,dev,modules,tmp}
    cp "$busybox" "$work/bin/busybox"
    printf '%s' "$init_script" > "$work/init"
    chmod 755 "$work/init"
    : > "$work/modules/order"
    echo "$masked" | tr ' ' '\n' | grep . > "$work/modules/masked"
    for m in "${modules[@]}"; do
      b=$(basename "$m")
      case "$m" in
        *.ko.xz) xz -dc "$m" > "$work/modules/${b%.xz}"; b=${b%.xz} ;;
        *.ko.zst) zstd -qdc "$m" > "$work/modules/${b%.zst}"; b=${b%.zst} ;;
        *.ko.gz) gzip -dc "$m" > "$work/modules/${b%.gz}"; b=${b%.gz} ;;
        *) cp "$m" "$work/modules/$b" ;;
      esac
      echo "$b" >> "$work/modules/order"
    done
    (cd "$work" && find . | cpio -o -H newc --quiet | gzip -1) > "$initrd.tmp"
    mv "$initrd.tmp" "$initrd"
    echo "$stamp_in" > "$cache/initrd.stamp"
    rm -rf "$work"
    trap - EXIT
  fi
) 9>"$cache/initrd.lock"

# The job: working directory, environment, command; visible to the guest
# at the same path through the shared root.
mkdir -p "$cache/jobs"
job=$(mktemp "$cache/jobs/job.XXXXXX")
trap 'rm -f "$job"' EXIT
{
  echo '#!/bin/bash'
  export -p | grep -v -E '^declare -x (PWD|OLDPWD|SHLVL|_|HOSTNAME|TERM)=' || true
  echo 'export TERM=dumb WG_COLOR_MODE=never'
  printf 'cd %q || exit 125\n' "$PWD"
  printf 'exec'
  printf ' %q' "$@"
  echo ' </dev/null 2>&1'
} > "$job"
chmod 644 "$job"

# QEMU's stdout carries the serial console; pass everything through except
# the result line, which gives the status.
status_file=$job.status
extra_append=
# systemd: no status lines on the console, no fstab, no GPT auto-mounts.
[ $systemd = 1 ] && extra_append="ppn.mode=systemd systemd.show_status=0 fstab=0 systemd.gpt_auto=0 systemd.log_level=warning"
boot_once() {
  set +e
  timeout --kill-after=10 "$timeout_s" "$qemu" -accel tcg -machine q35 -cpu max \
    -m "$mem" -smp "$cpus" -nographic -no-reboot -nodefaults -serial stdio \
    -kernel "$kernel" -initrd "$initrd" \
    -append "console=ttyS0 panic=-1 no_timer_check quiet loglevel=3 ppn.job=$job $extra_append" \
    -virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap \
    </dev/null 2>&1 | {
      # Boot output is shown only when the guest never starts the command.
      result= started=0 boot=
      while IFS= read -r line; do
        line=${line%$'\r'}
        case "$line" in
          *PPN-MICROVM-BOOT:*) echo "run-in-guest: systemd started the test ${line##*PPN-MICROVM-BOOT: } s after the kernel" >&2 ;;
          *PPN-MICROVM-START) started=1 ;;
          *PPN-MICROVM-RESULT:*) result=${line##*PPN-MICROVM-RESULT: }; started=2 ;;
          *) if [ $started = 1 ]; then printf '%s\n' "$line"; else boot+=$line$'\n'; fi ;;
        esac
      done
      [ $started != 0 ] || printf '%s' "$boot" | tr -cd '[:print:]\n' >&2
      echo "$started $result" > "$status_file"
    }
  rc=${PIPESTATUS[0]}
  set -e
  read -r started result < "$status_file" || true
  rm -f "$status_file"
}

# A guest that dies before it reaches the command (a TCG boot hiccup on a
# loaded host) is booted once more; a command that ran is never re-run.
boot_once
if [ "${started:-0}" = 0 ] && [ "$rc" != 124 ] && [ "$rc" != 137 ]; then
  echo "run-in-guest: the guest did not reach the command (qemu exit $rc); booting once more" >&2
  boot_once
fi
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
  echo "run-in-guest: timed out after ${timeout_s}s" >&2
  exit 124
fi
case "${result:-}" in
  ''|*[!0-9]*) echo "run-in-guest: the guest reported no result (qemu exit $rc)" >&2; exit 125 ;;
esac
exit "$result"
