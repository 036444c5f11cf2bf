#!/usr/bin/env bash
# Installs what portwatch's integration tests, benchmarks and CI need on a
# Debian 12 machine. Packages are installed without starting their services
# (the test bed runs its own copies inside namespaces; scripts/test-pg.sh runs
# the tests' own PostgreSQL); services the machine already runs are left as
# they are. Idempotent: when everything is present it only checks.
#
# Usage: scripts/install-test-deps.sh      (as root)
set -euo pipefail
# shellcheck source=scripts/boot-units.sh
source "$(dirname "${BASH_SOURCE[0]}")/boot-units.sh"

readonly APT_PACKAGES=(
  samba smbclient nmap nftables nbtscan iproute2 python3 hyperfine time ieee-data
  dnsmasq-base snmpd ndiff openssl chromium chromium-driver wrk prometheus
  ufw iptables libxml2-utils
  netbase  # /etc/services, which crates/kb/tests/etc_services.rs measures explain against
  firewalld  # fix_applied.rs runs its own in a namespace; its boot unit is disabled again
  openssh-server vsftpd nginx mariadb-server redis-server rabbitmq-server mosquitto
  masscan  # a peer in bench/syn.py (raw SYN scans of the test bed and of loopback)
)
# The servers crates/cli/tests/banners_live.rs (and fix_applied.rs: firewalld) run inside
# their own namespaces. Every unit a package enables at boot during this install (smbd, nmbd,
# snmpd, prometheus, the servers above, their sockets and timers) is disabled again, so the
# machine boots with the services it had (scripts/boot-units.sh); units enabled before are
# left alone.
# The mail server crates/cli/tests/banner_exim_live.rs runs. Debian allows one mail transport
# agent: on a machine that has another (postfix, sendmail, ...) installing Exim would remove
# it, so it is left out there and that test says what is missing.
readonly MTA_PACKAGE=exim4-daemon-light
# Python consumers of portwatch's output, pinned: the OpenAPI fuzzer and a JUnit reader.
readonly PIP_PACKAGES=(schemathesis==4.32.5 junitparser==5.0.3)
# The accessibility checker the browser test injects into the pages it drives, pinned, from
# the npm registry into a directory the test reads (never fetched while the tests run).
readonly AXE_VERSION=4.14.1
readonly AXE_DIR=/var/cache/portwatch-test
readonly POLICY_RC=/usr/sbin/policy-rc.d
# Debian's netfilter-persistent and iptables-persistent, unpacked (never installed: Debian's
# ufw package breaks iptables-persistent) for crates/cli/tests/fix_applied.rs, which runs their
# scripts to prove the iptables plan's persist step.
readonly NETFILTER_PERSISTENT_DIR=$AXE_DIR/netfilter-persistent

log() { printf 'install-test-deps: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# Whether a mail transport agent other than MTA_PACKAGE is installed.
other_mta_installed() {
  dpkg-query -W -f='${Package} ${Status} ${Provides}\n' 2>/dev/null |
    awk -v ours="$MTA_PACKAGE" '$1 != ours && $2 " " $3 " " $4 == "install ok installed" && /mail-transport-agent/ { found = 1 } END { exit !found }'
}

# Prints the packages of "$@" that dpkg does not report as installed.
missing_packages() {
  local pkg status
  for pkg in "$@"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || printf '%s\n' "$pkg"
  done
}

remove_policy_rc() { rm -f "$POLICY_RC"; }

# The email notifier's tests run aiosmtpd as their SMTP server, with whichever python3 comes
# first on PATH: Debian's python3 takes the python3-aiosmtpd package (pip refuses it), any
# other takes it from pip.
debian_python() { [[ $(command -v python3) == /usr/bin/python3 ]]; }

install_apt_packages() {
  local wanted=("${APT_PACKAGES[@]}") missing
  if debian_python; then wanted+=(python3-aiosmtpd python3-pip); fi
  if other_mta_installed; then
    log "another mail transport agent is installed: not installing $MTA_PACKAGE"
  else
    wanted+=("$MTA_PACKAGE")
  fi
  mapfile -t missing < <(missing_packages "${wanted[@]}")
  if ((${#missing[@]} == 0)); then
    log "apt packages present"
    return
  fi
  log "installing: ${missing[*]}"
  # Exit code 101 from policy-rc.d tells maintainer scripts not to start services, so the
  # machine runs no new daemon afterwards. Ours is removed when the script exits; an existing
  # one is kept.
  if [[ ! -e $POLICY_RC ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$POLICY_RC"
    chmod 0755 "$POLICY_RC"
    trap remove_policy_rc EXIT
  fi
  export DEBIAN_FRONTEND=noninteractive
  local links
  links=$(boot_unit_links)
  apt-get update -qq
  apt-get install -y -qq -o Dpkg::Use-Pty=0 "${missing[@]}"
  disable_units_enabled_since "$links"
}

# Installs the cargo subcommand "$1" from crates.io unless it is on PATH: cargo-nextest runs
# the test suite, cargo-machete checks that every declared dependency is used.
install_cargo_tool() {
  if command -v "$1" >/dev/null 2>&1; then
    log "$1 present"
    return
  fi
  command -v cargo >/dev/null 2>&1 || die "cargo not found; install the Rust toolchain first"
  log "installing $1"
  cargo install "$1" --locked
}

install_aiosmtpd() {
  if python3 -c 'import aiosmtpd' 2>/dev/null; then
    log "aiosmtpd present"
    return
  fi
  debian_python && die "python3-aiosmtpd is installed but python3 cannot import aiosmtpd"
  log "installing aiosmtpd with pip"
  python3 -m pip install --quiet aiosmtpd
}

# Installs each of PIP_PACKAGES that python3 does not have at its pinned version. Nothing is
# downloaded when the tests run: they use what is installed here.
install_pip_packages() {
  local spec missing=()
  for spec in "${PIP_PACKAGES[@]}"; do
    if ! python3 -m pip show "${spec%%==*}" 2>/dev/null | grep -x "Version: ${spec#*==}" >/dev/null; then
      missing+=("$spec")
    fi
  done
  if ((${#missing[@]} == 0)); then
    log "pip packages present"
    return
  fi
  log "installing with pip: ${missing[*]}"
  local extra=()
  # Debian's own python3 refuses pip installs into it unless told (PEP 668).
  if debian_python; then extra+=(--break-system-packages); fi
  python3 -m pip install --quiet "${extra[@]}" "${missing[@]}"
}

# Installs axe-core at AXE_VERSION under AXE_DIR/node_modules unless it is there already.
install_axe_core() {
  local manifest=$AXE_DIR/node_modules/axe-core/package.json
  if [[ -f $manifest ]] && grep -q "\"version\": \"$AXE_VERSION\"" "$manifest"; then
    log "axe-core $AXE_VERSION present"
    return
  fi
  if ! command -v npm >/dev/null 2>&1; then
    # Debian's npm (the machine may have another node with its own npm: that one is used).
    local links
    links=$(boot_unit_links)
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Dpkg::Use-Pty=0 npm
    disable_units_enabled_since "$links"
  fi
  log "installing axe-core $AXE_VERSION into $AXE_DIR"
  mkdir -p "$AXE_DIR"
  npm install --silent --no-audit --no-fund --prefix "$AXE_DIR" "axe-core@$AXE_VERSION"
}

unpack_netfilter_persistent() {
  if [[ -x $NETFILTER_PERSISTENT_DIR/usr/sbin/netfilter-persistent ]]; then
    log "netfilter-persistent unpacked"
    return
  fi
  log "unpacking netfilter-persistent and iptables-persistent into $NETFILTER_PERSISTENT_DIR"
  local debs
  debs=$(mktemp -d)
  apt-get update -qq
  # _apt downloads into a directory it can write.
  chown _apt "$debs" 2>/dev/null || true
  (cd "$debs" && apt-get download -qq netfilter-persistent iptables-persistent)
  rm -rf "$NETFILTER_PERSISTENT_DIR"
  mkdir -p "$NETFILTER_PERSISTENT_DIR"
  local deb
  for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$NETFILTER_PERSISTENT_DIR"; done
  # The packages' postinst makes the rules directory; it is a mount point for the test.
  mkdir -p "$NETFILTER_PERSISTENT_DIR/etc/iptables"
  rm -rf "$debs"
}

main() {
  ((EUID == 0)) || die "run as root (apt-get)"
  install_apt_packages
  install_axe_core
  unpack_netfilter_persistent
  install_cargo_tool cargo-nextest
  install_cargo_tool cargo-machete
  install_aiosmtpd
  install_pip_packages
}

main "$@"
