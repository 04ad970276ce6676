//! The `rxperf` command line: OpenAFS's single-letter options and defaults, plus long options
//! for what is new. Numbers are read as C's `strtol(.., 0)` reads them (`0x` hex, leading-`0`
//! octal), as OpenAFS does.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use rxrpc::EndpointConfig;

use super::client::ClientOptions;
use super::proto::{FileList, Op, parse_c_number, parse_file_list};
use super::server::ServerOptions;
use super::{CHUNK_MAX, DEFAULT_PORT, MAX_THREADS, SERVICE};

const EXAMPLES: &str = "\
Examples:
  rxperf server -p 7009
      Serve rxperf (service 147) on UDP port 7009 of every address.
  rxperf client -c send -b 100000000 -T 1
      One call sending 100 MB to 127.0.0.1:7009; prints OpenAFS's report line:
      SEND: threads\t1, times\t1, bytes\t100000000:\t     412 msec\t[1.942 Gbit/s]
  rxperf client -c rpc -S 100 -R 1000 -T 10000 -t 8
      8 concurrent callers, 10000 calls each; the report line, then latency percentiles.
  rxperf client -c recv -b 1048576 -s 127.0.0.1 -p 17009 --json
      The report as one JSON object.

Request convention: the client ends SEND/RECV/RPC requests with the cookie 00 00 47 11 by
default (--cookie), which Linux's rxperf server requires since 2025 and OpenAFS's server
ignores; --no-cookie sends OpenAFS's form (for Linux 6.2-6.13 without that fix). The server
accepts both.

Exit status: 0 success; 1 error (a failed call, a bad option); 130 interrupted (Ctrl-C or
SIGTERM: the calls in flight are aborted on the wire with RX_CALL_DEAD first).";

/// rxperf: the Rx RPC benchmark (OpenAFS rxperf protocol), client and server.
#[derive(Debug, Parser)]
#[command(
    name = "rxperf",
    disable_version_flag = true,
    after_help = EXAMPLES,
    arg_required_else_help = true
)]
pub struct Cli {
    /// Client or server.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The `--workers` of the chosen mode.
    pub fn workers(&self) -> usize {
        match &self.command {
            Command::Server(a) => a.rx.workers,
            Command::Client(a) => a.rx.workers,
        }
    }
}

/// The two modes.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve rxperf calls until interrupted.
    Server(ServerArgs),
    /// Make rxperf calls and print the report.
    Client(ClientArgs),
}

/// A C-style number (`strtol(.., 0)`) that fits `T`.
fn c_num<T: TryFrom<i64>>(s: &str) -> Result<T, String> {
    let v = parse_c_number(s).ok_or_else(|| format!("can't resolve number {s:?}"))?;
    T::try_from(v).map_err(|_| format!("{s} is out of range"))
}

fn c_u32(s: &str) -> Result<u32, String> {
    c_num(s)
}

fn c_u16(s: &str) -> Result<u16, String> {
    c_num(s)
}

fn op(s: &str) -> Result<Op, String> {
    s.parse()
}

/// Options shared by both modes that tune the endpoint.
#[derive(Debug, Clone, Args)]
pub struct RxArgs {
    /// Largest receive and transmit window in packets (`rx_SetMaxReceiveWindow` and
    /// `rx_SetMaxSendWindow`); the receive window is capped at 255.
    #[arg(short = 'W', value_name = "PACKETS", value_parser = c_u32)]
    pub window: Option<u32>,
    /// Smallest retransmission timeout in milliseconds (`rx_SetMinPeerTimeout`).
    #[arg(short = 'P', value_name = "MSEC", value_parser = c_u32)]
    pub min_peer_timeout: Option<u32>,
    /// Largest MTU (accepted for compatibility; no effect).
    #[arg(short = 'm', value_name = "MTU", value_parser = c_u32)]
    pub max_mtu: Option<u32>,
    /// UDP buffer size in KiB (accepted for compatibility; no effect).
    #[arg(short = 'u', value_name = "KIB", value_parser = c_u32)]
    pub udp_buf: Option<u32>,
    /// No jumbograms: one packet per datagram, and tell the peer so (`rx_SetNoJumbo`).
    #[arg(short = 'j')]
    pub no_jumbo: bool,
    /// No statistics (accepted; no effect).
    #[arg(short = 'N')]
    pub no_stats: bool,
    /// Hot threads (accepted; no effect).
    #[arg(short = 'H')]
    pub hot_threads: bool,
    /// Use rx_Readv (accepted; no effect).
    #[arg(short = 'V')]
    pub readv: bool,
    /// Count the IPv4 header in packet sizes (accepted; no effect).
    #[arg(short = '4')]
    pub ipv4_overhead: bool,
    /// Debug log file (refused, as in an OpenAFS build without RXDEBUG).
    #[arg(short = 'd', value_name = "FILE")]
    pub debug_file: Option<PathBuf>,
    /// The Rx service ID.
    #[arg(long, default_value_t = SERVICE, value_parser = c_u16)]
    pub service: u16,
    /// Local IP address to bind (server default 0.0.0.0; client: loopback for a loopback
    /// server, else any).
    #[arg(long, value_name = "IP")]
    pub bind: Option<IpAddr>,
    /// Security class and keys.
    #[command(flatten)]
    pub sec: super::security::SecurityArgs,
    /// Tokio worker threads; 0 (the default) runs everything on the main thread (a
    /// current-thread runtime), which measured faster on loopback, where the peer is another
    /// process on the same CPUs.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub workers: usize,
    /// Before the endpoint's driver sleeps, keep polling for work this many microseconds
    /// (trades CPU for latency; see `rxrpc::RuntimeConfig::busy_poll`). 0: sleep at once.
    #[arg(long, default_value_t = 0, value_name = "MICROS")]
    pub busy_poll: u64,
    /// As a server, always hold the ACK of a complete request up to this many microseconds so
    /// that the reply acknowledges it; 0: ACK at once. Default: hold 1 ms only while the
    /// connection has other calls (`rxrpc::RequestAckHold`).
    #[arg(long, value_name = "MICROS")]
    pub ack_hold: Option<u64>,
}

impl RxArgs {
    fn config(&self) -> Result<EndpointConfig, String> {
        if self.debug_file.is_some() {
            return Err("compiled without RXDEBUG".into());
        }
        let mut c = rxrpc::default_config();
        if let Some(w) = self.window {
            if w == 0 {
                return Err("window must be at least 1 packet".into());
            }
            c.rx_window = w.min(255);
            c.tx_window_max = w;
            c.tx_window_initial = c.tx_window_initial.min(w);
            c.tx_queue_max = c.tx_queue_max.max(w.saturating_mul(2));
        }
        if self.no_jumbo {
            c.jumbo = false;
        }
        if let Some(us) = self.ack_hold {
            c.request_ack_hold = match us {
                0 => rxrpc::RequestAckHold::Never,
                us => rxrpc::RequestAckHold::Always(Duration::from_micros(us)),
            };
        }
        if let Some(ms) = self.min_peer_timeout {
            c.min_rto = Duration::from_millis(u64::from(ms));
            c.initial_rto = c.initial_rto.max(c.min_rto);
            c.max_rto = c.max_rto.max(c.min_rto);
        }
        Ok(c)
    }

    fn runtime(&self) -> rxrpc::RuntimeConfig {
        rxrpc::RuntimeConfig::default().busy_poll(Duration::from_micros(self.busy_poll))
    }
}

/// `rxperf server` options.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// UDP port.
    #[arg(short = 'p', default_value_t = DEFAULT_PORT, value_parser = c_u16)]
    pub port: u16,
    /// Fewest server threads (accepted; no effect: one task per call).
    #[arg(short = 's', value_name = "N", value_parser = c_u32)]
    pub min_procs: Option<u32>,
    /// Most server threads (accepted; no effect: one task per call).
    #[arg(short = 'S', value_name = "N", value_parser = c_u32)]
    pub max_procs: Option<u32>,
    /// Read chunk size (accepted; the client's sizes are used).
    #[arg(short = 'r', value_name = "BYTES", value_parser = c_u32)]
    pub read_size: Option<u32>,
    /// Write chunk size (accepted; the client's sizes are used).
    #[arg(short = 'w', value_name = "BYTES", value_parser = c_u32)]
    pub write_size: Option<u32>,
    /// Endpoint tuning.
    #[command(flatten)]
    pub rx: RxArgs,
    /// Log every call to standard error.
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

impl ServerArgs {
    /// The server's options.
    pub fn options(&self) -> Result<ServerOptions, String> {
        for v in [self.read_size, self.write_size].into_iter().flatten() {
            if v > CHUNK_MAX {
                return Err(format!("{v} > sizeof(somebuf) ({CHUNK_MAX})"));
            }
        }
        let ip = self
            .rx
            .bind
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        let mut o = ServerOptions::new(SocketAddr::new(ip, self.port));
        o.service = self.rx.service;
        o.config = self.rx.config()?;
        o.runtime = self.rx.runtime();
        o.verbose = self.verbose;
        o.security = self.rx.sec.server()?;
        o.require_security = self.rx.sec.require_security;
        Ok(o)
    }
}

/// `rxperf client` options.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The operation: send, recv, rpc or file.
    #[arg(short = 'c', value_name = "send|recv|rpc|file", value_parser = op)]
    pub command: Option<Op>,
    /// Server host name or address.
    #[arg(short = 's', default_value = "127.0.0.1")]
    pub host: String,
    /// Server UDP port.
    #[arg(short = 'p', default_value_t = DEFAULT_PORT, value_parser = c_u16)]
    pub port: u16,
    /// Bytes per call for send and recv.
    #[arg(short = 'b', default_value_t = 1024 * 1024, value_parser = c_u32)]
    pub bytes: u32,
    /// Request bytes of rpc.
    #[arg(short = 'S', default_value_t = 3, value_parser = c_u32)]
    pub sendbytes: u32,
    /// Reply bytes of rpc.
    #[arg(short = 'R', default_value_t = 30, value_parser = c_u32)]
    pub readbytes: u32,
    /// Calls per thread.
    #[arg(short = 'T', default_value_t = 100, value_parser = c_u32)]
    pub times: u32,
    /// Concurrent callers (at most 128).
    #[arg(short = 't', default_value_t = 1, value_parser = c_u32)]
    pub threads: u32,
    /// Read chunk size, announced to the server (at most 524288).
    #[arg(short = 'r', default_value_t = CHUNK_MAX, value_parser = c_u32)]
    pub read_size: u32,
    /// Write chunk size (at most 524288).
    #[arg(short = 'w', default_value_t = CHUNK_MAX, value_parser = c_u32)]
    pub write_size: u32,
    /// The transfer list of `-c file`: one size in 4-byte words per line, an empty line (0)
    /// toggles the direction.
    #[arg(short = 'f', value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Print the endpoint's counters after the report.
    #[arg(short = 'D')]
    pub dump_stats: bool,
    /// Endpoint tuning.
    #[command(flatten)]
    pub rx: RxArgs,
    /// Print the report as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// End SEND/RECV/RPC requests with the cookie 00 00 47 11 (the default; Linux's rxperf
    /// server requires it since 2025, OpenAFS's server ignores it).
    #[arg(long, overrides_with = "no_cookie")]
    pub cookie: bool,
    /// Send requests without the cookie, as OpenAFS's client does (for Linux 6.2-6.13
    /// without the 2025 fix).
    #[arg(long, overrides_with = "cookie")]
    pub no_cookie: bool,
    /// Never show the progress line (it is shown only when standard output is a terminal).
    #[arg(long)]
    pub no_progress: bool,
}

impl ClientArgs {
    /// The client's options (resolves the host, reads the FILE list).
    pub fn options(&self) -> Result<ClientOptions, String> {
        let op = self.command.ok_or("no command given to the client")?;
        if self.rx.no_stats && self.dump_stats {
            return Err("cannot set both -N and -D".into());
        }
        if self.threads > 1 && op == Op::File {
            return Err("cannot use multiple threads with file command".into());
        }
        if self.threads == 0 || self.threads > MAX_THREADS {
            return Err(format!("threads must be 1..={MAX_THREADS}"));
        }
        if self.times == 0 {
            return Err("times must be at least 1".into());
        }
        for v in [self.read_size, self.write_size] {
            if v == 0 || v > CHUNK_MAX {
                return Err(format!("{v} > sizeof(somebuf) ({CHUNK_MAX}) or 0"));
            }
        }
        let server = resolve(&self.host, self.port)?;
        let mut o = ClientOptions::new(server, op);
        o.service = self.rx.service;
        if self.rx.sec.require_security {
            return Err("--require-security is a server option".into());
        }
        o.security = self.rx.sec.client()?;
        o.bytes = self.bytes;
        o.sendbytes = self.sendbytes;
        o.readbytes = self.readbytes;
        o.times = self.times;
        o.threads = self.threads;
        o.rsize = self.read_size;
        o.wsize = self.write_size;
        o.cookie = !self.no_cookie;
        o.bind = self.rx.bind.map(|ip| SocketAddr::new(ip, 0));
        o.config = self.rx.config()?;
        o.runtime = self.rx.runtime();
        o.stats = self.dump_stats;
        if op == Op::File {
            let path = self.file.as_ref().ok_or("file command needs -f file")?;
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let entries = parse_file_list(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            let list = FileList::new(entries).map_err(|e| format!("{}: {e}", path.display()))?;
            o.file = Some((path.display().to_string(), list));
        }
        Ok(o)
    }
}

/// Resolve `host:port`, preferring IPv4 (OpenAFS's rx is IPv4 only).
fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("can't resolve {host}: {e}"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| format!("can't resolve {host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(args).unwrap()
    }

    #[test]
    fn openafs_defaults() {
        let Command::Client(c) = parse(&["rxperf", "client", "-c", "send"]).command else {
            panic!()
        };
        let o = c.options().unwrap();
        assert_eq!(o.server, "127.0.0.1:7009".parse().unwrap());
        assert_eq!(o.service, 147);
        assert_eq!((o.bytes, o.sendbytes, o.readbytes), (1 << 20, 3, 30));
        assert_eq!((o.times, o.threads), (100, 1));
        assert_eq!((o.rsize, o.wsize), (CHUNK_MAX, CHUNK_MAX));
        assert!(o.cookie);
        let Command::Server(s) = parse(&["rxperf", "server"]).command else {
            panic!()
        };
        let o = s.options().unwrap();
        assert_eq!(o.bind, "0.0.0.0:7009".parse().unwrap());
    }

    #[test]
    fn getopt_style() {
        let Command::Client(c) = parse(&[
            "rxperf",
            "client",
            "-c",
            "RPC",
            "-S0x10",
            "-R",
            "010",
            "-T",
            "5",
            "-t",
            "8",
            "-p",
            "17009",
            "-jN",
            "-W",
            "64",
            "--no-cookie",
        ])
        .command
        else {
            panic!()
        };
        let o = c.options().unwrap();
        assert_eq!(o.op, Op::Rpc);
        assert_eq!(
            (o.sendbytes, o.readbytes, o.times, o.threads),
            (16, 8, 5, 8)
        );
        assert_eq!(o.server.port(), 17009);
        assert_eq!(o.config.rx_window, 64);
        assert!(!o.cookie);
        assert!(
            Cli::try_parse_from(["rxperf", "client", "-c", "bogus"]).is_err(),
            "unknown command"
        );
        let Command::Client(c) = parse(&["rxperf", "client"]).command else {
            panic!()
        };
        assert_eq!(c.options().unwrap_err(), "no command given to the client");
        let Command::Client(c) =
            parse(&["rxperf", "client", "-c", "file", "-t", "2", "-f", "x"]).command
        else {
            panic!()
        };
        assert!(c.options().unwrap_err().contains("multiple threads"));
        let Command::Client(c) = parse(&["rxperf", "client", "-c", "send", "-d", "x"]).command
        else {
            panic!()
        };
        assert!(c.options().unwrap_err().contains("RXDEBUG"));
    }
}
