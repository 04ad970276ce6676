//! # rxrpc-testkit: fixtures for tests against real Rx peers
//!
//! The rxrpc test suite talks to two independent Rx implementations running on this machine's
//! loopback interface:
//!
//! * an **OpenAFS cell** (`ptserver` on 127.0.0.1:7002, `vlserver` on 127.0.0.1:7003, NoAuth
//!   mode) plus the stock OpenAFS tools (`rxdebug`, `udebug`, `pts`, `vos`);
//! * a **Linux kernel** with AF_RXRPC in a QEMU guest, serving rxperf (service 147) on a host
//!   port such as 127.0.0.1:17009 and the kafs cache manager on another (e.g. 17001).
//!
//! `scripts/peers.sh start` starts both and writes a shell env file; `scripts/test-all` sources
//! it before running `cargo test`. Tests find the peers with [`OpenAfsCell::get`] and
//! [`LinuxGuest::get`]. When a peer is not running, those return `None` after printing a loud
//! `SKIPPED:` line to stderr, except under CI (`CI=true`) or `RXRPC_REQUIRE_PEERS=1`, where they
//! panic: there a missing peer is a failure, never a skip.
//!
//! ```no_run
//! use rxrpc_testkit::{OpenAfsCell, rx_version_probe};
//!
//! let Some(cell) = OpenAfsCell::get() else { return };
//! let reply = rx_version_probe(cell.ptserver()).unwrap();
//! assert!(rxrpc_testkit::version_text(&reply).unwrap().starts_with("OpenAFS"));
//! ```
//!
//! Other helpers: [`run_tool`] runs an external program with a timeout and captures its output,
//! [`Capture`] records the UDP traffic of chosen ports on `lo` with tcpdump and reads it back,
//! [`rx_version_probe`] sends one Rx VERSION request and returns the reply datagram,
//! [`NetPath`] makes two network namespaces joined by a link with loss, delay, reordering and a
//! rate limit (netem, or a relay where the kernel has no netem) for real endpoints to run in.
//!
//! Everything here only ever sends to loopback addresses or to addresses inside the network
//! namespaces a [`NetPath`] made itself (10.77.0.0/16, which exist nowhere else).
#![forbid(unsafe_code)]

mod capture;
mod netns;
mod peers;
mod probe;
mod tool;

pub use capture::{Capture, CaptureStats, CapturedDatagram, read_pcap_udp};
pub use netns::{
    BACKEND_VAR, Backend, DirStats, Impairment, NS_PREFIX, NetPath, NetnsError, RelayStats, Side,
    detect as netns_detect, list_namespaces, netns_or_skip, sweep_stale,
};
pub use peers::{
    ENV_FILE_VAR, LinuxGuest, OpenAfsCell, PTSERVER_PORT, PTSERVER_SERVICE, REQUIRE_PEERS_VAR,
    RXPERF_SERVICE, VLSERVER_PORT, VLSERVER_SERVICE, peer_var, peers_dir, peers_required,
};
pub use probe::{
    RX_PACKET_VERSION, RxHeader, VERSION_REQUEST, rx_version_probe, rx_version_probe_with,
    version_text,
};
pub use tool::{OpenAfsTool, ToolOutput, run_tool};
