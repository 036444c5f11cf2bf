//! Every read route returns the data the store holds, with pagination and filters, on SQLite
//! and PostgreSQL, over HTTP against the real router.

mod common_api;

use anyhow::{Result, ensure};
use common_api::{Api, KEY_139, KEY_445, KEY_8080, TestDb, enc};
use reqwest::StatusCode;
use serde_json::Value;

both_backends!(
    hosts_list_filters_and_pages,
    host_detail_has_ports_risk_and_scans,
    host_history_spans_and_filters,
    scans_list_and_detail,
    violations_alerts_policies_and_ports,
    without_a_daemon_the_store_answers,
    hosts_and_violations_carry_and_filter_by_vantage,
    host_detail_rates_a_port_by_the_vantage_that_saw_it,
    readyz_names_the_scheduler,
);

async fn readyz_names_the_scheduler(db: TestDb) -> Result<()> {
    let alone = Api::start(common_api::TestDb::sqlite().await?, false).await?;
    let (status, body) = alone.get("/readyz").await?;
    ensure!(
        status == StatusCode::OK && body == "ready\n",
        "{status} {body}"
    );
    let api = Api::start(db, true).await?;
    // The daemon takes the lease as it starts running.
    let mut body = Value::Null;
    for _ in 0..100 {
        body = api.ok("/readyz").await?;
        if body.as_str().is_some_and(|b| b.contains("leader")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let me = api
        .daemon
        .as_ref()
        .map(|d| d.leadership().me)
        .unwrap_or_default();
    ensure!(
        body == format!("ready\nscheduler: leader (holder {me}, token 1)\n").as_str(),
        "{body}"
    );
    Ok(())
}

fn field<'a>(items: &'a Value, name: &str) -> Vec<&'a Value> {
    items
        .as_array()
        .map(|a| a.iter().map(|i| &i[name]).collect())
        .unwrap_or_default()
}

fn strs(values: Vec<&Value>) -> Vec<String> {
    values
        .into_iter()
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
        .collect()
}

async fn addresses(api: &Api, query: &str) -> Result<(Vec<String>, Value)> {
    let body = api.ok(&format!("/api/v1/hosts{query}")).await?;
    Ok((strs(field(&body["items"], "address")), body))
}

async fn hosts_list_filters_and_pages(db: TestDb) -> Result<()> {
    let api = Api::start(db, true).await?;
    let (all, body) = addresses(&api, "").await?;
    ensure!(
        all == ["10.0.0.5", "10.0.0.6", "10.0.0.7", "192.0.2.10"],
        "{all:?}"
    );
    ensure!(
        body["total"] == 4 && body["limit"] == 50 && body["offset"] == 0,
        "{body}"
    );
    let first = &body["items"][0];
    ensure!(
        first["hostname"] == "filesrv01" && first["open_ports"] == 1,
        "{first}"
    );
    ensure!(
        first["last_scan_id"] == api.seed.second.0
            && first["last_seen"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z')),
        "{first}"
    );
    ensure!(body["items"][1]["open_ports"] == 2, "{body}");

    let (found, _) = addresses(&api, "?q=filesrv").await?;
    ensure!(found == ["10.0.0.5"], "{found:?}");
    let (found, _) = addresses(&api, "?q=EXAMPLE").await?;
    ensure!(
        found == ["192.0.2.10"],
        "case-insensitive hostname: {found:?}"
    );
    let (found, _) = addresses(&api, "?q=10.0.0").await?;
    ensure!(found.len() == 3, "{found:?}");
    let (found, _) = addresses(&api, "?has_open=false").await?;
    ensure!(found == ["10.0.0.7"], "{found:?}");
    let (found, _) = addresses(&api, "?has_open=true&q=10.").await?;
    ensure!(found == ["10.0.0.5", "10.0.0.6"], "{found:?}");

    let (page, body) = addresses(&api, "?limit=2&offset=1").await?;
    ensure!(page == ["10.0.0.6", "10.0.0.7"], "{page:?}");
    ensure!(
        body["total"] == 4 && body["limit"] == 2 && body["offset"] == 1,
        "{body}"
    );
    let (page, body) = addresses(&api, "?limit=500&offset=10").await?;
    ensure!(page.is_empty() && body["total"] == 4, "{body}");
    Ok(())
}

async fn host_detail_has_ports_risk_and_scans(db: TestDb) -> Result<()> {
    let api = Api::start(db, true).await?;
    let body = api.ok("/api/v1/hosts/10.0.0.5").await?;
    ensure!(body["host"]["address"] == "10.0.0.5", "{body}");
    let ports = body["ports"].as_array().cloned().unwrap_or_default();
    ensure!(ports.len() == 1, "only 139 is open now: {body}");
    let p = &ports[0];
    ensure!(
        p["port"] == 139 && p["proto"] == "tcp" && p["state"] == "open",
        "{p}"
    );
    ensure!(
        p["reason"] == "syn-ack" && p["service"] == "netbios-ssn",
        "{p}"
    );
    ensure!(p["details"]["netbios"]["name"] == "FILESRV01", "{p}");
    ensure!(
        p["from_scan"] == api.seed.first.0 && p["to_scan"].is_null(),
        "{p}"
    );
    let kb = portwatch_kb::risk(139, portwatch_kb::Transport::Tcp);
    ensure!(p["risk"]["exposure"] == "lan", "{p}");
    ensure!(p["risk"]["severity"] == kb.lan.as_str(), "{p}");
    ensure!(p["risk"]["internet"] == kb.internet.as_str(), "{p}");
    ensure!(
        p["headline"].as_str().is_some_and(|h| h.contains("139")),
        "{p}"
    );
    let scans: Vec<&Value> = field(&body["recent_scans"], "id");
    ensure!(
        scans
            == [
                &Value::from(api.seed.second.0),
                &Value::from(api.seed.first.0)
            ],
        "{scans:?}"
    );

    let body = api.ok("/api/v1/hosts/192.0.2.10").await?;
    let p = &body["ports"][0];
    let kb = portwatch_kb::risk(443, portwatch_kb::Transport::Tcp);
    ensure!(
        p["port"] == 443
            && p["risk"]["exposure"] == "internet"
            && p["risk"]["severity"] == kb.internet.as_str(),
        "{p}"
    );
    for unknown in ["10.9.9.9", "::1", &enc("fe80::1")] {
        let (status, body) = api.get(&format!("/api/v1/hosts/{unknown}")).await?;
        ensure!(
            status == StatusCode::NOT_FOUND,
            "{unknown}: {status} {body}"
        );
        ensure!(body["error"].as_str().is_some(), "{body}");
    }
    Ok(())
}

async fn host_history_spans_and_filters(db: TestDb) -> Result<()> {
    let api = Api::start(db, true).await?;
    let body = api.ok("/api/v1/hosts/10.0.0.5/history").await?;
    let spans = &body["spans"];
    ensure!(
        field(spans, "port") == [&Value::from(139), &Value::from(445)],
        "{body}"
    );
    let closed = &spans[1];
    ensure!(
        closed["from_scan"] == api.seed.first.0 && closed["to_scan"] == api.seed.second.0,
        "{closed}"
    );
    ensure!(
        closed["to"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{closed}"
    );
    for q in ["?port=445&proto=tcp", "?port=445"] {
        let body = api
            .ok(&format!("/api/v1/hosts/10.0.0.5/history{q}"))
            .await?;
        ensure!(
            field(&body["spans"], "port") == [&Value::from(445)],
            "{q}: {body}"
        );
    }
    let body = api.ok("/api/v1/hosts/10.0.0.5/history?proto=udp").await?;
    ensure!(
        body["spans"].as_array().is_some_and(Vec::is_empty),
        "{body}"
    );
    let (status, _) = api.get("/api/v1/hosts/10.0.0.99/history").await?;
    ensure!(status == StatusCode::NOT_FOUND);
    Ok(())
}

async fn scans_list_and_detail(db: TestDb) -> Result<()> {
    let api = Api::start(db, true).await?;
    let s = api.seed;
    let body = api.ok("/api/v1/scans").await?;
    let ids = field(&body["items"], "id");
    ensure!(
        ids == [
            &Value::from(s.failed.0),
            &Value::from(s.running.0),
            &Value::from(s.second.0),
            &Value::from(s.first.0)
        ],
        "newest first: {body}"
    );
    ensure!(body["total"] == 4, "{body}");
    let failed = &body["items"][0];
    ensure!(
        failed["status"] == "failed" && failed["error"] == "no route to host",
        "{failed}"
    );
    ensure!(failed["counts"].is_null(), "{failed}");
    let body = api.ok("/api/v1/scans?status=complete").await?;
    ensure!(body["total"] == 2, "{body}");
    ensure!(body["items"][0]["counts"]["open"] == 4, "{body}");
    ensure!(body["items"][0]["counts"]["hosts_up"] == 4, "{body}");
    let body = api.ok("/api/v1/scans?status=running").await?;
    ensure!(
        field(&body["items"], "id") == [&Value::from(s.running.0)],
        "{body}"
    );
    let body = api.ok("/api/v1/scans?limit=1&offset=1").await?;
    ensure!(
        field(&body["items"], "id") == [&Value::from(s.running.0)] && body["total"] == 4,
        "{body}"
    );
    // The keyset cursor: scans older than `before`, with the filters and offset.
    let body = api
        .ok(&format!("/api/v1/scans?limit=2&before={}", s.running.0))
        .await?;
    ensure!(
        field(&body["items"], "id") == [&Value::from(s.second.0), &Value::from(s.first.0)]
            && body["total"] == 2,
        "{body}"
    );
    let body = api
        .ok(&format!(
            "/api/v1/scans?status=complete&offset=1&before={}",
            s.failed.0
        ))
        .await?;
    ensure!(
        field(&body["items"], "id") == [&Value::from(s.first.0)] && body["total"] == 2,
        "{body}"
    );
    let body = api.ok("/api/v1/scans?before=1").await?;
    ensure!(
        body["items"] == serde_json::json!([]) && body["total"] == 0,
        "{body}"
    );

    let body = api.ok(&format!("/api/v1/scans/{}", s.first.0)).await?;
    ensure!(body["scan"]["status"] == "complete", "{body}");
    let open: Vec<String> = body["open"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| format!("{}:{}", x["address"].as_str().unwrap_or(""), x["port"]))
                .collect()
        })
        .unwrap_or_default();
    ensure!(
        open == [
            "10.0.0.5:139",
            "10.0.0.5:445",
            "10.0.0.6:22",
            "192.0.2.10:443"
        ],
        "as of the first scan: {open:?}"
    );
    let body = api.ok(&format!("/api/v1/scans/{}", s.second.0)).await?;
    let ports = field(&body["open"], "port");
    ensure!(
        ports
            == [
                &Value::from(139),
                &Value::from(22),
                &Value::from(80),
                &Value::from(443)
            ],
        "as of the second scan: {body}"
    );
    let body = api.ok(&format!("/api/v1/scans/{}", s.running.0)).await?;
    ensure!(
        body["open"].is_null() && body["scan"]["status"] == "running",
        "{body}"
    );
    let (status, body) = api.get("/api/v1/scans/999999").await?;
    ensure!(status == StatusCode::NOT_FOUND, "{status} {body}");
    Ok(())
}

async fn violations_alerts_policies_and_ports(db: TestDb) -> Result<()> {
    let api = Api::start(db, true).await?;
    let body = api.ok("/api/v1/violations").await?;
    let keys = strs(field(&body["items"], "key"));
    ensure!(keys == [KEY_139, KEY_445, KEY_8080], "{keys:?}");
    ensure!(body["total"] == 3, "{body}");
    let v = &body["items"][1];
    ensure!(
        v["status"] == "firing"
            && v["severity"] == "critical"
            && v["rule"] == "must-be-closed"
            && v["port"] == 445
            && v["proto"] == "tcp"
            && v["address"] == "10.0.0.5"
            && v["acknowledged"] == false
            && v["notified"].is_string(),
        "{v}"
    );
    for (q, want) in [
        ("?status=firing", vec![KEY_445]),
        ("?status=resolving", vec![KEY_8080]),
        ("?severity=high", vec![KEY_139]),
        ("?group=file-servers", vec![KEY_139, KEY_445]),
        ("?group=file-servers&status=pending", vec![KEY_139]),
        ("?group=local", vec![]),
    ] {
        let body = api.ok(&format!("/api/v1/violations{q}")).await?;
        ensure!(strs(field(&body["items"], "key")) == want, "{q}: {body}");
    }

    let body = api.ok("/api/v1/alerts").await?;
    ensure!(body["total"] == 3, "{body}");
    let items = &body["items"];
    ensure!(
        strs(field(items, "status")) == ["pending", "pending", "delivered"],
        "newest first: {body}"
    );
    ensure!(
        items[2]["title"] == "OPEN 445/tcp on 10.0.0.5 (file-servers): must be closed",
        "{body}"
    );
    ensure!(
        items[2]["delivered"].is_string() && items[2]["next_attempt"].is_null(),
        "{body}"
    );
    ensure!(items[1]["kind"] == "reminder", "{body}");
    let body = api.ok("/api/v1/alerts?status=delivered").await?;
    ensure!(
        body["total"] == 1 && body["items"][0]["channel"] == "ops",
        "{body}"
    );
    let body = api
        .ok("/api/v1/alerts?status=pending&limit=1&offset=1")
        .await?;
    ensure!(
        body["total"] == 2 && body["items"][0]["kind"] == "reminder",
        "{body}"
    );

    let body = api.ok("/api/v1/policies").await?;
    let groups = &body["groups"];
    ensure!(
        strs(field(groups, "name")) == ["local", "file-servers", "web-servers"],
        "{body}"
    );
    let fs = &groups[1];
    ensure!(
        fs["policy"]["must_be_closed"] == "T:137-139,445"
            && fs["policy"]["severity"] == "critical"
            && fs["policy"]["allowed_open"].is_null()
            && fs["targets"][0] == "127.0.0.1",
        "{fs}"
    );
    let web = &groups[2];
    // A bare number means the transports the knowledge base knows the port for: 443 is HTTPS
    // on TCP and HTTP/3 (QUIC) on UDP.
    ensure!(
        web["policy"]["allowed_open"] == "T:22,443,U:443" && web["schedule"]["cron"].is_string(),
        "{web}"
    );
    ensure!(
        groups[0]["policy"]["must_be_closed"] == format!("T:{}", api.watched_port),
        "{body}"
    );

    let body = api.ok("/api/v1/ports/445").await?;
    ensure!(body["port"] == 445 && body["assigned"] == true, "{body}");
    ensure!(body["pages"][0]["name"] == "microsoft-ds", "{body}");
    let tcp = body["risks"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["transport"] == "tcp"))
        .cloned()
        .unwrap_or_default();
    ensure!(
        tcp["internet"] == "critical" && tcp["from_page"] == true,
        "{tcp}"
    );
    let body = api.ok("/api/v1/ports/445?proto=udp").await?;
    ensure!(
        body["proto"] == "udp" && body["pages"].as_array().is_some_and(Vec::is_empty),
        "{body}"
    );
    let body = api.ok("/api/v1/ports/4").await?;
    ensure!(body["assigned"] == false, "{body}");
    Ok(())
}

async fn without_a_daemon_the_store_answers(db: TestDb) -> Result<()> {
    let api = Api::start(db, false).await?;
    let body = api.ok("/api/v1/violations").await?;
    ensure!(
        strs(field(&body["items"], "key")) == [KEY_139, KEY_445, KEY_8080],
        "the book as the store keeps it: {body}"
    );
    let body = api.ok("/api/v1/violations?group=anything").await?;
    ensure!(body["total"] == 0, "{body}");
    let (status, body) = api.get("/api/v1/policies").await?;
    ensure!(
        status == StatusCode::SERVICE_UNAVAILABLE && body["error"].is_string(),
        "{status} {body}"
    );
    for (path, body) in [
        ("/api/v1/scans", serde_json::json!({"group": "local"})),
        (
            &format!("/api/v1/violations/{}/ack", enc(KEY_445)) as &str,
            serde_json::json!({}),
        ),
        (
            &format!("/api/v1/violations/{}/silence", enc(KEY_445)),
            serde_json::json!({"for": "1h"}),
        ),
    ] {
        let (status, answer) = api.post(path, &body).await?;
        ensure!(
            status == StatusCode::SERVICE_UNAVAILABLE && answer["error"].is_string(),
            "{path}: {status} {answer}"
        );
    }
    Ok(())
}

/// A host seen from a second vantage is its own entry; lists carry the vantage and filter by it.
async fn hosts_and_violations_carry_and_filter_by_vantage(db: TestDb) -> Result<()> {
    let api = Api::start(db, true).await?;
    let id = scan_from_internet(&api, vec![]).await?;
    let all = api.ok("/api/v1/hosts").await?;
    let pairs: Vec<(String, String)> = all["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|h| {
                    (
                        h["address"].as_str().unwrap_or_default().to_string(),
                        h["vantage"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    ensure!(
        pairs.iter().filter(|(a, _)| a == "10.0.0.5").count() == 2
            && pairs.contains(&("10.0.0.5".into(), "internet".into()))
            && pairs.contains(&("10.0.0.5".into(), "local".into())),
        "{pairs:?}"
    );
    let (found, body) = addresses(&api, "?vantage=internet").await?;
    ensure!(
        found == ["10.0.0.5"] && body["items"][0]["open_ports"] == 0,
        "{body}"
    );
    let (found, _) = addresses(&api, "?vantage=local").await?;
    ensure!(found.len() == 4, "{found:?}");
    let scan = api.ok(&format!("/api/v1/scans/{}", id.0)).await?;
    ensure!(
        scan.to_string().contains("\"vantage\":\"internet\""),
        "{scan}"
    );
    let local = api.ok("/api/v1/violations?vantage=local").await?;
    let every = api.ok("/api/v1/violations").await?;
    ensure!(
        local["total"] == every["total"],
        "the seeded violations are local: {local}"
    );
    ensure!(
        field(&every["items"], "vantage")
            .iter()
            .all(|v| *v == "local"),
        "{every}"
    );
    let none = api.ok("/api/v1/violations?vantage=internet").await?;
    ensure!(none["total"] == 0, "{none}");
    // A key seen from another vantage is a well-formed key: no such violation, not a bad key.
    let key = enc("file-servers|10.0.0.5|445/tcp|MustBeClosed|from:internet");
    let (status, answer) = api
        .post(
            &format!("/api/v1/violations/{key}/ack"),
            &serde_json::json!({}),
        )
        .await?;
    ensure!(status == StatusCode::NOT_FOUND, "{status} {answer}");
    for path in [
        "/api/v1/hosts?vantage=LAN",
        "/api/v1/violations?vantage=a%20b",
    ] {
        let (status, answer) = api.get(path).await?;
        ensure!(
            status == StatusCode::BAD_REQUEST
                && answer["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("'vantage'")),
            "{path}: {status} {answer}"
        );
    }
    Ok(())
}

async fn host_detail_rates_a_port_by_the_vantage_that_saw_it(db: TestDb) -> Result<()> {
    let api = Api::start(db, true).await?;
    // 445 on a private address, seen from the built-in vantage `internet`: reachable from the
    // internet, so rated as the dashboard and /metrics rate it, not by the address (LAN).
    let open: portwatch_model::PortResult = serde_json::from_value(serde_json::json!({
        "host": "10.0.0.5", "hostname": null, "port": 445, "proto": "tcp", "state": "open",
        "reason": "syn-ack", "service": "microsoft-ds", "rtt_ms": 0.2
    }))?;
    scan_from_internet(&api, vec![open]).await?;
    let body = api.ok("/api/v1/hosts/10.0.0.5").await?;
    let kb = portwatch_kb::risk(445, portwatch_kb::Transport::Tcp);
    let ports = body["ports"].as_array().cloned().unwrap_or_default();
    let seen = |vantage: &str, port: u16| {
        ports
            .iter()
            .find(|p| p["vantage"] == vantage && p["port"] == port)
            .cloned()
    };
    let internet = seen("internet", 445).ok_or_else(|| anyhow::anyhow!("{body}"))?;
    ensure!(
        internet["risk"]["exposure"] == "internet"
            && internet["risk"]["severity"] == kb.internet.as_str(),
        "{internet}"
    );
    let local = seen("local", 139).ok_or_else(|| anyhow::anyhow!("{body}"))?;
    ensure!(local["risk"]["exposure"] == "lan", "{local}");
    Ok(())
}

/// Records a finished scan of 10.0.0.5 port 445/tcp from the vantage `internet` that found
/// `results`.
async fn scan_from_internet(
    api: &Api,
    results: Vec<portwatch_model::PortResult>,
) -> Result<portwatch_store::ScanId> {
    let outcome = portwatch_store::ScanOutcome {
        identified: true,
        hosts: vec![portwatch_store::HostOutcome {
            addr: "10.0.0.5".parse()?,
            hostname: None,
            up: true,
        }],
        coverage: portwatch_model::ports::PortList {
            tcp: vec![445],
            udp: vec![],
        },
        results,
    };
    let id = api
        .store
        .begin_scan(&portwatch_store::NewScan {
            source: "monitor:file-servers".into(),
            vantage: "internet".into(),
            args: vec![],
            targets: vec!["10.0.0.5".into()],
            ports: outcome.coverage.clone(),
        })
        .await?;
    api.store
        .finish_scan(id, &outcome, &portwatch_store::Effects::default())
        .await?;
    Ok(id)
}
