//! Admin actions from the dashboard: scan a group now (and cancel that scan), acknowledge or
//! silence a violation, and take an acknowledgement or a silence back. Each is a POST form with the session's CSRF
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
use portwatch_monitor::daemon::{Daemon, ScanRequestState};
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
    let Some(request) = daemon
        .request_scan(&name)
        .await
        .map_err(|e| PageError::internal("ask for a scan", e))?
    else {
        return Err(PageError::NotFound(format!(
            "There is no group named \"{name}\"."
        )));
    };
    tracing::info!(user = %user.name, group = %name, request = request.id, "scan requested from the dashboard");
    state.set_flash(
        &user,
        Flash {
            message: format!(
                "Scan of group {name} asked for: it starts now, or as soon as the group's running \
                 scan ends. Its results show here when it completes."
            ),
            undo: Some(Undo {
                action: format!("/scans/requests/{}/cancel", request.id),
                label: "Cancel this scan".into(),
            }),
            watch: Some(request.id),
        },
    );
    Ok(back(&form))
}

/// `POST /scans/requests/{id}/cancel`: the undo of "scan now". A scan that had not started
/// never runs; one that runs is stopped with nothing of it recorded; one that ended stays.
pub async fn cancel_scan(
    State(state): State<AppState>,
    PageAdmin(user): PageAdmin,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Result<Response, PageError> {
    let daemon = admit(&user, &form, &state)?;
    let missing =
        || PageError::NotFound("There is no such scan request (they are kept a day).".into());
    let id: i64 = id.parse().ok().filter(|i| *i > 0).ok_or_else(missing)?;
    let row = daemon
        .cancel_scan(id)
        .await
        .map_err(|e| PageError::internal("cancel a scan", e))?
        .ok_or_else(missing)?;
    tracing::info!(user = %user.name, request = id, group = %row.group, state = row.state.as_str(), "scan request cancelled from the dashboard");
    let group = &row.group;
    let (message, again) = match row.state {
        ScanRequestState::Cancelled => (
            format!("Scan of group {group} cancelled: nothing of it is recorded."),
            true,
        ),
        ScanRequestState::Cancelling => (
            format!("Scan of group {group} is being stopped: nothing of it will be recorded."),
            true,
        ),
        ScanRequestState::Interrupted => (
            format!(
                "Scan of group {group} had already been interrupted: nothing of it was recorded."
            ),
            true,
        ),
        _ => (
            format!("Scan of group {group} had already completed: its results are shown."),
            false,
        ),
    };
    state.set_flash(
        &user,
        Flash {
            message,
            undo: again.then(|| Undo {
                action: format!("/groups/{}/scan", encode_component(group)),
                label: "Ask for it again".into(),
            }),
            // The page follows a scan being stopped until it stopped.
            watch: (row.state == ScanRequestState::Cancelling).then_some(id),
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
    let action = Action {
        doing: "acknowledge a violation",
        done: "violation acknowledged from the dashboard",
    };
    on_violation(
        &state,
        &user,
        &key,
        &form,
        action,
        async |d, k| d.acknowledge(k).await,
        |what| {
            flash(
                format!(
                    "Acknowledged {what}: no more reminders; it stays listed until it resolves."
                ),
                &key,
                "unack",
                "Undo the acknowledgement",
            )
        },
    )
    .await
}

/// `POST /violations/{key}/silence`.
pub async fn silence(
    State(state): State<AppState>,
    PageAdmin(user): PageAdmin,
    Path(key): Path<String>,
    Form(form): Form<ActionForm>,
) -> Result<Response, PageError> {
    let asked = form.duration.as_deref().unwrap_or("");
    let Some((_, length)) = SILENCES.iter().find(|(v, _)| *v == asked) else {
        // The CSRF token is checked before the form's other fields are judged.
        admit(&user, &form, &state)?;
        return Err(PageError::BadRequest(format!(
            "\"{asked}\" is not a silence length; choose 1h, 4h, 1d or 7d."
        )));
    };
    let until = format::now_ms() + length;
    let action = Action {
        doing: "silence a violation",
        done: "violation silenced from the dashboard",
    };
    on_violation(
        &state,
        &user,
        &key,
        &form,
        action,
        async |d, k| d.silence(k, until).await,
        |what| {
            flash(
                format!(
                    "Silenced {what} until {}: no message about it before then.",
                    format::when(until)
                ),
                &key,
                "unsilence",
                "Lift the silence",
            )
        },
    )
    .await
}

/// `POST /violations/{key}/unack`: reminders resume.
pub async fn unacknowledge(
    State(state): State<AppState>,
    PageAdmin(user): PageAdmin,
    Path(key): Path<String>,
    Form(form): Form<ActionForm>,
) -> Result<Response, PageError> {
    let action = Action {
        doing: "take an acknowledgement back",
        done: "acknowledgement taken back from the dashboard",
    };
    on_violation(
        &state,
        &user,
        &key,
        &form,
        action,
        async |d, k| d.unacknowledge(k).await,
        |what| {
            flash(
                format!("{what} is no longer acknowledged: reminders resume."),
                &key,
                "ack",
                "Acknowledge again",
            )
        },
    )
    .await
}

/// `POST /violations/{key}/unsilence`: its messages are sent again from now on.
pub async fn unsilence(
    State(state): State<AppState>,
    PageAdmin(user): PageAdmin,
    Path(key): Path<String>,
    Form(form): Form<ActionForm>,
) -> Result<Response, PageError> {
    let action = Action {
        doing: "lift a silence",
        done: "silence lifted from the dashboard",
    };
    on_violation(
        &state,
        &user,
        &key,
        &form,
        action,
        async |d, k| d.unsilence(k).await,
        |what| Flash {
            message: format!("The silence on {what} is lifted: its messages are sent again."),
            undo: None,
            watch: None,
        },
    )
    .await
}

/// What a violation action is called in an error (`doing`) and in the log once `done`.
struct Action {
    doing: &'static str,
    done: &'static str,
}

/// Every violation action from its form to the page it came from: checks the CSRF token,
/// runs `change` on the alert book, answers 404 when the key is not tracked (any more), logs
/// that it was done, and leaves the flash `say` writes about the violation in words.
async fn on_violation(
    state: &AppState,
    user: &crate::auth::User,
    key: &str,
    form: &ActionForm,
    action: Action,
    change: impl AsyncFnOnce(&Daemon, &str) -> portwatch_monitor::Result<bool>,
    say: impl FnOnce(String) -> Flash,
) -> Result<Response, PageError> {
    let daemon = admit(user, form, state)?;
    let changed = change(daemon, key).await;
    let what = tracked(daemon, key, action.doing, changed).await?;
    tracing::info!(user = %user.name, key = %key, "{}", action.done);
    state.set_flash(user, say(what));
    Ok(back(form))
}

/// What every violation action does once it `changed` the book: a 500 when that failed
/// (saying what it was `doing`), a 404 when the key is not tracked (any more), else the
/// violation in words ([`describe`]) for the flash.
async fn tracked(
    daemon: &Daemon,
    key: &str,
    doing: &'static str,
    changed: portwatch_monitor::Result<bool>,
) -> Result<String, PageError> {
    if !changed.map_err(|e| PageError::internal(doing, e))? {
        return Err(gone());
    }
    Ok(describe(daemon, key).await)
}

/// A tracked violation in words: `445/tcp on 10.0.0.5 (group lab, must be closed)`.
async fn describe(daemon: &Daemon, key: &str) -> String {
    let book = daemon.book().await;
    let Some(f) = book.get(key).map(|e| &e.finding) else {
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
        watch: None,
    }
}

fn gone() -> PageError {
    PageError::NotFound(
        "That violation is no longer tracked: it was resolved or forgotten meanwhile.".into(),
    )
}
