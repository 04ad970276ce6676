//! Which UDP datagrams are Rx: port ranges and the endpoints learned from them.
//!
//! Layer: `rxdump` policy, independent of capture format and of the codec. AFS servers listen on
//! well-known ports (7000 fileserver, 7001 cache manager, 7002 ptserver, 7003 vlserver, 7005
//! volserver, 7007 bosserver, ...), but clients send from ephemeral ports.
//! [`RxPortFilter`] therefore starts from a set of port ranges and, whenever a datagram has one
//! well-known port and one other, remembers the *other* endpoint (its address and port) as an
//! Rx endpoint for the rest of the capture. A later datagram between that endpoint and any port
//! (for example a server calling back to the client's ephemeral port, or the same client talking
//! to a service on a non-standard port) is then recognised too.

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

/// An inclusive range of UDP ports, written `N` or `N-M` on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortRange {
    /// First port of the range.
    pub first: u16,
    /// Last port of the range (inclusive, `>= first`).
    pub last: u16,
}

impl PortRange {
    /// The default Rx port range, 7000-7009.
    pub const DEFAULT: PortRange = PortRange {
        first: 7000,
        last: 7009,
    };

    /// Whether `port` lies in the range.
    pub fn contains(self, port: u16) -> bool {
        (self.first..=self.last).contains(&port)
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

/// Why a port specification did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortRangeError {
    /// Not a number in 0..=65535.
    #[error("invalid port {0:?}: expected a number from 0 to 65535")]
    BadPort(String),
    /// `N-M` with `N > M`.
    #[error("invalid port range {first}-{last}: the first port is above the last")]
    Reversed {
        /// First port given.
        first: u16,
        /// Last port given.
        last: u16,
    },
}

impl FromStr for PortRange {
    type Err = PortRangeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let port = |p: &str| {
            p.trim()
                .parse::<u16>()
                .map_err(|_| PortRangeError::BadPort(p.into()))
        };
        match s.split_once('-') {
            None => {
                let p = port(s)?;
                Ok(PortRange { first: p, last: p })
            }
            Some((a, b)) => {
                let (first, last) = (port(a)?, port(b)?);
                if first > last {
                    return Err(PortRangeError::Reversed { first, last });
                }
                Ok(PortRange { first, last })
            }
        }
    }
}

/// Decides which UDP datagrams are Rx, learning peer endpoints as it goes.
#[derive(Debug, Clone)]
pub struct RxPortFilter {
    ranges: Vec<PortRange>,
    learned: HashSet<SocketAddr>,
}

impl RxPortFilter {
    /// A filter over `ranges`; an empty list means [`PortRange::DEFAULT`].
    pub fn new(ranges: Vec<PortRange>) -> Self {
        let ranges = if ranges.is_empty() {
            vec![PortRange::DEFAULT]
        } else {
            ranges
        };
        RxPortFilter {
            ranges,
            learned: HashSet::new(),
        }
    }

    /// The configured port ranges.
    pub fn ranges(&self) -> &[PortRange] {
        &self.ranges
    }

    /// Whether `port` is one of the configured ports.
    pub fn is_rx_port(&self, port: u16) -> bool {
        self.ranges.iter().any(|r| r.contains(port))
    }

    /// Endpoints learned so far.
    pub fn learned(&self) -> impl Iterator<Item = &SocketAddr> {
        self.learned.iter()
    }

    /// Classify a datagram from `src` to `dst`: `true` if it is Rx.
    ///
    /// A datagram with a configured port on one side marks the endpoint on the other side (the
    /// peer of that flow, typically a client's ephemeral port) as Rx from now on. A datagram
    /// with neither port configured is Rx if either endpoint was learned earlier.
    pub fn classify(&mut self, src: SocketAddr, dst: SocketAddr) -> bool {
        let (s, d) = (self.is_rx_port(src.port()), self.is_rx_port(dst.port()));
        match (s, d) {
            (true, true) => true,
            (true, false) => {
                self.learned.insert(dst);
                true
            }
            (false, true) => {
                self.learned.insert(src);
                true
            }
            (false, false) => self.learned.contains(&src) || self.learned.contains(&dst),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parse_ranges() {
        assert_eq!(
            "7000".parse::<PortRange>(),
            Ok(PortRange {
                first: 7000,
                last: 7000
            })
        );
        assert_eq!("7000-7009".parse::<PortRange>(), Ok(PortRange::DEFAULT));
        assert!(matches!(
            "7009-7000".parse::<PortRange>(),
            Err(PortRangeError::Reversed { .. })
        ));
        assert!(matches!(
            "70000".parse::<PortRange>(),
            Err(PortRangeError::BadPort(_))
        ));
        assert!(matches!(
            "x".parse::<PortRange>(),
            Err(PortRangeError::BadPort(_))
        ));
        assert_eq!(PortRange::DEFAULT.to_string(), "7000-7009");
    }

    #[test]
    fn learns_the_peer_endpoint() {
        let mut f = RxPortFilter::new(vec![]);
        let client = sa("10.0.0.1:40000");
        let server = sa("10.0.0.2:7003");
        // Unknown before any contact.
        assert!(!f.classify(client, sa("10.0.0.9:5555")));
        assert!(f.classify(client, server));
        // Now the client's endpoint is Rx whatever it talks to, and from either direction.
        assert!(f.classify(sa("10.0.0.9:5555"), client));
        assert!(f.classify(client, sa("10.0.0.9:5555")));
        // The same port on another host is not.
        assert!(!f.classify(sa("10.0.0.3:40000"), sa("10.0.0.9:5555")));
        // The server's well-known port was not learned as an endpoint (it is in range anyway).
        assert!(!f.learned().any(|e| *e == server));
    }

    #[test]
    fn explicit_ports_replace_default() {
        let mut f = RxPortFilter::new(vec!["9000-9001".parse().unwrap()]);
        assert!(!f.classify(sa("1.1.1.1:40000"), sa("1.1.1.2:7000")));
        assert!(f.classify(sa("1.1.1.1:40000"), sa("1.1.1.2:9001")));
    }
}
