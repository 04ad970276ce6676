//! Number newtypes of the Rx wire format, with wrap-aware ordering where the protocol wraps.
//!
//! Layer: `wire`. Owns nothing but arithmetic. Sequence numbers, serials and call numbers are
//! 32-bit counters that may wrap; comparing them with plain `<` is wrong near the wrap point, so
//! each type offers `before`/`after`/`distance` that compare within half the number space
//! (RFC 1982 serial-number arithmetic, as Linux's `before()`/`after()` do).

use core::fmt;

macro_rules! wrapping_counter {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name(pub u32);

        impl $name {
            /// `self` comes strictly before `other` in wrap-aware order.
            #[inline]
            pub fn before(self, other: Self) -> bool {
                (self.0.wrapping_sub(other.0) as i32) < 0
            }
            /// `self` comes strictly after `other` in wrap-aware order.
            #[inline]
            pub fn after(self, other: Self) -> bool {
                other.before(self)
            }
            /// `self` is before or equal to `other`.
            #[inline]
            pub fn before_eq(self, other: Self) -> bool {
                !self.after(other)
            }
            /// `self` is after or equal to `other`.
            #[inline]
            pub fn after_eq(self, other: Self) -> bool {
                !self.before(other)
            }
            /// Signed distance `self - other` (positive when `self` is after `other`).
            #[inline]
            pub fn distance(self, other: Self) -> i32 {
                self.0.wrapping_sub(other.0) as i32
            }
            /// `self + n`, wrapping.
            #[inline]
            pub fn plus(self, n: u32) -> Self {
                Self(self.0.wrapping_add(n))
            }
            /// `self - n`, wrapping.
            #[inline]
            pub fn minus(self, n: u32) -> Self {
                Self(self.0.wrapping_sub(n))
            }
        }

        impl PartialOrd for $name {
            /// Wrap-aware partial order: values exactly half the space apart are unordered.
            fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
                use core::cmp::Ordering;
                let d = self.distance(*other);
                if d == 0 {
                    Some(Ordering::Equal)
                } else if d == i32::MIN {
                    None
                } else if d < 0 {
                    Some(Ordering::Less)
                } else {
                    Some(Ordering::Greater)
                }
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl From<u32> for $name {
            fn from(v: u32) -> Self {
                Self(v)
            }
        }

        impl From<$name> for u32 {
            fn from(v: $name) -> u32 {
                v.0
            }
        }
    };
}

wrapping_counter!(
    /// DATA packet sequence number: starts at 1 in each direction of a call; 0 on non-DATA.
    Seq
);
wrapping_counter!(
    /// Per-connection, per-direction packet serial number. Every (re)transmission takes a new
    /// one; 0 is never used, so [`Serial::next`] skips it on wrap.
    Serial
);
wrapping_counter!(
    /// Per-channel call number; 0 marks a connection-level packet.
    CallNumber
);

impl Seq {
    /// The sequence number that follows this one.
    #[inline]
    pub fn next(self) -> Self {
        self.plus(1)
    }
}

impl Serial {
    /// The serial after this one, skipping 0 on wrap.
    #[inline]
    pub fn next(self) -> Self {
        match self.0.wrapping_add(1) {
            0 => Serial(1),
            n => Serial(n),
        }
    }

    /// Advance by `n` serials as a jumbo packet of `n` subpackets does, skipping 0.
    pub fn advance(self, n: u32) -> Self {
        let mut s = self;
        for _ in 0..n {
            s = s.next();
        }
        s
    }
}

impl CallNumber {
    /// The call number after this one. Call numbers are not expected to wrap in practice (a
    /// channel whose counter nears `i32::MAX` is retired), but the arithmetic wraps to 1.
    #[inline]
    pub fn next(self) -> Self {
        match self.0.wrapping_add(1) {
            0 => CallNumber(1),
            n => CallNumber(n),
        }
    }

    /// Call number 0 addresses the connection rather than a call.
    #[inline]
    pub fn is_connection_level(self) -> bool {
        self.0 == 0
    }
}

/// Number of call channels on a connection (`RX_MAXCALLS`).
pub const CHANNELS: usize = 4;
/// Mask of the channel bits in the wire `cid` field.
pub const CHANNEL_MASK: u32 = 0x3;
/// Shift between the connection ID and the wire `cid` field.
pub const CID_SHIFT: u32 = 2;

/// The raw 32-bit `cid` header field: connection ID in bits 31..2, channel in bits 1..0.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Cid(pub u32);

impl Cid {
    /// Build a `cid` field from a connection and a channel.
    #[inline]
    pub fn new(conn: ConnId, channel: Channel) -> Self {
        Cid(conn.0 | u32::from(channel.0))
    }
    /// The connection part, with the channel bits cleared.
    #[inline]
    pub fn conn_id(self) -> ConnId {
        ConnId(self.0 & !CHANNEL_MASK)
    }
    /// The channel part (0..=3).
    #[inline]
    pub fn channel(self) -> Channel {
        Channel((self.0 & CHANNEL_MASK) as u8)
    }
}

impl fmt::Debug for Cid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Cid({:#010x}:{})",
            self.0 & !CHANNEL_MASK,
            self.0 & CHANNEL_MASK
        )
    }
}

impl fmt::Display for Cid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:08x}:{}",
            self.0 & !CHANNEL_MASK,
            self.0 & CHANNEL_MASK
        )
    }
}

/// A connection identifier as it appears on the wire: the `cid` field with the channel bits
/// clear. [`ConnId::index`] is the allocator's number (`cid >> 2`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct ConnId(pub u32);

impl ConnId {
    /// The connection ID for allocator index `index` (`index << 2`). Indices above
    /// `0x3fff_ffff` lose their top bits.
    #[inline]
    pub fn from_index(index: u32) -> Self {
        ConnId(index << CID_SHIFT)
    }
    /// The allocator index, `cid >> 2`.
    #[inline]
    pub fn index(self) -> u32 {
        self.0 >> CID_SHIFT
    }
}

impl fmt::Debug for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConnId({:#010x})", self.0)
    }
}

/// A call channel of a connection, 0..=3.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord, Debug)]
pub struct Channel(pub u8);

impl Channel {
    /// All four channels in order.
    pub const ALL: [Channel; CHANNELS] = [Channel(0), Channel(1), Channel(2), Channel(3)];
    /// The channel as an array index.
    #[inline]
    pub fn index(self) -> usize {
        usize::from(self.0 & CHANNEL_MASK as u8)
    }
}

/// The client's epoch ("boot stamp"). Bit 31 set means the epoch was chosen at random and the
/// connection is identified by (epoch, cid) alone.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Epoch(pub u32);

impl Epoch {
    /// The "random epoch" flag bit.
    pub const RANDOM_FLAG: u32 = 0x8000_0000;

    /// An epoch made from random bits, with the random flag set.
    #[inline]
    pub fn random_from(bits: u32) -> Self {
        Epoch(bits | Self::RANDOM_FLAG)
    }
    /// Whether the random-epoch flag (bit 31) is set.
    #[inline]
    pub fn is_random(self) -> bool {
        self.0 & Self::RANDOM_FLAG != 0
    }
}

impl fmt::Debug for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Epoch({:#010x})", self.0)
    }
}

/// An Rx service identifier (the header's `serviceId`). 0 is invalid on calls.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord, Debug)]
pub struct ServiceId(pub u16);

/// A security class index (the header's `securityIndex`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct SecurityIndex(pub u8);

impl SecurityIndex {
    /// No security (rxnull).
    pub const NULL: SecurityIndex = SecurityIndex(0);
    /// The unused "vab" class of early AFS.
    pub const VAB: SecurityIndex = SecurityIndex(1);
    /// rxkad (Kerberos IV style).
    pub const RXKAD: SecurityIndex = SecurityIndex(2);
    /// OpenAFS's rxkad object that always encrypts (fileserver).
    pub const RXKAD_ALWAYS_ENCRYPT: SecurityIndex = SecurityIndex(3);
    /// rxgk (OpenAFS numbering).
    pub const RXGK: SecurityIndex = SecurityIndex(4);
    /// rxk5.
    pub const RXK5: SecurityIndex = SecurityIndex(5);
    /// yfs-rxgk (AuriStor and Linux).
    pub const YFS_RXGK: SecurityIndex = SecurityIndex(6);

    /// A short name for the class, if it is a known one.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "null",
            1 => "vab",
            2 => "rxkad",
            3 => "rxkad-crypt",
            4 => "rxgk",
            5 => "rxk5",
            6 => "yfs-rxgk",
            _ => return None,
        })
    }
}

impl fmt::Debug for SecurityIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "SecurityIndex({}={n})", self.0),
            None => write!(f, "SecurityIndex({})", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn serial_skips_zero() {
        assert_eq!(Serial(u32::MAX).next(), Serial(1));
        assert_eq!(Serial(u32::MAX - 1).advance(3), Serial(2));
        assert_eq!(Serial(5).next(), Serial(6));
    }

    #[test]
    fn seq_wraps() {
        assert!(Seq(u32::MAX).before(Seq(1)));
        assert!(Seq(1).after(Seq(u32::MAX)));
        assert_eq!(Seq(2).distance(Seq(u32::MAX)), 3);
        assert!(Seq(3) > Seq(u32::MAX - 3));
        assert_eq!(Seq(0).partial_cmp(&Seq(0x8000_0000)), None);
    }

    #[test]
    fn cid_parts() {
        let cid = Cid(0x8130_283f);
        assert_eq!(cid.conn_id(), ConnId(0x8130_283c));
        assert_eq!(cid.channel(), Channel(3));
        assert_eq!(Cid::new(cid.conn_id(), Channel(3)), cid);
        assert_eq!(ConnId::from_index(5).index(), 5);
        assert_eq!(ConnId::from_index(5), ConnId(20));
    }

    #[test]
    fn epoch_random_bit() {
        assert!(Epoch::random_from(0x1234).is_random());
        assert!(!Epoch(999).is_random());
    }

    proptest! {
        #[test]
        fn before_after_antisymmetric(a: u32, d in 1u32..0x7fff_ffff) {
            let x = Seq(a);
            let y = x.plus(d);
            prop_assert!(x.before(y));
            prop_assert!(y.after(x));
            prop_assert!(!y.before(x));
            prop_assert_eq!(y.distance(x), d as i32);
        }

        #[test]
        fn serial_never_zero(a: u32, n in 0u32..100) {
            let s = Serial(a.max(1)).advance(n);
            prop_assert_ne!(s.0, 0);
        }
    }
}
