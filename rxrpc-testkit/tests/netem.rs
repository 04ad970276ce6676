//! Real endpoints over an impaired network (issue 4, item 8): `rxperf` servers in one network
//! namespace, clients in another, joined by a link with loss, delay, reordering or a rate
//! limit ([`rxrpc_testkit::NetPath`]: netem, or the relay backend where the kernel has no
//! netem). Transfers of 0 B, 1 B, 1412 B, 1 MiB and 20 MiB in both directions (rxperf `send`
//! = big request, `recv` = big reply), one call per process, under
//!
//! * (a) 1 % loss, 10 ms RTT: our rxperf at both ends, our client against the OpenAFS-rx C
//!   peer's server (`bench/openafs-peer`), the C client against our server, and the C peer at
//!   both ends; the 1 MiB and 20 MiB throughputs of the four pairs are printed side by side
//!   (information only, never asserted);
//! * (b) 5 % loss and 10 % reordering, 10 ms RTT;
//! * (c) a 50 Mbit/s bottleneck, 20 ms RTT;
//! * (d) 30 % loss, 10 ms RTT, the small calls (0 B, 1 B, 1412 B).
//!
//! Every call must deliver every byte — the client's report line names the op and the byte
//! count, our server logs each call's request and reply sizes and its end — or end with
//! `RX_CALL_TIMEOUT` / `RX_CALL_DEAD` where the netsim sweep
//! (`rxrpc-proto/tests/snapshots/netsim_sweep.txt`) documents a timeout for the same
//! direction, size, loss and 10 ms RTT. Nothing is asserted on time.
//!
//! Needs root and iproute2; without them the tests print `SKIPPED:` and pass, except under CI
//! (`CI=true`, `RXRPC_REQUIRE_PEERS=1`), where they fail. The rxperf binary is built by the
//! test (`cargo build -p rxrpc-cli --bin rxperf`, same profile and target dir) unless
//! `RXRPC_RXPERF` names one; the C peer by `bench/openafs-peer/build.sh` (its parts are
//! skipped loudly without libopenafs-dev, or fail under CI). The tables are also written to
//! `$CARGO_TARGET_TMPDIR/netem-results.txt`.
//!
//! ```sh
//! cargo test -p rxrpc-testkit --test netem -- --nocapture --test-threads 2
//! ```

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rxrpc_testkit::{
    Impairment, NetPath, Side, ToolOutput, netns_or_skip, peers_required, run_tool,
};

const MIB: u32 = 1 << 20;
const SIZES: [u32; 5] = [0, 1, 1412, MIB, 20 * MIB];
const SMALL: [u32; 3] = [0, 1, 1412];
const PORT: u16 = 7009;
/// Longest one call may take (20 MiB at 5 % loss takes about 35 s in the netsim sweep).
const CALL_LIMIT: Duration = Duration::from_secs(150);

// ----- binaries ---------------------------------------------------------------------------

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Our rxperf: `RXRPC_RXPERF`, or built with cargo into the target dir and profile this test
/// was built with (found from the test binary's own path, `<target>/<profile>/deps/netem-*`).
fn rxperf() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("RXRPC_RXPERF").filter(|v| !v.is_empty()) {
            return PathBuf::from(p);
        }
        let exe = std::env::current_exe().expect("current_exe");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("<target>/<profile>/deps/<test>");
        let target_dir = profile_dir.parent().expect("<target>");
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev".to_string(),
            Some(p) => p.to_string(),
        };
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let t0 = Instant::now();
        let out = Command::new(&cargo)
            .current_dir(workspace_root())
            .args([
                "build",
                "-q",
                "-p",
                "rxrpc-cli",
                "--bin",
                "rxperf",
                "--profile",
            ])
            .arg(&profile)
            .arg("--target-dir")
            .arg(target_dir)
            .stdin(Stdio::null())
            .output()
            .expect("run cargo build");
        assert!(
            out.status.success(),
            "cargo build -p rxrpc-cli --bin rxperf failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bin = profile_dir.join("rxperf");
        eprintln!(
            "netem: rxperf is {} (built in {:.1?})",
            bin.display(),
            t0.elapsed()
        );
        bin
    })
}

/// The OpenAFS-rx C peer, built once; `None` after a loud SKIPPED line (a panic under CI).
fn c_peer() -> Option<&'static Path> {
    static PEER: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let r = PEER.get_or_init(|| {
        let script = workspace_root().join("bench/openafs-peer/build.sh");
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("openafs-peer/rxperf-peer");
        let r = Command::new("bash")
            .arg(&script)
            .arg(&out)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if r.status.success() {
            Ok(out)
        } else {
            Err(format!(
                "{} failed: {}",
                script.display(),
                String::from_utf8_lossy(&r.stderr)
            ))
        }
    });
    match r {
        Ok(p) => Some(p),
        Err(why) if peers_required() => {
            panic!("the OpenAFS-rx rxperf peer is required (CI) but cannot be built: {why}")
        }
        Err(why) => {
            eprintln!("SKIPPED: OpenAFS-rx rxperf peer unavailable: {why}");
            None
        }
    }
}

// ----- the programs -------------------------------------------------------------------------

/// Which Rx implementation runs a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rx {
    /// Our rxperf (rxrpc).
    Ours,
    /// The OpenAFS-rx C peer.
    OpenAfs,
}

impl Rx {
    fn name(self) -> &'static str {
        match self {
            Rx::Ours => "rxrpc",
            Rx::OpenAfs => "OpenAFS",
        }
    }

    fn program(self, peer: Option<&Path>) -> PathBuf {
        match self {
            Rx::Ours => rxperf().to_path_buf(),
            Rx::OpenAfs => peer.expect("C peer").to_path_buf(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// rxperf `send`: the client sends the bytes (big request, sweep direction `req`).
    Send,
    /// rxperf `recv`: the server sends the bytes (big reply, sweep direction `rep`).
    Recv,
}

impl Op {
    fn arg(self) -> &'static str {
        match self {
            Op::Send => "send",
            Op::Recv => "recv",
        }
    }
    fn report(self) -> &'static str {
        match self {
            Op::Send => "SEND",
            Op::Recv => "RECV",
        }
    }
    fn sweep_dir(self) -> &'static str {
        match self {
            Op::Send => "req",
            Op::Recv => "rep",
        }
    }
}

/// A server in namespace A; killed when dropped. Its standard error is collected.
struct Server {
    rx: Rx,
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    /// Log lines already looked at.
    seen: usize,
}

impl Server {
    fn start(path: &NetPath, rx: Rx, peer: Option<&Path>) -> Server {
        let ip = path.server_ip().to_string();
        let port = PORT.to_string();
        let mut cmd = path.command(Side::A, rx.program(peer));
        match rx {
            Rx::Ours => cmd.args(["server", "--bind", &ip, "-p", &port, "-v"]),
            // -n: no reachability check (as bench/run.sh; see bench/README.md).
            Rx::OpenAfs => cmd.args(["server", "-a", &ip, "-p", &port, "-n"]),
        };
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start server");
        let log = Arc::new(Mutex::new(Vec::new()));
        if let Some(err) = child.stderr.take() {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    log.lock().unwrap().push(line);
                }
            });
        }
        let mut s = Server {
            rx,
            child,
            log,
            seen: 0,
        };
        let t0 = Instant::now();
        while !s.log.lock().unwrap().iter().any(|l| l.contains("serving")) {
            if let Ok(Some(st)) = s.child.try_wait() {
                panic!("{} server exited with {st}: {:?}", rx.name(), s.log);
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "{} server did not start: {:?}",
                rx.name(),
                s.log
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        s.seen = s.log.lock().unwrap().len();
        s
    }

    /// Our server's log line for the call that just ended (it is written when the server's
    /// call completes, which can be a little after the client's).
    fn next_call_line(&mut self) -> Option<String> {
        if self.rx != Rx::Ours {
            return None;
        }
        let t0 = Instant::now();
        loop {
            {
                let log = self.log.lock().unwrap();
                if let Some((i, l)) = log
                    .iter()
                    .enumerate()
                    .skip(self.seen)
                    .find(|(_, l)| l.starts_with("rxperf: ") && l.contains(" from "))
                {
                    self.seen = i + 1;
                    return Some(l.clone());
                }
            }
            if t0.elapsed() > Duration::from_secs(40) {
                return Some(String::from("(no log line from the server)"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run one client call in namespace B.
fn client(
    path: &NetPath,
    rx: Rx,
    peer: Option<&Path>,
    server: SocketAddr,
    op: Op,
    bytes: u32,
) -> ToolOutput {
    let mut args: Vec<String> = vec![
        "netns".into(),
        "exec".into(),
        path.namespace(Side::B).into(),
        rx.program(peer).display().to_string(),
        "client".into(),
        "-c".into(),
        op.arg().into(),
        "-s".into(),
        server.ip().to_string(),
        "-p".into(),
        server.port().to_string(),
        "-b".into(),
        bytes.to_string(),
        "-T".into(),
        "1".into(),
    ];
    match rx {
        Rx::Ours => args.extend(["--no-progress".into(), "-D".into()]),
        // The C peer binds 127.0.0.1 unless told otherwise.
        Rx::OpenAfs => args.extend(["-a".into(), path.client_ip().to_string()]),
    }
    run_tool("ip", &args, CALL_LIMIT).expect("run ip netns exec")
}

/// The report line: (op, bytes, msec).
fn parse_report(stdout: &str) -> Option<(String, u64, u64)> {
    stdout.lines().find_map(|l| {
        let (op, rest) = l.split_once(':')?;
        let bytes = rest.split("bytes\t").nth(1)?.split(':').next()?.trim();
        let msec = rest.rsplit(":\t").next()?.split("msec").next()?.trim();
        Some((op.to_string(), bytes.parse().ok()?, msec.parse().ok()?))
    })
}

/// `retrans=N` of our client's `-D` counters.
fn retransmits(stdout: &str) -> Option<u64> {
    stdout
        .split("retrans=")
        .nth(1)?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

// ----- the sweep's documented timeouts ----------------------------------------------------------

fn size_label(n: u32) -> String {
    if n >= MIB && n % MIB == 0 {
        format!("{}MB", n / MIB)
    } else {
        format!("{n}B")
    }
}

/// Whether the netsim sweep snapshot documents a timeout for this cell (direction, size, loss
/// percent, RTT label such as `10ms`).
fn sweep_documents_timeout(op: Op, size: u32, loss_pct: u32, rtt: &str) -> bool {
    static SNAPSHOT: OnceLock<String> = OnceLock::new();
    let snap = SNAPSHOT.get_or_init(|| {
        let p = workspace_root().join("rxrpc-proto/tests/snapshots/netsim_sweep.txt");
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    });
    let want = [
        op.sweep_dir().to_string(),
        size_label(size),
        format!("{loss_pct}%"),
        rtt.to_string(),
    ];
    snap.lines().filter(|l| !l.starts_with('#')).any(|l| {
        let mut cols = l.split('|');
        let key: Vec<&str> = cols.next().unwrap_or("").split_whitespace().collect();
        let ends = cols.next().unwrap_or("");
        // The key may go on with the jumbo column: a timeout in either setting counts.
        key.len() >= want.len()
            && key[..want.len()] == want
            && (ends.contains("CALL_TIMEOUT") || ends.contains("CALL_DEAD"))
    })
}

// ----- one scenario ------------------------------------------------------------------------------

/// One finished call.
#[derive(Debug, Clone)]
struct Row {
    client: Rx,
    server: Rx,
    op: Op,
    size: u32,
    /// `ok`, or the documented timeout.
    end: String,
    msec: Option<u64>,
    retrans: Option<u64>,
}

impl Row {
    fn mbit(&self) -> Option<f64> {
        let ms = self.msec?;
        (self.size >= MIB).then(|| self.size as f64 * 8.0 / (ms.max(1) as f64 * 1000.0))
    }
}

/// Run `sizes` × {send, recv} from `client_rx` in B to a `server_rx` server in A; check every
/// call. `sweep` is the (loss %, RTT) sweep cell whose documented timeouts are accepted.
fn run_pair(
    path: &NetPath,
    peer: Option<&Path>,
    client_rx: Rx,
    server_rx: Rx,
    sizes: &[u32],
    sweep: (u32, &str),
) -> Vec<Row> {
    let mut server = Server::start(path, server_rx, peer);
    let target = path.reach(PORT).expect("reach the server");
    let mut rows = Vec::new();
    for &size in sizes {
        for op in [Op::Send, Op::Recv] {
            let what = format!(
                "{} client -> {} server, {} {} B over {}",
                client_rx.name(),
                server_rx.name(),
                op.arg(),
                size,
                path.impairment()
            );
            let out = client(path, client_rx, peer, target, op, size);
            let server_line = server.next_call_line();
            let row = Row {
                client: client_rx,
                server: server_rx,
                op,
                size,
                end: String::new(),
                msec: None,
                retrans: retransmits(&out.stdout),
            };
            let row = match check_call(&out, server_line.as_deref(), op, size, sweep) {
                Ok(end) => Row {
                    end: match end {
                        CallEnd::Ok(_) => "ok",
                        CallEnd::OkServerUnacked(_) => "ok (srv: no last ACK)",
                        CallEnd::DocumentedTimeout => "documented timeout",
                    }
                    .into(),
                    msec: match end {
                        CallEnd::Ok(m) | CallEnd::OkServerUnacked(m) => Some(m),
                        CallEnd::DocumentedTimeout => None,
                    },
                    ..row
                },
                Err(why) => {
                    eprintln!(
                        "FAILED: {what}: {why}: {out}\nserver: {server_line:?}\nlink: {}",
                        path.link_stats()
                    );
                    Row {
                        end: format!("FAIL: {why}"),
                        ..row
                    }
                }
            };
            rows.push(row);
        }
    }
    drop(server);
    rows
}

/// How our server's call ends when its reply is never acknowledged.
const SERVER_NO_FINAL_ACK: &str = "aborted locally with -3 (RX_CALL_TIMEOUT): idle-timeout";

/// How a call that passed ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallEnd {
    /// Every byte went through, both ends succeeded; the client's time.
    Ok(u64),
    /// Every byte went through (the client's report and the server's sizes say so), but our
    /// server's call timed out waiting for the ACK of its reply: the client's last ACK was
    /// lost and its process had exited (one call per process), so nothing answered the
    /// retransmissions. OpenAFS's server does not wait for that ACK.
    OkServerUnacked(u64),
    /// A timeout the netsim sweep documents for this cell.
    DocumentedTimeout,
}

/// Check one call: how it ended if every byte went through or it timed out where the sweep
/// documents a timeout, else why not.
fn check_call(
    out: &ToolOutput,
    server_line: Option<&str>,
    op: Op,
    size: u32,
    sweep: (u32, &str),
) -> Result<CallEnd, String> {
    if out.success() {
        let (rop, rbytes, msec) = parse_report(&out.stdout).ok_or("no report line")?;
        if (rop.as_str(), rbytes) != (op.report(), u64::from(size)) {
            return Err(format!("report says {rop} {rbytes} B"));
        }
        if let Some(l) = server_line {
            let (req, rep) = match op {
                Op::Send => (size, 0),
                Op::Recv => (0, size),
            };
            let sizes = format!(": request {req} reply {rep}: ");
            let head = l.starts_with(&format!("rxperf: {} from ", op.report()));
            if head && l.contains(&format!("{sizes}succeeded")) {
                return Ok(CallEnd::Ok(msec));
            }
            // The server read the whole request and sent the whole reply (the client counted
            // it), but the client's last ACK was lost and the client process had already
            // exited, so nobody answered the server's retransmissions.
            if head && l.contains(&format!("{sizes}{SERVER_NO_FINAL_ACK}")) {
                return Ok(CallEnd::OkServerUnacked(msec));
            }
            return Err(format!("the server logged {l:?}"));
        }
        return Ok(CallEnd::Ok(msec));
    }
    let documented = sweep_documents_timeout(op, size, sweep.0, sweep.1);
    let timeout = !out.timed_out
        && (out.stderr.contains("RX_CALL_TIMEOUT") || out.stderr.contains("RX_CALL_DEAD"));
    match (documented, timeout) {
        (true, true) => Ok(CallEnd::DocumentedTimeout),
        (true, false) => Err("failed, and not with the timeout the sweep documents".into()),
        (false, _) => Err(format!(
            "failed ({}) where the netsim sweep documents no timeout",
            out.stderr.trim().lines().last().unwrap_or("no message")
        )),
    }
}

/// Fail the test if any row failed (after the tables were printed).
#[track_caller]
fn assert_all_passed(rows: &[Row]) {
    let failed: Vec<String> = rows
        .iter()
        .filter(|r| r.end.starts_with("FAIL"))
        .map(|r| {
            format!(
                "{} client -> {} server {} {} B: {}",
                r.client.name(),
                r.server.name(),
                r.op.arg(),
                r.size,
                r.end
            )
        })
        .collect();
    assert!(
        failed.is_empty(),
        "failed calls:\n  {}",
        failed.join("\n  ")
    );
}

fn table(title: &str, path: &NetPath, rows: &[Row], wall: Duration) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "== {title}: {} [{}], wall {:.1?}",
        path.impairment(),
        match path.backend() {
            rxrpc_testkit::Backend::Netem => "netem",
            rxrpc_testkit::Backend::Relay => "relay",
        },
        wall
    );
    let _ = writeln!(
        s,
        "{:<8} {:<8} {:<4} {:>9} | {:<21} | {:>8} | {:>9} | {:>7}",
        "client", "server", "op", "bytes", "end", "msec", "Mbit/s", "cl-retx"
    );
    for r in rows {
        let _ = writeln!(
            s,
            "{:<8} {:<8} {:<4} {:>9} | {:<21} | {:>8} | {:>9} | {:>7}",
            r.client.name(),
            r.server.name(),
            r.op.arg(),
            r.size,
            r.end,
            r.msec.map_or("-".into(), |m| m.to_string()),
            r.mbit().map_or("-".into(), |m| format!("{m:.2}")),
            r.retrans.map_or("-".into(), |m| m.to_string()),
        );
    }
    let _ = write!(s, "{}", path.link_stats());
    s
}

/// With `RXRPC_NETEM_PCAP=DIR`, tcpdump on both ends of the link (`DIR/<name>-{a,b}.pcap`)
/// until the returned guards are dropped.
fn capture(path: &NetPath, name: &str) -> Vec<Killed> {
    let Some(dir) = std::env::var_os("RXRPC_NETEM_PCAP") else {
        return Vec::new();
    };
    let name: String = name.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    let mut v = Vec::new();
    for (side, tag) in [(Side::A, "a"), (Side::B, "b")] {
        let file = Path::new(&dir).join(format!("{name}-{tag}.pcap"));
        let child = path
            .command(side, "tcpdump")
            .args(["-i", "v0", "-s", "512", "-U", "-w"])
            .arg(&file)
            .arg("udp")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tcpdump");
        eprintln!("netem: capturing to {}", file.display());
        v.push(Killed(child));
    }
    std::thread::sleep(Duration::from_millis(500));
    v
}

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn publish(text: &str) {
    eprintln!("{text}");
    static FILE: Mutex<()> = Mutex::new(());
    let _g = FILE.lock().unwrap();
    let p = Path::new(env!("CARGO_TARGET_TMPDIR")).join("netem-results.txt");
    use std::io::Write as _;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&p)
    {
        let _ = writeln!(f, "{text}");
    }
}

/// Run our rxperf at both ends over `imp` for `sizes`.
fn scenario(title: &str, imp: Impairment, sizes: &[u32], sweep: (u32, &str)) {
    if netns_or_skip().is_none() {
        return;
    }
    rxperf();
    let path = NetPath::new(imp).expect("make the namespaces");
    let t0 = Instant::now();
    let _pcap = capture(&path, title);
    let rows = run_pair(&path, None, Rx::Ours, Rx::Ours, sizes, sweep);
    publish(&table(title, &path, &rows, t0.elapsed()));
    assert_all_passed(&rows);
}

// ----- the tests -----------------------------------------------------------------------------------

/// (a) 1 % loss, 10 ms RTT: rxrpc at both ends, rxrpc against OpenAFS rx both ways, OpenAFS
/// rx at both ends; throughputs side by side.
#[test]
fn a_loss1_rtt10_rxrpc_and_openafs() {
    if netns_or_skip().is_none() {
        return;
    }
    rxperf();
    let peer = c_peer();
    let imp = Impairment::new().rtt_ms(10).loss_percent(1.0).seed(0xa);
    let path = NetPath::new(imp).expect("make the namespaces");
    let t0 = Instant::now();
    let sweep = (1, "10ms");
    let _pcap = capture(&path, "a");
    let mut rows = run_pair(&path, peer, Rx::Ours, Rx::Ours, &SIZES, sweep);
    if peer.is_some() {
        rows.extend(run_pair(&path, peer, Rx::Ours, Rx::OpenAfs, &SIZES, sweep));
        rows.extend(run_pair(&path, peer, Rx::OpenAfs, Rx::Ours, &SIZES, sweep));
        rows.extend(run_pair(
            &path,
            peer,
            Rx::OpenAfs,
            Rx::OpenAfs,
            &SIZES,
            sweep,
        ));
    }
    let mut text = table("(a) rxrpc and OpenAFS rx", &path, &rows, t0.elapsed());
    // Side by side: one line per op and size, one column per (client, server) pair.
    let pairs = [
        (Rx::Ours, Rx::Ours),
        (Rx::OpenAfs, Rx::OpenAfs),
        (Rx::Ours, Rx::OpenAfs),
        (Rx::OpenAfs, Rx::Ours),
    ];
    let _ = writeln!(
        text,
        "throughput in Mbit/s over {} (information, not asserted):",
        path.impairment()
    );
    let _ = writeln!(
        text,
        "{:<4} {:>9} | {:>13} | {:>15} | {:>15} | {:>15}",
        "op", "bytes", "rxrpc<->rxrpc", "OpenAFS<->OpenAFS", "rxrpc->OpenAFS", "OpenAFS->rxrpc"
    );
    for size in [MIB, 20 * MIB] {
        for op in [Op::Send, Op::Recv] {
            let cell = |(c, s): (Rx, Rx)| {
                rows.iter()
                    .find(|r| r.client == c && r.server == s && r.op == op && r.size == size)
                    .and_then(Row::mbit)
                    .map_or("-".to_string(), |m| format!("{m:.2}"))
            };
            let _ = writeln!(
                text,
                "{:<4} {:>9} | {:>13} | {:>17} | {:>15} | {:>15}",
                op.arg(),
                size,
                cell(pairs[0]),
                cell(pairs[1]),
                cell(pairs[2]),
                cell(pairs[3])
            );
        }
    }
    let _ = writeln!(
        text,
        "(client->server; send = the client sends the bytes, recv = the server does)"
    );
    publish(&text);
    assert_all_passed(&rows);
}

/// (b) 5 % loss and 10 % of the packets reordered, 10 ms RTT.
#[test]
fn b_loss5_reorder10_rtt10() {
    scenario(
        "(b) rxrpc",
        Impairment::new()
            .rtt_ms(10)
            .loss_percent(5.0)
            .reorder_percent(10.0)
            .seed(0xb),
        &SIZES,
        (5, "10ms"),
    );
}

/// (c) a 50 Mbit/s bottleneck each way, 20 ms RTT, no random loss (the bottleneck's queue
/// drops what overflows it).
#[test]
fn c_rate50mbit_rtt20() {
    scenario(
        "(c) rxrpc",
        Impairment::new().rtt_ms(20).rate_mbit(50).seed(0xc),
        &SIZES,
        (0, "10ms"),
    );
}

/// (d) 30 % loss each way, 10 ms RTT, small calls.
#[test]
fn d_loss30_rtt10_small_calls() {
    scenario(
        "(d) rxrpc",
        Impairment::new().rtt_ms(10).loss_percent(30.0).seed(0xd),
        &SMALL,
        (30, "10ms"),
    );
}

/// The fixture itself: the namespaces exist while it lives and are gone after it is dropped
/// (also when the test panics), and the sweep parser finds the documented timeout cell.
#[test]
fn fixture_cleans_up() {
    assert!(sweep_documents_timeout(Op::Send, 20 * MIB, 30, "100ms"));
    assert!(!sweep_documents_timeout(Op::Recv, 1412, 30, "10ms"));
    if netns_or_skip().is_none() {
        return;
    }
    let names = {
        let path = NetPath::new(Impairment::new().rtt_ms(2).loss_percent(1.0)).expect("netns");
        let names = [
            path.namespace(Side::A).to_string(),
            path.namespace(Side::B).to_string(),
        ];
        let all = rxrpc_testkit::list_namespaces().unwrap();
        assert!(names.iter().all(|n| all.contains(n)), "{all:?}");
        names
    };
    let all = rxrpc_testkit::list_namespaces().unwrap();
    assert!(names.iter().all(|n| !all.contains(n)), "{all:?}");

    eprintln!("netem: the next panic is expected (clean-up on panic)");
    let caught = std::panic::catch_unwind(|| {
        let path = NetPath::new(Impairment::new()).expect("netns");
        let a = path.namespace(Side::A).to_string();
        panic!("{a}");
    });
    let name = caught
        .unwrap_err()
        .downcast::<String>()
        .map(|b| *b)
        .unwrap_or_default();
    assert!(name.starts_with(rxrpc_testkit::NS_PREFIX), "{name}");
    let all = rxrpc_testkit::list_namespaces().unwrap();
    assert!(!all.contains(&name), "{all:?}");
}

/// The netem backend's arguments parse: tc (userspace) accepts them for every scenario, so
/// the only possible complaint is the kernel's when it has no netem. Checked even where the
/// kernel has no netem and the tests run on the relay backend.
#[test]
fn netem_arguments_parse() {
    if netns_or_skip().is_none() {
        return;
    }
    let path = NetPath::new(Impairment::new()).expect("netns");
    for imp in [
        Impairment::new().rtt_ms(10).loss_percent(1.0),
        Impairment::new()
            .rtt_ms(10)
            .loss_percent(5.0)
            .reorder_percent(10.0),
        Impairment::new().rtt_ms(20).rate_mbit(50),
        Impairment::new().rtt_ms(10).loss_percent(30.0),
    ] {
        let mut args = vec![
            "-n".to_string(),
            path.namespace(Side::A).to_string(),
            "qdisc".into(),
            "replace".into(),
            "dev".into(),
            "lo".into(),
            "root".into(),
            "netem".into(),
        ];
        args.extend(imp.netem_args());
        let out = run_tool("tc", &args, Duration::from_secs(10)).expect("tc");
        assert!(
            out.success() || out.stderr.contains("Specified qdisc kind is unknown"),
            "{imp}: {out}"
        );
    }
}
