//! Fuzz the rxkad service side's RESPONSE check and the client's CHALLENGE handling. Built
//! with rxrpc-rxkad's `fuzzing` feature: tickets and RESPONSE blocks are taken as plaintext
//! and checksum and nonce comparisons are skipped, so inputs reach the ticket, time, endpoint
//! and level checks. A RESPONSE that verifies must leave a connection that protects and
//! verifies packets.
#![no_main]

use std::sync::Arc;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rxrpc_proto::Side;
use rxrpc_proto::security::{ConnIdent, ConnSecurity, SecurityLevel};
use rxrpc_proto::wire::{CallNumber, Cid, ConnId, Epoch, Header, SecurityIndex, Seq, ServiceId};
use rxrpc_rxkad::{DesKey, KeyTable, ManualClock, RxkadClient, RxkadServer, RxkadToken};

/// The fixture the seed corpus was made for (rxrpc-rxkad tests/fuzz_corpus.rs).
const NOW: u64 = 1_700_000_000;
const EPOCH: u32 = 0x8765_4321;
const CONN: u32 = 0x1234_5670;

fn ident(side: Side) -> ConnIdent {
    ConnIdent {
        side,
        peer: "127.0.0.1:7000".parse().unwrap(),
        epoch: Epoch(EPOCH),
        cid: ConnId(CONN),
        service_id: ServiceId(73),
        security_index: SecurityIndex::RXKAD,
    }
}

fuzz_target!(|data: &[u8]| {
    let key = DesKey([0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]);
    let clock = Arc::new(ManualClock::new(NOW));
    let keys = Arc::new(KeyTable::from_keys([(1, key)]));
    let server = RxkadServer::new(keys, SecurityLevel::Plain).with_clock(clock.clone());
    let mut s = server.new_server_conn(&ident(Side::Service));
    s.issue_challenge_with_nonce(0);
    let hdr = Header::default();
    if let Ok(who) = s.verify_response(&hdr, Bytes::copy_from_slice(data)) {
        assert!(s.is_secure());
        assert_eq!(s.level(), who.level);
        let mut h = Header {
            epoch: Epoch(EPOCH),
            cid: Cid(CONN | 1),
            call_number: CallNumber(1),
            seq: Seq(1),
            ..Header::default()
        };
        let cap = s.data_capacity(1412);
        let payload = &data[..data.len().min(cap)];
        let mut out = Vec::new();
        let sealed = s.secure_packet(&mut h, payload, &mut out);
        match s.expired() {
            // Accepted within the 15 minutes of skew after its end, as OpenAFS does; the
            // connection's packets are refused from the start.
            Some(code) => assert_eq!(sealed, Err(code)),
            None => {
                sealed.expect("secure");
                let back = s.verify_packet(&h, Bytes::from(out)).expect("verify");
                assert_eq!(&back[..], payload);
            }
        }
    }
    // The same bytes as a CHALLENGE to a client.
    let token = RxkadToken::new(1, key, vec![0u8; 32], None, SecurityLevel::Auth);
    let client = RxkadClient::new(token).with_clock(clock);
    if let Ok(mut c) = client.new_client_conn(&ident(Side::Client)) {
        let _ = c.respond_to_challenge(&hdr, Bytes::copy_from_slice(data), [CallNumber(1); 4]);
    }
});
