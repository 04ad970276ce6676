//! Helpers shared by the integration tests: loopback endpoints and an echo server.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use rxrpc::{Completion, Listener, RxEndpoint, ServiceId};
use tokio::sync::mpsc;

/// The echo service of the tests.
pub const ECHO: ServiceId = ServiceId(4321);

/// Loopback with an ephemeral port: tests never send anywhere else.
pub fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Run `f`, failing the test if it takes more than `secs` seconds.
pub async fn within<F: Future>(secs: u64, f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("test step timed out")
}

/// Start an echo server on a new loopback endpoint. Each finished call's server-side
/// completion is reported on the returned channel.
pub async fn echo_server() -> (RxEndpoint, Listener, mpsc::UnboundedReceiver<Completion>) {
    let ep = RxEndpoint::bind(loopback()).await.unwrap();
    let listener = ep.listen(&[ECHO], 16).await.unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let l = listener.clone();
    tokio::spawn(async move {
        while let Ok(call) = l.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let call = call.into_call();
                let done = match call.recv_to_end(64 << 20).await {
                    Ok(req) => match call.send_last(req).await {
                        Ok(()) => call.completion().await,
                        Err(e) => e.completion().unwrap_or(call.completion().await),
                    },
                    Err(e) => e.completion().unwrap_or(call.completion().await),
                };
                let _ = tx.send(done);
            });
        }
    });
    (ep, listener, rx)
}

/// Calls of a snapshot other than charged (preallocated) service calls.
pub fn active_calls(snap: &rxrpc::Snapshot) -> Vec<&rxrpc::CallSnapshot> {
    snap.calls
        .iter()
        .filter(|c| c.state != "SvPrealc")
        .collect()
}

/// Poll `ep`'s snapshot until it shows no calls but charged ones, or panic after `secs`
/// seconds.
pub async fn wait_no_calls(ep: &RxEndpoint, secs: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let snap = ep.snapshot().await.unwrap();
        if active_calls(&snap).is_empty() {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("calls remain: {:#?}", snap.calls);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
