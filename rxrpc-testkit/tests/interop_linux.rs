//! Interop with the Linux kernel's AF_RXRPC, both directions.
//!
//! * Our client (`rxrpc::RxEndpoint`, rxnull) against the guest's `krxperf` (rxperf protocol,
//!   service 147; every Rx packet on its side is made by the kernel): SEND, RECV and RPC with
//!   2 MB each way, ECHO (op 100) of ~100 KB checked byte for byte, concurrent calls, and the
//!   aborts krxperf is documented to send (bad version -6, unknown op -455, short request
//!   -453).
//! * The guest kernel's client (`krxcall`, run at boot by `boot.sh --call`) against our echo
//!   server on the host: the boot-time call's `RXVM-CALL` line in the guest console must show
//!   the echoed reply, and our echo server's log the call.
//!
//! Request format (`shared/peers/linux-kernel/krxperf.c`, `reference-openafs-rx.md` §2.2): 16
//! bytes `{version 3, op, rsize, wsize}`, the sizes, the data; the reply ends with the cookie
//! `00 00 47 11`. Nothing here is timed: the guest runs under TCG emulation, so limits are only
//! generous hang guards.
//!
//! Without a guest these tests print `SKIPPED:` and pass, except under CI (`CI=true`) or
//! `RXRPC_REQUIRE_PEERS=1`, where they fail.

mod common;

use std::net::SocketAddr;

use bytes::Bytes;
use common::{call, call_abort, hex, loopback, within};
use rxrpc::{AbortCode, RxEndpoint, ServiceId};
use rxrpc_testkit::LinuxGuest;

const RX_PERF_VERSION: u32 = 3;
const OP_SEND: u32 = 0;
const OP_RECV: u32 = 1;
const OP_RPC: u32 = 3;
const OP_ECHO: u32 = 100;
const COOKIE: [u8; 4] = [0x00, 0x00, 0x47, 0x11];
/// rxperf's default read/write chunk sizes (only advisory for krxperf).
const CHUNK: u32 = 65536;
const TWO_MB: usize = 2 * 1024 * 1024;

fn prefix(version: u32, op: u32) -> Vec<u8> {
    let mut v = Vec::new();
    for w in [version, op, CHUNK, CHUNK] {
        v.extend_from_slice(&w.to_be_bytes());
    }
    v
}

/// Recognisable, non-zero payload (krxperf only counts SEND/RPC data; ECHO returns it).
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 13) as u8)
        .collect()
}

fn send_request(data: &[u8]) -> Bytes {
    let mut v = prefix(RX_PERF_VERSION, OP_SEND);
    v.extend_from_slice(&(data.len() as u32).to_be_bytes());
    v.extend_from_slice(data);
    Bytes::from(v)
}

fn recv_request(reply_len: u32) -> Bytes {
    let mut v = prefix(RX_PERF_VERSION, OP_RECV);
    v.extend_from_slice(&reply_len.to_be_bytes());
    Bytes::from(v)
}

fn rpc_request(data: &[u8], reply_len: u32, cookie: bool) -> Bytes {
    let mut v = prefix(RX_PERF_VERSION, OP_RPC);
    v.extend_from_slice(&(data.len() as u32).to_be_bytes());
    v.extend_from_slice(&reply_len.to_be_bytes());
    v.extend_from_slice(data);
    if cookie {
        v.extend_from_slice(&COOKIE);
    }
    Bytes::from(v)
}

fn echo_request(data: &[u8]) -> Bytes {
    let mut v = prefix(RX_PERF_VERSION, OP_ECHO);
    v.extend_from_slice(&(data.len() as u32).to_be_bytes());
    v.extend_from_slice(data);
    Bytes::from(v)
}

struct Perf {
    ep: RxEndpoint,
    addr: SocketAddr,
    service: ServiceId,
}

impl Perf {
    async fn new(guest: &LinuxGuest) -> Perf {
        Perf {
            ep: RxEndpoint::bind(loopback()).await.unwrap(),
            addr: guest.rxperf(),
            service: ServiceId(guest.rxperf_service()),
        }
    }

    /// A successful rxperf call; returns the reply after checking and removing the cookie.
    async fn ok(&self, req: Bytes, what: &str) -> Bytes {
        let reply = call(&self.ep, self.addr, self.service, req, 8 << 20)
            .await
            .unwrap_or_else(|e| panic!("{what} to krxperf at {}: {e}", self.addr));
        assert!(
            reply.len() >= 4 && reply[reply.len() - 4..] == COOKIE,
            "{what}: reply ({} bytes) does not end with the cookie 00 00 47 11: ...{:02x?}",
            reply.len(),
            &reply[reply.len().saturating_sub(8)..]
        );
        reply.slice(..reply.len() - 4)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn krxperf_rpc_small() {
    let Some(guest) = LinuxGuest::get() else {
        return;
    };
    within(120, "krxperf small RPCs", async {
        let p = Perf::new(guest).await;
        // Single-packet request and reply, then a few sizes around the packet boundary
        // (1412 bytes of data per full packet), with and without the optional cookie.
        for (req, reply, cookie) in [
            (0usize, 0u32, false),
            (0, 100, false),
            (100, 0, true),
            (1380, 1412, false),
            (1412, 1413, true),
            (2824, 2825, false),
            (5000, 20000, true),
        ] {
            let data = pattern(req, reply);
            let got = p.ok(rpc_request(&data, reply, cookie), "RPC").await;
            assert_eq!(got.len(), reply as usize, "RPC {req}/{reply}");
            assert!(got.iter().all(|&b| b == 0), "rxperf reply data is zeros");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn krxperf_send_2mb() {
    let Some(guest) = LinuxGuest::get() else {
        return;
    };
    within(300, "krxperf SEND 2 MB", async {
        let p = Perf::new(guest).await;
        let data = pattern(TWO_MB, 1);
        let got = p.ok(send_request(&data), "SEND 2 MB").await;
        assert!(
            got.is_empty(),
            "SEND's reply is only the cookie: {} bytes",
            got.len()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn krxperf_recv_2mb() {
    let Some(guest) = LinuxGuest::get() else {
        return;
    };
    within(300, "krxperf RECV 2 MB", async {
        let p = Perf::new(guest).await;
        let got = p.ok(recv_request(TWO_MB as u32), "RECV 2 MB").await;
        assert_eq!(got.len(), TWO_MB);
        assert!(got.iter().all(|&b| b == 0));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn krxperf_rpc_2mb_each_way() {
    let Some(guest) = LinuxGuest::get() else {
        return;
    };
    within(600, "krxperf RPC 2 MB / 2 MB", async {
        let p = Perf::new(guest).await;
        let data = pattern(TWO_MB, 2);
        let got = p
            .ok(rpc_request(&data, TWO_MB as u32 + 3, false), "RPC 2 MB")
            .await;
        assert_eq!(got.len(), TWO_MB + 3);
        assert!(got.iter().all(|&b| b == 0));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn krxperf_echo_100k_byte_for_byte() {
    let Some(guest) = LinuxGuest::get() else {
        return;
    };
    within(180, "krxperf ECHO", async {
        let p = Perf::new(guest).await;
        for len in [1usize, 1412, 100_003] {
            let data = pattern(len, len as u32);
            let got = p.ok(echo_request(&data), "ECHO").await;
            assert_eq!(got.len(), len);
            if let Some(i) = (0..len).find(|&i| got[i] != data[i]) {
                panic!(
                    "ECHO {len}: first difference at byte {i}: sent {:02x?}, got {:02x?}",
                    &data[i..(i + 16).min(len)],
                    &got[i..(i + 16).min(len)]
                );
            }
        }
        // Streamed in pieces (several sends on one call) rather than in one buffer.
        let data = pattern(100_000, 9);
        let call = p.ep.call(p.addr, p.service).open().await.unwrap();
        let req = echo_request(&data);
        for chunk in req.chunks(7_777) {
            call.send_all(chunk).await.unwrap();
        }
        call.finish().await.unwrap();
        let got = call.recv_to_end(1 << 20).await.unwrap();
        assert!(call.completion().await.is_success());
        assert_eq!(got.len(), data.len() + 4);
        assert!(got[..data.len()] == data[..], "streamed ECHO differs");
        assert_eq!(got[data.len()..], COOKIE);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn krxperf_concurrent_calls() {
    let Some(guest) = LinuxGuest::get() else {
        return;
    };
    within(300, "krxperf concurrent calls", async {
        let p = std::sync::Arc::new(Perf::new(guest).await);
        let mut tasks = Vec::new();
        for i in 0..12u32 {
            let p = std::sync::Arc::clone(&p);
            tasks.push(tokio::spawn(async move {
                let data = pattern(3000 + i as usize * 1000, i);
                let got = p.ok(echo_request(&data), "concurrent ECHO").await;
                assert!(got == data, "concurrent ECHO {i} differs");
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn krxperf_aborts() {
    let Some(guest) = LinuxGuest::get() else {
        return;
    };
    within(120, "krxperf aborts", async {
        let p = Perf::new(guest).await;
        let (ep, addr, svc) = (&p.ep, p.addr, p.service);
        // version 2 instead of 3: RX_USER_ABORT.
        let mut bad_version = prefix(2, OP_RPC);
        bad_version.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 8]);
        call_abort(
            ep,
            addr,
            svc,
            Bytes::from(bad_version),
            AbortCode::RX_USER_ABORT.0,
            "rxperf version 2",
        )
        .await;
        // op 7 does not exist: RXGEN_OPCODE.
        call_abort(
            ep,
            addr,
            svc,
            Bytes::from(prefix(RX_PERF_VERSION, 7)),
            AbortCode::RXGEN_OPCODE.0,
            "rxperf op 7",
        )
        .await;
        // RPC needs 24 header bytes; 20 are short: RXGEN_SS_UNMARSHAL.
        let mut short = prefix(RX_PERF_VERSION, OP_RPC);
        short.extend_from_slice(&[0, 0, 0, 0]);
        call_abort(
            ep,
            addr,
            svc,
            Bytes::from(short),
            AbortCode::RXGEN_SS_UNMARSHAL.0,
            "short RPC request",
        )
        .await;
        // Fewer request bytes than announced: RXGEN_SS_UNMARSHAL too.
        let mut v = prefix(RX_PERF_VERSION, OP_SEND);
        v.extend_from_slice(&5000u32.to_be_bytes());
        v.extend_from_slice(&pattern(4000, 0));
        call_abort(
            ep,
            addr,
            svc,
            Bytes::from(v),
            AbortCode::RXGEN_SS_UNMARSHAL.0,
            "SEND 4000 of 5000 bytes",
        )
        .await;
        // A service the guest does not offer: the kernel itself aborts, RX_INVALID_OPERATION.
        call_abort(
            ep,
            addr,
            ServiceId(4321),
            recv_request(10),
            AbortCode::RX_INVALID_OPERATION.0,
            "unknown service",
        )
        .await;
        // And after all that, a normal call on the same endpoint still works.
        let got = p.ok(recv_request(3000), "RECV after aborts").await;
        assert_eq!(got.len(), 3000);
    })
    .await;
}

// --- the guest kernel as client: krxcall at boot -> our echo server -------------------------

/// What `scripts/peers.sh` arranged for the guest's boot-time call to our echo server.
struct BootEcho {
    console: std::path::PathBuf,
    port: u16,
    service: u16,
    request_hex: String,
    server_log: Option<std::path::PathBuf>,
}

/// Look a variable up in the process environment, then in the peers' env file (as the
/// testkit does).
fn peers_var(name: &str) -> Option<String> {
    if let Ok(v) = std::env::var(name)
        && !v.is_empty()
    {
        return Some(v);
    }
    let file = std::env::var("RXRPC_PEERS_ENV").unwrap_or_else(|_| "/tmp/rxrpc-peers.env".into());
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .find_map(|l| {
            let l = l.trim().strip_prefix("export ").unwrap_or(l.trim());
            let (k, v) = l.split_once('=')?;
            (k == name).then(|| v.trim_matches(['\'', '"']).to_string())
        })
        .filter(|v| !v.is_empty())
}

fn boot_echo(guest: &LinuxGuest) -> Result<BootEcho, String> {
    let console = guest
        .console_log()
        .ok_or("the guest's run directory (RXRPC_LINUX_RUN_DIR) is not known")?;
    let port = peers_var("RXRPC_ECHO_PORT")
        .ok_or("RXRPC_ECHO_PORT is not set: the guest was booted without the krxcall echo call")?
        .parse()
        .map_err(|e| format!("RXRPC_ECHO_PORT: {e}"))?;
    let service = peers_var("RXRPC_ECHO_SERVICE")
        .ok_or("RXRPC_ECHO_SERVICE is not set")?
        .parse()
        .map_err(|e| format!("RXRPC_ECHO_SERVICE: {e}"))?;
    let request_hex =
        peers_var("RXRPC_ECHO_CALL_REQUEST").ok_or("RXRPC_ECHO_CALL_REQUEST is not set")?;
    Ok(BootEcho {
        console,
        port,
        service,
        request_hex,
        server_log: peers_var("RXRPC_ECHO_LOG").map(Into::into),
    })
}

/// The request bytes of a krxcall `REQHEX[+N]` spec.
fn krxcall_request(spec: &str) -> Vec<u8> {
    let (h, zeros) = match spec.split_once('+') {
        Some((h, n)) => (h, n.parse::<usize>().unwrap()),
        None => (spec, 0),
    };
    let mut v: Vec<u8> = (0..h.len() / 2)
        .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    v.resize(v.len() + zeros, 0);
    v
}

/// The guest kernel's AF_RXRPC client called our echo server at boot (krxcall, rxnull, from
/// 10.0.2.2 = the host's loopback through slirp). Its result line in the console must show
/// the whole request echoed back, and our server must have logged a successful call.
#[test]
fn krxcall_at_boot_got_echo_from_our_server() {
    let Some(guest) = LinuxGuest::get() else {
        return;
    };
    let echo = match boot_echo(guest) {
        Ok(e) => e,
        Err(why) => {
            if rxrpc_testkit::peers_required() {
                panic!("the guest's boot-time call to our echo server is not set up: {why}");
            }
            eprintln!("SKIPPED: krxcall boot call not configured ({why}); run scripts/test-all");
            return;
        }
    };
    let request = krxcall_request(&echo.request_hex);
    let console = std::fs::read_to_string(&echo.console).unwrap_or_else(|e| {
        panic!("{}: {e}", echo.console.display());
    });
    let console = console.replace('\r', "");
    let prefix = format!("port={} service={} ", echo.port, echo.service);
    let lines: Vec<&str> = console
        .lines()
        .filter(|l| l.starts_with("RXVM-CALL ") && l.contains(&prefix))
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one RXVM-CALL line for {prefix:?} in {}:\n{}",
        echo.console.display(),
        console
            .lines()
            .filter(|l| l.starts_with("RXVM") || l.starts_with("rxvm"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let line = lines[0];
    // "...: reply N bytes: 00112233 44556677 ..." (the first 64 bytes in groups of 4).
    let (_, result) = line.split_once(": ").unwrap_or((line, ""));
    let want_len = format!("reply {} bytes:", request.len());
    assert!(
        result.starts_with(&want_len),
        "the guest's call to our echo server did not get its request back: {line}"
    );
    let shown: String = result[want_len.len()..].split_whitespace().collect();
    let head = &request[..request.len().min(64)];
    assert_eq!(shown, hex(head), "echoed bytes differ: {line}");

    if let Some(log) = &echo.server_log {
        let text =
            std::fs::read_to_string(log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let want = format!("echoed {} bytes", request.len());
        assert!(
            text.lines()
                .any(|l| l.contains(&want) && l.ends_with(": succeeded")),
            "our echo server's log {} shows no successful {}-byte call:\n{text}",
            log.display(),
            request.len()
        );
    }
}
