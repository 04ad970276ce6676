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
use common::{Xdr, XdrReader, call, call_abort, call_ok, hex, loopback, within};
use rxrpc::{AbortCode, RxEndpoint, ServiceId};
use rxrpc_testkit::{LinuxGuest, OpenAfsTool, peer_var};

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

/// 100 sequential calls on one endpoint: the channels of one connection are reused with
/// rising call numbers (the kernel checks them), each call's final ACK either sent or implied
/// by the next call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn krxperf_many_sequential_calls() {
    let Some(guest) = LinuxGuest::get() else {
        return;
    };
    within(300, "krxperf sequential calls", async {
        let p = Perf::new(guest).await;
        for i in 0..100u32 {
            let data = pattern((i as usize * 37) % 3000, i);
            let got = p.ok(echo_request(&data), "sequential ECHO").await;
            assert!(got == data, "call {i}: echo differs");
        }
    })
    .await;
}

/// More calls at once than one bundle has channels (4 connections x 4 channels): the rest
/// must wait for a free channel, and all complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn krxperf_more_calls_than_channels() {
    let Some(guest) = LinuxGuest::get() else {
        return;
    };
    within(300, "krxperf 40 concurrent calls", async {
        let p = std::sync::Arc::new(Perf::new(guest).await);
        let mut tasks = Vec::new();
        for i in 0..40u32 {
            let p = std::sync::Arc::clone(&p);
            tasks.push(tokio::spawn(async move {
                let got = p.ok(recv_request(20_000 + i), "RECV").await;
                assert_eq!(got.len(), 20_000 + i as usize);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    })
    .await;
}

/// Our client gives up on a call in the middle of a 2 MB reply (abort, then a dropped call
/// handle): the kernel must stop sending, and the endpoint must go on working with the same
/// peer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn krxperf_client_aborts_mid_reply() {
    let Some(guest) = LinuxGuest::get() else {
        return;
    };
    within(180, "client abort mid-reply", async {
        let p = Perf::new(guest).await;
        // Explicit abort after the first piece of the reply.
        let call = p.ep.call(p.addr, p.service).open().await.unwrap();
        call.send_last(recv_request(TWO_MB as u32)).await.unwrap();
        let first = call.recv().await.unwrap().expect("some reply data");
        assert!(!first.is_empty());
        call.abort(AbortCode::RX_USER_ABORT).await.unwrap();
        match call.completion().await {
            rxrpc::Completion::LocalAbort { code, .. } => {
                assert_eq!(code, AbortCode::RX_USER_ABORT)
            }
            other => panic!("after abort: {other}"),
        }
        drop(call);
        // Dropping an unfinished call aborts it (RX_CALL_DEAD).
        let call = p.ep.call(p.addr, p.service).open().await.unwrap();
        call.send_last(recv_request(TWO_MB as u32)).await.unwrap();
        let _ = call.recv().await.unwrap();
        drop(call);
        // The endpoint and its connection still work.
        for _ in 0..3 {
            let got = p.ok(recv_request(100_000), "RECV after aborts").await;
            assert_eq!(got.len(), 100_000);
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
        // And after all that, a normal call on the same endpoint still works.
        let got = p.ok(recv_request(3000), "RECV after aborts").await;
        assert_eq!(got.len(), 3000);
    })
    .await;
}

/// A service the guest does not offer: the kernel itself aborts with RX_INVALID_OPERATION.
/// Asked from a fresh endpoint (no connection to the guest yet).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_service_is_refused_by_the_kernel() {
    let Some(guest) = LinuxGuest::get() else {
        return;
    };
    within(60, "unknown service", async {
        let ep = RxEndpoint::bind(loopback()).await.unwrap();
        call_abort(
            &ep,
            guest.rxperf(),
            ServiceId(4321),
            recv_request(10),
            AbortCode::RX_INVALID_OPERATION.0,
            "service 4321 on a new endpoint",
        )
        .await;
    })
    .await;
}

/// A call to another service of the same peer must not ride on the connection of the first
/// service: a connection's service ID is fixed (the kernel routes every call of a connection
/// to the service it was created for). After a krxperf call (service 147), a call to
/// service 4321 on the same endpoint must still be refused with RX_INVALID_OPERATION, not
/// answered by krxperf.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_per_service() {
    let Some(guest) = LinuxGuest::get() else {
        return;
    };
    within(60, "second service on one endpoint", async {
        let p = Perf::new(guest).await;
        let got = p.ok(recv_request(10), "RECV 10").await;
        assert_eq!(got.len(), 10);
        call_abort(
            &p.ep,
            p.addr,
            ServiceId(4321),
            recv_request(10),
            AbortCode::RX_INVALID_OPERATION.0,
            "service 4321 after a service-147 call on the same endpoint",
        )
        .await;
    })
    .await;
}

// --- the guest's kafs cache manager (RXAFSCB, service 1) -----------------------------------

const RXAFSCB_PROBE: u32 = 206;
const RXAFSCB_TELLMEABOUTYOURSELF: u32 = 65538;
const AFS_MAX_INTERFACE_ADDR: usize = 32;

/// An `afsUUID` as XDR carries it (src/fsint/common.xg): time_low, time_mid,
/// time_hi_and_version, clock_seq_hi_and_reserved, clock_seq_low, node[6], every member
/// widened to 4 bytes; formatted as `cmdebug` prints it.
fn decode_afs_uuid(r: &mut XdrReader<'_>) -> String {
    let time_low = r.u32();
    let time_mid = r.u32();
    let time_hi = r.u32();
    let seq_hi = r.u32();
    let seq_low = r.u32();
    let node: Vec<u32> = (0..6).map(|_| r.u32()).collect();
    format!(
        "{time_low:08x}-{time_mid:04x}-{time_hi:04x}-{:02x}-{:02x}-{}",
        seq_hi & 0xff,
        seq_low & 0xff,
        node.iter()
            .map(|b| format!("{:02x}", b & 0xff))
            .collect::<String>()
    )
}

/// Our client against the Linux kernel's own AFS cache-manager service (kafs, in-kernel
/// rxgen code): RXAFSCB_Probe, RXAFSCB_TellMeAboutYourself (its UUID checked against
/// OpenAFS's `cmdebug -addrs`), and an opcode kafs does not implement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafs_cache_manager_calls() {
    let Some(guest) = LinuxGuest::get() else {
        return;
    };
    let Some(cm) = guest.cache_manager() else {
        if rxrpc_testkit::peers_required() {
            panic!("the guest's kafs cache manager port (RXRPC_LINUX_CM_PORT) is not set");
        }
        eprintln!("SKIPPED: no kafs cache manager port (RXRPC_LINUX_CM_PORT)");
        return;
    };
    within(120, "kafs cache manager", async {
        let ep = RxEndpoint::bind(loopback()).await.unwrap();
        let svc = ServiceId(1);
        let reply = call_ok(
            &ep,
            cm,
            svc,
            Xdr::call(RXAFSCB_PROBE).bytes(),
            "RXAFSCB_Probe",
        )
        .await;
        assert!(reply.is_empty(), "Probe has no OUT args: {reply:02x?}");

        let reply = call_ok(
            &ep,
            cm,
            svc,
            Xdr::call(RXAFSCB_TELLMEABOUTYOURSELF).bytes(),
            "RXAFSCB_TellMeAboutYourself",
        )
        .await;
        let mut r = XdrReader::new(&reply, "TellMeAboutYourself");
        let n_if = r.i32();
        assert!(
            (0..=AFS_MAX_INTERFACE_ADDR as i32).contains(&n_if),
            "{n_if}"
        );
        let uuid = decode_afs_uuid(&mut r);
        for _ in 0..3 * AFS_MAX_INTERFACE_ADDR {
            r.u32(); // addr_in, subnetmask, mtu
        }
        let caps = r.u32_array(1024);
        r.end();

        let port = cm.port().to_string();
        let out = tokio::task::spawn_blocking(move || {
            OpenAfsTool::Cmdebug.run(
                ["127.0.0.1", "-port", &port, "-addrs"],
                std::time::Duration::from_secs(60),
            )
        })
        .await
        .unwrap()
        .expect("cmdebug");
        out.assert_success();
        assert!(
            out.stdout.contains(&format!("UUID: {uuid}")),
            "our decode of TellMeAboutYourself says UUID {uuid} (caps {caps:x?}): {out}"
        );

        call_abort(
            &ep,
            cm,
            svc,
            Xdr::call(99_999).bytes(),
            AbortCode::RXGEN_OPCODE.0,
            "RXAFSCB opcode 99999",
        )
        .await;
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

fn boot_echo(guest: &LinuxGuest) -> Result<BootEcho, String> {
    let console = guest
        .console_log()
        .ok_or("the guest's run directory (RXRPC_LINUX_RUN_DIR) is not known")?;
    let port = peer_var("RXRPC_ECHO_PORT")
        .ok_or("RXRPC_ECHO_PORT is not set: the guest was booted without the krxcall echo call")?
        .parse()
        .map_err(|e| format!("RXRPC_ECHO_PORT: {e}"))?;
    let service = peer_var("RXRPC_ECHO_SERVICE")
        .ok_or("RXRPC_ECHO_SERVICE is not set")?
        .parse()
        .map_err(|e| format!("RXRPC_ECHO_SERVICE: {e}"))?;
    let request_hex =
        peer_var("RXRPC_ECHO_CALL_REQUEST").ok_or("RXRPC_ECHO_CALL_REQUEST is not set")?;
    Ok(BootEcho {
        console,
        port,
        service,
        request_hex,
        server_log: peer_var("RXRPC_ECHO_LOG").map(Into::into),
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
        .filter(|l| l.starts_with("RXVM-CALL ") && l.contains(&prefix) && l.contains(" sec=none "))
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

/// The guest kernel's client made secured calls to our echo server at boot (rxkad at clear,
/// auth and crypt with tickets minted by OpenAFS's ticket format script; yfs-rxgk at auth and
/// encrypt with tokens from the kernel README's token script, one pushing 200 KB under a 16 KB
/// key budget so both sides rekey), and the refusals:
/// wrong key, expired ticket, a level below the strict service's minimum, rxnull to the strict
/// service. `scripts/peers.sh` lists them in `RXRPC_ECHO_SECURE_CALLS` as `N LABEL EXPECT`.
#[test]
fn krxcall_secured_calls_at_boot() {
    let Some(guest) = LinuxGuest::get() else {
        return;
    };
    let (echo, calls) = match boot_echo(guest).and_then(|e| {
        peer_var("RXRPC_ECHO_SECURE_CALLS")
            .ok_or_else(|| "RXRPC_ECHO_SECURE_CALLS is not set".to_string())
            .map(|c| (e, c))
    }) {
        Ok(x) => x,
        Err(why) => {
            if rxrpc_testkit::peers_required() {
                panic!("the guest's secured boot-time calls are not set up: {why}");
            }
            eprintln!("SKIPPED: secured krxcall boot calls not configured ({why})");
            return;
        }
    };
    let console = std::fs::read_to_string(&echo.console)
        .unwrap_or_else(|e| panic!("{}: {e}", echo.console.display()))
        .replace('\r', "");
    let log = echo
        .server_log
        .as_ref()
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .unwrap_or_default();
    let mut failures = Vec::new();
    let mut n_calls = 0;
    for spec in calls.split(';').filter(|s| !s.is_empty()) {
        let mut it = spec.split(' ');
        let (Some(n), Some(label), Some(expect)) = (it.next(), it.next(), it.next()) else {
            panic!("bad RXRPC_ECHO_SECURE_CALLS entry {spec:?}");
        };
        n_calls += 1;
        let tag = format!("RXVM-CALL {n} ");
        let Some(line) = console.lines().find(|l| l.starts_with(&tag)) else {
            failures.push(format!("{label}: no {tag}line in the console"));
            continue;
        };
        let (_, result) = line.split_once(": ").unwrap_or((line, ""));
        let ok = match expect {
            "reply" => result.starts_with("reply "),
            "refused" => !result.starts_with("reply "),
            // The kernel client reports our connection-level abort either on the call or,
            // if it arrives while the request is still being sent, as ECONNABORTED.
            "abort:any" => {
                result.starts_with("abort ") || result.contains("Software caused connection abort")
            }
            e => match e.strip_prefix("abort:") {
                Some(code) => result == format!("abort {code}"),
                None => panic!("unknown expectation {e:?}"),
            },
        };
        eprintln!("{label:24} expected {expect:16} got {result}");
        if !ok {
            failures.push(format!("{label}: expected {expect}, got {result:?}"));
        }
    }
    assert!(n_calls >= 8, "too few secured calls listed: {calls}");
    // Our server saw the identities of the secured calls, and the application data.
    assert!(
        log.contains("[security 2 level encrypt as \"admin\"]"),
        "echo server log shows no rxkad crypt call from admin:\n{log}"
    );
    if calls.contains("rxgk-rekey") {
        assert!(
            log.contains("[security 6 level encrypt"),
            "echo server log shows no rxgk encrypt call:\n{log}"
        );
        assert!(
            log.contains("echoed 200010 bytes"),
            "echo server log shows no 200 KB rxgk rekeying call:\n{log}"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
