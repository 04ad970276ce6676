//! An AF_RXRPC-like socket: [`RxSocket`].
//!
//! Layer: public API of `rxrpc` (the socket API), mirroring Linux's `AF_RXRPC` sockets
//! (`reference-linux-rxrpc.md` §6): the application names calls with its own *user call IDs*,
//! creates client calls by sending to a new ID with a destination, charges the backlog of a
//! listening socket with preallocated IDs (`RXRPC_CHARGE_ACCEPT`), and reads every call of the
//! socket through one [`recvmsg`](RxSocket::recvmsg), whose terminal message releases the call
//! (the ID may be reused at once). Closing the socket releases all of its calls at once and
//! aborts the unfinished ones on the wire with `RX_CALL_DEAD`.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), rxrpc::Error> {
//! use bytes::Bytes;
//! use rxrpc::ServiceId;
//! use rxrpc::socket::{RxSocket, SendMsg};
//!
//! let server = RxSocket::bind("127.0.0.1:0".parse().unwrap()).await?;
//! server.bind_service(ServiceId(4000)).await?;
//! server.listen(4).await?;
//! server.charge_accept(100).await?;
//!
//! let client = RxSocket::bind("127.0.0.1:0".parse().unwrap()).await?;
//! let dest = Some((server.local_addr(), ServiceId(4000)));
//! client.sendmsg(1, SendMsg { data: Bytes::from_static(b"ping"), dest, ..Default::default() })
//!     .await?;
//!
//! let req = server.recvmsg(1024).await?;
//! assert_eq!((req.user_id, &req.data[..], req.end_of_data), (100, &b"ping"[..], true));
//! server.sendmsg(100, SendMsg::new(Bytes::from_static(b"pong"))).await?;
//!
//! let reply = client.recvmsg(1024).await?;
//! assert_eq!(&reply.data[..], b"pong");
//! assert!(reply.terminal.unwrap().is_success()); // user ID 1 is free again
//! # Ok(()) }
//! ```

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use rxrpc_proto::wire::{AbortCode, ServiceId};
use rxrpc_proto::{Completion, Snapshot, SocketId};

use crate::call::CallSecurity;
use crate::driver::{Armed, Command, ListenSecurity};
use crate::endpoint::RxEndpoint;
use crate::error::{Error, Result};
use rxrpc_proto::security::ServerSecurityRef;

/// What to send with [`RxSocket::sendmsg`]: the data plus the control messages of AF_RXRPC.
///
/// Build it with a struct literal and `..Default::default()`, or with [`SendMsg::new`] and the
/// builder methods.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SendMsg {
    /// The data to queue.
    pub data: Bytes,
    /// More data follows in this phase (`MSG_MORE`); `false` ends the phase.
    pub more: bool,
    /// Create a new client call to this service at this address (the `msg_name`). The user
    /// ID must not be in use.
    pub dest: Option<(SocketAddr, ServiceId)>,
    /// New call: use a connection of its own (`RXRPC_EXCLUSIVE_CALL`).
    pub exclusive: bool,
    /// New call: probe for a service upgrade (`RXRPC_UPGRADE_SERVICE`).
    pub upgrade: bool,
    /// New call: the exact request length (`RXRPC_TX_LENGTH`).
    pub tx_total_len: Option<u64>,
    /// New call: hard limit on the call's duration (`RXRPC_SET_CALL_TIMEOUT`).
    pub hard_timeout: Option<Duration>,
    /// New call: fail if the peer is silent this long (`RXRPC_SET_CALL_TIMEOUT`).
    pub idle_timeout: Option<Duration>,
    /// Abort the call with this code instead of sending (`RXRPC_ABORT`); `data` is ignored.
    pub abort: Option<AbortCode>,
}

impl SendMsg {
    /// `data` as the last data of the phase (no `more`, no destination).
    pub fn new(data: Bytes) -> Self {
        SendMsg {
            data,
            ..SendMsg::default()
        }
    }

    /// Builder: create a new client call to `service` at `peer`.
    pub fn to(mut self, peer: SocketAddr, service: ServiceId) -> Self {
        self.dest = Some((peer, service));
        self
    }

    /// Builder: more data follows.
    pub fn more(mut self, more: bool) -> Self {
        self.more = more;
        self
    }

    /// An abort of the call with `code`.
    pub fn abort(code: AbortCode) -> Self {
        SendMsg {
            abort: Some(code),
            ..SendMsg::default()
        }
    }
}

/// What [`RxSocket::recvmsg`] returned: data of one call, and possibly its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RxMessage {
    /// The call's user ID.
    pub user_id: u64,
    /// In-order data (possibly empty).
    pub data: Bytes,
    /// All of the peer's data for this phase has now been received (no `MSG_MORE`).
    pub end_of_data: bool,
    /// The call's terminal message: how it completed. When set, the call has been released
    /// and its user ID may be reused at once.
    pub terminal: Option<Completion>,
    /// The peer's address.
    pub peer: SocketAddr,
    /// The call's service ID (after any upgrade).
    pub service_id: ServiceId,
}

/// An AF_RXRPC-like socket; see the [module documentation](self).
///
/// Methods take `&self`; share a socket between tasks with an `Arc`. Dropping the socket
/// closes it like [`close`](Self::close).
#[derive(Debug)]
pub struct RxSocket {
    endpoint: RxEndpoint,
    socket: SocketId,
    open: Armed,
}

impl Drop for RxSocket {
    fn drop(&mut self) {
        if self.open.disarm() {
            self.endpoint.shared.send(Command::CloseSocket {
                socket: self.socket,
                reply: None,
            });
        }
    }
}

impl RxSocket {
    pub(crate) fn new(endpoint: RxEndpoint, socket: SocketId) -> Self {
        RxSocket {
            endpoint,
            socket,
            open: Armed::new(),
        }
    }

    /// Create a new endpoint bound at `local` (port 0 picks an ephemeral port) and open a
    /// socket on it. More sockets can share the endpoint through
    /// [`endpoint().open_socket()`](RxEndpoint::open_socket).
    pub async fn bind(local: SocketAddr) -> io::Result<RxSocket> {
        let endpoint = RxEndpoint::bind(local).await?;
        Ok(endpoint.open_socket().await?)
    }

    /// The local UDP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.endpoint.local_addr()
    }

    /// The endpoint this socket lives on.
    pub fn endpoint(&self) -> &RxEndpoint {
        &self.endpoint
    }

    async fn request<T>(&self, make: impl FnOnce(crate::driver::Reply<T>) -> Command) -> Result<T> {
        self.endpoint.shared.request(make).await
    }

    /// Serve `service` on this socket (at most two services per socket; each service on one
    /// socket of the endpoint).
    ///
    /// # Cancel safety
    ///
    /// If cancelled, the service may or may not have been bound.
    pub async fn bind_service(&self, service: ServiceId) -> Result<()> {
        let socket = self.socket;
        self.request(|reply| Command::BindService {
            socket,
            service,
            reply,
        })
        .await
    }

    /// Upgrade calls to `from` that ask for it to `to` (both bound on this socket).
    ///
    /// # Cancel safety
    ///
    /// If cancelled, the setting may or may not have been applied.
    pub async fn set_upgrade(&self, from: ServiceId, to: ServiceId) -> Result<()> {
        let socket = self.socket;
        self.request(|reply| Command::SetUpgrade {
            socket,
            from,
            to,
            reply,
        })
        .await
    }

    /// Listen with a backlog of at most `backlog` charged calls; 0 stops listening and
    /// discards the charged calls.
    ///
    /// # Cancel safety
    ///
    /// If cancelled, the setting may or may not have been applied.
    pub async fn listen(&self, backlog: usize) -> Result<()> {
        let socket = self.socket;
        self.request(|reply| Command::Listen {
            socket,
            backlog,
            reply,
        })
        .await
    }

    /// Charge the backlog with a preallocated service call under `user_id`: the next
    /// incoming call takes it and its request appears on [`recvmsg`](Self::recvmsg) under
    /// that ID.
    ///
    /// # Cancel safety
    ///
    /// If cancelled, the charge may or may not have been made.
    pub async fn charge_accept(&self, user_id: u64) -> Result<()> {
        let socket = self.socket;
        self.request(|reply| Command::ChargeAccept {
            socket,
            user_id,
            reply,
        })
        .await
    }

    /// Send on the call `user_id`, creating it first if `msg.dest` is set (then the ID must be
    /// new: [`CallError::DuplicateId`](rxrpc_proto::CallError::DuplicateId) otherwise); with
    /// `msg.abort`, abort the call instead. Waits while the call's transmit queue is full and
    /// returns once all of `msg.data` (and, without `more`, the end of the phase) is queued.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: if cancelled while waiting for queue space, a prefix of the data may
    /// have been queued and the rest is discarded; abort the call then. A call created by
    /// this message stays created.
    pub async fn sendmsg(&self, user_id: u64, msg: SendMsg) -> Result<()> {
        let socket = self.socket;
        self.request(|reply| Command::SendMsg {
            socket,
            user_id,
            msg,
            reply,
        })
        .await
    }

    /// Abort the call `user_id` with `code` (`sendmsg` with `RXRPC_ABORT`). The call stays
    /// known until its terminal message is read or it is ended.
    ///
    /// # Cancel safety
    ///
    /// If cancelled, the abort may or may not have happened.
    pub async fn abort(&self, user_id: u64, code: AbortCode) -> Result<()> {
        self.sendmsg(user_id, SendMsg::abort(code)).await
    }

    /// Wait for the first call of the socket with something to report and return up to `max`
    /// bytes of its data (at least 1), end of data, or its terminal message, which releases
    /// the call.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a message taken for a cancelled `recvmsg` is returned by the next one.
    pub async fn recvmsg(&self, max: usize) -> Result<RxMessage> {
        let socket = self.socket;
        let shared = &self.endpoint.shared;
        shared
            .request_keep(
                |reply| Command::RecvMsg { socket, max, reply },
                |msg: RxMessage| {
                    shared.send(Command::UnrecvMsg { socket, msg });
                },
            )
            .await
    }

    /// Release the call `user_id` (forget its ID), aborting it with `RX_CALL_DEAD` if it has
    /// not completed.
    ///
    /// # Cancel safety
    ///
    /// If cancelled, the call may or may not have been released.
    pub async fn end_call(&self, user_id: u64) -> Result<()> {
        let socket = self.socket;
        self.request(|reply| Command::EndCall {
            socket,
            user_id,
            reply,
        })
        .await
    }

    /// Reject the incoming call `user_id`: abort it with `code` and release it.
    ///
    /// # Cancel safety
    ///
    /// If cancelled, the call may or may not have been rejected.
    pub async fn reject(&self, user_id: u64, code: AbortCode) -> Result<()> {
        let socket = self.socket;
        self.request(|reply| Command::Reject {
            socket,
            user_id,
            code,
            reply: Some(reply),
        })
        .await
    }

    /// Accept calls secured by `class` on this socket's services (the socket API's
    /// `RXRPC_SECURITY_KEYRING`); with `require_security`, rxnull calls are refused
    /// (`RXRPC_MIN_SECURITY_LEVEL` above 0).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn set_server_security(
        &self,
        classes: Vec<ServerSecurityRef>,
        require_security: bool,
    ) -> Result<()> {
        let socket = self.socket;
        let security = ListenSecurity {
            classes,
            require: require_security,
        };
        self.request(|reply| Command::SocketSecurity {
            socket,
            security,
            reply,
        })
        .await
    }

    /// The security index, level and (service calls) client identity of call `user_id`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn call_security(&self, user_id: u64) -> Result<CallSecurity> {
        let socket = self.socket;
        let (index, level, identity) = self
            .request(|reply| Command::CallSecurity {
                socket,
                user_id,
                reply,
            })
            .await?;
        Ok(CallSecurity {
            index,
            level,
            identity,
        })
    }

    /// The user IDs known on this socket (live calls and charges), sorted.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn user_ids(&self) -> Result<Vec<u64>> {
        let socket = self.socket;
        self.request(|reply| Command::UserIds { socket, reply })
            .await
    }

    /// A `/proc`-like picture of the endpoint (all of its sockets), answered by the driver
    /// without stopping it.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn snapshot(&self) -> Result<Snapshot> {
        self.endpoint.snapshot().await
    }

    /// Close the socket: every call of the socket is released at once, the unfinished ones
    /// aborted on the wire with `RX_CALL_DEAD`, the charged backlog discarded and the services
    /// unbound. Later operations fail with
    /// [`CallError::SocketClosed`](rxrpc_proto::CallError::SocketClosed). Other sockets of
    /// the endpoint are not affected.
    ///
    /// # Cancel safety
    ///
    /// The close is queued at the first poll and happens even if the future is dropped.
    pub async fn close(&self) -> Result<()> {
        if !self.open.disarm() {
            return Ok(());
        }
        let socket = self.socket;
        match self
            .request(|reply| Command::CloseSocket {
                socket,
                reply: Some(reply),
            })
            .await
        {
            Err(Error::DriverGone) => Ok(()),
            r => r,
        }
    }
}
