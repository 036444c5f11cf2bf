//! The monitor's tables: alert states (opaque rows) and the outbox of notifier messages.

use crate::canon::{canonical_json, now_ms};
use crate::db::{DbRow, Sql, Tx};
use crate::error::{Result, StoreError};
use crate::model::{AlertStateRow, ClaimTicket, Effects, OutboxClaim, OutboxRow};
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
    /// queued is skipped, so replaying a transition never sends twice. With a fence, nothing is
    /// written (and the caller's transaction must be dropped) unless the lease still holds.
    pub(crate) async fn write_effects_in(
        &self,
        tx: &mut Tx,
        effects: &Effects,
        now: i64,
    ) -> Result<()> {
        let op = "write alert states and outbox messages";
        if let Some(fence) = &effects.fence {
            self.check_fence(tx, fence, op).await?;
        }
        for a in &effects.alert_states {
            self.write_alert_state(tx, a, op).await?;
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
        self.jobs_applied_in(tx, &effects.jobs_applied).await
    }

    /// Writes one alert state if its row still has the version the writer read (no row, for
    /// version 0), as the next version; otherwise [`StoreError::Conflict`].
    async fn write_alert_state(
        &self,
        tx: &mut Tx,
        a: &AlertStateRow,
        op: &'static str,
    ) -> Result<()> {
        let sql = if a.version == 0 {
            Sql::new(
                "INSERT INTO alert_states (key, status, since, data, updated_at, version) \
                 VALUES ($1, $2, $3, $4, $5, 1) ON CONFLICT (key) DO NOTHING",
            )
        } else {
            Sql::new(
                "UPDATE alert_states SET status = $2, since = $3, data = $4, updated_at = $5, \
                 version = version + 1 WHERE key = $1 AND version = $6",
            )
        };
        let sql = sql
            .bind(a.key.as_str())
            .bind(a.status.as_str())
            .bind(a.since)
            .bind(canonical_json(&a.data))
            .bind(a.updated_at);
        let sql = if a.version == 0 {
            sql
        } else {
            sql.bind(a.version)
        };
        let written = tx.execute(&sql).await.map_err(self.err(op))?;
        if written == 1 {
            return Ok(());
        }
        Err(StoreError::Conflict {
            db: self.name().to_string(),
            op,
            key: a.key.clone(),
            expected: a.version,
        })
    }

    /// Every alert state, by key.
    pub async fn alert_states(&self) -> Result<Vec<AlertStateRow>> {
        let op = "read alert states";
        let mut tx = self.read_tx(op).await?;
        let rows = tx
            .fetch_all(&Sql::new(
                "SELECT key, status, since, data, updated_at, version FROM alert_states ORDER BY key",
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
            version: r.int("version").map_err(&e)?,
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

    /// Records that a message was delivered at `at`, whoever holds it (no claim; for tools and
    /// tests). The daemon records through [`Store::outbox_record_delivered`].
    pub async fn outbox_delivered(&self, id: i64, at: i64) -> Result<()> {
        self.outbox_record(Record::Delivered { at }, id, None)
            .await
            .map(drop)
    }

    /// Records a failed delivery and when to try again, whoever holds it (no claim).
    pub async fn outbox_failed(&self, id: i64, error: &str, next_attempt_at: i64) -> Result<()> {
        let record = Record::Failed {
            error,
            next_attempt_at,
        };
        self.outbox_record(record, id, None).await.map(drop)
    }

    /// Claims up to `limit` due messages for this store instance (see [`Store::claimant`]) until
    /// `now + lease`: undelivered, due at `now`, and unclaimed or with an expired claim,
    /// oldest first, skipping the notifier channels in `skip_channels`. Atomic across processes:
    /// on PostgreSQL `FOR UPDATE SKIP LOCKED`, on SQLite one UPDATE under the write lock. Each
    /// claim counts one more `claim_token`, so a message claimed again after its lease ran
    /// out no longer accepts records from the claim before.
    pub async fn outbox_claim(
        &self,
        now: i64,
        lease: std::time::Duration,
        limit: u32,
        skip_channels: &[String],
    ) -> Result<Vec<OutboxClaim>> {
        let op = "claim due outbox messages";
        let expires_at = now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
        let skip = if skip_channels.is_empty() {
            String::new()
        } else {
            format!(
                " AND channel NOT IN ({})",
                crate::db::placeholders(5, skip_channels.len())
            )
        };
        let lock = match self.dialect() {
            crate::db::Dialect::Sqlite => "",
            crate::db::Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        let text = format!(
            "UPDATE outbox SET claimed_by = $1, claim_expires_at = $2, claim_token = claim_token + 1 \
             WHERE id IN (SELECT id FROM outbox WHERE delivered_at IS NULL AND next_attempt_at <= $3 \
             AND (claim_expires_at IS NULL OR claim_expires_at <= $3){skip} \
             ORDER BY next_attempt_at, id LIMIT $4{lock}) \
             RETURNING id, created_at, idempotency_key, channel, payload, attempts, next_attempt_at, \
             delivered_at, last_error, claim_token"
        );
        let mut sql = if skip_channels.is_empty() {
            Sql::new(text)
        } else {
            Sql::dynamic(text)
        };
        sql.push(self.inner.claimant.as_str());
        sql.push(expires_at);
        sql.push(now);
        sql.push(i64::from(limit));
        for c in skip_channels {
            sql.push(c.as_str());
        }
        let mut tx = self.write_tx(op, WriteKind::Row).await?;
        let rows = tx.fetch_all(&sql).await.map_err(self.err(op))?;
        tx.commit().await.map_err(self.err(op))?;
        let mut claims = rows
            .iter()
            .map(|r| {
                Ok(OutboxClaim {
                    ticket: ClaimTicket {
                        id: r.int("id").map_err(self.err(op))?,
                        token: r.int("claim_token").map_err(self.err(op))?,
                    },
                    expires_at,
                    message: self.outbox_row(r, op)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        claims.sort_by_key(|c| (c.message.next_attempt_at, c.message.id));
        Ok(claims)
    }

    /// Records that a claimed message was delivered at `at`, and ends the claim. `Ok(false)`:
    /// the claim is no longer this store's (it expired and the message was claimed again, or
    /// the outcome was already recorded), and nothing was changed.
    pub async fn outbox_record_delivered(&self, ticket: ClaimTicket, at: i64) -> Result<bool> {
        self.outbox_record(Record::Delivered { at }, ticket.id, Some(ticket))
            .await
    }

    /// Records a failed attempt of a claimed message and when to try again, and ends the
    /// claim. `Ok(false)` as for [`Store::outbox_record_delivered`].
    pub async fn outbox_record_failed(
        &self,
        ticket: ClaimTicket,
        error: &str,
        next_attempt_at: i64,
    ) -> Result<bool> {
        let record = Record::Failed {
            error,
            next_attempt_at,
        };
        self.outbox_record(record, ticket.id, Some(ticket)).await
    }

    /// Gives a claimed message back unattempted, due again at `next_attempt_at`. `Ok(false)` as
    /// for [`Store::outbox_record_delivered`].
    pub async fn outbox_release(&self, ticket: ClaimTicket, next_attempt_at: i64) -> Result<bool> {
        let record = Record::Released { next_attempt_at };
        self.outbox_record(record, ticket.id, Some(ticket)).await
    }

    /// Ends the claims held by processes of this machine that are gone (killed while sending),
    /// so a restarted daemon need not wait for their leases. Runs on every open; returns how
    /// many messages were released.
    pub async fn release_dead_claims(&self) -> Result<u64> {
        let op = "release outbox claims of dead processes";
        let mut tx = self.write_tx(op, WriteKind::Row).await?;
        let rows = tx
            .fetch_all(&Sql::new(
                "SELECT DISTINCT claimed_by FROM outbox WHERE claimed_by IS NOT NULL AND delivered_at IS NULL",
            ))
            .await
            .map_err(self.err(op))?;
        let mut released = 0;
        for row in rows {
            let who = row.text("claimed_by").map_err(self.err(op))?;
            let mut parts = who.rsplitn(3, '/');
            let (_n, pid, machine) = (parts.next(), parts.next(), parts.next());
            let dead = machine == Some(self.inner.machine.as_str())
                && pid
                    .and_then(|p| p.parse::<i64>().ok())
                    .is_some_and(|p| !crate::scans::process_alive(p));
            if dead {
                released += tx
                    .execute(
                        &Sql::new(
                            "UPDATE outbox SET claimed_by = NULL, claim_expires_at = NULL WHERE claimed_by = $1",
                        )
                        .bind(who.as_str()),
                    )
                    .await
                    .map_err(self.err(op))?;
            }
        }
        tx.commit().await.map_err(self.err(op))?;
        Ok(released)
    }

    /// This store instance's name in `outbox.claimed_by`: machine, process id and a number
    /// per opened store, so two stores in one process hold claims apart.
    pub fn claimant(&self) -> &str {
        &self.inner.claimant
    }

    /// The one place an attempt's outcome is written. With a ticket, only while that claim
    /// holds; whether a row changed is the answer.
    async fn outbox_record(
        &self,
        record: Record<'_>,
        id: i64,
        ticket: Option<ClaimTicket>,
    ) -> Result<bool> {
        let (op, mut sql) = match record {
            Record::Delivered { at } => (
                "mark an outbox message delivered",
                Sql::new(
                    "UPDATE outbox SET delivered_at = $1, attempts = attempts + 1, last_error = NULL, \
                     claimed_by = NULL, claim_expires_at = NULL WHERE id = $2 AND delivered_at IS NULL",
                )
                .bind(at),
            ),
            Record::Failed {
                error,
                next_attempt_at,
            } => (
                "record a failed outbox delivery",
                Sql::new(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2, \
                     claimed_by = NULL, claim_expires_at = NULL WHERE id = $3 AND delivered_at IS NULL",
                )
                .bind(error)
                .bind(next_attempt_at),
            ),
            Record::Released { next_attempt_at } => (
                "release an outbox message",
                Sql::new(
                    "UPDATE outbox SET next_attempt_at = $1, claimed_by = NULL, claim_expires_at = NULL \
                     WHERE id = $2 AND delivered_at IS NULL",
                )
                .bind(next_attempt_at),
            ),
        };
        let n = sql.len();
        let fenced = format!(
            " AND (${a} IS NULL OR (claim_token = ${a} AND claimed_by = ${b}))",
            a = n + 2,
            b = n + 3
        );
        sql.append_text(&fenced);
        sql.push(id);
        sql.push(ticket.map(|t| t.token));
        sql.push(ticket.map(|_| self.inner.claimant.clone()));
        let mut tx = self.write_tx(op, WriteKind::Row).await?;
        let changed = tx.execute(&sql).await.map_err(self.err(op))?;
        tx.commit().await.map_err(self.err(op))?;
        Ok(changed == 1)
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

/// What an attempt came to.
#[derive(Debug, Clone, Copy)]
enum Record<'a> {
    Delivered {
        at: i64,
    },
    Failed {
        error: &'a str,
        next_attempt_at: i64,
    },
    Released {
        next_attempt_at: i64,
    },
}
