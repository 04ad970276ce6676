//! # rxrpc: the tokio runtime of rxrpc
//!
//! A userspace implementation of the Rx RPC protocol (RxRPC, the transport of AFS) on tokio.
//! The protocol itself lives in the sans-IO core [`rxrpc_proto`]; this crate gives it a UDP
//! socket, a clock and a task, and offers two APIs on top:
//!
//! * the **async call API**: [`RxEndpoint`], [`Call`], [`Listener`], [`IncomingCall`];
//! * the **socket API** mirroring Linux's `AF_RXRPC`: [`socket::RxSocket`] with user call IDs,
//!   `sendmsg`/`recvmsg`, charged accepts and terminal messages.
//!
//! ```text
//!   Call / Listener / RxSocket handles ── commands + oneshot replies ──┐
//!                                                                     ▼
//!   driver task (one per UDP endpoint): UdpSocket, timer, parked operations
//!        │ handle_datagram / handle_timeout / commands
//!        ▼                poll_transmit / poll_timeout / poll_event
//!   rxrpc_proto::Endpoint (sockets, connections, calls)
//! ```
//!
//! Handles never touch the endpoint: each operation is a command to the driver task, which
//! owns the [`Endpoint`](rxrpc_proto::Endpoint) (as the Linux I/O thread owns a local
//! endpoint). Operations that must wait (a receive with no data, a send into a full transmit
//! queue, an accept with no incoming call) are parked in the driver and answered when the
//! endpoint's state allows. The driver stops when the last handle of the endpoint is dropped.
//! Several sockets and listeners may share one endpoint (one UDP port); closing one releases
//! only its own calls.
//!
//! Every async method documents its cancel safety. Receives and accepts are cancel safe;
//! sends are not (a prefix of the data may have been queued).
//!
//! ## Example: an echo call over loopback
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), rxrpc::Error> {
//! use bytes::Bytes;
//! use rxrpc::{RxEndpoint, ServiceId};
//!
//! const ECHO: ServiceId = ServiceId(1234);
//!
//! // Server: listen, answer one call with its own request.
//! let server = RxEndpoint::bind("127.0.0.1:0".parse().unwrap()).await?;
//! let listener = server.listen(&[ECHO], 8).await?;
//! tokio::spawn(async move {
//!     let call = listener.accept().await?;
//!     let request = call.recv_to_end(1 << 20).await?;
//!     call.send_last(request).await?;
//!     println!("server: {}", call.completion().await);
//!     Ok::<_, rxrpc::Error>(())
//! });
//!
//! // Client: one call.
//! let client = RxEndpoint::bind("127.0.0.1:0".parse().unwrap()).await?;
//! let call = client.call(server.local_addr(), ECHO).open().await?;
//! call.send_last(Bytes::from_static(b"hello, rx")).await?;
//! let reply = call.recv_to_end(1 << 20).await?;
//! assert_eq!(&reply[..], b"hello, rx");
//! assert!(call.completion().await.is_success());
//! # Ok(()) }
//! ```
//!
//! ## Design notes
//!
//! * Time: the driver takes a `tokio::time::Instant` base when it starts and hands the core
//!   `Instant::from_micros(base.elapsed())`, so the core's clock starts at zero.
//! * Randomness: [`default_config`] seeds the core's identifier generator from the OS
//!   (`getrandom`), so two endpoints do not pick the same epoch and connection IDs.
//! * The async API uses the socket machinery underneath: client calls live on an internal
//!   socket of the endpoint with unique user IDs, each [`Listener`] is a socket of its own
//!   whose backlog the driver keeps charged.
// `deny`, not `forbid`: `sys` (system calls tokio lacks) is the one module allowed `unsafe`.
#![deny(unsafe_code)]

mod call;
mod driver;
mod endpoint;
mod error;
pub mod socket;
mod sys;

pub use call::{Call, CallSecurity, IncomingCall};
pub use endpoint::{CallBuilder, Listener, RuntimeConfig, RxEndpoint, default_config};
pub use error::{Error, Result};
pub use rxrpc_proto::security;
pub use rxrpc_proto::wire::{AbortCode, ServiceId};
pub use rxrpc_proto::{
    AbortReason, BindError, CallError, CallSnapshot, Completion, ConnSnapshot, EndpointConfig,
    EndpointStats, LocalError, NetworkError, RequestAckHold, Snapshot,
};
pub use socket::{RxMessage, RxSocket, SendMsg};
