//! Rough throughput of yfs-rxgk packet protection: secure + verify full 1412-byte DATA
//! packets for every enctype at levels auth and encrypt, one core.
//!
//! `cargo run --release -p rxrpc-rxgk --example rxgk_speed [MB]` (default 32 MB per case).

use std::time::Instant;

use bytes::Bytes;
use rxrpc_proto::call::Side;
use rxrpc_proto::security::{ClientSecurity, ConnIdent, SecurityLevel, ServerSecurity};
use rxrpc_proto::wire::{CallNumber, Cid, ConnId, Epoch, Header, SecurityIndex, Seq, ServiceId};
use rxrpc_rxgk::clock::Clock;
use rxrpc_rxgk::krb5::{Enctype, Key};
use rxrpc_rxgk::token::MintParams;
use rxrpc_rxgk::{RxgkClient, RxgkServer};

fn main() {
    let mb: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(32);
    let ident = |side| ConnIdent {
        side,
        peer: "127.0.0.1:7009".parse().unwrap(),
        epoch: Epoch(1),
        cid: ConnId(4),
        service_id: ServiceId(147),
        security_index: SecurityIndex::YFS_RXGK,
    };
    println!(
        "{:<28} {:>8} {:>12} {:>12}",
        "enctype", "level", "secure MB/s", "verify MB/s"
    );
    for et in Enctype::ALL {
        for level in [SecurityLevel::Auth, SecurityLevel::Encrypt] {
            let sk = Key::random(et).unwrap();
            let now = Clock::system().now();
            let tok = MintParams::new(1, level, Key::random(et).unwrap(), now, 3600)
                .mint(&sk)
                .unwrap();
            let client = RxgkClient::new(tok);
            let mut c = client.new_conn(&ident(Side::Client)).unwrap();
            let mut s = RxgkServer::new()
                .with_key(1, sk)
                .new_conn(&ident(Side::Service))
                .unwrap();
            let ch = s.issue_challenge().unwrap();
            let r = c
                .respond_to_challenge(&Header::default(), Bytes::from(ch), [CallNumber(1); 4])
                .unwrap();
            s.verify_response(&Header::default(), Bytes::from(r))
                .unwrap();
            let cap = client.data_capacity(1412);
            let data = vec![0x5au8; cap];
            let n = mb * 1_000_000 / cap;
            let mut packets = Vec::with_capacity(n.min(1024));
            let t = Instant::now();
            for i in 0..n {
                let mut h = Header {
                    epoch: Epoch(1),
                    cid: Cid(4),
                    call_number: CallNumber(1),
                    seq: Seq(i as u32 + 1),
                    security_index: SecurityIndex::YFS_RXGK,
                    ..Header::default()
                };
                let mut out = Vec::with_capacity(1412);
                c.secure_packet(&mut h, &data, &mut out).unwrap();
                if packets.len() < 1024 {
                    packets.push((h, Bytes::from(out)));
                }
            }
            let secure = t.elapsed();
            let t = Instant::now();
            let mut done = 0;
            while done < n {
                for (h, p) in &packets {
                    s.verify_packet(h, p.clone()).unwrap();
                    done += 1;
                    if done == n {
                        break;
                    }
                }
            }
            let verify = t.elapsed();
            let bytes = (n * cap) as f64 / 1e6;
            println!(
                "{:<28} {:>8} {:>12.0} {:>12.0}",
                et.name(),
                level.name(),
                bytes / secure.as_secs_f64(),
                bytes / verify.as_secs_f64()
            );
        }
    }
}
