//! The Rx wire format: every packet Rx puts on UDP, as checked zero-copy views and owned
//! representations.
//!
//! Layer: the bottom of `rxrpc-proto`. Nothing here keeps state between packets; it turns bytes
//! into typed values and back. Two levels, in the manner of smoltcp's `wire` module:
//!
//! * **views** (`HeaderView`, `AckView`, ...) check lengths once on construction and then read
//!   fields in place without allocating or panicking;
//! * **owned representations** (`Header`, `Ack`, `Packet`, ...) have `parse` and `emit`, and
//!   `parse(emit(x)) == x` for all of them.
//!
//! Unknown packet types, flag bits, ACK reasons and security indices are preserved, not
//! rejected: deciding what they mean is the engine's job. Every decode of untrusted bytes
//! returns a [`WireError`] that says what was wrong; none of it can panic.
//!
//! All multi-byte fields are big-endian. Facts: `reference-linux-rxrpc.md` §1 and
//! `reference-openafs-rx.md` §1.3, §1.12, §4.1 in the project's shared docs.

mod ack;
mod coalesced;
mod codes;
mod data;
mod debug;
mod header;
mod packet;
mod security;
mod seq;
mod simple;
mod version;

pub use ack::*;
pub use coalesced::split_coalesced;
pub use codes::AbortCode;
pub use data::*;
pub use debug::*;
pub use header::{Flags, HEADER_LEN, Header, HeaderView, PacketType};
pub use packet::{Body, Packet};
pub use security::*;
pub use seq::{
    CHANNEL_MASK, CHANNELS, CID_SHIFT, CallNumber, Channel, Cid, ConnId, Epoch, SecurityIndex, Seq,
    Serial, ServiceId,
};
pub use simple::*;
pub use version::*;

/// Why bytes did not decode as an Rx packet.
///
/// Small and `Copy`, so decoders can return it cheaply on the hot path. The `Display` text is
/// meant for people reading `rxdump` output or logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// A structure was shorter than its fixed size.
    #[error("{what} truncated: need {need} bytes, have {have}")]
    Truncated {
        /// Which structure.
        what: &'static str,
        /// Bytes required.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// A jumbo subpacket that is followed by another was shorter than 1412 data bytes plus its
    /// 4-byte secondary header.
    #[error(
        "jumbo subpacket {index} is short: {have} bytes left, a non-terminal subpacket needs {need}"
    )]
    JumboShortSubpacket {
        /// Zero-based index of the short subpacket.
        index: usize,
        /// Bytes needed (1416).
        need: usize,
        /// Bytes left in the datagram.
        have: usize,
    },
    /// A jumbo subpacket that is followed by another carries LAST_PACKET.
    #[error("jumbo subpacket {index} has LAST_PACKET set but is not the last subpacket")]
    JumboLastNotTerminal {
        /// Zero-based index of the offending subpacket.
        index: usize,
    },
    /// More subpackets than [`MAX_JUMBO_SUBPACKETS`].
    #[error("jumbo packet has more than {max} subpackets")]
    JumboTooManySubpackets {
        /// The limit.
        max: usize,
    },
    /// A jumbo packet could not be built: a non-terminal payload was not exactly 1412 bytes,
    /// or the subpackets' headers do not follow each other.
    #[error("cannot build jumbo packet: {reason}")]
    JumboBuild {
        /// What was inconsistent.
        reason: &'static str,
    },
    /// A length or count field in the packet exceeds what the format allows.
    #[error("{what} is {value}, more than the maximum {max}")]
    TooLong {
        /// Which field.
        what: &'static str,
        /// The value found.
        value: usize,
        /// The largest value allowed.
        max: usize,
    },
    /// A field holds a value the format does not allow.
    #[error("{what}: invalid value {value}")]
    InvalidValue {
        /// Which field.
        what: &'static str,
        /// The value found.
        value: u32,
    },
    /// Bytes were left over after a structure whose size is fixed.
    #[error("{what} has {extra} unexpected trailing bytes")]
    TrailingBytes {
        /// Which structure.
        what: &'static str,
        /// How many bytes were left over.
        extra: usize,
    },
}
