//! Email against a real SMTP server: Python's aiosmtpd, started by each test as its own
//! process on a free port of 127.0.0.1 (plain, STARTTLS and implicit TLS, with AUTH), and a
//! self-signed certificate made by `openssl req -x509`. Missing tools fail the test: run
//! scripts/install-test-deps.sh.

mod notify_support;

use std::process::Stdio;
use std::time::Duration;

use notify_support::{INSTALL_HINT, alert, closed_port, require_python_module, self_signed};
use portwatch_monitor::notify::email::EmailConfig;
use portwatch_monitor::notify::{AlertKind, NotifierConfig, NotifyError, build};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// The server: prints `PORT n` once listening, then one JSON line per message received.
/// Recipients starting with `defer@` get a 451; it exits when its stdin closes.
const SERVER: &str = r#"
import asyncio, json, logging, os, ssl, sys, threading, warnings
from email import policy
from email.parser import BytesParser
from aiosmtpd.smtp import SMTP, AuthResult

mode, cert, key, user, password = sys.argv[1:6]
# The tests provoke failed handshakes and logins on purpose: keep their stderr quiet.
logging.disable(logging.CRITICAL)
warnings.simplefilter("ignore")

def watch_stdin():
    sys.stdin.read()
    os._exit(0)

class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("defer@"):
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = BytesParser(policy=policy.default).parsebytes(envelope.original_content or envelope.content)
        part = msg.get_body(preferencelist=("plain",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "headers": {k: str(v) for k, v in msg.items()},
            "body": part.get_content() if part is not None else "",
            "tls": session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None,
            "auth": session.auth_data if session.authenticated else None,
        }
        print(json.dumps(record), flush=True)
        return "250 2.0.0 queued as PW1"

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login.decode() == user and auth_data.password.decode() == password
    # handled=False: aiosmtpd then answers a failure with 535 itself.
    return AuthResult(success=ok, handled=False, auth_data=auth_data.login.decode() if ok else None)

async def main():
    ctx = None
    if cert != "-":
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
    options = dict(hostname="portwatch-test")
    if user != "-":
        # aiosmtpd cannot tell that an implicit-TLS socket is encrypted: it needs the hint.
        options.update(authenticator=authenticator, auth_required=True, auth_require_tls=(mode != "tls"))
    if mode == "starttls":
        options.update(tls_context=ctx, require_starttls=True)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(Handler(), **options), host="127.0.0.1", port=0,
                                      ssl=ctx if mode == "tls" else None)
    print("PORT %d" % server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

threading.Thread(target=watch_stdin, daemon=True).start()
asyncio.run(main())
"#;

/// A running aiosmtpd.
struct SmtpServer {
    port: u16,
    lines: Lines<BufReader<ChildStdout>>,
    _child: Child,
    _dir: tempfile::TempDir,
}

impl SmtpServer {
    /// Starts aiosmtpd in `mode` (`plain`, `starttls`, `tls`), with AUTH when `login` is set.
    async fn start(mode: &str, login: Option<(&str, &str)>) -> SmtpServer {
        require_python_module("aiosmtpd");
        let dir = tempfile::tempdir().expect("tempdir");
        let script = dir.path().join("smtp_server.py");
        std::fs::write(&script, SERVER).expect("write script");
        let (cert, key) = if mode == "plain" {
            ("-".into(), "-".into())
        } else {
            let (cert, key) = self_signed(dir.path());
            (cert.display().to_string(), key.display().to_string())
        };
        let (user, password) = login.unwrap_or(("-", "-"));
        let mut child = Command::new("python3")
            .arg(&script)
            .args([mode, &cert, &key, user, password])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start python3: {e}; {INSTALL_HINT}"));
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("aiosmtpd did not start within 20 s")
            .expect("read aiosmtpd output")
            .unwrap_or_else(|| panic!("aiosmtpd exited before listening: {INSTALL_HINT}"));
        let port = first
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .expect("PORT line");
        SmtpServer {
            port,
            lines,
            _child: child,
            _dir: dir,
        }
    }

    /// The next message the server received, as JSON.
    async fn received(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(10), self.lines.next_line())
            .await
            .expect("no message within 10 s")
            .expect("read")
            .expect("server exited");
        serde_json::from_str(&line).expect("JSON line")
    }
}

fn email(smtp: String, to: &[&str], accept_invalid_certs: bool) -> NotifierConfig {
    NotifierConfig::Email(EmailConfig {
        to: to.iter().map(std::string::ToString::to_string).collect(),
        from: "portwatch <portwatch@example.com>".into(),
        smtp,
        password: None,
        accept_invalid_certs,
    })
}

async fn send(config: &NotifierConfig, kind: AlertKind) -> Result<String, NotifyError> {
    build("mail", config)
        .expect("valid")
        .send(&alert(kind))
        .await
        .map(|d| d.status)
}

#[tokio::test]
async fn plain_smtp_carries_every_field_and_threads_the_resolve() {
    let mut server = SmtpServer::start("plain", None).await;
    let config = email(
        format!("smtp://127.0.0.1:{}?tls=none", server.port),
        &["ops@example.com", "Sec <sec@example.com>"],
        false,
    );

    assert_eq!(
        send(&config, AlertKind::Opened).await.unwrap(),
        "250 2.0.0 queued as PW1"
    );
    let got = server.received().await;
    assert_eq!(got["mail_from"], "portwatch@example.com");
    assert_eq!(
        got["rcpt_tos"],
        serde_json::json!(["ops@example.com", "sec@example.com"])
    );
    assert_eq!(got["tls"], false);
    let headers = &got["headers"];
    let sent = alert(AlertKind::Opened);
    assert_eq!(headers["Subject"], sent.title());
    assert_eq!(headers["From"], "portwatch <portwatch@example.com>");
    assert_eq!(headers["To"], "ops@example.com, Sec <sec@example.com>");
    assert_eq!(headers["Auto-Submitted"], "auto-generated");
    assert_eq!(headers["X-Portwatch-Kind"], "opened");
    assert_eq!(headers["X-Portwatch-Severity"], "high");
    assert_eq!(headers["X-Portwatch-Key"], sent.key);
    assert!(
        headers["Date"]
            .as_str()
            .unwrap()
            .contains("1 Jun 2025 08:00:05"),
        "{headers}"
    );
    let opened_id = headers["Message-ID"].as_str().unwrap().to_string();
    let body = got["body"].as_str().unwrap();
    for needle in [
        "OPEN 445/tcp on 10.0.0.5 (file-servers): must be closed",
        "10.0.0.5 (filesrv01)",
        "445/tcp",
        "NetBIOS FILESRV01 (CORP); SMB 2.0.2, 3.1.1; signing enabled, not required",
        "must be closed",
        "Severity:  high",
        "Since:     2025-06-01T08:00:00Z",
        "SMB file sharing. Reachable SMB is how WannaCry & NotPetya spread <between> networks.",
        "How to close it (ufw)",
        "sudo ufw deny 445/tcp",
        "sudo ufw deny 139/tcp",
    ] {
        assert!(body.contains(needle), "missing {needle:?} in:\n{body}");
    }

    send(&config, AlertKind::Resolved).await.unwrap();
    let got = server.received().await;
    assert_eq!(
        got["headers"]["Subject"],
        alert(AlertKind::Resolved).title()
    );
    assert_eq!(
        got["headers"]["In-Reply-To"],
        opened_id.as_str(),
        "the resolve threads under the opening mail"
    );
    assert_eq!(got["headers"]["References"], opened_id.as_str());
    assert!(
        got["body"]
            .as_str()
            .unwrap()
            .contains("Ended:    2025-06-01T10:05:00Z")
    );
}

#[tokio::test]
async fn starttls_with_auth_and_a_self_signed_certificate() {
    let mut server = SmtpServer::start("starttls", Some(("alerts", "p@ss w0rd"))).await;
    let url = format!(
        "smtp://alerts:p%40ss%20w0rd@127.0.0.1:{}?tls=starttls",
        server.port
    );
    assert_eq!(
        send(
            &email(url.clone(), &["ops@example.com"], true),
            AlertKind::Reminder
        )
        .await
        .unwrap(),
        "250 2.0.0 queued as PW1"
    );
    let got = server.received().await;
    assert_eq!(got["tls"], true, "the message went over TLS");
    assert_eq!(got["auth"], "alerts");
    assert_eq!(
        got["headers"]["Subject"],
        alert(AlertKind::Reminder).title()
    );

    // The same server without accepting its certificate: a configuration problem.
    let err = send(&email(url, &["ops@example.com"], false), AlertKind::Opened)
        .await
        .unwrap_err();
    assert!(!err.retryable, "{err}");
    assert!(err.message.contains("TLS"), "{err}");

    // A wrong password is refused for good (535).
    let url = format!("smtp://alerts:wrong@127.0.0.1:{}?tls=starttls", server.port);
    let err = send(&email(url, &["ops@example.com"], true), AlertKind::Opened)
        .await
        .unwrap_err();
    assert!(!err.retryable, "{err}");
    assert!(err.message.contains("535"), "{err}");
}

#[tokio::test]
async fn implicit_tls_with_auth() {
    let mut server = SmtpServer::start("tls", Some(("alerts", "secret"))).await;
    let url = format!("smtps://alerts:secret@127.0.0.1:{}", server.port);
    send(&email(url, &["ops@example.com"], true), AlertKind::Opened)
        .await
        .unwrap();
    let got = server.received().await;
    assert_eq!(got["tls"], true);
    assert_eq!(got["auth"], "alerts");
}

#[tokio::test]
async fn deferrals_and_refused_connections_are_retryable() {
    let server = SmtpServer::start("plain", None).await;
    let url = format!("smtp://127.0.0.1:{}?tls=none", server.port);
    let err = send(
        &email(url, &["defer@example.com"], false),
        AlertKind::Opened,
    )
    .await
    .unwrap_err();
    assert!(err.retryable, "{err}");
    assert!(err.message.contains("451"), "{err}");

    let port = closed_port().await;
    let url = format!("smtp://127.0.0.1:{port}?tls=none");
    let err = send(&email(url, &["ops@example.com"], false), AlertKind::Opened)
        .await
        .unwrap_err();
    assert!(err.retryable, "{err}");
}

#[tokio::test]
async fn the_cli_form_uses_portwatch_smtp() {
    let mut server = SmtpServer::start("plain", None).await;
    let smtp = format!("smtp://127.0.0.1:{}?tls=none", server.port);
    let env = |name: &str| match name {
        "PORTWATCH_SMTP" => Some(smtp.clone()),
        "PORTWATCH_SMTP_FROM" => Some("pw@example.com".to_string()),
        _ => None,
    };
    let config = NotifierConfig::from_cli_with_env("email=ops@example.com", env).unwrap();
    send(&config, AlertKind::Test).await.unwrap();
    let got = server.received().await;
    assert_eq!(got["mail_from"], "pw@example.com");
    assert!(
        got["headers"]["Subject"]
            .as_str()
            .unwrap()
            .starts_with("TEST 445/tcp on 10.0.0.5")
    );
}
