//! Policy evaluation: which open ports break a group's rules, which expected ones are down,
//! each finding with its severity, what answered, and what the port is and how to close it.

use crate::config::{Policy, Vantage};
use portwatch_kb::Severity;
use portwatch_scan::{HostStatus, HostSummary, PortResult, PortState, Proto};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Which rule a finding breaks. Its spellings in stored states (serde) and in alert keys
/// ([`Rule::key_name`]) are written out one by one, so renaming a variant changes neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Rule {
    /// A port that must be closed is open.
    #[serde(rename = "must-be-closed")]
    MustBeClosed,
    /// An open port is not in `allowed_open`.
    #[serde(rename = "unexpected")]
    Unexpected,
    /// A port that must be open is not.
    #[serde(rename = "expected-open")]
    ExpectedOpen,
    /// The host did not answer, so nothing about it could be checked.
    #[serde(rename = "host-down")]
    HostDown,
    /// A host that answered before answers nothing now, so its rules cannot be verified.
    #[serde(rename = "cannot-verify")]
    CannotVerify,
    /// An agent has not been heard from within `[cluster] agent_stale_after`: nobody checks
    /// what its vantage sees.
    #[serde(rename = "agent-stale")]
    AgentStale,
}

/// The group name of agent-stale findings (their key is `agents|NAME|agent-stale`).
pub const AGENTS_GROUP: &str = "agents";

impl Rule {
    /// The rule's part of an alert key. Frozen: these are the spellings alert keys have had
    /// since the first release (they were the variants' `Debug` names), so keys stored by
    /// any version keep matching.
    pub fn key_name(self) -> &'static str {
        match self {
            Rule::MustBeClosed => "MustBeClosed",
            Rule::Unexpected => "Unexpected",
            Rule::ExpectedOpen => "ExpectedOpen",
            Rule::HostDown => "HostDown",
            Rule::CannotVerify => "CannotVerify",
            Rule::AgentStale => "agent-stale",
        }
    }

    /// Short wording for reports, e.g. "must be closed".
    pub fn label(self) -> &'static str {
        match self {
            Rule::MustBeClosed => "must be closed",
            Rule::Unexpected => "not allowed open",
            Rule::ExpectedOpen => "expected open",
            Rule::HostDown => "host down",
            Rule::CannotVerify => "cannot verify",
            Rule::AgentStale => "agent stale",
        }
    }
}

/// One broken rule on one host (and port).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The policy's group.
    pub group: String,
    /// Where it was seen from (`local`: this server). Stored states from before vantages
    /// existed read as `local`.
    #[serde(default = "local_vantage")]
    pub vantage: String,
    /// The host.
    pub host: IpAddr,
    /// Its name, if known.
    pub hostname: Option<String>,
    /// The port (absent for a down host).
    pub port: Option<u16>,
    /// The transport.
    pub proto: Option<Proto>,
    /// The rule.
    pub rule: Rule,
    /// How serious.
    pub severity: Severity,
    /// The port's state when checked.
    pub state: Option<PortState>,
    /// What answered (service name).
    pub service: Option<String>,
    /// One line of what answered (NetBIOS name, SMB dialects, banner).
    pub answered: Option<String>,
    /// What the port is, from the knowledge base.
    pub explain: Option<String>,
    /// How to close it.
    pub fix: Option<String>,
}

fn local_vantage() -> String {
    crate::config::vantage::LOCAL.to_string()
}

impl Finding {
    /// A stable key for this finding: `group|host|port/proto|Rule` (or `group|host|Rule` for
    /// a host-wide finding), built from explicit spellings ([`Rule::key_name`]), never from
    /// `Debug`; seen from a vantage other than `local`, `|from:VANTAGE` follows, so the keys of
    /// `local` findings are the ones every earlier version stored. An agent-stale finding
    /// names the agent in `hostname`; its key is `agents|NAME|agent-stale`.
    pub fn key(&self) -> String {
        let rule = self.rule.key_name();
        if self.rule == Rule::AgentStale {
            let name = self.hostname.as_deref().unwrap_or_default();
            return format!("{}|{name}|{rule}", self.group);
        }
        let key = match (self.port, self.proto) {
            (Some(p), Some(t)) => format!("{}|{}|{p}/{t}|{rule}", self.group, self.host),
            _ => format!("{}|{}|{rule}", self.group, self.host),
        };
        if self.vantage == crate::config::vantage::LOCAL {
            key
        } else {
            format!("{key}|from:{}", self.vantage)
        }
    }
}

/// The finding for a host of `group` that answered before (`seen_up`) and answers nothing
/// now: its rules cannot be verified. `None` when the host answers, was never seen up, or an
/// `expected_open` rule already reports it down.
pub fn cannot_verify(
    group: &str,
    vantage: &Vantage,
    policy: &Policy,
    host: &HostSummary,
    seen_up: bool,
) -> Option<Finding> {
    if host.status != HostStatus::Down || !seen_up || !policy.expected_open.is_empty() {
        return None;
    }
    Some(Finding {
        group: group.to_string(),
        vantage: vantage.name.clone(),
        host: host.host,
        hostname: host.hostname.clone(),
        port: None,
        proto: None,
        rule: Rule::CannotVerify,
        severity: policy.severity.unwrap_or(Severity::High),
        state: None,
        service: None,
        answered: None,
        explain: Some(
            "the host answered before and answers nothing now (down, unreachable or \
             filtered): its ports cannot be verified"
                .into(),
        ),
        fix: None,
    })
}

/// A port the policy asked about but the scan could not tell (UDP open|filtered on a
/// must-be-closed port): not a violation, but worth showing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unverified {
    /// The host.
    pub host: IpAddr,
    /// The port.
    pub port: u16,
    /// The transport.
    pub proto: Proto,
    /// Why it could not be verified.
    pub why: String,
}

/// The verdict of one host against one policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HostVerdict {
    /// Broken rules.
    pub findings: Vec<Finding>,
    /// Rules checked and passed (port-level), for reports that list passes (JUnit).
    pub passed: Vec<(u16, Proto, Rule)>,
    /// Ports that could not be judged.
    pub unverified: Vec<Unverified>,
}

fn in_list(list: &portwatch_scan::ports::PortList, port: u16, proto: Proto) -> bool {
    list.of(proto).binary_search(&port).is_ok()
}

/// Judges one finished host of `group` against `policy`, from the results the scan reported
/// for it (open and open|filtered ports at least), as seen from this server.
pub fn evaluate(
    group: &str,
    policy: &Policy,
    host: &HostSummary,
    results: &[PortResult],
) -> HostVerdict {
    evaluate_from(group, &Vantage::local(), policy, host, results)
}

/// Like [`evaluate`], for what `vantage` saw: its findings name it and are rated at the
/// exposure it stands for ([`Vantage::exposure_of`]). Give it the vantage's policy
/// (`Group::policy_for`).
pub fn evaluate_from(
    group: &str,
    vantage: &Vantage,
    policy: &Policy,
    host: &HostSummary,
    results: &[PortResult],
) -> HostVerdict {
    let mut verdict = HostVerdict::default();
    if host.status == HostStatus::Down {
        if !policy.expected_open.is_empty() {
            verdict.findings.push(Finding {
                group: group.to_string(),
                vantage: vantage.name.clone(),
                host: host.host,
                hostname: host.hostname.clone(),
                port: None,
                proto: None,
                rule: Rule::HostDown,
                severity: policy.severity.unwrap_or(Severity::High),
                state: None,
                service: None,
                answered: None,
                explain: Some(
                    "the host answered no probe; expected services are unreachable".into(),
                ),
                fix: None,
            });
        }
        return verdict;
    }
    let state_of = |port: u16, proto: Proto| {
        results
            .iter()
            .find(|r| r.port == port && r.proto == proto && r.host == host.host)
    };
    for &proto in Proto::ALL {
        for &port in policy.must_be_closed.of(proto) {
            match state_of(port, proto) {
                Some(r) if r.state == PortState::Open => {
                    verdict.findings.push(finding(
                        group,
                        vantage,
                        policy,
                        host,
                        r,
                        Rule::MustBeClosed,
                    ));
                }
                Some(r) if r.state == PortState::OpenFiltered => {
                    verdict.unverified.push(Unverified {
                        host: host.host,
                        port,
                        proto,
                        why: "no answer: open or filtered cannot be told apart".into(),
                    });
                }
                _ => verdict.passed.push((port, proto, Rule::MustBeClosed)),
            }
        }
        for &port in policy.expected_open.of(proto) {
            match state_of(port, proto) {
                Some(r) if r.state == PortState::Open => {
                    verdict.passed.push((port, proto, Rule::ExpectedOpen));
                }
                found => verdict.findings.push(Finding {
                    group: group.to_string(),
                    vantage: vantage.name.clone(),
                    host: host.host,
                    hostname: host.hostname.clone(),
                    port: Some(port),
                    proto: Some(proto),
                    rule: Rule::ExpectedOpen,
                    severity: policy.severity.unwrap_or(Severity::Medium),
                    state: Some(found.map_or(PortState::Closed, |r| r.state)),
                    service: portwatch_kb::service_name(port, proto.transport()).map(String::from),
                    answered: None,
                    explain: Some("an expected service is not answering".into()),
                    fix: None,
                }),
            }
        }
    }
    if let Some(allowed) = &policy.allowed_open {
        for r in results
            .iter()
            .filter(|r| r.host == host.host && r.state == PortState::Open)
        {
            let listed = in_list(allowed, r.port, r.proto)
                || in_list(&policy.expected_open, r.port, r.proto)
                || in_list(&policy.must_be_closed, r.port, r.proto);
            if !listed {
                verdict
                    .findings
                    .push(finding(group, vantage, policy, host, r, Rule::Unexpected));
            }
        }
    }
    verdict
        .findings
        .sort_by(|a, b| b.severity.cmp(&a.severity).then(a.port.cmp(&b.port)));
    verdict
}

/// The severity of a finding: the group's `severity` when set, else the knowledge base's
/// severity where the port is reachable, raised to `medium` for a must-be-closed port and to
/// `low` for any other rule (a broken rule is never "none").
pub fn severity(policy: &Policy, rule: Rule, kb_severity: Severity) -> Severity {
    let floor = if rule == Rule::MustBeClosed {
        Severity::Medium
    } else {
        Severity::Low
    };
    policy.severity.unwrap_or(kb_severity.max(floor))
}

fn finding(
    group: &str,
    vantage: &Vantage,
    policy: &Policy,
    host: &HostSummary,
    r: &PortResult,
    rule: Rule,
) -> Finding {
    let transport = r.proto.transport();
    let kb = portwatch_kb::risk(r.port, transport);
    let kb_severity = kb.at(vantage.exposure_of(host.host));
    let page = portwatch_kb::pages::page(r.port, transport);
    Finding {
        group: group.to_string(),
        vantage: vantage.name.clone(),
        host: host.host,
        hostname: host.hostname.clone(),
        port: Some(r.port),
        proto: Some(r.proto),
        rule,
        severity: severity(policy, rule, kb_severity),
        state: Some(r.state),
        service: r.service.clone(),
        answered: r.summary().map(String::from),
        explain: page.map(|p| p.summary.clone()).or_else(|| {
            portwatch_kb::registry::lookup(r.port, transport).map(|e| e.description.to_string())
        }),
        fix: Some(format!(
            "portwatch fix {}/{} --platform ufw|firewalld|nftables|iptables|windows|macos{}",
            r.port,
            r.proto,
            if matches!(r.port, 137..=139 | 445) {
                "|samba"
            } else {
                ""
            }
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_port_set;

    fn result(port: u16, proto: Proto, state: PortState) -> PortResult {
        PortResult {
            host: "10.0.0.5".parse().unwrap(),
            hostname: None,
            port,
            proto,
            state,
            reason: portwatch_scan::Reason::SynAck,
            service: None,
            rtt_ms: None,
            details: Default::default(),
            risk: None,
        }
    }

    fn host(status: HostStatus) -> HostSummary {
        HostSummary {
            host: "10.0.0.5".parse().unwrap(),
            hostname: None,
            status,
            reason: None,
            ports_scanned: 0,
            ports_skipped: 0,
            open: 0,
            closed: 0,
            filtered: 0,
            open_filtered: 0,
            srtt_ms: None,
            tcp_method: None,
        }
    }

    fn policy(mbc: &[&str], allowed: Option<&[&str]>, expected: &[&str]) -> Policy {
        let s = |v: &[&str]| {
            parse_port_set(
                &v.iter()
                    .map(std::string::ToString::to_string)
                    .collect::<Vec<_>>(),
            )
            .unwrap()
        };
        Policy {
            must_be_closed: s(mbc),
            allowed_open: allowed.map(s),
            expected_open: s(expected),
            severity: None,
        }
    }

    #[test]
    fn must_be_closed_and_unexpected_and_down() {
        let p = policy(&["T:139,445,U:137,138"], Some(&["22"]), &["443"]);
        let results = [
            result(445, Proto::Tcp, PortState::Open),
            result(22, Proto::Tcp, PortState::Open),
            result(8080, Proto::Tcp, PortState::Open),
            result(138, Proto::Udp, PortState::OpenFiltered),
        ];
        let v = evaluate("g", &p, &host(HostStatus::Up), &results);
        let rules: Vec<(Option<u16>, Rule)> = v.findings.iter().map(|f| (f.port, f.rule)).collect();
        assert!(
            rules.contains(&(Some(445), Rule::MustBeClosed)),
            "{rules:?}"
        );
        assert!(rules.contains(&(Some(8080), Rule::Unexpected)), "{rules:?}");
        assert!(
            rules.contains(&(Some(443), Rule::ExpectedOpen)),
            "{rules:?}"
        );
        assert!(!rules.iter().any(|(p, _)| *p == Some(22)), "22 is allowed");
        assert_eq!(
            v.unverified.len(),
            1,
            "138/udp open|filtered is unverified, not a violation"
        );
        let smb = v.findings.iter().find(|f| f.port == Some(445)).unwrap();
        assert_eq!(
            smb.severity,
            Severity::High,
            "445 on a private address: the LAN severity"
        );
        assert!(
            smb.explain
                .as_deref()
                .unwrap()
                .contains("Server Message Block")
        );
        assert_eq!(v.findings[0].port, Some(445), "most severe first");
    }

    #[test]
    fn compliant_host_has_no_findings() {
        let p = policy(&["risky"], None, &[]);
        let v = evaluate(
            "g",
            &p,
            &host(HostStatus::Up),
            &[result(22, Proto::Tcp, PortState::Open)],
        );
        assert!(v.findings.is_empty());
        assert!(!v.passed.is_empty());
    }

    #[test]
    fn down_host_only_matters_for_expected_ports() {
        let p = policy(&["445"], None, &[]);
        assert!(
            evaluate("g", &p, &host(HostStatus::Down), &[])
                .findings
                .is_empty()
        );
        let p = policy(&[], None, &["443"]);
        let v = evaluate("g", &p, &host(HostStatus::Down), &[]);
        assert_eq!(v.findings[0].rule, Rule::HostDown);
    }

    #[test]
    fn a_vantage_rates_what_it_sees_at_its_own_exposure() {
        let p = policy(&["T:445"], None, &[]);
        let results = [result(445, Proto::Tcp, PortState::Open)];
        let risk = portwatch_kb::risk(445, portwatch_scan::Proto::Tcp.transport());
        let local = evaluate("g", &p, &host(HostStatus::Up), &results);
        assert_eq!(local.findings[0].vantage, "local");
        assert_eq!(
            local.findings[0].severity, risk.lan,
            "10.0.0.5 by its address: LAN"
        );
        assert_eq!(local.findings[0].key(), "g|10.0.0.5|445/tcp|MustBeClosed");
        let internet = crate::config::vantage::Known::default()
            .get("internet")
            .unwrap();
        let seen = evaluate_from("g", &internet, &p, &host(HostStatus::Up), &results);
        assert_eq!(seen.findings[0].vantage, "internet");
        assert_eq!(seen.findings[0].severity, risk.internet);
        assert!(
            risk.internet > risk.lan,
            "the knowledge base rates 445 worse from outside"
        );
        assert_eq!(
            seen.findings[0].key(),
            "g|10.0.0.5|445/tcp|MustBeClosed|from:internet"
        );
    }
}
