# Sourced by the scripts that run inside a test guest (tests/demo/inside-guest.sh,
# tests/pair/four-node-inside.sh, bench/pair/join-ping-inside.sh): the machines as network namespaces, and one pairing
# ceremony played by the script as both operators.  Needs $pair (ppn-pair) and $work.

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# netns_up NS I: machine number I, namespace NS with eth0 192.168.(76+I).1/24, whose veth
# peer veth-NS in the guest's root namespace is 192.168.(76+I).254, its default route.
netns_up() {
  ip netns add "$1"
  ip link add "veth-$1" type veth peer name eth0 netns "$1"
  ip addr add "192.168.$((76 + $2)).254/24" dev "veth-$1"
  ip link set "veth-$1" up
  in_ns "$1" ip addr add "192.168.$((76 + $2)).1/24" dev eth0
  in_ns "$1" ip link set eth0 up
  in_ns "$1" ip link set lo up
  in_ns "$1" ip route add default via "192.168.$((76 + $2)).254"
}

# underlay NS...: the machines 1, 2, ... (netns_up), routed by the guest's root namespace
# (forwarding on there).
underlay() {
  echo 1 > /proc/sys/net/ipv4/ip_forward
  local i=0 n
  for n in "$@"; do
    i=$((i + 1))
    netns_up "$n" "$i"
  done
}

# ceremony SHOW_OUT TYPE_OUT: one pairing ceremony.  The caller puts the two command lines
# (each with its in_ns) in the arrays show_cmd (the side that shows the code: 'join
# --listen' or 'invite') and type_cmd (the side the code is typed into: 'admit' or 'join
# --join -'); their consoles go to the files SHOW_OUT and TYPE_OUT, their answers come from
# the fifos SHOW_OUT.in and TYPE_OUT.in.  Like the two operators, the script reads the code
# off the first console, types it at the second, compares the two SAS and confirms on both
# only when they match (else declines on both).
# Sets cer_code, cer_sas_show, cer_sas_type, cer_rc_show, cer_rc_type and cer_sas_ms (when
# the answers were given, in ms).  Returns 0 when both exited 0 with the same SAS, 2 when
# no code was shown (the other side not started), else 1.
ceremony() {
  local sout=$1 tout=$2 sin=$1.in tin=$2.in
  cer_code="" cer_sas_show="" cer_sas_type="" cer_rc_show=0 cer_rc_type=0 cer_sas_ms=0
  mkfifo "$sin" "$tin"
  : >"$sout"; : >"$tout"   # emptied before, not by the job's redirection: no earlier console is read
  "${show_cmd[@]}" <"$sin" >"$sout" 2>&1 &
  local spid=$!
  exec 7>"$sin"
  for _ in $(seq 100); do
    cer_code=$(awk '$1 == "code" {print $2}' "$sout")
    [ -n "$cer_code" ] && grep -q '^listening' "$sout" && break
    sleep 0.1
  done
  [ -n "$cer_code" ] || return 2
  "${type_cmd[@]}" <"$tin" >"$tout" 2>&1 &
  local tpid=$!
  exec 8>"$tin"
  echo "$cer_code" >&8
  for _ in $(seq 600); do
    cer_sas_show=$(awk '$1 == "SAS" {print $2, $3}' "$sout")
    cer_sas_type=$(awk '$1 == "SAS" {print $2, $3}' "$tout")
    [ -n "$cer_sas_show" ] && [ -n "$cer_sas_type" ] && break
    sleep 0.1
  done
  if [ -n "$cer_sas_show" ] && [ "$cer_sas_show" = "$cer_sas_type" ]; then
    echo y >&8; echo y >&7
  else
    echo n >&8; echo n >&7
  fi
  cer_sas_ms=$(now_ms)
  exec 7>&- 8>&-
  wait "$spid" || cer_rc_show=$?
  wait "$tpid" || cer_rc_type=$?
  [ "$cer_rc_show" = 0 ] && [ "$cer_rc_type" = 0 ] && [ -n "$cer_sas_show" ] &&
    [ "$cer_sas_show" = "$cer_sas_type" ]
}
