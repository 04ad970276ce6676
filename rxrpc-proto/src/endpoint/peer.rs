//! Peers: what the endpoint remembers about each remote address it has connections with —
//! counters, the congestion threshold and RTT estimate the last call ended with (seeds for
//! the next call), the peer's ACK-trailer capabilities, path-MTU discovery, and the peer
//! keepalive.
//!
//! Layer: the engine. Path-MTU discovery follows RFC 8899 (datagram PLPMTUD) as Linux applies
//! it to Rx (`reference-linux-rxrpc.md` §3.8): only towards peers whose ACK trailer says
//! `jumbo_max = 0` ("I do path-MTU discovery"); a probe is a PING ACK padded to the trial size;
//! it succeeds when an ACK names the probe's serial and fails after [`MAX_PROBES`] tries
//! (an ACK naming a later serial, or a timeout); trial sizes are jumbo sizes, preferring
//! 2, 4, 3, 6, 5, 8, 7 subpackets, then a binary search. The base size is one full DATA
//! packet (1440 bytes of UDP payload). ICMP "fragmentation needed" and `EMSGSIZE` arrive
//! through [`Endpoint::reduce_path_mtu`]. Towards peers of the OpenAFS convention (a count
//! above 1 in `jumbo_max`) jumbo packets are sent as the peer allows without probing, and a
//! retransmission timeout that hits a jumbo packet halves how many subpackets follow.

use core::time::Duration;
use std::net::SocketAddr;

use super::{Endpoint, PeerStats, TimerTarget};
use crate::arena::Key;
use crate::config::{EndpointConfig, JumboAdvertise};
use crate::time::Instant;
use crate::wire::{
    Ack, AckReason, AckTrailer, CallNumber, Channel, Cid, ConnId, Flags, HEADER_LEN, Header,
    JUMBO_SUBPKTLEN, MAX_JUMBO_SUBPACKETS, PacketType, SecurityIndex, Seq, Serial, ServiceId,
    jumbo_datagram_len,
};

/// Tries of one probe size before it counts as too big.
pub(crate) const MAX_PROBES: u8 = 3;
/// How long a finished search stands before the path is probed again (RFC 8899
/// `PMTU_RAISE_TIMER`).
const RAISE_INTERVAL: Duration = Duration::from_secs(600);
/// The base datagram size: one full DATA packet (28 + 1412 bytes).
pub(crate) const BASE_DATAGRAM: usize = jumbo_datagram_len(1);
/// The smallest datagram a path limit is taken down to (an IPv4 minimum of 576 less IP and UDP
/// headers).
const MIN_DATAGRAM: usize = 548;
/// The shortest wait for the answer to a probe.
const PROBE_WAIT_MIN: Duration = Duration::from_millis(10);
/// `ifMTU` in our ACK trailers (Linux and OpenAFS both send 1444 by default).
const TRAILER_IF_MTU: u32 = 1444;
/// The jumbo count advertised to OpenAFS-convention peers in [`JumboAdvertise::Auto`] (what
/// OpenAFS itself advertises by default).
const OPENAFS_JUMBO_ADVERTISED: u32 = 4;
/// Preferred trial sizes, in subpackets (Linux's order).
const PREFERRED: [usize; 7] = [2, 4, 3, 6, 5, 8, 7];

/// Most subpackets of a jumbo datagram of at most `bytes` bytes (at least 1).
pub(crate) fn subpackets_fitting(bytes: usize) -> usize {
    if bytes < BASE_DATAGRAM {
        return 1;
    }
    (1 + (bytes - BASE_DATAGRAM) / JUMBO_SUBPKTLEN).min(MAX_JUMBO_SUBPACKETS)
}

/// Most subpackets fitting the interface MTU a Linux-convention peer reports in `ifMTU` (its
/// interface MTU less the IP, UDP and Rx headers): bigger datagrams could only reach it
/// fragmented, which a lost fragment turns into a lost jumbo packet.
fn if_mtu_subpackets(t: &AckTrailer) -> usize {
    subpackets_fitting((t.if_mtu as usize).saturating_add(HEADER_LEN))
}

/// An unanswered probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Probe {
    pub(crate) conn: Key,
    pub(crate) serial: Serial,
    pub(crate) size: usize,
    pub(crate) deadline: Instant,
}

/// Path-MTU discovery state of a peer (sizes are UDP payloads, Rx header included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Pmtud {
    /// Largest datagram known (or assumed, for the base size) to reach the peer.
    pub(crate) good: usize,
    /// Smallest datagram known not to: every size from here up fails.
    pub(crate) bad: usize,
    /// A limit reported by the network (ICMP, `EMSGSIZE`), if any.
    pub(crate) reported: Option<usize>,
    pub(crate) probe: Option<Probe>,
    /// Failed tries at `trial`.
    fails: u8,
    trial: usize,
    /// The search finished: search again from then on.
    pub(crate) raise_at: Option<Instant>,
}

impl Pmtud {
    fn new(max: usize) -> Self {
        Pmtud {
            good: BASE_DATAGRAM,
            bad: max.max(BASE_DATAGRAM) + 1,
            reported: None,
            probe: None,
            fails: 0,
            trial: 0,
            raise_at: None,
        }
    }

    /// The next size to try, given at most `limit` subpackets; None when the search is over.
    pub(crate) fn next_trial(&self, limit: usize) -> Option<usize> {
        let lo = subpackets_fitting(self.good);
        let hi = subpackets_fitting(self.bad.saturating_sub(1)).min(limit);
        if self.good < BASE_DATAGRAM || hi <= lo || jumbo_datagram_len(hi) >= self.bad {
            return None;
        }
        if self.trial > 0 && subpackets_fitting(self.trial) > lo {
            // Still retrying the current size.
            return Some(self.trial);
        }
        let n = PREFERRED
            .into_iter()
            .find(|&n| n > lo && n <= hi)
            .unwrap_or((lo + hi).div_ceil(2));
        Some(jumbo_datagram_len(n))
    }

    fn success(&mut self, size: usize) {
        self.good = self.good.max(size).min(self.bad.saturating_sub(1));
        self.fails = 0;
        self.trial = 0;
        self.probe = None;
    }

    fn failure(&mut self, size: usize) {
        self.probe = None;
        self.fails += 1;
        if self.fails >= MAX_PROBES {
            self.bad = self.bad.min(size).max(self.good + 1);
            self.fails = 0;
            self.trial = 0;
        }
    }

    /// The network says nothing above `limit` passes.
    fn reduce(&mut self, limit: usize) {
        let limit = limit.max(MIN_DATAGRAM);
        self.reported = Some(self.reported.map_or(limit, |r| r.min(limit)));
        self.bad = self.bad.min(limit + 1);
        self.good = self.good.min(limit);
        self.trial = 0;
        self.fails = 0;
        self.probe = None;
    }

    /// The largest datagram to send: what discovery found, within what the network reported.
    pub(crate) fn usable(&self) -> usize {
        self.reported.map_or(self.good, |r| self.good.min(r))
    }
}

/// What the endpoint keeps per peer.
#[derive(Debug)]
pub(crate) struct Peer {
    /// Counters (the public view).
    pub(crate) stats: PeerStats,
    /// When a packet was last sent to the peer.
    pub(crate) last_tx_at: Instant,
    /// Deadline of the peer's keepalive entry in the timer heap.
    pub(crate) keepalive_at: Option<Instant>,
    /// Slow-start threshold of the last call that ended.
    pub(crate) ssthresh: Option<u32>,
    /// RTT estimate (SRTT, RTTVAR) of the last call that measured one.
    pub(crate) rtt: Option<(Duration, Duration)>,
    /// The peer's latest ACK trailer.
    pub(crate) trailer: Option<AckTrailer>,
    pub(crate) pmtud: Pmtud,
    /// Cap on subpackets after retransmission timeouts hit jumbo packets (OpenAFS convention).
    pub(crate) jumbo_cap: usize,
}

impl Peer {
    pub(crate) fn new(now: Instant, config: &EndpointConfig) -> Self {
        let mut p = Peer {
            stats: PeerStats::default(),
            last_tx_at: now,
            keepalive_at: None,
            ssthresh: None,
            rtt: None,
            trailer: None,
            pmtud: Pmtud::new(config.pmtud_max),
            jumbo_cap: MAX_JUMBO_SUBPACKETS,
        };
        p.refresh(config);
        p
    }

    /// Whether the peer announced path-MTU discovery (Linux) rather than a jumbo count.
    fn does_pmtud(&self) -> bool {
        self.trailer.is_some_and(|t| t.jumbo_max == 0)
    }

    /// Most DATA packets to put in one datagram to this peer.
    pub(crate) fn jumbo_subpackets(&self, config: &EndpointConfig) -> usize {
        if !config.jumbo {
            return 1;
        }
        let Some(t) = self.trailer else {
            return 1;
        };
        let ours = (config.max_jumbo_subpackets as usize).clamp(1, MAX_JUMBO_SUBPACKETS);
        let theirs = subpackets_fitting(t.max_mtu as usize);
        let n = match t.jumbo_max {
            0 => subpackets_fitting(self.pmtud.usable()).min(if_mtu_subpackets(&t)),
            k => {
                let path = self
                    .pmtud
                    .reported
                    .map_or(MAX_JUMBO_SUBPACKETS, subpackets_fitting);
                (k as usize).min(path).min(self.jumbo_cap)
            }
        };
        n.min(ours).min(theirs).max(1)
    }

    /// Jumbo datagrams to the peer seem to be lost (a path that drops big datagrams without
    /// telling us looks like this): send half as many subpackets. Towards a peer doing
    /// path-MTU discovery, the search restarts from there and a successful probe restores the
    /// size; towards an OpenAFS-convention peer the cap stays.
    pub(crate) fn jumbo_trouble(&mut self, config: &EndpointConfig) {
        let n = self.jumbo_subpackets(config);
        if n <= 1 {
            return;
        }
        let half = (n / 2).max(1);
        if self.does_pmtud() {
            self.pmtud.good = jumbo_datagram_len(half).min(self.pmtud.good);
            self.pmtud.bad = self.pmtud.bad.max(self.pmtud.good + 1);
            self.pmtud.raise_at = None;
        } else {
            self.jumbo_cap = half;
        }
        self.refresh(config);
    }

    /// The UDP payload a DATA packet must fit in, when the path is below the base size.
    pub(crate) fn path_payload_limit(&self) -> Option<usize> {
        Some(self.pmtud.usable()).filter(|&u| u < BASE_DATAGRAM)
    }

    /// Bring the public counters up to date with the state.
    pub(crate) fn refresh(&mut self, config: &EndpointConfig) {
        self.stats.path_mtu = u32::try_from(self.pmtud.usable()).unwrap_or(u32::MAX);
        self.stats.jumbo_subpackets = self.jumbo_subpackets(config) as u32;
        self.stats.ssthresh = self.ssthresh.unwrap_or(0);
    }
}

/// A PING ACK on `call` (RTT sample, keepalive or path-MTU probe): its header, taking the
/// connection's next serial, and its body with our trailer for `peer`.
pub(super) fn ping_ack(
    config: &EndpointConfig,
    call: &crate::call::Call,
    conn: &mut crate::conn::Conn,
    peer: Option<&Peer>,
) -> (crate::wire::Header, crate::wire::Ack) {
    let mut body = call.rx.build_ack(AckReason::PING, Serial(0));
    if let Some(t) = body.trailer.as_mut() {
        *t = ack_trailer(config, peer, t.rwind);
    }
    let h = conn.header(
        call.channel,
        call.call_number,
        PacketType::ACK,
        Seq(0),
        Flags::REQUEST_ACK | Flags::SLOW_START_OK,
    );
    (h, body)
}

/// The `maxMTU`, `ifMTU` and `jumbo_max` words of our ACK trailers to `peer`, with `rwind`.
pub(crate) fn ack_trailer(config: &EndpointConfig, peer: Option<&Peer>, rwind: u32) -> AckTrailer {
    let count = |n: u32| {
        let n = n.clamp(2, MAX_JUMBO_SUBPACKETS as u32);
        AckTrailer {
            // OpenAFS sizes a jumbo packet as 28 + n * 1416.
            max_mtu: HEADER_LEN as u32 + n * JUMBO_SUBPKTLEN as u32,
            if_mtu: TRAILER_IF_MTU,
            rwind,
            jumbo_max: n,
        }
    };
    let pmtud = AckTrailer {
        max_mtu: jumbo_datagram_len(MAX_JUMBO_SUBPACKETS) as u32,
        // Our interface MTU less the IP, UDP and Rx headers, as Linux sends it.
        if_mtu: u32::try_from(config.pmtud_max.saturating_sub(HEADER_LEN))
            .unwrap_or(u32::MAX)
            .max(TRAILER_IF_MTU),
        rwind,
        jumbo_max: 0,
    };
    if !config.jumbo {
        return AckTrailer {
            max_mtu: 1444,
            if_mtu: TRAILER_IF_MTU,
            rwind,
            jumbo_max: 1,
        };
    }
    match config.jumbo_advertise {
        JumboAdvertise::Pmtud => pmtud,
        JumboAdvertise::Count(n) => count(n),
        JumboAdvertise::Auto => match peer.and_then(|p| p.trailer) {
            // OpenAFS's own default, not more: it sends jumbo packets bigger than the path
            // MTU and relies on IP fragmentation.
            Some(t) if t.jumbo_max >= 1 => {
                count(config.max_jumbo_subpackets.min(OPENAFS_JUMBO_ADVERTISED))
            }
            _ => pmtud,
        },
    }
}

impl Endpoint {
    /// A connection to or from `addr` was created: count it, and start the peer's keepalive
    /// with its first connection.
    pub(super) fn peer_conn_added(&mut self, now: Instant, addr: SocketAddr) {
        let config = &self.config;
        let p = self
            .peers
            .entry(addr)
            .or_insert_with(|| Peer::new(now, config));
        p.stats.conns += 1;
        let ka = self.config.peer_keepalive;
        if !ka.is_zero() && p.keepalive_at.is_none() {
            let at = p.last_tx_at.max(now) + ka;
            p.keepalive_at = Some(at);
            self.push_timer(at, TimerTarget::Peer(addr));
        }
    }

    /// The peer keepalive timer (entry deadline `t`) fired.
    pub(super) fn on_peer_timer(&mut self, now: Instant, addr: SocketAddr, t: Instant) {
        let ka = self.config.peer_keepalive;
        let Some(p) = self.peers.get_mut(&addr) else {
            return;
        };
        if p.keepalive_at != Some(t) {
            return; // a stale entry
        }
        p.keepalive_at = None;
        if p.stats.conns == 0 || ka.is_zero() {
            return;
        }
        let mut next = p.last_tx_at + ka;
        if next <= now {
            p.stats.keepalives += 1;
            self.send_peer_keepalive(addr);
            next = now + ka;
        }
        if let Some(p) = self.peers.get_mut(&addr) {
            p.keepalive_at = Some(next);
            self.push_timer(next, TimerTarget::Peer(addr));
        }
    }

    /// A VERSION keepalive: our epoch, connection, call, serial and service all 0,
    /// `LAST_PACKET`, one zero byte (`reference-linux-rxrpc.md` §1.6).
    fn send_peer_keepalive(&mut self, addr: SocketAddr) {
        let h = Header {
            epoch: self.epoch,
            cid: Cid::new(ConnId(0), Channel(0)),
            call_number: CallNumber(0),
            seq: Seq(0),
            serial: Serial(0),
            packet_type: PacketType::VERSION,
            flags: Flags::LAST_PACKET,
            user_status: 0,
            security_index: SecurityIndex::NULL,
            cksum: 0,
            service_id: ServiceId(0),
        };
        self.push_packet(addr, &h, |out| out.push(0));
    }

    /// The network reports that datagrams above `mtu` bytes (the IP MTU: IP and UDP headers
    /// included, as ICMP "fragmentation needed" / "packet too big" and `IP_MTU` give it) do not
    /// reach `peer`. Jumbo packets shrink or stop, and when even a full DATA packet is too big,
    /// packets not yet sent to the peer are cut smaller (those already sent cannot change:
    /// the peer may hold them). Drivers call this on `EMSGSIZE` and on ICMP errors.
    pub fn reduce_path_mtu(&mut self, peer: SocketAddr, mtu: usize) {
        let overhead = match peer {
            SocketAddr::V4(_) => 28,
            SocketAddr::V6(_) => 48,
        };
        let limit = mtu.saturating_sub(overhead).max(MIN_DATAGRAM);
        let config = &self.config;
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        p.pmtud.reduce(limit);
        p.refresh(config);
        if let Some(payload) = p.path_payload_limit() {
            for k in self.calls.keys() {
                if let Some(c) = self.calls.get_mut(k).filter(|c| c.peer == peer) {
                    c.tx.limit_payload(payload);
                }
            }
        }
    }

    /// The largest datagram (UDP payload) the endpoint currently sends to `peer`, if it has
    /// connections with it.
    pub fn path_mtu(&self, peer: SocketAddr) -> Option<usize> {
        self.peers.get(&peer).map(|p| p.pmtud.usable())
    }

    /// Note an ACK from `addr` on connection `ck`: the peer's trailer, and the fate of a
    /// path-MTU probe.
    pub(super) fn peer_on_ack(&mut self, now: Instant, addr: SocketAddr, ck: Key, ack: &Ack) {
        let config = &self.config;
        let Some(p) = self.peers.get_mut(&addr) else {
            return;
        };
        if let Some(t) = ack.trailer {
            p.trailer = Some(t);
        }
        if let Some(probe) = p.pmtud.probe.filter(|pr| pr.conn == ck) {
            if ack.serial == probe.serial {
                p.pmtud.success(probe.size);
            } else if ack.serial.0 != 0 && ack.serial.after(probe.serial) {
                // The peer answered a later packet first: the probe was lost.
                p.pmtud.failure(probe.size);
            }
        }
        if let Some(probe) = p.pmtud.probe.filter(|pr| pr.deadline <= now) {
            p.pmtud.failure(probe.size);
        }
        p.refresh(config);
    }

    /// Send a path-MTU probe on the call's connection if its peer does path-MTU discovery, the
    /// search is not over and no probe is outstanding. Only calls that are sending more than
    /// a packet probe (the answer matters to them), and only once they have heard the peer.
    pub(super) fn maybe_send_pmtu_probe(&mut self, now: Instant, key: Key) {
        if !self.config.jumbo {
            return;
        }
        let Some(call) = self.calls.get_mut(key) else {
            return;
        };
        let tx = &call.tx;
        let busy = call.state.is_transmitting()
            && (tx.transmitted.before(tx.top) || tx.outstanding())
            && tx.top.distance(tx.bottom) >= 2;
        if !busy || !call.heard_peer || call.is_complete() {
            return;
        }
        let Some(ck) = call.conn else { return };
        let Some(p) = self.peers.get_mut(&call.peer) else {
            return;
        };
        let Some(t) = p.trailer.filter(|t| t.jumbo_max == 0) else {
            return;
        };
        if let Some(probe) = p.pmtud.probe {
            if probe.deadline > now {
                return;
            }
            p.pmtud.failure(probe.size);
        }
        if let Some(at) = p.pmtud.raise_at {
            if at > now {
                return;
            }
            // Time to look for a larger path again.
            p.pmtud.raise_at = None;
            p.pmtud.bad = self.config.pmtud_max.max(BASE_DATAGRAM) + 1;
        }
        let ours = (self.config.max_jumbo_subpackets as usize)
            .min(subpackets_fitting(self.config.pmtud_max));
        let limit = ours
            .min(subpackets_fitting(t.max_mtu as usize))
            .min(if_mtu_subpackets(&t));
        let Some(size) = p.pmtud.next_trial(limit) else {
            // Over only if our own bounds end it: the peer's maxMTU may still grow (Linux
            // advertises more once it has seen that we do path-MTU discovery).
            if p.pmtud.next_trial(ours).is_none() {
                p.pmtud.raise_at = Some(now + RAISE_INTERVAL);
            }
            p.refresh(&self.config);
            return;
        };
        p.pmtud.trial = size;
        let Some(conn) = self.conns.get_mut(ck) else {
            return;
        };
        let (h, body) = ping_ack(&self.config, call, conn, Some(p));
        // The peer answers a PING at once: give up on the probe after three round trips (or
        // the initial retransmission timeout before any RTT is known).
        let wait = call
            .tx
            .rtt
            .srtt
            .map_or(self.config.initial_rto, |s| (s * 3).max(PROBE_WAIT_MIN));
        p.pmtud.probe = Some(Probe {
            conn: ck,
            serial: h.serial,
            size,
            deadline: now + wait,
        });
        p.stats.mtu_probes += 1;
        let addr = call.peer;
        self.stats.acks_out[super::reason_index(AckReason::PING)] += 1;
        self.push_packet(addr, &h, |out| {
            body.emit(out);
            out.resize(size, 0);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitting_and_trials() {
        assert_eq!(subpackets_fitting(1439), 1);
        assert_eq!(subpackets_fitting(1440), 1);
        assert_eq!(subpackets_fitting(2856), 2);
        assert_eq!(subpackets_fitting(8972), 6);
        assert_eq!(subpackets_fitting(usize::MAX), MAX_JUMBO_SUBPACKETS);
        let mut m = Pmtud::new(65160);
        // Preferred sizes first: 2, 4, then 6 once 4 worked, then 8.
        assert_eq!(m.next_trial(46), Some(jumbo_datagram_len(2)));
        m.success(jumbo_datagram_len(2));
        assert_eq!(m.next_trial(46), Some(jumbo_datagram_len(4)));
        m.success(jumbo_datagram_len(4));
        assert_eq!(m.next_trial(46), Some(jumbo_datagram_len(6)));
        m.success(jumbo_datagram_len(6));
        assert_eq!(m.next_trial(46), Some(jumbo_datagram_len(8)));
        // Three failures mark 8 too big; 7 is tried next, fails too: the search ends at 6.
        for _ in 0..MAX_PROBES {
            m.trial = jumbo_datagram_len(8);
            m.failure(jumbo_datagram_len(8));
        }
        assert_eq!(m.next_trial(46), Some(jumbo_datagram_len(7)));
        for _ in 0..MAX_PROBES {
            m.failure(jumbo_datagram_len(7));
        }
        assert_eq!(m.next_trial(46), None);
        assert_eq!(m.usable(), jumbo_datagram_len(6));
        // A limit of subpackets ends the search too.
        let m = Pmtud::new(65160);
        assert_eq!(m.next_trial(1), None);
        // A large path: binary search beyond the preferred sizes.
        let mut m = Pmtud::new(65160);
        for n in [2, 4, 6, 8] {
            m.success(jumbo_datagram_len(n));
        }
        assert_eq!(m.next_trial(46), Some(jumbo_datagram_len(27)));
    }

    #[test]
    fn reported_limits() {
        let mut m = Pmtud::new(65160);
        m.success(jumbo_datagram_len(4));
        m.reduce(3000);
        assert_eq!(m.usable(), 3000);
        assert_eq!(subpackets_fitting(m.usable()), 2);
        assert_eq!(
            m.next_trial(46),
            None,
            "nothing fits between 2 subpackets and 3000"
        );
        m.reduce(1300);
        assert_eq!(m.usable(), 1300);
        m.reduce(100);
        assert_eq!(m.usable(), MIN_DATAGRAM);
    }

    #[test]
    fn trailer_conventions() {
        let c = EndpointConfig::default();
        let t = ack_trailer(&c, None, 32);
        assert_eq!((t.max_mtu, t.jumbo_max, t.rwind), (65160, 0, 32));
        assert_eq!(t.if_mtu, 65160 - 28);
        // A Linux peer behind a 1500-byte interface: no jumbo packets, whatever probes say.
        let mut p = Peer::new(Instant::ZERO, &c);
        p.trailer = Some(AckTrailer {
            max_mtu: 65160,
            if_mtu: 1444,
            rwind: 32,
            jumbo_max: 0,
        });
        p.pmtud.success(jumbo_datagram_len(8));
        assert_eq!(p.jumbo_subpackets(&c), 1);
        p.trailer = Some(AckTrailer {
            if_mtu: 9000 - 56,
            ..p.trailer.unwrap()
        });
        assert_eq!(p.jumbo_subpackets(&c), 6);
        let mut p = Peer::new(Instant::ZERO, &c);
        p.trailer = Some(AckTrailer {
            max_mtu: 5692,
            if_mtu: 1444,
            rwind: 32,
            jumbo_max: 4,
        });
        let t = ack_trailer(&c, Some(&p), 32);
        assert_eq!((t.max_mtu, t.jumbo_max), (5692, 4));
        // An OpenAFS-convention peer gets at most its count, within its maxMTU.
        assert_eq!(p.jumbo_subpackets(&c), 4);
        p.trailer = Some(AckTrailer {
            max_mtu: 4300,
            jumbo_max: 6,
            ..p.trailer.unwrap()
        });
        assert_eq!(p.jumbo_subpackets(&c), 3);
        let off = EndpointConfig {
            jumbo: false,
            ..EndpointConfig::default()
        };
        let t = ack_trailer(&off, Some(&p), 32);
        assert_eq!((t.max_mtu, t.jumbo_max), (1444, 1));
        assert_eq!(p.jumbo_subpackets(&off), 1);
        let count = EndpointConfig {
            jumbo_advertise: JumboAdvertise::Count(4),
            ..EndpointConfig::default()
        };
        let t = ack_trailer(&count, None, 32);
        assert_eq!((t.max_mtu, t.jumbo_max), (5692, 4));
    }
}
