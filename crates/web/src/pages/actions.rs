//! Admin actions from the dashboard: scan a group now, acknowledge or silence a violation.
//! Each is a POST form with the session's CSRF token; viewers get 403, a missing or wrong
//! token gets 403, and success answers 303 back to the page the form was on.

use super::error::PageError;
use super::format::{self, local_path};
use crate::auth::PageAdmin;
use crate::state::AppState;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use portwatch_monitor::daemon::Daemon;
use serde::Deserialize;
use std::sync::Arc;

/// Silence lengths the form offers, by their value.
pub const SILENCES: [(&str, i64); 4] = [
    ("1h", 3_600_000),
    ("4h", 4 * 3_600_000),
    ("1d", format::DAY_MS),
    ("7d", 7 * format::DAY_MS),
];

/// What every action form carries.
#[derive(Debug, Deserialize)]
pub struct ActionForm {
    /// The session's CSRF token.
    #[serde(rename = "_csrf", default)]
    csrf: String,
    /// Where to go back to.
    #[serde(default)]
    next: Option<String>,
    /// For silences: `1h`, `4h`, `1d` or `7d`.
    #[serde(default)]
    duration: Option<String>,
}

/// Checks the CSRF token and finds the daemon.
fn admit<'a>(
    user: &crate::auth::User,
    form: &ActionForm,
    state: &'a AppState,
) -> Result<&'a Arc<Daemon>, PageError> {
    let ok = user.session.as_ref().is_some_and(|s| s.csrf_ok(&form.csrf));
    if !ok {
        return Err(PageError::Csrf);
    }
    state.daemon().ok_or(PageError::NoDaemon)
}

fn back(form: &ActionForm) -> Response {
    Redirect::to(&local_path(form.next.as_deref())).into_response()
}

/// `POST /groups/{name}/scan`.
pub async fn scan_now(
    State(state): State<AppState>,
    PageAdmin(user): PageAdmin,
    Path(name): Path<String>,
    Form(form): Form<ActionForm>,
) -> Result<Response, PageError> {
    let daemon = admit(&user, &form, &state)?;
    if !daemon.scan_now(&name).await.map_err(|e| {
        tracing::error!(error = %e, group = %name, "cannot ask for a scan");
        PageError::Internal
    })? {
        return Err(PageError::NotFound(format!(
            "There is no group named \"{name}\"."
        )));
    }
    tracing::info!(user = %user.name, group = %name, "scan requested from the dashboard");
    Ok(back(&form))
}

/// `POST /violations/{key}/ack`.
pub async fn acknowledge(
    State(state): State<AppState>,
    PageAdmin(user): PageAdmin,
    Path(key): Path<String>,
    Form(form): Form<ActionForm>,
) -> Result<Response, PageError> {
    let daemon = admit(&user, &form, &state)?;
    let tracked = daemon
        .acknowledge(&key)
        .await
        .map_err(|e| PageError::internal("acknowledge a violation", e))?;
    if !tracked {
        return Err(gone());
    }
    tracing::info!(user = %user.name, key = %key, "violation acknowledged from the dashboard");
    Ok(back(&form))
}

/// `POST /violations/{key}/silence`.
pub async fn silence(
    State(state): State<AppState>,
    PageAdmin(user): PageAdmin,
    Path(key): Path<String>,
    Form(form): Form<ActionForm>,
) -> Result<Response, PageError> {
    let daemon = admit(&user, &form, &state)?;
    let asked = form.duration.as_deref().unwrap_or("");
    let Some((_, length)) = SILENCES.iter().find(|(v, _)| *v == asked) else {
        return Err(PageError::BadRequest(format!(
            "\"{asked}\" is not a silence length; choose 1h, 4h, 1d or 7d."
        )));
    };
    let until = format::now_ms() + length;
    let tracked = daemon
        .silence(&key, until)
        .await
        .map_err(|e| PageError::internal("silence a violation", e))?;
    if !tracked {
        return Err(gone());
    }
    tracing::info!(user = %user.name, key = %key, until, "violation silenced from the dashboard");
    Ok(back(&form))
}

fn gone() -> PageError {
    PageError::NotFound(
        "That violation is no longer tracked: it was resolved or forgotten meanwhile.".into(),
    )
}
