//! The endpoint: the sans-IO heart of rxrpc. It owns sockets, peers, connections and calls for
//! one local UDP address, and is driven by datagrams, commands and the current time.
//!
//! # Poll contract
//!
//! After any input (`handle_*`) or command (`begin_call`, `send`, `recv`, ...), the driver
//! must call [`Endpoint::poll_transmit`] until it returns `None` and put each datagram on the
//! wire, then read [`Endpoint::poll_timeout`] and arrange to call
//! [`Endpoint::handle_timeout`] then, then drain [`Endpoint::poll_event`]. `now` must never go
//! backwards. Calling `handle_timeout` early is harmless.
//!
//! # Sockets and the call lifecycle
//!
//! An endpoint hosts any number of *sockets* in the AF_RXRPC sense: each has a map of user
//! call IDs, may bind up to two service IDs, and may listen with a backlog of charged calls.
//! A call never keeps its socket alive. Only socket-side operations release a call and forget
//! its user ID: [`end_call`](Endpoint::end_call), [`reject_call`](Endpoint::reject_call),
//! delivery of the call's terminal message by [`recv`](Endpoint::recv) /
//! [`recvmsg`](Endpoint::recvmsg), and [`close_socket`](Endpoint::close_socket), which
//! releases every call of the socket at once and aborts the unfinished ones on the wire with
//! `RX_CALL_DEAD`. Completion alone never releases. A call is freed the moment its last holder
//! ([`Holders`](crate::Holders)) lets go.

mod debug;
mod errors;
mod input;
mod limits;
mod peer;
mod process;
mod secure;
mod transmit;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;

use crate::arena::{Arena, Key};
use crate::call::state::{AbortReason, CallState, Completion};
use crate::call::{Call, Side};
use crate::config::{CallParams, EndpointConfig};
use crate::conn::{BundleKey, Conn};
use crate::rng::Rng;
use crate::security::{PeerIdentity, SecurityLevel, ServerSecurityRef};
use crate::stats::{CallSnapshot, ConnSnapshot, PeerSnapshot, Snapshot};
use crate::time::Instant;
use crate::wire::{AbortCode, ConnId, Epoch, SecurityIndex, ServiceId};

/// The engine's hash maps: keys include peer-chosen values (epoch, connection ID, address), so
/// a keyed hash with a per-map random seed (foldhash), much cheaper than SipHash.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// A socket of an endpoint (opaque).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct SocketId(pub(crate) Key);

/// A datagram to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Where to.
    pub destination: SocketAddr,
    /// The UDP payload.
    pub contents: Vec<u8>,
}

/// Something the application may want to act on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A charged (preallocated) service call was attached to an incoming call.
    NewCall {
        /// The listening socket.
        socket: SocketId,
        /// The user ID it was charged with.
        user_id: u64,
    },
    /// The call has data, end of data, or its terminal message to receive.
    Readable {
        /// Owning socket.
        socket: SocketId,
        /// The call.
        user_id: u64,
    },
    /// The call can accept more data to send.
    Writable {
        /// Owning socket.
        socket: SocketId,
        /// The call.
        user_id: u64,
    },
}

/// What a receive returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecvMsg {
    /// The call.
    pub user_id: u64,
    /// In-order data (possibly empty).
    pub data: Bytes,
    /// All of the peer's data for this phase has now been received by the application.
    pub end_of_data: bool,
    /// The call's terminal message. When set, the call has been released: its user ID is
    /// forgotten and may be reused at once.
    pub terminal: Option<Completion>,
    /// The peer's address.
    pub peer: SocketAddr,
    /// The call's service ID (after any upgrade).
    pub service_id: ServiceId,
}

/// Errors of call operations, mirroring the errno values of AF_RXRPC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The user call ID is already in use on this socket (`EEXIST`).
    #[error("user call ID {0} is already in use")]
    DuplicateId(u64),
    /// No call has this user ID on this socket (`EBADSLT`).
    #[error("no call with user call ID {0}")]
    UnknownId(u64),
    /// The call is not in a state that allows this (`EPROTO`/`EBUSY`).
    #[error("call is in state {0} and cannot do that")]
    WrongState(&'static str),
    /// The call has completed (`ESHUTDOWN` or its error).
    #[error("call already completed: {0}")]
    Completed(Completion),
    /// More or less data than the announced total length (`EMSGSIZE`).
    #[error("request length differs from the announced total length")]
    LengthMismatch,
    /// The socket does not exist or was closed.
    #[error("socket is closed")]
    SocketClosed,
    /// The call's parameters are not usable (service 0, unsupported security).
    #[error("invalid call parameters: {0}")]
    InvalidParams(&'static str),
    /// The socket is not listening, or its backlog is full (`ENOBUFS`).
    #[error("cannot charge: {0}")]
    CannotCharge(&'static str),
    /// A resource limit of [`EndpointConfig`] was reached (`ENOBUFS`): too many calls on the
    /// endpoint or the socket, or too many client connections.
    #[error("resource limit reached: {0}")]
    Limit(&'static str),
}

/// Errors of binding a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BindError {
    /// Another socket serves this service ID (`EADDRINUSE`).
    #[error("service {0} is already bound by another socket")]
    InUse(u16),
    /// A socket binds at most two service IDs.
    #[error("a socket binds at most two services")]
    TooMany,
    /// Service ID 0 is not a service.
    #[error("service ID 0 is invalid")]
    Zero,
    /// Upgrade must name the two bound services.
    #[error("upgrade must go between the socket's two bound services")]
    BadUpgrade,
    /// The socket does not exist.
    #[error("socket is closed")]
    SocketClosed,
}

/// `shutdown` found calls still alive: a leak.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0} calls remained after every socket was closed")]
pub struct CallsRemain(pub usize);

/// Counters of an endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointStats {
    /// Datagrams handled.
    pub datagrams_in: u64,
    /// Datagrams queued for sending.
    pub datagrams_out: u64,
    /// Datagrams dropped as undecodable.
    pub malformed: u64,
    /// Datagrams dropped for other reasons (unknown connection, stale call, ...).
    pub dropped: u64,
    /// BUSY packets sent because no call was charged.
    pub busy_sent: u64,
    /// ABORT packets sent.
    pub aborts_sent: u64,
    /// Terminal packets re-sent by a connection for an already-finished call.
    pub terminal_resent: u64,
    /// VERSION replies sent.
    pub version_replies: u64,
    /// Calls created.
    pub calls_created: u64,
    /// Calls freed.
    pub calls_freed: u64,
    /// DATA packets retransmitted.
    pub retransmits: u64,
    /// Packets received, by packet type (index = type, 0 = unknown types).
    pub packets_in: [u64; 14],
    /// Packets sent, by packet type (a jumbo DATA counts once).
    pub packets_out: [u64; 14],
    /// DEBUG requests answered.
    pub debug_replies: u64,
    /// ACKs sent, by reason (index = reason code 1..=9; 0 = other).
    pub acks_out: [u64; 10],
    /// ACKs received on calls, by reason (index = reason code 1..=9; 0 = other).
    pub acks_in: [u64; 10],
    /// Service calls that completed (any way).
    pub service_calls_done: u64,
    /// DATA packets that failed their security class's verification.
    pub verify_failures: u64,
    /// CHALLENGEs sent (service) and answered (client).
    pub challenges_sent: u64,
    /// RESPONSEs sent (client).
    pub responses_sent: u64,
    /// RESPONSEs verified (service).
    pub responses_verified: u64,
    /// RESPONSEs refused (service) or CHALLENGEs refused (client); the connection was aborted.
    pub security_failures: u64,
    /// Connections aborted as a whole (connection-level ABORT sent).
    pub conn_aborts_sent: u64,
    /// DATA packets sent, counting each subpacket of a jumbo packet.
    pub data_subpackets_out: u64,
    /// Jumbo DATA packets sent (datagrams of more than one subpacket).
    pub jumbo_datagrams_out: u64,
}

/// Per-peer counters (the `/proc/net/rxrpc/peers` and rxdebug GETPEER analogue).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerStats {
    /// Packets sent to the peer.
    pub packets_sent: u64,
    /// Packets received from the peer.
    pub packets_received: u64,
    /// Bytes sent (UDP payload).
    pub bytes_sent: u64,
    /// Bytes received (UDP payload).
    pub bytes_received: u64,
    /// DATA packets retransmitted to the peer.
    pub resends: u64,
    /// Smoothed RTT in microseconds, from the last call that measured one.
    pub srtt_us: u64,
    /// RTT variation in microseconds.
    pub rttvar_us: u64,
    /// Connections to or from the peer.
    pub conns: u32,
    /// Largest datagram (UDP payload, Rx header included) we send to the peer: one full DATA
    /// packet (1440) until path-MTU discovery finds more, less if the network reported a
    /// smaller path MTU.
    pub path_mtu: u32,
    /// Most subpackets per jumbo DATA packet we send to the peer now (1: no jumbo).
    pub jumbo_subpackets: u32,
    /// Slow-start threshold the last call to the peer ended with (0: none yet); the next
    /// call starts from it.
    pub ssthresh: u32,
    /// VERSION keepalives sent to the peer.
    pub keepalives: u64,
    /// Path-MTU probes sent to the peer.
    pub mtu_probes: u64,
}

pub(crate) fn reason_index(r: crate::wire::AckReason) -> usize {
    if (1..=9).contains(&r.0) {
        r.0 as usize
    } else {
        0
    }
}

pub(crate) fn type_index(t: crate::wire::PacketType) -> usize {
    if (t.0 as usize) < 14 { t.0 as usize } else { 0 }
}

#[derive(Debug, Default)]
pub(crate) struct Socket {
    services: Vec<ServiceId>,
    upgrade: Option<(ServiceId, ServiceId)>,
    listening: bool,
    backlog: usize,
    charges: VecDeque<Key>,
    user_ids: HashMap<u64, Key>,
    recv_queue: VecDeque<Key>,
    /// Security classes the socket's services accept, besides rxnull.
    security: Vec<ServerSecurityRef>,
    /// Refuse rxnull calls (every caller must authenticate).
    require_security: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum TimerTarget {
    Call(Key),
    Conn(Key),
    /// The peer keepalive.
    Peer(SocketAddr),
}

/// The sans-IO endpoint. See the module documentation for the poll contract.
#[derive(Debug)]
pub struct Endpoint {
    config: EndpointConfig,
    epoch: Epoch,
    next_conn_index: u32,
    sockets: Arena<Socket>,
    pub(crate) calls: Arena<Call>,
    pub(crate) conns: Arena<Conn>,
    /// Client connections by connection ID.
    client_conns: HashMap<ConnId, Key>,
    /// Service connections by (peer, epoch, connection ID).
    service_conns: HashMap<(SocketAddr, Epoch, ConnId), Key>,
    bundles: HashMap<BundleKey, Vec<Key>>,
    /// Calls waiting for a channel, per bundle.
    waiting: HashMap<BundleKey, VecDeque<Key>>,
    /// DATA packets held by unsecured service connections, all together.
    pub(crate) held_total: usize,
    /// Which socket serves which service.
    services: HashMap<ServiceId, Key>,
    pub(crate) transmits: VecDeque<Transmit>,
    /// Buffers of sent datagrams given back by the driver, reused for new ones.
    pub(crate) tx_pool: Vec<Vec<u8>>,
    events: VecDeque<Event>,
    timers: BinaryHeap<Reverse<(Instant, TimerTarget)>>,
    /// The latest `now` given to the endpoint (for ages in snapshots).
    pub(crate) last_now: Instant,
    /// Per-peer state and counters, for peers with connections.
    pub(crate) peers: HashMap<SocketAddr, peer::Peer>,
    /// Calls with work queued.
    pub(crate) attention: VecDeque<Key>,
    stats: EndpointStats,
    /// When connections were last reaped because a limit was reached (see `limits.rs`).
    last_pressure_sweep: Option<Instant>,
}

impl Endpoint {
    /// A new endpoint. `now` is the driver's current time.
    pub fn new(config: EndpointConfig, now: Instant) -> Self {
        let mut rng = Rng::new(config.rng_seed);
        let epoch = Epoch::random_from(rng.next_u32());
        let next_conn_index = (rng.next_u32() % 0x3fff_ff00).max(1);
        Endpoint {
            config,
            epoch,
            next_conn_index,
            sockets: Arena::default(),
            calls: Arena::default(),
            conns: Arena::default(),
            client_conns: HashMap::default(),
            service_conns: HashMap::default(),
            bundles: HashMap::default(),
            waiting: HashMap::default(),
            held_total: 0,
            services: HashMap::default(),
            transmits: VecDeque::new(),
            tx_pool: Vec::new(),
            events: VecDeque::new(),
            timers: BinaryHeap::new(),
            attention: VecDeque::new(),
            peers: HashMap::default(),
            last_now: now,
            stats: EndpointStats::default(),
            last_pressure_sweep: None,
        }
    }

    /// The endpoint's configuration.
    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// The epoch of our client connections.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// Counters.
    pub fn stats(&self) -> EndpointStats {
        self.stats
    }

    /// Number of call objects alive (any state, any holder).
    pub fn live_calls(&self) -> usize {
        self.calls.len()
    }

    /// Entries in the timer heap, live or stale (tests of its bound).
    #[cfg(test)]
    pub(crate) fn timer_entries(&self) -> usize {
        self.timers.len()
    }

    /// Number of connections alive.
    pub fn live_conns(&self) -> usize {
        self.conns.len()
    }

    /// Number of peers the endpoint keeps state for (those with connections).
    pub fn live_peers(&self) -> usize {
        self.peers.len()
    }

    // ----- sockets -------------------------------------------------------------------------

    /// Open a socket. It can make client calls at once; bind services and listen to serve.
    pub fn open_socket(&mut self) -> SocketId {
        SocketId(self.sockets.insert(Socket::default()))
    }

    /// Bind a service ID to the socket (at most two per socket; each ID to one socket).
    pub fn bind_service(&mut self, socket: SocketId, service: ServiceId) -> Result<(), BindError> {
        if service.0 == 0 {
            return Err(BindError::Zero);
        }
        if let Some(&owner) = self.services.get(&service) {
            if owner != socket.0 {
                return Err(BindError::InUse(service.0));
            }
            return Ok(());
        }
        let s = self
            .sockets
            .get_mut(socket.0)
            .ok_or(BindError::SocketClosed)?;
        if s.services.len() >= 2 {
            return Err(BindError::TooMany);
        }
        s.services.push(service);
        self.services.insert(service, socket.0);
        Ok(())
    }

    /// Let the socket's services accept calls secured by `class` (rxkad, rxgk, ...), replacing
    /// any class with the same security index. Incoming connections of that index are
    /// challenged, and their calls are delivered only once the client's RESPONSE is verified.
    pub fn add_server_security(
        &mut self,
        socket: SocketId,
        class: ServerSecurityRef,
    ) -> Result<(), BindError> {
        let s = self
            .sockets
            .get_mut(socket.0)
            .ok_or(BindError::SocketClosed)?;
        let index = class.security_index();
        s.security.retain(|c| c.security_index() != index);
        s.security.push(class);
        Ok(())
    }

    /// Refuse (with `RX_INVALID_OPERATION`) incoming calls without security when `on`; by
    /// default rxnull calls are accepted.
    pub fn set_require_security(&mut self, socket: SocketId, on: bool) -> Result<(), BindError> {
        let s = self
            .sockets
            .get_mut(socket.0)
            .ok_or(BindError::SocketClosed)?;
        s.require_security = on;
        Ok(())
    }

    /// The authenticated identity of the client of a service call (`None` for rxnull calls and
    /// client calls).
    pub fn call_identity(&self, socket: SocketId, user_id: u64) -> Option<Arc<PeerIdentity>> {
        let key = self.lookup(socket, user_id).ok()?;
        let ck = self.calls.get(key)?.conn?;
        self.conns.get(ck)?.identity.clone()
    }

    /// The security index and level of a call's connection.
    pub fn call_security(
        &self,
        socket: SocketId,
        user_id: u64,
    ) -> Option<(SecurityIndex, SecurityLevel)> {
        let key = self.lookup(socket, user_id).ok()?;
        let ck = self.calls.get(key)?.conn?;
        let conn = self.conns.get(ck)?;
        Some((conn.security_index, conn.level()))
    }

    /// Upgrade calls that ask for it from service `from` to `to` (both bound to the socket).
    pub fn set_upgrade(
        &mut self,
        socket: SocketId,
        from: ServiceId,
        to: ServiceId,
    ) -> Result<(), BindError> {
        let s = self
            .sockets
            .get_mut(socket.0)
            .ok_or(BindError::SocketClosed)?;
        if from == to || !s.services.contains(&from) || !s.services.contains(&to) {
            return Err(BindError::BadUpgrade);
        }
        s.upgrade = Some((from, to));
        Ok(())
    }

    /// Start listening with a backlog of at most `backlog` charged calls (capped by
    /// [`EndpointConfig::max_backlog`]). A backlog of 0 stops listening and discards the
    /// charged calls.
    pub fn listen(&mut self, socket: SocketId, backlog: usize) -> Result<(), CallError> {
        let max = self.config.max_backlog;
        let s = self
            .sockets
            .get_mut(socket.0)
            .ok_or(CallError::SocketClosed)?;
        s.backlog = backlog.min(max);
        s.listening = backlog > 0;
        if backlog == 0 {
            let charges: Vec<Key> = s.charges.drain(..).collect();
            for c in charges {
                self.discard_charge(socket.0, c);
            }
        }
        Ok(())
    }

    /// Charge the socket's backlog with a preallocated call carrying `user_id`. The next
    /// incoming call takes it; its first data then appears under that user ID.
    pub fn charge_accept(
        &mut self,
        now: Instant,
        socket: SocketId,
        user_id: u64,
    ) -> Result<(), CallError> {
        let s = self.sockets.get(socket.0).ok_or(CallError::SocketClosed)?;
        if !s.listening {
            return Err(CallError::CannotCharge("socket is not listening"));
        }
        if s.charges.len() >= s.backlog {
            return Err(CallError::CannotCharge("backlog is full"));
        }
        if s.user_ids.contains_key(&user_id) {
            return Err(CallError::DuplicateId(user_id));
        }
        self.admit_call(socket.0)?; // resource bounds (limits.rs)
        let unspecified: SocketAddr = ([0, 0, 0, 0], 0).into();
        let call = Call::new(
            Side::Service,
            socket.0,
            user_id,
            unspecified,
            ServiceId(0),
            &self.config,
            now,
        );
        let key = self.calls.insert(call);
        self.stats.calls_created += 1;
        let s = self
            .sockets
            .get_mut(socket.0)
            .ok_or(CallError::SocketClosed)?;
        s.charges.push_back(key);
        s.user_ids.insert(user_id, key);
        tracing_event(self.epoch, key, "new-prealloc", 1);
        Ok(())
    }

    /// Number of charged calls waiting in the socket's backlog.
    pub fn charged(&self, socket: SocketId) -> usize {
        self.sockets.get(socket.0).map_or(0, |s| s.charges.len())
    }

    /// Begin a client call with `user_id`. Data is sent with [`send`](Self::send).
    pub fn begin_call(
        &mut self,
        now: Instant,
        socket: SocketId,
        user_id: u64,
        params: CallParams,
    ) -> Result<(), CallError> {
        if params.service_id.0 == 0 {
            return Err(CallError::InvalidParams("service ID 0"));
        }
        match &params.security {
            None if params.security_index != SecurityIndex::NULL => {
                return Err(CallError::InvalidParams(
                    "a security index other than 0 needs credentials (CallParams::security)",
                ));
            }
            Some(sec) if sec.security_index() == SecurityIndex::NULL => {
                return Err(CallError::InvalidParams(
                    "credentials must name a security class other than rxnull",
                ));
            }
            _ => {}
        }
        let s = self.sockets.get(socket.0).ok_or(CallError::SocketClosed)?;
        if s.user_ids.contains_key(&user_id) {
            return Err(CallError::DuplicateId(user_id));
        }
        self.admit_call(socket.0)?; // resource bounds (limits.rs)
        self.admit_client_call(now)?;
        let mut call = Call::new(
            Side::Client,
            socket.0,
            user_id,
            params.peer,
            params.service_id,
            &self.config,
            now,
        );
        call.exclusive = params.exclusive;
        call.upgrade = params.upgrade;
        call.tx.total_len = params.tx_total_len;
        call.hard_timeout = params.hard_timeout;
        if let Some(sec) = &params.security {
            let cap = sec.data_capacity(crate::wire::JUMBO_DATALEN);
            if cap == 0 || cap > crate::wire::JUMBO_DATALEN {
                return Err(CallError::InvalidParams(
                    "the security class reports an unusable packet capacity",
                ));
            }
            // A full packet's secured payload is exactly one jumbo subpacket (1412 bytes).
            call.tx.max_payload = cap;
            call.tx.jumbo_payload = cap;
        }
        if let Some(t) = params.idle_timeout {
            call.idle_timeout = t;
        }
        call.holders.io = true;
        let key = self.calls.insert(call);
        self.stats.calls_created += 1;
        if let Some(s) = self.sockets.get_mut(socket.0) {
            s.user_ids.insert(user_id, key);
        }
        tracing_event(self.epoch, key, "new-client", 2);
        self.connect_call(now, key, params.security);
        self.run_attention(now);
        Ok(())
    }

    pub(crate) fn lookup(&self, socket: SocketId, user_id: u64) -> Result<Key, CallError> {
        let s = self.sockets.get(socket.0).ok_or(CallError::SocketClosed)?;
        s.user_ids
            .get(&user_id)
            .copied()
            .ok_or(CallError::UnknownId(user_id))
    }

    /// Queue data on a call. Returns how many bytes were taken (fewer than offered when the
    /// transmit queue is full: wait for [`Event::Writable`]). With `more == false` and all of
    /// `data` taken, this phase of the call ends.
    pub fn send(
        &mut self,
        now: Instant,
        socket: SocketId,
        user_id: u64,
        data: Bytes,
        more: bool,
    ) -> Result<usize, CallError> {
        let key = self.lookup(socket, user_id)?;
        let call = self
            .calls
            .get_mut(key)
            .ok_or(CallError::UnknownId(user_id))?;
        if let CallState::Complete(c) = call.state {
            return Err(CallError::Completed(c));
        }
        if !call.may_send() || call.tx.finished {
            return Err(CallError::WrongState(call.state.proc_name()));
        }
        if let Some(total) = call.tx.total_len {
            let after = call.tx.queued_bytes + data.len() as u64;
            if after > total || (!more && after != total) {
                return Err(CallError::LengthMismatch);
            }
        }
        let offered = data.len();
        let n = call.tx.queue_data(data, more);
        if call.state == CallState::ServerAckRequest && (n > 0 || call.tx.finished) {
            call.enter_server_send_reply();
        }
        let _ = offered;
        self.poke(key);
        self.run_attention(now);
        Ok(n)
    }

    /// Receive from a specific call (the kernel-service style): up to `max` bytes of
    /// in-order data, end of data, and, once everything was read and the call completed, the
    /// terminal message, which releases the call. Returns `Ok(None)` when nothing is ready.
    pub fn recv(
        &mut self,
        now: Instant,
        socket: SocketId,
        user_id: u64,
        max: usize,
    ) -> Result<Option<RecvMsg>, CallError> {
        let key = self.lookup(socket, user_id)?;
        let msg = self.read_call(now, key, max);
        self.run_attention(now);
        Ok(msg)
    }

    /// Receive from whichever call of the socket needs attention first (the AF_RXRPC
    /// `recvmsg` style). Returns `None` when no call has anything to report.
    pub fn recvmsg(&mut self, now: Instant, socket: SocketId, max: usize) -> Option<RecvMsg> {
        loop {
            let s = self.sockets.get_mut(socket.0)?;
            let key = *s.recv_queue.front()?;
            let msg = self.read_call(now, key, max);
            let still = self
                .calls
                .get(key)
                .is_some_and(|c| c.is_readable() && c.holders.user_id);
            if !still {
                if let Some(s) = self.sockets.get_mut(socket.0) {
                    if s.recv_queue.front() == Some(&key) {
                        s.recv_queue.pop_front();
                    }
                }
                if let Some(c) = self.calls.get_mut(key) {
                    c.holders.recv_queue = false;
                    tracing_event(self.epoch, key, "put-recvmsg", c.holders.count());
                }
                self.maybe_free(key);
            }
            self.run_attention(now);
            if msg.is_some() {
                return msg;
            }
        }
    }

    /// Put data back at the front of a call's receive queue (used by drivers whose receive
    /// was cancelled after the data was taken).
    pub fn unrecv(&mut self, socket: SocketId, user_id: u64, data: Bytes) -> Result<(), CallError> {
        let key = self.lookup(socket, user_id)?;
        let call = self
            .calls
            .get_mut(key)
            .ok_or(CallError::UnknownId(user_id))?;
        call.rx.unread(data);
        Ok(())
    }

    /// Abort a call with `code`. The call stays known under its user ID until released.
    pub fn abort(
        &mut self,
        now: Instant,
        socket: SocketId,
        user_id: u64,
        code: AbortCode,
    ) -> Result<(), CallError> {
        let key = self.lookup(socket, user_id)?;
        // An aborted charge must leave the backlog: an incoming call attached to it would hold
        // a completed call on a channel for ever (found by the `endpoint` fuzz target).
        if let Some(s) = self.sockets.get_mut(socket.0) {
            s.charges.retain(|k| *k != key);
        }
        self.local_abort(now, key, code, AbortReason::User);
        self.run_attention(now);
        Ok(())
    }

    /// End a call from the service API: release it (forget its user ID), aborting it with
    /// `RX_CALL_DEAD` first if it has not completed.
    pub fn end_call(
        &mut self,
        now: Instant,
        socket: SocketId,
        user_id: u64,
    ) -> Result<(), CallError> {
        let key = self.lookup(socket, user_id)?;
        self.release_call(now, key, AbortReason::HandleDropped);
        self.run_attention(now);
        Ok(())
    }

    /// Reject an incoming call: abort it with `code` and release it.
    pub fn reject_call(
        &mut self,
        now: Instant,
        socket: SocketId,
        user_id: u64,
        code: AbortCode,
    ) -> Result<(), CallError> {
        let key = self.lookup(socket, user_id)?;
        self.local_abort(now, key, code, AbortReason::Rejected);
        self.release_call(now, key, AbortReason::Rejected);
        self.run_attention(now);
        Ok(())
    }

    /// Close a socket: release every call at once (aborting unfinished ones on the wire with
    /// `RX_CALL_DEAD`), forget every user ID, discard the charged backlog and unbind its
    /// services. When this returns, none of the socket's calls is alive.
    pub fn close_socket(&mut self, now: Instant, socket: SocketId) {
        let Some(s) = self.sockets.get_mut(socket.0) else {
            return;
        };
        let keys: Vec<Key> = s.user_ids.values().copied().collect();
        let queued: Vec<Key> = s.recv_queue.drain(..).collect();
        s.charges.clear();
        let services = std::mem::take(&mut s.services);
        for k in queued {
            if let Some(c) = self.calls.get_mut(k) {
                c.holders.recv_queue = false;
                tracing_event(self.epoch, k, "put-release-recvmsg-q", c.holders.count());
            }
        }
        for k in keys {
            self.release_call(now, k, AbortReason::SocketClosed);
        }
        for svc in services {
            self.services.remove(&svc);
        }
        self.sockets.remove(socket.0);
        // Service connections of this socket lose their owner; they are reaped when idle.
        for (_, c) in self.conns.iter() {
            let _ = c;
        }
        self.run_attention(now);
    }

    /// Close every socket and check that no call remains (a leak otherwise).
    pub fn shutdown(&mut self, now: Instant) -> Result<(), CallsRemain> {
        for k in self.sockets.keys() {
            self.close_socket(now, SocketId(k));
        }
        match self.calls.len() {
            0 => Ok(()),
            n => Err(CallsRemain(n)),
        }
    }

    /// State of a call, if the user ID is known.
    pub fn call_state(&self, socket: SocketId, user_id: u64) -> Option<CallState> {
        let key = self.lookup(socket, user_id).ok()?;
        self.calls.get(key).map(|c| c.state)
    }

    /// The peer address and service ID of a call.
    pub fn call_peer(&self, socket: SocketId, user_id: u64) -> Option<(SocketAddr, ServiceId)> {
        let key = self.lookup(socket, user_id).ok()?;
        self.calls.get(key).map(|c| (c.peer, c.service_id))
    }

    /// Whether `send` would accept at least one more byte on the call now.
    pub fn call_writable(&self, socket: SocketId, user_id: u64) -> bool {
        self.lookup(socket, user_id)
            .ok()
            .and_then(|k| self.calls.get(k))
            .is_some_and(|c| c.may_send() && !c.tx.finished && c.tx.space() > 0)
    }

    /// Whether the call's sending phase is over (its last packet has been queued).
    pub fn call_send_finished(&self, socket: SocketId, user_id: u64) -> bool {
        self.lookup(socket, user_id)
            .ok()
            .and_then(|k| self.calls.get(k))
            .is_some_and(|c| c.tx.finished)
    }

    /// Whether a receive on the call would return something now.
    pub fn call_readable(&self, socket: SocketId, user_id: u64) -> bool {
        self.lookup(socket, user_id)
            .ok()
            .and_then(|k| self.calls.get(k))
            .is_some_and(|c| c.is_readable())
    }

    /// User IDs known on a socket (live calls and charges).
    pub fn user_ids(&self, socket: SocketId) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .sockets
            .get(socket.0)
            .map(|s| s.user_ids.keys().copied().collect())
            .unwrap_or_default();
        v.sort_unstable();
        v
    }

    /// Counters of a peer with which we have connections.
    pub fn peer_stats(&self, peer: SocketAddr) -> Option<PeerStats> {
        self.peers.get(&peer).map(|p| p.stats)
    }

    /// A `/proc/net/rxrpc`-like picture of calls, connections, peers and counters. The
    /// ages and timeouts in it are relative to the last `now` the endpoint was given.
    pub fn snapshot(&self) -> Snapshot {
        let now = self.last_now;
        let calls = self
            .calls
            .iter()
            .map(|(key, c)| {
                let cid = c
                    .conn
                    .and_then(|k| self.conns.get(k))
                    .map(|conn| conn.cid.0 | u32::from(c.channel.0))
                    .unwrap_or(0);
                CallSnapshot {
                    debug_id: key.index,
                    socket: c.socket.index,
                    remote: c.peer,
                    service_id: c.service_id.0,
                    cid,
                    call_number: c.call_number.0,
                    user_id: c.user_id,
                    state: c.state.proc_name(),
                    abort_code: match c.state {
                        CallState::Complete(comp) => comp.abort_code().map(|a| a.0),
                        _ => None,
                    },
                    holders: c.holders,
                    side: c.side,
                    tx_bottom: c.tx.bottom.0,
                    tx_top: c.tx.top.0,
                    rx_hard_ack: c.rx.hard_ack.0,
                    rx_window: c.rx.rwind(),
                    rx_serial: c.rx.last_serial.0,
                    cwnd: c.tx.cwnd(),
                    rx_timeout_ms: c
                        .timers
                        .expect_rx_by
                        .map(|t| (t.saturating_since(now)).as_millis() as u64),
                }
            })
            .collect();
        let conns = self
            .conns
            .iter()
            .map(|(key, c)| ConnSnapshot {
                debug_id: key.index,
                remote: c.peer,
                service_id: c.service_id.0,
                cid: c.cid.0,
                epoch: c.epoch.0,
                side: c.side,
                state: match (c.aborted, c.side) {
                    (Some(_), _) => "Aborted",
                    (None, Side::Client) => "Client",
                    (None, Side::Service) => "SvSecure",
                },
                security_index: c.security_index.0,
                active_calls: c.active_calls(),
                call_numbers: [0, 1, 2, 3].map(|i| c.channels[i].call_number.0),
                tx_serial: c.tx_serial.0,
                hi_serial: c.hi_serial.0,
            })
            .collect();
        let mut peers: Vec<PeerSnapshot> = self
            .peers
            .iter()
            .map(|(a, p)| PeerSnapshot {
                remote: *a,
                stats: p.stats,
            })
            .collect();
        peers.sort_by_key(|p| p.remote);
        Snapshot {
            calls,
            conns,
            peers,
            sockets: self.sockets.len(),
            stats: self.stats,
            local: None,
        }
    }

    // ----- outputs -------------------------------------------------------------------------

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Give back the buffer of a sent [`Transmit`] for reuse by later datagrams (optional: a
    /// driver that drops its transmits just costs an allocation per datagram).
    pub fn recycle_transmit(&mut self, mut contents: Vec<u8>) {
        if self.tx_pool.len() < TX_POOL_MAX && contents.capacity() <= TX_BUF_MAX {
            contents.clear();
            self.tx_pool.push(contents);
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((t, _))| *t)
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}

/// Most buffers kept for reuse, and the largest kept.
const TX_POOL_MAX: usize = 512;
const TX_BUF_MAX: usize = 16 << 10;

/// An empty buffer with room for `cap` bytes, reused from `pool` when possible.
pub(crate) fn take_buf(pool: &mut Vec<Vec<u8>>, cap: usize) -> Vec<u8> {
    match pool.pop() {
        Some(mut b) => {
            b.reserve(cap);
            b
        }
        None => Vec::with_capacity(cap),
    }
}

/// Trace a holder change of a call, like the kernel's `rxrpc_call` reference tracepoint:
/// which call, why, and how many holders remain. Enable with target `rxrpc::call` at TRACE.
pub(crate) fn tracing_event(endpoint: Epoch, key: Key, why: &'static str, holders: u32) {
    tracing::trace!(
        target: "rxrpc::call",
        endpoint = endpoint.0,
        call = key.index,
        generation = key.generation,
        why,
        holders,
        "call ref"
    );
}
