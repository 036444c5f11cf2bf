//! Every dashboard page renders for admins and viewers from a real store, shows what it must
//! (violations firing first, the exposure chart with its text alternative, a host's service
//! details and timeline, a port's knowledge-base page and fixes, the configuration with its
//! secrets hidden), pages long lists, and needs no JavaScript.

mod common_pages;

use anyhow::Result;
use common_pages::{EVIL, FILESRV, Server, client, configured, fixture, windows_config};
use portwatch_web::auth::Role;
use reqwest::StatusCode;

async fn get(server: &Server, cookie: &str, path: &str) -> Result<(StatusCode, String)> {
    let r = server.get_with(cookie, path).await?;
    Ok((r.status(), r.text().await?))
}

/// What every page must be: a full document in English with landmarks and one h1, no
/// script, no inline style, forms that post.
fn assert_plain_accessible_html(path: &str, html: &str) {
    assert!(
        html.starts_with("<!doctype html>"),
        "{path}: not a document"
    );
    assert!(html.contains("<html lang=\"en\">"), "{path}: no language");
    assert!(
        html.contains("<main id=\"main\""),
        "{path}: no main landmark"
    );
    assert!(
        html.contains("<nav aria-label=\"Main\">"),
        "{path}: no navigation"
    );
    assert_eq!(html.matches("<h1").count(), 1, "{path}: one h1");
    assert!(!html.contains("<script"), "{path}: pages need no script");
    assert!(
        !html.contains(" style="),
        "{path}: inline styles break the CSP"
    );
    assert!(
        html.contains("action=\"/logout\"") && html.contains("name=\"_csrf\""),
        "{path}: a logout form with the CSRF token"
    );
    // Headings never skip a level.
    let mut last = 1;
    for level in html
        .match_indices("<h")
        .filter_map(|(i, _)| html[i + 2..].chars().next().and_then(|c| c.to_digit(10)))
    {
        assert!(level <= last + 1, "{path}: h{last} followed by h{level}");
        last = level;
    }
    // Every table header has a scope.
    for (i, _) in html.match_indices("<th") {
        let tag = &html[i..i + html[i..].find('>').unwrap_or(0)];
        if tag.starts_with("<thead") {
            continue;
        }
        assert!(tag.contains("scope="), "{path}: {tag}> without scope");
    }
}

#[tokio::test]
async fn every_page_renders_for_admins_and_viewers() -> Result<()> {
    let server = fixture(true).await?;
    let pages = [
        "/",
        "/?page=2",
        &format!("/hosts/{FILESRV}"),
        &format!("/hosts/{EVIL}"),
        "/ports/445",
        "/ports/445?proto=tcp",
        "/ports/137?proto=udp",
        "/ports/4",
        "/config",
    ];
    for role in [Role::Admin, Role::Viewer] {
        let cookie = server.cookie(role).await?;
        for path in pages {
            let (status, html) = get(&server, &cookie, path).await?;
            assert_eq!(status, StatusCode::OK, "{role} {path}: {html}");
            assert_plain_accessible_html(path, &html);
            assert!(html.contains(&format!("({role})")) || html.contains(role.as_str()));
            let buttons = html.contains("/ack\"") || html.contains("/scan\"");
            if role == Role::Viewer {
                assert!(!buttons, "{path}: viewers see no action buttons");
            }
        }
    }
    let admin = server.cookie(Role::Admin).await?;
    for path in ["/", &format!("/hosts/{FILESRV}")] {
        let (_, html) = get(&server, &admin, path).await?;
        assert!(html.contains("/ack\""), "{path}: admins can acknowledge");
        assert!(html.contains("name=\"duration\""), "{path}: and silence");
    }
    Ok(())
}

#[tokio::test]
async fn overview_shows_groups_violations_chart_and_paged_hosts() -> Result<()> {
    let server = fixture(true).await?;
    let cookie = server.cookie(Role::Admin).await?;
    let (_, html) = get(&server, &cookie, "/").await?;
    // Groups: file-servers is violating, lab was never scanned.
    assert!(
        html.contains("file-servers") && html.contains("Violating"),
        "{html}"
    );
    assert!(html.contains("action=\"/groups/file-servers/scan\""));
    assert!(html.contains("every 1 h"));
    // Violations: both firing, critical, with what answered and since when.
    assert!(html.contains("FILESRV01, SMB 3.1.1, SMB1 on"));
    assert!(html.contains("must be closed"));
    assert!(html.contains("href=\"/ports/445?proto=tcp\""));
    assert!(html.contains("<time datetime="));
    // The chart: an SVG with title and description, and the data table.
    assert!(html.contains("<svg role=\"img\" aria-labelledby=\"exposure-title exposure-desc\""));
    assert!(html.contains("<title id=\"exposure-title\">"));
    assert!(html.contains("Exposure data table"));
    // 445/tcp on two LAN hosts is high risk there; 139 too on the file server: 3 today.
    assert!(html.contains("3 today"), "{html}");
    // 252 hosts: page 1 of 2 with a link to the next.
    assert!(html.contains("Page 1 of 2 (1–200 of 252)"), "{html}");
    assert!(html.contains("href=\"/?page=2\""));
    assert!(html.matches("href=\"/hosts/").count() >= 200);
    let (_, page2) = get(&server, &cookie, "/?page=2").await?;
    assert!(page2.contains("Page 2 of 2 (201–252 of 252)"));
    assert!(page2.contains("rel=\"prev\""));
    Ok(())
}

#[tokio::test]
async fn host_page_shows_services_risk_timeline_and_alerts() -> Result<()> {
    let server = fixture(true).await?;
    let cookie = server.cookie(Role::Viewer).await?;
    let (status, html) = get(&server, &cookie, &format!("/hosts/{FILESRV}")).await?;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("filesrv01"));
    assert!(html.contains("LAN (private, link-local or unique-local address)"));
    for fact in [
        "FILESRV01",
        "CORP",
        "NT LM 0.12, 2.0.2, 3.1.1",
        "enabled-not-required",
        "FILESRV01&#60;20&#62; (file server)",
    ] {
        assert!(html.contains(fact), "missing {fact}: {html}");
    }
    // 445/tcp on the LAN is rated high by the knowledge base.
    assert!(html.contains("<span class=\"sev sev-high\">high</span>"));
    // One timeline per port, each an SVG with a text alternative naming the port's risk here:
    // 445 at its violation's severity (the group rates it critical), 139 as the knowledge
    // base rates it on the LAN; open periods filled in that colour, on a date axis.
    assert_eq!(html.matches("class=\"timeline-bar\"").count(), 2, "{html}");
    assert!(html.contains("aria-label=\"445/tcp (critical risk): open since"));
    assert!(html.contains("aria-label=\"139/tcp (high risk): open since"));
    assert!(html.contains("class=\"tl-critical\"") && html.contains("class=\"tl-high\""));
    assert!(html.contains("class=\"timeline-axis\""), "a date axis");
    // Port links carry the host, so the port page can pick its platform.
    assert!(html.contains(&format!("href=\"/ports/445?proto=tcp&#38;host={FILESRV}\"")));
    // Alerts: one message to two channels is one line.
    assert!(
        html.contains("mail, ops") || html.contains("ops, mail"),
        "{html}"
    );
    assert!(html.contains("opened"));
    Ok(())
}

#[tokio::test]
async fn port_page_has_the_knowledge_base_and_one_platforms_fix_with_links_to_the_others()
-> Result<()> {
    let server = fixture(false).await?;
    let cookie = server.cookie(Role::Viewer).await?;
    let (_, html) = get(&server, &cookie, "/ports/445?proto=tcp").await?;
    for part in [
        "SMB over TCP",
        "What it is",
        "History",
        "Risk on the internet",
        "EternalBlue",
        "CVE-2017-0144",
        "Safe policy",
        "How to close it",
    ] {
        assert!(html.contains(part), "missing {part}");
    }
    // One platform's plan, not seven: ufw when nothing says which; the others are links.
    assert_eq!(html.matches("<h3 id=\"fix-").count(), 1, "{html}");
    assert!(html.contains("<h3 id=\"fix-ufw\">"));
    assert!(html.contains("no host or platform was given"));
    for platform in [
        "firewalld",
        "nftables",
        "iptables",
        "windows",
        "macos",
        "samba",
    ] {
        assert!(
            html.contains(&format!(
                "href=\"/ports/445?proto=tcp&#38;platform={platform}\""
            )),
            "no link to {platform}"
        );
    }
    let (_, windows) = get(&server, &cookie, "/ports/445?proto=tcp&platform=windows").await?;
    assert_eq!(windows.matches("<h3 id=\"fix-").count(), 1);
    assert!(windows.contains("<h3 id=\"fix-windows\">"));
    assert!(windows.contains("chosen on this page"));
    assert!(windows.contains("platform=ufw\""), "and back to ufw");
    // The host page's link: nothing the file server answered names its system.
    let (_, host) = get(
        &server,
        &cookie,
        &format!("/ports/445?proto=tcp&host={FILESRV}"),
    )
    .await?;
    assert!(host.contains(&format!("nothing {FILESRV} answered names its system")));
    assert!(html.contains("ufw prepend deny"), "the ufw command itself");
    // Samba has nothing to say about SSH: shown as not applicable, not as an error page.
    let (status, html) = get(&server, &cookie, "/ports/22?platform=samba").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Not applicable"));
    for (path, code) in [
        ("/ports/70000", StatusCode::NOT_FOUND),
        ("/ports/0", StatusCode::NOT_FOUND),
        ("/ports/smb", StatusCode::BAD_REQUEST),
        ("/ports/445?proto=icmp", StatusCode::BAD_REQUEST),
        ("/ports/445?platform=solaris", StatusCode::BAD_REQUEST),
        ("/ports/445?host=nowhere", StatusCode::BAD_REQUEST),
        ("/hosts/not-an-address", StatusCode::BAD_REQUEST),
        ("/hosts/192.0.2.77", StatusCode::NOT_FOUND),
    ] {
        let (status, html) = get(&server, &cookie, path).await?;
        assert_eq!(status, code, "{path}");
        assert!(
            html.contains("role=\"alert\""),
            "{path}: an HTML error page"
        );
    }
    Ok(())
}

#[tokio::test]
async fn port_page_names_services_as_admins_know_them_and_keeps_ianas_name() -> Result<()> {
    let server = fixture(false).await?;
    let cookie = server.cookie(Role::Viewer).await?;
    let (_, es) = get(&server, &cookie, "/ports/9200?proto=tcp").await?;
    assert!(
        es.contains("(elasticsearch; IANA name wap-wsp, tcp)"),
        "{es}"
    );
    // Related ports carry their known names, not IANA's (9300 is "vrace" there).
    assert!(
        es.contains("<a href=\"/ports/9300\">9300</a> (elasticsearch-transport)"),
        "{es}"
    );
    let (_, smb) = get(&server, &cookie, "/ports/445?proto=tcp").await?;
    assert!(smb.contains("(microsoft-ds, tcp)"), "{smb}");
    Ok(())
}

#[tokio::test]
async fn config_page_shows_groups_and_hides_secrets() -> Result<()> {
    let server = fixture(false).await?;
    let cookie = server.cookie(Role::Viewer).await?;
    let (_, html) = get(&server, &cookie, "/config").await?;
    assert!(html.contains("<th scope=\"row\">lab</th>"));
    assert!(html.contains("T:139,445"));
    assert!(html.contains("every 1 s"));
    assert!(html.contains("[[group]]"), "the file's text");
    assert!(!html.contains("T0PSECRET"), "notifier URLs are hidden");
    // Without a monitor in the process the overview says so and offers no action.
    let admin = server.cookie(Role::Admin).await?;
    let (_, html) = get(&server, &admin, "/").await?;
    assert!(html.contains("No monitor runs in this process"));
    assert!(!html.contains("/ack\"") && !html.contains("/scan\""));
    Ok(())
}

#[tokio::test]
async fn stylesheet_is_served_and_security_headers_hold() -> Result<()> {
    let server = fixture(false).await?;
    let css = server.asset("/static/portwatch.css", "text/css").await?;
    assert!(css.contains(":focus-visible"));
    let cookie = server.cookie(Role::Viewer).await?;
    let r = server.get_with(&cookie, "/").await?;
    let csp = r.headers()["content-security-policy"].to_str()?;
    assert!(csp.contains("script-src 'self'") && csp.contains("style-src 'self'"));
    assert!(
        r.headers()["content-type"]
            .to_str()?
            .starts_with("text/html")
    );
    Ok(())
}

#[tokio::test]
async fn overview_lists_agents_once_one_was_heard_from() -> Result<()> {
    let server = fixture(false).await?;
    let cookie = server.cookie(Role::Viewer).await?;
    let (_, before) = get(&server, &cookie, "/").await?;
    assert!(!before.contains("id=\"agents-h\""), "no agent, no section");
    let seen = portwatch_store::AgentSeen {
        name: "lan-<1>",
        vantage: "lan",
        token_id: 1,
        version: "0.1.0",
        addr: "10.9.0.7",
        current_job: Some(42),
    };
    server.store.agent_seen(&seen, 1_800_000_000_000).await?;
    let (status, html) = get(&server, &cookie, "/").await?;
    assert_eq!(status, StatusCode::OK);
    assert_plain_accessible_html("/", &html);
    let section = html
        .split("id=\"agents-h\"")
        .nth(1)
        .expect("an agents section");
    for fact in [
        "lan-&#60;1&#62;",
        "<td>lan</td>",
        "0.1.0",
        "10.9.0.7",
        "<td>42</td>",
    ] {
        assert!(section.contains(fact), "missing {fact}: {section}");
    }
    Ok(())
}

#[tokio::test]
async fn lists_show_the_vantage_once_a_second_one_appears() -> Result<()> {
    let server = fixture(false).await?;
    let cookie = server.cookie(Role::Viewer).await?;
    let (_, html) = get(&server, &cookie, "/").await?;
    assert!(!html.contains("Seen from"), "one vantage: no column");
    let ports = portwatch_model::ports::PortList {
        tcp: vec![445],
        udp: vec![],
    };
    let id = server
        .store
        .begin_scan(&portwatch_store::NewScan {
            source: "monitor:file-servers".into(),
            vantage: "internet".into(),
            args: vec![],
            targets: vec![FILESRV.into()],
            ports: ports.clone(),
        })
        .await?;
    let outcome = portwatch_store::ScanOutcome {
        identified: true,
        hosts: vec![portwatch_store::HostOutcome {
            addr: FILESRV.parse()?,
            hostname: None,
            up: true,
        }],
        coverage: ports,
        results: vec![],
    };
    server
        .store
        .finish_scan(id, &outcome, &portwatch_store::Effects::default())
        .await?;
    let (_, html) = get(&server, &cookie, "/").await?;
    assert!(html.contains("<th scope=\"col\">Seen from</th>"), "{html}");
    // Riskiest first: the host seen from the internet has nothing open, so it is on page 2.
    let (_, page2) = get(&server, &cookie, "/?page=2").await?;
    let both = html + &page2;
    assert!(both.contains("<td>internet</td>") && both.contains("<td>local</td>"));
    Ok(())
}

#[tokio::test]
async fn maintenance_windows_are_listed_with_their_reason_on_the_overview_and_config() -> Result<()>
{
    let server = configured(&windows_config("Kernel patching, ticket OPS-1234")).await?;
    let cookie = server.cookie(Role::Viewer).await?;
    for path in ["/", "/config"] {
        let (status, html) = get(&server, &cookie, path).await?;
        assert_eq!(status, StatusCode::OK, "{path}: {html}");
        assert_plain_accessible_html(path, &html);
        assert!(html.contains("Maintenance windows (UTC)"), "{path}: {html}");
        let fixed = "<li><strong>now:</strong> 2000-01-01T00:00:00Z to 2099-01-01T00:00:00Z<br>\
                     <span class=\"muted\">Kernel patching, ticket OPS-1234</span></li>";
        assert!(
            html.contains(fixed),
            "{path}: the window in force, with why: {html}"
        );
        assert!(
            html.contains(
                "cron 0 2 * * 0 UTC, for 7200 s<br><span class=\"muted\">Sunday backups</span>"
            ),
            "{path}: the weekly one: {html}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn overview_rates_each_host_and_sums_up_what_is_reachable_from_where() -> Result<()> {
    let server = fixture(true).await?;
    let cookie = server.cookie(Role::Viewer).await?;
    let (_, html) = get(&server, &cookie, "/").await?;
    let reach = &html[html.find("id=\"reach-h\"").expect("a summary")..];
    let reach = &reach[..reach.find("</table>").expect("its table")];
    // Every fixture host is on the LAN; nothing is reachable from the internet or loopback.
    assert!(
        reach.contains("<th scope=\"row\">From the internet</th><td class=\"num\">0</td>"),
        "{reach}"
    );
    assert!(
        reach.contains("<th scope=\"row\">From the LAN</th><td class=\"num\">252</td>"),
        "{reach}"
    );
    assert!(reach.contains("From this machine only"), "{reach}");
    // 445/tcp on both file-servers hosts is critical by the group's severity (their
    // violation), which is what the chart counts too.
    assert!(
        reach.contains("<span class=\"sev sev-critical\">2</span>"),
        "{reach}"
    );
    // The hosts list has a risk column, riskiest first: the two hosts with a critical port.
    let hosts = &html[html.find("id=\"hosts-h\"").expect("the hosts")..];
    assert!(hosts.contains("<th scope=\"col\">Risk</th>"));
    let rows: Vec<&str> = hosts.split("<tr><th scope=\"row\">").skip(1).collect();
    for row in &rows[..2] {
        assert!(
            row.contains("sev-critical") && row.contains("<td>LAN</td>"),
            "{row}"
        );
        assert!(
            row.contains(FILESRV) || row.contains(EVIL),
            "the file servers first: {row}"
        );
    }
    assert!(!rows[2].contains("sev-critical"), "{}", rows[2]);
    let days = &html[html.find("Exposure data table").expect("the chart's table")..];
    assert!(
        days.contains("<td>2</td><td>1</td><td>3</td>"),
        "critical 2, high 1: {days}"
    );
    Ok(())
}

#[tokio::test]
async fn unknown_paths_get_a_404_page_and_json_under_the_api() -> Result<()> {
    let server = fixture(false).await?;
    let cookie = server.cookie(Role::Viewer).await?;
    for path in ["/nope", "/hosts", "/ports/445/extra", "/static/nope.css"] {
        let (status, html) = get(&server, &cookie, path).await?;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(html.starts_with("<!doctype html>"), "{path}: {html}");
        assert!(html.contains("<title>404 Not Found · portwatch</title>"));
        assert!(
            html.contains(&format!("There is no page at {path}.")),
            "{path}: {html}"
        );
        assert!(html.contains("href=\"/\""), "a way back");
        // The site's frame: skip link, main navigation, main landmark, footer; one h1.
        for part in [
            "<a class=\"skip\" href=\"#main\">",
            "<nav aria-label=\"Main\">",
            "<a href=\"/config\">Configuration</a>",
            "<main id=\"main\"",
            "<footer class=\"bottom\">",
        ] {
            assert!(html.contains(part), "{path}: no {part}: {html}");
        }
        assert_eq!(html.matches("<h1").count(), 1, "{path}: one h1");
        assert!(
            !html.contains("aria-current"),
            "{path}: no section is current"
        );
        assert!(!html.contains("<script"), "{path}: no script");
    }
    // Without a session too (it tells nothing the login page would not), escaped.
    let r = client().get(server.url("/%3Cb%3Ex")).send().await?;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let html = r.text().await?;
    assert!(!html.contains("<b>x"), "{html}");
    // Under /api/ the answer stays JSON.
    let r = server.get_with(&cookie, "/api/v1/nope").await?;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(
        r.headers()["content-type"]
            .to_str()?
            .starts_with("application/json")
    );
    Ok(())
}

#[tokio::test]
async fn config_page_shows_the_configuration_in_force_after_a_reload() -> Result<()> {
    let server = configured(&windows_config("before")).await?;
    let cookie = server.cookie(Role::Viewer).await?;
    let (_, html) = get(&server, &cookie, "/config").await?;
    assert!(html.contains("<th scope=\"row\">lab</th>"), "{html}");
    let text = "[[group]]\nname = \"reloaded\"\ntargets = [\"127.0.0.2\"]\nevery = \"5m\"\n\
                [group.policy]\nmust_be_closed = [\"T:23\"]\n";
    let settings = portwatch_monitor::config::parse(text, std::path::Path::new("new.toml"))?;
    let daemon = server.daemon.clone().expect("a daemon");
    daemon.reload(settings, Some(text.to_string())).await?;
    let (_, html) = get(&server, &cookie, "/config").await?;
    assert!(html.contains("<th scope=\"row\">reloaded</th>"), "{html}");
    assert!(
        !html.contains("<th scope=\"row\">lab</th>"),
        "the old group is gone"
    );
    assert!(
        html.contains("name = &#34;reloaded&#34;"),
        "the new text: {html}"
    );
    assert!(html.contains("every 5 min"));
    Ok(())
}

#[tokio::test]
async fn overview_finds_a_groups_last_scan_behind_many_newer_scans() -> Result<()> {
    let server = configured(
        "[[group]]\nname = \"lab\"\ntargets = [\"127.0.0.1\"]\nevery = \"1h\"\n\
         [group.policy]\nmust_be_closed = [\"T:445\"]\n",
    )
    .await?;
    common_pages::record_scan(
        &server.store,
        "monitor:lab",
        &[("127.0.0.1", None)],
        &[445],
        vec![],
        portwatch_store::Effects::default(),
    )
    .await?;
    // More newer scans of another source than the overview once searched (500).
    for _ in 0..501 {
        let id = server
            .store
            .begin_scan(&portwatch_store::NewScan {
                source: "scan".into(),
                vantage: portwatch_store::LOCAL_VANTAGE.into(),
                args: vec![],
                targets: vec!["127.0.0.2".into()],
                ports: portwatch_model::ports::PortList {
                    tcp: vec![445],
                    udp: vec![],
                },
            })
            .await?;
        server.store.fail_scan(id, "test").await?;
    }
    let cookie = server.cookie(Role::Viewer).await?;
    let (status, html) = get(&server, &cookie, "/").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("1 of 1 hosts up"), "{html}");
    assert!(html.contains("Compliant"), "{html}");
    assert!(!html.contains("none recently"), "{html}");
    Ok(())
}

#[tokio::test]
async fn host_page_places_a_loopback_host_on_this_machine_only() -> Result<()> {
    let server = fixture(false).await?;
    common_pages::record_scan(
        &server.store,
        "scan",
        &[("127.0.0.1", None)],
        &[5432],
        vec![common_pages::open(
            "127.0.0.1",
            None,
            5432,
            "postgresql",
            serde_json::json!({}),
        )],
        portwatch_store::Effects::default(),
    )
    .await?;
    let cookie = server.cookie(Role::Viewer).await?;
    let (status, html) = get(&server, &cookie, "/hosts/127.0.0.1").await?;
    assert_eq!(status, StatusCode::OK);
    // Loopback is its own exposure class, not the LAN: nothing off this machine reaches it.
    assert!(
        html.contains(
            "<dt>Location</dt><dd>loopback (reachable from this machine only): no network exposure</dd>"
        ),
        "{html}"
    );
    assert!(!html.contains("LAN (private"), "{html}");
    Ok(())
}
