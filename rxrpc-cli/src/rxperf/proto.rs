//! The rxperf wire format: operations, the request prefix and sizes, FILE lists, abort codes.
//!
//! Layer: pure data, no I/O. The client builds a [`Request`] and sends
//! [`Request::head`] followed by [`Request::data_len`] zero bytes (and the cookie, by the 2025
//! convention); the server parses the same head with [`HeadParser`] and answers
//! [`Request::reply_len`] zero bytes and the cookie.

use std::fmt;
use std::str::FromStr;

use rxrpc::AbortCode;

use super::{COOKIE_BYTES, VERSION};

/// Abort for a request whose version is not 3 (as Linux's rxperf server).
pub const ABORT_BAD_VERSION: AbortCode = AbortCode::RX_USER_ABORT;
/// Abort for an unknown operation.
pub const ABORT_BAD_OP: AbortCode = AbortCode::RXGEN_OPCODE;
/// Abort for a request shorter or longer than its sizes say.
pub const ABORT_BAD_LENGTH: AbortCode = AbortCode::RXGEN_SS_UNMARSHAL;

/// Most entries a FILE list may have (a larger count is treated as a malformed request).
pub const MAX_FILE_ENTRIES: u32 = 1 << 20;

/// An rxperf operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// Client sends `bytes`, server answers the cookie.
    Send,
    /// Server sends `bytes` and the cookie.
    Recv,
    /// Client sends `sendbytes`, server answers `readbytes` and the cookie.
    Rpc,
    /// Transfers listed in a file, both directions, no cookie.
    File,
}

impl Op {
    /// The operation number on the wire.
    pub fn code(self) -> u32 {
        match self {
            Op::Send => 0,
            Op::Recv => 1,
            Op::Rpc => 3,
            Op::File => 4,
        }
    }

    /// The operation with this number.
    pub fn from_code(code: u32) -> Option<Op> {
        match code {
            0 => Some(Op::Send),
            1 => Some(Op::Recv),
            3 => Some(Op::Rpc),
            4 => Some(Op::File),
            _ => None,
        }
    }

    /// The name in reports: `SEND`, `RECV`, `RPC`, `FILE`.
    pub fn name(self) -> &'static str {
        match self {
            Op::Send => "SEND",
            Op::Recv => "RECV",
            Op::Rpc => "RPC",
            Op::File => "FILE",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Op {
    type Err = String;
    /// `send`, `recv`, `rpc` or `file`, in any case (as OpenAFS's `strcasecmp`).
    fn from_str(s: &str) -> Result<Op, String> {
        match s.to_ascii_lowercase().as_str() {
            "send" => Ok(Op::Send),
            "recv" => Ok(Op::Recv),
            "rpc" => Ok(Op::Rpc),
            "file" => Ok(Op::File),
            _ => Err(format!("unknown command {s}")),
        }
    }
}

/// A FILE transfer list. Entries are sizes in 4-byte words; an entry of 0 toggles the
/// direction, starting client → server. Phase 0 (before the first toggle) is the request data;
/// the odd phases are the server's reply; an even phase after the first (the client sending
/// again) transfers nothing, as in OpenAFS, where `rx_Read` on a call that is already sending
/// returns 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileList {
    /// The entries as read from the file.
    pub entries: Vec<u32>,
}

impl FileList {
    /// Build from entries for a client: it cannot send again once it has started reading (an
    /// Rx client call has one request phase), so a list that sends in phase 2 or later is
    /// refused, as is a list of more than [`MAX_FILE_ENTRIES`] entries.
    pub fn new(entries: Vec<u32>) -> Result<FileList, String> {
        let mut phase = 0u32;
        for (i, &e) in entries.iter().enumerate() {
            if e == 0 {
                phase += 1;
            } else if phase >= 2 && phase % 2 == 0 {
                return Err(format!(
                    "FILE entry {} sends again after receiving, which an Rx call cannot do",
                    i + 1
                ));
            }
        }
        if entries.len() as u64 > u64::from(MAX_FILE_ENTRIES) {
            return Err(format!(
                "FILE list has more than {MAX_FILE_ENTRIES} entries"
            ));
        }
        Ok(FileList { entries })
    }

    /// Bytes of request data (phase 0).
    pub fn send_bytes(&self) -> u64 {
        self.split().0
    }

    /// Bytes of reply (the odd phases).
    pub fn read_bytes(&self) -> u64 {
        self.split().1
    }

    /// The entries with their phase numbers, zero entries left out.
    pub fn phases(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        let mut phase = 0u32;
        self.entries.iter().filter_map(move |&e| {
            if e == 0 {
                phase += 1;
                None
            } else {
                Some((phase, u64::from(e) * 4))
            }
        })
    }

    fn split(&self) -> (u64, u64) {
        let (mut send, mut read) = (0u64, 0u64);
        for (phase, bytes) in self.phases() {
            if phase == 0 {
                send += bytes;
            } else if phase % 2 == 1 {
                read += bytes;
            }
        }
        (send, read)
    }
}

/// Parse a FILE list: one entry per line, a number (decimal, `0x` hex or `0` octal, as
/// `strtol(.., 0)`) of 4-byte words; an empty line is 0, which toggles the direction. Leading
/// blanks and anything after the number are ignored, as OpenAFS does. (OpenAFS's reader uses an
/// 8-byte buffer, so it splits a line of 8 or more characters in two; that quirk is not copied.)
pub fn parse_file_list(text: &str) -> Result<Vec<u32>, String> {
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() {
            entries.push(0);
            continue;
        }
        let v = strtol_prefix(line)
            .ok_or_else(|| format!("line {}: can't resolve number of bytes: {line:?}", i + 1))?;
        let v = u32::try_from(v).map_err(|_| format!("line {}: {v} out of range", i + 1))?;
        entries.push(v);
    }
    Ok(entries)
}

/// The number at the start of `s` as `strtol(s, &end, 0)` reads it (leading blanks, sign,
/// base prefix, then as many digits as fit); `None` if there is no number.
fn strtol_prefix(s: &str) -> Option<i64> {
    let s = s.trim_start();
    let (neg, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let b = s.as_bytes();
    let (radix, digits) =
        if b.len() > 2 && b[0] == b'0' && (b[1] | 0x20) == b'x' && b[2].is_ascii_hexdigit() {
            (16, &s[2..])
        } else if b.first() == Some(&b'0') {
            (8, s)
        } else {
            (10, s)
        };
    let n = digits
        .bytes()
        .take_while(|c| char::from(*c).is_digit(radix))
        .count();
    if n == 0 {
        return None;
    }
    let v = i64::from_str_radix(&digits[..n], radix).ok()?;
    Some(if neg { -v } else { v })
}

/// Parse an integer as C's `strtol(s, .., 0)` over the whole string: optional sign, then
/// `0x`/`0X` hex, a leading `0` for octal, or decimal. `None` if anything follows the number.
pub fn parse_c_number(s: &str) -> Option<i64> {
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) =
        if let Some(h) = rest.strip_prefix("0x").or_else(|| rest.strip_prefix("0X")) {
            (16, h)
        } else if rest.len() > 1 && rest.starts_with('0') {
            (8, &rest[1..])
        } else {
            (10, rest)
        };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = i64::from_str_radix(digits, radix).ok()?;
    Some(if neg { -v } else { v })
}

/// One rxperf request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// SEND `nbytes`.
    Send {
        /// Bytes the client sends.
        nbytes: u32,
    },
    /// RECV `nbytes`.
    Recv {
        /// Bytes the server sends.
        nbytes: u32,
    },
    /// RPC.
    Rpc {
        /// Bytes the client sends.
        send: u32,
        /// Bytes the server sends.
        read: u32,
    },
    /// FILE.
    File(FileList),
}

impl Request {
    /// The operation.
    pub fn op(&self) -> Op {
        match self {
            Request::Send { .. } => Op::Send,
            Request::Recv { .. } => Op::Recv,
            Request::Rpc { .. } => Op::Rpc,
            Request::File(_) => Op::File,
        }
    }

    /// The request up to its data: prefix (`version, op, rsize, wsize`) and the op's sizes
    /// (for FILE, the count and the list).
    pub fn head(&self, rsize: u32, wsize: u32) -> Vec<u8> {
        let mut v = Vec::with_capacity(24);
        for w in [VERSION, self.op().code(), rsize, wsize] {
            v.extend_from_slice(&w.to_be_bytes());
        }
        match self {
            Request::Send { nbytes } | Request::Recv { nbytes } => {
                v.extend_from_slice(&nbytes.to_be_bytes())
            }
            Request::Rpc { send, read } => {
                v.extend_from_slice(&send.to_be_bytes());
                v.extend_from_slice(&read.to_be_bytes());
            }
            Request::File(list) => {
                v.extend_from_slice(&(list.entries.len() as u32).to_be_bytes());
                for e in &list.entries {
                    v.extend_from_slice(&e.to_be_bytes());
                }
            }
        }
        v
    }

    /// Bytes of data after the head.
    pub fn data_len(&self) -> u64 {
        match self {
            Request::Send { nbytes } => u64::from(*nbytes),
            Request::Recv { .. } => 0,
            Request::Rpc { send, .. } => u64::from(*send),
            Request::File(list) => list.send_bytes(),
        }
    }

    /// Bytes of data in the reply, before the cookie.
    pub fn reply_len(&self) -> u64 {
        match self {
            Request::Send { .. } => 0,
            Request::Recv { nbytes } => u64::from(*nbytes),
            Request::Rpc { read, .. } => u64::from(*read),
            Request::File(list) => list.read_bytes(),
        }
    }

    /// Whether the reply ends with the cookie (all but FILE).
    pub fn reply_has_cookie(&self) -> bool {
        !matches!(self, Request::File(_))
    }

    /// Whether a request of this kind may end with the cookie (all but FILE).
    pub fn may_carry_cookie(&self) -> bool {
        !matches!(self, Request::File(_))
    }

    /// Bytes moved per call, as reports count them: SEND/RECV `nbytes`, RPC both sizes, FILE
    /// both directions.
    pub fn payload_bytes(&self) -> u64 {
        self.data_len() + self.reply_len()
    }
}

/// What went wrong with a request, with the abort code the server answers.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Version other than 3.
    #[error("client has wrong version {0}")]
    BadVersion(u32),
    /// Unknown operation number.
    #[error("client sent an unsupported command {0}")]
    BadOp(u32),
    /// The request ended early.
    #[error("request too short")]
    Short,
    /// More data than the sizes say.
    #[error("request too long")]
    Long,
    /// A FILE list with too many entries.
    #[error("FILE list of {0} entries")]
    TooManyEntries(u32),
}

impl RequestError {
    /// The abort code for this error (Linux rxperf's).
    pub fn abort_code(&self) -> AbortCode {
        match self {
            RequestError::BadVersion(_) => ABORT_BAD_VERSION,
            RequestError::BadOp(_) => ABORT_BAD_OP,
            RequestError::Short | RequestError::Long | RequestError::TooManyEntries(_) => {
                ABORT_BAD_LENGTH
            }
        }
    }
}

/// The request's prefix fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefix {
    /// Protocol version (3).
    pub version: u32,
    /// Operation number.
    pub op: u32,
    /// The client's read chunk size.
    pub rsize: u32,
    /// The client's write chunk size.
    pub wsize: u32,
}

/// Incremental parser of a request head, fed from the front of the request stream.
#[derive(Debug, Default)]
pub struct HeadParser {
    buf: Vec<u8>,
}

/// What [`HeadParser::need`] says.
#[derive(Debug, PartialEq, Eq)]
pub enum Need {
    /// This many more bytes are needed.
    More(usize),
    /// The head is complete.
    Done(Prefix, Request),
}

impl HeadParser {
    /// A parser that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add bytes (at most what [`Self::need`] asked for).
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    fn word(&self, i: usize) -> u32 {
        let b = &self.buf[4 * i..4 * i + 4];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    /// How many more bytes the head needs, or the parsed head, or the error to abort with.
    pub fn need(&self) -> Result<Need, RequestError> {
        if self.buf.len() < 16 {
            return Ok(Need::More(16 - self.buf.len()));
        }
        let prefix = Prefix {
            version: self.word(0),
            op: self.word(1),
            rsize: self.word(2),
            wsize: self.word(3),
        };
        if prefix.version != VERSION {
            return Err(RequestError::BadVersion(prefix.version));
        }
        let op = Op::from_code(prefix.op).ok_or(RequestError::BadOp(prefix.op))?;
        let want = match op {
            Op::Send | Op::Recv => 20,
            Op::Rpc => 24,
            Op::File if self.buf.len() < 20 => 20,
            Op::File => {
                let n = self.word(4);
                if n > MAX_FILE_ENTRIES {
                    return Err(RequestError::TooManyEntries(n));
                }
                20 + 4 * n as usize
            }
        };
        if self.buf.len() < want {
            return Ok(Need::More(want - self.buf.len()));
        }
        let req = match op {
            Op::Send => Request::Send {
                nbytes: self.word(4),
            },
            Op::Recv => Request::Recv {
                nbytes: self.word(4),
            },
            Op::Rpc => Request::Rpc {
                send: self.word(4),
                read: self.word(5),
            },
            // The server does not refuse lists the client could not have sent: it follows
            // OpenAFS (reads after the switch to sending transfer nothing).
            Op::File => Request::File(FileList {
                entries: (0..self.word(4) as usize)
                    .map(|i| self.word(5 + i))
                    .collect(),
            }),
        };
        Ok(Need::Done(prefix, req))
    }
}

/// Check the bytes that followed the request data: nothing, or exactly the cookie.
pub fn check_request_tail(len: u64, last4: [u8; 4]) -> Result<(), RequestError> {
    match len {
        0 => Ok(()),
        4 if last4 == COOKIE_BYTES => Ok(()),
        _ => Err(RequestError::Long),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_numbers() {
        assert_eq!(parse_c_number("100"), Some(100));
        assert_eq!(parse_c_number("0x10"), Some(16));
        assert_eq!(parse_c_number("010"), Some(8));
        assert_eq!(parse_c_number("0"), Some(0));
        assert_eq!(parse_c_number("-5"), Some(-5));
        assert_eq!(parse_c_number(""), None);
        assert_eq!(parse_c_number("12k"), None);
        assert_eq!(parse_c_number("09"), None);
        assert_eq!(strtol_prefix("  12k"), Some(12));
        assert_eq!(strtol_prefix("0x1fz"), Some(31));
        assert_eq!(strtol_prefix("0x"), Some(0));
        assert_eq!(strtol_prefix("k"), None);
    }

    #[test]
    fn heads() {
        let r = Request::Rpc { send: 3, read: 30 };
        let h = r.head(512 * 1024, 1000);
        assert_eq!(
            h,
            [
                0, 0, 0, 3, 0, 0, 0, 3, 0, 8, 0, 0, 0, 0, 3, 232, 0, 0, 0, 3, 0, 0, 0, 30
            ]
        );
        let mut p = HeadParser::new();
        assert_eq!(p.need(), Ok(Need::More(16)));
        p.push(&h[..16]);
        assert_eq!(p.need(), Ok(Need::More(8)));
        p.push(&h[16..]);
        match p.need().unwrap() {
            Need::Done(prefix, req) => {
                assert_eq!(req, r);
                assert_eq!(prefix.rsize, 512 * 1024);
                assert_eq!(prefix.wsize, 1000);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(r.payload_bytes(), 33);
    }

    #[test]
    fn head_errors() {
        let mut p = HeadParser::new();
        p.push(&[0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(p.need(), Err(RequestError::BadVersion(4)));
        assert_eq!(
            RequestError::BadVersion(4).abort_code(),
            AbortCode::RX_USER_ABORT
        );
        let mut p = HeadParser::new();
        p.push(&[0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(p.need(), Err(RequestError::BadOp(2)));
        assert_eq!(RequestError::BadOp(2).abort_code().0, -455);
        assert_eq!(RequestError::Short.abort_code().0, -453);
    }

    #[test]
    fn file_lists() {
        let e = parse_file_list("100\n\n200\n  0x10 trailing\n").unwrap();
        assert_eq!(e, [100, 0, 200, 16]);
        let l = FileList::new(e).unwrap();
        assert_eq!(l.send_bytes(), 400);
        assert_eq!(l.read_bytes(), 4 * 216);
        assert!(FileList::new(vec![1, 0, 2, 0, 3]).is_err());
        assert!(FileList::new(vec![1, 0, 2, 0]).is_ok());
        assert!(parse_file_list("abc\n").is_err());
        let r = Request::File(FileList::new(vec![1, 0, 2]).unwrap());
        let h = r.head(4, 4);
        let mut p = HeadParser::new();
        p.push(&h[..20]);
        assert_eq!(p.need(), Ok(Need::More(12)));
        p.push(&h[20..]);
        assert!(matches!(p.need(), Ok(Need::Done(_, ref q)) if *q == r));
    }

    #[test]
    fn tails() {
        assert!(check_request_tail(0, [0; 4]).is_ok());
        assert!(check_request_tail(4, COOKIE_BYTES).is_ok());
        assert!(check_request_tail(4, [1, 2, 3, 4]).is_err());
        assert!(check_request_tail(5, COOKIE_BYTES).is_err());
    }
}
