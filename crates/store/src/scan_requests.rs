//! "Scan now" requests: any replica writes one, the replica that schedules runs the group it
//! names, and the row says where the request is until it is pruned, so that any replica can
//! answer how it went and cancel it.
//!
//! States: `pending` (no scan started for it yet) → `running` (the leader claimed it and a
//! scan of the group runs for it) → `done`; a cancel turns `pending` into `cancelled` at once
//! and `running` into `cancelling`, which the leader turns into `cancelled` once the scan
//! stopped (or `done` when the scan had already finished). `interrupted`: the leader stopped
//! (shutdown, lost lease, death) before the scan ended.

use crate::db::{DbRow, Sql};
use crate::error::Result;
use crate::store::{Store, WriteKind};

/// Where a "scan now" request is.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[strum(serialize_all = "lowercase")]
pub enum ScanRequestState {
    /// Written, no scan started for it yet.
    Pending,
    /// A scan of the group runs for it.
    Running,
    /// Asked to stop while running; the leader has not stopped the scan yet.
    Cancelling,
    /// Its scan ended and was recorded.
    Done,
    /// Cancelled: no scan ran for it, or the one that did was stopped and nothing of it applied.
    Cancelled,
    /// The scheduling replica stopped before its scan ended (nothing of it applied).
    Interrupted,
}

impl ScanRequestState {
    /// The string stored in the database (and shown by the API).
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The state stored as `s`, if it is one.
    pub fn parse(s: &str) -> Option<Self> {
        s.parse().ok()
    }

    /// Whether nothing more happens to the request.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ScanRequestState::Done | ScanRequestState::Cancelled | ScanRequestState::Interrupted
        )
    }
}

/// One "scan now" request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanRequestRow {
    /// Its id.
    pub id: i64,
    /// The group to scan.
    pub group: String,
    /// When it was asked for (Unix ms, by the asking replica's clock).
    pub requested_at: i64,
    /// Where it is.
    pub state: ScanRequestState,
    /// When its state last changed after it was written (Unix ms), if it did.
    pub updated_at: Option<i64>,
}

const COLUMNS: &str = "id, group_name, requested_at, state, updated_at";

impl Store {
    fn scan_request_row(&self, r: &DbRow, op: &'static str) -> Result<ScanRequestRow> {
        let state = r.text("state").map_err(self.err(op))?;
        Ok(ScanRequestRow {
            id: r.int("id").map_err(self.err(op))?,
            group: r.text("group_name").map_err(self.err(op))?,
            requested_at: r.int("requested_at").map_err(self.err(op))?,
            state: ScanRequestState::parse(&state)
                .ok_or_else(|| self.corrupt(op, format!("unknown scan request state {state:?}")))?,
            updated_at: r.opt_int("updated_at").map_err(self.err(op))?,
        })
    }

    /// Asks the scheduling replica to scan `group` now; the new request, `pending`.
    pub async fn scan_request_add(&self, group: &str, now_ms: i64) -> Result<ScanRequestRow> {
        let op = "ask the scheduler for a scan";
        let mut tx = self.write_tx(op, WriteKind::Row).await?;
        let row = tx
            .fetch_optional(
                &Sql::new(format!(
                    "INSERT INTO scan_requests (group_name, requested_at, state) \
                     VALUES ($1, $2, 'pending') RETURNING {COLUMNS}"
                ))
                .bind(group)
                .bind(now_ms),
            )
            .await
            .map_err(self.err(op))?
            .ok_or_else(|| self.corrupt(op, "the insert returned no row"))?;
        tx.commit().await.map_err(self.err(op))?;
        self.scan_request_row(&row, op)
    }

    /// Request `id`, if it exists (requests are kept a day after they were asked for).
    pub async fn scan_request(&self, id: i64) -> Result<Option<ScanRequestRow>> {
        let op = "read a scan request";
        let mut tx = self.read_tx(op).await?;
        let row = tx
            .fetch_optional(
                &Sql::new(format!("SELECT {COLUMNS} FROM scan_requests WHERE id = $1")).bind(id),
            )
            .await
            .map_err(self.err(op))?;
        row.map(|r| self.scan_request_row(&r, op)).transpose()
    }

    /// The requests in `state`, oldest first.
    pub async fn scan_requests_in(&self, state: ScanRequestState) -> Result<Vec<ScanRequestRow>> {
        let op = "read the scan requests";
        let mut tx = self.read_tx(op).await?;
        let rows = tx
            .fetch_all(
                &Sql::new(format!(
                    "SELECT {COLUMNS} FROM scan_requests WHERE state = $1 ORDER BY id"
                ))
                .bind(state.as_str()),
            )
            .await
            .map_err(self.err(op))?;
        rows.iter().map(|r| self.scan_request_row(r, op)).collect()
    }

    /// Marks every pending request for `group` `running` (a scan starts for them); their ids,
    /// oldest first. A request cancelled before this is not among them.
    pub async fn scan_requests_claim(&self, group: &str, now_ms: i64) -> Result<Vec<i64>> {
        let op = "take the requested scans of a group";
        let mut tx = self.write_tx(op, WriteKind::Row).await?;
        let rows = tx
            .fetch_all(
                &Sql::new(
                    "UPDATE scan_requests SET state = 'running', updated_at = $1 \
                     WHERE group_name = $2 AND state = 'pending' RETURNING id",
                )
                .bind(now_ms)
                .bind(group),
            )
            .await
            .map_err(self.err(op))?;
        tx.commit().await.map_err(self.err(op))?;
        let mut ids = rows
            .iter()
            .map(|r| r.int("id"))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(self.err(op))?;
        ids.sort_unstable();
        Ok(ids)
    }

    /// Cancels request `id`: a pending one becomes `cancelled` (no scan will run for it), a
    /// running one `cancelling` (the leader stops its scan); any other state is left as it is.
    /// The request as it is afterwards, or `None` when there is no such request.
    pub async fn scan_request_cancel(
        &self,
        id: i64,
        now_ms: i64,
    ) -> Result<Option<ScanRequestRow>> {
        let op = "cancel a scan request";
        let mut tx = self.write_tx(op, WriteKind::Row).await?;
        tx.execute(
            &Sql::new(
                "UPDATE scan_requests SET updated_at = $1, state = CASE state \
                 WHEN 'pending' THEN 'cancelled' ELSE 'cancelling' END \
                 WHERE id = $2 AND state IN ('pending', 'running')",
            )
            .bind(now_ms)
            .bind(id),
        )
        .await
        .map_err(self.err(op))?;
        let row = tx
            .fetch_optional(
                &Sql::new(format!("SELECT {COLUMNS} FROM scan_requests WHERE id = $1")).bind(id),
            )
            .await
            .map_err(self.err(op))?;
        tx.commit().await.map_err(self.err(op))?;
        row.map(|r| self.scan_request_row(&r, op)).transpose()
    }

    /// Ends the running (or cancelling) requests `ids` in `state` (`done`, `cancelled` or
    /// `interrupted`); requests already ended are left as they are.
    pub async fn scan_requests_finish(
        &self,
        ids: &[i64],
        state: ScanRequestState,
        now_ms: i64,
    ) -> Result<()> {
        let op = "record how requested scans ended";
        let mut tx = self.write_tx(op, WriteKind::Row).await?;
        for id in ids {
            tx.execute(
                &Sql::new(
                    "UPDATE scan_requests SET state = $1, updated_at = $2 \
                     WHERE id = $3 AND state IN ('running', 'cancelling')",
                )
                .bind(state.as_str())
                .bind(now_ms)
                .bind(*id),
            )
            .await
            .map_err(self.err(op))?;
        }
        tx.commit().await.map_err(self.err(op))
    }

    /// Marks every running or cancelling request `interrupted`: a replica that begins a term
    /// as leader runs none yet, so these belong to a leader that stopped. Returns how many.
    pub async fn scan_requests_interrupt_running(&self, now_ms: i64) -> Result<u64> {
        let op = "give up the requested scans of an earlier leader";
        let mut tx = self.write_tx(op, WriteKind::Row).await?;
        let n = tx
            .execute(
                &Sql::new(
                    "UPDATE scan_requests SET state = 'interrupted', updated_at = $1 \
                     WHERE state IN ('running', 'cancelling')",
                )
                .bind(now_ms),
            )
            .await
            .map_err(self.err(op))?;
        tx.commit().await.map_err(self.err(op))?;
        Ok(n)
    }

    /// Forgets the requests asked for before `before_ms` that ended or were never taken (a
    /// group removed meanwhile); returns how many.
    pub async fn scan_requests_prune(&self, before_ms: i64) -> Result<u64> {
        let op = "forget old scan requests";
        let mut tx = self.write_tx(op, WriteKind::Row).await?;
        let n = tx
            .execute(
                &Sql::new(
                    "DELETE FROM scan_requests WHERE requested_at < $1 \
                     AND state IN ('pending', 'done', 'cancelled', 'interrupted')",
                )
                .bind(before_ms),
            )
            .await
            .map_err(self.err(op))?;
        tx.commit().await.map_err(self.err(op))?;
        Ok(n)
    }
}
