//! portwatch-local: this machine's listening sockets, like `ss -tulpn`, joined with the knowledge
//! base and the host firewall.
//!
//! [`snapshot`] lists every listening TCP socket and bound, unconnected UDP socket of the current
//! network namespace with its process, user, exposure (loopback, one interface, all
//! interfaces), the knowledge base's risk, the nftables verdict for a new inbound connection
//! ([`firewall`]) and the severity that follows. [`watch::Watcher`] reports listeners opening and
//! closing.
//!
//! Owns: reading the socket tables (TCP listeners through the `sock_diag` netlink dump that `ss`
//! uses, because reading `/proc/net/tcp` walks the whole connection hash and costs milliseconds;
//! `/proc/net/tcp{,6}` as the fallback; UDP from `/proc/net/udp{,6}`), `/proc/PID/fd`,
//! `/etc/passwd`, and `nft -j list ruleset`. Must not depend on terminals, clap or the scanner; it prints nothing.
//!
//! Limits: a `::` socket counts as dual-stack unless `net.ipv6.bindv6only` is 1 or a `0.0.0.0`
//! socket shares its port, because a socket's own `IPV6_V6ONLY` option is not visible in
//! `/proc`. Without root, other users' processes cannot be matched to their sockets
//! ([`Snapshot::complete`] is false) and `nft` cannot read the ruleset.

#![deny(missing_docs)]

mod assess;
mod error;
pub mod firewall;
mod interfaces;
mod model;
pub mod proc_net;
mod procs;
mod snapshot;
mod sock_diag;
mod users;
pub mod watch;

pub use assess::assess;
pub use error::{LocalError, Result};
pub use firewall::{FirewallVerdict, Ruleset};
pub use interfaces::{interface_addresses, is_private};
pub use model::{Exposure, Family, Listener, Proto, Snapshot};
pub use snapshot::{NOT_ROOT_NOTE, snapshot};
pub use users::parse_passwd;
