//! Which method probes the TCP ports of each target. `Auto` with raw-socket privilege means
//! SYN probes for other machines and connects for this one (loopback and its own interface
//! addresses): the kernel answers its own addresses either way, and there connects are much
//! faster than a raw socket that sees every packet on the machine. `--syn` and `--connect`
//! force their method for every target.

use super::TcpMethod;
use crate::discover::LocalAddrs;
use crate::error::{Result, ScanError};
use crate::model::ProbeMethod;
use std::collections::BTreeSet;
use std::net::IpAddr;

/// Maps a target address to the method its TCP ports are probed with; built once per scan.
#[derive(Debug, Clone)]
pub struct TcpPlanner {
    asked: TcpMethod,
    privileged: bool,
    local: LocalAddrs,
}

impl TcpPlanner {
    /// The plan for `asked` on a machine with `local` addresses; `privileged` says whether raw
    /// sockets can be opened. An error for `Syn` without that privilege.
    pub fn new(asked: TcpMethod, privileged: bool, local: LocalAddrs) -> Result<Self> {
        if asked == TcpMethod::Syn && !privileged {
            return Err(ScanError::SynNeedsPrivilege);
        }
        Ok(TcpPlanner {
            asked,
            privileged,
            local,
        })
    }

    /// The plan for `asked` on this machine, as it is now.
    pub fn for_this_machine(asked: TcpMethod) -> Result<Self> {
        TcpPlanner::new(asked, crate::discover::privileged(), LocalAddrs::read())
    }

    /// How the TCP ports of `addr` are probed.
    pub fn method_for(&self, addr: IpAddr) -> ProbeMethod {
        match self.asked {
            TcpMethod::Syn => ProbeMethod::Syn,
            TcpMethod::Connect => ProbeMethod::Connect,
            TcpMethod::Auto if self.privileged && !self.local.contains(addr) => ProbeMethod::Syn,
            TcpMethod::Auto => ProbeMethod::Connect,
        }
    }

    /// Whether `addr` gets connects only because raw sockets cannot be opened (`Auto` would
    /// have chosen SYN probes for it with the privilege).
    pub fn connects_for_lack_of_privilege(&self, addr: IpAddr) -> bool {
        self.asked == TcpMethod::Auto && !self.privileged && !self.local.contains(addr)
    }

    /// The methods `addrs` are probed with, in order (`syn` before `connect`). Stops reading
    /// `addrs` once both are seen, or at once when the method is the same for every address.
    pub fn methods_for(&self, addrs: impl IntoIterator<Item = IpAddr>) -> BTreeSet<ProbeMethod> {
        let mut seen = BTreeSet::new();
        let per_target = self.asked == TcpMethod::Auto && self.privileged;
        for addr in addrs {
            seen.insert(self.method_for(addr));
            if seen.len() == 2 || !per_target {
                break;
            }
        }
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// This machine, as far as the tests say: one IPv4 and one IPv6 interface address.
    fn here() -> LocalAddrs {
        LocalAddrs::new([ip("192.0.2.7"), ip("2001:db8::7")])
    }

    const LOCAL: &[&str] = &[
        "127.0.0.1",
        "127.40.0.9",
        "::1",
        "::ffff:127.0.0.1",
        "192.0.2.7",
        "::ffff:192.0.2.7",
        "2001:db8::7",
    ];
    const OTHER: &[&str] = &[
        "10.234.1.2",
        "192.0.2.8",
        "2001:db8::8",
        "::ffff:10.234.1.2",
    ];

    #[test]
    fn auto_as_root_probes_other_machines_with_syn_and_this_one_with_connects() {
        let plan = TcpPlanner::new(TcpMethod::Auto, true, here()).unwrap();
        for addr in LOCAL {
            assert_eq!(plan.method_for(ip(addr)), ProbeMethod::Connect, "{addr}");
            assert!(!plan.connects_for_lack_of_privilege(ip(addr)), "{addr}");
        }
        for addr in OTHER {
            assert_eq!(plan.method_for(ip(addr)), ProbeMethod::Syn, "{addr}");
            assert!(!plan.connects_for_lack_of_privilege(ip(addr)), "{addr}");
        }
    }

    #[test]
    fn auto_without_privilege_connects_everywhere_and_says_where_syn_was_wanted() {
        let plan = TcpPlanner::new(TcpMethod::Auto, false, here()).unwrap();
        for addr in LOCAL {
            assert_eq!(plan.method_for(ip(addr)), ProbeMethod::Connect, "{addr}");
            assert!(!plan.connects_for_lack_of_privilege(ip(addr)), "{addr}");
        }
        for addr in OTHER {
            assert_eq!(plan.method_for(ip(addr)), ProbeMethod::Connect, "{addr}");
            assert!(plan.connects_for_lack_of_privilege(ip(addr)), "{addr}");
        }
    }

    #[test]
    fn forced_methods_apply_to_every_target() {
        let syn = TcpPlanner::new(TcpMethod::Syn, true, here()).unwrap();
        let connect = TcpPlanner::new(TcpMethod::Connect, true, here()).unwrap();
        let unprivileged = TcpPlanner::new(TcpMethod::Connect, false, here()).unwrap();
        for addr in LOCAL.iter().chain(OTHER) {
            assert_eq!(syn.method_for(ip(addr)), ProbeMethod::Syn, "{addr}");
            assert_eq!(connect.method_for(ip(addr)), ProbeMethod::Connect, "{addr}");
            assert_eq!(unprivileged.method_for(ip(addr)), ProbeMethod::Connect);
            for plan in [&syn, &connect, &unprivileged] {
                assert!(!plan.connects_for_lack_of_privilege(ip(addr)), "{addr}");
            }
        }
    }

    #[test]
    fn syn_without_privilege_is_refused() {
        assert!(matches!(
            TcpPlanner::new(TcpMethod::Syn, false, here()),
            Err(ScanError::SynNeedsPrivilege)
        ));
    }

    #[test]
    fn methods_for_lists_each_method_used_once() {
        let plan = TcpPlanner::new(TcpMethod::Auto, true, here()).unwrap();
        let both: Vec<_> = plan
            .methods_for([ip("127.0.0.1"), ip("127.0.0.2"), ip("10.234.1.2")])
            .into_iter()
            .collect();
        assert_eq!(both, [ProbeMethod::Syn, ProbeMethod::Connect]);
        let local: Vec<_> = plan
            .methods_for([ip("127.0.0.1"), ip("::1")])
            .into_iter()
            .collect();
        assert_eq!(local, [ProbeMethod::Connect]);
        let forced = TcpPlanner::new(TcpMethod::Syn, true, here()).unwrap();
        let one: Vec<_> = forced.methods_for([ip("127.0.0.1")]).into_iter().collect();
        assert_eq!(one, [ProbeMethod::Syn]);
        assert!(plan.methods_for([]).is_empty());
    }
}
