//! Arbitrary input never panics: RESPONSEs, CHALLENGEs, DATA payloads, tickets, key files and
//! token text. Also: secure then verify is the identity for any data, header and level.

mod common;

use bytes::Bytes;
use common::*;
use proptest::prelude::*;
use rxrpc_proto::security::{ConnSecurity, SecurityLevel};
use rxrpc_proto::wire::{CallNumber, Header, JUMBO_DATALEN};
use rxrpc_rxkad::{KeyTable, RxkadToken, Ticket};

fn level() -> impl Strategy<Value = SecurityLevel> {
    prop_oneof![
        Just(SecurityLevel::Plain),
        Just(SecurityLevel::Auth),
        Just(SecurityLevel::Encrypt)
    ]
}

/// A version-2 RESPONSE envelope around arbitrary contents, so that the parser lets most of
/// them through to the ticket and block checks.
fn response_like() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<[u8; 44]>(),
        prop_oneof![Just(1u32), Just(4), Just(213), Just(256), any::<u32>()],
        proptest::collection::vec(any::<u8>(), 0..120),
    )
        .prop_map(|(mid, kvno, ticket)| {
            let mut v = vec![0, 0, 0, 2];
            v.extend_from_slice(&mid);
            v.extend_from_slice(&kvno.to_be_bytes());
            v.extend_from_slice(&(ticket.len() as u32).to_be_bytes());
            v.extend_from_slice(&ticket);
            v
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn verify_response_never_panics(
        raw in prop_oneof![proptest::collection::vec(any::<u8>(), 0..200), response_like()],
        issue in any::<bool>(),
    ) {
        let mut p = pair_with(token(SecurityLevel::Encrypt), SecurityLevel::Plain);
        if issue {
            p.server.issue_challenge_with_nonce(0);
        }
        let r = p.server.verify_response(&Header::default(), Bytes::from(raw));
        prop_assert_eq!(r.is_ok(), p.server.is_secure());
    }

    #[test]
    fn respond_to_challenge_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..40)) {
        let mut p = pair_with(token(SecurityLevel::Auth), SecurityLevel::Plain);
        let _ = p.client.respond_to_challenge(&Header::default(), Bytes::from(raw), [CallNumber(3); 4]);
    }

    #[test]
    fn verify_packet_never_panics(
        lvl in level(),
        call in any::<u32>(),
        seq in any::<u32>(),
        chan in 0u8..4,
        cksum in any::<u16>(),
        raw in proptest::collection::vec(any::<u8>(), 0..64),
        big in any::<bool>(),
    ) {
        let mut p = secure_pair(lvl);
        let mut h = data_header(call, seq, chan, true);
        h.cksum = cksum;
        let mut payload = raw;
        if big {
            payload.resize(JUMBO_DATALEN + 3, 0x5a);
        }
        let _ = p.server.verify_packet(&h, Bytes::from(payload.clone()));
        let _ = p.client.verify_packet(&h, Bytes::from(payload));
    }

    #[test]
    fn secure_verify_round_trip(
        lvl in level(),
        call in any::<u32>(),
        seq in any::<u32>(),
        chan in 0u8..4,
        len in 0usize..=1412,
        fill in any::<u8>(),
        from_client in any::<bool>(),
    ) {
        let mut p = secure_pair(lvl);
        let cap = p.client.data_capacity(JUMBO_DATALEN);
        p.server.data_capacity(JUMBO_DATALEN);
        let data: Vec<u8> = (0..len.min(cap)).map(|i| fill.wrapping_add(i as u8)).collect();
        let h = data_header(call, seq, chan, from_client);
        let (from, to): (&mut dyn ConnSecurity, &mut dyn ConnSecurity) = if from_client {
            (&mut p.client, &mut p.server)
        } else {
            (&mut p.server, &mut p.client)
        };
        let (h2, pl) = seal(from, h, &data);
        prop_assert!(pl.len() <= JUMBO_DATALEN);
        prop_assert_eq!(&to.verify_packet(&h2, pl).unwrap()[..], &data[..]);
    }

    #[test]
    fn ticket_decoding_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = Ticket::open(&raw, &cell_key());
        if let Ok(t) = Ticket::decode_plain(&raw) {
            // Whatever decodes re-encodes to a ticket that decodes the same.
            let again = t.encode_plain().unwrap();
            prop_assert_eq!(Ticket::decode_plain(&again).unwrap(), t);
        }
    }

    #[test]
    fn key_files_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = KeyTable::parse_keyfile(&raw);
        let _ = KeyTable::parse_keyfile_ext(&raw);
        // Small counts so that records are actually read.
        let mut v = vec![0, 0, 0, raw.first().copied().unwrap_or(0) % 4];
        v.extend_from_slice(&raw);
        let _ = KeyTable::parse_keyfile(&v);
        let _ = KeyTable::parse_keyfile_ext(&v);
    }

    #[test]
    fn token_text_never_panics(s in "[A-Z_=0-9a-f\n#\"' ]{0,120}") {
        let _ = RxkadToken::from_assignments(&s, SecurityLevel::Plain);
    }
}
