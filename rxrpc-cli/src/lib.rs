//! # rxrpc-cli: command-line tools for rxrpc
//!
//! The library behind the `rxdump` binary, which reads a pcap or pcapng capture and prints one
//! line per Rx packet in the spirit of `tcpdump -v`: every header field and the decoded body,
//! using the `rxrpc_proto::wire` codec, or the codec's typed error for a datagram that does not
//! decode.
//!
//! ```text
//!   capture ── pcap/pcapng files → Frame (timestamp, link type, bytes)
//!   net     ── Ethernet / Linux SLL / SLL2 / raw IP / loopback → IPv4/IPv6 → UDP datagram
//!   ports   ── which datagrams are Rx (7000-7009 or --port, plus peers learned from them)
//!   record  ── decode with rxrpc_proto::wire::Packet → Outcome (Packet or WireError)
//!   text / json / debugfmt / timefmt ── output formats
//!   dump    ── the driver: options in, lines and a summary out, exit status
//! ```
//!
//! The modules are public so that tests (and later tools) can use them; the command-line
//! contract is the `rxdump` binary's.

pub mod capture;
pub mod debugfmt;
pub mod dump;
pub mod json;
pub mod net;
pub mod ports;
pub mod record;
pub mod rxdebug;
pub mod rxperf;
pub mod text;
pub mod timefmt;
