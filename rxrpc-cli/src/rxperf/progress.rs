//! The progress line of long client runs: shown only when standard output is a terminal, from
//! one second into the run, redrawn four times a second in place (`\r`), and erased before the
//! report is printed, so the report line is the same as without it.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Counters the client tasks update as they go.
#[derive(Debug, Default)]
pub struct Counters {
    /// Payload bytes sent and received so far.
    pub bytes: AtomicU64,
    /// Calls finished so far.
    pub calls: AtomicU64,
}

/// When the display starts.
const FIRST_DRAW: Duration = Duration::from_secs(1);
/// How often it is redrawn.
const PERIOD: Duration = Duration::from_millis(250);

/// Whether a progress line should be shown: standard output is a terminal.
pub fn wanted() -> bool {
    std::io::stdout().is_terminal()
}

/// A running progress display; [`Progress::finish`] erases it.
#[derive(Debug)]
pub struct Progress {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Progress {
    /// Start drawing `label` with the counters against the expected totals.
    pub fn start(
        label: String,
        counters: Arc<Counters>,
        total_calls: u64,
        total_bytes: u64,
        start: Instant,
    ) -> Progress {
        let (tx, mut rx) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut drawn = false;
            let mut last = (start, 0u64);
            let first = tokio::time::Instant::from_std(start + FIRST_DRAW);
            tokio::select! {
                _ = &mut rx => return,
                () = tokio::time::sleep_until(first) => {}
            }
            let mut tick = tokio::time::interval(PERIOD);
            loop {
                tokio::select! {
                    _ = &mut rx => break,
                    _ = tick.tick() => {}
                }
                let now = Instant::now();
                let bytes = counters.bytes.load(Ordering::Relaxed);
                let calls = counters.calls.load(Ordering::Relaxed);
                let dt = now.duration_since(last.0).as_secs_f64();
                let rate = if dt > 0.0 {
                    (bytes.saturating_sub(last.1)) as f64 * 8.0 / dt
                } else {
                    0.0
                };
                last = (now, bytes);
                let line = render(
                    &label,
                    calls,
                    total_calls,
                    bytes,
                    total_bytes,
                    rate,
                    now.duration_since(start),
                );
                let mut out = std::io::stdout().lock();
                let _ = write!(out, "\r\x1b[2K{line}");
                let _ = out.flush();
                drawn = true;
            }
            if drawn {
                let mut out = std::io::stdout().lock();
                let _ = write!(out, "\r\x1b[2K");
                let _ = out.flush();
            }
        });
        Progress {
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Stop and erase the line.
    pub async fn finish(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Bytes with a decimal unit (`12.3 MB`).
fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A rate in bits per second with a decimal unit.
fn human_rate(bits_per_s: f64) -> String {
    if bits_per_s >= 1e9 {
        format!("{:.2} Gbit/s", bits_per_s / 1e9)
    } else if bits_per_s >= 1e6 {
        format!("{:.1} Mbit/s", bits_per_s / 1e6)
    } else {
        format!("{:.1} kbit/s", bits_per_s / 1e3)
    }
}

/// The progress line: `SEND  45%  450/1000 calls  1.2 GB  2.10 Gbit/s  ETA 3 s`. The
/// fraction is of bytes when the run moves data, else of calls.
pub fn render(
    label: &str,
    calls: u64,
    total_calls: u64,
    bytes: u64,
    total_bytes: u64,
    rate_bits: f64,
    elapsed: Duration,
) -> String {
    let frac = if total_bytes > 0 {
        bytes as f64 / total_bytes as f64
    } else if total_calls > 0 {
        calls as f64 / total_calls as f64
    } else {
        0.0
    }
    .clamp(0.0, 1.0);
    let eta = if frac > 0.0 {
        let left = elapsed.as_secs_f64() * (1.0 - frac) / frac;
        format!("ETA {left:.0} s")
    } else {
        "ETA ?".to_string()
    };
    let calls_s = calls as f64 / elapsed.as_secs_f64().max(1e-9);
    format!(
        "{label} {:3.0}%  {calls}/{total_calls} calls ({calls_s:.0}/s)  {}  {}  {eta}",
        frac * 100.0,
        human_bytes(bytes),
        human_rate(rate_bits),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders() {
        let l = render(
            "SEND",
            1,
            4,
            500_000_000,
            1_000_000_000,
            2.1e9,
            Duration::from_secs(2),
        );
        assert_eq!(
            l,
            "SEND  50%  1/4 calls (0/s)  500.0 MB  2.10 Gbit/s  ETA 2 s"
        );
        let l = render("RPC", 10, 0, 0, 0, 0.0, Duration::from_secs(1));
        assert!(l.contains("ETA ?"), "{l}");
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_rate(5e6), "5.0 Mbit/s");
    }
}
