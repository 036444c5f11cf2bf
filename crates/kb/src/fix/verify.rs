//! Steps that check a port is closed: the platform's rule listing, local listeners, a scan.

use ipnet::IpNet;

use super::Step;
use super::platform::Platform;
use crate::transport::Transport;

/// The verify steps for a plan.
pub(super) fn steps(
    platform: Platform,
    port: u16,
    transports: &[Transport],
    source: Option<IpNet>,
) -> Vec<Step> {
    let mut steps = vec![rules_step(platform)];
    steps.extend(listener_steps(platform, port, transports));
    steps.extend(scan_step(port, transports, source));
    steps
}

fn rules_step(platform: Platform) -> Step {
    let (say, run) = match platform {
        Platform::Ufw => (
            "List the rules in the order ufw applies them.",
            "sudo ufw status numbered",
        ),
        Platform::Firewalld => (
            "List the rich rules of the default zone.",
            "sudo firewall-cmd --list-rich-rules",
        ),
        Platform::Nftables => (
            "List the input chain.",
            "sudo nft list chain inet filter input",
        ),
        Platform::Iptables => (
            "List the INPUT rules for IPv4 and IPv6.",
            "sudo iptables -S INPUT && sudo ip6tables -S INPUT",
        ),
        Platform::Windows => (
            "List the rules portwatch's steps created.",
            "Get-NetFirewallRule -DisplayName 'portwatch:*' | Format-Table DisplayName, Enabled, Direction, Action",
        ),
        Platform::Macos => (
            "Check that pf is enabled and list portwatch's anchor.",
            "sudo pfctl -s info | head -n 1 && sudo pfctl -a portwatch -s rules",
        ),
        Platform::Samba => (
            "Show the settings Samba now uses.",
            "testparm -s 2>/dev/null | grep -E 'hosts allow|interfaces|disable netbios|smb ports|server min protocol|server signing'",
        ),
    };
    Step::new(say, run)
}

fn listener_steps(platform: Platform, port: u16, transports: &[Transport]) -> Vec<Step> {
    let tcp = transports.contains(&Transport::Tcp);
    let udp = transports.contains(&Transport::Udp);
    let sctp = transports.contains(&Transport::Sctp);
    let mut steps = Vec::new();
    match platform {
        Platform::Windows => {
            if tcp {
                steps.push(Step::new(
                    format!("See whether anything still listens on TCP {port} (a firewall rule hides it but does not stop it)."),
                    format!("Get-NetTCPConnection -LocalPort {port} -State Listen -ErrorAction SilentlyContinue"),
                ));
            }
            if udp {
                steps.push(Step::new(
                    format!("See whether anything still listens on UDP {port}."),
                    format!("Get-NetUDPEndpoint -LocalPort {port} -ErrorAction SilentlyContinue"),
                ));
            }
        }
        Platform::Macos => {
            if tcp {
                steps.push(Step::new(
                    format!("See whether anything still listens on TCP {port} (pf hides it but does not stop it)."),
                    format!("sudo lsof -nP -iTCP:{port} -sTCP:LISTEN"),
                ));
            }
            if udp {
                steps.push(Step::new(
                    format!("See whether anything still listens on UDP {port}."),
                    format!("sudo lsof -nP -iUDP:{port}"),
                ));
            }
        }
        _ => {
            let flags = match (tcp, udp) {
                (true, true) => Some("-ltunp"),
                (true, false) => Some("-ltnp"),
                (false, true) => Some("-lunp"),
                (false, false) => None,
            };
            if let Some(flags) = flags {
                steps.push(Step::new(
                    format!("See which process still listens on port {port} (a firewall hides it but does not stop it)."),
                    format!("sudo ss {flags} 'sport = :{port}'"),
                ));
            }
            if sctp {
                steps.push(Step::new(
                    format!("See which process still listens on SCTP port {port}."),
                    format!("sudo ss -lnp --sctp 'sport = :{port}'"),
                ));
            }
        }
    }
    steps
}

fn scan_step(port: u16, transports: &[Transport], source: Option<IpNet>) -> Option<Step> {
    let spec: Vec<String> = transports
        .iter()
        .filter_map(|t| match t {
            Transport::Tcp => Some(format!("T:{port}")),
            Transport::Udp => Some(format!("U:{port}")),
            Transport::Sctp => None,
        })
        .collect();
    if spec.is_empty() {
        return None;
    }
    let mut holds = Vec::new();
    if transports.contains(&Transport::Tcp) {
        holds.push(format!("{port}/tcp filtered or closed"));
    }
    if transports.contains(&Transport::Udp) {
        holds.push(format!(
            "{port}/udp closed or open|filtered (no answer); open means something still answers"
        ));
    }
    let whence = match source {
        Some(net) => format!(
            "From a machine outside {net}, scan this host (replace <host>); from inside {net} the port should still be open."
        ),
        None => "From another machine, scan this host (replace <host>).".to_owned(),
    };
    let say = format!(
        "{whence} --assume-up reports the port even when nothing else on the host answers the scan, and --all lists it when it is filtered or closed. The fix holds when it shows {}.",
        holds.join(", and ")
    );
    Some(Step::new(
        say,
        format!(
            "portwatch scan <host> -p {} --assume-up --all",
            spec.join(",")
        ),
    ))
}
