//! The class end to end through the `rxrpc_proto::security` traits: handshakes at every level
//! and enctype, packets both ways, and the refusals (tampering, wrong keys, expiry, level
//! downgrade, bad key numbers), rekeying by byte budget and by lifetime.

// These tests expect integrity checks to fail; the `fuzzing` feature turns them off.
#![cfg(not(feature = "fuzzing"))]

use std::sync::Arc;

use bytes::Bytes;
use rxrpc_proto::call::Side;
use rxrpc_proto::security::*;
use rxrpc_proto::wire::*;
use rxrpc_rxgk::clock::{ManualClock, TICKS_PER_SEC};
use rxrpc_rxgk::krb5::{Enctype, Key};
use rxrpc_rxgk::token::{MintParams, RxgkToken};
use rxrpc_rxgk::{KRB5_PROG_KEYTYPE_NOSUPP, RxgkClient, RxgkServer};

const T0: u64 = 1_800_000_000 * TICKS_PER_SEC;
const EPOCH: u32 = 0x8765_4321;
const CONN: u32 = 0x0012_3440;

fn ident(side: Side) -> ConnIdent {
    ConnIdent {
        side,
        peer: "127.0.0.1:7009".parse().unwrap(),
        epoch: Epoch(EPOCH),
        cid: ConnId(CONN),
        service_id: ServiceId(147),
        security_index: SecurityIndex::YFS_RXGK,
    }
}

fn server_key(et: Enctype) -> Key {
    Key::new(
        et,
        &(0..et.key_len() as u8)
            .map(|b| b ^ 0x5a)
            .collect::<Vec<_>>(),
    )
    .unwrap()
}

struct Setup {
    clock: ManualClock,
    client: Box<dyn ConnSecurity>,
    server: Box<dyn ConnSecurity>,
    server_class: Arc<RxgkServer>,
}

fn params(et: Enctype, level: SecurityLevel) -> MintParams {
    MintParams::new(
        1,
        level,
        Key::random(et).unwrap(),
        T0 - 60 * TICKS_PER_SEC,
        3600,
    )
}

fn setup_with(
    server_et: Enctype,
    p: MintParams,
    client_level: Option<SecurityLevel>,
    app: &[u8],
) -> Setup {
    let clock = ManualClock::new(T0);
    let mut token = p.mint(&server_key(server_et)).unwrap();
    if let Some(l) = client_level {
        token.level = l;
    }
    let client = RxgkClient::new(token)
        .with_app_data(Bytes::copy_from_slice(app))
        .with_clock(clock.clock());
    let server_class = Arc::new(
        RxgkServer::new()
            .with_key(1, server_key(server_et))
            .with_clock(clock.clock()),
    );
    Setup {
        client: client.new_conn(&ident(Side::Client)).unwrap(),
        server: server_class.new_conn(&ident(Side::Service)).unwrap(),
        server_class,
        clock,
    }
}

fn setup(et: Enctype, level: SecurityLevel) -> Setup {
    setup_with(et, params(et, level), None, b"")
}

fn conn_header() -> Header {
    Header {
        epoch: Epoch(EPOCH),
        security_index: SecurityIndex::YFS_RXGK,
        service_id: ServiceId(147),
        ..Header::default()
    }
}

fn data_header(side: Side, seq: u32) -> Header {
    Header {
        epoch: Epoch(EPOCH),
        cid: Cid(CONN | 2),
        call_number: CallNumber(7),
        seq: Seq(seq),
        packet_type: PacketType::DATA,
        flags: if side == Side::Client {
            Flags::CLIENT_INITIATED
        } else {
            Flags::empty()
        },
        security_index: SecurityIndex::YFS_RXGK,
        service_id: ServiceId(147),
        ..Header::default()
    }
}

const COUNTERS: CallCounters = [CallNumber(7), CallNumber(0), CallNumber(0), CallNumber(0)];

fn handshake(s: &mut Setup) -> Result<PeerIdentity, AbortCode> {
    let ch = s.server.issue_challenge().expect("challenge");
    assert_eq!(ch.len(), 20);
    let mut hdr = conn_header();
    let resp = s
        .client
        .respond_to_challenge(&hdr, Bytes::from(ch), COUNTERS)?;
    hdr.packet_type = PacketType::RESPONSE;
    s.server.verify_response(&hdr, Bytes::from(resp))
}

/// Send `data` from `from` to `to`; returns the header cksum used and what `to` got.
fn send(
    from: &mut dyn ConnSecurity,
    to: &mut dyn ConnSecurity,
    side: Side,
    seq: u32,
    data: &[u8],
) -> Result<(u16, Bytes), AbortCode> {
    let mut h = data_header(side, seq);
    let mut wire = Vec::new();
    from.secure_packet(&mut h, data, &mut wire)?;
    let got = to.verify_packet(&h, Bytes::from(wire))?;
    Ok((h.cksum, got))
}

#[test]
fn handshake_and_packets_every_enctype_and_level() {
    for et in Enctype::ALL {
        for level in [
            SecurityLevel::Plain,
            SecurityLevel::Auth,
            SecurityLevel::Encrypt,
        ] {
            let mut s = setup_with(et, params(et, level), None, b"appdata!");
            assert!(s.client.is_secure());
            assert!(!s.server.is_secure());
            assert_eq!(s.server.data_capacity(1412), 0);
            let id = handshake(&mut s).unwrap_or_else(|e| panic!("{et} {level:?}: {e:?}"));
            assert!(s.server.is_secure());
            assert_eq!(id.level, level);
            assert_eq!(s.server.level(), level);
            assert_eq!(id.security_index, SecurityIndex::YFS_RXGK);
            assert_eq!(id.kvno, 1);
            assert_eq!(&id.app_data[..], b"appdata!");
            assert_eq!(
                id.expires,
                Some((T0 + 3540 * TICKS_PER_SEC) / TICKS_PER_SEC)
            );
            let overhead = match level {
                SecurityLevel::Plain => 0,
                SecurityLevel::Auth => et.checksum_len(),
                SecurityLevel::Encrypt => 16 + 24 + et.checksum_len(),
            };
            assert_eq!(s.client.data_capacity(1412), 1412 - overhead);
            assert_eq!(s.server.data_capacity(1412), 1412 - overhead);
            let cap = s.client.data_capacity(1412);
            for (i, n) in [0usize, 1, 15, 16, 17, 100, cap].into_iter().enumerate() {
                let data: Vec<u8> = (0..n).map(|b| b as u8).collect();
                // A full packet fills the payload exactly (jumbo sub-packets need 1412).
                let mut h = data_header(Side::Client, i as u32 + 1);
                let mut wire = Vec::new();
                s.client.secure_packet(&mut h, &data, &mut wire).unwrap();
                assert_eq!(wire.len(), n + overhead);
                assert_eq!(
                    &s.server.verify_packet(&h, Bytes::from(wire)).unwrap()[..],
                    &data[..]
                );
                let (_, back) = send(
                    &mut *s.server,
                    &mut *s.client,
                    Side::Service,
                    i as u32 + 1,
                    &data,
                )
                .unwrap();
                assert_eq!(&back[..], &data[..]);
            }
        }
    }
}

/// The capacities Linux uses (`make-rxgk-token.py decode` of the capture: 1396 data bytes +
/// 16-byte MIC at enctype 19 auth).
#[test]
fn capacities_match_linux() {
    let s = setup(Enctype::Aes128CtsHmacSha256128, SecurityLevel::Auth);
    assert_eq!(s.client.data_capacity(1412), 1396);
    let s = setup(Enctype::Aes256CtsHmacSha196, SecurityLevel::Encrypt);
    assert_eq!(s.client.data_capacity(1412), 1412 - 16 - 24 - 12);
    assert_eq!(s.client.data_capacity(10), 0);
    let c = RxgkClient::new(
        params(Enctype::Aes256CtsHmacSha196, SecurityLevel::Encrypt)
            .mint(&server_key(Enctype::Aes256CtsHmacSha196))
            .unwrap(),
    );
    assert_eq!(c.data_capacity(1412), 1360);
}

#[test]
fn tampered_packets_are_refused() {
    for level in [SecurityLevel::Auth, SecurityLevel::Encrypt] {
        let mut s = setup(Enctype::Aes256CtsHmacSha384192, level);
        handshake(&mut s).unwrap();
        let mut h = data_header(Side::Client, 3);
        let mut wire = Vec::new();
        s.client
            .secure_packet(&mut h, b"some request data", &mut wire)
            .unwrap();
        for i in 0..wire.len() {
            let mut bad = wire.clone();
            bad[i] ^= 0x40;
            assert_eq!(
                s.server.verify_packet(&h, Bytes::from(bad)),
                Err(AbortCode::RXGK_SEALEDINCON),
                "{level:?} byte {i}"
            );
        }
        // The header fields covered by the pseudo-header.
        for change in 0..4 {
            let mut h2 = h;
            match change {
                0 => h2.seq = Seq(4),
                1 => h2.call_number = CallNumber(8),
                2 => h2.cid = Cid(CONN | 1),
                _ => h2.epoch = Epoch(EPOCH ^ 1),
            }
            assert_eq!(
                s.server.verify_packet(&h2, Bytes::from(wire.clone())),
                Err(AbortCode::RXGK_SEALEDINCON),
                "{level:?} header change {change}"
            );
        }
        // Truncated.
        assert_eq!(
            s.server.verify_packet(&h, Bytes::from(wire[..5].to_vec())),
            Err(AbortCode::RXGK_SEALEDINCON)
        );
        // Our own direction's packet looped back is not accepted (other usage).
        assert_eq!(
            s.client.verify_packet(&h, Bytes::from(wire.clone())),
            Err(AbortCode::RXGK_SEALEDINCON)
        );
        assert_eq!(
            &s.server.verify_packet(&h, Bytes::from(wire)).unwrap()[..],
            b"some request data"
        );
    }
}

#[test]
fn wrong_server_key_and_unknown_kvno() {
    let et = Enctype::Aes256CtsHmacSha196;
    // Same (kvno, enctype), other key bytes: the ticket does not decrypt.
    let mut s = setup(et, SecurityLevel::Encrypt);
    let wrong = RxgkServer::new()
        .with_key(1, Key::new(et, &[1u8; 32]).unwrap())
        .with_clock(s.clock.clock());
    s.server = wrong.new_conn(&ident(Side::Service)).unwrap();
    assert_eq!(handshake(&mut s), Err(AbortCode::RXGK_SEALEDINCON));
    // No key for the ticket's kvno.
    let mut p = params(et, SecurityLevel::Encrypt);
    p.kvno = 2;
    let mut s = setup_with(et, p, None, b"");
    assert_eq!(handshake(&mut s), Err(AbortCode::RXGK_NOTAUTH));
    assert!(!s.server.is_secure());
    // A RESPONSE to another connection's CHALLENGE (nonce mismatch).
    let mut s1 = setup(et, SecurityLevel::Auth);
    let _ = s1.server.issue_challenge();
    let mut other = s1.server_class.new_conn(&ident(Side::Service)).unwrap();
    let ch = other.issue_challenge().unwrap();
    let resp = s1
        .client
        .respond_to_challenge(&conn_header(), Bytes::from(ch), COUNTERS)
        .unwrap();
    assert!(
        s1.server
            .verify_response(&conn_header(), Bytes::from(resp.clone()))
            .is_err()
    );
    assert!(
        other
            .verify_response(&conn_header(), Bytes::from(resp))
            .is_ok()
    );
}

#[test]
fn expired_tokens() {
    let et = Enctype::Aes128CtsHmacSha196;
    // Client side: no connection with an expired token.
    let clock = ManualClock::new(T0 + 7200 * TICKS_PER_SEC);
    let tok = params(et, SecurityLevel::Auth)
        .mint(&server_key(et))
        .unwrap();
    let c = RxgkClient::new(tok).with_clock(clock.clock());
    assert_eq!(
        c.new_conn(&ident(Side::Client)).err(),
        Some(AbortCode::RXGK_EXPIRED)
    );

    // Server side: the ticket expired before the RESPONSE.
    let mut s = setup(et, SecurityLevel::Auth);
    let ch = s.server.issue_challenge().unwrap();
    let resp = s
        .client
        .respond_to_challenge(&conn_header(), Bytes::from(ch), COUNTERS)
        .unwrap();
    s.clock.advance_secs(3600);
    assert_eq!(
        s.server.verify_response(&conn_header(), Bytes::from(resp)),
        Err(AbortCode::RXGK_EXPIRED)
    );

    // A connection outliving its token.
    let mut s = setup(et, SecurityLevel::Encrypt);
    handshake(&mut s).unwrap();
    assert_eq!(s.server.expired(), None);
    send(&mut *s.client, &mut *s.server, Side::Client, 1, b"x").unwrap();
    s.clock.advance_secs(3600);
    assert_eq!(s.server.expired(), Some(AbortCode::RXGK_EXPIRED));
    assert_eq!(s.client.expired(), Some(AbortCode::RXGK_EXPIRED));
    let mut out = Vec::new();
    assert_eq!(
        s.client
            .secure_packet(&mut data_header(Side::Client, 2), b"x", &mut out),
        Err(AbortCode::RXGK_EXPIRED)
    );
    assert_eq!(
        s.client
            .respond_to_challenge(&conn_header(), Bytes::from(vec![0u8; 20]), COUNTERS),
        Err(AbortCode::RXGK_EXPIRED)
    );
}

#[test]
fn level_downgrade_refused() {
    let et = Enctype::Aes256CtsHmacSha196;
    // Ticket sealed at auth, client claims encrypt (and the reverse): Linux says RXGK_NOTAUTH.
    for (ticket, claimed) in [
        (SecurityLevel::Auth, SecurityLevel::Encrypt),
        (SecurityLevel::Encrypt, SecurityLevel::Plain),
    ] {
        let mut s = setup_with(et, params(et, ticket), Some(claimed), b"");
        assert_eq!(handshake(&mut s), Err(AbortCode::RXGK_NOTAUTH));
        assert!(!s.server.is_secure());
    }
    // A server that wants at least auth refuses a plain ticket.
    let mut s = setup(et, SecurityLevel::Plain);
    let strict = RxgkServer::new()
        .with_key(1, server_key(et))
        .with_min_level(SecurityLevel::Auth)
        .with_clock(s.clock.clock());
    s.server = strict.new_conn(&ident(Side::Service)).unwrap();
    assert_eq!(handshake(&mut s), Err(AbortCode::RXGK_BADLEVEL));
    // ... and accepts encrypt.
    let mut s = setup(et, SecurityLevel::Encrypt);
    s.server = strict.new_conn(&ident(Side::Service)).unwrap();
    assert_eq!(handshake(&mut s).unwrap().level, SecurityLevel::Encrypt);
}

#[test]
fn rekey_after_byte_budget_both_sides_follow() {
    for level in [SecurityLevel::Auth, SecurityLevel::Encrypt] {
        let et = Enctype::Aes128CtsHmacSha256128;
        let mut p = params(et, level);
        p.bytelife = 12; // 4096 bytes per key
        let mut s = setup_with(et, p, None, b"");
        handshake(&mut s).unwrap();
        let data = vec![0xabu8; 1000];
        let mut keys = Vec::new();
        for seq in 1..=20 {
            let (k, got) = send(&mut *s.client, &mut *s.server, Side::Client, seq, &data).unwrap();
            assert_eq!(&got[..], &data[..]);
            keys.push(k);
        }
        // A key is used until the bytes sent under it exceed 4096: the packet that overdraws
        // still goes out under it, the next one under the next key.
        let per_packet = match level {
            SecurityLevel::Auth => 1000 + 16,
            _ => 1000 + 16 + 24 + 16,
        };
        let last_old = 4096 / per_packet; // index of the overdrawing packet
        for (i, k) in keys.iter().enumerate().take(last_old + 2) {
            assert_eq!(
                *k,
                u16::from(i > last_old),
                "{level:?} packet {i}: {keys:?}"
            );
        }
        let last = *keys.last().unwrap();
        assert!(last >= 3, "{keys:?}");
        // The server followed: its replies use the client's current key, which the client
        // accepts.
        let (k, got) = send(&mut *s.server, &mut *s.client, Side::Service, 1, b"reply").unwrap();
        assert_eq!(k, last);
        assert_eq!(&got[..], b"reply");
        // Key numbers too far behind or ahead are refused outright.
        let mut h = data_header(Side::Service, 2);
        h.cksum = 2;
        let mut c2 = setup_with(et, params(et, level), None, b"");
        handshake(&mut c2).unwrap();
        let mut wire = Vec::new();
        c2.server.secure_packet(&mut h, b"x", &mut wire).unwrap();
        h.cksum = last.wrapping_sub(65);
        assert_eq!(
            s.client.verify_packet(&h, Bytes::from(wire.clone())),
            Err(AbortCode::RXGK_BADKEYNO)
        );
        h.cksum = last.wrapping_add(65);
        assert_eq!(
            s.client.verify_packet(&h, Bytes::from(wire)),
            Err(AbortCode::RXGK_BADKEYNO)
        );
    }
}

#[test]
fn previous_key_still_accepted_and_forged_next_key_does_not_rekey() {
    let et = Enctype::Aes256CtsHmacSha196;
    let mut p = params(et, SecurityLevel::Auth);
    p.bytelife = 11; // 2048 bytes
    let mut s = setup_with(et, p, None, b"");
    handshake(&mut s).unwrap();
    // Packets secured under key 0, delivered after the client moved to key 1.
    let mut late = Vec::new();
    for seq in 1..=2 {
        let mut h = data_header(Side::Client, seq);
        let mut w = Vec::new();
        s.client
            .secure_packet(&mut h, &[1u8; 1200], &mut w)
            .unwrap();
        assert_eq!(h.cksum, 0);
        late.push((h, w));
    }
    let (k, _) = send(&mut *s.client, &mut *s.server, Side::Client, 3, b"new").unwrap();
    assert_eq!(k, 1);
    for (h, w) in late {
        assert!(s.server.verify_packet(&h, Bytes::from(w)).is_ok());
    }
    // A forged packet claiming key 2 neither verifies nor moves the server on.
    let mut h = data_header(Side::Client, 9);
    h.cksum = 2;
    assert_eq!(
        s.server.verify_packet(&h, Bytes::from(vec![0u8; 40])),
        Err(AbortCode::RXGK_SEALEDINCON)
    );
    let (k, _) = send(&mut *s.server, &mut *s.client, Side::Service, 1, b"r").unwrap();
    assert_eq!(k, 1);
}

#[test]
fn rekey_after_lifetime() {
    let et = Enctype::Camellia128CtsCmac;
    let mut p = params(et, SecurityLevel::Encrypt);
    p.lifetime = 30;
    let mut s = setup_with(et, p, None, b"");
    handshake(&mut s).unwrap();
    assert_eq!(
        send(&mut *s.client, &mut *s.server, Side::Client, 1, b"a")
            .unwrap()
            .0,
        0
    );
    s.clock.advance_secs(29);
    assert_eq!(
        send(&mut *s.client, &mut *s.server, Side::Client, 2, b"b")
            .unwrap()
            .0,
        0
    );
    s.clock.advance_secs(2);
    assert_eq!(
        send(&mut *s.client, &mut *s.server, Side::Client, 3, b"c")
            .unwrap()
            .0,
        1
    );
    // The server's own key 0 context expired too; it sends under the key it followed to.
    assert_eq!(
        send(&mut *s.server, &mut *s.client, Side::Service, 1, b"d")
            .unwrap()
            .0,
        1
    );
}

#[test]
fn challenge_and_response_edge_cases() {
    let et = Enctype::Aes256CtsHmacSha196;
    let mut s = setup(et, SecurityLevel::Auth);
    // A short CHALLENGE.
    assert_eq!(
        s.client
            .respond_to_challenge(&conn_header(), Bytes::from(vec![0u8; 19]), COUNTERS),
        Err(AbortCode::RXGK_PACKETSHORT)
    );
    // The server keeps its nonce across retransmissions.
    let a = s.server.issue_challenge().unwrap();
    assert_eq!(s.server.issue_challenge().unwrap(), a);
    // A client connection issues no challenges and verifies no responses.
    assert!(s.client.issue_challenge().is_none());
    assert!(
        s.client
            .verify_response(&conn_header(), Bytes::new())
            .is_err()
    );
    // Data before the RESPONSE is refused.
    let mut out = Vec::new();
    assert_eq!(
        s.server
            .secure_packet(&mut data_header(Side::Service, 1), b"x", &mut out),
        Err(AbortCode::RXGK_NOTAUTH)
    );
    // Short RESPONSEs.
    for n in [0usize, 8, 12, 20] {
        assert_eq!(
            s.server
                .verify_response(&conn_header(), Bytes::from(vec![0u8; n])),
            Err(AbortCode::RXGK_PACKETSHORT),
            "{n}"
        );
    }
    // Call counters may not go backwards between RESPONSEs.
    let resp = s
        .client
        .respond_to_challenge(&conn_header(), Bytes::from(a.clone()), COUNTERS)
        .unwrap();
    s.server
        .verify_response(&conn_header(), Bytes::from(resp))
        .unwrap();
    let older = [CallNumber(6), CallNumber(0), CallNumber(0), CallNumber(0)];
    let resp = s
        .client
        .respond_to_challenge(&conn_header(), Bytes::from(a), older)
        .unwrap();
    assert_eq!(
        s.server.verify_response(&conn_header(), Bytes::from(resp)),
        Err(AbortCode::RXGK_NOTAUTH)
    );
}

#[test]
fn unsupported_session_key_enctype() {
    // A ticket whose K0 enctype is unknown: the Linux server aborts with
    // KRB5_PROG_KEYTYPE_NOSUPP. Build one by hand (enctype 23, rc4).
    use rxrpc_rxgk::token::RxgkTokenContainer;
    let et = Enctype::Aes256CtsHmacSha196;
    let mut plain = Vec::new();
    plain.extend_from_slice(&23u32.to_be_bytes());
    plain.extend_from_slice(&16u32.to_be_bytes());
    plain.extend_from_slice(&[7u8; 16]);
    plain.extend_from_slice(&[0u8; 4 + 8 + 4 + 4 + 8 + 4]);
    let sealed = server_key(et).encrypt(1036, &plain).unwrap();
    let ticket = RxgkTokenContainer {
        kvno: 1,
        enctype: 18,
        encrypted: Bytes::from(sealed),
    }
    .encode();
    let good = params(et, SecurityLevel::Plain)
        .mint(&server_key(et))
        .unwrap();
    let token = RxgkToken {
        ticket: Bytes::from(ticket),
        ..good
    };
    let clock = ManualClock::new(T0);
    let mut c = RxgkClient::new(token)
        .with_clock(clock.clock())
        .new_conn(&ident(Side::Client))
        .unwrap();
    let server = RxgkServer::new()
        .with_key(1, server_key(et))
        .with_clock(clock.clock());
    let mut sv = server.new_conn(&ident(Side::Service)).unwrap();
    let ch = sv.issue_challenge().unwrap();
    let resp = c
        .respond_to_challenge(&conn_header(), Bytes::from(ch), COUNTERS)
        .unwrap();
    assert_eq!(
        sv.verify_response(&conn_header(), Bytes::from(resp)),
        Err(KRB5_PROG_KEYTYPE_NOSUPP)
    );
}

/// The engine secures every transmission; retransmissions (a seq already secured on that
/// channel) are not charged to the byte budget, so they do not force rekeying.
#[test]
fn retransmissions_are_not_charged() {
    let et = Enctype::Aes256CtsHmacSha196;
    let mut p = params(et, SecurityLevel::Encrypt);
    p.bytelife = 12;
    let mut s = setup_with(et, p, None, b"");
    handshake(&mut s).unwrap();
    for _ in 0..20 {
        let (k, _) = send(
            &mut *s.client,
            &mut *s.server,
            Side::Client,
            1,
            &[0u8; 1000],
        )
        .unwrap();
        assert_eq!(k, 0);
    }
    // New packets are charged.
    let keys: Vec<u16> = (2..10)
        .map(|seq| {
            send(
                &mut *s.client,
                &mut *s.server,
                Side::Client,
                seq,
                &[0u8; 1000],
            )
            .unwrap()
            .0
        })
        .collect();
    assert_eq!(keys, [0, 0, 0, 1, 1, 1, 1, 2]);
}

/// A retransmission goes out under the key number its packet was first sent with (as Linux
/// resends the same bytes), even after the connection moved on.
#[test]
fn retransmissions_keep_their_key_number() {
    let et = Enctype::Aes128CtsHmacSha256128;
    let mut p = params(et, SecurityLevel::Auth);
    p.bytelife = 12;
    let mut s = setup_with(et, p, None, b"");
    handshake(&mut s).unwrap();
    let keys: Vec<u16> = (1..=10)
        .map(|seq| {
            send(
                &mut *s.client,
                &mut *s.server,
                Side::Client,
                seq,
                &[1u8; 1000],
            )
            .unwrap()
            .0
        })
        .collect();
    assert_eq!(keys, [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
    for seq in 1..=10u32 {
        let (k, got) = send(
            &mut *s.client,
            &mut *s.server,
            Side::Client,
            seq,
            &[1u8; 1000],
        )
        .unwrap();
        assert_eq!(k, keys[seq as usize - 1], "seq {seq}");
        assert_eq!(got.len(), 1000);
    }
    // New packets continue under the current key.
    assert_eq!(
        send(&mut *s.client, &mut *s.server, Side::Client, 11, b"x")
            .unwrap()
            .0,
        2
    );
}

/// App data given at CHALLENGE time (the engine's managed-challenge path) replaces the
/// credentials' own and reaches the server's identity.
#[test]
fn app_data_at_challenge_time() {
    let et = Enctype::Aes256CtsHmacSha196;
    let mut s = setup_with(et, params(et, SecurityLevel::Auth), None, b"default");
    let ch = s.server.issue_challenge().unwrap();
    let resp = s
        .client
        .respond_with_app_data(&conn_header(), Bytes::from(ch), COUNTERS, b"from the app")
        .unwrap();
    let id = s
        .server
        .verify_response(&conn_header(), Bytes::from(resp))
        .unwrap();
    assert_eq!(&id.app_data[..], b"from the app");
    assert_eq!(
        s.client
            .respond_with_app_data(
                &conn_header(),
                Bytes::from(vec![0u8; 20]),
                COUNTERS,
                &[0u8; 2000]
            )
            .err(),
        Some(AbortCode::RX_INVALID_OPERATION)
    );
}
