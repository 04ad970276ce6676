//! The engine's side of connection security, tested with a toy class (index 9): challenges,
//! held DATA, verified and refused RESPONSEs, per-packet protection, connection aborts, and
//! CHALLENGE/RESPONSE packets where they do not belong.
//!
//! The toy class: a shared 1-byte secret; CHALLENGE = 4-byte nonce; RESPONSE = nonce + 1,
//! level byte and secret XOR name bytes; every DATA payload gets a trailing check byte
//! (XOR of the data, the secret and the low byte of seq) and, at level Encrypt, data bytes are
//! XORed with the secret. It is not security; it exercises every hook.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::security::*;
use crate::wire::{AbortCode, CallNumber, Flags, Header, PacketType, SecurityIndex, Seq, Serial};
use crate::{Completion, Event, Side};

const TOY: SecurityIndex = SecurityIndex(9);
const TOY_BAD: AbortCode = AbortCode(7777);
const TOY_SEAL: AbortCode = AbortCode(7778);
const TOY_LEVEL: AbortCode = AbortCode(7779);

#[derive(Debug)]
struct ToyConn {
    secret: u8,
    level: SecurityLevel,
    min_level: SecurityLevel,
    name: String,
    nonce: Option<u32>,
    secure: bool,
}

impl ToyConn {
    fn check(&self, seq: u32, data: &[u8]) -> u8 {
        data.iter().fold(self.secret ^ seq as u8, |a, b| a ^ b)
    }
}

impl ConnSecurity for ToyConn {
    fn level(&self) -> SecurityLevel {
        self.level
    }
    fn is_secure(&self) -> bool {
        self.secure
    }
    fn data_capacity(&self, max_payload: usize) -> usize {
        max_payload - 1
    }
    fn secure_packet(
        &mut self,
        header: &mut Header,
        data: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), AbortCode> {
        let start = out.len();
        out.extend_from_slice(data);
        if self.level == SecurityLevel::Encrypt {
            for b in &mut out[start..] {
                *b ^= self.secret;
            }
        }
        out.push(self.check(header.seq.0, data));
        header.cksum = 0x7700 | u16::from(self.secret);
        Ok(())
    }
    fn verify_packet(&mut self, header: &Header, payload: Bytes) -> Result<Bytes, AbortCode> {
        let n = payload.len().checked_sub(1).ok_or(TOY_SEAL)?;
        if header.cksum != 0x7700 | u16::from(self.secret) {
            return Err(TOY_SEAL);
        }
        let mut data = payload[..n].to_vec();
        if self.level == SecurityLevel::Encrypt {
            for b in &mut data {
                *b ^= self.secret;
            }
        }
        if payload[n] != self.check(header.seq.0, &data) {
            return Err(TOY_SEAL);
        }
        Ok(Bytes::from(data))
    }
    fn respond_to_challenge(
        &mut self,
        _header: &Header,
        challenge: Bytes,
        _counters: CallCounters,
    ) -> Result<Vec<u8>, AbortCode> {
        let nonce = u32::from_be_bytes(challenge.as_ref().try_into().map_err(|_| TOY_BAD)?);
        let mut r = nonce.wrapping_add(1).to_be_bytes().to_vec();
        r.push(self.level as u8);
        r.extend(self.name.bytes().map(|b| b ^ self.secret));
        Ok(r)
    }
    fn respond_with_app_data(
        &mut self,
        header: &Header,
        challenge: Bytes,
        counters: CallCounters,
        app_data: &[u8],
    ) -> Result<Vec<u8>, AbortCode> {
        let mut r = self.respond_to_challenge(header, challenge, counters)?;
        r.push(b'|');
        r.extend_from_slice(app_data);
        Ok(r)
    }
    fn issue_challenge(&mut self) -> Option<Vec<u8>> {
        let n = *self.nonce.get_or_insert(0x1234_5678);
        Some(n.to_be_bytes().to_vec())
    }
    fn verify_response(
        &mut self,
        _header: &Header,
        response: Bytes,
    ) -> Result<PeerIdentity, AbortCode> {
        if response.len() < 5 {
            return Err(TOY_BAD);
        }
        let n = u32::from_be_bytes([response[0], response[1], response[2], response[3]]);
        if Some(n.wrapping_sub(1)) != self.nonce {
            return Err(TOY_BAD);
        }
        let level = SecurityLevel::from_wire(u32::from(response[4])).ok_or(TOY_BAD)?;
        if level < self.min_level {
            return Err(TOY_LEVEL);
        }
        let (name, app) = match response[5..].iter().position(|&b| b == b'|') {
            Some(i) => (&response[5..5 + i], response.slice(6 + i..)),
            None => (&response[5..], Bytes::new()),
        };
        let name: String = name.iter().map(|b| char::from(b ^ self.secret)).collect();
        if !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(TOY_BAD);
        }
        self.level = level;
        self.secure = true;
        let mut id = PeerIdentity::new(TOY, level, &name);
        id.app_data = app;
        Ok(id)
    }
}

#[derive(Debug)]
struct ToyClient {
    secret: u8,
    level: SecurityLevel,
    name: &'static str,
}

impl ClientSecurity for ToyClient {
    fn security_index(&self) -> SecurityIndex {
        TOY
    }
    fn level(&self) -> SecurityLevel {
        self.level
    }
    fn data_capacity(&self, max_payload: usize) -> usize {
        max_payload - 1
    }
    fn new_conn(&self, ident: &ConnIdent) -> Result<Box<dyn ConnSecurity>, AbortCode> {
        assert_eq!(ident.side, Side::Client);
        Ok(Box::new(ToyConn {
            secret: self.secret,
            level: self.level,
            min_level: SecurityLevel::Plain,
            name: self.name.to_owned(),
            nonce: None,
            secure: true,
        }))
    }
}

#[derive(Debug)]
struct ToyServer {
    secret: u8,
    min_level: SecurityLevel,
}

impl ServerSecurity for ToyServer {
    fn security_index(&self) -> SecurityIndex {
        TOY
    }
    fn new_conn(&self, ident: &ConnIdent) -> Result<Box<dyn ConnSecurity>, AbortCode> {
        assert_eq!(ident.side, Side::Service);
        assert_eq!(ident.security_index, TOY);
        Ok(Box::new(ToyConn {
            secret: self.secret,
            level: SecurityLevel::Plain,
            min_level: self.min_level,
            name: String::new(),
            nonce: None,
            secure: false,
        }))
    }
}

fn pattern(n: usize, salt: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(13).wrapping_add(salt))
        .collect()
}

/// A secured pair: the server's socket accepts the toy class with `server_secret`.
fn secured_pair(
    seed: u64,
    server_secret: u8,
    min_level: SecurityLevel,
) -> (Net, SocketId, SocketId) {
    let (mut net, cs, ss) = pair(seed, 8);
    net.ep(1)
        .add_server_security(
            ss,
            Arc::new(ToyServer {
                secret: server_secret,
                min_level,
            }),
        )
        .unwrap();
    (net, cs, ss)
}

fn toy(secret: u8, level: SecurityLevel) -> ClientSecurityRef {
    Arc::new(ToyClient {
        secret,
        level,
        name: "alice",
    })
}

/// Send the whole request, read the whole request at the server, reply, read the reply.
fn secured_exchange(
    net: &mut Net,
    cs: SocketId,
    ss: SocketId,
    id: u64,
    sec: ClientSecurityRef,
    req: &[u8],
    reply: &[u8],
) -> (u64, Vec<u8>, Option<Completion>) {
    let now = net.now;
    let p = params(net).security(sec);
    net.ep(0).begin_call(now, cs, id, p).unwrap();
    let mut left = Bytes::copy_from_slice(req);
    let mut sent = false;
    let mut got = Vec::new();
    let mut sid = None;
    net.run_until(Duration::from_secs(120), |n| {
        let now = n.now;
        if !sent {
            let k = n.ep(0).send(now, cs, id, left.clone(), false).unwrap();
            let _ = left.split_to(k);
            sent = left.is_empty();
        }
        while let Some(m) = n.ep(1).recvmsg(now, ss, 1 << 20) {
            sid = Some(m.user_id);
            got.extend_from_slice(&m.data);
            if m.end_of_data {
                return true;
            }
        }
        false
    });
    assert!(got == req, "request delivered intact");
    let sid = sid.unwrap();
    let now = net.now;
    let mut left = Bytes::copy_from_slice(reply);
    let mut done = false;
    let mut data = Vec::new();
    let mut term = None;
    net.run_until(Duration::from_secs(120), |n| {
        let now2 = n.now;
        if !done {
            let k = n.ep(1).send(now2, ss, sid, left.clone(), false).unwrap();
            let _ = left.split_to(k);
            done = left.is_empty();
        }
        while let Ok(Some(m)) = n.ep(0).recv(now2, cs, id, 1 << 20) {
            data.extend_from_slice(&m.data);
            if m.terminal.is_some() {
                term = m.terminal;
                return true;
            }
        }
        false
    });
    let _ = now;
    (sid, data, term)
}

#[test]
fn secured_calls_deliver_identity_and_data_at_each_level() {
    for (i, level) in [
        SecurityLevel::Plain,
        SecurityLevel::Auth,
        SecurityLevel::Encrypt,
    ]
    .into_iter()
    .enumerate()
    {
        let (mut net, cs, ss) = secured_pair(40 + i as u64, 0x5a, SecurityLevel::Plain);
        let sec = toy(0x5a, level);
        let req = pattern(200_000, 1);
        let reply = pattern(300_000, 2);
        // The server's socket must see the identity while the call is live.
        let now = net.now;
        let p = params(&net).security(sec.clone());
        net.ep(0).begin_call(now, cs, 1, p).unwrap();
        net.ep(0)
            .send(now, cs, 1, Bytes::from_static(b"hi"), false)
            .unwrap();
        let mut sid = None;
        net.run_until(Duration::from_secs(10), |n| {
            let now = n.now;
            while let Some(m) = n.ep(1).recvmsg(now, ss, 1 << 20) {
                sid = Some(m.user_id);
            }
            sid.is_some()
        });
        let sid = sid.unwrap();
        let id = net
            .ep(1)
            .call_identity(ss, sid)
            .expect("identity of a secured call");
        assert_eq!(id.name, "alice");
        assert_eq!(id.level, level);
        assert_eq!(net.ep(1).call_security(ss, sid), Some((TOY, level)));
        assert_eq!(net.ep(0).call_security(cs, 1), Some((TOY, level)));
        let now = net.now;
        net.ep(1).end_call(now, ss, sid).unwrap_or_default();
        // A bulk call on the same (now secure) connection: no second CHALLENGE.
        let challenges = net.count(PacketType::CHALLENGE, net.addr(1));
        assert_eq!(challenges, 1);
        let (_, data, term) = secured_exchange(&mut net, cs, ss, 2, sec, &req, &reply);
        assert!(data == reply, "reply intact at {level:?}");
        assert_eq!(term, Some(Completion::Succeeded));
        assert_eq!(net.count(PacketType::CHALLENGE, net.addr(1)), 1);
        // Every DATA packet carried the class's checksum; at Encrypt the plaintext never
        // appears on the wire.
        let data_pkts: Vec<_> = net
            .seen
            .iter()
            .filter(|s| s.header.packet_type == PacketType::DATA)
            .collect();
        assert!(data_pkts.iter().all(|s| s.header.cksum == 0x775a));
        if level == SecurityLevel::Encrypt {
            let needle = &reply[1000..1032];
            assert!(
                !data_pkts
                    .iter()
                    .any(|s| s.bytes.windows(32).any(|w| w == needle))
            );
        }
        assert_eq!(net.ep(1).stats().responses_verified, 1);
    }
}

#[test]
fn unsecured_data_is_held_not_acked_and_creates_no_call_until_the_response() {
    let (mut net, cs, ss) = secured_pair(50, 0x11, SecurityLevel::Plain);
    // Drop every RESPONSE: the server must challenge again as DATA keeps coming, never create a
    // call, and never ACK the held DATA.
    net.filter = Some(Box::new(|_, _, h| h.packet_type != PacketType::RESPONSE));
    let now = net.now;
    let p = params(&net).security(toy(0x11, SecurityLevel::Auth));
    net.ep(0).begin_call(now, cs, 1, p).unwrap();
    net.ep(0)
        .send(now, cs, 1, Bytes::from(pattern(10_000, 3)), false)
        .unwrap();
    net.run_for(Duration::from_secs(3));
    let server = net.addr(1);
    assert!(
        net.count(PacketType::CHALLENGE, server) >= 2,
        "re-challenged"
    );
    assert_eq!(
        net.count(PacketType::ACK, server),
        0,
        "held DATA is not ACKed"
    );
    let now = net.now;
    assert!(net.ep(1).recvmsg(now, ss, 1 << 20).is_none());
    assert_eq!(net.ep(1).charged(ss), 8, "no charge used");
    // Let RESPONSEs through: the call now completes normally.
    net.filter = None;
    let mut got = Vec::new();
    net.run_until(Duration::from_secs(30), |n| {
        let now = n.now;
        while let Some(m) = n.ep(1).recvmsg(now, ss, 1 << 20) {
            got.extend_from_slice(&m.data);
            if m.end_of_data {
                return true;
            }
        }
        false
    });
    assert!(got == pattern(10_000, 3));
}

#[test]
fn wrong_secret_aborts_the_connection_and_the_service_never_sees_a_call() {
    let (mut net, cs, ss) = secured_pair(51, 0x22, SecurityLevel::Plain);
    // A wrong secret garbles the name in the RESPONSE: the server refuses it.
    let now = net.now;
    let p = params(&net).security(toy(0x99, SecurityLevel::Plain));
    net.ep(0).begin_call(now, cs, 1, p).unwrap();
    net.ep(0)
        .send(now, cs, 1, Bytes::from_static(b"x"), false)
        .unwrap();
    let (_, term) = recv_all(&mut net, 0, cs, 1, Duration::from_secs(30));
    assert_eq!(term, Some(Completion::RemoteAbort(TOY_BAD)));
    let aborts: Vec<_> = net
        .seen
        .iter()
        .filter(|s| s.header.packet_type == PacketType::ABORT && s.from == net.addr(1))
        .collect();
    assert_eq!(aborts.len(), 1);
    assert_eq!(
        aborts[0].header.call_number,
        CallNumber(0),
        "connection-level abort"
    );
    let now = net.now;
    assert!(net.ep(1).recvmsg(now, ss, 1 << 20).is_none());
    assert_eq!(net.ep(1).charged(ss), 8);
    assert_eq!(net.ep(1).stats().security_failures, 1);
    // A later call with the right secret gets a fresh connection and succeeds.
    let (_, data, term) = secured_exchange(
        &mut net,
        cs,
        ss,
        2,
        toy(0x22, SecurityLevel::Plain),
        b"again",
        b"ok",
    );
    assert_eq!(data, b"ok");
    assert_eq!(term, Some(Completion::Succeeded));
}

#[test]
fn level_below_the_servers_minimum_is_refused() {
    let (mut net, cs, _ss) = secured_pair(52, 0x33, SecurityLevel::Encrypt);
    let now = net.now;
    let p = params(&net).security(toy(0x33, SecurityLevel::Auth));
    net.ep(0).begin_call(now, cs, 1, p).unwrap();
    net.ep(0)
        .send(now, cs, 1, Bytes::from_static(b"x"), false)
        .unwrap();
    let (_, term) = recv_all(&mut net, 0, cs, 1, Duration::from_secs(30));
    assert_eq!(term, Some(Completion::RemoteAbort(TOY_LEVEL)));
}

#[test]
fn unknown_class_and_required_security_are_refused() {
    // No class for index 9 on the server.
    let (mut net, cs, ss) = pair(53, 4);
    let now = net.now;
    let p = params(&net).security(toy(1, SecurityLevel::Plain));
    net.ep(0).begin_call(now, cs, 1, p).unwrap();
    net.ep(0)
        .send(now, cs, 1, Bytes::from_static(b"x"), false)
        .unwrap();
    let (_, term) = recv_all(&mut net, 0, cs, 1, Duration::from_secs(30));
    assert_eq!(
        term,
        Some(Completion::RemoteAbort(AbortCode::RX_INVALID_OPERATION))
    );
    // rxnull refused by a socket that requires security.
    net.ep(1).set_require_security(ss, true).unwrap();
    let now = net.now;
    let p = params(&net);
    net.ep(0).begin_call(now, cs, 2, p).unwrap();
    net.ep(0)
        .send(now, cs, 2, Bytes::from_static(b"x"), false)
        .unwrap();
    let (_, term) = recv_all(&mut net, 0, cs, 2, Duration::from_secs(30));
    assert_eq!(
        term,
        Some(Completion::RemoteAbort(AbortCode::RX_INVALID_OPERATION))
    );
    assert_eq!(net.ep(1).charged(ss), 4);
}

#[test]
fn tampered_data_aborts_the_call_with_the_class_code() {
    let (mut net, cs, ss) = secured_pair(54, 0x44, SecurityLevel::Plain);
    // Flip a payload byte of the client's second DATA packet in flight.
    let mut n_data = 0;
    let (net2, cs2) = (&mut net, cs);
    let now = net2.now;
    let p = params(net2).security(toy(0x44, SecurityLevel::Auth));
    net2.ep(0).begin_call(now, cs2, 1, p).unwrap();
    net2.ep(0)
        .send(now, cs2, 1, Bytes::from(pattern(20_000, 5)), false)
        .unwrap();
    // Deliver packets by hand so one can be corrupted.
    let client = net2.addr(0);
    let server = net2.addr(1);
    let mut server_code = None;
    for _ in 0..2000 {
        let now = net2.now;
        let mut out = Vec::new();
        while let Some(t) = net2.ep(0).poll_transmit() {
            out.push((client, t));
        }
        while let Some(t) = net2.ep(1).poll_transmit() {
            out.push((server, t));
        }
        for (from, mut t) in out {
            let h = Header::parse(&t.contents).unwrap();
            if from == client && h.packet_type == PacketType::DATA {
                n_data += 1;
                if h.seq == Seq(2) && h.serial.0 > 0 && n_data < 100 {
                    let last = t.contents.len() - 5;
                    t.contents[last] ^= 0x01;
                }
            }
            if from == server && h.packet_type == PacketType::ABORT {
                let code = i32::from_be_bytes(t.contents[28..32].try_into().unwrap());
                server_code = Some(AbortCode(code));
            }
            let to = if from == client { 1 } else { 0 };
            net2.ep(to)
                .handle_datagram(now, from, Bytes::from(t.contents));
        }
        if server_code.is_some() {
            break;
        }
        net2.now = now + Duration::from_millis(1);
        let now = net2.now;
        net2.ep(0).handle_timeout(now);
        net2.ep(1).handle_timeout(now);
    }
    assert_eq!(server_code, Some(TOY_SEAL));
    assert!(net.ep(1).stats().verify_failures >= 1);
    let _ = ss;
}

#[test]
fn challenge_on_an_rxnull_connection_and_response_without_challenge_are_dropped() {
    let (mut net, cs, ss) = pair(55, 4);
    let now = net.now;
    let p = params(&net);
    net.ep(0).begin_call(now, cs, 1, p).unwrap();
    net.ep(0)
        .send(now, cs, 1, Bytes::from_static(b"x"), false)
        .unwrap();
    net.run_for(Duration::from_millis(50));
    // Forge a CHALLENGE from the server to the client's connection.
    let data = net
        .seen
        .iter()
        .find(|s| s.header.packet_type == PacketType::DATA)
        .unwrap()
        .header;
    let mut h = data;
    h.packet_type = PacketType::CHALLENGE;
    h.flags = Flags::empty();
    h.call_number = CallNumber(0);
    h.seq = Seq(0);
    h.serial = Serial(77);
    let mut pkt = h.to_bytes().to_vec();
    pkt.extend_from_slice(&[0, 0, 0, 2, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0]);
    let (server, now) = (net.addr(1), net.now);
    let dropped = net.ep(0).stats().dropped;
    net.ep(0).handle_datagram(now, server, Bytes::from(pkt));
    assert_eq!(net.ep(0).stats().dropped, dropped + 1);
    assert_eq!(net.ep(0).stats().aborts_sent, 0);
    assert_eq!(net.ep(0).stats().responses_sent, 0);
    // A RESPONSE to the server's (rxnull) connection: dropped, the server's call is fine.
    let dropped = net.ep(1).stats().dropped;
    let mut h = data;
    h.packet_type = PacketType::RESPONSE;
    h.call_number = CallNumber(0);
    h.seq = Seq(0);
    let mut pkt = h.to_bytes().to_vec();
    pkt.extend_from_slice(&[0; 20]);
    let (client, now) = (net.addr(0), net.now);
    net.ep(1).handle_datagram(now, client, Bytes::from(pkt));
    assert_eq!(net.ep(1).stats().dropped, dropped + 1);
    assert_eq!(net.ep(1).stats().aborts_sent, 0);
    let _ = ss;
}

#[test]
fn held_packets_are_bounded() {
    let (mut net, cs, _ss) = secured_pair(56, 0x55, SecurityLevel::Plain);
    net.filter = Some(Box::new(|_, _, h| h.packet_type != PacketType::RESPONSE));
    // One credentials object: the four calls share a connection and its held queue.
    let sec = toy(0x55, SecurityLevel::Plain);
    for id in 1..=4u64 {
        let now = net.now;
        let p = params(&net).security(sec.clone());
        net.ep(0).begin_call(now, cs, id, p).unwrap();
        net.ep(0)
            .send(now, cs, id, Bytes::from(pattern(100_000, id as u8)), false)
            .unwrap();
    }
    net.run_for(Duration::from_secs(16));
    let limit = net.eps[1].1.config().unsecured_backlog;
    let conns = &net.eps[1].1.conns;
    let lens: Vec<usize> = conns.iter().map(|(_, c)| c.held.len()).collect();
    assert!(lens.contains(&limit), "held {lens:?}");
    assert!(conns.iter().all(|(_, c)| c.held.len() <= limit));
    let held: usize = conns.iter().map(|(_, c)| c.held.len()).sum();
    assert_eq!(held, net.eps[1].1.held_total);
    assert!(net.ep(1).stats().dropped > 0);
}

#[test]
fn events_for_secured_calls_are_ordinary() {
    let (mut net, cs, ss) = secured_pair(57, 0x66, SecurityLevel::Plain);
    let (_, data, term) = secured_exchange(
        &mut net,
        cs,
        ss,
        1,
        toy(0x66, SecurityLevel::Encrypt),
        b"ping",
        b"pong",
    );
    assert_eq!(data, b"pong");
    assert_eq!(term, Some(Completion::Succeeded));
    let mut saw_new = false;
    while let Some(e) = net.ep(1).poll_event() {
        saw_new |= matches!(e, Event::NewCall { .. });
    }
    assert!(saw_new);
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.ep(0).live_calls(), 0);
    assert_eq!(net.ep(1).live_calls(), 8, "only the charges remain");
}

#[test]
fn managed_challenges_carry_app_data_or_reject() {
    let (mut net, cs, ss) = secured_pair(58, 0x77, SecurityLevel::Plain);
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = Arc::clone(&seen);
    let managed: ClientSecurityRef = Arc::new(ManagedChallenges::new(
        toy(0x77, SecurityLevel::Auth),
        Arc::new(move |c: &ChallengeInfo| {
            seen2.lock().unwrap().push(c.clone());
            Ok(Bytes::from_static(b"callback-token"))
        }),
    ));
    let now = net.now;
    let p = params(&net).security(managed);
    net.ep(0).begin_call(now, cs, 1, p).unwrap();
    net.ep(0)
        .send(now, cs, 1, Bytes::from_static(b"hi"), false)
        .unwrap();
    let mut sid = None;
    net.run_until(Duration::from_secs(10), |n| {
        let now = n.now;
        while let Some(m) = n.ep(1).recvmsg(now, ss, 1 << 20) {
            sid = Some(m.user_id);
        }
        sid.is_some()
    });
    let id = net.ep(1).call_identity(ss, sid.unwrap()).unwrap();
    assert_eq!(&id.app_data[..], b"callback-token");
    assert_eq!(id.name, "alice");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].security_index, TOY);
    assert_eq!(&seen[0].challenge[..], &0x1234_5678u32.to_be_bytes());
    drop(seen);

    // A handler that rejects: the client's connection is aborted with its code.
    let rejecting: ClientSecurityRef = Arc::new(ManagedChallenges::new(
        toy(0x77, SecurityLevel::Auth),
        Arc::new(|_: &ChallengeInfo| Err(AbortCode(4242))),
    ));
    let now = net.now;
    let p = params(&net).security(rejecting);
    net.ep(0).begin_call(now, cs, 2, p).unwrap();
    net.ep(0)
        .send(now, cs, 2, Bytes::from_static(b"x"), false)
        .unwrap();
    let (_, term) = recv_all(&mut net, 0, cs, 2, Duration::from_secs(10));
    assert!(matches!(
        term,
        Some(Completion::LocalAbort {
            code: AbortCode(4242),
            ..
        })
    ));
}
