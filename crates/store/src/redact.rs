//! Hiding the secrets of URLs, for messages, logs and pages. Every rule of it is here, so
//! the store's database name, the notifiers' `Debug` and errors, and the web's `/config`
//! page hide the same things the same way:
//!
//! - [`credentials`]: a URL (or a text with URLs in it) without its credentials, the rest as
//!   written: the password of `user:password@` (all of a `token@` that has no colon) and the
//!   values of query parameters that name a secret (`password=`, `token=`, `api_key=`, …).
//! - [`origin`]: only `scheme://host[:port]/…`, for URLs whose path is itself the secret
//!   (Slack, Discord or Teams webhooks).
//! - [`secret_name`]: whether a key or query parameter names a secret.

/// What a hidden part of a URL is replaced with.
pub const MASK: &str = "***";

/// Whether a key (or URL query parameter) names a secret: `secret`, `password`, `token`,
/// `credential…`, `auth…`, `key` and `*_key`, …; a `*_file` or `*_path` names where a secret
/// is, and is not one.
pub fn secret_name(key: &str) -> bool {
    const WORDS: [&str; 8] = [
        "secret",
        "password",
        "passwd",
        "token",
        "credential",
        "auth",
        "private",
        "apikey",
    ];
    let k = key.to_ascii_lowercase().replace('-', "_");
    if k.ends_with("_file") || k.ends_with("_path") {
        return false;
    }
    WORDS.iter().any(|w| k.contains(w))
        || k == "key"
        || k.ends_with("_key")
        || matches!(k.as_str(), "pass" | "pwd" | "sig" | "signature")
}

/// `text` with the credentials of every URL in it hidden (see the module): a URL runs from
/// its `scheme://` to the next space, quote or angle bracket. Everything else is kept as
/// written, so a text without URLs (or a `sqlite:` path) comes back unchanged.
pub fn credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '<' | '>'))
            .unwrap_or(tail.len());
        out.push_str(&after_scheme(&tail[..end]));
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// One URL after its `scheme://`.
fn after_scheme(url: &str) -> String {
    let authority_end = url.find(['/', '?', '#']).unwrap_or(url.len());
    let (authority, rest) = url.split_at(authority_end);
    let mut out = match authority.rfind('@') {
        Some(at) => match authority[..at].split_once(':') {
            Some((user, _)) => format!("{user}:{MASK}{}", &authority[at..]),
            None => format!("{MASK}{}", &authority[at..]),
        },
        None => authority.to_string(),
    };
    let Some(q) = rest.find('?') else {
        out.push_str(rest);
        return out;
    };
    out.push_str(&rest[..=q]);
    let query = &rest[q + 1..];
    let (query, fragment) = query.split_at(query.find('#').unwrap_or(query.len()));
    let params: Vec<String> = query
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((k, _)) if secret_name(k) => format!("{k}={MASK}"),
            _ => p.to_string(),
        })
        .collect();
    out.push_str(&params.join("&"));
    out.push_str(fragment);
    out
}

/// `https://hooks.slack.com/…`: enough of a URL to recognise it, none of its secrets (no
/// user, path, query or fragment); `<invalid URL>` for a text that is not one.
pub fn origin(value: &str) -> String {
    match url::Url::parse(value) {
        Ok(url) => {
            let host = url.host_str().unwrap_or("");
            let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!("{}://{host}{port}/…", url.scheme())
        }
        Err(_) => "<invalid URL>".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_hides_the_password_and_keeps_the_rest() {
        assert_eq!(
            credentials("postgres://u:secret@h:5432/db?sslmode=require"),
            "postgres://u:***@h:5432/db?sslmode=require"
        );
        assert_eq!(credentials("postgres://h/db"), "postgres://h/db");
        assert_eq!(
            credentials("sqlite:/var/lib/pw.db"),
            "sqlite:/var/lib/pw.db"
        );
        assert_eq!(
            credentials("sqlite:///var/lib/pw.db?mode=rwc"),
            "sqlite:///var/lib/pw.db?mode=rwc"
        );
    }

    #[test]
    fn credentials_hides_tokens_and_secret_query_parameters() {
        // A userinfo without a colon may be a token (`https://TOKEN@host`): all of it goes.
        assert_eq!(credentials("postgres://u@h/db"), "postgres://***@h/db");
        assert_eq!(
            credentials("postgres://db/pw?user=u&password=QUERYPW"),
            "postgres://db/pw?user=u&password=***"
        );
        assert_eq!(
            credentials("https://a:P@ss@h.example/?api_key=K&x=1#top"),
            "https://a:***@h.example/?api_key=***&x=1#top"
        );
        assert_eq!(
            credentials("# old: https://TOK@git.example/x?token=T or \"smtp://u:PW@mx\""),
            "# old: https://***@git.example/x?token=*** or \"smtp://u:***@mx\""
        );
    }

    #[test]
    fn origin_keeps_scheme_host_and_port_only() {
        assert_eq!(
            origin("https://hooks.slack.com/services/T0/B0/SECRET"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            origin("http://u:pw@ntfy.example:8080/topic?auth=X"),
            "http://ntfy.example:8080/…"
        );
        assert_eq!(origin("not a url"), "<invalid URL>");
    }

    #[test]
    fn secret_names() {
        for k in [
            "password",
            "api_key",
            "auth-token",
            "Signature",
            "key",
            "pwd",
        ] {
            assert!(secret_name(k), "{k}");
        }
        for k in ["secret_file", "key_path", "name", "sslmode", "user"] {
            assert!(!secret_name(k), "{k}");
        }
    }
}
