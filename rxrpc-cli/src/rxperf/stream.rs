//! Moving rxperf payloads over an [`rxrpc::Call`]: sending a head, a run of zeros and a tail
//! as one phase, and reading the peer's data while only counting it.
//!
//! The zeros come from one shared buffer ([`zeros`]), so sending them copies nothing until the
//! runtime builds packets.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use rxrpc::Call;

use super::CHUNK_MAX;

/// `n` (at most [`CHUNK_MAX`]) zero bytes: a slice of one shared buffer, without a copy.
pub fn zeros(n: usize) -> Bytes {
    static ZEROS: OnceLock<Bytes> = OnceLock::new();
    let z = ZEROS.get_or_init(|| Bytes::from(vec![0u8; CHUNK_MAX as usize]));
    z.slice(..n.min(z.len()))
}

/// The chunk size to use for a requested `-r`/`-w` size: 0 or anything above
/// [`CHUNK_MAX`] means [`CHUNK_MAX`].
pub fn chunk_size(requested: u32) -> usize {
    if requested == 0 || requested > CHUNK_MAX {
        CHUNK_MAX as usize
    } else {
        requested as usize
    }
}

fn count(counter: Option<&AtomicU64>, n: u64) {
    if let Some(c) = counter {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

/// Send `head`, then `len` zero bytes in pieces of at most `chunk`, then `tail`, and end the
/// phase (the request for a client call, the reply for a service call). A phase that fits in
/// one chunk goes to the runtime as one buffer. The zero bytes are added to `counter` as they
/// are queued.
///
/// # Cancel safety
///
/// Not cancel safe (see [`Call::send`]): abort the call if the future is dropped.
pub async fn send_phase(
    call: &Call,
    head: &[u8],
    len: u64,
    tail: &[u8],
    chunk: usize,
    counter: Option<&AtomicU64>,
) -> rxrpc::Result<()> {
    let chunk = chunk.clamp(1, CHUNK_MAX as usize);
    let total = head.len() as u64 + len + tail.len() as u64;
    if total <= chunk as u64 {
        let mut v = Vec::with_capacity(total as usize);
        v.extend_from_slice(head);
        v.resize(head.len() + len as usize, 0);
        v.extend_from_slice(tail);
        call.send_last(Bytes::from(v)).await?;
        count(counter, len);
        return Ok(());
    }
    if !head.is_empty() {
        call.send(Bytes::copy_from_slice(head)).await?;
    }
    let mut left = len;
    let mut ended = false;
    while left > 0 {
        let k = left.min(chunk as u64);
        left -= k;
        if left == 0 && tail.is_empty() {
            call.send_last(zeros(k as usize)).await?;
            ended = true;
        } else {
            call.send(zeros(k as usize)).await?;
        }
        count(counter, k);
    }
    if !tail.is_empty() {
        call.send_last(Bytes::copy_from_slice(tail)).await?;
    } else if !ended {
        call.finish().await?;
    }
    Ok(())
}

/// What [`recv_all`] saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Received {
    /// Bytes received.
    pub len: u64,
    /// The last four bytes (right-aligned, zero-filled if fewer arrived).
    pub last4: [u8; 4],
}

impl Received {
    fn add(&mut self, chunk: &[u8]) {
        self.len += chunk.len() as u64;
        if chunk.len() >= 4 {
            self.last4.copy_from_slice(&chunk[chunk.len() - 4..]);
        } else {
            for &b in chunk {
                self.last4.rotate_left(1);
                self.last4[3] = b;
            }
        }
    }
}

/// Read the peer's data to its end, counting it (and adding it to `counter`).
///
/// # Cancel safety
///
/// Not cancel safe: what was counted before the future was dropped is lost.
pub async fn recv_all(call: &Call, counter: Option<&AtomicU64>) -> rxrpc::Result<Received> {
    let mut r = Received::default();
    while let Some(chunk) = call.recv().await? {
        r.add(&chunk);
        count(counter, chunk.len() as u64);
    }
    Ok(r)
}

/// Reads a request from the front: exact pieces for the head, then runs that are only
/// counted.
#[derive(Debug)]
pub struct Reader<'a> {
    call: &'a Call,
    pending: Bytes,
    eof: bool,
}

impl<'a> Reader<'a> {
    /// A reader of `call`'s incoming data.
    pub fn new(call: &'a Call) -> Self {
        Reader {
            call,
            pending: Bytes::new(),
            eof: false,
        }
    }

    /// Make `pending` non-empty unless the data has ended; false at the end.
    async fn fill(&mut self) -> rxrpc::Result<bool> {
        while self.pending.is_empty() {
            if self.eof {
                return Ok(false);
            }
            match self.call.recv().await? {
                Some(b) => self.pending = b,
                None => self.eof = true,
            }
        }
        Ok(true)
    }

    /// Up to `n` bytes from the front (fewer only at the end of the data; empty at the end).
    pub async fn take(&mut self, n: usize) -> rxrpc::Result<Bytes> {
        if !self.fill().await? {
            return Ok(Bytes::new());
        }
        let k = n.min(self.pending.len());
        Ok(self.pending.split_to(k))
    }

    /// Skip up to `n` bytes; returns how many were there (fewer than `n` at the end).
    pub async fn skip(&mut self, n: u64, counter: Option<&AtomicU64>) -> rxrpc::Result<u64> {
        let mut done = 0u64;
        while done < n && self.fill().await? {
            let k = (n - done).min(self.pending.len() as u64) as usize;
            let _ = self.pending.split_to(k);
            done += k as u64;
            count(counter, k as u64);
        }
        Ok(done)
    }

    /// Read to the end; how many bytes remained and the last four of them.
    pub async fn rest(&mut self) -> rxrpc::Result<Received> {
        let mut r = Received::default();
        while self.fill().await? {
            let b = std::mem::take(&mut self.pending);
            r.add(&b);
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_tracks_last_four() {
        let mut r = Received::default();
        r.add(&[1, 2, 3, 4, 5, 6]);
        assert_eq!(r.last4, [3, 4, 5, 6]);
        r.add(&[7]);
        assert_eq!(r.last4, [4, 5, 6, 7]);
        r.add(&[8, 9]);
        assert_eq!(r.last4, [6, 7, 8, 9]);
        r.add(&[]);
        assert_eq!((r.len, r.last4), (9, [6, 7, 8, 9]));
        assert_eq!(chunk_size(0), CHUNK_MAX as usize);
        assert_eq!(chunk_size(1000), 1000);
        assert_eq!(zeros(10).len(), 10);
    }
}
