//! The service side: server keys, the CHALLENGE and the checks on the client's RESPONSE.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use rxrpc_proto::security::{ConnIdent, ConnSecurity, PeerIdentity, SecurityLevel, ServerSecurity};
use rxrpc_proto::wire::{
    AbortCode, Challenge, Header, JUMBO_DATALEN, Response, RxkadChallengeV2, SecurityIndex,
};

use crate::clock::{Clock, SystemClock};
use crate::fcrypt::Fcrypt;
use crate::keys::KeyStore;
use crate::packet::{ConnKeys, data_capacity};
use crate::response::{ResponseBlock, response_checksum};
use crate::ticket::{MIN_TICKET_LEN, NEVER, Ticket, Validity};
use crate::{fuzzing, random, wire_error_code};

/// kvno announcing a full Kerberos 5 ticket (rxkad-k5); not supported here.
pub const KVNO_KERBEROS_V5: u32 = 256;
/// kvno announcing a bare Kerberos 5 `EncTicketPart` (Heimdal "2b"); not supported here.
pub const KVNO_KERBEROS_V5_ENCPART_ONLY: u32 = 213;

#[derive(Debug)]
struct Shared {
    keys: Arc<dyn KeyStore>,
    min_level: SecurityLevel,
    clock: Arc<dyn Clock>,
    index: SecurityIndex,
}

/// rxkad server keys and policy (security index 2 by default): makes the security state of
/// each service connection.
///
/// Tickets must be Kerberos IV style and sealed with a DES key the [`KeyStore`] has for the
/// RESPONSE's kvno; Kerberos 5 tickets (kvno 213 and 256) are refused with `RXKADUNKNOWNKEY`,
/// as an OpenAFS server without rxkad-k5 keys does.
#[derive(Debug, Clone)]
pub struct RxkadServer {
    shared: Arc<Shared>,
}

impl RxkadServer {
    /// A server object accepting clients at `min_level` or above, with tickets checked
    /// against the system clock.
    pub fn new(keys: Arc<dyn KeyStore>, min_level: SecurityLevel) -> RxkadServer {
        RxkadServer {
            shared: Arc::new(Shared {
                keys,
                min_level,
                clock: Arc::new(SystemClock),
                index: SecurityIndex::RXKAD,
            }),
        }
    }

    fn modify(self, f: impl FnOnce(&mut Shared)) -> RxkadServer {
        let mut s = Shared {
            keys: self.shared.keys.clone(),
            min_level: self.shared.min_level,
            clock: self.shared.clock.clone(),
            index: self.shared.index,
        };
        f(&mut s);
        RxkadServer {
            shared: Arc::new(s),
        }
    }

    /// Check ticket and connection lifetimes against another clock.
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> RxkadServer {
        self.modify(|s| s.clock = clock)
    }

    /// Serve under another security index (3 is OpenAFS's "always encrypt" rxkad object; use
    /// it with `min_level` [`SecurityLevel::Encrypt`]).
    pub fn with_security_index(self, index: SecurityIndex) -> RxkadServer {
        self.modify(|s| s.index = index)
    }

    /// The lowest level accepted.
    pub fn min_level(&self) -> SecurityLevel {
        self.shared.min_level
    }

    /// The concrete connection state (what [`ServerSecurity::new_conn`] boxes).
    pub fn new_server_conn(&self, ident: &ConnIdent) -> RxkadServerConn {
        RxkadServerConn {
            shared: self.shared.clone(),
            ident: *ident,
            nonce: None,
            challenging: false,
            session: None,
            frame: AtomicUsize::new(JUMBO_DATALEN),
        }
    }
}

impl ServerSecurity for RxkadServer {
    fn security_index(&self) -> SecurityIndex {
        self.shared.index
    }

    fn new_conn(&self, ident: &ConnIdent) -> Result<Box<dyn ConnSecurity>, AbortCode> {
        Ok(Box::new(self.new_server_conn(ident)))
    }
}

/// What a verified RESPONSE established.
#[derive(Debug)]
struct Session {
    keys: ConnKeys,
    level: SecurityLevel,
    /// Ticket end time ([`NEVER`] for never).
    end: u32,
    identity: PeerIdentity,
    call_numbers: [u32; 4],
}

/// The rxkad state of one service connection.
#[derive(Debug)]
pub struct RxkadServerConn {
    shared: Arc<Shared>,
    ident: ConnIdent,
    nonce: Option<u32>,
    /// A challenge was issued and no RESPONSE to it verified yet.
    challenging: bool,
    session: Option<Session>,
    frame: AtomicUsize,
}

impl RxkadServerConn {
    /// A version-2 CHALLENGE body with the given nonce instead of a random one: for tests and
    /// for replaying captured handshakes. [`ConnSecurity::issue_challenge`] is what a service
    /// uses.
    pub fn issue_challenge_with_nonce(&mut self, nonce: u32) -> Vec<u8> {
        self.nonce = Some(nonce);
        self.challenging = true;
        let c = Challenge::RxkadV2(RxkadChallengeV2 {
            version: 2,
            nonce,
            min_level: self.shared.min_level.to_wire(),
            spare: 0,
        });
        let mut out = Vec::with_capacity(c.buffer_len());
        c.emit(&mut out);
        out
    }

    /// The nonce of the last challenge issued, if any.
    pub fn nonce(&self) -> Option<u32> {
        self.nonce
    }

    /// The identity a verified RESPONSE established.
    pub fn identity(&self) -> Option<&PeerIdentity> {
        self.session.as_ref().map(|s| &s.identity)
    }

    /// The client's call counters from the verified RESPONSE (one per channel).
    pub fn call_numbers(&self) -> Option<[u32; 4]> {
        self.session.as_ref().map(|s| s.call_numbers)
    }

    fn now(&self) -> u64 {
        self.shared.clock.now()
    }

    fn is_expired(&self, end: u32) -> bool {
        end != NEVER && self.now() >= u64::from(end)
    }

    fn live_session(&self) -> Result<&Session, AbortCode> {
        let s = self.session.as_ref().ok_or(AbortCode::RXKADNOAUTH)?;
        if self.is_expired(s.end) {
            return Err(AbortCode::RXKADEXPIRED);
        }
        Ok(s)
    }

    fn check_response(&self, body: Bytes) -> Result<Session, AbortCode> {
        let r =
            Response::parse(self.ident.security_index, trim_v2(body)).map_err(wire_error_code)?;
        let Response::RxkadV2(r) = r else {
            // Only version-2 challenges are issued, which call for version-2 responses.
            return Err(AbortCode::RXKADINCONSISTENCY);
        };
        if r.ticket.len() < MIN_TICKET_LEN {
            return Err(AbortCode::RXKADTICKETLEN);
        }
        if r.kvno >= KVNO_KERBEROS_V5 || r.kvno == KVNO_KERBEROS_V5_ENCPART_ONLY {
            return Err(AbortCode::RXKADUNKNOWNKEY);
        }
        let key = self
            .shared
            .keys
            .get_key(r.kvno)
            .ok_or(AbortCode::RXKADUNKNOWNKEY)?;
        let ticket = Ticket::open(&r.ticket, &key).map_err(|_| AbortCode::RXKADBADTICKET)?;
        match ticket.validity(self.now()) {
            Validity::Valid => {}
            Validity::NotYetValid => return Err(AbortCode::RXKADNOAUTH),
            Validity::Expired => return Err(AbortCode::RXKADEXPIRED),
            Validity::Bad => return Err(AbortCode::RXKADBADTICKET),
        }
        let session_key = ticket.session_key;
        let cipher = Fcrypt::new(&session_key.0);
        let block = ResponseBlock::open(&r.encrypted, &cipher, &session_key.0);
        // `ticket.len()` was bounded by the parser (at most 12000).
        let ticket_len = u32::try_from(r.ticket.len()).map_err(|_| AbortCode::RXKADTICKETLEN)?;
        let sum = response_checksum(r.version, r.spare, &block, r.kvno, ticket_len);
        if sum != block.cksum && !fuzzing() {
            return Err(AbortCode::RXKADSEALEDINCON);
        }
        if block.epoch != self.ident.epoch.0
            || block.cid != self.ident.cid.0 & !3
            || block.security_index != u32::from(self.ident.security_index.0)
        {
            return Err(AbortCode::RXKADSEALEDINCON);
        }
        if block.call_numbers.iter().any(|n| *n > i32::MAX as u32) {
            return Err(AbortCode::RXKADSEALEDINCON);
        }
        let nonce_ok = self
            .nonce
            .is_some_and(|n| n.wrapping_add(1) == block.inc_nonce);
        if !nonce_ok && !fuzzing() {
            return Err(AbortCode::RXKADOUTOFSEQUENCE);
        }
        let level = SecurityLevel::from_wire(block.level).ok_or(AbortCode::RXKADLEVELFAIL)?;
        if level < self.shared.min_level {
            return Err(AbortCode::RXKADLEVELFAIL);
        }
        let mut identity = PeerIdentity::new(self.ident.security_index, level, &ticket.name);
        identity.instance = ticket.instance.clone();
        identity.realm = ticket.realm.clone();
        identity.kvno = r.kvno;
        identity.expires = ticket.expires();
        Ok(Session {
            keys: ConnKeys::new(
                session_key,
                self.ident.epoch.0,
                self.ident.cid.0,
                self.ident.security_index.0,
            ),
            level,
            end: ticket.end(),
            identity,
            call_numbers: block.call_numbers,
        })
    }
}

/// A version-2 RESPONSE with bytes after its ticket, cut to its declared length (OpenAFS and
/// Linux servers both ignore such bytes).
fn trim_v2(body: Bytes) -> Bytes {
    let declared = body
        .get(0..4)
        .filter(|v| *v == [0, 0, 0, 2])
        .and_then(|_| body.get(52..56))
        .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
        .and_then(|t| usize::try_from(t).ok())
        .and_then(|t| t.checked_add(56));
    match declared {
        Some(n) if n < body.len() => body.slice(..n),
        _ => body,
    }
}

impl ConnSecurity for RxkadServerConn {
    fn level(&self) -> SecurityLevel {
        self.session
            .as_ref()
            .map_or(self.shared.min_level, |s| s.level)
    }

    fn is_secure(&self) -> bool {
        self.session.is_some()
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
        let s = self.live_session()?;
        s.keys.secure(s.level, header, data, out, frame)
    }

    fn verify_packet(&mut self, header: &Header, payload: Bytes) -> Result<Bytes, AbortCode> {
        let s = self.live_session()?;
        s.keys.verify(s.level, header, payload)
    }

    fn issue_challenge(&mut self) -> Option<Vec<u8>> {
        // The nonce stays the same across retransmissions of a challenge; a new challenge
        // after a verified RESPONSE gets a fresh one.
        let nonce = match self.nonce {
            Some(n) if self.challenging => n,
            _ => random::u32(),
        };
        Some(self.issue_challenge_with_nonce(nonce))
    }

    fn verify_response(
        &mut self,
        _header: &Header,
        response: Bytes,
    ) -> Result<PeerIdentity, AbortCode> {
        let s = self.check_response(response)?;
        let id = s.identity.clone();
        self.session = Some(s);
        self.challenging = false;
        Ok(id)
    }

    fn expired(&self) -> Option<AbortCode> {
        match &self.session {
            Some(s) if self.is_expired(s.end) => Some(AbortCode::RXKADEXPIRED),
            _ => None,
        }
    }
}
