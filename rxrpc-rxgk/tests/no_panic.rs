//! Property tests: arbitrary bytes into every decoder and verifier never panic (they return
//! an error or, by chance, a value).

use bytes::Bytes;
use proptest::prelude::*;
use rxrpc_proto::call::Side;
use rxrpc_proto::security::*;
use rxrpc_proto::wire::*;
use rxrpc_rxgk::clock::{ManualClock, TICKS_PER_SEC};
use rxrpc_rxgk::krb5::{Enctype, Key};
use rxrpc_rxgk::token::{MintParams, RxgkToken, RxgkTokenContainer, TokenContents, open_ticket};
use rxrpc_rxgk::{RxgkClient, RxgkServer};

const T0: u64 = 1_800_000_000 * TICKS_PER_SEC;

fn ident(side: Side) -> ConnIdent {
    ConnIdent {
        side,
        peer: "127.0.0.1:7009".parse().unwrap(),
        epoch: Epoch(1),
        cid: ConnId(4),
        service_id: ServiceId(147),
        security_index: SecurityIndex::YFS_RXGK,
    }
}

fn skey() -> Key {
    Key::new(Enctype::Aes128CtsHmacSha196, &[3u8; 16]).unwrap()
}

/// A client and a server connection, the server class, the CHALLENGE and a valid RESPONSE.
type Pair = (
    Box<dyn ConnSecurity>,
    Box<dyn ConnSecurity>,
    RxgkServer,
    Vec<u8>,
    Vec<u8>,
);

/// A secured client/server pair at `level`, plus a valid RESPONSE for the server.
fn pair(level: SecurityLevel) -> Pair {
    let clock = ManualClock::new(T0);
    let tok = MintParams::new(
        1,
        level,
        Key::new(Enctype::Aes128CtsHmacSha196, &[5u8; 16]).unwrap(),
        T0,
        3600,
    )
    .mint(&skey())
    .unwrap();
    let mut c = RxgkClient::new(tok)
        .with_clock(clock.clock())
        .new_conn(&ident(Side::Client))
        .unwrap();
    let server = RxgkServer::new()
        .with_key(1, skey())
        .with_clock(clock.clock());
    let mut s = server.new_conn(&ident(Side::Service)).unwrap();
    let ch = s.issue_challenge().unwrap();
    let resp = c
        .respond_to_challenge(
            &Header::default(),
            Bytes::from(ch.clone()),
            [CallNumber(0); 4],
        )
        .unwrap();
    s.verify_response(&Header::default(), Bytes::from(resp.clone()))
        .unwrap();
    (c, s, server, ch, resp)
}

fn level_strategy() -> impl Strategy<Value = SecurityLevel> {
    prop_oneof![
        Just(SecurityLevel::Plain),
        Just(SecurityLevel::Auth),
        Just(SecurityLevel::Encrypt)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn verify_response_arbitrary(bytes in proptest::collection::vec(any::<u8>(), 0..400), cksum in any::<u16>()) {
        let (_, _, server, _, _) = pair(SecurityLevel::Auth);
        let mut s = server.new_conn(&ident(Side::Service)).unwrap();
        let _ = s.issue_challenge();
        let h = Header { cksum, ..Header::default() };
        let _ = s.verify_response(&h, Bytes::from(bytes));
    }

    #[test]
    fn verify_response_mutated(level in level_strategy(), edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4), cut in any::<usize>()) {
        let (_, _, server, ch, resp) = pair(level);
        let mut s = server.new_rxgk_conn(&ident(Side::Service));
        s.set_challenge_nonce(ch.try_into().unwrap());
        let mut r = resp;
        for (i, v) in edits {
            let n = r.len();
            r[i % n] ^= v | 1;
        }
        let keep = r.len() - cut % 8;
        r.truncate(keep);
        let _ = s.verify_response(&Header::default(), Bytes::from(r));
    }

    #[test]
    fn verify_packet_arbitrary(level in level_strategy(), bytes in proptest::collection::vec(any::<u8>(), 0..200), cksum in 0u16..4, seq in any::<u32>()) {
        let (mut c, mut s, _, _, _) = pair(level);
        let h = Header { cksum, seq: Seq(seq), security_index: SecurityIndex::YFS_RXGK, ..Header::default() };
        let _ = s.verify_packet(&h, Bytes::from(bytes.clone()));
        let _ = c.verify_packet(&h, Bytes::from(bytes));
    }

    #[test]
    fn respond_to_challenge_arbitrary(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let (mut c, _, _, _, _) = pair(SecurityLevel::Encrypt);
        let r = c.respond_to_challenge(&Header::default(), Bytes::from(bytes.clone()), [CallNumber(u32::MAX); 4]);
        prop_assert_eq!(r.is_ok(), bytes.len() >= 20);
    }

    #[test]
    fn token_decoders_arbitrary(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = TokenContents::decode(&bytes);
        let _ = RxgkTokenContainer::decode(&bytes);
        let _ = RxgkToken::decode_xdr(&bytes);
        let _ = RxgkToken::decode_key_payload(&bytes);
        let _ = open_ticket(&bytes, |_, _| Some(skey()));
    }

    #[test]
    fn token_decoders_mutated(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4)) {
        let tok = MintParams::new(1, SecurityLevel::Auth, skey(), T0, 60).mint(&skey()).unwrap();
        let mut x = tok.encode_xdr();
        for (i, v) in edits {
            let n = x.len();
            x[i % n] ^= v;
        }
        let _ = RxgkToken::decode_xdr(&x);
        let mut plain = MintParams::new(1, SecurityLevel::Auth, skey(), T0, 60).contents().encode();
        let n = plain.len();
        plain[n / 2] ^= 0xff;
        let _ = TokenContents::decode(&plain);
    }
}
