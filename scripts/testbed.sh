#!/usr/bin/env bash
# portwatch's test hosts: network namespaces with real servers behind veth
# pairs, in 10.203.0.0/16 and fd00:203::/32. Integration tests, benchmarks
# and CI scan these hosts and nothing else. Run as root.
#
# What each host must answer is decided in testbed/plan.py; this script
# builds the hosts to match and `verify` checks that they do.
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true

usage() {
  cat <<'EOF'
Usage: scripts/testbed.sh COMMAND
  up                 build every test host from scratch (runs down first), then verify
  down               stop every test-host process, delete namespaces, veths, state and
                     the blackhole routes: everything up made
  status             show what is up; exit 0 all up, 1 partly up, 3 down
  verify             check each host answers as the manifest says
  route-check ADDR   exit 0 only if ADDR is loopback or routed via a test-bed veth
  exec NAME -- CMD   run CMD inside host NAME's namespace
Manifest: /run/portwatch-testbed/testbed.json
EOF
}

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly SCRIPT_DIR
readonly HELPERS=$SCRIPT_DIR/testbed
readonly STATE_DIR=/run/portwatch-testbed
readonly MANIFEST=$STATE_DIR/testbed.json
readonly LOCK_FILE=/run/portwatch-testbed.lock
readonly RANGE4=10.203.0.0/16
readonly RANGE6=fd00:203::/32
readonly NS_PREFIX=pwtb-
readonly READY_SECONDS=10
# NAME:N in creation order; N is the third octet / third IPv6 group.
readonly HOSTS=(tcp:1 smb1:2 smb2:3 smb445:4 udp:5)

if [[ -x /usr/bin/python3 ]]; then PY=/usr/bin/python3; else PY=python3; fi
readonly PY
# -B: no __pycache__ in the work tree.
py() { "$PY" -B "$@"; }

log() { printf 'testbed: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# --- naming and addressing -------------------------------------------------

netns_of() { printf '%s%s' "$NS_PREFIX" "$1"; }
veth_root() { printf 'pwr-%s' "$1"; } # <= 15 chars: names are at most 6
veth_host() { printf 'pwh-%s' "$1"; }
addr4() { printf '10.203.%s.2' "$1"; }
gw4() { printf '10.203.%s.1' "$1"; }
addr6() { printf 'fd00:203:%s::2' "$1"; }
gw6() { printf 'fd00:203:%s::1' "$1"; }
host_dir() { printf '%s/%s' "$STATE_DIR" "$1"; }

host_names() { printf '%s\n' "${HOSTS[@]%%:*}"; }

# Prints N of host NAME; fails for a name that is not a test host.
num_of() {
  local entry
  for entry in "${HOSTS[@]}"; do
    if [[ ${entry%%:*} == "$1" ]]; then
      printf '%s' "${entry#*:}"
      return 0
    fi
  done
  return 1
}

# Our namespaces that exist now, one a line.
our_netns() { ip netns list | awk -v p="$NS_PREFIX" 'index($1, p) == 1 { print $1 }'; }

need_root() { ((EUID == 0)) || die "run as root (namespaces, nftables)"; }

take_lock() {
  exec 9>"$LOCK_FILE"
  flock -w 120 9 || die "another testbed.sh up/down holds $LOCK_FILE"
}

# render TEMPLATE OUT KEY=VALUE...: replaces each @KEY@; fails on leftovers.
render() {
  local template=$1 out=$2 text pair
  shift 2
  text=$(<"$template")
  for pair in "$@"; do
    text=${text//@${pair%%=*}@/${pair#*=}}
  done
  if [[ $text =~ @[A-Z0-9_]+@ ]]; then
    die "render $template: no value for ${BASH_REMATCH[0]}"
  fi
  printf '%s\n' "$text" >"$out"
}

# wait_for SECONDS WHAT CMD...: polls CMD every 0.1 s until it succeeds.
wait_for() {
  local seconds=$1 what=$2 tries
  shift 2
  for ((tries = seconds * 10; tries > 0; tries--)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "timed out after ${seconds}s waiting for $what"
}

# start_in NETNS OUT CMD...: runs a daemon's start command in NETNS. The
# daemon gets no terminal or pipe of ours (CI would wait on them) and not the
# lock descriptor (it would hold the lock for its whole life).
start_in() {
  local ns=$1 out=$2
  shift 2
  ip netns exec "$ns" "$@" </dev/null >>"$out" 2>&1 9>&-
}

# listening NETNS PROTO PORT: a socket of PROTO (tcp|udp) is bound to PORT.
listening() {
  local flag=-ltn
  [[ $2 == udp ]] && flag=-lun
  [[ -n $(ip netns exec "$1" ss -H "$flag" "sport = :$3") ]]
}

# --- route check -------------------------------------------------------------

is_loopback() {
  local a=${1,,}
  [[ $a =~ ^127\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] &&
    ((BASH_REMATCH[1] <= 255 && BASH_REMATCH[2] <= 255 && BASH_REMATCH[3] <= 255)) &&
    return 0
  [[ $a == ::1 || $a == 0:0:0:0:0:0:0:1 ]]
}

# Exit 0 only when traffic to ADDR stays on this machine: loopback, or the
# root side of one of our veths. `ip route get` only asks the kernel: it
# sends nothing.
cmd_route_check() {
  local addr=${1:-} out dev="" i
  [[ -n $addr ]] || die "usage: route-check ADDR"
  if is_loopback "$addr"; then
    printf 'route-check: %s is loopback\n' "$addr"
    return 0
  fi
  if ! out=$(ip route get "$addr" 2>&1); then
    printf 'route-check: %s: no usable route (%s)\n' "$addr" "${out//$'\n'/ }" >&2
    return 1
  fi
  local -a words
  read -r -a words <<<"${out%%$'\n'*}"
  case ${words[0]} in
  local | blackhole | unreachable | prohibit | throw | broadcast | multicast | anycast)
    printf 'route-check: %s: route type %s, not a test host (%s)\n' \
      "$addr" "${words[0]}" "${out%%$'\n'*}" >&2
    return 1
    ;;
  esac
  for ((i = 0; i + 1 < ${#words[@]}; i++)); do
    [[ ${words[i]} == dev ]] && dev=${words[i + 1]}
  done
  if [[ $dev == pwr-* ]] && our_netns | grep -qx "$(netns_of "${dev#pwr-}")"; then
    printf 'route-check: %s goes out test-bed veth %s\n' "$addr" "$dev"
    return 0
  fi
  printf 'route-check: %s goes out %s, not a test-bed veth (%s)\n' \
    "$addr" "${dev:-no device}" "${out%%$'\n'*}" >&2
  return 1
}

# --- building a host -----------------------------------------------------------

# A namespace joined to the root namespace by a veth pair, with both address
# families, lo up, a default route back, and (except on `udp`) no ICMP rate
# limit, so every closed UDP port answers "port unreachable" however fast.
create_host_net() {
  local name=$1 n=$2 ns vr vh
  ns=$(netns_of "$name")
  vr=$(veth_root "$name")
  vh=$(veth_host "$name")
  ip netns add "$ns"
  ip link add "$vr" type veth peer name "$vh"
  ip link set "$vh" netns "$ns"
  ip addr add "$(gw4 "$n")/24" dev "$vr"
  ip -6 addr add "$(gw6 "$n")/64" dev "$vr" nodad
  ip link set "$vr" up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$(addr4 "$n")/24" dev "$vh"
  ip -n "$ns" -6 addr add "$(addr6 "$n")/64" dev "$vh" nodad
  ip -n "$ns" link set "$vh" up
  ip -n "$ns" route add default via "$(gw4 "$n")"
  ip -n "$ns" -6 route add default via "$(gw6 "$n")"
  # Every host but `udp` answers every closed UDP port at once; `udp` keeps the kernel's
  # ICMP rate limit (one error a second after a burst) like a real Linux host.
  if [[ $name != udp ]]; then
    ip netns exec "$ns" sysctl -q -w net.ipv4.icmp_ratelimit=0 net.ipv4.icmp_ratemask=0 \
      net.ipv6.icmp.ratelimit=0
  fi
  mkdir -p "$(host_dir "$name")"
}

# nft_set_rule PROTO PORTS VERDICT: one rule over a set, nothing if no ports.
nft_set_rule() {
  [[ -n $2 ]] || return 0
  printf '    %s dport { %s } %s\n' "$1" "$2" "$3"
}

# Loads host NAME's filter from plan.py's lists. One rule and one closing
# brace a line, as `nft -f` wants.
load_nft() {
  local name=$1 file
  file=$(host_dir "$name")/rules.nft
  {
    echo 'table inet pwtb {'
    echo '  chain input {'
    echo '    type filter hook input priority filter; policy accept;'
    nft_set_rule tcp "$(py "$HELPERS/plan.py" list "$name" tcp.drop)" drop
    nft_set_rule tcp "$(py "$HELPERS/plan.py" list "$name" tcp.reset)" 'reject with tcp reset'
    nft_set_rule tcp "$(py "$HELPERS/plan.py" list "$name" tcp.admin_prohibited)" \
      'reject with icmpx admin-prohibited'
    nft_set_rule udp "$(py "$HELPERS/plan.py" list "$name" udp.drop)" drop
    echo '  }'
    echo '}'
  } >"$file"
  ip netns exec "$(netns_of "$name")" nft -f "$file"
}

# host_manifest NAME ROLE [KEY=VALUE...]: this host's manifest entry.
host_manifest() {
  local name=$1 role=$2 n
  shift 2
  n=$(num_of "$name")
  py "$HELPERS/plan.py" host "$name" "name=$name" "index=$n" "role=$role" \
    "netns=$(netns_of "$name")" "addr4=$(addr4 "$n")" "addr6=$(addr6 "$n")" \
    "gateway4=$(gw4 "$n")" "gateway6=$(gw6 "$n")" \
    "veth_root=$(veth_root "$name")" "veth_host=$(veth_host "$name")" \
    "$@" >"$(host_dir "$name")/host.json"
}

# The `tcp` host: Python listeners and responders plus the nftables filter.
up_tcp_host() {
  local name=$1 ns dir port
  ns=$(netns_of "$name")
  dir=$(host_dir "$name")
  load_nft "$name"
  start_in "$ns" "$dir/listeners.log" \
    setsid -f "$PY" -B "$HELPERS/listeners.py" "$name" "$dir/listeners.pid"
  wait_for "$READY_SECONDS" "listeners of $name" test -s "$dir/listeners.pid"
  for port in $(py "$HELPERS/plan.py" list "$name" tcp.open | tr ',' ' '); do
    listening "$ns" tcp "$port" || die "$name: nothing listens on tcp/$port"
  done
  host_manifest "$name" tcp
}

# nbt_answers ADDR NAME: the NetBIOS node status of ADDR lists NAME.
nbt_answers() {
  cmd_route_check "$1" >/dev/null &&
    nbtscan -t 300 "$1" 2>/dev/null | grep -qw "$2"
}

# samba_daemon NETNS DIR smbd|nmbd: starts one daemon of the instance in DIR.
# Some Samba paths are compiled in, not configurable: nmbd's socket directory
# (/run/samba/nmbd) and the log directory that samba-dcerpcd and its rpcd_*
# helpers (started by smbd on demand) write to before they read smb.conf.
# Bind mounts in the private mount namespace that `ip netns exec` makes put
# them under DIR, so instances share nothing and the real /run/samba and
# /var/log/samba stay untouched.
samba_daemon() {
  local ns=$1 dir=$2 daemon=$3
  mkdir -p /run/samba /var/log/samba "$dir/run-samba" "$dir/log"
  # shellcheck disable=SC2016 # expanded by the inner shell
  start_in "$ns" "$dir/daemon.out" sh -c \
    'mount --bind "$1" /run/samba && mount --bind "$2" /var/log/samba && shift 2 && exec "$@"' \
    sh "$dir/run-samba" "$dir/log" "$daemon" -D -s "$dir/smb.conf" -l "$dir/log"
}

# up_samba_host NAME NETBIOS_NAME WORKGROUP MIN_PROTOCOL SIGNING NETBIOS(yes|no)
up_samba_host() {
  local name=$1 nb_name=$2 workgroup=$3 min_proto=$4 signing=$5 netbios=$6
  local n ns dir conf ports=445 disable=yes smb1=false signing_state=enabled-not-required
  n=$(num_of "$name")
  ns=$(netns_of "$name")
  dir=$(host_dir "$name")
  conf=$dir/smb.conf
  [[ $netbios == yes ]] && ports="445 139" disable=no
  # Dialects Samba 4.17 offers from each minimum (MS-SMB2 numbering).
  local dialects='["2.1", "3.0", "3.0.2", "3.1.1"]'
  if [[ $min_proto == NT1 ]]; then
    smb1=true
    dialects='["NT LM 0.12", "2.0.2", "2.1", "3.0", "3.0.2", "3.1.1"]'
  fi
  [[ $signing == mandatory ]] && signing_state=required
  mkdir -p "$dir"/{private,lock,state,cache,pid,ncalrpc,usershares,share}
  chmod 0700 "$dir/private"
  printf 'portwatch test bed share of %s\n' "$nb_name" >"$dir/share/README.txt"
  render "$HELPERS/smb.conf.tmpl" "$conf" "HOST=$name" "DIR=$dir" \
    "NETBIOS_NAME=$nb_name" "WORKGROUP=$workgroup" "IFACE=$(veth_host "$name")" \
    "SMB_PORTS=$ports" "DISABLE_NETBIOS=$disable" "MIN_PROTOCOL=$min_proto" \
    "SIGNING=$signing"
  samba_daemon "$ns" "$dir" smbd
  wait_for "$READY_SECONDS" "smbd of $name on tcp/445" listening "$ns" tcp 445
  if [[ $netbios == yes ]]; then
    wait_for "$READY_SECONDS" "smbd of $name on tcp/139" listening "$ns" tcp 139
    samba_daemon "$ns" "$dir" nmbd
    wait_for "$READY_SECONDS" "nmbd of $name answering as $nb_name" \
      nbt_answers "$(addr4 "$n")" "$nb_name"
  fi
  host_manifest "$name" samba "netbios_name=$nb_name" "workgroup=$workgroup" \
    "smb1=$smb1" "signing=$signing_state" "json:dialects=$dialects" \
    "netbios=$([[ $netbios == yes ]] && echo true || echo false)"
}

# The `udp` host: dnsmasq (DNS for the pwtb.test zone, no upstream) and
# snmpd, each bound to the veth addresses only, plus dropped UDP ports.
up_udp_host() {
  local name=$1 n ns dir other
  n=$(num_of "$name")
  ns=$(netns_of "$name")
  dir=$(host_dir "$name")
  load_nft "$name"
  local -a records=("--host-record=ns.pwtb.test,$(addr4 "$n"),$(addr6 "$n")")
  for other in $(host_names); do
    records+=("--host-record=$other.pwtb.test,$(addr4 "$(num_of "$other")"),$(addr6 "$(num_of "$other")")")
  done
  start_in "$ns" "$dir/daemon.out" dnsmasq --conf-file=/dev/null --no-resolv --no-hosts \
    --bind-interfaces --listen-address="$(addr4 "$n")" --listen-address="$(addr6 "$n")" \
    --except-interface=lo --port=53 --local=/pwtb.test/ --domain=pwtb.test \
    "${records[@]}" --txt-record=pwtb.test,"portwatch test bed" \
    --user=root --group=root --pid-file="$dir/dnsmasq.pid" \
    --log-facility="$dir/dnsmasq.log"
  wait_for "$READY_SECONDS" "dnsmasq of $name on udp/53" listening "$ns" udp 53

  mkdir -p "$dir/snmp"
  render "$HELPERS/snmpd.conf.tmpl" "$dir/snmpd.conf" "ADDR4=$(addr4 "$n")" \
    "ADDR6=$(addr6 "$n")" "COMMUNITY=public" "SYS_NAME=pwtb-udp" "NETNS=$ns"
  # -I -smux: no SMUX listener on tcp/199, only the agent on udp/161.
  start_in "$ns" "$dir/daemon.out" env SNMP_PERSISTENT_DIR="$dir/snmp" MIBS="" \
    snmpd -C -c "$dir/snmpd.conf" -I -smux -p "$dir/snmpd.pid" -Lf "$dir/snmpd.log"
  wait_for "$READY_SECONDS" "snmpd of $name on udp/161" listening "$ns" udp 161
  host_manifest "$name" udp
}

# --- commands -------------------------------------------------------------------

cmd_down() {
  local ns pids _ link
  for ns in $(our_netns); do
    pids=$(ip netns pids "$ns" | tr '\n' ' ')
    if [[ -n ${pids// /} ]]; then
      # shellcheck disable=SC2086 # one word per pid
      kill $pids 2>/dev/null || true
      for _ in {1..50}; do
        [[ -z $(ip netns pids "$ns") ]] && break
        sleep 0.1
      done
      ip netns pids "$ns" | xargs -r kill -KILL 2>/dev/null || true
    fi
    ip netns delete "$ns"
  done
  # A root-side veth outlives its namespace only if the pair was half made.
  for link in $(ip -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | grep '^pwr-' || true); do
    ip link delete "$link" 2>/dev/null || true
  done
  rm -rf "$STATE_DIR"
}

# Tails of every log, printed when `up` fails (down then removes them).
dump_logs() {
  local f
  [[ -d $STATE_DIR ]] || return 0
  while IFS= read -r -d '' f; do
    [[ -s $f ]] || continue
    printf '==> %s <==\n' "$f" >&2
    tail -n 20 "$f" >&2
  done < <(find "$STATE_DIR" -type f \( -name '*.log' -o -name 'log.*' -o -name '*.out' \) -print0)
}

on_up_exit() {
  local status=$?
  if ((status != 0)); then
    log "up failed; logs follow, then the half-built test bed is taken down"
    dump_logs
    cmd_down || true
  fi
}

cmd_up() {
  local start=$SECONDS name files=()
  cmd_down
  ip route replace blackhole "$RANGE4"
  ip -6 route replace blackhole "$RANGE6"
  mkdir -p "$STATE_DIR"
  trap on_up_exit EXIT
  for name in $(host_names); do
    create_host_net "$name" "$(num_of "$name")"
  done
  up_tcp_host tcp
  up_samba_host smb1 FILESRV01 CORP NT1 default yes
  up_samba_host smb2 SECURESRV LAB SMB2 mandatory yes
  up_samba_host smb445 NONBSRV CORP SMB2 default no
  up_udp_host udp
  for name in $(host_names); do files+=("$(host_dir "$name")/host.json"); done
  py "$HELPERS/plan.py" manifest "${files[@]}" >"$MANIFEST.tmp"
  mv "$MANIFEST.tmp" "$MANIFEST"
  cmd_verify
  trap - EXIT
  log "up in $((SECONDS - start))s; manifest $MANIFEST"
}

# Listening sockets in the root namespace owned by a test-bed kind of daemon.
root_ns_leaks() {
  ss -H -tulpn | grep -E '"(smbd|nmbd|samba|samba-dcerpcd|rpcd_[a-z]+|dnsmasq|snmpd)"' || true
  local pid
  for pid in $(pgrep -f "$HELPERS/listeners.py" || true); do
    [[ $(readlink "/proc/$pid/ns/net") == "$(readlink /proc/1/ns/net)" ]] &&
      printf 'listeners.py pid %s runs in the root namespace\n' "$pid"
  done
  return 0
}

cmd_verify() {
  [[ -f $MANIFEST ]] || die "no manifest at $MANIFEST: run up first"
  local name n leaks
  for name in $(host_names); do
    n=$(num_of "$name")
    cmd_route_check "$(addr4 "$n")" >/dev/null || die "route check failed for $(addr4 "$n")"
    cmd_route_check "$(addr6 "$n")" >/dev/null || die "route check failed for $(addr6 "$n")"
  done
  leaks=$(root_ns_leaks)
  [[ -z $leaks ]] || die "daemons listen in the root namespace:"$'\n'"$leaks"
  py "$HELPERS/verify.py" "$MANIFEST"
}

cmd_status() {
  local name n up=0 total=0 ns pids
  for name in $(host_names); do
    n=$(num_of "$name")
    ns=$(netns_of "$name")
    total=$((total + 1))
    if ! our_netns | grep -qx "$ns"; then
      printf '%-7s down\n' "$name"
      continue
    fi
    up=$((up + 1))
    pids=$(ip netns pids "$ns" | tr '\n' ' ')
    printf '%-7s up    %s %s/%s  %s\n' "$name" "$ns" "$(addr4 "$n")" "$(addr6 "$n")" \
      "$(ip -br link show "$(veth_root "$name")" 2>/dev/null | awk '{ sub(/@.*/, "", $1); print $1, $2 }')"
    if [[ -n ${pids// /} ]]; then
      pids=${pids% }
      printf '        processes: %s\n' "$(ps -o comm= -p "${pids// /,}" | sort | uniq -c |
        awk '{ printf "%s%s x%s", sep, $2, $1; sep=", " }')"
    else
      printf '        processes: none\n'
    fi
    printf '        listening: tcp %s, udp %s\n' \
      "$(ip netns exec "$ns" ss -H -ltn | awk '{ n = split($4, a, ":"); print a[n] }' | sort -nu | paste -sd, -)" \
      "$(ip netns exec "$ns" ss -H -lun | awk '{ n = split($4, a, ":"); print a[n] }' | sort -nu | paste -sd, -)"
  done
  printf 'blackhole routes: %s; %s\n' \
    "$(ip route show type blackhole "$RANGE4" | grep -q . && echo "$RANGE4" || echo "none for $RANGE4")" \
    "$(ip -6 route show type blackhole "$RANGE6" | grep -q . && echo "$RANGE6" || echo "none for $RANGE6")"
  if [[ -f $MANIFEST ]]; then echo "manifest: $MANIFEST"; else echo "manifest: none"; fi
  ((up == total)) && return 0
  ((up == 0)) && return 3
  return 1
}

cmd_exec() {
  local name=${1:-}
  [[ -n $name ]] || die "usage: exec NAME -- CMD..."
  shift
  [[ ${1:-} == -- ]] && shift
  (($#)) || die "usage: exec NAME -- CMD..."
  num_of "$name" >/dev/null || die "no test host named $name"
  our_netns | grep -qx "$(netns_of "$name")" || die "host $name is not up"
  exec ip netns exec "$(netns_of "$name")" "$@"
}

main() {
  local cmd=${1:-}
  (($#)) && shift
  case $cmd in
  up)
    need_root
    take_lock
    cmd_up
    ;;
  down)
    need_root
    take_lock
    cmd_down
    # The blackhole routes go last, once no test host is left to route to.
    ip route del blackhole "$RANGE4" 2>/dev/null || true
    ip -6 route del blackhole "$RANGE6" 2>/dev/null || true
    log "down"
    ;;
  status)
    need_root
    cmd_status
    ;;
  verify)
    need_root
    cmd_verify
    ;;
  route-check) cmd_route_check "$@" ;;
  exec)
    need_root
    cmd_exec "$@"
    ;;
  -h | --help | help) usage ;;
  *)
    usage >&2
    exit 2
    ;;
  esac
}

main "$@"
