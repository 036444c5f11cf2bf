//! `/api/v1/scans`: the scan list, one scan with what was open as of it, asking the monitor
//! for a scan of a group now, and following or cancelling that request.

use super::extract::{ApiJson, ApiPath, parse_positive_id, parse_scan_id};
use super::model::{ErrorBody, Page, PortSpan, ScanStatusName, ScanSummary};
use super::query::{ApiQuery, FromQuery, NoQuery, Pagination, QueryParams};
use crate::auth::{Admin, User};
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use portwatch_store::{
    ScanFilter, ScanId, ScanRequestRow, ScanRequestState, ScanStatus, StoreError,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Filters and pagination of the scan list.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScansQuery {
    /// Only scans with this status.
    #[param(inline)]
    pub status: Option<ScanStatusName>,
    /// Items per page.
    #[param(minimum = 1, maximum = 500, default = 50)]
    pub limit: Option<u32>,
    /// Items to skip (up to 4294967295).
    #[param(minimum = 0, maximum = 4_294_967_295.0, format = Int64, default = 0)]
    pub offset: Option<u32>,
    /// Only scans older than this scan id: the cursor of the next page is the last id of
    /// this one (steady under new scans, unlike `offset`). `total` and `offset` then count
    /// within the older scans.
    #[param(minimum = 1)]
    pub before: Option<i64>,
}

impl FromQuery for ScansQuery {
    fn from_query(p: &mut QueryParams) -> Result<Self, ApiError> {
        Ok(ScansQuery {
            status: p.choice("status")?,
            limit: p.limit()?,
            offset: p.offset()?,
            before: p.positive_id("before", "scan id")?,
        })
    }
}

/// One scan and what was open as of it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScanDetail {
    /// The scan.
    pub scan: ScanSummary,
    /// The ports open (or open|filtered) on the hosts it covered, as of this scan; null for a
    /// scan that did not complete (it describes nothing reliably).
    pub open: Option<Vec<PortSpan>>,
}

/// A request for a scan of a group now.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanRequest {
    /// The group's name, as in the configuration.
    #[schema(example = "file-servers")]
    pub group: String,
}

/// The answer to a scan request.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScanQueued {
    /// Always true: the group's loop starts a scan as soon as it may.
    pub queued: bool,
    /// The group.
    pub group: String,
    /// The request's id, to follow it (`GET /scans/requests/{id}`) or cancel it
    /// (`DELETE /scans/requests/{id}`).
    pub request: i64,
}

/// Where a scan request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ScanRequestStateName {
    /// No scan started for it yet.
    Pending,
    /// A scan of the group runs for it.
    Running,
    /// Cancelled while running; its scan is being stopped.
    Cancelling,
    /// Its scan ended and was recorded.
    Done,
    /// Cancelled: no scan ran for it, or the one that did was stopped with nothing applied.
    Cancelled,
    /// The monitor stopped before its scan ended; nothing of it was applied.
    Interrupted,
}

impl From<ScanRequestState> for ScanRequestStateName {
    fn from(s: ScanRequestState) -> Self {
        match s {
            ScanRequestState::Pending => Self::Pending,
            ScanRequestState::Running => Self::Running,
            ScanRequestState::Cancelling => Self::Cancelling,
            ScanRequestState::Done => Self::Done,
            ScanRequestState::Cancelled => Self::Cancelled,
            ScanRequestState::Interrupted => Self::Interrupted,
        }
    }
}

/// A "scan now" request (kept a day after it was made).
#[derive(Debug, Serialize, ToSchema)]
pub struct ScanRequestStatus {
    /// Its id.
    pub id: i64,
    /// The group it asked a scan of.
    pub group: String,
    /// When it was made (RFC 3339, UTC).
    pub requested: String,
    /// Where it is.
    pub state: ScanRequestStateName,
    /// Whether nothing more happens to it (`done`, `cancelled`, `interrupted`).
    pub ended: bool,
}

impl From<&ScanRequestRow> for ScanRequestStatus {
    fn from(r: &ScanRequestRow) -> Self {
        ScanRequestStatus {
            id: r.id,
            group: r.group.clone(),
            requested: super::model::time(r.requested_at),
            state: r.state.into(),
            ended: r.state.is_final(),
        }
    }
}

/// Lists scans, newest first.
#[utoipa::path(
    get,
    path = "/scans",
    operation_id = "list_scans",
    tag = "scans",
    params(ScansQuery),
    responses(
        (status = 200, description = "A page of scans, newest first", body = Page<ScanSummary>),
        (status = 400, description = "A bad query parameter", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    _user: User,
    ApiQuery(query): ApiQuery<ScansQuery>,
) -> Result<Json<Page<ScanSummary>>, ApiError> {
    let pagination = Pagination::new(query.limit, query.offset);
    let filter = ScanFilter {
        status: query.status.map(ScanStatus::from),
        before: query.before.map(ScanId),
        ..ScanFilter::default()
    };
    let page = state
        .store()
        .scan_page(&filter, pagination.limit, pagination.offset)
        .await?;
    let items = page.scans.iter().map(ScanSummary::from).collect();
    Ok(Json(pagination.answer(items, page.total)))
}

/// One scan, with what was open as of it.
#[utoipa::path(
    get,
    path = "/scans/{id}",
    operation_id = "get_scan",
    tag = "scans",
    params(("id" = i64, Path, description = "The scan's id", minimum = 1)),
    responses(
        (status = 200, description = "The scan", body = ScanDetail),
        (status = 400, description = "Not a scan id", body = ErrorBody),
        (status = 404, description = "No such scan", body = ErrorBody),
    )
)]
pub async fn detail(
    State(state): State<AppState>,
    _user: User,
    ApiPath(id): ApiPath<String>,
    _query: ApiQuery<NoQuery>,
) -> Result<Json<ScanDetail>, ApiError> {
    let id = parse_scan_id(&id)?;
    let scan = state
        .store()
        .scan(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no scan {id}")))?;
    let open = match state.store().open_at(id).await {
        Ok(spans) => Some(spans.iter().map(PortSpan::from).collect()),
        Err(StoreError::ScanNotComplete { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    Ok(Json(ScanDetail {
        scan: ScanSummary::from(&scan),
        open,
    }))
}

/// Asks the monitor to scan a group now (admin).
#[utoipa::path(
    post,
    path = "/scans",
    operation_id = "request_scan",
    tag = "scans",
    request_body = ScanRequest,
    responses(
        (status = 202, description = "The scan is queued", body = ScanQueued),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 404, description = "No such group", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Missing, extra or mistyped fields", body = ErrorBody),
        (status = 503, description = "No monitor runs in this process", body = ErrorBody),
    )
)]
pub async fn request(
    State(state): State<AppState>,
    _admin: Admin,
    _query: ApiQuery<NoQuery>,
    ApiJson(body): ApiJson<ScanRequest>,
) -> Result<(StatusCode, Json<ScanQueued>), ApiError> {
    let daemon = state.daemon().ok_or_else(ApiError::no_daemon)?;
    let Some(row) = daemon
        .request_scan(&body.group)
        .await
        .map_err(ApiError::internal)?
    else {
        return Err(ApiError::not_found(format!(
            "no group named '{}' in the configuration",
            super::extract::echo(&body.group)
        )));
    };
    tracing::info!(group = %body.group, request = row.id, "scan requested through the API");
    Ok((
        StatusCode::ACCEPTED,
        Json(ScanQueued {
            queued: true,
            group: body.group,
            request: row.id,
        }),
    ))
}

/// Where a scan request is (from any replica).
#[utoipa::path(
    get,
    path = "/scans/requests/{id}",
    operation_id = "get_scan_request",
    tag = "scans",
    params(("id" = i64, Path, description = "The request's id (`request` in the answer to POST /scans)", minimum = 1)),
    responses(
        (status = 200, description = "The request", body = ScanRequestStatus),
        (status = 400, description = "Not a request id", body = ErrorBody),
        (status = 404, description = "No such request (or forgotten: they are kept a day)", body = ErrorBody),
    )
)]
pub async fn request_status(
    State(state): State<AppState>,
    _user: User,
    ApiPath(id): ApiPath<String>,
    _query: ApiQuery<NoQuery>,
) -> Result<Json<ScanRequestStatus>, ApiError> {
    let id = parse_positive_id(&id, "scan request id")?;
    let row = state
        .store()
        .scan_request(id)
        .await?
        .ok_or_else(|| no_request(id))?;
    Ok(Json(ScanRequestStatus::from(&row)))
}

/// Cancels a scan request (admin): one whose scan has not started never runs (`cancelled`);
/// the scan started for one that is running is stopped with nothing of it applied
/// (`cancelling`, then `cancelled`). A scheduled scan is never stopped. Cancelling again
/// answers the request as it is.
#[utoipa::path(
    delete,
    path = "/scans/requests/{id}",
    operation_id = "cancel_scan_request",
    tag = "scans",
    params(("id" = i64, Path, description = "The request's id", minimum = 1)),
    responses(
        (status = 200, description = "Cancelled, or being stopped", body = ScanRequestStatus),
        (status = 400, description = "Not a request id", body = ErrorBody),
        (status = 404, description = "No such request", body = ErrorBody),
        (status = 409, description = "Its scan already ended (done or interrupted)", body = ErrorBody),
        (status = 503, description = "No monitor runs in this process", body = ErrorBody),
    )
)]
pub async fn cancel_request(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(id): ApiPath<String>,
    _query: ApiQuery<NoQuery>,
) -> Result<Json<ScanRequestStatus>, ApiError> {
    let id = parse_positive_id(&id, "scan request id")?;
    let daemon = state.daemon().ok_or_else(ApiError::no_daemon)?;
    let row = daemon
        .cancel_scan(id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| no_request(id))?;
    if matches!(
        row.state,
        ScanRequestState::Done | ScanRequestState::Interrupted
    ) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "scan request {id} cannot be cancelled: its scan already ended ({})",
                row.state.as_str()
            ),
        ));
    }
    tracing::info!(request = id, group = %row.group, state = row.state.as_str(), "scan request cancelled through the API");
    Ok(Json(ScanRequestStatus::from(&row)))
}

fn no_request(id: i64) -> ApiError {
    ApiError::not_found(format!("no scan request {id}"))
}
