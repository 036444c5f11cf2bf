//! The dashboard: server-rendered pages (askama templates under `templates/`), readable
//! without JavaScript, under the strict content security policy (no inline style or script:
//! the stylesheet is served from `/static`, charts are inline SVG drawn on the server).
//!
//! Pages: `/` (overview), `/hosts/{addr}`, `/ports/{port}`, `/config`. Admin actions are POST
//! forms carrying the session's CSRF token, answered with a 303 back to the page:
//! `/groups/{name}/scan`, `/violations/{key}/ack`, `/violations/{key}/silence`, and their
//! undoing `/scans/requests/{id}/cancel`, `/violations/{key}/unack`,
//! `/violations/{key}/unsilence`; the page they return to says what was done. After a scan
//! now, `/static/portwatch.js` follows the request and refreshes the page when it ends. Any other path gets the 404 page ([`not_found`]).

mod actions;
mod config;
pub mod details;
pub mod error;
pub mod exposure;
pub mod format;
mod host;
pub mod layout;
mod overview;
pub mod pager;
mod port;
pub mod source;
pub mod svg;

use crate::state::AppState;
use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use std::sync::Arc;

/// The dashboard's stylesheet.
const CSS: &str = include_str!("../../static/portwatch.css");

/// The dashboard's one script: it follows a "scan now" the flash reports and refreshes the
/// page's figures when the scan ends. Every page works without it.
const JS: &str = include_str!("../../static/portwatch.js");

/// Page routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(overview::overview))
        .route("/hosts/{addr}", get(host::host))
        .route("/ports/{port}", get(port::port))
        .route("/config", get(config::config))
        .route("/groups/{name}/scan", post(actions::scan_now))
        .route("/scans/requests/{id}/cancel", post(actions::cancel_scan))
        .route("/violations/{key}/ack", post(actions::acknowledge))
        .route("/violations/{key}/silence", post(actions::silence))
        .route("/violations/{key}/unack", post(actions::unacknowledge))
        .route("/violations/{key}/unsilence", post(actions::unsilence))
        .route("/static/portwatch.css", get(css))
        .route("/static/portwatch.js", get(js))
        .layer(Extension(Arc::new(exposure::ExposureCache::default())))
}

/// Renders a template as an HTML answer (a 500 if the template fails, which it should not).
pub(crate) fn render<T: Template>(page: &T) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a dashboard template failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error (see the server log)",
            )
                .into_response()
        }
    }
}

/// Any path no route serves (outside `/api/`, which answers JSON): the 404 page, naming the
/// path, with a way back to the overview.
pub async fn not_found(uri: axum::http::Uri) -> error::PageError {
    error::PageError::NotFound(format!(
        "There is no page at {}.",
        crate::api::extract::echo(uri.path())
    ))
}

async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            // Overrides the global no-store: the stylesheet is the same for everyone.
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        CSS,
    )
}

async fn js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        JS,
    )
}
