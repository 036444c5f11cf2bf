//! Builds a [`Snapshot`]: socket tables + processes + users + interfaces + knowledge base +
//! firewall.

use crate::assess::assess;
use crate::error::{LocalError, Result};
use crate::firewall::{self, FirewallVerdict, Packet, Ruleset};
use crate::interfaces::{self, InterfaceAddr};
use crate::model::{Family, Listener, Snapshot};
use crate::proc_net::{self, SocketRow};
use crate::procs::{self, Owner};
use crate::sock_diag;
use crate::users;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::Path;

/// The note added when some processes could not be inspected.
pub const NOT_ROOT_NOTE: &str = "run as root to see every process's sockets";

/// Takes a snapshot of this machine's listeners (in the current network namespace).
pub fn snapshot() -> Result<Snapshot> {
    let rows = read_listening()?;
    let mut notes = Vec::new();
    let context = Context::load(&mut notes);
    let inodes: HashSet<u64> = rows.iter().map(|r| r.inode).collect();
    let owners = procs::find_owners(Path::new("/proc"), &inodes);
    if !owners.complete {
        notes.insert(0, NOT_ROOT_NOTE.to_string());
    }
    let mut listeners: Vec<Listener> = rows
        .iter()
        .map(|row| context.listener(row, owners.by_inode.get(&row.inode), &rows))
        .collect();
    sort(&mut listeners);
    Ok(Snapshot {
        listeners,
        complete: owners.complete,
        notes,
    })
}

/// Most severe first, then by port, transport and address.
pub fn sort(listeners: &mut [Listener]) {
    listeners.sort_by(|a, b| {
        b.effective_severity
            .cmp(&a.effective_severity)
            .then(a.port.cmp(&b.port))
            .then(a.proto.cmp(&b.proto))
            .then(a.addr.cmp(&b.addr))
    });
}

/// Every listening row: TCP from `sock_diag` (falling back to `/proc/net/tcp{,6}` when the
/// kernel lacks it), UDP from `/proc/net/udp{,6}`.
pub fn read_listening() -> Result<Vec<SocketRow>> {
    let dir = Path::new("/proc/net");
    match sock_diag::tcp_listening() {
        Ok(tcp) => {
            let mut rows: Vec<SocketRow> =
                tcp.into_iter().filter(SocketRow::is_listening).collect();
            rows.extend(read_tables(dir, &proc_net::TABLES[2..])?);
            Ok(rows)
        }
        Err(_) => read_tables(dir, &proc_net::TABLES),
    }
}

/// The listening rows of some socket tables under `dir` (a missing IPv6 table is skipped).
pub fn read_tables(dir: &Path, tables: &[proc_net::Table]) -> Result<Vec<SocketRow>> {
    let mut rows = Vec::new();
    for table in tables {
        let path = dir.join(table.name);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && table.name.ends_with('6') => {
                continue;
            }
            Err(source) => return Err(LocalError::Read { path, source }),
        };
        rows.extend(
            proc_net::parse_table(*table, &text)?
                .into_iter()
                .filter(SocketRow::is_listening),
        );
    }
    Ok(rows)
}

/// What turns a socket row into a [`Listener`]: machine facts read once per snapshot.
pub struct Context {
    interfaces: Vec<InterfaceAddr>,
    users: HashMap<u32, String>,
    /// `net.ipv6.bindv6only`: whether `::` sockets are IPv6-only by default.
    v6only_default: bool,
    ruleset: Option<Ruleset>,
    /// Why there is no ruleset.
    no_ruleset: String,
}

impl Context {
    /// Reads interfaces, users, the IPv6 default and the firewall; notes what is missing.
    pub fn load(notes: &mut Vec<String>) -> Context {
        let mut firewall_notes = Vec::new();
        let ruleset = Ruleset::load(&mut firewall_notes);
        let no_ruleset = firewall_notes
            .first()
            .cloned()
            .unwrap_or_else(|| "firewall rules not read".to_string());
        notes.extend(firewall_notes);
        if firewall::legacy_iptables_loaded() {
            notes.push(
                "legacy iptables tables are loaded; their rules are not evaluated (only nftables is)"
                    .to_string(),
            );
        }
        Context {
            interfaces: interfaces::load(),
            users: users::load(),
            v6only_default: std::fs::read_to_string("/proc/sys/net/ipv6/bindv6only")
                .is_ok_and(|t| t.trim() == "1"),
            ruleset,
            no_ruleset,
        }
    }

    /// The listener for `row`; `all` is every listening row (to tell IPv6-only sockets).
    pub fn listener(&self, row: &SocketRow, owner: Option<&Owner>, all: &[SocketRow]) -> Listener {
        let families = self.families(row, all);
        let exposure = interfaces::exposure(row.local, &self.interfaces);
        let transport = row.proto.transport();
        let risk = portwatch_kb::risk(row.local_port, transport);
        let firewall = self.firewall(row, &families);
        let (effective_severity, severity_reason) = assess(&exposure, risk, &firewall);
        Listener {
            proto: row.proto,
            addr: row.local,
            port: row.local_port,
            families,
            exposure,
            inode: row.inode,
            uid: row.uid,
            user: self.users.get(&row.uid).cloned(),
            pid: owner.map(|o| o.pid),
            process: owner.and_then(|o| o.process.clone()),
            cmdline: owner.and_then(|o| o.cmdline.clone()),
            service: portwatch_kb::service_name(row.local_port, transport).map(str::to_string),
            risk,
            effective_severity,
            severity_reason,
            firewall,
        }
    }

    /// Families that reach the socket. `::` is dual-stack unless `bindv6only` is set or an
    /// `0.0.0.0` socket holds the same port (Linux refuses that pair unless the `::` socket is
    /// IPv6-only). A socket's own `IPV6_V6ONLY` option is not visible in `/proc`.
    fn families(&self, row: &SocketRow, all: &[SocketRow]) -> Vec<Family> {
        match row.local {
            IpAddr::V4(_) => vec![Family::V4],
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => vec![Family::V4],
            IpAddr::V6(v6) if v6.is_unspecified() => {
                let v4_twin = all.iter().any(|r| {
                    r.proto == row.proto
                        && r.local_port == row.local_port
                        && r.local == IpAddr::from([0, 0, 0, 0])
                });
                if self.v6only_default || v4_twin {
                    vec![Family::V6]
                } else {
                    vec![Family::V4, Family::V6]
                }
            }
            IpAddr::V6(_) => vec![Family::V6],
        }
    }

    fn firewall(&self, row: &SocketRow, families: &[Family]) -> FirewallVerdict {
        let Some(ruleset) = &self.ruleset else {
            return FirewallVerdict::Unknown(self.no_ruleset.clone());
        };
        let local = interfaces::unmap(row.local);
        let daddr = (!local.is_unspecified()).then_some(local);
        families
            .iter()
            .map(|&family| {
                ruleset.verdict_for(&Packet {
                    proto: row.proto,
                    family,
                    dport: row.local_port,
                    daddr: daddr.filter(|a| Family::of(*a) == family),
                })
            })
            .reduce(FirewallVerdict::either)
            .unwrap_or(FirewallVerdict::NoFirewall)
    }
}
