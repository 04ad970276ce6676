//! In-crate scenario tests: endpoints on a simulated network with virtual time.
//!
//! Layer: tests. The [`Net`] harness moves datagrams between endpoints with a fixed latency,
//! optional seeded random loss and an optional drop filter, and jumps the clock to the next
//! delivery or deadline, so every test is deterministic and fast.

mod brief;
mod calls;
mod security;
mod trace;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

use crate::rng::Rng;
use crate::wire::{Header, PacketType, ServiceId};
use crate::{CallParams, Endpoint, EndpointConfig, Instant, SocketId};

pub(crate) const SVC: ServiceId = ServiceId(100);

type Filter = Box<dyn FnMut(SocketAddr, SocketAddr, &Header) -> bool>;

/// A datagram seen on the simulated wire.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub(crate) from: SocketAddr,
    pub(crate) to: SocketAddr,
    pub(crate) header: Header,
    pub(crate) bytes: Vec<u8>,
}

pub(crate) struct Net {
    pub(crate) now: Instant,
    pub(crate) eps: Vec<(SocketAddr, Endpoint)>,
    flight: VecDeque<(Instant, SocketAddr, SocketAddr, Vec<u8>)>,
    pub(crate) latency: Duration,
    pub(crate) loss: f64,
    rng: Rng,
    pub(crate) filter: Option<Filter>,
    pub(crate) seen: Vec<Seen>,
}

impl Net {
    pub(crate) fn new(n: usize, seed: u64) -> Self {
        let eps = (0..n)
            .map(|i| {
                let addr: SocketAddr = ([127, 0, 0, 1], 7000 + i as u16).into();
                let cfg = EndpointConfig {
                    rng_seed: seed + i as u64 * 7919,
                    ..Default::default()
                };
                (addr, Endpoint::new(cfg, Instant::ZERO))
            })
            .collect();
        Net {
            now: Instant::ZERO,
            eps,
            flight: VecDeque::new(),
            latency: Duration::from_millis(1),
            loss: 0.0,
            rng: Rng::new(seed ^ 0xdead_beef),
            filter: None,
            seen: Vec::new(),
        }
    }

    pub(crate) fn addr(&self, i: usize) -> SocketAddr {
        self.eps[i].0
    }

    pub(crate) fn ep(&mut self, i: usize) -> &mut Endpoint {
        &mut self.eps[i].1
    }

    /// Collect transmits from every endpoint into the flight queue.
    pub(crate) fn collect(&mut self) {
        for i in 0..self.eps.len() {
            let from = self.eps[i].0;
            while let Some(t) = self.eps[i].1.poll_transmit() {
                let header = Header::parse(&t.contents).expect("we only send valid headers");
                crate::wire::Packet::parse(&t.contents).expect("we only send decodable packets");
                self.seen.push(Seen {
                    from,
                    to: t.destination,
                    header,
                    bytes: t.contents.clone(),
                });
                if let Some(f) = self.filter.as_mut() {
                    if !f(from, t.destination, &header) {
                        continue;
                    }
                }
                if self.loss > 0.0 {
                    let r = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                    if r < self.loss {
                        continue;
                    }
                }
                self.flight
                    .push_back((self.now + self.latency, from, t.destination, t.contents));
            }
        }
    }

    /// Advance to the next delivery or deadline (at most `limit` ahead) and process it.
    /// Returns false when nothing is pending.
    pub(crate) fn step(&mut self, limit: Instant) -> bool {
        self.collect();
        let next_flight = self.flight.iter().map(|f| f.0).min();
        let next_timer = self.eps.iter().filter_map(|e| e.1.poll_timeout()).min();
        let next = match (next_flight, next_timer) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => match a.or(b) {
                Some(t) => t,
                None => return false,
            },
        };
        if next > limit {
            self.now = limit;
            return false;
        }
        self.now = self.now.max(next);
        let now = self.now;
        let mut i = 0;
        while i < self.flight.len() {
            if self.flight[i].0 <= now {
                let (_, from, to, data) = self.flight.remove(i).expect("index checked");
                if let Some(e) = self.eps.iter_mut().find(|e| e.0 == to) {
                    e.1.handle_datagram(now, from, Bytes::from(data));
                }
            } else {
                i += 1;
            }
        }
        for e in self.eps.iter_mut() {
            e.1.handle_timeout(now);
        }
        self.collect();
        true
    }

    /// Run until `done` holds or `max` virtual time passes. Panics on timeout.
    pub(crate) fn run_until(&mut self, max: Duration, mut done: impl FnMut(&mut Net) -> bool) {
        let limit = self.now + max;
        loop {
            if done(self) {
                return;
            }
            if !self.step(limit) && self.now >= limit {
                self.dump(self.seen.len().saturating_sub(30));
                panic!("condition not reached within {max:?} (now {:?})", self.now);
            }
        }
    }

    /// Run for `d` of virtual time.
    pub(crate) fn run_for(&mut self, d: Duration) {
        let limit = self.now + d;
        while self.step(limit) {}
        self.now = limit;
        for e in self.eps.iter_mut() {
            e.1.handle_timeout(limit);
        }
        self.collect();
    }

    /// Print the packets seen since index `from` (debugging aid for failing tests).
    pub(crate) fn dump(&self, from: usize) {
        for s in &self.seen[from..] {
            let h = &s.header;
            let extra = match crate::wire::Packet::parse(&s.bytes).map(|p| p.body) {
                Ok(crate::wire::Body::Ack(a)) => format!(
                    " {:?} first={} prev={} ser={} nacks={} acks={:?} rwind={:?}",
                    a.reason,
                    a.first_packet.0,
                    a.previous_packet.0,
                    a.serial.0,
                    a.acks.len(),
                    a.acks.iter().take(12).collect::<Vec<_>>(),
                    a.trailer.map(|t| t.rwind)
                ),
                Ok(crate::wire::Body::Abort(a)) => format!(" code={}", a.code),
                _ => String::new(),
            };
            eprintln!(
                "{} > {} {:?} call={} ch={} seq={} serial={} flags={}{extra}",
                s.from.port(),
                s.to.port(),
                h.packet_type,
                h.call_number.0,
                h.cid.channel().0,
                h.seq.0,
                h.serial.0,
                h.flags.describe(h.packet_type)
            );
        }
    }

    pub(crate) fn count(&self, ty: PacketType, from: SocketAddr) -> usize {
        self.seen
            .iter()
            .filter(|s| s.header.packet_type == ty && s.from == from)
            .count()
    }
}

/// A server endpoint with one listening socket charged with `charges` user IDs starting at
/// 1000, and a client socket on endpoint 0.
pub(crate) fn pair(seed: u64, charges: u64) -> (Net, SocketId, SocketId) {
    pair_with(seed, charges, |_| {})
}

/// [`pair`] with the server endpoint's configuration adjusted by `server`.
pub(crate) fn pair_with(
    seed: u64,
    charges: u64,
    server: impl FnOnce(&mut EndpointConfig),
) -> (Net, SocketId, SocketId) {
    let mut net = Net::new(2, seed);
    let mut cfg = EndpointConfig {
        rng_seed: seed + 7919,
        ..Default::default()
    };
    server(&mut cfg);
    net.eps[1].1 = Endpoint::new(cfg, Instant::ZERO);
    let now = net.now;
    let cs = net.ep(0).open_socket();
    let ss = net.ep(1).open_socket();
    net.ep(1).bind_service(ss, SVC).unwrap();
    net.ep(1).listen(ss, 32).unwrap();
    for i in 0..charges {
        net.ep(1).charge_accept(now, ss, 1000 + i).unwrap();
    }
    (net, cs, ss)
}

pub(crate) fn params(net: &Net) -> CallParams {
    CallParams::new(net.addr(1), SVC)
}

/// Receive everything from a call until end of data (and the terminal message if it comes
/// with it). Returns the data and the terminal completion, if delivered.
pub(crate) fn recv_all(
    net: &mut Net,
    ep: usize,
    s: SocketId,
    id: u64,
    max_time: Duration,
) -> (Vec<u8>, Option<crate::Completion>) {
    let mut out = Vec::new();
    let limit = net.now + max_time;
    loop {
        let now = net.now;
        match net.ep(ep).recv(now, s, id, 1 << 20) {
            Ok(Some(m)) => {
                out.extend_from_slice(&m.data);
                if m.terminal.is_some() {
                    return (out, m.terminal);
                }
                if m.end_of_data {
                    return (out, None);
                }
            }
            Ok(None) => {
                if !net.step(limit) && net.now >= limit {
                    panic!("recv_all timed out with {} bytes", out.len());
                }
            }
            Err(e) => panic!("recv failed: {e}"),
        }
    }
}
