//! The agent's spool: each finished outcome is written to its own file (one per job and
//! attempt), fsynced with its directory, before it is pushed, and removed once the server has
//! answered for it. Results survive a crash, a server restart or a network cut.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// One finished attempt, as pushed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Spooled {
    /// The job.
    pub id: i64,
    /// The attempt.
    pub attempt: i64,
    /// The claim's fencing token.
    pub token: String,
    /// The scan's result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// Why the job could not be run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The spool directory.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
}

impl Spool {
    /// Opens (creating) the directory.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("--spool {}: cannot create the directory", dir.display()))?;
        let probe = dir.join(".portwatch-write-test");
        std::fs::write(&probe, b"")
            .with_context(|| format!("--spool {}: cannot write there", dir.display()))?;
        let _ = std::fs::remove_file(probe);
        Ok(Spool {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, id: i64, attempt: i64) -> PathBuf {
        self.dir
            .join(format!("job-{id:020}-attempt-{attempt:06}.json"))
    }

    /// Writes an outcome durably (temporary file, fsync, rename, fsync of the directory).
    pub fn put(&self, item: &Spooled) -> Result<PathBuf> {
        let path = self.path(item.id, item.attempt);
        let tmp = path.with_extension("tmp");
        let text = serde_json::to_vec(item)?;
        let mut f = std::fs::File::create(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        f.write_all(&text)
            .and_then(|()| f.sync_all())
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("cannot sync {}", self.dir.display()))?;
        Ok(path)
    }

    /// The spooled outcomes, oldest job first (unreadable files are reported and set aside).
    pub fn items(&self) -> Result<Vec<(PathBuf, Spooled)>> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .with_context(|| format!("cannot read {}", self.dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        let mut out = Vec::new();
        for p in paths {
            match std::fs::read(&p)
                .map_err(anyhow::Error::from)
                .and_then(|b| serde_json::from_slice::<Spooled>(&b).map_err(Into::into))
            {
                Ok(item) => out.push((p, item)),
                Err(e) => {
                    tracing::error!(file = %p.display(), error = %e, "a spooled result cannot be read; set aside as .bad");
                    let _ = std::fs::rename(&p, p.with_extension("bad"));
                }
            }
        }
        Ok(out)
    }

    /// How many outcomes wait.
    pub fn len(&self) -> usize {
        self.items().map_or(0, |v| v.len())
    }

    /// Removes a delivered outcome.
    pub fn remove(&self, path: &Path) {
        if let Err(e) = std::fs::remove_file(path) {
            tracing::warn!(file = %path.display(), error = %e, "cannot remove a delivered result");
        }
    }
}
