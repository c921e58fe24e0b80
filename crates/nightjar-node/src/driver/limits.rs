//! Transport policy: connection limits (in total and per source address or
//! IPv6 /64) and the per-connection request budget. Not protocol decisions:
//! the node core never sees a refused connection or a rate-limited stream.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::lock;

/// The key connections are counted under: an IPv4 address, or the /64
/// prefix of an IPv6 one (one host usually holds a whole /64). IPv4-mapped
/// IPv6 addresses count as their IPv4 address.
fn source_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !(u128::MAX >> 64))),
    }
}

/// Which connection limit refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// `max_connections_per_ip`.
    PerIp,
    /// `max_connections`.
    Total,
}

impl Refusal {
    pub(super) fn label(self) -> &'static str {
        match self {
            Refusal::PerIp => "per_ip",
            Refusal::Total => "total",
        }
    }
}

#[derive(Debug, Default)]
struct ConnectionCounts {
    total: usize,
    per_source: HashMap<IpAddr, usize>,
}

/// Counts open connections (handshakes included), overall and per source.
#[derive(Debug)]
pub(super) struct ConnectionLimits {
    max_total: usize,
    max_per_source: usize,
    counts: Mutex<ConnectionCounts>,
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub(super) struct ConnectionSlot {
    limits: Arc<ConnectionLimits>,
    source: IpAddr,
}

impl ConnectionLimits {
    pub(super) fn new(max_total: usize, max_per_source: usize) -> Arc<ConnectionLimits> {
        Arc::new(ConnectionLimits {
            max_total,
            max_per_source,
            counts: Mutex::new(ConnectionCounts::default()),
        })
    }

    /// Admit a connection from `ip`, or say which limit it would break.
    pub(super) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionSlot, Refusal> {
        let source = source_key(ip);
        let mut counts = lock(&self.counts);
        if counts.total >= self.max_total {
            return Err(Refusal::Total);
        }
        let from_source = counts.per_source.get(&source).copied().unwrap_or(0);
        if from_source >= self.max_per_source {
            return Err(Refusal::PerIp);
        }
        counts.total += 1;
        counts.per_source.insert(source, from_source + 1);
        Ok(ConnectionSlot {
            limits: self.clone(),
            source,
        })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut counts = lock(&self.limits.counts);
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_source.get_mut(&self.source) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.per_source.remove(&self.source);
            }
        }
    }
}

/// A connection's request budget: `rate` requests a second, up to twice
/// that in a burst.
#[derive(Debug)]
pub(super) struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub(super) fn new(per_sec: u32, now: Instant) -> TokenBucket {
        let rate = f64::from(per_sec);
        TokenBucket {
            rate,
            capacity: 2.0 * rate,
            tokens: 2.0 * rate,
            last: now,
        }
    }

    /// Take one token if there is one.
    pub(super) fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The per-stream and per-connection limits in force.
#[derive(Debug, Clone, Copy)]
pub(super) struct StreamLimits {
    pub(super) read_timeout: Duration,
    pub(super) requests_per_sec: u32,
}
#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn token_bucket_allows_a_burst_of_twice_the_rate_then_the_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(10, t0);
        let burst = (0..100).filter(|_| bucket.try_take(t0)).count();
        assert_eq!(burst, 20);
        // Half a second later: five more.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!((0..100).filter(|_| bucket.try_take(t1)).count(), 5);
        // A long pause refills only up to the burst.
        let t2 = t1 + Duration::from_secs(3600);
        assert_eq!((0..100).filter(|_| bucket.try_take(t2)).count(), 20);
    }

    #[test]
    fn connection_limits_count_per_source_and_in_total_and_free_on_drop() {
        let limits = ConnectionLimits::new(5, 2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let a1 = limits.admit(a).unwrap();
        let _a2 = limits.admit(a).unwrap();
        assert_eq!(limits.admit(a).unwrap_err(), Refusal::PerIp);
        // The same IPv4 address, mapped into IPv6, is the same source.
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(limits.admit(mapped).unwrap_err(), Refusal::PerIp);
        drop(a1);
        let _a3 = limits.admit(mapped).unwrap();
        let _b1 = limits.admit(b).unwrap();
        // One IPv6 /64 is one source.
        let v6a: IpAddr = "2001:db8::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8::ffff:2".parse().unwrap();
        let _v1 = limits.admit(v6a).unwrap();
        let _v2 = limits.admit(v6b).unwrap();
        assert_eq!(limits.admit(b).unwrap_err(), Refusal::Total);
        drop((_b1, _v1, _v2, _a2, _a3));
        assert_eq!(lock(&limits.counts).total, 0);
        assert!(lock(&limits.counts).per_source.is_empty());
    }
}
