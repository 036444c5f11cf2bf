//! A small client of the W3C WebDriver HTTP API, enough to drive headless Debian Chromium
//! through chromedriver: navigate, find elements by CSS selector, type, click, read the page,
//! take screenshots.

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// The key W3C WebDriver puts element references under.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Where the browser and its driver are looked for.
const DRIVERS: [&str; 2] = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"];
const BROWSERS: [&str; 2] = ["/usr/lib/chromium/chromium", "/usr/bin/chromium"];

fn first_existing(paths: &[&str]) -> Option<PathBuf> {
    paths.iter().map(PathBuf::from).find(|p| p.exists())
}

/// A headless Chromium session driven through its own chromedriver process.
pub struct Browser {
    http: reqwest::Client,
    base: String,
    session: String,
    driver: Child,
    ended: bool,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    /// A test that failed half-way still ends its Chromium: the session is deleted with a
    /// blocking request before chromedriver is killed (killing it alone orphans Chromium).
    fn drop(&mut self) {
        use std::io::{Read, Write};
        if self.ended {
            return;
        }
        let addr = self.base.trim_start_matches("http://");
        if let Ok(mut s) = std::net::TcpStream::connect(addr) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let request = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.session
            );
            let mut answer = Vec::new();
            if s.write_all(request.as_bytes()).is_ok() {
                let _ = s.read_to_end(&mut answer);
            }
        }
        let _ = self.driver.start_kill();
    }
}

impl Browser {
    /// Starts chromedriver on a free loopback port and a headless Chromium session with a
    /// fresh profile. Fails (never skips) when either program is missing.
    pub async fn start() -> Result<Browser> {
        let driver_bin = first_existing(&DRIVERS).ok_or_else(|| {
            anyhow!(
                "chromedriver is not installed (looked in {DRIVERS:?}): install Debian's \
                 `chromium` and `chromium-driver` packages, e.g. with scripts/install-test-deps.sh"
            )
        })?;
        let browser_bin = first_existing(&BROWSERS).ok_or_else(|| {
            anyhow!(
                "chromium is not installed (looked in {BROWSERS:?}): install Debian's `chromium` \
                 package, e.g. with scripts/install-test-deps.sh"
            )
        })?;
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0")?;
            l.local_addr()?.port()
        };
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {}", driver_bin.display()))?;
        super::install_tls_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_mins(1))
            .build()?;
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = http
                .get(format!("{base}/status"))
                .send()
                .await
                .ok()
                .map(reqwest::Response::json::<Value>);
            if let Some(r) = ready
                && let Ok(v) = r.await
                && v["value"]["ready"] == json!(true)
            {
                break;
            }
            if Instant::now() > deadline {
                bail!("chromedriver did not become ready on port {port} within 20 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir()?;
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": browser_bin,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--disable-dev-shm-usage", "--disable-crash-reporter",
                    "--disable-breakpad", "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        }}});
        let answer: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await?
            .json()
            .await?;
        let session = answer["value"]["sessionId"]
            .as_str()
            .ok_or_else(|| anyhow!("chromedriver refused to start Chromium: {answer}"))?
            .to_string();
        Ok(Browser {
            http,
            base,
            session,
            driver,
            ended: false,
            _profile: profile,
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method, &url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let answer: Value = req.send().await?.json().await?;
        if let Some(err) = answer["value"]["error"].as_str() {
            bail!(
                "webdriver {path}: {err}: {}",
                answer["value"]["message"].as_str().unwrap_or("")
            );
        }
        Ok(answer["value"].clone())
    }

    /// Opens `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) -> Result<()> {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await
            .map(|_| ())
    }

    /// The current URL.
    pub async fn url(&self) -> Result<String> {
        let v = self.call(reqwest::Method::GET, "/url", None).await?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    /// The page's HTML as the browser holds it.
    pub async fn source(&self) -> Result<String> {
        let v = self.call(reqwest::Method::GET, "/source", None).await?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    /// Waits until the page's HTML contains `text` (after a click that navigates).
    pub async fn wait_for_text(&self, text: &str, within: Duration) -> Result<String> {
        let deadline = Instant::now() + within;
        loop {
            let html = self.source().await?;
            if html.contains(text) {
                return Ok(html);
            }
            if Instant::now() > deadline {
                bail!("the page did not show {text:?} within {within:?}; it is:\n{html}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The page's title.
    pub async fn title(&self) -> Result<String> {
        let v = self.call(reqwest::Method::GET, "/title", None).await?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    /// The elements matching a CSS selector.
    pub async fn find_all(&self, css: &str) -> Result<Vec<String>> {
        let v = self
            .call(
                reqwest::Method::POST,
                "/elements",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await?;
        Ok(v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e[ELEMENT].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The first element matching a CSS selector.
    pub async fn find(&self, css: &str) -> Result<String> {
        self.find_all(css)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| anyhow!("no element matches `{css}`"))
    }

    /// Resizes the window (screenshots show the viewport).
    pub async fn resize(&self, width: u32, height: u32) -> Result<()> {
        self.call(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        )
        .await
        .map(|_| ())
    }

    /// Types `text` into an element.
    pub async fn type_into(&self, element: &str, text: &str) -> Result<()> {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({"text": text})),
        )
        .await
        .map(|_| ())
    }

    /// Clicks an element (and waits for a navigation it starts).
    pub async fn click(&self, element: &str) -> Result<()> {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await
        .map(|_| ())
    }

    /// The rendered text of an element.
    pub async fn text(&self, element: &str) -> Result<String> {
        let v = self
            .call(
                reqwest::Method::GET,
                &format!("/element/{element}/text"),
                None,
            )
            .await?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    /// Runs `script` in the page as an asynchronous WebDriver script (its last argument is
    /// the callback that ends it) and gives back what it passed to the callback; it may run
    /// for `within` at most.
    pub async fn execute_async(&self, script: &str, within: Duration) -> Result<Value> {
        self.call(
            reqwest::Method::POST,
            "/timeouts",
            Some(json!({"script": within.as_millis() as u64})),
        )
        .await?;
        self.call(
            reqwest::Method::POST,
            "/execute/async",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// The page's full height in CSS pixels (to size full-page screenshots).
    pub async fn page_height(&self) -> Result<u32> {
        let v = self
            .call(
                reqwest::Method::POST,
                "/execute/sync",
                Some(json!({
                    "script": "return document.documentElement.scrollHeight;",
                    "args": []
                })),
            )
            .await?;
        Ok(v.as_u64().unwrap_or(1000) as u32)
    }

    /// Elements whose right edge lies beyond the viewport, as `tag.class (right edge)`, and
    /// the viewport's width: what makes a page scroll sideways.
    pub async fn overflowing(&self) -> Result<Value> {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({
                "script": "const w = document.documentElement.clientWidth; \
                           const out = []; \
                           for (const e of document.querySelectorAll('body *')) { \
                             const r = e.getBoundingClientRect(); \
                             if (r.right > w + 1 && !e.closest('table') && !e.closest('figure')) out.push(e.tagName + '.' + e.className + ' (' + Math.round(r.right) + ')'); \
                           } \
                           return {width: w, scroll: document.documentElement.scrollWidth, over: out.slice(0, 8)};",
                "args": []
            })),
        )
        .await
    }

    /// Saves a PNG screenshot of the viewport.
    pub async fn screenshot(&self, path: &Path) -> Result<()> {
        let v = self.call(reqwest::Method::GET, "/screenshot", None).await?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .context("decode the screenshot")?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, png).with_context(|| format!("write {}", path.display()))
    }

    /// Ends the session (Chromium exits) and stops chromedriver.
    pub async fn quit(mut self) -> Result<()> {
        let ended = self.call(reqwest::Method::DELETE, "", None).await;
        self.ended = true;
        let _ = self.driver.start_kill();
        let _ = self.driver.wait().await;
        ended.map(|_| ())
    }
}
