//! Reports of `portwatch check`: a table for people, JSON for programs, JUnit XML for CI.

use portwatch_kb::Severity;
use portwatch_monitor::config::Group;
use portwatch_monitor::policy::{Finding, HostVerdict};
use portwatch_monitor::runner::GroupScan;
use portwatch_scan::HostStatus;
use portwatch_scan::targets::TargetSpec;
use quick_xml::escape::escape;
use serde_json::json;
use std::io::{self, Write};
use std::net::IpAddr;

/// One group's scan and verdicts.
pub struct GroupReport {
    /// The scan.
    pub scan: GroupScan,
    /// Verdict per host.
    pub verdicts: Vec<(IpAddr, HostVerdict)>,
    /// Hosts that answered nothing, so their ports were not verified ([`not_verified`]).
    pub not_verified: Vec<IpAddr>,
    /// `--allow-down`: not-verified hosts are reported but accepted.
    pub allow_down: bool,
}

/// The hosts of a check that answered nothing and that the user asked about by name: every
/// target given as one address or hostname, and every address of a range or network in
/// which no address answered at all (an empty range proves nothing). A down address inside
/// a range where others answered is just an unused address. Hosts already reported down by
/// an `expected_open` rule are left out (that finding says it).
pub fn not_verified(group: &Group, scan: &GroupScan) -> Vec<IpAddr> {
    let down: Vec<&portwatch_scan::HostSummary> = scan
        .hosts
        .iter()
        .map(|h| &h.summary)
        .filter(|s| s.status == HostStatus::Down)
        .collect();
    if down.is_empty() || !group.policy.expected_open.is_empty() {
        return vec![];
    }
    let none_up = down.len() == scan.hosts.len();
    let named: Vec<IpAddr> = group
        .targets
        .iter()
        .filter_map(|t| match TargetSpec::parse(t) {
            Ok(TargetSpec::Addr(a)) => Some(a),
            _ => None,
        })
        .collect();
    let mut hosts: Vec<IpAddr> = down
        .iter()
        .filter(|s| none_up || named.contains(&s.host) || s.hostname.is_some())
        .map(|s| s.host)
        .collect();
    hosts.sort();
    hosts.dedup();
    hosts
}

/// What a not-verified host's report line says.
const NOT_VERIFIED_WHY: &str =
    "answered nothing (down, unreachable or filtered): its ports could not be checked";

impl GroupReport {
    /// Every finding of the group.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.verdicts.iter().flat_map(|(_, v)| v.findings.iter())
    }
}

/// Counts across all groups.
pub fn totals(reports: &[GroupReport]) -> (usize, Vec<(Severity, usize)>) {
    let all: Vec<&Finding> = reports.iter().flat_map(GroupReport::findings).collect();
    let mut by = Vec::new();
    for s in [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::None,
    ] {
        let n = all.iter().filter(|f| f.severity == s).count();
        if n > 0 {
            by.push((s, n));
        }
    }
    (all.len(), by)
}

fn where_(f: &Finding) -> String {
    let host = match &f.hostname {
        Some(h) => format!("{} ({h})", f.host),
        None => f.host.to_string(),
    };
    match (f.port, f.proto) {
        (Some(p), Some(t)) => format!("{host} {p}/{t}"),
        _ => host,
    }
}

/// The table for people.
pub fn table(out: &mut impl Write, reports: &[GroupReport]) -> io::Result<()> {
    for r in reports {
        let hosts = r.scan.hosts.len();
        let up = r
            .scan
            .hosts
            .iter()
            .filter(|h| h.summary.status == HostStatus::Up)
            .count();
        let findings: Vec<&Finding> = r.findings().collect();
        writeln!(
            out,
            "group {}: {hosts} host{} ({up} up), {} port{} each, {:.2} s: {}",
            r.scan.group,
            if hosts == 1 { "" } else { "s" },
            r.scan.ports.len(),
            if r.scan.ports.len() == 1 { "" } else { "s" },
            r.scan.elapsed.as_secs_f64(),
            if !r.not_verified.is_empty() && !r.allow_down {
                "not verified".to_string()
            } else if findings.is_empty() {
                "compliant".to_string()
            } else {
                format!(
                    "{} violation{}",
                    findings.len(),
                    if findings.len() == 1 { "" } else { "s" }
                )
            },
        )?;
        for f in &findings {
            let state = f
                .state
                .map_or_else(|| "no answer".into(), |s| s.to_string());
            writeln!(
                out,
                "  {:<8} {:<30} {} ({state})",
                f.severity.to_string().to_uppercase(),
                where_(f),
                f.rule.label()
            )?;
            if let Some(a) = f.answered.as_deref().filter(|a| !a.is_empty()) {
                writeln!(out, "           answered: {a}")?;
            }
            if let Some(e) = &f.explain {
                let first = e.split_inclusive(". ").next().unwrap_or(e).trim();
                writeln!(out, "           what: {first}")?;
            }
            if let Some(fix) = &f.fix {
                writeln!(out, "           close: {fix}")?;
            }
        }
        for host in &r.not_verified {
            let label = if r.allow_down {
                "allowed"
            } else {
                "NOT VERIFIED"
            };
            writeln!(out, "  {label:<8} {host:<30} {NOT_VERIFIED_WHY}")?;
        }
        for (_, v) in &r.verdicts {
            for u in &v.unverified {
                writeln!(
                    out,
                    "  note     {} {}/{}: {}",
                    u.host, u.port, u.proto, u.why
                )?;
            }
        }
    }
    let (n, by) = totals(reports);
    let blind = blind_hosts(reports);
    if blind > 0 {
        writeln!(
            out,
            "not verified: {blind} host{} answered nothing; {n} violation{} among the others",
            if blind == 1 { "" } else { "s" },
            if n == 1 { "" } else { "s" },
        )?;
    } else if n == 0 {
        writeln!(out, "compliant: no violations")?;
    } else {
        let parts: Vec<String> = by.iter().map(|(s, c)| format!("{c} {s}")).collect();
        writeln!(
            out,
            "{n} violation{} ({})",
            if n == 1 { "" } else { "s" },
            parts.join(", ")
        )?;
    }
    Ok(())
}

/// Hosts not verified and not accepted by `--allow-down`.
fn blind_hosts(reports: &[GroupReport]) -> usize {
    reports
        .iter()
        .filter(|r| !r.allow_down)
        .map(|r| r.not_verified.len())
        .sum()
}

/// The overall status word: `not-verified` (exit 2), `violations` (exit 1) or `compliant`.
fn status(reports: &[GroupReport]) -> &'static str {
    if blind_hosts(reports) > 0 {
        "not-verified"
    } else if totals(reports).0 > 0 {
        "violations"
    } else {
        "compliant"
    }
}

/// The JSON document.
pub fn json(out: &mut impl Write, reports: &[GroupReport]) -> io::Result<()> {
    let groups: Vec<serde_json::Value> = reports
        .iter()
        .map(|r| {
            json!({
                "group": r.scan.group,
                "elapsed_s": (r.scan.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
                "ports": r.scan.ports.len(),
                "hosts": r.scan.hosts.iter().map(|h| json!({
                    "host": h.summary.host,
                    "hostname": h.summary.hostname,
                    "status": h.summary.status,
                    "open": h.results.iter().filter(|p| p.state == portwatch_scan::PortState::Open)
                        .map(|p| format!("{}/{}", p.port, p.proto)).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
                "violations": r.findings().collect::<Vec<_>>(),
                "unverified": r.verdicts.iter().flat_map(|(_, v)| v.unverified.iter()).collect::<Vec<_>>(),
                "not_verified": r.not_verified.iter().map(|h| json!({
                    "host": h,
                    "status": "not-verified",
                    "allowed": r.allow_down,
                    "why": NOT_VERIFIED_WHY,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let (n, by) = totals(reports);
    let status = status(reports);
    let doc = json!({
        "status": status,
        "compliant": status == "compliant",
        "violations": n,
        "not_verified": blind_hosts(reports),
        "by_severity": by.iter().map(|(s, c)| (s.to_string(), json!(c))).collect::<serde_json::Map<_, _>>(),
        "groups": groups,
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

/// JUnit XML: a test suite per group, a test case per checked (host, port, rule).
pub fn junit(out: &mut impl Write, reports: &[GroupReport]) -> io::Result<()> {
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    let (n, _) = totals(reports);
    let tests: usize = reports
        .iter()
        .map(|r| {
            r.not_verified.len()
                + r.verdicts
                    .iter()
                    .map(|(_, v)| v.findings.len() + v.passed.len())
                    .sum::<usize>()
        })
        .sum();
    let errors = blind_hosts(reports);
    writeln!(
        out,
        r#"<testsuites name="portwatch check" tests="{tests}" failures="{n}" errors="{errors}">"#
    )?;
    for r in reports {
        let cases: usize = r
            .verdicts
            .iter()
            .map(|(_, v)| v.findings.len() + v.passed.len())
            .sum();
        let failures = r.findings().count();
        let blind = r.not_verified.len();
        let (errors, skipped) = if r.allow_down { (0, blind) } else { (blind, 0) };
        writeln!(
            out,
            r#"  <testsuite name="{}" tests="{}" failures="{failures}" errors="{errors}" skipped="{skipped}" time="{:.3}">"#,
            escape(&r.scan.group),
            cases + blind,
            r.scan.elapsed.as_secs_f64()
        )?;
        for host in &r.not_verified {
            let class = escape(format!("portwatch.{}.{host}", r.scan.group)).into_owned();
            let message = escape(format!("{host} {NOT_VERIFIED_WHY}")).into_owned();
            let verdict = if r.allow_down {
                format!(r#"<skipped message="{message}"/>"#)
            } else {
                format!(r#"<error type="not-verified" message="{message}"/>"#)
            };
            writeln!(
                out,
                r#"    <testcase classname="{class}" name="host answers">{verdict}</testcase>"#
            )?;
        }
        for (host, v) in &r.verdicts {
            let class = escape(format!("portwatch.{}.{host}", r.scan.group)).into_owned();
            for (port, proto, rule) in &v.passed {
                writeln!(
                    out,
                    r#"    <testcase classname="{class}" name="{port}/{proto} {}"/>"#,
                    rule.label()
                )?;
            }
            for f in &v.findings {
                let name = match (f.port, f.proto) {
                    (Some(p), Some(t)) => format!("{p}/{t} {}", f.rule.label()),
                    _ => f.rule.label().to_string(),
                };
                let state = f
                    .state
                    .map_or_else(|| "no answer".into(), |s| s.to_string());
                let body = [f.answered.clone(), f.explain.clone(), f.fix.clone()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join("\n");
                writeln!(
                    out,
                    r#"    <testcase classname="{class}" name="{}"><failure type="{}" message="{}">{}</failure></testcase>"#,
                    escape(&name),
                    f.severity,
                    escape(format!("{} is {state} ({})", where_(f), f.rule.label())),
                    escape(&body)
                )?;
            }
        }
        writeln!(out, "  </testsuite>")?;
    }
    writeln!(out, "</testsuites>")?;
    Ok(())
}
