//! Sans-IO streaming: decode XDR items from data that arrives in pieces.
//!
//! A split call (rxgen's `split`, e.g. `RXAFS_FetchData`) interleaves XDR items with raw bytes:
//! the server reads the arguments, then the caller's data; the client writes the arguments,
//! then streams, then reads the results. [`StreamDecoder`] buffers what has arrived, decodes an
//! item as soon as all of it is there (reporting "need more" until then), and hands the bytes
//! after it back as raw data. It never buffers more than its limit, so a peer cannot make it
//! grow without bound by announcing a huge item.

use bytes::{Buf, Bytes, BytesMut};

use crate::codec::{Decoder, Limits};
use crate::error::{DecodeError, DecodeErrorKind};

/// Result of [`StreamDecoder::try_decode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded<T> {
    /// The item, its bytes consumed.
    Item(T),
    /// The item is not complete yet: push more data (or, at end of input, it is truncated).
    NeedMore,
}

/// Why a streamed item could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamDecodeError {
    /// The bytes are not a valid item.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The item would need more than the buffer limit.
    #[error("a streamed item needs more than the {0}-byte buffer limit")]
    TooLong(usize),
}

/// A buffer of received bytes from which XDR items and raw data are taken in order.
#[derive(Debug, Clone)]
pub struct StreamDecoder {
    buf: BytesMut,
    limits: Limits,
    max_buffered: usize,
}

impl StreamDecoder {
    /// A decoder that holds at most `max_buffered` bytes for one item.
    pub fn new(limits: Limits, max_buffered: usize) -> Self {
        StreamDecoder {
            buf: BytesMut::new(),
            limits,
            max_buffered,
        }
    }

    /// Append received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes buffered and not yet taken.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The decoder limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The buffer limit.
    pub fn max_buffered(&self) -> usize {
        self.max_buffered
    }

    /// Try to decode one item with `f` from the buffered bytes. `eof` says no more data will
    /// come, which turns "need more" into a truncation error.
    pub fn try_decode<T>(
        &mut self,
        eof: bool,
        f: impl FnOnce(&mut Decoder<'_>) -> Result<T, DecodeError>,
    ) -> Result<Decoded<T>, StreamDecodeError> {
        let mut d = Decoder::with_limits(&self.buf, self.limits);
        match f(&mut d) {
            Ok(v) => {
                let used = d.position();
                self.buf.advance(used);
                Ok(Decoded::Item(v))
            }
            Err(e) => {
                let incomplete = matches!(
                    e.kind(),
                    DecodeErrorKind::UnexpectedEnd { .. } | DecodeErrorKind::LengthOverInput { .. }
                );
                if !incomplete || eof {
                    Err(e.into())
                } else if self.buf.len() >= self.max_buffered {
                    Err(StreamDecodeError::TooLong(self.max_buffered))
                } else {
                    Ok(Decoded::NeedMore)
                }
            }
        }
    }

    /// Take exactly `n` raw bytes if they are buffered.
    pub fn take_exact(&mut self, n: usize) -> Option<Bytes> {
        (self.buf.len() >= n).then(|| self.buf.split_to(n).freeze())
    }

    /// Take up to `max` buffered raw bytes (none if the buffer is empty).
    pub fn take_up_to(&mut self, max: usize) -> Option<Bytes> {
        if self.buf.is_empty() || max == 0 {
            return None;
        }
        let n = self.buf.len().min(max);
        Some(self.buf.split_to(n).freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Encoder, UNBOUNDED};

    #[test]
    fn items_and_raw_bytes_in_pieces() {
        let mut e = Encoder::new();
        e.u32(7);
        e.string(b"hello", 10).unwrap();
        let mut wire = e.into_vec();
        wire.extend_from_slice(b"RAW");
        let mut s = StreamDecoder::new(Limits::default(), 1024);
        let mut got = None;
        for b in &wire[..wire.len() - 3] {
            assert!(got.is_none());
            s.push(std::slice::from_ref(b));
            if let Decoded::Item(v) = s
                .try_decode(false, |d| Ok((d.u32()?, d.string(10)?)))
                .unwrap()
            {
                got = Some(v);
            }
        }
        let (n, st) = got.unwrap();
        assert_eq!((n, st.as_bytes()), (7, &b"hello"[..]));
        s.push(b"RAW");
        assert_eq!(&s.take_exact(3).unwrap()[..], b"RAW");
    }

    #[test]
    fn eof_and_limit() {
        let mut s = StreamDecoder::new(Limits::default(), 8);
        s.push(&[0, 0]);
        assert_eq!(s.try_decode(false, |d| d.u32()).unwrap(), Decoded::NeedMore);
        assert!(matches!(
            s.try_decode(true, |d| d.u32()),
            Err(StreamDecodeError::Decode(_))
        ));
        let mut s = StreamDecoder::new(Limits::default(), 8);
        s.push(&[0, 0, 0, 100, 1, 2, 3, 4]);
        assert_eq!(
            s.try_decode(false, |d| d.opaque(UNBOUNDED)),
            Err(StreamDecodeError::TooLong(8))
        );
    }
}
