//! The class in the real engine: our client and our server on loopback through the tokio
//! runtime (`rxrpc::RxEndpoint`), at every level, with large calls (jumbo packets), app data
//! reaching the service, rekeying by byte budget in the middle of a call, and a refused
//! ticket aborting the call.

#![cfg(not(feature = "fuzzing"))]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rxrpc::security::{ClientSecurityRef, SecurityLevel, ServerSecurityRef};
use rxrpc::{AbortCode, Completion, RxEndpoint, ServiceId};
use rxrpc_rxgk::clock::{Clock, TICKS_PER_SEC};
use rxrpc_rxgk::krb5::{Enctype, Key};
use rxrpc_rxgk::token::MintParams;
use rxrpc_rxgk::{RxgkClient, RxgkServer};

const SVC: ServiceId = ServiceId(4242);

/// An echo server accepting yfs-rxgk only; each reply is `level byte | app data length byte |
/// the request`.
async fn echo_server(server: RxgkServer) -> SocketAddr {
    let ep = RxEndpoint::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = ep.local_addr();
    let classes: Vec<ServerSecurityRef> = vec![Arc::new(server)];
    let listener = ep.listen_secure(&[SVC], 8, classes, true).await.unwrap();
    tokio::spawn(async move {
        let _ep = ep;
        while let Ok(incoming) = listener.accept().await {
            tokio::spawn(async move {
                let call = incoming.into_call();
                let req = call.recv_to_end(16 << 20).await.unwrap_or_default();
                let sec = call.security().clone();
                let id = sec.identity.expect("secured call has an identity");
                let mut reply = vec![sec.level.to_wire() as u8, id.app_data.len() as u8];
                reply.extend_from_slice(&req);
                let _ = call.send_last(Bytes::from(reply)).await;
                let _ = call.completion().await;
            });
        }
    });
    addr
}

fn token_for(
    server_key: &Key,
    k0: Enctype,
    level: SecurityLevel,
    bytelife: u32,
) -> rxrpc_rxgk::token::RxgkToken {
    let now = Clock::system().now();
    let mut p = MintParams::new(
        1,
        level,
        Key::random(k0).unwrap(),
        now - 60 * TICKS_PER_SEC,
        3600,
    );
    p.bytelife = bytelife;
    p.mint(server_key).unwrap()
}

async fn call(
    ep: &RxEndpoint,
    addr: SocketAddr,
    sec: ClientSecurityRef,
    req: Bytes,
) -> Result<Bytes, Completion> {
    let call = ep
        .call(addr, SVC)
        .security(sec)
        .hard_timeout(Duration::from_secs(60))
        .open()
        .await
        .unwrap();
    call.send_last(req)
        .await
        .map_err(|_| Completion::Succeeded)?;
    let reply = call.recv_to_end(16 << 20).await;
    match call.completion().await {
        Completion::Succeeded => Ok(reply.unwrap()),
        other => Err(other),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_at_every_level_and_enctype() {
    let skey = Key::new(Enctype::Aes256CtsHmacSha196, &[0x11; 32]).unwrap();
    let addr = echo_server(RxgkServer::new().with_key(1, skey.clone())).await;
    let ep = RxEndpoint::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    // Keep every credentials object alive: the engine tells credentials apart by address, so
    // a new object at a freed one's address would reuse that object's connection.
    let mut keep = Vec::new();
    for et in Enctype::ALL {
        for level in [
            SecurityLevel::Plain,
            SecurityLevel::Auth,
            SecurityLevel::Encrypt,
        ] {
            let client =
                RxgkClient::new(token_for(&skey, et, level, 0)).with_app_data(&b"cb-token"[..]);
            let sec: ClientSecurityRef = Arc::new(client);
            keep.push(Arc::clone(&sec));
            // Small, then big enough for many (jumbo) packets both ways.
            for n in [10usize, 200_000] {
                let req: Vec<u8> = (0..n).map(|i| (i * 7) as u8).collect();
                let reply = call(&ep, addr, Arc::clone(&sec), Bytes::from(req.clone()))
                    .await
                    .unwrap_or_else(|c| panic!("{et} {level:?} {n}: {c:?}"));
                assert_eq!(reply[0], level.to_wire() as u8);
                assert_eq!(reply[1], 8, "app data reached the service");
                assert_eq!(&reply[2..], &req[..], "{et} {level:?} {n}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rekeying_mid_call() {
    let skey = Key::new(Enctype::Aes128CtsHmacSha256128, &[0x22; 16]).unwrap();
    let addr = echo_server(RxgkServer::new().with_key(1, skey.clone())).await;
    let ep = RxEndpoint::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    // 2^14 bytes per key: a 500 KB call each way crosses ~30 key numbers per direction.
    for level in [SecurityLevel::Auth, SecurityLevel::Encrypt] {
        let sec: ClientSecurityRef = Arc::new(RxgkClient::new(token_for(
            &skey,
            Enctype::Aes128CtsHmacSha256128,
            level,
            14,
        )));
        let req: Vec<u8> = (0..500_000).map(|i: usize| (i % 251) as u8).collect();
        let reply = call(&ep, addr, Arc::clone(&sec), Bytes::from(req.clone()))
            .await
            .unwrap();
        assert_eq!(&reply[2..], &req[..]);
        // The connection goes on being usable.
        let reply = call(&ep, addr, sec, Bytes::from_static(b"again"))
            .await
            .unwrap();
        assert_eq!(&reply[2..], b"again");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_tickets_abort_the_call() {
    let skey = Key::new(Enctype::Aes256CtsHmacSha196, &[0x33; 32]).unwrap();
    let addr = echo_server(
        RxgkServer::new()
            .with_key(1, skey.clone())
            .with_min_level(SecurityLevel::Auth),
    )
    .await;
    let ep = RxEndpoint::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let wrong = Key::new(Enctype::Aes256CtsHmacSha196, &[0x44; 32]).unwrap();
    let sec: ClientSecurityRef = Arc::new(RxgkClient::new(token_for(
        &wrong,
        Enctype::Aes256CtsHmacSha196,
        SecurityLevel::Encrypt,
        0,
    )));
    let r = call(&ep, addr, sec, Bytes::from_static(b"x")).await;
    assert_eq!(r, Err(Completion::RemoteAbort(AbortCode::RXGK_SEALEDINCON)));
    let sec: ClientSecurityRef = Arc::new(RxgkClient::new(token_for(
        &skey,
        Enctype::Aes256CtsHmacSha196,
        SecurityLevel::Plain,
        0,
    )));
    let r = call(&ep, addr, sec, Bytes::from_static(b"x")).await;
    assert_eq!(r, Err(Completion::RemoteAbort(AbortCode::RXGK_BADLEVEL)));
}
