//! Who may see and do what on the dashboard: pages send people without a session to the
//! login page; actions need an admin session and the session's CSRF token, answer 303 back
//! to the page, really reach the monitor, are confirmed on the page they return to (once),
//! and can be undone from there.

mod common_pages;

use anyhow::Result;
use common_pages::{FILESRV, Server, client, cookie_pair, filesrv_key, fixture};
use portwatch_web::auth::Role;
use reqwest::StatusCode;

fn key_url() -> String {
    filesrv_key()
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn post(
    server: &Server,
    cookie: Option<&str>,
    path: &str,
    form: &[(&str, &str)],
) -> Result<reqwest::Response> {
    let mut req = client().post(server.url(path)).form(form);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    Ok(req.send().await?)
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

#[tokio::test]
async fn pages_and_actions_without_a_session_go_to_the_login_page() -> Result<()> {
    let server = fixture(true).await?;
    for path in ["/", "/hosts/10.0.0.5", "/ports/445", "/config"] {
        let r = client().get(server.url(path)).send().await?;
        assert!(r.status().is_redirection(), "{path}: {}", r.status());
        assert!(
            location(&r).starts_with("/login?next="),
            "{path}: {}",
            location(&r)
        );
    }
    let ack = format!("/violations/{}/ack", key_url());
    for path in ["/groups/lab/scan", ack.as_str()] {
        let r = post(&server, None, path, &[("_csrf", "x")]).await?;
        assert!(r.status().is_redirection(), "{path}: {}", r.status());
        assert!(location(&r).starts_with("/login"), "{path}");
    }
    // A forged cookie is no session either.
    let r = client()
        .get(server.url("/"))
        .header("cookie", "portwatch_session=v1.e30.AAAA")
        .send()
        .await?;
    assert!(r.status().is_redirection());
    Ok(())
}

#[tokio::test]
async fn viewers_and_missing_or_wrong_csrf_tokens_get_403() -> Result<()> {
    let server = fixture(true).await?;
    let viewer = server.cookie(Role::Viewer).await?;
    let viewer_csrf = server.csrf_of(&viewer)?;
    let admin = server.cookie(Role::Admin).await?;
    let ack = format!("/violations/{}/ack", key_url());
    let silence = format!("/violations/{}/silence", key_url());
    for path in ["/groups/lab/scan", ack.as_str(), silence.as_str()] {
        let r = post(
            &server,
            Some(&viewer),
            path,
            &[("_csrf", &viewer_csrf), ("duration", "1h")],
        )
        .await?;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "viewer {path}");
        let r = post(&server, Some(&admin), path, &[("duration", "1h")]).await?;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "missing CSRF {path}");
        let r = post(
            &server,
            Some(&admin),
            path,
            &[("_csrf", &viewer_csrf), ("duration", "1h")],
        )
        .await?;
        assert_eq!(
            r.status(),
            StatusCode::FORBIDDEN,
            "another session's CSRF {path}"
        );
        assert!(r.text().await?.contains("CSRF"));
    }
    let book = server.daemon.as_ref().expect("a daemon").book().await;
    let entry = book.get(&filesrv_key()).expect("tracked");
    assert!(
        !entry.acknowledged && entry.silenced_until_ms.is_none(),
        "nothing changed"
    );
    Ok(())
}

#[tokio::test]
async fn admins_act_and_go_back_to_the_page() -> Result<()> {
    let server = fixture(true).await?;
    let admin = server.cookie(Role::Admin).await?;
    let csrf = server.csrf_of(&admin)?;
    let daemon = server.daemon.clone().expect("a daemon");
    let back = format!("/hosts/{FILESRV}");

    let r = post(
        &server,
        Some(&admin),
        &format!("/violations/{}/ack", key_url()),
        &[("_csrf", &csrf), ("next", &back)],
    )
    .await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), back);
    assert!(
        daemon
            .book()
            .await
            .get(&filesrv_key())
            .expect("tracked")
            .acknowledged
    );
    let html = client()
        .get(server.url(&back))
        .header("cookie", &admin)
        .send()
        .await?
        .text()
        .await?;
    assert!(html.contains("acknowledged"), "the page shows it");

    let before = portwatch_monitor::daemon::now_ms();
    let r = post(
        &server,
        Some(&admin),
        &format!("/violations/{}/silence", key_url()),
        &[
            ("_csrf", &csrf),
            ("duration", "4h"),
            ("next", "//evil.example/"),
        ],
    )
    .await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/", "never back to another site");
    let until = daemon
        .book()
        .await
        .get(&filesrv_key())
        .expect("tracked")
        .silenced_until_ms
        .expect("silenced");
    assert!((until - before - 4 * 3_600_000).abs() < 60_000);

    let r = post(
        &server,
        Some(&admin),
        "/groups/lab/scan",
        &[("_csrf", &csrf), ("next", "/?page=2")],
    )
    .await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/?page=2");

    for (path, form, code) in [
        (
            "/groups/nope/scan",
            vec![("_csrf", csrf.as_str())],
            StatusCode::NOT_FOUND,
        ),
        (
            "/violations/nope/ack",
            vec![("_csrf", csrf.as_str())],
            StatusCode::NOT_FOUND,
        ),
        (
            &format!("/violations/{}/silence", key_url()) as &str,
            vec![("_csrf", csrf.as_str()), ("duration", "99y")],
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let r = post(&server, Some(&admin), path, &form).await?;
        assert_eq!(r.status(), code, "{path}");
    }
    Ok(())
}

#[tokio::test]
async fn without_a_monitor_actions_are_unavailable() -> Result<()> {
    let server = fixture(false).await?;
    let admin = server.cookie(Role::Admin).await?;
    let csrf = server.csrf_of(&admin)?;
    let r = post(
        &server,
        Some(&admin),
        "/groups/lab/scan",
        &[("_csrf", &csrf)],
    )
    .await?;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    Ok(())
}

#[tokio::test]
async fn signing_in_through_the_form_gives_a_working_session_and_logout_ends_it() -> Result<()> {
    let server = fixture(false).await?;
    let (token, _) = portwatch_web::auth::tokens::create(&server.store, "ops", Role::Admin).await?;
    let login = client()
        .get(server.url("/login"))
        .send()
        .await?
        .text()
        .await?;
    assert!(
        login.contains("/static/portwatch.css"),
        "the login page shares the stylesheet"
    );
    let r = client()
        .post(server.url("/login"))
        .form(&[("token", token.as_str()), ("next", "/config")])
        .send()
        .await?;
    assert!(r.status().is_redirection());
    assert_eq!(location(&r), "/config");
    let cookie = cookie_pair(r.headers()["set-cookie"].to_str()?);
    let html = client()
        .get(server.url("/config"))
        .header("cookie", &cookie)
        .send()
        .await?
        .text()
        .await?;
    assert!(html.contains("Signed in as <strong>ops</strong>"));
    let csrf = server.csrf_of(&cookie)?;
    let r = post(&server, Some(&cookie), "/logout", &[("_csrf", "wrong")]).await?;
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "logout needs the CSRF token too"
    );
    let r = post(&server, Some(&cookie), "/logout", &[("_csrf", &csrf)]).await?;
    assert!(r.status().is_redirection());
    assert!(r.headers()["set-cookie"].to_str()?.contains("Max-Age=0"));
    Ok(())
}

async fn page(server: &Server, cookie: &str, path: &str) -> Result<String> {
    Ok(client()
        .get(server.url(path))
        .header("cookie", cookie)
        .send()
        .await?
        .text()
        .await?)
}

#[tokio::test]
async fn actions_say_what_they_did_once_update_the_counts_and_can_be_undone() -> Result<()> {
    let server = fixture(true).await?;
    let admin = server.cookie(Role::Admin).await?;
    let csrf = server.csrf_of(&admin)?;
    let daemon = server.daemon.clone().expect("a daemon");
    let (ack, unack, silence, unsilence) = (
        format!("/violations/{}/ack", key_url()),
        format!("/violations/{}/unack", key_url()),
        format!("/violations/{}/silence", key_url()),
        format!("/violations/{}/unsilence", key_url()),
    );
    let before = page(&server, &admin, "/").await?;
    assert!(before.contains("0 acknowledged · 0 silenced"), "{before}");
    assert!(!before.contains("class=\"flash\""));

    let r = post(
        &server,
        Some(&admin),
        &ack,
        &[("_csrf", &csrf), ("next", "/")],
    )
    .await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = page(&server, &admin, "/").await?;
    assert!(
        html.contains("<div class=\"flash\" role=\"status\">"),
        "{html}"
    );
    assert!(
        html.contains(&format!(
            "Acknowledged 445/tcp on {FILESRV} (group file-servers, must be closed)"
        )),
        "{html}"
    );
    assert!(
        html.contains(&format!("action=\"{unack}\"")),
        "an undo button"
    );
    assert!(html.contains("Undo the acknowledgement"));
    assert!(html.contains("1 acknowledged · 0 silenced"), "the counts");
    // Shown once: the next page has no flash, but the row keeps its own undo button.
    let again = page(&server, &admin, "/").await?;
    assert!(!again.contains("class=\"flash\""));
    assert!(again.contains("Unacknowledge"));

    let r = post(
        &server,
        Some(&admin),
        &unack,
        &[("_csrf", &csrf), ("next", "/")],
    )
    .await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        !daemon
            .book()
            .await
            .get(&filesrv_key())
            .expect("tracked")
            .acknowledged
    );
    let html = page(&server, &admin, "/").await?;
    assert!(
        html.contains("is no longer acknowledged: reminders resume"),
        "{html}"
    );
    assert!(html.contains("0 acknowledged · 0 silenced"));

    let r = post(
        &server,
        Some(&admin),
        &silence,
        &[("_csrf", &csrf), ("duration", "1h"), ("next", "/")],
    )
    .await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = page(&server, &admin, "/").await?;
    assert!(
        html.contains(&format!("Silenced 445/tcp on {FILESRV}")),
        "{html}"
    );
    assert!(html.contains(&format!("action=\"{unsilence}\"")));
    assert!(html.contains("0 acknowledged · 1 silenced"));
    let r = post(
        &server,
        Some(&admin),
        &unsilence,
        &[("_csrf", &csrf), ("next", "/")],
    )
    .await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        daemon
            .book()
            .await
            .get(&filesrv_key())
            .expect("tracked")
            .silenced_until_ms
            .is_none()
    );
    let html = page(&server, &admin, "/").await?;
    assert!(html.contains("is lifted"), "{html}");
    assert!(html.contains("0 acknowledged · 0 silenced"));

    let r = post(
        &server,
        Some(&admin),
        "/groups/lab/scan",
        &[("_csrf", &csrf), ("next", "/")],
    )
    .await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = page(&server, &admin, "/").await?;
    assert!(html.contains("Scan of group lab asked for"), "{html}");

    // The undoing actions are guarded like the others.
    let viewer = server.cookie(Role::Viewer).await?;
    let viewer_csrf = server.csrf_of(&viewer)?;
    for path in [unack.as_str(), unsilence.as_str()] {
        let r = post(&server, Some(&viewer), path, &[("_csrf", &viewer_csrf)]).await?;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "viewer {path}");
        let r = post(&server, Some(&admin), path, &[]).await?;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "missing CSRF {path}");
    }
    let r = post(
        &server,
        Some(&admin),
        "/violations/nope/unack",
        &[("_csrf", &csrf)],
    )
    .await?;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    Ok(())
}

/// The request id in a page's flash that follows a "scan now".
fn watched_request(html: &str) -> Option<i64> {
    let (_, rest) = html.split_once("data-scan-request=\"")?;
    rest.split('"').next()?.parse().ok()
}

#[tokio::test]
async fn scan_now_is_followed_by_its_flash_and_cancelled_from_it() -> Result<()> {
    // The daemon is not running here, so a request stays pending: no scan starts for it.
    let server = fixture(true).await?;
    let admin = server.cookie(Role::Admin).await?;
    let csrf = server.csrf_of(&admin)?;
    let daemon = server.daemon.clone().expect("a daemon");
    let r = post(
        &server,
        Some(&admin),
        "/groups/lab/scan",
        &[("_csrf", &csrf), ("next", "/")],
    )
    .await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/");
    let html = page(&server, &admin, "/").await?;
    let id = watched_request(&html).expect("the flash follows the request");
    assert!(
        html.contains("<script src=\"/static/portwatch.js\" defer></script>"),
        "{html}"
    );
    let cancel = format!("/scans/requests/{id}/cancel");
    assert!(html.contains(&format!("action=\"{cancel}\"")), "{html}");
    assert!(html.contains("Cancel this scan"), "{html}");
    let request = daemon.scan_request(id).await?.expect("stored");
    assert_eq!(request.group, "lab");
    assert_eq!(request.state.as_str(), "pending");
    // The script is served, as JavaScript, from this origin.
    let js = client()
        .get(server.url("/static/portwatch.js"))
        .send()
        .await?;
    assert_eq!(js.status(), StatusCode::OK);
    assert!(
        js.headers()["content-type"]
            .to_str()?
            .starts_with("text/javascript")
    );
    assert!(js.text().await?.contains("/api/v1/scans/requests/"));
    // A page without such a flash loads no script.
    assert!(!page(&server, &admin, "/").await?.contains("<script"));

    // Guarded like the other actions.
    let viewer = server.cookie(Role::Viewer).await?;
    let viewer_csrf = server.csrf_of(&viewer)?;
    let r = post(&server, Some(&viewer), &cancel, &[("_csrf", &viewer_csrf)]).await?;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = post(&server, Some(&admin), &cancel, &[]).await?;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        daemon
            .scan_request(id)
            .await?
            .expect("stored")
            .state
            .as_str(),
        "pending"
    );

    let r = post(
        &server,
        Some(&admin),
        &cancel,
        &[("_csrf", &csrf), ("next", "/")],
    )
    .await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        daemon
            .scan_request(id)
            .await?
            .expect("stored")
            .state
            .as_str(),
        "cancelled"
    );
    let html = page(&server, &admin, "/").await?;
    assert!(
        html.contains("Scan of group lab cancelled: nothing of it is recorded."),
        "{html}"
    );
    assert!(html.contains("action=\"/groups/lab/scan\""), "{html}");
    assert!(html.contains("Ask for it again"), "{html}");
    assert!(watched_request(&html).is_none());

    // A request whose scan completed stays as it is.
    let done = server.store.scan_request_add("lab", 1).await?.id;
    assert_eq!(server.store.scan_requests_claim("lab", 2).await?, [done]);
    server
        .store
        .scan_requests_finish(&[done], portwatch_store::ScanRequestState::Done, 3)
        .await?;
    let r = post(
        &server,
        Some(&admin),
        &format!("/scans/requests/{done}/cancel"),
        &[("_csrf", &csrf), ("next", "/")],
    )
    .await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = page(&server, &admin, "/").await?;
    assert!(
        html.contains("Scan of group lab had already completed"),
        "{html}"
    );
    assert_eq!(
        daemon
            .scan_request(done)
            .await?
            .expect("stored")
            .state
            .as_str(),
        "done"
    );
    for missing in ["999999", "0", "abc"] {
        let r = post(
            &server,
            Some(&admin),
            &format!("/scans/requests/{missing}/cancel"),
            &[("_csrf", &csrf)],
        )
        .await?;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{missing}");
    }
    Ok(())
}
