//! Transport errors reach the calls: an ICMP port unreachable from a loopback port without a
//! listener completes the call at once with a network error carrying the errno (instead of
//! the 20-second idle timeout), through both APIs; calls to other peers go on. Also: the plain
//! (unsegmented, unbatched-GRO) I/O paths move data as the default ones do.

mod common;

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{ECHO, echo_server, loopback, within};
use rxrpc::socket::{RxSocket, SendMsg};
use rxrpc::{Completion, Error, NetworkError, RxEndpoint};

/// A loopback UDP port nobody listens on (bound, read, closed).
fn dead_port() -> SocketAddr {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.local_addr().unwrap()
}

/// The errno a refused datagram is reported with, checked through `io::Error`.
fn assert_refused(c: Completion) {
    let Completion::NetworkError(NetworkError::Os(errno)) = c else {
        panic!("expected a network error with an errno, got {c:?}");
    };
    assert_eq!(
        io::Error::from_raw_os_error(errno).kind(),
        io::ErrorKind::ConnectionRefused,
        "errno {errno}"
    );
}

#[tokio::test]
async fn call_to_a_closed_port_fails_fast_with_econnrefused() {
    within(10, async {
        let dead = dead_port();
        let client = RxEndpoint::bind(loopback()).await.unwrap();
        let start = Instant::now();
        let call = client.call(dead, ECHO).open().await.unwrap();
        call.send_last(Bytes::from_static(b"anyone?"))
            .await
            .unwrap();
        let err = call.recv().await.expect_err("nobody answers");
        let elapsed = start.elapsed();
        // Not the idle timeout (20 s) nor even the first retransmission (1 s).
        assert!(elapsed < Duration::from_millis(900), "took {elapsed:?}");
        let Error::Completed(c) = err else {
            panic!("expected a completed call, got {err:?}");
        };
        assert_refused(c);
        assert_eq!(call.completion().await, c);
        // The typed error maps onto io::ErrorKind for socket-style users.
        let ioe: io::Error = Error::Completed(c).into();
        assert_eq!(ioe.kind(), io::ErrorKind::ConnectionRefused);

        // The endpoint is fine: a call to a live server succeeds afterwards.
        let (server, _listener, _done) = echo_server().await;
        let call = client.call(server.local_addr(), ECHO).open().await.unwrap();
        call.send_last(Bytes::from_static(b"hi")).await.unwrap();
        assert_eq!(&call.recv_to_end(100).await.unwrap()[..], b"hi");
        assert_eq!(call.completion().await, Completion::Succeeded);
    })
    .await;
}

#[tokio::test]
async fn refusal_fails_only_that_peers_calls() {
    within(10, async {
        let (server, _listener, _done) = echo_server().await;
        let client = RxEndpoint::bind(loopback()).await.unwrap();
        // A call to the live server is open (request sent, reply not yet read) ...
        let live = client.call(server.local_addr(), ECHO).open().await.unwrap();
        live.send(Bytes::from_static(b"part one, ")).await.unwrap();
        // ... while a call to a dead port is refused.
        let dead = client.call(dead_port(), ECHO).open().await.unwrap();
        dead.send_last(Bytes::from_static(b"x")).await.unwrap();
        assert_refused(dead.completion().await);
        live.send_last(Bytes::from_static(b"part two"))
            .await
            .unwrap();
        assert_eq!(
            &live.recv_to_end(100).await.unwrap()[..],
            b"part one, part two"
        );
        assert_eq!(live.completion().await, Completion::Succeeded);
    })
    .await;
}

#[tokio::test]
async fn socket_api_reports_the_refusal_as_terminal_message() {
    within(10, async {
        let sock = RxSocket::bind(loopback()).await.unwrap();
        let msg = SendMsg::new(Bytes::from_static(b"ping")).to(dead_port(), ECHO);
        sock.sendmsg(7, msg).await.unwrap();
        let m = sock.recvmsg(100).await.unwrap();
        assert_eq!(m.user_id, 7);
        assert_refused(m.terminal.expect("the call ended"));
        // The user ID was released with the terminal message.
        assert!(sock.user_ids().await.unwrap().is_empty());
    })
    .await;
}

/// Echo 3 MB both ways and check the data.
async fn echo_3mb() {
    let (server, _listener, _done) = echo_server().await;
    let client = RxEndpoint::bind(loopback()).await.unwrap();
    let data: Vec<u8> = (0..3 << 20).map(|i: u32| (i % 253) as u8).collect();
    let data = Bytes::from(data);
    let call = client.call(server.local_addr(), ECHO).open().await.unwrap();
    let reader = {
        let call = call.clone();
        tokio::spawn(async move { call.recv_to_end(8 << 20).await })
    };
    for chunk in data.chunks(100_000) {
        call.send(Bytes::copy_from_slice(chunk)).await.unwrap();
    }
    call.finish().await.unwrap();
    let reply = reader.await.unwrap().unwrap();
    assert!(reply == data, "echoed data differs");
    assert_eq!(call.completion().await, Completion::Succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_echo_default_io() {
    within(30, echo_3mb()).await;
}

/// Run by [`bulk_echo_plain_io`] in a child process with GSO and GRO turned off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by bulk_echo_plain_io with RXRPC_NO_GSO/RXRPC_NO_GRO set"]
async fn bulk_echo_plain_io_child() {
    assert!(std::env::var_os("RXRPC_NO_GSO").is_some());
    within(30, echo_3mb()).await;
}

/// The one-datagram-per-message paths (no GSO, no GRO), in a child process: the switches are
/// read from the environment, which a test must not change in its own process.
#[test]
fn bulk_echo_plain_io() {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args([
            "--exact",
            "bulk_echo_plain_io_child",
            "--ignored",
            "--nocapture",
        ])
        .env("RXRPC_NO_GSO", "1")
        .env("RXRPC_NO_GRO", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("1 passed"),
        "child failed: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The same over IPv6 loopback (IPV6_RECVERR, ICMPv6), where the host has it.
#[tokio::test]
async fn ipv6_refusal_and_echo() {
    let Ok(probe) = std::net::UdpSocket::bind("[::1]:0") else {
        eprintln!("SKIP ipv6_refusal_and_echo: no IPv6 loopback here");
        return;
    };
    let dead = probe.local_addr().unwrap();
    drop(probe);
    within(10, async {
        let v6: SocketAddr = "[::1]:0".parse().unwrap();
        let client = RxEndpoint::bind(v6).await.unwrap();
        let call = client.call(dead, ECHO).open().await.unwrap();
        call.send_last(Bytes::from_static(b"anyone?"))
            .await
            .unwrap();
        assert_refused(call.completion().await);

        let server = RxEndpoint::bind(v6).await.unwrap();
        let listener = server.listen(&[ECHO], 4).await.unwrap();
        tokio::spawn(async move {
            let call = listener.accept().await.unwrap();
            let req = call.recv_to_end(1 << 20).await.unwrap();
            call.send_last(req).await.unwrap();
            call.completion().await
        });
        let data = Bytes::from(vec![7u8; 300_000]);
        let call = client.call(server.local_addr(), ECHO).open().await.unwrap();
        call.send_last(data.clone()).await.unwrap();
        assert_eq!(call.recv_to_end(1 << 20).await.unwrap(), data);
        assert_eq!(call.completion().await, Completion::Succeeded);
    })
    .await;
}
