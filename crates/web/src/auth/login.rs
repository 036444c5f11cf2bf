//! Signing in with a token (rate limited per client address), and out (which ends the session
//! on the server, not only the browser's copy).

use super::extract::{now_secs, session_of};
use super::session::clear_cookie;
use crate::client::Client;
use crate::state::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

/// Query of the login page.
#[derive(Debug, Deserialize)]
pub struct Next {
    /// Where to go after signing in.
    next: Option<String>,
}

/// The login form.
#[derive(Debug, Deserialize)]
pub struct Credentials {
    /// The token.
    token: String,
    /// Where to go after signing in.
    next: Option<String>,
}

/// The logout form.
#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    /// The session's CSRF token.
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

/// A local path to return to (never another site).
pub(crate) fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.contains("://") =>
        {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

/// The sign-in page (`templates/login.html`; askama escapes the message and `next`).
#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    /// Why the last attempt failed, if it did.
    message: Option<&'a str>,
    /// Where to go after signing in (already a local path, see [`safe_next`]).
    next: &'a str,
}

fn page(status: StatusCode, message: Option<&str>, next: &str) -> Response {
    (status, crate::pages::render(&LoginPage { message, next })).into_response()
}

/// `GET /login`.
pub async fn form(
    State(state): State<AppState>,
    Query(q): Query<Next>,
    headers: HeaderMap,
) -> Response {
    let next = safe_next(q.next.as_deref());
    if session_of(&headers, &state).await.ok().flatten().is_some() {
        return Redirect::to(&next).into_response();
    }
    page(StatusCode::OK, None, &next)
}

/// `POST /login`.
pub async fn submit(
    State(state): State<AppState>,
    client: Client,
    Form(c): Form<Credentials>,
) -> Response {
    let next = safe_next(c.next.as_deref());
    if let Err(wait) = state.login_allowed(client.ip) {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut answer = page(
            StatusCode::TOO_MANY_REQUESTS,
            Some("Too many attempts; wait a minute and try again."),
            &next,
        );
        answer.headers_mut().insert(
            header::RETRY_AFTER,
            axum::http::HeaderValue::from(seconds.max(1)),
        );
        return answer;
    }
    let Some(session) = state.sign_in(&c.token, now_secs()).await.ok().flatten() else {
        return page(
            StatusCode::UNAUTHORIZED,
            Some("That token is not valid."),
            &next,
        );
    };
    (
        [(header::SET_COOKIE, session.set_cookie(state.session_key()))],
        Redirect::to(&next),
    )
        .into_response()
}

/// `POST /logout`.
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<LogoutForm>,
) -> Response {
    match session_of(&headers, &state).await.ok().flatten() {
        Some(s) if s.csrf_ok(&f.csrf) => {
            state.end_session(&s);
            (
                [(header::SET_COOKIE, clear_cookie())],
                Redirect::to("/login"),
            )
                .into_response()
        }
        Some(_) => (StatusCode::FORBIDDEN, "missing or wrong CSRF token").into_response(),
        None => Redirect::to("/login").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_never_leaves_the_site() {
        assert_eq!(safe_next(Some("/hosts/10.0.0.5")), "/hosts/10.0.0.5");
        for evil in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "javascript:alert(1)",
            "",
        ] {
            assert_eq!(safe_next(Some(evil)), "/", "{evil}");
        }
    }

    #[test]
    fn the_page_escapes_what_it_echoes() {
        let html = LoginPage {
            message: Some("<b>no</b>"),
            next: "/\"><script>",
        }
        .render()
        .unwrap();
        assert!(
            !html.contains("<b>") && !html.contains("<script>"),
            "{html}"
        );
        assert!(
            html.contains(r#"<p class="notice" role="alert">&#60;b&#62;no&#60;/b&#62;</p>"#),
            "{html}"
        );
        assert!(
            html.contains(r#"name="next" value="/&#34;&#62;&#60;script&#62;""#),
            "{html}"
        );
        let plain = LoginPage {
            message: None,
            next: "/config",
        }
        .render()
        .unwrap();
        assert!(
            !plain.contains("notice") && plain.contains(r#"value="/config""#),
            "{plain}"
        );
        assert!(plain.contains(r#"name="token" type="password""#), "{plain}");
    }
}
