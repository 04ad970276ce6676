//! `rxperf`: the Rx RPC benchmark, a drop-in for OpenAFS's `rxperf` (client and server).
//!
//! See `rxperf --help` and [`rxrpc_cli::rxperf`]; this file parses the command line, builds
//! the runtime, wires Ctrl-C/SIGTERM to the run and prints the report.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use rxrpc_cli::rxperf::cli::{Cli, ClientArgs, Command, ServerArgs};
use rxrpc_cli::rxperf::client::{self, ClientError};
use rxrpc_cli::rxperf::server::Server;
use rxrpc_cli::rxperf::shutdown::{Reason, Shutdown};
use rxrpc_cli::rxperf::{EXIT_INTERRUPTED, progress, report};

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("rxperf: {msg}");
    ExitCode::from(1)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // Help goes to stdout with status 0; usage errors exit 1, as OpenAFS's usage().
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let workers = cli.workers();
    let mut builder = if workers == 0 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(workers);
        b
    };
    let rt = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the runtime: {e}")),
    };
    let code = match cli.command {
        Command::Server(args) => rt.block_on(server(args)),
        Command::Client(args) => rt.block_on(client(args)),
    };
    // Do not wait for stray tasks (a parked call of a stopped run).
    rt.shutdown_timeout(std::time::Duration::from_millis(100));
    code
}

async fn server(args: ServerArgs) -> ExitCode {
    let opts = match args.options() {
        Ok(o) => o,
        Err(e) => return fail(e),
    };
    let server = match Server::bind(opts.clone()).await {
        Ok(s) => s,
        Err(e) => return fail(format!("cannot listen on {}: {e}", opts.bind)),
    };
    eprintln!(
        "rxperf: serving service {} on {}",
        opts.service,
        server.local_addr()
    );
    let stats = server.stats();
    let shutdown = Shutdown::new();
    shutdown.trip_on_signals();
    let r = server.run(shutdown.clone()).await;
    if opts.verbose {
        eprintln!("rxperf: {}", stats.summary());
    }
    match r {
        Err(e) => fail(e),
        Ok(()) => match shutdown.reason() {
            Some(Reason::Interrupt) => ExitCode::from(EXIT_INTERRUPTED as u8),
            _ => ExitCode::SUCCESS,
        },
    }
}

async fn client(args: ClientArgs) -> ExitCode {
    let mut opts = match args.options() {
        Ok(o) => o,
        Err(e) => return fail(e),
    };
    opts.progress = !args.no_progress && progress::wanted();
    let shutdown = Shutdown::new();
    shutdown.trip_on_signals();
    match client::run(&opts, &shutdown).await {
        Ok(r) => {
            let mut out = std::io::stdout().lock();
            if args.json {
                let _ = writeln!(out, "{}", report::to_json(&r));
            } else {
                let _ = writeln!(out, "{}", report::openafs_line(&r));
                if r.op == rxrpc_cli::rxperf::proto::Op::Rpc {
                    let _ = writeln!(out, "{}", report::latency_line(&r));
                }
                if let Some(snap) = &r.snapshot {
                    let _ = write!(out, "{snap}");
                } else if let Some(s) = &r.stats {
                    let _ = write!(out, "{}", report::stats_text(s));
                }
            }
            let _ = out.flush();
            ExitCode::SUCCESS
        }
        Err(ClientError::Interrupted) => {
            eprintln!("rxperf: interrupted; calls in flight aborted");
            ExitCode::from(EXIT_INTERRUPTED as u8)
        }
        Err(e) => fail(e),
    }
}
