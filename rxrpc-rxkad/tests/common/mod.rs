//! Shared fixtures: a cell key, tokens and both ends of one connection.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use bytes::Bytes;
use rxrpc_proto::Side;
use rxrpc_proto::security::{ConnIdent, ConnSecurity, SecurityLevel};
use rxrpc_proto::wire::{
    CallNumber, Cid, ConnId, Epoch, Flags, Header, PacketType, SecurityIndex, Seq, Serial,
    ServiceId,
};
use rxrpc_rxkad::{
    DesKey, KeyTable, Lifetime, ManualClock, RxkadClient, RxkadClientConn, RxkadServer,
    RxkadServerConn, RxkadToken, mint_token_at,
};

/// 2023-11-14T22:13:20Z.
pub const NOW: u64 = 1_700_000_000;
pub const EPOCH: u32 = 0x8765_4321;
pub const CONN: u32 = 0x1234_5670;

pub fn cell_key() -> DesKey {
    DesKey::from_hex("0123456789abcdef").unwrap()
}

pub fn keys() -> Arc<KeyTable> {
    Arc::new(KeyTable::from_keys([
        (1, cell_key()),
        (4, DesKey([0x46; 8])),
    ]))
}

pub fn ident(side: Side) -> ConnIdent {
    ConnIdent {
        side,
        peer: "127.0.0.1:7000".parse().unwrap(),
        epoch: Epoch(EPOCH),
        cid: ConnId(CONN),
        service_id: ServiceId(73),
        security_index: SecurityIndex::RXKAD,
    }
}

/// A one-hour token for admin starting a minute before [`NOW`].
pub fn token(level: SecurityLevel) -> RxkadToken {
    mint_token_at(
        &cell_key(),
        1,
        "admin",
        "",
        "",
        Lifetime::Seconds(3600),
        Some(DesKey([0x3d; 8]).with_odd_parity()),
        (NOW - 60) as u32,
    )
    .unwrap()
    .with_level(level)
}

pub struct Pair {
    pub clock: Arc<ManualClock>,
    pub client: RxkadClientConn,
    pub server: RxkadServerConn,
}

/// Both ends of a connection, not yet authenticated.
pub fn pair_with(token: RxkadToken, min: SecurityLevel) -> Pair {
    // The client connection is made while the token is good in the client's eyes.
    let clock = Arc::new(ManualClock::new(
        token.expires.map_or(NOW, |e| e.min(NOW + 1) - 1),
    ));
    let client = RxkadClient::new(token).with_clock(clock.clone());
    let server = RxkadServer::new(keys(), min).with_clock(clock.clone());
    let client = client.new_client_conn(&ident(Side::Client)).unwrap();
    clock.set(NOW);
    Pair {
        client,
        server: server.new_server_conn(&ident(Side::Service)),
        clock,
    }
}

/// Both ends after a successful handshake.
pub fn secure_pair(level: SecurityLevel) -> Pair {
    let mut p = pair_with(token(level), SecurityLevel::Plain);
    let h = Header::default();
    let ch = p.server.issue_challenge().unwrap();
    let resp = p
        .client
        .respond_to_challenge(&h, Bytes::from(ch), [CallNumber(0); 4])
        .unwrap();
    let who = p.server.verify_response(&h, Bytes::from(resp)).unwrap();
    assert_eq!(who.level, level);
    p
}

pub fn data_header(call: u32, seq: u32, channel: u8, client: bool) -> Header {
    Header {
        epoch: Epoch(EPOCH),
        cid: Cid(CONN | u32::from(channel)),
        call_number: CallNumber(call),
        seq: Seq(seq),
        serial: Serial(seq + 100),
        packet_type: PacketType::DATA,
        flags: if client {
            Flags::CLIENT_INITIATED
        } else {
            Flags::empty()
        },
        user_status: 0,
        security_index: SecurityIndex::RXKAD,
        cksum: 0,
        service_id: ServiceId(73),
    }
}

/// Secure `data` with `from` and return the header and payload.
pub fn seal(from: &mut dyn ConnSecurity, mut h: Header, data: &[u8]) -> (Header, Bytes) {
    let mut out = Vec::new();
    from.secure_packet(&mut h, data, &mut out).unwrap();
    (h, Bytes::from(out))
}
