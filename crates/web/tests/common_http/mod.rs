//! Shared by the web tests' harnesses (`common_api`, `common_pages`) and `network.rs`: the
//! TLS provider, a client that shows redirects instead of following them, a monitor daemon
//! made from a configuration's text, and the crate's router served on a loopback port.

#![allow(dead_code)]

use anyhow::Result;
use portwatch_monitor::daemon::Daemon;
use portwatch_store::Store;
use portwatch_web::AppState;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Installs ring as the process's TLS provider (reqwest is built with rustls but without one);
/// idempotent.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A client that does not follow redirects (tests look at them).
pub fn client() -> reqwest::Client {
    install_tls_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a reqwest client")
}

/// A monitor daemon configured by `text` over `store`. With `run_until`, its loops run until
/// that is cancelled; without, they never start (the tests call its actions themselves).
pub async fn daemon_for(
    text: &str,
    store: &Store,
    run_until: Option<CancellationToken>,
) -> Result<Arc<Daemon>> {
    let settings = portwatch_monitor::config::parse(text, std::path::Path::new("test.toml"))?;
    let daemon = Daemon::new(settings, store.clone()).await?;
    if let Some(stop) = run_until {
        let running = daemon.clone();
        tokio::spawn(async move { running.run(stop).await });
    }
    Ok(daemon)
}

/// Serves the crate's router over `state` on a free loopback port until `stop` is cancelled;
/// the address it listens on.
pub async fn serve_router(state: AppState, stop: CancellationToken) -> Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = portwatch_web::router(state);
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await;
    });
    Ok(addr)
}
