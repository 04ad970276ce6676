//! The rxperf client: `threads` tasks on one endpoint, each making `times` calls one after the
//! other, timed from before the first call to after the last, as OpenAFS's client does (its
//! threads share a connection, a new one every four threads; here the runtime's connection
//! bundle does the same: four channels per connection).
//!
//! The first failed call stops the run: the other tasks abort their calls in flight with
//! `RX_CALL_DEAD` and [`run`] returns the error. So does the [`Shutdown`] latch (Ctrl-C).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rxrpc::{AbortCode, EndpointConfig, RxEndpoint, ServiceId};
use tokio::task::JoinSet;

use super::histogram::Histogram;
use super::progress::{Counters, Progress};
use super::proto::{FileList, Op, Request};
use super::report::ClientReport;
use super::shutdown::{self, Reason, Shutdown};
use super::stream::{Received, chunk_size, recv_all, send_phase};
use super::{CHUNK_MAX, COOKIE_BYTES, SERVICE};

/// Client settings (the command line's, parsed).
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// The server.
    pub server: SocketAddr,
    /// The service ID (147).
    pub service: u16,
    /// The operation.
    pub op: Op,
    /// `-b`: bytes per SEND/RECV call.
    pub bytes: u32,
    /// `-S`: RPC request bytes.
    pub sendbytes: u32,
    /// `-R`: RPC reply bytes.
    pub readbytes: u32,
    /// `-T`: calls per task.
    pub times: u32,
    /// `-t`: concurrent tasks.
    pub threads: u32,
    /// `-r`: the read chunk size announced to the server (its write chunk).
    pub rsize: u32,
    /// `-w`: our write chunk size (announced too).
    pub wsize: u32,
    /// `-f`: the FILE list's name and entries.
    pub file: Option<(String, FileList)>,
    /// End SEND/RECV/RPC requests with the cookie (the 2025 convention).
    pub cookie: bool,
    /// Local address to bind (port 0 picks one); `None`: loopback for a loopback server,
    /// else the unspecified address.
    pub bind: Option<SocketAddr>,
    /// The endpoint's configuration (windows, timeouts).
    pub config: EndpointConfig,
    /// How the endpoint's driver runs (busy polling).
    pub runtime: rxrpc::RuntimeConfig,
    /// Show a progress line (only sensible when standard output is a terminal).
    pub progress: bool,
    /// Collect the endpoint's counters after the run (`-D`).
    pub stats: bool,
    /// Credentials of the calls (`None`: rxnull).
    pub security: Option<rxrpc::security::ClientSecurityRef>,
}

impl ClientOptions {
    /// OpenAFS's defaults for `op` against `server`: 1 MiB, 3/30 bytes, 100 times, 1 thread,
    /// 512 KiB chunks, with the cookie.
    pub fn new(server: SocketAddr, op: Op) -> Self {
        ClientOptions {
            server,
            service: SERVICE,
            op,
            bytes: 1024 * 1024,
            sendbytes: 3,
            readbytes: 30,
            times: 100,
            threads: 1,
            rsize: CHUNK_MAX,
            wsize: CHUNK_MAX,
            file: None,
            cookie: true,
            bind: None,
            config: rxrpc::default_config(),
            runtime: rxrpc::RuntimeConfig::default(),
            progress: false,
            stats: false,
            security: None,
        }
    }

    /// The request every call makes.
    pub fn request(&self) -> Result<Request, ClientError> {
        Ok(match self.op {
            Op::Send => Request::Send { nbytes: self.bytes },
            Op::Recv => Request::Recv { nbytes: self.bytes },
            Op::Rpc => Request::Rpc {
                send: self.sendbytes,
                read: self.readbytes,
            },
            Op::File => match &self.file {
                Some((_, list)) => Request::File(list.clone()),
                None => return Err(ClientError::Usage("file command needs -f file".into())),
            },
        })
    }

    fn local_addr(&self) -> SocketAddr {
        self.bind.unwrap_or_else(|| {
            let ip = match self.server.ip() {
                IpAddr::V4(a) if a.is_loopback() => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(a) if a.is_loopback() => IpAddr::V6(Ipv6Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            };
            SocketAddr::new(ip, 0)
        })
    }
}

/// Why a client run failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Bad options.
    #[error("{0}")]
    Usage(String),
    /// The endpoint could not be bound.
    #[error("cannot bind {addr}: {err}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        err: std::io::Error,
    },
    /// A call failed.
    #[error("call {call} of task {task} failed: {err}")]
    Call {
        /// The task (0-based).
        task: u32,
        /// The call of that task (0-based).
        call: u32,
        /// The failure.
        err: CallFailure,
    },
    /// Stopped by a signal.
    #[error("interrupted")]
    Interrupted,
}

impl ClientError {
    /// The abort code, if a call was aborted (by the peer or locally).
    pub fn abort_code(&self) -> Option<AbortCode> {
        match self {
            ClientError::Call {
                err: CallFailure::Rx(e),
                ..
            } => e.abort_code(),
            _ => None,
        }
    }
}

/// How one call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallFailure {
    /// The call failed underneath (abort, timeout, ...).
    #[error(transparent)]
    Rx(#[from] rxrpc::Error),
    /// The reply was shorter than the request asked for.
    #[error("short reply: {got} of {want} bytes")]
    ShortReply {
        /// Bytes received.
        got: u64,
        /// Bytes expected (with the cookie).
        want: u64,
    },
}

/// Run the client until all calls are done, one fails, or `shutdown` trips.
pub async fn run(opts: &ClientOptions, shutdown: &Shutdown) -> Result<ClientReport, ClientError> {
    if opts.threads == 0 || opts.times == 0 {
        return Err(ClientError::Usage(
            "threads and times must be at least 1".into(),
        ));
    }
    let req = Arc::new(opts.request()?);
    let local = opts.local_addr();
    let endpoint = RxEndpoint::bind_with(local, opts.config.clone(), opts.runtime.clone())
        .await
        .map_err(|err| ClientError::Bind { addr: local, err })?;
    let head: Arc<[u8]> = req.head(opts.rsize, opts.wsize).into();
    let counters = Arc::new(Counters::default());
    let warnings = Arc::new(AtomicU64::new(0));
    // Stops the tasks: a signal, or a failed call.
    let stop = Shutdown::new();
    let total_calls = u64::from(opts.threads) * u64::from(opts.times);

    let start = Instant::now();
    let progress = opts.progress.then(|| {
        Progress::start(
            opts.op.name().to_string(),
            Arc::clone(&counters),
            total_calls,
            total_calls * req.payload_bytes(),
            start,
        )
    });
    let mut tasks = JoinSet::new();
    for task in 0..opts.threads {
        let w = Worker {
            endpoint: endpoint.clone(),
            peer: opts.server,
            service: ServiceId(opts.service),
            req: Arc::clone(&req),
            head: Arc::clone(&head),
            cookie: opts.cookie && req.may_carry_cookie(),
            security: opts.security.clone(),
            wsize: chunk_size(opts.wsize),
            counters: Arc::clone(&counters),
            warnings: Arc::clone(&warnings),
            stop: stop.clone(),
        };
        let times = opts.times;
        tasks.spawn(async move { (task, w.run(task, times).await) });
    }
    let mut latency = Histogram::new();
    let mut first_err: Option<ClientError> = None;
    loop {
        let next = tokio::select! {
            biased;
            r = tasks.join_next() => r,
            reason = shutdown.wait(), if stop.reason().is_none() => {
                stop.trigger(reason);
                continue;
            }
        };
        let Some(joined) = next else { break };
        match joined {
            Ok((_, Ok(h))) => latency.merge(&h),
            Ok((_, Err(e))) => {
                stop.trigger(Reason::Failed);
                if first_err.is_none() && !matches!(e, ClientError::Interrupted) {
                    first_err = Some(e);
                }
            }
            Err(join) => {
                stop.trigger(Reason::Failed);
                if first_err.is_none() {
                    first_err = Some(ClientError::Usage(format!("client task failed: {join}")));
                }
            }
        }
    }
    let elapsed = start.elapsed();
    if let Some(p) = progress {
        p.finish().await;
    }
    let interrupted = matches!(stop.reason(), Some(Reason::Interrupt | Reason::Terminate));
    // Let the final ACK of the last call (delayed by its connection) and any ABORTs go out.
    // After an interrupt, linger a little longer: an ABORT can be lost (a peer in the middle
    // of a bulk transfer may have a full socket buffer), and while the endpoint lives its
    // connections answer the peer's further packets for the finished calls with the saved
    // ABORT (the design brief's terminal re-send), so the peer still learns of it at once.
    let grace = if first_err.is_none() && !interrupted {
        opts.config.final_ack_delay * 3
    } else if interrupted {
        Duration::from_millis(300)
    } else {
        Duration::ZERO
    };
    shutdown::flush(&endpoint, grace).await;
    if let Some(e) = first_err {
        return Err(e);
    }
    if interrupted {
        return Err(ClientError::Interrupted);
    }
    let snapshot = if opts.stats {
        endpoint.snapshot().await.ok()
    } else {
        None
    };
    let stats = snapshot.as_ref().map(|s| s.stats);
    Ok(ClientReport {
        op: opts.op,
        threads: opts.threads,
        times: opts.times,
        bytes: opts.bytes,
        sendbytes: opts.sendbytes,
        readbytes: opts.readbytes,
        file: opts
            .file
            .as_ref()
            .map(|(name, _)| (name.clone(), req.payload_bytes())),
        server: opts.server,
        service: opts.service,
        cookie: opts.cookie && req.may_carry_cookie(),
        elapsed,
        calls: latency.count(),
        latency,
        warnings: warnings.load(Ordering::Relaxed),
        stats,
        snapshot,
    })
}

/// One client task.
struct Worker {
    endpoint: RxEndpoint,
    peer: SocketAddr,
    service: ServiceId,
    req: Arc<Request>,
    head: Arc<[u8]>,
    cookie: bool,
    security: Option<rxrpc::security::ClientSecurityRef>,
    wsize: usize,
    counters: Arc<Counters>,
    warnings: Arc<AtomicU64>,
    stop: Shutdown,
}

impl Worker {
    async fn run(self, task: u32, times: u32) -> Result<Histogram, ClientError> {
        let mut h = Histogram::new();
        for call in 0..times {
            if self.stop.reason().is_some() {
                return Err(ClientError::Interrupted);
            }
            let t0 = Instant::now();
            match self.one_call().await {
                Ok(()) => {}
                Err(None) => return Err(ClientError::Interrupted),
                Err(Some(err)) => return Err(ClientError::Call { task, call, err }),
            }
            h.record(t0.elapsed());
            self.counters.calls.fetch_add(1, Ordering::Relaxed);
        }
        Ok(h)
    }

    /// One call; `Err(None)` if it was aborted because the run is stopping.
    async fn one_call(&self) -> Result<(), Option<CallFailure>> {
        let mut builder = self.endpoint.call(self.peer, self.service);
        if let Some(s) = &self.security {
            builder = builder.security(s.clone());
        }
        let call = builder.open().await.map_err(|e| Some(e.into()))?;
        let bytes = Some(&self.counters.bytes);
        let tail: &[u8] = if self.cookie { &COOKIE_BYTES } else { &[] };
        let cookie_len = if self.req.reply_has_cookie() { 4 } else { 0 };
        let want = self.req.reply_len() + cookie_len;
        let work = async {
            if let Some(req) = self.one_buffer(tail) {
                // A small request and reply: one exchange with the driver.
                let reply = call.request(req, REQUEST_REPLY_LIMIT).await?;
                self.counters
                    .bytes
                    .fetch_add(self.req.data_len() + reply.len() as u64, Ordering::Relaxed);
                return Ok(received_of(&reply));
            }
            send_phase(
                &call,
                &self.head,
                self.req.data_len(),
                tail,
                self.wsize,
                bytes,
            )
            .await?;
            recv_all(&call, bytes).await
        };
        let got = tokio::select! {
            biased;
            _ = self.stop.wait() => {
                // Dropping `work` left the call half-done: abort it on the wire.
                let _ = call.abort(AbortCode::RX_CALL_DEAD).await;
                return Err(None);
            }
            r = work => r.map_err(|e| Some(e.into()))?,
        };
        if got.len < want {
            return Err(Some(CallFailure::ShortReply { got: got.len, want }));
        }
        if got.len > want {
            self.warn(&format!(
                "server sent {} bytes, {} more than asked for",
                got.len,
                got.len - want
            ));
        } else if cookie_len > 0 && got.last4 != COOKIE_BYTES {
            self.warn(&format!(
                "server sent a wrong magic cookie in response: {:02x?}",
                got.last4
            ));
        }
        Ok(())
    }

    /// The whole request as one buffer if it fits one write chunk and the reply is small.
    fn one_buffer(&self, tail: &[u8]) -> Option<Bytes> {
        let len = usize::try_from(self.req.data_len()).ok()?;
        let total = self.head.len() + len + tail.len();
        let reply = self.req.reply_len() + 4;
        if total > self.wsize.clamp(1, CHUNK_MAX as usize) || reply > SMALL_REPLY {
            return None;
        }
        let mut v = Vec::with_capacity(total);
        v.extend_from_slice(&self.head);
        v.resize(self.head.len() + len, 0);
        v.extend_from_slice(tail);
        Some(Bytes::from(v))
    }

    fn warn(&self, msg: &str) {
        // OpenAFS warns on every call; a long run would flood the terminal: warn once.
        if self.warnings.fetch_add(1, Ordering::Relaxed) == 0 {
            eprintln!("rxperf: {msg}");
        }
    }
}

/// Largest reply (cookie included) a call takes in one exchange with the driver
/// ([`rxrpc::Call::request`]); larger ones are read in pieces and only counted.
const SMALL_REPLY: u64 = 64 << 10;
/// What such a call accepts before failing with `TooLong`: a server may send more than asked
/// for (that is only warned about), but not without bound.
const REQUEST_REPLY_LIMIT: usize = 1 << 20;

/// The length and last four bytes of a reply read whole.
fn received_of(reply: &[u8]) -> Received {
    let mut r = Received {
        len: reply.len() as u64,
        ..Received::default()
    };
    let k = reply.len().min(4);
    if let (Some(dst), Some(src)) = (r.last4.get_mut(4 - k..), reply.get(reply.len() - k..)) {
        dst.copy_from_slice(src);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::received_of;

    #[test]
    fn a_whole_reply_gives_its_length_and_last_four_bytes() {
        let r = received_of(&[1, 2, 3, 4, 5, 6]);
        assert_eq!((r.len, r.last4), (6, [3, 4, 5, 6]));
        let r = received_of(&[7, 8]);
        assert_eq!((r.len, r.last4), (2, [0, 0, 7, 8]));
        let r = received_of(&[]);
        assert_eq!((r.len, r.last4), (0, [0; 4]));
    }
}
