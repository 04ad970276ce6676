//! Our rxperf client against our rxperf server on 127.0.0.1: every operation with and without
//! the request cookie, the server's aborts for malformed requests, the client's handling of a
//! misbehaving server, and Ctrl-C (SIGINT) on the binaries aborting the calls in flight on the
//! wire.

#[path = "rxperf_util.rs"]
mod util;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rxrpc::{AbortCode, Completion, RxEndpoint, ServiceId};
use rxrpc_cli::rxperf::client::{self, CallFailure, ClientError, ClientOptions};
use rxrpc_cli::rxperf::proto::{FileList, Op};
use rxrpc_cli::rxperf::server::{Server, ServerOptions, ServerStats};
use rxrpc_cli::rxperf::shutdown::{Reason, Shutdown};
use rxrpc_cli::rxperf::{COOKIE_BYTES, EXIT_INTERRUPTED, SERVICE};
use util::{RXPERF, loopback, report_line, run_async, spawn, within};

const SVC: ServiceId = ServiceId(SERVICE);

/// Our server on 127.0.0.1:0, running until the returned latch trips.
async fn start_server() -> (std::net::SocketAddr, Arc<ServerStats>, Shutdown) {
    let server = Server::bind(ServerOptions::new(loopback())).await.unwrap();
    let addr = server.local_addr();
    let stats = server.stats();
    let stop = Shutdown::new();
    tokio::spawn(server.run(stop.clone()));
    (addr, stats, stop)
}

fn opts(addr: std::net::SocketAddr, op: Op) -> ClientOptions {
    let mut o = ClientOptions::new(addr, op);
    o.times = 3;
    o.bytes = 300_000;
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_ops_with_and_without_cookie() {
    within(60, "all ops", async {
        let (addr, stats, stop) = start_server().await;
        let list = FileList::new(vec![1000, 0, 2000, 3]).unwrap();
        for cookie in [true, false] {
            for op in [Op::Send, Op::Recv, Op::Rpc, Op::File] {
                let mut o = opts(addr, op);
                o.cookie = cookie;
                if op == Op::Rpc {
                    o.sendbytes = 100;
                    o.readbytes = 1000;
                    o.threads = 4;
                    o.times = 25;
                }
                if op == Op::File {
                    o.file = Some(("list".into(), list.clone()));
                }
                let r = client::run(&o, &Shutdown::new()).await.unwrap();
                assert_eq!(r.calls, u64::from(o.threads * o.times), "{op} {cookie}");
                assert_eq!(r.warnings, 0);
                let per = match op {
                    Op::Send | Op::Recv => 300_000,
                    Op::Rpc => 1100,
                    Op::File => 4 * 3003,
                };
                assert_eq!(r.total_bytes(), per * r.calls, "{op}");
                assert_eq!(r.cookie, cookie && op != Op::File);
                assert_eq!(r.latency.count(), r.calls);
            }
        }
        let g = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        // 2 × (3 SEND + 3 RECV + 100 RPC + 3 FILE)
        assert_eq!(g(&stats.accepted), 218);
        assert_eq!(
            g(&stats.bad_length) + g(&stats.bad_op) + g(&stats.bad_version),
            0
        );
        assert_eq!(g(&stats.bytes_in), 2 * (3 * 300_000 + 100 * 100 + 3 * 4000));
        assert_eq!(
            g(&stats.bytes_out),
            2 * (3 * 300_000 + 100 * 1000 + 3 * 4 * 2003)
        );
        // Calls complete once the client's ACK arrives; give the last ones a moment.
        let t0 = Instant::now();
        while g(&stats.succeeded) < 218 && t0.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(g(&stats.succeeded), 218, "{}", stats.summary());
        stop.trigger(Reason::Terminate);
    })
    .await;
}

/// One raw call with `request` as the whole request; the reply or the abort code.
async fn raw_call(
    ep: &RxEndpoint,
    addr: std::net::SocketAddr,
    request: Vec<u8>,
) -> Result<Bytes, i32> {
    let call = ep.call(addr, SVC).open().await.unwrap();
    if let Err(e) = call.send_last(Bytes::from(request)).await {
        return Err(e.abort_code().map_or(0, |c| c.0));
    }
    match call.recv_to_end(1 << 24).await {
        Ok(b) => Ok(b),
        Err(e) => Err(e.abort_code().map_or(0, |c| c.0)),
    }
}

fn words(w: &[u32]) -> Vec<u8> {
    w.iter().flat_map(|v| v.to_be_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_aborts_like_linux() {
    within(60, "aborts", async {
        let (addr, stats, stop) = start_server().await;
        let ep = RxEndpoint::bind(loopback()).await.unwrap();
        let ok_send = |n: u32, extra: &[u8]| {
            let mut v = words(&[3, 0, 65536, 65536, n]);
            v.resize(v.len() + n as usize, 0);
            v.extend_from_slice(extra);
            v
        };
        // Well-formed, with and without the cookie: the reply is the cookie.
        assert_eq!(
            raw_call(&ep, addr, ok_send(100, &[])).await.unwrap(),
            &COOKIE_BYTES[..]
        );
        assert_eq!(
            raw_call(&ep, addr, ok_send(100, &COOKIE_BYTES))
                .await
                .unwrap(),
            &COOKIE_BYTES[..]
        );
        let recv = raw_call(
            &ep,
            addr,
            [words(&[3, 1, 0, 0, 5000]), COOKIE_BYTES.to_vec()].concat(),
        )
        .await
        .unwrap();
        assert_eq!(recv.len(), 5004);
        assert_eq!(&recv[5000..], &COOKIE_BYTES[..]);
        let cases: Vec<(&str, Vec<u8>, i32)> = vec![
            ("version 4", words(&[4, 0, 0, 0, 0]), -6),
            ("version 2, RPC", words(&[2, 3, 0, 0, 0, 0]), -6),
            ("op 2", words(&[3, 2, 0, 0, 0]), -455),
            ("op 100", words(&[3, 100, 0, 0, 0]), -455),
            ("10-byte prefix", vec![0, 0, 0, 3, 0, 0, 0, 0, 0, 0], -453),
            ("empty request", vec![], -453),
            ("SEND without its size", words(&[3, 0, 0, 0]), -453),
            ("RPC with one size", words(&[3, 3, 0, 0, 5]), -453),
            (
                "SEND 50 of 100 bytes",
                ok_send(100, &[])[..20 + 50].to_vec(),
                -453,
            ),
            (
                "SEND 100 + 5 bytes",
                ok_send(100, &[0, 0, 0x47, 0x11, 0]),
                -453,
            ),
            (
                "SEND 100 + 4 wrong bytes",
                ok_send(100, &[1, 2, 3, 4]),
                -453,
            ),
            ("SEND 100 + 3 bytes", ok_send(100, &[0, 0x47, 0x11]), -453),
            ("RECV + 8 bytes", words(&[3, 1, 0, 0, 10, 0, 0x4711]), -453),
            ("FILE list cut short", words(&[3, 4, 0, 0, 3, 1]), -453),
            (
                "FILE list too long",
                words(&[3, 4, 0, 0, 0x7fff_ffff]),
                -453,
            ),
        ];
        for (what, req, code) in cases {
            assert_eq!(raw_call(&ep, addr, req).await, Err(code), "{what}");
        }
        let g = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        assert_eq!(g(&stats.bad_version), 2);
        assert_eq!(g(&stats.bad_op), 2);
        assert_eq!(g(&stats.bad_length), 11);
        // A FILE request the OpenAFS way: the server sends phase 1, skips phase 2.
        let file = [words(&[3, 4, 0, 0, 4, 2, 0, 3, 0]), vec![0; 8]].concat();
        assert_eq!(raw_call(&ep, addr, file).await.unwrap().len(), 12);
        stop.trigger(Reason::Terminate);
    })
    .await;
}

/// A server that answers every call with `reply` (or aborts with `abort`).
async fn fake_server(
    reply: Option<Vec<u8>>,
    abort: Option<i32>,
) -> (std::net::SocketAddr, RxEndpoint) {
    let ep = RxEndpoint::bind(loopback()).await.unwrap();
    let listener = ep.listen(&[SVC], 8).await.unwrap();
    tokio::spawn(async move {
        while let Ok(call) = listener.accept().await {
            let call = call.into_call();
            let reply = reply.clone();
            tokio::spawn(async move {
                let _ = call.recv_to_end(1 << 24).await;
                if let Some(code) = abort {
                    let _ = call.abort(AbortCode(code)).await;
                } else if let Some(r) = reply {
                    let _ = call.send_last(Bytes::from(r)).await;
                    let _ = call.completion().await;
                }
            });
        }
    });
    (ep.local_addr(), ep)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_checks_replies() {
    within(60, "client checks", async {
        // Aborted calls fail the run with the code.
        let (addr, _ep1) = fake_server(None, Some(1234)).await;
        let e = client::run(&opts(addr, Op::Rpc), &Shutdown::new())
            .await
            .unwrap_err();
        assert_eq!(e.abort_code(), Some(AbortCode(1234)), "{e}");
        // A wrong cookie is a warning (as OpenAFS), counted per call.
        let (addr, _ep2) = fake_server(Some(vec![0, 0, 0x47, 0x12]), None).await;
        let r = client::run(&opts(addr, Op::Send), &Shutdown::new())
            .await
            .unwrap();
        assert_eq!((r.calls, r.warnings), (3, 3));
        // A short reply is an error.
        let (addr, _ep3) = fake_server(Some(vec![0, 0x47, 0x11]), None).await;
        let e = client::run(&opts(addr, Op::Send), &Shutdown::new())
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                ClientError::Call {
                    err: CallFailure::ShortReply { got: 3, want: 4 },
                    ..
                }
            ),
            "{e}"
        );
        // The binary: exit status 1 and the abort code in the message.
        let (addr, _ep4) = fake_server(None, Some(-455)).await;
        let out = run_async(
            RXPERF.into(),
            vec![
                "client".into(),
                "-c".into(),
                "rpc".into(),
                "-p".into(),
                addr.port().to_string(),
                "-T".into(),
                "1".into(),
            ],
            Duration::from_secs(20),
        )
        .await;
        assert_eq!(out.status.code(), Some(1), "{out:#?}");
        assert!(out.stderr.contains("-455"), "{out:#?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_reports_like_openafs() {
    within(60, "binary reports", async {
        let (addr, _stats, stop) = start_server().await;
        let port = addr.port().to_string();
        let base = |op: &str| {
            vec![
                "client".to_string(),
                "-c".into(),
                op.into(),
                "-s".into(),
                "127.0.0.1".into(),
                "-p".into(),
                port.clone(),
            ]
        };
        let mut send = base("send");
        send.extend(["-b", "2000000", "-T", "2"].map(String::from));
        let out = run_async(RXPERF.into(), send, Duration::from_secs(30)).await;
        out.ok();
        let first = out.stdout.lines().next().unwrap();
        assert!(
            first.starts_with("SEND: threads\t1, times\t2, bytes\t2000000:\t"),
            "{first:?}"
        );
        assert!(
            first.ends_with(" Gbit/s]") || first.ends_with(" Mbit/s]"),
            "{first:?}"
        );
        assert_eq!(out.stdout.lines().count(), 1, "{out:#?}");
        let p = report_line(&out.stdout);
        assert_eq!(
            (p.op.as_str(), p.threads, p.times, p.bytes),
            ("SEND", 1, 2, 2_000_000)
        );

        let mut rpc = base("rpc");
        rpc.extend(
            [
                "-S",
                "100",
                "-R",
                "1000",
                "-T",
                "50",
                "-t",
                "4",
                "--no-cookie",
            ]
            .map(String::from),
        );
        let out = run_async(RXPERF.into(), rpc, Duration::from_secs(30)).await;
        out.ok();
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines.len(), 2, "{out:#?}");
        assert!(
            lines[0]
                .starts_with("RPC: threads\t4, times\t50, write bytes\t100, read bytes\t1000:\t"),
            "{lines:?}"
        );
        assert!(
            lines[1].starts_with("RPC latency: calls 200, "),
            "{lines:?}"
        );
        assert!(
            lines[1].contains(" p50 ") && lines[1].contains(" p99 "),
            "{lines:?}"
        );

        let mut json = base("recv");
        json.extend(["-b", "100000", "-T", "3", "--json", "-D"].map(String::from));
        let out = run_async(RXPERF.into(), json, Duration::from_secs(30)).await;
        out.ok();
        let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
        assert_eq!(v["op"], "RECV");
        assert_eq!(v["calls"], 3);
        assert_eq!(v["total_bytes"], 300_000);
        assert_eq!(v["cookie"], true);
        assert!(v["latency_us"]["p50"].as_f64().unwrap() > 0.0);
        assert!(v["stats"]["datagrams_in"].as_u64().unwrap() > 0);
        assert!(report_line(v["report"].as_str().unwrap()).op == "RECV");

        // FILE with a list file.
        let list = std::env::temp_dir().join(format!("rxperf-list-{}", std::process::id()));
        std::fs::write(&list, "1000\n\n0x100\n").unwrap();
        let mut file = base("file");
        file.extend([
            "-f".to_string(),
            list.display().to_string(),
            "-T".into(),
            "2".into(),
        ]);
        let out = run_async(RXPERF.into(), file, Duration::from_secs(30)).await;
        let _ = std::fs::remove_file(&list);
        out.ok();
        let p = report_line(&out.stdout);
        assert_eq!(p.op, "FILE");
        assert_eq!(p.bytes, 4 * (1000 + 256));

        // Usage errors: status 1, OpenAFS's messages.
        let out = run_async(
            RXPERF.into(),
            vec!["client".into()],
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(out.status.code(), Some(1));
        assert!(
            out.stderr.contains("no command given to the client"),
            "{out:#?}"
        );
        stop.trigger(Reason::Terminate);
    })
    .await;
}

/// Wait until `f` holds (at most `limit`).
async fn until(limit: Duration, what: &str, f: impl Fn() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < limit, "{what}: not after {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The library: tripping the latch mid-call aborts the call on the wire (the server hears
/// RX_CALL_DEAD at once, not after its 20 s idle timeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_aborts_calls_in_flight() {
    within(60, "shutdown", async {
        let (addr, stats, stop) = start_server().await;
        let mut o = opts(addr, Op::Send);
        o.bytes = 2_000_000_000;
        o.times = 1;
        o.threads = 2;
        let latch = Shutdown::new();
        let run = {
            let latch = latch.clone();
            tokio::spawn(async move { client::run(&o, &latch).await })
        };
        until(Duration::from_secs(20), "both calls under way", || {
            stats.bytes_in.load(Ordering::Relaxed) > 1_000_000
                && stats.accepted.load(Ordering::Relaxed) == 2
        })
        .await;
        let t0 = Instant::now();
        latch.trigger(Reason::Interrupt);
        let r = run.await.unwrap();
        assert!(matches!(r, Err(ClientError::Interrupted)), "{r:?}");
        until(Duration::from_secs(5), "server saw the aborts", || {
            stats.remote_aborts.load(Ordering::Relaxed) == 2
        })
        .await;
        assert_eq!(stats.last_remote_abort.load(Ordering::Relaxed), -1);
        assert!(t0.elapsed() < Duration::from_secs(5));
        stop.trigger(Reason::Terminate);
    })
    .await;
}

/// The client binary: SIGINT aborts its calls on the wire and it exits with 130.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_client_binary() {
    within(60, "ctrl-c client", async {
        let (addr, stats, stop) = start_server().await;
        let child = spawn(
            RXPERF,
            &[
                "client",
                "-c",
                "send",
                "-b",
                "2000000000",
                "-T",
                "1",
                "-t",
                "3",
                "-p",
                &addr.port().to_string(),
            ],
        );
        until(Duration::from_secs(20), "three calls under way", || {
            stats.bytes_in.load(Ordering::Relaxed) > 1_000_000
                && stats.accepted.load(Ordering::Relaxed) == 3
        })
        .await;
        child.signal("INT");
        let out = tokio::task::spawn_blocking(move || child.wait(Duration::from_secs(5)))
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(EXIT_INTERRUPTED), "{out:#?}");
        assert!(out.stderr.contains("interrupted"), "{out:#?}");
        assert_eq!(out.stdout, "", "no report after an interrupt");
        until(Duration::from_secs(5), "server saw the aborts", || {
            stats.remote_aborts.load(Ordering::Relaxed) == 3
        })
        .await;
        assert_eq!(stats.last_remote_abort.load(Ordering::Relaxed), -1);
        stop.trigger(Reason::Terminate);
    })
    .await;
}

/// The server binary: SIGINT aborts the calls it is serving and it exits with 130.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_server_binary() {
    within(60, "ctrl-c server", async {
        let (server, addr) = util::start_our_server_binary(&[]);
        let ep = RxEndpoint::bind(loopback()).await.unwrap();
        // A SEND of 10 MB of which only the first 10 000 bytes come (full packets; a partial
        // one would be held back): the server is mid-call.
        let call = ep.call(addr, SVC).open().await.unwrap();
        let mut req = words(&[3, 0, 65536, 65536, 10_000_000]);
        req.resize(req.len() + 10_000, 0);
        call.send(Bytes::from(req)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let t0 = Instant::now();
        server.signal("INT");
        let c = tokio::time::timeout(Duration::from_secs(5), call.completion()).await;
        if c.is_err() {
            let out = tokio::task::spawn_blocking(move || server.wait(Duration::from_secs(5)))
                .await
                .unwrap();
            panic!("no abort from the server after 5 s: {out:#?}");
        }
        assert_eq!(c.unwrap(), Completion::RemoteAbort(AbortCode::RX_CALL_DEAD));
        assert!(t0.elapsed() < Duration::from_secs(5));
        let out = tokio::task::spawn_blocking(move || server.wait(Duration::from_secs(5)))
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(EXIT_INTERRUPTED), "{out:#?}");
    })
    .await;
}

/// `rxperf server --security ... --require-security` and `rxperf client --security ...` as
/// binaries: rxkad at each level and rxgk move data; rxnull, a wrong key and a level below the
/// server's minimum are refused with the right codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secured_binaries() {
    within(120, "secured rxperf binaries", async {
        let port = {
            let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            s.local_addr().unwrap().port().to_string()
        };
        let gk = format!("18:1:{}", "42".repeat(32));
        for (server_sec, key_args, client_runs) in [
            (
                "rxkad:auth",
                vec!["--rxkad-key", "0123456789abcdef"],
                vec![
                    ("rxkad:auth", None),
                    ("rxkad:crypt", None),
                    ("rxkad:clear", Some("19270402")),
                    ("none", Some("-2")),
                ],
            ),
            (
                "rxgk:crypt",
                vec!["--rxgk-key", gk.as_str()],
                vec![
                    ("rxgk:crypt", None),
                    ("rxgk:auth", Some("1233242886")),
                    ("none", Some("-2")),
                ],
            ),
        ] {
            let mut args = vec![
                "server",
                "-p",
                &port,
                "--bind",
                "127.0.0.1",
                "--security",
                server_sec,
                "--require-security",
            ];
            args.extend(key_args.iter().copied());
            let server = spawn(RXPERF, &args);
            tokio::time::sleep(Duration::from_millis(300)).await;
            for (sec, refusal) in client_runs {
                let mut a: Vec<String> = [
                    "client",
                    "-c",
                    "rpc",
                    "-s",
                    "127.0.0.1",
                    "-p",
                    &port,
                    "-S",
                    "50000",
                    "-R",
                    "50000",
                    "-T",
                    "3",
                    "--no-progress",
                    "--security",
                    sec,
                ]
                .map(String::from)
                .to_vec();
                a.extend(key_args.iter().map(|s| s.to_string()));
                let out = run_async(RXPERF.into(), a, Duration::from_secs(30)).await;
                match refusal {
                    None => {
                        out.ok();
                        assert!(
                            out.stdout.starts_with("RPC: threads\t1, times\t3"),
                            "{sec}: {out:#?}"
                        );
                    }
                    Some(code) => {
                        assert_eq!(
                            out.status.code(),
                            Some(1),
                            "{sec} must be refused: {out:#?}"
                        );
                        assert!(
                            out.stderr.contains(code),
                            "{sec}: expected {code}: {out:#?}"
                        );
                    }
                }
            }
            drop(server);
        }
    })
    .await;
}
