//! The client side: a token (ticket and session key) and the per-connection state made from
//! it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use rxrpc_proto::security::{CallCounters, ClientSecurity, ConnIdent, ConnSecurity, SecurityLevel};
use rxrpc_proto::wire::{
    AbortCode, Challenge, Header, JUMBO_DATALEN, Response, RxkadResponseV1, RxkadResponseV2,
    SecurityIndex,
};

use crate::clock::{Clock, SystemClock};
use crate::keys::DesKey;
use crate::packet::{ConnKeys, data_capacity};
use crate::response::{ResponseBlock, response_checksum, seal_v1};
use crate::ticket::MAX_TICKET_LEN;
use crate::wire_error_code;

/// An rxkad token: what a client needs to talk to servers that hold the key its ticket is
/// sealed with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RxkadToken {
    /// Key version number of the server key that sealed the ticket (sent in the RESPONSE).
    pub kvno: u32,
    /// The session key (also inside the ticket).
    pub session_key: DesKey,
    /// The sealed ticket (opaque to the client).
    pub ticket: Bytes,
    /// Unix time the ticket expires, `None` if never.
    pub expires: Option<u64>,
    /// Level calls made with the token ask for.
    pub level: SecurityLevel,
}

/// Errors reading a token from `KVNO=`/`SESSION_KEY=`/`TICKET=` assignments.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// A required assignment is missing.
    #[error("missing {0}=")]
    Missing(&'static str),
    /// A value could not be parsed.
    #[error("bad value for {0}")]
    Bad(&'static str),
}

impl RxkadToken {
    /// A token from its parts.
    pub fn new(
        kvno: u32,
        session_key: DesKey,
        ticket: impl Into<Bytes>,
        expires: Option<u64>,
        level: SecurityLevel,
    ) -> RxkadToken {
        RxkadToken {
            kvno,
            session_key,
            ticket: ticket.into(),
            expires,
            level,
        }
    }

    /// The same token asking for another level.
    pub fn with_level(mut self, level: SecurityLevel) -> RxkadToken {
        self.level = level;
        self
    }

    /// Read the shell assignments that `rxkad-ticket mint` (and OpenAFS test scripts) print:
    /// `KVNO=`, `SESSION_KEY=` (16 hex digits) and `TICKET=` (hex) are required, `EXPIRES=`
    /// (Unix seconds or `never`) is optional (default never); other lines and `#` comments
    /// are ignored. The level is `level`.
    pub fn from_assignments(text: &str, level: SecurityLevel) -> Result<RxkadToken, TokenError> {
        let (mut kvno, mut key, mut ticket, mut expires) = (None, None, None, None);
        for line in text.lines() {
            let Some((k, v)) = line.trim().split_once('=') else {
                continue;
            };
            let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
            match k.trim() {
                "KVNO" => kvno = Some(v.parse().map_err(|_| TokenError::Bad("KVNO"))?),
                "SESSION_KEY" => {
                    key = Some(DesKey::from_hex(v).map_err(|_| TokenError::Bad("SESSION_KEY"))?)
                }
                "TICKET" => {
                    ticket = Some(crate::hex::decode(v).map_err(|_| TokenError::Bad("TICKET"))?)
                }
                "EXPIRES" if v == "never" => expires = None,
                "EXPIRES" => expires = Some(v.parse().map_err(|_| TokenError::Bad("EXPIRES"))?),
                _ => {}
            }
        }
        Ok(RxkadToken {
            kvno: kvno.ok_or(TokenError::Missing("KVNO"))?,
            session_key: key.ok_or(TokenError::Missing("SESSION_KEY"))?,
            ticket: Bytes::from(ticket.ok_or(TokenError::Missing("TICKET"))?),
            expires,
            level,
        })
    }
}

/// rxkad client credentials (security index 2): makes the security state of each client
/// connection that calls with them use.
#[derive(Debug, Clone)]
pub struct RxkadClient {
    token: Arc<RxkadToken>,
    clock: Arc<dyn Clock>,
}

impl RxkadClient {
    /// Credentials from a token, checked against the system clock.
    pub fn new(token: RxkadToken) -> RxkadClient {
        RxkadClient {
            token: Arc::new(token),
            clock: Arc::new(SystemClock),
        }
    }

    /// Use another clock to decide whether the token has expired.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> RxkadClient {
        self.clock = clock;
        self
    }

    /// The token.
    pub fn token(&self) -> &RxkadToken {
        &self.token
    }

    fn check_expiry(&self) -> Result<(), AbortCode> {
        match self.token.expires {
            Some(e) if self.clock.now() >= e => Err(AbortCode::RXKADEXPIRED),
            _ => Ok(()),
        }
    }

    /// The concrete connection state (what [`ClientSecurity::new_conn`] boxes).
    pub fn new_client_conn(&self, ident: &ConnIdent) -> Result<RxkadClientConn, AbortCode> {
        self.check_expiry()?;
        if self.token.ticket.len() > MAX_TICKET_LEN {
            return Err(AbortCode::RXKADTICKETLEN);
        }
        Ok(RxkadClientConn {
            keys: ConnKeys::new(
                self.token.session_key,
                ident.epoch.0,
                ident.cid.0,
                ident.security_index.0,
            ),
            creds: self.clone(),
            ident: *ident,
            frame: AtomicUsize::new(JUMBO_DATALEN),
        })
    }
}

impl ClientSecurity for RxkadClient {
    fn security_index(&self) -> SecurityIndex {
        SecurityIndex::RXKAD
    }

    fn level(&self) -> SecurityLevel {
        self.token.level
    }

    fn data_capacity(&self, max_payload: usize) -> usize {
        crate::packet::data_capacity(self.token.level, max_payload)
    }

    fn new_conn(&self, ident: &ConnIdent) -> Result<Box<dyn ConnSecurity>, AbortCode> {
        Ok(Box::new(self.new_client_conn(ident)?))
    }
}

/// The rxkad state of one client connection.
#[derive(Debug)]
pub struct RxkadClientConn {
    creds: RxkadClient,
    ident: ConnIdent,
    keys: ConnKeys,
    /// The payload size the engine last asked [`ConnSecurity::data_capacity`] about: full
    /// packets are padded to it.
    frame: AtomicUsize,
}

impl RxkadClientConn {
    fn build_response(
        &self,
        challenge: &Challenge,
        counters: CallCounters,
    ) -> Result<Vec<u8>, AbortCode> {
        let token = &self.creds.token;
        let own = token.level.to_wire();
        let ticket_len =
            u32::try_from(token.ticket.len()).map_err(|_| AbortCode::RXKADTICKETLEN)?;
        let response = match challenge {
            Challenge::RxkadV2(c) => {
                if c.min_level > own {
                    return Err(AbortCode::RXKADLEVELFAIL);
                }
                let mut call_numbers = [0u32; 4];
                for (n, c) in call_numbers.iter_mut().zip(counters) {
                    if c.0 > i32::MAX as u32 {
                        return Err(AbortCode::RXKADINCONSISTENCY);
                    }
                    *n = c.0;
                }
                let mut block = ResponseBlock {
                    epoch: self.ident.epoch.0,
                    cid: self.ident.cid.0 & !3,
                    cksum: 0,
                    security_index: u32::from(self.ident.security_index.0),
                    call_numbers,
                    inc_nonce: c.nonce.wrapping_add(1),
                    level: own,
                };
                block.cksum = response_checksum(2, 0, &block, token.kvno, ticket_len);
                Response::RxkadV2(RxkadResponseV2 {
                    version: 2,
                    spare: 0,
                    encrypted: block.seal(&self.keys.cipher, &token.session_key.0),
                    kvno: token.kvno,
                    ticket: token.ticket.clone(),
                })
            }
            Challenge::RxkadV1(c) => {
                if c.level > own {
                    return Err(AbortCode::RXKADLEVELFAIL);
                }
                Response::RxkadV1(RxkadResponseV1 {
                    encrypted: seal_v1(&self.keys.cipher, c.nonce.wrapping_add(1), own),
                    kvno: token.kvno,
                    ticket: token.ticket.clone(),
                })
            }
            Challenge::Opaque(_) => return Err(AbortCode::RXKADINCONSISTENCY),
        };
        let mut out = Vec::with_capacity(response.buffer_len());
        response.emit(&mut out);
        Ok(out)
    }
}

impl ConnSecurity for RxkadClientConn {
    fn level(&self) -> SecurityLevel {
        self.creds.token.level
    }

    fn is_secure(&self) -> bool {
        true
    }

    fn data_capacity(&self, max_payload: usize) -> usize {
        self.frame.store(max_payload, Ordering::Relaxed);
        data_capacity(self.level(), max_payload)
    }

    fn secure_packet(
        &mut self,
        header: &mut Header,
        data: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), AbortCode> {
        let frame = self.frame.load(Ordering::Relaxed);
        self.keys.secure(self.level(), header, data, out, frame)
    }

    fn verify_packet(&mut self, header: &Header, payload: Bytes) -> Result<Bytes, AbortCode> {
        self.keys.verify(self.level(), header, payload)
    }

    fn respond_to_challenge(
        &mut self,
        _header: &Header,
        challenge: Bytes,
        counters: CallCounters,
    ) -> Result<Vec<u8>, AbortCode> {
        self.creds.check_expiry()?;
        let c = Challenge::parse(self.ident.security_index, challenge).map_err(wire_error_code)?;
        self.build_response(&c, counters)
    }
}
