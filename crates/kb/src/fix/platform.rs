//! The platforms `fix` writes commands for.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::KbError;
use crate::transport::Transport;

/// A firewall or service platform that `fix` knows how to configure.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
    strum::EnumString,
)]
#[serde(rename_all = "lowercase")]
#[strum(
    serialize_all = "lowercase",
    ascii_case_insensitive,
    parse_err_ty = KbError,
    parse_err_fn = KbError::unknown_platform
)]
pub enum Platform {
    /// Ubuntu's Uncomplicated Firewall.
    Ufw,
    /// firewalld (Fedora, RHEL and derivatives).
    Firewalld,
    /// nftables, directly.
    Nftables,
    /// iptables and ip6tables, directly.
    Iptables,
    /// Windows Defender Firewall, through PowerShell.
    Windows,
    /// macOS, through the pf packet filter.
    Macos,
    /// Samba's own configuration (ports 137, 138, 139 and 445 only).
    Samba,
}

impl Platform {
    /// Every platform, in the order they are listed to users.
    pub const ALL: &'static [Platform] = <Platform as strum::VariantArray>::VARIANTS;

    /// The lowercase name users type.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether portwatch's test suite applies this platform's plans for real: in a network
    /// namespace with listeners on the port, then scans from outside (`crates/cli/tests/
    /// fix_applied.rs`; firewalld runs there with a D-Bus system bus of its own). Windows and
    /// macOS need another system: their plans are reviewed text, not proven here. Samba is
    /// proven per plan (see `FixPlan::proven_here`).
    pub fn proven_here(self) -> bool {
        matches!(
            self,
            Platform::Ufw | Platform::Nftables | Platform::Iptables | Platform::Firewalld
        )
    }

    /// Whether this platform can close a port on `transport`.
    ///
    /// ufw, Windows Firewall and pf match ports only for TCP and UDP; Samba serves no SCTP.
    pub fn filters(self, transport: Transport) -> bool {
        match transport {
            Transport::Tcp | Transport::Udp => true,
            Transport::Sctp => matches!(
                self,
                Platform::Firewalld | Platform::Nftables | Platform::Iptables
            ),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for &p in Platform::ALL {
            assert_eq!(p.to_string().parse::<Platform>(), Ok(p));
            assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{p}\""));
        }
        assert_eq!("macOS".parse::<Platform>(), Ok(Platform::Macos));
    }

    #[test]
    fn unknown_platform_lists_the_valid_ones() {
        let err = "solaris".parse::<Platform>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown platform \"solaris\": expected one of ufw, firewalld, nftables, iptables, windows, macos, samba"
        );
    }
}
