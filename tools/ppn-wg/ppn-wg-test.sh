#!/usr/bin/env bash
# ppn-wg's command line without a WireGuard kernel: keys against the real
# wg(8), the default command, interface names and every numeric option
# (abc, -1, one past its maximum, and the maximum itself), the usage-error
# style (one line naming the problem, a usage line, exit 1).
#   ppn-wg-test.sh PATH/TO/ppn-wg
set -u
P=$1
fail=0
n=0
t() { n=$((n + 1)); }
bad() { echo "FAIL: $*"; fail=1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
umask 077

command -v wg >/dev/null || { echo "FAIL: wg(8) (wireguard-tools) is not installed"; exit 1; }

# ---- keys: ppn-wg pubkey agrees with wg pubkey ----
for i in $(seq 1 20); do
  t
  k=$("$P" genkey) || bad "genkey exit $?"
  [ ${#k} -eq 44 ] || bad "genkey printed '${#k}' characters"
  a=$(printf '%s\n' "$k" | "$P" pubkey) || bad "pubkey exit $?"
  b=$(printf '%s\n' "$k" | wg pubkey)
  [ "$a" = "$b" ] || bad "pubkey of genkey key: ppn-wg '$a', wg '$b'"
  # wg's own keys, and unclamped random bytes (both clamp before use)
  k=$(wg genkey)
  a=$(printf '%s' "$k" | "$P" pubkey); b=$(printf '%s' "$k" | wg pubkey)
  [ "$a" = "$b" ] || bad "pubkey of wg genkey key: '$a' vs '$b'"
  k=$(head -c 32 /dev/urandom | base64)
  a=$(printf '  %s \n\n' "$k" | "$P" pubkey); b=$(printf '%s\n' "$k" | wg pubkey)
  [ "$a" = "$b" ] || bad "pubkey of random bytes '$k': '$a' vs '$b'"
done
for k in AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= //////////////////////////////////////////8=; do
  t
  a=$(printf '%s\n' "$k" | "$P" pubkey); b=$(printf '%s\n' "$k" | wg pubkey)
  [ "$a" = "$b" ] || bad "pubkey of $k: '$a' vs '$b'"
done
# genkey is clamped (as wg genkey): byte 0 & 7 == 0, byte 31 & 0xc0 == 0x40
t
read -r -a b < <("$P" genkey 2>/dev/null | base64 -d 2>/dev/null | od -An -tu1 -v | tr -s ' \n' ' ')
[ ${#b[@]} -eq 32 ] && [ $(( b[0] & 7 )) -eq 0 ] && [ $(( b[31] & 192 )) -eq 64 ] || bad "genkey not clamped: ${b[*]:-}"
t
x=$("$P" genpsk); y=$("$P" genpsk)
[ ${#x} -eq 44 ] && [ "$x" != "$y" ] || bad "genpsk: '$x' '$y'"
printf '%s\n' "$x" | base64 -d >/dev/null 2>&1 || bad "genpsk is not base64"
# a secret to a file others can read: a warning, as wg(8) gives
t
(umask 022; "$P" genkey > "$tmp/k" 2> "$tmp/e")
grep -q "Warning: writing a secret key to a file others can read" "$tmp/e" || bad "no warning for a 0644 key file"
"$P" genkey > "$tmp/k2" 2> "$tmp/e2"
[ ! -s "$tmp/e2" ] || bad "warning for a 0600 key file: $(cat "$tmp/e2")"

# a key that cannot be written is a failure, said so
t
"$P" genkey > /dev/full 2> "$tmp/e"; rc=$?
[ $rc -eq 1 ] && grep -q "^ppn-wg: Failed to write 'stdout'" "$tmp/e" || bad "genkey > /dev/full: rc $rc $(cat "$tmp/e")"
t
"$P" --help > /dev/full 2> "$tmp/e"; rc=$?
[ $rc -eq 1 ] || bad "--help > /dev/full: rc $rc"

# usage errors: exactly two lines on stderr (problem, usage), nothing on
# stdout, exit 1; the first line names what is wrong
usage_err() { # want-substring command...
  local want=$1; shift
  t
  "$@" > "$tmp/out" 2> "$tmp/err" < /dev/null
  local rc=$?
  [ $rc -eq 1 ] || bad "'$*': exit $rc, not 1"
  [ ! -s "$tmp/out" ] || bad "'$*': wrote to stdout"
  [ "$(wc -l < "$tmp/err")" -eq 2 ] || bad "'$*': $(wc -l < "$tmp/err") lines on stderr: $(cat "$tmp/err")"
  head -1 "$tmp/err" | grep -qF -- "$want" || bad "'$*': first line '$(head -1 "$tmp/err")' lacks '$want'"
  sed -n 2p "$tmp/err" | grep -q '^Usage: ppn-wg ' || bad "'$*': second line is not a usage line"
}
# pubkey never takes the key in argv (and does not echo it)
usage_err "pubkey takes no arguments" "$P" pubkey "$("$P" genkey)"
grep -q "=" "$tmp/err" && bad "pubkey echoed its argument"
usage_err "genkey takes no arguments" "$P" genkey x
usage_err "genpsk takes no arguments" "$P" genpsk x
t
printf 'nope\n' | "$P" pubkey > "$tmp/out" 2> "$tmp/err"; rc=$?
[ $rc -eq 1 ] && [ ! -s "$tmp/out" ] && grep -q "a key is 44 characters of base64" "$tmp/err" || bad "pubkey of a bad key: rc $rc"
t
"$P" pubkey < /dev/null > "$tmp/out" 2> "$tmp/err"; rc=$?
[ $rc -eq 1 ] && [ ! -s "$tmp/out" ] || bad "pubkey of nothing: rc $rc"

# ---- interface names: longer than 15 refused alike, never cut ----
long=abcdefghijklmnop  # 16
printf 'x\n' > "$tmp/conf"
for cmd in "show $long" "show $long dump" "show $long peers" "showconf $long" "set $long listen-port 1" \
           "setconf $long $tmp/conf" "addconf $long $tmp/conf" "syncconf $long $tmp/conf"; do
  usage_err "interface name '$long' is not valid (1 to 15 characters" "$P" $cmd
done
usage_err "interface name 'a/b' is not valid" "$P" showconf a/b
usage_err "interface name 'a:b' is not valid" "$P" set a:b listen-port 1

# ---- no command means show (as wg(8)): same output and status as `show` ----
t
"$P" > "$tmp/a" 2>&1; ra=$?
"$P" show > "$tmp/b" 2>&1; rb=$?
[ $ra -eq $rb ] && cmp -s "$tmp/a" "$tmp/b" || bad "no command ($ra) differs from show ($rb)"

# ---- every numeric option: abc, -1, one past the maximum; the maximum passes ----
# Past the argument check, set fails on the interface (this kernel has no
# WireGuard, or there is no such link): not a usage error.
numeric() { # option max prefix...
  local opt=$1 max=$2; shift 2
  local past
  past=$(python3 -c "print($max + 1)")
  for v in abc -1 "$past" "" " 5" +5 1x; do
    usage_err "invalid value '$v' for '$opt'" "$P" set wgt0 "$@" "$opt" "$v"
  done
  t
  "$P" set wgt0 "$@" "$opt" "$max" > "$tmp/out" 2> "$tmp/err"; rc=$?
  [ $rc -eq 1 ] && grep -q "^ppn-wg: Failed to configure 'wgt0'" "$tmp/err" ||
    bad "'$opt $max' refused as an argument: $(cat "$tmp/err")"
}
pk=$("$P" genkey | "$P" pubkey)
numeric listen-port 65535
numeric fwmark 4294967295
numeric persistent-keepalive 65535 peer "$pk"
# the forms wg(8) reads: a fwmark in decimal or after 0x in hexadecimal (a leading 0 is
# decimal); a port and a keepalive interval in decimal only.  ppn-wg agrees with wg on each
# (wg refuses a value before it asks the kernel: "Unable to modify interface" means accepted).
wg_form() { # option value prefix...: both accept it or both refuse it
  local opt=$1 v=$2; shift 2
  t
  local w p
  w=$(wg set wgt0 "$@" "$opt" "$v" 2>&1 | head -1)
  "$P" set wgt0 "$@" "$opt" "$v" > "$tmp/out" 2> "$tmp/err"
  case $w in "Unable to modify interface"*) w=accepted ;; *) w=refused ;; esac
  if grep -q "^ppn-wg: Failed to configure 'wgt0'" "$tmp/err"; then p=accepted
  elif grep -q "invalid value '$v' for '$opt'" "$tmp/err"; then p=refused; else p="$(cat "$tmp/err")"; fi
  [ "$w" = "$p" ] || bad "$opt $v: wg $w, ppn-wg $p"
}
for v in 0x10 0xffffffff 0x100000000 010 08 0X10 0x 0xg 4294967295; do wg_form fwmark "$v"; done
for v in 0x10 010 65535; do wg_form listen-port "$v"; done  # 65536: wg takes it (as 0), ppn-wg refuses it (above)
for v in 0x10 010 65535 65536; do wg_form persistent-keepalive "$v" peer "$pk"; done
# endpoint ports and allowed-ips prefix lengths are numbers too
for v in 192.0.2.1:abc 192.0.2.1:-1 192.0.2.1:65536 '[2001:db8::1]:65536' 192.0.2.1:; do
  usage_err "invalid value '$v' for 'endpoint'" "$P" set wgt0 peer "$pk" endpoint "$v"
done
for v in 10.0.0.0/abc 10.0.0.0/-1 10.0.0.0/33 fd00::/129; do
  usage_err "invalid value '$v' for 'allowed-ips'" "$P" set wgt0 peer "$pk" allowed-ips "$v"
done

# ---- key files: the rule of every ppn tool (tools/tool-util.h), stricter than wg(8) ----
# private-key and preshared-key files that others can access are refused with one line
# naming the file and its mode, before anything is sent to the kernel; 0600 files and
# pipes (<(cmd)) are read.
"$P" genkey > "$tmp/priv"; "$P" genpsk > "$tmp/psk"
chmod 644 "$tmp/priv"; chmod 660 "$tmp/psk"
t
"$P" set wgt0 private-key "$tmp/priv" > "$tmp/out" 2> "$tmp/err"; rc=$?
[ $rc -eq 1 ] && [ "$(cat "$tmp/err")" = "ppn-wg: Refusing key file '$tmp/priv': mode 0644 lets others read it; chmod 600 it" ] ||
  bad "private-key 0644: rc $rc $(cat "$tmp/err")"
t
"$P" set wgt0 peer "$pk" preshared-key "$tmp/psk" > "$tmp/out" 2> "$tmp/err"; rc=$?
[ $rc -eq 1 ] && [ "$(cat "$tmp/err")" = "ppn-wg: Refusing key file '$tmp/psk': mode 0660 lets others read it; chmod 600 it" ] ||
  bad "preshared-key 0660: rc $rc $(cat "$tmp/err")"
chmod 600 "$tmp/priv" "$tmp/psk"
t
"$P" set wgt0 private-key "$tmp/priv" peer "$pk" preshared-key "$tmp/psk" > "$tmp/out" 2> "$tmp/err"
grep -q "^ppn-wg: Failed to configure 'wgt0'" "$tmp/err" || bad "0600 key files refused: $(cat "$tmp/err")"
t
"$P" set wgt0 private-key <(cat "$tmp/priv") > "$tmp/out" 2> "$tmp/err"
grep -q "^ppn-wg: Failed to configure 'wgt0'" "$tmp/err" || bad "a pipe refused: $(cat "$tmp/err")"

# ---- configuration files: a refused line is named with its field and rule, never its value ----
printf '[Interface]\nListenPort = 70000\n' > "$tmp/c1.conf"
printf '[Interface]\nPrivateKey = notakey-SECRETVALUE\n' > "$tmp/c2.conf"
printf '[Peer]\nAllowedIPs = 10.0.0.0/8\n' > "$tmp/c3.conf"
printf '[Interface]\nno equals sign\n' > "$tmp/c4.conf"
for c in "c1.conf|line 2: ListenPort: not a decimal port 0..65535" \
         "c2.conf|line 2: PrivateKey: not 44 characters of base64 of 32 bytes" \
         "c3.conf|line 2: AllowedIPs: before the peer's PublicKey" \
         "c4.conf|line 2: not 'Key = Value'"; do
  f=${c%%|*}; want=${c#*|}
  for cmd in setconf addconf syncconf; do
    t
    "$P" $cmd wgt0 "$tmp/$f" > "$tmp/out" 2> "$tmp/err"; rc=$?
    [ $rc -eq 1 ] && [ "$(cat "$tmp/err")" = "ppn-wg: Failed to parse '$tmp/$f' $want" ] ||
      bad "$cmd $f: rc $rc $(cat "$tmp/err")"
  done
done
t
grep -q SECRETVALUE "$tmp/err" && bad "a refused value was printed"
"$P" setconf wgt0 "$tmp/c2.conf" 2>&1 | grep -q SECRETVALUE && bad "a refused key value was printed"

echo "$n checks, $([ $fail -eq 0 ] && echo "all passed" || echo "some FAILED")"
exit $fail
