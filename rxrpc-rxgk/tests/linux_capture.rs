//! Known answers from real traffic: `testdata/captures/sample-linux-rxgk.pcap`, a Linux 7.3
//! kernel yfs-rxgk client talking to the kernel's rxperf.ko server (enctype 18 at level
//! encrypt, enctype 19 at level auth), both with rxperf.ko's compiled-in server keys
//! (`make-rxgk-token.py rxperf-key --enctype 18|19`: bytes 00 01 02 ..., kvno 1) and fixed
//! session keys K0 (`00..0042`, `00..0019`).
//!
//! Each RESPONSE is verified by [`RxgkServer`] (with the CHALLENGE's nonce), then every yfs-rxgk
//! DATA (sub)packet is verified by the receiving side's [`RxgkConn`]: client packets by the
//! service connection that accepted the RESPONSE, server packets by a client connection made
//! from the same K0 and start time. AUTH packets are then re-secured from their plaintext and
//! must equal the captured bytes (MICs are deterministic); ENCRYPT packets are re-encrypted
//! with the confounder recovered from the decryption and must equal the captured bytes too.

// These tests expect integrity checks to fail; the `fuzzing` feature turns them off.
#![cfg(not(feature = "fuzzing"))]

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use bytes::Bytes;
use etherparse::{SlicedPacket, TransportSlice};
use pcap_file::DataLink;
use pcap_file::pcap::PcapReader;
use rxrpc_proto::call::Side;
use rxrpc_proto::security::{ConnIdent, ConnSecurity, SecurityLevel};
use rxrpc_proto::wire::{Data, Epoch, Flags, HEADER_LEN, Header, PacketType, SecurityIndex};
use rxrpc_rxgk::clock::ManualClock;
use rxrpc_rxgk::conn::transport_key;
use rxrpc_rxgk::krb5::{Enctype, Key};
use rxrpc_rxgk::token::RxgkToken;
use rxrpc_rxgk::{
    RXGK_CLIENT_ENC_PACKET, RXGK_SERVER_ENC_PACKET, RxgkClient, RxgkConn, RxgkServer,
};

fn udp_payloads(path: &Path) -> Vec<Vec<u8>> {
    let file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = PcapReader::new(file).expect("pcap header");
    let link = reader.header().datalink;
    let mut out = Vec::new();
    while let Some(pkt) = reader.next_packet() {
        let pkt = pkt.expect("pcap record");
        let sliced = match link {
            DataLink::ETHERNET => SlicedPacket::from_ethernet(&pkt.data),
            DataLink::LINUX_SLL => SlicedPacket::from_linux_sll(&pkt.data),
            _ => SlicedPacket::from_ip(&pkt.data),
        }
        .expect("frame");
        if let Some(TransportSlice::Udp(udp)) = &sliced.transport {
            out.push(udp.payload().to_vec());
        }
    }
    out
}

fn k0_for(et: Enctype) -> Key {
    let mut b = vec![0u8; et.key_len()];
    let last = b.len() - 1;
    b[last] = match et {
        Enctype::Aes256CtsHmacSha196 => 0x42,
        Enctype::Aes128CtsHmacSha256128 => 0x19,
        _ => unreachable!(),
    };
    Key::new(et, &b).unwrap()
}

fn rxperf_key(et: Enctype) -> Key {
    Key::new(et, &(0..et.key_len() as u8).collect::<Vec<_>>()).unwrap()
}

struct ConnState {
    server: RxgkConn,
    client: Option<RxgkConn>,
    level: SecurityLevel,
    k0: Key,
    start_time: u64,
    epoch: u32,
    conn_id: u32,
}

fn ident(side: Side, h: &Header) -> ConnIdent {
    ConnIdent {
        side,
        peer: "127.0.0.1:7009".parse().unwrap(),
        epoch: h.epoch,
        cid: h.cid.conn_id(),
        service_id: h.service_id,
        security_index: h.security_index,
    }
}

#[test]
fn linux_rxgk_capture_verifies_and_reencodes() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/captures/sample-linux-rxgk.pcap");
    let packets: Vec<(Header, Bytes)> = udp_payloads(&path)
        .into_iter()
        .filter_map(|p| {
            let h = Header::parse(&p).ok()?;
            (h.security_index == SecurityIndex::YFS_RXGK)
                .then(|| (h, Bytes::copy_from_slice(&p[HEADER_LEN..])))
        })
        .collect();
    // The token was valid at capture time: run the server's clock at the token's start.
    let clock = ManualClock::new(17_958_535_409_421_906);
    let server = RxgkServer::new()
        .with_key(1, rxperf_key(Enctype::Aes256CtsHmacSha196))
        .with_key(1, rxperf_key(Enctype::Aes128CtsHmacSha256128))
        .with_clock(clock.clock());

    // Pass 1: CHALLENGE / RESPONSE.
    let mut nonces: BTreeMap<(u32, u32), [u8; 20]> = BTreeMap::new();
    let mut conns: BTreeMap<(u32, u32), ConnState> = BTreeMap::new();
    let mut responses = 0;
    for (h, body) in &packets {
        let key = (h.epoch.0, h.cid.conn_id().0);
        if h.packet_type == PacketType::CHALLENGE {
            nonces.insert(key, body[..20].try_into().unwrap());
        } else if h.packet_type == PacketType::RESPONSE {
            let mut s = server.new_rxgk_conn(&ident(Side::Service, h));
            s.set_challenge_nonce(nonces[&key]);
            assert!(!s.is_secure());
            let id = s
                .verify_response(h, body.clone())
                .expect("captured RESPONSE verifies");
            assert!(s.is_secure());
            assert_eq!(id.kvno, 1);
            assert_eq!(id.security_index, SecurityIndex::YFS_RXGK);
            assert!(id.app_data.is_empty());
            // The tokens expired an hour after they were minted (2026-11-28).
            let expires = id.expires.expect("token expires");
            assert!(
                (1_795_857_140..=1_795_857_142).contains(&expires),
                "{expires}"
            );
            let enctype = if id.level == SecurityLevel::Encrypt {
                Enctype::Aes256CtsHmacSha196
            } else {
                Enctype::Aes128CtsHmacSha256128
            };
            // The same RESPONSE with another nonce, or the wrong server key, is refused.
            let mut other = server.new_rxgk_conn(&ident(Side::Service, h));
            other.set_challenge_nonce([0; 20]);
            assert_eq!(
                other.verify_response(h, body.clone()),
                Err(rxrpc_proto::wire::AbortCode::RXGK_NOTAUTH)
            );
            let wrong = RxgkServer::new()
                .with_key(
                    1,
                    Key::new(enctype, &vec![0x55; enctype.key_len()]).unwrap(),
                )
                .with_clock(clock.clock());
            let mut w = wrong.new_rxgk_conn(&ident(Side::Service, h));
            w.set_challenge_nonce(nonces[&key]);
            assert_eq!(
                w.verify_response(h, body.clone()),
                Err(rxrpc_proto::wire::AbortCode::RXGK_SEALEDINCON)
            );

            let start_time = u64::from_be_bytes(body[..8].try_into().unwrap());
            assert_eq!(s.start_time(), start_time);
            conns.insert(
                key,
                ConnState {
                    server: s,
                    client: None,
                    level: id.level,
                    k0: k0_for(enctype),
                    start_time,
                    epoch: h.epoch.0,
                    conn_id: h.cid.conn_id().0,
                },
            );
            responses += 1;
        }
    }
    assert_eq!(responses, 2);

    // The client side of each connection, from the known K0 and the RESPONSE's start time.
    for (key, st) in conns.iter_mut() {
        let token = RxgkToken {
            begin: 0,
            end: 0,
            level: st.level,
            lifetime: 0,
            bytelife: 0,
            k0: st.k0.clone(),
            ticket: Bytes::new(),
        };
        let h = Header {
            epoch: Epoch(key.0),
            cid: rxrpc_proto::wire::Cid(key.1),
            security_index: SecurityIndex::YFS_RXGK,
            service_id: rxrpc_proto::wire::ServiceId(147),
            ..Header::default()
        };
        let mut c = RxgkClient::new(token)
            .with_clock(clock.clock())
            .new_rxgk_conn(&ident(Side::Client, &h))
            .unwrap();
        c.set_start_time(st.start_time);
        st.client = Some(c);
    }

    // Pass 2: every DATA (sub)packet.
    let mut verified = BTreeMap::<(SecurityLevel, bool), usize>::new();
    let mut reencoded = 0;
    let mut no_response = 0;
    for (h, body) in &packets {
        if h.packet_type != PacketType::DATA {
            continue;
        }
        let key = (h.epoch.0, h.cid.conn_id().0);
        let Some(st) = conns.get_mut(&key) else {
            no_response += 1;
            continue;
        };
        let data = Data::parse(h, body.clone()).expect("DATA");
        for (sh, payload) in data.subpackets(h) {
            let from_client = sh.flags.contains(Flags::CLIENT_INITIATED);
            let receiver = if from_client {
                &mut st.server
            } else {
                st.client.as_mut().unwrap()
            };
            let plain = receiver
                .verify_packet(&sh, payload.clone())
                .unwrap_or_else(|e| panic!("seq {} from client={from_client}: {e:?}", sh.seq.0));
            *verified.entry((st.level, from_client)).or_default() += 1;

            // Tampering with any byte is caught.
            let mut bad = payload.to_vec();
            let mid = bad.len() / 2;
            bad[mid] ^= 0x01;
            assert_eq!(
                receiver.verify_packet(&sh, Bytes::from(bad)),
                Err(rxrpc_proto::wire::AbortCode::RXGK_SEALEDINCON)
            );

            match st.level {
                SecurityLevel::Auth => {
                    // Re-secure the plaintext with the sender's state: byte-identical.
                    let sender = if from_client {
                        st.client.as_mut().unwrap()
                    } else {
                        &mut st.server
                    };
                    let mut h2 = sh;
                    h2.cksum = 0xffff;
                    let mut out = Vec::new();
                    sender.secure_packet(&mut h2, &plain, &mut out).unwrap();
                    assert_eq!(h2.cksum, sh.cksum);
                    assert_eq!(out, payload.to_vec(), "AUTH seq {} re-secured", sh.seq.0);
                    reencoded += 1;
                }
                SecurityLevel::Encrypt => {
                    // Recover the confounder, re-encrypt: byte-identical.
                    let tk = transport_key(
                        &st.k0,
                        st.epoch,
                        st.conn_id,
                        st.start_time,
                        u32::from(sh.cksum),
                    );
                    let usage = if from_client {
                        RXGK_CLIENT_ENC_PACKET
                    } else {
                        RXGK_SERVER_ENC_PACKET
                    };
                    let ek = tk.encryption(usage);
                    let mut buf = payload.to_vec();
                    let range = ek.decrypt_in_place(&mut buf).unwrap();
                    let conf: [u8; 16] = buf[..16].try_into().unwrap();
                    let mut again = Vec::new();
                    ek.encrypt_parts_into(&conf, &[&buf[range]], &mut again);
                    assert_eq!(
                        again,
                        payload.to_vec(),
                        "ENCRYPT seq {} re-encrypted",
                        sh.seq.0
                    );
                    reencoded += 1;
                }
                SecurityLevel::Plain => {}
            }
        }
    }
    // As `make-rxgk-token.py decode` lists them: enctype 18 encrypt, one request and one reply;
    // enctype 19 auth, one request and five reply packets (one retransmitted).
    assert_eq!(verified.get(&(SecurityLevel::Encrypt, true)), Some(&1));
    assert_eq!(verified.get(&(SecurityLevel::Encrypt, false)), Some(&1));
    assert_eq!(verified.get(&(SecurityLevel::Auth, true)), Some(&1));
    assert_eq!(verified.get(&(SecurityLevel::Auth, false)), Some(&5));
    assert_eq!(reencoded, 8);
    assert_eq!(no_response, 1, "the host probe's DATA has no RESPONSE");
}
