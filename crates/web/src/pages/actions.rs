//! Admin actions from the dashboard: scan a group now, acknowledge or silence a violation, and
//! take an acknowledgement or a silence back. Each is a POST form with the session's CSRF
//! token; viewers get 403, a missing or wrong token gets 403, and success answers 303 back to
//! the page the form was on, which then says what was done (a flash kept in the session,
//! shown once) with a button that undoes it.

use super::error::PageError;
use super::format::{self, encode_component, local_path};
use super::layout::{Flash, Undo};
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
    state.set_flash(
        &user,
        Flash {
            message: format!(
                "Scan of group {name} asked for: it starts now, or as soon as the group's running \
                 scan ends. Its results show here when it completes."
            ),
            undo: None,
        },
    );
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
    let what = describe(daemon, &key).await;
    state.set_flash(
        &user,
        flash(
            format!("Acknowledged {what}: no more reminders; it stays listed until it resolves."),
            &key,
            "unack",
            "Undo the acknowledgement",
        ),
    );
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
    let what = describe(daemon, &key).await;
    state.set_flash(
        &user,
        flash(
            format!(
                "Silenced {what} until {}: no message about it before then.",
                format::when(until)
            ),
            &key,
            "unsilence",
            "Lift the silence",
        ),
    );
    Ok(back(&form))
}

/// `POST /violations/{key}/unack`: reminders resume.
pub async fn unacknowledge(
    State(state): State<AppState>,
    PageAdmin(user): PageAdmin,
    Path(key): Path<String>,
    Form(form): Form<ActionForm>,
) -> Result<Response, PageError> {
    let daemon = admit(&user, &form, &state)?;
    let tracked = daemon
        .unacknowledge(&key)
        .await
        .map_err(|e| PageError::internal("take an acknowledgement back", e))?;
    if !tracked {
        return Err(gone());
    }
    tracing::info!(user = %user.name, key = %key, "acknowledgement taken back from the dashboard");
    let what = describe(daemon, &key).await;
    state.set_flash(
        &user,
        flash(
            format!("{what} is no longer acknowledged: reminders resume."),
            &key,
            "ack",
            "Acknowledge again",
        ),
    );
    Ok(back(&form))
}

/// `POST /violations/{key}/unsilence`: its messages are sent again from now on.
pub async fn unsilence(
    State(state): State<AppState>,
    PageAdmin(user): PageAdmin,
    Path(key): Path<String>,
    Form(form): Form<ActionForm>,
) -> Result<Response, PageError> {
    let daemon = admit(&user, &form, &state)?;
    let tracked = daemon
        .unsilence(&key)
        .await
        .map_err(|e| PageError::internal("lift a silence", e))?;
    if !tracked {
        return Err(gone());
    }
    tracing::info!(user = %user.name, key = %key, "silence lifted from the dashboard");
    let what = describe(daemon, &key).await;
    state.set_flash(
        &user,
        Flash {
            message: format!("The silence on {what} is lifted: its messages are sent again."),
            undo: None,
        },
    );
    Ok(back(&form))
}

/// A tracked violation in words: `445/tcp on 10.0.0.5 (group lab, must be closed)`.
async fn describe(daemon: &Daemon, key: &str) -> String {
    let book = daemon.book().await;
    let Some(f) = book.entries.get(key).map(|e| &e.finding) else {
        return "the violation".into();
    };
    let what = match f.port.zip(f.proto) {
        Some((p, t)) => format!("{p}/{t} on {}", f.host),
        None => f.host.to_string(),
    };
    format!("{what} (group {}, {})", f.group, f.rule.label())
}

/// A flash whose undo posts to `/violations/{key}/{action}`.
fn flash(message: String, key: &str, action: &str, label: &str) -> Flash {
    Flash {
        message,
        undo: Some(Undo {
            action: format!("/violations/{}/{action}", encode_component(key)),
            label: label.into(),
        }),
    }
}

fn gone() -> PageError {
    PageError::NotFound(
        "That violation is no longer tracked: it was resolved or forgotten meanwhile.".into(),
    )
}
