//! Input validation: bodies (malformed, wrong type, missing or extra fields, too large), query
//! and path parameters (bad values, unknown names), and SQL metacharacters and path traversal
//! in every parameter — each a JSON 4xx, with the database unchanged.

mod common_api;

use anyhow::{Result, ensure};
use common_api::{Api, KEY_445, TestDb, enc, error_of};
use reqwest::StatusCode;
use serde_json::{Value, json};

both_backends!(
    bodies_are_checked,
    oversized_bodies_are_refused,
    query_parameters_are_checked,
    path_parameters_are_checked,
    injection_and_traversal_change_nothing,
);

/// POSTs `body` (raw bytes) with `content_type` as admin.
async fn post_raw(
    api: &Api,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> Result<(StatusCode, Value)> {
    let mut req = api
        .client
        .post(format!("{}{path}", api.base))
        .bearer_auth(&api.admin)
        .body(body.to_string());
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    common_api::answer(req.send().await?).await
}

fn is_json_error(body: &Value) -> bool {
    body.as_object().is_some_and(|o| o.len() == 1) && !error_of(body).is_empty()
}

async fn bodies_are_checked(db: TestDb) -> Result<()> {
    let api = Api::start(db, true).await?;
    let before = api.db.counts().await?;
    let json_ct = Some("application/json");
    let silence = format!("/api/v1/violations/{}/silence", enc(KEY_445));
    let cases: Vec<(&str, Option<&str>, String, StatusCode)> = vec![
        (
            "/api/v1/scans",
            json_ct,
            "{\"group\": ".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/scans",
            json_ct,
            "{group: 'local'}".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/scans",
            json_ct,
            String::new(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/scans",
            json_ct,
            "{\"group\":\"x\"} trailing".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/scans",
            Some("text/plain"),
            "{\"group\":\"local\"}".into(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "/api/v1/scans",
            Some("application/x-www-form-urlencoded"),
            "group=local".into(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "/api/v1/scans",
            None,
            "{\"group\":\"local\"}".into(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "/api/v1/scans",
            json_ct,
            "{}".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/api/v1/scans",
            json_ct,
            "{\"group\":\"local\",\"now\":true}".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/api/v1/scans",
            json_ct,
            "{\"group\":5}".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/api/v1/scans",
            json_ct,
            "[\"local\"]".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/api/v1/scans",
            json_ct,
            "{\"group\":\"no-such-group\"}".into(),
            StatusCode::NOT_FOUND,
        ),
        (&silence, json_ct, "{".into(), StatusCode::BAD_REQUEST),
        (
            &silence,
            Some("text/plain"),
            "{\"for\":\"1h\"}".into(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (&silence, json_ct, "{}".into(), StatusCode::BAD_REQUEST),
        (
            &silence,
            json_ct,
            "{\"for\":\"1h\",\"until\":\"2030-01-01T00:00:00Z\"}".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            &silence,
            json_ct,
            "{\"until\":\"yesterday\"}".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            &silence,
            json_ct,
            "{\"until\":\"2001-01-01T00:00:00Z\"}".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            &silence,
            json_ct,
            "{\"for\":\"31d\"}".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            &silence,
            json_ct,
            "{\"for\":\"5 parsecs\"}".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            &silence,
            json_ct,
            "{\"for\":\"0\"}".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            &silence,
            json_ct,
            "{\"for\":\"99999999999999d\"}".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            &silence,
            json_ct,
            "{\"until\":5}".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            &silence,
            json_ct,
            "{\"for\":\"1h\",\"reason\":\"x\"}".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (path, ct, body, want) in cases {
        let (status, answer) = post_raw(&api, path, ct, &body).await?;
        ensure!(
            status == want && is_json_error(&answer),
            "POST {path} {ct:?} {body:?}: {status} {answer} (wanted {want})"
        );
    }
    let far = chrono::Utc::now() + chrono::Duration::days(31);
    let (status, answer) = api
        .post(&silence, &json!({"until": far.to_rfc3339()}))
        .await?;
    ensure!(
        status == StatusCode::BAD_REQUEST && error_of(&answer).contains("30 days"),
        "{status} {answer}"
    );
    ensure!(
        before == api.db.counts().await?,
        "refused bodies changed the database"
    );
    let v = api.ok("/api/v1/violations?status=firing").await?;
    ensure!(v["items"][0]["silenced_until"].is_null(), "{v}");
    Ok(())
}

async fn oversized_bodies_are_refused(db: TestDb) -> Result<()> {
    let api = Api::start(db, true).await?;
    let before = api.db.counts().await?;
    let big = format!("{{\"group\":\"{}\"}}", "x".repeat(70_000));
    // With a Content-Length: refused before the body is read.
    let (status, _) = post_raw(&api, "/api/v1/scans", Some("application/json"), &big).await?;
    ensure!(status == StatusCode::PAYLOAD_TOO_LARGE, "{status}");
    // Chunked, without a length: refused while reading, as JSON.
    let mut chunked = String::new();
    for piece in big.as_bytes().chunks(8192) {
        chunked.push_str(&format!(
            "{:x}\r\n{}\r\n",
            piece.len(),
            String::from_utf8_lossy(piece)
        ));
    }
    chunked.push_str("0\r\n\r\n");
    let request = format!(
        "POST /api/v1/scans HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{chunked}",
        api.addr, api.admin
    );
    let (status, head, body) = api.raw(request.as_bytes()).await?;
    ensure!(status == 413, "chunked: {head}");
    let answer: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    ensure!(error_of(&answer).contains("larger than"), "{body}");
    ensure!(before == api.db.counts().await?);
    Ok(())
}

async fn query_parameters_are_checked(db: TestDb) -> Result<()> {
    let api = Api::start(db, true).await?;
    let cases = [
        ("/api/v1/hosts?limit=0", "limit"),
        ("/api/v1/hosts?limit=501", "limit"),
        ("/api/v1/hosts?limit=abc", "limit"),
        ("/api/v1/hosts?limit=-1", "limit"),
        ("/api/v1/hosts?limit=", "limit"),
        ("/api/v1/hosts?limit=1e3", "limit"),
        ("/api/v1/hosts?offset=-1", "offset"),
        ("/api/v1/hosts?offset=1.5", "offset"),
        ("/api/v1/hosts?offset=99999999999", "offset"),
        ("/api/v1/hosts?limit=1&limit=2", "limit"),
        ("/api/v1/hosts?has_open=yes", "has_open"),
        ("/api/v1/hosts?q=a%20b", "q"),
        ("/api/v1/hosts?sort=address", "sort"),
        ("/api/v1/hosts/10.0.0.5?verbose=1", "verbose"),
        ("/api/v1/hosts/10.0.0.5/history?port=0", "port"),
        ("/api/v1/hosts/10.0.0.5/history?port=65536", "port"),
        ("/api/v1/hosts/10.0.0.5/history?port=22x", "port"),
        ("/api/v1/hosts/10.0.0.5/history?proto=icmp", "proto"),
        ("/api/v1/scans?status=done", "status"),
        ("/api/v1/scans?before=0", "before"),
        ("/api/v1/scans?before=-3", "before"),
        ("/api/v1/scans?before=9223372036854775808", "before"),
        ("/api/v1/scans?status=COMPLETE", "status"),
        ("/api/v1/scans/1?open=true", "open"),
        ("/api/v1/violations?severity=urgent", "severity"),
        ("/api/v1/violations?status=resolved", "status"),
        ("/api/v1/alerts?status=sent", "status"),
        ("/api/v1/alerts?limit=1000", "limit"),
        ("/api/v1/policies?group=local", "group"),
        ("/api/v1/ports/445?proto=icmp", "proto"),
        ("/api/v1/ports/445?transport=tcp", "transport"),
    ];
    for (path, name) in cases {
        let (status, answer) = api.get(path).await?;
        ensure!(
            status == StatusCode::BAD_REQUEST && is_json_error(&answer),
            "{path}: {status} {answer}"
        );
        ensure!(
            error_of(&answer).contains(&format!("'{name}'")),
            "{path}: {answer}"
        );
    }
    // A group the configuration does not have is a resource that is not there: 404, naming it.
    let (status, answer) = api.get("/api/v1/violations?group=nope").await?;
    ensure!(
        status == StatusCode::NOT_FOUND
            && error_of(&answer).contains("'group': no group named 'nope'"),
        "{status} {answer}"
    );
    let long = "a".repeat(300);
    let (status, answer) = api.get(&format!("/api/v1/hosts?q={long}")).await?;
    ensure!(status == StatusCode::BAD_REQUEST, "{status} {answer}");
    Ok(())
}

async fn path_parameters_are_checked(db: TestDb) -> Result<()> {
    let api = Api::start(db, true).await?;
    let bad = [
        ("/api/v1/hosts/not-an-ip", "addr"),
        ("/api/v1/hosts/999.1.1.1", "addr"),
        ("/api/v1/hosts/10.0.0.5%2F24", "addr"),
        ("/api/v1/hosts/%FF%FE", ""),
        ("/api/v1/hosts/not-an-ip/history", "addr"),
        ("/api/v1/scans/0", "id"),
        ("/api/v1/scans/-1", "id"),
        ("/api/v1/scans/abc", "id"),
        ("/api/v1/scans/1.0", "id"),
        ("/api/v1/scans/99999999999999999999", "id"),
        ("/api/v1/ports/0", "port"),
        ("/api/v1/ports/65536", "port"),
        ("/api/v1/ports/http", "port"),
        ("/api/v1/ports/%2B22", "port"),
    ];
    for (path, name) in bad {
        let (status, answer) = api.get(path).await?;
        ensure!(
            status == StatusCode::BAD_REQUEST && is_json_error(&answer),
            "{path}: {status} {answer}"
        );
        ensure!(error_of(&answer).contains(name), "{path}: {answer}");
    }
    // Text that is not a key names no violation: 404, saying why it is not a key.
    let not_keys = [
        ("garbage", "too few parts"),
        ("g|10.0.0.5|445/tcp|Bogus", "unknown rule"),
        ("g|not-an-ip|445/tcp|MustBeClosed", "bad host address"),
        ("g|10.0.0.5|0/tcp|MustBeClosed", "bad port"),
        ("g|10.0.0.5|445/sctp|MustBeClosed", "bad protocol"),
        ("|10.0.0.5|MustBeClosed", "empty group"),
    ];
    for (key, why) in not_keys {
        let (status, answer) = api
            .post(&format!("/api/v1/violations/{}/ack", enc(key)), &json!({}))
            .await?;
        ensure!(
            status == StatusCode::NOT_FOUND
                && error_of(&answer).contains("is not a violation key")
                && error_of(&answer).contains(why),
            "{key:?}: {status} {answer}"
        );
    }
    // What the OpenAPI document forbids (a control character, over 512 characters): 400.
    let (status, answer) = api
        .post(
            &format!(
                "/api/v1/violations/{}/ack",
                enc("g|10.0.0.5|445/tcp|MustBeClosed\n")
            ),
            &json!({}),
        )
        .await?;
    ensure!(
        status == StatusCode::BAD_REQUEST && error_of(&answer).contains("'key'"),
        "control character: {status} {answer}"
    );
    let long = format!("g|10.0.0.5|445/tcp|MustBeClosed{}", "x".repeat(600));
    let (status, _) = api
        .post(
            &format!("/api/v1/violations/{}/ack", enc(&long)),
            &json!({}),
        )
        .await?;
    ensure!(status == StatusCode::BAD_REQUEST);
    // Well formed but unknown: 404.
    let (status, answer) = api
        .post(
            &format!(
                "/api/v1/violations/{}/ack",
                enc("g|10.0.0.5|445/tcp|MustBeClosed")
            ),
            &json!({}),
        )
        .await?;
    ensure!(
        status == StatusCode::NOT_FOUND && is_json_error(&answer),
        "{status} {answer}"
    );
    Ok(())
}

/// Values that would do harm if they reached SQL or the filesystem unchecked.
const EVIL: [&str; 8] = [
    "' OR 1=1 --",
    "1' OR '1'='1",
    ";DROP TABLE scans;--",
    "1; DELETE FROM spans",
    "../../etc/passwd",
    "..%2F..%2Fetc%2Fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "..\\..\\windows\\win.ini",
];

async fn injection_and_traversal_change_nothing(db: TestDb) -> Result<()> {
    let api = Api::start(db, true).await?;
    let before = api.db.counts().await?;
    let mut tried = 0;
    for evil in EVIL {
        let e = enc(evil);
        let gets = [
            format!("/api/v1/hosts/{e}"),
            format!("/api/v1/hosts/{e}/history"),
            format!("/api/v1/scans/{e}"),
            format!("/api/v1/ports/{e}"),
            format!("/api/v1/hosts?q={e}"),
            format!("/api/v1/hosts?has_open={e}"),
            format!("/api/v1/hosts?limit={e}"),
            format!("/api/v1/hosts?offset={e}"),
            format!("/api/v1/hosts?{e}=1"),
            format!("/api/v1/hosts/10.0.0.5/history?port={e}"),
            format!("/api/v1/hosts/10.0.0.5/history?proto={e}"),
            format!("/api/v1/scans?status={e}"),
            format!("/api/v1/scans?limit={e}"),
            format!("/api/v1/violations?group={e}"),
            format!("/api/v1/violations?severity={e}"),
            format!("/api/v1/violations?status={e}"),
            format!("/api/v1/alerts?status={e}"),
            format!("/api/v1/alerts?offset={e}"),
            format!("/api/v1/ports/445?proto={e}"),
            format!("/api/docs/{e}"),
        ];
        for path in gets {
            let (status, answer) = api.get(&path).await?;
            ensure!(
                status.is_client_error() && is_json_error(&answer),
                "GET {path}: {status} {answer}"
            );
            tried += 1;
        }
        let silence = format!("/api/v1/violations/{}/silence", enc(KEY_445));
        let posts = [
            (format!("/api/v1/violations/{e}/ack"), json!({})),
            (
                format!("/api/v1/violations/{e}/silence"),
                json!({"for": "1h"}),
            ),
            ("/api/v1/scans".to_string(), json!({"group": evil})),
            (silence.clone(), json!({"until": evil})),
            (silence.clone(), json!({"for": evil})),
            (silence, json!({"for": "1h", evil: 1})),
        ];
        for (path, body) in posts {
            let (status, answer) = api.post(&path, &body).await?;
            ensure!(
                status.is_client_error() && is_json_error(&answer),
                "POST {path} {body}: {status} {answer}"
            );
            tried += 1;
        }
    }
    // Traversal sent as is (clients normally resolve `..` first; this one does not).
    for raw in [
        "/api/v1/hosts/../../etc/passwd",
        "/api/v1/../../etc/passwd",
        "/api/docs/../../etc/passwd",
        "/api/docs/%2e%2e/%2e%2e/etc/passwd",
        "/api/v1/hosts/..%2F..%2Fetc%2Fpasswd",
        "/api/v1/scans/1%27%20OR%201=1%20--",
    ] {
        let request = format!(
            "GET {raw} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
            api.addr, api.admin
        );
        let (status, head, body) = api.raw(request.as_bytes()).await?;
        ensure!((400..500).contains(&status), "{raw}: {head}\n{body}");
        ensure!(!body.contains("root:"), "{raw} leaked a file: {body}");
        tried += 1;
    }
    ensure!(tried > 200, "only {tried} requests");
    ensure!(before == api.db.counts().await?, "the database changed");
    let scans = api.ok("/api/v1/scans").await?;
    ensure!(scans["total"] == 4, "{scans}");
    let v = api.ok("/api/v1/violations").await?;
    ensure!(
        v["items"].as_array().is_some_and(|a| a
            .iter()
            .all(|x| x["acknowledged"] == false && x["silenced_until"].is_null())),
        "{v}"
    );
    Ok(())
}
