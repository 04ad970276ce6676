//! Soak (issue 9): a million calls through real engines on the simulated network of
//! `tests/netsim` (reused read-only by `#[path]`), with request and reply sizes from 0 B to
//! 64 KiB, many concurrent callers on several client endpoints, random loss, jitter,
//! reordering and duplication, and random aborts from both sides. Every byte is checked,
//! every call must end as its script says (success, the abort one side chose, or a documented
//! timeout), and at the end every socket is closed and every live count must return to zero.
//! Peak and final resident memory come from `/proc/self/statm`.
//!
//! * `cargo test -p rxrpc-proto --test soak` runs a small soak (a few thousand calls).
//! * `SOAK_CALLS=1000000 cargo test --release -p rxrpc-proto --test soak -- --ignored soak
//!   --nocapture` runs the full soak (`SOAK_SEED` picks the seed) and prints its numbers.

#[allow(dead_code)]
#[path = "netsim/sim.rs"]
mod sim;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, Instant as WallInstant};

use bytes::Bytes;
use rxrpc_proto::wire::{AbortCode, ServiceId};
use rxrpc_proto::{AbortReason, CallParams, Completion, Event, Instant, SocketId};
use sim::{LinkConfig, Rng, Sim};

const SVC: ServiceId = ServiceId(4243);
/// Client endpoints (nodes 1..=CLIENTS); the server is node 0.
const CLIENTS: usize = 4;
/// Concurrent callers per client endpoint (more than its 16 channels per bundle: some wait).
const CALLERS: usize = 24;
/// Charged calls the server keeps ready.
const BACKLOG: usize = 32;
/// The abort code a server uses to refuse a request, and the one a client gives up with.
const SERVER_ABORT: AbortCode = AbortCode(4242);
const CLIENT_ABORT: AbortCode = AbortCode(4343);
/// Probability that the server refuses a request / that a client abandons a call.
const P_SERVER_ABORT: f64 = 0.01;
const P_CLIENT_ABORT: f64 = 0.01;

// ----- data -------------------------------------------------------------------------------

/// Byte `off` of the stream `salt` (one multiply a byte: cheap enough for gigabytes).
fn byte(salt: u64, off: u64) -> u8 {
    ((salt ^ off.wrapping_mul(0x9e37_79b9_7f4a_7c15)).wrapping_mul(0xbf58_476d_1ce4_e5b9) >> 56)
        as u8
}

fn stream(salt: u64, off: u64, len: usize) -> Bytes {
    (0..len as u64).map(|i| byte(salt, off + i)).collect()
}

fn check(salt: u64, off: u64, data: &[u8]) -> bool {
    data.iter()
        .enumerate()
        .all(|(i, &b)| b == byte(salt, off + i as u64))
}

/// A size from 0 B to 64 KiB, mostly small.
fn size(rng: &mut Rng) -> u64 {
    let r = rng.next_u64();
    let pick = r % 100;
    let v = r >> 8;
    match pick {
        0..20 => 0,
        20..50 => 1 + v % 100,
        50..80 => 100 + v % 4000,
        80..95 => 4000 + v % 16_000,
        _ => 20_000 + v % (65_536 - 20_000 + 1),
    }
}

/// The reply length for a request: the server derives it from the request (its first 8
/// bytes carry the call's tag when it has them).
fn reply_len(tag: u64) -> u64 {
    let mut r = Rng::new(tag ^ 0x5eed);
    size(&mut r)
}

/// The tag a request of `len` bytes carries (requests under 8 bytes cannot: tag 0).
fn request(tag: u64, len: u64) -> Bytes {
    if len < 8 {
        return stream(0, 0, len as usize);
    }
    let mut v = tag.to_be_bytes().to_vec();
    v.extend_from_slice(&stream(tag, 8, len as usize - 8));
    Bytes::from(v)
}

// ----- the callers --------------------------------------------------------------------------

/// A call in progress on the client side.
#[derive(Debug)]
struct ClientCall {
    tag: u64,
    req_len: u64,
    sent: u64,
    pending: Bytes,
    done_sending: bool,
    received: u64,
    abandon: bool,
}

/// How calls ended.
#[derive(Debug, Default)]
struct Tally {
    started: u64,
    succeeded: u64,
    server_refused: u64,
    client_abandoned: u64,
    timeouts: u64,
    bytes: u64,
    server_ended: u64,
    failures: Vec<String>,
}

impl Tally {
    fn ended(&self) -> u64 {
        self.succeeded + self.server_refused + self.client_abandoned + self.timeouts
    }
    fn fail(&mut self, what: String) {
        if self.failures.len() < 20 {
            self.failures.push(what);
        }
    }
}

fn is_timeout(c: &Completion) -> bool {
    match c {
        Completion::LocalAbort { code, reason } => {
            matches!(*code, AbortCode::RX_CALL_TIMEOUT | AbortCode::RX_CALL_DEAD)
                && matches!(
                    reason,
                    AbortReason::IdleTimeout
                        | AbortReason::RequestTimeout
                        | AbortReason::CallReset
                        | AbortReason::ImplicitEnd
                )
        }
        Completion::RemoteAbort(code) => {
            matches!(*code, AbortCode::RX_CALL_TIMEOUT | AbortCode::RX_CALL_DEAD)
        }
        _ => false,
    }
}

/// The server's view of a call.
#[derive(Debug, Default)]
struct ServerCall {
    received: u64,
    head: Vec<u8>,
    tag: Option<u64>,
    reply_len: u64,
    sent: u64,
    pending: Bytes,
    replying: bool,
    done_sending: bool,
    bad: bool,
}

/// Results of a soak run.
#[derive(Debug)]
struct Report {
    tally: Tally,
    wall: Duration,
    virtual_time: Duration,
    datagrams: u64,
    rss_start_kb: u64,
    rss_peak_kb: u64,
    rss_end_kb: u64,
    peak_calls: usize,
    peak_conns: usize,
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4)
}

struct Soak {
    sim: Sim,
    rng: Rng,
    target: u64,
    tally: Tally,
    server_sock: SocketId,
    next_charge: u64,
    server_calls: HashMap<u64, ServerCall>,
    /// Per client node: socket, calls by user ID, next user ID.
    client_socks: Vec<SocketId>,
    client_calls: Vec<HashMap<u64, ClientCall>>,
    next_id: Vec<u64>,
    /// Pending client abandonments: (when, node, user ID).
    abandon_at: BinaryHeap<Reverse<(Instant, usize, u64)>>,
}

impl Soak {
    fn new(seed: u64, target: u64) -> Self {
        let link = LinkConfig {
            delay: Duration::from_millis(1),
            jitter: Duration::from_micros(300),
            loss: 0.02,
            reorder: 0.01,
            reorder_delay: Duration::from_millis(2),
            duplicate: 0.005,
            ..LinkConfig::default()
        };
        let mut sim = Sim::new(1 + CLIENTS, seed, link, |_, c| {
            c.max_backlog = BACKLOG;
        });
        sim.set_trace_len(0);
        sim.max_steps = u64::MAX;
        let now = sim.now;
        let ep = sim.ep(0);
        let server_sock = ep.open_socket();
        ep.bind_service(server_sock, SVC).expect("bind");
        ep.listen(server_sock, BACKLOG).expect("listen");
        let client_socks = (1..=CLIENTS).map(|n| sim.ep(n).open_socket()).collect();
        let mut s = Soak {
            sim,
            rng: Rng::new(seed ^ 0xca11),
            target,
            tally: Tally::default(),
            server_sock,
            next_charge: 1 << 40,
            server_calls: HashMap::new(),
            client_socks,
            client_calls: (0..CLIENTS).map(|_| HashMap::new()).collect(),
            next_id: vec![1; CLIENTS],
            abandon_at: BinaryHeap::new(),
        };
        s.recharge(now);
        for c in 0..CLIENTS {
            for _ in 0..CALLERS {
                s.start_call(c);
            }
        }
        s
    }

    fn recharge(&mut self, now: Instant) {
        let sock = self.server_sock;
        for _ in 0..BACKLOG {
            if self.sim.ep(0).charged(sock) >= BACKLOG {
                break;
            }
            let id = self.next_charge;
            self.next_charge += 1;
            if self.sim.ep(0).charge_accept(now, sock, id).is_err() {
                break;
            }
        }
    }

    fn start_call(&mut self, c: usize) {
        if self.tally.started >= self.target {
            return;
        }
        self.tally.started += 1;
        let now = self.sim.now;
        let id = self.next_id[c];
        self.next_id[c] += 1;
        let req_len = size(&mut self.rng);
        let tag = ((c as u64 + 1) << 48) | id;
        let abandon = self.rng.chance(P_CLIENT_ABORT);
        let node = c + 1;
        let server = self.sim.nodes[0].addr;
        let sock = self.client_socks[c];
        if let Err(e) = self
            .sim
            .ep(node)
            .begin_call(now, sock, id, CallParams::new(server, SVC))
        {
            self.tally.fail(format!("begin_call: {e}"));
            return;
        }
        if abandon {
            let after = Duration::from_micros(self.rng.next_u64() % 20_000);
            self.abandon_at.push(Reverse((now + after, c, id)));
            self.sim.wake_at(now + after);
        }
        self.client_calls[c].insert(
            id,
            ClientCall {
                tag,
                req_len,
                sent: 0,
                pending: request(tag, req_len),
                done_sending: false,
                received: 0,
                abandon,
            },
        );
        self.pump_client(c, id);
    }

    fn pump_client(&mut self, c: usize, id: u64) {
        let now = self.sim.now;
        let sock = self.client_socks[c];
        let Some(call) = self.client_calls[c].get_mut(&id) else {
            return;
        };
        if call.done_sending {
            return;
        }
        let ep = &mut self.sim.nodes[c + 1].ep;
        match ep.send(now, sock, id, call.pending.clone(), false) {
            Ok(n) => {
                let _ = call.pending.split_to(n.min(call.pending.len()));
                call.sent += n as u64;
                if call.pending.is_empty() {
                    call.done_sending = true;
                }
            }
            Err(rxrpc_proto::CallError::Completed(_)) => {}
            Err(e) => self.tally.fail(format!("client send: {e}")),
        }
    }

    fn client_read(&mut self, c: usize, id: u64) {
        let now = self.sim.now;
        let sock = self.client_socks[c];
        // Bounded by what the call buffers (a receive window).
        for _ in 0..10_000 {
            let Some(call) = self.client_calls[c].get_mut(&id) else {
                return;
            };
            let msg = match self.sim.nodes[c + 1].ep.recv(now, sock, id, 1 << 16) {
                Ok(Some(m)) => m,
                Ok(None) => return,
                Err(e) => {
                    self.tally.fail(format!("client recv: {e}"));
                    return;
                }
            };
            let salt = call.tag ^ 0xffff;
            let rlen = reply_len(if call.req_len >= 8 {
                call.tag
            } else {
                call.req_len
            });
            if !check(salt_for(call, salt), call.received, &msg.data) {
                self.tally
                    .fail(format!("call {:#x}: wrong reply bytes", call.tag));
            }
            call.received += msg.data.len() as u64;
            let Some(t) = msg.terminal else { continue };
            let call = self.client_calls[c].remove(&id).expect("present");
            match t {
                Completion::Succeeded if call.received == rlen && call.sent == call.req_len => {
                    self.tally.succeeded += 1;
                    self.tally.bytes += call.req_len + call.received;
                }
                Completion::RemoteAbort(SERVER_ABORT) => self.tally.server_refused += 1,
                Completion::LocalAbort {
                    code: CLIENT_ABORT,
                    reason: AbortReason::User,
                } if call.abandon => self.tally.client_abandoned += 1,
                ref t if is_timeout(t) => self.tally.timeouts += 1,
                t => self.tally.fail(format!(
                    "call {:#x} ({} B / {} of {rlen} B): {t}",
                    call.tag, call.req_len, call.received
                )),
            }
            self.start_call(c);
            return;
        }
    }

    fn abandon_due(&mut self) {
        let now = self.sim.now;
        while let Some(&Reverse((t, c, id))) = self.abandon_at.peek() {
            if t > now {
                break;
            }
            self.abandon_at.pop();
            if self.client_calls[c].contains_key(&id) {
                let sock = self.client_socks[c];
                let _ = self.sim.ep(c + 1).abort(now, sock, id, CLIENT_ABORT);
                self.client_read(c, id);
            }
        }
    }

    fn server_read(&mut self) {
        let now = self.sim.now;
        let sock = self.server_sock;
        // Bounded by the calls and what they buffer.
        for _ in 0..100_000 {
            let Some(m) = self.sim.ep(0).recvmsg(now, sock, 1 << 16) else {
                break;
            };
            let id = m.user_id;
            let call = self.server_calls.entry(id).or_default();
            if call.head.len() < 8 {
                let take = (8 - call.head.len()).min(m.data.len());
                call.head.extend_from_slice(&m.data[..take]);
                if call.head.len() == 8 {
                    call.tag = Some(u64::from_be_bytes(call.head[..].try_into().expect("8")));
                }
            }
            if let Some(tag) = call.tag {
                // Check what lies after the tag.
                let start = (8u64.saturating_sub(call.received) as usize).min(m.data.len());
                if !check(tag, call.received + start as u64, &m.data[start..]) {
                    call.bad = true;
                }
            }
            call.received += m.data.len() as u64;
            if let Some(t) = m.terminal {
                let call = self.server_calls.remove(&id).expect("present");
                self.tally.server_ended += 1;
                if call.bad {
                    self.tally
                        .fail(format!("server call {id}: wrong request bytes"));
                }
                let ok = match t {
                    Completion::Succeeded => call.done_sending,
                    Completion::RemoteAbort(CLIENT_ABORT) => true,
                    Completion::LocalAbort {
                        code: SERVER_ABORT,
                        reason: AbortReason::User,
                    } => true,
                    ref t => is_timeout(t),
                };
                if !ok {
                    self.tally.fail(format!("server call {id}: {t}"));
                }
                continue;
            }
            if m.end_of_data && !call.replying {
                call.replying = true;
                let key = call.tag.unwrap_or(call.received);
                if call.received < 8 && call.received != 0 && !check(0, 0, &call.head) {
                    call.bad = true;
                }
                if self.rng.chance(P_SERVER_ABORT) {
                    let _ = self.sim.ep(0).abort(now, sock, id, SERVER_ABORT);
                    continue;
                }
                let call = self.server_calls.get_mut(&id).expect("present");
                call.reply_len = reply_len(key);
                call.pending = stream(key ^ 0xffff, 0, call.reply_len as usize);
                self.pump_server(id);
            }
        }
        self.recharge(now);
    }

    fn pump_server(&mut self, id: u64) {
        let now = self.sim.now;
        let sock = self.server_sock;
        let Some(call) = self.server_calls.get_mut(&id) else {
            return;
        };
        if !call.replying || call.done_sending {
            return;
        }
        match self.sim.nodes[0]
            .ep
            .send(now, sock, id, call.pending.clone(), false)
        {
            Ok(n) => {
                let _ = call.pending.split_to(n.min(call.pending.len()));
                call.sent += n as u64;
                if call.pending.is_empty() {
                    call.done_sending = true;
                }
            }
            Err(rxrpc_proto::CallError::Completed(_)) => {}
            Err(e) => self.tally.fail(format!("server send: {e}")),
        }
    }

    fn dispatch(&mut self) {
        self.abandon_due();
        // Bounded: each round consumes queued events.
        for _ in 0..64 {
            let mut any = false;
            for n in 0..=CLIENTS {
                while let Some(ev) = self.sim.nodes[n].events.pop_front() {
                    any = true;
                    match (n, ev) {
                        (0, Event::Writable { user_id, .. }) => self.pump_server(user_id),
                        (0, _) => self.server_read(),
                        (n, Event::Writable { user_id, .. }) => self.pump_client(n - 1, user_id),
                        (n, Event::Readable { user_id, .. }) => self.client_read(n - 1, user_id),
                        _ => {}
                    }
                }
            }
            self.sim.collect();
            self.sim.drain_events();
            if !any {
                break;
            }
        }
    }

    fn run(mut self) -> Report {
        let wall = WallInstant::now();
        let rss_start_kb = rss_kb();
        let (mut rss_peak_kb, mut peak_calls, mut peak_conns) = (rss_start_kb, 0, 0);
        let mut next_sample = 0;
        loop {
            self.dispatch();
            if self.tally.ended() >= self.target {
                break;
            }
            let limit = self.sim.now + Duration::from_secs(60);
            if !self.sim.step(limit) {
                self.tally.fail(format!(
                    "stuck at {:?}: {} of {} calls ended",
                    self.sim.now,
                    self.tally.ended(),
                    self.target
                ));
                break;
            }
            if self.tally.ended() >= next_sample {
                next_sample += 10_000;
                rss_peak_kb = rss_peak_kb.max(rss_kb());
                for n in 0..=CLIENTS {
                    peak_calls = peak_calls.max(self.sim.nodes[n].ep.live_calls());
                    peak_conns = peak_conns.max(self.sim.nodes[n].ep.live_conns());
                }
            }
        }
        // Let the last service calls finish, then close everything and let every timeout
        // pass: nothing may remain.
        let end = self.sim.now + Duration::from_secs(30);
        while self.sim.now < end && self.sim.step(end) {
            self.dispatch();
        }
        let now = self.sim.now;
        let sock = self.server_sock;
        self.sim.ep(0).close_socket(now, sock);
        for c in 0..CLIENTS {
            let s = self.client_socks[c];
            self.sim.ep(c + 1).close_socket(now, s);
        }
        self.sim.advance_to(now + Duration::from_secs(1200));
        for n in 0..=CLIENTS {
            let ep = &self.sim.nodes[n].ep;
            let st = ep.stats();
            if ep.live_calls() + ep.live_conns() + ep.live_peers() != 0
                || st.calls_created != st.calls_freed
            {
                self.tally.fail(format!(
                    "node {n} at the end: {} calls, {} conns, {} peers, {} created / {} freed",
                    ep.live_calls(),
                    ep.live_conns(),
                    ep.live_peers(),
                    st.calls_created,
                    st.calls_freed
                ));
            }
        }
        for v in &self.sim.violations {
            self.tally.fail(v.clone());
        }
        let virtual_time = Duration::from_micros(self.sim.now.as_micros());
        Report {
            datagrams: self.sim.datagrams_sent(),
            tally: self.tally,
            wall: wall.elapsed(),
            virtual_time,
            rss_start_kb,
            rss_peak_kb,
            rss_end_kb: rss_kb(),
            peak_calls,
            peak_conns,
        }
    }
}

/// Requests too short to carry a tag get their reply stream from their length.
fn salt_for(call: &ClientCall, salt: u64) -> u64 {
    if call.req_len >= 8 {
        salt
    } else {
        call.req_len ^ 0xffff
    }
}

fn soak(seed: u64, calls: u64) -> Report {
    let r = Soak::new(seed, calls).run();
    let t = &r.tally;
    println!(
        "soak seed {seed}: {} calls in {:.1} s wall ({:.1} s virtual), {} datagrams\n  \
         succeeded {}, refused by the server {}, abandoned by the client {}, timeouts {}, \
         {} MB checked; server calls ended {}\n  \
         RSS start {} KiB, peak {} KiB, end {} KiB; peak live calls {} / connections {} \
         per endpoint",
        t.ended(),
        r.wall.as_secs_f64(),
        r.virtual_time.as_secs_f64(),
        r.datagrams,
        t.succeeded,
        t.server_refused,
        t.client_abandoned,
        t.timeouts,
        t.bytes / 1_000_000,
        t.server_ended,
        r.rss_start_kb,
        r.rss_peak_kb,
        r.rss_end_kb,
        r.peak_calls,
        r.peak_conns,
    );
    assert!(t.failures.is_empty(), "failures: {:#?}", t.failures);
    assert_eq!(t.ended(), calls);
    r
}

/// A few thousand calls: the soak machinery itself, in every test run.
#[test]
fn soak_smoke() {
    let r = soak(1, 1000);
    assert!(r.tally.succeeded > 900, "{:?}", r.tally);
    assert!(r.tally.server_refused > 0 && r.tally.client_abandoned > 0);
}

/// The full soak: `SOAK_CALLS` calls (default 1,000,000), `SOAK_SEED` (default 7).
#[test]
#[ignore = "long: run in release with --ignored soak (see the module docs)"]
fn soak_full() {
    let calls = std::env::var("SOAK_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let seed = std::env::var("SOAK_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let r = soak(seed, calls);
    // Memory must not grow with the number of calls: the engines' state is bounded.
    assert!(
        r.rss_end_kb < r.rss_start_kb + 256 * 1024,
        "RSS grew from {} to {} KiB",
        r.rss_start_kb,
        r.rss_end_kb
    );
}
