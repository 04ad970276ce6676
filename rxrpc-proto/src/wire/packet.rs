//! Whole Rx datagrams: the 28-byte header followed by a body decoded according to the packet
//! type.
//!
//! Layer: `wire`. Owns [`Packet`] and [`Body`], the dispatch from packet type to body decoder,
//! and the bounds-checked big-endian [`Reader`] cursor the other body decoders use. Nothing here
//! judges whether a packet makes sense for a connection or call: unknown packet types are kept
//! as [`Body::Unknown`] with their raw bytes, so a packet of any type round-trips.

use bytes::Bytes;

use super::{
    Abort, Ack, Challenge, Data, Debug, HEADER_LEN, Header, HeaderView, PacketType, Response,
    Version, WireError,
};

/// A bounds-checked big-endian cursor over untrusted bytes.
///
/// Every read returns [`WireError::Truncated`] (naming the structure being decoded, the offset
/// the read needed to reach and the bytes available) instead of panicking.
pub(super) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`, decoding the structure called `what`.
    pub(super) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, pos: 0, what }
    }

    /// Fail unless at least `need` bytes are in the whole buffer.
    pub(super) fn require(&self, need: usize) -> Result<(), WireError> {
        if self.buf.len() < need {
            Err(WireError::Truncated {
                what: self.what,
                need,
                have: self.buf.len(),
            })
        } else {
            Ok(())
        }
    }

    /// Take the next `n` bytes.
    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self.pos.saturating_add(n);
        match self.buf.get(self.pos..end) {
            Some(s) => {
                self.pos = end;
                Ok(s)
            }
            None => Err(WireError::Truncated {
                what: self.what,
                need: end,
                have: self.buf.len(),
            }),
        }
    }

    /// Take the next `N` bytes as an array.
    pub(super) fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let what = self.what;
        let have = self.buf.len();
        let s = self.take(N)?;
        <[u8; N]>::try_from(s).map_err(|_| WireError::Truncated {
            what,
            need: N,
            have,
        })
    }

    /// A `u8`.
    pub(super) fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.array::<1>()?[0])
    }

    /// A big-endian `u16`.
    pub(super) fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// A big-endian `i16`.
    pub(super) fn i16(&mut self) -> Result<i16, WireError> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    /// A big-endian `u32`.
    pub(super) fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// A big-endian `i32`.
    pub(super) fn i32(&mut self) -> Result<i32, WireError> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    /// A 64-bit value stored as two big-endian 32-bit words, high word first (`afs_hyper_t`).
    pub(super) fn hyper(&mut self) -> Result<u64, WireError> {
        let hi = u64::from(self.u32()?);
        let lo = u64::from(self.u32()?);
        Ok((hi << 32) | lo)
    }

    /// Bytes consumed so far.
    pub(super) fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes not yet consumed.
    pub(super) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Fail with [`WireError::TrailingBytes`] unless everything was consumed.
    pub(super) fn finish(&self) -> Result<(), WireError> {
        match self.remaining() {
            0 => Ok(()),
            extra => Err(WireError::TrailingBytes {
                what: self.what,
                extra,
            }),
        }
    }
}

/// Append big-endian integers to an output buffer.
pub(super) trait PutBe {
    /// Append a big-endian `u16`.
    fn put_u16(&mut self, v: u16);
    /// Append a big-endian `i16`.
    fn put_i16(&mut self, v: i16);
    /// Append a big-endian `u32`.
    fn put_u32(&mut self, v: u32);
    /// Append a big-endian `i32`.
    fn put_i32(&mut self, v: i32);
    /// Append a 64-bit value as two big-endian words, high first (`afs_hyper_t`).
    fn put_hyper(&mut self, v: u64);
}

impl PutBe for Vec<u8> {
    fn put_u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_i16(&mut self, v: i16) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_i32(&mut self, v: i32) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_hyper(&mut self, v: u64) {
        self.put_u32((v >> 32) as u32);
        self.put_u32(v as u32);
    }
}

/// The body of an Rx packet, decoded according to the header's packet type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// DATA (type 1), possibly a jumbo packet.
    Data(Data),
    /// ACK (type 2).
    Ack(Ack),
    /// BUSY (type 3): no body is defined; any bytes present are kept.
    Busy(Bytes),
    /// ABORT (type 4).
    Abort(Abort),
    /// ACKALL (type 5): no body is defined; any bytes present are kept.
    AckAll(Bytes),
    /// CHALLENGE (type 6).
    Challenge(Challenge),
    /// RESPONSE (type 7).
    Response(Response),
    /// DEBUG (type 8), the rxdebug protocol.
    Debug(Debug),
    /// PARAMS (type 9, unused): the raw body.
    Params(Bytes),
    /// VERSION (type 13).
    Version(Version),
    /// Any other packet type (0, 10, 11, 12, 14..=255): the raw body.
    Unknown(Bytes),
}

impl Body {
    /// Decode `body` as the body of a packet with header `header`.
    pub fn parse(header: &Header, body: Bytes) -> Result<Body, WireError> {
        Ok(match header.packet_type {
            PacketType::DATA => Body::Data(Data::parse(header, body)?),
            PacketType::ACK => Body::Ack(Ack::parse(&body)?),
            PacketType::BUSY => Body::Busy(body),
            PacketType::ABORT => Body::Abort(Abort::parse(&body)?),
            PacketType::ACKALL => Body::AckAll(body),
            PacketType::CHALLENGE => {
                Body::Challenge(Challenge::parse(header.security_index, body)?)
            }
            PacketType::RESPONSE => Body::Response(Response::parse(header.security_index, body)?),
            PacketType::DEBUG => Body::Debug(Debug::parse(header, body)?),
            PacketType::PARAMS => Body::Params(body),
            PacketType::VERSION => Body::Version(Version::parse(header, body)?),
            _ => Body::Unknown(body),
        })
    }

    /// Append the body bytes (not the header) to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        match self {
            Body::Data(d) => d.emit(out),
            Body::Ack(a) => a.emit(out),
            Body::Abort(a) => a.emit(out),
            Body::Challenge(c) => c.emit(out),
            Body::Response(r) => r.emit(out),
            Body::Debug(d) => d.emit(out),
            Body::Version(v) => v.emit(out),
            Body::Busy(b) | Body::AckAll(b) | Body::Params(b) | Body::Unknown(b) => {
                out.extend_from_slice(b)
            }
        }
    }

    /// Length of the body on the wire.
    pub fn buffer_len(&self) -> usize {
        match self {
            Body::Data(d) => d.buffer_len(),
            Body::Ack(a) => a.buffer_len(),
            Body::Abort(a) => a.buffer_len(),
            Body::Challenge(c) => c.buffer_len(),
            Body::Response(r) => r.buffer_len(),
            Body::Debug(d) => d.buffer_len(),
            Body::Version(v) => v.buffer_len(),
            Body::Busy(b) | Body::AckAll(b) | Body::Params(b) | Body::Unknown(b) => b.len(),
        }
    }

    /// The packet type this body belongs to, or `None` for [`Body::Unknown`] (whose type is
    /// only in the header).
    pub fn packet_type(&self) -> Option<PacketType> {
        Some(match self {
            Body::Data(_) => PacketType::DATA,
            Body::Ack(_) => PacketType::ACK,
            Body::Busy(_) => PacketType::BUSY,
            Body::Abort(_) => PacketType::ABORT,
            Body::AckAll(_) => PacketType::ACKALL,
            Body::Challenge(_) => PacketType::CHALLENGE,
            Body::Response(_) => PacketType::RESPONSE,
            Body::Debug(_) => PacketType::DEBUG,
            Body::Params(_) => PacketType::PARAMS,
            Body::Version(_) => PacketType::VERSION,
            Body::Unknown(_) => return None,
        })
    }
}

/// A whole Rx datagram: header and decoded body.
///
/// `emit` writes the header exactly as stored and then the body; it does not reconcile the two
/// (for example a [`Body::Data`] with jumbo subpackets needs `JUMBO_PACKET` in the header
/// flags, as [`Data::build_jumbo`] arranges). For every packet produced by [`Packet::parse`],
/// `Packet::parse(&p.to_vec()) == Ok(p)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The 28-byte header.
    pub header: Header,
    /// The decoded body.
    pub body: Body,
}

impl Packet {
    /// Decode a datagram (the UDP payload), copying the body into a new [`Bytes`].
    pub fn parse(datagram: &[u8]) -> Result<Packet, WireError> {
        // Check the header before copying anything.
        HeaderView::new_checked(datagram)?;
        Packet::parse_bytes(Bytes::copy_from_slice(datagram))
    }

    /// Decode a datagram held in [`Bytes`]; payloads are zero-copy slices of it.
    pub fn parse_bytes(datagram: Bytes) -> Result<Packet, WireError> {
        let header = HeaderView::new_checked(&datagram)?.to_owned();
        let body = datagram.slice(HEADER_LEN..);
        let body = Body::parse(&header, body)?;
        Ok(Packet { header, body })
    }

    /// Append the datagram (header then body) to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.reserve(self.buffer_len());
        self.header.emit(out);
        self.body.emit(out);
    }

    /// The datagram as a new vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.buffer_len());
        self.emit(&mut v);
        v
    }

    /// Length of the datagram on the wire.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.body.buffer_len()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::wire::{
        AbortCode, CallNumber, Cid, Epoch, Flags, SecurityIndex, Seq, Serial, ServiceId,
    };
    use proptest::prelude::*;

    /// Any header at all (fields uncorrelated).
    pub(crate) fn arb_header() -> impl Strategy<Value = Header> {
        (
            any::<[u32; 5]>(),
            any::<[u8; 4]>(),
            any::<u16>(),
            any::<u16>(),
        )
            .prop_map(|(w, b, cksum, svc)| Header {
                epoch: Epoch(w[0]),
                cid: Cid(w[1]),
                call_number: CallNumber(w[2]),
                seq: Seq(w[3]),
                serial: Serial(w[4]),
                packet_type: PacketType(b[0]),
                flags: Flags(b[1]),
                user_status: b[2],
                security_index: SecurityIndex(b[3]),
                cksum,
                service_id: ServiceId(svc),
            })
    }

    /// A header with a given type, and the flag bits in `set` set and those in `clear` cleared.
    pub(crate) fn arb_header_of(
        ty: PacketType,
        set: Flags,
        clear: Flags,
    ) -> impl Strategy<Value = Header> {
        arb_header().prop_map(move |mut h| {
            h.packet_type = ty;
            h.flags = h.flags.with(set).without(clear);
            h
        })
    }

    pub(crate) fn arb_bytes(max: usize) -> impl Strategy<Value = Bytes> {
        proptest::collection::vec(any::<u8>(), 0..=max).prop_map(Bytes::from)
    }

    /// Any well-formed packet, every kind, with header and body consistent.
    pub(crate) fn arb_packet() -> impl Strategy<Value = Packet> {
        use crate::wire::{ack, data, debug, security, simple, version};
        let unknown_type = prop_oneof![Just(0u8), 10u8..=12, 14u8..=255];
        prop_oneof![
            data::tests::arb_data_packet(),
            (
                arb_header_of(PacketType::ACK, Flags(0), Flags(0)),
                ack::tests::arb_ack()
            )
                .prop_map(|(header, a)| Packet {
                    header,
                    body: Body::Ack(a)
                }),
            (
                arb_header_of(PacketType::BUSY, Flags(0), Flags(0)),
                arb_bytes(8)
            )
                .prop_map(|(header, b)| Packet {
                    header,
                    body: Body::Busy(b)
                }),
            (
                arb_header_of(PacketType::ABORT, Flags(0), Flags(0)),
                simple::tests::arb_abort()
            )
                .prop_map(|(header, a)| Packet {
                    header,
                    body: Body::Abort(a)
                }),
            (
                arb_header_of(PacketType::ACKALL, Flags(0), Flags(0)),
                arb_bytes(8)
            )
                .prop_map(|(header, b)| Packet {
                    header,
                    body: Body::AckAll(b)
                }),
            security::tests::arb_challenge_packet(),
            security::tests::arb_response_packet(),
            debug::tests::arb_debug_packet(),
            (
                arb_header_of(PacketType::PARAMS, Flags(0), Flags(0)),
                arb_bytes(64)
            )
                .prop_map(|(header, b)| Packet {
                    header,
                    body: Body::Params(b)
                }),
            version::tests::arb_version_packet(),
            (arb_header(), unknown_type, arb_bytes(128)).prop_map(|(mut header, ty, b)| {
                header.packet_type = PacketType(ty);
                Packet {
                    header,
                    body: Body::Unknown(b),
                }
            }),
        ]
    }

    #[test]
    fn abort_example() {
        let mut d = vec![0u8; 28];
        d[20] = 4;
        d.extend_from_slice(&(-5i32).to_be_bytes());
        let p = Packet::parse(&d).unwrap();
        assert_eq!(
            p.body,
            Body::Abort(Abort {
                code: AbortCode::RX_PROTOCOL_ERROR
            })
        );
        assert_eq!(p.to_vec(), d);
        assert_eq!(p.buffer_len(), 32);
        assert_eq!(p.body.packet_type(), Some(PacketType::ABORT));
    }

    #[test]
    fn short_datagram() {
        assert_eq!(
            Packet::parse(&[0u8; 10]),
            Err(WireError::Truncated {
                what: "header",
                need: 28,
                have: 10
            })
        );
    }

    #[test]
    fn unknown_types_preserved() {
        for ty in [0u8, 10, 11, 12, 14, 200, 255] {
            let mut d = vec![0u8; 28];
            d[20] = ty;
            d.extend_from_slice(b"hello");
            let p = Packet::parse(&d).unwrap();
            assert_eq!(p.body, Body::Unknown(Bytes::from_static(b"hello")));
            assert_eq!(p.to_vec(), d);
        }
    }

    #[test]
    fn reader_errors() {
        let mut r = Reader::new(&[1, 2, 3], "thing");
        assert_eq!(r.u16().unwrap(), 0x0102);
        assert_eq!(
            r.u32(),
            Err(WireError::Truncated {
                what: "thing",
                need: 6,
                have: 3
            })
        );
        assert_eq!(r.remaining(), 1);
        assert_eq!(
            r.finish(),
            Err(WireError::TrailingBytes {
                what: "thing",
                extra: 1
            })
        );
        assert_eq!(r.u8().unwrap(), 3);
        assert_eq!(r.pos(), 3);
        assert!(r.finish().is_ok());
        let mut r = Reader::new(&[0, 0, 0, 1, 0, 0, 0, 2], "h");
        assert_eq!(r.hyper().unwrap(), (1u64 << 32) | 2);
        let mut v = Vec::new();
        v.put_hyper((1u64 << 32) | 2);
        assert_eq!(v, [0, 0, 0, 1, 0, 0, 0, 2]);
    }

    proptest! {
        #[test]
        fn packet_roundtrip(p in arb_packet()) {
            let bytes = p.to_vec();
            prop_assert_eq!(bytes.len(), p.buffer_len());
            let q = Packet::parse(&bytes).unwrap();
            prop_assert_eq!(&q, &p);
            // Every generated packet is canonical, so re-emitting gives the same bytes.
            prop_assert_eq!(q.to_vec(), bytes.clone());
            let z = Packet::parse_bytes(Bytes::from(bytes)).unwrap();
            prop_assert_eq!(z, p);
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..600)) {
            if let Ok(p) = Packet::parse(&b) {
                let again = Packet::parse(&p.to_vec()).unwrap();
                prop_assert_eq!(again, p);
            }
        }
    }
}
