//! Notices listeners opening and closing by polling the socket tables.
//!
//! Each tick reads only the socket tables (TCP through `sock_diag`, UDP from `/proc/net`); the
//! process lookup, interfaces, users and firewall are read again only when a socket appears
//! that was not there before. The reads are done on the runtime thread: they are kernel table
//! dumps that take tens of microseconds and never wait on a device.

use crate::error::Result;
use crate::model::{Listener, Proto};
use crate::proc_net::SocketRow;
use crate::procs;
use crate::snapshot::{self, Context};
use serde::Serialize;
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::time::{Interval, MissedTickBehavior};

/// How often the socket tables are read by default.
pub const DEFAULT_PERIOD: Duration = Duration::from_millis(250);

/// A listener appeared or went away.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Event {
    /// A socket started listening.
    Opened(Listener),
    /// A socket stopped listening (closed, or its process ended).
    Closed(Listener),
}

/// What identifies one listening socket across ticks.
type SocketKey = (Proto, IpAddr, u16, u64);

fn key(row: &SocketRow) -> SocketKey {
    (row.proto, row.local, row.local_port, row.inode)
}

/// Polls the socket tables and yields [`Event`]s.
pub struct Watcher {
    known: HashMap<SocketKey, Listener>,
    pending: VecDeque<Event>,
    interval: Interval,
    proc_dir: PathBuf,
    complete: bool,
}

impl Watcher {
    /// Starts watching with [`DEFAULT_PERIOD`]; the listeners present now are the baseline
    /// (no events for them). Must be called inside a tokio runtime.
    pub fn new() -> Result<Watcher> {
        Watcher::with_period(DEFAULT_PERIOD)
    }

    /// Starts watching, reading the tables every `period`.
    pub fn with_period(period: Duration) -> Result<Watcher> {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut watcher = Watcher {
            known: HashMap::new(),
            pending: VecDeque::new(),
            interval,
            proc_dir: PathBuf::from("/proc"),
            complete: true,
        };
        watcher.tick()?;
        watcher.pending.clear();
        Ok(watcher)
    }

    /// The listeners present now, most severe first.
    pub fn current(&self) -> Vec<Listener> {
        let mut all: Vec<Listener> = self.known.values().cloned().collect();
        snapshot::sort(&mut all);
        all
    }

    /// False when some new socket's process could not be inspected (not root).
    pub fn complete(&self) -> bool {
        self.complete
    }

    /// Waits for the next event.
    pub async fn next(&mut self) -> Result<Event> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(event);
            }
            self.interval.tick().await;
            self.tick()?;
        }
    }

    /// Reads the tables once and queues what changed: closings first, then openings.
    fn tick(&mut self) -> Result<()> {
        let rows = snapshot::read_listening()?;
        let now: HashSet<SocketKey> = rows.iter().map(key).collect();
        let mut closed: Vec<Listener> = Vec::new();
        self.known.retain(|k, listener| {
            let keep = now.contains(k);
            if !keep {
                closed.push(listener.clone());
            }
            keep
        });
        let fresh: Vec<&SocketRow> = rows
            .iter()
            .filter(|r| !self.known.contains_key(&key(r)))
            .collect();
        let mut opened = Vec::new();
        if !fresh.is_empty() {
            let mut notes = Vec::new();
            let context = Context::load(&mut notes);
            let inodes: HashSet<u64> = fresh.iter().map(|r| r.inode).collect();
            let owners = procs::find_owners(Path::new(&self.proc_dir), &inodes);
            self.complete &= owners.complete;
            for row in fresh {
                let listener = context.listener(row, owners.by_inode.get(&row.inode), &rows);
                self.known.insert(key(row), listener.clone());
                opened.push(listener);
            }
        }
        closed.sort_by_key(|l| (l.port, l.proto));
        opened.sort_by_key(|l| (l.port, l.proto));
        self.pending.extend(closed.into_iter().map(Event::Closed));
        self.pending.extend(opened.into_iter().map(Event::Opened));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[tokio::test(flavor = "current_thread")]
    async fn notices_open_and_close_within_a_second() {
        let mut watcher = Watcher::new().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let started = Instant::now();
        let opened = loop {
            let event = tokio::time::timeout(Duration::from_secs(2), watcher.next())
                .await
                .expect("an event within 2 s")
                .unwrap();
            if let Event::Opened(l) = &event
                && l.port == port
                && l.proto == Proto::Tcp
            {
                break l.clone();
            }
        };
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(opened.pid, Some(std::process::id()));
        drop(listener);
        loop {
            let event = tokio::time::timeout(Duration::from_secs(2), watcher.next())
                .await
                .expect("an event within 2 s")
                .unwrap();
            if matches!(&event, Event::Closed(l) if l.port == port && l.proto == Proto::Tcp) {
                break;
            }
        }
    }
}
