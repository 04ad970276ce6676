//! The AF_RXRPC-like socket API on loopback: charge-accept, calls created by sendmsg,
//! recvmsg and terminal messages, user ID errors, and socket close.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{ECHO, active_calls, echo_server, loopback, wait_no_calls, within};
use rxrpc::socket::{RxSocket, SendMsg};
use rxrpc::{AbortCode, CallError, Completion, Error, RxEndpoint, ServiceId};

const SVC: ServiceId = ServiceId(5555);

async fn server_socket() -> RxSocket {
    let s = RxSocket::bind(loopback()).await.unwrap();
    s.bind_service(SVC).await.unwrap();
    s.listen(8).await.unwrap();
    s
}

fn req(data: &'static [u8], to: &RxSocket) -> SendMsg {
    SendMsg::new(Bytes::from_static(data)).to(to.local_addr(), SVC)
}

#[tokio::test]
async fn request_reply_and_id_reuse() {
    within(10, async {
        let server = server_socket().await;
        let client = RxSocket::bind(loopback()).await.unwrap();
        server.charge_accept(100).await.unwrap();
        server.charge_accept(101).await.unwrap();
        assert_eq!(server.user_ids().await.unwrap(), vec![100, 101]);

        for round in 0..3 {
            // The same client user ID each round: the terminal message freed it.
            client.sendmsg(7, req(b"question", &server)).await.unwrap();
            let m = server.recvmsg(1 << 16).await.unwrap();
            assert_eq!(&m.data[..], b"question");
            assert!(m.end_of_data);
            assert_eq!(m.terminal, None);
            assert_eq!(m.peer, client.local_addr());
            assert_eq!(m.service_id, SVC);
            let sid = m.user_id;
            server
                .sendmsg(sid, SendMsg::new(Bytes::from_static(b"answer")))
                .await
                .unwrap();

            let r = client.recvmsg(1 << 16).await.unwrap();
            assert_eq!(r.user_id, 7);
            assert_eq!(&r.data[..], b"answer");
            assert!(r.end_of_data);
            assert_eq!(r.terminal, Some(Completion::Succeeded));
            assert_eq!(client.user_ids().await.unwrap(), Vec::<u64>::new());

            // The service call ends when the client's final ACK arrives.
            let t = server.recvmsg(1 << 16).await.unwrap();
            assert_eq!(t.user_id, sid);
            assert!(t.data.is_empty());
            assert_eq!(t.terminal, Some(Completion::Succeeded));
            // Recharge with the ID that was just released.
            server.charge_accept(sid).await.unwrap();
            assert_eq!(server.user_ids().await.unwrap().len(), 2, "round {round}");
        }
        wait_no_calls(client.endpoint(), 5).await;
        wait_no_calls(server.endpoint(), 5).await;
    })
    .await;
}

#[tokio::test]
async fn small_recvmsg_buffers_and_multi_packet_messages() {
    within(10, async {
        let server = server_socket().await;
        let client = RxSocket::bind(loopback()).await.unwrap();
        server.charge_accept(1).await.unwrap();
        let big: Vec<u8> = (0..20_000u32).map(|i| i as u8).collect();
        let (first, rest) = big.split_at(7000);
        let dest = Some((server.local_addr(), SVC));
        client
            .sendmsg(
                1,
                SendMsg {
                    data: Bytes::copy_from_slice(first),
                    more: true,
                    dest,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        client
            .sendmsg(1, SendMsg::new(Bytes::copy_from_slice(rest)))
            .await
            .unwrap();
        let mut got = Vec::new();
        loop {
            let m = server.recvmsg(1000).await.unwrap();
            assert_eq!(m.user_id, 1);
            assert!(m.data.len() <= 1000);
            got.extend_from_slice(&m.data);
            if m.end_of_data {
                break;
            }
        }
        assert_eq!(got, big);
        server.sendmsg(1, SendMsg::new(Bytes::new())).await.unwrap();
        let r = client.recvmsg(10).await.unwrap();
        assert!(r.data.is_empty() && r.end_of_data);
        assert_eq!(r.terminal, Some(Completion::Succeeded));
    })
    .await;
}

#[tokio::test]
async fn user_id_errors() {
    within(10, async {
        let server = server_socket().await;
        let client = RxSocket::bind(loopback()).await.unwrap();
        server.charge_accept(1).await.unwrap();
        // DuplicateId: charging an ID in use, or creating a call with a live ID.
        match server.charge_accept(1).await {
            Err(Error::Call(CallError::DuplicateId(1))) => {}
            other => panic!("{other:?}"),
        }
        client
            .sendmsg(5, req(b"a", &server).more(true))
            .await
            .unwrap();
        match client.sendmsg(5, req(b"b", &server)).await {
            Err(Error::Call(CallError::DuplicateId(5))) => {}
            other => panic!("{other:?}"),
        }
        // UnknownId: data, abort or end for an ID that names no call.
        match client
            .sendmsg(6, SendMsg::new(Bytes::from_static(b"c")))
            .await
        {
            Err(Error::Call(CallError::UnknownId(6))) => {}
            other => panic!("{other:?}"),
        }
        match client.abort(6, AbortCode::RX_USER_ABORT).await {
            Err(Error::Call(CallError::UnknownId(6))) => {}
            other => panic!("{other:?}"),
        }
        let e = client.end_call(6).await.unwrap_err();
        assert_eq!(std::io::Error::from(e).kind(), std::io::ErrorKind::NotFound);
        // Charging a socket that is not listening.
        match client.charge_accept(9).await {
            Err(Error::Call(CallError::CannotCharge(_))) => {}
            other => panic!("{other:?}"),
        }
        // A third service, or one taken by another socket.
        let other = server.endpoint().open_socket().await.unwrap();
        match other.bind_service(SVC).await {
            Err(Error::Bind(rxrpc::BindError::InUse(_))) => {}
            other => panic!("{other:?}"),
        }
        // The call with ID 5 still works.
        client
            .sendmsg(5, SendMsg::new(Bytes::from_static(b"b")))
            .await
            .unwrap();
        let m = server.recvmsg(100).await.unwrap();
        assert_eq!(&m.data[..], b"ab");
        server.reject(m.user_id, AbortCode(77)).await.unwrap();
        let r = client.recvmsg(100).await.unwrap();
        assert_eq!(r.terminal, Some(Completion::RemoteAbort(AbortCode(77))));
        // The rejected call was released at once: the ID is unknown now.
        match server.end_call(1).await {
            Err(Error::Call(CallError::UnknownId(1))) => {}
            other => panic!("{other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn abort_via_sendmsg_reaches_the_peer() {
    within(10, async {
        let server = server_socket().await;
        let client = RxSocket::bind(loopback()).await.unwrap();
        server.charge_accept(1).await.unwrap();
        client
            .sendmsg(3, req(b"partial", &server).more(true))
            .await
            .unwrap();
        client
            .sendmsg(3, SendMsg::new(Bytes::from(vec![0u8; 4000])).more(true))
            .await
            .unwrap();
        let m = server.recvmsg(1 << 16).await.unwrap();
        assert_eq!(m.user_id, 1);
        server.abort(1, AbortCode(4242)).await.unwrap();
        let r = client.recvmsg(1 << 16).await.unwrap();
        assert_eq!(r.user_id, 3);
        assert_eq!(r.terminal, Some(Completion::RemoteAbort(AbortCode(4242))));
        // The server reads its own call's terminal message.
        let t = loop {
            let t = server.recvmsg(1 << 16).await.unwrap();
            if t.terminal.is_some() {
                break t;
            }
        };
        assert_eq!(
            t.terminal.and_then(|c| c.abort_code()),
            Some(AbortCode(4242))
        );
        wait_no_calls(client.endpoint(), 5).await;
        wait_no_calls(server.endpoint(), 5).await;
    })
    .await;
}

#[tokio::test]
async fn closing_a_socket_mid_transfer_aborts_its_calls() {
    within(10, async {
        let (server, _listener, mut done) = echo_server().await;
        let client = RxSocket::bind(loopback()).await.unwrap();
        let ep = client.endpoint().clone();
        let dest = Some((server.local_addr(), ECHO));
        for id in 1..=3u64 {
            client
                .sendmsg(
                    id,
                    SendMsg {
                        data: Bytes::from(vec![id as u8; 50_000]),
                        more: true,
                        dest,
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(active_calls(&server.snapshot().await.unwrap()).len(), 3);
        client.close().await.unwrap();
        // The client side forgot every call at once.
        let snap = ep.snapshot().await.unwrap();
        assert!(snap.calls.is_empty(), "{:#?}", snap.calls);
        // The server sees each call aborted with RX_CALL_DEAD.
        for _ in 0..3 {
            let c = done.recv().await.unwrap();
            assert_eq!(c, Completion::RemoteAbort(AbortCode::RX_CALL_DEAD));
        }
        // Operations on the closed socket fail.
        match client.sendmsg(9, SendMsg::new(Bytes::new())).await {
            Err(Error::Call(CallError::SocketClosed)) => {}
            other => panic!("{other:?}"),
        }
        wait_no_calls(&server, 5).await;
    })
    .await;
}

#[tokio::test]
async fn closing_one_socket_releases_only_its_calls() {
    within(10, async {
        let (server, _listener, mut done) = echo_server().await;
        let ep = RxEndpoint::bind(loopback()).await.unwrap();
        let a = ep.open_socket().await.unwrap();
        let b = ep.open_socket().await.unwrap();
        let dest = Some((server.local_addr(), ECHO));
        let start = |data: u8| SendMsg {
            data: Bytes::from(vec![data; 5000]),
            more: true,
            dest,
            ..Default::default()
        };
        // The same user ID on both sockets names two different calls.
        a.sendmsg(1, start(b'a')).await.unwrap();
        b.sendmsg(1, start(b'b')).await.unwrap();
        // And an async call on the same endpoint.
        let call = ep.call(server.local_addr(), ECHO).open().await.unwrap();
        call.send(Bytes::from(vec![b'c'; 5000])).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(active_calls(&ep.snapshot().await.unwrap()).len(), 3);

        drop(a); // Drop closes like close()
        assert_eq!(
            done.recv().await,
            Some(Completion::RemoteAbort(AbortCode::RX_CALL_DEAD))
        );
        let snap = ep.snapshot().await.unwrap();
        assert_eq!(snap.calls.len(), 2, "{:#?}", snap.calls);

        // The survivors finish normally.
        b.sendmsg(1, SendMsg::new(Bytes::from_static(b"!")))
            .await
            .unwrap();
        call.send_last(Bytes::from_static(b"!")).await.unwrap();
        let mut reply = Vec::new();
        loop {
            let m = b.recvmsg(1 << 16).await.unwrap();
            reply.extend_from_slice(&m.data);
            if m.terminal.is_some() {
                assert_eq!(m.terminal, Some(Completion::Succeeded));
                break;
            }
        }
        assert_eq!(reply.len(), 5001);
        assert_eq!(call.recv_to_end(1 << 20).await.unwrap().len(), 5001);
        drop(call);
        wait_no_calls(&ep, 5).await;
    })
    .await;
}

#[tokio::test]
async fn recvmsg_is_cancel_safe() {
    within(10, async {
        let server = server_socket().await;
        let client = RxSocket::bind(loopback()).await.unwrap();
        server.charge_accept(1).await.unwrap();
        // Nothing to read: cancelled waits.
        for _ in 0..3 {
            assert!(
                tokio::time::timeout(Duration::from_millis(10), server.recvmsg(100))
                    .await
                    .is_err()
            );
        }
        client.sendmsg(1, req(b"hello", &server)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
        // Taken by the driver for a recvmsg that is dropped before reading it.
        let mut fut = Box::pin(server.recvmsg(100));
        let poll = std::future::poll_fn(|cx| {
            std::task::Poll::Ready(std::future::Future::poll(fut.as_mut(), cx))
        })
        .await;
        assert!(poll.is_pending());
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(fut);
        let m = server.recvmsg(100).await.unwrap();
        assert_eq!(&m.data[..], b"hello");
        assert!(m.end_of_data);
    })
    .await;
}
