//! The dashboard on a network: HTTPS with a certificate made by the test (and reloaded),
//! forwarding headers believed only from trusted proxies, the login rate limit (429 with
//! Retry-After, keyed on the real client), and sessions bound to their token (revocation and a
//! changed role take effect on the next request; logout ends the session on the server).

mod common_http;

use anyhow::{Context, Result, ensure};
use common_http::{client, install_tls_provider};
use portwatch_store::Store;
use portwatch_testkit::pki;
use portwatch_web::AppState;
use portwatch_web::auth::{Role, SESSION_COOKIE, Session, now_secs, tokens};
use portwatch_web::client::Network;
use portwatch_web::tls::Certificates;
use reqwest::StatusCode;
use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;

/// A client that trusts only `ca`, keeps no connections between requests, and follows no
/// redirects.
fn client_trusting(ca: &[u8]) -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca)?])
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

struct Server {
    addr: SocketAddr,
    state: AppState,
    store: Store,
    stop: CancellationToken,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Serves a fresh store on a loopback port, over TLS when `certificates` are given.
async fn start(
    network: Network,
    certificates: Option<(tempfile::TempDir, std::sync::Arc<Certificates>)>,
) -> Result<Server> {
    install_tls_provider();
    let (dir, certs) = match certificates {
        Some((dir, c)) => (dir, Some(c)),
        None => (tempfile::tempdir()?, None),
    };
    let store = Store::open(&format!("sqlite://{}/pw.db", dir.path().display())).await?;
    let state = AppState::with_network(store.clone(), None, None, network);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let stop = CancellationToken::new();
    let (st, until) = (state.clone(), stop.clone());
    tokio::spawn(async move {
        let _ = match certs {
            Some(c) => portwatch_web::serve_tls_on(st, listener, c, until).await,
            None => portwatch_web::serve_on(st, listener, until).await,
        };
    });
    Ok(Server {
        addr,
        state,
        store,
        stop,
        dir,
    })
}

#[tokio::test]
async fn https_serves_the_test_certificate_and_a_reload_switches_it() -> Result<()> {
    install_tls_provider();
    let dir = tempfile::tempdir()?;
    let ca_a = pki::ca_and_server(dir.path(), "a")?;
    let certs = Certificates::load(&dir.path().join("cert.pem"), &dir.path().join("key.pem"))?;
    let server = start(
        Network {
            tls: true,
            trusted_proxies: vec![],
        },
        Some((dir, certs.clone())),
    )
    .await?;
    let url = format!("https://127.0.0.1:{}/healthz", server.addr.port());

    let answer = client_trusting(&ca_a)?.get(&url).send().await?;
    ensure!(answer.status() == StatusCode::OK, "{}", answer.status());
    ensure!(
        answer
            .headers()
            .get("strict-transport-security")
            .is_some_and(|v| v == portwatch_web::client::HSTS),
        "HTTPS answers carry HSTS: {:?}",
        answer.headers()
    );
    // Plain HTTP on the TLS port gets no answer.
    let plain = client()
        .get(format!("http://127.0.0.1:{}/healthz", server.addr.port()))
        .send()
        .await;
    ensure!(plain.is_err(), "plain HTTP was answered: {plain:?}");

    // A new pair under the same file names: served after the reload, not before.
    let ca_b = pki::ca_and_server(server.dir.path(), "b")?;
    ensure!(
        client_trusting(&ca_b)?.get(&url).send().await.is_err(),
        "the new certificate was served before the reload"
    );
    certs.reload()?;
    let answer = client_trusting(&ca_b)?.get(&url).send().await?;
    ensure!(answer.status() == StatusCode::OK);
    ensure!(
        client_trusting(&ca_a)?.get(&url).send().await.is_err(),
        "the old certificate is still served"
    );

    // A bad new key is rejected, naming the file, and the served pair stays.
    std::fs::write(server.dir.path().join("key.pem"), "not a key")?;
    let err = certs.reload().err().context("a bad key was accepted")?;
    ensure!(err.to_string().contains("key.pem"), "{err}");
    let answer = client_trusting(&ca_b)?.get(&url).send().await?;
    ensure!(answer.status() == StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn unusable_certificate_files_are_named() -> Result<()> {
    install_tls_provider();
    let dir = tempfile::tempdir()?;
    pki::ca_and_server(dir.path(), "a")?;
    let missing = Certificates::load(&dir.path().join("nope.pem"), &dir.path().join("key.pem"));
    ensure!(
        missing
            .as_ref()
            .err()
            .is_some_and(|e| e.to_string().contains("nope.pem")),
        "{missing:?}"
    );
    // The CA's key does not belong to the server certificate.
    let mismatch = Certificates::load(&dir.path().join("cert.pem"), &dir.path().join("a-ca.key"));
    ensure!(
        mismatch
            .as_ref()
            .err()
            .is_some_and(|e| e.to_string().contains("does not belong")),
        "{mismatch:?}"
    );
    Ok(())
}

/// `POST /login` with a bad token, as `forwarded_for` (if any); the status and Retry-After.
async fn bad_login(
    server: &Server,
    forwarded_for: Option<&str>,
) -> Result<(StatusCode, Option<u64>)> {
    let mut req = client()
        .post(format!("http://{}/login", server.addr))
        .form(&[("token", "pw_wrong"), ("next", "/")]);
    if let Some(f) = forwarded_for {
        req = req.header("x-forwarded-for", f);
    }
    let answer = req.send().await?;
    let retry = answer
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    Ok((answer.status(), retry))
}

#[tokio::test]
async fn login_limit_keys_on_the_forwarded_client_only_behind_a_trusted_proxy() -> Result<()> {
    let n = portwatch_web::state::LOGIN_ATTEMPTS_PER_MINUTE;
    // 127.0.0.1 is the trusted proxy: each forwarded client has its own budget.
    let behind = start(
        Network {
            tls: false,
            trusted_proxies: vec!["127.0.0.1/32".parse()?],
        },
        None,
    )
    .await?;
    for _ in 0..n {
        let (status, _) = bad_login(&behind, Some("198.51.100.1")).await?;
        ensure!(status == StatusCode::UNAUTHORIZED, "{status}");
    }
    let (status, retry) = bad_login(&behind, Some("198.51.100.1")).await?;
    ensure!(status == StatusCode::TOO_MANY_REQUESTS, "{status}");
    ensure!(
        retry.is_some_and(|s| (1..=60).contains(&s)),
        "Retry-After: {retry:?}"
    );
    let (status, _) = bad_login(&behind, Some("198.51.100.2")).await?;
    ensure!(
        status == StatusCode::UNAUTHORIZED,
        "another client behind the proxy was limited: {status}"
    );

    // Without a trusted proxy the same headers are ignored: one budget for the peer.
    let direct = start(Network::default(), None).await?;
    for i in 0..n {
        let (status, _) = bad_login(&direct, Some(&format!("198.51.100.{}", 10 + i))).await?;
        ensure!(status == StatusCode::UNAUTHORIZED, "{status}");
    }
    let (status, retry) = bad_login(&direct, Some("198.51.100.99")).await?;
    ensure!(
        status == StatusCode::TOO_MANY_REQUESTS && retry.is_some(),
        "a forged X-Forwarded-For from an untrusted peer bought new attempts: {status}"
    );
    Ok(())
}

/// Signs in through `POST /login`; the session cookie (`name=value`) and its CSRF token.
async fn login(server: &Server, token: &str) -> Result<(String, String)> {
    let answer = client()
        .post(format!("http://{}/login", server.addr))
        .form(&[("token", token), ("next", "/")])
        .send()
        .await?;
    ensure!(
        answer.status() == StatusCode::SEE_OTHER,
        "{}",
        answer.status()
    );
    let set = answer
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .context("no session cookie")?;
    let pair = set.split(';').next().unwrap_or_default().to_string();
    let value = pair.split_once('=').map(|(_, v)| v).unwrap_or_default();
    let session = Session::decode(server.state.session_key(), value, now_secs())
        .context("the cookie is not a session")?;
    ensure!(pair.starts_with(SESSION_COOKIE));
    Ok((pair, session.csrf))
}

async fn get_with(server: &Server, cookie: &str, path: &str) -> Result<StatusCode> {
    Ok(client()
        .get(format!("http://{}{path}", server.addr))
        .header("cookie", cookie)
        .send()
        .await?
        .status())
}

async fn ack_with(server: &Server, cookie: &str, csrf: &str) -> Result<StatusCode> {
    Ok(client()
        .post(format!("http://{}/api/v1/violations/x/ack", server.addr))
        .header("cookie", cookie)
        .header("x-csrf-token", csrf)
        .json(&serde_json::json!({}))
        .send()
        .await?
        .status())
}

#[tokio::test]
async fn a_session_ends_with_its_token_and_follows_its_role() -> Result<()> {
    let server = start(Network::default(), None).await?;
    let (token, id) = tokens::create(&server.store, "ops", Role::Admin).await?;
    let (cookie, csrf) = login(&server, &token).await?;
    ensure!(get_with(&server, &cookie, "/api/v1/hosts").await? == StatusCode::OK);
    ensure!(
        ack_with(&server, &cookie, &csrf).await? != StatusCode::FORBIDDEN,
        "an admin session may act"
    );

    // The role is changed behind the server's back (another connection to the database):
    // the same cookie is a viewer's on its next request.
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}/pw.db", server.dir.path().display()))
        .await?;
    sqlx::query("UPDATE api_tokens SET role = 'viewer' WHERE id = $1")
        .bind(id)
        .execute(&db)
        .await?;
    ensure!(ack_with(&server, &cookie, &csrf).await? == StatusCode::FORBIDDEN);
    ensure!(get_with(&server, &cookie, "/api/v1/hosts").await? == StatusCode::OK);

    // Revoked through another store handle (as `portwatch token revoke` in another process
    // does): the session is over on its next request, for the API and the dashboard.
    let other = Store::open(&format!("sqlite://{}/pw.db", server.dir.path().display())).await?;
    ensure!(other.revoke_token(id).await?);
    ensure!(get_with(&server, &cookie, "/api/v1/hosts").await? == StatusCode::UNAUTHORIZED);
    ensure!(get_with(&server, &cookie, "/").await? == StatusCode::SEE_OTHER);
    Ok(())
}

#[tokio::test]
async fn logout_ends_the_session_on_the_server() -> Result<()> {
    let server = start(Network::default(), None).await?;
    let (token, _) = tokens::create(&server.store, "ops", Role::Viewer).await?;
    let (cookie, csrf) = login(&server, &token).await?;
    let (other, _) = login(&server, &token).await?;
    ensure!(server.state.session_count() == 2);
    let answer = client()
        .post(format!("http://{}/logout", server.addr))
        .header("cookie", &cookie)
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await?;
    ensure!(answer.status() == StatusCode::SEE_OTHER);
    // The browser's copy is cleared, and a kept copy of the cookie is no session any more.
    ensure!(get_with(&server, &cookie, "/api/v1/hosts").await? == StatusCode::UNAUTHORIZED);
    ensure!(get_with(&server, &cookie, "/").await? == StatusCode::SEE_OTHER);
    // The token's other session is not affected.
    ensure!(get_with(&server, &other, "/api/v1/hosts").await? == StatusCode::OK);
    ensure!(server.state.session_count() == 1);
    Ok(())
}
