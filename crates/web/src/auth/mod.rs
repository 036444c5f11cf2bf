//! Authentication and authorisation: API tokens (`Authorization: Bearer`, stored hashed),
//! dashboard sessions (a signed cookie, HttpOnly, SameSite=Strict, Secure, with a CSRF token,
//! plus a server-side record that logout removes and that checks the token on every request),
//! login rate limiting, logout. Everything but `/healthz` requires one or the other.

mod extract;
mod login;
mod session;
pub mod tokens;

pub use extract::{Admin, AgentUser, Page, PageAdmin, User, now_secs};
pub use session::{SESSION_COOKIE, SESSION_SECONDS, Session};
pub use tokens::Role;

use crate::state::AppState;
use axum::Router;
use axum::routing::{get, post};

/// `/login` and `/logout`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
}
