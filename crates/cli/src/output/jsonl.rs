//! `--format jsonl`: one object per port result, written as soon as it is known.

use super::{RunTotals, Sink};
use portwatch_scan::{HostSummary, PortResult};
use std::io::{self, Write};

/// Streams port results as JSON lines.
pub struct JsonlSink {
    out: Box<dyn Write>,
}

impl JsonlSink {
    /// A sink writing to `out`.
    pub fn new(out: Box<dyn Write>) -> Self {
        JsonlSink { out }
    }
}

impl Sink for JsonlSink {
    fn port(&mut self, r: &PortResult) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, r)?;
        self.out.write_all(b"\n")
    }

    fn host(&mut self, _h: &HostSummary) -> io::Result<()> {
        Ok(())
    }

    fn idle(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn finish(&mut self, _totals: &RunTotals) -> io::Result<()> {
        self.out.flush()
    }
}
