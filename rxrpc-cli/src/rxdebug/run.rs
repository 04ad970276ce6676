//! The driver: resolve the command line, run the exchanges in OpenAFS's order, print.
//!
//! Layer: top of the `rxdebug` tool. The sequence is `rxdebug.c`'s `MainCommand`: VERSION and
//! exit for `-version`; otherwise GETSTATS, then RXSTATS (`-rxstats`), then GETCONN or
//! GETALLCONN for index 0, 1, ... until the end marker (unless `-noconns`), then GETPEER for
//! index 0, 1, ... (`-peers`). Text is written as each reply arrives; `--json` collects a
//! [`Report`] and prints it at the end.
//!
//! Differences from the C program, all on error paths: a failed connection or peer walk makes
//! the exit status 1 (OpenAFS exits 0); failure lines give the reason after the code; a BADTYPE
//! answer to GETALLCONN falls back to GETCONN, and a BADTYPE, ABORT or too-short answer to a
//! walk ends it instead of printing garbage records forever, as does a server that answers
//! every index with the same record; `-allconnections` against a
//! server older than format 'M' really does fetch only the interesting connections, as the
//! warning says; a missing GETPEER (format < 'Q') is reported on stderr; and `-onlyport`
//! matches peers on any port (OpenAFS compares its signed short with the peer's unsigned port,
//! so it never matches a peer port whose low byte is 0x80 or more).

use std::fs;
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddrV4, ToSocketAddrs};
use std::time::{SystemTime, UNIX_EPOCH};

use rxrpc_proto::wire::{DebugRequest, DebugRequestType, DebugStats};

use super::args::{self, Command, Options};
use super::client::{CallError, DebugClient, RetryPolicy};
use super::json::{JsonConn, JsonPeer, JsonRxStats, JsonStats, Report};
use super::reply::{self, Features, Fit, ReplyError};
use super::text;

/// Security index of rxnull.
const SECIDX_NULL: u8 = 0;
/// Security indices counted as "authenticated" by `-onlyauth`: rxkad (2), rxgk (4, OpenAFS)
/// and yfs-rxgk (6, Linux/AuriStor).
const SECIDX_AUTH: [u8; 3] = [2, 4, 6];
/// Give up on a connection or peer walk after this many records without an end marker.
const MAX_RECORDS: i32 = 1 << 20;

/// Exit status: success.
pub const EXIT_OK: i32 = 0;
/// Exit status: no reply, an unusable reply, or a name that does not resolve.
pub const EXIT_FAILED: i32 = 1;
/// Exit status: usage error.
pub const EXIT_USAGE: i32 = 2;

/// Resolve a host name or dotted quad to an IPv4 address.
pub fn resolve_host(name: &str) -> Option<Ipv4Addr> {
    if let Ok(a) = name.parse::<Ipv4Addr>() {
        return Some(a);
    }
    (name, 0).to_socket_addrs().ok()?.find_map(|a| match a {
        std::net::SocketAddr::V4(v4) => Some(*v4.ip()),
        std::net::SocketAddr::V6(_) => None,
    })
}

/// Resolve a port number or a service name (from `/etc/services`).
pub fn resolve_port(name: &str) -> Option<u16> {
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
        return name.parse().ok();
    }
    let services = fs::read_to_string("/etc/services").ok()?;
    service_port(&services, name)
}

/// Look a service name or alias up in `/etc/services` text.
pub fn service_port(services: &str, name: &str) -> Option<u16> {
    services.lines().find_map(|line| {
        let line = line.split('#').next().unwrap_or_default();
        let mut words = line.split_whitespace();
        let first = words.next()?;
        let port = words.next()?.split('/').next()?.parse().ok()?;
        (first == name || words.any(|w| w == name)).then_some(port)
    })
}

/// The connection filters of `-onlyserver` ... `-nodally`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConnFilter {
    /// `-nodally`.
    pub nodally: bool,
    /// `-onlyserver`.
    pub only_server: bool,
    /// `-onlyclient`.
    pub only_client: bool,
    /// `-onlyhost`.
    pub only_host: Option<Ipv4Addr>,
    /// `-onlyport`.
    pub only_port: Option<u16>,
    /// `-onlyauth`: -1 unauthenticated, 0..=2 a level.
    pub only_auth: Option<i32>,
}

/// What to do with a connection record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Print it.
    Show,
    /// Skip it: all its calls are idle or dallying (`-nodally`), counted.
    Dallying,
    /// Skip it: filtered out.
    Filtered,
}

impl ConnFilter {
    /// Judge one connection as rxdebug does (the `-nodally` test first).
    pub fn judge(&self, c: &rxrpc_proto::wire::DebugConn, f: Features) -> Verdict {
        if self.nodally
            && c.call_state
                .iter()
                .all(|&s| s == text::STATE_NOTINIT || s == text::STATE_DALLY)
        {
            return Verdict::Dallying;
        }
        if self.only_host.is_some_and(|h| u32::from(h) != c.host) {
            return Verdict::Filtered;
        }
        if self.only_port.is_some_and(|p| p != c.port) {
            return Verdict::Filtered;
        }
        if self.only_server && c.conn_type != 1 {
            return Verdict::Filtered;
        }
        if self.only_client && c.conn_type != 0 {
            return Verdict::Filtered;
        }
        if let Some(level) = self.only_auth {
            if level == -1 {
                if c.security_index != SECIDX_NULL {
                    return Verdict::Filtered;
                }
            } else {
                if !SECIDX_AUTH.contains(&c.security_index) {
                    return Verdict::Filtered;
                }
                let t = c.sec_stats.sec_type;
                if f.sec_stats
                    && (t == text::sectype::KAD || t == text::sectype::GK)
                    && i32::from(c.sec_stats.level) != level
                {
                    return Verdict::Filtered;
                }
            }
        }
        Verdict::Show
    }

    /// Whether a peer passes `-onlyhost` / `-onlyport`.
    pub fn peer_shown(&self, p: &rxrpc_proto::wire::DebugPeer) -> bool {
        self.only_host.is_none_or(|h| u32::from(h) == p.host)
            && self.only_port.is_none_or(|port| port == p.port)
    }
}

/// Output state: text goes out as it is produced; JSON is collected.
struct Out<'a> {
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
    json: bool,
    report: Report,
    failed: bool,
}

impl Out<'_> {
    /// Text for stdout (ignored in JSON mode).
    fn text(&mut self, s: &str) -> io::Result<()> {
        if !self.json {
            self.out.write_all(s.as_bytes())?;
            self.out.flush()?;
        }
        Ok(())
    }

    /// A warning: stderr, and the report.
    fn warn(&mut self, s: &str) -> io::Result<()> {
        self.report.warnings.push(s.to_string());
        writeln!(self.err, "{s}")
    }

    /// A warning that OpenAFS prints on stdout.
    fn warn_stdout(&mut self, s: &str) -> io::Result<()> {
        self.report.warnings.push(s.to_string());
        if self.json {
            writeln!(self.err, "{s}")
        } else {
            self.text(&format!("{s}\n"))
        }
    }

    /// A failure: stdout in text mode (as OpenAFS), stderr in JSON mode; exit status 1.
    fn fail(&mut self, s: &str) -> io::Result<()> {
        self.failed = true;
        self.report.errors.push(s.to_string());
        if self.json {
            writeln!(self.err, "rxdebug: {s}")
        } else {
            self.text(&format!("{s}\n"))
        }
    }

    fn finish(self) -> io::Result<i32> {
        if self.json {
            let s = serde_json::to_string_pretty(&self.report).map_err(io::Error::other)?;
            writeln!(self.out, "{s}")?;
            self.out.flush()?;
        }
        Ok(if self.failed { EXIT_FAILED } else { EXIT_OK })
    }
}

/// `"<what> call failed with code N: reason"`.
fn call_failed(what: &str, e: &CallError) -> String {
    let code = match e {
        CallError::Aborted(c) => c.0,
        _ => e.code(),
    };
    format!("{what} call failed with code {code}: {e}")
}

fn reply_failed(what: &str, e: &ReplyError) -> String {
    let code = match e {
        ReplyError::BadType => rxrpc_proto::wire::DEBUG_BADTYPE,
        ReplyError::Short { .. } => -1,
    };
    format!("{what} call failed with code {code}: {e}")
}

/// Two different connections (or peers) never have identical records, so a server that
/// answers index N exactly as it answered N-1 is ignoring the index: the walk would never end.
fn repeated(what: &str, index: i32) -> String {
    format!(
        "{what} call failed: the server gave the same record for index {index} as for {}; \
         it ignores the index, giving up",
        index - 1
    )
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Run `rxdebug` with `args` (without the program name); returns the exit status.
pub fn main_with<S: AsRef<str>>(
    args: &[S],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<i32> {
    let opts = match args::parse(args.iter().map(AsRef::as_ref)) {
        Ok(Command::Run(o)) => o,
        Ok(Command::Help) => {
            writeln!(out, "{}", args::USAGE)?;
            return Ok(EXIT_OK);
        }
        Err(e) => {
            writeln!(err, "rxdebug: {e}")?;
            return Ok(EXIT_USAGE);
        }
    };
    run(&opts, out, err)
}

/// Run with parsed options.
pub fn run(o: &Options, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<i32> {
    // Resolution, in OpenAFS's order and with its messages.
    let only_port = match &o.only_port {
        None => None,
        Some(p) => match resolve_port(p) {
            Some(p) => Some(p),
            None => {
                writeln!(out, "rxdebug: can't resolve port name {p}")?;
                return Ok(EXIT_FAILED);
            }
        },
    };
    let only_host = match &o.only_host {
        None => None,
        Some(h) => match resolve_host(h) {
            Some(a) => Some(a),
            None => {
                writeln!(out, "rxdebug: host {h} not found in host table")?;
                return Ok(EXIT_FAILED);
            }
        },
    };
    let only_auth = match &o.only_auth {
        None => None,
        Some(a) => match args::auth_level(a) {
            Some(l) => Some(l),
            None => {
                writeln!(err, "Unknown authentication level: {a}")?;
                return Ok(EXIT_FAILED);
            }
        },
    };
    let Some(host) = resolve_host(&o.server) else {
        writeln!(out, "rxdebug: host {} not found in host table", o.server)?;
        return Ok(EXIT_FAILED);
    };
    let port = match &o.port {
        None => 7000,
        Some(p) => match resolve_port(p) {
            Some(p) => p,
            None => {
                writeln!(out, "rxdebug: can't resolve port name {p}")?;
                return Ok(EXIT_FAILED);
            }
        },
    };
    let filter = ConnFilter {
        nodally: o.nodally,
        only_server: o.only_server,
        only_client: o.only_client,
        only_host,
        only_port,
        only_auth,
    };

    let mut w = Out {
        out,
        err,
        json: o.json,
        report: Report {
            server: host.to_string(),
            port,
            ..Report::default()
        },
        failed: false,
    };
    w.text(&text::trying(host, port))?;
    let policy = RetryPolicy {
        first_wait: o.timeout,
        tries: o.tries,
    };
    let mut client = match DebugClient::new(SocketAddrV4::new(host, port), policy) {
        Ok(c) => c,
        Err(e) => {
            w.fail(&format!("cannot open a UDP socket: {e}"))?;
            return w.finish();
        }
    };

    if o.version {
        match client.version() {
            Ok(body) => {
                let v = reply::version_text(&body);
                w.text(&text::version(&v))?;
                w.report.version = Some(v);
            }
            Err(e) => w.fail(&call_failed("get version", &e))?,
        }
        return w.finish();
    }

    // GETSTATS.
    let stats = match client.debug(DebugRequest {
        kind: DebugRequestType::GETSTATS,
        index: 0,
    }) {
        Err(e) => {
            w.fail(&call_failed("getstats", &e))?;
            return w.finish();
        }
        Ok(body) => match reply::stats(&body) {
            Err(e) => {
                w.fail(&reply_failed("getstats", &e))?;
                return w.finish();
            }
            Ok((s, fit)) => {
                if let Fit::Padded { got } = fit {
                    w.warn(&format!(
                        "WARNING: statistics reply of unexpected size (got {got}, expected {}); \
                         missing fields read as 0",
                        DebugStats::LEN
                    ))?;
                }
                s
            }
        },
    };
    let features = Features::from_version(stats.version);
    w.text(&text::stats(&stats, features))?;
    w.report.stats = Some(JsonStats::new(&stats, features));

    if o.rxstats {
        rxstats(&mut w, &mut client, &stats, features)?;
        if w.failed {
            return w.finish();
        }
    }
    if !o.no_conns {
        w.report.connections = Some(Vec::new());
        conns(&mut w, &mut client, o, &filter, features)?;
    }
    if o.peers {
        w.report.peers = Some(Vec::new());
        if features.peers {
            peers(&mut w, &mut client, o, &filter)?;
        } else {
            w.warn("WARNING: Server doesn't support retrieval of peers")?;
        }
    }
    w.finish()
}

fn rxstats(
    w: &mut Out<'_>,
    client: &mut DebugClient,
    stats: &DebugStats,
    f: Features,
) -> io::Result<()> {
    const UNSUPPORTED: &str = "WARNING: Server doesn't support retrieval of Rx statistics";
    if !f.rx_stats {
        return w.warn(UNSUPPORTED);
    }
    let body = match client.debug(DebugRequest {
        kind: DebugRequestType::RXSTATS,
        index: 0,
    }) {
        Ok(b) => b,
        Err(e) => return w.fail(&call_failed("rxstats", &e)),
    };
    match reply::rxstats(&body) {
        Err(ReplyError::BadType) => w.warn(UNSUPPORTED),
        Err(e) => w.fail(&reply_failed("rxstats", &e)),
        Ok((s, fit)) => {
            if let Fit::Padded { got } = fit {
                w.warn_stdout(&format!(
                    "WARNING: returned Rx statistics of unexpected size (got {got})"
                ))?;
            }
            w.text(&text::rxstats(&s, stats.n_free_packets, stats.version))?;
            w.report.rxstats = Some(JsonRxStats::new(&s));
            Ok(())
        }
    }
}

fn conns(
    w: &mut Out<'_>,
    client: &mut DebugClient,
    o: &Options,
    filter: &ConnFilter,
    f: Features,
) -> io::Result<()> {
    const FALLBACK: &str = "WARNING: Server doesn't support retrieval of all connections,\n         \
                            getting only interesting instead.";
    let mut all = o.all_connections;
    if all && !f.all_conn {
        w.warn(FALLBACK)?;
        all = false;
    }
    w.text(&text::conn_filters(
        filter.only_server,
        filter.only_client,
        filter.only_auth,
        filter.only_host,
        filter.only_port,
    ))?;
    let now = now_unix();
    let mut dallying = 0u32;
    let mut index = 0i32;
    let mut previous: Option<Vec<u8>> = None;
    loop {
        if index >= MAX_RECORDS {
            w.fail(&format!(
                "getconn: giving up after {index} connections without an end marker"
            ))?;
            break;
        }
        let kind = if all {
            DebugRequestType::GETALLCONN
        } else {
            DebugRequestType::GETCONN
        };
        let body = match client.debug(DebugRequest { kind, index }) {
            Ok(b) => b,
            Err(e) => {
                w.fail(&call_failed("getconn", &e))?;
                break;
            }
        };
        if previous.as_ref() == Some(&body) {
            w.fail(&repeated("getconn", index))?;
            break;
        }
        let c = match reply::conn(&body) {
            Ok((c, _)) => c,
            Err(ReplyError::BadType) if all => {
                w.warn(FALLBACK)?;
                all = false;
                continue;
            }
            Err(e) => {
                w.fail(&reply_failed("getconn", &e))?;
                break;
            }
        };
        index += 1;
        previous = Some(body);
        if c.is_end_marker() {
            w.text(text::DONE)?;
            break;
        }
        match filter.judge(&c, f) {
            Verdict::Dallying => dallying += 1,
            Verdict::Filtered => {}
            Verdict::Show => {
                w.text(&text::conn(&c, f, now))?;
                if let Some(v) = w.report.connections.as_mut() {
                    v.push(JsonConn::new(&c, f, now));
                }
            }
        }
    }
    if filter.nodally {
        w.text(&text::skipped(dallying))?;
        w.report.skipped_dallying = Some(dallying);
    }
    Ok(())
}

fn peers(
    w: &mut Out<'_>,
    client: &mut DebugClient,
    o: &Options,
    filter: &ConnFilter,
) -> io::Result<()> {
    let mut index = 0i32;
    let mut previous: Option<Vec<u8>> = None;
    loop {
        if index >= MAX_RECORDS {
            w.fail(&format!(
                "getpeer: giving up after {index} peers without an end marker"
            ))?;
            break;
        }
        let body = match client.debug(DebugRequest {
            kind: DebugRequestType::GETPEER,
            index,
        }) {
            Ok(b) => b,
            Err(e) => {
                w.fail(&call_failed("getpeer", &e))?;
                break;
            }
        };
        if previous.as_ref() == Some(&body) {
            w.fail(&repeated("getpeer", index))?;
            break;
        }
        let p = match reply::peer(&body) {
            Ok((p, _)) => p,
            Err(e) => {
                w.fail(&reply_failed("getpeer", &e))?;
                break;
            }
        };
        index += 1;
        previous = Some(body);
        if p.is_end_marker() {
            w.text(text::DONE)?;
            break;
        }
        if !filter.peer_shown(&p) {
            continue;
        }
        w.text(&text::peer(&p, o.long))?;
        if let Some(v) = w.report.peers.as_mut() {
            v.push(JsonPeer::new(&p));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rxrpc_proto::wire::DebugConn;

    #[test]
    fn services() {
        let s = "# c\nafs3-fileserver 7000/udp\nafs3-prserver\t7002/udp  # pt\nx 1/tcp alias\n";
        assert_eq!(service_port(s, "afs3-prserver"), Some(7002));
        assert_eq!(service_port(s, "alias"), Some(1));
        assert_eq!(service_port(s, "pt"), None);
        assert_eq!(resolve_port("7003"), Some(7003));
        assert_eq!(resolve_port("70000"), None);
        assert_eq!(resolve_host("127.0.0.1"), Some(Ipv4Addr::LOCALHOST));
    }

    #[test]
    fn filters() {
        let f = Features::from_version(b'S');
        let mut c = DebugConn {
            host: 0x7f00_0001,
            port: 7001,
            conn_type: 1,
            security_index: 2,
            ..DebugConn::default()
        };
        c.sec_stats.sec_type = 3;
        c.sec_stats.level = 2;
        let yes = |flt: ConnFilter, c: &DebugConn| flt.judge(c, f);
        assert_eq!(yes(ConnFilter::default(), &c), Verdict::Show);
        let nod = ConnFilter {
            nodally: true,
            ..Default::default()
        };
        assert_eq!(yes(nod, &c), Verdict::Dallying);
        c.call_state[2] = 2;
        assert_eq!(yes(nod, &c), Verdict::Show);
        let only = |a| ConnFilter {
            only_auth: Some(a),
            ..Default::default()
        };
        assert_eq!(yes(only(2), &c), Verdict::Show);
        assert_eq!(yes(only(1), &c), Verdict::Filtered);
        assert_eq!(yes(only(-1), &c), Verdict::Filtered);
        let client = ConnFilter {
            only_client: true,
            ..Default::default()
        };
        assert_eq!(yes(client, &c), Verdict::Filtered);
        let port = ConnFilter {
            only_port: Some(7001),
            only_host: Some(Ipv4Addr::LOCALHOST),
            only_server: true,
            ..Default::default()
        };
        assert_eq!(yes(port, &c), Verdict::Show);
        let other = ConnFilter {
            only_host: Some(Ipv4Addr::new(10, 0, 0, 1)),
            ..Default::default()
        };
        assert_eq!(yes(other, &c), Verdict::Filtered);
    }

    #[test]
    fn usage_errors() {
        let (mut o, mut e) = (Vec::new(), Vec::new());
        assert_eq!(main_with(&["-bogus"], &mut o, &mut e).unwrap(), EXIT_USAGE);
        assert!(String::from_utf8_lossy(&e).starts_with("rxdebug: Unrecognized"));
        let (mut o, mut e) = (Vec::new(), Vec::new());
        assert_eq!(main_with(&["-help"], &mut o, &mut e).unwrap(), EXIT_OK);
        assert!(String::from_utf8_lossy(&o).starts_with("Usage: rxdebug"));
        let (mut o, mut e) = (Vec::new(), Vec::new());
        let code = main_with(&["127.0.0.1", "-onlyauth", "bogus"], &mut o, &mut e).unwrap();
        assert_eq!(code, EXIT_FAILED);
        assert_eq!(
            String::from_utf8_lossy(&e),
            "Unknown authentication level: bogus\n"
        );
        let (mut o, mut e) = (Vec::new(), Vec::new());
        let code = main_with(&["127.0.0.1", "no-such-service"], &mut o, &mut e).unwrap();
        assert_eq!(code, EXIT_FAILED);
        assert_eq!(
            String::from_utf8_lossy(&o),
            "rxdebug: can't resolve port name no-such-service\n"
        );
    }
}
