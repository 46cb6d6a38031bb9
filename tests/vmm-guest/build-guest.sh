#!/usr/bin/env bash
# build-guest.sh OUTDIR — a tiny test guest for libppn-vmm (see README.md).
#
# Writes OUTDIR/vmlinuz (the Debian kernel of /boot), OUTDIR/initrd.gz (busybox
# + virtio_balloon, button, evdev, virtio_blk, vfat, virtio_net; `busybox acpid` powers off
# on the power button; a cidata seed's hostname and user are printed; with a NIC,
# eth0 is 10.0.2.15 (QEMU's user network) and TCP 9096 answers one line) and OUTDIR/initrd-deaf.gz (the same guest without acpid: it ignores
# the button).  Cached: rebuilt only when the kernel, busybox or this script
# change.  Exit 0 on success, 1 with a message on stderr otherwise.
set -euo pipefail
out=${1:?usage: build-guest.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)

kver=${PPN_GUEST_KERNEL:-$(ls /boot | sed -n 's/^vmlinuz-//p' | sort -V | tail -n1)}
[ -n "$kver" ] && [ -r "/boot/vmlinuz-$kver" ] || { echo "build-guest.sh: no readable /boot/vmlinuz-*" >&2; exit 1; }
moddir=/lib/modules/$kver
[ -d "$moddir" ] || { echo "build-guest.sh: no $moddir" >&2; exit 1; }
bb=$(command -v busybox) || { echo "build-guest.sh: busybox not found (apt-get install busybox-static)" >&2; exit 1; }
file -L "$bb" 2>/dev/null | grep -q 'statically linked' || ldd "$bb" 2>&1 | grep -q 'not a dynamic' ||
  { echo "build-guest.sh: $bb is not static (apt-get install busybox-static)" >&2; exit 1; }

key=$( { echo "$kver"; sha256sum "$bb" "$0" "/boot/vmlinuz-$kver"; } | sha256sum | cut -c1-16)
mkdir -p "$out"
if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$key" ] &&
   [ -s "$out/vmlinuz" ] && [ -s "$out/initrd.gz" ] && [ -s "$out/initrd-deaf.gz" ]; then
  exit 0
fi

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,etc/acpi/PWRF,lib/modules}
cp "$bb" "$root/bin/busybox"
for a in sh mount insmod poweroff acpid cat echo sleep ls mdev findfs sed grep hostname head dd sync mkdir printf ip nc; do
  ln -s busybox "$root/bin/$a"
done

# Modules in dependency order (modprobe --show-depends), decompressed.
order=$tmp/order
: > "$order"
for m in virtio_pci virtio_balloon button evdev virtio_blk vfat nls_cp437 nls_ascii nls_utf8 virtio_net; do
  modprobe -S "$kver" --show-depends "$m" | awk '$1 == "insmod" {print $2}' >> "$order"
done
n=0
while read -r ko; do
  base=$(basename "$ko"); base=${base%.xz}; base=${base%.zst}
  grep -qx "$base" "$tmp/seen" 2>/dev/null && continue
  echo "$base" >> "$tmp/seen"
  case $ko in
    *.xz) xz -dc "$ko" > "$root/lib/modules/$base" ;;
    *.zst) zstd -qdc "$ko" > "$root/lib/modules/$base" ;;
    *) cp "$ko" "$root/lib/modules/$base" ;;
  esac
  printf '%02d-%s\n' "$n" "$base" >> "$tmp/loadlist"; n=$((n+1))
done < "$order"
sed 's/^[0-9]*-//' "$tmp/loadlist" > "$root/lib/modules/load-order"

cat > "$root/etc/acpi/PWRF/00000080" <<'A'
#!/bin/sh
echo "ppn-guest: power button, powering off" > /dev/console
poweroff -f
A
chmod 755 "$root/etc/acpi/PWRF/00000080"

write_init() { # $1 = acpid (1) or deaf (0)
  cat > "$root/init" <<I
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
while read -r m; do insmod /lib/modules/\$m 2>/dev/null || echo "ppn-guest: insmod \$m failed"; done < /lib/modules/load-order
# A stand-in for cloud-init's NoCloud datasource: the file system labelled
# cidata, its meta-data and user-data as libppn-vmm writes them.
if ls /sys/block 2>/dev/null | grep -q '^vd'; then
  seed=\$(findfs LABEL=cidata 2>/dev/null)
  if [ -n "\$seed" ] && mkdir -p /cidata && mount -t vfat -o ro "\$seed" /cidata; then
    h=\$(sed -n 's/^local-hostname: "\\(.*\\)"\$/\\1/p' /cidata/meta-data)
    u=\$(sed -n 's/^  - name: "\\(.*\\)"\$/\\1/p' /cidata/user-data)
    k=\$(grep -c '^ *- "ssh-' /cidata/user-data)
    net=no; [ -f /cidata/network-config ] && net=yes
    [ -n "\$h" ] && hostname "\$h"
    echo "ppn-guest: cidata \$seed hostname=\$(hostname) user=\$u keys=\$k network-config=\$net"
  else
    echo "ppn-guest: no cidata"
  fi
  # the overlay test's disk: read the base's first bytes, write sector 1
  if [ -b /dev/vda ] && [ "\$(head -c 8 /dev/vda)" = "PPN-BASE" ]; then
    echo "ppn-guest: vda starts PPN-BASE"
    printf 'PPN-GUEST-WROTE' | dd of=/dev/vda bs=512 seek=1 conv=notrunc 2>/dev/null && sync &&
      echo "ppn-guest: vda sector 1 written"
  fi
fi
# A NIC (QEMU's user network, no --no-network): a listener on TCP 9096 (VM-MediaKit's first
# forward, 19096 -> 9096), one line per connection, so that a forward is seen to answer
if [ -e /sys/class/net/eth0 ] && ip link set lo up && ip addr add 10.0.2.15/24 dev eth0 && ip link set eth0 up; then
  nc -ll -p 9096 -e /bin/sh -c 'echo "ppn-guest: port 9096 on \$(hostname)"' &
  echo "ppn-guest: eth0 10.0.2.15, listening on 9096"
fi
# ppn.touch=N (the pool tests): touch N MiB once and free it, so that the
# host holds pages the guest has free -- what a balloon gives back
t=\$(sed -n 's/.*ppn\.touch=\([0-9]*\).*/\1/p' /proc/cmdline)
if [ -n "\$t" ] && dd if=/dev/zero of=/dev/null bs=\${t}M count=1 2>/dev/null; then
  echo "ppn-guest: touched \$t MiB"
fi
if [ "$1" = 1 ]; then
  acpid -c /etc/acpi -l /tmp/acpid.log
  echo "ppn-guest: ready acpid"
else
  echo "ppn-guest: ready deaf"
fi
# keep PID 1 alive; the power button (acpid) or the host ends the guest
while true; do sleep 3600; done
I
  chmod 755 "$root/init"
}

pack() { (cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) | gzip -9n > "$1.tmp" && mv "$1.tmp" "$1"; }
write_init 1; pack "$out/initrd.gz"
write_init 0; rm -rf "$root/etc/acpi"; pack "$out/initrd-deaf.gz"
cp "/boot/vmlinuz-$kver" "$out/vmlinuz.tmp" && mv "$out/vmlinuz.tmp" "$out/vmlinuz"
echo "$key" > "$out/.stamp"
