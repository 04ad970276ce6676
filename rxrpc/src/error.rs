//! The error type of the tokio layer.
//!
//! Layer: public API of `rxrpc`. One `#[non_exhaustive]` enum covers every operation of the
//! socket API and the call API: the core's per-operation errors ([`CallError`], [`BindError`])
//! are wrapped as they are, a call that has ended is reported with its [`Completion`], and the
//! two failures that only exist here (I/O, and a driver task that has stopped) have their own
//! variants. `From<Error> for io::Error` maps everything onto `io::ErrorKind`s for users of
//! socket-like APIs (quinn does the same).

use std::io;

use rxrpc_proto::wire::AbortCode;
use rxrpc_proto::{BindError, CallError, Completion, LocalError, NetworkError};

/// Errors of the `rxrpc` tokio layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A call operation was refused (duplicate or unknown user ID, wrong state, length
    /// mismatch, closed socket, full backlog, ...).
    #[error(transparent)]
    Call(CallError),
    /// Binding a service or setting the upgrade pair was refused.
    #[error(transparent)]
    Bind(BindError),
    /// The call has completed. When it failed, this carries how: `RemoteAbort(code)`,
    /// `LocalAbort { .. }`, `NetworkError(..)`, `LocalError(..)`.
    #[error("call completed: {0}")]
    Completed(Completion),
    /// The received data exceeded the limit given to `recv_to_end`.
    #[error("received more than the limit of {0} bytes")]
    TooLong(usize),
    /// The UDP socket failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The endpoint's driver task has stopped (the runtime shut down or the task panicked).
    #[error("the endpoint driver task has stopped")]
    DriverGone,
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<CallError> for Error {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Completed(c) => Error::Completed(c),
            e => Error::Call(e),
        }
    }
}

impl From<BindError> for Error {
    fn from(e: BindError) -> Self {
        Error::Bind(e)
    }
}

impl Error {
    /// The abort code, if this error reports an aborted call.
    pub fn abort_code(&self) -> Option<AbortCode> {
        match self {
            Error::Completed(c) => c.abort_code(),
            _ => None,
        }
    }

    /// The call's completion, if this error reports a completed call.
    pub fn completion(&self) -> Option<Completion> {
        match self {
            Error::Completed(c) => Some(*c),
            _ => None,
        }
    }
}

fn completion_kind(c: &Completion) -> io::ErrorKind {
    match c {
        Completion::Succeeded => io::ErrorKind::BrokenPipe,
        Completion::RemoteAbort(code) | Completion::LocalAbort { code, .. }
            if *code == AbortCode::RX_CALL_TIMEOUT =>
        {
            io::ErrorKind::TimedOut
        }
        Completion::RemoteAbort(_) => io::ErrorKind::ConnectionAborted,
        Completion::LocalAbort { .. } => io::ErrorKind::ConnectionAborted,
        Completion::NetworkError(NetworkError::ConnectionRefused) => {
            io::ErrorKind::ConnectionRefused
        }
        Completion::NetworkError(NetworkError::Unreachable) => io::ErrorKind::HostUnreachable,
        // The driver reports transport errors with the OS's errno.
        Completion::NetworkError(NetworkError::Os(errno))
        | Completion::LocalError(LocalError::SendFailed(errno)) => {
            io::Error::from_raw_os_error(*errno).kind()
        }
        Completion::NetworkError(_) => io::ErrorKind::Other,
        Completion::LocalError(_) => io::ErrorKind::Other,
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match &e {
            Error::Io(inner) => return io::Error::new(inner.kind(), e),
            Error::Call(CallError::DuplicateId(_)) => io::ErrorKind::AlreadyExists,
            Error::Call(CallError::UnknownId(_)) => io::ErrorKind::NotFound,
            Error::Call(CallError::WrongState(_)) => io::ErrorKind::InvalidInput,
            Error::Call(CallError::Completed(c)) => completion_kind(c),
            Error::Call(CallError::LengthMismatch) => io::ErrorKind::InvalidInput,
            Error::Call(CallError::SocketClosed) => io::ErrorKind::NotConnected,
            Error::Call(CallError::InvalidParams(_)) => io::ErrorKind::InvalidInput,
            Error::Call(CallError::CannotCharge(_)) => io::ErrorKind::ResourceBusy,
            Error::Call(CallError::Limit(_)) => io::ErrorKind::ResourceBusy,
            Error::Call(_) => io::ErrorKind::Other,
            Error::Bind(BindError::InUse(_)) => io::ErrorKind::AddrInUse,
            Error::Bind(BindError::SocketClosed) => io::ErrorKind::NotConnected,
            Error::Bind(_) => io::ErrorKind::InvalidInput,
            Error::Completed(c) => completion_kind(c),
            Error::TooLong(_) => io::ErrorKind::InvalidData,
            Error::DriverGone => io::ErrorKind::BrokenPipe,
        };
        io::Error::new(kind, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_error_kinds() {
        let e: io::Error = Error::Call(CallError::DuplicateId(7)).into();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        let e: io::Error = Error::from(CallError::Completed(Completion::RemoteAbort(
            AbortCode::RX_CALL_DEAD,
        )))
        .into();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionAborted);
        assert!(e.to_string().contains("RX_CALL_DEAD"));
        let e: io::Error = Error::Io(io::Error::other("boom")).into();
        assert_eq!(e.kind(), io::ErrorKind::Other);
        assert_eq!(e.to_string(), "boom");
        let e: io::Error = Error::DriverGone.into();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
    }
}
