//! Notifier configuration: `[[notify]]` tables in TOML, validation messages, the
//! `--notify KIND=VALUE` form, secrets kept out of `Debug`, and the alert's JSON and text.

mod notify_support;

use notify_support::alert;
use portwatch_monitor::notify::email::EmailConfig;
use portwatch_monitor::notify::{Alert, AlertKind, NotifierConfig, NotifierEntry, build};

#[derive(serde::Deserialize)]
struct File {
    notify: Vec<NotifierEntry>,
}

fn parse(toml_text: &str) -> Result<Vec<NotifierEntry>, String> {
    toml::from_str::<File>(toml_text)
        .map(|f| f.notify)
        .map_err(|e| e.to_string())
}

#[test]
fn every_kind_reads_from_toml_with_its_defaults() {
    let entries = parse(
        r#"
        [[notify]]
        name = "hook"
        type = "webhook"
        url = "https://alerts.example.com/pw"
        secret = "k"
        headers = { Authorization = "Bearer x" }

        [[notify]]
        name = "chat"
        type = "slack"
        url = "https://hooks.slack.com/services/T/B/X"

        [[notify]]
        name = "dc"
        type = "discord"
        url = "https://discord.com/api/webhooks/1/t"

        [[notify]]
        name = "ms"
        type = "teams"
        url = "https://prod-00.westeurope.logic.azure.com/workflows/x"

        [[notify]]
        name = "tg"
        type = "telegram"
        bot_token = "123456:ABC"
        chat_id = "-100200"

        [[notify]]
        name = "push"
        type = "ntfy"
        url = "https://ntfy.sh/pw-alerts"
        tags = ["lan"]

        [[notify]]
        name = "oncall"
        type = "pagerduty"
        routing_key = "abcdef0123456789abcdef0123456789"

        [[notify]]
        name = "mail"
        type = "email"
        to = ["ops@example.com", "Sec Team <sec@example.com>"]
        from = "portwatch@example.com"
        smtp = "smtp://alerts:pw@mail.example.com:587?tls=starttls"
        "#,
    )
    .unwrap();
    let kinds: Vec<&str> = entries.iter().map(|e| e.config.kind()).collect();
    assert_eq!(kinds, NotifierConfig::KINDS);
    for entry in &entries {
        entry
            .validate()
            .unwrap_or_else(|e| panic!("{}: {e}", entry.name));
        build(&entry.name, &entry.config).unwrap_or_else(|e| panic!("{}: {e}", entry.name));
    }
    match &entries[4].config {
        NotifierConfig::Telegram(t) => assert_eq!(t.api_url, "https://api.telegram.org"),
        other => panic!("{other:?}"),
    }
    match &entries[6].config {
        NotifierConfig::PagerDuty(p) => {
            assert_eq!(p.url, "https://events.pagerduty.com/v2/enqueue");
        }
        other => panic!("{other:?}"),
    }
    match &entries[7].config {
        NotifierConfig::Email(e) => assert!(!e.accept_invalid_certs, "off unless asked for"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_keys_and_types_are_rejected() {
    let err = parse(
        "[[notify]]\nname = \"x\"\ntype = \"slack\"\nurl = \"https://h\"\nchannel = \"#ops\"\n",
    )
    .unwrap_err();
    assert!(err.contains("channel"), "{err}");
    let err =
        parse("[[notify]]\nname = \"x\"\ntype = \"pager\"\nrouting_key = \"k\"\n").unwrap_err();
    assert!(err.contains("pager"), "{err}");
    let err = parse("[[notify]]\nname = \"x\"\nurl = \"https://h\"\n").unwrap_err();
    assert!(err.contains("type"), "{err}");
}

#[test]
fn validation_names_the_notifier_and_the_field() {
    let cases = [
        (
            "type = \"slack\"\nurl = \"ftp://hooks.slack.com/x\"",
            "slack.url: scheme `ftp` is not http or https",
        ),
        (
            "type = \"discord\"\nurl = \"not a url\"",
            "discord.url: not a URL",
        ),
        ("type = \"teams\"\nurl = \"\"", "teams.url: not a URL"),
        (
            "type = \"telegram\"\nbot_token = \"\"\nchat_id = \"1\"",
            "telegram.bot_token: must not be empty",
        ),
        (
            "type = \"telegram\"\nbot_token = \"nocolon\"\nchat_id = \"1\"",
            "telegram.bot_token: expected the form",
        ),
        (
            "type = \"telegram\"\nbot_token = \"1:a\"\nchat_id = \"ops\"",
            "telegram.chat_id: expected a number",
        ),
        (
            "type = \"ntfy\"\nurl = \"https://ntfy.sh/\"",
            "ntfy.url: names no topic",
        ),
        (
            "type = \"ntfy\"\nurl = \"https://ntfy.sh/t\"\ntoken = \" \"",
            "ntfy.token: must not be empty",
        ),
        (
            "type = \"pagerduty\"\nrouting_key = \"\"",
            "pagerduty.routing_key: must not be empty",
        ),
        (
            "type = \"webhook\"\nurl = \"https://h/x\"\nheaders = { \"Content-Type\" = \"text/plain\" }",
            "webhook.headers: `Content-Type` is set by portwatch",
        ),
        (
            "type = \"webhook\"\nurl = \"https://h/x\"\nheaders = { \"bad header\" = \"v\" }",
            "webhook.headers: `bad header` is not a valid header name",
        ),
        (
            "type = \"email\"\nto = []\nfrom = \"a@b.c\"\nsmtp = \"smtp://h\"",
            "email.to: needs at least one address",
        ),
        (
            "type = \"email\"\nto = [\"not-an-address\"]\nfrom = \"a@b.c\"\nsmtp = \"smtp://h\"",
            "email.to: `not-an-address` is not an email address",
        ),
        (
            "type = \"email\"\nto = [\"a@b.c\"]\nfrom = \"x\"\nsmtp = \"smtp://h\"",
            "email.from: `x` is not an email address",
        ),
        (
            "type = \"email\"\nto = [\"a@b.c\"]\nfrom = \"a@b.c\"\nsmtp = \"http://h\"",
            "email.smtp: scheme `http` is not smtp or smtps",
        ),
    ];
    for (body, expected) in cases {
        let entries = parse(&format!("[[notify]]\nname = \"ops\"\n{body}\n")).unwrap();
        let err = entries[0].validate().unwrap_err();
        assert_eq!(err.notifier, "ops");
        assert!(!err.retryable);
        assert!(
            err.to_string()
                .starts_with(&format!("notifier ops: {expected}")),
            "{body}\n  got: {err}\n  want: {expected}"
        );
        let err = build("ops", &entries[0].config)
            .err()
            .expect("build validates too");
        assert!(err.message.starts_with(expected), "{err}");
    }
    let slack = NotifierConfig::from_cli("slack=https://hooks.slack.com/x").unwrap();
    assert!(build("", &slack).is_err(), "a name is required");
}

#[test]
fn cli_one_liners() {
    let env = |_: &str| None;
    let parse = |spec: &str| NotifierConfig::from_cli_with_env(spec, env);
    for (spec, kind) in [
        ("webhook=https://h/x", "webhook"),
        ("slack=https://hooks.slack.com/services/T/B/X", "slack"),
        ("discord=https://discord.com/api/webhooks/1/t", "discord"),
        ("teams=https://prod.logic.azure.com/workflows/1", "teams"),
        ("ntfy=https://ntfy.sh/alerts", "ntfy"),
        ("pagerduty=abcdef0123456789abcdef0123456789", "pagerduty"),
        ("email=ops@example.com", "email"),
        ("SLACK=https://hooks.slack.com/x", "slack"),
    ] {
        assert_eq!(
            parse(spec).unwrap_or_else(|e| panic!("{spec}: {e}")).kind(),
            kind
        );
    }
    match parse("telegram=123456:ABC-def/-1001234567890").unwrap() {
        NotifierConfig::Telegram(t) => {
            assert_eq!(
                (t.bot_token.as_str(), t.chat_id.as_str()),
                ("123456:ABC-def", "-1001234567890")
            );
            assert_eq!(t.api_url, "https://api.telegram.org");
        }
        other => panic!("{other:?}"),
    }
    match parse("telegram=123456:ABC-def/@ops_channel").unwrap() {
        NotifierConfig::Telegram(t) => assert_eq!(t.chat_id, "@ops_channel"),
        other => panic!("{other:?}"),
    }
    match parse("email=ops@example.com, sec@example.com").unwrap() {
        NotifierConfig::Email(EmailConfig {
            to,
            from,
            smtp,
            password,
            accept_invalid_certs,
        }) => {
            assert_eq!(to, ["ops@example.com", "sec@example.com"]);
            assert_eq!(password, None);
            assert_eq!(from, "portwatch@localhost");
            assert_eq!(smtp, "smtp://127.0.0.1:25?tls=none");
            assert!(!accept_invalid_certs);
        }
        other => panic!("{other:?}"),
    }
    let custom = |name: &str| match name {
        "PORTWATCH_SMTP" => Some("smtps://u:p@mail.example.com".to_string()),
        "PORTWATCH_SMTP_FROM" => Some("pw@example.com".to_string()),
        _ => None,
    };
    match NotifierConfig::from_cli_with_env("email=ops@example.com", custom).unwrap() {
        NotifierConfig::Email(e) => assert_eq!(
            (e.smtp.as_str(), e.from.as_str()),
            ("smtps://u:p@mail.example.com", "pw@example.com")
        ),
        other => panic!("{other:?}"),
    }

    let err = |spec: &str| parse(spec).unwrap_err().to_string();
    assert!(
        err("irc=#ops").contains("unknown notifier `irc`; known: webhook, slack"),
        "{}",
        err("irc=#ops")
    );
    assert!(
        err("slack").contains("expected KIND=VALUE"),
        "{}",
        err("slack")
    );
    assert!(err("slack=").contains("the value is empty"));
    assert!(
        err("telegram=123456:ABC").contains("telegram=BOT_TOKEN/CHAT_ID"),
        "{}",
        err("telegram=123456:ABC")
    );
    assert!(err("slack=hooks.slack.com/x").contains("slack.url: not a URL"));
    let bad_env =
        |name: &str| (name == "PORTWATCH_SMTP").then(|| "mail.example.com:25".to_string());
    let e = NotifierConfig::from_cli_with_env("email=ops@example.com", bad_env)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("PORTWATCH_SMTP: scheme `mail.example.com` is not smtp or smtps")
            && e.contains("set PORTWATCH_SMTP to an SMTP URL"),
        "{e}"
    );
    let e = err("email=nobody");
    assert!(
        e.contains("email.to: `nobody` is not an email address"),
        "{e}"
    );
}

#[test]
fn debug_output_hides_secrets() {
    let configs = [
        "webhook=https://h.example/hook-path-secret",
        "slack=https://hooks.slack.com/services/T/B/SLACKSECRET",
        "telegram=123456:TGSECRET/42",
        "pagerduty=PDSECRET",
    ];
    for spec in configs {
        let debug = format!(
            "{:?}",
            NotifierConfig::from_cli_with_env(spec, |_| None).unwrap()
        );
        for secret in ["hook-path-secret", "SLACKSECRET", "TGSECRET", "PDSECRET"] {
            assert!(!debug.contains(secret), "{debug}");
        }
    }
    let smtp = |n: &str| (n == "PORTWATCH_SMTP").then(|| "smtp://u:MAILSECRET@h".to_string());
    let debug = format!(
        "{:?}",
        NotifierConfig::from_cli_with_env("email=a@b.c", smtp).unwrap()
    );
    assert!(
        !debug.contains("MAILSECRET") && debug.contains("***"),
        "{debug}"
    );
}

#[test]
fn alerts_round_trip_through_json_as_stored_in_the_outbox() {
    for kind in [
        AlertKind::Opened,
        AlertKind::Reminder,
        AlertKind::Resolved,
        AlertKind::Test,
    ] {
        let a = alert(kind);
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<Alert>(&json).unwrap(), a);
    }
    let value = serde_json::to_value(alert(AlertKind::Opened)).unwrap();
    assert_eq!(value["kind"], "opened");
    assert_eq!(value["proto"], "tcp");
    assert_eq!(value["severity"], "high");
    assert_eq!(value["host"], "10.0.0.5");
}

#[test]
fn titles_and_text_say_what_where_since_and_how_to_fix() {
    assert_eq!(
        alert(AlertKind::Opened).title(),
        "OPEN 445/tcp on 10.0.0.5 (file-servers): must be closed"
    );
    assert_eq!(
        alert(AlertKind::Reminder).title(),
        "STILL OPEN 445/tcp on 10.0.0.5 (file-servers): must be closed"
    );
    assert_eq!(
        alert(AlertKind::Resolved).title(),
        "CLOSED 445/tcp on 10.0.0.5 (file-servers): must be closed (was open)"
    );
    let mut host_wide = alert(AlertKind::Opened);
    host_wide.port = None;
    host_wide.proto = None;
    assert_eq!(
        host_wide.title(),
        "OPEN 10.0.0.5 (file-servers): must be closed"
    );

    let text = alert(AlertKind::Opened).text();
    for needle in [
        "OPEN 445/tcp on 10.0.0.5 (file-servers): must be closed\n",
        "Host:      10.0.0.5 (filesrv01)\n",
        "Port:      445/tcp\n",
        "State:     open\n",
        "Service:   microsoft-ds\n",
        "Answered:  NetBIOS FILESRV01 (CORP); SMB 2.0.2, 3.1.1; signing enabled, not required\n",
        "Group:     file-servers\n",
        "Policy:    must be closed\n",
        "Severity:  high\n",
        "Since:     2025-06-01T08:00:00Z\n",
        "Confirmed: 2025-06-01T08:00:05Z\n",
        "What it is\n  SMB file sharing.",
        "How to close it (ufw)\n  sudo ufw deny 445/tcp\n  sudo ufw deny 139/tcp\n",
        "Details: {\"smb\":{\"dialects\":[\"2.0.2\",\"3.1.1\"],\"smb1\":false}}",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    let resolved = alert(AlertKind::Resolved).text();
    assert!(
        resolved.contains("This violation is over after 2h 5m."),
        "{resolved}"
    );
    assert!(
        resolved.contains("Ended:") && resolved.contains("2025-06-01T10:05:00Z"),
        "{resolved}"
    );
    assert!(
        resolved.contains("State:    closed (was open)\n"),
        "{resolved}"
    );
    assert!(!resolved.contains("How to close it"), "{resolved}");

    let md = alert(AlertKind::Opened).markdown();
    assert!(
        md.starts_with("**OPEN 445/tcp on 10.0.0.5 (file-servers): must be closed**"),
        "{md}"
    );
    assert!(md.contains("- **Service:** microsoft-ds"), "{md}");
    assert!(
        md.contains("```sh\nsudo ufw deny 445/tcp\nsudo ufw deny 139/tcp\n```"),
        "{md}"
    );
    assert!(md.contains("\\<between\\>"), "{md}");
}

#[test]
fn one_incident_key_for_the_whole_life_of_a_violation() {
    let keys: Vec<String> = [AlertKind::Opened, AlertKind::Reminder, AlertKind::Resolved]
        .into_iter()
        .map(|k| alert(k).incident_key())
        .collect();
    assert!(keys.iter().all(|k| k == &keys[0]), "{keys:?}");
    let mut later = alert(AlertKind::Opened);
    later.since_ms += 86_400_000;
    assert_ne!(
        later.incident_key(),
        keys[0],
        "a new violation is a new incident"
    );
    let mut long = alert(AlertKind::Opened);
    long.group = "g".repeat(500);
    assert!(
        long.incident_key().len() <= 255,
        "PagerDuty caps dedup_key at 255"
    );
}

/// Secrets given by reference: `{ file = "/path" }` here, `{ credential = "NAME" }` in a child
/// process of this test binary with its own `$CREDENTIALS_DIRECTORY` (see below).
#[test]
fn secrets_by_reference_are_read_from_their_files() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let (url, secret, auth) = (
        file("url", "https://alerts.example.com/T0KEN\n"),
        file("secret", "hmac-key"),
        file("auth", "Bearer abc\r\n"),
    );
    let entries = parse(&format!(
        "[[notify]]\nname = \"hook\"\ntype = \"webhook\"\nurl = {{ file = {url:?} }}\n\
         secret = {{ file = {secret:?} }}\nheaders = {{ Authorization = {{ file = {auth:?} }}, X-Team = \"ops\" }}\n"
    ))
    .unwrap();
    match &entries[0].config {
        NotifierConfig::Webhook(w) => {
            assert_eq!(w.url, "https://alerts.example.com/T0KEN");
            assert_eq!(w.secret.as_deref(), Some("hmac-key"));
            assert_eq!(w.headers["Authorization"], "Bearer abc");
            assert_eq!(w.headers["X-Team"], "ops");
        }
        other => panic!("{other:?}"),
    }
    entries[0].validate().unwrap();
    let pw = file("pw", "p@ss:word/\n");
    let entries = parse(&format!(
        "[[notify]]\nname = \"mail\"\ntype = \"email\"\nto = [\"ops@example.com\"]\nfrom = \"pw@example.com\"\n\
         smtp = \"smtp://portwatch@mail.example.com:587\"\npassword = {{ file = {pw:?} }}\n"
    ))
    .unwrap();
    match &entries[0].config {
        NotifierConfig::Email(e) => assert_eq!(e.password.as_deref(), Some("p@ss:word/")),
        other => panic!("{other:?}"),
    }
    entries[0].validate().unwrap();
    assert!(
        !format!("{:?}", entries[0]).contains("p@ss"),
        "Debug hides the password"
    );

    // Through the configuration loader (which applies the environment on top) too.
    let text = format!(
        "[[notify]]\nname = \"ops\"\ntype = \"webhook\"\nurl = {{ file = {url:?} }}\n\n\
         [[group]]\nname = \"g\"\ntargets = [\"127.0.0.1\"]\n[group.policy]\nmust_be_closed = [\"445\"]\n"
    );
    let settings =
        portwatch_monitor::config::parse(&text, std::path::Path::new("pw.toml")).unwrap();
    match &settings.notifiers[0].config {
        NotifierConfig::Webhook(w) => assert_eq!(w.url, "https://alerts.example.com/T0KEN"),
        other => panic!("{other:?}"),
    }
    std::fs::remove_file(&url).unwrap();
    let err = portwatch_monitor::config::parse(&text, std::path::Path::new("pw.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("pw.toml:") && err.contains(&format!("url: cannot read {url}")),
        "{err}"
    );

    // Errors name the key and the path.
    let missing = dir.path().join("nope").display().to_string();
    let err = parse(&format!(
        "[[notify]]\nname = \"t\"\ntype = \"ntfy\"\nurl = \"https://ntfy.sh/t\"\ntoken = {{ file = {missing:?} }}\n"
    ))
    .unwrap_err();
    assert!(
        err.contains(&format!("token: cannot read {missing}: No such file")),
        "{err}"
    );
    let empty = file("empty", "\n");
    let err = parse(&format!(
        "[[notify]]\nname = \"p\"\ntype = \"pagerduty\"\nrouting_key = {{ file = {empty:?} }}\n"
    ))
    .unwrap_err();
    assert!(
        err.contains(&format!("routing_key: {empty} is empty")),
        "{err}"
    );
    let err = parse("[[notify]]\nname = \"s\"\ntype = \"slack\"\nurl = { file = \"slack-url\" }\n")
        .unwrap_err();
    assert!(
        err.contains("url: file \"slack-url\" is not an absolute path"),
        "{err}"
    );
    let err =
        parse("[[notify]]\nname = \"s\"\ntype = \"slack\"\nurl = { path = \"/x\" }\n").unwrap_err();
    assert!(err.contains("unknown key `path` in a reference"), "{err}");
    let err = parse(
        "[[notify]]\nname = \"s\"\ntype = \"slack\"\nurl = { file = \"/x\", credential = \"y\" }\n",
    )
    .unwrap_err();
    assert!(err.contains("not both"), "{err}");
    // A password in two places is refused.
    let entries = parse(&format!(
        "[[notify]]\nname = \"mail\"\ntype = \"email\"\nto = [\"ops@example.com\"]\nfrom = \"pw@example.com\"\n\
         smtp = \"smtp://u:inline@mail.example.com\"\npassword = {{ file = {pw:?} }}\n"
    ))
    .unwrap();
    let err = entries[0].validate().unwrap_err().to_string();
    assert!(
        err.contains("email.password: the smtp URL has a password too"),
        "{err}"
    );
}

/// Runs one of the `child_` tests below in a new process of this test binary with
/// `CREDENTIALS_DIRECTORY` set to `dir` (or unset), and fails with its output if it fails.
fn run_child(test: &str, dir: Option<&std::path::Path>) {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        test,
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    match dir {
        Some(d) => cmd.env(portwatch_monitor::notify::CREDENTIALS_DIRECTORY, d),
        None => cmd.env_remove(portwatch_monitor::notify::CREDENTIALS_DIRECTORY),
    };
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("1 passed"),
        "{test}: {text}"
    );
}

#[test]
fn secrets_by_credential_are_read_from_the_credentials_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("smtp-password"), "s3cret\n").unwrap();
    std::fs::write(dir.path().join("bot"), "123456:ABC-def_ghi\n").unwrap();
    std::fs::write(dir.path().join("blank"), "").unwrap();
    run_child("child_credentials_resolve", Some(dir.path()));
    run_child("child_credentials_without_a_directory", None);
}

const CREDENTIAL_EMAIL: &str = "[[notify]]\nname = \"mail\"\ntype = \"email\"\nto = [\"ops@example.com\"]\n\
    from = \"pw@example.com\"\nsmtp = \"smtp://portwatch@mail.example.com:587\"\n\
    password = { credential = \"smtp-password\" }\n";

#[test]
#[ignore = "run by secrets_by_credential_are_read_from_the_credentials_directory"]
fn child_credentials_resolve() {
    let dir = std::env::var(portwatch_monitor::notify::CREDENTIALS_DIRECTORY).unwrap();
    let entries = parse(CREDENTIAL_EMAIL).unwrap();
    match &entries[0].config {
        NotifierConfig::Email(e) => assert_eq!(e.password.as_deref(), Some("s3cret")),
        other => panic!("{other:?}"),
    }
    let entries = parse(
        "[[notify]]\nname = \"tg\"\ntype = \"telegram\"\nbot_token = { credential = \"bot\" }\nchat_id = \"@ops\"\n",
    )
    .unwrap();
    match &entries[0].config {
        NotifierConfig::Telegram(t) => assert_eq!(t.bot_token, "123456:ABC-def_ghi"),
        other => panic!("{other:?}"),
    }
    let err = parse(
        "[[notify]]\nname = \"d\"\ntype = \"discord\"\nurl = { credential = \"discord-url\" }\n",
    )
    .unwrap_err();
    assert!(
        err.contains(&format!(
            "url: cannot read credential \"discord-url\" at {dir}/discord-url: No such file"
        )),
        "{err}"
    );
    let err =
        parse("[[notify]]\nname = \"t\"\ntype = \"teams\"\nurl = { credential = \"blank\" }\n")
            .unwrap_err();
    assert!(
        err.contains(&format!(
            "url: credential \"blank\" at {dir}/blank is empty"
        )),
        "{err}"
    );
    let err = parse(
        "[[notify]]\nname = \"t\"\ntype = \"teams\"\nurl = { credential = \"../etc/passwd\" }\n",
    )
    .unwrap_err();
    assert!(err.contains("is not a credential name"), "{err}");
}

#[test]
#[ignore = "run by secrets_by_credential_are_read_from_the_credentials_directory"]
fn child_credentials_without_a_directory() {
    let err = parse(CREDENTIAL_EMAIL).unwrap_err();
    assert!(
        err.contains("password: credential \"smtp-password\": $CREDENTIALS_DIRECTORY is not set")
            && err.contains("LoadCredential=smtp-password:"),
        "{err}"
    );
}
