//! Errors: `WebError` for starting the server, `ApiError` for answers (`{"error": "…"}` with
//! the right status).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;

/// Why the server could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// Binding or serving failed.
    #[error("cannot serve on {listen}: {source}")]
    Bind {
        /// The address.
        listen: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A non-loopback address without any token.
    #[error(
        "refusing to serve on {listen} without an API token: anyone who can reach it would see \
         your scan history. Create one with `portwatch token create --role admin`, or listen on \
         127.0.0.1"
    )]
    Unprotected {
        /// The address.
        listen: SocketAddr,
    },
    /// A non-loopback address over plain HTTP, with no TLS proxy in front.
    #[error(
        "refusing to serve plain HTTP on {listen}: tokens and session cookies would cross the \
         network in clear. Give --tls-cert FILE --tls-key FILE, or put a TLS proxy in front and \
         name it with --trusted-proxy CIDR, or accept clear text with --insecure-http"
    )]
    PlainHttp {
        /// The address.
        listen: SocketAddr,
    },
    /// A certificate or key file that cannot be used.
    #[error("TLS: {}: {message}", path.display())]
    Tls {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        message: String,
    },
}

/// An error answer of the API: a status and a message, rendered as `{"error": message}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// What went wrong, for the client.
    pub message: String,
}

impl ApiError {
    /// An error with `status`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    /// 401.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "authentication required: send `Authorization: Bearer <token>` (create one with `portwatch token create`)",
        )
    }
    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }
    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    /// 503: the daemon is not running in this process.
    pub fn no_daemon() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no monitor is running in this process",
        )
    }
    /// 500, logging the details but showing only a generic message.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error (see the server log)",
        )
    }
}

impl From<portwatch_store::StoreError> for ApiError {
    fn from(e: portwatch_store::StoreError) -> Self {
        ApiError::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response()
    }
}
