//! NetBIOS over TCP/IP (RFC 1001/1002): names, the node status query and the session service.

pub mod name;
pub mod nbstat;
pub mod session;

pub use name::NetbiosName;
pub use nbstat::{NameEntry, NodeStatus, NodeType};
pub use session::SessionResponse;
