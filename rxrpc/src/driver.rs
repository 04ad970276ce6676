//! The endpoint driver: one tokio task per UDP endpoint that owns the sans-IO
//! [`Endpoint`], the UDP socket, the command channel and the timer.
//!
//! Layer: the runtime glue, playing the part of the Linux I/O thread. Application handles
//! ([`RxEndpoint`](crate::RxEndpoint), [`RxSocket`](crate::socket::RxSocket),
//! [`Call`](crate::Call), [`Listener`](crate::Listener)) never touch the endpoint: they send a
//! [`Command`] with a oneshot reply and await it.
//!
//! # Loop
//!
//! ```text
//! select { socket readable -> recvmmsg batches (GRO-coalesced runs split again)
//!                             -> handle_datagram, one datagram at a time
//!          socket error    -> error queue (IP_RECVERR) -> handle_transport_error
//!          command         -> run it (and up to BATCH more already queued)
//!          timer           -> handle_timeout }
//! then, until nothing moves: poll_transmit -> sendmmsg (runs of equal-size datagrams to one
//!                                             peer as one GSO message; await writable on
//!                                             WouldBlock; failures -> handle_send_error),
//!                            poll_event    -> new incoming calls, calls to retry,
//!                            sweep         -> retry the parked operations that may move
//! then re-arm the timer from poll_timeout
//! ```
//!
//! The system calls tokio lacks live in [`crate::sys`]. The clock is read once per wake-up.
//!
//! Operations that cannot finish at once (a receive with no data, a send into a full transmit
//! queue, an accept with no incoming call, waiting for a completion) are *parked* here, in
//! per-call and per-socket queues. The sweep retries those of the calls and sockets named since
//! the last sweep by a command or by an endpoint event (`Readable`, `Writable`, `NewCall`), and
//! sends waiting for queue room after any datagram arrives. As a safety net against a state
//! change that raises no event, every parked operation is retried after each timer and at
//! least every [`PUBLISH_EVERY`] while the driver is busy.
//!
//! # Exit
//!
//! Every handle holds an `Arc` of [`Shared`], which owns the only strong command sender. When
//! the last handle is dropped the channel closes after the handles' final commands (end call,
//! close socket) have been delivered; the driver then calls [`Endpoint::shutdown`], logs any
//! call that remained (a leak in the core), flushes the last ABORTs and stops.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use rxrpc_proto::wire::{AbortCode, ServiceId};
use rxrpc_proto::{
    AbortReason, CallError, CallParams, CallState, Completion, Endpoint, Event, Instant,
    LocalError, RecvMsg, Side, Snapshot, SocketId,
};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};

use crate::call::{Call, CallSecurity, IncomingCall};
use crate::error::{Error, Result};
use crate::socket::{RxMessage, SendMsg};
use crate::sys::{self, OutMsg, QueuedError, RecvMeta, SendFailure};

/// The driver's maps: a fast keyed hash (the keys are our own, but cheap hashing matters on
/// every operation).
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Commands run per wake-up before the outputs are flushed.
const BATCH: usize = 64;
/// Batched receive calls per wake-up before the outputs are flushed.
const RECV_ROUNDS: usize = 4;
/// Largest UDP payload (and largest GRO-coalesced message).
const MAX_DATAGRAM: usize = 65_536;
/// Size of the blocks a receive buffer takes datagrams into, one after another.
const RECV_BLOCK: usize = 256 << 10;
/// Most bytes one receive of a managed call hands over (see [`gather`]).
const GATHER_MAX: usize = 256 << 10;
/// At most this much of a complete request is handed over with its accepted call.
const PREFETCH_MAX: usize = 64 << 10;
/// Datagrams taken from the endpoint per batched send.
const SEND_GATHER: usize = 256;

/// A reply channel for one command.
pub(crate) type Reply<T> = oneshot::Sender<Result<T>>;

/// State shared by every handle of one endpoint. Dropping the last `Arc` closes the command
/// channel, which stops the driver.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) tx: mpsc::UnboundedSender<Command>,
    pub(crate) local_addr: SocketAddr,
    /// The socket that carries the async API's client calls.
    pub(crate) client_socket: SocketId,
    /// Next user ID of an async client call on `client_socket`.
    pub(crate) next_user_id: AtomicU64,
    /// The snapshot the driver publishes (at most every [`PUBLISH_EVERY`] while busy);
    /// readers take it without involving the driver.
    pub(crate) published: watch::Receiver<Arc<Snapshot>>,
}

/// How often a busy driver republishes its snapshot.
pub(crate) const PUBLISH_EVERY: Duration = Duration::from_millis(100);

impl Shared {
    /// Send a command; false if the driver has stopped.
    pub(crate) fn send(&self, cmd: Command) -> bool {
        self.tx.send(cmd).is_ok()
    }

    /// Send a command and await its reply.
    pub(crate) async fn request<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        if !self.send(make(tx)) {
            return Err(Error::DriverGone);
        }
        rx.await.unwrap_or(Err(Error::DriverGone))
    }

    /// Like [`request`](Self::request), but cancel safe for values that must not be lost: if
    /// the future is dropped after the driver sent a successful reply that was not read yet,
    /// the value is handed to `give_back` (which returns it to the driver). If the driver has
    /// not replied yet, its reply fails and the driver keeps the value itself.
    pub(crate) async fn request_keep<T, G: FnOnce(T)>(
        &self,
        make: impl FnOnce(Reply<T>) -> Command,
        give_back: G,
    ) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        if !self.send(make(tx)) {
            return Err(Error::DriverGone);
        }
        let mut guard = GiveBack {
            rx: Some(rx),
            give_back: Some(give_back),
        };
        let r = match guard.rx.as_mut() {
            Some(rx) => rx.await,
            None => return Err(Error::DriverGone),
        };
        guard.rx = None;
        r.unwrap_or(Err(Error::DriverGone))
    }
}

/// Drop guard of [`Shared::request_keep`].
struct GiveBack<T, G: FnOnce(T)> {
    rx: Option<oneshot::Receiver<Result<T>>>,
    give_back: Option<G>,
}

impl<T, G: FnOnce(T)> Drop for GiveBack<T, G> {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take() {
            // After close() the driver can no longer send; anything sent before is here.
            rx.close();
            if let (Ok(Ok(v)), Some(g)) = (rx.try_recv(), self.give_back.take()) {
                g(v);
            }
        }
    }
}

/// What a socket is used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SockKind {
    /// An [`RxSocket`](crate::socket::RxSocket): the application drives it with
    /// `sendmsg`/`recvmsg`.
    Raw,
    /// The async API's client calls.
    Client,
    /// An async [`Listener`](crate::Listener).
    Listener,
}

/// Commands from handles to the driver.
/// The security classes a listening socket accepts.
#[derive(Clone, Debug, Default)]
pub(crate) struct ListenSecurity {
    pub(crate) classes: Vec<rxrpc_proto::security::ServerSecurityRef>,
    pub(crate) require: bool,
}

#[derive(Debug)]
pub(crate) enum Command {
    OpenSocket {
        reply: Reply<SocketId>,
    },
    CloseSocket {
        socket: SocketId,
        reply: Option<Reply<()>>,
    },
    BindService {
        socket: SocketId,
        service: ServiceId,
        reply: Reply<()>,
    },
    SetUpgrade {
        socket: SocketId,
        from: ServiceId,
        to: ServiceId,
        reply: Reply<()>,
    },
    Listen {
        socket: SocketId,
        backlog: usize,
        reply: Reply<()>,
    },
    ChargeAccept {
        socket: SocketId,
        user_id: u64,
        reply: Reply<()>,
    },
    /// Socket API: create a call if `msg.dest` is set, then send or abort.
    SendMsg {
        socket: SocketId,
        user_id: u64,
        msg: SendMsg,
        reply: Reply<()>,
    },
    RecvMsg {
        socket: SocketId,
        max: usize,
        reply: Reply<RxMessage>,
    },
    EndCall {
        socket: SocketId,
        user_id: u64,
        reply: Reply<()>,
    },
    Reject {
        socket: SocketId,
        user_id: u64,
        code: AbortCode,
        reply: Option<Reply<()>>,
    },
    Abort {
        socket: SocketId,
        user_id: u64,
        code: AbortCode,
        reply: Reply<()>,
    },
    /// Socket API: accept security classes on a socket.
    SocketSecurity {
        socket: SocketId,
        security: ListenSecurity,
        reply: Reply<()>,
    },
    /// The security index, level and client identity of a call.
    CallSecurity {
        socket: SocketId,
        user_id: u64,
        reply: Reply<(
            rxrpc_proto::wire::SecurityIndex,
            rxrpc_proto::security::SecurityLevel,
            Option<Arc<rxrpc_proto::security::PeerIdentity>>,
        )>,
    },
    UserIds {
        socket: SocketId,
        reply: Reply<Vec<u64>>,
    },
    Snapshot {
        reply: oneshot::Sender<Snapshot>,
    },
    /// Async API: begin a client call managed by a [`Call`] handle. There is no reply (the
    /// handle is returned at once); if the call cannot begin, the error is kept and given to
    /// the call's operations (see [`Driver::begin_failed`]).
    BeginCall {
        user_id: u64,
        params: CallParams,
    },
    /// Async API: send on a managed call (and, with [`SendReply::ThenRecv`], receive after).
    Send {
        socket: SocketId,
        user_id: u64,
        data: Bytes,
        more: bool,
        reply: SendReply,
    },
    /// Async API: receive from a managed call.
    Recv {
        socket: SocketId,
        user_id: u64,
        max: usize,
        reply: Reply<Received>,
    },
    /// Async API: wait for a managed call's completion.
    Completion {
        socket: SocketId,
        user_id: u64,
        reply: oneshot::Sender<Completion>,
    },
    /// Async API: the last handle of a managed call was dropped.
    DropCall {
        socket: SocketId,
        user_id: u64,
    },
    /// Async API: open a listening socket.
    OpenListener {
        security: ListenSecurity,
        services: Vec<ServiceId>,
        upgrade: Option<(ServiceId, ServiceId)>,
        backlog: usize,
        reply: Reply<SocketId>,
    },
    Accept {
        socket: SocketId,
        reply: Reply<IncomingCall>,
    },
    /// Async API: the last handle of a listener was dropped.
    DropListener {
        socket: SocketId,
    },
    /// A cancelled `accept` gives back the call it was handed, with the data handed over
    /// with it.
    Requeue {
        socket: SocketId,
        user_id: u64,
        data: Option<Bytes>,
    },
    /// A cancelled `recv` gives back the data it was handed.
    Unrecv {
        socket: SocketId,
        user_id: u64,
        data: Bytes,
    },
    /// A cancelled `recvmsg` gives back the message it was handed.
    UnrecvMsg {
        socket: SocketId,
        msg: RxMessage,
    },
}

/// Bind the UDP socket, create the endpoint and spawn its driver task. Must be called from
/// within a tokio runtime.
pub(crate) async fn spawn(
    local: SocketAddr,
    config: rxrpc_proto::EndpointConfig,
    runtime: crate::RuntimeConfig,
) -> std::io::Result<Arc<Shared>> {
    let udp = UdpSocket::bind(local).await?;
    let local_addr = udp.local_addr()?;
    let io = IoConfig::probe(&udp);
    tracing::debug!(local = %local_addr, ?io, "UDP socket options");
    let base = tokio::time::Instant::now();
    let mut ep = Endpoint::new(config, Instant::ZERO);
    let client_socket = ep.open_socket();
    let (tx, rx) = mpsc::unbounded_channel();
    let mut first = ep.snapshot();
    first.local = Some(local_addr);
    let (publish, published) = watch::channel(Arc::new(first));
    let shared = Arc::new(Shared {
        tx,
        local_addr,
        client_socket,
        next_user_id: AtomicU64::new(1),
        published,
    });
    let mut sockets = HashMap::default();
    sockets.insert(client_socket, SockState::new(SockKind::Client));
    let driver = Driver {
        ep,
        udp,
        io,
        busy_poll: runtime.busy_poll,
        base,
        cmds: rx,
        shared: Arc::downgrade(&shared),
        sockets,
        calls: HashMap::default(),
        failed_begins: HashMap::default(),
        client_socket,
        local_addr,
        publish,
        published_at: Instant::ZERO,
        out: Vec::with_capacity(SEND_GATHER),
        msgs: Vec::with_capacity(SEND_GATHER),
        slots: (0..sys::MAX_BATCH).map(|_| BytesMut::new()).collect(),
        meta: vec![RecvMeta::default(); sys::MAX_BATCH],
        errors: Vec::new(),
        recv_width: 4,
        clock: Instant::ZERO,
        dirty_calls: Vec::new(),
        dirty_sockets: Vec::new(),
        blocked_sends: Vec::new(),
        sweep_all: true,
    };
    tokio::spawn(driver.run());
    Ok(shared)
}

/// What the UDP socket can do, probed once when the endpoint is bound.
#[derive(Clone, Copy, Debug)]
struct IoConfig {
    /// ICMP and local errors arrive on the error queue (`IP_RECVERR`).
    recverr: bool,
    /// Runs of equal-size datagrams to one peer go out as one GSO send (`UDP_SEGMENT`).
    /// Cleared at run time if the kernel or the device refuses one.
    gso: bool,
    /// The kernel may coalesce received datagrams (`UDP_GRO`); the receive path handles
    /// both cases alike, so this is only reported.
    #[allow(dead_code)]
    gro: bool,
}

impl IoConfig {
    /// Turn on what the socket supports. `RXRPC_NO_GSO` and `RXRPC_NO_GRO` in the
    /// environment turn segmentation off (for comparisons and to test the plain paths).
    fn probe(udp: &UdpSocket) -> IoConfig {
        let off = |var: &str| std::env::var_os(var).is_some_and(|v| !v.is_empty() && v != "0");
        let recverr = match sys::enable_recverr(udp) {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!("IP_RECVERR: {e}");
                false
            }
        };
        IoConfig {
            recverr,
            gso: !off("RXRPC_NO_GSO") && sys::gso_supported(udp),
            gro: !off("RXRPC_NO_GRO") && sys::enable_gro(udp),
        }
    }
}

/// A parked or in-progress send.
#[derive(Debug)]
struct PendingSend {
    /// What remains to queue.
    data: Bytes,
    more: bool,
    /// Nothing of this send has been offered to the endpoint yet.
    first: bool,
    reply: SendReply,
}

/// Who hears of a send's outcome.
#[derive(Debug)]
pub(crate) enum SendReply {
    /// The sender, once all is queued (or the send failed).
    Done(Reply<()>),
    /// Once all is queued, the send turns into a receive of at most `max` bytes whose result
    /// goes to `reply` (one command for a request and its reply); a failed send fails it.
    ThenRecv { max: usize, reply: Reply<Received> },
    /// Once all is queued, wait for the call's completion and send it to `reply` (a service
    /// call's last reply data and the wait for the client's final ACK in one command).
    ThenComplete(Reply<Completion>),
}

/// One waiting for a managed call's completion.
#[derive(Debug)]
enum CompletionWaiter {
    /// [`Command::Completion`].
    Plain(oneshot::Sender<Completion>),
    /// [`SendReply::ThenComplete`].
    AfterSend(Reply<Completion>),
}

impl CompletionWaiter {
    fn complete(self, c: Completion) {
        match self {
            CompletionWaiter::Plain(w) => {
                let _ = w.send(c);
            }
            CompletionWaiter::AfterSend(w) => {
                let _ = w.send(Ok(c));
            }
        }
    }
}

impl SendReply {
    /// The caller went away.
    fn is_closed(&self) -> bool {
        match self {
            SendReply::Done(r) => r.is_closed(),
            SendReply::ThenRecv { reply, .. } => reply.is_closed(),
            SendReply::ThenComplete(reply) => reply.is_closed(),
        }
    }

    /// Report a failure.
    fn fail(self, e: Error) {
        match self {
            SendReply::Done(r) => {
                let _ = r.send(Err(e));
            }
            SendReply::ThenRecv { reply, .. } => {
                let _ = reply.send(Err(e));
            }
            SendReply::ThenComplete(reply) => {
                let _ = reply.send(Err(e));
            }
        }
    }
}

/// The answer to [`Command::Recv`].
#[derive(Debug)]
pub(crate) struct Received {
    /// The data, or `None` at the end of the data.
    pub(crate) data: Option<Bytes>,
    /// The call succeeded and its terminal message has been read: every later receive
    /// returns `None` and the completion is `Succeeded`, so the handle need not ask again.
    pub(crate) finished: bool,
    /// The end of the peer's data has been handed over (with this data, or before): every
    /// later receive returns `None`, so the handle need not ask again.
    pub(crate) eod: bool,
}

/// A parked receive of a managed call.
#[derive(Debug)]
struct PendingRecv {
    max: usize,
    reply: Reply<Received>,
}

/// Driver-side state of a call that has parked operations or is managed by a [`Call`].
#[derive(Debug)]
struct CallSlot {
    /// Managed by the async API (lives until its handle is dropped); otherwise the slot only
    /// exists while a `sendmsg` is parked.
    managed: bool,
    side: Side,
    sends: VecDeque<PendingSend>,
    /// Our transmit phase is over (the last packet is queued).
    tx_finished: bool,
    recvs: VecDeque<PendingRecv>,
    /// End of the peer's data was read.
    eod: bool,
    /// Data read from the endpoint whose delivery failed (cancelled receive) and that could
    /// not be given back with `unrecv` (end of data or terminal came with it).
    stash: Option<Bytes>,
    /// How the call completed, once known.
    completion: Option<Completion>,
    /// The terminal message was read: the endpoint has forgotten the user ID.
    released: bool,
    completion_waiters: Vec<CompletionWaiter>,
    /// The handle was dropped after the reply was queued; end the call once it completes.
    orphan: bool,
    /// Listed in `Driver::dirty_calls`.
    dirty: bool,
    /// Listed in `Driver::blocked_sends`.
    send_blocked: bool,
}

impl CallSlot {
    fn new(managed: bool, side: Side) -> Self {
        CallSlot {
            managed,
            side,
            sends: VecDeque::new(),
            tx_finished: false,
            recvs: VecDeque::new(),
            eod: false,
            stash: None,
            completion: None,
            released: false,
            completion_waiters: Vec::new(),
            orphan: false,
            dirty: false,
            send_blocked: false,
        }
    }

    /// Answer everything parked with `err` (the socket went away).
    fn fail_all(&mut self, err: impl Fn() -> Error, completion: Completion) {
        for s in self.sends.drain(..) {
            s.reply.fail(err());
        }
        for r in self.recvs.drain(..) {
            let _ = r.reply.send(Err(err()));
        }
        for w in self.completion_waiters.drain(..) {
            w.complete(self.completion.unwrap_or(completion));
        }
    }
}

/// Listener bookkeeping of a socket.
#[derive(Debug)]
struct ListenState {
    backlog: usize,
    next_user_id: u64,
    /// Incoming calls not yet handed to `accept`.
    incoming: VecDeque<u64>,
    waiters: VecDeque<Reply<IncomingCall>>,
    /// The [`Listener`](crate::Listener) handle is alive.
    handle_alive: bool,
}

/// Driver-side state of a socket.
#[derive(Debug)]
struct SockState {
    kind: SockKind,
    recvmsg_waiters: VecDeque<(usize, Reply<RxMessage>)>,
    /// Messages read whose delivery failed (cancelled `recvmsg`), delivered first.
    stash: VecDeque<RxMessage>,
    listen: Option<ListenState>,
    /// Handles (listener + calls) that keep a listener socket open.
    refs: usize,
    /// Listed in `Driver::dirty_sockets`.
    dirty: bool,
}

impl SockState {
    fn new(kind: SockKind) -> Self {
        SockState {
            kind,
            recvmsg_waiters: VecDeque::new(),
            stash: VecDeque::new(),
            listen: None,
            refs: 0,
            dirty: false,
        }
    }
}

struct Driver {
    ep: Endpoint,
    udp: UdpSocket,
    io: IoConfig,
    /// Before sleeping, keep polling this long for work ([`RuntimeConfig::busy_poll`]).
    busy_poll: Duration,
    base: tokio::time::Instant,
    cmds: mpsc::UnboundedReceiver<Command>,
    /// To mint [`Call`] handles for accepted calls without keeping the driver alive.
    shared: Weak<Shared>,
    sockets: HashMap<SocketId, SockState>,
    calls: HashMap<(SocketId, u64), CallSlot>,
    /// Client calls of the async API whose `begin_call` failed, with the error, until their
    /// handle is dropped.
    failed_begins: HashMap<u64, CallError>,
    client_socket: SocketId,
    local_addr: SocketAddr,
    publish: watch::Sender<Arc<Snapshot>>,
    /// When the snapshot was last published (the driver's clock).
    published_at: Instant,
    /// Datagrams taken from the endpoint for the batched send in progress.
    out: Vec<rxrpc_proto::Transmit>,
    /// The messages (plain or GSO) `out` is sent as.
    msgs: Vec<OutMsg>,
    /// Receive buffers of one batched receive, one per message. Each is the unused part of a
    /// block of [`RECV_BLOCK`] bytes: datagrams are received into it one after another and
    /// handed to the endpoint as frozen slices (no copy, one allocation per block). A block
    /// with less than a largest datagram left is replaced; old blocks live on until the
    /// endpoint drops the last slice.
    slots: Vec<BytesMut>,
    meta: Vec<RecvMeta>,
    /// Error-queue entries read and not yet handed to the endpoint.
    errors: Vec<QueuedError>,
    /// Receive buffers offered to the next batched receive: grows when a receive fills them
    /// all, shrinks when few are used, so that a quiet socket costs little per call.
    recv_width: usize,
    /// The time of the current wake-up, read once per wake-up (and after waiting).
    clock: Instant,
    /// Calls whose parked operations may move: named by a command or an endpoint event.
    dirty_calls: Vec<(SocketId, u64)>,
    /// Sockets whose parked `recvmsg`s or `accept`s may move.
    dirty_sockets: Vec<SocketId>,
    /// Calls with a send waiting for room in the transmit queue: retried after any datagram
    /// arrives, since not every packet that frees room raises an event (an ACKALL does not).
    blocked_sends: Vec<(SocketId, u64)>,
    /// Retry every parked operation at the next sweep (after timers, at least every
    /// [`PUBLISH_EVERY`] while busy, and after rare commands), so that a state change
    /// without an event can delay an operation but never strand it.
    sweep_all: bool,
}

/// The completion of a client call that could not begin: a local error with the errno the
/// socket API reports for `err`.
fn begin_failure_completion(err: CallError) -> Completion {
    let errno = match err {
        CallError::Completed(c) => return c,
        CallError::DuplicateId(_) => 17, // EEXIST
        CallError::SocketClosed => 107,  // ENOTCONN
        CallError::Limit(_) | CallError::CannotCharge(_) => 105, // ENOBUFS
        _ => 22,                         // EINVAL
    };
    Completion::LocalError(LocalError::SendFailed(errno))
}

/// Which parked operations a command may move.
enum Touch {
    Nothing,
    Call(SocketId, u64),
    ClientCall(u64),
    Socket(SocketId),
    All,
}

impl Command {
    fn touches(&self) -> Touch {
        match self {
            Command::OpenSocket { .. }
            | Command::UserIds { .. }
            | Command::Snapshot { .. }
            | Command::CallSecurity { .. }
            | Command::OpenListener { .. } => Touch::Nothing,
            Command::SendMsg {
                socket, user_id, ..
            }
            | Command::EndCall {
                socket, user_id, ..
            }
            | Command::Reject {
                socket, user_id, ..
            }
            | Command::Abort {
                socket, user_id, ..
            }
            | Command::Send {
                socket, user_id, ..
            }
            | Command::Recv {
                socket, user_id, ..
            }
            | Command::Completion {
                socket, user_id, ..
            }
            | Command::DropCall { socket, user_id }
            | Command::Unrecv {
                socket, user_id, ..
            } => Touch::Call(*socket, *user_id),
            Command::BeginCall { user_id, .. } => Touch::ClientCall(*user_id),
            Command::RecvMsg { socket, .. }
            | Command::Accept { socket, .. }
            | Command::Requeue { socket, .. }
            | Command::UnrecvMsg { socket, .. } => Touch::Socket(*socket),
            Command::CloseSocket { .. }
            | Command::BindService { .. }
            | Command::SetUpgrade { .. }
            | Command::Listen { .. }
            | Command::ChargeAccept { .. }
            | Command::SocketSecurity { .. }
            | Command::DropListener { .. } => Touch::All,
        }
    }
}

/// What woke the driver.
enum Wake {
    Command(Option<Command>),
    Socket(std::io::Result<tokio::io::Ready>),
    Timer,
}

impl Driver {
    /// The time of the current wake-up.
    fn now(&self) -> Instant {
        self.clock
    }

    /// Read the clock (once per wake-up, and after waiting).
    fn tick(&mut self) -> Instant {
        let t = Instant::from_micros(
            u64::try_from(self.base.elapsed().as_micros()).unwrap_or(u64::MAX),
        );
        self.clock = self.clock.max(t);
        self.clock
    }

    /// Mark a call's parked operations for the next sweep.
    fn touch_call(&mut self, socket: SocketId, user_id: u64) {
        if let Some(slot) = self.calls.get_mut(&(socket, user_id)) {
            if !slot.dirty {
                slot.dirty = true;
                self.dirty_calls.push((socket, user_id));
            }
        }
    }

    /// Mark a socket's parked `recvmsg`s and `accept`s for the next sweep.
    fn touch_socket(&mut self, socket: SocketId) {
        if let Some(st) = self.sockets.get_mut(&socket) {
            if !st.dirty {
                st.dirty = true;
                self.dirty_sockets.push(socket);
            }
        }
    }

    async fn run(mut self) {
        tracing::debug!(local = %self.local_addr, "rxrpc driver started");
        let sleep = tokio::time::sleep_until(self.base);
        tokio::pin!(sleep);
        let mut armed: Option<Instant> = None;
        loop {
            let interest = if self.io.recverr {
                Interest::READABLE | Interest::ERROR
            } else {
                Interest::READABLE
            };
            // Busy polling: before sleeping, yield to the other tasks and look again (each
            // yield lets tokio poll the socket without blocking) until `busy_poll` passes.
            let spin_until =
                (!self.busy_poll.is_zero()).then(|| std::time::Instant::now() + self.busy_poll);
            let wake = loop {
                let spinning = spin_until.is_some_and(|t| std::time::Instant::now() < t);
                let w = tokio::select! {
                    cmd = self.cmds.recv() => Some(Wake::Command(cmd)),
                    r = self.udp.ready(interest) => Some(Wake::Socket(r)),
                    () = &mut sleep, if armed.is_some() => Some(Wake::Timer),
                    () = tokio::task::yield_now(), if spinning => None,
                };
                if let Some(w) = w {
                    break w;
                }
            };
            self.tick();
            match wake {
                Wake::Command(None) => break,
                Wake::Command(Some(cmd)) => {
                    self.command(cmd);
                    for _ in 1..BATCH {
                        match self.cmds.try_recv() {
                            Ok(cmd) => self.command(cmd),
                            Err(_) => break,
                        }
                    }
                }
                Wake::Socket(Ok(ready)) => {
                    if ready.is_error() {
                        self.drain_errors(true);
                    }
                    if ready.is_readable() {
                        self.read_batch();
                    }
                }
                Wake::Socket(Err(e)) => {
                    tracing::error!(local = %self.local_addr, "UDP socket failed: {e}");
                    break;
                }
                Wake::Timer => {
                    armed = None;
                    let now = self.now();
                    self.ep.handle_timeout(now);
                    self.sweep_all = true;
                }
            }
            // Deadlines that passed while other work won the select.
            let now = self.now();
            if self.ep.poll_timeout().is_some_and(|t| t <= now) {
                self.ep.handle_timeout(now);
            }
            self.after_batch().await;
            if self.now().saturating_since(self.published_at) >= PUBLISH_EVERY {
                self.publish_snapshot();
                self.sweep_all = true;
            }
            match self.ep.poll_timeout() {
                Some(t) if armed != Some(t) => {
                    sleep
                        .as_mut()
                        .reset(self.base + Duration::from_micros(t.as_micros()));
                    armed = Some(t);
                }
                Some(_) => {}
                None => armed = None,
            }
        }
        self.shutdown().await;
    }

    /// Publish a fresh snapshot for [`RxEndpoint::published_snapshot`](crate::RxEndpoint).
    fn publish_snapshot(&mut self) {
        let mut snap = self.ep.snapshot();
        snap.local = Some(self.local_addr);
        self.publish.send_replace(Arc::new(snap));
        self.published_at = self.now();
    }

    async fn shutdown(mut self) {
        let now = self.tick();
        for (_, mut slot) in self.calls.drain() {
            slot.fail_all(
                || Error::DriverGone,
                Completion::LocalError(LocalError::Shutdown),
            );
        }
        if let Err(e) = self.ep.shutdown(now) {
            tracing::error!(local = %self.local_addr, "endpoint shutdown: {e}");
        }
        self.flush().await;
        tracing::debug!(local = %self.local_addr, "rxrpc driver stopped");
    }

    /// Receive what the socket has, a batch of messages per system call, and hand each
    /// datagram to the endpoint.
    fn read_batch(&mut self) {
        let now = self.now();
        let mut got_any = false;
        for _ in 0..RECV_ROUNDS {
            let width = self.recv_width.clamp(1, self.slots.len());
            for slot in &mut self.slots[..width] {
                if slot.capacity() - slot.len() < MAX_DATAGRAM {
                    *slot = BytesMut::with_capacity(RECV_BLOCK);
                }
            }
            let (udp, slots, meta) = (&self.udp, &mut self.slots[..width], &mut self.meta);
            // A short batch from recvmmsg means the receive queue was empty when the kernel
            // filled it: the closure then reports WouldBlock so that tokio clears the socket's
            // readiness now, instead of the driver coming back for a recvmmsg that only says
            // EAGAIN (about one wasted system call per small RPC). Nothing is missed: a
            // datagram that arrived since raised a newer readiness event, which the clearing
            // leaves alone.
            let mut got = 0;
            let r = udp.try_io(Interest::READABLE, || {
                got = sys::recv_batch(udp, slots, meta)?;
                if got < width && sys::SHORT_BATCH_DRAINS {
                    Err(std::io::ErrorKind::WouldBlock.into())
                } else {
                    Ok(got)
                }
            });
            got_any |= got > 0;
            for i in 0..got {
                self.deliver(now, i);
            }
            match r {
                Ok(n) => {
                    if n == width {
                        self.recv_width = (width * 4).min(self.slots.len());
                    } else {
                        if n * 4 < width {
                            self.recv_width = (width / 2).max(4);
                        }
                        break; // probably drained; readiness says for sure next time
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if got * 4 < width {
                        self.recv_width = (width / 2).max(4);
                    }
                    break;
                }
                Err(e) => {
                    // A pending ICMP error reported on the receive: its details are on the
                    // error queue.
                    tracing::debug!(local = %self.local_addr, "recv: {e}");
                    self.drain_errors(false);
                }
            }
        }
        if got_any {
            for key in std::mem::take(&mut self.blocked_sends) {
                if let Some(slot) = self.calls.get_mut(&key) {
                    slot.send_blocked = false;
                    if !slot.dirty {
                        slot.dirty = true;
                        self.dirty_calls.push(key);
                    }
                }
            }
        }
    }

    /// Hand received message `i` to the endpoint, one datagram at a time.
    fn deliver(&mut self, now: Instant, i: usize) {
        let Some(&m) = self.meta.get(i) else { return };
        let Some(slot) = self.slots.get_mut(i) else {
            return;
        };
        let len = m.len.min(slot.len());
        let mut data = slot.split_to(len).freeze();
        slot.clear();
        let stride = m.stride.max(1);
        loop {
            let seg = data.split_to(stride.min(data.len()));
            self.ep.handle_datagram(now, m.from, seg);
            if data.is_empty() {
                break;
            }
        }
    }

    /// Read the socket's error queue and hand each error to the endpoint. `ready`: the socket
    /// reported error readiness (which is cleared once the queue is empty).
    fn drain_errors(&mut self, ready: bool) {
        if !self.io.recverr {
            return;
        }
        let (udp, errors) = (&self.udp, &mut self.errors);
        let mut read_all = || -> std::io::Result<()> {
            // Bounded, and entries without an extended error are skipped.
            for _ in 0..256 {
                match sys::recv_error(udp) {
                    Ok(e) => errors.push(e),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Err(e),
                    Err(e) if e.raw_os_error().is_none() => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        };
        let r = if ready {
            udp.try_io(Interest::ERROR, read_all)
        } else {
            read_all()
        };
        if let Err(e) = r {
            if e.kind() != std::io::ErrorKind::WouldBlock {
                // The error queue cannot be read: stop asking for it rather than spin on an
                // error readiness that never clears.
                tracing::warn!(local = %self.local_addr, "error queue: {e}; not read any more");
                self.io.recverr = false;
            }
        }
        if self.errors.is_empty() {
            return;
        }
        let now = self.now();
        for e in std::mem::take(&mut self.errors) {
            tracing::debug!(local = %self.local_addr, error = ?e, "transport error");
            let Some(peer) = e.dest else { continue };
            if matches!(e.origin, sys::Origin::Other(_)) {
                continue;
            }
            if e.errno == sys::EMSGSIZE {
                if let Ok(mtu) = usize::try_from(e.info) {
                    if mtu > 0 {
                        self.ep
                            .handle_transport_error(now, peer, e.errno, Some(mtu));
                    }
                }
                continue;
            }
            self.ep.handle_transport_error(now, peer, e.errno, None);
        }
    }

    /// Put every queued datagram on the wire: batches of messages per system call, runs of
    /// equal-size datagrams to one peer as one GSO message.
    async fn flush(&mut self) -> bool {
        let mut sent = false;
        loop {
            for t in self.out.drain(..) {
                self.ep.recycle_transmit(t.contents);
            }
            while self.out.len() < SEND_GATHER {
                match self.ep.poll_transmit() {
                    Some(t) => self.out.push(t),
                    None => break,
                }
            }
            if self.out.is_empty() {
                break;
            }
            sent = true;
            build_msgs(&self.out, self.io.gso, &mut self.msgs);
            let mut next = 0;
            // The message at `next` already failed once with a deferred error.
            let mut retried = false;
            while next < self.msgs.len() {
                let (udp, out, msgs) = (&self.udp, &self.out, &self.msgs[next..]);
                let r = udp.try_io(Interest::WRITABLE, || {
                    sys::send_batch(udp, out, |t| &t.contents[..], msgs)
                });
                let e = match r {
                    Ok(n) => {
                        next += n.max(1);
                        retried = false;
                        continue;
                    }
                    Err(e) => e,
                };
                let Some(&m) = self.msgs.get(next) else { break };
                let class = sys::classify_send_error(&e);
                if class == SendFailure::WouldBlock {
                    if let Err(e) = self.udp.writable().await {
                        tracing::error!(local = %self.local_addr, "writable: {e}");
                        return sent;
                    }
                    self.tick();
                    continue;
                }
                if m.segment != 0 && class != SendFailure::Transient {
                    // The kernel would not segment this one: send its datagrams one by one,
                    // and stop segmenting if it cannot at all.
                    if sys::gso_unavailable(&e) {
                        tracing::debug!(local = %self.local_addr, "GSO refused ({e}): off");
                        self.io.gso = false;
                    }
                    let singles = (0..m.count).map(|k| OutMsg {
                        dest: m.dest,
                        first: m.first + k,
                        count: 1,
                        segment: 0,
                    });
                    self.msgs.splice(next..=next, singles);
                    continue;
                }
                match class {
                    SendFailure::Deferred if !retried => {
                        // Most likely an ICMP error of an earlier datagram, perhaps to
                        // another peer: the error queue says whose. Then try again.
                        self.drain_errors(false);
                        retried = true;
                        continue;
                    }
                    SendFailure::TooBig => {
                        tracing::debug!(dest = %m.dest, "send: {e}");
                        self.drain_errors(false);
                    }
                    SendFailure::Transient => {
                        tracing::debug!(dest = %m.dest, "send: {e} (dropped)");
                    }
                    _ => {
                        tracing::debug!(dest = %m.dest, "send failed: {e}");
                        if let Some(errno) = e.raw_os_error() {
                            let now = self.now();
                            self.ep.handle_send_error(now, m.dest, errno);
                        }
                    }
                }
                // This message is dropped; the protocol resends what matters.
                next += 1;
                retried = false;
            }
        }
        sent
    }

    /// Flush, handle events and retry parked operations until nothing moves.
    async fn after_batch(&mut self) {
        for _ in 0..16 {
            self.flush().await;
            let events = self.drain_events();
            let swept = self.sweep();
            if !events && !swept {
                break;
            }
        }
        self.flush().await;
    }

    fn drain_events(&mut self) -> bool {
        let mut any = false;
        while let Some(ev) = self.ep.poll_event() {
            any = true;
            match ev {
                Event::NewCall { socket, user_id } => {
                    self.on_new_call(socket, user_id);
                    self.touch_socket(socket);
                }
                Event::Readable { socket, user_id } => {
                    self.touch_call(socket, user_id);
                    self.touch_socket(socket);
                }
                Event::Writable { socket, user_id } => self.touch_call(socket, user_id),
                _ => self.sweep_all = true,
            }
        }
        any
    }

    fn on_new_call(&mut self, socket: SocketId, user_id: u64) {
        let now = self.now();
        let Some(st) = self.sockets.get_mut(&socket) else {
            return;
        };
        let Some(l) = st.listen.as_mut() else {
            return; // a raw socket: the application learns of it through recvmsg
        };
        tracing::trace!(user_id, "incoming call");
        self.calls
            .insert((socket, user_id), CallSlot::new(true, Side::Service));
        l.incoming.push_back(user_id);
        recharge(&mut self.ep, now, socket, l);
    }

    // ----- commands ------------------------------------------------------------------------

    fn command(&mut self, cmd: Command) {
        let touch = cmd.touches();
        self.run_command(cmd);
        match touch {
            Touch::Nothing => {}
            Touch::Call(socket, user_id) => self.touch_call(socket, user_id),
            Touch::ClientCall(user_id) => self.touch_call(self.client_socket, user_id),
            Touch::Socket(socket) => self.touch_socket(socket),
            Touch::All => self.sweep_all = true,
        }
    }

    fn run_command(&mut self, cmd: Command) {
        let now = self.now();
        let ep = &mut self.ep;
        match cmd {
            Command::OpenSocket { reply } => {
                let s = ep.open_socket();
                self.sockets.insert(s, SockState::new(SockKind::Raw));
                if reply.send(Ok(s)).is_err() {
                    self.close_socket(s); // the opener was cancelled
                }
            }
            Command::CloseSocket { socket, reply } => {
                self.close_socket(socket);
                if let Some(r) = reply {
                    let _ = r.send(Ok(()));
                }
            }
            Command::BindService {
                socket,
                service,
                reply,
            } => {
                let _ = reply.send(ep.bind_service(socket, service).map_err(Error::from));
            }
            Command::SetUpgrade {
                socket,
                from,
                to,
                reply,
            } => {
                let _ = reply.send(ep.set_upgrade(socket, from, to).map_err(Error::from));
            }
            Command::Listen {
                socket,
                backlog,
                reply,
            } => {
                let _ = reply.send(ep.listen(socket, backlog).map_err(Error::from));
            }
            Command::ChargeAccept {
                socket,
                user_id,
                reply,
            } => {
                let _ = reply.send(ep.charge_accept(now, socket, user_id).map_err(Error::from));
            }
            Command::SendMsg {
                socket,
                user_id,
                msg,
                reply,
            } => self.sendmsg(now, socket, user_id, msg, reply),
            Command::RecvMsg { socket, max, reply } => match self.sockets.get_mut(&socket) {
                Some(st) => st.recvmsg_waiters.push_back((max, reply)),
                None => {
                    let _ = reply.send(Err(CallError::SocketClosed.into()));
                }
            },
            Command::EndCall {
                socket,
                user_id,
                reply,
            } => {
                let r = ep.end_call(now, socket, user_id).map_err(Error::from);
                let _ = reply.send(r);
            }
            Command::Reject {
                socket,
                user_id,
                code,
                reply,
            } => {
                let r = ep
                    .reject_call(now, socket, user_id, code)
                    .map_err(Error::from);
                if let Some(mut slot) = self.calls.remove(&(socket, user_id)) {
                    let c = Completion::LocalAbort {
                        code,
                        reason: AbortReason::Rejected,
                    };
                    slot.fail_all(|| Error::Completed(c), c);
                    if slot.managed {
                        self.unref_socket(socket);
                    }
                }
                if let Some(reply) = reply {
                    let _ = reply.send(r);
                }
            }
            Command::Abort {
                socket,
                user_id,
                code,
                reply,
            } => {
                let r = match ep.abort(now, socket, user_id, code) {
                    // A managed call already released by its terminal message: nothing to do.
                    Err(CallError::UnknownId(_))
                        if self
                            .calls
                            .get(&(socket, user_id))
                            .is_some_and(|s| s.released) =>
                    {
                        Ok(())
                    }
                    Err(CallError::UnknownId(_)) if socket == self.client_socket => {
                        Err(self.begin_failed(socket, user_id).into())
                    }
                    r => r.map_err(Error::from),
                };
                let _ = reply.send(r);
            }
            Command::SocketSecurity {
                socket,
                security,
                reply,
            } => {
                let r = if self.sockets.contains_key(&socket) {
                    let mut r = Ok(());
                    for class in security.classes {
                        r = r.and(ep.add_server_security(socket, class));
                    }
                    r.and(ep.set_require_security(socket, security.require))
                        .map_err(Into::into)
                } else {
                    Err(CallError::SocketClosed.into())
                };
                let _ = reply.send(r);
            }
            Command::CallSecurity {
                socket,
                user_id,
                reply,
            } => {
                let r = ep
                    .call_security(socket, user_id)
                    .map(|(index, level)| (index, level, ep.call_identity(socket, user_id)))
                    .ok_or_else(|| CallError::UnknownId(user_id).into());
                let _ = reply.send(r);
            }
            Command::UserIds { socket, reply } => {
                let r = if self.sockets.contains_key(&socket) {
                    Ok(ep.user_ids(socket))
                } else {
                    Err(CallError::SocketClosed.into())
                };
                let _ = reply.send(r);
            }
            Command::Snapshot { reply } => {
                let mut snap = ep.snapshot();
                snap.local = Some(self.local_addr);
                let _ = reply.send(snap);
            }
            Command::BeginCall { user_id, params } => {
                let socket = self.client_socket;
                match ep.begin_call(now, socket, user_id, params) {
                    Ok(()) => {
                        self.calls
                            .insert((socket, user_id), CallSlot::new(true, Side::Client));
                    }
                    Err(e) => {
                        tracing::debug!(user_id, error = %e, "client call could not begin");
                        self.failed_begins.insert(user_id, e);
                    }
                }
            }
            Command::Send {
                socket,
                user_id,
                data,
                more,
                reply,
            } => match self.calls.get_mut(&(socket, user_id)) {
                Some(slot) => slot.sends.push_back(PendingSend {
                    data,
                    more,
                    first: true,
                    reply,
                }),
                None => reply.fail(self.begin_failed(socket, user_id).into()),
            },
            Command::Recv {
                socket,
                user_id,
                max,
                reply,
            } => match self.calls.get_mut(&(socket, user_id)) {
                Some(slot) => slot.recvs.push_back(PendingRecv {
                    max: max.max(1),
                    reply,
                }),
                None => {
                    let e = self.begin_failed(socket, user_id);
                    let _ = reply.send(Err(e.into()));
                }
            },
            Command::Completion {
                socket,
                user_id,
                reply,
            } => match self.calls.get_mut(&(socket, user_id)) {
                Some(slot) => slot.completion_waiters.push(CompletionWaiter::Plain(reply)),
                None => {
                    let c = match self.begin_failed(socket, user_id) {
                        CallError::UnknownId(_) => Completion::LocalError(LocalError::Shutdown),
                        e => begin_failure_completion(e),
                    };
                    let _ = reply.send(c);
                }
            },
            Command::DropCall { socket, user_id } => self.drop_call(now, socket, user_id),
            Command::OpenListener {
                security,
                services,
                upgrade,
                backlog,
                reply,
            } => {
                let r = self.open_listener(now, &services, upgrade, backlog, security);
                if let Err(Ok(s)) = reply.send(r) {
                    self.drop_listener(now, s); // the opener was cancelled
                }
            }
            Command::Accept { socket, reply } => {
                match self
                    .sockets
                    .get_mut(&socket)
                    .and_then(|s| s.listen.as_mut())
                {
                    Some(l) => l.waiters.push_back(reply),
                    None => {
                        let _ = reply.send(Err(CallError::SocketClosed.into()));
                    }
                }
            }
            Command::DropListener { socket } => self.drop_listener(now, socket),
            Command::Requeue {
                socket,
                user_id,
                data,
            } => {
                let alive = match self
                    .sockets
                    .get_mut(&socket)
                    .and_then(|s| s.listen.as_mut())
                {
                    Some(l) if l.handle_alive => {
                        l.incoming.push_front(user_id);
                        true
                    }
                    _ => false,
                };
                if let (true, Some(data), Some(slot)) =
                    (alive, data, self.calls.get_mut(&(socket, user_id)))
                {
                    slot.stash = Some(data);
                }
                if !alive {
                    let _ = self.ep.end_call(now, socket, user_id);
                    self.calls.remove(&(socket, user_id));
                }
                // The handle that was counted when the call was handed out is gone.
                self.unref_socket(socket);
            }
            Command::Unrecv {
                socket,
                user_id,
                data,
            } => {
                if let Some(slot) = self.calls.get_mut(&(socket, user_id)) {
                    let live = !slot.eod && !slot.released && slot.stash.is_none();
                    if !(live && self.ep.unrecv(socket, user_id, data.clone()).is_ok()) {
                        slot.stash = Some(match slot.stash.take() {
                            Some(rest) => [data, rest].concat().into(),
                            None => data,
                        });
                    }
                }
            }
            Command::UnrecvMsg { socket, msg } => {
                if let Some(st) = self.sockets.get_mut(&socket) {
                    st.stash.push_front(msg);
                }
            }
        }
    }

    fn sendmsg(
        &mut self,
        now: Instant,
        socket: SocketId,
        user_id: u64,
        msg: SendMsg,
        reply: Reply<()>,
    ) {
        if let Some(code) = msg.abort {
            let _ = reply.send(
                self.ep
                    .abort(now, socket, user_id, code)
                    .map_err(Error::from),
            );
            return;
        }
        if let Some((peer, service)) = msg.dest {
            let mut p = CallParams::new(peer, service)
                .exclusive(msg.exclusive)
                .upgrade(msg.upgrade);
            if let Some(n) = msg.tx_total_len {
                p = p.tx_total_len(n);
            }
            if let Some(d) = msg.hard_timeout {
                p = p.hard_timeout(d);
            }
            if let Some(d) = msg.idle_timeout {
                p = p.idle_timeout(d);
            }
            if let Err(e) = self.ep.begin_call(now, socket, user_id, p) {
                let _ = reply.send(Err(e.into()));
                return;
            }
        } else if self.ep.call_state(socket, user_id).is_none() {
            let e = if self.sockets.contains_key(&socket) {
                CallError::UnknownId(user_id)
            } else {
                CallError::SocketClosed
            };
            let _ = reply.send(Err(e.into()));
            return;
        }
        self.calls
            .entry((socket, user_id))
            .or_insert_with(|| CallSlot::new(false, Side::Client))
            .sends
            .push_back(PendingSend {
                data: msg.data,
                more: msg.more,
                first: true,
                reply: SendReply::Done(reply),
            });
    }

    fn open_listener(
        &mut self,
        now: Instant,
        services: &[ServiceId],
        upgrade: Option<(ServiceId, ServiceId)>,
        backlog: usize,
        security: ListenSecurity,
    ) -> Result<SocketId> {
        let s = self.ep.open_socket();
        let setup = (|| -> Result<()> {
            for class in security.classes {
                self.ep.add_server_security(s, class)?;
            }
            self.ep.set_require_security(s, security.require)?;
            for svc in services {
                self.ep.bind_service(s, *svc)?;
            }
            if let Some((from, to)) = upgrade {
                self.ep.set_upgrade(s, from, to)?;
            }
            self.ep.listen(s, backlog.max(1))?;
            Ok(())
        })();
        if let Err(e) = setup {
            self.ep.close_socket(now, s);
            return Err(e);
        }
        let mut st = SockState::new(SockKind::Listener);
        st.refs = 1;
        let mut l = ListenState {
            backlog: backlog.clamp(1, self.ep.config().max_backlog.max(1)),
            next_user_id: 1,
            incoming: VecDeque::new(),
            waiters: VecDeque::new(),
            handle_alive: true,
        };
        recharge(&mut self.ep, now, s, &mut l);
        st.listen = Some(l);
        self.sockets.insert(s, st);
        Ok(s)
    }

    fn drop_listener(&mut self, now: Instant, socket: SocketId) {
        let Some(st) = self.sockets.get_mut(&socket) else {
            return;
        };
        let mut unaccepted = Vec::new();
        if let Some(l) = st.listen.as_mut() {
            l.handle_alive = false;
            unaccepted.extend(l.incoming.drain(..));
            for w in l.waiters.drain(..) {
                let _ = w.send(Err(CallError::SocketClosed.into()));
            }
        }
        // Stop taking calls; calls already accepted go on until their handles are dropped.
        let _ = self.ep.listen(socket, 0);
        for uid in unaccepted {
            let _ = self.ep.end_call(now, socket, uid);
            self.calls.remove(&(socket, uid));
        }
        self.unref_socket(socket);
    }

    /// Why an operation on a managed call without a slot fails: for a client call whose
    /// `begin_call` failed, that error; otherwise `UnknownId`.
    fn begin_failed(&self, socket: SocketId, user_id: u64) -> CallError {
        if socket == self.client_socket {
            if let Some(e) = self.failed_begins.get(&user_id) {
                return *e;
            }
        }
        CallError::UnknownId(user_id)
    }

    fn drop_call(&mut self, now: Instant, socket: SocketId, user_id: u64) {
        let Some(slot) = self.calls.get_mut(&(socket, user_id)) else {
            if socket == self.client_socket {
                self.failed_begins.remove(&user_id);
            }
            return;
        };
        if !slot.released {
            let state = self.ep.call_state(socket, user_id);
            if let Some(CallState::Complete(c)) = state {
                slot.completion = Some(c);
            }
            // A service call whose reply is all queued only waits for the client's final
            // ACK: let it finish instead of aborting it.
            if slot.side == Side::Service
                && slot.tx_finished
                && slot.completion.is_none()
                && state.is_some()
            {
                slot.orphan = true;
                return;
            }
            let _ = self.ep.end_call(now, socket, user_id);
        }
        self.calls.remove(&(socket, user_id));
        self.unref_socket(socket);
    }

    /// A handle of a listener socket went away; close the socket when none is left.
    fn unref_socket(&mut self, socket: SocketId) {
        let Some(st) = self.sockets.get_mut(&socket) else {
            return;
        };
        if st.kind != SockKind::Listener {
            return;
        }
        st.refs = st.refs.saturating_sub(1);
        if st.refs == 0 {
            self.close_socket(socket);
        }
    }

    fn close_socket(&mut self, socket: SocketId) {
        let now = self.now();
        self.ep.close_socket(now, socket);
        if let Some(st) = self.sockets.remove(&socket) {
            for (_, r) in st.recvmsg_waiters {
                let _ = r.send(Err(CallError::SocketClosed.into()));
            }
            if let Some(l) = st.listen {
                for w in l.waiters {
                    let _ = w.send(Err(CallError::SocketClosed.into()));
                }
            }
        }
        let dead = Completion::LocalAbort {
            code: AbortCode::RX_CALL_DEAD,
            reason: AbortReason::SocketClosed,
        };
        self.calls.retain(|(s, _), slot| {
            if *s != socket {
                return true;
            }
            slot.fail_all(|| CallError::SocketClosed.into(), dead);
            false
        });
    }

    // ----- the sweep -----------------------------------------------------------------------

    /// Retry the parked operations that may move: those of the calls and sockets marked
    /// since the last sweep, or all of them when asked. Returns whether anything moved.
    fn sweep(&mut self) -> bool {
        if std::mem::take(&mut self.sweep_all) {
            for key in self.dirty_calls.drain(..) {
                if let Some(slot) = self.calls.get_mut(&key) {
                    slot.dirty = false;
                }
            }
            for socket in self.dirty_sockets.drain(..) {
                if let Some(st) = self.sockets.get_mut(&socket) {
                    st.dirty = false;
                }
            }
            return self.sweep_everything();
        }
        let now = self.now();
        let mut moved = false;
        let mut calls = std::mem::take(&mut self.dirty_calls);
        for key in calls.drain(..) {
            let Some(slot) = self.calls.get_mut(&key) else {
                continue;
            };
            slot.dirty = false;
            let (m, keep) = sweep_call(&mut self.ep, now, key.0, key.1, slot);
            moved |= m;
            if keep && !slot.sends.is_empty() && !slot.send_blocked {
                slot.send_blocked = true;
                self.blocked_sends.push(key);
            }
            if !keep {
                let managed = slot.managed;
                self.calls.remove(&key);
                if managed {
                    self.unref_socket(key.0);
                }
            }
        }
        calls.append(&mut self.dirty_calls);
        self.dirty_calls = calls;
        let mut sockets = std::mem::take(&mut self.dirty_sockets);
        let shared = self.shared.upgrade();
        for socket in sockets.drain(..) {
            let Some(st) = self.sockets.get_mut(&socket) else {
                continue;
            };
            st.dirty = false;
            moved |= sweep_socket(&mut self.ep, now, &mut self.calls, socket, st, &shared);
        }
        sockets.append(&mut self.dirty_sockets);
        self.dirty_sockets = sockets;
        moved
    }

    /// Retry every parked operation. Returns whether anything moved.
    fn sweep_everything(&mut self) -> bool {
        let now = self.now();
        let mut moved = false;
        let mut ended = Vec::new();
        let ep = &mut self.ep;
        let blocked = &mut self.blocked_sends;
        self.calls.retain(|&(socket, user_id), slot| {
            let (m, keep) = sweep_call(ep, now, socket, user_id, slot);
            moved |= m;
            if keep && !slot.sends.is_empty() && !slot.send_blocked {
                slot.send_blocked = true;
                blocked.push((socket, user_id));
            }
            if !keep && slot.managed {
                ended.push(socket);
            }
            keep
        });
        for s in ended {
            self.unref_socket(s);
        }
        let shared = self.shared.upgrade();
        for (&socket, st) in self.sockets.iter_mut() {
            moved |= sweep_socket(&mut self.ep, now, &mut self.calls, socket, st, &shared);
        }
        moved
    }
}

/// Group `out` into messages: with `gso`, each run of datagrams to one destination whose
/// sizes are equal (the last may be shorter) becomes one segmented message.
fn build_msgs(out: &[rxrpc_proto::Transmit], gso: bool, msgs: &mut Vec<OutMsg>) {
    msgs.clear();
    let mut i = 0;
    while let Some(t) = out.get(i) {
        let seg = t.contents.len();
        let mut count = 1;
        if gso && seg > 0 && u16::try_from(seg).is_ok() {
            let mut total = seg;
            while let Some(u) = out.get(i + count) {
                let len = u.contents.len();
                if count >= sys::MAX_SEGMENTS
                    || u.destination != t.destination
                    || len == 0
                    || len > seg
                    || total + len > sys::MAX_GSO_BYTES
                {
                    break;
                }
                total += len;
                count += 1;
                if len < seg {
                    break; // a shorter datagram ends the run
                }
            }
        }
        msgs.push(OutMsg {
            dest: t.destination,
            first: i,
            count,
            segment: if count > 1 { seg as u16 } else { 0 },
        });
        i += count;
    }
}

/// Keep a listener's backlog charged.
fn recharge(ep: &mut Endpoint, now: Instant, socket: SocketId, l: &mut ListenState) {
    if !l.handle_alive {
        return;
    }
    while ep.charged(socket) < l.backlog {
        let uid = l.next_user_id;
        l.next_user_id += 1;
        if let Err(e) = ep.charge_accept(now, socket, uid) {
            tracing::debug!("charge_accept: {e}");
            break;
        }
    }
}

/// Offer a pending send to the endpoint. `Some` when it is done (all queued, or failed).
fn progress_send(
    ep: &mut Endpoint,
    now: Instant,
    socket: SocketId,
    user_id: u64,
    ps: &mut PendingSend,
) -> Option<Result<()>> {
    if ps.first || !ps.data.is_empty() {
        ps.first = false;
        match ep.send(now, socket, user_id, ps.data.clone(), ps.more) {
            Ok(n) => ps.data.advance(n.min(ps.data.len())),
            Err(e) => return Some(Err(e.into())),
        }
        if !ps.data.is_empty() {
            return None;
        }
        if ps.more {
            return Some(Ok(()));
        }
    }
    // All data is queued and this ends the phase. `Endpoint::send` does not say whether the
    // final packet could be queued (it cannot when the queue is full), so probe: once the
    // phase is over, a further final send fails with `WrongState`.
    for _ in 0..2 {
        match ep.send(now, socket, user_id, Bytes::new(), false) {
            Err(CallError::WrongState(_)) => return Some(Ok(())),
            Err(e) => return Some(Err(e.into())),
            Ok(_) => {}
        }
    }
    None
}

/// Retry the parked operations of one call. Returns (moved, keep the slot).
fn sweep_call(
    ep: &mut Endpoint,
    now: Instant,
    socket: SocketId,
    user_id: u64,
    slot: &mut CallSlot,
) -> (bool, bool) {
    let mut moved = false;
    while let Some(ps) = slot.sends.front_mut() {
        if ps.reply.is_closed() {
            // Cancelled: whatever was queued stays queued, the rest is dropped.
            slot.sends.pop_front();
            continue;
        }
        let before = ps.data.len();
        let done = progress_send(ep, now, socket, user_id, ps);
        moved |= ps.data.len() != before;
        let Some(mut res) = done else { break };
        moved = true;
        if let (Err(Error::Call(CallError::UnknownId(_))), Some(c)) = (&res, slot.completion) {
            // A managed call released by its terminal message.
            res = Err(Error::Completed(c));
        }
        if res.is_ok() && !ps.more {
            slot.tx_finished = true;
        }
        if let Some(ps) = slot.sends.pop_front() {
            match (ps.reply, res) {
                (SendReply::Done(r), res) => {
                    let _ = r.send(res);
                }
                (SendReply::ThenRecv { max, reply }, Ok(())) => slot.recvs.push_back(PendingRecv {
                    max: max.max(1),
                    reply,
                }),
                (SendReply::ThenComplete(reply), Ok(())) => slot
                    .completion_waiters
                    .push(CompletionWaiter::AfterSend(reply)),
                (r, Err(e)) => r.fail(e),
            }
        }
    }
    if !slot.managed {
        return (moved, !slot.sends.is_empty());
    }
    if slot.completion.is_none() && !slot.released {
        if let Some(CallState::Complete(c)) = ep.call_state(socket, user_id) {
            slot.completion = Some(c);
        }
    }
    while let Some(pr) = slot.recvs.front() {
        if pr.reply.is_closed() {
            slot.recvs.pop_front();
            continue;
        }
        let max = pr.max;
        // (result, data that may go back to the endpoint with unrecv)
        let (result, from_endpoint) = if let Some(mut d) = slot.stash.take() {
            if d.len() > max {
                slot.stash = Some(d.split_off(max));
            }
            (Ok(Some(d)), false)
        } else if let Some(c) = slot.completion.filter(|c| !c.is_success()) {
            (Err(Error::Completed(c)), false)
        } else if slot.eod || slot.released {
            (Ok(None), false)
        } else {
            match ep.recv(now, socket, user_id, max) {
                Ok(Some(m)) => {
                    moved = true;
                    let plain = !m.end_of_data && m.terminal.is_none();
                    slot.eod |= m.end_of_data;
                    if let Some(t) = m.terminal {
                        slot.completion = Some(t);
                        slot.released = true;
                    }
                    match m.terminal {
                        Some(t) if !t.is_success() => (Err(Error::Completed(t)), false),
                        _ if plain && !m.data.is_empty() => {
                            let (data, plain) = gather(ep, now, socket, user_id, slot, m.data, max);
                            (Ok(Some(data)), plain)
                        }
                        _ if !m.data.is_empty() => (Ok(Some(m.data)), plain),
                        _ if slot.eod => (Ok(None), false),
                        _ => continue, // nothing the caller needs to see
                    }
                }
                Ok(None) => break,
                Err(e) => (Err(e.into()), false),
            }
        };
        let Some(pr) = slot.recvs.pop_front() else {
            break;
        };
        moved = true;
        let finished =
            slot.released && slot.stash.is_none() && slot.completion == Some(Completion::Succeeded);
        let eod = slot.eod && slot.stash.is_none();
        let result = result.map(|data| Received {
            data,
            finished,
            eod,
        });
        if let Err(Ok(Received {
            data: Some(data), ..
        })) = pr.reply.send(result)
        {
            // The receive was cancelled after the data was taken: put it back.
            if from_endpoint && ep.unrecv(socket, user_id, data.clone()).is_ok() {
                continue;
            }
            slot.stash = Some(match slot.stash.take() {
                Some(rest) => [data, rest].concat().into(),
                None => data,
            });
        }
    }
    if let Some(c) = slot.completion {
        for w in slot.completion_waiters.drain(..) {
            moved = true;
            w.complete(c);
        }
        if slot.orphan {
            if !slot.released {
                let _ = ep.end_call(now, socket, user_id);
            }
            return (true, false);
        }
    }
    (moved, true)
}

/// Append more of a call's in-order data to `first`, copying, up to `max` and
/// [`GATHER_MAX`] bytes, so that a stream reaches the handle in a few large pieces instead of
/// one round trip per packet (a copy costs far less than a round trip). Returns the data and
/// whether it may go back to the endpoint with `unrecv` (no end of data or terminal taken).
fn gather(
    ep: &mut Endpoint,
    now: Instant,
    socket: SocketId,
    user_id: u64,
    slot: &mut CallSlot,
    first: Bytes,
    max: usize,
) -> (Bytes, bool) {
    let limit = max.min(GATHER_MAX);
    if first.len() >= limit || !ep.call_readable(socket, user_id) {
        return (first, true);
    }
    let mut total = first.len();
    let mut parts = vec![first];
    let mut plain = true;
    while total < limit {
        let Ok(Some(m)) = ep.recv(now, socket, user_id, limit - total) else {
            break;
        };
        slot.eod |= m.end_of_data;
        if let Some(t) = m.terminal {
            slot.completion = Some(t);
            slot.released = true;
        }
        plain &= !m.end_of_data && m.terminal.is_none();
        if m.terminal.is_some_and(|t| !t.is_success()) {
            break; // the next receive reports the failure
        }
        total += m.data.len();
        if !m.data.is_empty() {
            parts.push(m.data);
        }
        if !plain {
            break;
        }
    }
    if parts.len() == 1 {
        return (parts.pop().unwrap_or_default(), plain);
    }
    let mut buf = BytesMut::with_capacity(total);
    for p in &parts {
        buf.extend_from_slice(p);
    }
    (buf.freeze(), plain)
}

/// Answer a socket's parked `recvmsg` calls and, for a listener, its parked `accept`s.
/// Returns whether anything moved.
fn sweep_socket(
    ep: &mut Endpoint,
    now: Instant,
    calls: &mut HashMap<(SocketId, u64), CallSlot>,
    socket: SocketId,
    st: &mut SockState,
    shared: &Option<Arc<Shared>>,
) -> bool {
    let mut moved = sweep_recvmsg(ep, now, socket, st);
    if let (Some(l), Some(shared)) = (st.listen.as_mut(), shared.as_ref()) {
        moved |= sweep_accept(ep, now, calls, socket, l, &mut st.refs, shared);
    }
    moved
}

/// Answer parked `recvmsg` calls of a socket.
fn sweep_recvmsg(ep: &mut Endpoint, now: Instant, socket: SocketId, st: &mut SockState) -> bool {
    let mut moved = false;
    while let Some((max, reply)) = st.recvmsg_waiters.front() {
        if reply.is_closed() {
            st.recvmsg_waiters.pop_front();
            continue;
        }
        let max = (*max).max(1);
        let msg = match st.stash.pop_front() {
            Some(mut m) => {
                if m.data.len() > max {
                    // Deliver the front; the rest keeps the end-of-data/terminal flags.
                    let front = m.data.split_to(max);
                    let head = RxMessage {
                        data: front,
                        end_of_data: false,
                        terminal: None,
                        ..m.clone()
                    };
                    st.stash.push_front(m);
                    head
                } else {
                    m
                }
            }
            None => match ep.recvmsg(now, socket, max) {
                Some(m) => RxMessage::from(m),
                None => break,
            },
        };
        let Some((_, reply)) = st.recvmsg_waiters.pop_front() else {
            break;
        };
        moved = true;
        if let Err(Ok(m)) = reply.send(Ok(msg)) {
            st.stash.push_front(m);
        }
    }
    moved
}

/// Hand incoming calls to parked `accept`s.
fn sweep_accept(
    ep: &mut Endpoint,
    now: Instant,
    calls: &mut HashMap<(SocketId, u64), CallSlot>,
    socket: SocketId,
    l: &mut ListenState,
    refs: &mut usize,
    shared: &Arc<Shared>,
) -> bool {
    let mut moved = false;
    while !l.incoming.is_empty() && !l.waiters.is_empty() {
        let Some(w) = l.waiters.pop_front() else {
            break;
        };
        if w.is_closed() {
            continue;
        }
        let Some(uid) = l.incoming.pop_front() else {
            break;
        };
        let (peer, service) = ep
            .call_peer(socket, uid)
            .unwrap_or((SocketAddr::from(([0, 0, 0, 0], 0)), ServiceId(0)));
        let security = ep
            .call_security(socket, uid)
            .map(|(index, level)| CallSecurity {
                index,
                level,
                identity: ep.call_identity(socket, uid),
            })
            .unwrap_or_default();
        let slot = calls.get_mut(&(socket, uid));
        let (data, eod) = match slot {
            Some(slot) => prefetch(ep, now, socket, uid, slot),
            None => (None, false),
        };
        let call = IncomingCall::new(
            Call::new(Arc::clone(shared), socket, uid, peer, service)
                .with_security(security)
                .with_prefetched(data, eod),
        );
        moved = true;
        match w.send(Ok(call)) {
            Ok(()) => *refs += 1,
            Err(Ok(ic)) => {
                // The accept was cancelled: keep the call (and its data) for the next one.
                if let (Some(data), Some(slot)) =
                    (ic.take_prefetched(), calls.get_mut(&(socket, uid)))
                {
                    slot.stash = Some(data);
                }
                ic.disarm();
                l.incoming.push_front(uid);
            }
            Err(Err(_)) => {}
        }
    }
    moved
}

/// The data an incoming call's handle starts with, so that a small request is read without a
/// round trip to the driver: what a cancelled accept left in the stash, or, once the whole
/// request is in, up to [`PREFETCH_MAX`] bytes of it. Returns the data and whether it reaches
/// the end of the request.
fn prefetch(
    ep: &mut Endpoint,
    now: Instant,
    socket: SocketId,
    uid: u64,
    slot: &mut CallSlot,
) -> (Option<Bytes>, bool) {
    if let Some(d) = slot.stash.take() {
        return (Some(d), slot.eod);
    }
    if slot.eod || !slot.recvs.is_empty() {
        return (None, slot.eod);
    }
    if ep.call_state(socket, uid) != Some(CallState::ServerAckRequest) {
        return (None, false);
    }
    let Ok(Some(m)) = ep.recv(now, socket, uid, PREFETCH_MAX) else {
        return (None, false);
    };
    slot.eod |= m.end_of_data;
    if let Some(t) = m.terminal {
        // Not while the request is merely complete; should it happen, receives report it.
        slot.completion = Some(t);
        slot.released = true;
    }
    let data = if !m.end_of_data && m.terminal.is_none() && !m.data.is_empty() {
        gather(ep, now, socket, uid, slot, m.data, PREFETCH_MAX).0
    } else {
        m.data
    };
    let eod = slot.eod && slot.completion.is_none_or(|c| c.is_success());
    ((!data.is_empty()).then_some(data), eod)
}

impl From<RecvMsg> for RxMessage {
    fn from(m: RecvMsg) -> Self {
        RxMessage {
            user_id: m.user_id,
            data: m.data,
            end_of_data: m.end_of_data,
            terminal: m.terminal,
            peer: m.peer,
            service_id: m.service_id,
        }
    }
}

/// A flag that a handle's `Drop` checks so that it releases only once.
#[derive(Debug, Default)]
pub(crate) struct Armed(AtomicBool);

impl Armed {
    pub(crate) fn new() -> Self {
        Armed(AtomicBool::new(true))
    }
    /// Disarm; returns whether it was armed.
    pub(crate) fn disarm(&self) -> bool {
        self.0.swap(false, Ordering::AcqRel)
    }
}
