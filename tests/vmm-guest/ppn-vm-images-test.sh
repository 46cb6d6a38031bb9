#!/usr/bin/env bash
# ppn-vm create with guest images, end to end: --base (a qcow2 overlay made by
# libppn-vmm), the cloud-init options (a NoCloud seed), each refused option
# with one line and nothing written; then the guest boots from the spec,
# finds its cidata seed and prints the hostname and user it was given.
#   ppn-vm-images-test.sh BUILD_ROOT
set -u
build=$1
guest_name=vmm-guest tmp_name=ppn-vm-images state_sub=state
. "$(dirname "$0")/guest-test-lib.sh"
disks=$work/disks
mkdir -p "$disks"
# refused: exit 1, one line on stderr (plus a usage line for wrong calls)
# naming the problem, nothing written in the state or disk directories
refused() { # refused DESCRIPTION PATTERN -- create arguments...
  local what=$1 pat=$2; shift 3
  local before; before=$(ls -A "$disks" | sort | tr '\n' ' ')
  expect 1 "refused: $what" -- "$V" create "$@"
  grep -q -- "$pat" "$work/err" || bad "$what: stderr lacks '$pat': $(cat "$work/err")"
  [ "$(grep -vc '^Usage:' "$work/err")" = 1 ] || bad "$what: not one line: $(cat "$work/err")"
  [ -z "$(ls -A "$state")" ] || bad "$what: the state directory is not empty: $(ls -A "$state")"
  [ "$(ls -A "$disks" | sort | tr '\n' ' ')" = "$before" ] || bad "$what: the disk directory changed"
}

base=$disks/base.raw
{ printf 'PPN-BASE'; head -c $((4 * 1024 * 1024 - 8)) /dev/zero | tr '\0' 'Z'; } > "$base"
sum0=$(sha256sum < "$base")
key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl foundry@laptop-a"
printf '# operator keys\n%s\n\nssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 second\n' "$key" > "$disks/keys.pub"
printf -- '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n' > "$disks/id_ed25519"
printf 'version: 2\nethernets:\n  id0:\n    match: {name: "en*"}\n    dhcp4: true\n' > "$disks/net.yaml"
printf 'ethernets: {}\n' > "$disks/net-bad.yaml"
printf '#cloud-config\npackages: [nginx, build-essential]\n' > "$disks/user-data"
printf 'Content-Type: multipart/mixed; boundary="x"\n\n--x\n--x--\n' > "$disks/user-data-mime"
head -c 70000 /dev/zero | tr '\0' '#' > "$disks/user-data-big"
qemu-img create -q -f vmdk "$disks/x.vmdk" 1M
qemu-img create -q -f qcow2 "$disks/cloud.img" 1G     # the Ubuntu case: qcow2 named .img
qemu-img create -q -f qcow2 "$disks/big.qcow2" 3G
touch "$disks/exists.qcow2"
boot=(--memory 256 --vcpus 1 --no-network --kernel "$guest/vmlinuz" --initrd "$guest/initrd.gz"
      --append "console=ttyS0 panic=-1 loglevel=3")
ov=$disks/g1.qcow2

expect 0 "create --help names the image options" -- "$V" create --help
for o in --base --hostname --user --ssh-key --user-data --network-config; do
  printf '%s\n' "$out" | grep -q -- "$o" || bad "help lacks $o"
done
refused "relative --base" "--base must be an absolute path" -- g1 --type mediakit "${boot[@]}" --disk "$ov" --base base.raw
refused "--base without --disk" "--base needs --disk" -- g1 --type mediakit "${boot[@]}" --base "$base"
refused "missing --base" "Failed to read --base '$disks/none.img'" -- g1 --type mediakit "${boot[@]}" --disk "$ov" --base "$disks/none.img"
refused "--base of another format" "not raw or qcow2" -- g1 --type mediakit "${boot[@]}" --disk "$ov" --base "$disks/x.vmdk"
refused "--disk exists with --base" "exists; an overlay" -- g1 --type mediakit "${boot[@]}" --disk "$disks/exists.qcow2" --base "$base"
refused "--disk-size under the base" "smaller than --base" -- g1 --type mediakit "${boot[@]}" --disk "$ov" --base "$disks/big.qcow2" --disk-size 2
refused "bad --hostname" "hostname:" -- g1 --type mediakit "${boot[@]}" --hostname VM_MediaKit
refused "bad --user" "user:" -- g1 --type mediakit "${boot[@]}" --user 'foundry;id'
refused "private key as --ssh-key" "private key" -- g1 --type mediakit "${boot[@]}" --ssh-key "$disks/id_ed25519"
refused "missing --ssh-key file" "Failed to read --ssh-key '$disks/none.pub'" -- g1 --type mediakit "${boot[@]}" --ssh-key "$disks/none.pub"
refused "bad literal --ssh-key" "ssh key:" -- g1 --type mediakit "${boot[@]}" --ssh-key "ssh-ed25519 not-base64!"
refused "missing --user-data" "Failed to read --user-data" -- g1 --type mediakit "${boot[@]}" --user-data "$disks/none"
refused "--user-data over 64 KiB" "over 65536 bytes" -- g1 --type mediakit "${boot[@]}" --user-data "$disks/user-data-big"
refused "MIME --user-data with --user" "put them in it" -- g1 --type mediakit "${boot[@]}" --user-data "$disks/user-data-mime" --user foundry
refused "bad --network-config" "network-config:" -- g1 --type mediakit "${boot[@]}" --network-config "$disks/net-bad.yaml"

# the seeds' VM-MediaKit: an overlay on the shared base and a cloud-init seed
expect 0 "create with --base and cloud-init" -- "$V" create g1 --type mediakit "${boot[@]}" --disk "$ov" --base "$base" \
  --hostname vm-mediakit --user foundry --ssh-key "$disks/keys.pub" --network-config "$disks/net.yaml" \
  --user-data "$disks/user-data"
printf '%s\n' "$out" | grep -q "disk $ov (qcow2, overlay on $base)" && ok "says overlay" || bad "create output: $out"
printf '%s\n' "$out" | grep -q "cloud-init seed: hostname vm-mediakit, user foundry, 2 SSH key(s), user-data, network-config" \
  && ok "says seed" || bad "create output: $out"
grep -q '"disk_format": "qcow2"' "$state/g1/spec.json" && grep -q "\"base\": \"$base\"" "$state/g1/spec.json" \
  && ok "spec pins qcow2 and names the base" || bad "spec: $(cat "$state/g1/spec.json")"
[ -s "$state/g1/cidata.img" ] && ok "seed written" || bad "no cidata.img"
[ "$(blkid -o value -s LABEL "$state/g1/cidata.img")" = cidata ] && ok "seed labelled cidata" || bad "seed label"
ud=$(MTOOLS_SKIP_CHECK=1 mtype -i "$state/g1/cidata.img" ::user-data)
printf '%s\n' "$ud" | head -n1 | grep -q '^Content-Type: multipart/mixed; boundary="==ppn-' &&
  printf '%s\n' "$ud" | grep -q '^packages: \[nginx, build-essential\]$' &&
  printf '%s\n' "$ud" | grep -q '^  - name: "foundry"$' && ok "user-data: the user and the given part in one MIME message" \
  || bad "user-data: $ud"
qemu-img info "$ov" | grep -q "backing file: $base" && ok "qemu-img sees the backing file" || bad "qemu-img info: $(qemu-img info "$ov")"
qemu-img check -q "$ov" && ok "qemu-img check" || bad "qemu-img check"
expect 1 "create the same VM again" -- "$V" create g1 --type mediakit "${boot[@]}" --disk "$disks/g1b.qcow2" --base "$base"
[ ! -e "$disks/g1b.qcow2" ] && ok "no overlay left behind" || bad "overlay made for a refused create"

# a qcow2 named .img is opened as qcow2
expect 0 "create with a qcow2 named .img" -- "$V" create g2 --type orchestration "${boot[@]}" --disk "$disks/cloud.img"
grep -q '"disk_format": "qcow2"' "$state/g2/spec.json" && ok "cloud.img pinned as qcow2" || bad "g2 spec: $(cat "$state/g2/spec.json")"
# the MediaKit defaults forward the eight seed ports
expect 0 "MediaKit defaults" -- "$V" create g3 --type mediakit --disk "$disks/cloud.img" --json
for p in 9090 9092 9093 9095 9096 9100 9101 9102; do
  printf '%s\n' "$out" | grep -q "\"host\": 1$p" || bad "no forward 1$p -> $p"
done
[ "$(printf '%s\n' "$out" | grep -c '"host": 1')" = 8 ] && ok "eight forwards" || bad "forwards: $out"

# the guest reads its seed
expect 0 "start" -- "$V" start g1 --timeout 60
want="ppn-guest: cidata /dev/vdb hostname=vm-mediakit user=foundry keys=2 network-config=yes"
for _ in $(seq 1 900); do grep -q "ppn-guest: ready" "$state/g1/console.log" 2>/dev/null && break; sleep 0.1; done
grep -qF "$want" "$state/g1/console.log" && ok "guest: $want" || bad "guest console: $(grep ppn-guest "$state/g1/console.log")"
grep -q "ppn-guest: vda starts PPN-BASE" "$state/g1/console.log" && ok "guest reads the base through the overlay" \
  || bad "guest did not see the base"
expect 0 "graceful shutdown" -- "$V" shutdown g1 --deadline 30
[ "$(sha256sum < "$base")" = "$sum0" ] && ok "base untouched" || bad "the base image changed"
exit $fail
