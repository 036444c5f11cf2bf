//! portwatch's web face: the dashboard (server-rendered, readable without JavaScript), the
//! REST API (`/api/v1`, OpenAPI at `/api/openapi.json`, Swagger UI at `/api/docs`), token and
//! session authentication with CSRF protection, Prometheus metrics and health checks.
//!
//! Owns: HTTP only. Reads history from the store and asks the monitor daemon for actions (scan
//! now, acknowledge, silence); it never scans or writes history itself.

pub mod api;
pub mod auth;
pub mod client;
pub mod error;
pub mod health;
pub mod metrics;
pub mod pages;
pub mod ratelimit;
pub mod security;
pub mod state;
pub mod tls;

pub use error::{ApiError, WebError};
pub use state::AppState;

use axum::Router;
use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;

/// Every route: dashboard, API, auth, health and metrics, with the security layers.
pub fn router(state: AppState) -> Router {
    let network = state.network().clone();
    let app = security::body_limit(
        Router::new()
            .merge(health::router())
            .merge(auth::router())
            .merge(metrics::router())
            .merge(api::router())
            .merge(pages::router())
            .fallback(pages::not_found),
    )
    .merge(api::agent_router())
    .with_state(state);
    security::layers(app).layer(axum::middleware::from_fn_with_state(network, client::layer))
}

/// Refuses to serve on a non-loopback address while no token exists (anyone on the network
/// could otherwise reach whatever the defaults allowed), or over plain HTTP with neither TLS
/// nor a trusted TLS proxy in front (tokens and cookies would cross the network in clear)
/// unless `insecure_http` accepts that.
pub fn check_listen_safety(
    listen: SocketAddr,
    tokens: usize,
    network: &client::Network,
    insecure_http: bool,
) -> Result<(), WebError> {
    if listen.ip().is_loopback() {
        return Ok(());
    }
    if tokens == 0 {
        return Err(WebError::Unprotected { listen });
    }
    if !network.tls && network.trusted_proxies.is_empty() && !insecure_http {
        return Err(WebError::PlainHttp { listen });
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

/// Ends the state's long polls when `shutdown` is cancelled (graceful shutdown waits for them).
fn link_stop(state: &AppState, shutdown: &CancellationToken) {
    let (stopping, shutdown) = (state.stopping().clone(), shutdown.clone());
    tokio::spawn(async move {
        shutdown.cancelled().await;
        stopping.cancel();
    });
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
    link_stop(&state, &shutdown);
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await
    .map_err(|source| WebError::Bind { listen, source })
}

/// Serves `state` over TLS with `certificates` on a bound `listener` until `shutdown` is
/// cancelled.
pub async fn serve_tls_on(
    state: AppState,
    listener: tokio::net::TcpListener,
    certificates: std::sync::Arc<tls::Certificates>,
    shutdown: CancellationToken,
) -> Result<(), WebError> {
    use axum::serve::ListenerExt;
    let config = certificates.server_config()?;
    let listen = listener.local_addr().map_err(|source| WebError::Bind {
        listen: SocketAddr::from(([0, 0, 0, 0], 0)),
        source,
    })?;
    let listener = tls::TlsListener::new(listener, config)
        .map_err(|source| WebError::Bind { listen, source })?;
    tracing::info!(listen = %listen, cert = %certificates.cert_path().display(), "dashboard and API listening (HTTPS)");
    link_stop(&state, &shutdown);
    // `tap_io` gives the listener axum's connect-info (the peer address) for free.
    axum::serve(
        listener.tap_io(|_| {}),
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await
    .map_err(|source| WebError::Bind { listen, source })
}
