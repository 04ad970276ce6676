//! Call states, completions, and every state transition.
//!
//! Layer: the call engine. This module is the only place where a call's state changes
//! (`reference-linux-rxrpc.md` §2; the design brief's single COMPLETE state). A call ends in
//! [`CallState::Complete`] carrying a [`Completion`]; there is no "dead" state and no timer that
//! keeps a finished call alive: the endpoint frees a call as soon as its last holder lets go.

use core::fmt;

use crate::wire::AbortCode;

use super::Call;

/// Where a call is in its life. Client calls walk the `Client*` states, service calls the
/// `Server*` ones; both end in `Complete`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CallState {
    /// Waiting for a connection channel.
    ClientAwaitConn,
    /// Has a channel; nothing transmitted yet.
    ClientPreSend,
    /// Transmitting the request.
    ClientSendRequest,
    /// Last request packet sent; waiting for it to be hard-ACKed.
    ClientAwaitAck,
    /// Request fully acknowledged; waiting for the reply.
    ClientAwaitReply,
    /// Receiving the reply.
    ClientRecvReply,
    /// Preallocated ("charged") service call not yet attached to an incoming call.
    ServerPrealloc,
    /// Receiving the request.
    ServerRecvRequest,
    /// Whole request received; the reply has not started.
    ServerAckRequest,
    /// Transmitting the reply.
    ServerSendReply,
    /// Last reply packet sent; waiting for the final ACK.
    ServerAwaitAck,
    /// Finished, with how it finished.
    Complete(Completion),
}

impl CallState {
    /// The `/proc/net/rxrpc/calls` name of the state.
    pub fn proc_name(&self) -> &'static str {
        match self {
            CallState::ClientAwaitConn => "ClWtConn",
            CallState::ClientPreSend => "ClPreSnd",
            CallState::ClientSendRequest => "ClSndReq",
            CallState::ClientAwaitAck => "ClAwtAck",
            CallState::ClientAwaitReply => "ClAwtRpl",
            CallState::ClientRecvReply => "ClRcvRpl",
            CallState::ServerPrealloc => "SvPrealc",
            CallState::ServerRecvRequest => "SvRcvReq",
            CallState::ServerAckRequest => "SvAckReq",
            CallState::ServerSendReply => "SvSndRpl",
            CallState::ServerAwaitAck => "SvAwtACK",
            CallState::Complete(c) => c.proc_name(),
        }
    }

    /// Whether the call has completed.
    pub fn is_complete(&self) -> bool {
        matches!(self, CallState::Complete(_))
    }

    /// Whether this state transmits DATA (request or reply phase).
    pub(crate) fn is_transmitting(&self) -> bool {
        matches!(
            self,
            CallState::ClientSendRequest
                | CallState::ClientAwaitAck
                | CallState::ServerSendReply
                | CallState::ServerAwaitAck
        )
    }

    /// Whether this state receives DATA.
    pub(crate) fn is_receiving(&self) -> bool {
        matches!(
            self,
            CallState::ServerRecvRequest
                | CallState::ClientSendRequest
                | CallState::ClientAwaitAck
                | CallState::ClientAwaitReply
                | CallState::ClientRecvReply
        )
    }
}

/// How a call finished.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Completion {
    /// Both directions delivered and acknowledged.
    Succeeded,
    /// The peer aborted the call (or its connection) with this code.
    RemoteAbort(AbortCode),
    /// We aborted the call with this code, for this reason.
    LocalAbort {
        /// The code sent to the peer.
        code: AbortCode,
        /// Why.
        reason: AbortReason,
    },
    /// The network reported an error for the peer (ICMP), as an errno-like value.
    NetworkError(NetworkError),
    /// A local failure (e.g. the socket could not send).
    LocalError(LocalError),
}

impl Completion {
    /// The `/proc` name of the completion.
    pub fn proc_name(&self) -> &'static str {
        match self {
            Completion::Succeeded => "Complete",
            Completion::RemoteAbort(_) => "RmtAbort",
            Completion::LocalAbort { .. } => "LocAbort",
            Completion::NetworkError(_) => "NetError",
            Completion::LocalError(_) => "LocError",
        }
    }

    /// The abort code associated with the completion, if any.
    pub fn abort_code(&self) -> Option<AbortCode> {
        match self {
            Completion::RemoteAbort(c) => Some(*c),
            Completion::LocalAbort { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether the call succeeded.
    pub fn is_success(&self) -> bool {
        matches!(self, Completion::Succeeded)
    }
}

impl fmt::Display for Completion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Completion::Succeeded => f.write_str("succeeded"),
            Completion::RemoteAbort(c) => write!(f, "aborted by peer with {c}"),
            Completion::LocalAbort { code, reason } => {
                write!(f, "aborted locally with {code}: {}", reason.as_str())
            }
            Completion::NetworkError(e) => write!(f, "network error: {e:?}"),
            Completion::LocalError(e) => write!(f, "local error: {e:?}"),
        }
    }
}

/// Network-level failures reported for a peer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum NetworkError {
    /// Destination unreachable.
    Unreachable,
    /// The peer's port refused the datagram.
    ConnectionRefused,
    /// Another ICMP error, as an OS errno.
    Os(i32),
}

/// Local failures that end a call.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum LocalError {
    /// The endpoint is shutting down.
    Shutdown,
    /// The first packet of the call could not be sent.
    SendFailed(i32),
}

/// Why we aborted a call: one variant per abort site, each with a wire code and a short
/// string for traces (in the manner of the kernel's abort tracepoint reasons).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum AbortReason {
    /// The application asked for it.
    User,
    /// The owning socket was closed with the call unfinished.
    SocketClosed,
    /// The application dropped its handle to an unfinished call.
    HandleDropped,
    /// Nothing heard from the peer within the idle timeout.
    IdleTimeout,
    /// The request stopped arriving.
    RequestTimeout,
    /// The call's hard timeout expired.
    HardTimeout,
    /// The peer is alive on the connection but ignores this call.
    CallReset,
    /// A malformed or illegal packet.
    ProtocolError(&'static str),
    /// A newer call arrived on the channel before this one finished.
    ImplicitEnd,
    /// The endpoint was shut down.
    Shutdown,
    /// The connection was aborted.
    ConnectionAborted,
    /// The service is not offered here.
    NoService,
    /// The call's security index is not supported.
    UnsupportedSecurity,
    /// The application rejected an incoming call.
    Rejected,
}

impl AbortReason {
    /// Short trace string.
    pub fn as_str(&self) -> &'static str {
        match self {
            AbortReason::User => "user",
            AbortReason::SocketClosed => "sock-release",
            AbortReason::HandleDropped => "handle-drop",
            AbortReason::IdleTimeout => "idle-timeout",
            AbortReason::RequestTimeout => "req-timeout",
            AbortReason::HardTimeout => "hard-timeout",
            AbortReason::CallReset => "call-reset",
            AbortReason::ProtocolError(s) => s,
            AbortReason::ImplicitEnd => "improper-term",
            AbortReason::Shutdown => "shutdown",
            AbortReason::ConnectionAborted => "conn-abort",
            AbortReason::NoService => "no-service",
            AbortReason::UnsupportedSecurity => "unsupported-security",
            AbortReason::Rejected => "rejected",
        }
    }
}

impl Call {
    /// Complete the call. One-shot: returns false (and changes nothing) if the call had
    /// already completed.
    pub(crate) fn set_completion(&mut self, completion: Completion) -> bool {
        if self.state.is_complete() {
            return false;
        }
        self.state = CallState::Complete(completion);
        self.timers.clear();
        true
    }

    /// Client: a channel was assigned.
    pub(crate) fn enter_client_pre_send(&mut self) {
        if self.state == CallState::ClientAwaitConn {
            self.state = CallState::ClientPreSend;
        }
    }

    /// Client: the first DATA packet went out.
    pub(crate) fn enter_client_send_request(&mut self) {
        if self.state == CallState::ClientPreSend {
            self.state = CallState::ClientSendRequest;
        }
    }

    /// A packet with LAST_PACKET has been transmitted in our sending phase.
    pub(crate) fn on_last_packet_sent(&mut self) {
        self.state = match self.state {
            CallState::ClientSendRequest | CallState::ClientPreSend => CallState::ClientAwaitAck,
            CallState::ServerSendReply | CallState::ServerAckRequest => CallState::ServerAwaitAck,
            s => s,
        };
    }

    /// Our last packet was hard-ACKed (or ACKALL). Returns true if the call is now done and
    /// must be completed successfully (by the endpoint, which also disconnects it).
    pub(crate) fn on_all_tx_acked(&mut self) -> bool {
        match self.state {
            CallState::ClientAwaitAck => {
                self.state = CallState::ClientAwaitReply;
                false
            }
            CallState::ServerAwaitAck => true,
            _ => false,
        }
    }

    /// Client: the first reply DATA arrived (implicitly ACKs the whole request).
    pub(crate) fn enter_client_recv_reply(&mut self) {
        if matches!(
            self.state,
            CallState::ClientSendRequest | CallState::ClientAwaitAck | CallState::ClientAwaitReply
        ) {
            self.state = CallState::ClientRecvReply;
        }
    }

    /// Service: a preallocated call was attached to an incoming call.
    pub(crate) fn enter_server_recv_request(&mut self) {
        if self.state == CallState::ServerPrealloc {
            self.state = CallState::ServerRecvRequest;
        }
    }

    /// The peer's last DATA packet has been received in order. A service call moves to
    /// ACK_REQUEST; for a client call this returns true: the call must be completed
    /// successfully (by the endpoint, which also disconnects it).
    pub(crate) fn on_rx_complete(&mut self) -> bool {
        match self.state {
            CallState::ServerRecvRequest => {
                self.state = CallState::ServerAckRequest;
                false
            }
            CallState::ClientRecvReply => true,
            _ => false,
        }
    }

    /// Service: the application queued reply data.
    pub(crate) fn enter_server_send_reply(&mut self) {
        if self.state == CallState::ServerAckRequest {
            self.state = CallState::ServerSendReply;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_names() {
        assert_eq!(CallState::ClientAwaitConn.proc_name(), "ClWtConn");
        assert_eq!(
            CallState::Complete(Completion::Succeeded).proc_name(),
            "Complete"
        );
        let c = Completion::LocalAbort {
            code: AbortCode::RX_CALL_DEAD,
            reason: AbortReason::User,
        };
        assert_eq!(c.proc_name(), "LocAbort");
        assert_eq!(c.abort_code(), Some(AbortCode::RX_CALL_DEAD));
        assert!(c.to_string().contains("RX_CALL_DEAD"));
    }
}
