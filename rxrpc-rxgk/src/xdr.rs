//! Minimal XDR (RFC 4506) reading and writing for rxgk's structures.

/// A bounds-checked reader over XDR bytes. Every read returns `None` past the end.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes not yet read.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// `n` raw bytes.
    pub(crate) fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        let b = self.bytes(4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        let hi = u64::from(self.u32()?);
        let lo = u64::from(self.u32()?);
        Some(hi << 32 | lo)
    }

    /// A variable-length opaque of at most `max` bytes, with its padding to 4 (which must be
    /// present; its value is not checked).
    pub(crate) fn opaque(&mut self, max: usize) -> Option<&'a [u8]> {
        let len = usize::try_from(self.u32()?).ok()?;
        if len > max {
            return None;
        }
        let data = self.bytes(len)?;
        self.bytes(pad_len(len))?;
        Some(data)
    }
}

/// Zero bytes that follow `len` bytes of opaque data.
pub(crate) fn pad_len(len: usize) -> usize {
    (4 - len % 4) % 4
}

pub(crate) fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

pub(crate) fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// A variable-length opaque: be32 length, the bytes, zero padding to 4.
pub(crate) fn put_opaque(out: &mut Vec<u8>, data: &[u8]) {
    put_u32(out, u32::try_from(data.len()).unwrap_or(u32::MAX));
    out.extend_from_slice(data);
    out.extend(std::iter::repeat_n(0u8, pad_len(data.len())));
}
