//! A group's `shard` table: how many addresses and ports one shard of a round's scan takes.

use super::raw::RawShard;

/// How a group's round is split: address blocks of `addresses` × port ranges of `ports`
/// (`None`: not split that way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sharding {
    /// Addresses per shard.
    pub addresses: Option<u64>,
    /// Ports per shard (TCP and UDP counted together).
    pub ports: Option<u64>,
}

/// The rule every `shard` key follows, with the message naming what is wrong.
pub(super) fn check_count(key: &str, value: u64) -> Result<(), String> {
    if value == 0 {
        return Err(format!(
            "shard.{key} must be a positive number of {key} per shard (leave it out for one shard)"
        ));
    }
    Ok(())
}

/// The validated table: `None` when it splits nothing (one shard, as without it).
pub(super) fn sharding(raw: Option<&RawShard>) -> Result<Option<Sharding>, String> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    if let Some(n) = raw.addresses {
        check_count("addresses", n)?;
    }
    if let Some(n) = raw.ports {
        check_count("ports", n)?;
    }
    if raw.addresses.is_none() && raw.ports.is_none() {
        return Ok(None);
    }
    Ok(Some(Sharding {
        addresses: raw.addresses,
        ports: raw.ports,
    }))
}
