//! The rxperf server: accepts calls to service 147 and answers them per the protocol, one
//! task per call.
//!
//! Requests are checked as Linux's rxperf server checks them (see the [module
//! docs](super)): a wrong version is aborted with `RX_USER_ABORT`, an unknown operation with
//! `RXGEN_OPCODE`, a request shorter or longer than its sizes (other than by exactly the
//! trailing cookie) with `RXGEN_SS_UNMARSHAL`. FILE is served as OpenAFS serves it.
//!
//! [`Server::run`] returns when the [`Shutdown`] latch trips: every call in progress is
//! aborted with `RX_CALL_DEAD`, the listener is closed and the ABORTs are flushed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use rxrpc::{AbortCode, Call, Completion, EndpointConfig, Listener, RxEndpoint, ServiceId};
use tokio::task::JoinSet;

use super::proto::{HeadParser, Need, Request, RequestError, check_request_tail};
use super::shutdown::{self, Shutdown};
use super::stream::{Reader, chunk_size, send_phase};
use super::{COOKIE_BYTES, SERVICE};

/// Server settings.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Where to listen (OpenAFS binds `0.0.0.0:7009`).
    pub bind: SocketAddr,
    /// The service ID (147).
    pub service: u16,
    /// The endpoint's configuration (windows, timeouts).
    pub config: EndpointConfig,
    /// How the endpoint's driver runs (busy polling).
    pub runtime: rxrpc::RuntimeConfig,
    /// Log each call to standard error.
    pub verbose: bool,
    /// Security classes accepted besides rxnull.
    pub security: Vec<rxrpc::security::ServerSecurityRef>,
    /// Refuse rxnull calls.
    pub require_security: bool,
}

impl ServerOptions {
    /// Listen on `bind` for service 147 with the default configuration.
    pub fn new(bind: SocketAddr) -> Self {
        ServerOptions {
            bind,
            service: SERVICE,
            config: rxrpc::default_config(),
            runtime: rxrpc::RuntimeConfig::default(),
            verbose: false,
            security: Vec::new(),
            require_security: false,
        }
    }
}

/// Counters of a server, shared with whoever holds [`Server::stats`].
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Calls accepted.
    pub accepted: AtomicU64,
    /// Calls answered and acknowledged by the client.
    pub succeeded: AtomicU64,
    /// Calls we aborted for a bad version.
    pub bad_version: AtomicU64,
    /// Calls we aborted for an unknown operation.
    pub bad_op: AtomicU64,
    /// Calls we aborted for a short or long request.
    pub bad_length: AtomicU64,
    /// Calls the client aborted.
    pub remote_aborts: AtomicU64,
    /// The last abort code received from a client (0 if none).
    pub last_remote_abort: std::sync::atomic::AtomicI32,
    /// Calls that failed otherwise (network error, timeout, local error).
    pub failed: AtomicU64,
    /// Calls aborted because the server was shutting down.
    pub interrupted: AtomicU64,
    /// Request data bytes received (after the head).
    pub bytes_in: AtomicU64,
    /// Reply bytes queued.
    pub bytes_out: AtomicU64,
}

impl ServerStats {
    fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// A one-line summary.
    pub fn summary(&self) -> String {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "calls {} ok {} aborted: version {} op {} length {}; client aborts {}; failed {}; \
             interrupted {}; bytes in {} out {}",
            g(&self.accepted),
            g(&self.succeeded),
            g(&self.bad_version),
            g(&self.bad_op),
            g(&self.bad_length),
            g(&self.remote_aborts),
            g(&self.failed),
            g(&self.interrupted),
            g(&self.bytes_in),
            g(&self.bytes_out),
        )
    }
}

/// A bound rxperf server.
#[derive(Debug)]
pub struct Server {
    endpoint: RxEndpoint,
    listener: Listener,
    stats: Arc<ServerStats>,
    verbose: bool,
}

impl Server {
    /// Bind the endpoint and start listening.
    pub async fn bind(opts: ServerOptions) -> std::io::Result<Server> {
        let backlog = opts.config.max_backlog.max(1);
        let endpoint = RxEndpoint::bind_with(opts.bind, opts.config, opts.runtime).await?;
        let listener = endpoint
            .listen_secure(
                &[ServiceId(opts.service)],
                backlog,
                opts.security,
                opts.require_security,
            )
            .await
            .map_err(std::io::Error::from)?;
        Ok(Server {
            endpoint,
            listener,
            stats: Arc::new(ServerStats::default()),
            verbose: opts.verbose,
        })
    }

    /// The local address (with the port picked if 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.endpoint.local_addr()
    }

    /// The counters.
    pub fn stats(&self) -> Arc<ServerStats> {
        Arc::clone(&self.stats)
    }

    /// The endpoint (for snapshots).
    pub fn endpoint(&self) -> &RxEndpoint {
        &self.endpoint
    }

    /// Serve until `shutdown` trips; then abort the calls in progress, close the listener and
    /// flush.
    pub async fn run(self, shutdown: Shutdown) -> rxrpc::Result<()> {
        let Server {
            endpoint,
            listener,
            stats,
            verbose,
        } = self;
        let mut tasks = JoinSet::new();
        let result = loop {
            tokio::select! {
                _ = shutdown.wait() => break Ok(()),
                r = listener.accept() => match r {
                    Ok(incoming) => {
                        ServerStats::bump(&stats.accepted);
                        let call = incoming.into_call();
                        let stats = Arc::clone(&stats);
                        let shutdown = shutdown.clone();
                        // Boxed: the task then moves a pointer, not the whole future.
                        tasks.spawn(Box::pin(handle(call, stats, shutdown, verbose)));
                    }
                    Err(e) => break Err(e),
                },
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        };
        // Every call task sees the latch too; let them abort their calls.
        shutdown.trigger(shutdown::Reason::Failed);
        while tasks.join_next().await.is_some() {}
        drop(listener);
        shutdown::flush(&endpoint, Duration::ZERO).await;
        result
    }
}

/// Serve one call, racing the shutdown latch.
async fn handle(call: Call, stats: Arc<ServerStats>, shutdown: Shutdown, verbose: bool) {
    let peer = call.peer();
    let outcome = tokio::select! {
        biased;
        _ = shutdown.wait() => {
            let _ = call.abort(AbortCode::RX_CALL_DEAD).await;
            ServerStats::bump(&stats.interrupted);
            if verbose {
                eprintln!("rxperf: call from {peer} aborted: shutting down");
            }
            return;
        }
        r = serve(&call, &stats) => r,
    };
    // A reply of one buffer is queued together with the wait for the completion.
    let outcome = match outcome {
        Ok((req, Some(reply))) => {
            let r = tokio::select! {
                biased;
                _ = shutdown.wait() => {
                    let _ = call.abort(AbortCode::RX_CALL_DEAD).await;
                    ServerStats::bump(&stats.interrupted);
                    return;
                }
                r = call.send_last_and_complete(reply) => r,
            };
            match r {
                Ok(c) => {
                    stats
                        .bytes_out
                        .fetch_add(req.reply_len(), Ordering::Relaxed);
                    Ok((req, Some(c)))
                }
                Err(e) => Err(Failure::Rx(e)),
            }
        }
        Ok((req, None)) => Ok((req, None)),
        Err(e) => Err(e),
    };
    match outcome {
        Ok((req, done)) => {
            let c = match done {
                Some(c) => c,
                None => tokio::select! {
                    biased;
                    _ = shutdown.wait() => {
                        let _ = call.abort(AbortCode::RX_CALL_DEAD).await;
                        ServerStats::bump(&stats.interrupted);
                        return;
                    }
                    c = call.completion() => c,
                },
            };
            record_completion(&stats, c);
            if verbose {
                eprintln!(
                    "rxperf: {} from {peer}: request {} reply {}: {c}",
                    req.op(),
                    req.data_len(),
                    req.reply_len()
                );
            }
        }
        Err(Failure::Bad(e)) => {
            let code = e.abort_code();
            ServerStats::bump(match e {
                RequestError::BadVersion(_) => &stats.bad_version,
                RequestError::BadOp(_) => &stats.bad_op,
                _ => &stats.bad_length,
            });
            let _ = call.abort(code).await;
            if verbose {
                eprintln!("rxperf: call from {peer}: {e}: aborted with {code}");
            }
        }
        Err(Failure::Rx(e)) => {
            match e.completion() {
                Some(c) => record_completion(&stats, c),
                None => ServerStats::bump(&stats.failed),
            }
            if verbose {
                eprintln!("rxperf: call from {peer} failed: {e}");
            }
        }
    }
}

fn record_completion(stats: &ServerStats, c: Completion) {
    match c {
        Completion::Succeeded => ServerStats::bump(&stats.succeeded),
        Completion::RemoteAbort(code) => {
            ServerStats::bump(&stats.remote_aborts);
            stats.last_remote_abort.store(code.0, Ordering::Relaxed);
        }
        _ => ServerStats::bump(&stats.failed),
    }
}

/// Why serving stopped.
#[derive(Debug)]
enum Failure {
    /// A malformed request: abort with its code.
    Bad(RequestError),
    /// The call failed underneath.
    Rx(rxrpc::Error),
}

impl From<rxrpc::Error> for Failure {
    fn from(e: rxrpc::Error) -> Self {
        Failure::Rx(e)
    }
}

/// Read the request and queue the whole reply, or return it as one buffer, not yet queued, if
/// it fits one write chunk.
async fn serve(call: &Call, stats: &ServerStats) -> Result<(Request, Option<Bytes>), Failure> {
    let mut rd = Reader::new(call);
    let mut head = HeadParser::new();
    let (prefix, req) = loop {
        match head.need().map_err(Failure::Bad)? {
            Need::More(n) => {
                let got = rd.take(n).await?;
                if got.is_empty() {
                    return Err(Failure::Bad(RequestError::Short));
                }
                head.push(&got);
            }
            Need::Done(prefix, req) => break (prefix, req),
        }
    };
    // The request data, then nothing or exactly the cookie. For FILE the request data is
    // phase 0 of the list and the reply every odd phase; even phases after the first move
    // nothing (OpenAFS: rx_Read on a call that is already sending returns 0).
    let want = req.data_len();
    if rd.skip(want, Some(&stats.bytes_in)).await? < want {
        return Err(Failure::Bad(RequestError::Short));
    }
    let tail = rd.rest().await?;
    check_request_tail(tail.len, tail.last4).map_err(Failure::Bad)?;
    // The client's read size is our write chunk.
    let cookie: &[u8] = if req.reply_has_cookie() {
        &COOKIE_BYTES
    } else {
        &[]
    };
    let chunk = chunk_size(prefix.rsize);
    let total = usize::try_from(req.reply_len())
        .ok()
        .and_then(|n| n.checked_add(cookie.len()))
        .filter(|&n| n <= chunk);
    if let Some(total) = total {
        let mut v = Vec::with_capacity(total);
        v.resize(total - cookie.len(), 0);
        v.extend_from_slice(cookie);
        return Ok((req, Some(Bytes::from(v))));
    }
    send_phase(
        call,
        &[],
        req.reply_len(),
        cookie,
        chunk,
        Some(&stats.bytes_out),
    )
    .await?;
    Ok((req, None))
}
