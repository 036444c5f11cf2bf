//! The login rate limit: a fixed window of attempts per client, keyed on the address (an IPv6
//! client on its /64, which one host usually holds whole), with a bounded key map: when it is
//! full, windows that are over go first, then the oldest window, so a flood of distinct
//! addresses costs at most [`MAX_CLIENTS`] entries. The clock is a parameter.

use crate::client::canonical;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

/// Most clients tracked at once.
pub const MAX_CLIENTS: usize = 4096;

/// Attempts per client and window.
#[derive(Debug)]
pub struct LoginLimiter {
    attempts: u32,
    window: Duration,
    max_clients: usize,
    clients: HashMap<IpAddr, (Instant, u32)>,
}

/// The key a client is counted under: its [`canonical`] address, an IPv6 one cut to its /64.
fn key(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 @ IpAddr::V4(_) => v4,
    }
}

impl LoginLimiter {
    /// `attempts` per `window` and client, at most `max_clients` tracked.
    pub fn new(attempts: u32, window: Duration, max_clients: usize) -> LoginLimiter {
        LoginLimiter {
            attempts: attempts.max(1),
            window,
            max_clients: max_clients.max(1),
            clients: HashMap::new(),
        }
    }

    /// Counts an attempt by `client` at `now`: `Ok` if allowed, else how long until the
    /// client's window ends.
    pub fn check(&mut self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let k = key(client);
        if !self.clients.contains_key(&k) && self.clients.len() >= self.max_clients {
            let window = self.window;
            self.clients
                .retain(|_, (start, _)| now.saturating_duration_since(*start) < window);
            if self.clients.len() >= self.max_clients
                && let Some(oldest) = self
                    .clients
                    .iter()
                    .min_by_key(|(_, (start, _))| *start)
                    .map(|(k, _)| *k)
            {
                self.clients.remove(&oldest);
            }
        }
        let entry = self.clients.entry(k).or_insert((now, 0));
        if now.saturating_duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.attempts {
            return Err(self
                .window
                .checked_sub(now.saturating_duration_since(entry.0))
                .unwrap());
        }
        entry.1 += 1;
        Ok(())
    }

    /// How many clients are tracked.
    pub fn tracked(&self) -> usize {
        self.clients.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn a_window_allows_n_attempts_then_says_when_to_retry() {
        let t0 = Instant::now();
        let mut l = LoginLimiter::new(5, Duration::from_mins(1), 100);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..5 {
            assert_eq!(l.check(a, t0), Ok(()));
        }
        assert_eq!(
            l.check(a, t0 + Duration::from_millis(20_500)),
            Err(Duration::from_millis(39_500))
        );
        // Another client is not affected; the window's end clears the count.
        assert_eq!(l.check("192.0.2.2".parse().unwrap(), t0), Ok(()));
        assert!(l.check(a, t0 + Duration::from_millis(59_999)).is_err());
        assert_eq!(l.check(a, t0 + Duration::from_mins(1)), Ok(()));
    }

    #[test]
    fn one_ipv6_host_is_one_client_across_its_64() {
        let t0 = Instant::now();
        let mut l = LoginLimiter::new(2, Duration::from_mins(1), 100);
        assert!(l.check("2001:db8:1:2::1".parse().unwrap(), t0).is_ok());
        assert!(l.check("2001:db8:1:2::ffff".parse().unwrap(), t0).is_ok());
        assert!(
            l.check("2001:db8:1:2:abcd::7".parse().unwrap(), t0)
                .is_err()
        );
        assert!(l.check("2001:db8:1:3::1".parse().unwrap(), t0).is_ok());
    }

    #[test]
    fn an_ipv4_client_is_one_client_mapped_or_not() {
        let t0 = Instant::now();
        let mut l = LoginLimiter::new(2, Duration::from_mins(1), 100);
        assert!(l.check("192.0.2.1".parse().unwrap(), t0).is_ok());
        assert!(l.check("::ffff:192.0.2.1".parse().unwrap(), t0).is_ok());
        assert!(l.check("192.0.2.1".parse().unwrap(), t0).is_err());
        assert!(l.check("::ffff:192.0.2.2".parse().unwrap(), t0).is_ok());
    }

    #[test]
    fn a_flood_of_addresses_stays_within_the_bound() {
        let t0 = Instant::now();
        let mut l = LoginLimiter::new(5, Duration::from_mins(1), MAX_CLIENTS);
        for i in 0..100_000u32 {
            let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            let _ = l.check(ip, t0 + Duration::from_millis(u64::from(i)));
            assert!(l.tracked() <= MAX_CLIENTS);
        }
        assert_eq!(l.tracked(), MAX_CLIENTS);
        // After the flood, a new client is still limited.
        let victim: IpAddr = "192.0.2.9".parse().unwrap();
        let now = t0 + Duration::from_secs(100);
        for _ in 0..5 {
            assert!(l.check(victim, now).is_ok());
        }
        assert!(l.check(victim, now).is_err());
    }
}
