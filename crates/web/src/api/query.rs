//! Query parameters, checked one by one: each handler takes the names it knows, each value is
//! parsed with a message naming the parameter, and a name given twice or not known is an error.

use super::extract::{echo, parse_port};
use crate::error::ApiError;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;

/// Items per page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: u32 = 50;
/// Most items per page.
pub const MAX_LIMIT: u32 = 500;
/// Longest text value accepted in a query parameter.
const TEXT_MAX: usize = 255;

/// The query string of a request, as name/value pairs not yet taken.
pub struct QueryParams {
    pairs: Vec<(String, String)>,
    known: Vec<&'static str>,
}

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map_err(|_| ApiError::bad_request("the query string cannot be decoded"))?;
        Ok(QueryParams {
            pairs,
            known: Vec::new(),
        })
    }
}

/// Query parameters of one endpoint, read from the request's [`QueryParams`].
pub trait FromQuery: Sized {
    /// Takes and checks the parameters this endpoint knows.
    fn from_query(params: &mut QueryParams) -> Result<Self, ApiError>;
}

/// The checked query parameters of an endpoint; any parameter it does not know is a 400.
pub struct ApiQuery<T>(pub T);

impl<T: FromQuery, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let mut params = QueryParams::from_request_parts(parts, state).await?;
        let value = T::from_query(&mut params)?;
        params.finish()?;
        Ok(ApiQuery(value))
    }
}

/// An endpoint without query parameters.
pub struct NoQuery;

impl FromQuery for NoQuery {
    fn from_query(_params: &mut QueryParams) -> Result<Self, ApiError> {
        Ok(NoQuery)
    }
}

/// A value that must be one of a few words.
pub trait Choice: Sized + Copy + 'static {
    /// Every word and its value.
    const CHOICES: &'static [(&'static str, Self)];

    /// The value of `word`, if it is one of [`Choice::CHOICES`].
    fn from_word(word: &str) -> Option<Self> {
        Self::CHOICES
            .iter()
            .find(|(w, _)| *w == word)
            .map(|(_, v)| *v)
    }

    /// The words, for messages.
    fn words() -> String {
        Self::CHOICES
            .iter()
            .map(|(w, _)| *w)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `limit` and `offset`, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pagination {
    /// Items per page (1 to [`MAX_LIMIT`]).
    pub limit: u32,
    /// Items skipped.
    pub offset: u32,
}

impl QueryParams {
    /// The raw value of `name`, if given (once, and not empty).
    pub fn take(&mut self, name: &'static str) -> Result<Option<String>, ApiError> {
        self.known.push(name);
        let mut found = None;
        let mut rest = Vec::with_capacity(self.pairs.len());
        for (k, v) in std::mem::take(&mut self.pairs) {
            if k != name {
                rest.push((k, v));
            } else if found.is_some() {
                return Err(ApiError::bad_request(format!(
                    "query parameter '{name}' is given more than once"
                )));
            } else {
                found = Some(v);
            }
        }
        self.pairs = rest;
        match found {
            Some(v) if v.is_empty() => Err(ApiError::bad_request(format!(
                "query parameter '{name}' is empty"
            ))),
            other => Ok(other),
        }
    }

    /// A text value of at most 255 characters, each allowed by `allowed` (described by
    /// `what` in the error).
    pub fn text(
        &mut self,
        name: &'static str,
        allowed: fn(char) -> bool,
        what: &str,
    ) -> Result<Option<String>, ApiError> {
        let Some(v) = self.take(name)? else {
            return Ok(None);
        };
        if v.chars().count() > TEXT_MAX {
            return Err(ApiError::bad_request(format!(
                "query parameter '{name}' is longer than {TEXT_MAX} characters"
            )));
        }
        if !v.chars().all(allowed) {
            return Err(ApiError::bad_request(format!(
                "query parameter '{name}': '{}' may only contain {what}",
                echo(&v)
            )));
        }
        Ok(Some(v))
    }

    /// A vantage name (`local`, `lan`, `internet`, …: 1 to 32 of `a-z`, `0-9`, `-`).
    pub fn vantage(&mut self) -> Result<Option<String>, ApiError> {
        let Some(v) = self.take("vantage")? else {
            return Ok(None);
        };
        portwatch_monitor::config::vantage::check_name(&v).map_err(|_| {
            ApiError::bad_request(format!(
                "query parameter 'vantage': '{}' is not a vantage name (1 to 32 lowercase letters, digits and '-')",
                echo(&v)
            ))
        })?;
        Ok(Some(v))
    }

    /// One of the words of `T`.
    pub fn choice<T: Choice>(&mut self, name: &'static str) -> Result<Option<T>, ApiError> {
        let Some(v) = self.take(name)? else {
            return Ok(None);
        };
        T::from_word(&v).map(Some).ok_or_else(|| {
            ApiError::bad_request(format!(
                "query parameter '{name}': unknown value '{}' (expected one of: {})",
                echo(&v),
                T::words()
            ))
        })
    }

    /// `true` or `false`.
    pub fn boolean(&mut self, name: &'static str) -> Result<Option<bool>, ApiError> {
        match self.take(name)?.as_deref() {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => Err(ApiError::bad_request(format!(
                "query parameter '{name}': '{}' is not true or false",
                echo(other)
            ))),
        }
    }

    /// A port number (1-65535).
    pub fn port(&mut self, name: &'static str) -> Result<Option<u16>, ApiError> {
        self.take(name)?
            .map(|v| parse_port(&v, "query", name))
            .transpose()
    }

    /// A whole number from `min` to `max`.
    pub fn number(
        &mut self,
        name: &'static str,
        min: u32,
        max: u32,
    ) -> Result<Option<u32>, ApiError> {
        let Some(v) = self.take(name)? else {
            return Ok(None);
        };
        let n = (v.len() <= 10 && v.bytes().all(|b| b.is_ascii_digit()))
            .then(|| v.parse::<u64>().ok())
            .flatten()
            .filter(|n| (u64::from(min)..=u64::from(max)).contains(n));
        n.and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "query parameter '{name}': '{}' is not a whole number from {min} to {max}",
                    echo(&v)
                ))
            })
    }

    /// A positive integer id (`what` names it in the error, "scan id").
    pub fn positive_id(&mut self, name: &'static str, what: &str) -> Result<Option<i64>, ApiError> {
        let Some(v) = self.take(name)? else {
            return Ok(None);
        };
        let id = v
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| v.parse::<i64>().ok())
            .flatten()
            .filter(|id| *id > 0);
        id.map(Some).ok_or_else(|| {
            ApiError::bad_request(format!(
                "query parameter '{name}': '{}' is not a {what} (a positive integer)",
                echo(&v)
            ))
        })
    }

    /// `limit`: items per page, 1 to [`MAX_LIMIT`].
    pub fn limit(&mut self) -> Result<Option<u32>, ApiError> {
        self.number("limit", 1, MAX_LIMIT)
    }

    /// `offset`: items to skip.
    pub fn offset(&mut self) -> Result<Option<u32>, ApiError> {
        self.number("offset", 0, u32::MAX)
    }

    /// Fails if a parameter was given that no one took.
    pub fn finish(self) -> Result<(), ApiError> {
        let Some((name, _)) = self.pairs.first() else {
            return Ok(());
        };
        let known = if self.known.is_empty() {
            "this endpoint takes no query parameters".to_string()
        } else {
            format!("known: {}", self.known.join(", "))
        };
        Err(ApiError::bad_request(format!(
            "unknown query parameter '{}' ({known})",
            echo(name)
        )))
    }
}

impl Pagination {
    /// From the `limit` and `offset` parameters, with their defaults.
    pub fn new(limit: Option<u32>, offset: Option<u32>) -> Self {
        Pagination {
            limit: limit.unwrap_or(DEFAULT_LIMIT),
            offset: offset.unwrap_or(0),
        }
    }

    /// A page answer: `items` (read with this limit and offset) out of `total`.
    pub fn answer<T>(self, items: Vec<T>, total: u64) -> super::model::Page<T> {
        super::model::Page {
            items,
            total,
            limit: self.limit,
            offset: self.offset,
        }
    }
}
