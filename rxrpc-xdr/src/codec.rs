//! The encoder, the decoder and the [`Xdr`] trait.
//!
//! XDR as rxgen uses it (RFC 4506 plus OpenAFS's conventions): every item is a multiple of 4
//! bytes, big-endian. `int`, `unsigned`, `enum` and `bool` take 4 bytes; `char`, `u_char`,
//! `short` and `u_short` are *widened* to 4 bytes; `hyper` (`afs_int64`) takes 8, high word
//! first; fixed opaque data is padded to 4; strings, variable opaque data and variable arrays
//! carry a 32-bit length first; optional data (a pointer) is a `bool` then the value; a union is
//! its discriminant then the selected arm.
//!
//! The decoder enforces every bound: declared maximum lengths, the input's own length (an
//! element count that cannot fit in the bytes left is rejected before anything is allocated),
//! value ranges of `bool` and widened narrow types, nesting depth and, at the end of a message,
//! trailing bytes. Each violation is its own [`DecodeErrorKind`].

use crate::error::{DecodeError, DecodeErrorKind, EncodeError, EncodeErrorKind};

/// An unbounded (`<>`) variable-length item's bound.
pub const UNBOUNDED: u32 = u32::MAX;

/// Decoder limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum nesting of optional data (pointers) and of generated types; protects the stack
    /// against hostile recursion. Default 256.
    pub max_depth: usize,
    /// Reject non-zero padding bytes after strings and opaque data (RFC 4506 requires zeros;
    /// OpenAFS always sends zeros but never checks). Default `true`.
    pub strict_padding: bool,
    /// Maximum element count of an array whose elements take no bytes on the wire (only
    /// possible with zero-length fixed arrays); such a count cannot be checked against the
    /// input. Default 65536.
    pub max_zero_size_elems: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 256,
            strict_padding: true,
            max_zero_size_elems: 65536,
        }
    }
}

/// A type with an XDR encoding.
///
/// Implemented for the primitive types (`i32`, `u32`, `i64`, `u64`, `bool`, `f32`, `f64`, and
/// the widened `i16`, `u16`, `i8`, `u8`), for [`XdrString`](crate::XdrString) without a bound,
/// and by rxgen for every named type of an interface. Variable-length items with a declared
/// bound are encoded through the [`Encoder`]'s and [`Decoder`]'s methods that take the bound.
pub trait Xdr: Sized {
    /// The smallest number of bytes any value of the type takes on the wire; used to reject
    /// element counts that cannot fit in the input.
    const MIN_SIZE: usize;

    /// Append the encoding of `self`.
    fn encode(&self, enc: &mut Encoder) -> Result<(), EncodeError>;

    /// Decode one value.
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError>;

    /// Encode into a new buffer.
    fn to_xdr(&self) -> Result<Vec<u8>, EncodeError> {
        let mut e = Encoder::new();
        self.encode(&mut e)?;
        Ok(e.into_vec())
    }

    /// Decode a whole message: one value and nothing after it.
    fn from_xdr(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut d = Decoder::new(buf);
        let v = Self::decode(&mut d)?;
        d.finish()?;
        Ok(v)
    }
}

/// The smallest of `sizes` (0 if empty); generated code computes a union's `MIN_SIZE` with it.
pub const fn min_of(sizes: &[usize]) -> usize {
    if sizes.is_empty() {
        return 0;
    }
    let mut m = sizes[0];
    let mut i = 1;
    while i < sizes.len() {
        if sizes[i] < m {
            m = sizes[i];
        }
        i += 1;
    }
    m
}

fn pad_len(len: usize) -> usize {
    (4 - len % 4) % 4
}

/// Appends XDR items to a growable buffer.
#[derive(Debug, Clone, Default)]
pub struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    /// An empty encoder.
    pub fn new() -> Self {
        Encoder::default()
    }

    /// An empty encoder with room for `n` bytes.
    pub fn with_capacity(n: usize) -> Self {
        Encoder {
            buf: Vec::with_capacity(n),
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The bytes written so far.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    /// The encoding.
    pub fn into_vec(self) -> Vec<u8> {
        self.buf
    }

    /// The encoding as [`bytes::Bytes`].
    pub fn into_bytes(self) -> bytes::Bytes {
        bytes::Bytes::from(self.buf)
    }

    /// Encode any [`Xdr`] value.
    pub fn put<T: Xdr>(&mut self, v: &T) -> Result<(), EncodeError> {
        v.encode(self)
    }

    /// `unsigned int` / `afs_uint32`.
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// `int` / `afs_int32`.
    pub fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// `unsigned hyper` / `afs_uint64`.
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// `hyper` / `afs_int64`.
    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// `bool`: 0 or 1.
    pub fn bool(&mut self, v: bool) {
        self.u32(u32::from(v));
    }

    /// `float`.
    pub fn f32(&mut self, v: f32) {
        self.u32(v.to_bits());
    }

    /// `double`.
    pub fn f64(&mut self, v: f64) {
        self.u64(v.to_bits());
    }

    /// `char`, widened with sign extension (as OpenAFS's `xdr_char`).
    pub fn char(&mut self, v: i8) {
        self.i32(i32::from(v));
    }

    /// `unsigned char`, widened.
    pub fn u_char(&mut self, v: u8) {
        self.u32(u32::from(v));
    }

    /// `short`, widened with sign extension.
    pub fn short(&mut self, v: i16) {
        self.i32(i32::from(v));
    }

    /// `unsigned short`, widened.
    pub fn u_short(&mut self, v: u16) {
        self.u32(u32::from(v));
    }

    fn pad(&mut self, len: usize) {
        self.buf.extend_from_slice(&[0u8; 3][..pad_len(len)]);
    }

    fn check_len(len: usize, max: u32) -> Result<u32, EncodeError> {
        match u32::try_from(len) {
            Ok(l) if l <= max => Ok(l),
            _ => Err(EncodeError::new(EncodeErrorKind::LengthOverBound {
                len,
                max,
            })),
        }
    }

    /// `opaque x[N]`: exactly `expected` bytes, then padding.
    pub fn opaque_fixed(&mut self, data: &[u8], expected: usize) -> Result<(), EncodeError> {
        if data.len() != expected {
            return Err(EncodeError::new(EncodeErrorKind::WrongFixedLength {
                len: data.len(),
                expected,
            }));
        }
        self.buf.extend_from_slice(data);
        self.pad(data.len());
        Ok(())
    }

    /// `opaque x<max>`: length, bytes, padding.
    pub fn opaque(&mut self, data: &[u8], max: u32) -> Result<(), EncodeError> {
        let len = Self::check_len(data.len(), max)?;
        self.u32(len);
        self.buf.extend_from_slice(data);
        self.pad(data.len());
        Ok(())
    }

    /// `string s<max>`: the same encoding as variable opaque data (no NUL on the wire).
    pub fn string(&mut self, data: &[u8], max: u32) -> Result<(), EncodeError> {
        self.opaque(data, max)
    }

    /// The element count of a variable array `T a<max>`; the caller encodes the elements.
    pub fn count(&mut self, len: usize, max: u32) -> Result<(), EncodeError> {
        let len = Self::check_len(len, max)?;
        self.u32(len);
        Ok(())
    }

    /// A variable array `T a<max>`: count, then each element with `f`.
    pub fn array<T>(
        &mut self,
        items: &[T],
        max: u32,
        mut f: impl FnMut(&mut Encoder, &T) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        self.count(items.len(), max)?;
        for it in items {
            f(self, it)?;
        }
        Ok(())
    }

    /// Optional data `T *p`: `bool` present, then the value.
    pub fn optional<T>(
        &mut self,
        v: Option<&T>,
        f: impl FnOnce(&mut Encoder, &T) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        match v {
            None => {
                self.bool(false);
                Ok(())
            }
            Some(v) => {
                self.bool(true);
                f(self, v)
            }
        }
    }
}

/// Reads XDR items from a byte slice, enforcing every bound.
#[derive(Debug, Clone)]
pub struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
    limits: Limits,
    depth: usize,
}

impl<'a> Decoder<'a> {
    /// A decoder over `buf` with default [`Limits`].
    pub fn new(buf: &'a [u8]) -> Self {
        Self::with_limits(buf, Limits::default())
    }

    /// A decoder over `buf` with `limits`.
    pub fn with_limits(buf: &'a [u8], limits: Limits) -> Self {
        Decoder {
            buf,
            pos: 0,
            limits,
            depth: 0,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The bytes left, not consumed.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Whether all input was consumed.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// An error of `kind` at the current position.
    pub fn error(&self, kind: DecodeErrorKind) -> DecodeError {
        DecodeError::new(kind, self.pos)
    }

    /// Fail with [`DecodeErrorKind::TrailingBytes`] unless all input was consumed.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(self.error(DecodeErrorKind::TrailingBytes { count })),
        }
    }

    /// Take `n` raw bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let available = self.remaining();
        if n > available {
            return Err(self.error(DecodeErrorKind::UnexpectedEnd {
                needed: n,
                available,
            }));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn word(&mut self) -> Result<[u8; 4], DecodeError> {
        let s = self.take(4)?;
        Ok([s[0], s[1], s[2], s[3]])
    }

    /// Decode any [`Xdr`] value.
    pub fn get<T: Xdr>(&mut self) -> Result<T, DecodeError> {
        T::decode(self)
    }

    /// `unsigned int` / `afs_uint32`.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.word()?))
    }

    /// `int` / `afs_int32`.
    pub fn i32(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.word()?))
    }

    /// `unsigned hyper` / `afs_uint64`.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        let s = self.take(8)?;
        let mut b = [0u8; 8];
        b.copy_from_slice(s);
        Ok(u64::from_be_bytes(b))
    }

    /// `hyper` / `afs_int64`.
    pub fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(self.u64()? as i64)
    }

    /// `bool`: exactly 0 or 1.
    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        let at = self.pos;
        match self.u32()? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(DecodeError::new(DecodeErrorKind::InvalidBool(v), at)),
        }
    }

    /// `float`.
    pub fn f32(&mut self) -> Result<f32, DecodeError> {
        Ok(f32::from_bits(self.u32()?))
    }

    /// `double`.
    pub fn f64(&mut self) -> Result<f64, DecodeError> {
        Ok(f64::from_bits(self.u64()?))
    }

    /// A widened narrow integer: accepts the values of either signedness of a `bits`-bit type
    /// (senders differ in sign extension) and returns the low `bits` bits.
    fn narrow(&mut self, bits: u32, ty: &'static str) -> Result<u32, DecodeError> {
        let at = self.pos;
        let v = self.i32()?;
        let min = -(1i64 << (bits - 1));
        let max = (1i64 << bits) - 1;
        if i64::from(v) < min || i64::from(v) > max {
            return Err(DecodeError::new(
                DecodeErrorKind::NarrowOutOfRange { ty, value: v },
                at,
            ));
        }
        Ok((v as u32) & ((1u32 << bits) - 1))
    }

    /// `char` (widened): a value in -128..=255, truncated to 8 bits.
    pub fn char(&mut self) -> Result<i8, DecodeError> {
        Ok(self.narrow(8, "char")? as u8 as i8)
    }

    /// `unsigned char` (widened): a value in -128..=255, truncated to 8 bits.
    pub fn u_char(&mut self) -> Result<u8, DecodeError> {
        Ok(self.narrow(8, "u_char")? as u8)
    }

    /// `short` (widened): a value in -32768..=65535, truncated to 16 bits.
    pub fn short(&mut self) -> Result<i16, DecodeError> {
        Ok(self.narrow(16, "short")? as u16 as i16)
    }

    /// `unsigned short` (widened): a value in -32768..=65535, truncated to 16 bits.
    pub fn u_short(&mut self) -> Result<u16, DecodeError> {
        Ok(self.narrow(16, "u_short")? as u16)
    }

    fn padding(&mut self, len: usize) -> Result<(), DecodeError> {
        let at = self.pos;
        let pad = self.take(pad_len(len))?;
        if self.limits.strict_padding && pad.iter().any(|&b| b != 0) {
            return Err(DecodeError::new(DecodeErrorKind::NonZeroPadding, at));
        }
        Ok(())
    }

    /// `opaque x[n]`: `n` bytes and their padding.
    pub fn opaque_fixed(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let s = self.take(n)?;
        self.padding(n)?;
        Ok(s)
    }

    /// `opaque x[N]` into an array.
    pub fn opaque_array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let s = self.opaque_fixed(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// The length of a variable item: at most `max`, and at most what is left of the input.
    fn var_len(&mut self, max: u32) -> Result<usize, DecodeError> {
        let at = self.pos;
        let len = self.u32()?;
        if len > max {
            return Err(DecodeError::new(
                DecodeErrorKind::LengthOverBound { len, max },
                at,
            ));
        }
        let padded = len as usize + pad_len(len as usize);
        if padded > self.remaining() {
            return Err(DecodeError::new(
                DecodeErrorKind::UnexpectedEnd {
                    needed: padded,
                    available: self.remaining(),
                },
                self.pos,
            ));
        }
        Ok(len as usize)
    }

    /// `opaque x<max>` borrowed from the input.
    pub fn opaque_ref(&mut self, max: u32) -> Result<&'a [u8], DecodeError> {
        let len = self.var_len(max)?;
        self.opaque_fixed(len)
    }

    /// `opaque x<max>`.
    pub fn opaque(&mut self, max: u32) -> Result<Vec<u8>, DecodeError> {
        Ok(self.opaque_ref(max)?.to_vec())
    }

    /// `string s<max>` (bytes, not necessarily UTF-8).
    pub fn string(&mut self, max: u32) -> Result<crate::XdrString, DecodeError> {
        Ok(crate::XdrString::from(self.opaque_ref(max)?.to_vec()))
    }

    /// The element count of a variable array `T a<max>` whose elements take at least
    /// `min_elem_size` bytes each: at most `max`, and small enough for the input left.
    pub fn count(&mut self, max: u32, min_elem_size: usize) -> Result<usize, DecodeError> {
        let at = self.pos;
        let len = self.u32()?;
        if len > max {
            return Err(DecodeError::new(
                DecodeErrorKind::LengthOverBound { len, max },
                at,
            ));
        }
        let remaining = self.remaining();
        let fits = match remaining.checked_div(min_elem_size) {
            Some(most) => (len as usize) <= most,
            None => len <= self.limits.max_zero_size_elems,
        };
        if !fits {
            return Err(DecodeError::new(
                DecodeErrorKind::LengthOverInput {
                    len,
                    min_elem_size,
                    remaining,
                },
                at,
            ));
        }
        Ok(len as usize)
    }

    /// A variable array `T a<max>`: count (checked by [`count`](Self::count)), then each
    /// element with `f`.
    pub fn array<T>(
        &mut self,
        max: u32,
        min_elem_size: usize,
        mut f: impl FnMut(&mut Decoder<'a>) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let n = self.count(max, min_elem_size)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(f(self)?);
        }
        Ok(v)
    }

    /// A fixed array `T a[N]`: `N` elements with `f`.
    pub fn fixed_array<T, const N: usize>(
        &mut self,
        mut f: impl FnMut(&mut Decoder<'a>) -> Result<T, DecodeError>,
    ) -> Result<[T; N], DecodeError> {
        let mut v = Vec::with_capacity(N);
        for _ in 0..N {
            v.push(f(self)?);
        }
        match v.try_into() {
            Ok(a) => Ok(a),
            Err(_) => unreachable!("exactly N elements were decoded"),
        }
    }

    /// Run `f` one nesting level deeper, failing with [`DecodeErrorKind::TooDeep`] past
    /// [`Limits::max_depth`].
    pub fn nested<T>(
        &mut self,
        f: impl FnOnce(&mut Decoder<'a>) -> Result<T, DecodeError>,
    ) -> Result<T, DecodeError> {
        if self.depth >= self.limits.max_depth {
            return Err(self.error(DecodeErrorKind::TooDeep {
                max: self.limits.max_depth,
            }));
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    /// Optional data `T *p`: a `bool`, then (if true) the value, one nesting level deeper.
    pub fn optional<T>(
        &mut self,
        f: impl FnOnce(&mut Decoder<'a>) -> Result<T, DecodeError>,
    ) -> Result<Option<Box<T>>, DecodeError> {
        if self.bool()? {
            Ok(Some(Box::new(self.nested(f)?)))
        } else {
            Ok(None)
        }
    }
}

macro_rules! prim {
    ($t:ty, $size:expr, $put:ident, $get:ident) => {
        impl Xdr for $t {
            const MIN_SIZE: usize = $size;
            fn encode(&self, enc: &mut Encoder) -> Result<(), EncodeError> {
                enc.$put(*self);
                Ok(())
            }
            fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
                dec.$get()
            }
        }
    };
}

prim!(u32, 4, u32, u32);
prim!(i32, 4, i32, i32);
prim!(u64, 8, u64, u64);
prim!(i64, 8, i64, i64);
prim!(bool, 4, bool, bool);
prim!(f32, 4, f32, f32);
prim!(f64, 8, f64, f64);
prim!(i8, 4, char, char);
prim!(u8, 4, u_char, u_char);
prim!(i16, 4, short, short);
prim!(u16, 4, u_short, u_short);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_round_trip() {
        let mut e = Encoder::new();
        e.i32(-2);
        e.u64(0x0102_0304_0506_0708);
        e.bool(true);
        e.char(-1);
        e.u_short(65535);
        e.opaque(b"abcde", 10).unwrap();
        e.opaque_fixed(b"xy", 2).unwrap();
        let b = e.into_vec();
        assert_eq!(b.len(), 4 + 8 + 4 + 4 + 4 + 12 + 4);
        assert_eq!(&b[16..20], &[0xff; 4], "char is sign-extended");
        let mut d = Decoder::new(&b);
        assert_eq!(d.i32().unwrap(), -2);
        assert_eq!(d.u64().unwrap(), 0x0102_0304_0506_0708);
        assert!(d.bool().unwrap());
        assert_eq!(d.char().unwrap(), -1);
        assert_eq!(d.u_short().unwrap(), 65535);
        assert_eq!(d.opaque(10).unwrap(), b"abcde");
        assert_eq!(d.opaque_fixed(2).unwrap(), b"xy");
        d.finish().unwrap();
    }

    #[test]
    fn every_violation_has_its_kind() {
        let k = |r: Result<(), DecodeError>| r.unwrap_err().kind().clone();
        // Bound.
        let b = [0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            k(Decoder::new(&b).opaque(8).map(drop)),
            DecodeErrorKind::LengthOverBound { len: 9, max: 8 }
        );
        // Input.
        assert!(matches!(
            k(Decoder::new(&b[..10]).opaque(100).map(drop)),
            DecodeErrorKind::UnexpectedEnd { .. }
        ));
        let huge = [0xff, 0xff, 0xff, 0xff];
        assert_eq!(
            k(Decoder::new(&huge).count(UNBOUNDED, 4).map(drop)),
            DecodeErrorKind::LengthOverInput {
                len: u32::MAX,
                min_elem_size: 4,
                remaining: 0
            }
        );
        // Padding.
        let p = [0, 0, 0, 1, b'a', 0, 1, 0];
        assert_eq!(
            k(Decoder::new(&p).opaque(4).map(drop)),
            DecodeErrorKind::NonZeroPadding
        );
        let lax = Limits {
            strict_padding: false,
            ..Limits::default()
        };
        assert_eq!(Decoder::with_limits(&p, lax).opaque(4).unwrap(), b"a");
        // Bool, narrow.
        assert_eq!(
            k(Decoder::new(&[0, 0, 0, 2]).bool().map(drop)),
            DecodeErrorKind::InvalidBool(2)
        );
        assert_eq!(
            k(Decoder::new(&[0, 0, 1, 0]).char().map(drop)),
            DecodeErrorKind::NarrowOutOfRange {
                ty: "char",
                value: 256
            }
        );
        assert_eq!(Decoder::new(&[0, 0, 0, 0xff]).char().unwrap(), -1);
        // Trailing.
        let mut d = Decoder::new(&[0, 0, 0, 1, 0]);
        d.u32().unwrap();
        assert_eq!(k(d.finish()), DecodeErrorKind::TrailingBytes { count: 1 });
        // Depth.
        let deep = [0, 0, 0, 1].repeat(300);
        fn list(d: &mut Decoder<'_>) -> Result<u32, DecodeError> {
            Ok(1 + d.optional(list)?.map_or(0, |b| *b))
        }
        assert_eq!(
            k(Decoder::new(&deep).optional(list).map(drop)),
            DecodeErrorKind::TooDeep { max: 256 }
        );
    }

    #[test]
    fn encode_bounds() {
        let mut e = Encoder::new();
        let err = e.string(b"toolong", 3).unwrap_err();
        assert_eq!(
            err.kind(),
            &EncodeErrorKind::LengthOverBound { len: 7, max: 3 }
        );
        assert!(e.opaque_fixed(b"ab", 3).is_err());
        assert!(e.array(&[1u32, 2, 3], 2, |e, v| v.encode(e)).is_err());
    }

    #[test]
    fn error_display_has_offset_and_path() {
        let b = [0, 0, 0, 0, 0, 0, 0, 70];
        let mut d = Decoder::new(&b);
        d.u32().unwrap();
        let err = d
            .string(65)
            .unwrap_err()
            .within("name")
            .within("nvldbentry");
        assert_eq!(err.offset(), 4);
        assert_eq!(err.path(), ["nvldbentry", "name"]);
        assert_eq!(
            err.to_string(),
            "XDR decode error at byte 4 in nvldbentry.name: length 70 exceeds the declared bound 65"
        );
    }
}
