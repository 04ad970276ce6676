//! # rxrpc-proto: the sans-IO core of rxrpc
//!
//! A userspace implementation of the Rx RPC protocol (RxRPC, the transport of AFS), split in
//! the manner of quinn-proto and smoltcp: this crate never touches a socket, never reads a
//! clock and never spawns a thread. It turns bytes into typed packets ([`wire`]) and the
//! [`Endpoint`] turns datagrams, commands and the current time into datagrams to send,
//! deadlines and events.
//!
//! ```text
//!   rxrpc (tokio driver task, UDP socket)     rxrpc-cli (rxdump, ...)
//!            │ handle_datagram / handle_timeout / commands
//!            ▼                poll_transmit / poll_timeout / poll_event
//!   rxrpc-proto::Endpoint ── sockets (user call IDs, services, charged backlog)
//!            │               connections (epoch, cid, 4 channels, last-call memory)
//!            │               calls (state machine, tx window + retransmission, rx reassembly)
//!            ▼
//!   rxrpc-proto::wire ── header, DATA/jumbo, ACK, ABORT, BUSY, ACKALL, VERSION, DEBUG,
//!                        CHALLENGE/RESPONSE envelopes, number newtypes, abort codes
//! ```
//!
//! Design decisions taken here: the core uses its own [`Instant`] (microseconds from an
//! origin the driver picks) so simulations start at zero; it stays `std` (hash maps, `thiserror`)
//! rather than `no_std`, since every target we serve has an OS; identifiers come from a seeded
//! generator ([`EndpointConfig::rng_seed`]).
//!
//! ## Resource bounds
//!
//! Nothing a peer sends makes the endpoint keep unbounded state. Each bound is a field of
//! [`EndpointConfig`]:
//!
//! | What | Field | Default | When reached |
//! |---|---|---|---|
//! | calls on the endpoint | `max_calls` | 65,536 | `begin_call` / `charge_accept` fail with [`CallError::Limit`] |
//! | user IDs (calls, charges) per socket | `max_calls_per_socket` | 16,384 | the same |
//! | incoming calls waiting to be accepted | `max_backlog` (charged calls per socket) | 32 | BUSY |
//! | client connections | `max_client_conns` | 16,384 | `begin_call` fails with [`CallError::Limit`] |
//! | incoming connections | `max_incoming_conns` | 16,384 | BUSY |
//! | connections with one peer address | `max_incoming_conns_per_peer` | 1,024 | BUSY for a new incoming one |
//! | peers (addresses with connections) | `max_incoming_peers` | 4,096 | BUSY for a new incoming one from a new address |
//! | receive buffer of a call | `rx_window` (packets, each at most one datagram) | 255 | EXCEEDS_WINDOW ACK, packet dropped |
//! | transmit queue of a call | `tx_queue_max` (packets) | 256 | `send` takes fewer bytes (backpressure) |
//!
//! Idle connections are reaped after `client_conn_idle` (120 s) / `service_conn_idle`
//! (600 s), and a peer's state goes with its last connection. When a connection limit is
//! reached, connections idle for `pressure_conn_idle` (30 s) are reaped at once (at most one
//! sweep a second) before BUSY is answered. A service connection that never gets a call is
//! reaped like any idle one. Calls have no reaper: a call is freed when its last holder lets
//! go, and every call times out (`call_idle_timeout`, `request_idle_timeout`) if its peer
//! goes quiet.
//!
//! ## Example: decode a datagram
//!
//! ```
//! use rxrpc_proto::wire::{Body, Packet, PacketType};
//!
//! // An ABORT with code -1 (RX_CALL_DEAD).
//! let mut dgram = vec![0u8; 28];
//! dgram[20] = 4; // type ABORT
//! dgram.extend_from_slice(&(-1i32).to_be_bytes());
//! let pkt = Packet::parse(&dgram).unwrap();
//! assert_eq!(pkt.header.packet_type, PacketType::ABORT);
//! match pkt.body {
//!     Body::Abort(a) => assert_eq!(a.code.name(), Some("RX_CALL_DEAD")),
//!     _ => unreachable!(),
//! }
//! ```
#![forbid(unsafe_code)]

mod arena;
pub mod call;
mod config;
mod conn;
mod endpoint;
mod rng;
pub mod security;
mod stats;
mod time;
pub mod wire;

#[cfg(test)]
mod tests;

pub use call::state::{AbortReason, CallState, Completion, LocalError, NetworkError};
pub use call::{Holders, Side};
pub use config::{CallParams, EndpointConfig, JumboAdvertise, RequestAckHold};
pub use endpoint::{
    BindError, CallError, CallsRemain, Endpoint, EndpointStats, Event, PeerStats, RecvMsg,
    SocketId, Transmit,
};
pub use stats::{CallSnapshot, ConnSnapshot, PeerSnapshot, Snapshot};
pub use time::Instant;
