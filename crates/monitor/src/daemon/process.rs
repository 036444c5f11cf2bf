//! From a finished scan to stored history, alert states and queued messages, in one
//! transaction.

use super::book::Write;
use super::schedule::Run;
use super::{Daemon, Event, store_error};
use crate::alerts::{Coverage, Reprobe};
use crate::config::{Group, Vantage};
use crate::job::ScanKind;
use crate::policy::{self, Finding};
use crate::runner;
use portwatch_scan::ports::PortList;
use portwatch_scan::{HostStatus, Proto};
use portwatch_store::{NewScan, ScanOutcome};
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// What a confirmation re-probe covers: its hosts and ports (a host-level re-probe takes the
/// group's whole port list).
fn reprobe_scope(group: &Group, reprobes: &[Reprobe]) -> (Vec<String>, PortList) {
    let hosts: BTreeSet<String> = reprobes.iter().map(|r| r.host.to_string()).collect();
    let mut ports = PortList::default();
    for r in reprobes {
        match r.port {
            Some((p, Proto::Tcp)) => ports.tcp.push(p),
            Some((p, Proto::Udp)) => ports.udp.push(p),
            None => ports = ports.union(&group.ports),
        }
    }
    ports = ports.union(&PortList::default());
    (hosts.into_iter().collect(), ports)
}

impl Daemon {
    /// Which of the down hosts of a scan some earlier complete scan from `vantage` found up
    /// (`Store::seen_up`), or that already have a cannot-verify entry from there; empty when
    /// none is down.
    async fn hosts_seen_up(&self, vantage: &str, hosts: &[runner::HostScan]) -> BTreeSet<IpAddr> {
        let down: BTreeSet<IpAddr> = hosts
            .iter()
            .filter(|h| h.summary.status == HostStatus::Down)
            .map(|h| h.summary.host)
            .collect();
        if down.is_empty() {
            return BTreeSet::new();
        }
        let down_list: Vec<IpAddr> = down.iter().copied().collect();
        let mut seen: BTreeSet<IpAddr> = match self.store.seen_up(vantage, &down_list).await {
            Ok(seen) => seen,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read which hosts answered before");
                BTreeSet::new()
            }
        };
        let copy = self.cache();
        seen.extend(
            copy.book
                .entries
                .values()
                .filter(|e| e.finding.rule == policy::Rule::CannotVerify)
                .filter(|e| e.finding.vantage == vantage)
                .map(|e| e.finding.host)
                .filter(|h| down.contains(h)),
        );
        seen
    }

    /// One observation from one vantage: scanned, recorded and judged.
    pub(super) async fn process_vantage(
        self: &Arc<Self>,
        group: &Group,
        vantage: &Vantage,
        run: Run,
        stop: &CancellationToken,
    ) -> Vec<Reprobe> {
        let kind = run.kind();
        let (targets, ports) = match &run {
            // A local group's confirmation reads the whole socket table again.
            Run::Confirm(r) if group.source != crate::config::Source::Local => {
                reprobe_scope(group, r)
            }
            _ => (group.targets.clone(), group.ports.clone()),
        };
        let source = match kind {
            ScanKind::Confirmation => format!("monitor:{}:confirm", group.name),
            ScanKind::Round => format!("monitor:{}", group.name),
        };
        let scan_id = match self
            .store
            .begin_scan(&NewScan {
                source,
                vantage: vantage.name.clone(),
                args: vec![],
                targets: targets.clone(),
                ports: ports.clone(),
            })
            .await
        {
            Ok(id) => id,
            Err(e) => {
                self.emit(Event::ScanFailed {
                    group: group.name.clone(),
                    error: e.to_string(),
                });
                return vec![];
            }
        };
        // Keep the scan row alive for other processes that open the store meanwhile.
        let heartbeat = {
            let store = self.store.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_mins(1));
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let _ = store.heartbeat(scan_id).await;
                }
            })
        };
        let _stop_heartbeat = AbortOnDrop(heartbeat);
        let scanned = tokio::select! {
            r = self.observe(group, &vantage.name, &targets, &ports, kind) => r,
            () = stop.cancelled() => {
                let _ = self.store.fail_scan(scan_id, "interrupted by shutdown").await;
                return vec![];
            }
            // Nothing of the scan is applied: the history, the alert book and the outbox stay
            // as they were, and the scan row says why it ended.
            () = run.cancelled() => {
                let why = cancelled_reason(run.request().map_or(&[][..], |r| &r.ids[..]));
                tracing::info!(group = %group.name, vantage = %vantage.name, "{why}");
                let _ = self.store.fail_scan(scan_id, &why).await;
                return vec![];
            }
        };
        let metric_kind = run.metric_kind();
        let scan = match scanned {
            Ok(s) => s,
            Err(e) => {
                metrics::counter!("portwatch_scan_failures_total", "group" => group.name.clone())
                    .increment(1);
                let _ = self.store.fail_scan(scan_id, &e.to_string()).await;
                self.emit(Event::ScanFailed {
                    group: group.name.clone(),
                    error: e.to_string(),
                });
                return vec![];
            }
        };
        let covered: BTreeSet<(u16, Proto)> = ports
            .tcp
            .iter()
            .map(|p| (*p, Proto::Tcp))
            .chain(ports.udp.iter().map(|p| (*p, Proto::Udp)))
            .collect();
        let mut coverage = Coverage {
            vantage: vantage.name.clone(),
            ports: covered.clone(),
            ..Default::default()
        };
        let mut findings: Vec<Finding> = Vec::new();
        let seen_up = self.hosts_seen_up(&vantage.name, &scan.hosts).await;
        let policy = group.policy_for(&vantage.name);
        let mut verdicts: std::collections::BTreeMap<_, _> =
            scan.evaluate_from(group, vantage).into_iter().collect();
        for h in &scan.hosts {
            match h.summary.status {
                HostStatus::Up => coverage.up.insert(h.summary.host),
                HostStatus::Down => coverage.down.insert(h.summary.host),
            };
            findings.extend(policy::cannot_verify(
                &group.name,
                vantage,
                &policy,
                &h.summary,
                seen_up.contains(&h.summary.host),
            ));
            let verdict = verdicts.remove(&h.summary.host).unwrap_or_default();
            findings.extend(
                verdict
                    .findings
                    .into_iter()
                    .filter(|f| match f.port.zip(f.proto) {
                        Some(key) => covered.contains(&key),
                        None => true,
                    }),
            );
        }
        let outcome = ScanOutcome::of_hosts(
            scan.hosts
                .iter()
                .map(|h| (&h.summary, h.results.as_slice())),
            ports.clone(),
            kind == ScanKind::Round,
        );
        let rules = group.rules(&self.rules().await);
        let now = self.clock.now_ms();
        let notifiers: Vec<String> = self
            .notifiers
            .read()
            .await
            .keys()
            .filter(|n| group.notifies(n))
            .cloned()
            .collect();
        let silenced = group.silenced(now);
        metrics::counter!("portwatch_scans_total", "group" => group.name.clone(), "kind" => metric_kind)
            .increment(1);
        metrics::histogram!("portwatch_scan_duration_seconds", "group" => group.name.clone(), "kind" => metric_kind)
            .record(scan.elapsed.as_secs_f64());
        metrics::counter!("portwatch_ports_probed_total")
            .increment((scan.hosts.len() * ports.len()) as u64);
        let store_started = std::time::Instant::now();
        let decided = self
            .decide(Write::Scan(scan_id, &outcome), |book| {
                let decision =
                    book.observe(&group.name, &findings, &coverage, &rules, now, silenced);
                let alerts: Vec<_> = decision.messages.iter().map(super::alert_for).collect();
                let mut plan = self.plan_of(decision.changed, alerts, |_| notifiers.clone());
                plan.effects.jobs_applied.clone_from(&scan.jobs);
                Some(plan.map(|alerts| (decision.reprobes, alerts)))
            })
            .await;
        metrics::histogram!("portwatch_store_latency_seconds", "query" => "finish_scan")
            .record(store_started.elapsed().as_secs_f64());
        let (reprobes, alerts) = match decided {
            Ok(Some(kept)) => kept,
            Ok(None) => (vec![], vec![]),
            Err(e) => {
                // Nothing was written.
                let _ = self.store.fail_scan(scan_id, &e.to_string()).await;
                self.emit(Event::ScanFailed {
                    group: group.name.clone(),
                    error: store_error(e).to_string(),
                });
                return vec![];
            }
        };
        self.emit(Event::Scanned {
            group: group.name.clone(),
            vantage: vantage.name.clone(),
            scan: scan_id.0,
            confirmation: kind == ScanKind::Confirmation,
            hosts: (scan.hosts.len(), coverage.up.len()),
            violations: findings.len(),
            elapsed_s: scan.elapsed.as_secs_f64(),
        });
        let queued = !alerts.is_empty() && !notifiers.is_empty();
        for a in alerts {
            self.emit(Event::Queued(Box::new(a)));
        }
        if queued {
            self.outbox_wake.notify_one();
        }
        reprobes
    }
}

impl Daemon {
    /// A scan of `targets` from `vantage`: a sharded group's round is split into shard jobs
    /// ([`Daemon::observe_sharded`]); otherwise from `local`, this server's own scan (or for a
    /// `local` group the socket table now); from any other, what an agent there observed.
    pub(super) async fn observe(
        &self,
        group: &Group,
        vantage: &str,
        targets: &[String],
        ports: &PortList,
        kind: ScanKind,
    ) -> portwatch_scan::Result<runner::GroupScan> {
        // A round of a sharded group is split (from `local` too); a confirmation is not.
        if kind == ScanKind::Round
            && let Some(sharding) = &group.shard
        {
            return self
                .observe_sharded(group, vantage, targets, ports, sharding)
                .await;
        }
        if vantage != crate::config::vantage::LOCAL {
            return self
                .observe_remote(group, vantage, targets, ports, kind)
                .await;
        }
        if group.source == crate::config::Source::Local {
            return crate::local_source::observe(group, &self.local_ids).map_err(|e| {
                portwatch_scan::ScanError::Io {
                    op: "read this machine's listening sockets".into(),
                    source: std::io::Error::other(e.to_string()),
                }
            });
        }
        runner::scan_targets(group, targets, ports, kind).await
    }
}

/// What the row of a requested scan that was cancelled says.
fn cancelled_reason(ids: &[i64]) -> String {
    let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
    let noun = if ids.len() == 1 {
        "request"
    } else {
        "requests"
    };
    format!("cancelled: scan {noun} {} withdrawn", ids.join(", "))
}

/// Aborts a background task when dropped.
pub(super) struct AbortOnDrop(pub(super) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
