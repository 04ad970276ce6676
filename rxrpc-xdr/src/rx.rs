//! The runtime of rxgen-generated stubs over the [`rxrpc`] tokio runtime.
//!
//! * Client side: [`RpcClient`] (an endpoint, a peer and a service ID) makes one call per RPC:
//!   it encodes the opcode and the IN/INOUT arguments *before* opening the call (a marshal
//!   failure never reaches the wire), sends them, reads the whole reply (up to
//!   [`CallOptions::max_reply`]), decodes the OUT/INOUT results exactly (trailing bytes are an
//!   error) and reports a remote abort as [`RpcError::Aborted`]. Split calls return a
//!   [`CallStream`] between their `start_` and `end_` halves.
//! * Server side: a generated `Server<S>` implements [`Dispatch`]; [`serve`] accepts calls
//!   from a [`rxrpc::Listener`] and runs each in its own task: the opcode is decoded
//!   (`RXGEN_DECODE` if it cannot be), mapped to a method (`RXGEN_OPCODE` if unknown), the
//!   arguments decoded (`RXGEN_SS_UNMARSHAL` if they do not decode, or if bytes are left
//!   over), the method called, and only if it succeeded are the OUT arguments encoded and sent
//!   (`RXGEN_SS_MARSHAL` if they do not encode). A method's error code becomes the call's
//!   abort code; OUT arguments are never sent after an error (OPENAFS-SA-2019-001).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
pub use rxrpc::{
    AbortCode, Call, Completion, Error as RxError, IncomingCall, Listener, RxEndpoint, ServiceId,
};

use crate::codec::{Decoder, Encoder, Limits};
use crate::error::{DecodeError, DecodeErrorKind, EncodeError};
use crate::stream::{Decoded, StreamDecodeError, StreamDecoder};

/// Per-call settings of a client.
#[derive(Debug, Clone)]
pub struct CallOptions {
    /// Decoder limits for replies.
    pub limits: Limits,
    /// Largest reply accepted, in bytes (default 16 MiB); a longer one fails with
    /// [`RpcError::ReplyTooLong`] and the call is aborted with `RXGEN_CC_UNMARSHAL`.
    pub max_reply: usize,
    /// Largest XDR item buffered while streaming a split call (default 1 MiB).
    pub max_stream_item: usize,
    /// Hard limit on each call's duration.
    pub hard_timeout: Option<Duration>,
    /// Fail a call if nothing is heard from the peer for this long.
    pub idle_timeout: Option<Duration>,
    /// Use a connection of its own for each call.
    pub exclusive: bool,
    /// Ask the server to upgrade the service (AuriStor convention).
    pub upgrade: bool,
    /// Credentials of a security class (rxkad, rxgk); `None` makes rxnull calls.
    pub security: Option<rxrpc::security::ClientSecurityRef>,
}

impl Default for CallOptions {
    fn default() -> Self {
        CallOptions {
            limits: Limits::default(),
            max_reply: 16 << 20,
            max_stream_item: 1 << 20,
            hard_timeout: None,
            idle_timeout: None,
            security: None,
            exclusive: false,
            upgrade: false,
        }
    }
}

/// Why an RPC failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RpcError {
    /// The peer aborted the call: an application error code (e.g. `VL_NOENT`) or an Rx /
    /// rxgen code (e.g. `RXGEN_OPCODE`).
    #[error("the peer aborted the call with {0}")]
    Aborted(AbortCode),
    /// The arguments could not be encoded (a bound exceeded); nothing was sent. rxgen's
    /// `RXGEN_CC_MARSHAL`.
    #[error("the arguments do not encode: {0}")]
    Marshal(#[source] EncodeError),
    /// The reply did not decode; the call was aborted with `RXGEN_CC_UNMARSHAL`.
    #[error("the reply does not decode: {0}")]
    Unmarshal(#[source] DecodeError),
    /// The reply was longer than [`CallOptions::max_reply`] (or a streamed item longer than
    /// [`CallOptions::max_stream_item`]); the call was aborted with `RXGEN_CC_UNMARSHAL`.
    #[error("the reply exceeds the limit of {0} bytes")]
    ReplyTooLong(usize),
    /// The call failed in the transport (timeout, network error, local abort, ...).
    #[error(transparent)]
    Rx(rxrpc::Error),
}

impl RpcError {
    /// The abort code the peer sent, if it aborted the call.
    pub fn abort_code(&self) -> Option<AbortCode> {
        match self {
            RpcError::Aborted(c) => Some(*c),
            _ => None,
        }
    }

    /// The error as an rxgen-style return code (what `rx_EndCall` would return): the abort
    /// code, `RXGEN_CC_MARSHAL`, `RXGEN_CC_UNMARSHAL`, a local abort's code, or
    /// `RX_CALL_DEAD` / `RX_CALL_TIMEOUT` for transport failures.
    pub fn code(&self) -> i32 {
        match self {
            RpcError::Aborted(c) => c.0,
            RpcError::Marshal(_) => AbortCode::RXGEN_CC_MARSHAL.0,
            RpcError::Unmarshal(_) | RpcError::ReplyTooLong(_) => AbortCode::RXGEN_CC_UNMARSHAL.0,
            RpcError::Rx(e) => match e.completion() {
                Some(Completion::LocalAbort { code, .. }) => code.0,
                Some(Completion::RemoteAbort(code)) => code.0,
                _ => AbortCode::RX_CALL_DEAD.0,
            },
        }
    }
}

impl From<rxrpc::Error> for RpcError {
    fn from(e: rxrpc::Error) -> Self {
        match e {
            rxrpc::Error::Completed(Completion::RemoteAbort(code)) => RpcError::Aborted(code),
            e => RpcError::Rx(e),
        }
    }
}

/// A failure while streaming a split call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// The call failed (or the peer aborted it).
    #[error(transparent)]
    Rx(#[from] rxrpc::Error),
    /// An XDR item did not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// An XDR item did not encode.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// An item or a read exceeded the buffer limit.
    #[error("a streamed item exceeds the {0}-byte limit")]
    TooLong(usize),
    /// The peer's data ended before the bytes asked for.
    #[error("the data ended {missing} bytes early")]
    Truncated {
        /// Bytes missing.
        missing: usize,
    },
}

impl From<StreamError> for RpcError {
    fn from(e: StreamError) -> Self {
        match e {
            StreamError::Rx(e) => e.into(),
            StreamError::Decode(e) => RpcError::Unmarshal(e),
            StreamError::Encode(e) => RpcError::Marshal(e),
            StreamError::TooLong(n) => RpcError::ReplyTooLong(n),
            StreamError::Truncated { missing } => RpcError::Unmarshal(DecodeError::new(
                DecodeErrorKind::UnexpectedEnd {
                    needed: missing,
                    available: 0,
                },
                0,
            )),
        }
    }
}

/// A server method may use `?` on stream operations: a decode failure becomes
/// `RXGEN_SS_UNMARSHAL`, an encode failure `RXGEN_SS_MARSHAL`, anything else `RX_CALL_DEAD`.
impl From<StreamError> for AbortCode {
    fn from(e: StreamError) -> Self {
        match e {
            StreamError::Decode(_) | StreamError::TooLong(_) | StreamError::Truncated { .. } => {
                AbortCode::RXGEN_SS_UNMARSHAL
            }
            StreamError::Encode(_) => AbortCode::RXGEN_SS_MARSHAL,
            StreamError::Rx(e) => e.abort_code().unwrap_or(AbortCode::RX_CALL_DEAD),
        }
    }
}

impl From<StreamDecodeError> for StreamError {
    fn from(e: StreamDecodeError) -> Self {
        match e {
            StreamDecodeError::Decode(e) => StreamError::Decode(e),
            StreamDecodeError::TooLong(n) => StreamError::TooLong(n),
        }
    }
}

/// One call's data stream, with XDR items and raw bytes taken in order: the middle of a split
/// call (between a generated `start_X` and `end_X` on the client; inside a split method on the
/// server).
///
/// Reading first ends this side's sending phase (as `rx_Read` does in OpenAFS), so a client
/// that reads after `start_X` does not have to call [`finish_send`](Self::finish_send).
#[derive(Debug)]
pub struct CallStream {
    call: Call,
    rx: StreamDecoder,
    eof: bool,
    send_done: bool,
    is_client: bool,
}

impl CallStream {
    /// A stream over `call`; `is_client` tells whether reading must first end the sending phase.
    pub fn new(call: Call, is_client: bool, limits: Limits, max_item: usize) -> Self {
        CallStream {
            call,
            rx: StreamDecoder::new(limits, max_item),
            eof: false,
            send_done: !is_client,
            is_client,
        }
    }

    /// The underlying call.
    pub fn call(&self) -> &Call {
        &self.call
    }

    /// The peer's address.
    pub fn peer(&self) -> SocketAddr {
        self.call.peer()
    }

    /// Whether the peer's data has ended (and nothing is buffered).
    pub fn at_end(&self) -> bool {
        self.eof && self.rx.buffered() == 0
    }

    async fn before_read(&mut self) -> Result<(), StreamError> {
        if self.is_client && !self.send_done {
            self.send_done = true;
            self.call.finish().await?;
        }
        Ok(())
    }

    /// Receive one more piece into the buffer; false at end of data.
    async fn fill(&mut self) -> Result<bool, StreamError> {
        if self.eof {
            return Ok(false);
        }
        self.before_read().await?;
        match self.call.recv().await? {
            Some(chunk) => {
                self.rx.push(&chunk);
                Ok(true)
            }
            None => {
                self.eof = true;
                Ok(false)
            }
        }
    }

    /// Decode the next XDR item with `f` (receiving as much as it needs).
    pub async fn decode<T>(
        &mut self,
        mut f: impl FnMut(&mut Decoder<'_>) -> Result<T, DecodeError>,
    ) -> Result<T, StreamError> {
        loop {
            match self.rx.try_decode(self.eof, &mut f)? {
                Decoded::Item(v) => return Ok(v),
                Decoded::NeedMore => {
                    self.fill().await?;
                }
            }
        }
    }

    /// Read the rest of the peer's data (at most `limit` bytes) and decode it with `f`, which
    /// must consume all of it.
    pub async fn decode_to_end<T>(
        &mut self,
        limit: usize,
        f: impl FnOnce(&mut Decoder<'_>) -> Result<T, DecodeError>,
    ) -> Result<T, StreamError> {
        while self.fill().await? {
            if self.rx.buffered() > limit {
                return Err(StreamError::TooLong(limit));
            }
        }
        let all = self.rx.take_up_to(usize::MAX).unwrap_or_default();
        let mut d = Decoder::with_limits(&all, self.rx.limits());
        let v = f(&mut d)?;
        d.finish()?;
        Ok(v)
    }

    /// Read exactly `n` raw bytes (at most the stream's item limit at once).
    pub async fn read_exact(&mut self, n: usize) -> Result<Bytes, StreamError> {
        if n > self.rx.max_buffered().max(self.rx.buffered()) {
            return Err(StreamError::TooLong(self.rx.max_buffered()));
        }
        loop {
            if let Some(b) = self.rx.take_exact(n) {
                return Ok(b);
            }
            if !self.fill().await? {
                return Err(StreamError::Truncated {
                    missing: n - self.rx.buffered(),
                });
            }
        }
    }

    /// Read the next piece of raw data, at most `max` bytes; `None` at end of data.
    pub async fn read_chunk(&mut self, max: usize) -> Result<Option<Bytes>, StreamError> {
        loop {
            if let Some(b) = self.rx.take_up_to(max) {
                return Ok(Some(b));
            }
            if !self.fill().await? {
                return Ok(None);
            }
        }
    }

    /// Read an XDR `unsigned int` (e.g. the length `RXAFS_FetchData` sends before its data).
    pub async fn read_u32(&mut self) -> Result<u32, StreamError> {
        self.decode(|d| d.u32()).await
    }

    /// Read an XDR `hyper`.
    pub async fn read_i64(&mut self) -> Result<i64, StreamError> {
        self.decode(|d| d.i64()).await
    }

    /// Queue raw bytes (this side's sending phase stays open).
    pub async fn write(&mut self, data: Bytes) -> Result<(), StreamError> {
        self.call.send(data).await?;
        Ok(())
    }

    /// Copy and queue raw bytes.
    pub async fn write_all(&mut self, data: &[u8]) -> Result<(), StreamError> {
        self.call.send_all(data).await?;
        Ok(())
    }

    /// Encode XDR items with `f` and queue them.
    pub async fn encode(
        &mut self,
        f: impl FnOnce(&mut Encoder) -> Result<(), EncodeError>,
    ) -> Result<(), StreamError> {
        let mut e = Encoder::new();
        f(&mut e)?;
        self.write(e.into_bytes()).await
    }

    /// Queue an XDR `unsigned int`.
    pub async fn write_u32(&mut self, v: u32) -> Result<(), StreamError> {
        self.write_all(&v.to_be_bytes()).await
    }

    /// End this side's sending phase (client: the request is complete).
    pub async fn finish_send(&mut self) -> Result<(), StreamError> {
        if !self.send_done {
            self.send_done = true;
            self.call.finish().await?;
        }
        Ok(())
    }

    pub(crate) fn into_call(self) -> Call {
        self.call
    }
}

/// A client of one service at one peer, on which generated clients make their calls.
#[derive(Debug, Clone)]
pub struct RpcClient {
    endpoint: RxEndpoint,
    peer: SocketAddr,
    service: ServiceId,
    options: CallOptions,
}

impl RpcClient {
    /// Calls to `service` at `peer`, made from `endpoint`.
    pub fn new(endpoint: &RxEndpoint, peer: SocketAddr, service: ServiceId) -> Self {
        RpcClient {
            endpoint: endpoint.clone(),
            peer,
            service,
            options: CallOptions::default(),
        }
    }

    /// Replace the call options.
    #[must_use]
    pub fn with_options(mut self, options: CallOptions) -> Self {
        self.options = options;
        self
    }

    /// Make the calls with these credentials (rxkad, rxgk, ...).
    ///
    /// ```no_run
    /// # fn f(rpc: rxrpc_xdr::rx::RpcClient, creds: rxrpc::security::ClientSecurityRef) {
    /// let secured = rpc.with_security(creds);
    /// # }
    /// ```
    #[must_use]
    pub fn with_security(mut self, security: rxrpc::security::ClientSecurityRef) -> Self {
        self.options.security = Some(security);
        self
    }

    /// The call options.
    pub fn options(&self) -> &CallOptions {
        &self.options
    }

    /// The endpoint calls are made from.
    pub fn endpoint(&self) -> &RxEndpoint {
        &self.endpoint
    }

    /// The peer.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The service ID.
    pub fn service(&self) -> ServiceId {
        self.service
    }

    /// Open a call with the options applied.
    pub async fn open_call(&self) -> Result<Call, RpcError> {
        let o = &self.options;
        let mut b = self
            .endpoint
            .call(self.peer, self.service)
            .exclusive(o.exclusive)
            .upgrade(o.upgrade);
        if let Some(t) = o.hard_timeout {
            b = b.hard_timeout(t);
        }
        if let Some(t) = o.idle_timeout {
            b = b.idle_timeout(t);
        }
        if let Some(s) = &o.security {
            b = b.security(s.clone());
        }
        Ok(b.open().await?)
    }

    fn request(
        opcode: u32,
        encode: impl FnOnce(&mut Encoder) -> Result<(), EncodeError>,
    ) -> Result<Bytes, RpcError> {
        let mut e = Encoder::new();
        e.u32(opcode);
        encode(&mut e).map_err(RpcError::Marshal)?;
        Ok(e.into_bytes())
    }

    /// One whole RPC: opcode and arguments encoded by `encode`, the reply decoded by `decode`
    /// (which must consume all of it).
    pub async fn call<T>(
        &self,
        opcode: u32,
        encode: impl FnOnce(&mut Encoder) -> Result<(), EncodeError>,
        decode: impl FnOnce(&mut Decoder<'_>) -> Result<T, DecodeError>,
    ) -> Result<T, RpcError> {
        let req = Self::request(opcode, encode)?;
        let call = self.open_call().await?;
        // The request and the whole reply in one exchange with the endpoint's driver.
        let reply = match call.request(req, self.options.max_reply).await {
            Ok(r) => r,
            Err(rxrpc::Error::TooLong(n)) => {
                let _ = call.abort(AbortCode::RXGEN_CC_UNMARSHAL).await;
                return Err(RpcError::ReplyTooLong(n));
            }
            Err(e) => return Err(e.into()),
        };
        let mut d = Decoder::with_limits(&reply, self.options.limits);
        match decode(&mut d).and_then(|v| d.finish().map(|()| v)) {
            Ok(v) => Ok(v),
            Err(e) => {
                let _ = call.abort(AbortCode::RXGEN_CC_UNMARSHAL).await;
                Err(RpcError::Unmarshal(e))
            }
        }
    }

    /// The first half of a split call: send the opcode and the arguments, leave the sending
    /// phase open, and return the stream.
    pub async fn start_split(
        &self,
        opcode: u32,
        encode: impl FnOnce(&mut Encoder) -> Result<(), EncodeError>,
    ) -> Result<CallStream, RpcError> {
        let req = Self::request(opcode, encode)?;
        let call = self.open_call().await?;
        call.send(req).await?;
        Ok(CallStream::new(
            call,
            true,
            self.options.limits,
            self.options.max_stream_item,
        ))
    }

    /// The second half of a split call: end the sending phase if still open, read the rest of
    /// the reply and decode the results with `decode`.
    pub async fn end_split<T>(
        &self,
        mut stream: CallStream,
        decode: impl FnOnce(&mut Decoder<'_>) -> Result<T, DecodeError>,
    ) -> Result<T, RpcError> {
        let r = async {
            stream.finish_send().await?;
            stream.decode_to_end(self.options.max_reply, decode).await
        }
        .await;
        match r {
            Ok(v) => Ok(v),
            Err(e) => {
                let e = RpcError::from(e);
                if matches!(e, RpcError::Unmarshal(_) | RpcError::ReplyTooLong(_)) {
                    let _ = stream
                        .into_call()
                        .abort(AbortCode::RXGEN_CC_UNMARSHAL)
                        .await;
                }
                Err(e)
            }
        }
    }
}

/// Settings of a server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Decoder limits for requests.
    pub limits: Limits,
    /// Largest request (opcode and arguments of a non-split call) accepted, in bytes (default
    /// 4 MiB); a longer one is aborted with `RXGEN_SS_UNMARSHAL`.
    pub max_request: usize,
    /// Largest XDR item buffered while streaming a split call (default 1 MiB).
    pub max_stream_item: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            limits: Limits::default(),
            max_request: 4 << 20,
            max_stream_item: 1 << 20,
        }
    }
}

/// What a server method sees of its call (non-split methods).
#[derive(Debug, Clone)]
pub struct CallContext {
    call: Call,
}

impl CallContext {
    /// The underlying call (for its peer, service ID, ...).
    pub fn call(&self) -> &Call {
        &self.call
    }

    /// The caller's address.
    pub fn peer(&self) -> SocketAddr {
        self.call.peer()
    }

    /// The service the call arrived on.
    pub fn service_id(&self) -> ServiceId {
        self.call.service_id()
    }
}

/// Why dispatching a call failed; each maps to the abort code sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DispatchError {
    /// The request was too short for an opcode: `RXGEN_DECODE`.
    #[error("no opcode in the request")]
    NoOpcode,
    /// The opcode names no procedure of the package: `RXGEN_OPCODE`.
    #[error("unknown opcode {0}")]
    Opcode(u32),
    /// The arguments did not decode: `RXGEN_SS_UNMARSHAL`.
    #[error("the arguments do not decode: {0}")]
    Unmarshal(#[source] DecodeError),
    /// The request exceeded [`ServerOptions::max_request`]: `RXGEN_SS_UNMARSHAL`.
    #[error("the request exceeds {0} bytes")]
    TooLong(usize),
    /// The results did not encode: `RXGEN_SS_MARSHAL`.
    #[error("the results do not encode: {0}")]
    Marshal(#[source] EncodeError),
    /// The method returned this code.
    #[error("the method returned {0}")]
    Method(AbortCode),
    /// The call failed underneath (nothing is sent).
    #[error(transparent)]
    Rx(rxrpc::Error),
}

impl DispatchError {
    /// The abort code sent for this error (`None` if the call had already failed).
    pub fn abort_code(&self) -> Option<AbortCode> {
        Some(match self {
            DispatchError::NoOpcode => AbortCode::RXGEN_DECODE,
            DispatchError::Opcode(_) => AbortCode::RXGEN_OPCODE,
            DispatchError::Unmarshal(_) | DispatchError::TooLong(_) => {
                AbortCode::RXGEN_SS_UNMARSHAL
            }
            DispatchError::Marshal(_) => AbortCode::RXGEN_SS_MARSHAL,
            DispatchError::Method(c) => *c,
            DispatchError::Rx(_) => return None,
        })
    }
}

impl From<StreamError> for DispatchError {
    fn from(e: StreamError) -> Self {
        match e {
            StreamError::Rx(e) => DispatchError::Rx(e),
            StreamError::Decode(e) => DispatchError::Unmarshal(e),
            StreamError::Encode(e) => DispatchError::Marshal(e),
            StreamError::TooLong(n) => DispatchError::TooLong(n),
            StreamError::Truncated { missing } => DispatchError::Unmarshal(DecodeError::new(
                DecodeErrorKind::UnexpectedEnd {
                    needed: missing,
                    available: 0,
                },
                0,
            )),
        }
    }
}

/// A service call being dispatched: the generated dispatcher reads the arguments and sends the
/// results through it; split methods stream through it (it derefs to [`CallStream`]).
#[derive(Debug)]
pub struct ServerCall {
    ctx: CallContext,
    stream: CallStream,
    max_request: usize,
}

impl ServerCall {
    /// Wrap an accepted call.
    pub fn new(call: Call, options: &ServerOptions) -> Self {
        ServerCall {
            ctx: CallContext { call: call.clone() },
            stream: CallStream::new(call, false, options.limits, options.max_stream_item),
            max_request: options.max_request,
        }
    }

    /// The call's context.
    pub fn context(&self) -> &CallContext {
        &self.ctx
    }

    /// Read the opcode.
    pub async fn opcode(&mut self) -> Result<u32, DispatchError> {
        match self.stream.decode(|d| d.u32()).await {
            Ok(op) => Ok(op),
            Err(StreamError::Decode(_)) => Err(DispatchError::NoOpcode),
            Err(e) => Err(e.into()),
        }
    }

    /// Arguments of a non-split call: the rest of the request, all of it consumed by `f`.
    pub async fn args<T>(
        &mut self,
        f: impl FnOnce(&mut Decoder<'_>) -> Result<T, DecodeError>,
    ) -> Result<T, DispatchError> {
        Ok(self.stream.decode_to_end(self.max_request, f).await?)
    }

    /// Arguments of a split call: decoded as they arrive; what follows stays in the stream.
    pub async fn split_args<T>(
        &mut self,
        f: impl FnMut(&mut Decoder<'_>) -> Result<T, DecodeError>,
    ) -> Result<T, DispatchError> {
        Ok(self.stream.decode(f).await?)
    }

    /// Send the results encoded by `f` and end the reply.
    pub async fn reply(
        &mut self,
        f: impl FnOnce(&mut Encoder) -> Result<(), EncodeError>,
    ) -> Result<(), DispatchError> {
        let mut e = Encoder::new();
        f(&mut e).map_err(DispatchError::Marshal)?;
        self.ctx
            .call
            .send_last(e.into_bytes())
            .await
            .map_err(DispatchError::Rx)
    }
}

impl std::ops::Deref for ServerCall {
    type Target = CallStream;
    fn deref(&self) -> &CallStream {
        &self.stream
    }
}

impl std::ops::DerefMut for ServerCall {
    fn deref_mut(&mut self) -> &mut CallStream {
        &mut self.stream
    }
}

/// A generated package dispatcher (`<package>::Server<S>`).
pub trait Dispatch: Send + Sync + 'static {
    /// The package name, for logs (e.g. `VL_`).
    fn package(&self) -> &'static str;

    /// Handle one call whose opcode has been read: decode the arguments, call the method,
    /// send the results. Errors are turned into aborts by [`dispatch_call`].
    fn dispatch(
        &self,
        opcode: u32,
        call: &mut ServerCall,
    ) -> impl Future<Output = Result<(), DispatchError>> + Send;
}

/// Serve one accepted call with `dispatcher`: read the opcode, dispatch, and abort the call
/// with the right code on any failure. Returns the failure, if any.
pub async fn dispatch_call<D: Dispatch>(
    dispatcher: &D,
    call: Call,
    options: &ServerOptions,
) -> Result<(), DispatchError> {
    let mut sc = ServerCall::new(call.clone(), options);
    let r = match sc.opcode().await {
        Ok(op) => dispatcher.dispatch(op, &mut sc).await,
        Err(e) => Err(e),
    };
    if let Err(e) = &r {
        if let Some(code) = e.abort_code() {
            tracing::debug!(package = dispatcher.package(), peer = %call.peer(), error = %e, %code, "aborting call");
            let _ = call.abort(code).await;
        }
    }
    r
}

/// Accept calls from `listener` forever (until the listener fails), serving each in its own
/// task with `dispatcher`. Returns the listener's error.
pub async fn serve<D: Dispatch>(
    listener: Listener,
    dispatcher: Arc<D>,
    options: ServerOptions,
) -> rxrpc::Error {
    let options = Arc::new(options);
    loop {
        match listener.accept().await {
            Ok(incoming) => {
                let d = Arc::clone(&dispatcher);
                let o = Arc::clone(&options);
                tokio::spawn(async move {
                    let _ = dispatch_call(&*d, incoming.into_call(), &o).await;
                });
            }
            Err(e) => return e,
        }
    }
}
