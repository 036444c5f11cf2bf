//! Extractors whose failures are JSON errors (`{"error": "…"}`) with the right status, never
//! axum's plain-text rejections, and the parsers for path parameters.

use crate::error::ApiError;
use axum::extract::{FromRequest, FromRequestParts, Json, Path, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use portwatch_store::ScanId;
use serde::de::DeserializeOwned;
use std::net::IpAddr;

/// Longest value echoed back in an error message.
const ECHO_MAX: usize = 64;

/// `value` as it may appear in an error message: at most [`ECHO_MAX`] characters.
pub(crate) fn echo(value: &str) -> String {
    if value.chars().count() <= ECHO_MAX {
        return value.to_string();
    }
    let cut: String = value.chars().take(ECHO_MAX).collect();
    format!("{cut}…")
}

/// A JSON request body: malformed JSON is 400, a wrong content type 415, missing, extra or
/// mistyped fields 422, a body over the limit 413.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<serde_json::Value>::from_request(req, state).await {
            // serde would also build a struct from a JSON array of its fields, in order;
            // every body of this API is an object, and anything else is a client bug.
            Ok(Json(value)) if !value.is_object() => Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "the request body must be a JSON object",
            )),
            Ok(Json(value)) => serde_json::from_value(value).map(ApiJson).map_err(|e| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("the request body does not match the expected shape: {e}"),
                )
            }),
            Err(rejection) => {
                let status = rejection.status();
                let message = match status {
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                        "the request body must be JSON: send `Content-Type: application/json`"
                            .to_string()
                    }
                    StatusCode::PAYLOAD_TOO_LARGE => format!(
                        "the request body is larger than {} bytes",
                        crate::security::MAX_BODY_BYTES
                    ),
                    _ => rejection.body_text(),
                };
                Err(ApiError::new(status, message))
            }
        }
    }
}

/// Path parameters, with decoding failures (invalid UTF-8 after percent-decoding) as JSON.
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| ApiPath(v))
            .map_err(|r| ApiError::new(r.status(), r.body_text()))
    }
}

/// The `addr` path parameter: an IPv4 or IPv6 address.
pub fn parse_addr(text: &str) -> Result<IpAddr, ApiError> {
    text.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "path parameter 'addr': '{}' is not an IP address (like 10.0.0.5 or fe80::1)",
            echo(text)
        ))
    })
}

/// The `id` path parameter of a scan: a positive integer.
pub fn parse_scan_id(text: &str) -> Result<ScanId, ApiError> {
    parse_positive_id(text, "scan id").map(ScanId)
}

/// An `id` path parameter that is a positive integer in plain digits; `what` names it in the
/// error ("scan id", "scan request id").
pub fn parse_positive_id(text: &str, what: &str) -> Result<i64, ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "path parameter 'id': '{}' is not a {what} (a positive integer)",
            echo(text)
        ))
    };
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match text.parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(bad()),
    }
}

/// A port number, 1 to 65535, named `name` in errors (`where_` says path or query).
pub fn parse_port(text: &str, where_: &str, name: &str) -> Result<u16, ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "{where_} parameter '{name}': '{}' is not a port number (1-65535)",
            echo(text)
        ))
    };
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match text.parse::<u32>() {
        Ok(p @ 1..=65535) => u16::try_from(p).map_err(|_| bad()),
        _ => Err(bad()),
    }
}

/// Longest alert key accepted.
const KEY_MAX: usize = 512;

/// The rule names that end a violation key.
const RULES: [&str; 4] = ["MustBeClosed", "Unexpected", "ExpectedOpen", "HostDown"];

/// The `key` path parameter of a violation: `GROUP|HOST|PORT/PROTO|RULE` or `GROUP|HOST|RULE`
/// (the group may itself contain `|`, so the key is read from the right). A key longer than
/// [`KEY_MAX`] characters or with a control character is a bad request (400), as the OpenAPI
/// document states; any other text that is not a key names no violation (404), with the
/// reason in the message.
pub fn parse_key(text: &str) -> Result<String, ApiError> {
    let explain = |why: &str| {
        format!(
            "'{}' is not a violation key ({why}); keys look like GROUP|HOST|PORT/PROTO|RULE \
             (then |from:VANTAGE when seen from a vantage other than local), percent-encoded",
            echo(text)
        )
    };
    if text.chars().count() > KEY_MAX {
        return Err(ApiError::bad_request(format!(
            "path parameter 'key': {}",
            explain("longer than 512 characters")
        )));
    }
    if text.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "path parameter 'key': {}",
            explain("it contains control characters")
        )));
    }
    let bad =
        |why: &str| ApiError::not_found(format!("no current violation with key: {}", explain(why)));
    let mut finding = text;
    if let Some((rest, vantage)) = text.rsplit_once("|from:") {
        portwatch_monitor::config::vantage::check_name(vantage).map_err(|_| bad("bad vantage"))?;
        finding = rest;
    }
    let (rest, rule) = finding
        .rsplit_once('|')
        .ok_or_else(|| bad("too few parts"))?;
    if !RULES.contains(&rule) {
        return Err(bad("unknown rule"));
    }
    let (rest, last) = rest.rsplit_once('|').ok_or_else(|| bad("too few parts"))?;
    let (group, host) = match last.split_once('/') {
        Some((number, proto)) => {
            parse_port(number, "path", "key").map_err(|_| bad("bad port"))?;
            if !matches!(proto, "tcp" | "udp") {
                return Err(bad("bad protocol"));
            }
            rest.rsplit_once('|').ok_or_else(|| bad("too few parts"))?
        }
        None => (rest, last),
    };
    if group.is_empty() {
        return Err(bad("empty group"));
    }
    host.parse::<IpAddr>()
        .map_err(|_| bad("bad host address"))?;
    Ok(text.to_string())
}
