//! The rxkad class through the engine's interface: handshakes at each level, packet round
//! trips, and every way a CHALLENGE, RESPONSE or DATA packet can be refused.

#![cfg(not(feature = "fuzzing"))]

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::*;
use rxrpc_proto::Side;
use rxrpc_proto::security::{ClientSecurity, ConnSecurity, SecurityLevel, ServerSecurity};
use rxrpc_proto::wire::{
    AbortCode, CallNumber, Challenge, ConnId, Epoch, Header, JUMBO_DATALEN, Response,
    RxkadChallengeV1, RxkadChallengeV2, RxkadResponseV2, SecurityIndex,
};
use rxrpc_rxkad::fcrypt::Fcrypt;
use rxrpc_rxkad::response::{ResponseBlock, open_v1, response_checksum};
use rxrpc_rxkad::{
    DesKey, KeyTable, Lifetime, ManualClock, RxkadClient, RxkadServer, RxkadToken, Ticket,
    mint_token_at,
};

const LEVELS: [SecurityLevel; 3] = [
    SecurityLevel::Plain,
    SecurityLevel::Auth,
    SecurityLevel::Encrypt,
];

fn challenge_v2(nonce: u32, min_level: u32) -> Bytes {
    let mut v = Vec::new();
    Challenge::RxkadV2(RxkadChallengeV2 {
        version: 2,
        nonce,
        min_level,
        spare: 0,
    })
    .emit(&mut v);
    Bytes::from(v)
}

#[test]
fn handshake_at_each_level_and_identity() {
    for level in LEVELS {
        let p = secure_pair(level);
        assert!(p.server.is_secure());
        assert_eq!(p.server.level(), level);
        let who = p.server.identity().unwrap();
        assert_eq!(who.name, "admin");
        assert_eq!((who.instance.as_str(), who.realm.as_str()), ("", ""));
        assert_eq!(who.kvno, 1);
        assert_eq!(who.security_index, SecurityIndex::RXKAD);
        assert_eq!(who.expires, Some(NOW - 60 + 3600));
        assert_eq!(p.server.call_numbers(), Some([0; 4]));
        assert_eq!(p.server.expired(), None);
    }
}

#[test]
fn through_the_trait_objects() {
    let clock = Arc::new(ManualClock::new(NOW));
    let client = RxkadClient::new(token(SecurityLevel::Auth)).with_clock(clock.clone());
    let server = RxkadServer::new(keys(), SecurityLevel::Auth).with_clock(clock);
    assert_eq!(client.security_index(), SecurityIndex::RXKAD);
    assert_eq!(ClientSecurity::level(&client), SecurityLevel::Auth);
    assert_eq!(server.security_index(), SecurityIndex::RXKAD);
    let mut c: Box<dyn ConnSecurity> = client.new_conn(&ident(Side::Client)).unwrap();
    let mut s: Box<dyn ConnSecurity> = server.new_conn(&ident(Side::Service)).unwrap();
    assert!(c.is_secure() && !s.is_secure());
    // Before the RESPONSE the service side refuses packets.
    let (h, pl) = seal(c.as_mut(), data_header(1, 1, 0, true), b"early");
    assert_eq!(s.verify_packet(&h, pl), Err(AbortCode::RXKADNOAUTH));
    let hdr = Header::default();
    let ch = s.issue_challenge().unwrap();
    assert_eq!(ch.len(), 16);
    assert_eq!(&ch[8..12], &1u32.to_be_bytes(), "min level");
    let r = c
        .respond_to_challenge(
            &hdr,
            Bytes::from(ch),
            [CallNumber(1), CallNumber(0), CallNumber(7), CallNumber(0)],
        )
        .unwrap();
    let who = s.verify_response(&hdr, Bytes::from(r)).unwrap();
    assert_eq!(who.level, SecurityLevel::Auth);
    let (h, pl) = seal(c.as_mut(), data_header(1, 1, 0, true), b"hello");
    assert_eq!(&s.verify_packet(&h, pl).unwrap()[..], b"hello");
    let (h, pl) = seal(s.as_mut(), data_header(1, 1, 0, false), b"world");
    assert_eq!(&c.verify_packet(&h, pl).unwrap()[..], b"world");
    // Index 3 ("always encrypt") objects announce themselves as such.
    let s3 = RxkadServer::new(keys(), SecurityLevel::Encrypt)
        .with_security_index(SecurityIndex::RXKAD_ALWAYS_ENCRYPT);
    assert_eq!(s3.security_index(), SecurityIndex::RXKAD_ALWAYS_ENCRYPT);
    assert_eq!(s3.min_level(), SecurityLevel::Encrypt);
}

#[test]
fn packet_round_trips_all_sizes_both_directions() {
    for level in LEVELS {
        let mut p = secure_pair(level);
        let cap = p.client.data_capacity(JUMBO_DATALEN);
        assert_eq!(p.server.data_capacity(JUMBO_DATALEN), cap);
        let expect_cap = match level {
            SecurityLevel::Plain => 1412,
            SecurityLevel::Auth => 1404,
            SecurityLevel::Encrypt => 1400,
        };
        assert_eq!(cap, expect_cap);
        let data: Vec<u8> = (0..cap).map(|i| (i * 7 + 3) as u8).collect();
        for len in (0..=cap).filter(|n| *n < 40 || n % 97 == 0 || *n + 9 > cap) {
            for (seq, call, chan) in [(1, 1, 0), (0x4000_0005, 0x7fff_ffff, 3), (65537, 65536, 2)] {
                for client in [true, false] {
                    let h = data_header(call, seq, chan, client);
                    let (from, to): (&mut dyn ConnSecurity, &mut dyn ConnSecurity) = if client {
                        (&mut p.client, &mut p.server)
                    } else {
                        (&mut p.server, &mut p.client)
                    };
                    let (h2, pl) = seal(from, h, &data[..len]);
                    assert_ne!(h2.cksum, 0);
                    let want = match level {
                        SecurityLevel::Plain => len,
                        _ if len == cap => JUMBO_DATALEN,
                        SecurityLevel::Auth => (4 + len).next_multiple_of(8),
                        SecurityLevel::Encrypt => (8 + len).next_multiple_of(8),
                    };
                    assert_eq!(pl.len(), want, "{level:?} len {len}");
                    let back = to.verify_packet(&h2, pl).unwrap();
                    assert_eq!(&back[..], &data[..len], "{level:?} len {len}");
                }
            }
        }
    }
}

#[test]
fn header_tampering_is_refused() {
    for level in LEVELS {
        let mut p = secure_pair(level);
        let (h, pl) = seal(&mut p.client, data_header(5, 9, 1, true), b"some data here");
        let mut flips: Vec<Header> = Vec::new();
        for bit in 0..32 {
            flips.push(Header {
                call_number: CallNumber(h.call_number.0 ^ (1 << bit)),
                ..h
            });
        }
        // The checksum covers the low 30 bits of seq.
        for bit in 0..30 {
            flips.push(Header {
                seq: rxrpc_proto::wire::Seq(h.seq.0 ^ (1 << bit)),
                ..h
            });
        }
        for bit in 0..2 {
            flips.push(Header {
                cid: rxrpc_proto::wire::Cid(h.cid.0 ^ (1 << bit)),
                ..h
            });
        }
        for bit in 0..16 {
            flips.push(Header {
                cksum: h.cksum ^ (1 << bit),
                ..h
            });
        }
        for f in flips {
            assert_eq!(
                p.server.verify_packet(&f, pl.clone()),
                Err(AbortCode::RXKADSEALEDINCON),
                "{level:?} {f:?}"
            );
        }
        assert!(p.server.verify_packet(&h, pl).is_ok());
    }
}

#[test]
fn payload_tampering() {
    // rxkad seals the first block of an auth or crypt payload (the length and the
    // (seq ^ call) tag); there is no MAC over the rest: flips there change the data (crypt:
    // garble every following block) without being detected.
    for level in [SecurityLevel::Auth, SecurityLevel::Encrypt] {
        let mut p = secure_pair(level);
        let data = b"twenty-four bytes of it.";
        let (h, pl) = seal(&mut p.client, data_header(2, 3, 0, true), data);
        for bit in 0..pl.len() * 8 {
            let mut t = pl.to_vec();
            t[bit / 8] ^= 1 << (bit % 8);
            let r = p.server.verify_packet(&h, Bytes::from(t));
            let hdr = if level == SecurityLevel::Auth { 4 } else { 8 };
            if bit / 8 >= hdr + data.len() {
                // Padding: not part of the data.
                assert_eq!(&r.unwrap()[..], &data[..], "{level:?} bit {bit}");
            } else if bit < 64 {
                assert!(
                    matches!(
                        r,
                        Err(AbortCode::RXKADSEALEDINCON | AbortCode::RXKADDATALEN)
                    ),
                    "{level:?} bit {bit}: {r:?}"
                );
            } else {
                assert_ne!(&r.unwrap()[..], &data[..], "{level:?} bit {bit}");
            }
        }
        // Truncated below a block, and no block at all.
        for n in 0..8 {
            assert_eq!(
                p.server.verify_packet(&h, pl.slice(..n)),
                Err(AbortCode::RXKADSEALEDINCON)
            );
        }
        // Cut after the first block: the sealed length no longer fits.
        assert_eq!(
            p.server.verify_packet(&h, pl.slice(..16)),
            Err(AbortCode::RXKADDATALEN)
        );
    }
    // Clear level: only the header checksum; the payload is as sent.
    let mut p = secure_pair(SecurityLevel::Plain);
    let (h, pl) = seal(&mut p.client, data_header(2, 3, 0, true), b"abc");
    assert_eq!(
        &p.server
            .verify_packet(&h, Bytes::from_static(b"xyz"))
            .unwrap()[..],
        b"xyz"
    );
    assert_eq!(
        p.server.verify_packet(&h, pl).unwrap(),
        Bytes::from_static(b"abc")
    );
}

#[test]
fn crafted_lengths_and_trailing_partial_block() {
    let mut p = secure_pair(SecurityLevel::Encrypt);
    let tok = token(SecurityLevel::Encrypt);
    let fc = Fcrypt::new(&tok.session_key.0);
    let (h, _) = seal(&mut p.client, data_header(3, 4, 0, true), b"");
    let tag = (4u32 ^ 3) & 0xffff;
    let craft = |len: u32, extra: usize| {
        let mut b = vec![0u8; 16];
        b[..4].copy_from_slice(&((tag << 16) | len).to_be_bytes());
        b[8..16].copy_from_slice(b"ABCDEFGH");
        fc.pcbc_encrypt(tok.session_key.0, &mut b);
        b.extend(std::iter::repeat_n(0xee, extra));
        Bytes::from(b)
    };
    assert_eq!(
        &p.server.verify_packet(&h, craft(8, 0)).unwrap()[..],
        b"ABCDEFGH"
    );
    assert_eq!(
        &p.server.verify_packet(&h, craft(3, 0)).unwrap()[..],
        b"ABC"
    );
    assert_eq!(
        p.server.verify_packet(&h, craft(9, 0)),
        Err(AbortCode::RXKADDATALEN)
    );
    // A partial block after the last whole one is ignored (Linux pads full packets this
    // way); it never counts towards the data.
    assert_eq!(
        &p.server.verify_packet(&h, craft(8, 5)).unwrap()[..],
        b"ABCDEFGH"
    );
    assert_eq!(
        p.server.verify_packet(&h, craft(9, 5)),
        Err(AbortCode::RXKADDATALEN)
    );
    // Wrong tag.
    let (h2, _) = seal(&mut p.client, data_header(3, 5, 0, true), b"");
    assert_eq!(
        p.server.verify_packet(&h2, craft(8, 0)),
        Err(AbortCode::RXKADSEALEDINCON)
    );
}

#[test]
fn response_refusals() {
    let h = Header::default();
    let respond = |tok: RxkadToken, min: SecurityLevel| {
        // The client answers while its token is still good in its own eyes.
        let client_now = tok.expires.map_or(NOW, |e| e - 1);
        let mut p = pair_with(tok, min);
        let ch = p.server.issue_challenge().unwrap();
        p.clock.set(client_now);
        let r = p
            .client
            .respond_to_challenge(&h, Bytes::from(ch), [CallNumber(0); 4]);
        p.clock.set(NOW);
        (p, r)
    };
    let mint = |key: DesKey, kvno: u32, start: u64, life: Lifetime| {
        mint_token_at(&key, kvno, "admin", "", "", life, None, start as u32)
            .unwrap()
            .with_level(SecurityLevel::Encrypt)
    };
    let check = |tok: RxkadToken, code: AbortCode| {
        let (mut p, r) = respond(tok, SecurityLevel::Plain);
        assert_eq!(
            p.server.verify_response(&h, Bytes::from(r.unwrap())),
            Err(code)
        );
        assert!(!p.server.is_secure());
    };
    // Sealed with the wrong key for kvno 1.
    check(
        mint(DesKey([0x5b; 8]), 1, NOW, Lifetime::Seconds(600)),
        AbortCode::RXKADBADTICKET,
    );
    // No key 2; Kerberos 5 ticket kvnos.
    for kvno in [2, 213, 256, 300, u32::MAX] {
        check(
            mint(cell_key(), kvno, NOW, Lifetime::Seconds(600)),
            AbortCode::RXKADUNKNOWNKEY,
        );
    }
    // Expired (more than 15 minutes ago), not yet valid (more than 15 minutes ahead).
    check(
        mint(cell_key(), 1, NOW - 7200, Lifetime::Seconds(3600)),
        AbortCode::RXKADEXPIRED,
    );
    check(
        mint(cell_key(), 1, NOW + 3600, Lifetime::Seconds(3600)),
        AbortCode::RXKADNOAUTH,
    );
    // Within the skew both are fine.
    let (mut p, r) = respond(
        mint(cell_key(), 1, NOW + 600, Lifetime::Seconds(3600)),
        SecurityLevel::Plain,
    );
    assert!(
        p.server
            .verify_response(&h, Bytes::from(r.unwrap()))
            .is_ok()
    );
    // Never-expiring tickets are accepted.
    let (mut p, r) = respond(
        mint(cell_key(), 1, 0, Lifetime::Never),
        SecurityLevel::Plain,
    );
    let who = p
        .server
        .verify_response(&h, Bytes::from(r.unwrap()))
        .unwrap();
    assert_eq!(who.expires, None);
    // A second key version.
    let (mut p, r) = respond(
        mint(DesKey([0x46; 8]), 4, NOW, Lifetime::Seconds(60)),
        SecurityLevel::Plain,
    );
    assert_eq!(
        p.server
            .verify_response(&h, Bytes::from(r.unwrap()))
            .unwrap()
            .kvno,
        4
    );

    // Level below the server's minimum: the client refuses the challenge itself...
    let (_, r) = respond(token(SecurityLevel::Auth), SecurityLevel::Encrypt);
    assert_eq!(r, Err(AbortCode::RXKADLEVELFAIL));
    // ...and a client that ignores the minimum is refused by the server.
    let mut p = pair_with(token(SecurityLevel::Auth), SecurityLevel::Encrypt);
    p.server.issue_challenge_with_nonce(77);
    let r = p
        .client
        .respond_to_challenge(&h, challenge_v2(77, 0), [CallNumber(0); 4])
        .unwrap();
    assert_eq!(
        p.server.verify_response(&h, Bytes::from(r)),
        Err(AbortCode::RXKADLEVELFAIL)
    );

    // A RESPONSE to another challenge.
    let mut p = pair_with(token(SecurityLevel::Plain), SecurityLevel::Plain);
    p.server.issue_challenge_with_nonce(1000);
    let r = p
        .client
        .respond_to_challenge(&h, challenge_v2(1001, 0), [CallNumber(0); 4])
        .unwrap();
    assert_eq!(
        p.server.verify_response(&h, Bytes::from(r.clone())),
        Err(AbortCode::RXKADOUTOFSEQUENCE)
    );
    // No challenge issued at all.
    let mut fresh = RxkadServer::new(keys(), SecurityLevel::Plain)
        .with_clock(Arc::new(ManualClock::new(NOW)))
        .new_server_conn(&ident(Side::Service));
    assert_eq!(
        fresh.verify_response(&h, Bytes::from(r)),
        Err(AbortCode::RXKADOUTOFSEQUENCE)
    );
}

#[test]
fn response_bound_to_the_connection() {
    let h = Header::default();
    let mut p = pair_with(token(SecurityLevel::Encrypt), SecurityLevel::Plain);
    let ch = p.server.issue_challenge_with_nonce(5);
    let r = Bytes::from(
        p.client
            .respond_to_challenge(&h, Bytes::from(ch), [CallNumber(0); 4])
            .unwrap(),
    );
    let clock = Arc::new(ManualClock::new(NOW));
    let server = RxkadServer::new(keys(), SecurityLevel::Plain).with_clock(clock);
    let mut others = vec![];
    let mut i = ident(Side::Service);
    i.epoch = Epoch(EPOCH ^ 1);
    others.push(i);
    let mut i = ident(Side::Service);
    i.cid = ConnId(CONN ^ 4);
    others.push(i);
    let mut i = ident(Side::Service);
    i.security_index = SecurityIndex::RXKAD_ALWAYS_ENCRYPT;
    others.push(i);
    for i in others {
        let mut s = server.new_server_conn(&i);
        s.issue_challenge_with_nonce(5);
        assert_eq!(
            s.verify_response(&h, r.clone()),
            Err(AbortCode::RXKADSEALEDINCON),
            "{i:?}"
        );
    }
    // Every bit of the encrypted block matters.
    for bit in 64..(48 * 8) {
        let mut t = r.to_vec();
        t[bit / 8] ^= 1 << (bit % 8);
        let mut s = server.new_server_conn(&ident(Side::Service));
        s.issue_challenge_with_nonce(5);
        assert!(s.verify_response(&h, Bytes::from(t)).is_err(), "bit {bit}");
    }
    // Bytes after the ticket are ignored (as by OpenAFS and Linux).
    let mut long = r.to_vec();
    long.extend_from_slice(&[1, 2, 3]);
    assert!(p.server.verify_response(&h, Bytes::from(long)).is_ok());
    // A duplicate RESPONSE verifies again.
    assert!(p.server.verify_response(&h, r.clone()).is_ok());
    // Truncations.
    for n in [0, 4, 55, 60, r.len() - 1] {
        let mut s = server.new_server_conn(&ident(Side::Service));
        s.issue_challenge_with_nonce(5);
        assert_eq!(
            s.verify_response(&h, r.slice(..n)),
            Err(AbortCode::RXKADPACKETSHORT),
            "{n}"
        );
    }
}

/// Build a RESPONSE by hand (to say what a well-behaved client never would).
fn forge(tok: &RxkadToken, block: ResponseBlock, ticket: Bytes) -> Bytes {
    let fc = Fcrypt::new(&tok.session_key.0);
    let mut b = block;
    b.cksum = response_checksum(2, 0, &b, tok.kvno, ticket.len() as u32);
    let mut v = Vec::new();
    Response::RxkadV2(RxkadResponseV2 {
        version: 2,
        spare: 0,
        encrypted: b.seal(&fc, &tok.session_key.0),
        kvno: tok.kvno,
        ticket,
    })
    .emit(&mut v);
    Bytes::from(v)
}

#[test]
fn forged_responses() {
    let h = Header::default();
    let tok = token(SecurityLevel::Auth);
    let block = ResponseBlock {
        epoch: EPOCH,
        cid: CONN,
        cksum: 0,
        security_index: 2,
        call_numbers: [1, 2, 3, 4],
        inc_nonce: 10,
        level: 1,
    };
    let try_ = |b: ResponseBlock, ticket: Bytes| {
        let mut p = pair_with(tok.clone(), SecurityLevel::Plain);
        p.server.issue_challenge_with_nonce(9);
        let r = p.server.verify_response(&h, forge(&tok, b, ticket));
        (r, p)
    };
    let (r, p) = try_(block, tok.ticket.clone());
    assert!(r.is_ok());
    assert_eq!(p.server.call_numbers(), Some([1, 2, 3, 4]));
    let (r, _) = try_(
        ResponseBlock {
            call_numbers: [0, 0x8000_0000, 0, 0],
            ..block
        },
        tok.ticket.clone(),
    );
    assert_eq!(r.err(), Some(AbortCode::RXKADSEALEDINCON));
    let (r, _) = try_(ResponseBlock { level: 3, ..block }, tok.ticket.clone());
    assert_eq!(r.err(), Some(AbortCode::RXKADLEVELFAIL));
    // Tickets shorter than 32 bytes.
    let short = Ticket::open(&tok.ticket, &cell_key()).unwrap();
    let mut small = short.clone();
    small.name = "a".into();
    let sealed = small.seal(&cell_key()).unwrap();
    assert_eq!(sealed.len(), 32);
    let (r, _) = try_(block, Bytes::from(sealed[..24].to_vec()));
    assert_eq!(r.err(), Some(AbortCode::RXKADTICKETLEN));
    // A ticket whose fields do not fill it.
    let mut padded = small.encode_plain().unwrap();
    padded.extend_from_slice(&[0; 16]);
    let (r, _) = try_(block, Bytes::from(padded));
    assert_eq!(r.err(), Some(AbortCode::RXKADBADTICKET));
}

#[test]
fn old_challenges_and_bad_challenges() {
    let h = Header::default();
    let mut p = pair_with(token(SecurityLevel::Auth), SecurityLevel::Plain);
    let mut v1 = Vec::new();
    Challenge::RxkadV1(RxkadChallengeV1 {
        nonce: 41,
        level: 1,
    })
    .emit(&mut v1);
    let r = p
        .client
        .respond_to_challenge(&h, Bytes::from(v1), [CallNumber(0); 4])
        .unwrap();
    let Ok(Response::RxkadV1(old)) = Response::parse(SecurityIndex::RXKAD, Bytes::from(r.clone()))
    else {
        panic!("{r:?}")
    };
    let tok = token(SecurityLevel::Auth);
    assert_eq!(
        open_v1(&Fcrypt::new(&tok.session_key.0), &old.encrypted),
        (42, 1)
    );
    assert_eq!((old.kvno, old.ticket.clone()), (1, tok.ticket.clone()));
    // This server only issues version-2 challenges and wants version-2 responses.
    p.server.issue_challenge_with_nonce(41);
    assert_eq!(
        p.server.verify_response(&h, Bytes::from(r)),
        Err(AbortCode::RXKADINCONSISTENCY)
    );
    // Old challenge asking for more than we have.
    let mut v1 = Vec::new();
    Challenge::RxkadV1(RxkadChallengeV1 {
        nonce: 41,
        level: 2,
    })
    .emit(&mut v1);
    assert_eq!(
        p.client
            .respond_to_challenge(&h, Bytes::from(v1), [CallNumber(0); 4]),
        Err(AbortCode::RXKADLEVELFAIL)
    );
    assert_eq!(
        p.client
            .respond_to_challenge(&h, challenge_v2(1, 2), [CallNumber(0); 4]),
        Err(AbortCode::RXKADLEVELFAIL)
    );
    assert_eq!(
        p.client
            .respond_to_challenge(&h, challenge_v2(1, 0).slice(..12), [CallNumber(0); 4]),
        Err(AbortCode::RXKADPACKETSHORT)
    );
    let mut v = challenge_v2(1, 0).to_vec();
    v[3] = 1;
    assert_eq!(
        p.client
            .respond_to_challenge(&h, Bytes::from(v), [CallNumber(0); 4]),
        Err(AbortCode::RXKADINCONSISTENCY)
    );
    // Call counters the server would read as negative.
    assert_eq!(
        p.client.respond_to_challenge(
            &h,
            challenge_v2(1, 0),
            [
                CallNumber(0),
                CallNumber(0x8000_0000),
                CallNumber(0),
                CallNumber(0)
            ]
        ),
        Err(AbortCode::RXKADINCONSISTENCY)
    );
}

#[test]
fn nonces() {
    let h = Header::default();
    let mut p = pair_with(token(SecurityLevel::Plain), SecurityLevel::Plain);
    let a = p.server.issue_challenge().unwrap();
    let b = p.server.issue_challenge().unwrap();
    assert_eq!(a, b, "a retransmitted challenge keeps its nonce");
    let r = p
        .client
        .respond_to_challenge(&h, Bytes::from(a.clone()), [CallNumber(0); 4])
        .unwrap();
    p.server.verify_response(&h, Bytes::from(r)).unwrap();
    let c = p.server.issue_challenge().unwrap();
    assert_ne!(a, c, "a new challenge gets a new nonce");
    assert_eq!(
        p.server.nonce(),
        Some(u32::from_be_bytes([c[4], c[5], c[6], c[7]]))
    );
}

#[test]
fn expiry() {
    let h = Header::default();
    let mut p = secure_pair(SecurityLevel::Encrypt);
    let end = NOW - 60 + 3600;
    p.clock.set(end - 1);
    assert_eq!(p.server.expired(), None);
    let (hd, pl) = seal(&mut p.client, data_header(1, 1, 0, true), b"x");
    assert!(p.server.verify_packet(&hd, pl.clone()).is_ok());
    p.clock.set(end);
    assert_eq!(p.server.expired(), Some(AbortCode::RXKADEXPIRED));
    assert_eq!(
        p.server.verify_packet(&hd, pl),
        Err(AbortCode::RXKADEXPIRED)
    );
    let mut out = Vec::new();
    let mut hd2 = data_header(1, 1, 0, false);
    assert_eq!(
        p.server.secure_packet(&mut hd2, b"y", &mut out),
        Err(AbortCode::RXKADEXPIRED)
    );
    // The client's own token has expired too.
    assert_eq!(
        p.client
            .respond_to_challenge(&h, challenge_v2(1, 0), [CallNumber(0); 4]),
        Err(AbortCode::RXKADEXPIRED)
    );
    let client = RxkadClient::new(token(SecurityLevel::Plain)).with_clock(p.clock.clone());
    assert_eq!(
        client.new_conn(&ident(Side::Client)).err(),
        Some(AbortCode::RXKADEXPIRED)
    );
    // A ticket that ended less than 15 minutes ago passes the RESPONSE check (OpenAFS's
    // clock-skew allowance), but the connection is expired from the start.
    let recent = mint_token_at(
        &cell_key(),
        1,
        "admin",
        "",
        "",
        Lifetime::Seconds(600),
        None,
        (NOW - 900) as u32,
    )
    .unwrap();
    let mut p = pair_with(recent, SecurityLevel::Plain);
    let ch = p.server.issue_challenge().unwrap();
    p.clock.set(NOW - 301);
    let r = p
        .client
        .respond_to_challenge(&h, Bytes::from(ch), [CallNumber(0); 4])
        .unwrap();
    p.clock.set(NOW);
    assert!(p.server.verify_response(&h, Bytes::from(r)).is_ok());
    assert_eq!(p.server.expired(), Some(AbortCode::RXKADEXPIRED));
    // A never-expiring connection never expires.
    let never = mint_token_at(&cell_key(), 1, "afs", "", "", Lifetime::Never, None, 0).unwrap();
    let mut p = pair_with(never, SecurityLevel::Plain);
    let ch = p.server.issue_challenge().unwrap();
    let r = p
        .client
        .respond_to_challenge(&h, Bytes::from(ch), [CallNumber(0); 4])
        .unwrap();
    p.server.verify_response(&h, Bytes::from(r)).unwrap();
    p.clock.set(u64::from(u32::MAX) + 10);
    assert_eq!(p.server.expired(), None);
}

#[test]
fn key_files_feed_the_server() {
    let dir = std::env::temp_dir().join(format!("rxkad-hs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("KeyFile"),
        KeyTable::from_keys([(1, cell_key())]).to_keyfile(),
    )
    .unwrap();
    let keys = KeyTable::load_dir(&dir).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let clock = Arc::new(ManualClock::new(NOW));
    let server = RxkadServer::new(Arc::new(keys), SecurityLevel::Plain).with_clock(clock.clone());
    let mut s = server.new_server_conn(&ident(Side::Service));
    let mut c = RxkadClient::new(token(SecurityLevel::Encrypt))
        .with_clock(clock)
        .new_client_conn(&ident(Side::Client))
        .unwrap();
    let h = Header::default();
    let ch = s.issue_challenge().unwrap();
    let r = c
        .respond_to_challenge(&h, Bytes::from(ch), [CallNumber(0); 4])
        .unwrap();
    assert_eq!(s.verify_response(&h, Bytes::from(r)).unwrap().name, "admin");
}
