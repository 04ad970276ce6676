//! Helpers shared by the interop tests: a hand-written XDR encoder/decoder (rxgen's wire rules,
//! `reference-openafs-rx.md` §3.3), one-shot client calls with our tokio runtime, and bounded
//! waiting.
//!
//! The OpenAFS VL, PR and VOTE calls go through the stubs `rxrpc-afs` generates; the encoder
//! here is for requests those cannot make (unknown opcodes, truncated arguments), for
//! interfaces without generated stubs (RXAFSCB, BOZO) and for the capture tests. It follows the
//! XDR rules: every item 4-byte aligned, big-endian.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use rxrpc::{Completion, RxEndpoint, ServiceId};

/// Loopback with an ephemeral port: the tests never send anywhere else.
pub fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Run `f`, failing the test if it takes more than `secs` seconds (a hang is a failure, not a
/// measurement: nothing here times the peers).
#[track_caller]
pub fn within<F: Future>(secs: u64, what: &str, f: F) -> impl Future<Output = F::Output> {
    let what = what.to_string();
    let caller = std::panic::Location::caller();
    async move {
        match tokio::time::timeout(Duration::from_secs(secs), f).await {
            Ok(v) => v,
            Err(_) => panic!("{what}: no result after {secs} s ({caller})"),
        }
    }
}

/// XDR encoder for an rxgen request: the opcode first, then the IN arguments.
#[derive(Debug, Clone, Default)]
pub struct Xdr(Vec<u8>);

impl Xdr {
    /// A request starting with `opcode`.
    pub fn call(opcode: u32) -> Xdr {
        Xdr(Vec::new()).u32(opcode)
    }

    /// `afs_uint32` / `u_int` / `enum`.
    pub fn u32(mut self, v: u32) -> Xdr {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// `afs_int32` / `int`.
    pub fn i32(self, v: i32) -> Xdr {
        self.u32(v as u32)
    }

    /// `string s<N>` / `opaque o<N>`: length, bytes, zero padding to 4.
    pub fn string(mut self, s: &[u8]) -> Xdr {
        self = self.u32(s.len() as u32);
        self.0.extend_from_slice(s);
        while self.0.len() % 4 != 0 {
            self.0.push(0);
        }
        self
    }

    /// The encoded bytes.
    pub fn bytes(self) -> Bytes {
        Bytes::from(self.0)
    }
}

/// XDR decoder of a reply; every read panics with context on a short reply (a test failure).
#[derive(Debug)]
pub struct XdrReader<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> XdrReader<'a> {
    /// Decode `buf`, the reply of `what` (for messages).
    pub fn new(buf: &'a [u8], what: &'static str) -> Self {
        XdrReader { buf, pos: 0, what }
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let s = self.buf.get(self.pos..self.pos + n).unwrap_or_else(|| {
            panic!(
                "{}: reply too short: need {} bytes at offset {}, have {} in all: {:02x?}",
                self.what,
                n,
                self.pos,
                self.buf.len(),
                &self.buf[..self.buf.len().min(256)]
            )
        });
        self.pos += n;
        s
    }

    /// A `u32`.
    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.take(4).try_into().unwrap())
    }

    /// An `i32`.
    pub fn i32(&mut self) -> i32 {
        self.u32() as i32
    }

    /// `string<max>` / `opaque<max>`.
    pub fn string(&mut self, max: usize) -> Vec<u8> {
        let len = self.u32() as usize;
        assert!(len <= max, "{}: string length {len} > {max}", self.what);
        let s = self.take(len).to_vec();
        self.take((4 - len % 4) % 4);
        s
    }

    /// A counted array of `u32`s with at most `max` elements.
    pub fn u32_array(&mut self, max: usize) -> Vec<u32> {
        let n = self.u32() as usize;
        assert!(n <= max, "{}: array length {n} > {max}", self.what);
        (0..n).map(|_| self.u32()).collect()
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Assert the whole reply was consumed.
    #[track_caller]
    pub fn end(&self) {
        assert_eq!(
            self.remaining(),
            0,
            "{}: {} unexpected trailing bytes in a {}-byte reply",
            self.what,
            self.remaining(),
            self.buf.len()
        );
    }
}

/// One whole client call with our runtime: send `request` as the whole request, read the whole
/// reply (at most `limit` bytes), wait for the completion. `Err` carries the completion (e.g.
/// `RemoteAbort(code)`) or the local failure.
pub async fn call(
    ep: &RxEndpoint,
    peer: SocketAddr,
    service: ServiceId,
    request: Bytes,
    limit: usize,
) -> Result<Bytes, rxrpc::Error> {
    let call = ep
        .call(peer, service)
        .hard_timeout(Duration::from_secs(120))
        .open()
        .await?;
    call.send_last(request).await?;
    let reply = call.recv_to_end(limit).await?;
    match call.completion().await {
        Completion::Succeeded => Ok(reply),
        other => Err(rxrpc::Error::Completed(other)),
    }
}

/// [`call`] that must succeed.
#[track_caller]
pub fn call_ok(
    ep: &RxEndpoint,
    peer: SocketAddr,
    service: ServiceId,
    request: Bytes,
    what: &'static str,
) -> impl Future<Output = Bytes> {
    let caller = std::panic::Location::caller();
    let ep = ep.clone();
    async move {
        match call(&ep, peer, service, request, 16 << 20).await {
            Ok(r) => r,
            Err(e) => panic!("{what} to {peer} service {}: {e} ({caller})", service.0),
        }
    }
}

/// [`call`] that must end with the peer aborting with `code`; returns nothing else.
#[track_caller]
pub fn call_abort(
    ep: &RxEndpoint,
    peer: SocketAddr,
    service: ServiceId,
    request: Bytes,
    code: i32,
    what: &'static str,
) -> impl Future<Output = ()> {
    let caller = std::panic::Location::caller();
    let ep = ep.clone();
    async move {
        match call(&ep, peer, service, request, 16 << 20).await {
            Ok(r) => panic!(
                "{what}: expected abort {code}, got a {}-byte reply: {:02x?} ({caller})",
                r.len(),
                &r[..r.len().min(64)]
            ),
            Err(e) => {
                assert_eq!(
                    e.completion(),
                    Some(Completion::RemoteAbort(rxrpc::AbortCode(code))),
                    "{what}: expected RemoteAbort({code}), got: {e} ({caller})"
                );
            }
        }
    }
}

/// Hex of `b` (lower case, no separators).
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
