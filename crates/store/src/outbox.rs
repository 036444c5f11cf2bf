//! The monitor's tables: alert states (opaque rows) and the outbox of notifier messages.

use crate::canon::{canonical_json, now_ms};
use crate::db::{DbRow, Sql, Tx};
use crate::error::Result;
use crate::model::{AlertStateRow, Effects, OutboxRow};
use crate::store::{Store, WriteKind};

impl Store {
    /// Writes alert states and outbox messages on their own (outside a scan), in one transaction.
    pub async fn write_effects(&self, effects: &Effects) -> Result<()> {
        let op = "write alert states and outbox messages";
        let mut tx = self.write_tx(op, WriteKind::Row).await?;
        self.write_effects_in(&mut tx, effects, now_ms()).await?;
        tx.commit().await.map_err(self.err(op))
    }

    /// Writes effects inside a caller's transaction. A message whose idempotency key is already
    /// queued is skipped, so replaying a transition never sends twice.
    pub(crate) async fn write_effects_in(
        &self,
        tx: &mut Tx,
        effects: &Effects,
        now: i64,
    ) -> Result<()> {
        let op = "write alert states and outbox messages";
        for a in &effects.alert_states {
            tx.execute(
                &Sql::new(
                    "INSERT INTO alert_states (key, status, since, data, updated_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (key) DO UPDATE SET status = excluded.status, since = excluded.since, \
                     data = excluded.data, updated_at = excluded.updated_at",
                )
                .bind(a.key.as_str())
                .bind(a.status.as_str())
                .bind(a.since)
                .bind(canonical_json(&a.data))
                .bind(a.updated_at),
            )
            .await
            .map_err(self.err(op))?;
        }
        for m in &effects.outbox {
            tx.execute(
                &Sql::new(
                    "INSERT INTO outbox (created_at, idempotency_key, channel, payload, attempts, next_attempt_at) \
                     VALUES ($1, $2, $3, $4, 0, $1) ON CONFLICT (idempotency_key) DO NOTHING",
                )
                .bind(now)
                .bind(m.idempotency_key.as_str())
                .bind(m.channel.as_str())
                .bind(canonical_json(&m.payload)),
            )
            .await
            .map_err(self.err(op))?;
        }
        Ok(())
    }

    /// Every alert state, by key.
    pub async fn alert_states(&self) -> Result<Vec<AlertStateRow>> {
        let op = "read alert states";
        let mut tx = self.read_tx(op).await?;
        let rows = tx
            .fetch_all(&Sql::new(
                "SELECT key, status, since, data, updated_at FROM alert_states ORDER BY key",
            ))
            .await
            .map_err(self.err(op))?;
        rows.iter().map(|r| self.alert_state_row(r, op)).collect()
    }

    pub(crate) fn alert_state_row(&self, r: &DbRow, op: &'static str) -> Result<AlertStateRow> {
        let e = self.err(op);
        Ok(AlertStateRow {
            key: r.text("key").map_err(&e)?,
            status: r.text("status").map_err(&e)?,
            since: r.int("since").map_err(&e)?,
            data: self.json_col(&r.text("data").map_err(&e)?, "alert_states.data", op)?,
            updated_at: r.int("updated_at").map_err(&e)?,
        })
    }

    /// Undelivered messages due at `now`, oldest first, at most `limit`.
    pub async fn outbox_due(&self, now: i64, limit: u32) -> Result<Vec<OutboxRow>> {
        let op = "read due outbox messages";
        let mut tx = self.read_tx(op).await?;
        let rows = tx
            .fetch_all(
                &Sql::new(
                    "SELECT id, created_at, idempotency_key, channel, payload, attempts, next_attempt_at, \
                     delivered_at, last_error FROM outbox \
                     WHERE delivered_at IS NULL AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2",
                )
                .bind(now)
                .bind(i64::from(limit)),
            )
            .await
            .map_err(self.err(op))?;
        rows.iter().map(|r| self.outbox_row(r, op)).collect()
    }

    pub(crate) fn outbox_row(&self, r: &DbRow, op: &'static str) -> Result<OutboxRow> {
        let e = self.err(op);
        Ok(OutboxRow {
            id: r.int("id").map_err(&e)?,
            created_at: r.int("created_at").map_err(&e)?,
            idempotency_key: r.text("idempotency_key").map_err(&e)?,
            channel: r.text("channel").map_err(&e)?,
            payload: self.json_col(&r.text("payload").map_err(&e)?, "outbox.payload", op)?,
            attempts: r.int("attempts").map_err(&e)?.max(0).unsigned_abs(),
            next_attempt_at: r.int("next_attempt_at").map_err(&e)?,
            delivered_at: r.opt_int("delivered_at").map_err(&e)?,
            last_error: r.opt_text("last_error").map_err(&e)?,
        })
    }

    /// Records that a message was delivered at `at`.
    pub async fn outbox_delivered(&self, id: i64, at: i64) -> Result<()> {
        let op = "mark an outbox message delivered";
        let mut tx = self.write_tx(op, WriteKind::Row).await?;
        tx.execute(
            &Sql::new(
                "UPDATE outbox SET delivered_at = $1, attempts = attempts + 1, last_error = NULL WHERE id = $2",
            )
            .bind(at)
            .bind(id),
        )
        .await
        .map_err(self.err(op))?;
        tx.commit().await.map_err(self.err(op))
    }

    /// Records a failed delivery and when to try again.
    pub async fn outbox_failed(&self, id: i64, error: &str, next_attempt_at: i64) -> Result<()> {
        let op = "record a failed outbox delivery";
        let mut tx = self.write_tx(op, WriteKind::Row).await?;
        tx.execute(
            &Sql::new(
                "UPDATE outbox SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2 WHERE id = $3",
            )
            .bind(error)
            .bind(next_attempt_at)
            .bind(id),
        )
        .await
        .map_err(self.err(op))?;
        tx.commit().await.map_err(self.err(op))
    }

    /// Parses a stored JSON column.
    pub(crate) fn json_col(
        &self,
        text: &str,
        col: &str,
        op: &'static str,
    ) -> Result<serde_json::Value> {
        serde_json::from_str(text)
            .map_err(|e| self.corrupt(op, format!("{col} is not valid JSON: {e}")))
    }
}
