//! Per-connection yfs-rxgk state: transport keys, rekeying, packet protection, and the
//! CHALLENGE/RESPONSE exchange.

use std::sync::Arc;

use bytes::Bytes;
use rxrpc_proto::call::Side;
use rxrpc_proto::security::{CallCounters, ConnIdent, ConnSecurity, PeerIdentity, SecurityLevel};
use rxrpc_proto::wire::{AbortCode, Header};

use crate::clock::{Clock, TICKS_PER_SEC, unix_secs_from_rxgk_time};
use crate::krb5::{CONFOUNDER_LEN, ChecksumKey, EncryptionKey, Key, random_bytes};
use crate::server::ServerKeys;
use crate::token::{MAX_TICKET_LEN, open_ticket};
use crate::xdr::{Reader, put_opaque, put_u32, put_u64};
use crate::{
    NONCE_LEN, PSEUDO_HEADER_LEN, RXGK_CLIENT_ENC_PACKET, RXGK_CLIENT_ENC_RESPONSE,
    RXGK_CLIENT_MIC_PACKET, RXGK_SERVER_ENC_PACKET, RXGK_SERVER_MIC_PACKET,
};

/// Longest application data accepted in (or put into) an authenticator.
pub const MAX_APP_DATA: usize = 1024;
/// Longest encrypted authenticator accepted (RXGK_MAXAUTHENTICATOR).
pub const MAX_AUTHENTICATOR_LEN: usize = 1416 + 1024;
/// Number of transport-key contexts a connection keeps (current and recent ones).
const RING: usize = 4;

/// The transport key TK for key number `key_number`:
/// `PRF+(K0, key length, be32 epoch | be32 cid | be64 start_time | be32 key_number)`
/// (draft-wilkinson-afs3-rxgk section 8.3, as Linux computes it; `cid` without the channel
/// bits).
pub fn transport_key(k0: &Key, epoch: u32, cid: u32, start_time: u64, key_number: u32) -> Key {
    let mut seed = Vec::with_capacity(20);
    put_u32(&mut seed, epoch);
    put_u32(&mut seed, cid);
    put_u64(&mut seed, start_time);
    put_u32(&mut seed, key_number);
    let tk = k0.prf_plus(k0.enctype().key_len(), &seed);
    // PRF+ gives exactly key_len bytes, so this cannot fail.
    Key::new(k0.enctype(), &tk).unwrap_or_else(|_| k0.clone())
}

/// The 24-byte pseudo-header that AUTH packets MIC and ENCRYPT packets encrypt:
/// epoch, cid (with channel), call number, seq, security index, data length.
pub fn pseudo_header(header: &Header, data_len: usize) -> [u8; PSEUDO_HEADER_LEN] {
    let mut p = [0u8; PSEUDO_HEADER_LEN];
    let words = [
        header.epoch.0,
        header.cid.0,
        header.call_number.0,
        header.seq.0,
        u32::from(header.security_index.0),
        u32::try_from(data_len).unwrap_or(u32::MAX),
    ];
    for (chunk, w) in p.chunks_exact_mut(4).zip(words) {
        chunk.copy_from_slice(&w.to_be_bytes());
    }
    p
}

/// Bytes of a DATA packet's payload that are not application data at `level`.
pub fn overhead(level: SecurityLevel, enctype: crate::krb5::Enctype) -> usize {
    match level {
        SecurityLevel::Plain => 0,
        SecurityLevel::Auth => enctype.checksum_len(),
        SecurityLevel::Encrypt => enctype.encrypt_overhead() + PSEUDO_HEADER_LEN,
    }
}

/// Packet protection in one direction.
#[derive(Clone, Debug)]
enum Protect {
    Plain,
    Mic(ChecksumKey),
    Enc(EncryptionKey),
}

/// The keys of one key number.
#[derive(Clone, Debug)]
struct KeyCtx {
    number: u32,
    tk: Key,
    /// rxgk time after which we stop sending with this key (`None`: no lifetime limit).
    expires_at: Option<u64>,
    /// Bytes we may still send with this key.
    bytes_remaining: i64,
    needs_rekey: bool,
    tx: Protect,
    rx: Protect,
}

/// The keyed state of a connection once K0 is known.
#[derive(Debug)]
struct Session {
    k0: Key,
    start_time: u64,
    lifetime: u64,
    bytelife: u64,
    current: u32,
    ring: [Option<KeyCtx>; RING],
}

impl Session {
    fn new(k0: Key, start_time: u64, lifetime: u64, bytelife: u64) -> Session {
        Session {
            k0,
            start_time,
            lifetime,
            bytelife,
            current: 0,
            ring: Default::default(),
        }
    }

    fn derive(&self, ident: &ConnIdent, level: SecurityLevel, number: u32, now: u64) -> KeyCtx {
        let tk = transport_key(
            &self.k0,
            ident.epoch.0,
            ident.cid.0,
            self.start_time,
            number,
        );
        let (tx_enc, rx_enc, tx_mic, rx_mic) = match ident.side {
            Side::Client => (
                RXGK_CLIENT_ENC_PACKET,
                RXGK_SERVER_ENC_PACKET,
                RXGK_CLIENT_MIC_PACKET,
                RXGK_SERVER_MIC_PACKET,
            ),
            Side::Service => (
                RXGK_SERVER_ENC_PACKET,
                RXGK_CLIENT_ENC_PACKET,
                RXGK_SERVER_MIC_PACKET,
                RXGK_CLIENT_MIC_PACKET,
            ),
        };
        let (tx, rx) = match level {
            SecurityLevel::Plain => (Protect::Plain, Protect::Plain),
            SecurityLevel::Auth => (
                Protect::Mic(tk.checksum(tx_mic)),
                Protect::Mic(tk.checksum(rx_mic)),
            ),
            SecurityLevel::Encrypt => (
                Protect::Enc(tk.encryption(tx_enc)),
                Protect::Enc(tk.encryption(rx_enc)),
            ),
        };
        // Linux: bytelife 0 or 63 = unlimited, 1..62 = 2^n bytes, anything else taken as a
        // byte count.
        let bytes_remaining = match self.bytelife {
            0 | 63 => i64::MAX,
            n @ 1..=62 => 1i64 << n,
            n => i64::try_from(n).unwrap_or(i64::MAX),
        };
        let expires_at = (self.lifetime != 0).then(|| {
            let secs = self.lifetime.min(i32::MAX as u64);
            now.saturating_add(secs * TICKS_PER_SEC)
        });
        KeyCtx {
            number,
            tk,
            expires_at,
            bytes_remaining,
            needs_rekey: false,
            tx,
            rx,
        }
    }

    fn slot(number: u32) -> usize {
        (number as usize) % RING
    }

    /// Install key `number` as the current one.
    fn install(&mut self, ctx: KeyCtx) {
        let n = ctx.number;
        self.ring[Self::slot(n.wrapping_sub(2))] = None;
        self.ring[Self::slot(n)] = Some(ctx);
        self.current = n;
    }

    /// The context to send with: the current key, rekeyed first if its lifetime or byte budget
    /// ran out.
    fn tx_ctx(
        &mut self,
        ident: &ConnIdent,
        level: SecurityLevel,
        now: u64,
    ) -> Result<&mut KeyCtx, AbortCode> {
        let cur = self.current;
        let slot = Self::slot(cur);
        let stale = match &self.ring[slot] {
            Some(c) if c.number == cur => {
                c.needs_rekey || c.bytes_remaining < 0 || c.expires_at.is_some_and(|t| now >= t)
            }
            _ => {
                let ctx = self.derive(ident, level, cur, now);
                self.ring[slot] = Some(ctx);
                false
            }
        };
        if stale && cur < u32::MAX {
            let ctx = self.derive(ident, level, cur + 1, now);
            self.install(ctx);
        }
        let slot = Self::slot(self.current);
        self.ring[slot].as_mut().ok_or(AbortCode::RXGK_BADKEYNO)
    }

    /// The key number that the low 16 bits `wire` stand for, relative to the current key, and
    /// whether it is the next one (a rekey by the peer).
    fn resolve(&self, wire: u16) -> Option<(u32, bool)> {
        let cur = self.current;
        if wire == cur as u16 {
            Some((cur, false))
        } else if cur > 0 && wire == (cur - 1) as u16 {
            Some((cur - 1, false))
        } else if cur < u32::MAX && wire == (cur + 1) as u16 {
            Some((cur + 1, true))
        } else {
            None
        }
    }
}

/// Role-specific state.
#[derive(Debug)]
enum Role {
    Client {
        ticket: Bytes,
        app_data: Bytes,
        token_end: u64,
    },
    Server {
        keys: Arc<ServerKeys>,
        nonce: Option<[u8; NONCE_LEN]>,
        counters: [u32; 4],
        token_end: u64,
    },
}

/// The yfs-rxgk state of one connection (client or service side); implements
/// [`ConnSecurity`]. Made by [`crate::RxgkClient`] and [`crate::RxgkServer`].
#[derive(Debug)]
pub struct RxgkConn {
    ident: ConnIdent,
    clock: Clock,
    level: SecurityLevel,
    secure: bool,
    session: Option<Session>,
    role: Role,
    /// Enctype of K0 (known on the client at once, on the server after the RESPONSE).
    enctype: Option<crate::krb5::Enctype>,
}

impl RxgkConn {
    pub(crate) fn new_client(
        ident: ConnIdent,
        clock: Clock,
        token: &crate::token::RxgkToken,
        app_data: Bytes,
    ) -> RxgkConn {
        let start_time = clock.now();
        let mut session =
            Session::new(token.k0.clone(), start_time, token.lifetime, token.bytelife);
        let ctx = session.derive(&ident, token.level, 0, start_time);
        session.install(ctx);
        RxgkConn {
            ident,
            clock,
            level: token.level,
            secure: true,
            session: Some(session),
            role: Role::Client {
                ticket: token.ticket.clone(),
                app_data,
                token_end: token.end,
            },
            enctype: Some(token.k0.enctype()),
        }
    }

    pub(crate) fn new_server(ident: ConnIdent, clock: Clock, keys: Arc<ServerKeys>) -> RxgkConn {
        RxgkConn {
            ident,
            clock,
            level: SecurityLevel::Plain,
            secure: false,
            session: None,
            role: Role::Server {
                keys,
                nonce: None,
                counters: [0; 4],
                token_end: 0,
            },
            enctype: None,
        }
    }

    /// The current key number (its low 16 bits go in the `cksum` field of DATA packets and of
    /// the RESPONSE).
    pub fn key_number(&self) -> u32 {
        self.session.as_ref().map_or(0, |s| s.current)
    }

    /// The RESPONSE start time (client: the connection's; server: the client's, once known).
    pub fn start_time(&self) -> u64 {
        self.session.as_ref().map_or(0, |s| s.start_time)
    }

    /// Use `start_time` (rxgk time) instead of the clock's time at creation (a client
    /// reproducing captured traffic; Linux clients send their monotonic clock). Rederives the
    /// keys.
    pub fn set_start_time(&mut self, start_time: u64) {
        let now = self.clock.now();
        let (ident, level) = (self.ident, self.level);
        if let Some(s) = self.session.as_mut() {
            s.start_time = start_time;
            s.ring = Default::default();
            let ctx = s.derive(&ident, level, s.current, now);
            s.install(ctx);
        }
    }

    /// Service side: use `nonce` as the CHALLENGE nonce instead of a random one (for
    /// replaying captured exchanges and for tests). No effect on a client connection.
    pub fn set_challenge_nonce(&mut self, nonce: [u8; NONCE_LEN]) {
        if let Role::Server { nonce: n, .. } = &mut self.role {
            *n = Some(nonce);
        }
    }

    fn token_end(&self) -> u64 {
        match &self.role {
            Role::Client { token_end, .. } | Role::Server { token_end, .. } => *token_end,
        }
    }

    fn check_expiry(&self) -> Result<(), AbortCode> {
        let end = self.token_end();
        if end != 0 && self.clock.now() >= end {
            return Err(AbortCode::RXGK_EXPIRED);
        }
        Ok(())
    }

    /// Build the RESPONSE body (client side).
    fn build_response(
        &mut self,
        challenge: &[u8],
        counters: CallCounters,
    ) -> Result<Vec<u8>, AbortCode> {
        let nonce = challenge
            .get(..NONCE_LEN)
            .ok_or(AbortCode::RXGK_PACKETSHORT)?;
        self.check_expiry()?;
        let now = self.clock.now();
        let (ident, level) = (self.ident, self.level);
        let Role::Client {
            ticket, app_data, ..
        } = &self.role
        else {
            return Err(AbortCode::RX_PROTOCOL_ERROR);
        };
        let session = self.session.as_mut().ok_or(AbortCode::RXGK_NOTAUTH)?;
        let start_time = session.start_time;
        let ctx = session.tx_ctx(&ident, level, now)?;
        let mut auth = Vec::with_capacity(64 + app_data.len());
        auth.extend_from_slice(nonce);
        put_opaque(&mut auth, app_data);
        put_u32(&mut auth, level.to_wire());
        put_u32(&mut auth, ident.epoch.0);
        put_u32(&mut auth, ident.cid.0);
        put_u32(&mut auth, 4);
        for c in counters {
            put_u32(&mut auth, c.0);
        }
        let conf: [u8; CONFOUNDER_LEN] =
            random_bytes().map_err(|_| AbortCode::RXGK_INCONSISTENCY)?;
        let authx = ctx
            .tk
            .encryption(RXGK_CLIENT_ENC_RESPONSE)
            .encrypt_with_confounder(&conf, &auth);
        let mut out = Vec::with_capacity(24 + ticket.len() + authx.len());
        put_u64(&mut out, start_time);
        put_opaque(&mut out, ticket);
        put_opaque(&mut out, &authx);
        Ok(out)
    }

    /// Check a RESPONSE (server side).
    fn check_response(&mut self, header: &Header, body: &[u8]) -> Result<PeerIdentity, AbortCode> {
        let now = self.clock.now();
        let ident = self.ident;
        let Role::Server {
            keys,
            nonce,
            counters,
            token_end,
        } = &mut self.role
        else {
            return Err(AbortCode::RX_PROTOCOL_ERROR);
        };
        // RXGK_Response { rxgkTime start_time; opaque token<>; opaque authenticator<> }
        let short = AbortCode::RXGK_PACKETSHORT;
        let mut r = Reader::new(body);
        let start_time = r.u64().ok_or(short)?;
        let token = r.opaque(MAX_TICKET_LEN).ok_or(short)?;
        let auth_len = r.u32().ok_or(short)?;
        let auth_len = usize::try_from(auth_len).map_err(|_| short)?;
        if auth_len > r.remaining() || auth_len > MAX_AUTHENTICATOR_LEN {
            return Err(short);
        }
        if auth_len % 4 != 0 {
            return Err(AbortCode::RXGK_INCONSISTENCY);
        }
        if auth_len < NONCE_LEN + 9 * 4 {
            return Err(short);
        }
        let authx = r.bytes(auth_len).ok_or(short)?;

        // The ticket: which server key, then K0, level and limits.
        let (container, contents) =
            open_ticket(token, |kvno, et| keys.get(kvno, et)).map_err(|e| e.abort_code())?;
        if contents.is_expired(now) {
            // Linux ignores such a RESPONSE (a temporary key error) and challenges again; we
            // refuse the connection.
            return Err(AbortCode::RXGK_EXPIRED);
        }

        // The authenticator, under the transport key of the header's key number.
        let key_number = u32::from(header.cksum);
        let tk = transport_key(
            &contents.k0,
            ident.epoch.0,
            ident.cid.0,
            start_time,
            key_number,
        );
        let auth = tk
            .decrypt(RXGK_CLIENT_ENC_RESPONSE, authx)
            .map_err(|_| AbortCode::RXGK_SEALEDINCON)?;
        let notauth = AbortCode::RXGK_NOTAUTH;
        let mut a = Reader::new(&auth);
        let got_nonce = a.bytes(NONCE_LEN).ok_or(notauth)?;
        if nonce.as_ref().map(|n| &n[..]) != Some(got_nonce) {
            return Err(notauth);
        }
        let app_data = a.opaque(MAX_APP_DATA).ok_or(notauth)?;
        let level = a.u32().ok_or(notauth)?;
        let epoch = a.u32().ok_or(notauth)?;
        let cid = a.u32().ok_or(notauth)?;
        let ncalls = a.u32().ok_or(notauth)?;
        if level != contents.level.to_wire()
            || epoch != ident.epoch.0
            || cid != ident.cid.0
            || ncalls > 4
        {
            return Err(notauth);
        }
        let mut new_counters = *counters;
        for slot in new_counters.iter_mut().take(ncalls as usize) {
            let call = a.u32().ok_or(notauth)?;
            if call > i32::MAX as u32 || call < *slot {
                return Err(notauth);
            }
            *slot = call;
        }
        if contents.level < keys.min_level() {
            return Err(AbortCode::RXGK_BADLEVEL);
        }

        // Accepted: the connection runs at the ticket's level from the RESPONSE's key number.
        *counters = new_counters;
        *token_end = contents.expiration;
        let mut session = Session::new(
            contents.k0.clone(),
            start_time,
            u64::from(contents.lifetime),
            u64::from(contents.bytelife),
        );
        self.level = contents.level;
        let ctx = session.derive(&ident, self.level, key_number, now);
        session.install(ctx);
        self.enctype = Some(contents.k0.enctype());
        self.session = Some(session);
        self.secure = true;

        let name = contents
            .identities
            .first()
            .map(|i| i.display.clone())
            .unwrap_or_default();
        let mut id = PeerIdentity::new(ident.security_index, self.level, &name);
        id.kvno = container.kvno;
        id.expires =
            (contents.expiration != 0).then(|| unix_secs_from_rxgk_time(contents.expiration));
        id.app_data = Bytes::copy_from_slice(app_data);
        Ok(id)
    }

    /// Check one received DATA (sub)packet.
    fn check_packet(&mut self, header: &Header, payload: Bytes) -> Result<Bytes, AbortCode> {
        if !self.secure {
            return Err(AbortCode::RXGK_NOTAUTH);
        }
        let now = self.clock.now();
        let (ident, level) = (self.ident, self.level);
        let session = self.session.as_mut().ok_or(AbortCode::RXGK_NOTAUTH)?;
        let (number, is_next) = session
            .resolve(header.cksum)
            .ok_or(AbortCode::RXGK_BADKEYNO)?;
        let slot = Session::slot(number);
        let have = matches!(&session.ring[slot], Some(c) if c.number == number);
        let fresh = if have {
            None
        } else {
            Some(session.derive(&ident, level, number, now))
        };
        let ctx = match &fresh {
            Some(c) => c,
            None => session.ring[slot]
                .as_ref()
                .ok_or(AbortCode::RXGK_BADKEYNO)?,
        };
        let data = unprotect(&ctx.rx, header, payload)?;
        // Verified: a key the peer moved on to becomes ours too.
        if let Some(ctx) = fresh {
            if is_next {
                session.install(ctx);
            } else {
                session.ring[slot] = Some(ctx);
            }
        }
        Ok(data)
    }

    fn protect(
        &mut self,
        header: &mut Header,
        data: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), AbortCode> {
        if !self.secure {
            return Err(AbortCode::RXGK_NOTAUTH);
        }
        self.check_expiry()?;
        let now = self.clock.now();
        let (ident, level) = (self.ident, self.level);
        let session = self.session.as_mut().ok_or(AbortCode::RXGK_NOTAUTH)?;
        let ctx = session.tx_ctx(&ident, level, now)?;
        header.cksum = ctx.number as u16;
        let start = out.len();
        match &ctx.tx {
            Protect::Plain => {
                out.extend_from_slice(data);
                return Ok(());
            }
            Protect::Mic(kc) => {
                let ph = pseudo_header(header, data.len());
                out.extend_from_slice(&kc.get_mic(&[&ph, data]));
                out.extend_from_slice(data);
            }
            Protect::Enc(ek) => {
                let ph = pseudo_header(header, data.len());
                let conf: [u8; CONFOUNDER_LEN] =
                    random_bytes().map_err(|_| AbortCode::RXGK_INCONSISTENCY)?;
                ek.encrypt_parts_into(&conf, &[&ph, data], out);
            }
        }
        let sent = i64::try_from(out.len() - start).unwrap_or(i64::MAX);
        ctx.bytes_remaining = ctx.bytes_remaining.saturating_sub(sent);
        Ok(())
    }
}

/// Verify and strip one direction's protection from a DATA payload.
fn unprotect(p: &Protect, header: &Header, payload: Bytes) -> Result<Bytes, AbortCode> {
    let sealed = AbortCode::RXGK_SEALEDINCON;
    match p {
        Protect::Plain => Ok(payload),
        Protect::Mic(kc) => {
            let mac = kc.enctype().checksum_len();
            if payload.len() < mac {
                return Err(sealed);
            }
            let (mic, data) = payload.split_at(mac);
            let ph = pseudo_header(header, data.len());
            kc.verify_mic(&[&ph, data], mic).map_err(|_| sealed)?;
            Ok(payload.slice(mac..))
        }
        Protect::Enc(ek) => {
            let mut buf = payload.to_vec();
            let range = ek.decrypt_in_place(&mut buf).map_err(|_| sealed)?;
            let plain = buf.get(range.clone()).ok_or(sealed)?;
            let (ph, rest) = plain
                .split_first_chunk::<PSEUDO_HEADER_LEN>()
                .ok_or(AbortCode::RXGK_PACKETSHORT)?;
            let want = pseudo_header(header, 0);
            let data_len = u32::from_be_bytes([ph[20], ph[21], ph[22], ph[23]]);
            let data_len = usize::try_from(data_len).map_err(|_| sealed)?;
            if ph[..20] != want[..20] || data_len > rest.len() {
                return Err(sealed);
            }
            let start = range.start + PSEUDO_HEADER_LEN;
            Ok(Bytes::from(buf).slice(start..start + data_len))
        }
    }
}

impl ConnSecurity for RxgkConn {
    fn level(&self) -> SecurityLevel {
        self.level
    }

    fn is_secure(&self) -> bool {
        self.secure
    }

    fn data_capacity(&self, max_payload: usize) -> usize {
        match self.enctype {
            Some(et) => max_payload.saturating_sub(overhead(self.level, et)),
            // A service connection before its RESPONSE: nothing may be sent yet.
            None => 0,
        }
    }

    fn secure_packet(
        &mut self,
        header: &mut Header,
        data: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), AbortCode> {
        self.protect(header, data, out)
    }

    fn verify_packet(&mut self, header: &Header, payload: Bytes) -> Result<Bytes, AbortCode> {
        self.check_packet(header, payload)
    }

    fn respond_to_challenge(
        &mut self,
        _header: &Header,
        challenge: Bytes,
        counters: CallCounters,
    ) -> Result<Vec<u8>, AbortCode> {
        self.build_response(&challenge, counters)
    }

    fn issue_challenge(&mut self) -> Option<Vec<u8>> {
        match &mut self.role {
            Role::Server { nonce, .. } => {
                if nonce.is_none() {
                    *nonce = random_bytes().ok();
                }
                nonce.map(|n| n.to_vec())
            }
            Role::Client { .. } => None,
        }
    }

    fn verify_response(
        &mut self,
        header: &Header,
        response: Bytes,
    ) -> Result<PeerIdentity, AbortCode> {
        self.check_response(header, &response)
    }

    fn expired(&self) -> Option<AbortCode> {
        self.check_expiry().err()
    }
}
