//! Layers on every answer: security headers, a request body limit, and a request timeout.

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use std::time::Duration;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

/// Largest request body accepted (forms and JSON are small).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The dashboard's content security policy: our own scripts, styles and images only.
pub const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
                       frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// Limits request bodies to [`MAX_BODY_BYTES`] on `routes`.
pub fn body_limit<S: Clone + Send + Sync + 'static>(routes: Router<S>) -> Router<S> {
    routes.layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
}

/// Wraps `app` in the security layers.
pub fn layers(app: Router) -> Router {
    let header = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    app.layer(TimeoutLayer::with_status_code(
        axum::http::StatusCode::REQUEST_TIMEOUT,
        Duration::from_secs(30),
    ))
    .layer(header(header::CONTENT_SECURITY_POLICY, CSP))
    .layer(header(header::X_FRAME_OPTIONS, "DENY"))
    .layer(header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
    .layer(header(header::REFERRER_POLICY, "no-referrer"))
    .layer(header(
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    ))
    .layer(header(
        HeaderName::from_static("permissions-policy"),
        "camera=(), microphone=(), geolocation=()",
    ))
    .layer(header(header::CACHE_CONTROL, "no-store"))
}
