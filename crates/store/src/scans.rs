//! The life of a scan row: begin, heartbeat, fail, and giving up on scans whose process died.

use crate::canon::{now_ms, port_spec};
use crate::db::{DbRow, Sql, Tx};
use crate::error::{Result, StoreError};
use crate::model::{NewScan, ScanCounts, ScanId, ScanRow, ScanStatus};
use crate::store::{Store, WriteKind};
use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;

/// A running scan without a heartbeat for this long is given up as incomplete.
pub const STALE_AFTER_MS: i64 = 10 * 60 * 1000;

/// The columns of `scans` that [`Store::scan_row`] reads.
pub(crate) const SCAN_COLUMNS: &str = "s.id, s.seq, s.started_at, s.finished_at, s.status, s.source, s.args, \
     s.targets, s.ports, s.pid, s.hostname, s.heartbeat_at, s.hosts_up, s.hosts_down, \
     s.open_ports, s.open_filtered_ports, s.error, s.vantage";

impl Store {
    /// Records a new scan as `running` (with this process id, machine and a first heartbeat).
    pub async fn begin_scan(&self, scan: &NewScan) -> Result<ScanId> {
        let op = "record a new scan";
        if scan.vantage.is_empty() {
            return Err(StoreError::Usage {
                op,
                reason: "the scan names no vantage (use \"local\" for this server)".into(),
            });
        }
        let now = now_ms();
        let json = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
        let sql = Sql::new(
            "INSERT INTO scans (started_at, status, source, args, targets, ports, pid, hostname, heartbeat_at, vantage) \
             VALUES ($1, 'running', $2, $3, $4, $5, $6, $7, $1, $8) RETURNING id",
        )
        .bind(now)
        .bind(scan.source.as_str())
        .bind(json(&scan.args))
        .bind(json(&scan.targets))
        .bind(port_spec(&scan.ports))
        .bind(i64::from(std::process::id()))
        .bind(self.inner.machine.as_str())
        .bind(scan.vantage.as_str());
        let mut tx = self.write_tx(op, WriteKind::Row).await?;
        let row = tx.fetch_optional(&sql).await.map_err(self.err(op))?;
        let id = row
            .map(|r| r.int("id"))
            .transpose()
            .map_err(self.err(op))?
            .ok_or_else(|| self.corrupt(op, "the insert returned no id"))?;
        tx.commit().await.map_err(self.err(op))?;
        Ok(ScanId(id))
    }

    /// Tells that a running scan is alive. Fails if the scan is no longer running (for example
    /// given up after missing heartbeats for [`STALE_AFTER_MS`]).
    pub async fn heartbeat(&self, id: ScanId) -> Result<()> {
        let op = "record a scan heartbeat";
        let mut tx = self.write_tx(op, WriteKind::Row).await?;
        let n = tx
            .execute(
                &Sql::new(
                    "UPDATE scans SET heartbeat_at = $1 WHERE id = $2 AND status = 'running'",
                )
                .bind(now_ms())
                .bind(id.0),
            )
            .await
            .map_err(self.err(op))?;
        if n == 0 {
            return Err(self.not_running(&mut tx, id, "send a heartbeat").await);
        }
        tx.commit().await.map_err(self.err(op))
    }

    /// Marks a running scan `failed` with the reason; nothing of it enters the history.
    pub async fn fail_scan(&self, id: ScanId, error: &str) -> Result<()> {
        let op = "record a failed scan";
        let mut tx = self.write_tx(op, WriteKind::Row).await?;
        let n = tx
            .execute(
                &Sql::new(
                    "UPDATE scans SET status = 'failed', finished_at = $1, error = $2 \
                     WHERE id = $3 AND status = 'running'",
                )
                .bind(now_ms())
                .bind(error)
                .bind(id.0),
            )
            .await
            .map_err(self.err(op))?;
        if n == 0 {
            return Err(self.not_running(&mut tx, id, "be marked failed").await);
        }
        tx.commit().await.map_err(self.err(op))
    }

    /// Marks `running` scans whose process is gone (same machine, pid not alive) or that sent no
    /// heartbeat for [`STALE_AFTER_MS`] as `incomplete`. Runs on every open; returns how many.
    pub async fn recover_stale_scans(&self) -> Result<u64> {
        let op = "give up scans whose process died";
        let now = now_ms();
        let mut tx = self.write_tx(op, WriteKind::Row).await?;
        let rows = tx
            .fetch_all(&Sql::new(
                "SELECT id, pid, hostname, heartbeat_at FROM scans WHERE status = 'running'",
            ))
            .await
            .map_err(self.err(op))?;
        let mut given_up = 0;
        for row in rows {
            let id = row.int("id").map_err(self.err(op))?;
            let pid = row.opt_int("pid").map_err(self.err(op))?;
            let machine = row.opt_text("hostname").map_err(self.err(op))?;
            let beat = row.opt_int("heartbeat_at").map_err(self.err(op))?;
            let ours = machine.as_deref() == Some(self.inner.machine.as_str());
            let reason = if ours && pid.is_some_and(|p| !process_alive(p)) {
                format!(
                    "process {} on {} ended before the scan finished",
                    pid.unwrap_or_default(),
                    self.inner.machine
                )
            } else if beat.is_none_or(|b| now - b > STALE_AFTER_MS) {
                format!(
                    "no heartbeat for more than {} minutes",
                    STALE_AFTER_MS / 60_000
                )
            } else {
                continue;
            };
            given_up += tx
                .execute(
                    &Sql::new(
                        "UPDATE scans SET status = 'incomplete', finished_at = $1, error = $2 \
                         WHERE id = $3 AND status = 'running'",
                    )
                    .bind(now)
                    .bind(reason)
                    .bind(id),
                )
                .await
                .map_err(self.err(op))?;
        }
        tx.commit().await.map_err(self.err(op))?;
        Ok(given_up)
    }

    /// The error for an operation on a scan that is missing or not running.
    pub(crate) async fn not_running(
        &self,
        tx: &mut Tx,
        id: ScanId,
        op: &'static str,
    ) -> StoreError {
        let status = tx
            .fetch_optional(&Sql::new("SELECT status FROM scans WHERE id = $1").bind(id.0))
            .await
            .ok()
            .flatten()
            .and_then(|r| r.text("status").ok());
        match status {
            Some(status) => StoreError::ScanNotRunning {
                id: id.0,
                status,
                op,
            },
            None => StoreError::ScanNotFound {
                db: self.inner.name.clone(),
                id: id.0,
            },
        }
    }

    /// Decodes a row selected with [`SCAN_COLUMNS`].
    pub(crate) fn scan_row(&self, row: &DbRow, op: &'static str) -> Result<ScanRow> {
        let e = self.err(op);
        let status_text = row.text("status").map_err(&e)?;
        let status: ScanStatus = status_text.parse().map_err(|r| self.corrupt(op, r))?;
        let list = |col: &str| -> Result<Vec<String>> {
            let text = row.text(col).map_err(&e)?;
            serde_json::from_str(&text)
                .map_err(|err| self.corrupt(op, format!("scans.{col} is not a JSON list: {err}")))
        };
        let count = |col: &str| -> Result<u64> {
            Ok(row
                .opt_int(col)
                .map_err(&e)?
                .unwrap_or(0)
                .max(0)
                .unsigned_abs())
        };
        let counts = if status == ScanStatus::Complete {
            Some(ScanCounts {
                hosts_up: count("hosts_up")?,
                hosts_down: count("hosts_down")?,
                open: count("open_ports")?,
                open_filtered: count("open_filtered_ports")?,
            })
        } else {
            None
        };
        Ok(ScanRow {
            id: ScanId(row.int("id").map_err(&e)?),
            seq: row.opt_int("seq").map_err(&e)?,
            started_at: row.int("started_at").map_err(&e)?,
            finished_at: row.opt_int("finished_at").map_err(&e)?,
            status,
            source: row.text("source").map_err(&e)?,
            vantage: row.text("vantage").map_err(&e)?,
            args: list("args")?,
            targets: list("targets")?,
            ports: row.text("ports").map_err(&e)?,
            pid: row.opt_int("pid").map_err(&e)?,
            machine: row.opt_text("hostname").map_err(&e)?,
            heartbeat_at: row.opt_int("heartbeat_at").map_err(&e)?,
            counts,
            error: row.opt_text("error").map_err(&e)?,
        })
    }
}

/// Whether a process with this id exists on this machine (signal 0 checks without sending).
pub(crate) fn process_alive(pid: i64) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    if raw <= 0 {
        return false;
    }
    !matches!(kill(Pid::from_raw(raw), None), Err(Errno::ESRCH))
}
