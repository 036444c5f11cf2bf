//! portwatch's web face: the dashboard (server-rendered, readable without JavaScript), the
//! REST API (`/api/v1`, OpenAPI at `/api/openapi.json`, Swagger UI at `/api/docs`), token and
//! session authentication with CSRF protection, Prometheus metrics and health checks.
//!
//! Owns: HTTP only. Reads history from the store and asks the monitor daemon for actions (scan
//! now, acknowledge, silence); it never scans or writes history itself.

pub mod api;
pub mod auth;
pub mod error;
pub mod health;
pub mod metrics;
pub mod pages;
pub mod security;
pub mod state;

pub use error::{ApiError, WebError};
pub use state::AppState;

use axum::Router;
use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;

/// Every route: dashboard, API, auth, health and metrics, with the security layers.
pub fn router(state: AppState) -> Router {
    let app = Router::new()
        .merge(health::router())
        .merge(auth::router())
        .merge(metrics::router())
        .merge(api::router())
        .merge(pages::router())
        .with_state(state);
    security::layers(app)
}

/// Refuses to serve on a non-loopback address while no token exists: anyone on the network
/// could otherwise reach whatever the defaults allowed.
pub fn check_listen_safety(listen: SocketAddr, tokens: usize) -> Result<(), WebError> {
    if !listen.ip().is_loopback() && tokens == 0 {
        return Err(WebError::Unprotected { listen });
    }
    Ok(())
}

/// Binds `listen`, so that a taken address is an error before anything else starts.
pub async fn bind(listen: SocketAddr) -> Result<tokio::net::TcpListener, WebError> {
    tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| WebError::Bind { listen, source })
}

/// Serves `state` on `listen` until `shutdown` is cancelled.
pub async fn serve(
    state: AppState,
    listen: SocketAddr,
    shutdown: CancellationToken,
) -> Result<(), WebError> {
    serve_on(state, bind(listen).await?, shutdown).await
}

/// Serves `state` on a bound `listener` until `shutdown` is cancelled.
pub async fn serve_on(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> Result<(), WebError> {
    let listen = listener.local_addr().map_err(|source| WebError::Bind {
        listen: SocketAddr::from(([0, 0, 0, 0], 0)),
        source,
    })?;
    tracing::info!(listen = %listen, "dashboard and API listening");
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await
    .map_err(|source| WebError::Bind { listen, source })
}
