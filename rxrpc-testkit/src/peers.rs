//! Fixtures that locate the real Rx peers started by `scripts/peers.sh start`.
//!
//! # The contract
//!
//! `scripts/peers.sh start` writes a shell env file (default `/tmp/rxrpc-peers.env`, or
//! `$RXRPC_PEERS_ENV`) of `export NAME='value'` lines; `scripts/test-all` sources it before
//! `cargo test`. Each variable is looked up in the process environment first and then in that
//! file, so a plain `cargo test` after `scripts/peers.sh start` finds the peers too.
//!
//! | variable | meaning |
//! |---|---|
//! | `RXRPC_OPENAFS_CELL_DIR` | cell directory (its presence means "a cell is running") |
//! | `RXRPC_OPENAFS_HOST` | `127.0.0.1` |
//! | `RXRPC_OPENAFS_CELL` | cell name, `rxtest.local` |
//! | `RXRPC_OPENAFS_CONFIG_DIR` | `-config` directory for pts/vos (`CELL_DIR/etc`) |
//! | `RXRPC_OPENAFS_PTSERVER_PORT`, `RXRPC_OPENAFS_VLSERVER_PORT` | 7002, 7003 |
//! | `RXRPC_OPENAFS_FILESERVER_PORT`, `RXRPC_OPENAFS_VOLSERVER_PORT` | 7000, 7005 if started |
//! | `RXRPC_OPENAFS_NOAUTH` | `1`: every caller, even rxnull, is super-user |
//! | `RXRPC_OPENAFS_KEY`, `RXRPC_OPENAFS_KVNO` | rxkad DES service key (16 hex digits), kvno |
//! | `RXRPC_LINUX_RXPERF_PORT` | host UDP port of the guest's rxperf server (its presence means "a guest is running") |
//! | `RXRPC_LINUX_HOST` | `127.0.0.1` |
//! | `RXRPC_LINUX_RXPERF_SERVICE` | 147 |
//! | `RXRPC_LINUX_CM_PORT` | host UDP port of the guest's kafs cache manager (services 1, 2500) |
//! | `RXRPC_LINUX_RUN_DIR` | the VM's run directory (`console.log`, `boot.env`, `qemu.pid`) |
//! | `RXRPC_LINUX_KERNEL` | guest kernel release, e.g. `7.3.4+deb13-amd64` |
//! | `RXRPC_LINUX_RXKAD_KEY` | DES key (16 hex) krxperf accepts rxkad with (server key `147:2`) |
//! | `RXRPC_LINUX_RXGK` | `1` if the guest's rxrpc.ko has yfs-rxgk |
//! | `RXRPC_LINUX_RXGK_KEY` | `ENCTYPE:KVNO:HEX` rxgk server key krxperf accepts, if any |
//! | `RXRPC_ECHO_PORT`, `RXRPC_ECHO_SERVICE` | our echo server (rxrpc's `examples/echo_server`) on 127.0.0.1, which the guest kernel's client (krxcall) called once at boot; set only when `RXRPC_ECHO_SERVER` was given to `peers.sh start` (`scripts/test-all` does) |
//! | `RXRPC_ECHO_CALL_REQUEST` | that call's request as a krxcall `REQHEX[+N]` spec; its `RXVM-CALL` result line is in the guest's `console.log` |
//! | `RXRPC_ECHO_LOG` | the echo server's output (one line per call) |
//! | `RXRPC_PEERS_DIR` | the `shared/peers` directory (helper scripts such as `rx-probe.py`) |
//!
//! When a peer is absent or does not answer an Rx VERSION probe, `get()` prints a loud
//! `SKIPPED:` line to stderr and returns `None`, unless peers are required
//! ([`peers_required`]: `CI=true` or `RXRPC_REQUIRE_PEERS=1`), in which case it panics.

use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use crate::probe::{rx_version_probe_with, version_text};
use crate::tool::OpenAfsTool;

/// ptserver's UDP port (fixed in OpenAFS).
pub const PTSERVER_PORT: u16 = 7002;
/// vlserver's UDP port (fixed in OpenAFS).
pub const VLSERVER_PORT: u16 = 7003;
/// Rx service ID of the protection database (PR) on the ptserver.
pub const PTSERVER_SERVICE: u16 = 73;
/// Rx service ID of the volume location database (VL) on the vlserver.
pub const VLSERVER_SERVICE: u16 = 52;
/// Rx service ID of rxperf (krxperf / rxperf.ko in the Linux guest, OpenAFS rxperf).
pub const RXPERF_SERVICE: u16 = 147;
/// Environment variable naming the env file written by `scripts/peers.sh start`.
pub const ENV_FILE_VAR: &str = "RXRPC_PEERS_ENV";
/// Environment variable that, set to `1`, makes a missing peer a panic (as `CI=true` does).
pub const REQUIRE_PEERS_VAR: &str = "RXRPC_REQUIRE_PEERS";

const DEFAULT_ENV_FILE: &str = "/tmp/rxrpc-peers.env";

/// Whether a missing peer must fail the test instead of skipping it: `CI` is `true` (or `1`),
/// or `RXRPC_REQUIRE_PEERS` is `1`.
pub fn peers_required() -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    ci || std::env::var(REQUIRE_PEERS_VAR).is_ok_and(|v| v == "1")
}

fn env_file_path() -> PathBuf {
    std::env::var_os(ENV_FILE_VAR)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_ENV_FILE))
}

/// The variables of the env file, parsed once (empty if there is none).
fn env_file() -> &'static HashMap<String, String> {
    static FILE: OnceLock<HashMap<String, String>> = OnceLock::new();
    FILE.get_or_init(|| {
        std::fs::read_to_string(env_file_path())
            .map(|t| parse_env_file(&t))
            .unwrap_or_default()
    })
}

/// Parse `export NAME='value'` / `NAME=value` lines; comments and other lines are ignored.
fn parse_env_file(text: &str) -> HashMap<String, String> {
    let mut vars = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        if line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let value = value.trim();
        let value = value
            .strip_prefix('\'')
            .and_then(|v| v.strip_suffix('\''))
            .or_else(|| value.strip_prefix('"').and_then(|v| v.strip_suffix('"')))
            .unwrap_or(value);
        vars.insert(name.to_string(), value.to_string());
    }
    vars
}

/// A variable from the process environment, else from the env file; `None` if empty.
fn var(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => env_file().get(name).filter(|v| !v.is_empty()).cloned(),
    }
}

fn parse_var<T: std::str::FromStr>(name: &str, default: Option<T>) -> Result<T, String> {
    match var(name) {
        Some(v) => v.parse().map_err(|_| format!("{name}={v:?} is not valid")),
        None => default.ok_or_else(|| format!("{name} is not set")),
    }
}

fn loopback_host(name: &str) -> Result<IpAddr, String> {
    let ip: IpAddr = parse_var(name, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)))?;
    if ip.is_loopback() {
        Ok(ip)
    } else {
        Err(format!(
            "{name}={ip} is not a loopback address; tests only talk to loopback"
        ))
    }
}

fn parse_des_key(name: &str) -> Result<Option<[u8; 8]>, String> {
    let Some(hex) = var(name) else {
        return Ok(None);
    };
    let bad = || format!("{name}={hex:?} is not 16 hex digits");
    if hex.len() != 16 || !hex.is_ascii() {
        return Err(bad());
    }
    let mut key = [0u8; 8];
    for (i, k) in key.iter_mut().enumerate() {
        *k = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(Some(key))
}

/// Probe `addr` with Rx VERSION a few times; the version string on success.
fn alive(addr: SocketAddr) -> Result<String, String> {
    rx_version_probe_with(addr, Duration::from_millis(700), 4)
        .map(|d| version_text(&d).unwrap_or_default())
        .map_err(|e| format!("no Rx VERSION reply from {addr}: {e}"))
}

/// Return the fixture, or skip (print, `None`) / panic depending on [`peers_required`].
#[track_caller]
fn resolve<T>(what: &str, r: &'static Result<T, String>) -> Option<&'static T> {
    match r {
        Ok(t) => Some(t),
        Err(why) => {
            let test = std::thread::current().name().unwrap_or("?").to_string();
            if peers_required() {
                panic!(
                    "{what} is required (CI=true or {REQUIRE_PEERS_VAR}=1) but unavailable: {why}. \
                     Under CI a missing peer is a failure: scripts/test-all must start it \
                     (scripts/peers.sh start; see its logs)."
                );
            }
            // Written straight to the process's stderr, bypassing libtest's output capture,
            // so the skip is visible even when the test "passes".
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: {what} not running — run scripts/test-all (or scripts/peers.sh start) \
                 [test {test}: {why}]"
            );
            None
        }
    }
}

/// The throwaway OpenAFS cell on loopback: ptserver (7002, service 73) and vlserver (7003,
/// service 52), in NoAuth mode, with the stock OpenAFS tools as independent clients.
#[derive(Debug, Clone)]
pub struct OpenAfsCell {
    host: IpAddr,
    cell: String,
    cell_dir: PathBuf,
    config_dir: PathBuf,
    ptserver_port: u16,
    vlserver_port: u16,
    fileserver_port: Option<u16>,
    volserver_port: Option<u16>,
    noauth: bool,
    key: Option<[u8; 8]>,
    kvno: u32,
    version: String,
}

impl OpenAfsCell {
    /// The running cell, checked once per test process with an Rx VERSION probe of the
    /// ptserver. `None` (after a loud `SKIPPED:` line on stderr) if it is not running; panics
    /// instead if [`peers_required`].
    #[track_caller]
    pub fn get() -> Option<&'static OpenAfsCell> {
        static CELL: OnceLock<Result<OpenAfsCell, String>> = OnceLock::new();
        resolve("OpenAFS cell", CELL.get_or_init(Self::discover))
    }

    fn discover() -> Result<OpenAfsCell, String> {
        let cell_dir = PathBuf::from(var("RXRPC_OPENAFS_CELL_DIR").ok_or_else(|| {
            format!(
                "RXRPC_OPENAFS_CELL_DIR is not set (nor in {})",
                env_file_path().display()
            )
        })?);
        let config_dir = var("RXRPC_OPENAFS_CONFIG_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| cell_dir.join("etc"));
        let mut cell = OpenAfsCell {
            host: loopback_host("RXRPC_OPENAFS_HOST")?,
            cell: var("RXRPC_OPENAFS_CELL").unwrap_or_else(|| "rxtest.local".into()),
            cell_dir,
            config_dir,
            ptserver_port: parse_var("RXRPC_OPENAFS_PTSERVER_PORT", Some(PTSERVER_PORT))?,
            vlserver_port: parse_var("RXRPC_OPENAFS_VLSERVER_PORT", Some(VLSERVER_PORT))?,
            fileserver_port: var("RXRPC_OPENAFS_FILESERVER_PORT")
                .map(|_| parse_var("RXRPC_OPENAFS_FILESERVER_PORT", None))
                .transpose()?,
            volserver_port: var("RXRPC_OPENAFS_VOLSERVER_PORT")
                .map(|_| parse_var("RXRPC_OPENAFS_VOLSERVER_PORT", None))
                .transpose()?,
            noauth: var("RXRPC_OPENAFS_NOAUTH").is_some_and(|v| v == "1"),
            key: parse_des_key("RXRPC_OPENAFS_KEY")?,
            kvno: parse_var("RXRPC_OPENAFS_KVNO", Some(1))?,
            version: String::new(),
        };
        if !cell.config_dir.join("CellServDB").is_file() {
            return Err(format!(
                "{}/CellServDB does not exist",
                cell.config_dir.display()
            ));
        }
        cell.version = alive(cell.ptserver()).map_err(|e| {
            format!(
                "{e} (cell dir {}; logs in its logs/)",
                cell.cell_dir.display()
            )
        })?;
        Ok(cell)
    }

    /// Address the servers are reached at (127.0.0.1).
    pub fn host(&self) -> IpAddr {
        self.host
    }

    /// ptserver address (127.0.0.1:7002); Rx service [`PTSERVER_SERVICE`] (73), ubik 50/51.
    pub fn ptserver(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.ptserver_port)
    }

    /// vlserver address (127.0.0.1:7003); Rx service [`VLSERVER_SERVICE`] (52), ubik 50/51.
    pub fn vlserver(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.vlserver_port)
    }

    /// fileserver address (127.0.0.1:7000, service 1) if the cell was started with one.
    pub fn fileserver(&self) -> Option<SocketAddr> {
        self.fileserver_port.map(|p| SocketAddr::new(self.host, p))
    }

    /// volserver address (127.0.0.1:7005, service 4) if the cell was started with one.
    pub fn volserver(&self) -> Option<SocketAddr> {
        self.volserver_port.map(|p| SocketAddr::new(self.host, p))
    }

    /// Cell name (`rxtest.local`).
    pub fn cell_name(&self) -> &str {
        &self.cell
    }

    /// The cell's directory (`etc/`, `db/`, `logs/`, `pids/`).
    pub fn cell_dir(&self) -> &Path {
        &self.cell_dir
    }

    /// The cell's config directory: pass `-config DIR` to `pts` and `vos`.
    pub fn config_dir(&self) -> &Path {
        &self.config_dir
    }

    /// `["-config", DIR]`, ready to append to a `pts`/`vos` command line.
    pub fn config_args(&self) -> [&std::ffi::OsStr; 2] {
        ["-config".as_ref(), self.config_dir.as_os_str()]
    }

    /// Whether the cell is in NoAuth mode (every caller, even rxnull, is super-user).
    pub fn noauth(&self) -> bool {
        self.noauth
    }

    /// The rxkad service key (single DES, for `afs@CELL`), if known.
    pub fn key(&self) -> Option<[u8; 8]> {
        self.key
    }

    /// Key version number of [`Self::key`].
    pub fn kvno(&self) -> u32 {
        self.kvno
    }

    /// The ptserver's VERSION string as probed at discovery (e.g. `OpenAFS 1.8.9-...`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Path of an OpenAFS tool (e.g. `/usr/bin/rxdebug`).
    pub fn tool(&self, tool: OpenAfsTool) -> PathBuf {
        tool.path()
    }
}

/// The Linux kernel AF_RXRPC peer: a QEMU guest whose krxperf (rxperf protocol, service 147)
/// and kafs cache manager are forwarded to host UDP ports on 127.0.0.1.
#[derive(Debug, Clone)]
pub struct LinuxGuest {
    host: IpAddr,
    rxperf_port: u16,
    rxperf_service: u16,
    cm_port: Option<u16>,
    run_dir: Option<PathBuf>,
    kernel: Option<String>,
    rxkad_key: Option<[u8; 8]>,
    rxgk: bool,
    rxgk_key: Option<String>,
    version: String,
}

impl LinuxGuest {
    /// The running guest, checked once per test process with an Rx VERSION probe of its rxperf
    /// port. `None` (after a loud `SKIPPED:` line on stderr) if it is not running; panics
    /// instead if [`peers_required`].
    #[track_caller]
    pub fn get() -> Option<&'static LinuxGuest> {
        static GUEST: OnceLock<Result<LinuxGuest, String>> = OnceLock::new();
        resolve("Linux AF_RXRPC guest", GUEST.get_or_init(Self::discover))
    }

    fn discover() -> Result<LinuxGuest, String> {
        if var("RXRPC_LINUX_RXPERF_PORT").is_none() {
            return Err(format!(
                "RXRPC_LINUX_RXPERF_PORT is not set (nor in {})",
                env_file_path().display()
            ));
        }
        let mut g = LinuxGuest {
            host: loopback_host("RXRPC_LINUX_HOST")?,
            rxperf_port: parse_var("RXRPC_LINUX_RXPERF_PORT", None)?,
            rxperf_service: parse_var("RXRPC_LINUX_RXPERF_SERVICE", Some(RXPERF_SERVICE))?,
            cm_port: var("RXRPC_LINUX_CM_PORT")
                .map(|_| parse_var("RXRPC_LINUX_CM_PORT", None))
                .transpose()?,
            run_dir: var("RXRPC_LINUX_RUN_DIR").map(PathBuf::from),
            kernel: var("RXRPC_LINUX_KERNEL"),
            rxkad_key: parse_des_key("RXRPC_LINUX_RXKAD_KEY")?,
            rxgk: var("RXRPC_LINUX_RXGK").is_some_and(|v| v == "1"),
            rxgk_key: var("RXRPC_LINUX_RXGK_KEY"),
            version: String::new(),
        };
        g.version = alive(g.rxperf()).map_err(|e| {
            let log = g.console_log().map(|p| p.display().to_string());
            format!(
                "{e} (guest console: {})",
                log.as_deref().unwrap_or("unknown")
            )
        })?;
        Ok(g)
    }

    /// Address the guest's ports are forwarded on (127.0.0.1).
    pub fn host(&self) -> IpAddr {
        self.host
    }

    /// Host address of the guest's rxperf server (e.g. 127.0.0.1:17009).
    pub fn rxperf(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.rxperf_port)
    }

    /// Rx service ID of the rxperf server ([`RXPERF_SERVICE`], 147).
    pub fn rxperf_service(&self) -> u16 {
        self.rxperf_service
    }

    /// Host address of the guest's kafs cache manager (services 1 and 2500), if forwarded.
    pub fn cache_manager(&self) -> Option<SocketAddr> {
        self.cm_port.map(|p| SocketAddr::new(self.host, p))
    }

    /// The VM's run directory (`console.log`, `boot.env`, `qemu.pid`).
    pub fn run_dir(&self) -> Option<&Path> {
        self.run_dir.as_deref()
    }

    /// The guest's serial console log.
    pub fn console_log(&self) -> Option<PathBuf> {
        self.run_dir.as_ref().map(|d| d.join("console.log"))
    }

    /// Guest kernel release (e.g. `7.3.4+deb13-amd64`), if known.
    pub fn kernel(&self) -> Option<&str> {
        self.kernel.as_deref()
    }

    /// DES key with which krxperf also accepts rxkad (server key `147:2`), if configured.
    pub fn rxkad_key(&self) -> Option<[u8; 8]> {
        self.rxkad_key
    }

    /// Whether the guest's rxrpc.ko has yfs-rxgk (security index 6).
    pub fn rxgk(&self) -> bool {
        self.rxgk
    }

    /// The rxgk server key krxperf accepts, as `ENCTYPE:KVNO:HEX`, if configured.
    pub fn rxgk_key(&self) -> Option<&str> {
        self.rxgk_key.as_deref()
    }

    /// The guest's VERSION string as probed at discovery (`linux-<release> AF_RXRPC`).
    pub fn version(&self) -> &str {
        &self.version
    }
}

/// A variable of the peers' contract (the table above), looked up as the fixtures do: the
/// process environment first, then the env file; `None` if unset or empty. For values the
/// fixtures have no accessor for, e.g. `RXRPC_ECHO_PORT`.
pub fn peer_var(name: &str) -> Option<String> {
    var(name)
}

/// The `shared/peers` directory (`RXRPC_PEERS_DIR`), with helper scripts such as
/// `linux-kernel/rx-probe.py` and `openafs/make-rxkad-ticket.py`, if known.
pub fn peers_dir() -> Option<PathBuf> {
    var("RXRPC_PEERS_DIR").map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_syntax() {
        let vars = parse_env_file(
            "# comment\nexport A='x y'\nB=2\nexport C=\"q\"\nnot a var\n-X=1\nexport EMPTY=''\n",
        );
        assert_eq!(vars.get("A").map(String::as_str), Some("x y"));
        assert_eq!(vars.get("B").map(String::as_str), Some("2"));
        assert_eq!(vars.get("C").map(String::as_str), Some("q"));
        assert_eq!(vars.get("EMPTY").map(String::as_str), Some(""));
        assert!(!vars.contains_key("-X"));
        assert_eq!(vars.len(), 4);
    }
}
