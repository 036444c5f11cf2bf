//! The `local` source: a group that watches this machine's own listening sockets instead of
//! scanning targets.
//!
//! An observation is the socket table now ([`portwatch_local::snapshot`]), turned into a
//! [`GroupScan`] so that it is judged, stored, alerted and shown like a scan:
//!
//! - one host per address a listener can be reached on: the wildcard addresses `0.0.0.0` and
//!   `::`, each interface address, and the loopback addresses. Every one of them is "up" in
//!   every observation, so a listener that goes away is a port that closed;
//! - one open port (reason `listening`) per listening TCP socket or bound UDP socket, except
//!   portwatch's own sockets (its dashboard and API);
//! - the service and banner learned by connecting to the socket through loopback (done once
//!   per new socket, in the background, so it never delays an observation).
//!
//! Judging: listeners bound to loopback are shown (exposure class loopback: reachable from
//! this machine only) and never break a rule. The others are judged by the group's policy,
//! and their severity is the one `portwatch local` computes: the exposure of the bound address
//! and the firewall's verdict for a new inbound connection ([`portwatch_local::assess`]).

use crate::config::Group;
use crate::policy::{self, HostVerdict};
use crate::runner::{GroupScan, HostScan};
use portwatch_kb::Severity;
use portwatch_local::{Listener, Proto as LocalProto};
use portwatch_scan::ports::PortList;
use portwatch_scan::{HostStatus, HostSummary, PortResult, PortRisk, PortState, Proto, Reason};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// What identifies one listening socket across observations.
type SocketKey = (Proto, IpAddr, u16, u64);

/// What connecting through loopback learned about a socket.
#[derive(Debug, Clone, Default)]
struct Identified {
    service: Option<String>,
    details: serde_json::Map<String, serde_json::Value>,
}

/// Identification results by socket, shared between observations (and the background tasks
/// that fill it).
#[derive(Debug, Default, Clone)]
pub struct Identities {
    known: Arc<Mutex<HashMap<SocketKey, Option<Identified>>>>,
}

/// How long an identification through loopback may take.
const IDENTIFY_BUDGET: Duration = Duration::from_secs(5);

impl Identities {
    /// Starts identifying the sockets not seen before (in the background) and forgets the
    /// sockets that are gone.
    fn refresh(&self, group: &Group, listeners: &[&Listener]) {
        let current: BTreeSet<SocketKey> = listeners.iter().map(|l| socket_key(l)).collect();
        let fresh: Vec<SocketKey> = {
            let Ok(mut known) = self.known.lock() else {
                return;
            };
            known.retain(|k, _| current.contains(k));
            let fresh: Vec<SocketKey> = current
                .iter()
                .filter(|k| !known.contains_key(k))
                .copied()
                .collect();
            for k in &fresh {
                known.insert(*k, None);
            }
            fresh
        };
        for key in fresh {
            let me = self.clone();
            let group = group.clone();
            tokio::spawn(async move {
                let found = tokio::time::timeout(IDENTIFY_BUDGET, identify(&group, key))
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                if let Ok(mut known) = me.known.lock()
                    && let Some(slot) = known.get_mut(&key)
                {
                    *slot = Some(found);
                }
            });
        }
    }

    fn get(&self, key: &SocketKey) -> Option<Identified> {
        self.known.lock().ok()?.get(key).cloned().flatten()
    }

    /// Identifies every socket now and waits for the answers (for one-shot checks).
    async fn identify_all(&self, group: &Group, listeners: &[&Listener]) {
        let mut tasks = tokio::task::JoinSet::new();
        for l in listeners {
            let key = socket_key(l);
            let group = group.clone();
            tasks.spawn(async move {
                let found = tokio::time::timeout(IDENTIFY_BUDGET, identify(&group, key))
                    .await
                    .ok()
                    .flatten();
                (key, found)
            });
        }
        while let Some(Ok((key, found))) = tasks.join_next().await {
            if let Ok(mut known) = self.known.lock() {
                known.insert(key, Some(found.unwrap_or_default()));
            }
        }
    }
}

/// The address to connect to for a socket bound to `addr`: loopback for the wildcard, the
/// address itself otherwise (traffic to a local address never leaves the machine).
fn loopback_for(addr: IpAddr) -> IpAddr {
    match portwatch_kb::unmap(addr) {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        other => other,
    }
}

/// Connects to one socket through loopback with the scanner's identification probes.
async fn identify(group: &Group, key: SocketKey) -> Option<Identified> {
    let (proto, addr, port, _) = key;
    let target = loopback_for(addr).to_string();
    let ports = match proto {
        Proto::Tcp => PortList {
            tcp: vec![port],
            udp: vec![],
        },
        Proto::Udp => PortList {
            tcp: vec![],
            udp: vec![port],
        },
    };
    let scan = crate::runner::scan_targets(group, &[target], &ports, crate::job::ScanKind::Round)
        .await
        .ok()?;
    let r = scan
        .hosts
        .into_iter()
        .flat_map(|h| h.results)
        .find(|r| r.port == port && r.proto == proto)?;
    Some(Identified {
        service: r.service,
        details: r.details,
    })
}

fn proto_of(p: LocalProto) -> Proto {
    match p {
        LocalProto::Tcp => Proto::Tcp,
        LocalProto::Udp => Proto::Udp,
    }
}

fn socket_key(l: &Listener) -> SocketKey {
    (proto_of(l.proto), l.addr, l.port, l.inode)
}

/// Whether a listener is portwatch's own (this process's dashboard or API socket).
fn is_own(l: &Listener, own_pid: u32) -> bool {
    l.pid == Some(own_pid)
}

/// The hosts an observation always covers: the wildcard and loopback addresses of both
/// families and every interface address.
fn covered_hosts(interfaces: &[IpAddr], listeners: &[&Listener]) -> BTreeSet<IpAddr> {
    let mut hosts: BTreeSet<IpAddr> = [
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ]
    .into_iter()
    .collect();
    hosts.extend(interfaces.iter().copied());
    hosts.extend(listeners.iter().map(|l| l.addr));
    hosts
}

/// Turns listeners into an observation of `group` (portwatch's own sockets left out).
fn observation(
    group: &Group,
    listeners: &[Listener],
    interfaces: &[IpAddr],
    ids: &Identities,
    own_pid: u32,
    started: (SystemTime, Instant),
) -> GroupScan {
    let listeners: Vec<&Listener> = listeners.iter().filter(|l| !is_own(l, own_pid)).collect();
    let mut by_host: BTreeMap<IpAddr, Vec<PortResult>> = covered_hosts(interfaces, &listeners)
        .into_iter()
        .map(|h| (h, Vec::new()))
        .collect();
    let mut severities = BTreeMap::new();
    for l in &listeners {
        let key = socket_key(l);
        let proto = key.0;
        let found = ids.get(&key).unwrap_or_default();
        let mut details = found.details;
        details.insert("local".into(), local_details(l));
        let result = PortResult {
            host: l.addr,
            hostname: None,
            port: l.port,
            proto,
            state: PortState::Open,
            reason: Reason::Listening,
            service: found.service.or_else(|| l.service.clone()),
            rtt_ms: None,
            details,
            risk: Some(PortRisk::of(l.port, proto)),
        };
        severities.insert((l.addr, l.port, proto), l.effective_severity);
        by_host.entry(l.addr).or_default().push(result);
    }
    let hosts = by_host
        .into_iter()
        .map(|(host, mut results)| {
            results.sort_by_key(|r| (r.proto, r.port));
            results.dedup_by_key(|r| (r.proto, r.port));
            let open = results.len() as u32;
            HostScan {
                summary: HostSummary {
                    host,
                    hostname: None,
                    status: HostStatus::Up,
                    reason: Some(Reason::Listening),
                    ports_scanned: group.ports.len() as u32,
                    ports_skipped: 0,
                    open,
                    closed: (group.ports.len() as u32).saturating_sub(open),
                    filtered: 0,
                    open_filtered: 0,
                    srtt_ms: None,
                    tcp_method: None,
                },
                results,
            }
        })
        .collect();
    GroupScan {
        group: group.name.clone(),
        started: started.0,
        elapsed: started.1.elapsed(),
        ports: group.ports.clone(),
        hosts,
        local_severities: severities,
        jobs: Vec::new(),
    }
}

/// What `portwatch local` knows about a listener, kept with the result.
fn local_details(l: &Listener) -> serde_json::Value {
    serde_json::json!({
        "exposure": l.exposure.class().as_str(),
        "bound": l.exposure.to_string(),
        "process": l.process,
        "pid": l.pid,
        "user": l.user,
        "firewall": l.firewall,
        "effective_severity": l.effective_severity,
        "severity_reason": l.severity_reason,
    })
}

/// Reads the socket table and returns the observation; identification of new sockets runs in
/// the background and shows in later observations.
pub fn observe(group: &Group, ids: &Identities) -> portwatch_local::Result<GroupScan> {
    let started = (SystemTime::now(), Instant::now());
    let snapshot = portwatch_local::snapshot()?;
    let own = std::process::id();
    let mine: Vec<&Listener> = snapshot
        .listeners
        .iter()
        .filter(|l| !is_own(l, own))
        .collect();
    ids.refresh(group, &mine);
    Ok(observation(
        group,
        &snapshot.listeners,
        &portwatch_local::interface_addresses(),
        ids,
        own,
        started,
    ))
}

/// One observation with every socket identified first (for `portwatch check`).
pub async fn observe_identified(group: &Group) -> portwatch_local::Result<GroupScan> {
    let started = (SystemTime::now(), Instant::now());
    let snapshot = portwatch_local::snapshot()?;
    let own = std::process::id();
    let ids = Identities::default();
    let mine: Vec<&Listener> = snapshot
        .listeners
        .iter()
        .filter(|l| !is_own(l, own) && !l.exposure.is_loopback())
        .collect();
    ids.identify_all(group, &mine).await;
    Ok(observation(
        group,
        &snapshot.listeners,
        &portwatch_local::interface_addresses(),
        &ids,
        own,
        started,
    ))
}

/// Wakes the group (`trigger`) whenever a listener opens or closes, until `stop`; the socket
/// tables are read every [`portwatch_local::watch::DEFAULT_PERIOD`].
pub async fn watch(trigger: Arc<tokio::sync::Notify>, stop: tokio_util::sync::CancellationToken) {
    let mut watcher = match portwatch_local::watch::Watcher::new() {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch this machine's sockets; local groups follow their schedule only");
            return;
        }
    };
    loop {
        tokio::select! {
            event = watcher.next() => match event {
                Ok(_) => trigger.notify_one(),
                Err(e) => {
                    tracing::warn!(error = %e, "reading the socket tables failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            },
            () = stop.cancelled() => return,
        }
    }
}

/// Judges an observation: loopback hosts never break a rule; the others follow the policy,
/// with the severity `portwatch local` computes for each listener.
pub fn evaluate(group: &Group, scan: &GroupScan) -> Vec<(IpAddr, HostVerdict)> {
    scan.hosts
        .iter()
        .map(|h| {
            if portwatch_kb::Exposure::of(h.summary.host) == portwatch_kb::Exposure::Loopback {
                return (h.summary.host, HostVerdict::default());
            }
            let mut verdict = policy::evaluate(&group.name, &group.policy, &h.summary, &h.results);
            for f in &mut verdict.findings {
                if let (Some(port), Some(proto)) = (f.port, f.proto) {
                    let local = scan
                        .local_severities
                        .get(&(f.host, port, proto))
                        .copied()
                        .unwrap_or(Severity::None);
                    f.severity = policy::severity(&group.policy, f.rule, local);
                }
            }
            (h.summary.host, verdict)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;
    use crate::policy::Rule;
    use portwatch_kb::Risk;
    use portwatch_local::{Exposure, Family, FirewallVerdict};
    use std::path::Path;

    fn group() -> Group {
        let text = "[[group]]\nname = \"this-machine\"\nsource = \"local\"\n[group.policy]\nmust_be_closed = [\"risky\"]\n";
        parse(text, Path::new("pw.toml")).unwrap().groups.remove(0)
    }

    fn listener(addr: &str, port: u16, exposure: Exposure, pid: u32, sev: Severity) -> Listener {
        let addr: IpAddr = addr.parse().unwrap();
        Listener {
            proto: LocalProto::Tcp,
            addr,
            port,
            families: vec![Family::of(addr)],
            exposure,
            inode: u64::from(port),
            uid: 0,
            user: None,
            pid: Some(pid),
            process: Some("demo".into()),
            cmdline: None,
            service: None,
            risk: Risk::DEFAULT,
            effective_severity: sev,
            severity_reason: String::new(),
            firewall: FirewallVerdict::NoFirewall,
        }
    }

    fn judge(listeners: &[Listener]) -> Vec<(IpAddr, u16, Rule, Severity)> {
        let g = group();
        let scan = observation(
            &g,
            listeners,
            &["10.214.0.2".parse().unwrap()],
            &Identities::default(),
            4242,
            (SystemTime::now(), Instant::now()),
        );
        evaluate(&g, &scan)
            .into_iter()
            .flat_map(|(_, v)| v.findings)
            .map(|f| (f.host, f.port.unwrap(), f.rule, f.severity))
            .collect()
    }

    #[test]
    fn loopback_listeners_are_shown_and_never_violations() {
        let g = group();
        let all = [
            listener("127.0.0.1", 3306, Exposure::Loopback, 7, Severity::None),
            listener("127.0.0.1", 6379, Exposure::Loopback, 8, Severity::None),
            listener("::1", 5432, Exposure::Loopback, 9, Severity::None),
        ];
        assert!(judge(&all).is_empty());
        let scan = observation(
            &g,
            &all,
            &[],
            &Identities::default(),
            4242,
            (SystemTime::now(), Instant::now()),
        );
        let lo = scan
            .hosts
            .iter()
            .find(|h| h.summary.host == "127.0.0.1".parse::<IpAddr>().unwrap())
            .unwrap();
        assert_eq!(lo.results.len(), 2, "shown in the history");
        assert_eq!(lo.results[0].details["local"]["exposure"], "loopback");
    }

    #[test]
    fn a_risky_port_on_a_non_loopback_address_is_a_violation_with_the_local_severity() {
        let found = judge(&[
            listener(
                "0.0.0.0",
                139,
                Exposure::AllInterfaces,
                7,
                Severity::Critical,
            ),
            listener(
                "10.214.0.2",
                445,
                Exposure::Interface {
                    name: Some("veth".into()),
                    private: true,
                },
                7,
                Severity::High,
            ),
        ]);
        assert_eq!(
            found,
            vec![
                (
                    "0.0.0.0".parse().unwrap(),
                    139,
                    Rule::MustBeClosed,
                    Severity::Critical
                ),
                (
                    "10.214.0.2".parse().unwrap(),
                    445,
                    Rule::MustBeClosed,
                    Severity::High
                ),
            ]
        );
    }

    #[test]
    fn a_firewall_lowered_severity_is_kept_above_the_floor() {
        // `local` lowered it to low (the firewall drops new connections); a must-be-closed
        // finding is still at least medium.
        let found = judge(&[listener(
            "0.0.0.0",
            445,
            Exposure::AllInterfaces,
            7,
            Severity::Low,
        )]);
        assert_eq!(found[0].3, Severity::Medium);
    }

    #[test]
    fn portwatch_never_flags_itself() {
        assert!(
            judge(&[listener(
                "0.0.0.0",
                445,
                Exposure::AllInterfaces,
                4242,
                Severity::Critical
            )])
            .is_empty()
        );
    }

    #[test]
    fn every_address_is_covered_in_every_observation() {
        let g = group();
        let scan = observation(
            &g,
            &[],
            &["10.214.0.2".parse().unwrap()],
            &Identities::default(),
            4242,
            (SystemTime::now(), Instant::now()),
        );
        let hosts: Vec<String> = scan
            .hosts
            .iter()
            .map(|h| h.summary.host.to_string())
            .collect();
        for h in ["0.0.0.0", "::", "127.0.0.1", "::1", "10.214.0.2"] {
            assert!(hosts.contains(&h.to_string()), "{hosts:?}");
        }
        assert!(scan.ports.tcp.contains(&139) && scan.ports.udp.contains(&137));
    }

    #[test]
    fn wildcard_sockets_are_identified_through_loopback() {
        assert_eq!(
            loopback_for("0.0.0.0".parse().unwrap()).to_string(),
            "127.0.0.1"
        );
        assert_eq!(loopback_for("::".parse().unwrap()).to_string(), "::1");
        assert_eq!(
            loopback_for("10.214.0.2".parse().unwrap()).to_string(),
            "10.214.0.2"
        );
    }
}
