//! Authentication and authorisation of every API route: no token, bad tokens, revoked tokens,
//! viewers acting, session cookies (valid, tampered, expired, without CSRF), and the login
//! flow into Swagger UI.

mod common_api;

use anyhow::{Result, ensure};
use common_api::{Api, KEY_445, ROUTES, TestDb, enc, error_of};
use portwatch_web::auth::{Role, SESSION_COOKIE};
use reqwest::StatusCode;

both_backends!(
    every_route_needs_a_token,
    viewers_read_but_do_not_act,
    session_cookies_need_csrf_and_integrity,
    login_then_docs_with_the_session,
    the_document_lists_every_route,
    agent_tokens_reach_only_the_agent_endpoints,
);

/// An agent token is refused (403) by every route but the agent endpoints, and opens no
/// dashboard session; on the agent endpoints it is heard (a heartbeat is recorded).
async fn agent_tokens_reach_only_the_agent_endpoints(db: TestDb) -> Result<()> {
    let api = Api::start(db, true).await?;
    let (agent, _) = portwatch_web::auth::tokens::create_agent(&api.store, "lan-1", "lan").await?;
    for (method, template) in ROUTES {
        if template.starts_with("/api/v1/agent/") {
            continue;
        }
        let path = api.fill(template);
        let body = api.body_for(method, template);
        let (status, answer) = api
            .send(method, &path, Some(&agent), &[], body.as_ref())
            .await?;
        ensure!(
            status == StatusCode::FORBIDDEN && error_of(&answer).contains("agent endpoints"),
            "agent {method} {path}: {status} {answer}"
        );
    }
    let heartbeat = serde_json::json!({"version": "9.9", "current_job": 5});
    let (status, answer) = api
        .send(
            "post",
            "/api/v1/agent/poll",
            Some(&agent),
            &[],
            Some(&heartbeat),
        )
        .await?;
    ensure!(status == StatusCode::NO_CONTENT, "{status} {answer}");
    let agents = api.store.agents().await?;
    ensure!(
        agents.len() == 1
            && agents[0].vantage == "lan"
            && agents[0].version == "9.9"
            && agents[0].current_job == Some(5),
        "{agents:?}"
    );
    let listed = api.ok("/api/v1/agents").await?;
    ensure!(listed["items"][0]["name"] == "lan-1", "{listed}");
    let form = [("token", agent.as_str())];
    let signed_in = api
        .client
        .post(format!("{}/login", api.base))
        .form(&form)
        .send()
        .await?;
    ensure!(
        signed_in.status() == StatusCode::UNAUTHORIZED
            && signed_in.headers().get("set-cookie").is_none(),
        "an agent token opens no session: {}",
        signed_in.status()
    );
    Ok(())
}

async fn every_route_needs_a_token(db: TestDb) -> Result<()> {
    let api = Api::start(db, true).await?;
    let before = api.db.counts().await?;
    let bad = [
        None,
        Some("garbage"),
        Some("pw_0000000000000000000000000000000000000000000000000000000000000000"),
        Some(&api.admin[..api.admin.len() - 1]),
    ];
    for (method, template) in ROUTES {
        let path = api.fill(template);
        let body = api.body_for(method, template);
        for token in bad {
            let (status, answer) = api.send(method, &path, token, &[], body.as_ref()).await?;
            ensure!(
                status == StatusCode::UNAUTHORIZED && error_of(&answer).contains("Bearer"),
                "{method} {path} with {token:?}: {status} {answer}"
            );
        }
        // Another scheme is not a token either.
        let (status, _) = api
            .send(
                method,
                &path,
                None,
                &[("authorization", "Basic YWRtaW46YWRtaW4=")],
                body.as_ref(),
            )
            .await?;
        ensure!(
            status == StatusCode::UNAUTHORIZED,
            "{method} {path}: Basic gave {status}"
        );
    }
    // Unknown API paths and wrong methods do not answer before authentication either.
    for path in ["/api/v1/nope", "/api/v1/hosts/10.0.0.5/extra", "/api"] {
        let (status, answer) = api.get_as(None, path).await?;
        ensure!(
            status == StatusCode::UNAUTHORIZED,
            "{path}: {status} {answer}"
        );
        let (status, answer) = api.get(path).await?;
        ensure!(
            status == StatusCode::NOT_FOUND && !error_of(&answer).is_empty(),
            "{path}: {status} {answer}"
        );
    }
    let (status, answer) = api
        .post_as(None, "/api/v1/hosts", &serde_json::json!({}))
        .await?;
    ensure!(status == StatusCode::UNAUTHORIZED, "{status} {answer}");
    let (status, answer) = api.post("/api/v1/hosts", &serde_json::json!({})).await?;
    ensure!(
        status == StatusCode::METHOD_NOT_ALLOWED && !error_of(&answer).is_empty(),
        "{status} {answer}"
    );
    // A revoked token stops working at once.
    let (token, id) =
        portwatch_web::auth::tokens::create(&api.store, "short-lived", Role::Viewer).await?;
    ensure!(api.get_as(Some(&token), "/api/v1/hosts").await?.0 == StatusCode::OK);
    api.store.revoke_token(id).await?;
    ensure!(api.get_as(Some(&token), "/api/v1/hosts").await?.0 == StatusCode::UNAUTHORIZED);
    let mut after = api.db.counts().await?;
    after.insert("api_tokens", after["api_tokens"] - 1);
    ensure!(
        before == after,
        "refused requests changed the database: {before:?} {after:?}"
    );
    Ok(())
}

async fn viewers_read_but_do_not_act(db: TestDb) -> Result<()> {
    let api = Api::start(db, true).await?;
    let before = api.db.counts().await?;
    for (method, template) in ROUTES {
        let path = api.fill(template);
        let body = api.body_for(method, template);
        let (status, answer) = api
            .send(method, &path, Some(&api.viewer), &[], body.as_ref())
            .await?;
        if *method == "get" {
            ensure!(
                status == StatusCode::OK,
                "viewer {method} {path}: {status} {answer}"
            );
        } else {
            ensure!(
                status == StatusCode::FORBIDDEN && error_of(&answer).contains("admin"),
                "viewer {method} {path}: {status} {answer}"
            );
        }
    }
    let v = api.ok("/api/v1/violations?status=firing").await?;
    ensure!(
        v["items"][0]["acknowledged"] == false && v["items"][0]["silenced_until"].is_null(),
        "{v}"
    );
    ensure!(
        before == api.db.counts().await?,
        "a viewer changed the database"
    );
    Ok(())
}

async fn session_cookies_need_csrf_and_integrity(db: TestDb) -> Result<()> {
    let api = Api::start(db, true).await?;
    let (cookie, csrf) = api.session(Role::Admin, 3600).await?;
    let with = |value: &str| format!("{SESSION_COOKIE}={value}");
    let ack = format!("/api/v1/violations/{}/ack", enc(KEY_445));
    let empty = serde_json::json!({});

    let (status, _) = api
        .send(
            "get",
            "/api/v1/hosts",
            None,
            &[("cookie", &with(&cookie))],
            None,
        )
        .await?;
    ensure!(status == StatusCode::OK, "a session reads: {status}");
    for headers in [
        vec![("cookie", with(&cookie))],
        vec![("cookie", with(&cookie)), ("x-csrf-token", "0".repeat(48))],
        vec![("cookie", with(&cookie)), ("x-csrf-token", String::new())],
    ] {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, answer) = api.send("post", &ack, None, &h, Some(&empty)).await?;
        ensure!(
            status == StatusCode::FORBIDDEN && error_of(&answer).contains("CSRF"),
            "{h:?}: {status} {answer}"
        );
    }
    let v = api.ok("/api/v1/violations?status=firing").await?;
    ensure!(v["items"][0]["acknowledged"] == false, "{v}");

    // Tampered: a changed payload byte, a changed signature, a forged role, another key.
    let mut tampered = Vec::new();
    let (payload_at, sig_at) = (5, cookie.len() - 3);
    for at in [payload_at, sig_at] {
        let mut bytes = cookie.clone().into_bytes();
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        tampered.push(String::from_utf8(bytes)?);
    }
    let (viewer_cookie, _) = api.session(Role::Viewer, 3600).await?;
    let (admin_payload, viewer_sig) = (
        cookie.split('.').nth(1).unwrap_or_default(),
        viewer_cookie.rsplit('.').next().unwrap_or_default(),
    );
    tampered.push(format!("v1.{admin_payload}.{viewer_sig}"));
    let other_key = portwatch_web::auth::Session::new(api.admin_id, "x", Role::Admin, 0);
    tampered.push(other_key.encode(&[9u8; 32]));
    tampered.push("v1..".into());
    let (expired, expired_csrf) = api.session(Role::Admin, -1).await?;
    for bad in tampered {
        let (status, answer) = api
            .send(
                "get",
                "/api/v1/hosts",
                None,
                &[("cookie", &with(&bad))],
                None,
            )
            .await?;
        ensure!(
            status == StatusCode::UNAUTHORIZED,
            "tampered {bad}: {status} {answer}"
        );
    }
    for (method, body) in [("get", None), ("post", Some(&empty))] {
        let path = if method == "get" {
            "/api/v1/hosts"
        } else {
            ack.as_str()
        };
        let (status, answer) = api
            .send(
                method,
                path,
                None,
                &[("cookie", &with(&expired)), ("x-csrf-token", &expired_csrf)],
                body,
            )
            .await?;
        ensure!(
            status == StatusCode::UNAUTHORIZED,
            "expired {method}: {status} {answer}"
        );
    }
    // A viewer's session with its CSRF token is still a viewer.
    let (viewer_cookie, viewer_csrf) = api.session(Role::Viewer, 3600).await?;
    let (status, _) = api
        .send(
            "post",
            &ack,
            None,
            &[
                ("cookie", &with(&viewer_cookie)),
                ("x-csrf-token", &viewer_csrf),
            ],
            Some(&empty),
        )
        .await?;
    ensure!(
        status == StatusCode::FORBIDDEN,
        "viewer session acted: {status}"
    );
    // With its CSRF token, the admin's session acts.
    let (status, answer) = api
        .send(
            "post",
            &ack,
            None,
            &[("cookie", &with(&cookie)), ("x-csrf-token", &csrf)],
            Some(&empty),
        )
        .await?;
    ensure!(
        status == StatusCode::OK && answer["acknowledged"] == true,
        "{status} {answer}"
    );
    Ok(())
}

async fn login_then_docs_with_the_session(db: TestDb) -> Result<()> {
    let api = Api::start(db, true).await?;
    // A browser without a session is sent to the login page and back.
    let r = api
        .client
        .get(format!("{}/api/docs/", api.base))
        .header("accept", "text/html")
        .send()
        .await?;
    ensure!(r.status() == StatusCode::SEE_OTHER, "{}", r.status());
    let to = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    ensure!(to == "/login?next=/api/docs/", "{to}");
    let r = api
        .client
        .post(format!("{}/login", api.base))
        .form(&[("token", api.admin.as_str()), ("next", "/api/docs/")])
        .send()
        .await?;
    ensure!(r.status().is_redirection(), "login: {}", r.status());
    let set = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let cookie = set.split(';').next().unwrap_or_default().to_string();
    ensure!(cookie.starts_with(SESSION_COOKIE), "{set}");
    for path in [
        "/api/docs/",
        "/api/openapi.json",
        "/api/docs/swagger-ui.css",
    ] {
        let r = api
            .client
            .get(format!("{}{path}", api.base))
            .header("cookie", &cookie)
            .send()
            .await?;
        ensure!(
            r.status() == StatusCode::OK,
            "{path} with a session: {}",
            r.status()
        );
    }
    Ok(())
}

/// The OpenAPI document names exactly the routes the server answers: every (method, path) in
/// it is in the test's list and the other way round, and each one answers an admin with
/// something other than "no such route" or "wrong method".
async fn the_document_lists_every_route(db: TestDb) -> Result<()> {
    let api = Api::start(db, true).await?;
    let (status, doc) = api.get("/api/openapi.json").await?;
    ensure!(status == StatusCode::OK, "{status}");
    ensure!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc["openapi"]
    );
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                documented.push((method.to_string(), path.clone()));
            }
        }
    }
    documented.sort();
    let mut listed: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    listed.sort();
    ensure!(
        documented == listed,
        "document {documented:?}\nroutes {listed:?}"
    );
    for (method, template) in ROUTES {
        let path = api.fill(template);
        let body = api.body_for(method, template);
        let (status, answer) = api
            .send(method, &path, Some(&api.admin), &[], body.as_ref())
            .await?;
        let unrouted = status == StatusCode::METHOD_NOT_ALLOWED
            || (status == StatusCode::NOT_FOUND && error_of(&answer).contains("no API route"));
        ensure!(!unrouted, "{method} {path}: {status} {answer}");
    }
    Ok(())
}
