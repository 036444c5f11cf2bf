//! The result model every front end renders, and the events the engine reports it in. The data
//! types live in `portwatch-model` (so the store needs no scan engine); they are re-exported
//! here at their old paths.

pub use portwatch_model::result::{
    HostStatus, HostSummary, PortResult, PortRisk, PortState, ProbeMethod, Proto, Reason,
    SUMMARY_DETAIL, details_summary,
};

/// What the engine reports, in the order it learns it.
#[derive(Debug, Clone, PartialEq)]
pub enum ScanEvent {
    /// A port's final result.
    Port(PortResult),
    /// A host is finished.
    Host(HostSummary),
}
