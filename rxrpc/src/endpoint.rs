//! The endpoint handle [`RxEndpoint`], the client call builder [`CallBuilder`] and the
//! service-side [`Listener`].
//!
//! Layer: public API of `rxrpc` (the async call API). An `RxEndpoint` is a cheap, cloneable
//! handle to one UDP endpoint and its driver task. It makes client calls on an internal socket
//! with unique user IDs, opens listeners (each a socket of its own whose backlog is kept
//! charged), and opens AF_RXRPC-like [`RxSocket`]s on the same UDP port.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rxrpc_proto::security::{ClientSecurityRef, SecurityLevel, ServerSecurityRef};
use rxrpc_proto::wire::ServiceId;
use rxrpc_proto::{CallParams, EndpointConfig, Snapshot, SocketId};

use crate::call::{Call, CallSecurity, IncomingCall};
use crate::driver::{self, Armed, Command, ListenSecurity, Shared};
use crate::error::{Error, Result};
use crate::socket::RxSocket;

/// A handle to one UDP endpoint and its driver task. Cheap to clone.
///
/// The driver runs as long as any handle (endpoint, socket, listener or call) exists.
#[derive(Clone, Debug)]
pub struct RxEndpoint {
    pub(crate) shared: Arc<Shared>,
}

/// The default endpoint configuration with a random [`EndpointConfig::rng_seed`] (from the
/// OS), so that endpoints pick different epochs and connection IDs.
pub fn default_config() -> EndpointConfig {
    let mut config = EndpointConfig::default();
    config.rng_seed = getrandom::u64().unwrap_or_else(|_| {
        // No OS randomness: fall back on the clock and the process ID.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        t ^ (u64::from(std::process::id()) << 32)
    });
    config
}

/// How an endpoint's driver task runs: options of this runtime, not of the protocol (those
/// are in [`EndpointConfig`]).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct RuntimeConfig {
    /// Before the driver sleeps waiting for a datagram, a command or a timer, it keeps looking
    /// for this long, yielding to the other tasks in between (each yield lets tokio poll the
    /// socket without blocking). Zero (the default) sleeps at once.
    ///
    /// Busy polling trades CPU for latency, like Linux's `SO_BUSY_POLL`: waking a sleeping
    /// thread, above all on a virtual machine whose idle CPUs halt, can take longer than the
    /// whole exchange. On the 2-vCPU virtual machine of `bench/results/`, 50 µs raised one
    /// caller's 4-byte RPCs from about 11 k to 27-31 k calls/s (median round trip 91 µs ->
    /// 23 µs, three times a blocking raw-UDP ping-pong), while each endpoint keeps one CPU
    /// busy for up to 50 µs after every burst of work. Worth it for latency-bound clients and
    /// servers with CPUs to spare; not for many endpoints per core.
    pub busy_poll: Duration,
}

impl RuntimeConfig {
    /// Set [`busy_poll`](Self::busy_poll).
    pub fn busy_poll(mut self, d: Duration) -> Self {
        self.busy_poll = d;
        self
    }
}

impl RxEndpoint {
    /// Bind a UDP socket at `local` (port 0 picks an ephemeral port) and start the endpoint's
    /// driver task with [`default_config`]. Must be called within a tokio runtime.
    pub async fn bind(local: SocketAddr) -> io::Result<RxEndpoint> {
        Self::bind_with_config(local, default_config()).await
    }

    /// Like [`bind`](Self::bind) with an explicit configuration.
    pub async fn bind_with_config(
        local: SocketAddr,
        config: EndpointConfig,
    ) -> io::Result<RxEndpoint> {
        Self::bind_with(local, config, RuntimeConfig::default()).await
    }

    /// Like [`bind_with_config`](Self::bind_with_config), also choosing how the driver task
    /// runs.
    ///
    /// ```no_run
    /// # async fn f() -> std::io::Result<()> {
    /// use std::time::Duration;
    /// use rxrpc::{RuntimeConfig, RxEndpoint, default_config};
    /// // Latency first: poll for 50 µs before sleeping (costs CPU while idle).
    /// let runtime = RuntimeConfig::default().busy_poll(Duration::from_micros(50));
    /// let ep = RxEndpoint::bind_with("127.0.0.1:0".parse().unwrap(), default_config(), runtime)
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn bind_with(
        local: SocketAddr,
        config: EndpointConfig,
        runtime: RuntimeConfig,
    ) -> io::Result<RxEndpoint> {
        let shared = driver::spawn(local, config, runtime).await?;
        Ok(RxEndpoint { shared })
    }

    /// The local UDP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// Start building a client call to `service` at `peer`.
    pub fn call(&self, peer: SocketAddr, service: ServiceId) -> CallBuilder {
        CallBuilder {
            endpoint: self.clone(),
            params: CallParams::new(peer, service),
        }
    }

    /// Listen for calls to `services` (one or two service IDs) with a backlog of `backlog`
    /// preallocated calls (at least 1, at most [`EndpointConfig::max_backlog`]), kept charged
    /// automatically.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: if cancelled, a listener the driver had already opened is closed.
    pub async fn listen(&self, services: &[ServiceId], backlog: usize) -> Result<Listener> {
        self.listen_inner(services, None, backlog, ListenSecurity::default())
            .await
    }

    /// Like [`listen`](Self::listen), accepting calls secured by `classes` (e.g. an rxkad
    /// server object holding the service's keys) besides rxnull; with `require_security`,
    /// rxnull calls are refused with `RX_INVALID_OPERATION`. A secured connection's calls
    /// reach [`Listener::accept`] only after the client answered the CHALLENGE, and
    /// [`Call::security`] then says who the client is.
    ///
    /// # Cancel safety
    ///
    /// As [`listen`](Self::listen).
    pub async fn listen_secure(
        &self,
        services: &[ServiceId],
        backlog: usize,
        classes: Vec<ServerSecurityRef>,
        require_security: bool,
    ) -> Result<Listener> {
        let security = ListenSecurity {
            classes,
            require: require_security,
        };
        self.listen_inner(services, None, backlog, security).await
    }

    /// Like [`listen`](Self::listen) on two services, upgrading calls to `from` that ask for
    /// an upgrade to `to` (AuriStor convention).
    ///
    /// # Cancel safety
    ///
    /// As [`listen`](Self::listen).
    pub async fn listen_with_upgrade(
        &self,
        from: ServiceId,
        to: ServiceId,
        backlog: usize,
    ) -> Result<Listener> {
        self.listen_inner(
            &[from, to],
            Some((from, to)),
            backlog,
            ListenSecurity::default(),
        )
        .await
    }

    async fn listen_inner(
        &self,
        services: &[ServiceId],
        upgrade: Option<(ServiceId, ServiceId)>,
        backlog: usize,
        security: ListenSecurity,
    ) -> Result<Listener> {
        let services = services.to_vec();
        let socket = self
            .shared
            .request(|reply| Command::OpenListener {
                security: security.clone(),
                services: services.clone(),
                upgrade,
                backlog,
                reply,
            })
            .await?;
        Ok(Listener {
            inner: Arc::new(ListenerInner {
                shared: Arc::clone(&self.shared),
                socket,
                services,
                armed: Armed::new(),
            }),
        })
    }

    /// Open another AF_RXRPC-like socket on this endpoint. Closing it releases only its own
    /// calls.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: if cancelled, a socket the driver had already opened is closed.
    pub async fn open_socket(&self) -> Result<RxSocket> {
        let socket = self
            .shared
            .request(|reply| Command::OpenSocket { reply })
            .await?;
        Ok(RxSocket::new(self.clone(), socket))
    }

    /// The snapshot the driver last published: taken at most [`PUBLISH_EVERY`] ago while the
    /// endpoint is busy (and when the driver last did any work otherwise). Reading it never
    /// involves the driver, like the kernel's RCU-protected `/proc/net/rxrpc` walk. Print it
    /// with `Display` (all tables) or `proc_calls()` and friends.
    ///
    /// [`PUBLISH_EVERY`]: Self::PUBLISH_EVERY
    pub fn published_snapshot(&self) -> Arc<Snapshot> {
        self.shared.published.borrow().clone()
    }

    /// How often a busy driver republishes its snapshot.
    pub const PUBLISH_EVERY: std::time::Duration = crate::driver::PUBLISH_EVERY;

    /// A `/proc`-like picture of the endpoint's calls and connections, answered by the driver
    /// between two batches of work (it never waits for a call).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn snapshot(&self) -> Result<Snapshot> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if !self.shared.send(Command::Snapshot { reply: tx }) {
            return Err(Error::DriverGone);
        }
        rx.await.map_err(|_| Error::DriverGone)
    }
}

/// Builder of a client call; see [`RxEndpoint::call`].
#[derive(Debug)]
#[must_use = "a CallBuilder does nothing until open() is awaited"]
pub struct CallBuilder {
    endpoint: RxEndpoint,
    params: CallParams,
}

impl CallBuilder {
    /// Use a connection of its own that is never shared or reused.
    pub fn exclusive(mut self, on: bool) -> Self {
        self.params = self.params.exclusive(on);
        self
    }

    /// Ask the server to upgrade the service.
    pub fn upgrade(mut self, on: bool) -> Self {
        self.params = self.params.upgrade(on);
        self
    }

    /// Announce the exact length of the request; sending more or less fails.
    pub fn tx_total_len(mut self, len: u64) -> Self {
        self.params = self.params.tx_total_len(len);
        self
    }

    /// Make the call with these credentials (e.g. an rxkad or rxgk client object). Calls
    /// share connections only when they use the same credentials object.
    pub fn security(mut self, security: ClientSecurityRef) -> Self {
        self.params = self.params.security(security);
        self
    }

    /// Hard limit on the whole call's duration.
    pub fn hard_timeout(mut self, d: Duration) -> Self {
        self.params = self.params.hard_timeout(d);
        self
    }

    /// The call fails if nothing is heard from the peer for this long.
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.params = self.params.idle_timeout(d);
        self
    }

    /// Create the call. Nothing is sent until data is queued with [`Call::send`] and friends.
    ///
    /// Returns at once, without waiting for the driver: if the call cannot begin (invalid
    /// parameters, a resource limit), its first operation fails with that error
    /// ([`Error::Call`]) and [`Call::completion`] returns
    /// `LocalError(SendFailed(errno))` (`EINVAL`, `ENOBUFS`, ...). Only a stopped driver is
    /// reported here ([`Error::DriverGone`]).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it does not wait; a call whose handle is dropped is released.
    pub async fn open(self) -> Result<Call> {
        let shared = &self.endpoint.shared;
        let user_id = shared.next_user_id.fetch_add(1, Ordering::Relaxed);
        let security = CallSecurity {
            index: self.params.security_index,
            level: self
                .params
                .security
                .as_ref()
                .map_or(SecurityLevel::Plain, |s| s.level()),
            identity: None,
        };
        let call = Call::new(
            Arc::clone(shared),
            shared.client_socket,
            user_id,
            self.params.peer,
            self.params.service_id,
        )
        .with_security(security);
        // Commands are run in order, so the call's later operations find it begun (or find
        // why it could not begin).
        if shared.send(Command::BeginCall {
            user_id,
            params: self.params,
        }) {
            Ok(call)
        } else {
            call.disarm();
            Err(Error::DriverGone)
        }
    }
}

/// Accepts incoming calls for one or two services; see [`RxEndpoint::listen`].
///
/// Cheap to clone. When the last clone is dropped the listener stops listening: calls not yet
/// accepted are aborted with `RX_CALL_DEAD`, incoming calls are refused with
/// `RX_INVALID_OPERATION`, and the services are unbound once the accepted calls are gone too.
#[derive(Clone, Debug)]
pub struct Listener {
    inner: Arc<ListenerInner>,
}

#[derive(Debug)]
struct ListenerInner {
    shared: Arc<Shared>,
    socket: SocketId,
    services: Vec<ServiceId>,
    armed: Armed,
}

impl Drop for ListenerInner {
    fn drop(&mut self) {
        if self.armed.disarm() {
            self.shared.send(Command::DropListener {
                socket: self.socket,
            });
        }
    }
}

impl Listener {
    /// Wait for the next incoming call.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: an incoming call is never lost; if the future is dropped, the call goes
    /// to the next `accept`.
    pub async fn accept(&self) -> Result<IncomingCall> {
        let socket = self.inner.socket;
        let shared = &self.inner.shared;
        shared
            .request_keep(
                |reply| Command::Accept { socket, reply },
                |incoming: IncomingCall| {
                    let user_id = incoming.user_id();
                    let data = incoming.take_prefetched();
                    incoming.disarm();
                    shared.send(Command::Requeue {
                        socket,
                        user_id,
                        data,
                    });
                },
            )
            .await
    }

    /// The services listened on.
    pub fn services(&self) -> &[ServiceId] {
        &self.inner.services
    }

    /// The local UDP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.shared.local_addr
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use rxrpc_proto::wire::ServiceId;
    use rxrpc_proto::{CallError, Completion, LocalError};

    use super::RxEndpoint;
    use crate::error::Error;

    /// `open` does not wait for the driver: a call that cannot begin is handed out, and its
    /// operations and completion report why; dropping it leaves nothing behind.
    #[tokio::test]
    async fn a_call_that_cannot_begin_fails_its_operations() {
        let ep = RxEndpoint::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let call = ep.call(ep.local_addr(), ServiceId(0)).open().await.unwrap();
        match call.send_last(Bytes::from_static(b"x")).await {
            Err(Error::Call(CallError::InvalidParams(_))) => {}
            other => panic!("send on a call that never began: {other:?}"),
        }
        match call.recv().await {
            Err(Error::Call(CallError::InvalidParams(_))) => {}
            other => panic!("recv on a call that never began: {other:?}"),
        }
        assert!(matches!(
            call.abort(rxrpc_proto::wire::AbortCode::RX_CALL_DEAD).await,
            Err(Error::Call(CallError::InvalidParams(_)))
        ));
        assert_eq!(
            call.completion().await,
            Completion::LocalError(LocalError::SendFailed(22))
        );
        let user_id = call.user_id();
        drop(call);
        // The driver forgets the failure with the handle: a stale ID is unknown again.
        let stale = crate::call::Call::new(
            std::sync::Arc::clone(&ep.shared),
            ep.shared.client_socket,
            user_id,
            ep.local_addr(),
            ServiceId(0),
        );
        stale.disarm();
        assert!(matches!(
            stale.recv().await,
            Err(Error::Call(CallError::UnknownId(id))) if id == user_id
        ));
        assert_eq!(ep.snapshot().await.unwrap().calls.len(), 0);
    }

    /// `request` (client) and `send_last_and_complete` (service) each do their two steps in
    /// one exchange with the driver; the service sees the end of the request without asking
    /// again; a reply over the limit fails the request.
    #[tokio::test]
    async fn request_and_reply_in_one_exchange() {
        let fut = async {
            let server = RxEndpoint::bind("127.0.0.1:0".parse().unwrap())
                .await
                .unwrap();
            let listener = server.listen(&[ServiceId(77)], 4).await.unwrap();
            let serve = tokio::spawn(async move {
                let mut completions = Vec::new();
                for _ in 0..2 {
                    let call = listener.accept().await.unwrap().into_call();
                    let req = call.recv_to_end(1024).await.unwrap();
                    assert!(call.recv().await.unwrap().is_none());
                    let mut reply = req.to_vec();
                    reply.reverse();
                    completions.push(call.send_last_and_complete(reply.into()).await.unwrap());
                }
                completions
            });
            let client = RxEndpoint::bind("127.0.0.1:0".parse().unwrap())
                .await
                .unwrap();
            let call = client
                .call(server.local_addr(), ServiceId(77))
                .open()
                .await
                .unwrap();
            let reply = call.request(Bytes::from_static(b"ping"), 4).await.unwrap();
            assert_eq!(&reply[..], b"gnip");
            assert!(call.recv().await.unwrap().is_none());
            assert_eq!(call.completion().await, Completion::Succeeded);
            let call = client
                .call(server.local_addr(), ServiceId(77))
                .open()
                .await
                .unwrap();
            assert!(matches!(
                call.request(Bytes::from_static(b"ping!"), 4).await,
                Err(Error::TooLong(4))
            ));
            drop(call);
            let completions = serve.await.unwrap();
            assert_eq!(completions.first(), Some(&Completion::Succeeded));
            // A request on a call that never began fails with the reason.
            let call = client
                .call(server.local_addr(), ServiceId(0))
                .open()
                .await
                .unwrap();
            assert!(matches!(
                call.request(Bytes::from_static(b"x"), 4).await,
                Err(Error::Call(CallError::InvalidParams(_)))
            ));
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), fut)
            .await
            .expect("test timed out");
    }
}
