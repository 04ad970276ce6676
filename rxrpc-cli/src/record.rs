//! One Rx datagram found in a capture, decoded (or not) with `rxrpc_proto::wire`.
//!
//! Layer: between [`crate::net`] (which finds UDP datagrams) and the output formats
//! ([`crate::text`], [`crate::json`]). A [`Record`] carries where and when the datagram was
//! seen, its captured bytes and an [`Outcome`]: the decoded [`Packet`], or the reason it did not
//! decode together with the header when at least that much was readable.

use std::net::SocketAddr;
use std::time::Duration;

use rxrpc_proto::wire::{HEADER_LEN, Header, Packet, WireError};

/// Why a datagram on an Rx port is reported as undecodable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The codec rejected the bytes; the text is the typed [`WireError`]'s `Display`.
    #[error("{0}")]
    Wire(#[from] WireError),
    /// The capture holds only part of the datagram (snaplen), so its body was not decoded.
    #[error("datagram truncated by the capture: {have} of {want} bytes captured")]
    Snaplen {
        /// Bytes captured.
        have: usize,
        /// Bytes in the datagram on the wire.
        want: usize,
    },
}

/// What became of one Rx datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The whole datagram decoded.
    Decoded(Box<Packet>),
    /// It did not; `header` is set when the 28-byte header was captured.
    Failed {
        /// The header, if at least 28 bytes were captured.
        header: Option<Header>,
        /// What went wrong.
        error: RecordError,
    },
}

/// An Rx datagram and its decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    /// 1-based packet number in the capture file.
    pub frame: u64,
    /// Capture timestamp (since the Unix epoch, UTC).
    pub timestamp: Duration,
    /// UDP source.
    pub src: SocketAddr,
    /// UDP destination.
    pub dst: SocketAddr,
    /// The captured UDP payload.
    pub datagram: &'a [u8],
    /// Length of the UDP payload on the wire (larger than `datagram.len()` when truncated).
    pub wire_len: usize,
    /// The decoding.
    pub outcome: Outcome,
}

impl Record<'_> {
    /// The header, whether or not the body decoded.
    pub fn header(&self) -> Option<&Header> {
        match &self.outcome {
            Outcome::Decoded(p) => Some(&p.header),
            Outcome::Failed { header, .. } => header.as_ref(),
        }
    }

    /// The bytes after the 28-byte header, as captured.
    pub fn body_bytes(&self) -> &[u8] {
        self.datagram.get(HEADER_LEN..).unwrap_or(&[])
    }
}

/// Decode a captured UDP payload. `truncated` is `Some(wire_len)` when the capture cut the
/// datagram short; the header is still decoded but the body is not.
pub fn decode(datagram: &[u8], truncated: Option<usize>) -> Outcome {
    if let Some(want) = truncated {
        return Outcome::Failed {
            header: Header::parse(datagram).ok(),
            error: RecordError::Snaplen {
                have: datagram.len(),
                want,
            },
        };
    }
    match Packet::parse(datagram) {
        Ok(p) => Outcome::Decoded(Box::new(p)),
        Err(e) => Outcome::Failed {
            header: Header::parse(datagram).ok(),
            error: e.into(),
        },
    }
}
