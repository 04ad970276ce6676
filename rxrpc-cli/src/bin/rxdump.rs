//! `rxdump`: print the Rx packets in a pcap or pcapng capture, one line each.
//!
//! See `rxdump --help`. The work is done by [`rxrpc_cli::dump::run`]; this file only parses the
//! command line.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use rxrpc_cli::dump::{self, Options};
use rxrpc_cli::ports::PortRange;

const EXAMPLES: &str = "\
Examples:
  rxdump capture.pcap
      Decode Rx on UDP ports 7000-7009 and on every endpoint seen talking to them.
  rxdump --port 7001 --port 9000-9010 capture.pcapng
      Use these ports instead of 7000-7009.
  rxdump --json capture.pcap | jq 'select(.header.type == \"ABORT\")'
      One JSON object per packet; undecodable ones carry an \"error\" member.
  rxdump --count-only capture.pcap
      Print only the summary line.
  tcpdump -i lo -U -w - udp | rxdump -
      Decode a live capture (pcap on standard input).

Output (text): TIME SRC > DST: TYPE epoch=.. cid=conn:channel call=.. seq=.. serial=..
  flags=.. userStatus=.. securityIndex=.. cksum=.. service=.. size=N: BODY
  An undecodable datagram prints `ERROR: <reason>` as its body. Times are UTC.

Exit status: 0 all Rx packets decoded; 1 some Rx packet did not decode; 2 file or usage error
(unreadable file, not a pcap/pcapng, truncated or corrupt capture).";

/// Print the Rx (AFS RPC) packets in a pcap or pcapng capture file, one line per packet, with
/// every header field and the decoded body.
#[derive(Debug, Parser)]
#[command(name = "rxdump", version, after_help = EXAMPLES)]
struct Cli {
    /// Capture file (pcap or pcapng; Ethernet, Linux cooked SLL/SLL2, raw IP or loopback); `-`
    /// reads standard input.
    file: PathBuf,

    /// UDP port or inclusive range (N or N-M) carrying Rx; repeatable. Replaces the default
    /// 7000-7009. Endpoints seen talking to these ports are treated as Rx too.
    #[arg(long = "port", short = 'p', value_name = "N|N-M")]
    ports: Vec<PortRange>,

    /// Print one JSON object per packet (JSON Lines) instead of text.
    #[arg(long)]
    json: bool,

    /// Print only the summary (to standard output) instead of one line per packet.
    #[arg(long)]
    count_only: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let opts = Options {
        path: cli.file,
        ports: cli.ports,
        json: cli.json,
        count_only: cli.count_only,
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let stderr = io::stderr();
    let mut err = stderr.lock();
    let code = dump::run(&opts, &mut out, &mut err);
    let _ = out.flush();
    ExitCode::from(u8::try_from(code).unwrap_or(2))
}
