//! Applications on the simulated network: RPC clients and servers that stream generated
//! data, check every received byte against the generator, and record how each call ended.
//!
//! They drive the engine through its public API only, the way a driver would: begin a call,
//! `send` until the engine stops accepting, wait for [`Event::Writable`], read on
//! [`Event::Readable`] (servers with `recvmsg`, clients with `recv`), keep the accept backlog
//! charged.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use rxrpc_proto::wire::{AbortCode, ServiceId};
use rxrpc_proto::{AbortReason, CallParams, Completion, Event, Instant, SocketId};

use crate::sim::{Sim, Stop};

/// The service every server offers.
pub(crate) const SVC: ServiceId = ServiceId(4242);
/// How much an application offers to `send` at once.
const SEND_CHUNK: usize = 64 * 1024;
/// How much an application asks `recv` for at once.
const RECV_MAX: usize = 64 * 1024;
/// Charged calls a server keeps in its backlog.
const BACKLOG: usize = 8;

// ----- data -------------------------------------------------------------------------------

/// Byte `off` of the stream with `salt`: a hash of the position, so reordered, duplicated,
/// shifted or foreign data never matches.
pub(crate) fn pattern_byte(salt: u64, off: u64) -> u8 {
    let mut z = off
        .wrapping_add(salt.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z ^= z >> 29;
    z = z.wrapping_mul(0x94d0_49bb_1331_11eb);
    (z >> 56) as u8
}

/// `len` bytes of the stream with `salt` from offset `off`.
pub(crate) fn pattern(salt: u64, off: u64, len: usize) -> Bytes {
    (0..len as u64)
        .map(|i| pattern_byte(salt, off + i))
        .collect()
}

/// Check `data` against the stream at `off`: the offset of the first wrong byte.
fn check(salt: u64, off: u64, data: &[u8]) -> Option<u64> {
    data.iter()
        .enumerate()
        .find(|&(i, &b)| b != pattern_byte(salt, off + i as u64))
        .map(|(i, _)| off + i as u64)
}

fn req_salt(tag: u64) -> u64 {
    tag * 2 + 1
}
fn reply_salt(tag: u64) -> u64 {
    tag * 2 + 2
}

// ----- outcomes ---------------------------------------------------------------------------

/// Whether a completion is one of the documented timeouts: `RX_CALL_TIMEOUT` (nothing heard)
/// or `RX_CALL_DEAD` (peer alive, call ignored), ours or the peer's.
pub(crate) fn is_documented_timeout(c: &Completion) -> bool {
    match c {
        Completion::LocalAbort { code, reason } => {
            matches!(*code, AbortCode::RX_CALL_TIMEOUT | AbortCode::RX_CALL_DEAD)
                && matches!(
                    reason,
                    AbortReason::IdleTimeout
                        | AbortReason::RequestTimeout
                        | AbortReason::HardTimeout
                        | AbortReason::CallReset
                        // A service call whose client gave up and reused the channel.
                        | AbortReason::ImplicitEnd
                )
        }
        Completion::RemoteAbort(code) => {
            matches!(*code, AbortCode::RX_CALL_TIMEOUT | AbortCode::RX_CALL_DEAD)
        }
        _ => false,
    }
}

/// Short name of a completion for tables.
pub(crate) fn short(c: Option<&Completion>) -> String {
    match c {
        None => "none".into(),
        Some(Completion::Succeeded) => "ok".into(),
        Some(Completion::LocalAbort { code, .. }) => {
            format!("L:{}", code.name().unwrap_or("?").trim_start_matches("RX_"))
        }
        Some(Completion::RemoteAbort(code)) => {
            format!("R:{}", code.name().unwrap_or("?").trim_start_matches("RX_"))
        }
        Some(other) => other.proc_name().into(),
    }
}

/// A slow reader: at most `bytes` per `period`, across all the application's calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pace {
    /// Bytes per period.
    pub(crate) bytes: usize,
    /// The period.
    pub(crate) period: Duration,
}

/// Read-pacing state of an application.
#[derive(Clone, Debug, Default)]
struct Reader {
    pace: Option<Pace>,
    /// Budget left in the current period, and when the next period starts.
    budget: usize,
    next: Option<Instant>,
    /// A read was deferred to the next period.
    deferred: bool,
}

impl Reader {
    /// How much may be read now (`usize::MAX` without pacing).
    fn allowance(&mut self, sim: &mut Sim) -> usize {
        let Some(p) = self.pace else {
            return usize::MAX;
        };
        let now = sim.now;
        if self.next.is_none_or(|t| t <= now) {
            self.budget = p.bytes;
            self.next = Some(now + p.period);
        }
        self.budget
    }

    fn consumed(&mut self, n: usize) {
        if self.pace.is_some() {
            self.budget = self.budget.saturating_sub(n);
        }
    }

    /// Out of budget with data left: come back next period.
    fn defer(&mut self, sim: &mut Sim) {
        if let Some(t) = self.next {
            self.deferred = true;
            sim.wake_at(t);
        }
    }

    /// A deferred read is due.
    fn due(&mut self, now: Instant) -> bool {
        if self.deferred && self.next.is_some_and(|t| t <= now) {
            self.deferred = false;
            return true;
        }
        false
    }
}

/// What a call should carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CallSpec {
    /// Request bytes.
    pub(crate) req_len: u64,
    /// Reply bytes.
    pub(crate) reply_len: u64,
    /// Distinguishes the data of different calls.
    pub(crate) tag: u64,
    /// The client stops sending the request after this many bytes for this long.
    pub(crate) pause: Option<(u64, Duration)>,
}

/// The client's view of one call.
#[derive(Clone, Debug)]
pub(crate) struct ClientCall {
    /// What the call carries.
    pub(crate) spec: CallSpec,
    /// When it began.
    pub(crate) started: Instant,
    /// The request.
    pub(crate) tx: Sender,
    /// Reply bytes received (all checked).
    pub(crate) received: u64,
    /// End of the reply was reported.
    pub(crate) end_of_data: bool,
    /// The terminal message.
    pub(crate) terminal: Option<Completion>,
    /// When the terminal message was read.
    pub(crate) ended: Option<Instant>,
    /// Anything that went wrong on the application side (bad data, API errors).
    pub(crate) errors: Vec<String>,
    /// When a paused request resumes.
    pub(crate) resume_at: Option<Instant>,
}

/// The server's view of one call.
#[derive(Clone, Debug, Default)]
pub(crate) struct ServerCall {
    /// The matching client call, once identified: (client node, user ID, spec).
    pub(crate) client: Option<(usize, u64, CallSpec)>,
    /// Request bytes received (all checked).
    pub(crate) received: u64,
    /// End of the request was reported.
    pub(crate) end_of_data: bool,
    /// The reply.
    pub(crate) tx: Sender,
    /// The terminal message.
    pub(crate) terminal: Option<Completion>,
    /// When the terminal message was read.
    pub(crate) ended: Option<Instant>,
    /// Anything that went wrong.
    pub(crate) errors: Vec<String>,
}

/// A client application on a node.
#[derive(Debug)]
pub(crate) struct Client {
    /// Node index.
    pub(crate) node: usize,
    /// Its socket.
    pub(crate) socket: SocketId,
    /// Calls by user ID.
    pub(crate) calls: BTreeMap<u64, ClientCall>,
    next_id: u64,
    reader: Reader,
}

/// A server application on a node.
#[derive(Debug)]
pub(crate) struct Server {
    /// Node index.
    pub(crate) node: usize,
    /// Its listening socket.
    pub(crate) socket: SocketId,
    /// Calls by user ID (charges appear once a call arrives).
    pub(crate) calls: BTreeMap<u64, ServerCall>,
    next_charge: u64,
    reader: Reader,
}

/// The simulated network with its applications.
pub(crate) struct World {
    /// The network.
    pub(crate) sim: Sim,
    /// Client applications.
    pub(crate) clients: Vec<Client>,
    /// Server applications.
    pub(crate) servers: Vec<Server>,
}

impl fmt::Debug for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("World")
            .field("sim", &self.sim)
            .finish_non_exhaustive()
    }
}

impl World {
    /// A world on `sim` without applications.
    pub(crate) fn new(sim: Sim) -> Self {
        World {
            sim,
            clients: Vec::new(),
            servers: Vec::new(),
        }
    }

    /// Start a server on `node`: bind [`SVC`], listen, charge the backlog. Returns its index.
    pub(crate) fn add_server(&mut self, node: usize) -> usize {
        let now = self.sim.now;
        let ep = self.sim.ep(node);
        let socket = ep.open_socket();
        ep.bind_service(socket, SVC).expect("bind");
        ep.listen(socket, BACKLOG).expect("listen");
        let mut s = Server {
            node,
            socket,
            calls: BTreeMap::new(),
            next_charge: 1_000_000,
            reader: Reader::default(),
        };
        recharge(&mut self.sim, node, socket, &mut s.next_charge, now);
        self.servers.push(s);
        self.servers.len() - 1
    }

    /// Start a client on `node` (one per node). Returns its index.
    pub(crate) fn add_client(&mut self, node: usize) -> usize {
        assert!(
            self.clients.iter().all(|c| c.node != node),
            "one client per node"
        );
        let socket = self.sim.ep(node).open_socket();
        self.clients.push(Client {
            node,
            socket,
            calls: BTreeMap::new(),
            next_id: 1,
            reader: Reader::default(),
        });
        self.clients.len() - 1
    }

    /// Make client `c` a slow reader.
    pub(crate) fn pace_client(&mut self, c: usize, pace: Pace) {
        self.clients[c].reader.pace = Some(pace);
    }

    /// Make server `s` a slow reader.
    pub(crate) fn pace_server(&mut self, s: usize, pace: Pace) {
        self.servers[s].reader.pace = Some(pace);
    }

    /// Begin a call from client `c` to the server on node `server_node`. Returns its user ID.
    pub(crate) fn call(
        &mut self,
        c: usize,
        server_node: usize,
        req_len: u64,
        reply_len: u64,
    ) -> u64 {
        self.call_with(c, server_node, req_len, reply_len, |p| p)
    }

    /// [`call`](Self::call) with adjusted call parameters.
    pub(crate) fn call_with(
        &mut self,
        c: usize,
        server_node: usize,
        req_len: u64,
        reply_len: u64,
        params: impl FnOnce(CallParams) -> CallParams,
    ) -> u64 {
        self.start_call(c, server_node, (req_len, reply_len), None, params)
    }

    fn start_call(
        &mut self,
        c: usize,
        server_node: usize,
        (req_len, reply_len): (u64, u64),
        pause: Option<(u64, Duration)>,
        params: impl FnOnce(CallParams) -> CallParams,
    ) -> u64 {
        let now = self.sim.now;
        let server = self.sim.nodes[server_node].addr;
        let cl = &mut self.clients[c];
        let id = cl.next_id;
        cl.next_id += 1;
        let tag = (cl.node as u64) << 32 | id;
        let spec = CallSpec {
            req_len,
            reply_len,
            tag,
            pause,
        };
        let p = params(CallParams::new(server, SVC));
        let node = cl.node;
        let socket = cl.socket;
        let mut call = ClientCall {
            spec,
            started: now,
            tx: Sender::default(),
            received: 0,
            end_of_data: false,
            terminal: None,
            ended: None,
            errors: Vec::new(),
            resume_at: None,
        };
        if let Err(e) = self.sim.ep(node).begin_call(now, socket, id, p) {
            call.errors.push(format!("begin_call: {e}"));
        }
        self.clients[c].calls.insert(id, call);
        self.pump_client_send(c, id);
        id
    }

    /// [`call`](Self::call) whose request pauses for `pause` after `pause_at` bytes.
    pub(crate) fn call_paused(
        &mut self,
        c: usize,
        server_node: usize,
        req_len: u64,
        reply_len: u64,
        pause_at: u64,
        pause: Duration,
    ) -> u64 {
        let pause = Some((pause_at.min(req_len), pause));
        self.start_call(c, server_node, (req_len, reply_len), pause, |p| p)
    }

    /// Every client call has its terminal message and every server call that appeared has
    /// its own.
    pub(crate) fn all_done(&self) -> bool {
        self.clients
            .iter()
            .all(|c| c.calls.values().all(|k| k.terminal.is_some()))
            && self
                .servers
                .iter()
                .all(|s| s.calls.values().all(|k| k.terminal.is_some()))
    }

    /// Every client call has its terminal message.
    pub(crate) fn clients_done(&self) -> bool {
        self.clients
            .iter()
            .all(|c| c.calls.values().all(|k| k.terminal.is_some()))
    }

    /// Run the network and the applications until `done` holds, `max` virtual time passes,
    /// the world goes idle, or the step budget runs out.
    pub(crate) fn run_until(
        &mut self,
        max: Duration,
        mut done: impl FnMut(&World) -> bool,
    ) -> Stop {
        let limit = self.sim.now + max;
        let (mut last, mut same) = (self.sim.now, 0u32);
        loop {
            self.dispatch();
            if done(self) {
                return Stop::Done;
            }
            if self.sim.steps >= self.sim.max_steps {
                return Stop::StepLimit;
            }
            // A million steps without the clock moving is a livelock.
            if self.sim.now == last {
                same += 1;
                if same > 1_000_000 {
                    return Stop::StepLimit;
                }
            } else {
                (last, same) = (self.sim.now, 0);
            }
            if !self.sim.step(limit) {
                self.dispatch();
                if done(self) {
                    return Stop::Done;
                }
                return if self.sim.now >= limit {
                    Stop::TimeLimit
                } else {
                    Stop::Idle
                };
            }
        }
    }

    /// Let the applications react to their endpoints' events.
    pub(crate) fn dispatch(&mut self) {
        self.sim.collect();
        self.sim.drain_events();
        let now = self.sim.now;
        for si in 0..self.servers.len() {
            if self.servers[si].reader.due(now) {
                self.server_read(si);
            }
        }
        for ci in 0..self.clients.len() {
            let resuming: Vec<u64> = self.clients[ci]
                .calls
                .iter()
                .filter(|(_, k)| k.resume_at == Some(now))
                .map(|(id, _)| *id)
                .collect();
            for id in resuming {
                self.pump_client_send(ci, id);
            }
            if self.clients[ci].reader.due(now) {
                let ids: Vec<u64> = self.clients[ci].calls.keys().copied().collect();
                for id in ids {
                    self.client_read(ci, id);
                }
            }
        }
        // Bounded: each round consumes queued events; reactions may queue a few more.
        for _ in 0..64 {
            let mut any = false;
            for n in 0..self.sim.nodes.len() {
                while let Some(ev) = self.sim.nodes[n].events.pop_front() {
                    any = true;
                    self.on_event(n, ev);
                }
            }
            self.sim.collect();
            self.sim.drain_events();
            if !any {
                break;
            }
        }
    }

    fn on_event(&mut self, node: usize, ev: Event) {
        let (socket, user_id) = match ev {
            Event::NewCall { socket, user_id }
            | Event::Readable { socket, user_id }
            | Event::Writable { socket, user_id } => (socket, user_id),
            _ => return,
        };
        if let Some(si) = self
            .servers
            .iter()
            .position(|s| s.node == node && s.socket == socket)
        {
            match ev {
                Event::Writable { .. } => self.pump_server_send(si, user_id),
                Event::NewCall { .. } => {
                    // Identify the client call now: a slow reader may first read the call
                    // after the client has given up on it and forgotten it.
                    self.server_identify(si, user_id);
                    self.server_read(si);
                }
                _ => self.server_read(si),
            }
            return;
        }
        if let Some(ci) = self
            .clients
            .iter()
            .position(|c| c.node == node && c.socket == socket)
        {
            match ev {
                Event::Writable { .. } => self.pump_client_send(ci, user_id),
                Event::Readable { .. } => self.client_read(ci, user_id),
                _ => {}
            }
        }
    }

    fn pump_client_send(&mut self, ci: usize, id: u64) {
        let now = self.sim.now;
        let Client {
            node,
            socket,
            calls,
            ..
        } = &mut self.clients[ci];
        let Some(call) = calls.get_mut(&id) else {
            return;
        };
        if call.terminal.is_some() {
            return;
        }
        // A paused request stops at its pause point until the pause is over.
        let total = call.spec.req_len;
        let limit = match (call.spec.pause, call.resume_at) {
            (Some((at, _)), None) => at,
            (Some((at, _)), Some(t)) if now < t => at,
            _ => total,
        };
        let ep = &mut self.sim.nodes[*node].ep;
        let salt = req_salt(call.spec.tag);
        call.tx
            .pump(ep, now, *socket, id, salt, (total, limit), &mut call.errors);
        if let (Some((at, d)), None) = (call.spec.pause, call.resume_at) {
            if call.tx.sent >= at {
                let t = now + d;
                call.resume_at = Some(t);
                self.sim.wake_at(t);
            }
        }
    }

    fn pump_server_send(&mut self, si: usize, id: u64) {
        let now = self.sim.now;
        let Server {
            node,
            socket,
            calls,
            ..
        } = &mut self.servers[si];
        let Some(call) = calls.get_mut(&id) else {
            return;
        };
        let Some((_, _, spec)) = call.client else {
            return;
        };
        if !call.end_of_data || call.terminal.is_some() {
            return;
        }
        let ep = &mut self.sim.nodes[*node].ep;
        call.tx.pump(
            ep,
            now,
            *socket,
            id,
            reply_salt(spec.tag),
            (spec.reply_len, spec.reply_len),
            &mut call.errors,
        );
    }

    fn client_read(&mut self, ci: usize, id: u64) {
        let now = self.sim.now;
        let Client {
            node,
            socket,
            calls,
            reader,
            ..
        } = &mut self.clients[ci];
        let Some(call) = calls.get_mut(&id) else {
            return;
        };
        if call.terminal.is_some() {
            return;
        }
        // Bounded by the data buffered in the call (at most a receive window).
        for _ in 0..100_000 {
            let allowed = reader.allowance(&mut self.sim);
            if allowed == 0 {
                reader.defer(&mut self.sim);
                return;
            }
            let ep = &mut self.sim.nodes[*node].ep;
            match ep.recv(now, *socket, id, RECV_MAX.min(allowed)) {
                Ok(Some(m)) => {
                    reader.consumed(m.data.len());
                    let salt = reply_salt(call.spec.tag);
                    if let Some(bad) = check(salt, call.received, &m.data) {
                        call.errors.push(format!("reply byte {bad} is wrong"));
                    }
                    call.received += m.data.len() as u64;
                    if call.received > call.spec.reply_len {
                        call.errors
                            .push(format!("reply has {} bytes, too many", call.received));
                    }
                    if m.end_of_data {
                        call.end_of_data = true;
                    }
                    if let Some(t) = m.terminal {
                        call.terminal = Some(t);
                        call.ended = Some(now);
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    call.errors.push(format!("recv: {e}"));
                    return;
                }
            }
        }
    }

    fn server_read(&mut self, si: usize) {
        let now = self.sim.now;
        let (node, socket) = (self.servers[si].node, self.servers[si].socket);
        // Bounded by the calls and the data buffered in them.
        for _ in 0..100_000 {
            let allowed = self.servers[si].reader.allowance(&mut self.sim);
            if allowed == 0 {
                self.servers[si].reader.defer(&mut self.sim);
                break;
            }
            let Some(m) = self
                .sim
                .ep(node)
                .recvmsg(now, socket, RECV_MAX.min(allowed))
            else {
                break;
            };
            self.servers[si].reader.consumed(m.data.len());
            let id = m.user_id;
            let known = self.servers[si]
                .calls
                .get(&id)
                .is_some_and(|c| c.client.is_some());
            if !known && !self.server_identify(si, id) {
                self.servers[si]
                    .calls
                    .entry(id)
                    .or_default()
                    .errors
                    .push("cannot find the client call of this service call".into());
            }
            let call = self.servers[si].calls.entry(id).or_default();
            if let Some((_, _, spec)) = call.client {
                if let Some(bad) = check(req_salt(spec.tag), call.received, &m.data) {
                    call.errors.push(format!("request byte {bad} is wrong"));
                }
                if call.received + m.data.len() as u64 > spec.req_len {
                    call.errors.push("request too long".into());
                }
            }
            call.received += m.data.len() as u64;
            let start_reply = m.end_of_data && !call.end_of_data && m.terminal.is_none();
            if m.end_of_data {
                call.end_of_data = true;
            }
            if let Some(t) = m.terminal {
                call.terminal = Some(t);
                call.ended = Some(now);
            }
            if start_reply {
                self.pump_server_send(si, id);
            }
        }
        let s = &mut self.servers[si];
        recharge(&mut self.sim, s.node, s.socket, &mut s.next_charge, now);
    }

    /// Match service call `id` of server `si` with its client call, once. Returns whether the
    /// call is identified.
    fn server_identify(&mut self, si: usize, id: u64) -> bool {
        if let Some(c) = self.servers[si].calls.get(&id) {
            if c.client.is_some() {
                return true;
            }
        }
        let client = self.identify(self.servers[si].node, id);
        if client.is_some() {
            self.servers[si].calls.entry(id).or_default().client = client;
        }
        client.is_some()
    }

    /// Find the client call behind a service call by matching connection ID and call number
    /// in both endpoints' snapshots.
    fn identify(&mut self, node: usize, id: u64) -> Option<(usize, u64, CallSpec)> {
        let snap = self.sim.nodes[node].ep.snapshot();
        let me = self.sim.nodes[node].addr;
        let sc = snap.calls.iter().find(|c| c.user_id == id && c.cid != 0)?;
        let cnode = self.sim.node_of(sc.remote)?;
        let csnap = self.sim.nodes[cnode].ep.snapshot();
        let cc = csnap
            .calls
            .iter()
            .find(|c| c.cid == sc.cid && c.call_number == sc.call_number && c.remote == me)?;
        let ci = self.clients.iter().position(|c| c.node == cnode)?;
        let spec = self.clients[ci].calls.get(&cc.user_id)?.spec;
        Some((ci, cc.user_id, spec))
    }

    /// Everything wrong with the calls: data errors, missing bytes, completions other than
    /// success or a documented timeout. Empty when all is well.
    pub(crate) fn verdicts(&self) -> Vec<String> {
        let mut out = self.sim.violations.clone();
        for (ci, c) in self.clients.iter().enumerate() {
            for (id, k) in &c.calls {
                let who = format!("client {ci} call {id}");
                for e in &k.errors {
                    out.push(format!("{who}: {e}"));
                }
                match &k.terminal {
                    None => out.push(format!("{who}: no terminal message")),
                    Some(Completion::Succeeded) => {
                        if k.received != k.spec.reply_len || !k.end_of_data {
                            out.push(format!(
                                "{who}: succeeded with {} of {} reply bytes",
                                k.received, k.spec.reply_len
                            ));
                        }
                        if !k.tx.done || k.tx.sent != k.spec.req_len {
                            out.push(format!("{who}: succeeded before the request was sent"));
                        }
                    }
                    Some(t) if is_documented_timeout(t) => {}
                    Some(t) => out.push(format!("{who}: ended with {t}")),
                }
            }
        }
        for (si, s) in self.servers.iter().enumerate() {
            for (id, k) in &s.calls {
                let who = format!("server {si} call {id}");
                for e in &k.errors {
                    out.push(format!("{who}: {e}"));
                }
                let Some((_, _, spec)) = k.client else {
                    continue;
                };
                match &k.terminal {
                    None => out.push(format!("{who}: no terminal message")),
                    Some(Completion::Succeeded) => {
                        if k.received != spec.req_len || !k.end_of_data {
                            out.push(format!(
                                "{who}: succeeded with {} of {} request bytes",
                                k.received, spec.req_len
                            ));
                        }
                        if !k.tx.done || k.tx.sent != spec.reply_len {
                            out.push(format!("{who}: succeeded before the reply was sent"));
                        }
                    }
                    Some(t) if is_documented_timeout(t) => {}
                    Some(t) => out.push(format!("{who}: ended with {t}")),
                }
            }
        }
        out
    }
}

fn recharge(sim: &mut Sim, node: usize, socket: SocketId, next: &mut u64, now: Instant) {
    let ep = sim.ep(node);
    // Bounded by the backlog size.
    for _ in 0..BACKLOG {
        if ep.charged(socket) >= BACKLOG {
            break;
        }
        let id = *next;
        *next += 1;
        if ep.charge_accept(now, socket, id).is_err() {
            break;
        }
    }
}

/// The sending half of a call on the application side.
#[derive(Clone, Debug, Default)]
pub(crate) struct Sender {
    /// Bytes accepted by `send`.
    pub(crate) sent: u64,
    /// The phase was ended (everything accepted with `more == false`).
    pub(crate) done: bool,
    /// Generated but not yet accepted.
    pending: Bytes,
}

impl Sender {
    /// Offer generated data to `send` until the engine stops accepting, the phase is over,
    /// or `limit` of the `total` bytes were sent (`(total, limit)`).
    #[allow(clippy::too_many_arguments)]
    fn pump(
        &mut self,
        ep: &mut rxrpc_proto::Endpoint,
        now: Instant,
        socket: SocketId,
        id: u64,
        salt: u64,
        (total, limit): (u64, u64),
        errors: &mut Vec<String>,
    ) {
        // Bounded: each round either takes the whole pending chunk or stops.
        for _ in 0..1_000_000 {
            if self.done {
                return;
            }
            if self.pending.is_empty() {
                let off = self.sent;
                if off >= limit && limit < total {
                    return; // paused
                }
                let n = (limit.min(total) - off).min(SEND_CHUNK as u64) as usize;
                self.pending = pattern(salt, off, n);
            }
            let n = self.pending.len();
            let more = self.sent + (n as u64) < total;
            match ep.send(now, socket, id, self.pending.clone(), more) {
                Ok(k) => {
                    let _ = self.pending.split_to(k.min(n));
                    self.sent += k as u64;
                    if k < n {
                        return; // wait for Writable
                    }
                    if !more {
                        self.done = true;
                    }
                }
                Err(e) => {
                    // The call may have completed (a timeout) under us: not an application
                    // error.
                    if !matches!(e, rxrpc_proto::CallError::Completed(_)) {
                        errors.push(format!("send: {e}"));
                    }
                    return;
                }
            }
        }
    }
}
