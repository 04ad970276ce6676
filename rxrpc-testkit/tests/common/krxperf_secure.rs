//! Helpers of the secured krxperf tests (`interop_linux_secure.rs`, `interop_linux_tamper.rs`):
//! ECHO requests, credentials for the guest's keys, one ECHO call.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rxrpc::security::{ClientSecurityRef, SecurityLevel};
use rxrpc::{Completion, RxEndpoint, ServiceId};
use rxrpc_rxgk::krb5::{Enctype, Key};
use rxrpc_rxgk::token::MintParams;
use rxrpc_rxgk::{RxgkClient, clock::Clock};
use rxrpc_rxkad::{DesKey, Lifetime, RxkadClient, mint_token};
use rxrpc_testkit::LinuxGuest;

pub const OP_ECHO: u32 = 100;
pub const COOKIE: [u8; 4] = [0x00, 0x00, 0x47, 0x11];

pub fn echo_request(data: &[u8]) -> Bytes {
    let mut v = Vec::new();
    for w in [3u32, OP_ECHO, 65536, 65536, data.len() as u32] {
        v.extend_from_slice(&w.to_be_bytes());
    }
    v.extend_from_slice(data);
    Bytes::from(v)
}

pub fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 11) as u8)
        .collect()
}

/// One ECHO call with `sec`; the reply without the cookie, or how the call ended.
pub async fn echo(
    ep: &RxEndpoint,
    guest: &LinuxGuest,
    sec: ClientSecurityRef,
    data: &[u8],
    idle: Duration,
) -> Result<Vec<u8>, Completion> {
    let call = ep
        .call(guest.rxperf(), ServiceId(guest.rxperf_service()))
        .security(sec)
        .idle_timeout(idle)
        .hard_timeout(Duration::from_secs(120))
        .open()
        .await
        .expect("open");
    let _ = call.send_last(echo_request(data)).await;
    let reply = call.recv_to_end(16 << 20).await;
    match (reply, call.completion().await) {
        (Ok(r), Completion::Succeeded) => {
            assert!(
                r.len() >= 4 && r[r.len() - 4..] == COOKIE,
                "reply ends with the cookie"
            );
            Ok(r[..r.len() - 4].to_vec())
        }
        (_, c) => Err(c),
    }
}

pub fn rxkad(guest: &LinuxGuest, key: [u8; 8], level: SecurityLevel) -> ClientSecurityRef {
    let _ = guest;
    let token = mint_token(
        &DesKey(key),
        1,
        "admin",
        "",
        "",
        Lifetime::Seconds(3600),
        None,
    )
    .unwrap()
    .with_level(level);
    Arc::new(RxkadClient::new(token))
}

/// The guest's rxgk server key ("ENCTYPE:KVNO:HEX").
pub fn guest_rxgk_key(guest: &LinuxGuest) -> Option<(u32, Key)> {
    let spec = guest.rxgk_key()?;
    let mut it = spec.splitn(3, ':');
    let enctype = Enctype::from_number(it.next()?.parse().ok()?)?;
    let kvno = it.next()?.parse().ok()?;
    let bytes = rxrpc_rxgk::hex::decode(it.next()?)?;
    Some((kvno, Key::new(enctype, &bytes).ok()?))
}

pub fn rxgk(kvno: u32, key: &Key, level: SecurityLevel, bytelife: u32) -> ClientSecurityRef {
    let now = Clock::system().now();
    let k0 = Key::random(Enctype::Aes256CtsHmacSha384192).unwrap();
    let mut params = MintParams::new(kvno, level, k0, now, 3600);
    params.bytelife = bytelife;
    Arc::new(RxgkClient::new(params.mint(key).unwrap()))
}
