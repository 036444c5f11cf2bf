//! Every HTTP provider against a real receiver on 127.0.0.1: the request each one sends
//! (checked against what the provider documents) and how answers are classified.

mod notify_support;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{KeyInit, Mac};
use notify_support::{
    INSTALL_HINT, Receiver, Reply, alert, closed_port, self_signed, silent_listener,
};
use portwatch_monitor::notify::discord::DiscordConfig;
use portwatch_monitor::notify::ntfy::NtfyConfig;
use portwatch_monitor::notify::pagerduty::PagerDutyConfig;
use portwatch_monitor::notify::slack::SlackConfig;
use portwatch_monitor::notify::teams::TeamsConfig;
use portwatch_monitor::notify::telegram::TelegramConfig;
use portwatch_monitor::notify::webhook::WebhookConfig;
use portwatch_monitor::notify::{
    Alert, AlertKind, NotifierConfig, NotifyError, NotifyOptions, build, build_with,
};
use serde_json::{Value, json};

const TOKEN: &str = "123456:ABC-def_GhIjKl";

async fn send(config: NotifierConfig, alert: &Alert) -> Result<String, NotifyError> {
    let notifier = build("test", &config).expect("valid config");
    assert_eq!(notifier.name(), "test");
    notifier.send(alert).await.map(|d| d.status)
}

fn slack(url: String) -> NotifierConfig {
    NotifierConfig::Slack(SlackConfig { url })
}

#[tokio::test]
async fn webhook_sends_the_alert_signed_over_the_exact_body() {
    let rx = Receiver::start().await;
    let config = NotifierConfig::Webhook(WebhookConfig {
        url: rx.url("/hooks/portwatch"),
        secret: Some("s3cret".into()),
        headers: BTreeMap::from([("Authorization".into(), "Bearer abc".into())]),
    });
    let sent = alert(AlertKind::Opened);
    assert_eq!(send(config, &sent).await.unwrap(), "HTTP 200 OK");

    let req = rx.single();
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/hooks/portwatch")
    );
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.header("authorization"), Some("Bearer abc"));
    assert_eq!(req.header("x-portwatch-event"), Some("opened"));
    assert_eq!(req.header("x-portwatch-key"), Some(sent.key.as_str()));
    assert!(req.header("user-agent").unwrap().starts_with("portwatch/"));
    let stamp: u64 = req
        .header("x-portwatch-timestamp")
        .unwrap()
        .parse()
        .unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(now.abs_diff(stamp) < 60, "timestamp {stamp} vs now {now}");

    // Recompute the signature with an independent HMAC implementation.
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"s3cret").unwrap();
    mac.update(&req.body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        req.header("x-portwatch-signature"),
        Some(format!("sha256={expected}").as_str())
    );

    let body = req.json();
    assert_eq!(body["version"], 1);
    assert_eq!(body["event"], "opened");
    assert_eq!(
        body["title"],
        "OPEN 445/tcp on 10.0.0.5 (file-servers): must be closed"
    );
    assert_eq!(body["text"], sent.text());
    assert_eq!(body["incident"], sent.incident_key());
    let echoed: Alert = serde_json::from_value(body["alert"].clone()).unwrap();
    assert_eq!(echoed, sent);
    assert_eq!(body["vantage"], "local");
    assert_eq!(body["alert"]["vantage"], "local");
}

#[tokio::test]
async fn webhook_names_the_vantage_that_saw_the_port() {
    let rx = Receiver::start().await;
    let config = NotifierConfig::Webhook(WebhookConfig {
        url: rx.url("/hooks/portwatch"),
        secret: None,
        headers: BTreeMap::new(),
    });
    let sent = Alert {
        vantage: "internet".into(),
        ..alert(AlertKind::Opened)
    };
    send(config, &sent).await.unwrap();
    let body = rx.single().json();
    assert_eq!(body["vantage"], "internet");
    assert_eq!(body["alert"]["vantage"], "internet");
    assert_eq!(
        body["title"],
        "OPEN 445/tcp on 10.0.0.5 from internet (file-servers): must be closed"
    );
    let text = body["text"].as_str().unwrap();
    assert!(text.contains("445/tcp reachable from internet"), "{text}");
    assert!(text.contains("Seen from:"), "{text}");
    assert_ne!(
        sent.incident_key(),
        alert(AlertKind::Opened).incident_key(),
        "the same port seen from elsewhere is another incident"
    );
    // A payload written before vantages existed reads as local.
    let mut old = serde_json::to_value(alert(AlertKind::Opened)).unwrap();
    old.as_object_mut().unwrap().remove("vantage");
    let back: Alert = serde_json::from_value(old).unwrap();
    assert_eq!(back.vantage, "local");
}

#[tokio::test]
async fn webhook_without_secret_is_unsigned() {
    let rx = Receiver::start().await;
    let config = NotifierConfig::Webhook(WebhookConfig {
        url: rx.url("/h"),
        secret: None,
        headers: BTreeMap::new(),
    });
    send(config, &alert(AlertKind::Resolved)).await.unwrap();
    let req = rx.single();
    assert_eq!(req.header("x-portwatch-signature"), None);
    assert_eq!(req.header("x-portwatch-event"), Some("resolved"));
    assert_eq!(
        req.json()["title"],
        "CLOSED 445/tcp on 10.0.0.5 (file-servers): must be closed (was open)"
    );
}

#[tokio::test]
async fn slack_sends_text_and_blocks() {
    let rx = Receiver::start().await;
    let sent = alert(AlertKind::Opened);
    send(slack(rx.url("/services/T0/B0/XYZ")), &sent)
        .await
        .unwrap();
    let req = rx.single();
    assert_eq!(req.path, "/services/T0/B0/XYZ");
    assert_eq!(req.header("content-type"), Some("application/json"));
    let body = req.json();
    assert_eq!(body["text"], sent.title());
    let blocks = body["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[0]["text"]["type"], "plain_text");
    assert_eq!(blocks[0]["text"]["text"], sent.title());
    let fields: Vec<&str> = blocks
        .iter()
        .filter_map(|b| b["fields"].as_array())
        .flatten()
        .map(|f| f["text"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"*Host*\n10.0.0.5 (filesrv01)"),
        "{fields:?}"
    );
    assert!(fields.contains(&"*Port*\n445/tcp"), "{fields:?}");
    assert!(fields.contains(&"*Severity*\nhigh"), "{fields:?}");
    assert!(fields.len() <= 10, "Slack allows 10 fields per section");
    let all = body.to_string();
    assert!(all.contains("sudo ufw deny 445/tcp"), "{all}");
    // mrkdwn control characters from scanned text are escaped.
    assert!(
        all.contains("WannaCry &amp; NotPetya spread &lt;between&gt;"),
        "{all}"
    );
}

#[tokio::test]
async fn discord_sends_content_and_a_coloured_embed_without_mentions() {
    let rx = Receiver::start().await;
    let sent = alert(AlertKind::Opened);
    let config = NotifierConfig::Discord(DiscordConfig {
        url: rx.url("/api/webhooks/1/tok"),
    });
    send(config, &sent).await.unwrap();
    let body = rx.single().json();
    assert_eq!(body["content"], sent.title());
    assert_eq!(body["allowed_mentions"], json!({"parse": []}));
    let embed = &body["embeds"][0];
    assert_eq!(embed["color"], 0xE0_4E_2B, "high severity is orange-red");
    assert_eq!(embed["timestamp"], "2025-06-01T08:00:05Z");
    let fields = embed["fields"].as_array().unwrap();
    assert!(fields.len() <= 25);
    assert!(
        fields.contains(&json!({"name": "Port", "value": "445/tcp", "inline": true})),
        "{fields:?}"
    );
    assert!(
        embed["description"]
            .as_str()
            .unwrap()
            .contains("```sh\nsudo ufw deny 445/tcp\nsudo ufw deny 139/tcp\n```")
    );

    let rx = Receiver::start().await;
    let config = NotifierConfig::Discord(DiscordConfig {
        url: rx.url("/api/webhooks/1/tok"),
    });
    send(config, &alert(AlertKind::Resolved)).await.unwrap();
    assert_eq!(
        rx.single().json()["embeds"][0]["color"],
        0x2E_B8_6E,
        "a resolve is green"
    );
}

#[tokio::test]
async fn teams_sends_an_adaptive_card_attachment() {
    let rx = Receiver::start().await;
    rx.reply(Reply::status(202, ""));
    let sent = alert(AlertKind::Reminder);
    let config = NotifierConfig::Teams(TeamsConfig {
        url: rx.url("/workflows/abc/triggers/manual/paths/invoke?sig=x"),
    });
    assert_eq!(send(config, &sent).await.unwrap(), "HTTP 202 Accepted");
    let req = rx.single();
    assert_eq!(
        req.path,
        "/workflows/abc/triggers/manual/paths/invoke?sig=x"
    );
    let body = req.json();
    assert_eq!(body["type"], "message");
    let attachment = &body["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(attachment["contentUrl"], Value::Null);
    let card = &attachment["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.4");
    assert_eq!(
        card["$schema"],
        "http://adaptivecards.io/schemas/adaptive-card.json"
    );
    assert_eq!(card["body"][0]["type"], "TextBlock");
    assert_eq!(
        card["body"][0]["text"],
        "STILL OPEN 445/tcp on 10.0.0.5 (file-servers): must be closed"
    );
    let facts = card["body"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "FactSet")
        .unwrap();
    assert!(
        facts["facts"]
            .as_array()
            .unwrap()
            .contains(&json!({"title": "Since", "value": "2025-06-01T08:00:00Z (for 4h 0m)"}))
    );
}

#[tokio::test]
async fn telegram_calls_send_message_with_html() {
    let rx = Receiver::start().await;
    let sent = alert(AlertKind::Opened);
    let config = NotifierConfig::Telegram(TelegramConfig {
        bot_token: TOKEN.into(),
        chat_id: "-1001234567890".into(),
        api_url: rx.url("/"),
    });
    send(config, &sent).await.unwrap();
    let req = rx.single();
    assert_eq!(req.path, format!("/bot{TOKEN}/sendMessage"));
    let body = req.json();
    assert_eq!(body["chat_id"], -1_001_234_567_890_i64);
    assert_eq!(body["parse_mode"], "HTML");
    assert_eq!(body["link_preview_options"]["is_disabled"], true);
    let text = body["text"].as_str().unwrap();
    assert!(
        text.starts_with("<b>OPEN 445/tcp on 10.0.0.5 (file-servers): must be closed</b>"),
        "{text}"
    );
    assert!(
        text.contains("<b>Answered:</b> NetBIOS FILESRV01 (CORP)"),
        "{text}"
    );
    assert!(
        text.contains("WannaCry &amp; NotPetya spread &lt;between&gt; networks"),
        "{text}"
    );
    assert!(
        text.contains("<pre>sudo ufw deny 445/tcp\nsudo ufw deny 139/tcp</pre>"),
        "{text}"
    );
    assert!(text.chars().count() <= 4096);
}

#[tokio::test]
async fn telegram_long_explanations_are_cut_to_fit() {
    let rx = Receiver::start().await;
    let mut sent = alert(AlertKind::Opened);
    sent.explain = Some("<&>".repeat(3000));
    let config = NotifierConfig::Telegram(TelegramConfig {
        bot_token: TOKEN.into(),
        chat_id: "@ops".into(),
        api_url: rx.url(""),
    });
    send(config, &sent).await.unwrap();
    let body = rx.single().json();
    assert_eq!(body["chat_id"], "@ops");
    let text = body["text"].as_str().unwrap();
    assert!(text.chars().count() <= 4096, "{}", text.chars().count());
    assert!(
        text.contains("<pre>sudo ufw deny 445/tcp"),
        "the fix survives the cut"
    );
    assert!(
        !text.contains("&am…") && !text.contains("&l…"),
        "no entity is split"
    );
}

#[tokio::test]
async fn ntfy_sets_title_priority_tags_and_token() {
    let rx = Receiver::start().await;
    let sent = alert(AlertKind::Opened);
    let config = NotifierConfig::Ntfy(NtfyConfig {
        url: rx.url("/portwatch-alerts"),
        token: Some("tk_test".into()),
        tags: vec!["lan".into()],
    });
    send(config, &sent).await.unwrap();
    let req = rx.single();
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/portwatch-alerts")
    );
    assert_eq!(req.header("title"), Some(sent.title().as_str()));
    assert_eq!(req.header("priority"), Some("4"), "high maps to 4");
    assert_eq!(
        req.header("tags"),
        Some("rotating_light,high,portwatch,lan")
    );
    assert_eq!(req.header("authorization"), Some("Bearer tk_test"));
    assert_eq!(req.text(), sent.text());

    let rx = Receiver::start().await;
    let mut critical = alert(AlertKind::Opened);
    critical.severity = portwatch_kb::Severity::Critical;
    critical.group = "büro".into();
    let config = NotifierConfig::Ntfy(NtfyConfig {
        url: rx.url("/t"),
        token: None,
        tags: vec![],
    });
    send(config, &critical).await.unwrap();
    let req = rx.single();
    assert_eq!(req.header("priority"), Some("5"));
    assert_eq!(req.header("authorization"), None);
    assert!(
        req.header("title").unwrap().starts_with("=?UTF-8?B?"),
        "non-ASCII titles are RFC 2047-encoded"
    );
}

#[tokio::test]
async fn pagerduty_triggers_then_resolves_the_same_incident() {
    let rx = Receiver::start().await;
    let accepted = r#"{"status":"success","message":"Event processed","dedup_key":"x"}"#;
    rx.reply(Reply::status(202, accepted));
    rx.reply(Reply::status(202, accepted));
    let config = || {
        NotifierConfig::PagerDuty(PagerDutyConfig {
            routing_key: "R0UT1NGKEY".into(),
            url: rx.url("/v2/enqueue"),
        })
    };
    let opened = alert(AlertKind::Opened);
    let resolved = alert(AlertKind::Resolved);
    assert_ne!(opened.key, resolved.key, "messages have their own keys");
    assert_eq!(send(config(), &opened).await.unwrap(), "HTTP 202 Accepted");
    send(config(), &resolved).await.unwrap();

    let reqs = rx.requests();
    assert_eq!(reqs.len(), 2);
    assert!(reqs.iter().all(|r| r.path == "/v2/enqueue"));
    let trigger = reqs[0].json();
    assert_eq!(trigger["routing_key"], "R0UT1NGKEY");
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(trigger["dedup_key"], opened.incident_key());
    let payload = &trigger["payload"];
    assert_eq!(payload["summary"], opened.title());
    assert_eq!(payload["source"], "filesrv01");
    assert_eq!(payload["severity"], "error", "high maps to error");
    assert_eq!(payload["timestamp"], "2025-06-01T08:00:05Z");
    assert_eq!(payload["component"], "445/tcp");
    assert_eq!(payload["group"], "file-servers");
    assert_eq!(payload["class"], "must be closed");
    assert_eq!(
        payload["custom_details"]["answered"],
        opened.answered.clone().unwrap()
    );
    assert_eq!(
        payload["custom_details"]["how to close it (ufw)"],
        json!(opened.fix)
    );

    let resolve = reqs[1].json();
    assert_eq!(
        resolve,
        json!({"routing_key": "R0UT1NGKEY", "event_action": "resolve", "dedup_key": opened.incident_key()})
    );
}

#[tokio::test]
async fn ok_and_error_statuses_are_classified() {
    let rx = Receiver::start().await;
    let notifier = build("ops", &slack(rx.url("/s"))).unwrap();
    let sent = alert(AlertKind::Opened);

    rx.reply(Reply::status(429, "slow down").with_header("Retry-After", "7"));
    let err = notifier.send(&sent).await.unwrap_err();
    assert!(err.retryable, "{err}");
    assert_eq!(err.retry_after, Some(Duration::from_secs(7)));
    assert_eq!(err.notifier, "ops");
    assert!(
        err.to_string()
            .contains("HTTP 429 Too Many Requests: slow down"),
        "{err}"
    );

    // Discord states the wait in its JSON body when the header is absent.
    rx.reply(Reply::status(
        429,
        r#"{"message":"You are being rate limited.","retry_after":1.5,"global":false}"#,
    ));
    let err = notifier.send(&sent).await.unwrap_err();
    assert_eq!(
        (err.retryable, err.retry_after),
        (true, Some(Duration::from_millis(1500)))
    );

    rx.reply(Reply::status(500, "rollup_error"));
    let err = notifier.send(&sent).await.unwrap_err();
    assert!(err.retryable && err.retry_after.is_none(), "{err:?}");

    rx.reply(Reply::status(503, "").with_header("Retry-After", "120"));
    let err = notifier.send(&sent).await.unwrap_err();
    assert_eq!(
        (err.retryable, err.retry_after),
        (true, Some(Duration::from_mins(2)))
    );

    rx.reply(Reply::status(400, "invalid_payload"));
    let err = notifier.send(&sent).await.unwrap_err();
    assert!(!err.retryable, "{err}");
    assert!(
        err.message
            .contains("HTTP 400 Bad Request: invalid_payload"),
        "{err}"
    );

    rx.reply(Reply::status(404, "no_service"));
    assert!(!notifier.send(&sent).await.unwrap_err().retryable);

    rx.reply(
        Reply::status(301, "").with_header("Location", "https://elsewhere.example/secret-path"),
    );
    let err = notifier.send(&sent).await.unwrap_err();
    assert!(
        !err.retryable && err.message.contains("redirected"),
        "{err}"
    );
    assert!(!err.message.contains("secret-path"), "{err}");

    assert_eq!(notifier.send(&sent).await.unwrap().status, "HTTP 200 OK");
    assert_eq!(rx.requests().len(), 8, "one attempt per call");
}

#[tokio::test]
async fn connection_refused_is_retryable_and_hides_the_secret_url() {
    let port = closed_port().await;
    let config = NotifierConfig::Telegram(TelegramConfig {
        bot_token: TOKEN.into(),
        chat_id: "42".into(),
        api_url: format!("http://127.0.0.1:{port}"),
    });
    let err = send(config, &alert(AlertKind::Opened)).await.unwrap_err();
    assert!(err.retryable, "{err}");
    assert!(err.message.starts_with("cannot connect"), "{err}");
    assert!(
        !err.to_string().contains("ABC-def"),
        "the bot token leaked: {err}"
    );
}

#[tokio::test]
async fn a_silent_peer_times_out_and_is_retryable() {
    let (addr, task) = silent_listener().await;
    let options = NotifyOptions {
        timeout: Duration::from_millis(300),
        ..NotifyOptions::default()
    };
    let notifier = build_with("slow", &slack(format!("http://{addr}/s")), &options).unwrap();
    let started = std::time::Instant::now();
    let err = notifier.send(&alert(AlertKind::Opened)).await.unwrap_err();
    task.abort();
    assert!(err.retryable, "{err}");
    assert!(err.message.starts_with("timed out"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// An HTTPS server (Python's http.server) with a self-signed certificate: the TLS stack
/// (rustls with ring, the platform's roots) handshakes, rejects the certificate, and says
/// that retrying will not help.
#[tokio::test]
async fn an_untrusted_https_certificate_is_not_retryable() {
    use tokio::io::AsyncBufReadExt;
    const SERVER: &str = r#"
import http.server, ssl, sys, threading, os
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[1], sys.argv[2])
server.socket = context.wrap_socket(server.socket, server_side=True)
server.handle_error = lambda request, address: None
threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
print("PORT %d" % server.server_address[1], flush=True)
server.serve_forever()
"#;
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path());
    let mut child = tokio::process::Command::new("python3")
        .args(["-c", SERVER])
        .arg(&cert)
        .arg(&key)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start python3: {e}; {INSTALL_HINT}"));
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let port: u16 = first.strip_prefix("PORT ").unwrap().parse().unwrap();

    let err = send(
        slack(format!("https://127.0.0.1:{port}/hook")),
        &alert(AlertKind::Opened),
    )
    .await
    .unwrap_err();
    assert!(!err.retryable, "{err}");
    assert!(err.message.starts_with("TLS certificate rejected"), "{err}");
}
