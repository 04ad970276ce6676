//! Secured calls through the runtime on loopback: rxkad and yfs-rxgk at each level, the
//! client's identity at the server, refusals (wrong key, level below the minimum, rxnull on a
//! socket that requires security) and data integrity of multi-packet transfers.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::{loopback, within};
use rxrpc::security::{ClientSecurityRef, SecurityLevel, ServerSecurityRef};
use rxrpc::{AbortCode, Completion, Listener, RxEndpoint, ServiceId};
use rxrpc_rxgk::krb5::{Enctype, Key};
use rxrpc_rxgk::token::MintParams;
use rxrpc_rxgk::{RxgkClient, RxgkServer};
use rxrpc_rxkad::{DesKey, KeyTable, Lifetime, RxkadClient, RxkadServer, mint_token};

const SVC: ServiceId = ServiceId(2222);
const DES: [u8; 8] = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];

fn rxkad_server(min: SecurityLevel) -> ServerSecurityRef {
    Arc::new(RxkadServer::new(
        Arc::new(KeyTable::from_keys([(3, DesKey(DES))])),
        min,
    ))
}

fn rxkad_client(key: [u8; 8], level: SecurityLevel) -> ClientSecurityRef {
    let token = mint_token(
        &DesKey(key),
        3,
        "alice",
        "",
        "",
        Lifetime::Seconds(3600),
        None,
    )
    .unwrap()
    .with_level(level);
    Arc::new(RxkadClient::new(token))
}

fn rxgk_key() -> Key {
    Key::new(Enctype::Aes256CtsHmacSha196, &[0x42; 32]).unwrap()
}

fn rxgk_client(server_key: &Key, level: SecurityLevel) -> ClientSecurityRef {
    let now = rxrpc_rxgk::clock::Clock::system().now();
    let k0 = Key::random(Enctype::Aes128CtsHmacSha256128).unwrap();
    let token = MintParams::new(1, level, k0, now, 3600)
        .mint(server_key)
        .unwrap();
    Arc::new(RxgkClient::new(token))
}

/// An echo server accepting `classes`; each call's security description and outcome go to
/// the returned channel.
async fn server(
    classes: Vec<ServerSecurityRef>,
    require: bool,
) -> (
    RxEndpoint,
    Listener,
    tokio::sync::mpsc::UnboundedReceiver<rxrpc::CallSecurity>,
) {
    let ep = RxEndpoint::bind(loopback()).await.unwrap();
    let listener = ep.listen_secure(&[SVC], 8, classes, require).await.unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let l = listener.clone();
    tokio::spawn(async move {
        while let Ok(call) = l.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let call = call.into_call();
                let _ = tx.send(call.security().clone());
                if let Ok(req) = call.recv_to_end(64 << 20).await {
                    let _ = call.send_last(req).await;
                }
                call.completion().await;
            });
        }
    });
    (ep, listener, rx)
}

fn pattern(n: usize) -> Bytes {
    (0..n)
        .map(|i| (i * 31 % 253) as u8)
        .collect::<Vec<_>>()
        .into()
}

async fn echo(
    client: &RxEndpoint,
    to: std::net::SocketAddr,
    sec: Option<ClientSecurityRef>,
    data: Bytes,
) -> Result<Bytes, Completion> {
    let mut b = client.call(to, SVC);
    if let Some(s) = sec {
        b = b.security(s);
    }
    let call = b.open().await.unwrap();
    let _ = call.send_last(data).await;
    match call.recv_to_end(64 << 20).await {
        Ok(r) => match call.completion().await {
            Completion::Succeeded => Ok(r),
            c => Err(c),
        },
        Err(_) => Err(call.completion().await),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rxkad_and_rxgk_calls_at_each_level() {
    within(60, async {
        let gk = rxgk_key();
        let classes = vec![
            rxkad_server(SecurityLevel::Plain),
            Arc::new(RxgkServer::new().with_key(1, gk.clone())) as ServerSecurityRef,
        ];
        let (srv, _l, mut seen) = server(classes, false).await;
        let client = RxEndpoint::bind(loopback()).await.unwrap();
        let to = srv.local_addr();
        for level in [
            SecurityLevel::Plain,
            SecurityLevel::Auth,
            SecurityLevel::Encrypt,
        ] {
            for (name, sec, index) in [
                ("rxkad", rxkad_client(DES, level), 2u8),
                ("rxgk", rxgk_client(&gk, level), 6u8),
            ] {
                let data = pattern(300_000);
                let reply = echo(&client, to, Some(sec.clone()), data.clone())
                    .await
                    .unwrap_or_else(|c| panic!("{name} {level:?}: {c}"));
                assert!(reply == data, "{name} {level:?}: echo intact");
                let s = seen.recv().await.unwrap();
                assert_eq!((s.index.0, s.level), (index, level), "{name}");
                let id = s.identity.expect("identity of a secured call");
                assert_eq!(id.level, level);
                if name == "rxkad" {
                    assert_eq!(id.name, "alice");
                }
                // A second call on the same (already secure) connection.
                let reply = echo(&client, to, Some(sec), Bytes::from_static(b"x"))
                    .await
                    .unwrap();
                assert_eq!(&reply[..], b"x");
                seen.recv().await.unwrap();
            }
        }
        // rxnull is still accepted on this socket, and carries no identity.
        let reply = echo(&client, to, None, Bytes::from_static(b"plain"))
            .await
            .unwrap();
        assert_eq!(&reply[..], b"plain");
        assert!(seen.recv().await.unwrap().identity.is_none());
    })
    .await;
}

#[tokio::test]
async fn refusals_reach_the_caller_and_never_the_service() {
    within(60, async {
        let (srv, _l, mut seen) = server(vec![rxkad_server(SecurityLevel::Encrypt)], true).await;
        let client = RxEndpoint::bind(loopback()).await.unwrap();
        let to = srv.local_addr();
        // A ticket sealed with another key.
        let wrong = [0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe];
        let r = echo(
            &client,
            to,
            Some(rxkad_client(wrong, SecurityLevel::Encrypt)),
            pattern(10),
        )
        .await;
        assert_eq!(r, Err(Completion::RemoteAbort(AbortCode::RXKADBADTICKET)));
        // A level below the server's minimum: the CHALLENGE names the minimum, so the client
        // itself refuses with RXKADLEVELFAIL (as OpenAFS clients do).
        let r = echo(
            &client,
            to,
            Some(rxkad_client(DES, SecurityLevel::Auth)),
            pattern(10),
        )
        .await;
        assert!(
            matches!(
                r,
                Err(Completion::LocalAbort {
                    code: AbortCode::RXKADLEVELFAIL,
                    ..
                })
            ),
            "{r:?}"
        );
        // rxnull on a socket that requires security.
        let r = echo(&client, to, None, pattern(10)).await;
        assert_eq!(
            r,
            Err(Completion::RemoteAbort(AbortCode::RX_INVALID_OPERATION))
        );
        // rxgk, which the socket does not accept.
        let r = echo(
            &client,
            to,
            Some(rxgk_client(&rxgk_key(), SecurityLevel::Encrypt)),
            pattern(10),
        )
        .await;
        assert_eq!(
            r,
            Err(Completion::RemoteAbort(AbortCode::RX_INVALID_OPERATION))
        );
        // The service saw none of them; a good call goes through.
        assert!(seen.try_recv().is_err());
        let r = echo(
            &client,
            to,
            Some(rxkad_client(DES, SecurityLevel::Encrypt)),
            pattern(10),
        )
        .await;
        assert_eq!(r.unwrap(), pattern(10));
    })
    .await;
}
