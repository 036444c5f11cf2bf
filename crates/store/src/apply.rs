//! `finish_scan`: applies a scan's outcome to the history in one write transaction.

use crate::canon::{now_ms, set_digest};
use crate::db::{Sql, Tx, batches, placeholders, value_rows};
use crate::diff::{CurrentSpan, Plan, Prior, ProbedSpecs, Remembered, diff, plan};
use crate::error::Result;
use crate::last_seen;
use crate::model::{ApplyReport, Effects, ScanId, ScanOutcome};
use crate::store::{Store, WriteKind};
use portwatch_model::{PortState, Reason};
use std::collections::HashMap;
use std::net::IpAddr;

const OP: &str = "apply a finished scan";

/// A host row of the scan's vantage as it was before the scan.
struct KnownHost {
    id: i64,
    hostname: Option<String>,
    probed: Option<String>,
    /// Found down by a scan since it was last seen up.
    down: bool,
}

impl Store {
    /// Applies a finished scan in ONE transaction: hosts, spans of up hosts on covered ports,
    /// alert states, outbox messages, and the scan row (now `complete` with its counts).
    /// Unchanged ports write nothing; a down host's spans are left alone.
    pub async fn finish_scan(
        &self,
        id: ScanId,
        outcome: &ScanOutcome,
        effects: &Effects,
    ) -> Result<ApplyReport> {
        self.finish_scan_with(id, outcome, |_| effects.clone())
            .await
    }

    /// Like [`Store::finish_scan`], but the effects are computed from the changes, inside the
    /// transaction (the closure must be quick: it runs while the write lock is held).
    pub async fn finish_scan_with<F>(
        &self,
        id: ScanId,
        outcome: &ScanOutcome,
        effects: F,
    ) -> Result<ApplyReport>
    where
        F: FnOnce(&ApplyReport) -> Effects,
    {
        let plan = plan(outcome)?;
        let mut tx = self.write_tx(OP, WriteKind::History).await?;
        let scan_row = tx
            .fetch_optional(&Sql::new("SELECT status, vantage FROM scans WHERE id = $1").bind(id.0))
            .await
            .map_err(self.err(OP))?;
        let (status, vantage) = match scan_row {
            Some(r) => (
                Some(r.text("status").map_err(self.err(OP))?),
                r.text("vantage").map_err(self.err(OP))?,
            ),
            None => (None, String::new()),
        };
        if status.as_deref() != Some("running") {
            return Err(self.not_running(&mut tx, id, "be finished").await);
        }
        let now = now_ms();
        let next_seq = Sql::new("SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM scans");
        let seq = self
            .first_int(&mut tx, &next_seq, "next", OP)
            .await?
            .unwrap_or(1);
        let known = self.known_hosts(&mut tx, &vantage, &plan).await?;
        let prior = Prior::of(|a| known.get(a).map(|k| k.probed.as_deref()), &plan);
        let ids = self
            .upsert_hosts(&mut tx, &plan, &vantage, &known, id, now)
            .await?;
        let set_id = self.target_set(&mut tx, &vantage, &ids).await?;
        let up_ids: Vec<i64> = plan
            .hosts
            .iter()
            .filter(|h| h.up)
            .filter_map(|h| ids.get(&h.addr).copied())
            .collect();
        let current = self.current_spans(&mut tx, &up_ids).await?;
        let d = diff(&plan, current, &prior);
        self.close_spans(&mut tx, &d.close, id).await?;
        self.open_spans(&mut tx, &d.open, &ids, id).await?;
        let report = ApplyReport {
            opened: d.open.len() as u64,
            closed: d.close.len() as u64,
            changed: d.changes,
        };
        let effects = effects(&report);
        self.write_effects_in(&mut tx, &effects, now).await?;
        let c = plan.counts;
        let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        tx.execute(
            &Sql::new(
                "UPDATE scans SET status = 'complete', finished_at = $1, heartbeat_at = $1, seq = $2, \
                 target_set_id = $3, hosts_up = $4, hosts_down = $5, open_ports = $6, \
                 open_filtered_ports = $7 WHERE id = $8",
            )
            .bind(now)
            .bind(seq)
            .bind(set_id)
            .bind(as_i64(c.hosts_up))
            .bind(as_i64(c.hosts_down))
            .bind(as_i64(c.open))
            .bind(as_i64(c.open_filtered))
            .bind(id.0),
        )
        .await
        .map_err(self.err(OP))?;
        tx.commit().await.map_err(self.err(OP))?;
        Ok(report)
    }

    /// The rows this vantage already has for the scan's hosts, by address.
    async fn known_hosts(
        &self,
        tx: &mut Tx,
        vantage: &str,
        plan: &Plan,
    ) -> Result<HashMap<IpAddr, KnownHost>> {
        let mut known = HashMap::new();
        let addrs: Vec<String> = plan.hosts.iter().map(|h| h.addr.to_string()).collect();
        for chunk in batches(self.dialect(), &addrs, |a| 8 + a.len()) {
            let mut sql = Sql::dynamic(format!(
                "SELECT id, addr, hostname, probed, down_at_scan FROM hosts \
                 WHERE vantage = $1 AND addr IN ({})",
                placeholders(2, chunk.len())
            ));
            sql.push(vantage);
            for a in chunk {
                sql.push(a.as_str());
            }
            for row in tx.fetch_all(&sql).await.map_err(self.err(OP))? {
                let e = self.err(OP);
                let addr = self.addr_col(&row.text("addr").map_err(&e)?, OP)?;
                known.insert(
                    addr,
                    KnownHost {
                        id: row.int("id").map_err(&e)?,
                        hostname: row.opt_text("hostname").map_err(&e)?,
                        probed: row.opt_text("probed").map_err(&e)?,
                        down: row.opt_int("down_at_scan").map_err(&e)?.is_some(),
                    },
                );
            }
        }
        Ok(known)
    }

    /// Writes the host rows this scan changes and returns the id of every covered host that
    /// has a row. An up host is written when it is new, comes back from down, has a new name or
    /// had a port probed for the first time; a host found down after being up is marked down
    /// with when it was last seen. Any other host is not written: its newest covering scan,
    /// this one, says when it was last seen (see `last_seen`). A down host never seen up gets
    /// no row: there is nothing to remember of it.
    async fn upsert_hosts(
        &self,
        tx: &mut Tx,
        plan: &Plan,
        vantage: &str,
        known: &HashMap<IpAddr, KnownHost>,
        scan: ScanId,
        now: i64,
    ) -> Result<HashMap<IpAddr, i64>> {
        let mut ids: HashMap<IpAddr, i64> = known.iter().map(|(addr, k)| (*addr, k.id)).collect();
        let mut probed = ProbedSpecs::new(&plan.coverage_list);
        let mut write = Vec::new();
        let mut gone = Vec::new();
        for h in &plan.hosts {
            let before = known.get(&h.addr);
            if !h.up {
                if let Some(k) = before.filter(|k| !k.down) {
                    gone.push(k.id);
                }
                continue;
            }
            let after = probed.after(before.and_then(|k| k.probed.as_deref()));
            let changed = before.is_none_or(|k| {
                k.down
                    || k.probed.as_deref() != Some(after.as_str())
                    || (h.hostname.is_some() && h.hostname != k.hostname)
            });
            if changed {
                write.push((h, after));
            }
        }
        for chunk in batches(self.dialect(), &write, |(h, p)| {
            64 + vantage.len()
                + p.len()
                + h.addr.to_string().len()
                + h.hostname.as_ref().map_or(0, String::len)
        }) {
            let mut sql = Sql::dynamic(format!(
                "INSERT INTO hosts (vantage, addr, hostname, first_seen_at, last_seen_at, last_scan_id, probed) VALUES {} \
                 ON CONFLICT (vantage, addr) DO UPDATE SET hostname = COALESCE(excluded.hostname, hosts.hostname), \
                 first_seen_at = COALESCE(hosts.first_seen_at, excluded.first_seen_at), \
                 last_seen_at = excluded.last_seen_at, last_scan_id = excluded.last_scan_id, \
                 probed = excluded.probed, down_at_scan = NULL \
                 RETURNING id, addr",
                value_rows(chunk.len(), 7)
            ));
            for (h, p) in chunk {
                sql.push(vantage);
                sql.push(h.addr.to_string());
                sql.push(h.hostname.clone());
                sql.push(now);
                sql.push(now);
                sql.push(scan.0);
                sql.push(p.clone());
            }
            self.collect_host_ids(tx, &sql, &mut ids).await?;
        }
        self.mark_down(tx, &gone, scan).await?;
        Ok(ids)
    }

    /// Marks hosts found down by `scan` after being up, storing when they were last seen up:
    /// their newest covering scan before this one (which is still running, so not counted).
    async fn mark_down(&self, tx: &mut Tx, host_ids: &[i64], scan: ScanId) -> Result<()> {
        let seq = last_seen::newest_covering_seq("hosts.id");
        for chunk in batches(self.dialect(), host_ids, |_| 16) {
            let mut sql = Sql::dynamic(format!(
                "UPDATE hosts SET down_at_scan = $1, \
                 last_seen_at = COALESCE((SELECT ls.finished_at FROM scans ls WHERE ls.seq = {seq}), last_seen_at), \
                 last_scan_id = COALESCE((SELECT ls.id FROM scans ls WHERE ls.seq = {seq}), last_scan_id) \
                 WHERE id IN ({})",
                placeholders(2, chunk.len())
            ));
            sql.push(scan.0);
            for id in chunk {
                sql.push(*id);
            }
            tx.execute(&sql).await.map_err(self.err(OP))?;
        }
        Ok(())
    }

    async fn collect_host_ids(
        &self,
        tx: &mut Tx,
        sql: &Sql,
        ids: &mut HashMap<IpAddr, i64>,
    ) -> Result<()> {
        for row in tx.fetch_all(sql).await.map_err(self.err(OP))? {
            let addr = row.text("addr").map_err(self.err(OP))?;
            let addr: IpAddr = addr
                .parse()
                .map_err(|_| self.corrupt(OP, format!("hosts.addr '{addr}' is not an address")))?;
            ids.insert(addr, row.int("id").map_err(self.err(OP))?);
        }
        Ok(())
    }

    /// The id of the set of hosts this scan covered, shared by every scan of the same hosts.
    async fn target_set(
        &self,
        tx: &mut Tx,
        vantage: &str,
        ids: &HashMap<IpAddr, i64>,
    ) -> Result<i64> {
        let members: Vec<i64> = ids.values().copied().collect();
        let mut listing: Vec<String> = ids.keys().map(IpAddr::to_string).collect();
        let digest = set_digest(vantage, &mut listing);
        let found = tx
            .fetch_optional(
                &Sql::new("SELECT id FROM target_sets WHERE digest = $1").bind(digest.as_str()),
            )
            .await
            .map_err(self.err(OP))?;
        if let Some(row) = found {
            return row.int("id").map_err(self.err(OP));
        }
        let set_id = tx
            .fetch_optional(
                &Sql::new(
                    "INSERT INTO target_sets (digest, host_count) VALUES ($1, $2) RETURNING id",
                )
                .bind(digest)
                .bind(members.len() as i64),
            )
            .await
            .map_err(self.err(OP))?
            .map(|r| r.int("id"))
            .transpose()
            .map_err(self.err(OP))?
            .ok_or_else(|| self.corrupt(OP, "the insert returned no id"))?;
        self.insert_set_members(tx, set_id, members.into_iter())
            .await?;
        Ok(set_id)
    }

    /// Adds hosts to a target set.
    pub(crate) async fn insert_set_members(
        &self,
        tx: &mut Tx,
        set_id: i64,
        host_ids: impl Iterator<Item = i64>,
    ) -> Result<()> {
        let host_ids: Vec<i64> = host_ids.collect();
        for chunk in batches(self.dialect(), &host_ids, |_| 32) {
            let mut sql = Sql::dynamic(format!(
                "INSERT INTO target_set_hosts (set_id, host_id) VALUES {}",
                value_rows(chunk.len(), 2)
            ));
            for id in chunk {
                sql.push(set_id);
                sql.push(*id);
            }
            tx.execute(&sql).await.map_err(self.err(OP))?;
        }
        Ok(())
    }

    async fn current_spans(&self, tx: &mut Tx, host_ids: &[i64]) -> Result<Vec<CurrentSpan>> {
        let mut out = Vec::new();
        for chunk in batches(self.dialect(), host_ids, |_| 16) {
            let mut sql = Sql::dynamic(format!(
                "SELECT sp.id, h.addr, sp.port, sp.proto, sp.state, sp.reason, sp.service, sp.details \
                 FROM spans sp JOIN hosts h ON h.id = sp.host_id \
                 WHERE sp.to_scan IS NULL AND sp.host_id IN ({})",
                placeholders(1, chunk.len())
            ));
            for id in chunk {
                sql.push(*id);
            }
            for row in tx.fetch_all(&sql).await.map_err(self.err(OP))? {
                let e = self.err(OP);
                let addr = row.text("addr").map_err(&e)?;
                out.push(CurrentSpan {
                    id: row.int("id").map_err(&e)?,
                    host: addr
                        .parse()
                        .map_err(|_| self.corrupt(OP, format!("hosts.addr '{addr}' is invalid")))?,
                    proto: self.parse_col(&row.text("proto").map_err(&e)?, "spans.proto")?,
                    port: self.port_col(row.int("port").map_err(&e)?)?,
                    state: self.remembered(
                        &row.text("state").map_err(&e)?,
                        &row.text("reason").map_err(&e)?,
                        row.opt_text("service").map_err(&e)?,
                        &row.text("details").map_err(&e)?,
                    )?,
                });
            }
        }
        Ok(out)
    }

    async fn close_spans(&self, tx: &mut Tx, span_ids: &[i64], scan: ScanId) -> Result<()> {
        for chunk in batches(self.dialect(), span_ids, |_| 16) {
            let mut sql = Sql::dynamic(format!(
                "UPDATE spans SET to_scan = $1 WHERE id IN ({})",
                placeholders(2, chunk.len())
            ));
            sql.push(scan.0);
            for id in chunk {
                sql.push(*id);
            }
            tx.execute(&sql).await.map_err(self.err(OP))?;
        }
        Ok(())
    }

    async fn open_spans(
        &self,
        tx: &mut Tx,
        spans: &[crate::diff::NewSpan],
        ids: &HashMap<IpAddr, i64>,
        scan: ScanId,
    ) -> Result<()> {
        for chunk in batches(self.dialect(), spans, |s| {
            150 + s.state.details_json.len() + s.state.service.as_ref().map_or(0, String::len)
        }) {
            let mut sql = Sql::dynamic(format!(
                "INSERT INTO spans (host_id, port, proto, state, reason, service, details, details_hash, from_scan) \
                 VALUES {}",
                value_rows(chunk.len(), 9)
            ));
            for s in chunk {
                let host_id = ids
                    .get(&s.host)
                    .copied()
                    .ok_or_else(|| self.corrupt(OP, format!("no host row for {}", s.host)))?;
                sql.push(host_id);
                sql.push(i64::from(s.port));
                sql.push(s.proto.as_str());
                sql.push(s.state.state.as_str());
                sql.push(s.state.reason.as_str());
                sql.push(s.state.service.clone());
                sql.push(s.state.details_json.clone());
                sql.push(s.state.details_hash.clone());
                sql.push(scan.0);
            }
            tx.execute(&sql).await.map_err(self.err(OP))?;
        }
        Ok(())
    }

    /// Decodes a stored remembered state.
    pub(crate) fn remembered(
        &self,
        state: &str,
        reason: &str,
        service: Option<String>,
        details: &str,
    ) -> Result<Remembered> {
        let state: PortState = self.parse_col(state, "spans.state")?;
        let reason: Reason = self.parse_col(reason, "spans.reason")?;
        let Ok(serde_json::Value::Object(details)) = serde_json::from_str(details) else {
            return Err(self.corrupt(OP, "spans.details is not a JSON object"));
        };
        Ok(Remembered::new(state, reason, service, details))
    }

    /// Parses a stored enum value.
    pub(crate) fn parse_col<T: std::str::FromStr<Err = String>>(
        &self,
        text: &str,
        col: &str,
    ) -> Result<T> {
        text.parse()
            .map_err(|e: String| self.corrupt(OP, format!("{col}: {e}")))
    }

    /// Checks a stored port number.
    pub(crate) fn port_col(&self, port: i64) -> Result<u16> {
        u16::try_from(port).map_err(|_| self.corrupt(OP, format!("port {port} is out of range")))
    }
}
