//! Transport protocols a port number belongs to.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::KbError;

/// A transport protocol; port numbers are assigned per transport.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
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
    parse_err_fn = KbError::unknown_transport
)]
pub enum Transport {
    /// Transmission Control Protocol.
    Tcp,
    /// User Datagram Protocol.
    Udp,
    /// Stream Control Transmission Protocol.
    Sctp,
}

impl Transport {
    /// Every transport, in display order.
    pub const ALL: &'static [Transport] = <Transport as strum::VariantArray>::VARIANTS;

    /// The lowercase name (`tcp`, `udp`, `sctp`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_round_trip() {
        for &t in Transport::ALL {
            assert_eq!(t.to_string().parse::<Transport>(), Ok(t));
        }
        assert_eq!("TCP".parse::<Transport>(), Ok(Transport::Tcp));
    }

    #[test]
    fn unknown_transport_names_the_value_and_the_choices() {
        let err = "dccp".parse::<Transport>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown transport \"dccp\": expected one of tcp, udp, sctp"
        );
    }

    #[test]
    fn serde_uses_lowercase() {
        assert_eq!(serde_json::to_string(&Transport::Udp).unwrap(), "\"udp\"");
        assert_eq!(
            serde_json::from_str::<Transport>("\"sctp\"").unwrap(),
            Transport::Sctp
        );
    }
}
