//! Agents gone quiet: the leader looks at every agent's last heartbeat every
//! [`AGENTS_EVERY`], and an agent not heard from within `[cluster] agent_stale_after` is an
//! agent-stale finding in the alert book (key `agents|NAME|agent-stale`), so confirmations,
//! reminders, resolves, the outbox and every notifier treat it like any violation. A port that
//! stays closed because nobody checks it must not look like a port that is closed.

use super::Daemon;
use crate::alerts::{AlertRules, Coverage};
use crate::notify::format::rfc3339_utc;
use crate::policy::{AGENTS_GROUP, Finding, Rule};
use portwatch_kb::Severity;
use portwatch_store::AgentRow;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the leader looks at the agents' heartbeats.
pub(super) const AGENTS_EVERY: Duration = Duration::from_secs(1);

/// The address an agent connects from, as a host (unspecified when it is not an address).
fn agent_host(addr: &str) -> IpAddr {
    addr.parse::<SocketAddr>()
        .map(|a| a.ip())
        .or_else(|_| addr.parse::<IpAddr>())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// The finding for an agent last heard from at `agent.last_seen_at`.
fn stale(agent: &AgentRow) -> Finding {
    Finding {
        group: AGENTS_GROUP.to_string(),
        vantage: agent.vantage.clone(),
        host: agent_host(&agent.addr),
        hostname: Some(agent.name.clone()),
        port: None,
        proto: None,
        rule: Rule::AgentStale,
        severity: Severity::High,
        state: None,
        service: None,
        answered: Some(rfc3339_utc(agent.last_seen_at)),
        explain: Some(format!(
            "the agent {} of vantage {} sends no heartbeat: no scan from there is done, so \
             ports that vantage should see open stay unchecked",
            agent.name, agent.vantage
        )),
        fix: Some(format!(
            "check that `portwatch agent` runs on {} and reaches this server",
            agent.addr
        )),
    }
}

impl Daemon {
    /// Looks at the agents' heartbeats every [`AGENTS_EVERY`] until `stop` (the leader's).
    pub(super) async fn agents_loop(self: &Arc<Self>, stop: CancellationToken) {
        loop {
            self.check_agents().await;
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(AGENTS_EVERY) => {}
            }
        }
    }

    /// One look at every agent's last heartbeat by the daemon's clock: an agent unheard for
    /// longer than `[cluster] agent_stale_after` opens an agent-stale alert at once (it has
    /// been confirmed by the wait), one heard from again resolves it.
    pub async fn check_agents(&self) {
        let agents = match self.store.agents().await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the agents' heartbeats");
                return;
            }
        };
        let settings = self.settings().await;
        let after =
            i64::try_from(settings.cluster.agent_stale_after.as_millis()).unwrap_or(i64::MAX);
        let now = self.clock.now_ms();
        let findings: Vec<Finding> = agents
            .iter()
            .filter(|a| now.saturating_sub(a.last_seen_at) > after)
            .map(stale)
            .collect();
        let coverage = Coverage {
            agents: true,
            ..Default::default()
        };
        let rules = AlertRules {
            confirmations: 1,
            ..settings.alerts.clone()
        };
        let notifiers: Vec<String> = self.notifiers.read().await.keys().cloned().collect();
        let decided = self
            .decide(super::book::Write::Effects, |book| {
                let before = book.clone();
                let mut decision =
                    book.observe(AGENTS_GROUP, &findings, &coverage, &rules, now, false);
                // An agent that stays stale changes nothing worth a write.
                decision
                    .changed
                    .retain(|k, e| before.entries.get(k) != e.as_ref());
                if decision.changed.is_empty() && decision.messages.is_empty() {
                    return None;
                }
                let alerts: Vec<_> = decision.messages.iter().map(super::alert_for).collect();
                Some(self.plan_of(decision.changed, alerts, |_| notifiers.clone()))
            })
            .await;
        let alerts = match decided {
            Ok(Some(alerts)) => alerts,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot record which agents are stale");
                return;
            }
        };
        let queued = !alerts.is_empty() && !notifiers.is_empty();
        for a in alerts {
            self.emit(super::Event::Queued(Box::new(a)));
        }
        if queued {
            self.outbox_wake.notify_one();
        }
    }
}
