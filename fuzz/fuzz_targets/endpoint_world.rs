//! The world of the `endpoint` and `endpoint_secure` fuzz targets: a client engine and a
//! server engine exchange real calls over a lossy, reordering "network" the fuzzer controls,
//! while fake peers inject crafted or mutated datagrams at both (forged headers, ACKs with any
//! fields and trailers, DATA and jumbo DATA, ABORTs, CHALLENGE/RESPONSE, truncations of
//! everything) and the clock jumps by any amount.
//!
//! With [`Flavor::Secure`] the server also accepts rxkad and yfs-rxgk (both built with their
//! `fuzzing` features: checksum, MAC and nonce comparisons pass and rxkad's ciphers are the
//! identity, so forgeries get past them), client calls use good, wrong-kvno, low-level or no
//! credentials, and three more ops forge CHALLENGEs to the client, RESPONSEs to the server
//! (mutated real ones, or built by a fake client's own class state, so fake connections can
//! become secure) and secured DATA (built by a fake client's class state, then mutated).
//!
//! Invariants checked:
//! * nothing panics;
//! * every datagram an engine emits decodes;
//! * (secure) a service call on a connection with a security class is only ever seen with
//!   the identity a verified RESPONSE established;
//! * after every socket is closed, no call is alive (`close_socket` releases them all);
//! * after the clock then passes every timeout, no connection and no peer state remain.
//!
//! The input is read as a little program with `arbitrary::Unstructured` (see `op`), so the
//! fuzzer's mutations stay meaningful: one op per few bytes. The plain flavor reads exactly
//! what the `endpoint` target always read, so its corpus keeps its meaning.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use rxrpc_proto::security::{ClientSecurityRef, ConnIdent, SecurityLevel, ServerSecurityRef};
use rxrpc_proto::wire::{
    Ack, AckReason, AckTrailer, CallNumber, Channel, Cid, Epoch, Flags, Header, JUMBO_DATALEN,
    Packet, PacketType, SecurityIndex, Seq, Serial, ServiceId,
};
use rxrpc_proto::{CallParams, Endpoint, EndpointConfig, Instant, Side, SocketId};

const SVC: ServiceId = ServiceId(100);
const SVC2: ServiceId = ServiceId(101);
const MAX_OPS: usize = 256;
/// Headers of recent datagrams kept as templates for forgeries.
const HISTORY: usize = 64;

/// `FUZZ_TRACE=1` prints every op and delivered datagram (for reproducing findings);
/// `FUZZ_STATS=1` prints the engines' security counters at the end of each input.
fn trace() -> bool {
    std::env::var_os("FUZZ_TRACE").is_some()
}

fn addr(last: u8, port: u16) -> SocketAddr {
    ([10, 0, 0, last], port).into()
}

/// Which target runs the world.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// rxnull only (the `endpoint` target).
    Plain,
    /// rxkad and yfs-rxgk too (the `endpoint_secure` target).
    Secure,
}

/// The security classes of the secure flavor.
struct Security {
    /// Client credentials: rxkad good, rxgk good, rxkad unknown kvno, rxgk level plain,
    /// rxkad expired.
    creds: Vec<ClientSecurityRef>,
}

const RXKAD_KEY: rxrpc_rxkad::DesKey =
    rxrpc_rxkad::DesKey([0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]);
const RXKAD_SESSION: rxrpc_rxkad::DesKey =
    rxrpc_rxkad::DesKey([0x13, 0x57, 0x9b, 0xdf, 0x02, 0x46, 0x8a, 0xce]);

fn level(u: &mut Unstructured) -> Result<SecurityLevel> {
    Ok(*u.choose(&[
        SecurityLevel::Plain,
        SecurityLevel::Auth,
        SecurityLevel::Encrypt,
    ])?)
}

impl Security {
    /// The server's classes (added to `sock`) and the client's credentials. Tickets are
    /// deterministic (fixed keys, start and confounder).
    fn new(u: &mut Unstructured, server: &mut Endpoint, sock: SocketId) -> Result<Security> {
        use rxrpc_rxgk::krb5::{Enctype, Key};
        let keys = rxrpc_rxkad::KeyTable::from_keys([(1, RXKAD_KEY)]);
        let rxkad: ServerSecurityRef =
            Arc::new(rxrpc_rxkad::RxkadServer::new(Arc::new(keys), level(u)?));
        let gk_key = Key::new(Enctype::Aes128CtsHmacSha256128, &[0x5a; 16])
            .map_err(|_| libfuzzer_sys::arbitrary::Error::IncorrectFormat)?;
        let rxgk: ServerSecurityRef = Arc::new(
            rxrpc_rxgk::RxgkServer::new()
                .with_key(1, gk_key.clone())
                .with_min_level(level(u)?),
        );
        let _ = server.add_server_security(sock, rxkad);
        let _ = server.add_server_security(sock, rxgk);
        let _ = server.set_require_security(sock, u.ratio(1, 4)?);

        let kad = |kvno: u32, level: SecurityLevel, life: rxrpc_rxkad::Lifetime, start: u32| {
            rxrpc_rxkad::mint_token_at(
                &RXKAD_KEY,
                kvno,
                "fuzz",
                "",
                "EXAMPLE.ORG",
                life,
                Some(RXKAD_SESSION),
                start,
            )
            .map(|t| -> ClientSecurityRef {
                Arc::new(rxrpc_rxkad::RxkadClient::new(t.with_level(level)))
            })
            .map_err(|_| libfuzzer_sys::arbitrary::Error::IncorrectFormat)
        };
        let gk = |level: SecurityLevel, bytelife: u32| {
            let k0 = Key::new(Enctype::Aes128CtsHmacSha256128, &[0x33; 16])
                .map_err(|_| libfuzzer_sys::arbitrary::Error::IncorrectFormat)?;
            let mut p = rxrpc_rxgk::token::MintParams::new(1, level, k0, 0, 0);
            p.bytelife = bytelife;
            p.confounder = Some([7; 16]);
            p.mint(&gk_key)
                .map(|t| -> ClientSecurityRef {
                    Arc::new(rxrpc_rxgk::RxgkClient::new(t).with_app_data(&b"fuzz"[..]))
                })
                .map_err(|_| libfuzzer_sys::arbitrary::Error::IncorrectFormat)
        };
        let creds = vec![
            kad(1, level(u)?, rxrpc_rxkad::Lifetime::Never, 0)?,
            gk(level(u)?, *u.choose(&[0, 12, 16])?)?,
            kad(7, SecurityLevel::Encrypt, rxrpc_rxkad::Lifetime::Never, 0)?,
            gk(SecurityLevel::Plain, 0)?,
            // Expired long ago: the client refuses to make connections with it.
            kad(
                1,
                SecurityLevel::Auth,
                rxrpc_rxkad::Lifetime::Seconds(3600),
                1000,
            )?,
        ];
        Ok(Security { creds })
    }
}

/// The world.
pub struct World {
    now: Instant,
    client: Endpoint,
    server: Endpoint,
    csock: SocketId,
    ssock: SocketId,
    caddr: SocketAddr,
    saddr: SocketAddr,
    /// Datagrams in flight between the two engines: (to the server?, from, bytes).
    wire: VecDeque<(bool, SocketAddr, Vec<u8>)>,
    /// Recent datagrams (any direction), for templates.
    history: VecDeque<Vec<u8>>,
    next_cid: u64,
    next_charge: u64,
    client_ids: Vec<u64>,
    server_ids: Vec<u64>,
    /// The secure flavor's classes.
    security: Option<Security>,
}

fn config(u: &mut Unstructured, seed: u64) -> Result<EndpointConfig> {
    let mut c = EndpointConfig::default();
    c.rng_seed = seed;
    c.rx_window = *u.choose(&[1, 2, 4, 16, 255])?;
    c.tx_window_initial = *u.choose(&[1, 4, 16])?;
    c.tx_queue_max = *u.choose(&[1, 4, 256])?;
    c.max_backlog = *u.choose(&[1, 4, 32])?;
    c.max_conns_per_bundle = *u.choose(&[1, 4])?;
    c.debug_responder = u.arbitrary()?;
    if u.arbitrary()? {
        c.call_idle_timeout = Duration::from_secs(2);
        c.request_idle_timeout = Duration::from_secs(2);
        c.client_conn_idle = Duration::from_secs(5);
        c.service_conn_idle = Duration::from_secs(10);
    }
    if u.arbitrary()? {
        c.max_calls = *u.choose(&[1, 3, 64])?;
        c.max_calls_per_socket = *u.choose(&[1, 2, 64])?;
        c.max_incoming_conns = *u.choose(&[1, 2, 8])?;
        c.max_incoming_conns_per_peer = *u.choose(&[1, 2, 8])?;
        c.max_incoming_peers = *u.choose(&[1, 2, 8])?;
        c.max_client_conns = *u.choose(&[1, 2, 8])?;
    }
    Ok(c)
}

impl World {
    fn new(u: &mut Unstructured, flavor: Flavor) -> Result<Self> {
        let now = Instant::ZERO;
        let mut client = Endpoint::new(config(u, 1)?, now);
        let mut server = Endpoint::new(config(u, 2)?, now);
        let csock = client.open_socket();
        let ssock = server.open_socket();
        let _ = server.bind_service(ssock, SVC);
        if u.arbitrary()? {
            let _ = server.bind_service(ssock, SVC2);
            let _ = server.set_upgrade(ssock, SVC, SVC2);
        }
        let _ = server.listen(ssock, 4);
        let security = match flavor {
            Flavor::Plain => None,
            Flavor::Secure => Some(Security::new(u, &mut server, ssock)?),
        };
        let mut w = World {
            now,
            client,
            server,
            csock,
            ssock,
            caddr: addr(1, 7000),
            saddr: addr(2, 7000),
            wire: VecDeque::new(),
            history: VecDeque::new(),
            next_cid: 1,
            next_charge: 1_000_000,
            client_ids: Vec::new(),
            server_ids: Vec::new(),
            security,
        };
        for _ in 0..2 {
            w.charge();
        }
        Ok(w)
    }

    fn charge(&mut self) {
        let id = self.next_charge;
        self.next_charge += 1;
        if self.server.charge_accept(self.now, self.ssock, id).is_ok() {
            self.server_ids.push(id);
        }
    }

    fn ep(&mut self, server: bool) -> &mut Endpoint {
        if server {
            &mut self.server
        } else {
            &mut self.client
        }
    }

    /// Move what both engines want to send onto the wire (or to the void for fake peers),
    /// checking that each datagram decodes.
    fn collect(&mut self) {
        for from_server in [false, true] {
            let (from, other) = if from_server {
                (self.saddr, self.caddr)
            } else {
                (self.caddr, self.saddr)
            };
            while let Some(t) = self.ep(from_server).poll_transmit() {
                if let Err(e) = Packet::parse(&t.contents) {
                    panic!(
                        "engine emitted an undecodable datagram: {e}: {:02x?}",
                        t.contents
                    );
                }
                if self.history.len() >= HISTORY {
                    self.history.pop_front();
                }
                self.history.push_back(t.contents.clone());
                if t.destination == other && self.wire.len() < 4096 {
                    self.wire.push_back((!from_server, from, t.contents));
                }
            }
            while self.ep(from_server).poll_event().is_some() {}
        }
    }

    fn deliver(&mut self, to_server: bool, from: SocketAddr, bytes: Vec<u8>) {
        let now = self.now;
        if trace() {
            let what = match Packet::parse(&bytes) {
                Ok(p) => format!("{:?} {:?}", p.header, p.body),
                Err(e) => format!("undecodable ({e}) {} bytes", bytes.len()),
            };
            let what: String = what.chars().take(400).collect();
            eprintln!(
                "  -> {} from {from}: {what}",
                if to_server { "server" } else { "client" }
            );
        }
        self.ep(to_server)
            .handle_datagram(now, from, Bytes::from(bytes));
        self.collect();
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        let now = self.now;
        self.client.handle_timeout(now);
        self.server.handle_timeout(now);
        self.collect();
    }

    fn template(&self, u: &mut Unstructured) -> Result<Option<Header>> {
        if self.history.is_empty() {
            return Ok(None);
        }
        let i = u.choose_index(self.history.len())?;
        Ok(self.history.get(i).and_then(|b| Header::parse(b).ok()))
    }

    /// A forged header: a recent one with some fields changed, or one made from scratch.
    fn forge_header(&self, u: &mut Unstructured) -> Result<Header> {
        let mut h = match self.template(u)? {
            Some(h) if u.ratio(3, 4)? => h,
            _ => Header {
                epoch: Epoch(u.arbitrary()?),
                cid: Cid(u.arbitrary()?),
                call_number: CallNumber(u.int_in_range(0..=8)?),
                seq: Seq(u.int_in_range(0..=8)?),
                serial: Serial(u.arbitrary()?),
                packet_type: PacketType(u.int_in_range(1..=13)?),
                flags: Flags(u.arbitrary()?),
                user_status: 0,
                security_index: SecurityIndex(0),
                cksum: 0,
                service_id: SVC,
            },
        };
        // Each field: keep, nudge, or replace.
        let fields: u16 = u.arbitrary()?;
        if fields & 1 != 0 {
            h.epoch = Epoch(u.arbitrary()?);
        }
        if fields & 2 != 0 {
            h.cid = Cid(h.cid.0 ^ u32::from(u.int_in_range(0u8..=7)?));
        }
        if fields & 4 != 0 {
            h.call_number = CallNumber(
                h.call_number
                    .0
                    .wrapping_add(u.int_in_range(0..=4)?)
                    .wrapping_sub(2),
            );
        }
        if fields & 8 != 0 {
            h.seq = Seq(*u.choose(&[
                0,
                1,
                2,
                3,
                255,
                256,
                257,
                0x7fff_ffff,
                0x8000_0000,
                u32::MAX,
            ])?);
        }
        if fields & 16 != 0 {
            h.serial = Serial(u.arbitrary()?);
        }
        if fields & 32 != 0 {
            h.packet_type = PacketType(u.int_in_range(0..=15)?);
        }
        if fields & 64 != 0 {
            h.flags = Flags(u.arbitrary()?);
        }
        if fields & 128 != 0 {
            h.flags = Flags(h.flags.0 ^ Flags::CLIENT_INITIATED.0);
        }
        if fields & 256 != 0 {
            h.user_status = u.arbitrary()?;
        }
        if fields & 512 != 0 {
            h.security_index = SecurityIndex(*u.choose(&[0, 1, 2, 3, 6, 255])?);
        }
        if fields & 1024 != 0 {
            h.service_id = ServiceId(*u.choose(&[0, 100, 101, 102, 0xffff])?);
        }
        Ok(h)
    }

    fn forge_body(&self, u: &mut Unstructured, h: &Header, out: &mut Vec<u8>) -> Result<()> {
        match h.packet_type {
            PacketType::ACK if u.ratio(7, 8)? => {
                let n = u.int_in_range(0..=255u8)? as usize;
                let mut acks = Vec::with_capacity(n);
                for _ in 0..n {
                    acks.push(u.int_in_range(0..=2u8)?);
                }
                let first = *u.choose(&[0, 1, 2, 3, 4, 5, 9, 17, 256, 0x8000_0000, u32::MAX])?;
                let ack = Ack {
                    buffer_space: u.arbitrary()?,
                    max_skew: u.arbitrary()?,
                    first_packet: Seq(first.wrapping_add(u.int_in_range(0..=3)?)),
                    previous_packet: Seq(u.arbitrary()?),
                    serial: Serial(u.arbitrary()?),
                    reason: AckReason(u.int_in_range(0..=10)?),
                    acks,
                    trailer: if u.arbitrary()? {
                        Some(AckTrailer {
                            max_mtu: *u.choose(&[0, 1, 500, 1444, 65535, u32::MAX])?,
                            if_mtu: *u.choose(&[0, 1444, 65535, u32::MAX])?,
                            rwind: *u.choose(&[0, 1, 2, 32, 255, 256, u32::MAX])?,
                            jumbo_max: *u.choose(&[0, 1, 4, 46, u32::MAX])?,
                        })
                    } else {
                        None
                    },
                };
                ack.emit(out);
            }
            PacketType::ABORT if u.ratio(7, 8)? => {
                let code: i32 = *u.choose(&[-1, -2, -3, -5, -6, 0, 1, 19270400, i32::MIN])?;
                out.extend_from_slice(&code.to_be_bytes());
            }
            PacketType::DATA if u.ratio(3, 4)? => {
                // Plain or jumbo: n non-terminal 1412-byte subpackets, then a tail.
                let subs = if u.ratio(1, 4)? {
                    u.int_in_range(1..=4u8)?
                } else {
                    0
                };
                let fill: u8 = u.arbitrary()?;
                for _ in 0..subs {
                    out.extend(std::iter::repeat_n(fill, JUMBO_DATALEN));
                    let f: u8 = if u.ratio(3, 4)? {
                        Flags::JUMBO_PACKET.0
                    } else {
                        u.arbitrary()?
                    };
                    out.extend_from_slice(&[f, 0, 0, 0]);
                }
                let tail = *u.choose(&[0usize, 1, 100, 1412, 1413, 4000, 16_000])?;
                out.extend(std::iter::repeat_n(fill, tail));
            }
            _ => {
                let n = u.int_in_range(0..=64usize)?;
                out.extend_from_slice(u.bytes(n.min(u.len()))?);
            }
        }
        Ok(())
    }

    fn pick_id(u: &mut Unstructured, ids: &[u64]) -> Result<u64> {
        if ids.is_empty() || u.ratio(1, 16)? {
            return u.int_in_range(0..=3);
        }
        Ok(*u.choose(ids)?)
    }

    fn op(&mut self, u: &mut Unstructured) -> Result<()> {
        let now = self.now;
        let last_op = if self.security.is_some() { 16 } else { 13 };
        let which = u.int_in_range(0..=last_op)?;
        if trace() {
            eprintln!(
                "{:?} op {which}: calls {}/{} conns {}/{} wire {}",
                self.now,
                self.client.live_calls(),
                self.server.live_calls(),
                self.client.live_conns(),
                self.server.live_conns(),
                self.wire.len()
            );
        }
        match which {
            // A client call to the real server, another service, or a fake peer.
            0 | 1 => {
                let id = self.next_cid;
                self.next_cid += 1;
                let peer = match u.int_in_range(0..=3u8)? {
                    0..=1 => self.saddr,
                    2 => addr(3, 7000),
                    _ => addr(2, 7001),
                };
                let svc = *u.choose(&[SVC, SVC, SVC2, ServiceId(999)])?;
                let mut p = CallParams::new(peer, svc)
                    .exclusive(u.ratio(1, 4)?)
                    .upgrade(u.ratio(1, 8)?);
                if u.ratio(1, 8)? {
                    p = p.hard_timeout(Duration::from_millis(u.int_in_range(1..=5000)?));
                }
                if let Some(sec) = &self.security {
                    // Mostly the good credentials (shared, so calls share connections).
                    let i = u.int_in_range(0..=sec.creds.len() + 1)?;
                    let i = if i >= sec.creds.len() {
                        i - sec.creds.len()
                    } else {
                        i
                    };
                    if u.ratio(7, 8)? {
                        p = p.security(sec.creds[i].clone());
                    }
                }
                if self.client.begin_call(now, self.csock, id, p).is_ok() {
                    self.client_ids.push(id);
                    let len = *u.choose(&[0usize, 1, 1412, 5000, 70_000])?;
                    let more = u.ratio(1, 4)?;
                    let _ =
                        self.client
                            .send(now, self.csock, id, Bytes::from(vec![7u8; len]), more);
                }
            }
            // Send more on a call (either side).
            2 => {
                let server = u.arbitrary()?;
                let (sock, id) = if server {
                    (self.ssock, Self::pick_id(u, &self.server_ids)?)
                } else {
                    (self.csock, Self::pick_id(u, &self.client_ids)?)
                };
                let len = *u.choose(&[0usize, 1, 1412, 3000, 70_000])?;
                let more = u.arbitrary()?;
                let _ = self
                    .ep(server)
                    .send(now, sock, id, Bytes::from(vec![9u8; len]), more);
            }
            // Receive on either side.
            3 => {
                let max = *u.choose(&[1usize, 1000, 1 << 20])?;
                if u.arbitrary()? {
                    for _ in 0..8 {
                        let Some(m) = self.server.recvmsg(now, self.ssock, max) else {
                            break;
                        };
                        self.check_identity(m.user_id);
                    }
                    self.charge();
                } else {
                    let id = Self::pick_id(u, &self.client_ids)?;
                    let _ = self.client.recv(now, self.csock, id, max);
                }
            }
            // Abort, end or reject a call.
            4 => {
                let server = u.arbitrary()?;
                let (sock, id) = if server {
                    (self.ssock, Self::pick_id(u, &self.server_ids)?)
                } else {
                    (self.csock, Self::pick_id(u, &self.client_ids)?)
                };
                let ep = self.ep(server);
                let _ = match u.int_in_range(0..=2u8)? {
                    0 => ep.abort(now, sock, id, rxrpc_proto::wire::AbortCode::RX_USER_ABORT),
                    1 => ep.end_call(now, sock, id),
                    _ => ep.reject_call(now, sock, id, rxrpc_proto::wire::AbortCode(-100)),
                };
            }
            5 => self.charge(),
            // Deliver, drop, duplicate or reorder real traffic.
            6..=8 => {
                let n = u.int_in_range(1..=16u8)?;
                for _ in 0..n {
                    let Some((to_server, from, bytes)) = self.wire.pop_front() else {
                        break;
                    };
                    match u.int_in_range(0..=9u8)? {
                        0 => {} // lost
                        1 => {
                            self.deliver(to_server, from, bytes.clone());
                            self.deliver(to_server, from, bytes);
                        }
                        2 => self.wire.push_back((to_server, from, bytes)),
                        _ => self.deliver(to_server, from, bytes),
                    }
                }
            }
            // A forged datagram from a fake peer or spoofing the real one.
            9 | 10 => {
                let h = self.forge_header(u)?;
                let mut out = Vec::with_capacity(64);
                h.emit(&mut out);
                self.forge_body(u, &h, &mut out)?;
                if u.ratio(1, 8)? {
                    let keep = u.int_in_range(0..=out.len())?;
                    out.truncate(keep);
                }
                let to_server = u.arbitrary()?;
                let from = match u.int_in_range(0..=3u8)? {
                    0 | 1 => {
                        if to_server {
                            self.caddr
                        } else {
                            self.saddr
                        }
                    }
                    2 => addr(3, 7000),
                    _ => addr(u.int_in_range(4..=8)?, u.int_in_range(7000..=7003)?),
                };
                self.deliver(to_server, from, out);
            }
            // A recent datagram replayed with a few bytes flipped.
            11 => {
                if self.history.is_empty() {
                    return Ok(());
                }
                let i = u.choose_index(self.history.len())?;
                let mut b = self.history[i].clone();
                let flips = u.int_in_range(0..=4u8)?;
                for _ in 0..flips {
                    if b.is_empty() {
                        break;
                    }
                    let at = u.choose_index(b.len())?;
                    b[at] ^= u.arbitrary::<u8>()?;
                }
                let to_server = Header::parse(&b).is_ok_and(|h| h.is_client_initiated());
                let from = if to_server { self.caddr } else { self.saddr };
                self.deliver(to_server, from, b);
            }
            // (secure) A forged CHALLENGE to the client.
            14 => self.forge_challenge(u)?,
            // (secure) A forged RESPONSE to the server.
            15 => self.forge_response(u)?,
            // (secure) Forged secured DATA to the server.
            16 => self.forge_secured_data(u)?,
            // Time passes.
            _ => {
                let d = match u.int_in_range(0..=3u8)? {
                    0 => Duration::from_micros(u.int_in_range(0..=5000)?),
                    1 => Duration::from_millis(u.int_in_range(0..=2000)?),
                    2 => Duration::from_secs(u.int_in_range(0..=30)?),
                    _ => Duration::from_secs(u.int_in_range(30..=900)?),
                };
                self.advance(d);
            }
        }
        self.collect();
        Ok(())
    }

    /// A service call on a connection with a security class exists only once a RESPONSE
    /// was verified: the application sees it with an identity.
    fn check_identity(&self, user_id: u64) {
        if self.security.is_none() {
            return;
        }
        if let Some((index, _)) = self.server.call_security(self.ssock, user_id)
            && index != SecurityIndex(0)
        {
            assert!(
                self.server.call_identity(self.ssock, user_id).is_some(),
                "service call {user_id} on a security-{} connection without an identity",
                index.0
            );
        }
    }

    /// A recent datagram's header matching `pred`, and its body.
    fn recent(
        &self,
        u: &mut Unstructured,
        pred: impl Fn(&Header) -> bool,
    ) -> Result<Option<(Header, Vec<u8>)>> {
        let found: Vec<(Header, Vec<u8>)> = self
            .history
            .iter()
            .filter_map(|b| {
                let h = Header::parse(b).ok()?;
                pred(&h).then(|| {
                    (
                        h,
                        b.get(rxrpc_proto::wire::HEADER_LEN..)
                            .unwrap_or(&[])
                            .to_vec(),
                    )
                })
            })
            .collect();
        if found.is_empty() {
            return Ok(None);
        }
        let i = u.choose_index(found.len())?;
        Ok(found.into_iter().nth(i))
    }

    /// A connection-level header of type `ty` on the connection of `h`.
    fn conn_header(u: &mut Unstructured, h: &Header, ty: PacketType) -> Result<Header> {
        let mut c = *h;
        c.packet_type = ty;
        c.call_number = CallNumber(0);
        c.cid = Cid::new(h.cid.conn_id(), Channel(0));
        c.seq = Seq(0);
        c.serial = Serial(h.serial.0.wrapping_add(u.int_in_range(1..=1000)?));
        c.flags = Flags(h.flags.0 & Flags::CLIENT_INITIATED.0);
        if u.ratio(1, 8)? {
            c.flags = Flags(u.arbitrary()?);
        }
        if u.ratio(1, 8)? {
            c.call_number = CallNumber(u.int_in_range(0..=3)?);
        }
        Ok(c)
    }

    /// Mutate `b`: flip bytes, truncate, or extend.
    fn mutate(u: &mut Unstructured, b: &mut Vec<u8>) -> Result<()> {
        match u.int_in_range(0..=4u8)? {
            0 => {}
            1 | 2 => {
                for _ in 0..u.int_in_range(1..=4u8)? {
                    if b.is_empty() {
                        break;
                    }
                    let at = u.choose_index(b.len())?;
                    b[at] ^= u.arbitrary::<u8>()?.max(1);
                }
            }
            3 => {
                let keep = u.int_in_range(0..=b.len())?;
                b.truncate(keep);
            }
            _ => {
                let n = u.int_in_range(1..=64usize)?;
                b.extend(std::iter::repeat_n(u.arbitrary::<u8>()?, n));
            }
        }
        Ok(())
    }

    /// A fake client's class state for the connection of `h` (as the client would have it),
    /// with its security index.
    fn fake_client_conn(
        &self,
        u: &mut Unstructured,
        h: &Header,
    ) -> Result<Option<(Box<dyn rxrpc_proto::security::ConnSecurity>, SecurityIndex)>> {
        let Some(sec) = &self.security else {
            return Ok(None);
        };
        let creds = u.choose(&sec.creds)?;
        let ident = ConnIdent {
            side: Side::Client,
            peer: self.saddr,
            epoch: h.epoch,
            cid: h.cid.conn_id(),
            service_id: h.service_id,
            security_index: creds.security_index(),
        };
        Ok(creds
            .new_conn(&ident)
            .ok()
            .map(|c| (c, ident.security_index)))
    }

    fn pick_from(&self, u: &mut Unstructured, to_server: bool) -> Result<SocketAddr> {
        Ok(match u.int_in_range(0..=3u8)? {
            0 | 1 if to_server => self.caddr,
            0 | 1 => self.saddr,
            2 => addr(3, 7000),
            _ => addr(u.int_in_range(4..=8)?, 7000),
        })
    }

    fn forge_challenge(&mut self, u: &mut Unstructured) -> Result<()> {
        let Some((base, body)) = self.recent(u, |h| !h.is_client_initiated())? else {
            return Ok(());
        };
        let mut h = Self::conn_header(u, &base, PacketType::CHALLENGE)?;
        if u.ratio(1, 8)? {
            h.security_index = SecurityIndex(*u.choose(&[0, 2, 3, 6])?);
        }
        let mut body = match u.int_in_range(0..=4u8)? {
            // rxkad version 2: version, nonce, min level, spare.
            0 => [2u32, u.arbitrary()?, u.int_in_range(0..=3)?, 0]
                .iter()
                .flat_map(|w| w.to_be_bytes())
                .collect(),
            // rxkad version 1: nonce, level.
            1 => [u.arbitrary::<u32>()?, u.int_in_range(0..=3)?]
                .iter()
                .flat_map(|w| w.to_be_bytes())
                .collect(),
            // rxgk: a 20-byte nonce.
            2 => u.bytes(20.min(u.len()))?.to_vec(),
            // A real one.
            3 => self
                .recent(u, |h| h.packet_type == PacketType::CHALLENGE)?
                .map(|(_, b)| b)
                .unwrap_or(body),
            _ => {
                let n = u.int_in_range(0..=48usize)?;
                u.bytes(n.min(u.len()))?.to_vec()
            }
        };
        Self::mutate(u, &mut body)?;
        let from = self.pick_from(u, false)?;
        self.deliver(false, from, packet(&h, &body));
        Ok(())
    }

    fn forge_response(&mut self, u: &mut Unstructured) -> Result<()> {
        let Some((base, _)) = self.recent(u, |h| h.is_client_initiated())? else {
            return Ok(());
        };
        let mut h = Self::conn_header(u, &base, PacketType::RESPONSE)?;
        let mut body = match u.int_in_range(0..=2u8)? {
            // A real one (perhaps from another connection: a replay).
            0 => match self.recent(u, |h| h.packet_type == PacketType::RESPONSE)? {
                Some((rh, b)) => {
                    h.cksum = rh.cksum;
                    b
                }
                None => Vec::new(),
            },
            // A fake client's answer to a CHALLENGE (a real one or a made-up one).
            1 => {
                let challenge = match self.recent(u, |h| h.packet_type == PacketType::CHALLENGE)? {
                    Some((_, b)) if u.arbitrary()? => b,
                    _ => {
                        let n = u.int_in_range(0..=20usize)?.min(u.len());
                        u.bytes(n)?.to_vec()
                    }
                };
                let counters = [
                    CallNumber(u.int_in_range(0..=4)?),
                    CallNumber(u.int_in_range(0..=4)?),
                    CallNumber(u.int_in_range(0..=4)?),
                    CallNumber(u.int_in_range(0..=4)?),
                ];
                match self.fake_client_conn(u, &base)? {
                    Some((mut c, index)) => {
                        h.security_index = index;
                        let r = c
                            .respond_to_challenge(&h, Bytes::from(challenge), counters)
                            .unwrap_or_default();
                        h.cksum = c.response_cksum();
                        r
                    }
                    None => Vec::new(),
                }
            }
            _ => {
                let n = u.int_in_range(0..=128usize)?;
                u.bytes(n.min(u.len()))?.to_vec()
            }
        };
        Self::mutate(u, &mut body)?;
        let from = self.pick_from(u, true)?;
        self.deliver(true, from, packet(&h, &body));
        Ok(())
    }

    fn forge_secured_data(&mut self, u: &mut Unstructured) -> Result<()> {
        // A header for a call on a recent connection to the server, or a new connection.
        let Some((base, _)) = self.recent(u, |h| h.is_client_initiated())? else {
            return Ok(());
        };
        let mut h = base;
        h.packet_type = PacketType::DATA;
        h.flags = Flags::CLIENT_INITIATED;
        if u.arbitrary()? {
            h.flags = h.flags.with(Flags::LAST_PACKET);
        }
        h.call_number = CallNumber(h.call_number.0.max(1).wrapping_add(u.int_in_range(0..=2)?));
        h.seq = Seq(u.int_in_range(1..=4)?);
        h.serial = Serial(h.serial.0.wrapping_add(u.int_in_range(1..=1000)?));
        if u.ratio(1, 4)? {
            h.epoch = Epoch(0x8000_0000 | u.int_in_range(0..=3)?);
            h.cid = Cid::new(
                rxrpc_proto::wire::ConnId::from_index(u.int_in_range(1..=4)?),
                Channel(u.int_in_range(0..=3)?),
            );
        }
        let Some((mut c, index)) = self.fake_client_conn(u, &h)? else {
            return Ok(());
        };
        h.security_index = index;
        let len = *u.choose(&[0usize, 1, 7, 8, 100, 1000])?;
        let capacity = c.data_capacity(JUMBO_DATALEN);
        let data = vec![0x42u8; len.min(capacity)];
        let mut body = Vec::new();
        if c.secure_packet(&mut h, &data, &mut body).is_err() {
            return Ok(());
        }
        if u.ratio(1, 4)? {
            h.cksum ^= u.arbitrary::<u16>()?;
        }
        if u.ratio(1, 4)? {
            Self::mutate(u, &mut body)?;
        }
        let from = self.pick_from(u, true)?;
        self.deliver(true, from, packet(&h, &body));
        Ok(())
    }

    /// Close everything, let every timeout pass, and check that nothing is left.
    fn finish(&mut self) {
        if std::env::var_os("FUZZ_STATS").is_some() {
            let (c, s) = (self.client.stats(), self.server.stats());
            eprintln!(
                "STATS server: challenges {} verified {} refused {} verify_failures {} \
                 conn_aborts {} calls {}; client: responses {} refused {}",
                s.challenges_sent,
                s.responses_verified,
                s.security_failures,
                s.verify_failures,
                s.conn_aborts_sent,
                s.service_calls_done,
                c.responses_sent,
                c.security_failures,
            );
        }
        let now = self.now;
        self.client.close_socket(now, self.csock);
        self.server.close_socket(now, self.ssock);
        for (name, ep) in [("client", &self.client), ("server", &self.server)] {
            assert_eq!(
                ep.live_calls(),
                0,
                "{name} calls after close: {:?}",
                ep.snapshot().calls
            );
        }
        self.wire.clear();
        self.collect();
        self.wire.clear();
        // Bounded: each pass fires the earliest deadline of one engine.
        for _ in 0..10_000 {
            let next = [self.client.poll_timeout(), self.server.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            let Some(t) = next else { break };
            self.now = self.now.max(t);
            let now = self.now;
            self.client.handle_timeout(now);
            self.server.handle_timeout(now);
            self.collect();
            self.wire.clear();
        }
        for (name, ep) in [("client", &self.client), ("server", &self.server)] {
            assert_eq!(ep.live_calls(), 0, "{name} calls at the end");
            assert_eq!(ep.live_conns(), 0, "{name} connections at the end");
            assert_eq!(ep.live_peers(), 0, "{name} peers at the end");
            assert_eq!(ep.poll_timeout(), None, "{name} timers at the end");
        }
    }
}

/// A datagram from a header and a body.
fn packet(h: &Header, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rxrpc_proto::wire::HEADER_LEN + body.len());
    h.emit(&mut out);
    out.extend_from_slice(body);
    out
}

/// Run one input.
pub fn run(data: &[u8], flavor: Flavor) {
    let mut u = Unstructured::new(data);
    let Ok(mut w) = World::new(&mut u, flavor) else {
        return;
    };
    for _ in 0..MAX_OPS {
        if u.is_empty() || w.op(&mut u).is_err() {
            break;
        }
    }
    w.finish();
}
