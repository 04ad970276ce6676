//! The rxdebug request/reply exchange over a plain blocking UDP socket.
//!
//! Layer: transport of the `rxdebug` tool. One [`DebugClient`] owns an unconnected UDP socket
//! bound to an ephemeral port and talks to one server, as OpenAFS's `MakeDebugCall` does: each
//! request is a bare Rx header (epoch 999, cid 0, a call number from a counter that starts at
//! 101, flags `CLIENT_INITIATED|LAST_PACKET`, service 0) plus the body; the reply is the first
//! datagram that echoes the call number. The request is resent with a doubling wait (by
//! default 1 s, 2 s, 4 s, 8 s, 16 s: five tries, 31 s in all) before giving up.
//!
//! Unlike the C original, a reply must also be a non-client-initiated packet of the requested
//! type; an ABORT carrying our call number (the Linux kernel answers DEBUG that way) ends the
//! exchange at once with [`CallError::Aborted`] instead of being mistaken for a tiny reply.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use rxrpc_proto::wire::{
    AbortCode, CallNumber, Cid, DebugRequest, Epoch, Flags, HEADER_LEN, Header, PacketType,
    SecurityIndex, Seq, Serial, ServiceId,
};

/// The epoch of every rxdebug request.
pub const DEBUG_EPOCH: u32 = 999;
/// The first call number used (OpenAFS's counter starts at 100 and is pre-incremented).
pub const FIRST_CALL_NUMBER: u32 = 101;
/// Largest datagram accepted (OpenAFS reads into a 1500-byte buffer; we allow more).
const MAX_DATAGRAM: usize = 65_536;

/// How long to wait for each reply and how often to resend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Wait after the first transmission; doubled after every resend.
    pub first_wait: Duration,
    /// Transmissions in all (at least 1).
    pub tries: u32,
}

impl Default for RetryPolicy {
    /// OpenAFS's behaviour: 1 s, doubling, 5 tries.
    fn default() -> Self {
        RetryPolicy {
            first_wait: Duration::from_secs(1),
            tries: 5,
        }
    }
}

impl RetryPolicy {
    /// The longest an exchange can take: the sum of all the waits.
    pub fn total(&self) -> Duration {
        let mut wait = self.first_wait;
        let mut total = Duration::ZERO;
        for _ in 0..self.tries.max(1) {
            total = total.saturating_add(wait);
            wait = wait.saturating_mul(2);
        }
        total
    }
}

/// Why an exchange produced no reply.
#[derive(Debug)]
pub enum CallError {
    /// Every try went unanswered.
    Timeout {
        /// Transmissions made.
        tries: u32,
        /// Time spent waiting in all.
        waited: Duration,
    },
    /// The server aborted the request (e.g. Linux AF_RXRPC answers DEBUG with
    /// `RX_PROTOCOL_ERROR`).
    Aborted(AbortCode),
    /// The socket failed.
    Io(io::Error),
}

impl CallError {
    /// The code OpenAFS's rxdebug would print ("failed with code N"): always -1 there.
    pub fn code(&self) -> i32 {
        -1
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Timeout { tries, waited } => write!(
                f,
                "no reply after {tries} tr{} ({:.1} s)",
                if *tries == 1 { "y" } else { "ies" },
                waited.as_secs_f64()
            ),
            CallError::Aborted(code) => match code.name() {
                Some(n) => write!(
                    f,
                    "the server aborted the request with code {} ({n})",
                    code.0
                ),
                None => write!(f, "the server aborted the request with code {}", code.0),
            },
            CallError::Io(e) => write!(f, "socket error: {e}"),
        }
    }
}

impl std::error::Error for CallError {}

impl From<io::Error> for CallError {
    fn from(e: io::Error) -> Self {
        CallError::Io(e)
    }
}

/// A client for one server's DEBUG and VERSION packets.
#[derive(Debug)]
pub struct DebugClient {
    sock: UdpSocket,
    target: SocketAddrV4,
    next_call: u32,
    policy: RetryPolicy,
}

impl DebugClient {
    /// Bind an ephemeral IPv4 UDP port for talking to `target`.
    pub fn new(target: SocketAddrV4, policy: RetryPolicy) -> io::Result<DebugClient> {
        let sock = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))?;
        Ok(DebugClient {
            sock,
            target,
            next_call: FIRST_CALL_NUMBER,
            policy,
        })
    }

    /// The server.
    pub fn target(&self) -> SocketAddrV4 {
        self.target
    }

    /// The call number the next exchange will use.
    pub fn next_call_number(&self) -> u32 {
        self.next_call
    }

    /// The request header for call number `call`.
    pub fn request_header(packet_type: PacketType, call: u32) -> Header {
        Header {
            epoch: Epoch(DEBUG_EPOCH),
            cid: Cid(0),
            call_number: CallNumber(call),
            seq: Seq(0),
            serial: Serial(0),
            packet_type,
            flags: Flags::CLIENT_INITIATED.with(Flags::LAST_PACKET),
            user_status: 0,
            security_index: SecurityIndex(0),
            cksum: 0,
            service_id: ServiceId(0),
        }
    }

    /// Ask for the server's version string (a VERSION packet with one zero byte); returns the
    /// raw reply body.
    pub fn version(&mut self) -> Result<Vec<u8>, CallError> {
        self.exchange(PacketType::VERSION, &[0])
    }

    /// Send one DEBUG request; returns the raw reply body.
    pub fn debug(&mut self, req: DebugRequest) -> Result<Vec<u8>, CallError> {
        let mut body = Vec::with_capacity(req.buffer_len());
        req.emit(&mut body);
        self.exchange(PacketType::DEBUG, &body)
    }

    /// Send `body` in a packet of `packet_type` and wait for the matching reply, resending per
    /// the retry policy. Returns the reply's body (after the 28-byte header).
    pub fn exchange(&mut self, packet_type: PacketType, body: &[u8]) -> Result<Vec<u8>, CallError> {
        let call = self.next_call;
        self.next_call = self.next_call.wrapping_add(1);
        let mut datagram = Vec::with_capacity(HEADER_LEN + body.len());
        Self::request_header(packet_type, call).emit(&mut datagram);
        datagram.extend_from_slice(body);

        let tries = self.policy.tries.max(1);
        let mut wait = self.policy.first_wait;
        let started = Instant::now();
        let mut buf = vec![0u8; MAX_DATAGRAM];
        for _ in 0..tries {
            self.sock.send_to(&datagram, self.target)?;
            let deadline = Instant::now() + wait;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                if left < Duration::from_micros(100) {
                    break;
                }
                self.sock.set_read_timeout(Some(left))?;
                let n = match self.sock.recv(&mut buf) {
                    Ok(r) => r,
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) =>
                    {
                        break;
                    }
                    // ICMP errors from earlier sends, signals: keep waiting.
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::ConnectionRefused
                                | io::ErrorKind::ConnectionReset
                                | io::ErrorKind::Interrupted
                        ) =>
                    {
                        continue;
                    }
                    Err(e) => return Err(CallError::Io(e)),
                };
                let Some(reply) = buf.get(..n) else { continue };
                match classify(reply, packet_type, call) {
                    Match::Reply => {
                        return Ok(reply.get(HEADER_LEN..).unwrap_or_default().to_vec());
                    }
                    Match::Abort(code) => return Err(CallError::Aborted(code)),
                    Match::Other => continue,
                }
            }
            wait = wait.saturating_mul(2);
        }
        Err(CallError::Timeout {
            tries,
            waited: started.elapsed(),
        })
    }
}

enum Match {
    Reply,
    Abort(AbortCode),
    Other,
}

/// Whether `datagram` answers our request `call` of `packet_type`. Like OpenAFS, the sender's
/// address is not checked (a multi-homed server may answer from another address).
fn classify(datagram: &[u8], packet_type: PacketType, call: u32) -> Match {
    let Ok(h) = Header::parse(datagram) else {
        return Match::Other;
    };
    if h.call_number.0 != call || h.is_client_initiated() {
        return Match::Other;
    }
    if h.packet_type == packet_type {
        return Match::Reply;
    }
    if h.packet_type == PacketType::ABORT {
        let code = datagram
            .get(HEADER_LEN..HEADER_LEN + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(i32::from_be_bytes)
            .unwrap_or(0);
        return Match::Abort(AbortCode(code));
    }
    Match::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_header_bytes() {
        let h = DebugClient::request_header(PacketType::DEBUG, 101);
        let b = h.to_bytes();
        assert_eq!(&b[0..4], &999u32.to_be_bytes());
        assert_eq!(&b[4..8], &[0; 4]);
        assert_eq!(&b[8..12], &101u32.to_be_bytes());
        assert_eq!(b[20], 8);
        assert_eq!(b[21], 5);
        assert_eq!(&b[22..28], &[0; 6]);
    }

    #[test]
    fn policy_total() {
        assert_eq!(RetryPolicy::default().total(), Duration::from_secs(31));
        let p = RetryPolicy {
            first_wait: Duration::from_millis(100),
            tries: 0,
        };
        assert_eq!(p.total(), Duration::from_millis(100));
    }

    #[test]
    fn classify_replies() {
        let mut reply = DebugClient::request_header(PacketType::DEBUG, 7)
            .to_bytes()
            .to_vec();
        assert!(matches!(
            classify(&reply, PacketType::DEBUG, 7),
            Match::Other
        ));
        reply[21] = 4;
        assert!(matches!(
            classify(&reply, PacketType::DEBUG, 7),
            Match::Reply
        ));
        assert!(matches!(
            classify(&reply, PacketType::DEBUG, 8),
            Match::Other
        ));
        assert!(matches!(
            classify(&reply, PacketType::VERSION, 7),
            Match::Other
        ));
        reply[20] = 4;
        reply.extend_from_slice(&(-5i32).to_be_bytes());
        assert!(matches!(
            classify(&reply, PacketType::DEBUG, 7),
            Match::Abort(AbortCode(-5))
        ));
        assert!(matches!(
            classify(&reply[..10], PacketType::DEBUG, 7),
            Match::Other
        ));
    }
}
