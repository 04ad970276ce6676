//! `rxgen`: compile an rxgen `.xg` interface definition into Rust.
//!
//! ```text
//! rxgen idl/vl.xg -o src/vl.rs -I idl
//! rxgen --check idl/vl.xg          # parse and check only
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Compile an rxgen interface definition (.xg) into Rust: types with XDR codecs, async
/// clients, server traits and dispatchers (the runtime is the rxrpc-xdr crate).
#[derive(Debug, Parser)]
#[command(name = "rxgen", version)]
struct Args {
    /// The .xg file.
    input: PathBuf,
    /// Output file (default: standard output).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Directory searched by #include (repeatable).
    #[arg(short = 'I', long = "include")]
    include: Vec<PathBuf>,
    /// Define a macro: NAME or NAME=VALUE (repeatable).
    #[arg(short = 'D', long = "define")]
    define: Vec<String>,
    /// Map an IDL type to a Rust type implementing rxrpc_xdr::Xdr: NAME=PATH (repeatable).
    #[arg(long = "extern-type")]
    extern_type: Vec<String>,
    /// Do not emit clients.
    #[arg(long)]
    no_client: bool,
    /// Do not emit server traits and dispatchers.
    #[arg(long)]
    no_server: bool,
    /// Emit types and constants only (same as --no-client --no-server).
    #[arg(long)]
    types_only: bool,
    /// Path of the runtime crate in the generated code.
    #[arg(long, default_value = "::rxrpc_xdr")]
    runtime: String,
    /// Emit proptest Arbitrary impls (under #[cfg(CFG)] if given, e.g. --arbitrary=test).
    #[arg(long, num_args = 0..=1, default_missing_value = "", require_equals = true)]
    arbitrary: Option<String>,
    /// Parse and check only; write nothing.
    #[arg(long)]
    check: bool,
}

fn main() -> ExitCode {
    let a = Args::parse();
    let mut o = rxgen::Options {
        include_dirs: a.include,
        ..Default::default()
    };
    for d in &a.define {
        let (k, v) = d.split_once('=').unwrap_or((d, "1"));
        o.defines.push((k.to_string(), v.to_string()));
    }
    for e in &a.extern_type {
        let Some((k, v)) = e.split_once('=') else {
            eprintln!("error: --extern-type wants NAME=PATH, got {e:?}");
            return ExitCode::from(2);
        };
        o.extern_types.insert(k.to_string(), v.to_string());
    }
    o.emit.client = !(a.no_client || a.types_only);
    o.emit.server = !(a.no_server || a.types_only);
    o.emit.runtime = a.runtime;
    o.emit.arbitrary = a
        .arbitrary
        .map(|c| if c.is_empty() { None } else { Some(c) });
    let out = match rxgen::compile_file(&a.input, &o) {
        Ok(out) => out,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    for w in &out.warnings {
        eprintln!("warning: {w}");
    }
    if a.check {
        return ExitCode::SUCCESS;
    }
    match a.output {
        Some(p) => {
            if let Err(e) = std::fs::write(&p, out.code) {
                eprintln!("error: cannot write {}: {e}", p.display());
                return ExitCode::FAILURE;
            }
        }
        None => print!("{}", out.code),
    }
    ExitCode::SUCCESS
}
