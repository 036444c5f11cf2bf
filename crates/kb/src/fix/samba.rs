//! Samba's own configuration: the smb.conf lines that limit or close its ports.

use ipnet::IpNet;

use super::Step;

/// The ports Samba serves: NetBIOS name, datagram and session, and SMB over TCP.
pub(super) const SAMBA_PORTS: [u16; 4] = [137, 138, 139, 445];

/// The first steps of a Samba plan: open smb.conf and restrict who may connect.
pub(super) fn access_steps(port: u16, source: Option<IpNet>) -> Vec<Step> {
    let mut steps = vec![Step::new(
        "Edit Samba's configuration; the lines below go in its [global] section.",
        "sudoedit /etc/samba/smb.conf",
    )];
    let netbios_udp = matches!(port, 137 | 138);
    match source {
        Some(_) if netbios_udp => {
            steps.push(Step::config(
                "Samba cannot limit the NetBIOS name and datagram services by address; at most, bind them to the LAN interface (replace <lan-interface>), or use a firewall platform.",
                "interfaces = lo <lan-interface>",
            ));
            steps.push(Step::config(
                "Listen only on the interfaces listed above.",
                "bind interfaces only = yes",
            ));
        }
        Some(net) => steps.push(Step::config(
            format!(
                "Let only {net} and this machine use Samba; other addresses are refused after they connect, so the port still answers (use a firewall platform to hide it)."
            ),
            format!("hosts allow = 127.0.0.1 ::1 {}", hosts_allow_entry(net)),
        )),
        None if port == 445 => steps.push(Step::new(
            "smbd serves port 445 for as long as it runs: if this machine should not share files, stop it for good (the unit is smb on Fedora and RHEL); otherwise harden it with the lines below.",
            "sudo systemctl disable --now smbd",
        )),
        None => {}
    }
    steps
}

/// The last hardening steps of a Samba plan: check the configuration and apply it.
pub(super) fn apply_steps(port: u16) -> Vec<Step> {
    let mut steps = vec![
        Step::new(
            "Check smb.conf for errors before applying it.",
            "testparm -s",
        ),
        Step::new(
            "Restart smbd if it is running, to apply the changes (the unit is smb on Fedora and RHEL).",
            "sudo systemctl try-restart smbd",
        ),
    ];
    if !matches!(port, 137 | 138) {
        steps.push(Step::new(
            "Stop nmbd and keep it from starting at boot: this step, not `disable netbios = yes`, is what closes 137/udp and 138/udp, since a running nmbd keeps answering there (the unit is nmb on Fedora and RHEL).",
            "sudo systemctl disable --now nmbd",
        ));
    }
    steps
}

/// A network in the form `hosts allow` understands: Samba reads a suffix of more than two
/// characters as a netmask, so long IPv6 prefixes are written as a mask.
fn hosts_allow_entry(net: IpNet) -> String {
    if net.prefix_len() < 100 {
        net.to_string()
    } else {
        format!("{}/{}", net.network(), net.netmask())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_allow_entries() {
        let net = |s: &str| s.parse::<IpNet>().unwrap();
        assert_eq!(hosts_allow_entry(net("10.0.0.0/24")), "10.0.0.0/24");
        assert_eq!(hosts_allow_entry(net("2001:db8::/64")), "2001:db8::/64");
        assert_eq!(
            hosts_allow_entry(net("2001:db8::/112")),
            "2001:db8::/ffff:ffff:ffff:ffff:ffff:ffff:ffff:0"
        );
    }
}
