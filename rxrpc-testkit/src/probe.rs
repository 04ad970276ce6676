//! A minimal, independent Rx VERSION prober (blocking `std::net`, no rxrpc code involved), so
//! the fixtures can check a peer is alive without depending on the crates under test.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// Rx packet type of VERSION packets (13).
pub const RX_PACKET_VERSION: u8 = 13;

/// The VERSION request datagram [`rx_version_probe`] sends: a 28-byte Rx header (epoch 999,
/// cid 0, callNumber 101, seq 0, serial 0, type 13, flags 0x05 = CLIENT_INITIATED | LAST_PACKET,
/// userStatus 0, securityIndex 0, cksum 0, serviceId 0) and a body of one zero byte. This is
/// what `rxdebug -version` sends; Linux only answers a request with exactly that body.
pub const VERSION_REQUEST: [u8; 29] = [
    0x00,
    0x00,
    0x03,
    0xe7, // epoch 999
    0x00,
    0x00,
    0x00,
    0x00, // cid 0
    0x00,
    0x00,
    0x00,
    0x65, // callNumber 101
    0x00,
    0x00,
    0x00,
    0x00, // seq 0
    0x00,
    0x00,
    0x00,
    0x00, // serial 0
    RX_PACKET_VERSION,
    0x05, // flags: CLIENT_INITIATED | LAST_PACKET
    0x00, // userStatus
    0x00, // securityIndex
    0x00,
    0x00, // cksum
    0x00,
    0x00, // serviceId
    0x00, // body: one zero byte
];

/// The 28-byte Rx packet header, decoded by hand (big-endian fields).
///
/// This is deliberately independent of `rxrpc-proto` so that fixture checks do not rely on the
/// code under test; tests that want to exercise the codec decode replies with it instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxHeader {
    /// Connection epoch.
    pub epoch: u32,
    /// Connection ID and channel.
    pub cid: u32,
    /// Call number.
    pub call_number: u32,
    /// DATA sequence number.
    pub seq: u32,
    /// Packet serial number.
    pub serial: u32,
    /// Packet type (1 DATA, 2 ACK, ... 13 VERSION).
    pub packet_type: u8,
    /// Flag bits (0x01 CLIENT_INITIATED, 0x02 REQUEST_ACK, 0x04 LAST_PACKET, ...).
    pub flags: u8,
    /// User status byte.
    pub user_status: u8,
    /// Security index.
    pub security_index: u8,
    /// Header checksum / spare field.
    pub cksum: u16,
    /// Service ID.
    pub service_id: u16,
}

impl RxHeader {
    /// Length of the Rx header on the wire.
    pub const LEN: usize = 28;

    /// Decode the first 28 bytes of `datagram`; `None` if it is shorter.
    pub fn parse(datagram: &[u8]) -> Option<RxHeader> {
        let h = datagram.get(..Self::LEN)?;
        let be32 = |i: usize| u32::from_be_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let be16 = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
        Some(RxHeader {
            epoch: be32(0),
            cid: be32(4),
            call_number: be32(8),
            seq: be32(12),
            serial: be32(16),
            packet_type: h[20],
            flags: h[21],
            user_status: h[22],
            security_index: h[23],
            cksum: be16(24),
            service_id: be16(26),
        })
    }

    /// Whether the CLIENT_INITIATED flag (0x01) is set.
    pub fn is_client_initiated(&self) -> bool {
        self.flags & 0x01 != 0
    }
}

/// The version string of a VERSION reply datagram (65-byte NUL-padded body), up to the first
/// NUL, lossily decoded as UTF-8. `None` if `datagram` is not a VERSION reply.
pub fn version_text(datagram: &[u8]) -> Option<String> {
    let h = RxHeader::parse(datagram)?;
    if h.packet_type != RX_PACKET_VERSION || h.is_client_initiated() {
        return None;
    }
    let body = &datagram[RxHeader::LEN..];
    if body.len() != 65 {
        return None;
    }
    let end = body.iter().position(|&b| b == 0).unwrap_or(body.len());
    Some(String::from_utf8_lossy(&body[..end]).into_owned())
}

/// Send an Rx VERSION request ([`VERSION_REQUEST`]) to `addr` and return the reply datagram
/// (header included). Tries 5 times, waiting up to 1 s for each.
///
/// Only loopback addresses are accepted (anything else is an `InvalidInput` error).
pub fn rx_version_probe(addr: SocketAddr) -> io::Result<Vec<u8>> {
    rx_version_probe_with(addr, Duration::from_secs(1), 5)
}

/// [`rx_version_probe`] with an explicit per-try timeout and number of tries.
///
/// A datagram counts as the reply if it comes from `addr`, is at least 28 bytes long, has
/// packet type 13 and lacks CLIENT_INITIATED; anything else is ignored. Returns `TimedOut`
/// (or the last socket error, e.g. `ConnectionRefused`) when no reply came.
pub fn rx_version_probe_with(
    addr: SocketAddr,
    per_try: Duration,
    tries: u32,
) -> io::Result<Vec<u8>> {
    if !addr.ip().is_loopback() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("rx_version_probe: refusing non-loopback target {addr}"),
        ));
    }
    let local: SocketAddr = if addr.is_ipv4() {
        "127.0.0.1:0".parse().expect("valid literal")
    } else {
        "[::1]:0".parse().expect("valid literal")
    };
    let sock = UdpSocket::bind(local)?;
    sock.connect(addr)?;
    let mut last_err = io::Error::new(
        io::ErrorKind::TimedOut,
        format!("no Rx VERSION reply from {addr}"),
    );
    let mut buf = vec![0u8; 65536];
    for _ in 0..tries.max(1) {
        if let Err(e) = sock.send(&VERSION_REQUEST) {
            last_err = e;
            std::thread::sleep(per_try.min(Duration::from_millis(200)));
            continue;
        }
        let deadline = Instant::now() + per_try;
        loop {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            sock.set_read_timeout(Some(deadline - now))?;
            match sock.recv(&mut buf) {
                Ok(n) => {
                    let d = &buf[..n];
                    if let Some(h) = RxHeader::parse(d)
                        && h.packet_type == RX_PACKET_VERSION
                        && !h.is_client_initiated()
                    {
                        return Ok(d.to_vec());
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break;
                }
                Err(e) => {
                    // E.g. ECONNREFUSED from an ICMP port unreachable: nothing listens (yet).
                    last_err = e;
                    std::thread::sleep(per_try.min(Duration::from_millis(200)));
                    break;
                }
            }
        }
    }
    Err(last_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_layout() {
        let h = RxHeader::parse(&VERSION_REQUEST).unwrap();
        assert_eq!(h.epoch, 999);
        assert_eq!(h.cid, 0);
        assert_eq!(h.call_number, 101);
        assert_eq!((h.seq, h.serial), (0, 0));
        assert_eq!(h.packet_type, 13);
        assert_eq!(h.flags, 0x05);
        assert_eq!(
            (h.user_status, h.security_index, h.cksum, h.service_id),
            (0, 0, 0, 0)
        );
        assert_eq!(&VERSION_REQUEST[28..], &[0]);
    }

    #[test]
    fn version_text_of_reply() {
        let mut d = VERSION_REQUEST[..28].to_vec();
        d[21] = 0x04;
        let mut body = [0u8; 65];
        body[..7].copy_from_slice(b"OpenAFS");
        d.extend_from_slice(&body);
        assert_eq!(version_text(&d).as_deref(), Some("OpenAFS"));
        // The request itself is not a reply.
        assert_eq!(version_text(&VERSION_REQUEST), None);
    }

    #[test]
    fn refuses_non_loopback() {
        let err = rx_version_probe("192.0.2.1:7002".parse().unwrap()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn times_out_on_silent_port() {
        // A bound socket that never answers.
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = silent.local_addr().unwrap();
        let t = Instant::now();
        let err = rx_version_probe_with(addr, Duration::from_millis(100), 2).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(t.elapsed() < Duration::from_secs(2));
    }
}
