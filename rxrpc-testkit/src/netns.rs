//! Two network namespaces joined by an impaired link, for running real endpoints (separate
//! processes, the kernel's UDP stack, real timers) across loss, delay, reordering and a rate
//! limit.
//!
//! A [`NetPath`] creates namespaces named `rxnt-<pid>-<n>-{a,b}` (plus `-m` for the relay
//! backend), private addresses in 10.77.0.0/16 that exist only inside them, and the
//! impairment of an [`Impairment`]; dropping it kills whatever still runs in those namespaces
//! and deletes them, also when a test panics. The first [`NetPath`] of a process deletes
//! leftovers of processes that no longer exist (a test killed with SIGKILL cannot clean up).
//!
//! Two ways to impair the link ([`Backend`]):
//!
//! * [`Backend::Netem`]: a veth pair from namespace A to namespace B, with a `netem` qdisc on
//!   both ends (`delay RTT/2`, `loss`, `reorder`, `rate`). Needs a kernel with `sch_netem`.
//! * [`Backend::Relay`], for kernels without netem (`CONFIG_NET_SCH_NETEM` unset): A and B are
//!   each joined by a veth pair to a middle namespace M, where a relay in this process (its
//!   threads enter M with `setns`) forwards the datagrams between the two sides, dropping,
//!   delaying and reordering them with netem's semantics (independent loss each way; one-way
//!   delay RTT/2; a reordered packet is sent at once, overtaking the delayed ones). The rate
//!   limit stays in the kernel: a `tbf` qdisc on the egress of A's and B's veth. The relay
//!   forwards like a NAT: a server in A sees the relay's address (10.77.1.1, one port per
//!   client), which Rx does not care about (it identifies connections by epoch and ID).
//!
//! [`NetPath::detect`] picks netem when the kernel has it, else the relay (with a loud note);
//! `RXRPC_NETNS_BACKEND=netem` or `=relay` forces one. [`netns_or_skip`] returns `None` after a
//! loud `SKIPPED:` line when namespaces cannot be made (not root, no iproute2), or panics under
//! CI (see [`crate::peers_required`]).
//!
//! Servers run in A, clients in B: [`NetPath::command`] prefixes a program with
//! `ip netns exec`, [`NetPath::server_ip`] is the address to bind in A and
//! [`NetPath::reach`] the address a client in B sends to for a server port.
//!
//! `scripts/netns.sh check|list|sweep` does the same checks and clean-up from a shell.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsFd;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::peers::peers_required;
use crate::tool::{ToolOutput, run_tool};

/// The prefix of every namespace this module creates.
pub const NS_PREFIX: &str = "rxnt-";

/// The variable that forces a backend: `netem` or `relay`.
pub const BACKEND_VAR: &str = "RXRPC_NETNS_BACKEND";

/// Name of the veth end inside A and inside B.
const DEV: &str = "v0";
/// Netem backend: A's address on the A–B link.
const NETEM_A: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
/// Netem backend: B's address on the A–B link.
const NETEM_B: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
/// Relay backend: A's address on the A–M link.
const RELAY_A: Ipv4Addr = Ipv4Addr::new(10, 77, 1, 2);
/// Relay backend: M's address on the A–M link (the relay's source towards A).
const RELAY_M_A: Ipv4Addr = Ipv4Addr::new(10, 77, 1, 1);
/// Relay backend: M's address on the M–B link (what clients in B send to).
const RELAY_M_B: Ipv4Addr = Ipv4Addr::new(10, 77, 2, 1);
/// Relay backend: B's address on the M–B link.
const RELAY_B: Ipv4Addr = Ipv4Addr::new(10, 77, 2, 2);
/// Queue of the rate limiter, in packets (netem `limit`) or 1514-byte frames (tbf `limit`):
/// about 48 ms at 50 Mbit/s.
const RATE_QUEUE_PACKETS: u64 = 200;
/// Queue of netem without a rate limit (netem's default).
const NETEM_LIMIT: u64 = 1000;
/// Relay socket buffers (forced past `rmem_max`; the relay's own drops would be loss the
/// impairment does not describe).
const RELAY_SOCKET_BUFFER: usize = 8 << 20;
/// How often the relay's blocking receives wake up to look at the stop flag.
const RELAY_POLL: Duration = Duration::from_millis(50);
/// Limit for each `ip`/`tc` command.
const CMD_TIMEOUT: Duration = Duration::from_secs(20);

/// Why a [`NetPath`] could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// Namespaces, veth and qdiscs need root (CAP_NET_ADMIN and CAP_SYS_ADMIN).
    #[error("network namespaces need root; effective uid is {0}")]
    NotRoot(u32),
    /// `ip` or `tc` (iproute2) is missing.
    #[error("`{0}` cannot be run (install iproute2): {1}")]
    MissingTool(&'static str, io::Error),
    /// Netem was asked for (`RXRPC_NETNS_BACKEND=netem`) but the kernel has no netem qdisc.
    #[error("the kernel has no netem qdisc (sch_netem): {0}")]
    NoNetem(String),
    /// `RXRPC_NETNS_BACKEND` holds something else than `netem` or `relay`.
    #[error("{BACKEND_VAR}={0}: expected `netem` or `relay`")]
    BadBackend(String),
    /// Namespaces cannot be made here ([`detect`] failed; its reason).
    #[error("network namespaces unavailable: {0}")]
    Unavailable(String),
    /// An `ip` or `tc` command failed.
    #[error("{0}")]
    Command(Box<ToolOutput>),
    /// A system call failed (opening a namespace, `setns`, a relay socket).
    #[error("{what}: {err}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        err: io::Error,
    },
}

impl NetnsError {
    fn io(what: impl Into<String>, err: io::Error) -> Self {
        NetnsError::Io {
            what: what.into(),
            err,
        }
    }
}

/// How the link between the namespaces is impaired (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// The kernel's netem qdisc on both ends of one veth pair.
    Netem,
    /// A relay in a middle namespace (loss, delay, reordering) plus the kernel's tbf qdisc
    /// (rate), for kernels without netem.
    Relay,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Netem => "netem (kernel qdisc on both veth ends)",
            Backend::Relay => {
                "relay (kernel without netem: userspace loss/delay/reorder in a middle \
                 namespace, kernel tbf for the rate)"
            }
        })
    }
}

/// Loss, delay, reordering and rate of the link, the same in both directions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Impairment {
    /// Round-trip time added by the link (each direction delays by half).
    pub rtt: Duration,
    /// Probability that a packet is lost, per direction, 0.0–1.0.
    pub loss: f64,
    /// Probability that a packet skips the delay and overtakes those before it, 0.0–1.0
    /// (netem's `reorder`; needs a delay).
    pub reorder: f64,
    /// Bottleneck rate per direction in bits per second; `None` for none.
    pub rate_bps: Option<u64>,
    /// Seed of the relay's random choices (netem has its own generator).
    pub seed: u64,
}

impl Default for Impairment {
    fn default() -> Self {
        Impairment {
            rtt: Duration::ZERO,
            loss: 0.0,
            reorder: 0.0,
            rate_bps: None,
            seed: 1,
        }
    }
}

impl Impairment {
    /// No impairment.
    pub fn new() -> Self {
        Self::default()
    }

    /// With this round-trip time in milliseconds.
    pub fn rtt_ms(mut self, ms: u64) -> Self {
        self.rtt = Duration::from_millis(ms);
        self
    }

    /// With this loss per direction, in percent.
    pub fn loss_percent(mut self, pct: f64) -> Self {
        self.loss = (pct / 100.0).clamp(0.0, 1.0);
        self
    }

    /// With this share of reordered packets, in percent.
    pub fn reorder_percent(mut self, pct: f64) -> Self {
        self.reorder = (pct / 100.0).clamp(0.0, 1.0);
        self
    }

    /// With this rate limit per direction, in Mbit/s.
    pub fn rate_mbit(mut self, mbit: u64) -> Self {
        self.rate_bps = Some(mbit.saturating_mul(1_000_000));
        self
    }

    /// With this seed for the relay's random choices.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    fn one_way(&self) -> Duration {
        self.rtt / 2
    }

    /// The arguments after `tc qdisc add dev DEV root netem` that impose this impairment on
    /// one direction (the netem backend puts the same qdisc on both ends).
    pub fn netem_args(&self) -> Vec<String> {
        let limit = if self.rate_bps.is_some() {
            RATE_QUEUE_PACKETS
        } else {
            NETEM_LIMIT
        };
        let mut a = vec!["limit".to_string(), limit.to_string()];
        if !self.one_way().is_zero() {
            a.extend(["delay".into(), format!("{}us", self.one_way().as_micros())]);
        }
        if self.loss > 0.0 {
            a.extend(["loss".into(), percent(self.loss)]);
        }
        if self.reorder > 0.0 {
            a.extend(["reorder".into(), percent(self.reorder)]);
        }
        if let Some(r) = self.rate_bps {
            a.extend(["rate".into(), format!("{r}bit")]);
        }
        a
    }

    /// The tbf arguments of the relay backend's rate limit (after `tbf`).
    fn tbf_args(rate: u64) -> Vec<String> {
        // The bucket must hold at least one tick's worth of tokens; 10 full frames is plenty.
        let burst = (rate / 8 / 250).max(15_140);
        vec![
            "rate".into(),
            format!("{rate}bit"),
            "burst".into(),
            burst.to_string(),
            "limit".into(),
            (RATE_QUEUE_PACKETS * 1514).to_string(),
        ]
    }
}

/// A probability as a percentage for tc and for people: `0.05` is `5%`, `0.001` is `0.1%`.
fn percent(p: f64) -> String {
    let s = format!("{:.4}", p * 100.0);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}%")
}

impl fmt::Display for Impairment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if self.loss > 0.0 {
            parts.push(format!("{} loss", percent(self.loss)));
        }
        if self.reorder > 0.0 {
            parts.push(format!("{} reordered", percent(self.reorder)));
        }
        if let Some(r) = self.rate_bps {
            parts.push(format!("{} Mbit/s", r as f64 / 1e6));
        }
        parts.push(format!("{} ms RTT", self.rtt.as_secs_f64() * 1000.0));
        f.write_str(&parts.join(", "))
    }
}

/// Which namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// Where servers run.
    A,
    /// Where clients run.
    B,
}

/// Whether this process is root (effective uid 0), from `/proc/self/status`.
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

fn ip(args: &[&str]) -> Result<ToolOutput, NetnsError> {
    let out = run_tool("ip", args, CMD_TIMEOUT).map_err(|e| NetnsError::MissingTool("ip", e))?;
    if out.success() {
        Ok(out)
    } else {
        Err(NetnsError::Command(Box::new(out)))
    }
}

fn tc(args: &[&str]) -> Result<ToolOutput, NetnsError> {
    let out = run_tool("tc", args, CMD_TIMEOUT).map_err(|e| NetnsError::MissingTool("tc", e))?;
    if out.success() {
        Ok(out)
    } else {
        Err(NetnsError::Command(Box::new(out)))
    }
}

fn tc_owned(args: &[String]) -> Result<ToolOutput, NetnsError> {
    let v: Vec<&str> = args.iter().map(String::as_str).collect();
    tc(&v)
}

/// Names of the namespaces that exist (`ip netns list`).
pub fn list_namespaces() -> Result<Vec<String>, NetnsError> {
    let out = ip(&["netns", "list"])?;
    Ok(out
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect())
}

/// Kill (SIGKILL) every process inside namespace `ns` (all of them were started by the
/// fixture that made it) and delete it.
fn destroy_namespace(ns: &str) {
    if let Ok(out) = ip(&["netns", "pids", ns]) {
        for pid in out.stdout.split_whitespace() {
            if pid.parse::<u32>().is_ok() {
                let _ = run_tool("kill", ["-KILL", pid], CMD_TIMEOUT);
            }
        }
    }
    let _ = ip(&["netns", "delete", ns]);
}

/// The pid that owns a namespace name `rxnt-<pid>-...`.
fn owner_pid(ns: &str) -> Option<u32> {
    ns.strip_prefix(NS_PREFIX)?.split('-').next()?.parse().ok()
}

/// Delete the `rxnt-*` namespaces whose creating process no longer exists; their names.
pub fn sweep_stale() -> Result<Vec<String>, NetnsError> {
    let mut gone = Vec::new();
    for ns in list_namespaces()? {
        let Some(pid) = owner_pid(&ns) else { continue };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            destroy_namespace(&ns);
            gone.push(ns);
        }
    }
    Ok(gone)
}

/// Whether namespaces can be made here and which backend to use (checked once per process:
/// root, iproute2, a probe namespace with a netem qdisc on its loopback; `RXRPC_NETNS_BACKEND`
/// overrides the choice).
pub fn detect() -> Result<Backend, &'static NetnsError> {
    static DETECTED: OnceLock<Result<Backend, NetnsError>> = OnceLock::new();
    DETECTED.get_or_init(detect_uncached).as_ref().copied()
}

fn detect_uncached() -> Result<Backend, NetnsError> {
    let uid = effective_uid().unwrap_or(u32::MAX);
    if uid != 0 {
        return Err(NetnsError::NotRoot(uid));
    }
    tc(&["-V"])?;
    let stale = sweep_stale()?;
    if !stale.is_empty() {
        eprintln!("netns: deleted stale namespaces {stale:?}");
    }
    let netem = netem_works()?;
    let forced = std::env::var(BACKEND_VAR).unwrap_or_default();
    match (forced.as_str(), netem) {
        ("netem" | "", Ok(())) => Ok(Backend::Netem),
        ("netem", Err(why)) => Err(NetnsError::NoNetem(why)),
        ("relay", _) => Ok(Backend::Relay),
        ("", Err(why)) => {
            eprintln!(
                "NOTE: netns: the kernel has no netem qdisc ({why}); the link is impaired by \
                 the relay backend instead: {}",
                Backend::Relay
            );
            Ok(Backend::Relay)
        }
        (other, _) => Err(NetnsError::BadBackend(other.to_string())),
    }
}

/// `Ok` if a netem qdisc can be attached (in a probe namespace); else tc's complaint.
fn netem_works() -> Result<Result<(), String>, NetnsError> {
    let ns = format!("{NS_PREFIX}{}-probe", std::process::id());
    ip(&["netns", "add", &ns])?;
    let r = tc(&[
        "-n", &ns, "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms",
    ]);
    destroy_namespace(&ns);
    Ok(match r {
        Ok(_) => Ok(()),
        Err(NetnsError::Command(out)) => Err(out.stderr.trim().to_string()),
        Err(e) => return Err(e),
    })
}

/// The backend, or `None` after a loud `SKIPPED:` line on stderr when namespaces cannot be
/// made here; under CI (`CI=true`, `RXRPC_REQUIRE_PEERS=1`) a panic instead.
#[track_caller]
pub fn netns_or_skip() -> Option<Backend> {
    match detect() {
        Ok(b) => Some(b),
        Err(e) if peers_required() => {
            panic!("network-namespace tests are required here (CI) but cannot run: {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED: network-namespace tests cannot run: {e}");
            None
        }
    }
}

/// Two namespaces joined by an impaired link (see the module documentation). Dropping it
/// stops the relay, kills what still runs in the namespaces and deletes them.
pub struct NetPath {
    backend: Backend,
    impairment: Impairment,
    ns_a: String,
    ns_b: String,
    ns_m: Option<String>,
    relay: Option<Arc<RelayShared>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    ports: Mutex<Vec<u16>>,
}

impl fmt::Debug for NetPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetPath")
            .field("backend", &self.backend)
            .field("impairment", &self.impairment)
            .field("ns_a", &self.ns_a)
            .field("ns_b", &self.ns_b)
            .field("ns_m", &self.ns_m)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl NetPath {
    /// Make the namespaces and the link with the detected backend ([`detect`]).
    pub fn new(impairment: Impairment) -> Result<NetPath, NetnsError> {
        let backend = match detect() {
            Ok(b) => b,
            Err(e) => return Err(NetnsError::Unavailable(e.to_string())),
        };
        Self::with_backend(impairment, backend)
    }

    /// Make the namespaces and the link with this backend.
    pub fn with_backend(impairment: Impairment, backend: Backend) -> Result<NetPath, NetnsError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let base = format!("{NS_PREFIX}{}-{n}", std::process::id());
        let mut path = NetPath {
            backend,
            impairment,
            ns_a: format!("{base}-a"),
            ns_b: format!("{base}-b"),
            ns_m: (backend == Backend::Relay).then(|| format!("{base}-m")),
            relay: None,
            threads: Mutex::new(Vec::new()),
            ports: Mutex::new(Vec::new()),
        };
        // From here on, Drop deletes whatever was made if a step fails.
        match backend {
            Backend::Netem => path.make_netem()?,
            Backend::Relay => path.make_relay()?,
        }
        Ok(path)
    }

    fn add_ns(ns: &str) -> Result<(), NetnsError> {
        ip(&["netns", "add", ns])?;
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
        Ok(())
    }

    fn addr(ns: &str, dev: &str, a: Ipv4Addr) -> Result<(), NetnsError> {
        ip(&["-n", ns, "addr", "add", &format!("{a}/24"), "dev", dev])?;
        ip(&["-n", ns, "link", "set", dev, "up"])?;
        Ok(())
    }

    fn make_netem(&mut self) -> Result<(), NetnsError> {
        Self::add_ns(&self.ns_a)?;
        Self::add_ns(&self.ns_b)?;
        ip(&[
            "link", "add", "name", DEV, "netns", &self.ns_a, "type", "veth", "peer", "name", DEV,
            "netns", &self.ns_b,
        ])?;
        Self::addr(&self.ns_a, DEV, NETEM_A)?;
        Self::addr(&self.ns_b, DEV, NETEM_B)?;
        for ns in [&self.ns_a, &self.ns_b] {
            let mut args: Vec<String> = ["-n", ns, "qdisc", "add", "dev", DEV, "root", "netem"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            args.extend(self.impairment.netem_args());
            tc_owned(&args)?;
        }
        Ok(())
    }

    fn make_relay(&mut self) -> Result<(), NetnsError> {
        let m = self.ns_m.clone().unwrap_or_default();
        Self::add_ns(&self.ns_a)?;
        Self::add_ns(&m)?;
        Self::add_ns(&self.ns_b)?;
        ip(&[
            "link", "add", "name", DEV, "netns", &self.ns_a, "type", "veth", "peer", "name", "va",
            "netns", &m,
        ])?;
        ip(&[
            "link", "add", "name", DEV, "netns", &self.ns_b, "type", "veth", "peer", "name", "vb",
            "netns", &m,
        ])?;
        Self::addr(&self.ns_a, DEV, RELAY_A)?;
        Self::addr(&m, "va", RELAY_M_A)?;
        Self::addr(&m, "vb", RELAY_M_B)?;
        Self::addr(&self.ns_b, DEV, RELAY_B)?;
        if let Some(rate) = self.impairment.rate_bps {
            for ns in [&self.ns_a, &self.ns_b] {
                let mut args: Vec<String> = ["-n", ns, "qdisc", "add", "dev", DEV, "root", "tbf"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                args.extend(Impairment::tbf_args(rate));
                tc_owned(&args)?;
            }
        }
        let shared = Arc::new(RelayShared::new(self.impairment));
        let s = Arc::clone(&shared);
        let sched = thread::Builder::new()
            .name("netns-relay-sched".into())
            .spawn(move || s.schedule())
            .map_err(|e| NetnsError::io("relay thread", e))?;
        lock(&self.threads).push(sched);
        self.relay = Some(shared);
        Ok(())
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The impairment.
    pub fn impairment(&self) -> Impairment {
        self.impairment
    }

    /// The namespace's name.
    pub fn namespace(&self, side: Side) -> &str {
        match side {
            Side::A => &self.ns_a,
            Side::B => &self.ns_b,
        }
    }

    /// The address of A on the link: where servers in A bind.
    pub fn server_ip(&self) -> Ipv4Addr {
        match self.backend {
            Backend::Netem => NETEM_A,
            Backend::Relay => RELAY_A,
        }
    }

    /// The address of B on the link: where clients in B bind.
    pub fn client_ip(&self) -> Ipv4Addr {
        match self.backend {
            Backend::Netem => NETEM_B,
            Backend::Relay => RELAY_B,
        }
    }

    /// The address a client in B sends to for a server on UDP `port` of [`Self::server_ip`]
    /// in A (with the relay backend this starts relaying that port).
    pub fn reach(&self, port: u16) -> Result<SocketAddr, NetnsError> {
        let Some(shared) = &self.relay else {
            return Ok(SocketAddrV4::new(NETEM_A, port).into());
        };
        let mut ports = lock(&self.ports);
        if !ports.contains(&port) {
            let m = self.ns_m.clone().unwrap_or_default();
            let (tx, rx) = std::sync::mpsc::channel();
            let s = Arc::clone(shared);
            let h = thread::Builder::new()
                .name(format!("netns-relay-{port}"))
                .spawn(move || s.front(&m, port, tx))
                .map_err(|e| NetnsError::io("relay thread", e))?;
            lock(&self.threads).push(h);
            match rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    return Err(NetnsError::io(
                        "relay thread",
                        io::Error::other("ended before binding"),
                    ));
                }
            }
            ports.push(port);
        }
        Ok(SocketAddrV4::new(RELAY_M_B, port).into())
    }

    /// `ip netns exec NS program`: a command that runs `program` inside the namespace.
    pub fn command(&self, side: Side, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", self.namespace(side)]).arg(program);
        c
    }

    /// What the link did so far: the qdiscs' statistics (`tc -s qdisc`) of both ends and,
    /// with the relay, its counters.
    pub fn link_stats(&self) -> String {
        let mut s = String::new();
        let qdiscs = self.backend == Backend::Netem || self.impairment.rate_bps.is_some();
        for (name, ns) in [("A", &self.ns_a), ("B", &self.ns_b)]
            .into_iter()
            .filter(|_| qdiscs)
        {
            let q = tc(&["-s", "-n", ns, "qdisc", "show", "dev", DEV])
                .map(|o| o.stdout)
                .unwrap_or_else(|e| e.to_string());
            s.push_str(&format!(
                "qdisc {name} egress: {}\n",
                q.trim().replace('\n', " | ")
            ));
        }
        if let Some(r) = &self.relay {
            s.push_str(&format!("relay: {}\n", r.stats()));
        }
        s
    }

    /// The relay's counters (`None` with netem).
    pub fn relay_stats(&self) -> Option<RelayStats> {
        self.relay.as_ref().map(|r| r.stats())
    }
}

impl Drop for NetPath {
    fn drop(&mut self) {
        if let Some(r) = &self.relay {
            r.stop.store(true, Ordering::SeqCst);
            r.cv.notify_all();
        }
        for h in lock(&self.threads).drain(..) {
            let _ = h.join();
        }
        for ns in [Some(&self.ns_b), self.ns_m.as_ref(), Some(&self.ns_a)]
            .into_iter()
            .flatten()
        {
            destroy_namespace(ns);
        }
    }
}

/// Counters of the relay, per direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Datagrams from B towards A: received, dropped (loss), sent without delay (reordered).
    pub to_a: DirStats,
    /// Datagrams from A towards B.
    pub to_b: DirStats,
}

/// One direction of [`RelayStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirStats {
    /// Datagrams received by the relay.
    pub received: u64,
    /// Datagrams dropped (the loss of the impairment).
    pub dropped: u64,
    /// Datagrams sent without the delay (reordered).
    pub reordered: u64,
    /// Datagrams the relay failed to send (should stay 0).
    pub send_errors: u64,
}

impl fmt::Display for RelayStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, d) in [("B->A", &self.to_a), ("A->B", &self.to_b)] {
            write!(
                f,
                "{name}: {} in, {} dropped, {} reordered, {} send errors; ",
                d.received, d.dropped, d.reordered, d.send_errors
            )?;
        }
        Ok(())
    }
}

#[derive(Default)]
struct DirCounters {
    received: AtomicU64,
    dropped: AtomicU64,
    reordered: AtomicU64,
    send_errors: AtomicU64,
}

impl DirCounters {
    fn get(&self) -> DirStats {
        DirStats {
            received: self.received.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            reordered: self.reordered.load(Ordering::Relaxed),
            send_errors: self.send_errors.load(Ordering::Relaxed),
        }
    }
}

/// A datagram waiting in the relay's delay line.
struct Pending {
    due: Instant,
    seq: u64,
    dir: usize,
    sock: Arc<UdpSocket>,
    to: SocketAddr,
    data: Vec<u8>,
}

impl PartialEq for Pending {
    fn eq(&self, o: &Self) -> bool {
        (self.due, self.seq) == (o.due, o.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pending {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.due, self.seq).cmp(&(o.due, o.seq))
    }
}

/// splitmix64: small, seeded, good enough for loss decisions.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Direction indexes.
const TO_A: usize = 0;
const TO_B: usize = 1;

struct RelayShared {
    imp: Impairment,
    stop: AtomicBool,
    queue: Mutex<(BinaryHeap<Reverse<Pending>>, u64)>,
    cv: Condvar,
    rng: [Mutex<Rng>; 2],
    counters: [DirCounters; 2],
}

fn enter_namespace(ns: &str) -> Result<(), NetnsError> {
    let path = format!("/run/netns/{ns}");
    let f = File::open(&path).map_err(|e| NetnsError::io(format!("open {path}"), e))?;
    rustix::thread::move_into_link_name_space(
        f.as_fd(),
        Some(rustix::thread::LinkNameSpaceType::Network),
    )
    .map_err(|e| NetnsError::io(format!("setns {path}"), e.into()))
}

fn relay_socket(addr: SocketAddrV4) -> Result<UdpSocket, NetnsError> {
    let s = UdpSocket::bind(addr).map_err(|e| NetnsError::io(format!("bind {addr}"), e))?;
    // Forcing needs CAP_NET_ADMIN, which the fixture has; a failure only costs buffer room.
    let _ = rustix::net::sockopt::set_socket_recv_buffer_size_force(&s, RELAY_SOCKET_BUFFER);
    let _ = rustix::net::sockopt::set_socket_send_buffer_size_force(&s, RELAY_SOCKET_BUFFER);
    s.set_read_timeout(Some(RELAY_POLL))
        .map_err(|e| NetnsError::io("socket timeout", e))?;
    Ok(s)
}

impl RelayShared {
    fn new(imp: Impairment) -> Self {
        RelayShared {
            imp,
            stop: AtomicBool::new(false),
            queue: Mutex::new((BinaryHeap::new(), 0)),
            cv: Condvar::new(),
            rng: [
                Mutex::new(Rng(imp.seed)),
                Mutex::new(Rng(imp.seed ^ 0x5eed_0000_0000_0001)),
            ],
            counters: [DirCounters::default(), DirCounters::default()],
        }
    }

    fn stats(&self) -> RelayStats {
        RelayStats {
            to_a: self.counters[TO_A].get(),
            to_b: self.counters[TO_B].get(),
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Decide the fate of one datagram and queue it.
    fn submit(&self, dir: usize, sock: &Arc<UdpSocket>, to: SocketAddr, data: &[u8]) {
        let c = &self.counters[dir];
        c.received.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let (lost, early) = {
            let mut rng = lock(&self.rng[dir]);
            let lost = self.imp.loss > 0.0 && rng.next_f64() < self.imp.loss;
            let early = !lost && self.imp.reorder > 0.0 && rng.next_f64() < self.imp.reorder;
            (lost, early)
        };
        if lost {
            c.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let due = if early {
            c.reordered.fetch_add(1, Ordering::Relaxed);
            now
        } else {
            now + self.imp.one_way()
        };
        let mut q = lock(&self.queue);
        let seq = q.1;
        q.1 += 1;
        q.0.push(Reverse(Pending {
            due,
            seq,
            dir,
            sock: Arc::clone(sock),
            to,
            data: data.to_vec(),
        }));
        drop(q);
        self.cv.notify_one();
    }

    /// The delay line: send each datagram when it is due.
    fn schedule(&self) {
        let mut q = lock(&self.queue);
        loop {
            if self.stopped() {
                return;
            }
            let now = Instant::now();
            let wait = match q.0.peek() {
                Some(Reverse(p)) if p.due <= now => None,
                Some(Reverse(p)) => Some(p.due - now),
                None => Some(RELAY_POLL),
            };
            match wait {
                None => {
                    if let Some(Reverse(p)) = q.0.pop() {
                        drop(q);
                        if p.sock.send_to(&p.data, p.to).is_err() {
                            self.counters[p.dir]
                                .send_errors
                                .fetch_add(1, Ordering::Relaxed);
                        }
                        q = lock(&self.queue);
                    }
                }
                Some(d) => {
                    q = self
                        .cv
                        .wait_timeout(q, d.min(RELAY_POLL))
                        .map(|(g, _)| g)
                        .unwrap_or_else(|p| p.into_inner().0);
                }
            }
        }
    }

    /// The B side of one port: receive from clients, forward to A from one upstream socket
    /// per client (created in M; each with a thread that forwards A's answers back).
    fn front(
        self: Arc<Self>,
        ns_m: &str,
        port: u16,
        ready: std::sync::mpsc::Sender<Result<(), NetnsError>>,
    ) {
        let front =
            enter_namespace(ns_m).and_then(|()| relay_socket(SocketAddrV4::new(RELAY_M_B, port)));
        let front = match front {
            Ok(s) => {
                let _ = ready.send(Ok(()));
                Arc::new(s)
            }
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let server: SocketAddr = SocketAddrV4::new(RELAY_A, port).into();
        let mut upstream: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
        let mut back_threads = Vec::new();
        let mut buf = vec![0u8; 65536];
        while !self.stopped() {
            let (n, client) = match front.recv_from(&mut buf) {
                Ok(v) => v,
                Err(_) => continue,
            };
            let up = match upstream.get(&client) {
                Some(u) => Arc::clone(u),
                None => {
                    // This thread is inside M: the socket is too.
                    let Ok(u) = relay_socket(SocketAddrV4::new(RELAY_M_A, 0)) else {
                        self.counters[TO_A]
                            .send_errors
                            .fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    let u = Arc::new(u);
                    upstream.insert(client, Arc::clone(&u));
                    let me = Arc::clone(&self);
                    let (u2, f2) = (Arc::clone(&u), Arc::clone(&front));
                    if let Ok(h) = thread::Builder::new()
                        .name("netns-relay-back".into())
                        .spawn(move || me.back(&u2, &f2, client))
                    {
                        back_threads.push(h);
                    }
                    u
                }
            };
            let Some(data) = buf.get(..n) else { continue };
            self.submit(TO_A, &up, server, data);
        }
        for h in back_threads {
            let _ = h.join();
        }
    }

    /// A's answers to one client: from the upstream socket back out of the front socket.
    fn back(&self, up: &Arc<UdpSocket>, front: &Arc<UdpSocket>, client: SocketAddr) {
        let mut buf = vec![0u8; 65536];
        while !self.stopped() {
            let Ok((n, _)) = up.recv_from(&mut buf) else {
                continue;
            };
            let Some(data) = buf.get(..n) else { continue };
            self.submit(TO_B, front, client, data);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netem_arguments() {
        let i = Impairment::new()
            .rtt_ms(10)
            .loss_percent(1.0)
            .reorder_percent(10.0);
        assert_eq!(
            i.netem_args().join(" "),
            "limit 1000 delay 5000us loss 1% reorder 10%"
        );
        let i = Impairment::new().rtt_ms(20).rate_mbit(50);
        assert_eq!(
            i.netem_args().join(" "),
            "limit 200 delay 10000us rate 50000000bit"
        );
        assert_eq!(i.to_string(), "50 Mbit/s, 20 ms RTT");
        let i = Impairment::new()
            .rtt_ms(10)
            .loss_percent(5.0)
            .reorder_percent(0.5);
        assert_eq!(i.to_string(), "5% loss, 0.5% reordered, 10 ms RTT");
        assert_eq!(percent(0.3), "30%");
    }

    #[test]
    fn owner_of_a_name() {
        assert_eq!(owner_pid("rxnt-1234-0-a"), Some(1234));
        assert_eq!(owner_pid("rxnt-1234-probe"), Some(1234));
        assert_eq!(owner_pid("other-1234-0-a"), None);
        assert_eq!(owner_pid("rxnt-x-0-a"), None);
    }

    #[test]
    fn rng_is_uniform_enough() {
        let mut r = Rng(7);
        let n = 100_000;
        let hits = (0..n).filter(|_| r.next_f64() < 0.05).count();
        assert!((4_500..5_500).contains(&hits), "{hits}");
    }
}
