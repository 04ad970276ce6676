//! Tampered packets against the Linux kernel's server: our rxkad (auth, crypt) and yfs-rxgk
//! (auth, encrypt) clients flip one bit of the third DATA packet after securing it; the kernel
//! must never answer such a call. For rxkad the flipped bit lies in the sealed first block, as
//! rxkad protects no more (its auth level seals 8 bytes; its crypt level has no MAC).
//!
//! The kernel reports the failed verification to the server application as an error from
//! `recvmsg()`, and the guest's krxperf exits on any `recvmsg()` error: after this test the
//! guest serves nothing more. So it is `#[ignore]`d and `scripts/test-all` runs it on its own
//! after everything else (`cargo test -p rxrpc-testkit --test interop_linux_tamper --
//! --ignored`).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::{loopback, within};
use rxrpc::AbortCode;
use rxrpc::security::{
    CallCounters, ClientSecurity, ClientSecurityRef, ConnIdent, ConnSecurity, SecurityLevel,
};
use rxrpc::{Completion, RxEndpoint};
use rxrpc_proto::wire::{Header, SecurityIndex};
use rxrpc_testkit::LinuxGuest;

#[path = "common/krxperf_secure.rs"]
mod krx;
use krx::*;

/// Credentials that corrupt the payload of the n-th DATA packet after securing it, so the
/// peer's verification must catch it.
#[derive(Debug)]
struct Tamper {
    inner: ClientSecurityRef,
    packet: u32,
    count: Arc<AtomicU32>,
}

#[derive(Debug)]
struct TamperConn {
    inner: Box<dyn ConnSecurity>,
    packet: u32,
    count: Arc<AtomicU32>,
}

impl ClientSecurity for Tamper {
    fn security_index(&self) -> SecurityIndex {
        self.inner.security_index()
    }
    fn level(&self) -> SecurityLevel {
        self.inner.level()
    }
    fn data_capacity(&self, max_payload: usize) -> usize {
        self.inner.data_capacity(max_payload)
    }
    fn new_conn(&self, ident: &ConnIdent) -> Result<Box<dyn ConnSecurity>, AbortCode> {
        Ok(Box::new(TamperConn {
            inner: self.inner.new_conn(ident)?,
            packet: self.packet,
            count: Arc::clone(&self.count),
        }))
    }
}

impl ConnSecurity for TamperConn {
    fn level(&self) -> SecurityLevel {
        self.inner.level()
    }
    fn is_secure(&self) -> bool {
        self.inner.is_secure()
    }
    fn data_capacity(&self, max_payload: usize) -> usize {
        self.inner.data_capacity(max_payload)
    }
    fn secure_packet(
        &mut self,
        h: &mut Header,
        data: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), AbortCode> {
        let start = out.len();
        self.inner.secure_packet(h, data, out)?;
        // Flip a bit in the first 8-byte block: rxkad seals only that block (its auth level
        // encrypts just the first 8 bytes and its crypt level carries no MAC), rxgk's MIC or
        // encryption covers everything.
        if self.count.fetch_add(1, Ordering::SeqCst) + 1 == self.packet && out.len() > start + 1 {
            out[start + 1] ^= 0x40;
        }
        Ok(())
    }
    fn verify_packet(&mut self, h: &Header, p: Bytes) -> Result<Bytes, AbortCode> {
        self.inner.verify_packet(h, p)
    }
    fn respond_to_challenge(
        &mut self,
        h: &Header,
        c: Bytes,
        n: CallCounters,
    ) -> Result<Vec<u8>, AbortCode> {
        self.inner.respond_to_challenge(h, c, n)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "stops the guest's krxperf: scripts/test-all runs it last"]
async fn tampered_packets_are_refused_by_the_kernel() {
    let Some(guest) = LinuxGuest::get() else {
        return;
    };
    let key = guest.rxkad_key().expect("rxkad key");
    within(300, "secured calls to the kernel", async {
        let ep = RxEndpoint::bind(loopback()).await.unwrap();
        let mut classes = vec![
            ("rxkad auth", rxkad(guest, key, SecurityLevel::Auth)),
            ("rxkad crypt", rxkad(guest, key, SecurityLevel::Encrypt)),
        ];
        if let Some((kvno, gk)) = guest_rxgk_key(guest) {
            classes.push(("rxgk auth", rxgk(kvno, &gk, SecurityLevel::Auth, 0)));
            classes.push(("rxgk encrypt", rxgk(kvno, &gk, SecurityLevel::Encrypt, 0)));
        }
        for (what, inner) in classes {
            let sec: ClientSecurityRef = Arc::new(Tamper {
                inner,
                packet: 3,
                count: Arc::new(AtomicU32::new(0)),
            });
            let data = pattern(20_000, 5);
            let r = echo(&ep, guest, sec, &data, Duration::from_secs(10)).await;
            match r {
                Err(Completion::RemoteAbort(code)) => {
                    eprintln!("{what}: tampered packet -> abort {code}")
                }
                Err(c) => eprintln!("{what}: tampered packet -> {c}"),
                Ok(_) => panic!("{what}: the kernel accepted a tampered packet"),
            }
        }
    })
    .await;
}
