//! Async call handles: [`Call`] and [`IncomingCall`].
//!
//! Layer: public API of `rxrpc` (the async call API). A `Call` names one call of the endpoint
//! by socket and user ID; every operation is a command to the driver task, which parks it
//! until it can be answered. Handles are cheap clones of one shared `Arc`; when the last clone
//! is dropped the call is released (see [`Call`]'s drop behaviour).

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use rxrpc_proto::security::{PeerIdentity, SecurityLevel};
use rxrpc_proto::wire::{AbortCode, SecurityIndex, ServiceId};
use rxrpc_proto::{Completion, LocalError, SocketId};

use crate::driver::{Armed, Command, Received, Reply, SendReply, Shared};
use crate::error::{Error, Result};

/// One RPC of the async API, client or service side.
///
/// Obtained from [`CallBuilder::open`](crate::CallBuilder::open) (client) or
/// [`Listener::accept`](crate::Listener::accept) (service). Cloning is cheap and every clone
/// names the same call, so one task can send while another receives.
///
/// # Drop
///
/// When the last clone is dropped the call is released (the socket API's `end_call`): an
/// unfinished call is aborted with `RX_CALL_DEAD` on the wire. One exception: a service call
/// whose whole reply has been queued ([`send_last`](Self::send_last) or
/// [`finish`](Self::finish) returned) only waits for the client's final ACK, so it is left to
/// finish in the background and released when it completes.
#[derive(Clone, Debug)]
pub struct Call {
    inner: Arc<CallInner>,
}

#[derive(Debug)]
struct CallInner {
    shared: Arc<Shared>,
    socket: SocketId,
    user_id: u64,
    peer: SocketAddr,
    service_id: ServiceId,
    security: CallSecurity,
    armed: Armed,
    /// The call succeeded and its terminal message was read (the driver said so with the last
    /// data): receives return `None` and the completion is `Succeeded` without a round trip
    /// to the driver.
    finished: AtomicBool,
    /// The end of the peer's data was handed over (the driver said so): receives return
    /// `None` without a round trip to the driver.
    eod: AtomicBool,
    /// Data handed over with an accepted call (a complete small request), returned by the
    /// first receives before asking the driver.
    prefetched: Mutex<Option<Bytes>>,
}

/// How a call is secured, and (for a service call) who the client proved to be.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallSecurity {
    /// Security index of the call's connection (0: rxnull).
    pub index: SecurityIndex,
    /// Protection level.
    pub level: SecurityLevel,
    /// Service calls: the client's authenticated identity (`None` for rxnull).
    pub identity: Option<Arc<PeerIdentity>>,
}

impl Drop for CallInner {
    fn drop(&mut self) {
        if self.armed.disarm() {
            self.shared.send(Command::DropCall {
                socket: self.socket,
                user_id: self.user_id,
            });
        }
    }
}

impl Call {
    pub(crate) fn new(
        shared: Arc<Shared>,
        socket: SocketId,
        user_id: u64,
        peer: SocketAddr,
        service_id: ServiceId,
    ) -> Self {
        Call {
            inner: Arc::new(CallInner {
                shared,
                socket,
                user_id,
                peer,
                service_id,
                security: CallSecurity::default(),
                armed: Armed::new(),
                finished: AtomicBool::new(false),
                eod: AtomicBool::new(false),
                prefetched: Mutex::new(None),
            }),
        }
    }

    /// Set the security description (before the handle is shared).
    /// Start with `data` already received; `eod`: it reaches the end of the peer's data.
    pub(crate) fn with_prefetched(self, data: Option<Bytes>, eod: bool) -> Self {
        *self
            .inner
            .prefetched
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = data;
        if eod {
            self.inner.eod.store(true, Ordering::Release);
        }
        self
    }

    /// Take up to `max` bytes of the data handed over at accept.
    fn take_prefetched(&self, max: usize) -> Option<Bytes> {
        let mut p = self
            .inner
            .prefetched
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut d = p.take()?;
        if d.len() > max.max(1) {
            *p = Some(d.split_off(max.max(1)));
        }
        Some(d)
    }

    pub(crate) fn with_security(mut self, security: CallSecurity) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.security = security;
        }
        self
    }

    /// How the call is secured; for a service call also who the client is.
    ///
    /// ```no_run
    /// # async fn f(listener: rxrpc::Listener) -> rxrpc::Result<()> {
    /// let call = listener.accept().await?;
    /// match &call.security().identity {
    ///     Some(who) => println!("call from {} at level {:?}", who.name, who.level),
    ///     None => println!("unauthenticated call"),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn security(&self) -> &CallSecurity {
        &self.inner.security
    }

    /// Forget the call without telling the driver (the driver already forgot it).
    pub(crate) fn disarm(&self) {
        self.inner.armed.disarm();
    }

    /// The peer's UDP address.
    pub fn peer(&self) -> SocketAddr {
        self.inner.peer
    }

    /// The service ID: for a client call, the one requested; for a service call, the one the
    /// call was accepted on (after any upgrade).
    pub fn service_id(&self) -> ServiceId {
        self.inner.service_id
    }

    /// The internal user call ID (unique on the call's socket; shows in
    /// [`Snapshot`](rxrpc_proto::Snapshot) rows).
    pub fn user_id(&self) -> u64 {
        self.inner.user_id
    }

    async fn send_inner(&self, data: Bytes, more: bool) -> Result<()> {
        self.send_then(data, more, SendReply::Done).await
    }

    /// Queue `data` (the phase stays open with `more`) and have the driver answer with what
    /// `then` asks for once all of it is queued.
    async fn send_then<T>(
        &self,
        data: Bytes,
        more: bool,
        then: impl FnOnce(Reply<T>) -> SendReply,
    ) -> Result<T> {
        let (socket, user_id) = (self.inner.socket, self.inner.user_id);
        self.inner
            .shared
            .request(|reply| Command::Send {
                socket,
                user_id,
                data,
                more,
                reply: then(reply),
            })
            .await
    }

    /// Queue `data` for sending, keeping this phase open (more data or
    /// [`finish`](Self::finish) follows). Waits while the transmit queue is full
    /// (backpressure) and returns once all of `data` is queued.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: if the future is dropped while waiting for queue space, a prefix of
    /// `data` may already have been queued (and will be sent) while the rest is discarded.
    /// The call's data stream is then incomplete; abort the call.
    pub async fn send(&self, data: Bytes) -> Result<()> {
        self.send_inner(data, true).await
    }

    /// Copy `data` and queue it like [`send`](Self::send).
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe, as [`send`](Self::send).
    pub async fn send_all(&self, data: &[u8]) -> Result<()> {
        self.send_inner(Bytes::copy_from_slice(data), true).await
    }

    /// Queue `data` as the last data of this phase (the request for a client, the reply for a
    /// service call). Returns once everything, including the final packet, is queued.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe, as [`send`](Self::send): if cancelled, a prefix may have been queued
    /// and the phase is left open.
    pub async fn send_last(&self, data: Bytes) -> Result<()> {
        self.send_inner(data, false).await
    }

    /// End this phase without more data (`send_last` of nothing).
    ///
    /// # Cancel safety
    ///
    /// If cancelled, the phase may or may not have been ended.
    pub async fn finish(&self) -> Result<()> {
        self.send_inner(Bytes::new(), false).await
    }

    /// Receive the next piece of the peer's data, waiting until there is some. `Ok(None)`
    /// means end of data (for a client: the whole reply was read). If the call failed,
    /// returns [`Error::Completed`] with the completion, e.g. `RemoteAbort(code)`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: if the future is dropped, no data is lost; data the driver had already
    /// taken is put back in front of the call's receive queue.
    pub async fn recv(&self) -> Result<Option<Bytes>> {
        self.recv_max(usize::MAX).await
    }

    /// Like [`recv`](Self::recv), taking at most `max` bytes (at least 1).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`recv`](Self::recv).
    pub async fn recv_max(&self, max: usize) -> Result<Option<Bytes>> {
        if let Some(d) = self.take_prefetched(max) {
            return Ok(Some(d));
        }
        if self.inner.finished.load(Ordering::Acquire) || self.inner.eod.load(Ordering::Acquire) {
            return Ok(None);
        }
        let (socket, user_id) = (self.inner.socket, self.inner.user_id);
        let shared = &self.inner.shared;
        let r = shared
            .request_keep(
                |reply| Command::Recv {
                    socket,
                    user_id,
                    max,
                    reply,
                },
                |r: Received| {
                    if let Some(data) = r.data {
                        shared.send(Command::Unrecv {
                            socket,
                            user_id,
                            data,
                        });
                    }
                },
            )
            .await?;
        self.note(&r);
        Ok(r.data)
    }

    /// Receive everything up to end of data, failing with [`Error::TooLong`] if more than
    /// `limit` bytes arrive.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: data received before the future was dropped is lost.
    pub async fn recv_to_end(&self, limit: usize) -> Result<Bytes> {
        let first = self.recv().await?;
        self.recv_rest(first, limit).await
    }

    /// Queue `data` as the last data of this phase and receive everything up to the end of
    /// the peer's data: [`send_last`](Self::send_last) then [`recv_to_end`](Self::recv_to_end)
    /// in one exchange with the driver (the usual client request and reply). Fails with
    /// [`Error::TooLong`] if more than `limit` bytes arrive.
    ///
    /// ```no_run
    /// # async fn f(call: rxrpc::Call) -> rxrpc::Result<()> {
    /// let reply = call.request(bytes::Bytes::from_static(b"ping"), 1 << 20).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe, as [`send_last`](Self::send_last) and
    /// [`recv_to_end`](Self::recv_to_end).
    pub async fn request(&self, data: Bytes, limit: usize) -> Result<Bytes> {
        let r = self
            .send_then(data, false, |reply| SendReply::ThenRecv {
                max: usize::MAX,
                reply,
            })
            .await?;
        self.note(&r);
        self.recv_rest(r.data, limit).await
    }

    /// Remember what the driver said about the end of the call's data.
    fn note(&self, r: &Received) {
        if r.finished {
            self.inner.finished.store(true, Ordering::Release);
        }
        if r.eod {
            self.inner.eod.store(true, Ordering::Release);
        }
    }

    /// Queue `data` as the last data of this phase and wait until the call completes:
    /// [`send_last`](Self::send_last) then [`completion`](Self::completion) in one exchange
    /// with the driver (the usual end of a service call: the reply, then the client's final
    /// ACK). Errors are those of `send_last`; a call that fails after its data was queued
    /// returns `Ok` with the failed completion.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe, as [`send_last`](Self::send_last); once the data is queued, cancelling
    /// only stops the wait.
    pub async fn send_last_and_complete(&self, data: Bytes) -> Result<Completion> {
        self.send_then(data, false, SendReply::ThenComplete).await
    }

    /// The rest of [`recv_to_end`](Self::recv_to_end) after its first receive gave `first`.
    async fn recv_rest(&self, first: Option<Bytes>, limit: usize) -> Result<Bytes> {
        // A single-chunk message is returned without a copy.
        let Some(chunk) = first else {
            return Ok(Bytes::new());
        };
        if chunk.len() > limit {
            return Err(Error::TooLong(limit));
        }
        let mut total = chunk.len();
        let mut first: Option<Bytes> = Some(chunk);
        let mut buf = BytesMut::new();
        while let Some(chunk) = self.recv().await? {
            total = total.saturating_add(chunk.len());
            if total > limit {
                return Err(Error::TooLong(limit));
            }
            match first.take() {
                None if buf.is_empty() => first = Some(chunk),
                Some(f) => {
                    buf.extend_from_slice(&f);
                    buf.extend_from_slice(&chunk);
                }
                None => buf.extend_from_slice(&chunk),
            }
        }
        Ok(first.unwrap_or_else(|| buf.freeze()))
    }

    /// Abort the call with `code`. The call completes with `LocalAbort` and the peer gets an
    /// ABORT packet. Aborting a completed call does nothing.
    ///
    /// # Cancel safety
    ///
    /// If cancelled, the abort may or may not have happened.
    pub async fn abort(&self, code: AbortCode) -> Result<()> {
        let (socket, user_id) = (self.inner.socket, self.inner.user_id);
        self.inner
            .shared
            .request(|reply| Command::Abort {
                socket,
                user_id,
                code,
                reply,
            })
            .await
    }

    /// Wait until the call completes and return how. A client call completes once the whole
    /// reply has arrived; a service call once the client acknowledged the whole reply. If the
    /// driver has stopped, returns `LocalError(Shutdown)`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn completion(&self) -> Completion {
        if self.inner.finished.load(Ordering::Acquire) {
            return Completion::Succeeded;
        }
        let (socket, user_id) = (self.inner.socket, self.inner.user_id);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let shutdown = Completion::LocalError(LocalError::Shutdown);
        if !self.inner.shared.send(Command::Completion {
            socket,
            user_id,
            reply: tx,
        }) {
            return shutdown;
        }
        rx.await.unwrap_or(shutdown)
    }
}

/// A service call just accepted by a [`Listener`](crate::Listener): a [`Call`] (through
/// `Deref`) that may still be rejected.
///
/// Dropping it without [`reject`](Self::reject) behaves like dropping the `Call`.
#[derive(Debug)]
pub struct IncomingCall {
    call: Call,
}

impl IncomingCall {
    pub(crate) fn new(call: Call) -> Self {
        IncomingCall { call }
    }

    /// All the data handed over with the call and not yet read.
    pub(crate) fn take_prefetched(&self) -> Option<Bytes> {
        self.call.take_prefetched(usize::MAX)
    }

    /// The driver keeps the call (cancelled accept): forget this handle silently.
    pub(crate) fn disarm(self) {
        self.call.disarm();
    }

    /// Keep the call: the plain [`Call`] handle.
    pub fn into_call(self) -> Call {
        self.call
    }

    /// Reject the call: abort it with `code` and release it.
    ///
    /// # Cancel safety
    ///
    /// The rejection is queued at the first poll; cancelling afterwards does not undo it.
    pub async fn reject(self, code: AbortCode) -> Result<()> {
        let inner = &self.call.inner;
        inner.armed.disarm();
        let (socket, user_id) = (inner.socket, inner.user_id);
        inner
            .shared
            .request(|reply| Command::Reject {
                socket,
                user_id,
                code,
                reply: Some(reply),
            })
            .await
    }
}

impl Deref for IncomingCall {
    type Target = Call;
    fn deref(&self) -> &Call {
        &self.call
    }
}

/// Convert a failed completion into an error (helper for users of [`Call::completion`]).
impl From<Completion> for Error {
    fn from(c: Completion) -> Self {
        Error::Completed(c)
    }
}
