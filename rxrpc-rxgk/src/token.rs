//! Tokens: what a client holds ([`RxgkToken`]) and what it presents to the server (the
//! ticket: an [`RxgkTokenContainer`] sealing [`TokenContents`] with a server key).
//!
//! Formats (all XDR, big-endian; opaque = be32 length, bytes, zero padding to 4), as the Linux
//! kernel's default YFS ticket decoder (`rxgk_yfs_decode_ticket`) and `make-rxgk-token.py`
//! speak them:
//!
//! ```text
//! RXGK_TokenContainer { be32 kvno; be32 enctype; opaque encrypted_token<> }
//!   encrypted_token = RFC 3961 encrypt(server key (kvno, enctype), usage 1036, RXGK_Token)
//! RXGK_Token { be32 k0_enctype; opaque K0<>; be32 level; be64 starttime; be32 lifetime;
//!              be32 bytelife; be64 expirationtime; RXGK_AuthName identities<> }
//! RXGK_AuthName { be32 kind; opaque data<>; opaque display<> }
//! ```
//!
//! The client's own token (the kernel's `rxrpc` key of type YFS-RxGK) is
//! `be32 security_index = 6; be64 begintime, endtime, level, lifetime, bytelife, enctype;
//! opaque K0<>; opaque ticket<>` ([`RxgkToken::encode_xdr`]).
//!
//! # Example: minting a token from a server key
//!
//! ```
//! use rxrpc_rxgk::krb5::{Enctype, Key};
//! use rxrpc_rxgk::token::{MintParams, RxgkToken, open_ticket};
//! use rxrpc_proto::security::SecurityLevel;
//!
//! let server_key = Key::new(Enctype::Aes256CtsHmacSha196, &[0x40; 32]).unwrap();
//! let k0 = Key::random(Enctype::Aes256CtsHmacSha196).unwrap();
//! let params = MintParams::new(1, SecurityLevel::Encrypt, k0.clone(), 17958523750000000, 3600);
//! let token: RxgkToken = params.mint(&server_key).unwrap();
//! assert_eq!(token.k0, k0);
//! // The server opens the ticket with its key.
//! let (container, contents) = open_ticket(&token.ticket, |kvno, et| {
//!     (kvno == 1 && et == 18).then(|| server_key.clone())
//! }).unwrap();
//! assert_eq!(container.kvno, 1);
//! assert_eq!(contents.k0, k0);
//! assert_eq!(contents.level, SecurityLevel::Encrypt);
//! ```

use bytes::Bytes;
use rxrpc_proto::security::SecurityLevel;
use rxrpc_proto::wire::{AbortCode, SecurityIndex};

use crate::clock::TICKS_PER_SEC;
use crate::krb5::{CONFOUNDER_LEN, Enctype, Key, Krb5Error, random_bytes};
use crate::xdr::{Reader, put_opaque, put_u32, put_u64};
use crate::{KRB5_PROG_KEYTYPE_NOSUPP, RXGK_SERVER_ENC_TOKEN};

/// Longest session key K0 accepted (the kernel's limit for a token's key).
pub const MAX_K0_LEN: usize = 64;
/// Longest ticket accepted in a client token or a RESPONSE (the kernel's limit).
pub const MAX_TICKET_LEN: usize = 16384;
/// At most this many identities are decoded from a token; more are ignored.
pub const MAX_IDENTITIES: usize = 16;
/// Longest identity data or display name decoded.
pub const MAX_AUTHNAME_LEN: usize = 2048;

/// Why a token or ticket could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The bytes end early or a length field is out of range.
    #[error("{0} truncated or malformed")]
    Malformed(&'static str),
    /// A client token of another security class.
    #[error("token is for security index {0}, not yfs-rxgk (6)")]
    WrongClass(u32),
    /// An enctype this crate does not implement.
    #[error("unsupported enctype {0}")]
    UnsupportedEnctype(u32),
    /// A key whose length does not suit its enctype.
    #[error("key of {got} bytes for enctype {enctype}")]
    BadKeyLength {
        /// The enctype number.
        enctype: u32,
        /// The key length.
        got: usize,
    },
    /// A security level other than 0, 1 or 2.
    #[error("bad security level {0}")]
    BadLevel(u64),
    /// No server key for the ticket's (kvno, enctype).
    #[error("no server key for kvno {kvno}, enctype {enctype}")]
    NoServerKey {
        /// The container's kvno.
        kvno: u32,
        /// The container's enctype.
        enctype: u32,
    },
    /// The sealed token did not decrypt (wrong server key, tampering).
    #[error("ticket does not decrypt: {0}")]
    Sealed(Krb5Error),
    /// Crypto failure while minting.
    #[error("crypto: {0}")]
    Crypto(Krb5Error),
}

impl TokenError {
    /// The abort code a Linux server uses for this failure of a RESPONSE's ticket.
    pub fn abort_code(&self) -> AbortCode {
        match self {
            TokenError::Malformed("token container") => AbortCode::RXGK_PACKETSHORT,
            TokenError::Malformed(_) => AbortCode::RXGK_INCONSISTENCY,
            TokenError::WrongClass(_) => AbortCode::RXGK_NOTRXGK,
            TokenError::UnsupportedEnctype(_) => KRB5_PROG_KEYTYPE_NOSUPP,
            TokenError::BadKeyLength { .. } => AbortCode::RXGK_NOTAUTH,
            TokenError::BadLevel(_) => AbortCode::RXGK_BADLEVEL,
            TokenError::NoServerKey { .. } => AbortCode::RXGK_NOTAUTH,
            TokenError::Sealed(_) => AbortCode::RXGK_SEALEDINCON,
            TokenError::Crypto(_) => AbortCode::RXGK_INCONSISTENCY,
        }
    }
}

fn key_from(enctype: u32, bytes: &[u8]) -> Result<Key, TokenError> {
    let et = Enctype::from_number(enctype).ok_or(TokenError::UnsupportedEnctype(enctype))?;
    Key::new(et, bytes).map_err(|_| TokenError::BadKeyLength {
        enctype,
        got: bytes.len(),
    })
}

fn level_from(v: u64) -> Result<SecurityLevel, TokenError> {
    u32::try_from(v)
        .ok()
        .and_then(SecurityLevel::from_wire)
        .ok_or(TokenError::BadLevel(v))
}

/// A client's yfs-rxgk credentials: the session key K0 and the ticket to present.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RxgkToken {
    /// Start of validity (rxgk time).
    pub begin: u64,
    /// End of validity (rxgk time); 0 = never expires.
    pub end: u64,
    /// The security level of connections made with this token (the server takes the level
    /// sealed in the ticket; the two must agree).
    pub level: SecurityLevel,
    /// Seconds a transport key may be used before rekeying; 0 = no limit.
    pub lifetime: u64,
    /// log2 of the bytes a transport key may protect before rekeying; 0 or 63 = no limit.
    pub bytelife: u64,
    /// The session key K0 (its enctype is the connection's).
    pub k0: Key,
    /// The ticket (an RXGK_TokenContainer), sent verbatim in each RESPONSE.
    pub ticket: Bytes,
}

impl RxgkToken {
    /// Whether the token has run out at rxgk time `now`.
    pub fn is_expired(&self, now: u64) -> bool {
        self.end != 0 && now >= self.end
    }

    /// The token in the kernel's XDR form (one token of a key payload, from its security
    /// index on).
    pub fn encode_xdr(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.k0.as_bytes().len() + self.ticket.len());
        put_u32(&mut out, u32::from(SecurityIndex::YFS_RXGK.0));
        put_u64(&mut out, self.begin);
        put_u64(&mut out, self.end);
        put_u64(&mut out, u64::from(self.level.to_wire()));
        put_u64(&mut out, self.lifetime);
        put_u64(&mut out, self.bytelife);
        put_u64(&mut out, u64::from(self.k0.enctype().number()));
        put_opaque(&mut out, self.k0.as_bytes());
        put_opaque(&mut out, &self.ticket);
        out
    }

    /// Decode [`RxgkToken::encode_xdr`]'s form; trailing bytes are an error.
    pub fn decode_xdr(buf: &[u8]) -> Result<RxgkToken, TokenError> {
        let mut r = Reader::new(buf);
        let t = Self::read(&mut r)?;
        if r.remaining() != 0 {
            return Err(TokenError::Malformed("token (trailing bytes)"));
        }
        Ok(t)
    }

    fn read(r: &mut Reader<'_>) -> Result<RxgkToken, TokenError> {
        let m = || TokenError::Malformed("token");
        let secidx = r.u32().ok_or_else(m)?;
        if secidx != u32::from(SecurityIndex::YFS_RXGK.0) {
            return Err(TokenError::WrongClass(secidx));
        }
        let begin = r.u64().ok_or_else(m)?;
        let end = r.u64().ok_or_else(m)?;
        let level = level_from(r.u64().ok_or_else(m)?)?;
        let lifetime = r.u64().ok_or_else(m)?;
        let bytelife = r.u64().ok_or_else(m)?;
        let enctype = r.u64().ok_or_else(m)?;
        let k0 = r.opaque(MAX_K0_LEN).ok_or_else(m)?;
        let ticket = r.opaque(MAX_TICKET_LEN).ok_or_else(m)?;
        let enctype =
            u32::try_from(enctype).map_err(|_| TokenError::UnsupportedEnctype(u32::MAX))?;
        Ok(RxgkToken {
            begin,
            end,
            level,
            lifetime,
            bytelife,
            k0: key_from(enctype, k0)?,
            ticket: Bytes::copy_from_slice(ticket),
        })
    }

    /// The whole payload of a Linux `rxrpc` key holding this one token
    /// (`add_key("rxrpc", desc, payload)`): flags 0, the cell name, one token.
    pub fn encode_key_payload(&self, cell: &str) -> Vec<u8> {
        let tok = self.encode_xdr();
        let mut out = Vec::with_capacity(tok.len() + 16 + cell.len());
        put_u32(&mut out, 0);
        put_opaque(&mut out, cell.as_bytes());
        put_u32(&mut out, 1);
        put_opaque(&mut out, &tok);
        out
    }

    /// The first yfs-rxgk token of a Linux `rxrpc` key payload.
    pub fn decode_key_payload(buf: &[u8]) -> Result<RxgkToken, TokenError> {
        let m = || TokenError::Malformed("key payload");
        let mut r = Reader::new(buf);
        let _flags = r.u32().ok_or_else(m)?;
        let _cell = r.opaque(256).ok_or_else(m)?;
        let n = r.u32().ok_or_else(m)?;
        let mut last = TokenError::Malformed("key payload (no yfs-rxgk token)");
        for _ in 0..n.min(64) {
            let tok = r.opaque(MAX_TICKET_LEN + 1024).ok_or_else(m)?;
            match RxgkToken::decode_xdr(tok) {
                Ok(t) => return Ok(t),
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

/// An identity carried in a token (`RXGK_AuthName`); the Linux server ignores them.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct AuthName {
    /// Kind of name (e.g. 1 = Kerberos principal, per the rxgk-afs draft).
    pub kind: u32,
    /// Opaque exported name.
    pub data: Bytes,
    /// Printable form.
    pub display: String,
}

/// The plaintext of a ticket (`RXGK_Token`): what the server learns from it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TokenContents {
    /// The session key K0.
    pub k0: Key,
    /// The connection's security level.
    pub level: SecurityLevel,
    /// Start time (rxgk time; not checked by servers).
    pub start: u64,
    /// Seconds before rekeying; 0 = never.
    pub lifetime: u32,
    /// log2 bytes before rekeying; 0 = never.
    pub bytelife: u32,
    /// Expiry (rxgk time); 0 = never.
    pub expiration: u64,
    /// The identities (decoded best-effort: malformed ones end the list).
    pub identities: Vec<AuthName>,
}

impl TokenContents {
    /// The XDR plaintext.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.k0.as_bytes().len());
        put_u32(&mut out, self.k0.enctype().number());
        put_opaque(&mut out, self.k0.as_bytes());
        put_u32(&mut out, self.level.to_wire());
        put_u64(&mut out, self.start);
        put_u32(&mut out, self.lifetime);
        put_u32(&mut out, self.bytelife);
        put_u64(&mut out, self.expiration);
        put_u32(&mut out, u32::try_from(self.identities.len()).unwrap_or(0));
        for id in &self.identities {
            put_u32(&mut out, id.kind);
            put_opaque(&mut out, &id.data);
            put_opaque(&mut out, id.display.as_bytes());
        }
        out
    }

    /// Decode the XDR plaintext (at least 40 bytes, as the kernel requires).
    pub fn decode(buf: &[u8]) -> Result<TokenContents, TokenError> {
        let m = || TokenError::Malformed("token contents");
        if buf.len() < 40 {
            return Err(m());
        }
        let mut r = Reader::new(buf);
        let enctype = r.u32().ok_or_else(m)?;
        let k0 = r.opaque(MAX_K0_LEN).ok_or_else(m)?;
        let level = r.u32().ok_or_else(m)?;
        let start = r.u64().ok_or_else(m)?;
        let lifetime = r.u32().ok_or_else(m)?;
        let bytelife = r.u32().ok_or_else(m)?;
        let expiration = r.u64().ok_or_else(m)?;
        let n = r.u32().ok_or_else(m)?;
        let mut identities = Vec::new();
        for _ in 0..n.min(MAX_IDENTITIES as u32) {
            let Some(kind) = r.u32() else { break };
            let Some(data) = r.opaque(MAX_AUTHNAME_LEN) else {
                break;
            };
            let Some(display) = r.opaque(MAX_AUTHNAME_LEN) else {
                break;
            };
            identities.push(AuthName {
                kind,
                data: Bytes::copy_from_slice(data),
                display: String::from_utf8_lossy(display).into_owned(),
            });
        }
        Ok(TokenContents {
            k0: key_from(enctype, k0)?,
            level: level_from(u64::from(level))?,
            start,
            lifetime,
            bytelife,
            expiration,
            identities,
        })
    }

    /// Whether the token has expired at rxgk time `now`.
    pub fn is_expired(&self, now: u64) -> bool {
        self.expiration != 0 && now >= self.expiration
    }
}

/// The clear part of a ticket: which server key sealed it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RxgkTokenContainer {
    /// Key version number of the server key.
    pub kvno: u32,
    /// Enctype of the server key (not necessarily K0's).
    pub enctype: u32,
    /// The sealed `RXGK_Token`.
    pub encrypted: Bytes,
}

impl RxgkTokenContainer {
    /// The XDR form (the ticket).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(12 + self.encrypted.len() + 3);
        put_u32(&mut out, self.kvno);
        put_u32(&mut out, self.enctype);
        put_opaque(&mut out, &self.encrypted);
        out
    }

    /// Decode a ticket; bytes after the container are ignored (as the kernel does).
    pub fn decode(buf: &[u8]) -> Result<RxgkTokenContainer, TokenError> {
        let m = || TokenError::Malformed("token container");
        let mut r = Reader::new(buf);
        let kvno = r.u32().ok_or_else(m)?;
        let enctype = r.u32().ok_or_else(m)?;
        let encrypted = r.opaque(MAX_TICKET_LEN).ok_or_else(m)?;
        Ok(RxgkTokenContainer {
            kvno,
            enctype,
            encrypted: Bytes::copy_from_slice(encrypted),
        })
    }
}

/// Open a ticket: decode the container, find the server key with `lookup(kvno, enctype)`,
/// decrypt (usage 1036) and decode the token inside.
pub fn open_ticket(
    ticket: &[u8],
    lookup: impl FnOnce(u32, u32) -> Option<Key>,
) -> Result<(RxgkTokenContainer, TokenContents), TokenError> {
    let container = RxgkTokenContainer::decode(ticket)?;
    let key = lookup(container.kvno, container.enctype).ok_or(TokenError::NoServerKey {
        kvno: container.kvno,
        enctype: container.enctype,
    })?;
    let plain = key
        .decrypt(RXGK_SERVER_ENC_TOKEN, &container.encrypted)
        .map_err(TokenError::Sealed)?;
    let contents = TokenContents::decode(&plain)?;
    Ok((container, contents))
}

/// What to put in a minted token.
#[derive(Clone, Debug)]
pub struct MintParams {
    /// kvno of the server key that seals it.
    pub kvno: u32,
    /// Security level of the connections.
    pub level: SecurityLevel,
    /// The session key K0 (any supported enctype; need not be the server key's).
    pub k0: Key,
    /// Start time (rxgk time).
    pub start: u64,
    /// Expiry (rxgk time); 0 = never.
    pub expiration: u64,
    /// Seconds before rekeying; 0 = never.
    pub lifetime: u32,
    /// log2 bytes before rekeying; 0 = never.
    pub bytelife: u32,
    /// Identities to seal in (none by default).
    pub identities: Vec<AuthName>,
    /// A fixed confounder for the sealing (deterministic output, for tests); random if `None`.
    pub confounder: Option<[u8; CONFOUNDER_LEN]>,
}

impl MintParams {
    /// Parameters for a token valid from `start` (rxgk time) for `valid_secs` seconds
    /// (0 = never expires), without rekeying limits or identities.
    pub fn new(
        kvno: u32,
        level: SecurityLevel,
        k0: Key,
        start: u64,
        valid_secs: u64,
    ) -> MintParams {
        let expiration = if valid_secs == 0 {
            0
        } else {
            start.saturating_add(valid_secs.saturating_mul(TICKS_PER_SEC))
        };
        MintParams {
            kvno,
            level,
            k0,
            start,
            expiration,
            lifetime: 0,
            bytelife: 0,
            identities: Vec::new(),
            confounder: None,
        }
    }

    /// The plaintext token these parameters describe.
    pub fn contents(&self) -> TokenContents {
        TokenContents {
            k0: self.k0.clone(),
            level: self.level,
            start: self.start,
            lifetime: self.lifetime,
            bytelife: self.bytelife,
            expiration: self.expiration,
            identities: self.identities.clone(),
        }
    }

    /// Seal the token with `server_key` into a ticket.
    pub fn seal(&self, server_key: &Key) -> Result<Vec<u8>, TokenError> {
        let plain = self.contents().encode();
        let ek = server_key.encryption(RXGK_SERVER_ENC_TOKEN);
        let conf = match self.confounder {
            Some(c) => c,
            None => random_bytes().map_err(TokenError::Crypto)?,
        };
        let sealed = ek.encrypt_with_confounder(&conf, &plain);
        Ok(RxgkTokenContainer {
            kvno: self.kvno,
            enctype: server_key.enctype().number(),
            encrypted: Bytes::from(sealed),
        }
        .encode())
    }

    /// Mint the client's token: the ticket sealed with `server_key` plus K0 and the limits.
    pub fn mint(&self, server_key: &Key) -> Result<RxgkToken, TokenError> {
        Ok(RxgkToken {
            begin: self.start,
            end: self.expiration,
            level: self.level,
            lifetime: u64::from(self.lifetime),
            bytelife: u64::from(self.bytelife),
            k0: self.k0.clone(),
            ticket: Bytes::from(self.seal(server_key)?),
        })
    }
}
