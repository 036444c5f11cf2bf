//! Actions through the API against a real monitor daemon over the same store: scan a group
//! now (it scans 127.0.0.1, where the fixture holds a port the policy forbids), follow and
//! cancel that request, acknowledge and silence violations, and take both back.

mod common_api;

use anyhow::{Result, ensure};
use common_api::{Api, KEY_139, KEY_445, TestDb, enc, error_of, eventually};
use reqwest::StatusCode;
use serde_json::{Value, json};

both_backends!(
    scan_now_runs_the_group_and_its_violation_fires,
    a_scan_request_is_followed_and_cancelled,
    acknowledge_is_remembered,
    silence_for_and_until,
    acknowledgements_and_silences_are_undone_with_delete,
);

async fn scan_now_runs_the_group_and_its_violation_fires(db: TestDb) -> Result<()> {
    let api = Api::start(db, true).await?;
    let (status, body) = api
        .post("/api/v1/scans", &json!({"group": "local"}))
        .await?;
    let request = body["request"].as_i64().unwrap_or_default();
    ensure!(
        status == StatusCode::ACCEPTED
            && request > 0
            && body == json!({"queued": true, "group": "local", "request": request}),
        "{status} {body}"
    );
    let scan = eventually(30, || async {
        let body = api.ok("/api/v1/scans?status=complete").await?;
        Ok(body["items"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["source"] == "monitor:local").cloned()))
    })
    .await?;
    ensure!(scan["targets"] == json!(["127.0.0.1"]), "{scan}");
    let detail = api.ok(&format!("/api/v1/scans/{}", scan["id"])).await?;
    let open: Vec<&Value> = detail["open"]
        .as_array()
        .map(|a| a.iter().filter(|s| s["address"] == "127.0.0.1").collect())
        .unwrap_or_default();
    ensure!(
        open.iter()
            .any(|s| s["port"] == api.watched_port && s["state"] == "open"),
        "the watched port is open as of the scan: {detail}"
    );
    let host = api.ok("/api/v1/hosts/127.0.0.1").await?;
    ensure!(
        host["ports"][0]["port"] == api.watched_port
            && host["ports"][0]["risk"]["exposure"] == "loopback"
            && host["ports"][0]["risk"]["severity"] == "none",
        "{host}"
    );
    // The confirmation re-probe (200 ms later) makes the violation fire.
    let key = format!("local|127.0.0.1|{}/tcp|MustBeClosed", api.watched_port);
    let v = eventually(30, || async {
        let body = api
            .ok("/api/v1/violations?group=local&status=firing")
            .await?;
        Ok(body["items"].as_array().and_then(|a| a.first().cloned()))
    })
    .await?;
    ensure!(v["key"] == key.as_str() && v["severity"] == "high", "{v}");
    let (status, body) = api
        .post(&format!("/api/v1/violations/{}/ack", enc(&key)), &json!({}))
        .await?;
    ensure!(
        status == StatusCode::OK && body["key"] == key.as_str(),
        "{status} {body}"
    );

    let (status, body) = api.post("/api/v1/scans", &json!({"group": "nope"})).await?;
    ensure!(
        status == StatusCode::NOT_FOUND && error_of(&body).contains("nope"),
        "{status} {body}"
    );
    Ok(())
}

async fn a_scan_request_is_followed_and_cancelled(db: TestDb) -> Result<()> {
    let api = Api::start(db, true).await?;
    // A request no scan will ever run for (its group left the configuration) is pending, and
    // cancelling it is final.
    let pending = format!("/api/v1/scans/requests/{}", api.seed.request);
    let body = api.ok(&pending).await?;
    ensure!(
        body["state"] == "pending" && body["ended"] == false && body["group"] == "retired",
        "{body}"
    );
    let (status, body) = api.delete_as(Some(&api.viewer), &pending).await?;
    ensure!(status == StatusCode::FORBIDDEN, "viewer: {status} {body}");
    let (status, body) = api.delete(&pending).await?;
    ensure!(
        status == StatusCode::OK
            && body["id"] == api.seed.request
            && body["state"] == "cancelled"
            && body["ended"] == true,
        "{status} {body}"
    );
    let (status, body) = api.delete(&pending).await?;
    ensure!(
        status == StatusCode::OK && body["state"] == "cancelled",
        "again: {status} {body}"
    );

    // A request whose scan ran to its end cannot be cancelled.
    let (status, body) = api
        .post("/api/v1/scans", &json!({"group": "local"}))
        .await?;
    ensure!(status == StatusCode::ACCEPTED, "{status} {body}");
    let path = format!("/api/v1/scans/requests/{}", body["request"]);
    let done = eventually(30, || async {
        let body = api.ok(&path).await?;
        Ok((body["ended"] == true).then_some(body))
    })
    .await?;
    ensure!(
        done["state"] == "done" && done["group"] == "local",
        "{done}"
    );
    let (status, body) = api.delete(&path).await?;
    ensure!(
        status == StatusCode::CONFLICT && error_of(&body).contains("already ended (done)"),
        "{status} {body}"
    );

    let (status, body) = api.delete("/api/v1/scans/requests/999999").await?;
    ensure!(
        status == StatusCode::NOT_FOUND && error_of(&body).contains("no scan request 999999"),
        "{status} {body}"
    );
    let (status, body) = api.get("/api/v1/scans/requests/999999").await?;
    ensure!(status == StatusCode::NOT_FOUND, "{status} {body}");
    let (status, body) = api.get("/api/v1/scans/requests/abc").await?;
    ensure!(
        status == StatusCode::BAD_REQUEST && error_of(&body).contains("'abc'"),
        "{status} {body}"
    );
    Ok(())
}

async fn acknowledge_is_remembered(db: TestDb) -> Result<()> {
    let api = Api::start(db, true).await?;
    let path = format!("/api/v1/violations/{}/ack", enc(KEY_445));
    let (status, body) = api.post(&path, &json!({})).await?;
    ensure!(
        status == StatusCode::OK && body == json!({"key": KEY_445, "acknowledged": true}),
        "{status} {body}"
    );
    let v = api.ok("/api/v1/violations?status=firing").await?;
    ensure!(v["items"][0]["acknowledged"] == true, "{v}");
    let pending = api.ok("/api/v1/violations?status=pending").await?;
    ensure!(
        pending["items"][0]["acknowledged"] == false,
        "only that one: {pending}"
    );
    // The store keeps it (a restarted daemon would know).
    let rows = api.store.alert_states().await?;
    let row = rows.iter().find(|r| r.key == KEY_445);
    ensure!(
        row.is_some_and(|r| r.data["acknowledged"] == true),
        "{row:?}"
    );
    // Again: still fine. An unknown but well-formed key: 404.
    ensure!(api.post(&path, &json!({})).await?.0 == StatusCode::OK);
    let unknown = "file-servers|10.0.0.5|22/tcp|MustBeClosed";
    let (status, body) = api
        .post(
            &format!("/api/v1/violations/{}/ack", enc(unknown)),
            &json!({}),
        )
        .await?;
    ensure!(
        status == StatusCode::NOT_FOUND && error_of(&body).contains(unknown),
        "{status} {body}"
    );
    // An unencoded `/` splits the path: no such route.
    let (status, body) = api
        .post(
            &format!("/api/v1/violations/{}/ack", KEY_445.replace('|', "%7C")),
            &json!({}),
        )
        .await?;
    ensure!(
        status == StatusCode::NOT_FOUND && body["error"].is_string(),
        "{status} {body}"
    );
    Ok(())
}

fn millis(rfc3339: &Value) -> i64 {
    rfc3339
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map_or(0, |t| t.timestamp_millis())
}

async fn silence_for_and_until(db: TestDb) -> Result<()> {
    let api = Api::start(db, true).await?;
    let path = format!("/api/v1/violations/{}/silence", enc(KEY_139));
    let now = chrono::Utc::now().timestamp_millis();
    let (status, body) = api.post(&path, &json!({"for": "2h"})).await?;
    ensure!(
        status == StatusCode::OK && body["key"] == KEY_139,
        "{status} {body}"
    );
    let until = millis(&body["silenced_until"]);
    ensure!(
        (until - (now + 7_200_000)).abs() < 60_000,
        "about two hours from now: {body}"
    );
    let v = api.ok("/api/v1/violations?status=pending").await?;
    ensure!(millis(&v["items"][0]["silenced_until"]) == until, "{v}");

    let at = chrono::Utc::now() + chrono::Duration::days(29);
    let text = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (status, body) = api.post(&path, &json!({"until": text})).await?;
    ensure!(status == StatusCode::OK, "{status} {body}");
    ensure!(
        millis(&body["silenced_until"]) == millis(&Value::from(text.as_str())),
        "{body}"
    );
    let rows = api.store.alert_states().await?;
    let stored = rows
        .iter()
        .find(|r| r.key == KEY_139)
        .and_then(|r| r.data["silenced_until_ms"].as_i64());
    ensure!(
        stored == Some(millis(&body["silenced_until"])),
        "{stored:?}"
    );

    let past = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    let (status, body) = api.post(&path, &json!({"until": past})).await?;
    ensure!(
        status == StatusCode::BAD_REQUEST && error_of(&body).contains("past"),
        "{status} {body}"
    );
    let unknown = format!(
        "/api/v1/violations/{}/silence",
        enc("file-servers|10.0.0.9|HostDown")
    );
    let (status, _) = api.post(&unknown, &json!({"for": "1h"})).await?;
    ensure!(status == StatusCode::NOT_FOUND, "{status}");
    Ok(())
}

async fn acknowledgements_and_silences_are_undone_with_delete(db: TestDb) -> Result<()> {
    let api = Api::start(db, true).await?;
    let ack = format!("/api/v1/violations/{}/ack", enc(KEY_445));
    let silence = format!("/api/v1/violations/{}/silence", enc(KEY_445));
    ensure!(api.post(&ack, &json!({})).await?.0 == StatusCode::OK);
    ensure!(api.post(&silence, &json!({"for": "1h"})).await?.0 == StatusCode::OK);

    let (status, body) = api.delete(&ack).await?;
    ensure!(
        status == StatusCode::OK && body == json!({"key": KEY_445, "acknowledged": false}),
        "{status} {body}"
    );
    let (status, body) = api.delete(&silence).await?;
    ensure!(
        status == StatusCode::OK && body == json!({"key": KEY_445, "silenced": false}),
        "{status} {body}"
    );
    let v = api.ok("/api/v1/violations?status=firing").await?;
    ensure!(
        v["items"][0]["acknowledged"] == false && v["items"][0]["silenced_until"].is_null(),
        "{v}"
    );
    // The store keeps the undoing too.
    let rows = api.store.alert_states().await?;
    let row = rows.iter().find(|r| r.key == KEY_445);
    ensure!(
        row.is_some_and(
            |r| r.data["acknowledged"] == false && r.data["silenced_until_ms"].is_null()
        ),
        "{row:?}"
    );
    // Undoing twice is fine; an unknown key is 404; a viewer may not.
    ensure!(api.delete(&ack).await?.0 == StatusCode::OK);
    let unknown = format!(
        "/api/v1/violations/{}/ack",
        enc("file-servers|10.0.0.5|22/tcp|MustBeClosed")
    );
    ensure!(api.delete(&unknown).await?.0 == StatusCode::NOT_FOUND);
    let (status, _) = api.delete_as(Some(&api.viewer), &silence).await?;
    ensure!(status == StatusCode::FORBIDDEN, "{status}");
    Ok(())
}
