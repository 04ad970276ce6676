//! Stopping a run: Ctrl-C, SIGTERM, or a failed call.
//!
//! A [`Shutdown`] is a one-way latch shared by every task of a run. Each task that holds a
//! call races its work against [`Shutdown::wait`]; when the latch trips it aborts its call
//! with `RX_CALL_DEAD` (as Linux does for the calls of a socket being closed), so the peer
//! hears an ABORT instead of timing out. [`flush`] then makes sure the driver has put those
//! ABORTs on the wire before the process exits.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use rxrpc::RxEndpoint;
use tokio::sync::Notify;

/// Why a run stops early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM.
    Terminate,
    /// Another task of the run failed.
    Failed,
}

impl Reason {
    fn code(self) -> u8 {
        match self {
            Reason::Interrupt => 1,
            Reason::Terminate => 2,
            Reason::Failed => 3,
        }
    }

    fn from_code(c: u8) -> Option<Reason> {
        match c {
            1 => Some(Reason::Interrupt),
            2 => Some(Reason::Terminate),
            3 => Some(Reason::Failed),
            _ => None,
        }
    }
}

/// A latch that trips once; cheap to clone.
///
/// Every call task races each step against [`wait`](Shutdown::wait), several times per small
/// RPC, so waiting is kept cheap: an atomic load and a `Notify` registration (a `watch`
/// subscription per wait cost the rxperf server about 5 % of its instructions per call).
#[derive(Clone, Debug)]
pub struct Shutdown {
    inner: Arc<Latch>,
}

#[derive(Debug, Default)]
struct Latch {
    /// 0 until tripped, then the reason's code.
    reason: AtomicU8,
    tripped: Notify,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// A latch that has not tripped.
    pub fn new() -> Self {
        Shutdown {
            inner: Arc::new(Latch::default()),
        }
    }

    /// Trip the latch (the first reason wins).
    pub fn trigger(&self, reason: Reason) {
        if self
            .inner
            .reason
            .compare_exchange(0, reason.code(), Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.inner.tripped.notify_waiters();
        }
    }

    /// Why it tripped, if it did.
    pub fn reason(&self) -> Option<Reason> {
        Reason::from_code(self.inner.reason.load(Ordering::Acquire))
    }

    /// Wait until it trips; returns the reason.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn wait(&self) -> Reason {
        loop {
            // A `Notified` receives every `notify_waiters` issued after it was created, so a
            // trip between the check and the await is not missed.
            let tripped = self.inner.tripped.notified();
            if let Some(r) = self.reason() {
                return r;
            }
            tripped.await;
        }
    }

    /// Trip on SIGINT (Ctrl-C) or SIGTERM, from a background task. Must be called within a
    /// tokio runtime.
    pub fn trip_on_signals(&self) {
        let me = self.clone();
        tokio::spawn(async move {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{SignalKind, signal};
                let (Ok(mut int), Ok(mut term)) = (
                    signal(SignalKind::interrupt()),
                    signal(SignalKind::terminate()),
                ) else {
                    return;
                };
                let reason = tokio::select! {
                    _ = int.recv() => Reason::Interrupt,
                    _ = term.recv() => Reason::Terminate,
                };
                me.trigger(reason);
            }
            #[cfg(not(unix))]
            {
                if tokio::signal::ctrl_c().await.is_ok() {
                    me.trigger(Reason::Interrupt);
                }
            }
        });
    }
}

/// Make sure what the endpoint's driver was told so far (aborts, final ACKs) has gone out:
/// wait `grace` (a finished client call's final ACK is delayed by the connection), then make
/// two round trips through the driver. A command is answered within one batch of the driver
/// and the batch's datagrams are sent before the next batch begins, so after the second reply
/// everything queued before the first is on the wire.
pub async fn flush(endpoint: &RxEndpoint, grace: Duration) {
    if !grace.is_zero() {
        tokio::time::sleep(grace).await;
    }
    for _ in 0..2 {
        let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.snapshot()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn latch() {
        let s = Shutdown::new();
        assert_eq!(s.reason(), None);
        let w = {
            let s = s.clone();
            tokio::spawn(async move { s.wait().await })
        };
        s.trigger(Reason::Terminate);
        s.trigger(Reason::Interrupt);
        assert_eq!(w.await.unwrap(), Reason::Terminate);
        assert_eq!(s.reason(), Some(Reason::Terminate));
        assert_eq!(s.wait().await, Reason::Terminate);
    }
}
