//! Who may see and do what on the dashboard: pages send people without a session to the
//! login page; actions need an admin session and the session's CSRF token, answer 303 back
//! to the page, really reach the monitor, are confirmed on the page they return to (once),
//! and can be undone from there.

mod common_pages;

use anyhow::Result;
use common_pages::{FILESRV, Server, client, cookie_pair, filesrv_key, fixture};
use portwatch_monitor::alerts::Entry;
use portwatch_monitor::daemon::Daemon;
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

/// Posts `form` with the session's CSRF token and `next=/` to `path` as `admin`; the action
/// answers 303 back to `/`, whose page (with its flash) is returned.
async fn act(
    server: &Server,
    admin: &str,
    csrf: &str,
    path: &str,
    form: &[(&str, &str)],
) -> Result<String> {
    let mut form = form.to_vec();
    form.extend([("_csrf", csrf), ("next", "/")]);
    let r = post(server, Some(admin), path, &form).await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
    assert_eq!(location(&r), "/", "{path}");
    server.page(admin, "/").await
}

/// The viewer with its own CSRF token, and the admin without one, are refused `path` (with
/// `form`).
async fn refused_to_viewer_and_without_csrf(
    server: &Server,
    (viewer, viewer_csrf): (&str, &str),
    admin: &str,
    path: &str,
    form: &[(&str, &str)],
) -> Result<()> {
    let mut with_csrf = vec![("_csrf", viewer_csrf)];
    with_csrf.extend_from_slice(form);
    let r = post(server, Some(viewer), path, &with_csrf).await?;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "viewer {path}");
    let r = post(server, Some(admin), path, form).await?;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "missing CSRF {path}");
    Ok(())
}

/// The file server's violation as the monitor has it now.
async fn filesrv_entry(daemon: &Daemon) -> Entry {
    daemon
        .book()
        .await
        .get(&filesrv_key())
        .cloned()
        .expect("tracked")
}

/// The state of "scan now" request `id`.
async fn request_state(daemon: &Daemon, id: i64) -> Result<String> {
    Ok(daemon
        .scan_request(id)
        .await?
        .expect("stored")
        .state
        .as_str()
        .to_string())
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
    let (viewer, viewer_csrf) = server.session(Role::Viewer).await?;
    let admin = server.cookie(Role::Admin).await?;
    let ack = format!("/violations/{}/ack", key_url());
    let silence = format!("/violations/{}/silence", key_url());
    for path in ["/groups/lab/scan", ack.as_str(), silence.as_str()] {
        refused_to_viewer_and_without_csrf(
            &server,
            (&viewer, &viewer_csrf),
            &admin,
            path,
            &[("duration", "1h")],
        )
        .await?;
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
    let entry = filesrv_entry(server.daemon.as_ref().expect("a daemon")).await;
    assert!(
        !entry.acknowledged && entry.silenced_until_ms.is_none(),
        "nothing changed"
    );
    Ok(())
}

#[tokio::test]
async fn admins_act_and_go_back_to_the_page() -> Result<()> {
    let server = fixture(true).await?;
    let (admin, csrf) = server.session(Role::Admin).await?;
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
    assert!(filesrv_entry(&daemon).await.acknowledged);
    let html = server.page(&admin, &back).await?;
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
    let until = filesrv_entry(&daemon)
        .await
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
    let (admin, csrf) = server.session(Role::Admin).await?;
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
    let html = server.page(&cookie, "/config").await?;
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

#[tokio::test]
async fn actions_say_what_they_did_once_update_the_counts_and_can_be_undone() -> Result<()> {
    let server = fixture(true).await?;
    let (admin, csrf) = server.session(Role::Admin).await?;
    let daemon = server.daemon.clone().expect("a daemon");
    let (ack, unack, silence, unsilence) = (
        format!("/violations/{}/ack", key_url()),
        format!("/violations/{}/unack", key_url()),
        format!("/violations/{}/silence", key_url()),
        format!("/violations/{}/unsilence", key_url()),
    );
    let before = server.page(&admin, "/").await?;
    assert!(before.contains("0 acknowledged · 0 silenced"), "{before}");
    assert!(!before.contains("class=\"flash\""));

    let html = act(&server, &admin, &csrf, &ack, &[]).await?;
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
    let again = server.page(&admin, "/").await?;
    assert!(!again.contains("class=\"flash\""));
    assert!(again.contains("Unacknowledge"));

    let html = act(&server, &admin, &csrf, &unack, &[]).await?;
    assert!(!filesrv_entry(&daemon).await.acknowledged);
    assert!(
        html.contains("is no longer acknowledged: reminders resume"),
        "{html}"
    );
    assert!(html.contains("0 acknowledged · 0 silenced"));

    let html = act(&server, &admin, &csrf, &silence, &[("duration", "1h")]).await?;
    assert!(
        html.contains(&format!("Silenced 445/tcp on {FILESRV}")),
        "{html}"
    );
    assert!(html.contains(&format!("action=\"{unsilence}\"")));
    assert!(html.contains("0 acknowledged · 1 silenced"));
    let html = act(&server, &admin, &csrf, &unsilence, &[]).await?;
    assert!(filesrv_entry(&daemon).await.silenced_until_ms.is_none());
    assert!(html.contains("is lifted"), "{html}");
    assert!(html.contains("0 acknowledged · 0 silenced"));

    let html = act(&server, &admin, &csrf, "/groups/lab/scan", &[]).await?;
    assert!(html.contains("Scan of group lab asked for"), "{html}");

    // The undoing actions are guarded like the others.
    let (viewer, viewer_csrf) = server.session(Role::Viewer).await?;
    for path in [unack.as_str(), unsilence.as_str()] {
        refused_to_viewer_and_without_csrf(&server, (&viewer, &viewer_csrf), &admin, path, &[])
            .await?;
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
    let (admin, csrf) = server.session(Role::Admin).await?;
    let daemon = server.daemon.clone().expect("a daemon");
    let html = act(&server, &admin, &csrf, "/groups/lab/scan", &[]).await?;
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
    let js = server
        .asset("/static/portwatch.js", "text/javascript")
        .await?;
    assert!(js.contains("/api/v1/scans/requests/"));
    // A page without such a flash loads no script.
    assert!(!server.page(&admin, "/").await?.contains("<script"));

    // Guarded like the other actions.
    let (viewer, viewer_csrf) = server.session(Role::Viewer).await?;
    refused_to_viewer_and_without_csrf(&server, (&viewer, &viewer_csrf), &admin, &cancel, &[])
        .await?;
    assert_eq!(request_state(&daemon, id).await?, "pending");

    let html = act(&server, &admin, &csrf, &cancel, &[]).await?;
    assert_eq!(request_state(&daemon, id).await?, "cancelled");
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
    let html = act(
        &server,
        &admin,
        &csrf,
        &format!("/scans/requests/{done}/cancel"),
        &[],
    )
    .await?;
    assert!(
        html.contains("Scan of group lab had already completed"),
        "{html}"
    );
    assert_eq!(request_state(&daemon, done).await?, "done");
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
