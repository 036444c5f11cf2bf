#!/usr/bin/env bash
# Starts (up) or removes (down) the throwaway hosts whose answers become this
# crate's fixtures: two Samba instances, plus dnsmasq (DNS, TFTP) and snmpd
# beside the first. Root only. Everything lives in network
# namespaces pwproto-nt1 (10.203.250.2) and pwproto-sig (10.203.250.6) and
# under /run/pwproto; nothing listens outside those namespaces.
#   pwproto-nt1: server min protocol = NT1, smbd + nmbd (NBSTAT, SMB1, port 139)
#   pwproto-sig: SMB2 and later only, server signing = mandatory
#   pwproto-nt1 also runs dnsmasq (53/udp, 69/udp) and snmpd (161/udp, community public)
set -euo pipefail
BASE=/run/pwproto

host_conf() { # name netbios_name iface extra...
  local name=$1 nb=$2 iface=$3; shift 3
  local d=$BASE/$name
  mkdir -p "$d"/{private,lock,state,cache,pid,ncalrpc,share}
  {
    echo "[global]"
    echo "   netbios name = $nb"
    echo "   workgroup = PWTEST"
    echo "   server string = portwatch proto fixture $name"
    echo "   server role = standalone server"
    echo "   interfaces = $iface"
    echo "   bind interfaces only = yes"
    for dir in private lock state cache pid ncalrpc; do
      key=$dir; [ "$dir" = lock ] && key="lock directory"
      [ "$dir" = private ] && key="private dir"
      [ "$dir" = state ] && key="state directory"
      [ "$dir" = cache ] && key="cache directory"
      [ "$dir" = pid ] && key="pid directory"
      [ "$dir" = ncalrpc ] && key="ncalrpc dir"
      echo "   $key = $d/$dir"
    done
    echo "   passdb backend = tdbsam:$d/private/passdb.tdb"
    echo "   log file = $d/log.%m"
    echo "   load printers = no"
    echo "   printcap name = /dev/null"
    echo "   disable spoolss = yes"
    for line in "$@"; do echo "   $line"; done
    echo "[pub]"
    echo "   path = $d/share"
    echo "   read only = yes"
    echo "   guest ok = yes"
  } > "$d/smb.conf"
}

make_ns() { # ns root_if ns_if root_addr ns_addr
  ip netns add "$1"
  ip link add "$2" type veth peer name "$3"
  ip link set "$3" netns "$1"
  ip addr add "$4/30" dev "$2"
  ip link set "$2" up
  ip -n "$1" addr add "$5/30" dev "$3"
  ip -n "$1" link set "$3" up
  ip -n "$1" link set lo up
}

wait_port() { # ns port
  for _ in $(seq 50); do
    ip netns exec "$1" ss -ltn | grep -q ":$2 " && return 0
    sleep 0.2
  done
  echo "port $2 in $1 did not open" >&2; return 1
}

up() {
  ip route replace blackhole 10.203.0.0/16
  make_ns pwproto-nt1 pwp-nt1 pwp-nt1-h 10.203.250.1 10.203.250.2
  make_ns pwproto-sig pwp-sig pwp-sig-h 10.203.250.5 10.203.250.6
  ip route get 10.203.250.2 | grep -q "dev pwp-nt1"
  ip route get 10.203.250.6 | grep -q "dev pwp-sig"
  host_conf nt1 PWSAMBA1 pwp-nt1-h "server min protocol = NT1" "smb ports = 445 139"
  host_conf sig PWSAMBA2 pwp-sig-h "server min protocol = SMB2" "server signing = mandatory" \
    "smb ports = 445" "disable netbios = yes"
  ip netns exec pwproto-nt1 smbd -D -s $BASE/nt1/smb.conf
  ip netns exec pwproto-nt1 nmbd -D -s $BASE/nt1/smb.conf
  ip netns exec pwproto-sig smbd -D -s $BASE/sig/smb.conf
  wait_port pwproto-nt1 445; wait_port pwproto-nt1 139; wait_port pwproto-sig 445
  mkdir -p $BASE/tftp $BASE/snmp
  ip netns exec pwproto-nt1 dnsmasq --conf-file=/dev/null --no-resolv --no-hosts \
    --listen-address=10.203.250.2 --bind-interfaces --port=53 --user=root \
    --enable-tftp --tftp-root=$BASE/tftp --pid-file=$BASE/dnsmasq.pid
  printf 'agentAddress udp:10.203.250.2:161\nrocommunity public default\nsysDescr portwatch fixture agent\n' \
    > $BASE/snmp/snmpd.conf
  ip netns exec pwproto-nt1 snmpd -C -c $BASE/snmp/snmpd.conf -p $BASE/snmpd.pid -Lf $BASE/snmp/log \
    --persistentDir=$BASE/snmp
  sleep 1
}

down() {
  for ns in pwproto-nt1 pwproto-sig; do
    if ip netns list | grep -q "^$ns\b"; then
      for pid in $(ip netns pids "$ns"); do kill "$pid" 2>/dev/null || true; done
      sleep 0.5
      for pid in $(ip netns pids "$ns"); do kill -9 "$pid" 2>/dev/null || true; done
      ip netns del "$ns"
    fi
  done
  rm -rf "$BASE"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
