//! What a page shows when it cannot show what was asked: a small HTML page with the status,
//! a sentence saying what went wrong, and a way back.

use super::render;
use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Why a dashboard request failed.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// Nothing by that name (host, port, violation, group).
    #[error("{0}")]
    NotFound(String),
    /// The request itself is wrong (a bad port number, an unknown transport).
    #[error("{0}")]
    BadRequest(String),
    /// The session's CSRF token was missing or wrong.
    #[error("the form's CSRF token is missing or wrong: reload the page and try again")]
    Csrf,
    /// The action needs the monitor, which does not run in this process.
    #[error("no monitor runs in this process, so there is nothing to scan, acknowledge or silence")]
    NoDaemon,
    /// The store or the monitor failed; details go to the log only.
    #[error("internal error (see the server log)")]
    Internal,
}

impl PageError {
    /// A 500 that logs `e` with what was being done.
    pub fn internal(doing: &str, e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "dashboard failed to {doing}");
        PageError::Internal
    }

    fn status(&self) -> StatusCode {
        match self {
            PageError::NotFound(_) => StatusCode::NOT_FOUND,
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::Csrf => StatusCode::FORBIDDEN,
            PageError::NoDaemon => StatusCode::SERVICE_UNAVAILABLE,
            PageError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<portwatch_store::StoreError> for PageError {
    fn from(e: portwatch_store::StoreError) -> Self {
        PageError::internal("read the store", e)
    }
}

/// The error page (it has no navigation that needs a session: it may be shown to anyone).
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    code: u16,
    reason: &'static str,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.status();
        let page = ErrorPage {
            code: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("Error"),
            message: self.to_string(),
        };
        (status, render(&page)).into_response()
    }
}
