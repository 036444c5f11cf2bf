//! The top-ports ranking: ports ordered by how often they are found open on the internet.
//!
//! Data: `data/top-ports.toml` (how it was compiled is in `data/NOTICE.md`).

use std::sync::OnceLock;

use serde::Deserialize;

use crate::error::{KbError, Result};
use crate::transport::Transport;

const TOP_PORTS_TOML: &str = include_str!("../data/top-ports.toml");

/// The parsed table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopTable {
    tcp: Vec<u16>,
    udp: Vec<u16>,
}

fn table() -> Result<&'static TopTable> {
    static TABLE: OnceLock<std::result::Result<TopTable, String>> = OnceLock::new();
    TABLE
        .get_or_init(|| toml::from_str(TOP_PORTS_TOML).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|message| KbError::TopPortsData {
            message: message.clone(),
        })
}

fn ranking(transport: Transport) -> Result<&'static [u16]> {
    let table = table()?;
    match transport {
        Transport::Tcp => Ok(&table.tcp),
        Transport::Udp => Ok(&table.udp),
        Transport::Sctp => Err(KbError::NoTopPorts { transport }),
    }
}

/// The `n` most often exposed ports for `transport`, most exposed first.
///
/// Errors when `n` exceeds the table (the error names the maximum) and for SCTP, which has no
/// ranking.
pub fn top_ports(transport: Transport, n: usize) -> Result<Vec<u16>> {
    let ranked = ranking(transport)?;
    ranked
        .get(..n)
        .map(<[u16]>::to_vec)
        .ok_or(KbError::TooManyTopPorts {
            transport,
            requested: n,
            max: ranked.len(),
        })
}

/// How many ports the ranking for `transport` holds (0 for SCTP).
pub fn top_ports_max(transport: Transport) -> usize {
    ranking(transport).map_or(0, <[u16]>::len)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn tables_are_large_enough_and_have_no_duplicates() {
        for (transport, min) in [(Transport::Tcp, 1000), (Transport::Udp, 200)] {
            let all = ranking(transport).unwrap();
            assert!(all.len() >= min, "{transport}: {}", all.len());
            let unique: HashSet<_> = all.iter().collect();
            assert_eq!(unique.len(), all.len(), "{transport} has duplicates");
            assert!(!all.contains(&0), "{transport} contains port 0");
        }
    }

    #[test]
    fn head_of_the_ranking() {
        assert_eq!(top_ports(Transport::Tcp, 3).unwrap(), [80, 443, 7547]);
        assert_eq!(top_ports(Transport::Udp, 2).unwrap(), [53, 123]);
        assert!(top_ports(Transport::Tcp, 100).unwrap().contains(&445));
        assert!(top_ports(Transport::Udp, 20).unwrap().contains(&137));
        assert!(top_ports(Transport::Tcp, 0).unwrap().is_empty());
    }

    #[test]
    fn too_many_names_the_maximum() {
        let max = top_ports_max(Transport::Tcp);
        assert_eq!(top_ports(Transport::Tcp, max).unwrap().len(), max);
        let err = top_ports(Transport::Tcp, max + 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "top ports for tcp: asked for {}, but the table has {max} (the maximum)",
                max + 1
            )
        );
    }

    #[test]
    fn sctp_has_no_ranking() {
        assert!(matches!(
            top_ports(Transport::Sctp, 1),
            Err(KbError::NoTopPorts { .. })
        ));
        assert_eq!(top_ports_max(Transport::Sctp), 0);
    }
}
