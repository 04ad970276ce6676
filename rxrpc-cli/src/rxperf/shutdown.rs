//! Stopping a run: Ctrl-C, SIGTERM, or a failed call.
//!
//! A [`Shutdown`] is a one-way latch shared by every task of a run. Each task that holds a
//! call races its work against [`Shutdown::wait`]; when the latch trips it aborts its call
//! with `RX_CALL_DEAD` (as Linux does for the calls of a socket being closed), so the peer
//! hears an ABORT instead of timing out. [`flush`] then makes sure the driver has put those
//! ABORTs on the wire before the process exits.

use std::sync::Arc;
use std::time::Duration;

use rxrpc::RxEndpoint;
use tokio::sync::watch;

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

/// A latch that trips once; cheap to clone.
#[derive(Clone, Debug)]
pub struct Shutdown {
    tx: Arc<watch::Sender<Option<Reason>>>,
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
            tx: Arc::new(watch::channel(None).0),
        }
    }

    /// Trip the latch (the first reason wins).
    pub fn trigger(&self, reason: Reason) {
        self.tx.send_if_modified(|r| {
            if r.is_none() {
                *r = Some(reason);
                true
            } else {
                false
            }
        });
    }

    /// Why it tripped, if it did.
    pub fn reason(&self) -> Option<Reason> {
        *self.tx.borrow()
    }

    /// Wait until it trips; returns the reason.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn wait(&self) -> Reason {
        let mut rx = self.tx.subscribe();
        let reason = match rx.wait_for(Option::is_some).await {
            Ok(r) => *r,
            Err(_) => None,
        };
        match reason {
            Some(r) => r,
            // The sender lives in self, so the channel cannot close; never resolve.
            None => std::future::pending().await,
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
