//! The OpenAPI document (`/api/openapi.json`, generated from the handlers) and Swagger UI
//! (`/api/docs/`, served from the binary, no network needed). Both need a token or a
//! dashboard session, like everything but `/healthz`.

use super::model::ErrorBody;
use crate::auth::{SESSION_COOKIE, User};
use crate::error::ApiError;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use std::sync::{Arc, LazyLock};
use utoipa::OpenApi;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};

/// Where the document is served.
pub const OPENAPI_PATH: &str = "/api/openapi.json";
/// Where Swagger UI is served.
pub const DOCS_PATH: &str = "/api/docs/";

/// The content security policy of the Swagger UI pages: the global one (see
/// `crate::security::CSP`) plus `'unsafe-inline'` styles, which Swagger UI's rendering needs.
/// Its scripts are files served from here (no inline script, no `eval`).
pub const DOCS_CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
                            script-src 'self'; connect-src 'self'; frame-ancestors 'none'; \
                            form-action 'self'; base-uri 'none'";

/// The fixed part of the document; paths and schemas come from the handlers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "portwatch",
        description = "Scan history, open ports and their risk, policy violations and alerts of a \
                       portwatch monitor. Authenticate with `Authorization: Bearer <token>` (create \
                       one with `portwatch token create`), or with the dashboard's session cookie \
                       plus the `X-CSRF-Token` header on POST and DELETE. Times are RFC 3339 UTC."
    ),
    security(("bearer" = []), ("session" = [])),
    tags(
        (name = "hosts", description = "Hosts and their port history"),
        (name = "scans", description = "Scans, and asking for one now"),
        (name = "violations", description = "The monitor's current policy violations"),
        (name = "alerts", description = "Messages sent to notifiers"),
        (name = "policies", description = "Target groups and their rules"),
        (name = "ports", description = "The port knowledge base"),
        (name = "agents", description = "Remote agents: jobs for their vantage, results, and the list of agents"),
        (name = "docs", description = "This document and its viewer"),
    ),
    components(schemas(ErrorBody))
)]
pub struct ApiDoc;

/// Adds the security schemes and the answers every operation can give (401, 403 on POST,
/// 500) to a document whose paths are complete.
pub fn finish(doc: &mut utoipa::openapi::OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("pw_<64 hex digits>")
                .description(Some(
                    "An API token; viewer tokens read, admin tokens also act (scan now, \
                     acknowledge, silence).",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        "session",
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            SESSION_COOKIE,
            "The dashboard's session after signing in at /login; POST requests must also send \
             the session's CSRF token in the X-CSRF-Token header.",
        ))),
    );
    for item in doc.paths.paths.values_mut() {
        for (op, unsafe_method) in [
            (&mut item.get, false),
            (&mut item.post, true),
            (&mut item.put, true),
            (&mut item.delete, true),
            (&mut item.patch, true),
        ] {
            if let Some(op) = op.as_mut() {
                add_common_answers(op, unsafe_method);
            }
        }
    }
}

fn add_common_answers(op: &mut Operation, unsafe_method: bool) {
    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
    };
    let answers = &mut op.responses.responses;
    answers
        .entry("401".into())
        .or_insert_with(|| error("No valid token or session").into());
    if unsafe_method {
        answers.entry("403".into()).or_insert_with(|| {
            error("A viewer token, or a session without the X-CSRF-Token header").into()
        });
    }
    answers
        .entry("500".into())
        .or_insert_with(|| error("The store failed (details in the server log)").into());
}

/// The document as JSON.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    super::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!(r#"{{"error": "cannot render the document: {e}"}}"#))
});

/// The OpenAPI document of this API.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "docs",
    operation_id = "openapi_document",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"))
)]
pub async fn document(_user: User) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
        .into_response()
}

/// Swagger UI's settings: our document, no calls to the public validator.
static SWAGGER: LazyLock<Arc<utoipa_swagger_ui::Config<'static>>> = LazyLock::new(|| {
    Arc::new(
        utoipa_swagger_ui::Config::new([OPENAPI_PATH])
            .validator_url("none")
            .try_it_out_enabled(true),
    )
});

/// One file of Swagger UI, with the CSP it needs.
fn swagger_file(name: &str) -> Response {
    match utoipa_swagger_ui::serve(name, SWAGGER.clone()) {
        Ok(Some(file)) => {
            let mut response = (
                [
                    (header::CONTENT_TYPE, file.content_type),
                    (header::CONTENT_SECURITY_POLICY, DOCS_CSP.to_string()),
                ],
                file.bytes.into_owned(),
            )
                .into_response();
            if file.gzpipped {
                response
                    .headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            response
        }
        Ok(None) => ApiError::not_found(format!(
            "no file '{}' in the API documentation",
            super::extract::echo(name)
        ))
        .into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

/// A browser without a session goes to the login page; anything else gets the 401.
fn refuse(e: ApiError, headers: &HeaderMap) -> Response {
    let browser = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if e.status == StatusCode::UNAUTHORIZED && browser {
        return Redirect::to(&format!("/login?next={DOCS_PATH}")).into_response();
    }
    e.into_response()
}

/// Swagger UI, reading this API's document.
#[utoipa::path(
    get,
    path = "/api/docs/",
    tag = "docs",
    operation_id = "swagger_ui",
    responses(
        (status = 200, description = "Swagger UI (HTML)", content_type = "text/html"),
        (status = 303, description = "A browser without a session: to the login page"),
    )
)]
pub async fn index(user: Result<User, ApiError>, headers: HeaderMap) -> Response {
    match user {
        Ok(_) => swagger_file("index.html"),
        Err(e) => refuse(e, &headers),
    }
}

/// `/api/docs` without the slash: to the page.
pub async fn to_index(user: Result<User, ApiError>, headers: HeaderMap) -> Response {
    match user {
        Ok(_) => Redirect::to(DOCS_PATH).into_response(),
        Err(e) => refuse(e, &headers),
    }
}

/// Swagger UI's scripts, styles and images.
pub async fn asset(_user: User, Path(file): Path<String>) -> Response {
    swagger_file(&file)
}
