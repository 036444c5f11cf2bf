# Sourced by install-test-deps.sh and test-pg.sh: keeps the machine booting with the services
# it had. A package install may enable units at boot (a server, its socket, a timer); the
# scripts take a snapshot of the boot-time links before apt-get and disable every unit whose
# link appeared during the install. Works without a running systemd: `systemctl disable`
# only removes links, and a link it does not know is removed by hand.

# The links under /etc/systemd/system that start a unit at boot, one per line, sorted.
boot_unit_links() {
  find /etc/systemd/system -mindepth 2 -maxdepth 2 -type l \
    \( -path '*.wants/*' -o -path '*.requires/*' \) 2>/dev/null | sort
}

# Disables each unit whose boot-time link is listed now but not in the snapshot "$1" (the
# output of boot_unit_links taken before the install).
disable_units_enabled_since() {
  local link unit
  while read -r link; do
    [[ -n $link ]] || continue
    unit=${link##*/}
    systemctl disable "$unit" >/dev/null 2>&1 || true
    rm -f "$link"
    printf 'boot-units: disabled %s (enabled by the install)\n' "$unit" >&2
  done < <(comm -13 <(printf '%s\n' "$1") <(boot_unit_links))
}
