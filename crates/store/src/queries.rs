//! Reading the history: scans, hosts, spans. Only complete scans describe ports.

use crate::db::{DbRow, Sql, batches, placeholders};
use crate::error::{Result, StoreError};
use crate::last_seen;
use crate::model::{HostRow, ScanId, ScanRow, ScanStatus, SpanRow};
use crate::scans::SCAN_COLUMNS;
use crate::store::Store;
use portwatch_model::Proto;
use std::net::IpAddr;

/// Span columns with their host and the completion times of the scans that bound them.
const SPAN_SELECT: &str = "SELECT h.addr, h.vantage, h.hostname, sp.port, sp.proto, sp.state, sp.reason, sp.service, \
     sp.details, sp.from_scan, COALESCE(f.finished_at, f.started_at) AS from_at, sp.to_scan, \
     COALESCE(t.finished_at, t.started_at) AS to_at \
     FROM spans sp JOIN hosts h ON h.id = sp.host_id JOIN scans f ON f.id = sp.from_scan \
     LEFT JOIN scans t ON t.id = sp.to_scan";

/// Host columns with their newest covering scan (see `last_seen`) and open port count, from
/// `hosts h`; callers add the filter.
pub(crate) fn host_select() -> String {
    format!(
        "SELECT h.addr, h.vantage, h.hostname, h.first_seen_at, h.last_seen_at, h.last_scan_id, \
         h.down_at_scan, {}, \
         (SELECT COUNT(*) FROM spans sp WHERE sp.host_id = h.id AND sp.to_scan IS NULL) AS open_ports \
         FROM hosts h",
        last_seen::newest_covering_columns()
    )
}

impl Store {
    /// One scan, if it exists.
    pub async fn scan(&self, id: ScanId) -> Result<Option<ScanRow>> {
        let op = "read a scan";
        let mut tx = self.read_tx(op).await?;
        let row = tx
            .fetch_optional(
                &Sql::new(format!(
                    "SELECT {SCAN_COLUMNS} FROM scans s WHERE s.id = $1"
                ))
                .bind(id.0),
            )
            .await
            .map_err(self.err(op))?;
        row.map(|r| self.scan_row(&r, op)).transpose()
    }

    /// The newest `limit` scans of any status; with a host, the newest complete scans that
    /// covered it (same as [`Store::last_complete_scans`]).
    pub async fn scans(&self, limit: u32, host: Option<IpAddr>) -> Result<Vec<ScanRow>> {
        if let Some(addr) = host {
            return self.last_complete_scans(addr, limit).await;
        }
        let op = "list scans";
        let mut tx = self.read_tx(op).await?;
        let rows = tx
            .fetch_all(
                &Sql::new(format!(
                    "SELECT {SCAN_COLUMNS} FROM scans s ORDER BY s.id DESC LIMIT $1"
                ))
                .bind(i64::from(limit)),
            )
            .await
            .map_err(self.err(op))?;
        rows.iter().map(|r| self.scan_row(r, op)).collect()
    }

    /// The newest `n` complete scans that covered `addr` (up or down), newest first.
    pub async fn last_complete_scans(&self, addr: IpAddr, n: u32) -> Result<Vec<ScanRow>> {
        let op = "list the scans of a host";
        let mut tx = self.read_tx(op).await?;
        let rows = tx
            .fetch_all(
                &Sql::new(format!(
                    "SELECT {SCAN_COLUMNS} FROM scans s \
                     JOIN target_set_hosts m ON m.set_id = s.target_set_id \
                     JOIN hosts h ON h.id = m.host_id \
                     WHERE h.addr = $1 AND s.status = 'complete' ORDER BY s.seq DESC LIMIT $2"
                ))
                .bind(addr.to_string())
                .bind(i64::from(n)),
            )
            .await
            .map_err(self.err(op))?;
        rows.iter().map(|r| self.scan_row(r, op)).collect()
    }

    /// Every host ever found up, one row per address and vantage, by address then vantage, with
    /// its current number of remembered open ports.
    pub async fn hosts(&self) -> Result<Vec<HostRow>> {
        let op = "list hosts";
        let mut tx = self.read_tx(op).await?;
        let rows = tx
            .fetch_all(&Sql::new(host_select()))
            .await
            .map_err(self.err(op))?;
        let mut hosts = rows
            .iter()
            .map(|r| self.host_row(r, op))
            .collect::<Result<Vec<_>>>()?;
        hosts.sort_by(|a, b| (a.addr, &a.vantage).cmp(&(b.addr, &b.vantage)));
        Ok(hosts)
    }

    /// Which of `addrs` some complete scan from `vantage` found up (they have a host row there),
    /// without reading the rest of the host list.
    pub async fn seen_up(
        &self,
        vantage: &str,
        addrs: &[IpAddr],
    ) -> Result<std::collections::BTreeSet<IpAddr>> {
        let op = "read which hosts were seen up";
        let mut tx = self.read_tx(op).await?;
        let texts: Vec<String> = addrs.iter().map(IpAddr::to_string).collect();
        let mut seen = std::collections::BTreeSet::new();
        for chunk in batches(self.dialect(), &texts, |a| 8 + a.len()) {
            let mut sql = Sql::dynamic(format!(
                "SELECT addr FROM hosts WHERE vantage = $1 AND addr IN ({})",
                placeholders(2, chunk.len())
            ));
            sql.push(vantage);
            for a in chunk {
                sql.push(a.as_str());
            }
            for row in tx.fetch_all(&sql).await.map_err(self.err(op))? {
                seen.insert(self.addr_col(&row.text("addr").map_err(self.err(op))?, op)?);
            }
        }
        Ok(seen)
    }

    /// A value that changes whenever the host list may have: the newest complete scan's
    /// sequence number and the number of hosts (pruning and imports change one or the other).
    /// Cheap enough to ask on every request, so that readers can cache [`Store::hosts`].
    pub async fn hosts_version(&self) -> Result<(i64, i64)> {
        let op = "read the history's version";
        let mut tx = self.read_tx(op).await?;
        let row = tx
            .fetch_optional(&Sql::new(
                "SELECT (SELECT COALESCE(MAX(seq), 0) FROM scans) AS seq, \
                 (SELECT COUNT(*) FROM hosts) AS hosts",
            ))
            .await
            .map_err(self.err(op))?;
        let e = self.err(op);
        match row {
            Some(r) => Ok((r.int("seq").map_err(&e)?, r.int("hosts").map_err(&e)?)),
            None => Ok((0, 0)),
        }
    }

    /// One host, if a scan ever found it up: its `local` row, else the row of the first
    /// vantage by name that saw it (see [`Store::host_rows`] for every vantage).
    pub async fn host(&self, addr: IpAddr) -> Result<Option<HostRow>> {
        let rows = self.host_rows(addr, None).await?;
        let local = rows
            .iter()
            .position(|r| r.vantage == crate::model::LOCAL_VANTAGE);
        Ok(match local {
            Some(i) => rows.into_iter().nth(i),
            None => rows.into_iter().next(),
        })
    }

    /// The rows of one address, one per vantage that found it up (only `vantage`'s when given),
    /// by vantage name.
    pub async fn host_rows(&self, addr: IpAddr, vantage: Option<&str>) -> Result<Vec<HostRow>> {
        let op = "read a host";
        let mut tx = self.read_tx(op).await?;
        let sql = match vantage {
            Some(v) => Sql::new(format!(
                "{} WHERE h.addr = $1 AND h.vantage = $2 ORDER BY h.vantage",
                host_select()
            ))
            .bind(addr.to_string())
            .bind(v),
            None => Sql::new(format!(
                "{} WHERE h.addr = $1 ORDER BY h.vantage",
                host_select()
            ))
            .bind(addr.to_string()),
        };
        let rows = tx.fetch_all(&sql).await.map_err(self.err(op))?;
        rows.iter().map(|r| self.host_row(r, op)).collect()
    }

    pub(crate) fn host_row(&self, r: &DbRow, op: &'static str) -> Result<HostRow> {
        let e = self.err(op);
        let (last_seen_at, last_scan_id) = last_seen::last_seen(
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
        Ok(HostRow {
            addr: self.addr_col(&r.text("addr").map_err(&e)?, op)?,
            vantage: r.text("vantage").map_err(&e)?,
            hostname: r.opt_text("hostname").map_err(&e)?,
            first_seen_at: r.opt_int("first_seen_at").map_err(&e)?,
            last_seen_at,
            last_scan_id: last_scan_id.map(ScanId),
            open_ports: r.int("open_ports").map_err(&e)?.max(0).unsigned_abs(),
        })
    }

    /// Every span of a host (or of one of its ports) from every vantage, by vantage,
    /// transport, port and time.
    pub async fn history(&self, addr: IpAddr, port: Option<(u16, Proto)>) -> Result<Vec<SpanRow>> {
        self.history_from(addr, None, port).await
    }

    /// Like [`Store::history`], only what `vantage` observed when given.
    pub async fn history_from(
        &self,
        addr: IpAddr,
        vantage: Option<&str>,
        port: Option<(u16, Proto)>,
    ) -> Result<Vec<SpanRow>> {
        let op = "read the history of a host";
        let mut text = format!("{SPAN_SELECT} WHERE h.addr = $1");
        let mut args: Vec<crate::db::Arg> = vec![addr.to_string().into()];
        if let Some((port, proto)) = port {
            text.push_str(" AND sp.port = $2 AND sp.proto = $3");
            args.push(i64::from(port).into());
            args.push(proto.as_str().into());
        }
        if let Some(v) = vantage {
            text.push_str(&format!(" AND h.vantage = ${}", args.len() + 1));
            args.push(v.into());
        }
        text.push_str(" ORDER BY h.vantage, sp.proto, sp.port, f.seq");
        let mut sql = Sql::new(text);
        for a in args {
            sql.push(a);
        }
        let mut tx = self.read_tx(op).await?;
        let rows = tx.fetch_all(&sql).await.map_err(self.err(op))?;
        rows.iter().map(|r| self.span_row(r, op)).collect()
    }

    /// Every span of every host that was current at or after `since_ms` (still current, or
    /// ended then or later), grouped by host, then by transport and port, oldest first: what a
    /// chart of the last days needs, in one query.
    pub async fn spans_since(&self, since_ms: i64) -> Result<Vec<SpanRow>> {
        let op = "read the recent history of every host";
        let sql = Sql::new(format!(
            "{SPAN_SELECT} WHERE sp.to_scan IS NULL OR COALESCE(t.finished_at, t.started_at) >= $1 \
             ORDER BY sp.host_id, sp.proto, sp.port, f.seq"
        ))
        .bind(since_ms);
        let mut tx = self.read_tx(op).await?;
        let rows = tx.fetch_all(&sql).await.map_err(self.err(op))?;
        rows.iter().map(|r| self.span_row(r, op)).collect()
    }

    /// The remembered states as of a complete scan: spans that began at or before it and ended
    /// after it (or not yet), for the hosts it covered; by host, transport and port.
    pub async fn open_at(&self, id: ScanId) -> Result<Vec<SpanRow>> {
        let op = "read the ports open at a scan";
        let mut tx = self.read_tx(op).await?;
        let row = tx
            .fetch_optional(
                &Sql::new("SELECT status, seq, target_set_id FROM scans WHERE id = $1").bind(id.0),
            )
            .await
            .map_err(self.err(op))?
            .ok_or_else(|| StoreError::ScanNotFound {
                db: self.inner.name.clone(),
                id: id.0,
            })?;
        let status = row.text("status").map_err(self.err(op))?;
        let (Some(seq), Some(set)) = (
            row.opt_int("seq").map_err(self.err(op))?,
            row.opt_int("target_set_id").map_err(self.err(op))?,
        ) else {
            return Err(StoreError::ScanNotComplete { id: id.0, status });
        };
        if status != ScanStatus::Complete.as_str() {
            return Err(StoreError::ScanNotComplete { id: id.0, status });
        }
        let rows = tx
            .fetch_all(
                &Sql::new(format!(
                    "{SPAN_SELECT} WHERE f.seq <= $1 AND (sp.to_scan IS NULL OR t.seq > $1) \
                     AND sp.host_id IN (SELECT host_id FROM target_set_hosts WHERE set_id = $2)"
                ))
                .bind(seq)
                .bind(set),
            )
            .await
            .map_err(self.err(op))?;
        let mut spans = rows
            .iter()
            .map(|r| self.span_row(r, op))
            .collect::<Result<Vec<_>>>()?;
        spans.sort_by_key(|s| (s.host, s.proto, s.port));
        Ok(spans)
    }

    fn span_row(&self, r: &DbRow, op: &'static str) -> Result<SpanRow> {
        let e = self.err(op);
        let state = self.remembered(
            &r.text("state").map_err(&e)?,
            &r.text("reason").map_err(&e)?,
            r.opt_text("service").map_err(&e)?,
            &r.text("details").map_err(&e)?,
        )?;
        Ok(SpanRow {
            host: self.addr_col(&r.text("addr").map_err(&e)?, op)?,
            vantage: r.text("vantage").map_err(&e)?,
            hostname: r.opt_text("hostname").map_err(&e)?,
            port: self.port_col(r.int("port").map_err(&e)?)?,
            proto: self.parse_col(&r.text("proto").map_err(&e)?, "spans.proto")?,
            snapshot: state.snapshot(),
            from_scan: ScanId(r.int("from_scan").map_err(&e)?),
            from_at: r.int("from_at").map_err(&e)?,
            to_scan: r.opt_int("to_scan").map_err(&e)?.map(ScanId),
            to_at: r.opt_int("to_at").map_err(&e)?,
        })
    }

    /// Parses a stored address.
    pub(crate) fn addr_col(&self, text: &str, op: &'static str) -> Result<IpAddr> {
        text.parse()
            .map_err(|_| self.corrupt(op, format!("hosts.addr '{text}' is not an address")))
    }
}
