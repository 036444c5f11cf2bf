//! `portwatch export` / `import` (the whole history as JSON lines, so moving from SQLite to
//! PostgreSQL loses nothing) and `portwatch prune` (retention).

use crate::args::{ExportArgs, ImportArgs, PruneArgs};
use anyhow::{Context, Result, bail};
use std::io::{BufReader, Write};

/// `portwatch export`.
pub fn run_export(args: ExportArgs) -> Result<u8> {
    super::runtime()?.block_on(async {
        let store = crate::db::open(args.db.url(), None).await?;
        let lines = if let Some(path) = &args.output {
            let mut file = std::io::BufWriter::new(
                std::fs::File::create(path)
                    .with_context(|| format!("cannot write {}", path.display()))?,
            );
            let n = store.export(&mut file).await?;
            file.flush()?;
            n
        } else {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let n = store.export(&mut out).await?;
            out.flush()?;
            n
        };
        eprintln!("exported {lines} records from {}", store.name());
        Ok(crate::exit::OK)
    })
}

/// `portwatch import`.
pub fn run_import(args: ImportArgs) -> Result<u8> {
    super::runtime()?.block_on(async {
        let store = crate::db::open(args.db.url(), None).await?;
        let n = if args.file.as_os_str() == "-" {
            store
                .import(BufReader::new(std::io::stdin().lock()))
                .await?
        } else {
            let file = std::fs::File::open(&args.file)
                .with_context(|| format!("cannot read {}", args.file.display()))?;
            store.import(BufReader::new(file)).await?
        };
        eprintln!("imported {n} records into {}", store.name());
        Ok(crate::exit::OK)
    })
}

/// `portwatch prune`.
pub fn run_prune(args: PruneArgs) -> Result<u8> {
    let keep = match &args.keep {
        Some(k) => portwatch_monitor::duration::parse(k).map_err(anyhow::Error::msg)?,
        None => bail!("give --keep DURATION (e.g. 400d)"),
    };
    super::runtime()?.block_on(async {
        let store = crate::db::open(args.db.url(), None).await?;
        let report = store.prune(keep).await?;
        println!(
            "pruned {} closed spans and {} scans older than {}",
            report.spans,
            report.scans,
            args.keep.as_deref().unwrap_or_default()
        );
        Ok(crate::exit::OK)
    })
}
