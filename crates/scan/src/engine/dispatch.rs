//! Hands out probes: hosts in groups, ports in one shared order (common ports first, then
//! shuffled), round-robin across the hosts of a group, each within its congestion window.

use super::host::HostState;
use crate::model::Proto;
use crate::targets::Target;
use std::sync::Arc;

/// A port and its transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortKey {
    /// Transport.
    pub proto: Proto,
    /// Port number.
    pub port: u16,
}

/// One try of one port on one host.
pub struct Probe {
    /// The host.
    pub host: Arc<HostState>,
    /// The port.
    pub port: u16,
    /// The transport.
    pub proto: Proto,
    /// Which try this is, from 1.
    pub try_no: u8,
    /// A second connect that confirms an open port on this very machine.
    pub confirming: bool,
    /// How often the kernel connected the socket to itself for this port.
    pub self_connects: u8,
    /// UDP: pacing generation this try was sent in, and the one the previous try was.
    pub generation: u32,
    /// UDP: generation of the previous try.
    pub previous_generation: u32,
    /// UDP: tries that stayed silent within one pacing generation.
    pub clean_silences: u8,
    /// Round-trip time of the answer that found the port open (kept for identification).
    pub rtt: Option<std::time::Duration>,
}

impl Probe {
    fn first(host: Arc<HostState>, key: PortKey) -> Self {
        Probe {
            host,
            port: key.port,
            proto: key.proto,
            try_no: 1,
            confirming: false,
            self_connects: 0,
            generation: 0,
            previous_generation: 0,
            clean_silences: 0,
            rtt: None,
        }
    }
}

struct Active {
    host: Arc<HostState>,
    cursor: usize,
}

/// The source of probes, shared by the engine's workers behind a lock.
pub struct Dispatcher {
    targets: Box<dyn Iterator<Item = Target> + Send>,
    order: Arc<[PortKey]>,
    active: Vec<Active>,
    next: usize,
    group_size: usize,
    new_host: Box<dyn Fn(Target) -> HostState + Send>,
}

impl Dispatcher {
    /// A dispatcher over `targets`, probing `order` on each, `group_size` hosts at a time.
    pub fn new(
        targets: Box<dyn Iterator<Item = Target> + Send>,
        order: Arc<[PortKey]>,
        group_size: usize,
        new_host: Box<dyn Fn(Target) -> HostState + Send>,
    ) -> Self {
        Dispatcher {
            targets,
            order,
            active: Vec::new(),
            next: 0,
            group_size: group_size.max(1),
            new_host,
        }
    }

    /// Fills `out` with up to `max` new probes. Hosts that this call concluded (given up as
    /// down with nothing in flight) are pushed to `finished`.
    pub fn take(&mut self, out: &mut Vec<Probe>, max: usize, finished: &mut Vec<Arc<HostState>>) {
        self.refill();
        let mut idle = 0;
        while out.len() < max && !self.active.is_empty() && idle < self.active.len() {
            if self.next >= self.active.len() {
                self.next = 0;
            }
            let slot = &mut self.active[self.next];
            let handed_out = slot.cursor >= self.order.len();
            if handed_out && !slot.host.is_abandoned() && !slot.host.is_concluded() {
                // Its last probes still await their answers: the host stays in the group
                // until they are concluded, so the group bounds the hosts being probed.
                self.next += 1;
                idle += 1;
                continue;
            }
            if slot.host.is_abandoned() || handed_out {
                let done = self.active.swap_remove(self.next);
                let skipped = (self.order.len() - done.cursor) as u32;
                if done.host.skip(skipped) {
                    finished.push(done.host);
                }
                self.refill();
                idle = 0;
                continue;
            }
            if !slot.host.has_capacity() {
                self.next += 1;
                idle += 1;
                continue;
            }
            slot.host.probe_started();
            out.push(Probe::first(slot.host.clone(), self.order[slot.cursor]));
            slot.cursor += 1;
            self.next += 1;
            idle = 0;
        }
    }

    /// Whether every host is done: all its probes handed out and concluded.
    pub fn is_exhausted(&mut self) -> bool {
        let ports = self.order.len();
        self.active
            .retain(|a| a.cursor < ports || !a.host.is_concluded());
        self.refill();
        self.active.is_empty()
    }

    fn refill(&mut self) {
        while self.active.len() < self.group_size {
            let Some(target) = self.targets.next() else {
                return;
            };
            self.active.push(Active {
                host: Arc::new((self.new_host)(target)),
                cursor: 0,
            });
        }
    }
}

/// The order in which every host's ports are probed: TCP first, then UDP; within each, the
/// ports of `first` (the most common ones, so a live host proves itself early) in that order,
/// then the rest shuffled.
pub fn port_order(
    tcp: &[u16],
    udp: &[u16],
    first: &[u16],
    randomize: bool,
    seed: u64,
) -> Arc<[PortKey]> {
    let mut order = Vec::with_capacity(tcp.len() + udp.len());
    for (proto, ports) in [(Proto::Tcp, tcp), (Proto::Udp, udp)] {
        order.extend(
            one_order(ports, first, randomize, seed)
                .into_iter()
                .map(|port| PortKey { proto, port }),
        );
    }
    order.into()
}

fn one_order(ports: &[u16], first: &[u16], randomize: bool, seed: u64) -> Vec<u16> {
    let mut head: Vec<u16> = first
        .iter()
        .copied()
        .filter(|p| ports.binary_search(p).is_ok())
        .collect();
    head.dedup();
    let mut tail: Vec<u16> = ports
        .iter()
        .copied()
        .filter(|p| !head.contains(p))
        .collect();
    if randomize {
        shuffle(&mut tail, seed);
    }
    head.extend(tail);
    head
}

/// Fisher-Yates with splitmix64: cheap, seeded, good enough to spread probes.
fn shuffle(items: &mut [u16], seed: u64) {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    for i in (1..items.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_puts_common_ports_first_and_keeps_every_port() {
        let ports: Vec<u16> = (1..=1000).collect();
        let order = port_order(&ports, &[53, 161], &[443, 80, 5000, 22, 161], true, 7);
        let tcp: Vec<u16> = order
            .iter()
            .filter(|k| k.proto == Proto::Tcp)
            .map(|k| k.port)
            .collect();
        assert_eq!(&tcp[..3], &[443, 80, 22]);
        let mut sorted = tcp.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, ports);
        let udp: Vec<u16> = order[1000..].iter().map(|k| k.port).collect();
        assert_eq!(udp, vec![161, 53]);
    }

    /// A group of one: the second host gets no probe while the first still has one awaiting
    /// its answer, and gets its probes once the first is concluded.
    #[test]
    fn a_host_leaves_its_group_only_when_concluded() {
        use crate::engine::timing::{CongestionWindow, RttEstimator, TimeoutBounds};
        let targets: Vec<Target> = ["10.0.0.1", "10.0.0.2"]
            .iter()
            .map(|a| Target {
                addr: a.parse().unwrap(),
                hostname: None,
            })
            .collect();
        let order = port_order(&[22, 80], &[], &[], false, 0);
        let bounds = TimeoutBounds {
            min: std::time::Duration::from_millis(100),
            max: std::time::Duration::from_secs(1),
            initial: std::time::Duration::from_secs(1),
        };
        let mut d = Dispatcher::new(
            Box::new(targets.into_iter()),
            order,
            1,
            Box::new(move |t| {
                HostState::new(
                    t,
                    2,
                    Some(crate::model::ProbeMethod::Connect),
                    RttEstimator::new(bounds),
                    CongestionWindow::new(64, 4, 64),
                )
            }),
        );
        let (mut out, mut finished) = (Vec::new(), Vec::new());
        d.take(&mut out, 64, &mut finished);
        let first = std::mem::take(&mut out);
        assert_eq!(first.len(), 2);
        assert!(
            first
                .iter()
                .all(|p| p.host.target.addr.to_string() == "10.0.0.1")
        );
        d.take(&mut out, 64, &mut finished);
        assert!(out.is_empty(), "the second host waits for the first");
        assert!(!d.is_exhausted());
        first[0].host.conclude(1);
        d.take(&mut out, 64, &mut finished);
        assert!(out.is_empty(), "one of the first host's ports is still out");
        first[1].host.conclude(1);
        d.take(&mut out, 64, &mut finished);
        assert_eq!(out.len(), 2);
        assert!(
            out.iter()
                .all(|p| p.host.target.addr.to_string() == "10.0.0.2")
        );
        for p in out.drain(..) {
            p.host.conclude(1);
        }
        assert!(d.is_exhausted());
        assert!(finished.is_empty());
    }
}
