//! Firewall rules that close a port: ufw, firewalld, nftables, iptables, Windows and macOS pf.

use ipnet::IpNet;

use super::Step;
use super::platform::Platform;
use crate::transport::Transport;

/// The firewall steps for a non-Samba platform. `session`: the port is one people may be
/// connected through, so the rules that can tell drop only new connections.
pub(super) fn steps(
    platform: Platform,
    port: u16,
    transports: &[Transport],
    source: Option<IpNet>,
    session: bool,
) -> Vec<Step> {
    match platform {
        Platform::Ufw => ufw(port, transports, source),
        Platform::Firewalld => firewalld(port, transports, source),
        Platform::Nftables => nftables(port, transports, source, session),
        Platform::Iptables => iptables(port, transports, source, session),
        Platform::Windows => windows(port, transports, source),
        Platform::Macos => macos(port, transports, source),
        Platform::Samba => Vec::new(),
    }
}

/// ufw reads its rules top down and the first match wins, so every rule here is prepended:
/// an existing `allow Samba` or `allow 139` further down no longer matters. Established
/// connections are accepted by ufw's before-rules, ahead of any user rule.
fn ufw(port: u16, transports: &[Transport], source: Option<IpNet>) -> Vec<Step> {
    let mut steps = vec![
        Step::new(
            "See whether ufw is active and which rules it has (the first rule that matches a packet decides).",
            "sudo ufw status verbose",
        ),
        Step::new(
            format!(
                "Enabling an inactive ufw also applies its default policy, which denies every incoming connection no rule allows: that would close every other open port too (file sharing, a web server, SSH), not only {port}. So if ufw is inactive, this sets the incoming default to allow first, and only the rules below close anything. If you want deny-by-default instead, skip this step and allow each service you need (SSH first) before the next one."
            ),
            "sudo ufw status | grep -q '^Status: active' || sudo ufw default allow incoming",
        ),
        Step::new(
            "Turn ufw on if it is off, before the rules below: ufw keeps a connection open only once it has seen a packet of it, and a session you are using (such as this SSH session) carries the output of this command (--force skips the question about SSH).",
            "sudo ufw status | grep -q '^Status: active' || sudo ufw --force enable",
        ),
    ];
    for &t in transports {
        // ufw skips inserting a rule whose match equals an existing one (whatever its
        // action): an `allow {port}/{t}` would make the prepend below a no-op.
        steps.push(Step::new(
            format!(
                "Remove an allow rule for exactly {port}/{t}, if there is one: ufw does not insert a rule that matches the same traffic as an existing one (it prints \"Skipping inserting existing rule\"), so that allow would stay and the deny below would not be added. If there is none, ufw says it could not delete it; that is fine."
            ),
            format!("sudo ufw delete allow {port}/{t}"),
        ));
        if let Some(net) = source {
            steps.push(Step::new(
                format!(
                    "Likewise remove an allow for exactly {net} to {port}/{t}, if there is one, so the allow below lands above the deny."
                ),
                format!("sudo ufw delete allow from {net} to any port {port} proto {t}"),
            ));
        }
        steps.push(Step::new(
            format!(
                "Put a deny for {} connection to {port}/{t} at the top of the rules, for IPv4 and IPv6, so it wins over any allow that matches the port (such as allow Samba or allow {port}).",
                every(source)
            ),
            format!("sudo ufw prepend deny {port}/{t}"),
        ));
        if let Some(net) = source {
            steps.push(Step::new(
                format!(
                    "Allow {net} to reach {port}/{t}; prepended after the deny, it lands above it and matches first."
                ),
                format!("sudo ufw prepend allow from {net} to any port {port} proto {t}"),
            ));
        }
    }
    steps
}

fn firewalld(port: u16, transports: &[Transport], source: Option<IpNet>) -> Vec<Step> {
    let mut steps = vec![Step::new(
        "See which zone your network interface is in; the rules below go to the default zone, so add --zone=NAME to them if the interface is in another zone.",
        "sudo firewall-cmd --get-active-zones",
    )];
    for &t in transports {
        if let Some(net) = source {
            steps.push(Step::new(
                format!(
                    "Accept {port}/{t} from {net}; the negative priority puts this rule before the zone's own rules and before the drop below."
                ),
                format!(
                    "sudo firewall-cmd --permanent --add-rich-rule='rule family=\"{}\" priority=\"-2\" source address=\"{net}\" port port=\"{port}\" protocol=\"{t}\" accept'",
                    family(net)
                ),
            ));
        }
        steps.push(Step::new(
            format!(
                "Drop {} packet to {port}/{t} (IPv4 and IPv6), before any service or port the zone opens.",
                every(source)
            ),
            format!(
                "sudo firewall-cmd --permanent --add-rich-rule='rule priority=\"-1\" port port=\"{port}\" protocol=\"{t}\" drop'"
            ),
        ));
    }
    steps.push(Step::new(
        "Load the permanent configuration into the running firewall.",
        "sudo firewall-cmd --reload",
    ));
    steps
}

fn nftables(
    port: u16,
    transports: &[Transport],
    source: Option<IpNet>,
    session: bool,
) -> Vec<Step> {
    let mut steps = vec![Step::new(
        "Make sure the input chain of the inet filter table exists (Debian and Ubuntu's default /etc/nftables.conf creates it); if it does not, create it with a policy that accepts, so only the rules below block anything. Other tables and rules are left as they are.",
        "sudo nft list chain inet filter input >/dev/null 2>&1 || { sudo nft add table inet filter && sudo nft 'add chain inet filter input { type filter hook input priority 0; policy accept; }'; }",
    )];
    let mut persist = Vec::new();
    for &t in transports {
        // A connection opened before connection tracking was active in this network namespace
        // looks "new" to it, so only the TCP flags tell an attempt from an open session.
        let attempts = session && t == Transport::Tcp;
        let syn_only = if attempts {
            " tcp flags syn / syn,ack"
        } else {
            ""
        };
        let drop = format!("{t} dport {port}{syn_only} drop");
        steps.push(Step::new(
            format!(
                "Drop {} to {port}/{t}; insert puts the rule at the top of the chain, ahead of any rule that accepts the port.",
                if attempts { "connection attempts (SYN without ACK: open sessions keep working)" } else { "packets" }
            ),
            format!("sudo nft insert rule inet filter input {drop}"),
        ));
        let accept =
            source.map(|net| format!("{} saddr {net} {t} dport {port} accept", nft_family(net)));
        if let Some(accept) = &accept {
            steps.push(Step::new(
                format!(
                    "Accept {port}/{t} from the allowed network; inserted after the drop, it lands above it and matches first."
                ),
                format!("sudo nft insert rule inet filter input {accept}"),
            ));
            persist.push(accept.clone());
        }
        persist.push(drop);
    }
    steps.push(Step::config(
        "To keep the rules after a reboot, add these lines, in this order, at the top of the input chain in /etc/nftables.conf.",
        persist.join("\n"),
    ));
    steps.push(Step::persist(
        "Load /etc/nftables.conf at boot.",
        "sudo systemctl enable nftables",
    ));
    steps
}

fn iptables(
    port: u16,
    transports: &[Transport],
    source: Option<IpNet>,
    session: bool,
) -> Vec<Step> {
    let mut steps = Vec::new();
    for &t in transports {
        // As for nftables: TCP flags, not connection tracking, tell an attempt from a session.
        let attempts = session && t == Transport::Tcp;
        let syn_only = if attempts { " --syn" } else { "" };
        for (tool, v6) in [("iptables", false), ("ip6tables", true)] {
            let ip = if v6 { "IPv6" } else { "IPv4" };
            steps.push(Step::new(
                format!(
                    "Drop {ip} {} to {port}/{t}; -I puts the rule first in INPUT, ahead of any rule that accepts the port.",
                    if attempts { "connection attempts (SYN without ACK: open sessions keep working)" } else { "packets" }
                ),
                format!("sudo {tool} -I INPUT -p {t} --dport {port}{syn_only} -j DROP"),
            ));
            if let Some(net) = source.filter(|net| matches!(net, IpNet::V6(_)) == v6) {
                steps.push(Step::new(
                    format!("Accept {port}/{t} from {net}; inserted after the drop, it lands above it and matches first."),
                    format!("sudo {tool} -I INPUT -s {net} -p {t} --dport {port} -j ACCEPT"),
                ));
            }
        }
    }
    steps.push(Step::persist(
        "Save the rules so they survive a reboot (Debian and Ubuntu with the iptables-persistent package; on RHEL use sudo service iptables save).",
        "sudo netfilter-persistent save",
    ));
    steps
}

fn windows(port: u16, transports: &[Transport], source: Option<IpNet>) -> Vec<Step> {
    let mut steps = vec![Step::new(
        "Check that Windows Firewall is on and blocks inbound connections by default on every profile (run PowerShell as Administrator).",
        "Get-NetFirewallProfile | Format-Table Name, Enabled, DefaultInboundAction",
    )];
    for &t in transports {
        let proto = t.as_str().to_ascii_uppercase();
        let Some(net) = source else {
            steps.push(Step::new(
                format!("Block inbound {proto} {port}; Windows Firewall lets block rules win over allow rules."),
                format!(
                    "New-NetFirewallRule -DisplayName \"portwatch: block {proto} {port}\" -Direction Inbound -Protocol {proto} -LocalPort {port} -Action Block"
                ),
            ));
            continue;
        };
        let allow_rules = format!(
            "Get-NetFirewallPortFilter -Protocol {proto} | Where-Object {{ $_.LocalPort -contains '{port}' }} | Get-NetFirewallRule | Where-Object {{ $_.Direction -eq 'Inbound' -and $_.Action -eq 'Allow' -and $_.Enabled -eq 'True' }}"
        );
        steps.push(Step::new(
            format!(
                "A block rule would also block {net}, because block rules win; instead, list the rules that currently allow {proto} {port} in."
            ),
            format!("{allow_rules} | Format-Table Name, DisplayName, Profile"),
        ));
        steps.push(Step::new(
            format!("Turn those rules off, so that only the rule below lets {proto} {port} in."),
            format!("{allow_rules} | Disable-NetFirewallRule"),
        ));
        steps.push(Step::new(
            format!("Allow {proto} {port} only from {net}; everything else meets the default inbound block."),
            format!(
                "New-NetFirewallRule -DisplayName \"portwatch: allow {proto} {port} from {net}\" -Direction Inbound -Protocol {proto} -LocalPort {port} -RemoteAddress {net} -Action Allow"
            ),
        ));
    }
    steps
}

fn macos(port: u16, transports: &[Transport], source: Option<IpNet>) -> Vec<Step> {
    let mut lines = Vec::new();
    for &t in transports {
        if let Some(net) = source {
            lines.push(format!(
                "pass in quick proto {t} from {net} to any port {port}"
            ));
        }
        lines.push(format!(
            "block in quick proto {t} from any to any port {port}"
        ));
    }
    let quoted: Vec<String> = lines.iter().map(|line| format!("'{line}'")).collect();
    vec![
        Step::new(
            "Append the rules to portwatch's pf anchor file (quick: the first matching rule decides, so the pass for the allowed network comes first).",
            format!(
                "printf '%s\\n' {} | sudo tee -a /etc/pf.anchors/portwatch",
                quoted.join(" ")
            ),
        ),
        Step::new(
            "Make /etc/pf.conf load the anchor (only once; macOS updates may restore the original file, so check after an upgrade).",
            "grep -q 'anchor \"portwatch\"' /etc/pf.conf || printf '%s\\n' 'anchor \"portwatch\"' 'load anchor \"portwatch\" from \"/etc/pf.anchors/portwatch\"' | sudo tee -a /etc/pf.conf",
        ),
        Step::new(
            "Check the configuration for syntax errors.",
            "sudo pfctl -nf /etc/pf.conf",
        ),
        Step::new("Load the configuration.", "sudo pfctl -f /etc/pf.conf"),
        Step::new(
            "Enable pf (it is off by default and after a restart unless a launch daemon runs pfctl -E at boot).",
            "sudo pfctl -E",
        ),
    ]
}

/// "every" when nothing is allowed in, "every other" when a source network is.
fn every(source: Option<IpNet>) -> &'static str {
    if source.is_some() {
        "every other"
    } else {
        "every"
    }
}

/// firewalld's rich-rule family for a network.
fn family(net: IpNet) -> &'static str {
    match net {
        IpNet::V4(_) => "ipv4",
        IpNet::V6(_) => "ipv6",
    }
}

/// nftables' address family keyword for a network.
fn nft_family(net: IpNet) -> &'static str {
    match net {
        IpNet::V4(_) => "ip",
        IpNet::V6(_) => "ip6",
    }
}
