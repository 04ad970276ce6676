//! Packet-protection throughput: secure and verify full 1412-byte DATA packets at each
//! level on one core.
//!
//! ```text
//! cargo run --release -p rxrpc-rxkad --example throughput
//! ```

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use rxrpc_proto::Side;
use rxrpc_proto::security::{ClientSecurity, ConnIdent, SecurityLevel, ServerSecurity};
use rxrpc_proto::wire::{
    CallNumber, Cid, ConnId, Epoch, Header, JUMBO_DATALEN, SecurityIndex, Seq, ServiceId,
};
use rxrpc_rxkad::{DesKey, KeyTable, Lifetime, RxkadClient, RxkadServer, mint_token};

fn main() {
    let key = DesKey::from_hex("0123456789abcdef").unwrap();
    let keys = Arc::new(KeyTable::from_keys([(1, key)]));
    let ident = |side| ConnIdent {
        side,
        peer: "127.0.0.1:7000".parse().unwrap(),
        epoch: Epoch(0x8000_0001),
        cid: ConnId(0x40),
        service_id: ServiceId(1),
        security_index: SecurityIndex::RXKAD,
    };
    for level in [
        SecurityLevel::Plain,
        SecurityLevel::Auth,
        SecurityLevel::Encrypt,
    ] {
        let token = mint_token(&key, 1, "bench", "", "", Lifetime::Seconds(3600), None)
            .unwrap()
            .with_level(level);
        let mut c = RxkadClient::new(token)
            .new_conn(&ident(Side::Client))
            .unwrap();
        let mut s = RxkadServer::new(keys.clone(), SecurityLevel::Plain)
            .new_conn(&ident(Side::Service))
            .unwrap();
        let h0 = Header::default();
        let ch = s.issue_challenge().unwrap();
        let r = c
            .respond_to_challenge(&h0, Bytes::from(ch), [CallNumber(0); 4])
            .unwrap();
        s.verify_response(&h0, Bytes::from(r)).unwrap();
        let cap = c.data_capacity(JUMBO_DATALEN);
        let data = vec![0xa5u8; cap];
        let n = 200_000u32;
        let (mut t_sec, mut t_ver) = (0.0, 0.0);
        for seq in 1..=n {
            let mut h = Header {
                cid: Cid(0x40),
                call_number: CallNumber(1),
                seq: Seq(seq),
                ..Header::default()
            };
            let mut out = Vec::with_capacity(JUMBO_DATALEN);
            let t = Instant::now();
            c.secure_packet(&mut h, &data, &mut out).unwrap();
            t_sec += t.elapsed().as_secs_f64();
            let pl = Bytes::from(out);
            let t = Instant::now();
            let back = s.verify_packet(&h, pl).unwrap();
            t_ver += t.elapsed().as_secs_f64();
            assert_eq!(back.len(), cap);
        }
        let mb = f64::from(n) * cap as f64 / 1e6;
        println!(
            "{:8} data {cap:4} B/packet: secure {:7.1} MB/s ({:5.2} us/pkt), verify {:7.1} MB/s ({:5.2} us/pkt)",
            level.name(),
            mb / t_sec,
            t_sec * 1e6 / f64::from(n),
            mb / t_ver,
            t_ver * 1e6 / f64::from(n)
        );
    }
}
