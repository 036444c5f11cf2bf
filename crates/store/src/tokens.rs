//! API tokens: names, roles and hashes (never the tokens themselves), and the outbox as a
//! history of sent alerts.

use crate::canon::now_ms;
use crate::db::{DbRow, Sql};
use crate::error::Result;
use crate::model::OutboxRow;
use crate::store::{Store, WriteKind};
use serde::{Deserialize, Serialize};

/// A stored token (its hash stays inside the store).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRow {
    /// Id.
    pub id: i64,
    /// What the admin called it.
    pub name: String,
    /// `viewer`, `admin` or `agent`.
    pub role: String,
    /// For an agent token: the vantage it scans from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vantage: Option<String>,
    /// When it was created (ms).
    pub created_at: i64,
    /// When it was last used (ms).
    pub last_used_at: Option<i64>,
    /// When it was revoked (ms).
    pub revoked_at: Option<i64>,
}

const TOKEN_COLUMNS: &str = "id, name, role, vantage, created_at, last_used_at, revoked_at";

impl Store {
    /// Stores a new token's hash; returns its id.
    pub async fn create_token(&self, name: &str, role: &str, token_hash: &str) -> Result<i64> {
        self.create_token_for(name, role, None, token_hash).await
    }

    /// Stores a new token's hash, bound to `vantage` (required for the `agent` role, refused
    /// by the database for the others); returns its id.
    pub async fn create_token_for(
        &self,
        name: &str,
        role: &str,
        vantage: Option<&str>,
        token_hash: &str,
    ) -> Result<i64> {
        let op = "create an API token";
        let mut tx = self.write_tx(op, WriteKind::Row).await?;
        let row = tx
            .fetch_optional(
                &Sql::new(
                    "INSERT INTO api_tokens (name, role, token_hash, created_at, vantage) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                )
                .bind(name)
                .bind(role)
                .bind(token_hash)
                .bind(now_ms())
                .bind(vantage),
            )
            .await
            .map_err(self.err(op))?;
        let id = row
            .map(|r| r.int("id"))
            .transpose()
            .map_err(self.err(op))?
            .ok_or_else(|| self.corrupt(op, "the insert returned no id"))?;
        tx.commit().await.map_err(self.err(op))?;
        Ok(id)
    }

    /// The live (not revoked) token with this hash.
    pub async fn find_token(&self, token_hash: &str) -> Result<Option<TokenRow>> {
        let op = "look up an API token";
        let mut tx = self.read_tx(op).await?;
        let row = tx
            .fetch_optional(
                &Sql::new(format!(
                    "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL"
                ))
                .bind(token_hash),
            )
            .await
            .map_err(self.err(op))?;
        row.map(|r| token_row(self, &r, op)).transpose()
    }

    /// Every token, newest first.
    pub async fn tokens(&self) -> Result<Vec<TokenRow>> {
        let op = "list API tokens";
        let mut tx = self.read_tx(op).await?;
        let rows = tx
            .fetch_all(&Sql::new(format!(
                "SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY id DESC"
            )))
            .await
            .map_err(self.err(op))?;
        rows.iter().map(|r| token_row(self, r, op)).collect()
    }

    /// Records that a token was used now (best effort, at most once a minute per token).
    pub async fn touch_token(&self, id: i64) -> Result<()> {
        let op = "record an API token's use";
        let now = now_ms();
        let mut tx = self.write_tx(op, WriteKind::Row).await?;
        tx.execute(
            &Sql::new(
                "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2 \
                 AND (last_used_at IS NULL OR last_used_at < $3)",
            )
            .bind(now)
            .bind(id)
            .bind(now - 60_000),
        )
        .await
        .map_err(self.err(op))?;
        tx.commit().await.map_err(self.err(op))
    }

    /// Revokes a token; false if there is no live token with that id.
    pub async fn revoke_token(&self, id: i64) -> Result<bool> {
        let op = "revoke an API token";
        let mut tx = self.write_tx(op, WriteKind::Row).await?;
        let n = tx
            .execute(
                &Sql::new(
                    "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                )
                .bind(now_ms())
                .bind(id),
            )
            .await
            .map_err(self.err(op))?;
        tx.commit().await.map_err(self.err(op))?;
        Ok(n == 1)
    }

    /// Outbox messages, newest first (the history of alerts), `limit` from `offset`.
    pub async fn outbox_recent(&self, limit: u32, offset: u32) -> Result<Vec<OutboxRow>> {
        let op = "list sent alerts";
        let mut tx = self.read_tx(op).await?;
        let rows = tx
            .fetch_all(
                &Sql::new(
                    "SELECT id, created_at, idempotency_key, channel, payload, attempts, next_attempt_at, \
                     delivered_at, last_error FROM outbox ORDER BY id DESC LIMIT $1 OFFSET $2",
                )
                .bind(i64::from(limit))
                .bind(i64::from(offset)),
            )
            .await
            .map_err(self.err(op))?;
        rows.iter().map(|r| self.outbox_row(r, op)).collect()
    }
}

fn token_row(store: &Store, r: &DbRow, op: &'static str) -> Result<TokenRow> {
    let e = store.err(op);
    Ok(TokenRow {
        id: r.int("id").map_err(&e)?,
        name: r.text("name").map_err(&e)?,
        role: r.text("role").map_err(&e)?,
        vantage: r.opt_text("vantage").map_err(&e)?,
        created_at: r.int("created_at").map_err(&e)?,
        last_used_at: r.opt_int("last_used_at").map_err(&e)?,
        revoked_at: r.opt_int("revoked_at").map_err(&e)?,
    })
}
