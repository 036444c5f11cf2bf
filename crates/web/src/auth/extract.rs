//! Extractors that authenticate a request: `User` and `Admin` for the API (401/403 JSON),
//! `Page` and `PageAdmin` for the dashboard (redirect to the login page, or 403).

use super::session::{SESSION_COOKIE, Session};
use super::tokens::{self, Role};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

/// Header carrying the CSRF token when the API is used with a session cookie.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The token's id.
    pub token_id: i64,
    /// The token's name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// The dashboard session, when the request came with a cookie instead of a bearer token.
    pub session: Option<Session>,
}

/// A request by an admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin(pub User);

/// A request by an agent (bearer token with the `agent` role), and its vantage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentUser {
    /// The token's id.
    pub token_id: i64,
    /// The token's name.
    pub name: String,
    /// The vantage the token is bound to.
    pub vantage: String,
}

/// What an agent token may not do.
const AGENT_ONLY: &str = "an agent token may call only the agent endpoints (/api/v1/agent/…)";

/// A dashboard request with a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page(pub User);

/// A dashboard request by an admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageAdmin(pub User);

/// Now, in Unix seconds (the clock of session expiry).
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The live session of a request's cookies, if any (see [`AppState::session`]).
pub(crate) async fn session_of(
    headers: &HeaderMap,
    state: &AppState,
) -> portwatch_store::Result<Option<Session>> {
    let cookies = headers.get_all(header::COOKIE);
    let values = cookies
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, v)| v.to_string())
        .collect::<Vec<_>>();
    for v in values {
        if let Some(s) = state.session(&v, now_secs()).await? {
            return Ok(Some(s));
        }
    }
    Ok(None)
}

async fn bearer_user(
    parts: &Parts,
    state: &AppState,
) -> Result<Option<(User, Option<String>)>, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| ApiError::unauthorized())?;
    let token = text
        .strip_prefix("Bearer ")
        .or_else(|| text.strip_prefix("bearer "))
        .ok_or_else(ApiError::unauthorized)?
        .trim();
    if !tokens::well_formed(token) {
        return Err(ApiError::unauthorized());
    }
    let Some(row) = state.store().find_token(&tokens::hash(token)).await? else {
        return Err(ApiError::unauthorized());
    };
    if state.token_use_due(row.id) {
        let _ = state.store().touch_token(row.id).await;
    }
    let role = row.role.parse::<Role>().map_err(ApiError::internal)?;
    Ok(Some((
        User {
            token_id: row.id,
            name: row.name,
            role,
            session: None,
        },
        row.vantage,
    )))
}

fn is_safe_method(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequestParts<AppState> for User {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some((user, _)) = bearer_user(parts, state).await? {
            if user.role == Role::Agent {
                return Err(ApiError::forbidden(AGENT_ONLY));
            }
            return Ok(user);
        }
        let session = session_of(&parts.headers, state)
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        if session.role == Role::Agent {
            return Err(ApiError::forbidden(AGENT_ONLY));
        }
        if !is_safe_method(&parts.method) {
            let provided = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !session.csrf_ok(provided) {
                return Err(ApiError::forbidden(
                    "missing or wrong CSRF token (send the X-CSRF-Token header)",
                ));
            }
        }
        Ok(User {
            token_id: session.token_id,
            name: session.name.clone(),
            role: session.role,
            session: Some(session),
        })
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = User::from_request_parts(parts, state).await?;
        if user.role != Role::Admin {
            return Err(ApiError::forbidden("this action needs an admin token"));
        }
        Ok(Admin(user))
    }
}

impl FromRequestParts<AppState> for AgentUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some((user, vantage)) = bearer_user(parts, state).await? else {
            return Err(ApiError::unauthorized());
        };
        match (user.role, vantage) {
            (Role::Agent, Some(vantage)) => Ok(AgentUser {
                token_id: user.token_id,
                name: user.name,
                vantage,
            }),
            _ => Err(ApiError::forbidden(
                "the agent endpoints need an agent token, not a viewer or admin token \
                 (portwatch token create --role agent --vantage NAME)",
            )),
        }
    }
}

/// Sends people without a session to the login page, and back afterwards.
pub struct LoginRedirect(String);

impl IntoResponse for LoginRedirect {
    fn into_response(self) -> Response {
        Redirect::to(&format!(
            "/login?next={}",
            crate::pages::format::encode_path(&self.0)
        ))
        .into_response()
    }
}

impl FromRequestParts<AppState> for Page {
    type Rejection = LoginRedirect;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // A store that cannot be read is no session either: sign in again once it is back.
        match session_of(&parts.headers, state).await.ok().flatten() {
            Some(s) => Ok(Page(User {
                token_id: s.token_id,
                name: s.name.clone(),
                role: s.role,
                session: Some(s),
            })),
            None => Err(LoginRedirect(parts.uri.path().to_string())),
        }
    }
}

/// Why a dashboard action was refused.
pub enum PageRefusal {
    /// Not signed in.
    Login(LoginRedirect),
    /// Signed in without the admin role.
    Forbidden,
}

impl IntoResponse for PageRefusal {
    fn into_response(self) -> Response {
        match self {
            PageRefusal::Login(r) => r.into_response(),
            PageRefusal::Forbidden => {
                (StatusCode::FORBIDDEN, "This action needs an admin token.").into_response()
            }
        }
    }
}

impl FromRequestParts<AppState> for PageAdmin {
    type Rejection = PageRefusal;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Page(user) = Page::from_request_parts(parts, state)
            .await
            .map_err(PageRefusal::Login)?;
        if user.role != Role::Admin {
            return Err(PageRefusal::Forbidden);
        }
        Ok(PageAdmin(user))
    }
}
