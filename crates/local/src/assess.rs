//! The severity that applies to a listener here: the port's risk, given who can reach it.

use crate::firewall::FirewallVerdict;
use crate::interfaces::is_private;
use crate::model::Exposure;
use ipnet::IpNet;
use portwatch_kb::{Risk, Severity};
use std::net::IpAddr;

/// The effective severity and one sentence saying why.
///
/// The base is the knowledge base's severity for the exposure class
/// ([`Exposure::class`], [`portwatch_kb::Risk::at`]): loopback → none, a private address → the
/// LAN severity, the wildcard address or a public address → the internet severity (the machine
/// may be reachable from anywhere its interfaces are). Then the firewall: blocked → at most `low`; allowed only from private networks → at
/// most the LAN severity.
pub fn assess(exposure: &Exposure, risk: Risk, firewall: &FirewallVerdict) -> (Severity, String) {
    let base = risk.at(exposure.class());
    let why = match exposure {
        Exposure::Loopback => {
            return (
                base,
                "bound to loopback: only this machine can connect".to_string(),
            );
        }
        Exposure::Interface {
            private: true,
            name,
        } => format!("bound to a private address{}: LAN severity", on(name.as_ref())),
        Exposure::Interface {
            private: false,
            name,
        } => format!("bound to a public address{}: internet severity", on(name.as_ref())),
        Exposure::AllInterfaces => {
            "bound to all interfaces: internet severity (reachable wherever this machine's interfaces are)"
                .to_string()
        }
    };
    match firewall {
        FirewallVerdict::Blocked { how } if base > Severity::Low => (
            Severity::Low,
            format!(
                "{why}; lowered from {base} to low: the firewall {how}s new inbound connections"
            ),
        ),
        FirewallVerdict::Blocked { how } => (
            base,
            format!("{why}; the firewall {how}s new inbound connections"),
        ),
        FirewallVerdict::AllowedFrom(sources) if all_private(sources) && base > risk.lan => (
            risk.lan,
            format!(
                "{why}; lowered from {base} to {}: the firewall admits only private networks ({})",
                risk.lan,
                sources.join(", ")
            ),
        ),
        _ => (base, why),
    }
}

fn on(name: Option<&String>) -> String {
    name.map(|n| format!(" on {n}")).unwrap_or_default()
}

/// Whether every source is a private network (a `via IFACE` source is not known to be).
fn all_private(sources: &[String]) -> bool {
    !sources.is_empty()
        && sources.iter().all(|s| {
            let net = s.split_whitespace().next().unwrap_or("");
            net.parse::<IpNet>()
                .ok()
                .or_else(|| net.parse::<IpAddr>().ok().map(IpNet::from))
                .is_some_and(|n| is_private(n.network()) && is_private(n.broadcast()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMB: Risk = Risk {
        lan: Severity::Medium,
        internet: Severity::Critical,
        page: true,
    };

    #[test]
    fn exposure_picks_the_scale() {
        let open = FirewallVerdict::Accepted;
        assert_eq!(assess(&Exposure::Loopback, SMB, &open).0, Severity::None);
        let lan = Exposure::Interface {
            name: Some("eth0".into()),
            private: true,
        };
        assert_eq!(assess(&lan, SMB, &open).0, Severity::Medium);
        let public = Exposure::Interface {
            name: None,
            private: false,
        };
        assert_eq!(assess(&public, SMB, &open).0, Severity::Critical);
        assert_eq!(
            assess(&Exposure::AllInterfaces, SMB, &open).0,
            Severity::Critical
        );
    }

    #[test]
    fn firewall_lowers_and_says_so() {
        let blocked = FirewallVerdict::Blocked { how: "drop".into() };
        let (sev, why) = assess(&Exposure::AllInterfaces, SMB, &blocked);
        assert_eq!(sev, Severity::Low);
        assert!(
            why.contains("lowered from critical to low: the firewall drops"),
            "{why}"
        );
        let lan_only =
            FirewallVerdict::AllowedFrom(vec!["10.0.0.0/8".into(), "192.168.1.7".into()]);
        assert_eq!(
            assess(&Exposure::AllInterfaces, SMB, &lan_only).0,
            Severity::Medium
        );
        let public_too =
            FirewallVerdict::AllowedFrom(vec!["10.0.0.0/8".into(), "203.0.113.0/24".into()]);
        assert_eq!(
            assess(&Exposure::AllInterfaces, SMB, &public_too).0,
            Severity::Critical
        );
        let via = FirewallVerdict::AllowedFrom(vec!["via eth0".into()]);
        assert_eq!(
            assess(&Exposure::AllInterfaces, SMB, &via).0,
            Severity::Critical
        );
        let (sev, _) = assess(&Exposure::AllInterfaces, Risk::DEFAULT, &blocked);
        assert_eq!(sev, Severity::Low);
    }
}
