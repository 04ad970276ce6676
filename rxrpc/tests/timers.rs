//! Timer-driven behaviour through the driver: call timeouts and retransmission after BUSY.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{loopback, within};
use rxrpc::{AbortCode, AbortReason, Completion, RxEndpoint, RxSocket, SendMsg, ServiceId};

const SVC: ServiceId = ServiceId(7);

#[tokio::test]
async fn hard_timeout_aborts_both_sides() {
    within(10, async {
        let server = RxEndpoint::bind(loopback()).await.unwrap();
        let listener = server.listen(&[SVC], 4).await.unwrap();
        let client = RxEndpoint::bind(loopback()).await.unwrap();
        let start = Instant::now();
        let call = client
            .call(server.local_addr(), SVC)
            .hard_timeout(Duration::from_millis(300))
            .open()
            .await
            .unwrap();
        call.send_last(Bytes::from_static(b"slow")).await.unwrap();
        let incoming = listener.accept().await.unwrap(); // never answers
        assert_eq!(
            call.completion().await,
            Completion::LocalAbort {
                code: AbortCode::RX_CALL_TIMEOUT,
                reason: AbortReason::HardTimeout
            }
        );
        assert!(start.elapsed() >= Duration::from_millis(300));
        assert_eq!(
            incoming.completion().await,
            Completion::RemoteAbort(AbortCode::RX_CALL_TIMEOUT)
        );
    })
    .await;
}

#[tokio::test]
async fn idle_timeout_when_nobody_answers() {
    within(10, async {
        // A bound UDP port with nobody reading it.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let client = RxEndpoint::bind(loopback()).await.unwrap();
        let call = client
            .call(silent.local_addr().unwrap(), SVC)
            .idle_timeout(Duration::from_millis(400))
            .open()
            .await
            .unwrap();
        call.send_last(Bytes::from_static(b"anyone?"))
            .await
            .unwrap();
        let c = call.completion().await;
        assert_eq!(c.abort_code(), Some(AbortCode::RX_CALL_TIMEOUT), "{c}");
        let e = call.recv().await.unwrap_err();
        assert_eq!(std::io::Error::from(e).kind(), std::io::ErrorKind::TimedOut);
    })
    .await;
}

#[tokio::test]
async fn busy_server_is_retried_once_charged() {
    within(10, async {
        let server = RxSocket::bind(loopback()).await.unwrap();
        server.bind_service(SVC).await.unwrap();
        server.listen(4).await.unwrap(); // listening, but nothing charged: BUSY
        let client = RxSocket::bind(loopback()).await.unwrap();
        client
            .sendmsg(
                1,
                SendMsg::new(Bytes::from_static(b"hi")).to(server.local_addr(), SVC),
            )
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(server.snapshot().await.unwrap().stats.busy_sent, 1);
        server.charge_accept(5).await.unwrap();
        // The client's retransmission finds the charged call.
        let m = server.recvmsg(100).await.unwrap();
        assert_eq!(
            (m.user_id, &m.data[..], m.end_of_data),
            (5, &b"hi"[..], true)
        );
    })
    .await;
}
