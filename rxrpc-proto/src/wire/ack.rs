//! ACK packet bodies: the 18-byte fixed part, the soft-ACK array, the 3 pad bytes and the
//! optional 16-byte trailer.
//!
//! Layer: `wire`. Owns the ACK layout ([`Ack`], [`AckView`], [`AckTrailer`]) and the reason
//! codes ([`AckReason`]). What the numbers mean for a call's transmit window is the engine's
//! business; here they are only carried.
//!
//! ```text
//! bufferSpace u16 | maxSkew u16 | firstPacket u32 | previousPacket u32 | serial u32 |
//! reason u8 | nAcks u8 | acks[nAcks] | pad[3] | maxMTU u32 | ifMTU u32 | rwind u32 | jumbo_max u32
//! ```
//!
//! Decoding is lenient the way Linux is: a tail of 1..=18 bytes after the soft-ACKs (too short
//! for pad + trailer) is ignored, bytes after the trailer (PMTU-probe padding) are ignored, and
//! the pad bytes are not checked. Encoding always writes zero pad bytes (OpenAFS leaked memory
//! through them before CVE-2015-7762).

use core::fmt;

use super::packet::{PutBe, Reader};
use super::{Seq, Serial, WireError};

/// Length of the fixed part of an ACK body.
pub const ACK_BODY_LEN: usize = 18;
/// Most soft-ACK entries an ACK can carry (`nAcks` is a byte).
pub const MAX_ACKS: usize = 255;
/// Pad bytes between the soft-ACK array and the trailer.
pub const ACK_PAD_LEN: usize = 3;
/// Length of the ACK trailer.
pub const ACK_TRAILER_LEN: usize = 16;
/// Soft-ACK value: the packet has not been received.
pub const ACK_TYPE_NACK: u8 = 0;
/// Soft-ACK value: the packet has been received (but may still be discarded).
pub const ACK_TYPE_ACK: u8 = 1;

/// Why an ACK was sent. Unknown values are preserved.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct AckReason(pub u8);

impl AckReason {
    /// Reply to a packet carrying `REQUEST_ACK`.
    pub const REQUESTED: AckReason = AckReason(1);
    /// Duplicate DATA received.
    pub const DUPLICATE: AckReason = AckReason(2);
    /// DATA arrived out of sequence.
    pub const OUT_OF_SEQUENCE: AckReason = AckReason(3);
    /// DATA beyond the receive window was discarded.
    pub const EXCEEDS_WINDOW: AckReason = AckReason(4);
    /// No buffer space at all.
    pub const NOSPACE: AckReason = AckReason(5);
    /// Keepalive / RTT / MTU probe; asks for a PING_RESPONSE.
    pub const PING: AckReason = AckReason(6);
    /// Reply to a PING.
    pub const PING_RESPONSE: AckReason = AckReason(7);
    /// Delayed acknowledgement of received DATA.
    pub const DELAY: AckReason = AckReason(8);
    /// Nothing outstanding / data consumed.
    pub const IDLE: AckReason = AckReason(9);

    /// Upper-case name of a known reason (`"PING_RESPONSE"`), or `None`.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1 => "REQUESTED",
            2 => "DUPLICATE",
            3 => "OUT_OF_SEQUENCE",
            4 => "EXCEEDS_WINDOW",
            5 => "NOSPACE",
            6 => "PING",
            7 => "PING_RESPONSE",
            8 => "DELAY",
            9 => "IDLE",
            _ => return None,
        })
    }
}

impl fmt::Debug for AckReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "AckReason({n})"),
            None => write!(f, "AckReason({})", self.0),
        }
    }
}

impl fmt::Display for AckReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "reason{}", self.0),
        }
    }
}

/// The optional ACK trailer (AFS 3.3 .. 3.5 extensions). Wire order: `maxMTU`, `ifMTU`,
/// `rwind`, `jumbo_max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AckTrailer {
    /// Largest packet the sender will accept ("rxMTU").
    pub max_mtu: u32,
    /// The sender's interface MTU.
    pub if_mtu: u32,
    /// The sender's receive window (packets).
    pub rwind: u32,
    /// Most subpackets per jumbo packet the sender accepts (Linux sends 0: "I do PMTUD").
    pub jumbo_max: u32,
}

impl AckTrailer {
    /// Decode the first 16 bytes of `buf`.
    pub fn parse(buf: &[u8]) -> Result<AckTrailer, WireError> {
        let mut r = Reader::new(buf, "ACK trailer");
        Ok(AckTrailer {
            max_mtu: r.u32()?,
            if_mtu: r.u32()?,
            rwind: r.u32()?,
            jumbo_max: r.u32()?,
        })
    }

    /// Append the 16 wire bytes to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u32(self.max_mtu);
        out.put_u32(self.if_mtu);
        out.put_u32(self.rwind);
        out.put_u32(self.jumbo_max);
    }

    /// Length on the wire (16).
    pub fn buffer_len(&self) -> usize {
        ACK_TRAILER_LEN
    }
}

/// An owned ACK body.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Ack {
    /// Packet buffers the sender offers (Linux sends 0).
    pub buffer_space: u16,
    /// Maximum serial skew seen (Linux sends 0).
    pub max_skew: u16,
    /// Seq of the first soft-ACK entry; everything before it is hard-ACKed.
    pub first_packet: Seq,
    /// Highest seq received (some implementations put a serial here).
    pub previous_packet: Seq,
    /// Serial of the packet that provoked this ACK (0 if none).
    pub serial: Serial,
    /// Why the ACK was sent.
    pub reason: AckReason,
    /// Raw soft-ACK bytes, one per seq from `first_packet` ([`ACK_TYPE_ACK`] or
    /// [`ACK_TYPE_NACK`]; other values are preserved). At most [`MAX_ACKS`] are emitted.
    pub acks: Vec<u8>,
    /// The trailer, if the ACK carried one.
    pub trailer: Option<AckTrailer>,
}

impl Ack {
    /// Decode an ACK body (the bytes after the Rx header).
    pub fn parse(body: &[u8]) -> Result<Ack, WireError> {
        Ok(AckView::new_checked(body)?.to_owned())
    }

    /// Append the body to `out`: 18 bytes, the soft-ACKs and, with a trailer, 3 zero pad
    /// bytes and the 16-byte trailer.
    pub fn emit(&self, out: &mut Vec<u8>) {
        let acks = self.acks.get(..MAX_ACKS).unwrap_or(&self.acks);
        out.reserve(self.buffer_len());
        out.put_u16(self.buffer_space);
        out.put_u16(self.max_skew);
        out.put_u32(self.first_packet.0);
        out.put_u32(self.previous_packet.0);
        out.put_u32(self.serial.0);
        out.push(self.reason.0);
        out.push(acks.len() as u8);
        out.extend_from_slice(acks);
        if let Some(t) = &self.trailer {
            out.extend_from_slice(&[0; ACK_PAD_LEN]);
            t.emit(out);
        }
    }

    /// Length of the body on the wire.
    pub fn buffer_len(&self) -> usize {
        let trailer = if self.trailer.is_some() {
            ACK_PAD_LEN + ACK_TRAILER_LEN
        } else {
            0
        };
        ACK_BODY_LEN + self.acks.len().min(MAX_ACKS) + trailer
    }

    /// The highest hard-ACKed seq: `first_packet - 1`.
    pub fn hard_ack(&self) -> Seq {
        self.first_packet.minus(1)
    }
}

/// A checked zero-copy view of an ACK body.
#[derive(Clone, Copy)]
pub struct AckView<'a> {
    fixed: &'a [u8; ACK_BODY_LEN],
    acks: &'a [u8],
    tail: &'a [u8],
}

impl<'a> AckView<'a> {
    /// Check that `body` holds the fixed part and all `nAcks` soft-ACK bytes.
    pub fn new_checked(body: &'a [u8]) -> Result<Self, WireError> {
        let Some((fixed, rest)) = body.split_first_chunk::<ACK_BODY_LEN>() else {
            return Err(WireError::Truncated {
                what: "ACK",
                need: ACK_BODY_LEN,
                have: body.len(),
            });
        };
        let n = usize::from(fixed[17]);
        let Some((acks, tail)) = rest.split_at_checked(n) else {
            return Err(WireError::Truncated {
                what: "ACK soft-ACK array",
                need: ACK_BODY_LEN + n,
                have: body.len(),
            });
        };
        Ok(AckView { fixed, acks, tail })
    }

    /// The big-endian word at `off` of the fixed part (`off` is a constant `<= 14`).
    #[inline]
    fn u32_at(&self, off: usize) -> u32 {
        let b = self.fixed;
        u32::from_be_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
    }

    /// `bufferSpace`.
    pub fn buffer_space(&self) -> u16 {
        u16::from_be_bytes([self.fixed[0], self.fixed[1]])
    }
    /// `maxSkew`.
    pub fn max_skew(&self) -> u16 {
        u16::from_be_bytes([self.fixed[2], self.fixed[3]])
    }
    /// `firstPacket`.
    pub fn first_packet(&self) -> Seq {
        Seq(self.u32_at(4))
    }
    /// `previousPacket`.
    pub fn previous_packet(&self) -> Seq {
        Seq(self.u32_at(8))
    }
    /// `serial`.
    pub fn serial(&self) -> Serial {
        Serial(self.u32_at(12))
    }
    /// `reason`.
    pub fn reason(&self) -> AckReason {
        AckReason(self.fixed[16])
    }
    /// `nAcks`.
    pub fn n_acks(&self) -> u8 {
        self.fixed[17]
    }
    /// The soft-ACK bytes.
    pub fn acks(&self) -> &'a [u8] {
        self.acks
    }
    /// Everything after the soft-ACK array (pad, trailer and any extra bytes).
    pub fn tail(&self) -> &'a [u8] {
        self.tail
    }
    /// The 3 pad bytes after the soft-ACKs, if at least 3 bytes follow them.
    pub fn pad(&self) -> Option<[u8; ACK_PAD_LEN]> {
        self.tail.first_chunk::<ACK_PAD_LEN>().copied()
    }
    /// The trailer, if the pad and all 16 trailer bytes are present.
    pub fn trailer(&self) -> Option<AckTrailer> {
        AckTrailer::parse(self.tail.get(ACK_PAD_LEN..)?).ok()
    }
    /// Bytes after the trailer (PMTU-probe padding), or after the soft-ACKs when there is no
    /// complete trailer. These are ignored by [`Ack::parse`].
    pub fn ignored(&self) -> &'a [u8] {
        if self.trailer().is_some() {
            self.tail
                .get(ACK_PAD_LEN + ACK_TRAILER_LEN..)
                .unwrap_or_default()
        } else {
            self.tail
        }
    }
    /// The owned ACK.
    pub fn to_owned(&self) -> Ack {
        Ack {
            buffer_space: self.buffer_space(),
            max_skew: self.max_skew(),
            first_packet: self.first_packet(),
            previous_packet: self.previous_packet(),
            serial: self.serial(),
            reason: self.reason(),
            acks: self.acks.to_vec(),
            trailer: self.trailer(),
        }
    }
}

impl fmt::Debug for AckView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_owned(), f)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn arb_trailer() -> impl Strategy<Value = AckTrailer> {
        any::<[u32; 4]>().prop_map(|w| AckTrailer {
            max_mtu: w[0],
            if_mtu: w[1],
            rwind: w[2],
            jumbo_max: w[3],
        })
    }

    pub(crate) fn arb_ack() -> impl Strategy<Value = Ack> {
        (
            any::<(u16, u16, u32, u32, u32, u8)>(),
            proptest::collection::vec(any::<u8>(), 0..=MAX_ACKS),
            proptest::option::of(arb_trailer()),
        )
            .prop_map(|((bs, sk, fp, pp, se, re), acks, trailer)| Ack {
                buffer_space: bs,
                max_skew: sk,
                first_packet: Seq(fp),
                previous_packet: Seq(pp),
                serial: Serial(se),
                reason: AckReason(re),
                acks,
                trailer,
            })
    }

    /// The body of an OpenAFS 1.8.9 ptserver ACK (frame 30 of `sample-openafs-rx.pcap`):
    /// REQUESTED, first 2, one soft-ACK, trailer maxMTU 5692, ifMTU 1444, rwind 16, jumbo 4.
    const OPENAFS_ACK: [u8; 38] = [
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
        0x02, 0x01, 0x01, 0x01, 0, 0, 0, 0x00, 0x00, 0x16, 0x3c, 0x00, 0x00, 0x05, 0xa4, 0x00,
        0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x04,
    ];

    #[test]
    fn parse_example() {
        let a = Ack::parse(&OPENAFS_ACK).unwrap();
        assert_eq!(a.buffer_space, 0);
        assert_eq!(a.first_packet, Seq(2));
        assert_eq!(a.hard_ack(), Seq(1));
        assert_eq!(a.previous_packet, Seq(1));
        assert_eq!(a.serial, Serial(2));
        assert_eq!(a.reason, AckReason::REQUESTED);
        assert_eq!(a.acks, vec![ACK_TYPE_ACK]);
        let t = a.trailer.unwrap();
        assert_eq!(
            (t.max_mtu, t.if_mtu, t.rwind, t.jumbo_max),
            (5692, 1444, 16, 4)
        );
        let mut out = Vec::new();
        a.emit(&mut out);
        assert_eq!(out, OPENAFS_ACK);
        assert_eq!(a.buffer_len(), 38);
        let v = AckView::new_checked(&OPENAFS_ACK).unwrap();
        assert_eq!(v.pad(), Some([0, 0, 0]));
        assert!(v.ignored().is_empty());
        assert_eq!(v.n_acks(), 1);
        assert_eq!(v.buffer_space(), 0);
        assert_eq!(v.max_skew(), 0);
        assert_eq!(v.previous_packet(), Seq(1));
        assert!(format!("{v:?}").contains("REQUESTED"));
    }

    #[test]
    fn reasons() {
        assert_eq!(AckReason::IDLE.name(), Some("IDLE"));
        assert_eq!(AckReason(10).name(), None);
        assert_eq!(format!("{}", AckReason::PING), "PING");
        assert_eq!(format!("{}", AckReason(42)), "reason42");
        assert_eq!(format!("{:?}", AckReason(42)), "AckReason(42)");
        assert_eq!(format!("{:?}", AckReason::DELAY), "AckReason(DELAY)");
    }

    #[test]
    fn lenient_tails() {
        let mut base = OPENAFS_ACK[..18].to_vec();
        base[17] = 2;
        base.extend_from_slice(&[ACK_TYPE_ACK, ACK_TYPE_NACK]);
        // 0..=18 tail bytes: no trailer.
        for n in 0..=18 {
            let mut b = base.clone();
            b.extend(std::iter::repeat_n(0xaa, n));
            let a = Ack::parse(&b).unwrap();
            assert_eq!(a.trailer, None, "tail {n}");
            assert_eq!(a.acks, vec![1, 0]);
            let v = AckView::new_checked(&b).unwrap();
            assert_eq!(v.pad().is_some(), n >= 3);
            assert_eq!(v.ignored().len(), n);
        }
        // Nonzero pad and extra bytes after the trailer are ignored.
        let mut b = base.clone();
        b.extend_from_slice(&[1, 2, 3]);
        b.extend_from_slice(&[0, 0, 5, 0xdc, 0, 0, 5, 0xdc, 0, 0, 0, 64, 0, 0, 0, 0]);
        b.extend_from_slice(&[0; 100]);
        let a = Ack::parse(&b).unwrap();
        assert_eq!(a.trailer.unwrap().rwind, 64);
        let v = AckView::new_checked(&b).unwrap();
        assert_eq!(v.pad(), Some([1, 2, 3]));
        assert_eq!(v.ignored().len(), 100);
        let mut out = Vec::new();
        a.emit(&mut out);
        assert_eq!(&out[..base.len()], &base[..]);
        assert_eq!(&out[base.len()..base.len() + 3], &[0, 0, 0]);
        assert_eq!(out.len(), base.len() + 19);
    }

    #[test]
    fn truncated() {
        assert_eq!(
            Ack::parse(&OPENAFS_ACK[..17]),
            Err(WireError::Truncated {
                what: "ACK",
                need: 18,
                have: 17
            })
        );
        let mut b = OPENAFS_ACK[..18].to_vec();
        b[17] = 5;
        b.extend_from_slice(&[1, 1]);
        assert_eq!(
            Ack::parse(&b),
            Err(WireError::Truncated {
                what: "ACK soft-ACK array",
                need: 23,
                have: 20
            })
        );
        assert!(AckTrailer::parse(&[0; 15]).is_err());
    }

    #[test]
    fn max_acks_and_overlong() {
        let mut a = Ack {
            acks: vec![ACK_TYPE_ACK; 255],
            ..Ack::default()
        };
        a.trailer = Some(AckTrailer {
            max_mtu: 1,
            if_mtu: 2,
            rwind: 3,
            jumbo_max: 4,
        });
        let mut out = Vec::new();
        a.emit(&mut out);
        assert_eq!(out.len(), 18 + 255 + 19);
        assert_eq!(Ack::parse(&out).unwrap(), a);
        // More than 255 entries: only 255 are emitted.
        a.acks.push(0);
        let mut out2 = Vec::new();
        a.emit(&mut out2);
        assert_eq!(out2, out);
        assert_eq!(a.buffer_len(), out.len());
    }

    proptest! {
        #[test]
        fn roundtrip(a in arb_ack()) {
            let mut out = Vec::new();
            a.emit(&mut out);
            prop_assert_eq!(out.len(), a.buffer_len());
            let b = Ack::parse(&out).unwrap();
            prop_assert_eq!(&b, &a);
            let v = AckView::new_checked(&out).unwrap();
            prop_assert_eq!(v.to_owned(), a.clone());
            prop_assert_eq!(v.n_acks() as usize, a.acks.len());
            let mut again = Vec::new();
            b.emit(&mut again);
            prop_assert_eq!(again, out);
        }

        #[test]
        fn arbitrary(body in proptest::collection::vec(any::<u8>(), 0..400)) {
            if let Ok(a) = Ack::parse(&body) {
                let mut out = Vec::new();
                a.emit(&mut out);
                prop_assert_eq!(Ack::parse(&out).unwrap(), a);
                // The emitted form is a prefix of the input up to the pad.
                let n = ACK_BODY_LEN + usize::from(body[17]);
                prop_assert_eq!(&out[..n], &body[..n]);
            }
        }
    }
}
