//! Plans that must not lock the admin out, and sources a plan must not open a port to.

use ipnet::IpNet;

use super::platform::Platform;
use crate::error::{KbError, Result};

/// Ports people administer machines through, where the person pasting a plan may be connected:
/// SSH, Telnet, RDP, VNC, WinRM over HTTP and HTTPS, and 8080, the default address of
/// portwatch's own dashboard. Plans for them drop only new connections and say what they cut.
pub const SESSION_PORTS: [u16; 7] = [22, 23, 3389, 5900, 5985, 5986, 8080];

/// Whether `port` is one of [`SESSION_PORTS`].
pub fn is_session_port(port: u16) -> bool {
    SESSION_PORTS.contains(&port)
}

/// Refuses a source that is every address: "allow everyone, deny the rest" opens the port.
pub(super) fn check_source(port: u16, net: IpNet) -> Result<()> {
    if net.prefix_len() == 0 {
        return Err(KbError::SourceIsEverything { port, network: net });
    }
    Ok(())
}

/// A caution when the source network holds public (internet-routable) addresses.
pub(super) fn public_source_caution(net: IpNet) -> Option<String> {
    if is_non_public(net) {
        return None;
    }
    Some(format!(
        "{net} contains public internet addresses: everyone in it can still reach the port. Give the smallest network you administer from (a single address is /32 or /128)."
    ))
}

/// What a plan for a session port cuts and how to keep access, read before the steps.
pub(super) fn session_cautions(
    port: u16,
    platform: Platform,
    source: Option<IpNet>,
) -> Vec<String> {
    let mut cautions = Vec::new();
    match source {
        None => cautions.push(format!(
            "Port {port} is one people log in or manage machines through. After these steps nobody can open a new connection to it, you included: if you manage this machine through it, limit it to your own network instead (portwatch fix {port} --platform {platform} --source <your-network>), or keep a console (or other way in) at hand."
        )),
        Some(net) => cautions.push(format!(
            "Port {port} is one people log in or manage machines through: check that the address you connect from is inside {net}, or the next new connection you open is refused."
        )),
    }
    let kept = match platform {
        Platform::Ufw => {
            "Connections already open stay up: ufw accepts connections it has seen before its own rules, and the plan turns an inactive ufw on before adding the deny, so a session that carries a packet in between (yours shows the command output) is kept."
        }
        Platform::Firewalld => {
            "Connections already open stay up: firewalld accepts established connections before a zone's rules."
        }
        Platform::Nftables | Platform::Iptables => {
            "TCP connections already open stay up: the rules below drop only connection attempts (SYN packets), which works whether or not connection tracking was running when the session started. UDP has no connections to keep: its packets to the port are dropped."
        }
        Platform::Windows => {
            "Windows Firewall rules apply to new connections; a setting from the hardening steps (turning the service off) ends open sessions too, so run those from the console."
        }
        Platform::Macos => {
            "pf keeps connections it already tracks; one opened while pf was disabled is not tracked and is cut when pf loads these rules, so load them from the console."
        }
        Platform::Samba => return cautions,
    };
    cautions.push(kept.to_owned());
    cautions
}

/// Whether every address of `net` is private, loopback, link-local, shared (CGNAT) or
/// documentation space, so not reachable from the internet.
fn is_non_public(net: IpNet) -> bool {
    let within = |outer: &str| {
        outer
            .parse::<IpNet>()
            .is_ok_and(|outer| outer.contains(&net))
    };
    match net {
        IpNet::V4(_) => [
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "100.64.0.0/10",
            "127.0.0.0/8",
            "169.254.0.0/16",
            "192.0.2.0/24",
            "198.51.100.0/24",
            "203.0.113.0/24",
        ]
        .into_iter()
        .any(within),
        IpNet::V6(_) => ["fc00::/7", "fe80::/10", "::1/128", "2001:db8::/32"]
            .into_iter()
            .any(within),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> IpNet {
        text.parse().unwrap()
    }

    #[test]
    fn everything_sources_are_refused() {
        for text in ["0.0.0.0/0", "::/0"] {
            let err = check_source(445, net(text)).unwrap_err();
            assert!(err.to_string().contains(text), "{err}");
        }
        assert!(check_source(445, net("10.0.0.0/8")).is_ok());
    }

    #[test]
    fn public_sources_get_a_caution() {
        assert!(public_source_caution(net("8.8.8.0/24")).is_some());
        assert!(public_source_caution(net("0.0.0.0/1")).is_some());
        assert!(public_source_caution(net("2a00::/16")).is_some());
        for private in ["10.1.0.0/16", "192.168.1.0/24", "fd00::/8", "127.0.0.1/32"] {
            assert!(public_source_caution(net(private)).is_none(), "{private}");
        }
    }
}
