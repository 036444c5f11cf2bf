//! The dashboard in a real browser: headless Debian Chromium through chromedriver, against the
//! real router, a real store and a real monitor daemon watching 127.0.0.1 with a port that
//! must be closed. The test signs in through the login form, opens that port, watches the
//! violation appear on the overview (with the host's risk and what is reachable from where),
//! acknowledges it from the page, reads the confirmation, undoes it, silences it and lifts the
//! silence the same way, asks for a scan of the group and sees the page follow it to its end,
//! cancels a scan of another group from its flash while it runs, reads the port's timeline on the host
//! page and the port page's one platform plan, and meets the 404 page. Every page is checked with axe-core
//! run in the driven page (no serious or critical violation) and photographed at a desktop and
//! a phone width: `target/screenshots/` at the repository root.
//!
//! Needs Debian's `chromium` and `chromium-driver`, and axe-core under /var/cache/portwatch-test
//! (all from scripts/install-test-deps.sh); fails with a message saying so when one is missing.

mod common_pages;

use anyhow::{Context, Result, bail, ensure};
use axum::routing::post;
use common_pages::axe;
use common_pages::webdriver::Browser;
use common_pages::{daemon_for, fresh_store, serve};
use portwatch_monitor::alerts::Entry;
use portwatch_monitor::daemon::Daemon;
use portwatch_web::auth::Role;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

/// What the watched port says when it opens: hostile, to prove the browser shows it as text.
const BANNER: &str = "SSH-2.0-Evil<script>alert(1)</script>\r\n";

fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots")
}

/// The widths every page is photographed at: a laptop and a phone.
const WIDTHS: [u32; 2] = [1280, 390];

/// Checks the page the browser shows with axe-core (no serious or critical violation), then
/// at each of [`WIDTHS`] checks that it does not scroll sideways and saves a full-page
/// screenshot as `NAME-WIDTH.png`.
async fn check_page(browser: &Browser, name: &str) -> Result<()> {
    let found = axe::check(browser).await?;
    for v in &found {
        eprintln!(
            "axe on {name}: {} ({}): {} at {:?}",
            v.id,
            v.impact.as_deref().unwrap_or("?"),
            v.help,
            v.nodes
        );
    }
    let serious: Vec<&axe::Violation> = found.iter().filter(|v| v.is_serious()).collect();
    ensure!(
        serious.is_empty(),
        "{name}: serious accessibility violations: {serious:#?}"
    );
    for width in WIDTHS {
        browser.resize(width, 900).await?;
        let height = browser.page_height().await?.clamp(600, 6000);
        browser.resize(width, height + 120).await?;
        // Wide tables and code scroll inside themselves; the page never scrolls sideways.
        let fit = browser.overflowing().await?;
        ensure!(
            fit["scroll"].as_u64() <= fit["width"].as_u64(),
            "{name} is wider than a {width} px window: {fit}"
        );
        browser
            .screenshot(&screenshots().join(format!("{name}-{width}.png")))
            .await?;
    }
    browser.resize(1280, 1000).await?;
    Ok(())
}

/// A free loopback TCP port that is not 2024 (not ours on this machine).
fn free_port() -> Result<u16> {
    loop {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = l.local_addr()?.port();
        if port != 2024 {
            return Ok(port);
        }
    }
}

/// A webhook receiver on loopback that accepts every alert.
async fn hook_receiver(stop: CancellationToken) -> Result<u16> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let app = axum::Router::new().route("/hook", post(|| async { "ok" }));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
    });
    Ok(port)
}

/// Opens `port` on 127.0.0.1 with a service that greets with [`BANNER`].
async fn open_port(port: u16, stop: CancellationToken) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("open 127.0.0.1:{port}"))?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                accepted = listener.accept() => {
                    if let Ok((mut s, _)) = accepted {
                        tokio::spawn(async move {
                            let _ = s.write_all(BANNER.as_bytes()).await;
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        });
                    }
                }
            }
        }
    });
    Ok(())
}

/// Clicks the button `selector` finds, then waits (at most 10 s) until the page contains
/// `text`; the page, or an error saying that `what` did not come.
async fn click_and_wait(
    browser: &Browser,
    selector: &str,
    text: &str,
    what: &'static str,
) -> Result<String> {
    browser.click(&browser.find(selector).await?).await?;
    browser
        .wait_for_text(text, Duration::from_secs(10))
        .await
        .context(what)
}

/// The entries of the monitor's alert book.
async fn entries(daemon: &Daemon) -> Vec<Entry> {
    daemon.book().await.iter().map(|(_, e)| e.clone()).collect()
}

/// Reloads `url` until the page source contains every one of `wanted`.
async fn wait_for(
    browser: &Browser,
    url: &str,
    wanted: &[&str],
    within: Duration,
) -> Result<String> {
    let deadline = Instant::now() + within;
    loop {
        browser.goto(url).await?;
        let html = browser.source().await?;
        if wanted.iter().all(|w| html.contains(w)) {
            return Ok(html);
        }
        if Instant::now() > deadline {
            bail!("{url} did not show {wanted:?} within {within:?}; last page:\n{html}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn violation_appears_is_acknowledged_silenced_undone_and_has_a_timeline() -> Result<()> {
    let browser = Browser::start().await?;
    let outcome = drive(&browser).await;
    let quit = browser.quit().await;
    outcome.and(quit)
}

async fn drive(browser: &Browser) -> Result<()> {
    let stop = CancellationToken::new();
    let _stop_all = stop.clone().drop_guard();
    let watched = free_port()?;
    let hook = hook_receiver(stop.clone()).await?;
    let config = format!(
        "[alerts]\nconfirmations = 2\nconfirm_after = \"200ms\"\nremind_every = \"0\"\n\n\
         [[notify]]\nname = \"local-hook\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:{hook}/hook\"\n\n\
         [[group]]\nname = \"lab\"\ntargets = [\"127.0.0.1\"]\nevery = \"1s\"\n\
         [group.policy]\nmust_be_closed = [\"{watched}\"]\n\n\
         [[group]]\nname = \"remote\"\ntargets = [\"127.0.0.1\"]\nports = \"T:1\"\n\
         cron = \"0 0 1 1 *\"\nvantages = [\"internet\"]\n\
         [group.policy]\nmust_be_closed = [\"T:1\"]\n"
    );
    let (db, store) = fresh_store().await?;
    let daemon = daemon_for(&config, &store, Some(stop.clone())).await?;
    let server = serve(db, store.clone(), Some(daemon.clone()), Some(config)).await?;
    let (token, _) =
        portwatch_web::auth::tokens::create(&store, "browser-admin", Role::Admin).await?;

    // Sign in through the form.
    browser.goto(&server.url("/")).await?;
    ensure!(
        browser.url().await?.contains("/login"),
        "no session: the login page"
    );
    check_page(browser, "login").await?;
    let field = browser.find("#token").await?;
    browser.type_into(&field, &token).await?;
    click_and_wait(
        browser,
        "button[type=submit]",
        "Signed in as <strong>browser-admin</strong>",
        "signed in and back on the overview",
    )
    .await?;

    // The port opens; the monitor confirms the violation; the overview shows it.
    open_port(watched, stop.clone()).await?;
    let label = format!("{watched}/tcp");
    let html = wait_for(
        browser,
        &server.url("/"),
        &[&label, "Violating", "/ack\""],
        Duration::from_secs(40),
    )
    .await?;
    ensure!(
        html.contains("Violating"),
        "the group is not compliant: {html}"
    );
    // A loopback port is reachable from this machine only; its violation rates it (the
    // knowledge base rates nothing on loopback) in the summary and the host's risk column.
    ensure!(
        html.contains("<th scope=\"row\">From this machine only</th><td class=\"num\">1</td>"),
        "the summary: {html}"
    );
    ensure!(
        html.contains("<td>loopback</td>") && html.contains("class=\"sev sev-medium\">medium"),
        "the host's risk: {html}"
    );
    check_page(browser, "overview").await?;

    // Acknowledge it from the page: the page says so, counts it, and offers to undo it.
    let html = click_and_wait(
        browser,
        "form[action$='/ack'] button",
        "<span class=\"tag\">acknowledged</span>",
        "the page shows the acknowledgement",
    )
    .await?;
    ensure!(
        html.contains(&format!(
            "Acknowledged {label} on 127.0.0.1 (group lab, must be closed)"
        )) && html.contains("1 acknowledged"),
        "the confirmation and the count: {html}"
    );
    ensure!(
        entries(&daemon)
            .await
            .iter()
            .any(|e| e.acknowledged && e.finding.port == Some(watched)),
        "the monitor has it acknowledged"
    );
    check_page(browser, "overview-acknowledged").await?;
    click_and_wait(
        browser,
        ".flash form button",
        "is no longer acknowledged",
        "the undo is confirmed",
    )
    .await?;
    ensure!(
        entries(&daemon).await.iter().all(|e| !e.acknowledged),
        "the monitor has it unacknowledged"
    );

    // Silence it (the form's preset length, 1 day): said, counted, and lifted from the page.
    let html = click_and_wait(
        browser,
        "form[action$='/silence'] button",
        &format!("Silenced {label} on 127.0.0.1 (group lab, must be closed) until"),
        "the page shows the silence",
    )
    .await?;
    ensure!(
        html.contains("0 acknowledged · 1 silenced"),
        "the count: {html}"
    );
    ensure!(
        entries(&daemon)
            .await
            .iter()
            .any(|e| e.silenced_until_ms.is_some() && e.finding.port == Some(watched)),
        "the monitor has it silenced"
    );
    let html = click_and_wait(
        browser,
        ".flash form button",
        "is lifted",
        "lifting the silence is confirmed",
    )
    .await?;
    ensure!(
        html.contains("0 acknowledged · 0 silenced"),
        "the count: {html}"
    );
    ensure!(
        entries(&daemon)
            .await
            .iter()
            .all(|e| e.silenced_until_ms.is_none()),
        "the monitor has it unsilenced"
    );

    // Scan the group now: the page says it was asked for.
    click_and_wait(
        browser,
        "form[action='/groups/lab/scan'] button",
        "Scan of group lab asked for",
        "the scan request is confirmed",
    )
    .await?;
    // Without a reload, the page's script follows the request to its end and swaps in the
    // page's sections as they are then.
    browser
        .wait_for_text(
            "The scan completed: the figures on this page are up to date.",
            Duration::from_secs(20),
        )
        .await
        .context("the page follows the scan to its end")?;
    browser
        .wait_for_text("data-refreshed=", Duration::from_secs(10))
        .await
        .context("the page's figures were refreshed")?;

    // A group seen only from a vantage no agent serves: its scan runs until an agent answers,
    // so the flash's undo finds it running and stops it.
    click_and_wait(
        browser,
        "form[action='/groups/remote/scan'] button",
        "data-scan-state=\"running\"",
        "the page shows the scan running",
    )
    .await?;
    click_and_wait(
        browser,
        ".flash form[action$='/cancel'] button",
        "The scan was cancelled: nothing of it is recorded.",
        "the undo stops the scan",
    )
    .await?;
    let scans = store.scans(20, None).await?;
    let stopped = scans
        .iter()
        .find(|s| s.vantage == "internet")
        .context("the remote group's scan row")?;
    ensure!(
        stopped.status == portwatch_store::ScanStatus::Failed
            && stopped
                .error
                .as_deref()
                .is_some_and(|e| e.starts_with("cancelled: scan request")),
        "{stopped:?}"
    );

    // The host page: the port with its (escaped) banner and its timeline, coloured by risk on
    // a date axis.
    let html = wait_for(
        browser,
        &server.url("/hosts/127.0.0.1"),
        &[
            "class=\"timeline-bar\"",
            &format!("aria-label=\"{label} (medium risk): open since"),
            "class=\"tl-medium\"",
            "class=\"timeline-axis\"",
        ],
        Duration::from_secs(20),
    )
    .await?;
    ensure!(
        html.contains("SSH-2.0-Evil&lt;script&gt;"),
        "the banner is shown as text: {html}"
    );
    let banner = browser.find("dl.details dd").await?;
    let text = browser.text(&banner).await?;
    ensure!(
        text.contains("<script>alert(1)</script>"),
        "banner {text:?}"
    );
    let title = browser.title().await?;
    ensure!(title == "Host 127.0.0.1 · portwatch", "title {title:?}");
    check_page(browser, "host").await?;

    // The port page linked from the host page: one platform's plan, the others as links.
    browser
        .goto(&server.url("/ports/445?proto=tcp&host=127.0.0.1"))
        .await?;
    let plans = browser.find_all("section.plan").await?;
    ensure!(plans.len() == 1, "{} plans on the port page", plans.len());
    check_page(browser, "port").await?;

    browser.goto(&server.url("/config")).await?;
    check_page(browser, "config").await?;
    browser.goto(&server.url("/no/such/page")).await?;
    ensure!(
        browser.title().await? == "404 Not Found · portwatch",
        "the 404 page"
    );
    check_page(browser, "not-found").await?;
    Ok(())
}
