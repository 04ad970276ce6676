//! The 28-byte Rx packet header, packet types and flag bits.
//!
//! Layer: `wire`. [`HeaderView`] is a checked zero-copy view over the first 28 bytes of a
//! datagram; [`Header`] is the owned representation with `parse`/`emit`. Packet types and flags
//! are newtypes that preserve unknown values instead of rejecting them: what a type means is
//! decided by the layers above.

use core::fmt;

use super::{CallNumber, Cid, Epoch, SecurityIndex, Seq, Serial, ServiceId, WireError};

/// Length of the Rx header on the wire.
pub const HEADER_LEN: usize = 28;

/// The packet type byte. Unknown values are preserved.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PacketType(pub u8);

impl PacketType {
    /// DATA (1).
    pub const DATA: PacketType = PacketType(1);
    /// ACK (2).
    pub const ACK: PacketType = PacketType(2);
    /// BUSY (3).
    pub const BUSY: PacketType = PacketType(3);
    /// ABORT (4).
    pub const ABORT: PacketType = PacketType(4);
    /// ACKALL (5).
    pub const ACKALL: PacketType = PacketType(5);
    /// CHALLENGE (6).
    pub const CHALLENGE: PacketType = PacketType(6);
    /// RESPONSE (7).
    pub const RESPONSE: PacketType = PacketType(7);
    /// DEBUG (8), the rxdebug protocol.
    pub const DEBUG: PacketType = PacketType(8);
    /// PARAMS (9), unused.
    pub const PARAMS: PacketType = PacketType(9);
    /// Reserved (10).
    pub const RESERVED_10: PacketType = PacketType(10);
    /// Reserved (11).
    pub const RESERVED_11: PacketType = PacketType(11);
    /// Reserved (12).
    pub const RESERVED_12: PacketType = PacketType(12);
    /// VERSION (13).
    pub const VERSION: PacketType = PacketType(13);

    /// Upper-case name of a known type (`"DATA"`), or `None`.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1 => "DATA",
            2 => "ACK",
            3 => "BUSY",
            4 => "ABORT",
            5 => "ACKALL",
            6 => "CHALLENGE",
            7 => "RESPONSE",
            8 => "DEBUG",
            9 => "PARAMS",
            10 => "10",
            11 => "11",
            12 => "12",
            13 => "VERSION",
            _ => return None,
        })
    }
}

impl fmt::Debug for PacketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "PacketType({})", self.0),
        }
    }
}

impl fmt::Display for PacketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "type{}", self.0),
        }
    }
}

/// The header flag byte. Unknown bits are preserved.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u8);

impl Flags {
    /// Sent by the client side of the connection.
    pub const CLIENT_INITIATED: Flags = Flags(0x01);
    /// Asks the receiver for an immediate ACK.
    pub const REQUEST_ACK: Flags = Flags(0x02);
    /// Last DATA packet of this direction (also set on VERSION replies).
    pub const LAST_PACKET: Flags = Flags(0x04);
    /// More packets follow (defined, set inconsistently by implementations).
    pub const MORE_PACKETS: Flags = Flags(0x08);
    /// On DATA: another jumbo subpacket follows this one.
    pub const JUMBO_PACKET: Flags = Flags(0x20);
    /// On ACK: the sender supports slow start (same bit as `JUMBO_PACKET`).
    pub const SLOW_START_OK: Flags = Flags(0x20);

    /// No flags.
    pub const fn empty() -> Flags {
        Flags(0)
    }
    /// Whether every bit of `other` is set in `self`.
    #[inline]
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
    /// `self` with the bits of `other` set.
    #[inline]
    pub const fn with(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
    /// `self` with the bits of `other` cleared.
    #[inline]
    pub const fn without(self, other: Flags) -> Flags {
        Flags(self.0 & !other.0)
    }
    /// Set or clear the bits of `other`.
    #[inline]
    pub fn set(&mut self, other: Flags, on: bool) {
        *self = if on {
            self.with(other)
        } else {
            self.without(other)
        };
    }

    /// Render the flags for a packet of type `ty` (bit 0x20 is JUMBO on DATA, SLOW_START on
    /// ACK), e.g. `"CLIENT|LAST"`. Unknown bits are printed in hex.
    pub fn describe(self, ty: PacketType) -> String {
        let mut parts: Vec<String> = Vec::new();
        let names: [(u8, &str); 5] = [
            (0x01, "CLIENT"),
            (0x02, "REQ_ACK"),
            (0x04, "LAST"),
            (0x08, "MORE"),
            (
                0x20,
                if ty == PacketType::ACK {
                    "SLOW_START"
                } else {
                    "JUMBO"
                },
            ),
        ];
        let mut rest = self.0;
        for (bit, name) in names {
            if self.0 & bit != 0 {
                parts.push(name.to_string());
                rest &= !bit;
            }
        }
        if rest != 0 {
            parts.push(format!("{rest:#04x}"));
        }
        if parts.is_empty() {
            "-".to_string()
        } else {
            parts.join("|")
        }
    }
}

impl core::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        self.with(rhs)
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Flags({:#04x})", self.0)
    }
}

/// The owned Rx header.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Header {
    /// Client epoch.
    pub epoch: Epoch,
    /// Connection ID and channel.
    pub cid: Cid,
    /// Call number (0 = connection-level packet).
    pub call_number: CallNumber,
    /// DATA sequence number (0 on non-DATA).
    pub seq: Seq,
    /// Packet serial number.
    pub serial: Serial,
    /// Packet type.
    pub packet_type: PacketType,
    /// Flag bits.
    pub flags: Flags,
    /// Application status byte (1 = service-upgrade request on Linux).
    pub user_status: u8,
    /// Security class index.
    pub security_index: SecurityIndex,
    /// rxkad header checksum; yfs-rxgk key number (low 16 bits); otherwise 0.
    pub cksum: u16,
    /// Service ID.
    pub service_id: ServiceId,
}

impl Header {
    /// Parse the first 28 bytes of `buf`.
    pub fn parse(buf: &[u8]) -> Result<Header, WireError> {
        Ok(HeaderView::new_checked(buf)?.to_owned())
    }

    /// Append the 28 header bytes to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_bytes());
    }

    /// The 28 header bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&self.epoch.0.to_be_bytes());
        b[4..8].copy_from_slice(&self.cid.0.to_be_bytes());
        b[8..12].copy_from_slice(&self.call_number.0.to_be_bytes());
        b[12..16].copy_from_slice(&self.seq.0.to_be_bytes());
        b[16..20].copy_from_slice(&self.serial.0.to_be_bytes());
        b[20] = self.packet_type.0;
        b[21] = self.flags.0;
        b[22] = self.user_status;
        b[23] = self.security_index.0;
        b[24..26].copy_from_slice(&self.cksum.to_be_bytes());
        b[26..28].copy_from_slice(&self.service_id.0.to_be_bytes());
        b
    }

    /// Whether the packet was sent by the client side of its connection.
    #[inline]
    pub fn is_client_initiated(&self) -> bool {
        self.flags.contains(Flags::CLIENT_INITIATED)
    }
}

/// A checked zero-copy view of an Rx header at the start of a buffer.
///
/// Construction checks the length once; every getter then reads in bounds without panicking.
#[derive(Clone, Copy)]
pub struct HeaderView<'a> {
    buf: &'a [u8; HEADER_LEN],
    rest: &'a [u8],
}

impl<'a> HeaderView<'a> {
    /// Check that `buf` holds at least a header.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, WireError> {
        match buf.split_first_chunk::<HEADER_LEN>() {
            Some((head, rest)) => Ok(HeaderView { buf: head, rest }),
            None => Err(WireError::Truncated {
                what: "header",
                need: HEADER_LEN,
                have: buf.len(),
            }),
        }
    }

    #[inline]
    fn u32_at(&self, off: usize) -> u32 {
        let b = self.buf;
        u32::from_be_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
    }

    /// `epoch`.
    pub fn epoch(&self) -> Epoch {
        Epoch(self.u32_at(0))
    }
    /// `cid`.
    pub fn cid(&self) -> Cid {
        Cid(self.u32_at(4))
    }
    /// `callNumber`.
    pub fn call_number(&self) -> CallNumber {
        CallNumber(self.u32_at(8))
    }
    /// `seq`.
    pub fn seq(&self) -> Seq {
        Seq(self.u32_at(12))
    }
    /// `serial`.
    pub fn serial(&self) -> Serial {
        Serial(self.u32_at(16))
    }
    /// `type`.
    pub fn packet_type(&self) -> PacketType {
        PacketType(self.buf[20])
    }
    /// `flags`.
    pub fn flags(&self) -> Flags {
        Flags(self.buf[21])
    }
    /// `userStatus`.
    pub fn user_status(&self) -> u8 {
        self.buf[22]
    }
    /// `securityIndex`.
    pub fn security_index(&self) -> SecurityIndex {
        SecurityIndex(self.buf[23])
    }
    /// `cksum` / spare.
    pub fn cksum(&self) -> u16 {
        u16::from_be_bytes([self.buf[24], self.buf[25]])
    }
    /// `serviceId`.
    pub fn service_id(&self) -> ServiceId {
        ServiceId(u16::from_be_bytes([self.buf[26], self.buf[27]]))
    }
    /// The bytes after the header (the body).
    pub fn body(&self) -> &'a [u8] {
        self.rest
    }
    /// The owned header.
    pub fn to_owned(&self) -> Header {
        Header {
            epoch: self.epoch(),
            cid: self.cid(),
            call_number: self.call_number(),
            seq: self.seq(),
            serial: self.serial(),
            packet_type: self.packet_type(),
            flags: self.flags(),
            user_status: self.user_status(),
            security_index: self.security_index(),
            cksum: self.cksum(),
            service_id: self.service_id(),
        }
    }
}

impl fmt::Debug for HeaderView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_owned(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The DATA header of a VL_ListAttributesN2 request captured from `vos listvldb` against
    /// the OpenAFS 1.8.9 vlserver (shared/peers/openafs/README.md).
    const VOS_DATA: [u8; 28] = [
        0xaf, 0x33, 0x1a, 0x65, 0x81, 0x30, 0x28, 0x3c, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0x01,
        0x05, 0, 0, 0, 0, 0x00, 0x34,
    ];

    #[test]
    fn parse_openafs_data_header() {
        let h = Header::parse(&VOS_DATA).unwrap();
        assert_eq!(h.epoch, Epoch(0xaf33_1a65));
        assert_eq!(h.cid.channel().0, 0);
        assert_eq!(h.call_number, CallNumber(1));
        assert_eq!(h.seq, Seq(1));
        assert_eq!(h.serial, Serial(1));
        assert_eq!(h.packet_type, PacketType::DATA);
        assert_eq!(h.flags, Flags::CLIENT_INITIATED | Flags::LAST_PACKET);
        assert_eq!(h.service_id, ServiceId(52));
        assert_eq!(h.to_bytes(), VOS_DATA);
        assert_eq!(h.flags.describe(h.packet_type), "CLIENT|LAST");
    }

    #[test]
    fn short_header_is_typed_error() {
        assert_eq!(
            Header::parse(&VOS_DATA[..27]),
            Err(WireError::Truncated {
                what: "header",
                need: 28,
                have: 27
            })
        );
    }

    #[test]
    fn flags_describe_per_type() {
        let f = Flags(0x21);
        assert_eq!(f.describe(PacketType::ACK), "CLIENT|SLOW_START");
        assert_eq!(f.describe(PacketType::DATA), "CLIENT|JUMBO");
        assert_eq!(Flags(0x40).describe(PacketType::DATA), "0x40");
        assert_eq!(Flags(0).describe(PacketType::DATA), "-");
    }
}
