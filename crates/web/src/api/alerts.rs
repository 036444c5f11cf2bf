//! `/api/v1/alerts`: the messages the monitor sent or still has to send (the outbox), newest
//! first.

use super::model::{ErrorBody, Page, time};
use super::query::{ApiQuery, Choice, FromQuery, QueryParams};
use crate::auth::User;
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use portwatch_store::OutboxRow;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

/// How many outbox rows are read per store call while filtering or counting.
const CHUNK: u32 = 500;

/// Whether a message went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// The notifier accepted it.
    Delivered,
    /// Not yet (queued, or retrying after failures).
    Pending,
}

impl Choice for DeliveryStatus {
    const CHOICES: &'static [(&'static str, Self)] =
        &[("delivered", Self::Delivered), ("pending", Self::Pending)];
}

/// One message to one notifier.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertMessage {
    /// Its id.
    pub id: i64,
    /// When it was queued.
    #[schema(format = DateTime)]
    pub created: String,
    /// The notifier it goes to.
    pub channel: String,
    /// Delivered or pending.
    pub status: DeliveryStatus,
    /// When it was delivered.
    #[schema(format = DateTime)]
    pub delivered: Option<String>,
    /// Delivery attempts so far.
    pub attempts: u64,
    /// Not tried again before this time (pending messages).
    #[schema(format = DateTime)]
    pub next_attempt: Option<String>,
    /// The last delivery error.
    pub last_error: Option<String>,
    /// `opened`, `reminder`, `resolved` or `test`.
    #[schema(example = "opened")]
    pub kind: Option<String>,
    /// The vantage that saw it (`local`: this server).
    #[schema(example = "internet")]
    pub vantage: Option<String>,
    /// One line: what happened where.
    #[schema(example = "OPEN 445/tcp on 10.0.0.5 (file-servers): must be closed")]
    pub title: Option<String>,
    /// The whole message as the notifier receives it.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

impl From<OutboxRow> for AlertMessage {
    fn from(row: OutboxRow) -> Self {
        let alert =
            serde_json::from_value::<portwatch_monitor::notify::Alert>(row.payload.clone()).ok();
        AlertMessage {
            id: row.id,
            created: time(row.created_at),
            channel: row.channel,
            status: if row.delivered_at.is_some() {
                DeliveryStatus::Delivered
            } else {
                DeliveryStatus::Pending
            },
            delivered: row.delivered_at.map(time),
            attempts: row.attempts,
            next_attempt: row
                .delivered_at
                .is_none()
                .then(|| time(row.next_attempt_at)),
            last_error: row.last_error,
            kind: alert.as_ref().map(|a| a.kind.as_str().to_string()),
            vantage: alert.as_ref().map(|a| a.vantage.clone()),
            title: alert.as_ref().map(portwatch_monitor::notify::Alert::title),
            payload: row.payload,
        }
    }
}

/// Filters and pagination of the message list.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertsQuery {
    /// Only delivered or only pending messages.
    #[param(inline)]
    pub status: Option<DeliveryStatus>,
    /// Items per page.
    #[param(minimum = 1, maximum = 500, default = 50)]
    pub limit: Option<u32>,
    /// Items to skip (up to 4294967295).
    #[param(minimum = 0, maximum = 4_294_967_295.0, format = Int64, default = 0)]
    pub offset: Option<u32>,
}

impl FromQuery for AlertsQuery {
    fn from_query(p: &mut QueryParams) -> Result<Self, ApiError> {
        Ok(AlertsQuery {
            status: p.choice("status")?,
            limit: p.limit()?,
            offset: p.offset()?,
        })
    }
}

/// Lists sent and queued messages, newest first.
#[utoipa::path(
    get,
    path = "/alerts",
    operation_id = "list_alerts",
    tag = "alerts",
    params(AlertsQuery),
    responses(
        (status = 200, description = "A page of messages, newest first", body = Page<AlertMessage>),
        (status = 400, description = "A bad query parameter", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    _user: User,
    ApiQuery(query): ApiQuery<AlertsQuery>,
) -> Result<Json<Page<AlertMessage>>, ApiError> {
    let page = super::query::Pagination::new(query.limit, query.offset);
    // The store pages the outbox but neither filters nor counts it: walk it in chunks,
    // keeping only the rows of the page asked for.
    let mut items = Vec::new();
    let mut total = 0u64;
    let mut from = 0u32;
    loop {
        let rows = state.store().outbox_recent(CHUNK, from).await?;
        let n = rows.len();
        for row in rows {
            let delivered = row.delivered_at.is_some();
            let keep = match query.status {
                None => true,
                Some(DeliveryStatus::Delivered) => delivered,
                Some(DeliveryStatus::Pending) => !delivered,
            };
            if !keep {
                continue;
            }
            if total >= u64::from(page.offset) && items.len() < page.limit as usize {
                items.push(AlertMessage::from(row));
            }
            total += 1;
        }
        if n < CHUNK as usize {
            break;
        }
        from = from.saturating_add(CHUNK);
    }
    Ok(Json(Page {
        items,
        total,
        limit: page.limit,
        offset: page.offset,
    }))
}
