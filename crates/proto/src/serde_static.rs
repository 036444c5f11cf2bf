//! Deserialising the `&'static str` labels this crate puts in its result types.
//!
//! Labels such as a service name come from fixed tables, so a deserialised
//! string is mapped back to the table entry; anything else is an error.

use serde::Deserialize;
use serde::de::{Deserializer, Error};

/// Finds the static label equal to `s` among every label this crate emits.
fn lookup(s: &str) -> Option<&'static str> {
    let udp = crate::udp::SERVICES.iter().map(|&(_, name)| name);
    let banner = crate::banner::SERVICE_NAMES.iter().copied();
    let session = [0x80u8, 0x81, 0x82, 0x83, 0x8f, 0x00]
        .into_iter()
        .map(crate::netbios::session::negative_meaning);
    udp.chain(banner).chain(session).find(|known| *known == s)
}

/// `deserialize_with` target for `&'static str` fields.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    let s = String::deserialize(d)?;
    lookup(&s).ok_or_else(|| D::Error::custom(format!("unknown label {s:?}")))
}
