//! Deterministic network simulation of whole RPCs (issue 4, item 7).
//!
//! Endpoints of `rxrpc-proto` run on a simulated network ([`sim`]) with a virtual clock and a
//! seeded random generator: per-direction one-way delay, jitter, random and Gilbert-Elliott
//! burst loss, reordering, duplication, an MTU cap, a bottleneck rate, a hook to drop, delay,
//! force or rewrite chosen packets, injection of arbitrary datagrams, a bounded packet trace
//! and optional pcap output. Applications ([`app`]) stream generated data through the public
//! API and check every byte.
//!
//! Every call must deliver every byte in order (content checked) or end with a documented
//! timeout (`RX_CALL_TIMEOUT` / `RX_CALL_DEAD`, local or from the peer); anything else fails.
//!
//! * `cargo test -p rxrpc-proto --test netsim` runs scenarios and a representative subset of
//!   the sweep (seconds, debug build).
//! * `cargo test --release -p rxrpc-proto --test netsim -- --ignored sweep --nocapture` runs
//!   the full sweep (size {0, 1, 1412 B, 1 MB, 20 MB} × big request / big reply × loss {0, 1,
//!   5, 20, 30} % × RTT {0.1, 10, 100} ms × jumbo off/on, path MTU 9000), prints the table and
//!   compares it with `tests/snapshots/netsim_sweep.txt`; `NETSIM_UPDATE=1` rewrites the
//!   snapshot.
//! * `NETSIM_CELL=rep,1048576,5,10[,jumbo] [NETSIM_PCAP=/tmp/cell.pcap] [NETSIM_TRACE=n] cargo
//!   test --release -p rxrpc-proto --test netsim -- --ignored one_cell --nocapture` runs one
//!   cell (direction, size, loss %, RTT ms, jumbo) and prints its last packets (all of them up
//!   to `NETSIM_TRACE` when it is set, even for a cell that succeeded); the pcap opens in
//!   Wireshark or `rxdump`.
//! * `NETSIM_SOAK=<worlds> [NETSIM_SOAK_FROM=<seed>] cargo test --release -p rxrpc-proto
//!   --test netsim -- --ignored soak --nocapture` runs random worlds (two or three endpoints,
//!   random impairments, windows, sizes, slow readers); `random_worlds` is its quick version.
//!
//! Every datagram an endpoint sends is also checked against wire rules (decodable, serials
//! rising per connection and direction, no REQUEST_ACK on the last packet of a reply, no
//! oversized DATA, no DATA seq 0).
//!
//! Jumbo DATA and path-MTU discovery: scenario worlds have no MTU cap unless they set one, so
//! endpoints (jumbo on by default) find jumbo packets of up to 46 subpackets; the sweep caps
//! the path at 9000 (6 subpackets). `jumbo_to_openafs_convention_peer`,
//! `pmtu_search_down_under_mtu_cap` and `reduced_path_mtu_shrinks_packets` cover the two
//! trailer conventions, the search under a cap and a reported path MTU below one packet
//! (the driver's ICMP input, simulated by calling `Endpoint::reduce_path_mtu`; the simulator
//! itself sends no ICMP and counts what an MTU cap drops). `tail_loss_probe_beats_the_rto`,
//! `ssthresh_cache_seeds_the_next_call`, `idle_restart_after_a_pause`,
//! `transmit_window_of_255` and `peer_keepalive` cover the rest of the transmit side.
//!
//! `mtu_black_hole_reply` and `blackhole_times_out_with_two_calls` reproduce two engine bugs
//! this simulator found (a reply that cannot pass the path MTU hung for ever; silence after
//! another call's traffic was reported as RX_CALL_DEAD); both are fixed and now regression
//! tests.

#[path = "netsim/app.rs"]
mod app;
#[path = "netsim/sim.rs"]
mod sim;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant as WallInstant};

use app::{Pace, World, is_documented_timeout, short};
use rxrpc_proto::wire::{AbortCode, DataView, Flags, PacketType, jumbo_datagram_len};
use rxrpc_proto::{Completion, EndpointConfig, Instant, JumboAdvertise};
use sim::{GilbertElliott, LinkConfig, Rng, Sim, Stop, Verdict};

/// Jumbo settings the sweep covers: `EndpointConfig::jumbo` on both endpoints.
const JUMBO_MODES: &[bool] = &[false, true];
/// The path MTU of every sweep cell (IP datagram bytes): jumbo Ethernet frames, so path-MTU
/// discovery has something to find (jumbo packets of up to 6 subpackets fit).
const SWEEP_MTU: usize = 9000;

/// The small side of a sweep call (a status word).
const SMALL: u64 = 4;
const MB: u64 = 1 << 20;
const SIZES: &[u64] = &[0, 1, 1412, MB, 20 * MB];
const LOSSES: &[u32] = &[0, 1, 5, 20, 30];
/// Round-trip times in microseconds.
const RTTS: &[u64] = &[100, 10_000, 100_000];

const ACK: usize = PacketType::ACK.0 as usize;

// ----- cells ------------------------------------------------------------------------------

/// Which way the big transfer goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    /// Big request, small reply.
    Req,
    /// Small request, big reply.
    Rep,
}

/// One cell of the sweep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cell {
    dir: Dir,
    size: u64,
    loss_pct: u32,
    rtt_us: u64,
    jumbo: bool,
}

impl Cell {
    fn new(dir: Dir, size: u64, loss_pct: u32, rtt_us: u64) -> Self {
        Cell {
            dir,
            size,
            loss_pct,
            rtt_us,
            jumbo: false,
        }
    }

    fn seed(&self) -> u64 {
        let mut r = Rng::new(
            self.size
                ^ (u64::from(self.loss_pct) << 40)
                ^ (self.rtt_us << 8)
                ^ (u64::from(self.dir == Dir::Rep) << 63)
                ^ (u64::from(self.jumbo) << 62),
        );
        r.next_u64()
    }

    fn sizes(&self) -> (u64, u64) {
        match self.dir {
            Dir::Req => (self.size, SMALL),
            Dir::Rep => (SMALL, self.size),
        }
    }

    fn label(&self) -> String {
        format!(
            "{} {:>6} {:>3}% {:>6} {:>5}",
            match self.dir {
                Dir::Req => "req",
                Dir::Rep => "rep",
            },
            size_name(self.size),
            self.loss_pct,
            rtt_name(self.rtt_us),
            if self.jumbo { "on" } else { "off" }
        )
    }

    fn repro(&self) -> String {
        format!(
            "NETSIM_CELL={},{},{},{}{}",
            match self.dir {
                Dir::Req => "req",
                Dir::Rep => "rep",
            },
            self.size,
            self.loss_pct,
            self.rtt_us as f64 / 1000.0,
            if self.jumbo { ",jumbo" } else { "" }
        )
    }

    fn parse(s: &str) -> Option<Cell> {
        let mut it = s.split(',').map(str::trim);
        let dir = match it.next()? {
            "req" => Dir::Req,
            "rep" => Dir::Rep,
            _ => return None,
        };
        let size = it.next()?.parse().ok()?;
        let loss_pct = it.next()?.parse().ok()?;
        let rtt_ms: f64 = it.next()?.parse().ok()?;
        let mut c = Cell::new(dir, size, loss_pct, (rtt_ms * 1000.0).round() as u64);
        c.jumbo = match it.next() {
            None => false,
            Some("jumbo") => true,
            Some(_) => return None,
        };
        Some(c)
    }
}

fn size_name(n: u64) -> String {
    if n >= MB && n % MB == 0 {
        format!("{}MB", n / MB)
    } else {
        format!("{n}B")
    }
}

fn rtt_name(us: u64) -> String {
    if us < 1000 {
        format!("{}ms", us as f64 / 1000.0)
    } else {
        format!("{}ms", us / 1000)
    }
}

/// What a cell produced.
#[derive(Clone, Debug)]
struct CellResult {
    cell: Cell,
    /// Client and server completions.
    outcome: String,
    failures: Vec<String>,
    /// Virtual time from `begin_call` to the client's terminal message.
    virt: Duration,
    data_pkts: u64,
    /// Jumbo DATA datagrams sent.
    jumbo_dgrams: u64,
    retrans: u64,
    acks: u64,
    /// Datagrams sent, before the network's losses.
    datagrams: u64,
    wall: Duration,
    /// The last packets, for failures.
    trace: String,
}

impl CellResult {
    fn ok(&self) -> bool {
        self.failures.is_empty()
    }

    fn goodput(&self) -> String {
        let (a, b) = self.cell.sizes();
        let secs = self.virt.as_secs_f64();
        if secs <= 0.0 {
            return "-".into();
        }
        let bps = (a + b) as f64 / secs;
        if bps >= 1e6 {
            format!("{:.2}MB/s", bps / 1e6)
        } else {
            format!("{:.1}kB/s", bps / 1e3)
        }
    }

    fn row(&self) -> String {
        let apd = if self.data_pkts == 0 {
            0.0
        } else {
            self.acks as f64 / self.data_pkts as f64
        };
        format!(
            "{} | {:<29} | {:>11.6}s | {:>11} | {:>6} | {:>5} | {:>6} | {:>5.3} | {}",
            self.cell.label(),
            self.outcome,
            self.virt.as_secs_f64(),
            self.goodput(),
            self.data_pkts,
            self.jumbo_dgrams,
            self.retrans,
            apd,
            if self.ok() { "ok" } else { "FAIL" }
        )
    }
}

const TABLE_HEAD: &str = "dir   size loss    rtt jumbo | client/server                 |  virt. time |    goodput |   DATA | jumbo | retrns | ACK/D | check";

/// What the columns mean (the head of the snapshot).
const LEGEND: &str = "\
# netsim sweep: one call per cell over a symmetric path (one-way delay = RTT/2, independent
# loss each way, path MTU 9000, no rate limit), virtual time, deterministic seeds.
#   dir            req = big request and 4-byte reply, rep = 4-byte request and big reply
#   jumbo          EndpointConfig::jumbo on both endpoints (jumbo DATA after path-MTU
#                  discovery; off: one packet per datagram)
#   client/server  how the client call and the service call ended: ok = succeeded,
#                  L:/R: = local/remote abort with that code (RX_ prefix dropped)
#   virt. time     begin_call to the client's terminal message
#   goodput        (request + reply bytes) / virt. time
#   DATA, retrns   DATA packets sent by both endpoints (retransmissions included, each
#                  subpacket of a jumbo packet counted), and retransmissions
#   jumbo          jumbo DATA datagrams sent
#   ACK/D          ACK packets (path-MTU probes included) / DATA packets, both endpoints
#   check          FAIL = wrong or missing bytes, an end other than success or a documented
#                  timeout (RX_CALL_TIMEOUT / RX_CALL_DEAD; none allowed at 0 % loss), a
#                  hang, or leaked calls
# Regenerate: NETSIM_UPDATE=1 cargo test --release -p rxrpc-proto --test netsim -- --ignored sweep
";

/// Run one cell: one call over a symmetric path.
fn run_cell(cell: Cell, pcap: Option<&Path>, trace_len: usize) -> CellResult {
    let wall = WallInstant::now();
    let link = LinkConfig {
        delay: Duration::from_micros(cell.rtt_us / 2),
        loss: f64::from(cell.loss_pct) / 100.0,
        mtu: Some(SWEEP_MTU),
        ..LinkConfig::default()
    };
    let sim = Sim::new(2, cell.seed(), link, |_, cfg| cfg.jumbo = cell.jumbo);
    let mut w = World::new(sim);
    w.sim.set_trace_len(trace_len);
    if let Some(p) = pcap {
        w.sim.enable_pcap(p).expect("pcap file");
    }
    w.add_server(1);
    let c = w.add_client(0);
    let (req, rep) = cell.sizes();
    w.call(c, 1, req, rep);
    let mut failures = Vec::new();
    // Four virtual hours: even 20 MB at 30 % loss and 100 ms RTT finishes far sooner.
    let stop = w.run_until(Duration::from_secs(4 * 3600), World::clients_done);
    if stop != Stop::Done {
        failures.push(format!(
            "client call did not finish: {stop:?} at {:?}",
            w.sim.now
        ));
    }
    // The service call completes when the final ACK arrives (or times out).
    let stop = w.run_until(Duration::from_secs(600), World::all_done);
    if stop != Stop::Done {
        failures.push(format!(
            "service call did not finish: {stop:?} at {:?}",
            w.sim.now
        ));
    }
    failures.extend(w.verdicts());
    let k = w.clients[0].calls.values().next().expect("one call");
    let virt = k.ended.unwrap_or(w.sim.now) - k.started;
    let client_t = k.terminal;
    let server_t = w.servers[0].calls.values().next().and_then(|s| s.terminal);
    if cell.loss_pct == 0 {
        for t in [client_t, server_t].into_iter().flatten() {
            if t != Completion::Succeeded {
                failures.push(format!("lossless path ended with {t}"));
            }
        }
    }
    let outcome = format!("{}/{}", short(client_t.as_ref()), short(server_t.as_ref()));
    let mut data_pkts = 0;
    let mut jumbo_dgrams = 0;
    let mut acks = 0;
    let mut retrans = 0;
    for n in &w.sim.nodes {
        let s = n.ep.stats();
        data_pkts += s.data_subpackets_out;
        jumbo_dgrams += s.jumbo_datagrams_out;
        acks += s.packets_out[ACK];
        retrans += s.retransmits;
    }
    // Drain what is left (final ACKs, terminal resends), then check for leaked calls.
    let end = w.sim.now + Duration::from_secs(5);
    w.sim.advance_to(end);
    let now = w.sim.now;
    for (i, n) in w.sim.nodes.iter_mut().enumerate() {
        if let Err(e) = n.ep.shutdown(now) {
            failures.push(format!("node {i}: {e}"));
        }
    }
    w.sim.finish_pcap();
    let datagrams = w.sim.datagrams_sent();
    // Keep the last packets of failures and of timeouts.
    let trace = if failures.is_empty()
        && outcome == "ok/ok"
        && std::env::var_os("NETSIM_TRACE").is_none()
    {
        String::new()
    } else {
        w.sim.format_trace(trace_len)
    };
    CellResult {
        cell,
        outcome,
        failures,
        virt,
        data_pkts,
        jumbo_dgrams,
        retrans,
        acks,
        datagrams,
        wall: wall.elapsed(),
        trace,
    }
}

fn report(results: &[CellResult]) -> (String, Vec<String>) {
    let mut table = String::new();
    let _ = writeln!(table, "{TABLE_HEAD}");
    let mut fails = Vec::new();
    for r in results {
        let _ = writeln!(table, "{}", r.row());
        if !r.ok() {
            let mut f = format!(
                "{} ({}):\n  {}",
                r.cell.label(),
                r.cell.repro(),
                r.failures.join("\n  ")
            );
            if !r.trace.is_empty() {
                let _ = write!(f, "\n  last packets:\n{}", r.trace);
            }
            fails.push(f);
        }
    }
    (table, fails)
}

fn run_cells(cells: &[Cell]) -> Vec<CellResult> {
    cells.iter().map(|&c| run_cell(c, None, 40)).collect()
}

fn assert_cells(cells: &[Cell]) {
    let results = run_cells(cells);
    let (table, fails) = report(&results);
    println!("{table}");
    assert!(fails.is_empty(), "failing cells:\n{}", fails.join("\n"));
}

// ----- the sweep --------------------------------------------------------------------------

fn all_cells() -> Vec<Cell> {
    let mut v = Vec::new();
    for &jumbo in JUMBO_MODES {
        for &size in SIZES {
            for dir in [Dir::Req, Dir::Rep] {
                for &loss in LOSSES {
                    for &rtt in RTTS {
                        let mut c = Cell::new(dir, size, loss, rtt);
                        c.jumbo = jumbo;
                        v.push(c);
                    }
                }
            }
        }
    }
    v
}

fn snapshot_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/netsim_sweep.txt")
}

/// The full sweep: 150 cells. Prints the table, compares it with the committed snapshot.
#[test]
#[ignore = "full sweep: run with --release -- --ignored"]
fn sweep() {
    let wall = WallInstant::now();
    let cells = all_cells();
    // Cells are independent: run them on every core, then report in sweep order.
    let threads = std::thread::available_parallelism().map_or(4, |n| n.get());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(&cell) = cells.get(i) else { break };
                    let r = run_cell(cell, None, 60);
                    results.lock().expect("lock").push((i, r));
                }
            });
        }
    });
    let mut results = results.into_inner().expect("lock");
    results.sort_by_key(|(i, _)| *i);
    let results: Vec<CellResult> = results.into_iter().map(|(_, r)| r).collect();
    let (table, fails) = report(&results);
    let mut slowest: Vec<&CellResult> = results.iter().collect();
    slowest.sort_by_key(|r| std::cmp::Reverse(r.wall));
    println!("{table}");
    println!(
        "sweep: {} cells, {} failing, wall {:.1}s on {threads} threads; slowest cells: {}",
        results.len(),
        fails.len(),
        wall.elapsed().as_secs_f64(),
        slowest
            .iter()
            .take(3)
            .map(|r| format!("{} {:.1}s", r.cell.label(), r.wall.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let timeouts: Vec<String> = results
        .iter()
        .filter(|r| r.ok() && r.outcome != "ok/ok")
        .map(|r| format!("{} {} ({})", r.cell.label(), r.outcome, r.cell.repro()))
        .collect();
    if !timeouts.is_empty() {
        println!(
            "cells that ended with a documented timeout:\n  {}",
            timeouts.join("\n  ")
        );
    }
    let snap = format!("{LEGEND}{table}");
    let path = snapshot_path();
    let update = std::env::var_os("NETSIM_UPDATE").is_some_and(|v| v != "0");
    let old = std::fs::read_to_string(&path).ok();
    let mut problems = fails.clone();
    if update {
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        std::fs::write(&path, &snap).expect("write snapshot");
        println!("snapshot written to {}", path.display());
    } else {
        match old {
            None => problems.push(format!(
                "no snapshot at {}: run with NETSIM_UPDATE=1",
                path.display()
            )),
            Some(old) if old != snap => {
                let mut d = String::from("the table differs from the snapshot (- old, + new):\n");
                let (o, n): (Vec<&str>, Vec<&str>) =
                    (old.lines().collect(), snap.lines().collect());
                for i in 0..o.len().max(n.len()) {
                    let (a, b) = (o.get(i), n.get(i));
                    if a != b {
                        if let Some(a) = a {
                            let _ = writeln!(d, "- {a}");
                        }
                        if let Some(b) = b {
                            let _ = writeln!(d, "+ {b}");
                        }
                    }
                }
                d.push_str("accept with NETSIM_UPDATE=1");
                problems.push(d);
            }
            Some(_) => {}
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n\n"));
}

/// One cell from `NETSIM_CELL=dir,size,loss%,rtt_ms`, with its trace and optional pcap
/// (`NETSIM_PCAP=path`).
#[test]
#[ignore = "reproduces one sweep cell: set NETSIM_CELL"]
fn one_cell() {
    let Some(spec) = std::env::var("NETSIM_CELL").ok() else {
        println!("set NETSIM_CELL=dir,size,loss%,rtt_ms (e.g. rep,1048576,5,10)");
        return;
    };
    let cell = Cell::parse(&spec).expect("NETSIM_CELL=req|rep,size,loss%,rtt_ms");
    let pcap = std::env::var_os("NETSIM_PCAP").map(PathBuf::from);
    let r = run_cell(cell, pcap.as_deref(), trace_len().max(200));
    let (table, fails) = report(std::slice::from_ref(&r));
    println!("{}", r.trace);
    println!("{table}wall {:.2}s", r.wall.as_secs_f64());
    assert!(fails.is_empty(), "{}", fails.join("\n"));
}

// ----- the default subset -----------------------------------------------------------------

/// Every size both ways on a clean 10 ms path.
#[test]
fn subset_sizes_lossless() {
    let mut cells = Vec::new();
    for &size in &[0, 1, 1412, MB] {
        for dir in [Dir::Req, Dir::Rep] {
            cells.push(Cell::new(dir, size, 0, 10_000));
        }
    }
    cells.push(Cell::new(Dir::Rep, 1412, 0, 100));
    cells.push(Cell::new(Dir::Req, 1, 0, 100_000));
    assert_cells(&cells);
}

/// Small calls through every loss rate.
#[test]
fn subset_small_calls_lossy() {
    let mut cells = Vec::new();
    for &loss in &[1, 5, 20, 30] {
        cells.push(Cell::new(Dir::Req, 1412, loss, 10_000));
        cells.push(Cell::new(Dir::Rep, 1, loss, 100_000));
        cells.push(Cell::new(Dir::Req, 0, loss, 100));
    }
    assert_cells(&cells);
}

/// 1 MB through moderate and heavy loss.
#[test]
fn subset_bulk_lossy() {
    assert_cells(&[
        Cell::new(Dir::Rep, MB, 1, 10_000),
        Cell::new(Dir::Req, MB, 5, 100),
        Cell::new(Dir::Rep, MB, 20, 10_000),
        Cell::new(Dir::Req, MB, 30, 100),
    ]);
}

/// 20 MB once, on a short clean path.
#[test]
fn subset_20mb() {
    assert_cells(&[Cell::new(Dir::Rep, 20 * MB, 0, 100)]);
}

// ----- scenarios --------------------------------------------------------------------------

/// A world of `n` nodes: node 0 serves, the others are clients.
fn world(n: usize, seed: u64, link: LinkConfig) -> World {
    world_cfg(n, seed, link, |_, _| {})
}

fn world_cfg(
    n: usize,
    seed: u64,
    link: LinkConfig,
    cfg: impl FnMut(usize, &mut EndpointConfig),
) -> World {
    let mut w = World::new(Sim::new(n, seed, link, cfg));
    w.add_server(0);
    for i in 1..n {
        w.add_client(i);
    }
    w
}

/// Run until every call ended on both sides, then check the verdicts and that nothing leaked.
fn finish(w: &mut World, max: Duration) {
    let stop = w.run_until(max, World::all_done);
    let mut v = w.verdicts();
    if stop != Stop::Done {
        v.push(format!("run stopped: {stop:?} at {:?}", w.sim.now));
    }
    let end = w.sim.now + Duration::from_secs(5);
    w.sim.advance_to(end);
    let now = w.sim.now;
    for (i, n) in w.sim.nodes.iter_mut().enumerate() {
        if let Err(e) = n.ep.shutdown(now) {
            v.push(format!("node {i}: {e}"));
        }
    }
    assert!(
        v.is_empty(),
        "{}\nlast packets:\n{}",
        v.join("\n"),
        w.sim.format_trace(60)
    );
}

/// All calls of the world succeeded (no timeout accepted).
fn assert_all_succeeded(w: &World) {
    for c in &w.clients {
        for (id, k) in &c.calls {
            assert_eq!(k.terminal, Some(Completion::Succeeded), "client call {id}");
        }
    }
    for s in &w.servers {
        for (id, k) in &s.calls {
            assert_eq!(k.terminal, Some(Completion::Succeeded), "server call {id}");
        }
    }
}

#[test]
fn reordering_and_duplication() {
    // An Ethernet MTU: one packet per datagram, so there are enough datagrams to reorder.
    let link = LinkConfig {
        mtu: Some(1500),
        delay: Duration::from_millis(10),
        jitter: Duration::from_millis(2),
        reorder: 0.10,
        reorder_delay: Duration::from_millis(7),
        duplicate: 0.05,
        ..LinkConfig::default()
    };
    let mut w = world(2, 11, link);
    w.call(0, 0, MB, 4);
    w.call(0, 0, 4, MB);
    w.call(0, 0, 0, 0);
    w.call(0, 0, 1, 1412);
    finish(&mut w, Duration::from_secs(600));
    assert_all_succeeded(&w);
    let st = w.sim.link_stats(1, 0);
    assert!(st.reordered > 50 && st.duplicated > 20, "{st:?}");
}

#[test]
fn reordering_duplication_and_loss() {
    let link = LinkConfig {
        delay: Duration::from_millis(25),
        jitter: Duration::from_millis(5),
        loss: 0.05,
        reorder: 0.2,
        reorder_delay: Duration::from_millis(12),
        duplicate: 0.1,
        ..LinkConfig::default()
    };
    let mut w = world(2, 12, link);
    w.call(0, 0, MB, 1412);
    w.call(0, 0, 1412, MB);
    finish(&mut w, Duration::from_secs(1800));
}

#[test]
fn burst_loss() {
    for (seed, mean, burst) in [(21, 0.03, 8.0), (22, 0.10, 20.0)] {
        let link = LinkConfig {
            delay: Duration::from_millis(15),
            burst: Some(GilbertElliott::bursts(mean, burst)),
            ..LinkConfig::default()
        };
        let mut w = world(2, seed, link);
        w.call(0, 0, MB, 4);
        w.call(0, 0, 4, MB);
        finish(&mut w, Duration::from_secs(3600));
        let st = w.sim.link_stats(1, 0);
        assert!(st.lost_burst > 0, "{st:?}");
    }
}

#[test]
fn burst_model_has_the_configured_mean() {
    let ge = GilbertElliott::bursts(0.05, 10.0);
    let mut rng = Rng::new(5);
    let (mut bad, mut lost, mut runs) = (false, 0u32, 0u32);
    let n = 200_000;
    let mut prev = false;
    for _ in 0..n {
        bad = if bad {
            !rng.chance(ge.p_bad_to_good)
        } else {
            rng.chance(ge.p_good_to_bad)
        };
        let l = rng.chance(if bad { ge.loss_bad } else { ge.loss_good });
        lost += u32::from(l);
        runs += u32::from(l && !prev);
        prev = l;
    }
    let mean = f64::from(lost) / f64::from(n);
    let burst = f64::from(lost) / f64::from(runs);
    assert!((0.04..0.06).contains(&mean), "{mean}");
    assert!((8.0..12.0).contains(&burst), "{burst}");
}

/// A path whose MTU is below a full DATA packet (1440 bytes of UDP payload, 1468 of IP):
/// small calls pass; big ones cannot without path-MTU discovery, and must then end with a
/// documented timeout rather than hang.
#[test]
fn mtu_cap() {
    // A cap that fits a full DATA packet exactly changes nothing.
    let mut w = world(
        2,
        31,
        LinkConfig {
            mtu: Some(1468),
            ..LinkConfig::delay(Duration::from_millis(5))
        },
    );
    let sizes = watch_sizes(&mut w);
    w.call(0, 0, 200_000, 200_000);
    finish(&mut w, Duration::from_secs(600));
    assert_all_succeeded(&w);
    // Only path-MTU probes were too big (both ways); no DATA was.
    let s = sizes.borrow();
    assert!(s.max_data <= 1440, "{s:?}");
    let drops = w.sim.link_stats(1, 0).dropped_mtu + w.sim.link_stats(0, 1).dropped_mtu;
    assert_eq!(drops, s.big_acks, "{s:?}");

    // One byte less: every full DATA packet is dropped.
    let mut w = world(
        2,
        32,
        LinkConfig {
            mtu: Some(1467),
            ..LinkConfig::delay(Duration::from_millis(5))
        },
    );
    let small = w.call(0, 0, 1, 1000);
    let big = w.call(0, 0, 100_000, 4);
    finish(&mut w, Duration::from_secs(3600));
    let calls = &w.clients[0].calls;
    assert_eq!(calls[&small].terminal, Some(Completion::Succeeded));
    let t = calls[&big].terminal.expect("terminal");
    assert!(
        t == Completion::Succeeded || is_documented_timeout(&t),
        "big call ended with {t}"
    );
    println!(
        "big call over MTU 1467 ended with {t} after {:?}; drops {:?}",
        calls[&big].ended.unwrap_or(w.sim.now) - calls[&big].started,
        w.sim.link_stats(1, 0)
    );
    assert!(w.sim.link_stats(1, 0).dropped_mtu > 0);
}

/// Sizes of what the endpoints sent, as a hook saw them.
#[derive(Clone, Debug, Default)]
struct Sizes {
    /// Largest DATA datagram.
    max_data: usize,
    /// ACK datagrams above one full DATA packet (path-MTU probes).
    big_acks: u64,
    /// Subpackets in the largest jumbo DATA datagram.
    max_subpackets: usize,
    /// Jumbo DATA datagrams.
    jumbos: u64,
}

/// Install a hook that records datagram sizes (and passes everything).
fn watch_sizes(w: &mut World) -> std::rc::Rc<std::cell::RefCell<Sizes>> {
    let sizes = std::rc::Rc::new(std::cell::RefCell::new(Sizes::default()));
    let s = sizes.clone();
    w.sim.hook = Some(Box::new(move |p| {
        let mut s = s.borrow_mut();
        match p.header.map(|h| (h.packet_type, h.flags)) {
            Some((PacketType::DATA, f)) => {
                s.max_data = s.max_data.max(p.bytes.len());
                if f.contains(Flags::JUMBO_PACKET) {
                    s.jumbos += 1;
                    let n = DataView::new_checked(p.bytes).map_or(0, |v| v.subpacket_count());
                    s.max_subpackets = s.max_subpackets.max(n);
                }
            }
            Some((PacketType::ACK, _)) if p.bytes.len() > 1440 => s.big_acks += 1,
            _ => {}
        }
        Verdict::Pass
    }));
    sizes
}

/// Engine bug (found by `random_worlds` seed 16 with an MTU cap of 1200): the server's
/// full-size reply DATA packets exceed the path MTU and are all dropped, while both sides'
/// keepalive PINGs and PING_RESPONSEs pass. Every PING resets both calls' "expect to hear"
/// deadline, the sender backs its RTO off to 60 s, and neither call ever ends: after four
/// virtual hours both are still live. Intended: the call makes no progress although the peer
/// is alive, so it should end with RX_CALL_DEAD (or learn the path MTU, issue 4 item 4); it
/// must not hang.
#[test]
fn mtu_black_hole_reply() {
    let mut w = world(2, 33, LinkConfig::delay(Duration::from_millis(5)));
    w.sim.link_mut(0, 1).mtu = Some(1400);
    let id = w.call(0, 0, 4, 100_000);
    let stop = w.run_until(Duration::from_secs(3600), World::all_done);
    let k = &w.clients[0].calls[&id];
    assert_eq!(
        stop,
        Stop::Done,
        "client call: {:?}; last packets:\n{}",
        k.terminal,
        w.sim.format_trace(12)
    );
    let t = k.terminal.expect("terminal");
    assert!(is_documented_timeout(&t), "{t}");
}

/// The hook drops chosen packets: the first DATA twice, the last reply packet, the final ACK.
#[test]
fn hook_drops_chosen_packets() {
    let mut w = world(2, 41, LinkConfig::delay(Duration::from_millis(5)));
    let client = w.sim.nodes[1].addr;
    let mut first_data_drops = 0;
    let mut last_reply_drops = 0;
    let mut final_ack_drops = 0;
    let mut reply_done = false;
    w.sim.hook = Some(Box::new(move |p| {
        let Some(h) = p.header else {
            return Verdict::Pass;
        };
        let last = h.flags.contains(Flags::LAST_PACKET);
        // The very first datagram (the request's first DATA) waits 50 ms before the drops.
        if p.index == 0 {
            assert_eq!(p.at, Instant::ZERO);
            return Verdict::Delay(Duration::from_millis(50));
        }
        let first = h.packet_type == PacketType::DATA && p.from == client && h.seq.0 == 1;
        if first && first_data_drops < 2 {
            first_data_drops += 1;
            return Verdict::Drop;
        }
        if h.packet_type == PacketType::DATA && p.to == client && last {
            reply_done = true;
            if last_reply_drops < 1 {
                last_reply_drops += 1;
                return Verdict::Drop;
            }
        }
        let final_ack = h.packet_type == PacketType::ACK && p.from == client && reply_done;
        if final_ack && final_ack_drops < 2 {
            final_ack_drops += 1;
            return Verdict::Drop;
        }
        Verdict::Pass
    }));
    w.call(0, 0, 5000, 9000);
    finish(&mut w, Duration::from_secs(120));
    assert_all_succeeded(&w);
    assert_eq!(w.sim.link_stats(1, 0).dropped_hook, 2);
    assert!(w.sim.link_stats(0, 1).dropped_hook >= 1);
}

/// The hook rewrites a packet into garbage and forces the others through a lossy link; a
/// replay of an old DATA packet after its call finished is harmless.
#[test]
fn hook_rewrites_and_injects() {
    let link = LinkConfig {
        loss: 0.5,
        ..LinkConfig::delay(Duration::from_millis(3))
    };
    let mut w = world(2, 42, link);
    let mut n = 0;
    w.sim.hook = Some(Box::new(move |p| {
        n += 1;
        if n == 3 {
            let mut junk = p.bytes.to_vec();
            junk.truncate(10);
            return Verdict::Replace(junk);
        }
        // Everything else is exempt from the 50 % loss.
        Verdict::Deliver
    }));
    w.call(0, 0, 3000, 3000);
    finish(&mut w, Duration::from_secs(120));
    assert_all_succeeded(&w);
    // Only the rewritten datagram went through the lossy link: malformed, or lost.
    let malformed: u64 = w.sim.nodes.iter().map(|n| n.ep.stats().malformed).sum();
    let (a, b) = (w.sim.link_stats(0, 1), w.sim.link_stats(1, 0));
    assert_eq!(a.offered + b.offered, 1);
    assert_eq!(malformed + a.lost_random + b.lost_random, 1);

    // Keep the first request DATA packet, replay it once the call is over, then call again.
    let mut w = world(2, 43, LinkConfig::delay(Duration::from_millis(3)));
    let kept = std::rc::Rc::new(std::cell::RefCell::new(None::<(Vec<u8>, _, _)>));
    let k = kept.clone();
    w.sim.hook = Some(Box::new(move |p| {
        let is_data = p.header.is_some_and(|h| h.packet_type == PacketType::DATA);
        if is_data && k.borrow().is_none() {
            *k.borrow_mut() = Some((p.bytes.to_vec(), p.from, p.to));
        }
        Verdict::Pass
    }));
    w.call(0, 0, 100, 100);
    let stop = w.run_until(Duration::from_secs(30), World::all_done);
    assert_eq!(stop, Stop::Done);
    let (bytes, from, to) = kept.borrow_mut().take().expect("a DATA packet");
    w.sim
        .inject(from, to, bytes.clone(), Duration::from_millis(1));
    w.run_until(Duration::from_secs(1), |_| false);
    w.call(0, 0, 100, 100);
    w.sim.inject(from, to, bytes, Duration::from_millis(1));
    finish(&mut w, Duration::from_secs(30));
    assert_all_succeeded(&w);
}

/// Everything is black-holed mid-call: both sides give up with RX_CALL_TIMEOUT after the
/// idle timeout, neither hangs.
#[test]
fn blackhole_times_out() {
    let mut w = world(2, 51, LinkConfig::delay(Duration::from_millis(10)));
    let black = std::rc::Rc::new(std::cell::Cell::new(false));
    let b = black.clone();
    w.sim.hook = Some(Box::new(move |_| {
        if b.get() {
            Verdict::Drop
        } else {
            Verdict::Pass
        }
    }));
    let id = w.call(0, 0, 4 * MB, 4);
    let start = w.sim.now;
    // Let the transfer get going, then cut the path.
    w.run_until(Duration::from_millis(300), |_| false);
    black.set(true);
    let stop = w.run_until(Duration::from_secs(300), World::all_done);
    assert_eq!(stop, Stop::Done, "{}", w.sim.format_trace(30));
    let k = &w.clients[0].calls[&id];
    let t = k.terminal.expect("terminal");
    assert_eq!(t.abort_code(), Some(AbortCode::RX_CALL_TIMEOUT), "{t}");
    let took = k.ended.expect("ended") - start;
    let idle = EndpointConfig::default().call_idle_timeout;
    assert!(
        took >= idle && took <= idle * 2,
        "client gave up after {took:?}"
    );
    let s = w.servers[0].calls.values().next().expect("server call");
    assert!(
        s.terminal.is_some_and(|t| is_documented_timeout(&t)),
        "{:?}",
        s.terminal
    );
    assert!(w.verdicts().is_empty(), "{:?}", w.verdicts());
}

/// Engine deviation (seen in soak seed 8475): two calls share a connection and the path goes
/// dark for good. Each call times out 20 s after it last heard its peer; the call that heard
/// it first sees that the connection's highest serial moved on afterwards (the other call's
/// packets, up to the moment of the blackout) and ends with RX_CALL_DEAD ("peer alive but
/// ignoring this call"), although the peer has been silent for the whole timeout. Intended:
/// RX_CALL_TIMEOUT for silence.
#[test]
fn blackhole_times_out_with_two_calls() {
    let mut w = world(2, 52, LinkConfig::delay(Duration::from_millis(10)));
    let black = std::rc::Rc::new(std::cell::Cell::new(false));
    let b = black.clone();
    w.sim.hook = Some(Box::new(move |_| {
        if b.get() {
            Verdict::Drop
        } else {
            Verdict::Pass
        }
    }));
    w.call(0, 0, 4 * MB, 4);
    w.call(0, 0, 4 * MB, 4);
    w.run_until(Duration::from_millis(300), |_| false);
    black.set(true);
    let stop = w.run_until(Duration::from_secs(300), World::all_done);
    assert_eq!(stop, Stop::Done);
    let mut ends = Vec::new();
    for k in w.clients[0].calls.values() {
        ends.push(("client", k.terminal));
    }
    for k in w.servers[0].calls.values() {
        ends.push(("server", k.terminal));
    }
    for (who, t) in &ends {
        let code = t.and_then(|t| t.abort_code());
        assert_eq!(code, Some(AbortCode::RX_CALL_TIMEOUT), "{who}: {ends:?}");
    }
}

/// Three endpoints: two clients with several concurrent calls each to one server, 5 % loss.
#[test]
fn many_calls_many_endpoints() {
    let link = LinkConfig {
        delay: Duration::from_millis(8),
        jitter: Duration::from_millis(1),
        loss: 0.05,
        ..LinkConfig::default()
    };
    let mut w = world(3, 61, link);
    for c in 0..2 {
        for k in 0..6u64 {
            w.call(c, 0, k * 37_000 + c as u64, (5 - k) * 23_000 + 7);
        }
    }
    finish(&mut w, Duration::from_secs(1800));
    let done: usize = w.servers[0].calls.len();
    assert_eq!(done, 12);
}

/// Sequential calls reuse connection channels under loss.
#[test]
fn sequential_calls_reuse_channels() {
    let link = LinkConfig {
        loss: 0.05,
        ..LinkConfig::delay(Duration::from_millis(2))
    };
    let mut w = world(2, 71, link);
    for i in 0..20u64 {
        w.call(0, 0, i * 500, 10_000 - i * 400);
        let stop = w.run_until(Duration::from_secs(300), World::clients_done);
        assert_eq!(stop, Stop::Done);
    }
    finish(&mut w, Duration::from_secs(300));
}

/// A bottleneck with a drop-tail queue: the congestion controller has to find the rate.
#[test]
fn bottleneck() {
    let link = LinkConfig {
        delay: Duration::from_millis(20),
        rate: Some(2_000_000),
        queue_limit: Duration::from_millis(30),
        ..LinkConfig::default()
    };
    let mut w = world(2, 81, link);
    let id = w.call(0, 0, 4, 4 * MB);
    finish(&mut w, Duration::from_secs(600));
    assert_all_succeeded(&w);
    let k = &w.clients[0].calls[&id];
    let secs = (k.ended.expect("ended") - k.started).as_secs_f64();
    let rate = (4 * MB) as f64 / secs;
    println!(
        "4 MB through a 2 MB/s bottleneck: {rate:.0} B/s, queue drops {:?}",
        w.sim.link_stats(0, 1)
    );
    assert!(rate > 200_000.0, "{rate:.0} B/s");
}

/// Different impairments each way, changed in the middle of a transfer: a slow lossy
/// forward path, a fast clean return path, then a loss spike that heals.
#[test]
fn asymmetric_path_and_loss_spike() {
    let mut w = world(2, 91, LinkConfig::default());
    // Node 1 (client) to node 0 (server) and back.
    w.sim.set_link(
        1,
        0,
        LinkConfig {
            loss: 0.02,
            jitter: Duration::from_millis(3),
            ..LinkConfig::delay(Duration::from_millis(40))
        },
    );
    w.sim
        .set_link(0, 1, LinkConfig::delay(Duration::from_millis(2)));
    w.call(0, 0, 2 * MB, 4);
    w.call(0, 0, 4, 2 * MB);
    w.run_until(Duration::from_secs(2), |_| false);
    w.sim.link_mut(0, 1).loss = 0.6;
    w.sim.link_mut(1, 0).loss = 0.6;
    w.run_until(Duration::from_secs(3), |_| false);
    w.sim.link_mut(0, 1).loss = 0.0;
    w.sim.link_mut(1, 0).loss = 0.0;
    finish(&mut w, Duration::from_secs(1800));
    assert_all_succeeded(&w);
    assert!(w.sim.link_stats(0, 1).lost_random > 0);
}

/// Slow applications close the receive windows: the calls must wait for them, not time out,
/// even when a period of not reading exceeds the idle timeout.
#[test]
fn slow_readers() {
    let link = LinkConfig {
        loss: 0.02,
        ..LinkConfig::delay(Duration::from_millis(10))
    };
    let mut w = world(2, 101, link);
    w.pace_client(
        0,
        Pace {
            bytes: 64 * 1024,
            period: Duration::from_millis(100),
        },
    );
    w.pace_server(
        0,
        Pace {
            bytes: 32 * 1024,
            period: Duration::from_millis(50),
        },
    );
    w.call(0, 0, 2 * MB, 4);
    w.call(0, 0, 4, 2 * MB);
    finish(&mut w, Duration::from_secs(1800));
    assert_all_succeeded(&w);

    // A reader that takes two packets' worth every 25 s, on a clean path.
    let mut w = world(2, 102, LinkConfig::delay(Duration::from_millis(10)));
    w.pace_client(
        0,
        Pace {
            bytes: 2 * 1412,
            period: Duration::from_secs(25),
        },
    );
    w.call(0, 0, 4, 500 * 1412);
    finish(&mut w, Duration::from_secs(4 * 3600));
    assert_all_succeeded(&w);
}

/// More concurrent calls than a bundle has channels (4 connections × 4), through loss: calls
/// wait for channels, the server's backlog of 8 runs dry (BUSY), everything completes.
#[test]
fn more_calls_than_channels() {
    let link = LinkConfig {
        loss: 0.02,
        ..LinkConfig::delay(Duration::from_millis(5))
    };
    let mut w = world(2, 111, link);
    for i in 0..40u64 {
        w.call(0, 0, 20_000 + i, 30_000 - i);
    }
    finish(&mut w, Duration::from_secs(1800));
    assert_eq!(w.servers[0].calls.len(), 40);
    assert_all_succeeded(&w);
}

/// Reordering beyond the retransmission timeout, heavy duplication, and a 2 s round trip
/// (longer than the initial RTO).
#[test]
fn spurious_retransmissions() {
    let link = LinkConfig {
        reorder: 0.3,
        reorder_delay: Duration::from_millis(300),
        duplicate: 0.5,
        ..LinkConfig::delay(Duration::from_millis(5))
    };
    let mut w = world(2, 121, link);
    w.call(0, 0, MB, 1412);
    w.call(0, 0, 1412, MB);
    finish(&mut w, Duration::from_secs(1800));
    assert_all_succeeded(&w);

    let link = LinkConfig {
        loss: 0.01,
        ..LinkConfig::delay(Duration::from_secs(1))
    };
    let mut w = world(2, 122, link);
    w.call(0, 0, MB, 0);
    w.call(0, 0, 0, MB);
    finish(&mut w, Duration::from_secs(3600));
    assert_all_succeeded(&w);
}

/// The server stays alive on the connection (other calls keep completing) but every packet of
/// one call is lost: that call ends with RX_CALL_DEAD, the others succeed.
#[test]
fn peer_alive_but_call_ignored() {
    let mut w = world(2, 131, LinkConfig::delay(Duration::from_millis(10)));
    let victim = w.call(0, 0, 4, 4 * MB);
    w.run_until(Duration::from_millis(200), |_| false);
    // The victim is the first call on the connection: call number 1 on channel 0.
    w.sim.hook = Some(Box::new(|p| match p.header {
        Some(h) if h.call_number.0 == 1 && h.cid.0 & 3 == 0 => Verdict::Drop,
        _ => Verdict::Pass,
    }));
    for _ in 0..40 {
        w.call(0, 0, 100, 100);
        w.run_until(Duration::from_secs(1), |_| false);
    }
    finish(&mut w, Duration::from_secs(120));
    let k = &w.clients[0].calls[&victim];
    let t = k.terminal.expect("terminal");
    assert_eq!(t.abort_code(), Some(AbortCode::RX_CALL_DEAD), "{t}");
    let others_ok = w.clients[0]
        .calls
        .iter()
        .filter(|(id, _)| **id != victim)
        .all(|(_, k)| k.terminal == Some(Completion::Succeeded));
    assert!(others_ok);
}

/// Regression (sweep cell `rep 0B 30% 10ms`, fixed in 65211ab): the client's first DATA
/// packets are lost, its keepalive PING (an ACK, sent at idle_timeout / 6 = 3.33 s) is the
/// first packet the server sees of the connection. It must be dropped (as Linux does), not
/// answered with ABORT `RX_PROTOCOL_ERROR`, so the next retransmission starts the call.
#[test]
fn ping_before_first_data() {
    let mut w = world(2, 151, LinkConfig::delay(Duration::from_millis(5)));
    let server = w.sim.nodes[0].addr;
    w.sim.hook = Some(Box::new(move |p| match p.header {
        Some(h) if h.packet_type == PacketType::DATA && p.to == server => {
            if p.at < Instant::from_micros(4_000_000) {
                Verdict::Drop
            } else {
                Verdict::Pass
            }
        }
        _ => Verdict::Pass,
    }));
    w.call(0, 0, 0, 0);
    finish(&mut w, Duration::from_secs(60));
    assert_all_succeeded(&w);
}

/// The client's view of its peer, the server on node 0.
fn client_peer_stats(w: &World) -> rxrpc_proto::PeerStats {
    let server = w.sim.nodes[0].addr;
    w.sim.nodes[1]
        .ep
        .peer_stats(server)
        .expect("the client has a connection to the server")
}

/// A peer of the OpenAFS convention (its ACK trailers say "jumbo packets of up to 4
/// subpackets", no path-MTU discovery) gets jumbo packets at once, without probes; through a
/// path that drops datagrams of 4 subpackets silently, the sender halves to 2 and the call
/// completes.
#[test]
fn jumbo_to_openafs_convention_peer() {
    let openafs = |i: usize, c: &mut EndpointConfig| {
        if i == 0 {
            c.jumbo_advertise = JumboAdvertise::Count(4);
        }
    };
    let mut w = world_cfg(2, 161, LinkConfig::delay(Duration::from_millis(5)), openafs);
    let sizes = watch_sizes(&mut w);
    w.call(0, 0, 2 * MB, 4);
    let stop = w.run_until(Duration::from_secs(60), World::all_done);
    assert_eq!(stop, Stop::Done);
    let p = client_peer_stats(&w);
    assert_eq!((p.jumbo_subpackets, p.mtu_probes), (4, 0), "{p:?}");
    finish(&mut w, Duration::from_secs(60));
    assert_all_succeeded(&w);
    let s = sizes.borrow().clone();
    assert_eq!(s.max_subpackets, 4, "{s:?}");
    assert!(s.jumbos > 300, "{s:?}");
    assert_eq!(s.big_acks, 0, "no probes towards a count-convention peer");
    assert_eq!(s.max_data, 28 + 3 * 1416 + 1412);

    // The path carries 3000-byte datagrams, and says nothing about bigger ones.
    let link = LinkConfig {
        mtu: Some(3000),
        ..LinkConfig::delay(Duration::from_millis(5))
    };
    let mut w = world_cfg(2, 162, link, openafs);
    let sizes = watch_sizes(&mut w);
    w.call(0, 0, 2 * MB, 4);
    let stop = w.run_until(Duration::from_secs(120), World::all_done);
    assert_eq!(stop, Stop::Done);
    let p = client_peer_stats(&w);
    assert_eq!(p.jumbo_subpackets, 2, "{p:?}");
    finish(&mut w, Duration::from_secs(60));
    assert_all_succeeded(&w);
    let s = sizes.borrow().clone();
    assert!(w.sim.link_stats(1, 0).dropped_mtu > 0);
    assert!(s.jumbos > 300, "{s:?}");
}

/// Path-MTU discovery towards a peer of the Linux convention (`jumbo_max` 0) under an MTU cap
/// of 5000: probes of 2 subpackets pass, 4 fail (three tries), 3 pass; DATA then goes in
/// jumbo packets of 3 subpackets and never exceeds the path.
#[test]
fn pmtu_search_down_under_mtu_cap() {
    let link = LinkConfig {
        mtu: Some(5000),
        ..LinkConfig::delay(Duration::from_millis(5))
    };
    let mut w = world(2, 171, link);
    let sizes = watch_sizes(&mut w);
    w.call(0, 0, 8 * MB, 4);
    let stop = w.run_until(Duration::from_secs(60), World::all_done);
    assert_eq!(stop, Stop::Done);
    let p = client_peer_stats(&w);
    assert_eq!(p.path_mtu as usize, jumbo_datagram_len(3), "{p:?}");
    assert_eq!(p.jumbo_subpackets, 3, "{p:?}");
    finish(&mut w, Duration::from_secs(60));
    assert_all_succeeded(&w);
    let s = sizes.borrow().clone();
    assert_eq!(s.max_subpackets, 3, "{s:?}");
    assert!(s.max_data + 28 <= 5000, "{s:?}");
    // Only the three probes of 4 subpackets were too big.
    assert_eq!(w.sim.link_stats(1, 0).dropped_mtu, 3);
    assert_eq!(p.mtu_probes, 5, "2, 4 (three times), 3");
}

/// The network reports a path MTU below one full DATA packet (what the driver does on ICMP
/// "fragmentation needed" or `EMSGSIZE`): the next call's packets are cut to fit.
#[test]
fn reduced_path_mtu_shrinks_packets() {
    let link = LinkConfig {
        mtu: Some(1300),
        ..LinkConfig::delay(Duration::from_millis(5))
    };
    let mut w = world(2, 181, link);
    w.call(0, 0, 100, 100);
    let stop = w.run_until(Duration::from_secs(60), World::all_done);
    assert_eq!(stop, Stop::Done);
    let server = w.sim.nodes[0].addr;
    w.sim.ep(1).reduce_path_mtu(server, 1300);
    assert_eq!(client_peer_stats(&w).path_mtu, 1300 - 28);
    assert_eq!(w.sim.nodes[1].ep.path_mtu(server), Some(1272));
    let sizes = watch_sizes(&mut w);
    w.call(0, 0, 300_000, 4);
    finish(&mut w, Duration::from_secs(120));
    assert_all_succeeded(&w);
    let s = sizes.borrow().clone();
    assert!(s.max_data <= 1272, "{s:?}");
    assert_eq!(w.sim.link_stats(1, 0).dropped_mtu, 0);
}

/// When the last packet of a request is lost, the tail-loss probe re-sends it after about
/// two round trips plus the peer's ACK delay, well before the retransmission timeout (at
/// least 200 ms) would.
#[test]
fn tail_loss_probe_beats_the_rto() {
    fn last_packet_gap(tlp: bool) -> Duration {
        let cfg = move |_: usize, c: &mut EndpointConfig| {
            c.tail_loss_probe = tlp;
            c.jumbo = false;
        };
        let mut w = world_cfg(2, 191, LinkConfig::delay(Duration::from_millis(5)), cfg);
        let client = w.sim.nodes[1].addr;
        let times = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let t = times.clone();
        w.sim.hook = Some(Box::new(move |p| match p.header {
            Some(h)
                if h.packet_type == PacketType::DATA
                    && p.from == client
                    && h.flags.contains(Flags::LAST_PACKET) =>
            {
                let mut t = t.borrow_mut();
                t.push(p.at);
                if t.len() == 1 {
                    Verdict::Drop
                } else {
                    Verdict::Pass
                }
            }
            _ => Verdict::Pass,
        }));
        w.call(0, 0, 100_000, 4);
        finish(&mut w, Duration::from_secs(60));
        assert_all_succeeded(&w);
        let t = times.borrow();
        assert!(t.len() >= 2, "{t:?}");
        t[1] - t[0]
    }
    let with = last_packet_gap(true);
    let without = last_packet_gap(false);
    println!("last packet re-sent after {with:?} with a probe, {without:?} without");
    assert!(with < Duration::from_millis(150), "{with:?}");
    assert!(without >= Duration::from_millis(200), "{without:?}");
}

/// The slow-start threshold a call ends with is remembered for its peer and seeds the next
/// call: after a lossy call, the next one leaves slow start early instead of doubling its
/// window up to the cap.
#[test]
fn ssthresh_cache_seeds_the_next_call() {
    fn second_call_cwnd(first_loss: f64) -> (u32, u32) {
        let link = LinkConfig {
            loss: first_loss,
            ..LinkConfig::delay(Duration::from_millis(5))
        };
        let cfg = |_: usize, c: &mut EndpointConfig| c.jumbo = false;
        let mut w = world_cfg(2, 201, link, cfg);
        w.call(0, 0, 2 * MB, 4);
        let stop = w.run_until(Duration::from_secs(600), World::all_done);
        assert_eq!(stop, Stop::Done);
        let cached = client_peer_stats(&w).ssthresh;
        w.sim.link_mut(1, 0).loss = 0.0;
        w.sim.link_mut(0, 1).loss = 0.0;
        let id = w.call(0, 0, 4 * MB, 4);
        // Eight round trips.
        w.run_until(Duration::from_millis(80), |_| false);
        let snap = w.sim.nodes[1].ep.snapshot();
        let c = snap.calls.iter().find(|c| c.user_id == id).expect("call");
        let cwnd = c.cwnd;
        finish(&mut w, Duration::from_secs(600));
        assert_all_succeeded(&w);
        (cached, cwnd)
    }
    let (clean_ssthresh, clean_cwnd) = second_call_cwnd(0.0);
    let (lossy_ssthresh, lossy_cwnd) = second_call_cwnd(0.03);
    println!(
        "ssthresh {clean_ssthresh} -> cwnd {clean_cwnd}; ssthresh {lossy_ssthresh} -> cwnd {lossy_cwnd}"
    );
    assert_eq!(clean_ssthresh, 128);
    assert_eq!(clean_cwnd, 128);
    assert!(
        lossy_ssthresh > 0 && lossy_ssthresh < 64,
        "{lossy_ssthresh}"
    );
    assert!(lossy_cwnd <= lossy_ssthresh + 10, "{lossy_cwnd}");
}

/// A request that pauses for longer than a retransmission timeout restarts from the initial
/// window of 4 packets (RFC 5681 §4.1), although its window had grown before the pause.
#[test]
fn idle_restart_after_a_pause() {
    let cfg = |_: usize, c: &mut EndpointConfig| c.jumbo = false;
    let mut w = world_cfg(2, 211, LinkConfig::delay(Duration::from_millis(5)), cfg);
    let client = w.sim.nodes[1].addr;
    let sent = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let s = sent.clone();
    w.sim.hook = Some(Box::new(move |p| {
        if p.from == client && p.header.is_some_and(|h| h.packet_type == PacketType::DATA) {
            s.borrow_mut().push(p.at);
        }
        Verdict::Pass
    }));
    let id = w.call_paused(0, 0, 2 * MB, 4, MB, Duration::from_secs(2));
    // In the pause: everything sent so far is acknowledged, the window is wide open.
    w.run_until(Duration::from_secs(1), |_| false);
    let snap = w.sim.nodes[1].ep.snapshot();
    let before = snap
        .calls
        .iter()
        .find(|c| c.user_id == id)
        .expect("call")
        .cwnd;
    finish(&mut w, Duration::from_secs(60));
    assert_all_succeeded(&w);
    let sent = sent.borrow();
    let resume = w.clients[0].calls[&id].resume_at.expect("paused");
    let burst = sent.iter().filter(|t| **t == resume).count();
    println!("cwnd {before} before the pause, {burst} packets at resume");
    assert!(before > 32, "{before}");
    assert_eq!(burst, 4);
}

/// A transmit window of 255 packets (the most one ACK describes) roughly doubles what a
/// long path carries compared with the default of 128.
#[test]
fn transmit_window_of_255() {
    fn transfer(window: u32) -> Duration {
        let cfg = move |_: usize, c: &mut EndpointConfig| {
            c.tx_window_max = window;
            c.jumbo = false;
        };
        let mut w = world_cfg(2, 221, LinkConfig::delay(Duration::from_millis(50)), cfg);
        let id = w.call(0, 0, 4, 8 * MB);
        finish(&mut w, Duration::from_secs(600));
        assert_all_succeeded(&w);
        let k = &w.clients[0].calls[&id];
        k.ended.expect("ended") - k.started
    }
    let (a, b) = (transfer(128), transfer(255));
    println!("8 MB over 100 ms: window 128 {a:?}, window 255 {b:?}");
    assert!(b.as_secs_f64() < a.as_secs_f64() * 0.6, "{a:?} {b:?}");
}

/// Peer keepalive: 20 s after the last packet to a peer with live connections, a VERSION
/// keepalive goes out (and is not answered); none once the connections are gone.
#[test]
fn peer_keepalive() {
    let mut w = world(2, 231, LinkConfig::delay(Duration::from_millis(5)));
    let client = w.sim.nodes[1].addr;
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let s = seen.clone();
    w.sim.hook = Some(Box::new(move |p| {
        if let Some(h) = p.header {
            s.borrow_mut().push((p.at, p.from == client, h.packet_type));
        }
        Verdict::Pass
    }));
    w.call(0, 0, 100, 100);
    let stop = w.run_until(Duration::from_secs(10), World::all_done);
    assert_eq!(stop, Stop::Done);
    // Client connections are discarded after 120 s idle, service ones after 600 s.
    w.run_until(Duration::from_secs(700), |_| false);
    let seen = seen.borrow();
    let last_call_packet = seen
        .iter()
        .filter(|(_, from_client, t)| *from_client && *t != PacketType::VERSION)
        .map(|(at, _, _)| *at)
        .max()
        .expect("packets");
    let ka: Vec<Instant> = seen
        .iter()
        .filter(|(_, from_client, t)| *from_client && *t == PacketType::VERSION)
        .map(|(at, _, _)| *at)
        .collect();
    println!("client keepalives at {ka:?}, last call packet at {last_call_packet:?}");
    assert!(ka.len() >= 4 && ka.len() <= 6, "{ka:?}");
    assert_eq!(ka[0] - last_call_packet, Duration::from_secs(20));
    for pair in ka.windows(2) {
        assert_eq!(pair[1] - pair[0], Duration::from_secs(20));
    }
    assert!(*ka.last().unwrap() < Instant::from_micros(130_000_000));
    let server_ka = seen
        .iter()
        .filter(|(_, from_client, t)| !*from_client && *t == PacketType::VERSION)
        .count();
    assert!(
        server_ka >= 25,
        "the service connection lives 600 s: {server_ka}"
    );
    assert_eq!(w.sim.nodes[0].ep.stats().version_replies, 0);
    assert_eq!(w.sim.nodes[1].ep.stats().version_replies, 0);
}

/// The harness itself: a flipped byte in one DATA packet is caught (rxnull has no checksum).
#[test]
fn harness_catches_corruption() {
    let mut w = world(2, 141, LinkConfig::delay(Duration::from_millis(1)));
    let mut done = false;
    w.sim.hook = Some(Box::new(move |p| match p.header {
        Some(h) if !done && h.packet_type == PacketType::DATA && h.seq.0 == 3 => {
            done = true;
            let mut b = p.bytes.to_vec();
            b[28 + 100] ^= 0x40;
            Verdict::Replace(b)
        }
        _ => Verdict::Pass,
    }));
    w.call(0, 0, 4, 10_000);
    let stop = w.run_until(Duration::from_secs(60), World::all_done);
    assert_eq!(stop, Stop::Done);
    let v = w.verdicts();
    assert_eq!(v, ["client 0 call 1: reply byte 2924 is wrong"]);
}

/// A random world from `seed`: two or three endpoints, random impairments on each direction
/// (sometimes a bottleneck or an MTU cap), sometimes random windows and queue sizes, 1-6
/// concurrent calls per client of random sizes, sometimes a slow reader. Returns what went
/// wrong (empty when all is well) and the world's description with its last packets.
fn random_world(seed: u64, max_size: u64) -> (Vec<String>, String) {
    let mut r = Rng::new(seed ^ 0x005e_ed0f_5eed);
    let link = |r: &mut Rng| {
        let delay = Duration::from_micros(50 + r.next_u64() % 80_000);
        LinkConfig {
            delay,
            jitter: if r.chance(0.5) {
                r.upto(delay / 2)
            } else {
                Duration::ZERO
            },
            loss: if r.chance(0.7) { r.unit() * 0.25 } else { 0.0 },
            burst: r
                .chance(0.3)
                .then(|| GilbertElliott::bursts(0.01 + r.unit() * 0.1, 1.0 + r.unit() * 20.0)),
            reorder: if r.chance(0.4) { r.unit() * 0.3 } else { 0.0 },
            reorder_delay: r.upto(delay * 2 + Duration::from_millis(1)),
            duplicate: if r.chance(0.3) { r.unit() * 0.2 } else { 0.0 },
            mtu: r.chance(0.05).then(|| {
                let floor: u64 = if KNOWN_MTU_HANG { 1468 } else { 1200 };
                (floor + r.next_u64() % (1501 - floor)) as usize
            }),
            rate: r.chance(0.15).then(|| 100_000 + r.next_u64() % 10_000_000),
            queue_limit: Duration::from_millis(5 + r.next_u64() % 100),
        }
    };
    let nodes = if r.chance(0.3) { 3 } else { 2 };
    let configs: Vec<Option<(u32, u32, u32, u32)>> = (0..nodes)
        .map(|_| {
            r.chance(0.3).then(|| {
                (
                    1 + (r.next_u64() % 255) as u32,
                    1 + (r.next_u64() % 255) as u32,
                    1 + (r.next_u64() % 64) as u32,
                    1 + (r.next_u64() % 512) as u32,
                )
            })
        })
        .collect();
    let cfgs = configs.clone();
    let mut w = world_cfg(nodes, seed, LinkConfig::default(), move |i, c| {
        if let Some((rx, txmax, txinit, q)) = cfgs[i] {
            c.rx_window = rx;
            c.tx_window_max = txmax;
            c.tx_window_initial = txinit;
            c.tx_queue_max = q;
        }
    });
    w.sim.set_trace_len(trace_len());
    let mut links = Vec::new();
    for i in 1..nodes {
        let (up, down) = (link(&mut r), link(&mut r));
        w.sim.set_link(i, 0, up.clone());
        w.sim.set_link(0, i, down.clone());
        links.push((i, up, down));
    }
    let size = |r: &mut Rng| match r.next_u64() % 4 {
        0 => r.next_u64() % 3,
        1 => 1400 + r.next_u64() % 30,
        _ => r.next_u64() % (max_size + 1),
    };
    if r.chance(0.2) {
        let pace = Pace {
            bytes: 1412 * (1 + (r.next_u64() % 40) as usize),
            period: Duration::from_millis(1 + r.next_u64() % 500),
        };
        if r.chance(0.5) {
            w.pace_client(0, pace);
        } else {
            w.pace_server(0, pace);
        }
    }
    for c in 0..nodes - 1 {
        for _ in 0..1 + r.next_u64() % 6 {
            let (a, b) = (size(&mut r), size(&mut r));
            w.call(c, 0, a, b);
        }
    }
    let stop = w.run_until(Duration::from_secs(4 * 3600), World::all_done);
    let mut v = w.verdicts();
    if stop != Stop::Done {
        v.push(format!("run stopped: {stop:?} at {:?}", w.sim.now));
    }
    let end = w.sim.now + Duration::from_secs(5);
    w.sim.advance_to(end);
    let now = w.sim.now;
    for (i, n) in w.sim.nodes.iter_mut().enumerate() {
        if let Err(e) = n.ep.shutdown(now) {
            v.push(format!("node {i}: {e}"));
        }
    }
    if std::env::var_os("NETSIM_VERBOSE").is_some() {
        for (ci, c) in w.clients.iter().enumerate() {
            println!(
                "seed {seed} client {ci}: {:?}, {} datagrams, {:?} virtual",
                c.calls
                    .values()
                    .map(|c| (c.spec.req_len, c.spec.reply_len, short(c.terminal.as_ref())))
                    .collect::<Vec<_>>(),
                w.sim.datagrams_sent(),
                w.sim.now
            );
        }
    }
    let mut context = String::new();
    if !v.is_empty() {
        for (i, up, down) in &links {
            let _ = writeln!(context, "node {i} > 0: {up:?}\nnode 0 > {i}: {down:?}");
        }
        let _ = writeln!(
            context,
            "configs (rx_window, tx_window_max, tx_window_initial, tx_queue_max): {configs:?}"
        );
        let _ = write!(
            context,
            "last packets:\n{}",
            w.sim.format_trace(trace_len())
        );
    }
    (v, context)
}

/// Packets kept in failure traces: `NETSIM_TRACE`, default 40.
fn trace_len() -> usize {
    std::env::var("NETSIM_TRACE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40)
}

/// Known engine bug, see [`mtu_black_hole_reply`]: while it stands, random worlds cap the MTU
/// no lower than a full DATA packet (1468). Set to false once fixed.
const KNOWN_MTU_HANG: bool = false;

/// A few random worlds (a quick version of `soak`).
#[test]
fn random_worlds() {
    for seed in 0..40 {
        let (v, context) = random_world(seed, 100_000);
        assert!(v.is_empty(), "seed {seed}:\n{}\n{context}", v.join("\n"));
    }
}

/// Many random worlds: `NETSIM_SOAK=<count> [NETSIM_SOAK_FROM=<seed>]`, release build.
#[test]
#[ignore = "soak: many random worlds, run with --release -- --ignored soak"]
fn soak() {
    let n: u64 = std::env::var("NETSIM_SOAK")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500);
    let from: u64 = std::env::var("NETSIM_SOAK_FROM")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let mut bad = Vec::new();
    for seed in from..from + n {
        let (v, context) = random_world(seed, 2 * MB);
        if !v.is_empty() {
            println!("seed {seed}:\n{}\n{context}\n", v.join("\n"));
            bad.push(seed);
        }
    }
    println!("{n} worlds from seed {from}, {} failing", bad.len());
    assert!(bad.is_empty(), "failing seeds: {bad:?}");
}

/// The same seed gives the same packets; the pcap holds every datagram as IPv4/UDP.
#[test]
fn deterministic_and_pcap() {
    let dir = std::env::temp_dir().join(format!("netsim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let cell = Cell::new(Dir::Rep, 50_000, 20, 10_000);
    let a = run_cell(cell, Some(&dir.join("a.pcap")), 100_000);
    let b = run_cell(cell, None, 100_000);
    assert!(a.ok(), "{:?}", a.failures);
    assert_eq!(a.row(), b.row());
    let file = std::fs::File::open(dir.join("a.pcap")).expect("pcap");
    let mut r = pcap_file::pcap::PcapReader::new(file).expect("pcap header");
    assert_eq!(r.header().datalink, pcap_file::DataLink::RAW);
    let mut n = 0u64;
    while let Some(p) = r.next_packet() {
        let p = p.expect("record");
        let s = etherparse::SlicedPacket::from_ip(&p.data).expect("ip");
        let Some(etherparse::TransportSlice::Udp(u)) = s.transport else {
            panic!("not UDP");
        };
        rxrpc_proto::wire::Header::parse(u.payload()).expect("rx header");
        n += 1;
    }
    assert_eq!(n, a.datagrams);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cell_spec_round_trips() {
    let mut c = Cell::new(Dir::Rep, MB, 5, 100);
    assert_eq!(Cell::parse(&c.repro()["NETSIM_CELL=".len()..]), Some(c));
    c.jumbo = true;
    assert_eq!(Cell::parse(&c.repro()["NETSIM_CELL=".len()..]), Some(c));
    assert_eq!(all_cells().len(), 150 * JUMBO_MODES.len());
}
