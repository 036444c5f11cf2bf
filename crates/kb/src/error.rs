//! The crate's error type.

use crate::fix::Platform;
use crate::transport::Transport;

/// Everything that can go wrong when asking the knowledge base something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KbError {
    /// A port number outside 1-65535.
    #[error("port {value} is out of range: ports are 1-65535")]
    PortOutOfRange {
        /// The value that was given.
        value: u32,
    },
    /// A transport name that is not tcp, udp or sctp.
    #[error("unknown transport {value:?}: expected one of tcp, udp, sctp")]
    UnknownTransport {
        /// The value that was given.
        value: String,
    },
    /// A severity name that is not on the scale.
    #[error("unknown severity {value:?}: expected one of none, low, medium, high, critical")]
    UnknownSeverity {
        /// The value that was given.
        value: String,
    },
    /// A platform name `fix` does not know.
    #[error(
        "unknown platform {value:?}: expected one of ufw, firewalld, nftables, iptables, windows, macos, samba"
    )]
    UnknownPlatform {
        /// The value that was given.
        value: String,
    },
    /// A service name that neither a page nor the IANA registry knows.
    #[error("unknown service name {name:?}: no page or IANA registry entry uses it")]
    UnknownName {
        /// The name that was given.
        name: String,
    },
    /// More top ports asked for than the table holds.
    #[error(
        "top ports for {transport}: asked for {requested}, but the table has {max} (the maximum)"
    )]
    TooManyTopPorts {
        /// The transport asked for.
        transport: Transport,
        /// How many ports were asked for.
        requested: usize,
        /// How many the table holds.
        max: usize,
    },
    /// No top-ports table exists for this transport.
    #[error("top ports for {transport}: there is no ranking for this transport (only tcp and udp)")]
    NoTopPorts {
        /// The transport asked for.
        transport: Transport,
    },
    /// The embedded top-ports table could not be read.
    #[error("read the embedded top-ports table: {message}")]
    TopPortsData {
        /// What the TOML parser said.
        message: String,
    },
    /// The samba platform was asked about a port Samba does not serve.
    #[error(
        "fix for port {port} on samba: the samba platform only applies to ports 137, 138, 139 and 445"
    )]
    NotASambaPort {
        /// The port asked for.
        port: u16,
    },
    /// A source network that is every address: allowing it in would open the port to all.
    #[error(
        "fix for port {port}: --source {network} is every address, so the plan would open the port to the whole internet instead of closing it; give the network that should keep access (e.g. 192.168.1.0/24), or no --source to close the port for everyone"
    )]
    SourceIsEverything {
        /// The port asked for.
        port: u16,
        /// The network that was given.
        network: ipnet::IpNet,
    },
    /// A platform's firewall cannot match this transport by port.
    #[error(
        "fix for port {port}/{transport} on {platform}: {platform} cannot filter {transport} by port"
    )]
    UnsupportedTransport {
        /// The port asked for.
        port: u16,
        /// The transport asked for.
        transport: Transport,
        /// The platform asked for.
        platform: Platform,
    },
}

impl KbError {
    // The `parse_err_fn`s of the name enums' derived `FromStr`.
    pub(crate) fn unknown_transport(value: &str) -> KbError {
        KbError::UnknownTransport {
            value: value.to_owned(),
        }
    }

    pub(crate) fn unknown_severity(value: &str) -> KbError {
        KbError::UnknownSeverity {
            value: value.to_owned(),
        }
    }

    pub(crate) fn unknown_platform(value: &str) -> KbError {
        KbError::UnknownPlatform {
            value: value.to_owned(),
        }
    }
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, KbError>;
