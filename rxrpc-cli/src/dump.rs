//! The `rxdump` driver: read a capture, pick out Rx datagrams, print them, count them.
//!
//! Layer: top of the library, below the `rxdump` binary (which only parses arguments). [`run`]
//! takes the options and two writers so that it can be tested without a process, and returns
//! the exit status:
//!
//! * 0: every Rx datagram decoded;
//! * 1: at least one Rx datagram did not decode (each is printed as an error line);
//! * 2: the file could not be opened, is not a capture, or is truncated/corrupt part-way
//!   (what was read before the damage is still printed, followed by an error line).

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;

use rxrpc_proto::wire::PacketType;

use crate::capture::{CaptureError, CaptureReader};
use crate::net::{self, Extracted, Skip};
use crate::ports::{PortRange, RxPortFilter};
use crate::record::{self, Outcome, Record};
use crate::text::type_name;
use crate::{json, text};

/// Exit status: all Rx packets decoded.
pub const EXIT_OK: i32 = 0;
/// Exit status: some Rx packet did not decode.
pub const EXIT_DECODE_ERRORS: i32 = 1;
/// Exit status: file or usage error.
pub const EXIT_FILE_ERROR: i32 = 2;

/// What `rxdump` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The capture file.
    pub path: PathBuf,
    /// Rx port ranges; empty means the default 7000-7009.
    pub ports: Vec<PortRange>,
    /// One JSON object per packet instead of text.
    pub json: bool,
    /// Print only the summary (to standard output).
    pub count_only: bool,
}

/// Counters printed at the end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Packets read from the file.
    pub packets: u64,
    /// UDP datagrams among them.
    pub udp: u64,
    /// UDP datagrams classified as Rx.
    pub rx: u64,
    /// Rx datagrams that decoded completely.
    pub decoded: u64,
    /// Rx datagrams that did not.
    pub errors: u64,
    /// Decoded packets per packet type number.
    pub types: BTreeMap<u8, u64>,
    /// Frames that were not UDP datagrams, by reason.
    pub skipped: BTreeMap<Skip, u64>,
    /// Capture-file error that stopped reading, if any.
    pub capture_error: Option<String>,
}

impl Summary {
    /// The one-line text form, e.g. `48 packets read, 48 UDP, 48 Rx, 48 decoded, 0 errors;
    /// DATA 14, ACK 17, ABORT 7, CHALLENGE 5, RESPONSE 5`.
    pub fn line(&self) -> String {
        let mut s = format!(
            "{} packets read, {} UDP, {} Rx, {} decoded, {} errors",
            self.packets, self.udp, self.rx, self.decoded, self.errors
        );
        if !self.types.is_empty() {
            let types: Vec<String> = self
                .types
                .iter()
                .map(|(&t, v)| format!("{} {v}", type_name(PacketType(t))))
                .collect();
            s.push_str("; ");
            s.push_str(&types.join(", "));
        }
        if !self.skipped.is_empty() {
            let skipped: Vec<String> = self
                .skipped
                .iter()
                .map(|(k, v)| format!("{v} {}", k.describe()))
                .collect();
            s.push_str("; skipped: ");
            s.push_str(&skipped.join(", "));
        }
        if let Some(e) = &self.capture_error {
            s.push_str("; stopped: ");
            s.push_str(e);
        }
        s
    }

    /// The JSON form (for `--count-only --json`).
    pub fn to_json(&self) -> serde_json::Value {
        let types: serde_json::Map<String, serde_json::Value> = self
            .types
            .iter()
            .map(|(&t, &v)| (type_name(PacketType(t)), v.into()))
            .collect();
        let skipped: serde_json::Map<String, serde_json::Value> = self
            .skipped
            .iter()
            .map(|(k, &v)| (k.describe().to_string(), v.into()))
            .collect();
        serde_json::json!({
            "packets": self.packets,
            "udp": self.udp,
            "rx": self.rx,
            "decoded": self.decoded,
            "errors": self.errors,
            "types": types,
            "skipped": skipped,
            "capture_error": self.capture_error,
        })
    }
}

/// The line printed for a capture-level error, in the chosen format.
fn capture_error_line(json_out: bool, e: &CaptureError) -> String {
    if json_out {
        serde_json::json!({ "error": e.to_string(), "capture": true }).to_string()
    } else {
        format!("ERROR capture: {e}")
    }
}

/// Run `rxdump` with `opts`, writing packet lines to `out` and the summary and diagnostics to
/// `err`. Returns the exit status.
pub fn run(opts: &Options, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    match run_inner(opts, out, err) {
        Ok(code) => code,
        // Standard output went away (`rxdump f | head`): stop quietly.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => EXIT_OK,
        Err(e) => {
            let _ = writeln!(err, "rxdump: write error: {e}");
            EXIT_FILE_ERROR
        }
    }
}

fn run_inner(opts: &Options, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<i32> {
    let reader = match CaptureReader::open(&opts.path) {
        Ok(r) => r,
        Err(e) => {
            writeln!(err, "rxdump: {}: {e}", opts.path.display())?;
            return Ok(EXIT_FILE_ERROR);
        }
    };
    let mut filter = RxPortFilter::new(opts.ports.clone());
    let mut summary = Summary::default();
    let mut warned_linktypes: Vec<u32> = Vec::new();

    for item in reader {
        let frame = match item {
            Ok(f) => f,
            Err(e) => {
                if !opts.count_only {
                    writeln!(out, "{}", capture_error_line(opts.json, &e))?;
                }
                summary.capture_error = Some(e.to_string());
                break;
            }
        };
        summary.packets += 1;
        let dgram = match net::extract(frame.linktype, &frame.data) {
            Extracted::Udp(d) => d,
            Extracted::Other(skip) => {
                if skip == Skip::UnsupportedLinkType && !warned_linktypes.contains(&frame.linktype)
                {
                    warned_linktypes.push(frame.linktype);
                    writeln!(
                        err,
                        "rxdump: warning: link type {} is not supported; its packets are skipped",
                        frame.linktype
                    )?;
                }
                *summary.skipped.entry(skip).or_default() += 1;
                continue;
            }
        };
        summary.udp += 1;
        if !filter.classify(dgram.src, dgram.dst) {
            continue;
        }
        // A sender using UDP segmentation offload is captured on lo as one record holding
        // several datagrams: decode each of them.
        let parts = if dgram.truncated.is_none() {
            rxrpc_proto::wire::split_coalesced(dgram.payload)
        } else {
            vec![dgram.payload]
        };
        for part in parts {
            summary.rx += 1;
            let rec = Record {
                frame: frame.number,
                timestamp: frame.timestamp,
                src: dgram.src,
                dst: dgram.dst,
                datagram: part,
                wire_len: dgram.truncated.unwrap_or(part.len()),
                outcome: record::decode(part, dgram.truncated),
            };
            match &rec.outcome {
                Outcome::Decoded(p) => {
                    summary.decoded += 1;
                    *summary.types.entry(p.header.packet_type.0).or_default() += 1;
                }
                Outcome::Failed { .. } => summary.errors += 1,
            }
            if !opts.count_only {
                let line = if opts.json {
                    json::format_record(&rec)
                } else {
                    text::format_record(&rec)
                };
                writeln!(out, "{line}")?;
            }
        }
    }

    let line = summary.line();
    if opts.count_only {
        if opts.json {
            writeln!(out, "{}", summary.to_json())?;
        } else {
            writeln!(out, "{line}")?;
        }
    } else {
        writeln!(err, "rxdump: {line}")?;
    }
    out.flush()?;

    Ok(if summary.capture_error.is_some() {
        EXIT_FILE_ERROR
    } else if summary.errors > 0 {
        EXIT_DECODE_ERRORS
    } else {
        EXIT_OK
    })
}
