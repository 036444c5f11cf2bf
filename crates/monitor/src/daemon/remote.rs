//! Observations from a vantage other than `local`: what agents standing there scanned.
//!
//! Agents are not part of this build yet, so every remote observation fails with a clear
//! error (the scan row is marked failed with it, and the group's other vantages carry on).

use super::Daemon;
use crate::config::Group;
use crate::runner::GroupScan;
use portwatch_scan::ports::PortList;

impl Daemon {
    /// One observation of `group`'s `targets` × `ports` from `vantage` (not `local`).
    pub(super) async fn observe_remote(
        &self,
        group: &Group,
        vantage: &str,
        targets: &[String],
        ports: &PortList,
        identify: bool,
    ) -> portwatch_scan::Result<GroupScan> {
        let _ = (targets, ports, identify);
        Err(portwatch_scan::ScanError::Io {
            op: format!("observe group {} from vantage {vantage}", group.name),
            source: std::io::Error::other(format!(
                "no agent has taken the job for vantage {vantage}: agents are not available in this build"
            )),
        })
    }
}
