//! The network: a virtual clock, seeded randomness, endpoints, per-direction links with
//! impairments, a packet hook, a bounded packet trace and optional pcap output.
//!
//! Everything is virtual time. [`Sim::step`] jumps the clock to the earliest pending event (a
//! datagram arriving, or an endpoint's deadline), handles every event due then, and collects
//! what the endpoints want to send. Every loop in here is bounded.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::fmt::Write as _;
use std::fs::File;
use std::io::BufWriter;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use etherparse::PacketBuilder;
use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use rxrpc_proto::wire::{Body, Flags, Header, JUMBO_DATALEN, Packet, PacketType};
use rxrpc_proto::{Endpoint, EndpointConfig, Event, Instant};

/// IPv4 + UDP header bytes in front of every Rx datagram.
pub(crate) const IP_UDP_OVERHEAD: usize = 28;

// ----- randomness -------------------------------------------------------------------------

/// splitmix64: tiny, seedable, good enough for simulations, and identical on every platform.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p` (no random draw when `p <= 0`, so adding a zero impairment
    /// does not shift the random stream of the others).
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    /// Uniform in `[0, d]`.
    pub(crate) fn upto(&mut self, d: Duration) -> Duration {
        if d.is_zero() {
            return d;
        }
        let us = d.as_micros() as u64;
        Duration::from_micros(self.next_u64() % (us + 1))
    }
}

// ----- links ------------------------------------------------------------------------------

/// Gilbert-Elliott burst loss: a two-state Markov chain stepped once per datagram.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct GilbertElliott {
    /// Probability of moving from the good to the bad state.
    pub(crate) p_good_to_bad: f64,
    /// Probability of moving from the bad to the good state (1 / mean burst length).
    pub(crate) p_bad_to_good: f64,
    /// Loss probability in the good state.
    pub(crate) loss_good: f64,
    /// Loss probability in the bad state.
    pub(crate) loss_bad: f64,
}

impl GilbertElliott {
    /// A chain with mean loss `mean` in bursts of mean length `burst` datagrams (lossless good
    /// state, total loss in the bad state: the "simple Gilbert" model).
    pub(crate) fn bursts(mean: f64, burst: f64) -> Self {
        let r = 1.0 / burst.max(1.0);
        // Stationary P(bad) = p / (p + r) = mean.
        let p = mean * r / (1.0 - mean).max(1e-9);
        GilbertElliott {
            p_good_to_bad: p.min(1.0),
            p_bad_to_good: r,
            loss_good: 0.0,
            loss_bad: 1.0,
        }
    }
}

/// Impairments of one direction of a path.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct LinkConfig {
    /// One-way base delay.
    pub(crate) delay: Duration,
    /// Extra delay, uniform in `[0, jitter]`. Jitter keeps the link FIFO (it models queueing
    /// variation); reordering is [`reorder`](Self::reorder).
    pub(crate) jitter: Duration,
    /// Independent random loss probability.
    pub(crate) loss: f64,
    /// Burst loss, applied in addition to `loss`.
    pub(crate) burst: Option<GilbertElliott>,
    /// Probability that a datagram is held back by `reorder_delay` (later ones overtake it).
    pub(crate) reorder: f64,
    /// How long a reordered datagram is held back.
    pub(crate) reorder_delay: Duration,
    /// Probability that a datagram is delivered twice (the copy gets its own jitter).
    pub(crate) duplicate: f64,
    /// Largest IP datagram (UDP payload + 28) the path carries; bigger ones are dropped.
    pub(crate) mtu: Option<usize>,
    /// Bottleneck rate in bytes per second (serialisation delay, drop-tail queue).
    pub(crate) rate: Option<u64>,
    /// Largest queueing delay at the bottleneck before drop-tail (with `rate`).
    pub(crate) queue_limit: Duration,
}

impl LinkConfig {
    /// A clean link with this one-way delay.
    pub(crate) fn delay(d: Duration) -> Self {
        LinkConfig {
            delay: d,
            ..LinkConfig::default()
        }
    }
}

/// What happened on one direction of a path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LinkStats {
    /// Datagrams offered to the link.
    pub(crate) offered: u64,
    /// Datagrams scheduled for delivery (copies included).
    pub(crate) scheduled: u64,
    /// Lost at random.
    pub(crate) lost_random: u64,
    /// Lost in a Gilbert-Elliott burst.
    pub(crate) lost_burst: u64,
    /// Dropped for exceeding the MTU.
    pub(crate) dropped_mtu: u64,
    /// Dropped by the bottleneck queue.
    pub(crate) dropped_queue: u64,
    /// Dropped by the hook.
    pub(crate) dropped_hook: u64,
    /// Extra copies made.
    pub(crate) duplicated: u64,
    /// Datagrams held back to be overtaken.
    pub(crate) reordered: u64,
}

#[derive(Debug)]
struct Link {
    cfg: LinkConfig,
    bad: bool,
    busy_until: Instant,
    last_arrival: Instant,
    stats: LinkStats,
}

impl Link {
    fn new(cfg: LinkConfig) -> Self {
        Link {
            cfg,
            bad: false,
            busy_until: Instant::ZERO,
            last_arrival: Instant::ZERO,
            stats: LinkStats::default(),
        }
    }

    /// Apply the impairments to a datagram of `len` bytes sent at `now`: the arrival time of
    /// each copy and what happened, or why it was dropped.
    fn impair(
        &mut self,
        now: Instant,
        len: usize,
        extra: Duration,
        rng: &mut Rng,
    ) -> Result<(Vec<Instant>, &'static str), &'static str> {
        let cfg = &self.cfg;
        self.stats.offered += 1;
        if cfg.mtu.is_some_and(|m| len + IP_UDP_OVERHEAD > m) {
            self.stats.dropped_mtu += 1;
            return Err("mtu-drop");
        }
        // The burst chain advances once per datagram, whatever else happens to it.
        if let Some(ge) = cfg.burst {
            self.bad = if self.bad {
                !rng.chance(ge.p_bad_to_good)
            } else {
                rng.chance(ge.p_good_to_bad)
            };
            if rng.chance(if self.bad { ge.loss_bad } else { ge.loss_good }) {
                self.stats.lost_burst += 1;
                return Err("burst-loss");
            }
        }
        if rng.chance(cfg.loss) {
            self.stats.lost_random += 1;
            return Err("lost");
        }
        // Bottleneck: serialisation and a drop-tail queue.
        let mut depart = now;
        if let Some(rate) = cfg.rate.filter(|&r| r > 0) {
            let start = self.busy_until.max(now);
            if start - now > cfg.queue_limit {
                self.stats.dropped_queue += 1;
                return Err("queue-drop");
            }
            let wire = (len + IP_UDP_OVERHEAD) as u64;
            let ser = Duration::from_micros((wire * 1_000_000).div_ceil(rate));
            self.busy_until = start + ser;
            depart = self.busy_until;
        }
        let copies = if rng.chance(cfg.duplicate) { 2 } else { 1 };
        let mut fate = "sent";
        let mut arrivals = Vec::with_capacity(copies);
        for copy in 0..copies {
            let mut at = depart + cfg.delay + rng.upto(cfg.jitter) + extra;
            if rng.chance(cfg.reorder) {
                at += cfg.reorder_delay;
                self.stats.reordered += 1;
                fate = "reordered";
            } else {
                // FIFO: never overtake what went before on this link.
                at = at.max(self.last_arrival);
                self.last_arrival = at;
            }
            if copy > 0 {
                self.stats.duplicated += 1;
                fate = "dup";
            }
            self.stats.scheduled += 1;
            arrivals.push(at);
        }
        Ok((arrivals, fate))
    }
}

// ----- hook -------------------------------------------------------------------------------

/// A datagram as the hook sees it, when it is sent.
#[derive(Debug)]
pub(crate) struct Wire<'a> {
    /// Index of the datagram among everything sent in this simulation (from 0).
    pub(crate) index: u64,
    /// Send time.
    pub(crate) at: Instant,
    /// Sender.
    pub(crate) from: SocketAddr,
    /// Destination.
    pub(crate) to: SocketAddr,
    /// The Rx header, if the datagram has one.
    pub(crate) header: Option<Header>,
    /// The UDP payload.
    pub(crate) bytes: &'a [u8],
}

/// What the hook decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Let the link handle it (with its impairments).
    Pass,
    /// Drop it.
    Drop,
    /// Deliver it after exactly the link's base delay, exempt from every impairment.
    Deliver,
    /// Hold it back this much on top of the link's treatment.
    Delay(Duration),
    /// Send these bytes instead (through the link).
    Replace(Vec<u8>),
}

/// The hook type: called for every datagram sent.
pub(crate) type Hook = Box<dyn FnMut(&Wire<'_>) -> Verdict>;

// ----- trace ------------------------------------------------------------------------------

/// One line of the packet trace.
#[derive(Clone, Debug)]
pub(crate) struct TraceEntry {
    /// Send time.
    pub(crate) at: Instant,
    /// Datagram index.
    pub(crate) index: u64,
    /// Sender.
    pub(crate) from: SocketAddr,
    /// Destination.
    pub(crate) to: SocketAddr,
    /// What the network did with it.
    pub(crate) fate: &'static str,
    /// The datagram (kept whole for short packets, header only for DATA).
    pub(crate) bytes: Vec<u8>,
}

/// Describe an Rx datagram in one line (tcpdump style).
pub(crate) fn describe(bytes: &[u8]) -> String {
    let Ok(h) = Header::parse(bytes) else {
        return format!("undecodable {} bytes", bytes.len());
    };
    let mut s = format!(
        "{} cid={:08x} call={} seq={} serial={} flags={}",
        h.packet_type.name().unwrap_or("?"),
        h.cid.0,
        h.call_number.0,
        h.seq.0,
        h.serial.0,
        h.flags.describe(h.packet_type),
    );
    match h.packet_type {
        PacketType::DATA => {}
        _ => match Packet::parse(bytes).map(|p| p.body) {
            Ok(Body::Ack(a)) => {
                let nacks = a.acks.iter().filter(|&&b| b != 1).count();
                let _ = write!(
                    s,
                    " {} first={} prev={} ackserial={} acks={} nacks={}",
                    a.reason.name().unwrap_or("?"),
                    a.first_packet.0,
                    a.previous_packet.0,
                    a.serial.0,
                    a.acks.len(),
                    nacks
                );
                if let Some(t) = a.trailer {
                    let _ = write!(s, " rwind={}", t.rwind);
                }
            }
            Ok(Body::Abort(a)) => {
                let _ = write!(s, " code={}", a.code);
            }
            _ => {}
        },
    }
    s
}

// ----- the simulator ----------------------------------------------------------------------

/// One endpoint on the simulated network.
#[derive(Debug)]
pub(crate) struct Node {
    /// Its address.
    pub(crate) addr: SocketAddr,
    /// The engine.
    pub(crate) ep: Endpoint,
    /// Events drained from the engine, for the application to consume.
    pub(crate) events: VecDeque<Event>,
}

struct InFlight {
    at: Instant,
    id: u64,
    from: SocketAddr,
    to: SocketAddr,
    bytes: Bytes,
}

impl PartialEq for InFlight {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.id) == (o.at, o.id)
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for InFlight {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.at, self.id).cmp(&(o.at, o.id))
    }
}

/// Why a run stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The condition held.
    Done,
    /// The virtual time limit was reached.
    TimeLimit,
    /// Nothing is pending anywhere (no datagram, no deadline): the world is stuck.
    Idle,
    /// The step budget ran out (a livelock, or a deadline that never advances).
    StepLimit,
}

/// Address of node `i`: 10.0.0.(i+1):7000.
pub(crate) fn node_addr(i: usize) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(
        Ipv4Addr::new(10, 0, 0, i as u8 + 1),
        7000,
    ))
}

/// The simulated network.
pub(crate) struct Sim {
    /// Virtual now.
    pub(crate) now: Instant,
    /// The endpoints.
    pub(crate) nodes: Vec<Node>,
    links: BTreeMap<(SocketAddr, SocketAddr), Link>,
    default_link: LinkConfig,
    rng: Rng,
    flight: BinaryHeap<Reverse<InFlight>>,
    /// Application wake-ups: the clock stops there too.
    wakeups: BinaryHeap<Reverse<Instant>>,
    next_id: u64,
    sent: u64,
    /// Called for every datagram sent.
    pub(crate) hook: Option<Hook>,
    pcap: Option<PcapWriter<BufWriter<File>>>,
    trace: VecDeque<TraceEntry>,
    trace_cap: usize,
    /// Last serial seen per (sender, receiver, epoch, connection ID).
    serials: BTreeMap<(SocketAddr, SocketAddr, u32, u32), u32>,
    /// Wire invariants the endpoints broke (at most 100 kept).
    pub(crate) violations: Vec<String>,
    /// Steps taken.
    pub(crate) steps: u64,
    /// Steps allowed in total.
    pub(crate) max_steps: u64,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("now", &self.now)
            .field("nodes", &self.nodes.len())
            .field("in_flight", &self.flight.len())
            .finish_non_exhaustive()
    }
}

impl Sim {
    /// A network of `n` endpoints at [`node_addr`]`(i)`, every direction using `link`. Endpoint
    /// `i` gets `configure(i, config)` with a seed derived from `seed`.
    pub(crate) fn new(
        n: usize,
        seed: u64,
        link: LinkConfig,
        mut configure: impl FnMut(usize, &mut EndpointConfig),
    ) -> Self {
        let mut rng = Rng::new(seed);
        let nodes = (0..n)
            .map(|i| {
                let mut cfg = EndpointConfig::default();
                cfg.rng_seed = rng.next_u64();
                configure(i, &mut cfg);
                Node {
                    addr: node_addr(i),
                    ep: Endpoint::new(cfg, Instant::ZERO),
                    events: VecDeque::new(),
                }
            })
            .collect();
        Sim {
            now: Instant::ZERO,
            nodes,
            links: BTreeMap::new(),
            default_link: link,
            rng,
            flight: BinaryHeap::new(),
            wakeups: BinaryHeap::new(),
            next_id: 0,
            sent: 0,
            hook: None,
            pcap: None,
            trace: VecDeque::new(),
            trace_cap: 400,
            serials: BTreeMap::new(),
            violations: Vec::new(),
            steps: 0,
            max_steps: 50_000_000,
        }
    }

    /// Use `cfg` for the direction `from` → `to` (node indices).
    pub(crate) fn set_link(&mut self, from: usize, to: usize, cfg: LinkConfig) {
        let key = (self.nodes[from].addr, self.nodes[to].addr);
        self.links.insert(key, Link::new(cfg));
    }

    /// Change the configuration of a direction in place (its state and counters stay).
    pub(crate) fn link_mut(&mut self, from: usize, to: usize) -> &mut LinkConfig {
        let key = (self.nodes[from].addr, self.nodes[to].addr);
        let default = self.default_link.clone();
        &mut self
            .links
            .entry(key)
            .or_insert_with(|| Link::new(default))
            .cfg
    }

    /// Counters of a direction.
    pub(crate) fn link_stats(&self, from: usize, to: usize) -> LinkStats {
        let key = (self.nodes[from].addr, self.nodes[to].addr);
        self.links.get(&key).map(|l| l.stats).unwrap_or_default()
    }

    /// Write every datagram sent from now on to a pcap file (LINKTYPE_RAW, IPv4/UDP).
    pub(crate) fn enable_pcap(&mut self, path: &Path) -> std::io::Result<()> {
        let header = PcapHeader {
            datalink: DataLink::RAW,
            ..PcapHeader::default()
        };
        let file = BufWriter::new(File::create(path)?);
        let w = PcapWriter::with_header(file, header).map_err(std::io::Error::other)?;
        self.pcap = Some(w);
        Ok(())
    }

    /// Flush and close the pcap file.
    pub(crate) fn finish_pcap(&mut self) {
        if let Some(w) = self.pcap.take() {
            let mut inner = w.into_writer();
            let _ = std::io::Write::flush(&mut inner);
        }
    }

    /// Keep the last `n` datagrams in the trace.
    pub(crate) fn set_trace_len(&mut self, n: usize) {
        self.trace_cap = n;
        while self.trace.len() > n {
            self.trace.pop_front();
        }
    }

    /// The trace formatted one datagram a line.
    pub(crate) fn format_trace(&self, last: usize) -> String {
        let mut out = String::new();
        let skip = self.trace.len().saturating_sub(last);
        for e in self.trace.iter().skip(skip) {
            let _ = writeln!(
                out,
                "{:>14?} #{:<7} {} > {} {:<9} {}",
                e.at,
                e.index,
                e.from,
                e.to,
                e.fate,
                describe(&e.bytes)
            );
        }
        out
    }

    /// Node index of an address.
    pub(crate) fn node_of(&self, addr: SocketAddr) -> Option<usize> {
        self.nodes.iter().position(|n| n.addr == addr)
    }

    /// Endpoint of node `i`.
    pub(crate) fn ep(&mut self, i: usize) -> &mut Endpoint {
        &mut self.nodes[i].ep
    }

    /// Datagrams sent so far (before any loss).
    pub(crate) fn datagrams_sent(&self) -> u64 {
        self.sent
    }

    /// Put a datagram on the wire from `from` to `to`, arriving `after` from now, exempt from
    /// the link and the hook (a forged or replayed packet).
    pub(crate) fn inject(
        &mut self,
        from: SocketAddr,
        to: SocketAddr,
        bytes: Vec<u8>,
        after: Duration,
    ) {
        let at = self.now + after;
        self.record(from, to, &bytes, "injected");
        self.schedule(at, from, to, Bytes::from(bytes));
    }

    fn schedule(&mut self, at: Instant, from: SocketAddr, to: SocketAddr, bytes: Bytes) {
        let id = self.next_id;
        self.next_id += 1;
        self.flight.push(Reverse(InFlight {
            at,
            id,
            from,
            to,
            bytes,
        }));
    }

    fn record(&mut self, from: SocketAddr, to: SocketAddr, bytes: &[u8], fate: &'static str) {
        let index = self.sent;
        self.sent += 1;
        if let Some(w) = self.pcap.as_mut() {
            write_pcap(w, self.now, from, to, bytes);
        }
        if self.trace_cap > 0 {
            if self.trace.len() >= self.trace_cap {
                self.trace.pop_front();
            }
            let keep = if bytes.get(20) == Some(&1) {
                bytes.len().min(28)
            } else {
                bytes.len().min(512)
            };
            self.trace.push_back(TraceEntry {
                at: self.now,
                index,
                from,
                to,
                fate,
                bytes: bytes[..keep].to_vec(),
            });
        }
    }

    fn set_last_fate(&mut self, fate: &'static str) {
        if let Some(e) = self.trace.back_mut() {
            e.fate = fate;
        }
    }

    /// Take every datagram the endpoints want to send and put it on the links.
    pub(crate) fn collect(&mut self) {
        for i in 0..self.nodes.len() {
            let from = self.nodes[i].addr;
            // Bounded by what the endpoint queued: poll_transmit only drains.
            while let Some(t) = self.nodes[i].ep.poll_transmit() {
                self.send(from, t.destination, t.contents);
            }
        }
    }

    /// Check what an endpoint sent against rules every datagram must keep.
    fn check_wire(&mut self, from: SocketAddr, to: SocketAddr, bytes: &[u8]) {
        let index = self.sent;
        let mut bad = |what: String| {
            if self.violations.len() < 100 {
                self.violations.push(format!(
                    "datagram #{index} {from} > {to} at {:?}: {what}: {}",
                    self.now,
                    describe(bytes)
                ));
            }
        };
        let pkt = match Packet::parse(bytes) {
            Ok(p) => p,
            Err(e) => return bad(format!("undecodable ({e})")),
        };
        let h = pkt.header;
        if h.packet_type == PacketType::DATA {
            let reply = !h.flags.contains(Flags::CLIENT_INITIATED);
            if reply && h.flags.contains(Flags::LAST_PACKET | Flags::REQUEST_ACK) {
                bad("the last packet of a reply requests an ACK".into());
            }
            if !h.flags.contains(Flags::JUMBO_PACKET) && bytes.len() - 28 > JUMBO_DATALEN {
                bad("DATA payload above 1412 bytes".into());
            }
            if h.seq.0 == 0 {
                bad("DATA with seq 0".into());
            }
        }
        // Serials rise strictly per connection and direction (0: connectionless replies).
        if h.serial.0 != 0 {
            let key = (from, to, h.epoch.0, h.cid.conn_id().0);
            if let Some(&prev) = self.serials.get(&key) {
                if (h.serial.0.wrapping_sub(prev) as i32) <= 0 {
                    bad(format!("serial {} after {prev}", h.serial.0));
                }
            }
            self.serials.insert(key, h.serial.0);
        }
    }

    fn send(&mut self, from: SocketAddr, to: SocketAddr, mut bytes: Vec<u8>) {
        self.check_wire(from, to, &bytes);
        let index = self.sent;
        self.record(from, to, &bytes, "sent");
        let mut extra = Duration::ZERO;
        if let Some(hook) = self.hook.as_mut() {
            let w = Wire {
                index,
                at: self.now,
                from,
                to,
                header: Header::parse(&bytes).ok(),
                bytes: &bytes,
            };
            match hook(&w) {
                Verdict::Pass => {}
                Verdict::Drop => {
                    self.link_entry(from, to).stats.dropped_hook += 1;
                    self.set_last_fate("hook-drop");
                    return;
                }
                Verdict::Deliver => {
                    let at = self.now + self.link_entry(from, to).cfg.delay;
                    self.set_last_fate("forced");
                    self.schedule(at, from, to, Bytes::from(bytes));
                    return;
                }
                Verdict::Delay(d) => extra = d,
                Verdict::Replace(b) => {
                    self.set_last_fate("replaced");
                    bytes = b;
                }
            }
        }
        let now = self.now;
        let default = &self.default_link;
        let link = self
            .links
            .entry((from, to))
            .or_insert_with(|| Link::new(default.clone()));
        let bytes = Bytes::from(bytes);
        match link.impair(now, bytes.len(), extra, &mut self.rng) {
            Err(fate) => self.set_last_fate(fate),
            Ok((arrivals, fate)) => {
                for at in arrivals {
                    self.schedule(at, from, to, bytes.clone());
                }
                if fate != "sent" {
                    self.set_last_fate(fate);
                }
            }
        }
    }

    fn link_entry(&mut self, from: SocketAddr, to: SocketAddr) -> &mut Link {
        let default = &self.default_link;
        self.links
            .entry((from, to))
            .or_insert_with(|| Link::new(default.clone()))
    }

    /// Drain the engines' events into each node's queue.
    pub(crate) fn drain_events(&mut self) {
        for n in self.nodes.iter_mut() {
            while let Some(e) = n.ep.poll_event() {
                n.events.push_back(e);
            }
        }
    }

    /// Make the clock stop at `t` (an application timer).
    pub(crate) fn wake_at(&mut self, t: Instant) {
        self.wakeups.push(Reverse(t.max(self.now)));
    }

    /// The earliest pending event: a delivery, a deadline or a wake-up.
    pub(crate) fn next_event(&self) -> Option<Instant> {
        let a = self.flight.peek().map(|Reverse(f)| f.at);
        let b = self.nodes.iter().filter_map(|n| n.ep.poll_timeout()).min();
        let c = self.wakeups.peek().map(|Reverse(t)| *t);
        [a, b, c].into_iter().flatten().min()
    }

    /// Advance to the next delivery or deadline (not beyond `limit`) and process everything
    /// due then. Returns false when nothing is due up to `limit` (the clock is then at `limit`
    /// if anything is pending later, unchanged if nothing is pending at all).
    pub(crate) fn step(&mut self, limit: Instant) -> bool {
        self.collect();
        let Some(next) = self.next_event() else {
            return false;
        };
        if next > limit {
            self.now = self.now.max(limit);
            return false;
        }
        self.steps += 1;
        self.now = self.now.max(next);
        let now = self.now;
        while self.wakeups.peek().is_some_and(|Reverse(t)| *t <= now) {
            self.wakeups.pop();
        }
        while self.flight.peek().is_some_and(|Reverse(f)| f.at <= now) {
            let Some(Reverse(f)) = self.flight.pop() else {
                break;
            };
            if let Some(n) = self.nodes.iter_mut().find(|n| n.addr == f.to) {
                n.ep.handle_datagram(now, f.from, f.bytes);
            }
            // Each input obliges the driver to drain transmits before the next one.
            self.collect();
        }
        for n in self.nodes.iter_mut() {
            if n.ep.poll_timeout().is_some_and(|t| t <= now) {
                n.ep.handle_timeout(now);
            }
        }
        self.collect();
        self.drain_events();
        true
    }

    /// Move the clock forward to `t` (no-op if earlier), handling timeouts there.
    pub(crate) fn advance_to(&mut self, t: Instant) {
        let mut budget = 10_000_000u64;
        while budget > 0 && self.step(t) {
            budget -= 1;
        }
        self.now = self.now.max(t);
        for n in self.nodes.iter_mut() {
            n.ep.handle_timeout(t);
        }
        self.collect();
        self.drain_events();
    }
}

fn ip_of(a: SocketAddr) -> ([u8; 4], u16) {
    match a {
        SocketAddr::V4(v) => (v.ip().octets(), v.port()),
        SocketAddr::V6(v) => {
            let o = v.ip().octets();
            ([o[12], o[13], o[14], o[15]], v.port())
        }
    }
}

fn write_pcap(
    w: &mut PcapWriter<BufWriter<File>>,
    now: Instant,
    from: SocketAddr,
    to: SocketAddr,
    payload: &[u8],
) {
    let (src, sport) = ip_of(from);
    let (dst, dport) = ip_of(to);
    let mut frame = Vec::with_capacity(payload.len() + IP_UDP_OVERHEAD);
    if PacketBuilder::ipv4(src, dst, 64)
        .udp(sport, dport)
        .write(&mut frame, payload)
        .is_err()
    {
        return;
    }
    let ts = Duration::from_micros(now.as_micros());
    let _ = w.write_packet(&PcapPacket::new(ts, frame.len() as u32, &frame));
}
