#!/usr/bin/env bash
# Installs what portwatch's integration tests, benchmarks and CI need on a
# Debian 12 machine, and leaves no system daemon of those packages running in
# the root network namespace (the test bed starts its own copies inside
# namespaces). Idempotent: when everything is present it only checks.
#
# Usage: scripts/install-test-deps.sh      (as root)
set -euo pipefail

readonly APT_PACKAGES=(
  samba smbclient nmap nftables nbtscan iproute2 python3 hyperfine time
  dnsmasq-base snmpd ndiff openssl chromium chromium-driver wrk
)
# Services those packages may start, with the process name each one runs as.
readonly SERVICES=(smbd:smbd nmbd:nmbd samba-ad-dc:samba snmpd:snmpd)
readonly POLICY_RC=/usr/sbin/policy-rc.d

log() { printf 'install-test-deps: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# Prints the packages of "$@" that dpkg does not report as installed.
missing_packages() {
  local pkg status
  for pkg in "$@"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || printf '%s\n' "$pkg"
  done
}

# True when systemd is the running init (Debian's own test for it).
have_systemd() { [[ -d /run/systemd/system ]]; }

remove_policy_rc() { rm -f "$POLICY_RC"; }

install_apt_packages() {
  local missing
  mapfile -t missing < <(missing_packages "${APT_PACKAGES[@]}")
  if ((${#missing[@]} == 0)); then
    log "apt packages present"
    return
  fi
  log "installing: ${missing[*]}"
  # Exit code 101 from policy-rc.d tells maintainer scripts not to start
  # services. Ours is removed when the script exits; an existing one is kept.
  if [[ ! -e $POLICY_RC ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$POLICY_RC"
    chmod 0755 "$POLICY_RC"
    trap remove_policy_rc EXIT
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq -o Dpkg::Use-Pty=0 "${missing[@]}"
}

# Prints the pids of processes named $1 in the root network namespace only:
# the test bed's own smbd/nmbd/snmpd live in other namespaces and must survive.
root_ns_pids() {
  local name=$1 root_ns pid
  root_ns=$(readlink /proc/1/ns/net)
  for pid in $(pgrep -x "$name" || true); do
    [[ $(readlink "/proc/$pid/ns/net" 2>/dev/null || true) == "$root_ns" ]] &&
      printf '%s\n' "$pid"
  done
}

# Stops a service through the init system, then any root-namespace process
# of that name that is still there.
stop_service() {
  local service=$1 process=$2 pids
  mapfile -t pids < <(root_ns_pids "$process")
  ((${#pids[@]})) || return 0
  log "stopping $service in the root namespace (pids ${pids[*]})"
  if have_systemd; then
    systemctl stop "$service" 2>/dev/null || true
  elif [[ -x /etc/init.d/$service ]]; then
    service "$service" stop >/dev/null 2>&1 || true
  fi
  mapfile -t pids < <(root_ns_pids "$process")
  ((${#pids[@]})) || return 0
  kill "${pids[@]}" 2>/dev/null || true
  local _
  for _ in {1..50}; do
    mapfile -t pids < <(root_ns_pids "$process")
    ((${#pids[@]})) || return 0
    sleep 0.1
  done
  kill -KILL "${pids[@]}" 2>/dev/null || true
}

# Keeps a service from starting at the next boot, when it is enabled either
# as a systemd unit (systemctl also works offline, without systemd as init)
# or through SysV rc links.
disable_service() {
  local service=$1 enabled=false
  if command -v systemctl >/dev/null 2>&1 &&
    systemctl is-enabled -q "$service" 2>/dev/null; then
    enabled=true
  fi
  if compgen -G "/etc/rc[2-5].d/S[0-9][0-9]$service" >/dev/null; then
    enabled=true
  fi
  [[ $enabled == true ]] || return 0
  log "disabling $service"
  if [[ -x /etc/init.d/$service ]]; then
    update-rc.d "$service" disable >/dev/null 2>&1 || true
  fi
  if command -v systemctl >/dev/null 2>&1; then
    systemctl disable -q "$service" 2>/dev/null || true
  fi
}

quiet_services() {
  local entry
  for entry in "${SERVICES[@]}"; do
    stop_service "${entry%%:*}" "${entry#*:}"
    disable_service "${entry%%:*}"
  done
}

install_nextest() {
  if command -v cargo-nextest >/dev/null 2>&1; then
    log "cargo-nextest present"
    return
  fi
  command -v cargo >/dev/null 2>&1 || die "cargo not found; install the Rust toolchain first"
  log "installing cargo-nextest"
  cargo install cargo-nextest --locked
}

# The email notifier's tests run aiosmtpd as their SMTP server, with whichever
# python3 comes first on PATH (pip refuses Debian's own python3: use its
# python3-aiosmtpd package there).
install_aiosmtpd() {
  if python3 -c 'import aiosmtpd' 2>/dev/null; then
    log "aiosmtpd present"
    return
  fi
  log "installing aiosmtpd"
  if [[ $(command -v python3) == /usr/bin/python3 ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Dpkg::Use-Pty=0 python3-aiosmtpd
  else
    python3 -m pip install --quiet aiosmtpd
  fi
}

# The store's integration tests use the machine's PostgreSQL on 127.0.0.1.
start_postgres() {
  [[ -d /etc/postgresql ]] || {
    log "no /etc/postgresql: skipping PostgreSQL"
    return
  }
  local version
  for version in /etc/postgresql/*/; do
    version=$(basename "$version")
    [[ -d /etc/postgresql/$version/main ]] || continue
    if pg_ctlcluster "$version" main status >/dev/null 2>&1; then
      log "PostgreSQL $version running"
    else
      log "starting PostgreSQL $version"
      pg_ctlcluster --skip-systemctl-redirect "$version" main start
    fi
  done
}

main() {
  ((EUID == 0)) || die "run as root (apt-get, services)"
  install_apt_packages
  quiet_services
  install_nextest
  install_aiosmtpd
  start_postgres
}

main "$@"
