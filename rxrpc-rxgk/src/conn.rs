//! Per-connection yfs-rxgk state: transport keys, rekeying, packet protection, and the
//! CHALLENGE/RESPONSE exchange.

use std::sync::Arc;

use bytes::Bytes;
use rxrpc_proto::call::Side;
use rxrpc_proto::security::{CallCounters, ConnIdent, ConnSecurity, PeerIdentity, SecurityLevel};
use rxrpc_proto::wire::{AbortCode, Header, Seq};

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
/// How many key numbers before the current one a received packet may use: packets secured
/// before we moved on (still in flight, or answering after we kept sending). Linux accepts
/// current-1.
pub const KEYS_BEHIND: i64 = 64;
/// How many key numbers after the current one a received packet may use. Linux accepts only
/// current+1; a peer that rekeys quickly (small byte budgets) can be further ahead when
/// packets were lost or when it sent while we only saw duplicates (which are not verified),
/// so we accept more: a packet under a later key that verifies moves the connection to it.
pub const KEYS_AHEAD: i64 = 64;

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

/// The RESPONSE authenticator (`RXGK_Authenticator`), before encryption:
/// `nonce[20] | opaque appdata<> | be32 level | be32 epoch | be32 cid | be32 call_numbers<>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authenticator {
    /// The CHALLENGE's nonce.
    pub nonce: [u8; NONCE_LEN],
    /// Application data for the server.
    pub app_data: Bytes,
    /// The level the client runs at (wire value).
    pub level: u32,
    /// Connection epoch.
    pub epoch: u32,
    /// Connection ID without channel bits.
    pub cid: u32,
    /// The channels' call counters (at most 4).
    pub call_numbers: Vec<u32>,
}

impl Authenticator {
    /// The XDR plaintext.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.app_data.len());
        out.extend_from_slice(&self.nonce);
        put_opaque(&mut out, &self.app_data);
        put_u32(&mut out, self.level);
        put_u32(&mut out, self.epoch);
        put_u32(&mut out, self.cid);
        put_u32(
            &mut out,
            u32::try_from(self.call_numbers.len()).unwrap_or(0),
        );
        for c in &self.call_numbers {
            put_u32(&mut out, *c);
        }
        out
    }

    /// Decode the plaintext; any malformation is `RXGK_NOTAUTH`, as Linux says. Trailing
    /// bytes (padding) are ignored.
    pub fn decode(buf: &[u8]) -> Result<Authenticator, AbortCode> {
        let bad = AbortCode::RXGK_NOTAUTH;
        let mut a = Reader::new(buf);
        let nonce: [u8; NONCE_LEN] = a
            .bytes(NONCE_LEN)
            .and_then(|n| n.try_into().ok())
            .ok_or(bad)?;
        let app_data = a.opaque(MAX_APP_DATA).ok_or(bad)?;
        let level = a.u32().ok_or(bad)?;
        let epoch = a.u32().ok_or(bad)?;
        let cid = a.u32().ok_or(bad)?;
        let n = a.u32().ok_or(bad)?;
        if n > 4 {
            return Err(bad);
        }
        let call_numbers = (0..n)
            .map(|_| a.u32().ok_or(bad))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Authenticator {
            nonce,
            app_data: Bytes::copy_from_slice(app_data),
            level,
            epoch,
            cid,
            call_numbers,
        })
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

/// Most key changes remembered per channel for retransmissions.
const MAX_SPANS: usize = 64;

/// What one channel's current call has sent.
#[derive(Debug, Default)]
struct TxTrack {
    call: u32,
    high: u32,
    /// (first seq, key number) at each key change, oldest first.
    spans: std::collections::VecDeque<(u32, u32)>,
}

impl TxTrack {
    /// The key number `seq` was first sent under, if it is a retransmission of `call`.
    fn resend_key(&self, call: u32, seq: Seq) -> Option<Option<u32>> {
        if self.call != call || self.high == 0 || seq.after(Seq(self.high)) {
            return None;
        }
        Some(
            self.spans
                .iter()
                .rev()
                .find(|(first, _)| !seq.before(Seq(*first)))
                .map(|(_, k)| *k),
        )
    }

    /// Record a first transmission of `seq` of `call` under key `key`.
    fn sent(&mut self, call: u32, seq: Seq, key: u32) {
        if self.call != call {
            self.call = call;
            self.spans.clear();
        }
        self.high = seq.0;
        if self.spans.back().map(|s| s.1) != Some(key) {
            if self.spans.len() >= MAX_SPANS {
                self.spans.pop_front();
            }
            self.spans.push_back((seq.0, key));
        }
    }
}

/// The keyed state of a connection once K0 is known.
#[derive(Debug)]
struct Session {
    k0: Key,
    start_time: u64,
    lifetime: u64,
    bytelife: u64,
    current: u32,
    /// Recently used key contexts (the current one among them), at most [`RING`].
    ring: Vec<KeyCtx>,
    /// Per channel: what was sent on the current call. The engine secures every transmission;
    /// Linux secures a packet once and resends the same bytes. So that retransmissions look
    /// the same to the peer, a packet at or below the highest seq sent goes out under the key
    /// number it was first sent with and is not charged to the byte budget.
    tx_track: [TxTrack; 4],
}

impl Session {
    fn new(k0: Key, start_time: u64, lifetime: u64, bytelife: u64) -> Session {
        Session {
            k0,
            start_time,
            lifetime,
            bytelife,
            current: 0,
            ring: Vec::with_capacity(RING),
            tx_track: Default::default(),
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

    fn find(&self, number: u32) -> Option<usize> {
        self.ring.iter().position(|c| c.number == number)
    }

    /// Cache `ctx`, evicting the context furthest from the current key if the cache is full
    /// (never the current one).
    fn insert(&mut self, ctx: KeyCtx) -> usize {
        if let Some(i) = self.find(ctx.number) {
            self.ring[i] = ctx;
            return i;
        }
        if self.ring.len() >= RING {
            let cur = self.current;
            let victim = self
                .ring
                .iter()
                .enumerate()
                .filter(|(_, c)| c.number != cur)
                .max_by_key(|(_, c)| c.number.abs_diff(cur))
                .map(|(i, _)| i);
            if let Some(v) = victim {
                self.ring.swap_remove(v);
            }
        }
        self.ring.push(ctx);
        self.ring.len() - 1
    }

    /// Install `ctx` as the current key.
    fn install(&mut self, ctx: KeyCtx) {
        self.current = ctx.number;
        self.insert(ctx);
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
        let i = match self.find(cur) {
            Some(i) => i,
            None => {
                let ctx = self.derive(ident, level, cur, now);
                self.insert(ctx)
            }
        };
        let c = &self.ring[i];
        let stale =
            c.needs_rekey || c.bytes_remaining < 0 || c.expires_at.is_some_and(|t| now >= t);
        let i = if stale && cur < u32::MAX {
            let ctx = self.derive(ident, level, cur + 1, now);
            self.current = cur + 1;
            self.insert(ctx)
        } else {
            i
        };
        self.ring.get_mut(i).ok_or(AbortCode::RXGK_BADKEYNO)
    }

    /// The context of key `number` (cached or derived), without rekeying.
    fn ctx_for(
        &mut self,
        ident: &ConnIdent,
        level: SecurityLevel,
        number: u32,
        now: u64,
    ) -> Result<&mut KeyCtx, AbortCode> {
        let i = match self.find(number) {
            Some(i) => i,
            None => {
                let ctx = self.derive(ident, level, number, now);
                self.insert(ctx)
            }
        };
        self.ring.get_mut(i).ok_or(AbortCode::RXGK_BADKEYNO)
    }

    /// The key number that the low 16 bits `wire` stand for, relative to the current key, and
    /// whether it is ahead of the current one (the peer rekeyed). Accepted: up to
    /// [`KEYS_BEHIND`] before the current key and [`KEYS_AHEAD`] after it.
    fn resolve(&self, wire: u16) -> Option<(u32, bool)> {
        let diff = i64::from(wire.wrapping_sub(self.current as u16) as i16);
        if !(-KEYS_BEHIND..=KEYS_AHEAD).contains(&diff) {
            return None;
        }
        let n = u32::try_from(i64::from(self.current) + diff).ok()?;
        Some((n, diff > 0))
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
            s.ring.clear();
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
        app_data_override: Option<&[u8]>,
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
        let auth = Authenticator {
            nonce: nonce.try_into().map_err(|_| AbortCode::RXGK_PACKETSHORT)?,
            app_data: match app_data_override {
                Some(d) => Bytes::copy_from_slice(d),
                None => app_data.clone(),
            },
            level: level.to_wire(),
            epoch: ident.epoch.0,
            cid: ident.cid.0,
            call_numbers: counters.iter().map(|c| c.0).collect(),
        }
        .encode();
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
        let a = Authenticator::decode(&auth)?;
        // (With the `fuzzing` feature the nonce is not compared, like the MACs.)
        let nonce_ok = nonce.as_ref() == Some(&a.nonce) || cfg!(feature = "fuzzing");
        if !nonce_ok
            || a.level != contents.level.to_wire()
            || a.epoch != ident.epoch.0
            || a.cid != ident.cid.0
        {
            return Err(notauth);
        }
        let mut new_counters = *counters;
        for (slot, &call) in new_counters.iter_mut().zip(&a.call_numbers) {
            if call > i32::MAX as u32 || call < *slot {
                return Err(notauth);
            }
            *slot = call;
        }
        let app_data = a.app_data;
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
        id.app_data = app_data;
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
        let cached = session.find(number);
        let fresh = match cached {
            Some(_) => None,
            None => Some(session.derive(&ident, level, number, now)),
        };
        let ctx = match (&fresh, cached) {
            (Some(c), _) => c,
            (None, Some(i)) => session.ring.get(i).ok_or(AbortCode::RXGK_BADKEYNO)?,
            (None, None) => return Err(AbortCode::RXGK_BADKEYNO),
        };
        let data = unprotect(&ctx.rx, header, payload)?;
        // Verified: a key the peer moved on to becomes ours too; an older one is cached.
        if let Some(ctx) = fresh {
            if is_next {
                session.install(ctx);
            } else {
                session.insert(ctx);
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
        let ch = header.cid.channel().index() % 4;
        let (call, seq) = (header.call_number.0, header.seq);
        let resend = session.tx_track[ch].resend_key(call, seq);
        let fresh = resend.is_none();
        let ctx = match resend {
            Some(Some(k)) => session.ctx_for(&ident, level, k, now)?,
            Some(None) => {
                let cur = session.current;
                session.ctx_for(&ident, level, cur, now)?
            }
            None => {
                let number = session.tx_ctx(&ident, level, now)?.number;
                session.tx_track[ch].sent(call, seq, number);
                session.ctx_for(&ident, level, number, now)?
            }
        };
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
        if fresh {
            let sent = i64::try_from(out.len() - start).unwrap_or(i64::MAX);
            ctx.bytes_remaining = ctx.bytes_remaining.saturating_sub(sent);
        }
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
    fn response_cksum(&self) -> u16 {
        // Only the low 16 bits of the key number travel.
        (self.key_number() & 0xffff) as u16
    }

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
        self.build_response(&challenge, counters, None)
    }

    fn respond_with_app_data(
        &mut self,
        _header: &Header,
        challenge: Bytes,
        counters: CallCounters,
        app_data: &[u8],
    ) -> Result<Vec<u8>, AbortCode> {
        if app_data.len() > MAX_APP_DATA {
            return Err(AbortCode::RX_INVALID_OPERATION);
        }
        self.build_response(&challenge, counters, Some(app_data))
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
