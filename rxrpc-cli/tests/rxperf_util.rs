//! Helpers of the rxperf tests (included by `rxperf_loopback.rs` and `rxperf_interop.rs` with
//! `#[path]`): running the `rxperf` binary and the OpenAFS-rx C peer, killing what was started,
//! bounded waits. Everything talks to 127.0.0.1 only.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::future::Future;
use std::io::Read;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const RXPERF: &str = env!("CARGO_BIN_EXE_rxperf");

pub fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Run `f`, failing the test if it takes more than `secs` seconds.
#[track_caller]
pub fn within<F: Future>(secs: u64, what: &str, f: F) -> impl Future<Output = F::Output> {
    let what = what.to_string();
    let caller = std::panic::Location::caller();
    async move {
        match tokio::time::timeout(Duration::from_secs(secs), f).await {
            Ok(v) => v,
            Err(_) => panic!("{what}: no result after {secs} s ({caller})"),
        }
    }
}

/// What a finished program printed.
#[derive(Debug)]
pub struct Ran {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert!(self.status.success(), "failed: {self:#?}");
        self
    }
}

/// A child process killed (SIGKILL) and reaped when dropped.
#[derive(Debug)]
pub struct Guard(pub Option<Child>);

impl Guard {
    pub fn pid(&self) -> u32 {
        self.0.as_ref().map_or(0, Child::id)
    }

    /// Send a signal (`INT`, `TERM`) with kill(1).
    pub fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .args([format!("-{sig}"), self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(st.success(), "kill -{sig} {}", self.pid());
    }

    /// Wait at most `limit` for the child to exit; its output.
    pub fn wait(mut self, limit: Duration) -> Ran {
        let mut child = self.0.take().expect("running");
        let t0 = Instant::now();
        loop {
            match child.try_wait().expect("try_wait") {
                Some(_) => break,
                None if t0.elapsed() > limit => {
                    let _ = child.kill();
                    let out = collect(child);
                    panic!("no exit after {limit:?}: {out:#?}");
                }
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        collect(child)
    }
}

fn collect(mut child: Child) -> Ran {
    let status = child.wait().expect("wait");
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut stdout);
    }
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    Ran {
        status,
        stdout,
        stderr,
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Start `program args` with piped output.
pub fn spawn<S: AsRef<std::ffi::OsStr>>(program: impl AsRef<Path>, args: &[S]) -> Guard {
    let child = Command::new(program.as_ref())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.as_ref().display()));
    Guard(Some(child))
}

/// Run `program args` to its end (at most `limit`).
pub fn run<S: AsRef<std::ffi::OsStr>>(
    program: impl AsRef<Path>,
    args: &[S],
    limit: Duration,
) -> Ran {
    spawn(program, args).wait(limit)
}

/// Run `program args` from async code without blocking the runtime.
pub async fn run_async(program: PathBuf, args: Vec<String>, limit: Duration) -> Ran {
    tokio::task::spawn_blocking(move || run(program, &args, limit))
        .await
        .expect("runner")
}

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// Build the OpenAFS-rx C peer (`bench/openafs-peer/build.sh`) once per test process; `Err`
/// with the reason if it cannot be built here.
pub fn openafs_peer() -> Result<PathBuf, String> {
    static PEER: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PEER.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/openafs-peer/build.sh");
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("openafs-peer/rxperf-peer");
        let r = Command::new("bash")
            .arg(&script)
            .arg(&out)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if !r.status.success() {
            return Err(format!(
                "{} failed: {}",
                script.display(),
                String::from_utf8_lossy(&r.stderr)
            ));
        }
        Ok(out)
    })
    .clone()
}

/// The C peer, or `None` after a loud SKIPPED line; a panic when peers are required (CI).
#[track_caller]
pub fn openafs_peer_or_skip() -> Option<PathBuf> {
    match openafs_peer() {
        Ok(p) => Some(p),
        Err(why) if rxrpc_testkit::peers_required() => {
            panic!("the OpenAFS-rx rxperf peer is required (CI) but cannot be built: {why}")
        }
        Err(why) => {
            eprintln!("SKIPPED: OpenAFS-rx rxperf peer unavailable: {why}");
            None
        }
    }
}

/// Start the C peer's server on a free 127.0.0.1 port and wait until it answers an Rx
/// VERSION probe.
pub fn start_c_server(peer: &Path, extra: &[&str]) -> (Guard, SocketAddr) {
    for _ in 0..5 {
        let port = free_port();
        let mut args = vec![
            "server".to_string(),
            "-a".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut g = spawn(peer, &args);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        if rxrpc_testkit::rx_version_probe_with(addr, Duration::from_millis(300), 10).is_ok() {
            return (g, addr);
        }
        if let Some(c) = g.0.as_mut() {
            let _ = c.kill();
        }
    }
    panic!("the C rxperf server did not come up");
}

/// Start `rxperf server` (the binary) on 127.0.0.1 with a free port; its address once it
/// answers an Rx VERSION probe.
pub fn start_our_server_binary(extra: &[&str]) -> (Guard, SocketAddr) {
    for _ in 0..5 {
        let port = free_port();
        let mut args = vec![
            "server".to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut g = spawn(RXPERF, &args);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        if rxrpc_testkit::rx_version_probe_with(addr, Duration::from_millis(300), 10).is_ok() {
            return (g, addr);
        }
        if let Some(c) = g.0.as_mut() {
            let _ = c.kill();
        }
    }
    panic!("rxperf server did not come up");
}

/// The first line of `out` that parses as a report line.
#[track_caller]
pub fn report_line(out: &str) -> rxrpc_cli::rxperf::report::ParsedLine {
    out.lines()
        .find_map(rxrpc_cli::rxperf::report::parse_line)
        .unwrap_or_else(|| panic!("no report line in {out:?}"))
}
