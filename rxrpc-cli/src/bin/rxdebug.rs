//! `rxdebug`: probe an Rx server's debugging interface, like OpenAFS's `rxdebug`.
//!
//! See `rxdebug -help`. The work is done by [`rxrpc_cli::rxdebug::main_with`]; this file only
//! collects the arguments and maps the result to an exit status.

use std::io::{self, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let stdout = io::stdout();
    let stderr = io::stderr();
    let mut out = stdout.lock();
    let mut err = stderr.lock();
    match rxrpc_cli::rxdebug::main_with(&args, &mut out, &mut err) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        // Standard output closed early (e.g. `rxdebug ... | head`): stop quietly.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::from(1),
        Err(e) => {
            let _ = writeln!(err, "rxdebug: {e}");
            ExitCode::from(1)
        }
    }
}
