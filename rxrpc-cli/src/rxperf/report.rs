//! The client's report: OpenAFS's one-line report, the latency line of `rpc`, and `--json`.
//!
//! OpenAFS prints (`end_and_print_timer` in `rxperf.c`)
//!
//! ```text
//! printf("%s:\t%8llu msec", stamp, usec / 1000);
//! printf("\t[%.4g Gbit/s]\n", ...)   // or Mbit/s, kbit/s
//! ```
//!
//! with `stamp` one of `SEND: threads\tT, times\tN, bytes\tB`, `RECV: ...` the same,
//! `RPC: threads\tT, times\tN, write bytes\tS, read bytes\tR`, `FILE NAME: threads\tT, times\tN,
//! bytes\tB`, and a rate of `bytes * 8000.0 / usec` kbit/s shown in Gbit/s above 10^6, Mbit/s
//! above 10^3. [`openafs_line`] reproduces that byte for byte, including C's `%.4g`.

use std::net::SocketAddr;
use std::time::Duration;

use rxrpc::EndpointStats;
use serde_json::{Value, json};

use super::histogram::Histogram;
use super::proto::Op;

/// The outcome of a client run.
#[derive(Clone, Debug)]
pub struct ClientReport {
    /// The operation.
    pub op: Op,
    /// Concurrent callers (`-t`).
    pub threads: u32,
    /// Calls per caller (`-T`).
    pub times: u32,
    /// `-b` (SEND/RECV bytes per call).
    pub bytes: u32,
    /// `-S` (RPC request bytes).
    pub sendbytes: u32,
    /// `-R` (RPC reply bytes).
    pub readbytes: u32,
    /// FILE: the list file's name and the bytes one call moves (both directions).
    pub file: Option<(String, u64)>,
    /// The server.
    pub server: SocketAddr,
    /// The service ID.
    pub service: u16,
    /// Whether requests carried the cookie.
    pub cookie: bool,
    /// Wall time from the start of the first call to the end of the last.
    pub elapsed: Duration,
    /// Calls completed.
    pub calls: u64,
    /// Per-call latency (from opening the call to the end of the reply).
    pub latency: Histogram,
    /// Replies with a wrong cookie or length (warned about, as OpenAFS does).
    pub warnings: u64,
    /// The endpoint's counters after the run (`-D`).
    pub stats: Option<EndpointStats>,
    /// The endpoint's `/proc/net/rxrpc`-style tables after the run (`-D`): locals, calls,
    /// conns, peers and counters.
    pub snapshot: Option<rxrpc::Snapshot>,
}

impl ClientReport {
    /// Payload bytes as OpenAFS counts them: `threads × times × bytes` (RPC: `sendbytes +
    /// readbytes`; FILE: the bytes the list moves).
    pub fn total_bytes(&self) -> u64 {
        let per = match (self.op, &self.file) {
            (Op::Rpc, _) => u64::from(self.sendbytes) + u64::from(self.readbytes),
            (Op::File, Some((_, b))) => *b,
            _ => u64::from(self.bytes),
        };
        u64::from(self.threads) * u64::from(self.times) * per
    }

    /// Elapsed microseconds as OpenAFS measures them (whole microseconds).
    fn usec(&self) -> u64 {
        u64::try_from(self.elapsed.as_micros()).unwrap_or(u64::MAX)
    }

    /// The rate in kbit/s, as OpenAFS computes it (`bytes * 8000.0 / usec`).
    pub fn kbps(&self) -> f64 {
        self.total_bytes() as f64 * 8000.0 / self.usec() as f64
    }

    /// Calls per second.
    pub fn calls_per_sec(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }

    /// OpenAFS's stamp (the part before `:`).
    pub fn stamp(&self) -> String {
        let (t, n) = (self.threads, self.times);
        match self.op {
            Op::Rpc => format!(
                "RPC: threads\t{t}, times\t{n}, write bytes\t{}, read bytes\t{}",
                self.sendbytes, self.readbytes
            ),
            Op::Recv => format!("RECV: threads\t{t}, times\t{n}, bytes\t{}", self.bytes),
            Op::Send => format!("SEND: threads\t{t}, times\t{n}, bytes\t{}", self.bytes),
            Op::File => {
                let (name, per) = self
                    .file
                    .as_ref()
                    .map_or(("?", 0), |(f, b)| (f.as_str(), *b));
                format!("FILE {name}: threads\t{t}, times\t{n}, bytes\t{per}")
            }
        }
    }
}

/// OpenAFS's report line, without the newline.
pub fn openafs_line(r: &ClientReport) -> String {
    format!(
        "{}:\t{:8} msec\t[{}]",
        r.stamp(),
        r.usec() / 1000,
        rate_text(r.kbps())
    )
}

/// `%.4g Gbit/s` / `Mbit/s` / `kbit/s` of a rate in kbit/s, as OpenAFS picks the unit.
pub fn rate_text(kbps: f64) -> String {
    if kbps > 1_000_000.0 {
        format!("{} Gbit/s", c_g(kbps / 1_000_000.0, 4))
    } else if kbps > 1000.0 {
        format!("{} Mbit/s", c_g(kbps / 1000.0, 4))
    } else {
        format!("{} kbit/s", c_g(kbps, 4))
    }
}

/// Microseconds with one decimal.
fn us(d: Duration) -> String {
    format!("{:.1}", d.as_nanos() as f64 / 1000.0)
}

/// The latency line printed after the report of `rpc` (the C peer of `bench/openafs-peer`
/// prints the same): `RPC latency: calls N, R calls/s, min A us, p50 B us, p90 C us, p99 D
/// us, p99.9 E us, max F us`.
pub fn latency_line(r: &ClientReport) -> String {
    let h = &r.latency;
    format!(
        "RPC latency: calls {}, {:.0} calls/s, min {} us, p50 {} us, p90 {} us, p99 {} us, \
         p99.9 {} us, max {} us",
        r.calls,
        r.calls_per_sec(),
        us(h.min()),
        us(h.percentile(50.0)),
        us(h.percentile(90.0)),
        us(h.percentile(99.0)),
        us(h.percentile(99.9)),
        us(h.max()),
    )
}

/// The report as one JSON object (`--json`).
pub fn to_json(r: &ClientReport) -> Value {
    let h = &r.latency;
    let lat = |d: Duration| d.as_nanos() as f64 / 1000.0;
    let mut v = json!({
        "op": r.op.name(),
        "server": r.server.to_string(),
        "service": r.service,
        "threads": r.threads,
        "times": r.times,
        "bytes": r.bytes,
        "sendbytes": r.sendbytes,
        "readbytes": r.readbytes,
        "cookie": r.cookie,
        "calls": r.calls,
        "total_bytes": r.total_bytes(),
        "elapsed_us": r.usec(),
        "msec": r.usec() / 1000,
        "gbit_per_sec": r.kbps() / 1e6,
        "calls_per_sec": r.calls_per_sec(),
        "latency_us": {
            "min": lat(h.min()),
            "mean": lat(h.mean()),
            "p50": lat(h.percentile(50.0)),
            "p90": lat(h.percentile(90.0)),
            "p99": lat(h.percentile(99.0)),
            "p99.9": lat(h.percentile(99.9)),
            "max": lat(h.max()),
        },
        "warnings": r.warnings,
        "report": openafs_line(r),
    });
    if let Some((name, per)) = &r.file {
        v["file"] = json!({ "name": name, "bytes_per_call": per });
    }
    if let Some(s) = &r.stats {
        v["stats"] = stats_json(s);
    }
    v
}

/// The endpoint counters as JSON.
pub fn stats_json(s: &EndpointStats) -> Value {
    json!({
        "datagrams_in": s.datagrams_in,
        "datagrams_out": s.datagrams_out,
        "malformed": s.malformed,
        "dropped": s.dropped,
        "busy_sent": s.busy_sent,
        "aborts_sent": s.aborts_sent,
        "terminal_resent": s.terminal_resent,
        "version_replies": s.version_replies,
        "calls_created": s.calls_created,
        "calls_freed": s.calls_freed,
        "retransmits": s.retransmits,
    })
}

/// The endpoint counters as text (`-D`), one `name value` per line.
pub fn stats_text(s: &EndpointStats) -> String {
    let rows = [
        ("datagrams in", s.datagrams_in),
        ("datagrams out", s.datagrams_out),
        ("malformed", s.malformed),
        ("dropped", s.dropped),
        ("busy sent", s.busy_sent),
        ("aborts sent", s.aborts_sent),
        ("terminal resent", s.terminal_resent),
        ("version replies", s.version_replies),
        ("calls created", s.calls_created),
        ("calls freed", s.calls_freed),
        ("retransmits", s.retransmits),
    ];
    rows.iter().map(|(k, v)| format!("{k:16} {v}\n")).collect()
}

/// The fields of an OpenAFS-style report line, as [`parse_line`] reads them back.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedLine {
    /// `SEND`, `RECV`, `RPC` or `FILE`.
    pub op: String,
    /// FILE: the list's name.
    pub file: Option<String>,
    /// Threads.
    pub threads: u64,
    /// Times.
    pub times: u64,
    /// SEND/RECV/FILE: `bytes`; RPC: `write bytes`.
    pub bytes: u64,
    /// RPC: `read bytes`.
    pub read_bytes: Option<u64>,
    /// Milliseconds.
    pub msec: u64,
    /// The rate in bit/s.
    pub bits_per_sec: f64,
}

/// Parse a report line of OpenAFS's `rxperf` (or ours, or the C peer's); `None` if it does
/// not have that shape.
pub fn parse_line(line: &str) -> Option<ParsedLine> {
    let line = line.trim_end_matches(['\r', '\n']);
    let (stamp, rest) = line.rsplit_once(":\t")?;
    let (head, fields) = stamp.split_once(": threads\t")?;
    let (op, file) = match head.split_once(' ') {
        Some(("FILE", name)) => ("FILE".to_string(), Some(name.to_string())),
        None if matches!(head, "SEND" | "RECV" | "RPC") => (head.to_string(), None),
        _ => return None,
    };
    let mut nums = Vec::new();
    for (i, part) in fields.split(", ").enumerate() {
        let v = if i == 0 {
            part
        } else {
            part.rsplit_once('\t')?.1
        };
        nums.push(v.parse::<u64>().ok()?);
    }
    let (msec, rate) = rest.split_once(" msec\t[")?;
    let msec = msec.trim().parse().ok()?;
    let rate = rate.strip_suffix(']')?;
    let (num, unit) = rate.split_once(' ')?;
    let scale = match unit {
        "Gbit/s" => 1e9,
        "Mbit/s" => 1e6,
        "kbit/s" => 1e3,
        _ => return None,
    };
    let bits_per_sec = num.parse::<f64>().ok()? * scale;
    let (threads, times, bytes, read_bytes) = match (op.as_str(), nums.as_slice()) {
        ("RPC", [t, n, w, r]) => (*t, *n, *w, Some(*r)),
        (_, [t, n, b]) if op != "RPC" => (*t, *n, *b, None),
        _ => return None,
    };
    Some(ParsedLine {
        op,
        file,
        threads,
        times,
        bytes,
        read_bytes,
        msec,
        bits_per_sec,
    })
}

/// C's `%.{prec}g`: `prec` significant digits, trailing zeros removed, exponent form when
/// the exponent is below -4 or at least `prec`.
pub fn c_g(v: f64, prec: usize) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let prec = prec.max(1);
    // The exponent after rounding to `prec` significant digits.
    let sci = format!("{:.*e}", prec - 1, v);
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= prec as i32 {
        let mant = strip_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (prec as i32 - 1 - exp).max(0) as usize;
        strip_zeros(&format!("{v:.decimals$}")).to_string()
    }
}

fn strip_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_g_matches_printf() {
        // Values checked against glibc printf("%.4g").
        let cases = [
            (1.558, "1.558"),
            (1.5584, "1.558"),
            (1.55851, "1.559"),
            (624.1234, "624.1"),
            (29.57, "29.57"),
            (2.0, "2"),
            (10.0, "10"),
            (1000.0, "1000"),
            (9999.4, "9999"),
            (9999.5, "1e+04"),
            (12345.0, "1.234e+04"),
            (0.5, "0.5"),
            (0.0001, "0.0001"),
            (0.00001234, "1.234e-05"),
            (79.32, "79.32"),
            (0.0, "0"),
        ];
        for (v, want) in cases {
            assert_eq!(c_g(v, 4), want, "{v}");
        }
        assert_eq!(c_g(f64::INFINITY, 4), "inf");
    }

    fn report(op: Op, elapsed_us: u64) -> ClientReport {
        ClientReport {
            op,
            threads: 1,
            times: 10,
            bytes: 10_000_000,
            sendbytes: 3,
            readbytes: 30,
            file: None,
            server: "127.0.0.1:7009".parse().unwrap(),
            service: 147,
            cookie: true,
            elapsed: Duration::from_micros(elapsed_us),
            calls: 10,
            latency: Histogram::new(),
            warnings: 0,
            stats: None,
            snapshot: None,
        }
    }

    #[test]
    fn openafs_lines() {
        let r = report(Op::Send, 513_456);
        assert_eq!(
            openafs_line(&r),
            "SEND: threads\t1, times\t10, bytes\t10000000:\t     513 msec\t[1.558 Gbit/s]"
        );
        let r = report(Op::Rpc, 613_000);
        assert_eq!(
            openafs_line(&r),
            "RPC: threads\t1, times\t10, write bytes\t3, read bytes\t30:\t     613 msec\t[4.307 kbit/s]"
        );
        let mut r = report(Op::File, 1000);
        r.file = Some(("/tmp/fl".into(), 1200));
        r.times = 3;
        assert_eq!(
            openafs_line(&r),
            "FILE /tmp/fl: threads\t1, times\t3, bytes\t1200:\t       1 msec\t[28.8 Mbit/s]"
        );
        let j = to_json(&r);
        assert_eq!(j["op"], "FILE");
        assert_eq!(j["total_bytes"], 3600);
        assert!(latency_line(&report(Op::Rpc, 1000)).starts_with("RPC latency: calls 10, "));
        let p = parse_line(&openafs_line(&r)).unwrap();
        assert_eq!(p.op, "FILE");
        assert_eq!(p.file.as_deref(), Some("/tmp/fl"));
        assert_eq!((p.threads, p.times, p.bytes, p.msec), (1, 3, 1200, 1));
        assert!((p.bits_per_sec - 28.8e6).abs() < 1.0);
        let p = parse_line(&openafs_line(&report(Op::Rpc, 613_000))).unwrap();
        assert_eq!((p.op.as_str(), p.bytes, p.read_bytes), ("RPC", 3, Some(30)));
        // The C peer's line (OpenAFS's format).
        let p = parse_line(
            "SEND: threads\t1, times\t10, bytes\t10000000:\t     513 msec\t[1.558 Gbit/s]\n",
        )
        .unwrap();
        assert_eq!(
            (p.threads, p.times, p.bytes, p.msec),
            (1, 10, 10_000_000, 513)
        );
        assert!(parse_line("RPC latency: calls 10").is_none());
    }
}
