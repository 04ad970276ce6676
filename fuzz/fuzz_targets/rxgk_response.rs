//! Fuzz the yfs-rxgk service side: any RESPONSE body (with any key number in the header)
//! given to `verify_response` must be accepted or refused with an abort code, never panic;
//! an accepted one leaves a connection whose packet verification and protection never panic
//! either. Built with rxrpc-rxgk's `fuzzing` feature, so MACs and the nonce are not compared
//! and the decoders behind them are reachable.
//!
//! Input: byte 0 picks the CHALLENGE nonce variant, bytes 1-2 are the header's key number,
//! the rest is the RESPONSE body. Seeds: the RESPONSEs of sample-linux-rxgk.pcap.
#![no_main]

use std::sync::OnceLock;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rxrpc_proto::call::Side;
use rxrpc_proto::security::{ConnIdent, ConnSecurity};
use rxrpc_proto::wire::{ConnId, Epoch, Header, SecurityIndex, Seq, ServiceId};
use rxrpc_rxgk::RxgkServer;
use rxrpc_rxgk::clock::ManualClock;
use rxrpc_rxgk::conn::Authenticator;
use rxrpc_rxgk::krb5::{Enctype, Key};

fn server() -> &'static RxgkServer {
    static S: OnceLock<RxgkServer> = OnceLock::new();
    S.get_or_init(|| {
        // rxperf.ko's keys (bytes 00 01 02 ...), kvno 1, at the capture's time.
        let mut s = RxgkServer::new().with_clock(ManualClock::new(17_958_535_409_421_906).clock());
        for et in Enctype::ALL {
            let k = Key::new(et, &(0..et.key_len() as u8).collect::<Vec<_>>()).unwrap();
            s.add_key(1, k);
        }
        s
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&[sel, k1, k2], body)) = data.split_first_chunk::<3>() else {
        return;
    };
    let _ = Authenticator::decode(body);
    // The capture's first connection.
    let ident = ConnIdent {
        side: Side::Service,
        peer: "127.0.0.1:7009".parse().unwrap(),
        epoch: Epoch(0xd700f8df),
        cid: ConnId(0x96a5f484),
        service_id: ServiceId(147),
        security_index: SecurityIndex::YFS_RXGK,
    };
    let mut conn = server().new_rxgk_conn(&ident);
    conn.set_challenge_nonce([sel; 20]);
    let header = Header {
        epoch: ident.epoch,
        security_index: SecurityIndex::YFS_RXGK,
        cksum: u16::from_be_bytes([k1, k2]),
        ..Header::default()
    };
    let body = Bytes::copy_from_slice(body);
    if conn.verify_response(&header, body.clone()).is_ok() {
        assert!(conn.is_secure());
        let mut h = header;
        h.seq = Seq(1);
        let _ = conn.verify_packet(&h, body.slice(body.len() / 2..));
        let mut out = Vec::new();
        let _ = conn.secure_packet(&mut h, &body[..body.len().min(64)], &mut out);
        let _ = conn.data_capacity(1412);
    }
});
