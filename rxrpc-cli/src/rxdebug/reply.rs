//! Tolerant decoding of rxdebug replies.
//!
//! Layer: between the socket ([`super::client`]) and the output. OpenAFS's client copies
//! `min(reply length, struct size)` bytes into a zeroed struct, so a newer server with a larger
//! structure still works and an older one with a shorter structure gives zeros. These functions
//! do the same with the `rxrpc_proto::wire` structures, report how the reply fitted, and never
//! fail on odd input except where the C client would print garbage: the 8-byte BADTYPE reply
//! (request type not understood) and a connection or peer record too short to hold its
//! end-of-list marker.

use core::fmt;

use rxrpc_proto::wire::{
    DEBUG_BADTYPE, DEBUG_CONN_LEN, DEBUG_PEER_LEN, DEBUG_STATS_LEN, DebugConn, DebugPeer,
    DebugStats, RX_STATISTICS_LEN, RxStatistics, WireError,
};

/// Length of the old ('L' format) connection record, without the alignment padding after
/// `securityIndex` and without `epoch`/`natMTU`.
pub const OLD_CONN_LEN: usize = 172;

/// How a reply's length compared with the structure it was decoded into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Exactly the expected length.
    Exact,
    /// Longer (a newer server): the extra bytes were ignored.
    Truncated {
        /// Reply length.
        got: usize,
    },
    /// Shorter (an older server): the missing fields read as zero.
    Padded {
        /// Reply length.
        got: usize,
    },
    /// The 172-byte connection record of debug format 'L', converted.
    OldLayout,
}

/// A reply that cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyError {
    /// The server did not understand the request type (`RX_DEBUGI_BADTYPE`).
    BadType,
    /// Too short to be a record of this kind.
    Short {
        /// Reply length.
        got: usize,
        /// Expected length.
        want: usize,
    },
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyError::BadType => write!(f, "the server does not support this request (BADTYPE)"),
            ReplyError::Short { got, want } => {
                write!(f, "reply of {got} bytes is too short (expected {want})")
            }
        }
    }
}

impl std::error::Error for ReplyError {}

/// Whether `body` is the BADTYPE reply (first word -8) rather than a `want`-byte structure.
pub fn is_badtype(body: &[u8], want: usize) -> bool {
    body.len() < want
        && body
            .get(..4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .is_some_and(|w| i32::from_be_bytes(w) == DEBUG_BADTYPE)
}

/// `body` cut or zero-padded to `len` bytes, with how it fitted.
fn fit(body: &[u8], len: usize) -> (Vec<u8>, Fit) {
    let mut v = vec![0u8; len];
    let n = body.len().min(len);
    v[..n].copy_from_slice(&body[..n]);
    let f = match body.len().cmp(&len) {
        core::cmp::Ordering::Equal => Fit::Exact,
        core::cmp::Ordering::Greater => Fit::Truncated { got: body.len() },
        core::cmp::Ordering::Less => Fit::Padded { got: body.len() },
    };
    (v, f)
}

/// Decoding a buffer of exactly the right length cannot fail; map the impossible error to a
/// `Short` so no code path can panic.
fn exact<T>(r: Result<T, WireError>, got: usize, want: usize) -> Result<T, ReplyError> {
    r.map_err(|_| ReplyError::Short { got, want })
}

/// Decode a GETSTATS reply (56 bytes; any length is accepted, zero-padded or cut).
pub fn stats(body: &[u8]) -> Result<(DebugStats, Fit), ReplyError> {
    if is_badtype(body, DEBUG_STATS_LEN) {
        return Err(ReplyError::BadType);
    }
    let (b, f) = fit(body, DEBUG_STATS_LEN);
    Ok((
        exact(DebugStats::parse(&b), body.len(), DEBUG_STATS_LEN)?,
        f,
    ))
}

/// Decode an RXSTATS reply (284 bytes; any length is accepted, zero-padded or cut).
pub fn rxstats(body: &[u8]) -> Result<(RxStatistics, Fit), ReplyError> {
    if is_badtype(body, RX_STATISTICS_LEN) {
        return Err(ReplyError::BadType);
    }
    let (b, f) = fit(body, RX_STATISTICS_LEN);
    Ok((
        exact(RxStatistics::parse(&b), body.len(), RX_STATISTICS_LEN)?,
        f,
    ))
}

/// Decode a GETCONN/GETALLCONN reply: 176 bytes (longer is cut), or the 172-byte 'L' layout.
pub fn conn(body: &[u8]) -> Result<(DebugConn, Fit), ReplyError> {
    if is_badtype(body, DEBUG_CONN_LEN) {
        return Err(ReplyError::BadType);
    }
    if body.len() == OLD_CONN_LEN {
        // 'L' layout: the four per-call byte arrays follow securityIndex at offset 37 with no
        // padding; secStats is int-aligned at 56 as in the new layout; then 10 spare words.
        let mut b = vec![0u8; DEBUG_CONN_LEN];
        b[..37].copy_from_slice(&body[..37]);
        b[40..56].copy_from_slice(&body[37..53]);
        b[56..132].copy_from_slice(&body[56..132]);
        let c = exact(DebugConn::parse(&b), body.len(), DEBUG_CONN_LEN)?;
        return Ok((c, Fit::OldLayout));
    }
    if body.len() < DEBUG_CONN_LEN {
        return Err(ReplyError::Short {
            got: body.len(),
            want: DEBUG_CONN_LEN,
        });
    }
    let (b, f) = fit(body, DEBUG_CONN_LEN);
    Ok((exact(DebugConn::parse(&b), body.len(), DEBUG_CONN_LEN)?, f))
}

/// Decode a GETPEER reply: 132 bytes (longer is cut).
pub fn peer(body: &[u8]) -> Result<(DebugPeer, Fit), ReplyError> {
    if is_badtype(body, DEBUG_PEER_LEN) {
        return Err(ReplyError::BadType);
    }
    if body.len() < DEBUG_PEER_LEN {
        return Err(ReplyError::Short {
            got: body.len(),
            want: DEBUG_PEER_LEN,
        });
    }
    let (b, f) = fit(body, DEBUG_PEER_LEN);
    Ok((exact(DebugPeer::parse(&b), body.len(), DEBUG_PEER_LEN)?, f))
}

/// The text of a VERSION reply as OpenAFS's rxdebug prints it: at most 63 bytes, up to the
/// first NUL (lossy UTF-8).
pub fn version_text(body: &[u8]) -> String {
    let b = &body[..body.len().min(63)];
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// What a server supports, from the debug-format letter of its GETSTATS reply
/// (`rx_GetServerDebug`'s `supportedValues`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Features {
    /// Connection records carry security statistics ('L').
    pub sec_stats: bool,
    /// GETALLCONN is understood ('M').
    pub all_conn: bool,
    /// RXSTATS is understood ('M').
    pub rx_stats: bool,
    /// `nWaiting` is valid ('N').
    pub waiters: bool,
    /// `idleThreads` is valid ('O').
    pub idle_threads: bool,
    /// The cbuf allocation-failure counters are valid ('P').
    pub new_packet_types: bool,
    /// GETPEER is understood ('Q').
    pub peers: bool,
    /// `nWaited` is valid ('R').
    pub waited: bool,
    /// `nPackets` is valid ('S').
    pub packets: bool,
}

impl Features {
    /// The features of debug format `version`.
    pub fn from_version(version: u8) -> Features {
        Features {
            sec_stats: version >= b'L',
            all_conn: version >= b'M',
            rx_stats: version >= b'M',
            waiters: version >= b'N',
            idle_threads: version >= b'O',
            new_packet_types: version >= b'P',
            peers: version >= b'Q',
            waited: version >= b'R',
            packets: version >= b'S',
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BADTYPE: [u8; 8] = [0xff, 0xff, 0xff, 0xf8, 0xff, 0xff, 0xff, 0xf8];

    #[test]
    fn badtype_everywhere() {
        assert_eq!(stats(&BADTYPE), Err(ReplyError::BadType));
        assert_eq!(rxstats(&BADTYPE), Err(ReplyError::BadType));
        assert_eq!(conn(&BADTYPE), Err(ReplyError::BadType));
        assert_eq!(peer(&BADTYPE), Err(ReplyError::BadType));
        // A full-size record whose first word happens to be -8 is not BADTYPE.
        let mut c = vec![0u8; 176];
        c[..4].copy_from_slice(&BADTYPE[..4]);
        assert!(conn(&c).is_ok());
    }

    #[test]
    fn sizes() {
        for n in 0..400 {
            let b: Vec<u8> = (0..n).map(|i| (i * 7 + 3) as u8).collect();
            let _ = stats(&b).unwrap();
            let _ = rxstats(&b).unwrap();
            let c = conn(&b);
            assert_eq!(c.is_ok(), n == 172 || n >= 176, "{n}");
            assert_eq!(peer(&b).is_ok(), n >= 132, "{n}");
        }
        assert_eq!(stats(&[0; 56]).unwrap().1, Fit::Exact);
        assert_eq!(stats(&[0; 60]).unwrap().1, Fit::Truncated { got: 60 });
        assert_eq!(stats(&[0; 20]).unwrap().1, Fit::Padded { got: 20 });
        assert_eq!(
            peer(&[0; 10]),
            Err(ReplyError::Short { got: 10, want: 132 })
        );
    }

    #[test]
    fn old_conn_layout() {
        let mut b = vec![0u8; 172];
        b[4..8].copy_from_slice(&0x1234u32.to_be_bytes());
        b[36] = 2; // securityIndex
        b[37..41].copy_from_slice(&[2, 3, 0, 1]); // callState
        b[41..45].copy_from_slice(&[2, 2, 0, 1]); // callMode
        b[45..49].copy_from_slice(&[1, 0, 0, 0]); // callFlags
        b[49..53].copy_from_slice(&[0, 2, 0, 0]); // callOther
        b[56] = 3; // secStats.type
        let (c, f) = conn(&b).unwrap();
        assert_eq!(f, Fit::OldLayout);
        assert_eq!(c.cid, 0x1234);
        assert_eq!(c.security_index, 2);
        assert_eq!(c.call_state, [2, 3, 0, 1]);
        assert_eq!(c.call_mode, [2, 2, 0, 1]);
        assert_eq!(c.call_flags, [1, 0, 0, 0]);
        assert_eq!(c.call_other, [0, 2, 0, 0]);
        assert_eq!(c.sec_stats.sec_type, 3);
        assert_eq!(c.epoch, 0);
    }

    #[test]
    fn version_strings() {
        let mut v = b"OpenAFS 1.8.9".to_vec();
        v.resize(65, 0);
        assert_eq!(version_text(&v), "OpenAFS 1.8.9");
        assert_eq!(version_text(&[b'x'; 65]).len(), 63);
        assert_eq!(version_text(&[]), "");
        assert_eq!(version_text(&[0]), "");
    }

    #[test]
    fn features() {
        let s = Features::from_version(b'S');
        assert!(s.packets && s.peers && s.sec_stats && s.waited);
        let l = Features::from_version(b'L');
        assert!(l.sec_stats && !l.all_conn && !l.peers);
        assert_eq!(Features::from_version(0), Features::default());
    }
}
