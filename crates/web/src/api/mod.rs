//! The REST API under `/api/v1`, its OpenAPI document and Swagger UI.
//!
//! Every answer is JSON; errors are `{"error": "…"}` with the right status (unknown query
//! parameters, bad path values and bad bodies included). Every route needs a bearer token or a
//! dashboard session (with `X-CSRF-Token` on POST); acting routes need the admin role.

pub mod agent;
pub mod alerts;
pub mod docs;
pub mod extract;
pub mod hosts;
pub mod model;
pub mod policies;
pub mod ports;
pub mod query;
pub mod scans;
pub mod violations;

use crate::auth::User;
use crate::error::ApiError;
use crate::state::AppState;
use axum::Router;
use axum::http::{Method, StatusCode, Uri};
use axum::routing::{any, get};
use utoipa::OpenApi;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

/// Where the versioned API lives.
pub const PREFIX: &str = "/api/v1";

/// A method the route does not have: 405 as JSON (after authentication, like everything).
async fn method_not_allowed(_user: User, method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} does not accept {method}", uri.path()),
    )
}

/// A path under `/api/` that is not a route: 404 as JSON (after authentication).
async fn no_route(_user: User, uri: Uri) -> ApiError {
    ApiError::not_found(format!(
        "no API route {}; see {} for the list",
        extract::echo(uri.path()),
        docs::OPENAPI_PATH
    ))
}

/// Routes of one path, answering other methods with a JSON 405.
fn json_405(r: UtoipaMethodRouter<AppState>) -> UtoipaMethodRouter<AppState> {
    r.map(|m| m.fallback(method_not_allowed))
}

/// The documented routes, with their document.
fn documented() -> OpenApiRouter<AppState> {
    let v1 = OpenApiRouter::new()
        .routes(json_405(routes!(hosts::list)))
        .routes(json_405(routes!(hosts::detail)))
        .routes(json_405(routes!(hosts::history)))
        .routes(json_405(routes!(scans::list, scans::request)))
        .routes(json_405(routes!(scans::detail)))
        .routes(json_405(routes!(
            scans::request_status,
            scans::cancel_request
        )))
        .routes(json_405(routes!(violations::list)))
        .routes(json_405(routes!(
            violations::acknowledge,
            violations::unacknowledge
        )))
        .routes(json_405(routes!(
            violations::silence,
            violations::unsilence
        )))
        .routes(json_405(routes!(alerts::list)))
        .routes(json_405(routes!(policies::list)))
        .routes(json_405(routes!(ports::explain)))
        .routes(json_405(routes!(agent::list)));
    OpenApiRouter::with_openapi(docs::ApiDoc::openapi())
        .nest(PREFIX, v1)
        .routes(json_405(routes!(docs::document)))
        .routes(json_405(routes!(docs::index)))
}

/// The agent routes (their bodies may be larger: a result lists a whole scan).
fn documented_agent() -> OpenApiRouter<AppState> {
    let v1 = OpenApiRouter::new()
        .routes(json_405(routes!(agent::poll)))
        .routes(json_405(routes!(agent::renew)))
        .routes(json_405(routes!(agent::push)));
    OpenApiRouter::new().nest(PREFIX, v1)
}

/// The OpenAPI document, generated from the handlers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = documented().merge(documented_agent()).into_openapi();
    docs::finish(&mut doc);
    doc
}

/// The agent routes under `/api/v1/agent/`, with their own body limit.
pub fn agent_router() -> Router<AppState> {
    let (routes, _doc) = documented_agent().split_for_parts();
    routes.layer(tower_http::limit::RequestBodyLimitLayer::new(
        agent::MAX_RESULT_BYTES,
    ))
}

/// API routes: `/api/v1/…`, `/api/openapi.json`, `/api/docs/`, and JSON 404s under `/api/`.
pub fn router() -> Router<AppState> {
    let (routes, _doc) = documented().split_for_parts();
    routes
        .route("/api/docs", get(docs::to_index))
        .route("/api/docs/{*file}", get(docs::asset))
        .route("/api/{*rest}", any(no_route))
        .route("/api", any(no_route))
}
