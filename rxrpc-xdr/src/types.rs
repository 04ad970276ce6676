//! Value types for the IDL's strings, `char` arrays and `afsUUID`.

use std::fmt;
use std::ops::Deref;

use crate::codec::{Decoder, Encoder, UNBOUNDED, Xdr};
use crate::error::{DecodeError, EncodeError};

/// An XDR `string`: bytes without a NUL, not necessarily UTF-8 (AFS names and messages are
/// byte strings). Compares equal to `&str` with the same bytes; displays lossily.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct XdrString(Vec<u8>);

impl XdrString {
    /// An empty string.
    pub fn new() -> Self {
        XdrString(Vec::new())
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The string if it is UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// The string, invalid UTF-8 replaced.
    pub fn to_string_lossy(&self) -> String {
        String::from_utf8_lossy(&self.0).into_owned()
    }

    /// The bytes, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

impl Deref for XdrString {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for XdrString {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<&str> for XdrString {
    fn from(s: &str) -> Self {
        XdrString(s.as_bytes().to_vec())
    }
}

impl From<String> for XdrString {
    fn from(s: String) -> Self {
        XdrString(s.into_bytes())
    }
}

impl From<Vec<u8>> for XdrString {
    fn from(v: Vec<u8>) -> Self {
        XdrString(v)
    }
}

impl From<&[u8]> for XdrString {
    fn from(v: &[u8]) -> Self {
        XdrString(v.to_vec())
    }
}

impl PartialEq<str> for XdrString {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for XdrString {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl fmt::Debug for XdrString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&String::from_utf8_lossy(&self.0), f)
    }
}

impl fmt::Display for XdrString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&String::from_utf8_lossy(&self.0), f)
    }
}

/// An unbounded `string<>`; bounded strings go through [`Encoder::string`] and
/// [`Decoder::string`].
impl Xdr for XdrString {
    const MIN_SIZE: usize = 4;
    fn encode(&self, enc: &mut Encoder) -> Result<(), EncodeError> {
        enc.string(&self.0, UNBOUNDED)
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        dec.string(UNBOUNDED)
    }
}

/// A C `char name[N]` member: `N` bytes holding a NUL-terminated string, each byte widened to 4
/// bytes on the wire (sign-extended, as OpenAFS's `xdr_char`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FixedChars<const N: usize>(pub [u8; N]);

/// Why a string does not fit a [`FixedChars`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{len} bytes do not fit in char[{cap}] with its terminating NUL")]
pub struct TooLong {
    /// The string's length.
    pub len: usize,
    /// The array's size.
    pub cap: usize,
}

impl<const N: usize> FixedChars<N> {
    /// All NULs.
    pub const fn zeroed() -> Self {
        FixedChars([0; N])
    }

    /// `s` followed by NULs; it must be shorter than `N` (room for the terminating NUL).
    pub fn new(s: impl AsRef<[u8]>) -> Result<Self, TooLong> {
        let s = s.as_ref();
        if s.len() >= N {
            return Err(TooLong {
                len: s.len(),
                cap: N,
            });
        }
        let mut a = [0u8; N];
        a[..s.len()].copy_from_slice(s);
        Ok(FixedChars(a))
    }

    /// The bytes before the first NUL (all `N` if there is none).
    pub fn as_bytes(&self) -> &[u8] {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(N);
        &self.0[..end]
    }

    /// The string before the first NUL, if it is UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(self.as_bytes()).ok()
    }

    /// The string before the first NUL, invalid UTF-8 replaced.
    pub fn to_string_lossy(&self) -> String {
        String::from_utf8_lossy(self.as_bytes()).into_owned()
    }
}

impl<const N: usize> Default for FixedChars<N> {
    fn default() -> Self {
        Self::zeroed()
    }
}

impl<const N: usize> PartialEq<str> for FixedChars<N> {
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl<const N: usize> PartialEq<&str> for FixedChars<N> {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl<const N: usize> TryFrom<&str> for FixedChars<N> {
    type Error = TooLong;
    fn try_from(s: &str) -> Result<Self, TooLong> {
        Self::new(s)
    }
}

impl<const N: usize> fmt::Debug for FixedChars<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0[self.as_bytes().len()..].iter().all(|&b| b == 0) {
            fmt::Debug::fmt(&String::from_utf8_lossy(self.as_bytes()), f)
        } else {
            f.debug_tuple("FixedChars").field(&&self.0[..]).finish()
        }
    }
}

impl<const N: usize> fmt::Display for FixedChars<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&String::from_utf8_lossy(self.as_bytes()), f)
    }
}

impl<const N: usize> Xdr for FixedChars<N> {
    const MIN_SIZE: usize = 4 * N;
    fn encode(&self, enc: &mut Encoder) -> Result<(), EncodeError> {
        for &b in &self.0 {
            enc.char(b as i8);
        }
        Ok(())
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let mut a = [0u8; N];
        for b in a.iter_mut() {
            *b = dec.char()? as u8;
        }
        Ok(FixedChars(a))
    }
}

/// `afsUUID` (OpenAFS `src/rx/xdr_afsuuid.c`): 11 words on the wire.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct AfsUuid {
    /// `time_low` (`afs_uint32`).
    pub time_low: u32,
    /// `time_mid` (`u_short`).
    pub time_mid: u16,
    /// `time_hi_and_version` (`u_short`).
    pub time_hi_and_version: u16,
    /// `clock_seq_hi_and_reserved` (`char`).
    pub clock_seq_hi_and_reserved: i8,
    /// `clock_seq_low` (`char`).
    pub clock_seq_low: i8,
    /// `node[6]` (`char`).
    pub node: [i8; 6],
}

impl Xdr for AfsUuid {
    const MIN_SIZE: usize = 44;
    fn encode(&self, enc: &mut Encoder) -> Result<(), EncodeError> {
        enc.u32(self.time_low);
        enc.u_short(self.time_mid);
        enc.u_short(self.time_hi_and_version);
        enc.char(self.clock_seq_hi_and_reserved);
        enc.char(self.clock_seq_low);
        for &n in &self.node {
            enc.char(n);
        }
        Ok(())
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(AfsUuid {
            time_low: dec.u32()?,
            time_mid: dec.u_short()?,
            time_hi_and_version: dec.u_short()?,
            clock_seq_hi_and_reserved: dec.char()?,
            clock_seq_low: dec.char()?,
            node: dec.fixed_array(|d| d.char())?,
        })
    }
}

/// `[T::default(); N]` for any `N` (the standard library's `Default` for arrays stops at 32).
pub fn default_array<T: Default, const N: usize>() -> [T; N] {
    std::array::from_fn(|_| T::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_chars() {
        let n = FixedChars::<8>::new("root").unwrap();
        assert_eq!(n, "root");
        assert_eq!(n.as_str(), Some("root"));
        assert!(FixedChars::<4>::new("root").is_err());
        let wire = n.to_xdr().unwrap();
        assert_eq!(wire.len(), 32);
        assert_eq!(FixedChars::<8>::from_xdr(&wire).unwrap(), n);
        assert_eq!(format!("{n:?}"), "\"root\"");
        let hi = FixedChars::<2>([0xe9, 0]);
        assert_eq!(hi.to_xdr().unwrap()[..4], [0xff, 0xff, 0xff, 0xe9]);
    }

    #[test]
    fn uuid_is_44_bytes() {
        let u = AfsUuid {
            time_low: 1,
            time_mid: 2,
            time_hi_and_version: 3,
            clock_seq_hi_and_reserved: -4,
            clock_seq_low: 5,
            node: [6, 7, 8, 9, 10, -11],
        };
        let w = u.to_xdr().unwrap();
        assert_eq!(w.len(), 44);
        assert_eq!(AfsUuid::from_xdr(&w).unwrap(), u);
    }
}
