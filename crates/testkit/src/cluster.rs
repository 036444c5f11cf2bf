//! A PostgreSQL cluster of one test's own, and `psql`.

use anyhow::{Result, bail};
use std::path::PathBuf;
use std::process::Command;

/// A PostgreSQL cluster of the test's own, made and controlled through the script named by
/// `PORTWATCH_TEST_PG_CTL` (default: the repository's `scripts/test-pg.sh`) on a free port and a
/// private data directory, so stopping or restarting it disturbs no other test. Removed on drop.
pub struct OwnCluster {
    ctl: PathBuf,
    port: u16,
    dir: PathBuf,
}

impl OwnCluster {
    /// Creates and starts the cluster.
    pub fn up() -> Result<OwnCluster> {
        let ctl = std::env::var_os("PORTWATCH_TEST_PG_CTL")
            .filter(|v| !v.is_empty())
            .map_or_else(
                || {
                    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join("../../scripts/test-pg.sh")
                },
                PathBuf::from,
            );
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let dir = PathBuf::from(format!("/var/tmp/pw-test-own-pg-{port}"));
        let cluster = OwnCluster { ctl, port, dir };
        cluster.ctl("up")?;
        Ok(cluster)
    }

    /// The URL of its `postgres` database (the admin URL).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Runs `start`, `stop`, `restart`, `up` or `down` on it.
    pub fn ctl(&self, what: &str) -> Result<()> {
        let out = Command::new(&self.ctl)
            .arg(what)
            .env("PORTWATCH_TEST_PG_PORT", self.port.to_string())
            .env("PORTWATCH_TEST_PG_DIR", &self.dir)
            .output()?;
        if !out.status.success() {
            bail!(
                "{} {what} failed: {}",
                self.ctl.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = self.ctl("down");
    }
}

/// Runs `sql` with `psql` on the database at `url` and returns what it printed (unaligned,
/// tuples only, trimmed); panics with psql's message if it fails.
pub fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([url, "-qAt", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
