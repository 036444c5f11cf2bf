//! The OpenAPI document checked against the server by a real property-based API fuzzer:
//! schemathesis (installed by scripts/install-test-deps.sh) reads `/api/openapi.json` and
//! sends generated requests, valid and invalid, to every operation of the real router (with a
//! daemon and a seeded store behind it) as an admin. It must find no 5xx answer, no status,
//! content type, header or body that the document does not list, no request the document
//! allows that the server refuses, and no request the document forbids that it accepts.
//!
//! Without the `schemathesis` binary the test fails: it never passes with nothing checked
//! (the fast tier, which needs no pip package, leaves it out).

mod common_api;

use anyhow::{Context, Result, bail, ensure};
use common_api::{Api, ROUTES, TestDb};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Test cases per operation and phase: enough to reach every parameter's edges, small enough
/// for a loaded 2-core machine.
const MAX_EXAMPLES: &str = "25";
/// A fixed seed, so a failure found once is found again.
const SEED: &str = "16";
/// The whole run is killed (and the test fails) after this long.
const RUN_LIMIT: Duration = Duration::from_mins(15);

/// Every check schemathesis 4 has that applies to one token: the server's answers against
/// the document, and the document's constraints against what the server accepts.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_headers_conformance,response_schema_conformance,\
                      negative_data_rejection,positive_data_acceptance,\
                      missing_required_header,unsupported_method,ignored_auth";

/// Checks the fuzzer is installed; without it the test fails.
fn fuzzer_present() -> Result<()> {
    match Command::new("schemathesis")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => bail!("schemathesis --version: {s}"),
        // The full suite installs it; the fast tier leaves this test out. A missing fuzzer is a
        // failure, never a pass with nothing checked.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("schemathesis not found (scripts/install-test-deps.sh installs it)")
        }
        Err(e) => Err(e).context("run schemathesis"),
    }
}

/// Runs `cmd` to its end or until [`RUN_LIMIT`]: (success, stdout and stderr together).
fn run_bounded(mut cmd: Command) -> Result<(bool, String)> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("start schemathesis")?;
    let mut out = child.stdout.take().context("stdout")?;
    let mut err = child.stderr.take().context("stderr")?;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let said = format!(
        "{}{}",
        reader.join().unwrap_or_default(),
        err_reader.join().unwrap_or_default()
    );
    match status {
        Some(s) => Ok((s.success(), said)),
        None => bail!("schemathesis ran longer than {RUN_LIMIT:?}:\n{said}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_disagreement_between_the_document_and_the_server() -> Result<()> {
    fuzzer_present()?;
    let api = Api::start(TestDb::sqlite().await?, true).await?;
    let dir = tempfile::tempdir()?;
    let (status, document) = api.get("/api/openapi.json").await?;
    ensure!(status.is_success(), "GET /api/openapi.json: {status}");
    let schema = dir.path().join("openapi.json");
    std::fs::write(&schema, serde_json::to_vec(&document)?)?;
    let report = dir.path().join("junit.xml");
    // One rule no schema can state: a silence must end in the future and within 30 days, so a
    // well-formed `until` or `for` outside that window is refused with 400 and a message.
    let config = dir.path().join("schemathesis.toml");
    std::fs::write(
        &config,
        "[[operations]]\ninclude-operation-id = \"silence_violation\"\n\
         checks.positive_data_acceptance.expected-statuses = \
         [\"2xx\", \"400\", \"401\", \"403\", \"404\", \"409\", \"429\"]\n",
    )?;

    let mut cmd = Command::new("schemathesis");
    cmd.current_dir(dir.path())
        .env("NO_COLOR", "1")
        .arg("--config-file")
        .arg(&config)
        .args(["run", "--url", &api.base])
        .args(["--header", &format!("Authorization: Bearer {}", api.admin)])
        .args(["--checks", CHECKS])
        .args(["--max-examples", MAX_EXAMPLES, "--seed", SEED])
        .args(["--workers", "1", "--request-timeout", "30"])
        .args(["--report", "junit"])
        .arg("--report-junit-path")
        .arg(&report)
        .arg(&schema);
    let (ok, said) = tokio::task::spawn_blocking(move || run_bounded(cmd)).await??;
    ensure!(ok, "schemathesis found problems:\n{said}");

    // Every operation of the document was exercised: each is a test case of the report.
    let junit = std::fs::read_to_string(&report).context("schemathesis wrote no JUnit report")?;
    for (method, path) in ROUTES {
        let case = format!("name=\"{} {path}\"", method.to_ascii_uppercase());
        ensure!(
            junit.contains(&case),
            "{} {path} was not exercised:\n{junit}\n{said}",
            method.to_ascii_uppercase()
        );
    }
    ensure!(
        !junit.contains("<skipped"),
        "schemathesis skipped an operation:\n{junit}"
    );
    Ok(())
}
