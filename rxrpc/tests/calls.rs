//! The async call API on loopback: echo calls of various sizes, concurrency, aborts, drop
//! behaviour and snapshots.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::{ECHO, echo_server, loopback, wait_no_calls, within};
use rxrpc::{AbortCode, Completion, Error, RxEndpoint, ServiceId};

async fn echo_once(client: &RxEndpoint, server: std::net::SocketAddr, data: Bytes) -> Bytes {
    let call = client.call(server, ECHO).open().await.unwrap();
    call.send_last(data).await.unwrap();
    let reply = call.recv_to_end(64 << 20).await.unwrap();
    assert_eq!(call.completion().await, Completion::Succeeded);
    reply
}

#[tokio::test]
async fn echo_small() {
    within(10, async {
        let (server, _listener, mut done) = echo_server().await;
        let client = RxEndpoint::bind(loopback()).await.unwrap();
        let reply = echo_once(&client, server.local_addr(), Bytes::from_static(b"hello")).await;
        assert_eq!(&reply[..], b"hello");
        // Empty request, empty reply.
        let reply = echo_once(&client, server.local_addr(), Bytes::new()).await;
        assert!(reply.is_empty());
        assert_eq!(done.recv().await, Some(Completion::Succeeded));
        assert_eq!(done.recv().await, Some(Completion::Succeeded));
        wait_no_calls(&client, 5).await;
        wait_no_calls(&server, 5).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_5mb() {
    within(30, async {
        let (server, _listener, mut done) = echo_server().await;
        let client = RxEndpoint::bind(loopback()).await.unwrap();
        let data: Vec<u8> = (0..5 * 1024 * 1024).map(|i| (i * 7 % 251) as u8).collect();
        let data = Bytes::from(data);
        let start = std::time::Instant::now();
        let call = client.call(server.local_addr(), ECHO).open().await.unwrap();
        // Send in pieces while receiving concurrently (the server only replies at the end).
        let sender = {
            let call = call.clone();
            let data = data.clone();
            tokio::spawn(async move {
                for chunk in data.chunks(100_000) {
                    call.send_all(chunk).await.unwrap();
                }
                call.finish().await.unwrap();
            })
        };
        let reply = call.recv_to_end(8 << 20).await.unwrap();
        sender.await.unwrap();
        assert_eq!(reply.len(), data.len());
        assert!(reply == data, "reply differs");
        assert_eq!(call.completion().await, Completion::Succeeded);
        assert_eq!(done.recv().await, Some(Completion::Succeeded));
        eprintln!("5 MB echo took {:?}", start.elapsed());
        drop(call);
        wait_no_calls(&client, 5).await;
        wait_no_calls(&server, 5).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_calls() {
    within(20, async {
        let (server, _listener, _done) = echo_server().await;
        let client = RxEndpoint::bind(loopback()).await.unwrap();
        let addr = server.local_addr();
        let mut tasks = Vec::new();
        for i in 0..20u32 {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                let msg = format!("call {i} ").repeat(1 + (i as usize) * 100);
                let reply = echo_once(&client, addr, Bytes::from(msg.clone())).await;
                assert_eq!(reply, msg.as_bytes());
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        wait_no_calls(&client, 5).await;
        wait_no_calls(&server, 5).await;
    })
    .await;
}

#[tokio::test]
async fn unbound_service_is_refused() {
    within(10, async {
        let server = RxEndpoint::bind(loopback()).await.unwrap();
        let client = RxEndpoint::bind(loopback()).await.unwrap();
        let call = client
            .call(server.local_addr(), ServiceId(999))
            .open()
            .await
            .unwrap();
        call.send_last(Bytes::from_static(b"anyone?"))
            .await
            .unwrap();
        let c = call.completion().await;
        assert_eq!(c, Completion::RemoteAbort(AbortCode::RX_INVALID_OPERATION));
        match call.recv().await {
            Err(Error::Completed(got)) => assert_eq!(got, c),
            other => panic!("recv after refusal: {other:?}"),
        }
        drop(call);
        wait_no_calls(&client, 5).await;
    })
    .await;
}

#[tokio::test]
async fn dropping_a_call_aborts_it() {
    within(10, async {
        let server = RxEndpoint::bind(loopback()).await.unwrap();
        let listener = server.listen(&[ECHO], 4).await.unwrap();
        let client = RxEndpoint::bind(loopback()).await.unwrap();
        let call = client.call(server.local_addr(), ECHO).open().await.unwrap();
        // More than a packet's worth, so that something goes out (a partly filled packet
        // waits for more data, as with MSG_MORE).
        call.send(Bytes::from(vec![1u8; 5000])).await.unwrap();
        let incoming = listener.accept().await.unwrap();
        assert_eq!(incoming.service_id(), ECHO);
        assert_eq!(incoming.peer(), client.local_addr());
        let first = incoming.recv().await.unwrap().unwrap();
        assert!(!first.is_empty() && first.iter().all(|b| *b == 1));
        drop(call); // unfinished: RX_CALL_DEAD goes to the server
        assert_eq!(
            incoming.completion().await,
            Completion::RemoteAbort(AbortCode::RX_CALL_DEAD)
        );
        match incoming.recv().await {
            Err(e) => assert_eq!(e.abort_code(), Some(AbortCode::RX_CALL_DEAD)),
            other => panic!("recv after abort: {other:?}"),
        }
        wait_no_calls(&client, 5).await;
        drop(incoming);
        wait_no_calls(&server, 5).await;
    })
    .await;
}

#[tokio::test]
async fn explicit_abort_and_reject() {
    within(10, async {
        let server = RxEndpoint::bind(loopback()).await.unwrap();
        let listener = server.listen(&[ECHO], 4).await.unwrap();
        let client = RxEndpoint::bind(loopback()).await.unwrap();

        // The server rejects.
        let call = client.call(server.local_addr(), ECHO).open().await.unwrap();
        call.send_last(Bytes::from_static(b"x")).await.unwrap();
        let incoming = listener.accept().await.unwrap();
        incoming.reject(AbortCode(1234)).await.unwrap();
        assert_eq!(
            call.completion().await,
            Completion::RemoteAbort(AbortCode(1234))
        );
        drop(call);

        // The client aborts; sending afterwards reports the completion.
        let call = client.call(server.local_addr(), ECHO).open().await.unwrap();
        call.send(Bytes::from(vec![2u8; 5000])).await.unwrap();
        let incoming = listener.accept().await.unwrap();
        call.abort(AbortCode::RX_USER_ABORT).await.unwrap();
        assert_eq!(
            incoming.completion().await,
            Completion::RemoteAbort(AbortCode::RX_USER_ABORT)
        );
        let err = call.send(Bytes::from_static(b"z")).await.unwrap_err();
        assert_eq!(err.abort_code(), Some(AbortCode::RX_USER_ABORT));
        let io: std::io::Error = err.into();
        assert_eq!(io.kind(), std::io::ErrorKind::ConnectionAborted);
        drop((call, incoming));
        wait_no_calls(&client, 5).await;
        wait_no_calls(&server, 5).await;
    })
    .await;
}

#[tokio::test]
async fn recv_and_accept_are_cancel_safe() {
    within(10, async {
        let server = RxEndpoint::bind(loopback()).await.unwrap();
        let listener = server.listen(&[ECHO], 4).await.unwrap();
        let client = RxEndpoint::bind(loopback()).await.unwrap();

        // Cancelled accepts with nothing incoming.
        for _ in 0..3 {
            let r = tokio::time::timeout(Duration::from_millis(20), listener.accept()).await;
            assert!(r.is_err());
        }
        let call = client.call(server.local_addr(), ECHO).open().await.unwrap();
        let head = vec![9u8; 3000];
        call.send_all(&head).await.unwrap();
        // Accepts cancelled after the call may have arrived.
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(listener.accept());
        let incoming = match tokio::time::timeout(Duration::ZERO, listener.accept()).await {
            Ok(r) => r.unwrap(),
            Err(_) => listener.accept().await.unwrap(),
        };

        // A recv cancelled repeatedly while data trickles in loses nothing.
        let mut got = Vec::new();
        let feeder = {
            let call = call.clone();
            tokio::spawn(async move {
                for i in 0..20u8 {
                    call.send_all(&[i; 100]).await.unwrap();
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                call.finish().await.unwrap();
            })
        };
        loop {
            match tokio::time::timeout(Duration::from_micros(500), incoming.recv()).await {
                Err(_) => continue, // cancelled
                Ok(Ok(Some(d))) => got.extend_from_slice(&d),
                Ok(Ok(None)) => break,
                Ok(Err(e)) => panic!("recv: {e}"),
            }
        }
        feeder.await.unwrap();
        let mut want = head;
        for i in 0..20u8 {
            want.extend_from_slice(&[i; 100]);
        }
        assert_eq!(got, want);
        incoming.send_last(Bytes::from_static(b"ok")).await.unwrap();
        assert_eq!(&call.recv_to_end(10).await.unwrap()[..], b"ok");
        assert_eq!(incoming.completion().await, Completion::Succeeded);
    })
    .await;
}

#[tokio::test]
async fn recv_to_end_limit() {
    within(10, async {
        let (server, _listener, _done) = echo_server().await;
        let client = RxEndpoint::bind(loopback()).await.unwrap();
        let call = client.call(server.local_addr(), ECHO).open().await.unwrap();
        call.send_last(Bytes::from(vec![7u8; 10_000]))
            .await
            .unwrap();
        match call.recv_to_end(100).await {
            Err(Error::TooLong(100)) => {}
            other => panic!("{other:?}"),
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_while_calls_come_and_go() {
    within(30, async {
        let (server, _listener, _done) = echo_server().await;
        let client = RxEndpoint::bind(loopback()).await.unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let watchers: Vec<_> = [client.clone(), server.clone()]
            .into_iter()
            .map(|ep| {
                let stop = Arc::clone(&stop);
                tokio::spawn(async move {
                    let mut n = 0u32;
                    let mut max_calls = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let snap = tokio::time::timeout(Duration::from_secs(1), ep.snapshot())
                            .await
                            .expect("snapshot blocked")
                            .unwrap();
                        max_calls = max_calls.max(snap.calls.len());
                        n += 1;
                        tokio::task::yield_now().await;
                    }
                    (n, max_calls)
                })
            })
            .collect();
        let addr = server.local_addr();
        let mut tasks = Vec::new();
        for i in 0..50u32 {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(u64::from(i % 10) * 5)).await;
                let msg = Bytes::from(vec![i as u8; 1000 + i as usize * 50]);
                let reply = echo_once(&client, addr, msg.clone()).await;
                assert_eq!(reply, msg);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        wait_no_calls(&client, 5).await;
        wait_no_calls(&server, 5).await;
        stop.store(true, Ordering::Relaxed);
        for w in watchers {
            let (n, max_calls) = w.await.unwrap();
            assert!(n > 10, "only {n} snapshots");
            assert!(max_calls > 0);
        }
        let snap = client.snapshot().await.unwrap();
        assert!(snap.calls.is_empty());
        assert!(snap.stats.calls_created >= 50);
        assert_eq!(snap.stats.calls_created, snap.stats.calls_freed);
    })
    .await;
}

/// Poll `fut` once (it must be pending: the driver has the request), give the driver time to
/// answer it, then drop it: the answer is left in the cancelled operation.
async fn cancel_after_answer<F: std::future::Future + Unpin>(mut fut: F) {
    assert!(poll_once(&mut fut).await.is_pending());
    tokio::time::sleep(Duration::from_millis(20)).await;
    drop(fut);
}

/// Poll a future once.
async fn poll_once<F: std::future::Future + Unpin>(f: &mut F) -> std::task::Poll<F::Output> {
    std::future::poll_fn(|cx| std::task::Poll::Ready(std::pin::Pin::new(&mut *f).poll(cx))).await
}

#[tokio::test]
async fn replies_of_cancelled_operations_are_given_back() {
    within(10, async {
        let server = RxEndpoint::bind(loopback()).await.unwrap();
        let listener = server.listen(&[ECHO], 4).await.unwrap();
        let client = RxEndpoint::bind(loopback()).await.unwrap();
        let call = client.call(server.local_addr(), ECHO).open().await.unwrap();
        // A request still arriving (not handed over with the call): receives go through the
        // driver. (Full packets go out before the end of the request is known.)
        let request: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
        call.send(Bytes::from(request.clone())).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;

        // accept: polled once (the driver answers), then dropped without being read.
        cancel_after_answer(Box::pin(listener.accept())).await;
        let incoming = listener.accept().await.unwrap();

        // recv: the same.
        cancel_after_answer(Box::pin(incoming.recv())).await;
        let mut got = incoming.recv().await.unwrap().unwrap().to_vec();
        assert!(!got.is_empty() && got.len() < request.len());
        call.finish().await.unwrap();
        while let Some(more) = incoming.recv().await.unwrap() {
            got.extend_from_slice(&more);
        }
        assert!(got == request, "the request arrives whole and in order");

        incoming
            .send_last(Bytes::from_static(b"reply"))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        // The client's last read carries the terminal message (the call is released).
        cancel_after_answer(Box::pin(call.recv())).await;
        assert_eq!(&call.recv().await.unwrap().unwrap()[..], b"reply");
        assert_eq!(call.recv().await.unwrap(), None);
        assert_eq!(call.completion().await, Completion::Succeeded);
        assert_eq!(incoming.completion().await, Completion::Succeeded);

        // A complete request comes with its call, also after a cancelled accept, and a
        // cancelled receive of it loses nothing.
        let call = client.call(server.local_addr(), ECHO).open().await.unwrap();
        call.send_last(Bytes::from_static(b"second request"))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        cancel_after_answer(Box::pin(listener.accept())).await;
        let incoming = listener.accept().await.unwrap();
        let mut fut = Box::pin(incoming.recv_max(6));
        let std::task::Poll::Ready(first) = poll_once(&mut fut).await else {
            panic!("a handed-over request is read without the driver");
        };
        assert_eq!(&first.unwrap().unwrap()[..], b"second");
        drop(fut);
        assert_eq!(&incoming.recv().await.unwrap().unwrap()[..], b" request");
        assert_eq!(incoming.recv().await.unwrap(), None);
        let done = incoming.send_last_and_complete(Bytes::from_static(b"ok"));
        let (done, reply) = tokio::join!(done, call.recv_to_end(100));
        assert_eq!(&reply.unwrap()[..], b"ok");
        assert_eq!(done.unwrap(), Completion::Succeeded);
    })
    .await;
}

#[tokio::test]
async fn service_upgrade() {
    within(10, async {
        let server = RxEndpoint::bind(loopback()).await.unwrap();
        let (from, to) = (ServiceId(52), ServiceId(2503));
        let listener = server.listen_with_upgrade(from, to, 4).await.unwrap();
        assert_eq!(listener.services(), &[from, to]);
        let client = RxEndpoint::bind(loopback()).await.unwrap();
        for (upgrade, want) in [(true, to), (false, from)] {
            let call = client
                .call(server.local_addr(), from)
                .upgrade(upgrade)
                .open()
                .await
                .unwrap();
            call.send_last(Bytes::from_static(b"x")).await.unwrap();
            let incoming = listener.accept().await.unwrap();
            assert_eq!(incoming.service_id(), want, "upgrade {upgrade}");
            incoming.recv_to_end(10).await.unwrap();
            incoming.finish().await.unwrap();
            assert!(call.recv_to_end(10).await.unwrap().is_empty());
        }
    })
    .await;
}

#[tokio::test]
async fn dropping_the_listener_stops_service() {
    within(10, async {
        let server = RxEndpoint::bind(loopback()).await.unwrap();
        let listener = server.listen(&[ECHO], 4).await.unwrap();
        let client = RxEndpoint::bind(loopback()).await.unwrap();
        // An accepted call outlives its listener.
        let call = client.call(server.local_addr(), ECHO).open().await.unwrap();
        call.send_last(Bytes::from_static(b"one")).await.unwrap();
        let incoming = listener.accept().await.unwrap().into_call();
        drop(listener);
        assert_eq!(&incoming.recv_to_end(10).await.unwrap()[..], b"one");
        incoming
            .send_last(Bytes::from_static(b"two"))
            .await
            .unwrap();
        drop(incoming); // reply queued: finishes in the background
        assert_eq!(&call.recv_to_end(10).await.unwrap()[..], b"two");
        assert_eq!(call.completion().await, Completion::Succeeded);
        wait_no_calls(&server, 5).await;
        // New calls are refused.
        let call = client.call(server.local_addr(), ECHO).open().await.unwrap();
        call.send_last(Bytes::from_static(b"three")).await.unwrap();
        assert_eq!(
            call.completion().await,
            Completion::RemoteAbort(AbortCode::RX_INVALID_OPERATION)
        );
        // The service ID can be listened on again.
        let _listener = server.listen(&[ECHO], 4).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn dropping_every_handle_stops_the_driver() {
    within(10, async {
        let server = RxEndpoint::bind(loopback()).await.unwrap();
        let listener = server.listen(&[ECHO], 4).await.unwrap();
        let client = RxEndpoint::bind(loopback()).await.unwrap();
        let addr = client.local_addr();
        let call = client.call(server.local_addr(), ECHO).open().await.unwrap();
        call.send(Bytes::from(vec![0u8; 5000])).await.unwrap();
        let incoming = listener.accept().await.unwrap();
        drop((client, call));
        // The call is aborted on the way out.
        assert_eq!(
            incoming.completion().await,
            Completion::RemoteAbort(AbortCode::RX_CALL_DEAD)
        );
        // And the UDP port is given back.
        let mut rebound = None;
        for _ in 0..100 {
            match RxEndpoint::bind(addr).await {
                Ok(ep) => {
                    rebound = Some(ep);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
        assert!(rebound.is_some(), "port {addr} still in use");
    })
    .await;
}

/// The published snapshot is read without the driver: a reader spinning on it from another
/// thread sees calls appear and disappear, and the tables print.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_snapshot_is_read_without_the_driver() {
    within(30, async {
        let (server, _listener, _done) = echo_server().await;
        let client = RxEndpoint::bind(loopback()).await.unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let client = client.clone();
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut seen_calls = 0;
                let mut reads = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let snap = client.published_snapshot();
                    seen_calls = seen_calls.max(snap.calls.len());
                    reads += 1;
                }
                (seen_calls, reads)
            })
        };
        let addr = server.local_addr();
        // Keep the driver busy for a few publication periods (20 calls can take less than
        // one on a fast loopback).
        let start = std::time::Instant::now();
        let mut i = 0u32;
        while i < 20 || start.elapsed() < RxEndpoint::PUBLISH_EVERY * 3 {
            let msg = Bytes::from(vec![i as u8; 200_000]);
            assert_eq!(echo_once(&client, addr, msg.clone()).await, msg);
            i += 1;
        }
        stop.store(true, Ordering::Relaxed);
        let (seen, reads) = reader.join().unwrap();
        assert!(
            reads > 100,
            "the reader never waited on the driver ({reads} reads)"
        );
        assert!(
            seen >= 1,
            "a busy driver published snapshots with live calls"
        );
        // After the calls, within a publication period plus some work, it shows none.
        wait_no_calls(&client, 5).await;
        tokio::time::sleep(RxEndpoint::PUBLISH_EVERY * 2).await;
        // Any driver activity republishes; a snapshot request is activity.
        let _ = client.snapshot().await.unwrap();
        tokio::time::sleep(RxEndpoint::PUBLISH_EVERY + Duration::from_millis(50)).await;
        let _ = client.snapshot().await.unwrap();
        let snap = client.published_snapshot();
        assert!(
            common::active_calls(&snap).is_empty(),
            "{}",
            snap.proc_calls()
        );
        let text = snap.to_string();
        assert!(text.contains("== calls") && text.contains("== peers") && text.contains("UDP"));
        assert_eq!(snap.local, Some(client.local_addr()));
    })
    .await;
}

/// A busy-polling endpoint pair serves calls like any other (timers, ACKs and the final ACK
/// still run), and an idle busy-polling endpoint goes back to sleep instead of spinning.
#[test]
fn busy_polling_endpoints_serve_calls_and_sleep_when_idle() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(within(20, async {
        let runtime = rxrpc::RuntimeConfig::default().busy_poll(Duration::from_micros(50));
        let server = RxEndpoint::bind_with(loopback(), rxrpc::default_config(), runtime.clone())
            .await
            .unwrap();
        let listener = server.listen(&[ECHO], 8).await.unwrap();
        tokio::spawn(async move {
            while let Ok(incoming) = listener.accept().await {
                tokio::spawn(async move {
                    let call = incoming.into_call();
                    let req = call.recv_to_end(1 << 20).await.unwrap();
                    call.send_last_and_complete(req).await.unwrap();
                });
            }
        });
        let client = RxEndpoint::bind_with(loopback(), rxrpc::default_config(), runtime)
            .await
            .unwrap();
        for i in 0..200u32 {
            let call = client.call(server.local_addr(), ECHO).open().await.unwrap();
            let req: Vec<u8> = (0..(i * 37 % 3000)).map(|b| (b ^ i) as u8).collect();
            let reply = call
                .request(Bytes::from(req.clone()), 1 << 20)
                .await
                .unwrap();
            assert!(reply == req, "call {i}: echo intact");
        }
        // Idle for 500 ms: the drivers wake a few times (snapshots every 100 ms) and poll
        // 50 µs each time, so this thread uses a few milliseconds of CPU, not 500.
        let before = thread_cpu();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let used = thread_cpu().saturating_sub(before);
        assert!(
            used < Duration::from_millis(150),
            "idle endpoints used {used:?} of CPU"
        );
    }));
}

/// CPU time of the calling thread (user + system), from /proc.
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}
