//! Known answers from real traffic: every rxkad connection in the sample captures of
//! `testdata/captures/` is replayed through this crate.
//!
//! * `sample-openafs-rx.pcap`: OpenAFS 1.8.9 `pts`/`vos -localauth` clients and servers (rxkad
//!   crypt and clear, never-expiring `afs` tickets), cell key `0123456789abcdef` kvno 1 (the
//!   default of shared/peers/openafs/start-cell.sh).
//! * `sample-linux-rx.pcap`: the Linux kernel's rxkad client calling OpenAFS ptserver and
//!   vlserver with tickets from make-rxkad-ticket.py (same cell key; one ticket sealed with a
//!   wrong key, which the server aborted with RXKADBADTICKET).
//! * `sample-linux-rxgk.pcap`: its rxkad connection is Linux client to Linux `rxperf.ko`,
//!   whose compiled-in rxkad key is `a7838acbc783ec94` (shared/peers/linux-kernel/README.md).
//!
//! For each connection with a RESPONSE the test decrypts the ticket with the server key,
//! opens the RESPONSE block and checks its checksum, nonce and endpoint, then
//!
//! * builds a service connection ([`RxkadServer`]) that issues the captured CHALLENGE (same
//!   nonce) byte for byte and verifies the captured RESPONSE (or refuses it with the code the
//!   real server aborted with);
//! * builds a client connection from the ticket and session key and checks that it answers
//!   the captured CHALLENGE with the captured RESPONSE byte for byte;
//! * verifies every DATA packet (and jumbo subpacket) of the connection in both directions,
//!   and re-secures the recovered plaintext, which must reproduce the captured header
//!   checksum and payload exactly.

#![cfg(not(feature = "fuzzing"))]

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use etherparse::{SlicedPacket, TransportSlice};
use pcap_file::DataLink;
use pcap_file::pcap::PcapReader;
use rxrpc_proto::Side;
use rxrpc_proto::security::{ClientSecurity, ConnIdent, ConnSecurity, SecurityLevel};
use rxrpc_proto::wire::{
    AbortCode, Body, CallNumber, Challenge, Header, Packet, PacketType, Response,
};
use rxrpc_rxkad::fcrypt::Fcrypt;
use rxrpc_rxkad::response::{ResponseBlock, response_checksum};
use rxrpc_rxkad::{DesKey, KeyTable, ManualClock, RxkadClient, RxkadServer, RxkadToken, Ticket};

struct Datagram {
    frame: usize,
    time: u64,
    payload: Bytes,
}

fn captures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/captures")
}

fn udp_datagrams(path: &Path) -> Vec<Datagram> {
    let file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = PcapReader::new(file).expect("pcap header");
    let link = reader.header().datalink;
    let mut out = Vec::new();
    let mut frame = 0;
    while let Some(pkt) = reader.next_packet() {
        let pkt = pkt.expect("pcap record");
        frame += 1;
        let sliced = match link {
            DataLink::ETHERNET => SlicedPacket::from_ethernet(&pkt.data),
            DataLink::LINUX_SLL => SlicedPacket::from_linux_sll(&pkt.data),
            DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => SlicedPacket::from_ip(&pkt.data),
            other => panic!("{}: unsupported link type {other:?}", path.display()),
        }
        .unwrap_or_else(|e| panic!("frame {frame}: {e:?}"));
        if let Some(TransportSlice::Udp(udp)) = &sliced.transport {
            out.push(Datagram {
                frame,
                time: pkt.timestamp.as_secs(),
                payload: Bytes::copy_from_slice(udp.payload()),
            });
        }
    }
    out
}

/// One rxkad connection's packets, in capture order.
struct Conn {
    packets: Vec<(Datagram, Packet)>,
}

fn rxkad_conns(path: &Path) -> BTreeMap<(u32, u32), Conn> {
    let mut conns: BTreeMap<(u32, u32), Conn> = BTreeMap::new();
    for d in udp_datagrams(path) {
        let Ok(p) = Packet::parse_bytes(d.payload.clone()) else {
            continue;
        };
        if p.header.security_index.0 != 2 || p.header.packet_type == PacketType::VERSION {
            continue;
        }
        let key = (p.header.epoch.0, p.header.cid.conn_id().0);
        conns
            .entry(key)
            .or_insert_with(|| Conn {
                packets: Vec::new(),
            })
            .packets
            .push((d, p));
    }
    conns
}

fn ident(h: &Header, side: Side) -> ConnIdent {
    ConnIdent {
        side,
        peer: "127.0.0.1:7000".parse().unwrap(),
        epoch: h.epoch,
        cid: h.cid.conn_id(),
        service_id: h.service_id,
        security_index: h.security_index,
    }
}

#[derive(Default, Debug)]
struct Tally {
    conns: usize,
    refused: usize,
    data: usize,
    /// Level-2 packets whose sender left garbage in the padding.
    dirty_padding: usize,
    by_level: [usize; 3],
}

/// Replay one capture; `key` is the server key of kvno 1.
fn replay(name: &str, key: DesKey) -> Tally {
    let keys = KeyTable::from_keys([(1, key)]);
    let mut tally = Tally::default();
    for ((epoch, cid), conn) in rxkad_conns(&captures_dir().join(name)) {
        let what = format!("{name} conn {epoch:08x}/{cid:08x}");
        let find = |t: PacketType| conn.packets.iter().find(|(_, p)| p.header.packet_type == t);
        let (Some((cd, cp)), Some((rd, rp))) =
            (find(PacketType::CHALLENGE), find(PacketType::RESPONSE))
        else {
            continue;
        };
        tally.conns += 1;
        let challenge_body = cd.payload.slice(28..);
        let response_body = rd.payload.slice(28..);
        let Body::Challenge(Challenge::RxkadV2(ch)) = &cp.body else {
            panic!("{what}: challenge {:?}", cp.body)
        };
        let Body::Response(Response::RxkadV2(resp)) = &rp.body else {
            panic!("{what}: response {:?}", rp.body)
        };
        assert_eq!(resp.kvno, 1, "{what}");
        // A connection-level ABORT from the server after the RESPONSE: the code it refused with.
        let refused = conn.packets.iter().find_map(|(_, p)| match &p.body {
            Body::Abort(a) if p.header.call_number.0 == 0 => Some(a.code),
            _ => None,
        });

        // The service side, with the captured nonce and the capture's time.
        let clock = Arc::new(ManualClock::new(rd.time));
        let server = RxkadServer::new(Arc::new(keys.clone()), SecurityLevel::Plain)
            .with_clock(clock.clone());
        let mut sconn = server.new_server_conn(&ident(&rp.header, Side::Service));
        assert_eq!(
            sconn.issue_challenge_with_nonce(ch.nonce),
            challenge_body,
            "{what}: our CHALLENGE differs (frame {})",
            cd.frame
        );
        let verdict = sconn.verify_response(&rp.header, response_body.clone());
        if let Some(code) = refused {
            assert_eq!(
                verdict.err(),
                Some(code),
                "{what}: the server refused with {code:?}"
            );
            tally.refused += 1;
            continue;
        }
        let identity = verdict.unwrap_or_else(|e| panic!("{what}: RESPONSE refused: {e:?}"));

        // The same checks by hand: ticket, block checksum, endpoint, nonce.
        let ticket = Ticket::open(&resp.ticket, &key).unwrap();
        let cipher = Fcrypt::new(&ticket.session_key.0);
        let block = ResponseBlock::open(&resp.encrypted, &cipher, &ticket.session_key.0);
        let ticket_len = resp.ticket.len() as u32;
        assert_eq!(
            response_checksum(2, resp.spare, &block, resp.kvno, ticket_len),
            block.cksum,
            "{what}: RESPONSE checksum"
        );
        assert_eq!(
            (block.epoch, block.cid, block.security_index),
            (epoch, cid, 2)
        );
        assert_eq!(block.inc_nonce, ch.nonce.wrapping_add(1));
        assert_eq!(identity.name, ticket.name);
        assert_eq!(identity.level.to_wire(), block.level);
        assert_eq!(identity.kvno, 1);
        let level = identity.level;
        let (session_cipher, session_key) =
            (Fcrypt::new(&ticket.session_key.0), ticket.session_key.0);
        tally.by_level[level.to_wire() as usize] += 1;

        // The client side answers the captured CHALLENGE with the captured RESPONSE.
        let token = RxkadToken::new(
            resp.kvno,
            ticket.session_key,
            resp.ticket.clone(),
            ticket.expires(),
            level,
        );
        let client = RxkadClient::new(token).with_clock(clock);
        let mut cconn = client.new_conn(&ident(&rp.header, Side::Client)).unwrap();
        let counters = block.call_numbers.map(CallNumber);
        assert_eq!(
            cconn
                .respond_to_challenge(&cp.header, challenge_body, counters)
                .unwrap(),
            response_body,
            "{what}: our RESPONSE differs (frame {})",
            rd.frame
        );

        // Every DATA (sub)packet, both directions.
        for (d, p) in &conn.packets {
            let Body::Data(data) = &p.body else { continue };
            for (h, payload) in data.subpackets(&p.header) {
                let at = format!(
                    "{what} frame {} call {} seq {}",
                    d.frame, h.call_number.0, h.seq.0
                );
                let plain = sconn
                    .verify_packet(&h, payload.clone())
                    .unwrap_or_else(|e| panic!("{at}: service side refused: {e:?}"));
                let plain_c = cconn
                    .verify_packet(&h, payload.clone())
                    .unwrap_or_else(|e| panic!("{at}: client side refused: {e:?}"));
                assert_eq!(plain, plain_c, "{at}");
                // Re-secure as the sender did.
                let sender: &mut dyn ConnSecurity = if h.is_client_initiated() {
                    &mut *cconn
                } else {
                    &mut sconn
                };
                let mut h2 = Header { cksum: 0, ..h };
                let mut out = Vec::new();
                sender.data_capacity(payload.len());
                sender.secure_packet(&mut h2, &plain, &mut out).unwrap();
                assert_eq!(h2.cksum, h.cksum, "{at}: header checksum");
                assert_eq!(out.len(), payload.len(), "{at}: payload length");
                if level == SecurityLevel::Encrypt && out != payload {
                    // OpenAFS does not clear the padding it adds (the rest of a packet
                    // buffer): then only the plaintext up to the padding can match.
                    let open = |b: &[u8]| {
                        let mut v = b[..b.len() / 8 * 8].to_vec();
                        session_cipher.pcbc_decrypt(session_key, &mut v);
                        v
                    };
                    let (ours, theirs) = (open(&out), open(&payload));
                    let used = 8 + plain.len();
                    assert_eq!(ours[..used], theirs[..used], "{at}: plaintext");
                    assert!(ours[used..].iter().all(|b| *b == 0), "{at}");
                    assert!(theirs[used..].iter().any(|b| *b != 0), "{at}: payload");
                    tally.dirty_padding += 1;
                } else {
                    assert_eq!(out, payload, "{at}: payload");
                }
                tally.data += 1;
            }
        }
        // A flipped checksum bit is refused.
        if let Some((_, p)) = conn
            .packets
            .iter()
            .find(|(_, p)| matches!(p.body, Body::Data(_)))
        {
            let Body::Data(data) = &p.body else {
                unreachable!()
            };
            let (mut h, payload) = data.subpackets(&p.header).remove(0);
            h.cksum ^= 1;
            assert_eq!(
                sconn.verify_packet(&h, payload),
                Err(AbortCode::RXKADSEALEDINCON)
            );
        }
    }
    eprintln!("{name}: {tally:?}");
    tally
}

fn cell_key() -> DesKey {
    DesKey::from_hex("0123456789abcdef").unwrap()
}

#[test]
fn openafs_capture() {
    let t = replay("sample-openafs-rx.pcap", cell_key());
    // pts (crypt) x3, vos (clear and crypt) x4 with the fileserver's volserver.
    assert_eq!(t.conns, 7);
    assert_eq!(t.refused, 0);
    assert!(t.by_level[0] > 0 && t.by_level[2] > 0, "{t:?}");
    assert!(t.data >= 20, "{t:?}");
}

#[test]
fn linux_client_capture() {
    let t = replay("sample-linux-rx.pcap", cell_key());
    assert_eq!(t.conns, 5);
    // Linux clears its padding.
    assert_eq!(t.dirty_padding, 0);
    // The ticket sealed with a wrong key.
    assert_eq!(t.refused, 1);
    assert!(t.by_level[0] > 0 && t.by_level[2] > 0, "{t:?}");
    assert!(t.data >= 8, "{t:?}");
}

#[test]
fn linux_server_capture() {
    let t = replay(
        "sample-linux-rxgk.pcap",
        DesKey::from_hex("a7838acbc783ec94").unwrap(),
    );
    assert_eq!((t.conns, t.refused), (1, 0));
    assert_eq!(t.by_level[2], 1);
    assert!(t.data >= 2, "{t:?}");
}
