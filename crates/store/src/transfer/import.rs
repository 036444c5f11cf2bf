//! Import: loads an export into an empty database, all or nothing, keeping ids.

use super::{EXPORT_FORMAT, Line, TABLES};
use crate::canon::canonical_json;
use crate::db::{Dialect, Sql, Tx};
use crate::diff::Remembered;
use crate::error::{Result, StoreError};
use crate::store::{Store, WriteKind};
use std::io::BufRead;

impl Store {
    /// Loads an export into this database, which must be empty, in one transaction: either
    /// every line is imported or nothing is. Ids are kept. Returns the number of lines.
    pub async fn import(&self, input: impl BufRead) -> Result<u64> {
        let op = "import a history";
        let mut tx = self.write_tx(op, WriteKind::History).await?;
        self.refuse_non_empty(&mut tx, op).await?;
        let mut count = 0u64;
        let mut header = false;
        for (i, text) in input.lines().enumerate() {
            let line_no = i as u64 + 1;
            let text = text.map_err(|source| StoreError::Io {
                op: "read the import",
                source,
            })?;
            if text.trim().is_empty() {
                continue;
            }
            let bad = |reason: String| StoreError::ImportLine {
                line: line_no,
                reason,
            };
            let line: Line = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
            match (&line, header) {
                (Line::Header { format, schema }, false) => {
                    if *format != EXPORT_FORMAT || *schema > Store::known_schema_version() {
                        return Err(bad(format!(
                            "export format {format}, schema {schema} comes from a newer portwatch \
                             (this build reads format {EXPORT_FORMAT}, schema up to {})",
                            Store::known_schema_version()
                        )));
                    }
                    header = true;
                }
                (Line::Header { .. }, true) => return Err(bad("a second header".into())),
                (_, false) => return Err(bad("the first line must be the header".into())),
                (_, true) => self.import_line(&mut tx, line).await.map_err(|e| match e {
                    StoreError::Query { source, .. } => bad(source.to_string()),
                    StoreError::Corrupt { reason, .. } => bad(reason),
                    other => other,
                })?,
            }
            count += 1;
        }
        if !header {
            return Err(StoreError::ImportLine {
                line: 1,
                reason: "empty input: no header line".into(),
            });
        }
        for stmt in crate::last_seen::mark_down_from_stored() {
            tx.execute(&Sql::new(stmt)).await.map_err(self.err(op))?;
        }
        if self.dialect() == Dialect::Postgres {
            for (table, identity) in TABLES {
                if identity {
                    let sql = format!(
                        "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                         COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                    );
                    tx.fetch_optional(&Sql::new(sql))
                        .await
                        .map_err(self.err(op))?;
                }
            }
        }
        tx.commit().await.map_err(self.err(op))?;
        Ok(count)
    }

    async fn refuse_non_empty(&self, tx: &mut Tx, op: &'static str) -> Result<()> {
        let mut held = Vec::new();
        for (table, _) in TABLES {
            let count = Sql::new(format!("SELECT COUNT(*) AS n FROM {table}"));
            let n = self.first_int(tx, &count, "n", op).await?.unwrap_or(0);
            if n > 0 {
                held.push(format!("{n} {table}"));
            }
        }
        if held.is_empty() {
            Ok(())
        } else {
            Err(StoreError::ImportNotEmpty {
                db: self.inner.name.clone(),
                what: held.join(", "),
            })
        }
    }

    async fn import_line(&self, tx: &mut Tx, line: Line) -> Result<()> {
        let op = "import a line";
        let sql = match line {
            Line::Header { .. } => return Ok(()),
            Line::Host {
                id,
                addr,
                hostname,
                first_seen_at,
                last_seen_at,
                last_scan_id,
                vantage,
                probed,
            } => Sql::new(
                "INSERT INTO hosts (id, addr, hostname, first_seen_at, last_seen_at, last_scan_id, vantage, probed) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(id)
            .bind(addr.to_string())
            .bind(hostname)
            .bind(first_seen_at)
            .bind(last_seen_at)
            .bind(last_scan_id)
            .bind(vantage)
            .bind(probed),
            Line::TargetSet { id, hosts } => {
                let addrs = self.set_digest(tx, &hosts).await?;
                tx.execute(
                    &Sql::new("INSERT INTO target_sets (id, digest, host_count) VALUES ($1, $2, $3)")
                        .bind(id)
                        .bind(addrs)
                        .bind(hosts.len() as i64),
                )
                .await
                .map_err(self.err(op))?;
                return self.insert_set_members(tx, id, hosts.into_iter()).await;
            }
            Line::Scan {
                id,
                seq,
                started_at,
                finished_at,
                status,
                source,
                args,
                targets,
                ports,
                pid,
                machine,
                heartbeat_at,
                target_set_id,
                hosts_up,
                hosts_down,
                open_ports,
                open_filtered_ports,
                error,
                vantage,
            } => Sql::new(
                "INSERT INTO scans (id, seq, started_at, finished_at, status, source, args, targets, ports, \
                 pid, hostname, heartbeat_at, target_set_id, hosts_up, hosts_down, open_ports, \
                 open_filtered_ports, error, vantage) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
            )
            .bind(id)
            .bind(seq)
            .bind(started_at)
            .bind(finished_at)
            .bind(status)
            .bind(source)
            .bind(serde_json::to_string(&args).unwrap_or_else(|_| "[]".into()))
            .bind(serde_json::to_string(&targets).unwrap_or_else(|_| "[]".into()))
            .bind(ports)
            .bind(pid)
            .bind(machine)
            .bind(heartbeat_at)
            .bind(target_set_id)
            .bind(hosts_up)
            .bind(hosts_down)
            .bind(open_ports)
            .bind(open_filtered_ports)
            .bind(error)
            .bind(vantage),
            Line::Span {
                id,
                host_id,
                port,
                proto,
                state,
                reason,
                service,
                details,
                from_scan,
                to_scan,
            } => {
                if !crate::diff::remembered_state(state) {
                    return Err(self.corrupt(op, format!("a span cannot hold state {state}")));
                }
                let r = Remembered::new(state, reason, service, details);
                Sql::new(
                    "INSERT INTO spans (id, host_id, port, proto, state, reason, service, details, \
                     details_hash, from_scan, to_scan) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(id)
                .bind(host_id)
                .bind(i64::from(port))
                .bind(proto.as_str())
                .bind(r.state.as_str())
                .bind(r.reason.as_str())
                .bind(r.service)
                .bind(r.details_json)
                .bind(r.details_hash)
                .bind(from_scan)
                .bind(to_scan)
            }
            Line::AlertState {
                key,
                status,
                since,
                data,
                updated_at,
            } => Sql::new(
                "INSERT INTO alert_states (key, status, since, data, updated_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(key)
            .bind(status)
            .bind(since)
            .bind(canonical_json(&data))
            .bind(updated_at),
            Line::Outbox {
                id,
                created_at,
                idempotency_key,
                channel,
                payload,
                attempts,
                next_attempt_at,
                delivered_at,
                last_error,
            } => Sql::new(
                "INSERT INTO outbox (id, created_at, idempotency_key, channel, payload, attempts, \
                 next_attempt_at, delivered_at, last_error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(id)
            .bind(created_at)
            .bind(idempotency_key)
            .bind(channel)
            .bind(canonical_json(&payload))
            .bind(attempts)
            .bind(next_attempt_at)
            .bind(delivered_at)
            .bind(last_error),
        };
        tx.execute(&sql).await.map_err(self.err(op))?;
        Ok(())
    }

    /// The digest of a target set from its members' vantage and addresses (as `finish_scan`
    /// computes it).
    async fn set_digest(&self, tx: &mut Tx, host_ids: &[i64]) -> Result<String> {
        let op = "import a target set";
        let mut addrs = Vec::with_capacity(host_ids.len());
        let mut vantage = crate::model::LOCAL_VANTAGE.to_string();
        for chunk in crate::db::batches(self.dialect(), host_ids, |_| 16) {
            let mut sql = Sql::dynamic(format!(
                "SELECT addr, vantage FROM hosts WHERE id IN ({})",
                crate::db::placeholders(1, chunk.len())
            ));
            for id in chunk {
                sql.push(*id);
            }
            for r in tx.fetch_all(&sql).await.map_err(self.err(op))? {
                addrs.push(r.text("addr").map_err(self.err(op))?);
                vantage = r.text("vantage").map_err(self.err(op))?;
            }
        }
        if addrs.len() != host_ids.len() {
            return Err(self.corrupt(op, "a target set names a host that is not (yet) imported"));
        }
        Ok(crate::canon::set_digest(&vantage, &mut addrs))
    }
}
