//! Export: the whole history as JSON lines, from one snapshot.

use super::{EXPORT_FORMAT, Line};
use crate::db::{DbRow, Sql, Tx};
use crate::error::{Result, StoreError};
use crate::store::Store;
use std::io::Write;

/// Rows read per query while exporting.
const PAGE: i64 = 1000;

impl Store {
    /// Writes the whole history as JSON lines (header, hosts, target sets, scans, spans, alert
    /// states, outbox), each kind ordered by id, from one consistent snapshot. Returns the
    /// number of lines.
    pub async fn export(&self, out: &mut impl Write) -> Result<u64> {
        let op = "export the history";
        let mut tx = self.read_tx(op).await?;
        let mut lines = 0u64;
        let mut emit = |line: &Line, out: &mut dyn Write| -> Result<()> {
            let text = serde_json::to_string(line).map_err(|e| StoreError::Io {
                op: "encode an export line",
                source: e.into(),
            })?;
            writeln!(out, "{text}").map_err(|source| StoreError::Io {
                op: "write the export",
                source,
            })?;
            lines += 1;
            Ok(())
        };
        emit(
            &Line::Header {
                format: EXPORT_FORMAT,
                schema: Store::known_schema_version(),
            },
            out,
        )?;
        let select = format!(
            "SELECT h.id, h.addr, h.hostname, h.first_seen_at, h.last_seen_at, h.last_scan_id, \
             h.down_at_scan, {}, h.vantage, h.probed FROM hosts h",
            crate::last_seen::newest_covering_columns()
        );
        let mut pages = Pages::of(&select);
        while let Some(rows) = self.next_page(&mut tx, &mut pages, op).await? {
            for r in &rows {
                let e = self.err(op);
                // The host's last sighting as readers see it; the import marks hosts down
                // again from it (`last_seen::mark_down_from_stored`).
                let (last_seen_at, last_scan_id) = crate::last_seen::last_seen(
                    r.opt_int("down_at_scan").map_err(&e)?,
                    (
                        r.opt_int("last_seen_at").map_err(&e)?,
                        r.opt_int("last_scan_id").map_err(&e)?,
                    ),
                    (
                        r.opt_int("newest_at").map_err(&e)?,
                        r.opt_int("newest_id").map_err(&e)?,
                    ),
                );
                emit(
                    &Line::Host {
                        id: r.int("id").map_err(&e)?,
                        addr: self.addr_col(&r.text("addr").map_err(&e)?, op)?,
                        hostname: r.opt_text("hostname").map_err(&e)?,
                        first_seen_at: r.opt_int("first_seen_at").map_err(&e)?,
                        last_seen_at,
                        last_scan_id,
                        vantage: r.text("vantage").map_err(&e)?,
                        probed: r.opt_text("probed").map_err(&e)?,
                    },
                    out,
                )?;
            }
        }
        let mut pages = Pages::of("SELECT id FROM target_sets");
        while let Some(rows) = self.next_page(&mut tx, &mut pages, op).await? {
            for r in &rows {
                let id = r.int("id").map_err(self.err(op))?;
                let members = tx
                    .fetch_all(
                        &Sql::new("SELECT host_id FROM target_set_hosts WHERE set_id = $1 ORDER BY host_id")
                            .bind(id),
                    )
                    .await
                    .map_err(self.err(op))?
                    .iter()
                    .map(|m| m.int("host_id"))
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(self.err(op))?;
                emit(&Line::TargetSet { id, hosts: members }, out)?;
            }
        }
        let mut pages = Pages::of(
            "SELECT id, seq, started_at, finished_at, status, source, args, targets, ports, pid, \
                     hostname, heartbeat_at, target_set_id, hosts_up, hosts_down, open_ports, \
                     open_filtered_ports, error, vantage FROM scans",
        );
        while let Some(rows) = self.next_page(&mut tx, &mut pages, op).await? {
            for r in &rows {
                let e = self.err(op);
                let list = |col: &str| -> Result<Vec<String>> {
                    serde_json::from_str(&r.text(col).map_err(&e)?)
                        .map_err(|err| self.corrupt(op, format!("scans.{col}: {err}")))
                };
                emit(
                    &Line::Scan {
                        id: r.int("id").map_err(&e)?,
                        seq: r.opt_int("seq").map_err(&e)?,
                        started_at: r.int("started_at").map_err(&e)?,
                        finished_at: r.opt_int("finished_at").map_err(&e)?,
                        status: r.text("status").map_err(&e)?,
                        source: r.text("source").map_err(&e)?,
                        args: list("args")?,
                        targets: list("targets")?,
                        ports: r.text("ports").map_err(&e)?,
                        pid: r.opt_int("pid").map_err(&e)?,
                        machine: r.opt_text("hostname").map_err(&e)?,
                        heartbeat_at: r.opt_int("heartbeat_at").map_err(&e)?,
                        target_set_id: r.opt_int("target_set_id").map_err(&e)?,
                        hosts_up: r.opt_int("hosts_up").map_err(&e)?,
                        hosts_down: r.opt_int("hosts_down").map_err(&e)?,
                        open_ports: r.opt_int("open_ports").map_err(&e)?,
                        open_filtered_ports: r.opt_int("open_filtered_ports").map_err(&e)?,
                        error: r.opt_text("error").map_err(&e)?,
                        vantage: r.text("vantage").map_err(&e)?,
                    },
                    out,
                )?;
            }
        }
        let mut pages = Pages::of(
            "SELECT id, host_id, port, proto, state, reason, service, details, from_scan, to_scan FROM spans",
        );
        while let Some(rows) = self.next_page(&mut tx, &mut pages, op).await? {
            for r in &rows {
                let e = self.err(op);
                let state = self.remembered(
                    &r.text("state").map_err(&e)?,
                    &r.text("reason").map_err(&e)?,
                    r.opt_text("service").map_err(&e)?,
                    &r.text("details").map_err(&e)?,
                )?;
                emit(
                    &Line::Span {
                        id: r.int("id").map_err(&e)?,
                        host_id: r.int("host_id").map_err(&e)?,
                        port: self.port_col(r.int("port").map_err(&e)?)?,
                        proto: self.parse_col(&r.text("proto").map_err(&e)?, "spans.proto")?,
                        state: state.state,
                        reason: state.reason,
                        service: state.service,
                        details: state.details,
                        from_scan: r.int("from_scan").map_err(&e)?,
                        to_scan: r.opt_int("to_scan").map_err(&e)?,
                    },
                    out,
                )?;
            }
        }
        let states = tx
            .fetch_all(&Sql::new(
                "SELECT key, status, since, data, updated_at, version FROM alert_states ORDER BY key",
            ))
            .await
            .map_err(self.err(op))?;
        for r in &states {
            let a = self.alert_state_row(r, op)?;
            emit(
                &Line::AlertState {
                    key: a.key,
                    status: a.status,
                    since: a.since,
                    data: a.data,
                    updated_at: a.updated_at,
                },
                out,
            )?;
        }
        let mut pages = Pages::of(
            "SELECT id, created_at, idempotency_key, channel, payload, attempts, next_attempt_at, \
                     delivered_at, last_error FROM outbox",
        );
        while let Some(rows) = self.next_page(&mut tx, &mut pages, op).await? {
            for r in &rows {
                let o = self.outbox_row(r, op)?;
                emit(
                    &Line::Outbox {
                        id: o.id,
                        created_at: o.created_at,
                        idempotency_key: o.idempotency_key,
                        channel: o.channel,
                        payload: o.payload,
                        attempts: i64::try_from(o.attempts).unwrap_or(i64::MAX),
                        next_attempt_at: o.next_attempt_at,
                        delivered_at: o.delivered_at,
                        last_error: o.last_error,
                    },
                    out,
                )?;
            }
        }
        out.flush().map_err(|source| StoreError::Io {
            op: "write the export",
            source,
        })?;
        Ok(lines)
    }

    /// The next page of `pages` (ids above the last one read), or `None` after the last.
    async fn next_page(
        &self,
        tx: &mut Tx,
        pages: &mut Pages<'_>,
        op: &'static str,
    ) -> Result<Option<Vec<DbRow>>> {
        let rows = tx
            .fetch_all(
                &Sql::new(format!(
                    "{} WHERE id > $1 ORDER BY id LIMIT $2",
                    pages.select
                ))
                .bind(pages.after)
                .bind(PAGE),
            )
            .await
            .map_err(self.err(op))?;
        let Some(last) = rows.last() else {
            return Ok(None);
        };
        pages.after = last.int("id").map_err(self.err(op))?;
        Ok(Some(rows))
    }
}

/// Keyset pagination over one table: `select` (which must select `id`, and has no WHERE) read
/// [`PAGE`] rows at a time in id order, inside the export's one snapshot.
struct Pages<'s> {
    select: &'s str,
    after: i64,
}

impl<'s> Pages<'s> {
    fn of(select: &'s str) -> Pages<'s> {
        Pages { select, after: 0 }
    }
}
