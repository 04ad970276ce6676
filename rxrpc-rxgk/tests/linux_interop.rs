//! Interop with the Linux kernel's yfs-rxgk as the server: our [`RxgkClient`] through the
//! rxrpc runtime against the guest's krxperf (service 147), which holds the rxgk server key
//! `RXRPC_LINUX_RXGK_KEY` (`scripts/peers.sh` boots it with `18:1:00..12`). Tokens are minted
//! here from that key; the session key K0 may have any enctype, so every enctype's transport
//! keys and packet protection are exercised against the kernel, at every level, with
//! rekeying both ways, and the kernel's refusals are checked (wrong key, unknown kvno, level
//! mismatch).
//!
//! Without a guest these tests print `SKIPPED:` and pass, except under CI (`CI=true`) or
//! `RXRPC_REQUIRE_PEERS=1`, where they fail (see `rxrpc_testkit::LinuxGuest::get`).

#![cfg(not(feature = "fuzzing"))]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rxrpc::security::{ClientSecurityRef, SecurityLevel};
use rxrpc::{AbortCode, Completion, RxEndpoint, ServiceId};
use rxrpc_rxgk::RxgkClient;
use rxrpc_rxgk::clock::{Clock, TICKS_PER_SEC};
use rxrpc_rxgk::hex;
use rxrpc_rxgk::krb5::{Enctype, Key};
use rxrpc_rxgk::token::MintParams;
use rxrpc_testkit::LinuxGuest;

const COOKIE: [u8; 4] = [0x00, 0x00, 0x47, 0x11];

/// An rxperf RPC (op 3) request with `req` data bytes and the cookie, asking for `reply` bytes.
fn rpc(req: usize, reply: u32) -> Bytes {
    let mut v = Vec::new();
    for w in [3u32, 3, 65536, 65536, req as u32, reply] {
        v.extend_from_slice(&w.to_be_bytes());
    }
    v.extend((0..req).map(|i| (i % 253) as u8));
    v.extend_from_slice(&COOKIE);
    Bytes::from(v)
}

struct Kernel {
    addr: std::net::SocketAddr,
    service: ServiceId,
    kvno: u32,
    key: Key,
}

fn kernel() -> Option<Kernel> {
    let guest = LinuxGuest::get()?;
    let spec = match (guest.rxgk(), guest.rxgk_key()) {
        (true, Some(spec)) => spec.to_string(),
        _ => {
            eprintln!("SKIPPED: the Linux guest has no yfs-rxgk server key (RXRPC_LINUX_RXGK_KEY)");
            return None;
        }
    };
    let mut parts = spec.splitn(3, ':');
    let et: u32 = parts.next()?.parse().ok()?;
    let kvno: u32 = parts.next()?.parse().ok()?;
    let key = Key::new(Enctype::from_number(et)?, &hex::decode(parts.next()?)?).ok()?;
    Some(Kernel {
        addr: guest.rxperf(),
        service: ServiceId(guest.rxperf_service()),
        kvno,
        key,
    })
}

fn client(
    seal: &Key,
    kvno: u32,
    k0: Enctype,
    level: SecurityLevel,
    bytelife: u32,
) -> ClientSecurityRef {
    let now = Clock::system().now();
    let mut p = MintParams::new(
        kvno,
        level,
        Key::random(k0).unwrap(),
        now - 60 * TICKS_PER_SEC,
        3600,
    );
    p.bytelife = bytelife;
    Arc::new(RxgkClient::new(p.mint(seal).unwrap()))
}

async fn call(
    ep: &RxEndpoint,
    k: &Kernel,
    sec: ClientSecurityRef,
    req: Bytes,
) -> Result<Bytes, Completion> {
    let call = ep
        .call(k.addr, k.service)
        .security(sec)
        .hard_timeout(Duration::from_secs(120))
        .open()
        .await
        .unwrap();
    let _ = call.send_last(req).await;
    let reply = call.recv_to_end(8 << 20).await;
    match call.completion().await {
        Completion::Succeeded => Ok(reply.unwrap()),
        other => Err(other),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kernel_server_every_enctype_and_level() {
    let Some(k) = kernel() else { return };
    let ep = RxEndpoint::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut keep = Vec::new();
    for et in Enctype::ALL {
        for level in [
            SecurityLevel::Plain,
            SecurityLevel::Auth,
            SecurityLevel::Encrypt,
        ] {
            let sec = client(&k.key, k.kvno, et, level, 0);
            keep.push(Arc::clone(&sec));
            let reply = tokio::time::timeout(
                Duration::from_secs(120),
                call(&ep, &k, sec, rpc(20_000, 30_000)),
            )
            .await
            .unwrap_or_else(|_| panic!("{et} {level:?}: timed out"))
            .unwrap_or_else(|c| panic!("{et} {level:?}: {c:?}"));
            assert_eq!(reply.len(), 30_000 + 4, "{et} {level:?}");
            assert_eq!(reply[30_000..], COOKIE);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kernel_server_rekeys_with_us() {
    let Some(k) = kernel() else { return };
    let ep = RxEndpoint::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    // 2^16 bytes per key: a 400 KB request and reply move both sides through several keys.
    for level in [SecurityLevel::Auth, SecurityLevel::Encrypt] {
        let sec = client(&k.key, k.kvno, Enctype::Aes128CtsHmacSha256128, level, 16);
        let reply = call(&ep, &k, Arc::clone(&sec), rpc(400_000, 400_000))
            .await
            .unwrap();
        assert_eq!(reply.len(), 400_004);
        let reply = call(&ep, &k, sec, rpc(10, 10)).await.unwrap();
        assert_eq!(reply.len(), 14);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kernel_server_refusals() {
    let Some(k) = kernel() else { return };
    let ep = RxEndpoint::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let et = k.key.enctype();
    // Sealed with another key of the same (kvno, enctype).
    let wrong = Key::new(et, &vec![0xee; et.key_len()]).unwrap();
    let sec = client(&wrong, k.kvno, et, SecurityLevel::Encrypt, 0);
    assert_eq!(
        call(&ep, &k, sec, rpc(10, 10)).await,
        Err(Completion::RemoteAbort(AbortCode::RXGK_SEALEDINCON))
    );
    // A kvno the server has no key for.
    let sec = client(&k.key, k.kvno + 1, et, SecurityLevel::Encrypt, 0);
    assert_eq!(
        call(&ep, &k, sec, rpc(10, 10)).await,
        Err(Completion::RemoteAbort(AbortCode::RXGK_NOTAUTH))
    );
    // Ticket sealed at auth, client claims encrypt.
    let now = Clock::system().now();
    let mut tok = MintParams::new(
        k.kvno,
        SecurityLevel::Auth,
        Key::random(et).unwrap(),
        now,
        3600,
    )
    .mint(&k.key)
    .unwrap();
    tok.level = SecurityLevel::Encrypt;
    let sec: ClientSecurityRef = Arc::new(RxgkClient::new(tok));
    assert_eq!(
        call(&ep, &k, sec, rpc(10, 10)).await,
        Err(Completion::RemoteAbort(AbortCode::RXGK_NOTAUTH))
    );
}
