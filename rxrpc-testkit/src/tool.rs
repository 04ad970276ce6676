//! Running external programs (the OpenAFS tools, tcpdump, ...) with a timeout.

use std::ffi::OsStr;
use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The stock OpenAFS command-line tools the tests drive as independent Rx clients.
///
/// Installed by `scripts/peers.sh install` (Debian's openafs-client / openafs-dbserver
/// packages) under `/usr/bin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpenAfsTool {
    /// `rxdebug HOST PORT [-version|-rxstats|-peers|...]`: Rx DEBUG and VERSION packets.
    Rxdebug,
    /// `udebug HOST PORT`: ubik VOTE_XDebug calls (service 50, rxnull).
    Udebug,
    /// `pts ... -config DIR`: protection server client (service 73).
    Pts,
    /// `vos ... -config DIR`: volume location / volume server client (services 52, 4).
    Vos,
    /// `cmdebug HOST -port N`: cache manager debugging client (e.g. against kafs).
    Cmdebug,
}

impl OpenAfsTool {
    /// Every tool.
    pub const ALL: [OpenAfsTool; 5] = [
        OpenAfsTool::Rxdebug,
        OpenAfsTool::Udebug,
        OpenAfsTool::Pts,
        OpenAfsTool::Vos,
        OpenAfsTool::Cmdebug,
    ];

    /// The program's file name.
    pub fn name(self) -> &'static str {
        match self {
            OpenAfsTool::Rxdebug => "rxdebug",
            OpenAfsTool::Udebug => "udebug",
            OpenAfsTool::Pts => "pts",
            OpenAfsTool::Vos => "vos",
            OpenAfsTool::Cmdebug => "cmdebug",
        }
    }

    /// Absolute path, e.g. `/usr/bin/rxdebug`.
    pub fn path(self) -> PathBuf {
        Path::new("/usr/bin").join(self.name())
    }

    /// Run the tool with `args` and a timeout (see [`run_tool`]).
    pub fn run<I, S>(self, args: I, timeout: Duration) -> io::Result<ToolOutput>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        run_tool(self.path(), args, timeout)
    }
}

/// What a program run by [`run_tool`] did.
#[derive(Debug, Clone)]
pub struct ToolOutput {
    /// The command line, for messages.
    pub command: String,
    /// Exit status; `None` if it was killed because it timed out.
    pub status: Option<ExitStatus>,
    /// Whether the timeout expired (the program was then killed).
    pub timed_out: bool,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
    /// Wall-clock run time.
    pub elapsed: Duration,
}

impl ToolOutput {
    /// Whether it exited on its own with status 0.
    pub fn success(&self) -> bool {
        !self.timed_out && self.status.is_some_and(|s| s.success())
    }

    /// Panic with the command line, status and both outputs unless [`Self::success`].
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert!(self.success(), "command failed: {self}");
        self
    }
}

impl fmt::Display for ToolOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`", self.command)?;
        if self.timed_out {
            write!(f, " timed out after {:.1?}", self.elapsed)?;
        } else if let Some(s) = self.status {
            write!(f, " exited with {s} after {:.1?}", self.elapsed)?;
        }
        write!(
            f,
            "\n--- stdout\n{}--- stderr\n{}---",
            self.stdout, self.stderr
        )
    }
}

/// Run `program` with `args`, stdin from /dev/null, capturing stdout and stderr; kill it if it
/// is still running after `timeout`.
///
/// Errors only if the program cannot be started (e.g. not installed); a non-zero exit or a
/// timeout is reported in the returned [`ToolOutput`].
pub fn run_tool<I, S>(
    program: impl AsRef<Path>,
    args: I,
    timeout: Duration,
) -> io::Result<ToolOutput>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let program = program.as_ref();
    let args: Vec<_> = args
        .into_iter()
        .map(|a| a.as_ref().to_os_string())
        .collect();
    let mut command = program.display().to_string();
    for a in &args {
        command.push(' ');
        command.push_str(&a.to_string_lossy());
    }
    let start = Instant::now();
    let mut child = Command::new(program)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run `{command}`: {e}")))?;
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let deadline = start + timeout;
    let mut timed_out = false;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break Some(s);
        }
        if Instant::now() >= deadline {
            timed_out = true;
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(10));
    };
    Ok(ToolOutput {
        command,
        status,
        timed_out,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        elapsed: start.elapsed(),
    })
}

fn drain<R: Read + Send + 'static>(r: Option<R>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut r) = r {
            let _ = r.read_to_end(&mut buf);
        }
        String::from_utf8_lossy(&buf).into_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_output_and_status() {
        let o = run_tool(
            "sh",
            ["-c", "echo out; echo err >&2; exit 3"],
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(o.stdout, "out\n");
        assert_eq!(o.stderr, "err\n");
        assert_eq!(o.status.and_then(|s| s.code()), Some(3));
        assert!(!o.success());
        assert!(!o.timed_out);
    }

    #[test]
    fn kills_on_timeout() {
        let o = run_tool("sleep", ["30"], Duration::from_millis(200)).unwrap();
        assert!(o.timed_out);
        assert!(o.status.is_none());
        assert!(o.elapsed < Duration::from_secs(10));
    }

    #[test]
    fn missing_program_is_an_error() {
        let e = run_tool(
            "/nonexistent/rxrpc-testkit-tool",
            [""; 0],
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
