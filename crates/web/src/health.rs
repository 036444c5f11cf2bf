//! `/healthz` (the process answers; no token needed) and `/readyz` (the store answers and the
//! monitor runs; token needed like everything else).

use crate::auth::User;
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;

/// Health routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// `ready`, then with a monitor running here a line on scheduling: `scheduler: leader`
/// (this replica holds the lease) or `scheduler: follower`, with the lease's holder and token.
async fn readyz(State(state): State<AppState>, _user: User) -> impl IntoResponse {
    if state.store().scans(1, None).await.is_err() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "store unavailable\n".to_string(),
        );
    }
    let mut body = "ready\n".to_string();
    if let Some(daemon) = state.daemon() {
        let me = daemon.leadership();
        let name = daemon.settings().await.cluster.lease_name.clone();
        let role = if me.leader { "leader" } else { "follower" };
        body.push_str(&format!("scheduler: {role}"));
        if let Ok(Some(lease)) = state.store().lease_holder(&name).await {
            body.push_str(&format!(
                " (holder {}, token {})",
                lease.holder, lease.token
            ));
        }
        body.push('\n');
    }
    (StatusCode::OK, body)
}
