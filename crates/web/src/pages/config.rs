//! `GET /config`: the configuration file as written (read-only, with secrets hidden) and the
//! groups it defines, with their schedules and policies as portwatch understood them.

use super::error::PageError;
use super::format::{self, port_spec};
use super::layout::{Chrome, Section};
use super::render;
use super::source;
use crate::auth::Page;
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use portwatch_store::redact::{credentials, secret_name};

/// A group as configured.
pub struct GroupConfig {
    name: String,
    targets: String,
    exclude: String,
    ports: String,
    schedule: String,
    must_be_closed: String,
    allowed_open: String,
    expected_open: String,
    severity: String,
    notify: String,
    windows: Vec<source::WindowLine>,
}

/// The alert rules as configured.
pub struct AlertConfig {
    confirmations: u32,
    confirm_after: String,
    remind_every: String,
    send_resolved: bool,
    max_concurrent_scans: usize,
    notifiers: String,
}

#[derive(Template)]
#[template(path = "config.html")]
struct ConfigPage {
    chrome: Chrome,
    text: Option<String>,
    groups: Vec<GroupConfig>,
    alerts: Option<AlertConfig>,
    live: bool,
}

/// `GET /config`.
pub async fn config(
    State(state): State<AppState>,
    Page(user): Page,
) -> Result<Response, PageError> {
    let settings = source::settings(&state).await;
    let now = format::now_ms();
    let groups = settings
        .iter()
        .flat_map(|s| s.groups.iter())
        .map(|g| GroupConfig {
            name: g.name.clone(),
            targets: g.targets.join(", "),
            exclude: g.exclude.join(", "),
            ports: port_spec(&g.ports),
            schedule: source::schedule(g),
            must_be_closed: port_spec(&g.policy.must_be_closed),
            allowed_open: g
                .policy
                .allowed_open
                .as_ref()
                .map_or_else(|| "any".into(), port_spec),
            expected_open: port_spec(&g.policy.expected_open),
            severity: g
                .policy
                .severity
                .map_or_else(|| "from the knowledge base".into(), |s| s.to_string()),
            notify: g
                .notify
                .as_ref()
                .map_or_else(|| "every notifier".into(), |n| n.join(", ")),
            windows: source::windows(g, now),
        })
        .collect();
    let alerts = settings.as_ref().map(|s| AlertConfig {
        confirmations: s.alerts.confirmations,
        confirm_after: format::interval(s.alerts.confirm_after),
        remind_every: s
            .alerts
            .remind_every
            .map_or_else(|| "never".into(), format::interval),
        send_resolved: s.alerts.send_resolved,
        max_concurrent_scans: s.max_concurrent_scans,
        notifiers: if s.notifiers.is_empty() {
            "none".into()
        } else {
            s.notifiers
                .iter()
                .map(|n| n.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        },
    });
    let page = ConfigPage {
        chrome: Chrome::new(&user, Section::Config, "/config".into(), state.actions())
            .with_flash(state.take_flash(&user)),
        text: state.config_text().await.as_deref().map(redact),
        groups,
        alerts,
        live: state.daemon().is_some(),
    };
    Ok(render(&page))
}

/// Notifier keys shown as written; every other value of a `[[notify]]` table (URLs with
/// tokens, secrets, addresses, headers) is hidden.
const NOTIFY_SHOWN: [&str; 2] = ["name", "type"];

/// What a hidden value is replaced with.
pub const HIDDEN: &str = "(hidden)";

/// Shown instead of a configuration text that does not parse (nothing of it can be vouched for).
pub const UNPARSED: &str = "# The configuration text does not parse as TOML, so it is not shown.\n";

/// The configuration text without secrets, redacted from the parsed document: every value of
/// a `notify` table (array of tables or inline) but its name and type and the secret
/// references (`{ credential = "NAME" }`, `{ file = "/path" }`); every value whose key
/// names a secret (`secret`, `password`, `token`, `*_key`, `auth…`, `credential…`; a
/// `*_file` key names a path and is shown) at any depth; and the credentials of every URL in
/// any string or comment (`user:password@`, and query parameters such as `password=` or
/// `token=`). Comments and layout are kept. A text that does not parse is not shown at all.
pub fn redact(text: &str) -> String {
    let Ok(mut doc) = text.parse::<toml_edit::DocumentMut>() else {
        return UNPARSED.to_string();
    };
    redact_table(doc.as_table_mut(), false);
    // Comments and whitespace are kept as written: hide URL credentials in them too.
    credentials(&doc.to_string())
}

fn redact_table(table: &mut toml_edit::Table, in_notify: bool) {
    for (key, item) in table.iter_mut() {
        let name = key.get().to_string();
        redact_item(&name, item, in_notify);
    }
}

fn redact_item(key: &str, item: &mut toml_edit::Item, in_notify: bool) {
    let notify = in_notify || key == "notify";
    match item {
        toml_edit::Item::Table(t) => redact_table(t, notify),
        toml_edit::Item::ArrayOfTables(a) => {
            for t in a.iter_mut() {
                redact_table(t, notify);
            }
        }
        toml_edit::Item::Value(v) => redact_value(key, v, in_notify),
        toml_edit::Item::None => {}
    }
}

fn redact_value(key: &str, value: &mut toml_edit::Value, in_notify: bool) {
    let notify = in_notify || key == "notify";
    let container = matches!(
        value,
        toml_edit::Value::InlineTable(_) | toml_edit::Value::Array(_)
    );
    if in_notify && is_reference(value) {
        // `{ credential = "NAME" }` or `{ file = "/path" }`: where the secret is, not the secret.
        return;
    }
    let hide = if in_notify {
        !NOTIFY_SHOWN.contains(&key) && !container
    } else {
        secret_name(key)
    };
    if hide {
        replace(value, HIDDEN.to_string());
        return;
    }
    match value {
        toml_edit::Value::String(s) => {
            let scrubbed = credentials(s.value());
            if scrubbed != *s.value() {
                replace(value, scrubbed);
            }
        }
        toml_edit::Value::Array(a) => {
            for v in a.iter_mut() {
                redact_value(key, v, notify);
            }
        }
        toml_edit::Value::InlineTable(t) => {
            for (k, v) in t.iter_mut() {
                let name = k.get().to_string();
                redact_value(&name, v, notify);
            }
        }
        _ => {}
    }
}

/// Whether a value is a secret given by reference (see `portwatch_monitor::notify`): an
/// inline table with one string, under `credential` or `file`.
fn is_reference(value: &toml_edit::Value) -> bool {
    let toml_edit::Value::InlineTable(t) = value else {
        return false;
    };
    let mut entries = t.iter();
    matches!(
        (entries.next(), entries.next()),
        (Some((k, toml_edit::Value::String(_))), None) if k == "credential" || k == "file"
    )
}

/// Replaces a value by a plain string, keeping the comments and spaces around it.
fn replace(value: &mut toml_edit::Value, text: String) {
    let decor = value.decor().clone();
    *value = toml_edit::Value::from(text);
    *value.decor_mut() = decor;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hidden_all(text: &str, secrets: &[&str]) -> String {
        let r = redact(text);
        for s in secrets {
            assert!(!r.contains(s), "{s} survived in:\n{r}");
        }
        r
    }

    #[test]
    fn notify_tables_and_url_passwords_are_hidden() {
        let text = "database = \"postgres://pw:s3cret@db/pw\"\n[[notify]]\nname = \"ops\"\ntype = \"webhook\"\nurl = \"https://hooks.example/T0K3N\"\nsecret = \"abc\"\n[[group]]\nname = \"g\"\n";
        let r = hidden_all(text, &["s3cret", "T0K3N", "abc"]);
        assert!(r.contains("postgres://pw:***@db/pw"), "{r}");
        assert!(
            r.contains("name = \"ops\"") && r.contains("type = \"webhook\""),
            "{r}"
        );
        assert!(
            r.contains("url = \"(hidden)\"") && r.contains("name = \"g\""),
            "{r}"
        );
    }

    #[test]
    fn inline_notify_tables_are_hidden() {
        let text = "notify = [{ name = \"hook\", type = \"webhook\", url = \"https://h.example/INLINEURL\", secret = \"INLINESECRET\", headers = { X-Api = \"HEADERVAL\" } }]\n";
        let r = hidden_all(text, &["INLINEURL", "INLINESECRET", "HEADERVAL"]);
        assert!(r.contains("name = \"hook\""), "{r}");
    }

    #[test]
    fn multi_line_strings_are_hidden_whole() {
        let text = "[[notify]]\nname = \"n\"\ntype = \"webhook\"\nsecret = \"\"\"\nLINEONE\nLINETWO\n\"\"\"\n[other]\npassword = '''\nMULTIPW\n'''\n";
        let r = hidden_all(text, &["LINEONE", "LINETWO", "MULTIPW"]);
        assert!(r.contains("password = \"(hidden)\""), "{r}");
    }

    #[test]
    fn url_credentials_in_userinfo_query_and_comments_are_hidden() {
        let text = "database = \"postgres://u:USERPW@db:5432/pw?sslmode=require&password=QUERYPW\"\n\
                    # old: https://TOKUSER@git.example/x?token=COMMENTTOK\n\
                    targets = [\"https://a:ARRPW@h.example/?api_key=ARRKEY&x=1\"]\n\
                    feed = 'https://h.example/feed?access_token=LITTOK#top'\n";
        let r = hidden_all(
            text,
            &[
                "USERPW",
                "QUERYPW",
                "TOKUSER",
                "COMMENTTOK",
                "ARRPW",
                "ARRKEY",
                "LITTOK",
            ],
        );
        assert!(
            r.contains("postgres://u:***@db:5432/pw?sslmode=require&password=***"),
            "{r}"
        );
        assert!(r.contains("x=1") && r.contains("#top"), "{r}");
    }

    #[test]
    fn secret_keys_anywhere_are_hidden_and_file_paths_shown() {
        let text = "[a.b]\napi_key = \"K1\"\nauth-token = \"K2\"\nsecret_file = \"/run/credentials/portwatch.service/hook\"\nkeep = \"30d\"\n";
        let r = hidden_all(text, &["K1", "K2"]);
        assert!(r.contains("/run/credentials/portwatch.service/hook"), "{r}");
        assert!(r.contains("keep = \"30d\""), "{r}");
    }

    #[test]
    fn secret_references_are_shown_and_inline_secrets_next_to_them_hidden() {
        let text = "[[notify]]\nname = \"mail\"\ntype = \"email\"\nsmtp = \"smtp://u:INLINEPW@m.example\"\n\
                    password = { credential = \"smtp-password\" }\n\
                    notify = [{ name = \"h\", type = \"webhook\", url = { file = \"/etc/portwatch/hook\" }, secret = \"S3CRET\", headers = { A = { credential = \"auth\" }, B = \"HDR\" } }]\n";
        let r = hidden_all(text, &["INLINEPW", "S3CRET", "HDR"]);
        assert!(
            r.contains("password = { credential = \"smtp-password\" }"),
            "{r}"
        );
        assert!(
            r.contains("url = { file = \"/etc/portwatch/hook\" }"),
            "{r}"
        );
        assert!(r.contains("A = { credential = \"auth\" }"), "{r}");
    }

    #[test]
    fn unparsable_text_is_not_shown() {
        assert_eq!(redact("secret = \"OOPS"), UNPARSED);
    }

    proptest::proptest! {
        /// No secret written in any of the known shapes survives redaction.
        #[test]
        fn no_known_secret_survives(secret in "[A-Za-z0-9]{12,24}", user in "[a-z]{1,8}") {
            let shapes = [
                format!("[[notify]]\nname = \"n\"\ntype = \"webhook\"\nurl = \"https://h.example/{secret}\"\n"),
                format!("notify = [{{ name = \"n\", type = \"ntfy\", token = \"{secret}\" }}]\n"),
                format!("[[notify]]\nname = \"n\"\ntype = \"email\"\nsmtp = \"\"\"\nsmtp://{user}:{secret}@mail.example\n\"\"\"\n"),
                format!("database = \"postgres://{user}:{secret}@db/pw\"\n"),
                format!("database = \"postgres://db/pw?user={user}&password={secret}\"\n"),
                format!("x = \"https://h.example/?token={secret}\"\n"),
                format!("[s]\nsecret = '{secret}'\n"),
                format!("# postgres://{user}:{secret}@db\nk = 1\n"),
                format!("[[notify]]\nname = \"n\"\ntype = \"webhook\"\nheaders = {{ Authorization = \"Bearer {secret}\" }}\n"),
            ];
            for text in &shapes {
                let r = redact(text);
                proptest::prop_assert!(!r.contains(&secret), "{} -> {}", text, r);
            }
        }
    }
}
