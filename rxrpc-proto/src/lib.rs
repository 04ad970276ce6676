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
pub use config::{CallParams, EndpointConfig};
pub use endpoint::{
    BindError, CallError, CallsRemain, Endpoint, EndpointStats, Event, PeerStats, RecvMsg,
    SocketId, Transmit,
};
pub use stats::{CallSnapshot, ConnSnapshot, PeerSnapshot, Snapshot};
pub use time::Instant;
