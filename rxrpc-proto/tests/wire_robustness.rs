//! Robustness of `Packet::parse` on extreme and hostile input: the largest jumbo and ACK
//! packets, every truncation of every packet kind (each must give the documented typed error
//! or a packet that re-encodes consistently, never a panic), and property tests on arbitrary
//! bytes, alone and behind a valid header of each type.

use bytes::Bytes;
use proptest::prelude::*;
use rxrpc_proto::wire::{
    ACK_TYPE_ACK, ACK_TYPE_NACK, Abort, AbortCode, Ack, AckReason, AckTrailer, Body, CallNumber,
    Challenge, Cid, Data, Debug, DebugConn, DebugPeer, DebugReply, DebugRequest, DebugRequestType,
    DebugStats, Epoch, Flags, HEADER_LEN, Header, JUMBO_DATALEN, JUMBO_SUBPKTLEN,
    MAX_JUMBO_SUBPACKETS, Packet, PacketType, Response, RxStatistics, RxkadChallengeV1,
    RxkadChallengeV2, RxkadResponseV1, RxkadResponseV2, SecurityIndex, Seq, Serial, ServiceId,
    Version, WireError, jumbo_datagram_len,
};

fn header(ty: PacketType, flags: Flags) -> Header {
    Header {
        epoch: Epoch(0x8000_1234),
        cid: Cid(0x1234_5678),
        call_number: CallNumber(7),
        seq: Seq(1),
        serial: Serial(0xffff_fff0),
        packet_type: ty,
        flags,
        user_status: 0,
        security_index: SecurityIndex::NULL,
        cksum: 0,
        service_id: ServiceId(52),
    }
}

fn packet(h: Header, body: Body) -> Packet {
    Packet { header: h, body }
}

/// A 46-subpacket jumbo whose terminal subpacket is `last_len` bytes.
fn jumbo(n: usize, last_len: usize) -> Packet {
    let mut h = header(
        PacketType::DATA,
        Flags::CLIENT_INITIATED | Flags::JUMBO_PACKET,
    );
    let mut subs = Vec::new();
    for i in 0..n {
        let last = i + 1 == n;
        if last {
            h.flags = Flags::CLIENT_INITIATED | Flags::LAST_PACKET | Flags::REQUEST_ACK;
        }
        let len = if last { last_len } else { JUMBO_DATALEN };
        subs.push((h, Bytes::from(vec![i as u8; len])));
        h.seq = h.seq.next();
        h.serial = h.serial.next();
    }
    let (h, d) = Data::build_jumbo(&subs).unwrap();
    packet(h, Body::Data(d))
}

fn max_ack(trailer: bool) -> Packet {
    let acks = (0..255)
        .map(|i| {
            if i % 3 == 0 {
                ACK_TYPE_NACK
            } else {
                ACK_TYPE_ACK
            }
        })
        .collect();
    let ack = Ack {
        buffer_space: 0,
        max_skew: 0,
        first_packet: Seq(u32::MAX - 10),
        previous_packet: Seq(244),
        serial: Serial(99),
        reason: AckReason::OUT_OF_SEQUENCE,
        acks,
        trailer: trailer.then_some(AckTrailer {
            max_mtu: 65535,
            if_mtu: 1444,
            rwind: 255,
            jumbo_max: 0,
        }),
    };
    packet(
        header(PacketType::ACK, Flags::SLOW_START_OK),
        Body::Ack(ack),
    )
}

#[test]
fn jumbo_46() {
    let p = jumbo(MAX_JUMBO_SUBPACKETS, JUMBO_DATALEN);
    let bytes = p.to_vec();
    assert_eq!(bytes.len(), jumbo_datagram_len(46));
    assert_eq!(bytes.len(), 65160);
    let q = Packet::parse(&bytes).unwrap();
    assert_eq!(q, p);
    assert_eq!(q.to_vec(), bytes);
    let Body::Data(d) = &q.body else {
        unreachable!()
    };
    let subs = d.subpackets(&q.header);
    assert_eq!(subs.len(), 46);
    assert_eq!(subs[45].0.seq, Seq(46));
    // The serial wrapped and skipped 0: 0xfffffff0 + 45 steps, one of them skipping 0.
    assert_eq!(subs[45].0.serial, Serial(0xffff_fff0).advance(45));
    assert_eq!(subs[45].0.serial, Serial(30));
    assert!(subs[45].0.flags.contains(Flags::LAST_PACKET));
    assert!(subs.iter().all(|(_, p)| p.len() == JUMBO_DATALEN));
    // One more subpacket is refused both ways.
    let mut too_many = subs.clone();
    let mut h = subs[45].0;
    too_many[45].0.flags = Flags::CLIENT_INITIATED | Flags::JUMBO_PACKET;
    h.seq = h.seq.next();
    h.serial = h.serial.next();
    too_many.push((h, Bytes::from_static(b"x")));
    assert!(matches!(
        Data::build_jumbo(&too_many),
        Err(WireError::JumboBuild { .. })
    ));
    let mut raw = bytes.clone();
    // Turn the terminal subpacket into a non-terminal one and append a 47th.
    let last_jh = HEADER_LEN + 45 * JUMBO_SUBPKTLEN - 4;
    raw[last_jh] = Flags::JUMBO_PACKET.0;
    raw.extend_from_slice(&[0, 0, 0, 0, b'x']);
    assert_eq!(
        Packet::parse(&raw),
        Err(WireError::JumboTooManySubpackets {
            max: MAX_JUMBO_SUBPACKETS
        })
    );
}

#[test]
fn max_acks() {
    for trailer in [false, true] {
        let p = max_ack(trailer);
        let bytes = p.to_vec();
        assert_eq!(
            bytes.len(),
            HEADER_LEN + 18 + 255 + if trailer { 19 } else { 0 }
        );
        assert_eq!(bytes[HEADER_LEN + 17], 255);
        let q = Packet::parse(&bytes).unwrap();
        assert_eq!(q, p);
        assert_eq!(q.to_vec(), bytes);
        let Body::Ack(a) = &q.body else {
            unreachable!()
        };
        assert_eq!(a.hard_ack(), Seq(u32::MAX - 11));
        assert_eq!(a.acks.len(), 255);
    }
}

/// What a truncated datagram must decode to.
#[derive(Debug)]
enum Expect {
    /// Some packet (which must then round-trip).
    Ok,
    /// Exactly this error.
    Err(WireError),
}

fn trunc(what: &'static str, need: usize, have: usize) -> Expect {
    Expect::Err(WireError::Truncated { what, need, have })
}

type Rule = Box<dyn Fn(usize) -> Expect>;

/// One packet of every kind, with the expected outcome of truncating its body to `b` bytes.
fn samples() -> Vec<(&'static str, Packet, Rule)> {
    let ok: fn() -> Rule = || Box::new(|_| Expect::Ok);
    let mut rxkad = header(PacketType::CHALLENGE, Flags(0));
    rxkad.security_index = SecurityIndex::RXKAD;
    let mut rxkad_resp = rxkad;
    rxkad_resp.packet_type = PacketType::RESPONSE;
    rxkad_resp.flags = Flags::CLIENT_INITIATED;
    let mut rxgk = rxkad;
    rxgk.security_index = SecurityIndex::YFS_RXGK;
    let dbg_req = header(PacketType::DEBUG, Flags(5));
    let dbg_rep = header(PacketType::DEBUG, Flags(4));
    let ver_req = header(PacketType::VERSION, Flags(5));
    let ver_rep = header(PacketType::VERSION, Flags(4));

    let jumbo_rule = |n: usize| -> Rule {
        Box::new(move |b: usize| {
            let index = b / JUMBO_SUBPKTLEN;
            if index >= n - 1 {
                Expect::Ok
            } else {
                Expect::Err(WireError::JumboShortSubpacket {
                    index,
                    need: JUMBO_SUBPKTLEN,
                    have: b - index * JUMBO_SUBPKTLEN,
                })
            }
        })
    };

    vec![
        (
            "DATA",
            packet(
                header(PacketType::DATA, Flags(5)),
                Body::Data(Data {
                    payload: Bytes::from(vec![7u8; 100]),
                    jumbo: vec![],
                }),
            ),
            ok(),
        ),
        ("DATA jumbo 3", jumbo(3, 10), jumbo_rule(3)),
        ("DATA jumbo 46", jumbo(46, JUMBO_DATALEN), jumbo_rule(46)),
        (
            "ACK 255 + trailer",
            max_ack(true),
            Box::new(|b| match b {
                0..18 => trunc("ACK", 18, b),
                18..273 => trunc("ACK soft-ACK array", 273, b),
                _ => Expect::Ok,
            }),
        ),
        (
            "ACK 255",
            max_ack(false),
            Box::new(|b| match b {
                0..18 => trunc("ACK", 18, b),
                18..273 => trunc("ACK soft-ACK array", 273, b),
                _ => Expect::Ok,
            }),
        ),
        (
            "BUSY",
            packet(header(PacketType::BUSY, Flags(0)), Body::Busy(Bytes::new())),
            ok(),
        ),
        (
            "ABORT",
            packet(
                header(PacketType::ABORT, Flags(0)),
                Body::Abort(Abort {
                    code: AbortCode::RXGEN_OPCODE,
                }),
            ),
            Box::new(|b| trunc("ABORT", 4, b)),
        ),
        (
            "ACKALL",
            packet(
                header(PacketType::ACKALL, Flags(1)),
                Body::AckAll(Bytes::from_static(b"zz")),
            ),
            ok(),
        ),
        (
            "CHALLENGE rxkad v2",
            packet(
                rxkad,
                Body::Challenge(Challenge::RxkadV2(RxkadChallengeV2 {
                    version: 2,
                    nonce: 0xdead_beef,
                    min_level: 1,
                    spare: 0,
                })),
            ),
            Box::new(|b| match b {
                0..8 => trunc("rxkad challenge", 8, b),
                8 => Expect::Ok,
                _ => trunc("rxkad challenge", 16, b),
            }),
        ),
        (
            "CHALLENGE rxkad v1",
            packet(
                rxkad,
                Body::Challenge(Challenge::RxkadV1(RxkadChallengeV1 { nonce: 1, level: 2 })),
            ),
            Box::new(|b| trunc("rxkad challenge", 8, b)),
        ),
        (
            "CHALLENGE yfs-rxgk",
            packet(
                rxgk,
                Body::Challenge(Challenge::Opaque(Bytes::from(vec![3u8; 20]))),
            ),
            ok(),
        ),
        (
            "RESPONSE rxkad v2",
            packet(
                rxkad_resp,
                Body::Response(Response::RxkadV2(RxkadResponseV2 {
                    version: 2,
                    spare: 0,
                    encrypted: [0xa5; 40],
                    kvno: 3,
                    ticket: Bytes::from(vec![0x11; 32]),
                })),
            ),
            Box::new(|b| match b {
                0..4 => trunc("rxkad v1 response", 16, b),
                4..56 => trunc("rxkad v2 response", 56, b),
                _ => trunc("rxkad v2 response", 88, b),
            }),
        ),
        (
            "RESPONSE rxkad v1",
            packet(
                rxkad_resp,
                Body::Response(Response::RxkadV1(RxkadResponseV1 {
                    encrypted: [9; 8],
                    kvno: 3,
                    ticket: Bytes::from(vec![0x22; 10]),
                })),
            ),
            Box::new(|b| match b {
                0..16 => trunc("rxkad v1 response", 16, b),
                _ => trunc("rxkad v1 response", 26, b),
            }),
        ),
        (
            "RESPONSE yfs-rxgk",
            packet(
                Header {
                    packet_type: PacketType::RESPONSE,
                    ..rxgk
                },
                Body::Response(Response::Opaque(Bytes::from(vec![1u8; 200]))),
            ),
            ok(),
        ),
        (
            "DEBUG request",
            packet(
                dbg_req,
                Body::Debug(Debug::Request(DebugRequest {
                    kind: DebugRequestType::GETPEER,
                    index: 3,
                })),
            ),
            Box::new(|b| trunc("DEBUG request", 8, b)),
        ),
        (
            "DEBUG stats",
            packet(
                dbg_rep,
                Body::Debug(Debug::Reply(DebugReply::Stats(DebugStats {
                    version: b'S',
                    ..Default::default()
                }))),
            ),
            ok(),
        ),
        (
            "DEBUG conn",
            packet(
                dbg_rep,
                Body::Debug(Debug::Reply(DebugReply::Conn(DebugConn::end_marker()))),
            ),
            ok(),
        ),
        (
            "DEBUG peer",
            packet(
                dbg_rep,
                Body::Debug(Debug::Reply(DebugReply::Peer(DebugPeer::end_marker()))),
            ),
            ok(),
        ),
        (
            "DEBUG rxstats",
            packet(
                dbg_rep,
                Body::Debug(Debug::Reply(DebugReply::RxStats(RxStatistics {
                    packet_requests: -1,
                    ..Default::default()
                }))),
            ),
            ok(),
        ),
        (
            "DEBUG badtype",
            packet(dbg_rep, Body::Debug(Debug::Reply(DebugReply::BadType))),
            ok(),
        ),
        (
            "PARAMS",
            packet(
                header(PacketType::PARAMS, Flags(0)),
                Body::Params(Bytes::from_static(b"p")),
            ),
            ok(),
        ),
        (
            "VERSION request",
            packet(ver_req, Body::Version(Version::request())),
            ok(),
        ),
        (
            "VERSION reply",
            packet(ver_rep, Body::Version(Version::reply("rxrpc 0.1"))),
            ok(),
        ),
        (
            "VERSION keepalive",
            packet(
                ver_rep,
                Body::Version(Version::Keepalive {
                    payload: Bytes::from_static(&[0]),
                }),
            ),
            ok(),
        ),
        (
            "type 12",
            packet(
                header(PacketType(12), Flags(0)),
                Body::Unknown(Bytes::from_static(b"??")),
            ),
            ok(),
        ),
    ]
}

#[test]
fn every_kind_roundtrips() {
    let mut kinds = std::collections::BTreeSet::new();
    for (name, p, _) in samples() {
        let bytes = p.to_vec();
        assert_eq!(bytes.len(), p.buffer_len(), "{name}");
        let q = Packet::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(q, p, "{name}");
        assert_eq!(q.to_vec(), bytes, "{name}");
        kinds.insert(p.header.packet_type.0);
    }
    // Every defined type and one reserved one.
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13]
    );
}

#[test]
fn every_truncation() {
    let mut checked = 0usize;
    for (name, p, rule) in samples() {
        let bytes = p.to_vec();
        for len in 0..bytes.len() {
            let got = Packet::parse(&bytes[..len]);
            let want = if len < HEADER_LEN {
                trunc("header", HEADER_LEN, len)
            } else {
                rule(len - HEADER_LEN)
            };
            match (&want, &got) {
                (Expect::Ok, Ok(q)) => {
                    assert_eq!(q.header, p.header, "{name} at {len}");
                    assert_eq!(&Packet::parse(&q.to_vec()).unwrap(), q, "{name} at {len}");
                }
                (Expect::Err(e), Err(g)) => assert_eq!(e, g, "{name} at {len}"),
                _ => panic!("{name} truncated to {len}: expected {want:?}, got {got:?}"),
            }
            checked += 1;
        }
    }
    assert!(checked > 65_160, "{checked}");
}

/// A header of type `ty` with arbitrary other fields.
fn arb_header_of_type() -> impl Strategy<Value = Header> {
    (
        prop_oneof![0u8..=14, any::<u8>()],
        any::<u8>(),
        prop_oneof![Just(0u8), Just(2), Just(3), Just(4), Just(6), any::<u8>()],
        any::<[u32; 5]>(),
        any::<(u8, u16, u16)>(),
    )
        .prop_map(|(ty, flags, si, w, (us, ck, svc))| Header {
            epoch: Epoch(w[0]),
            cid: Cid(w[1]),
            call_number: CallNumber(w[2]),
            seq: Seq(w[3]),
            serial: Serial(w[4]),
            packet_type: PacketType(ty),
            flags: Flags(flags),
            user_status: us,
            security_index: SecurityIndex(si),
            cksum: ck,
            service_id: ServiceId(svc),
        })
}

/// Bodies that reach the interesting lengths: short, around the fixed sizes, jumbo-sized.
fn arb_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => proptest::collection::vec(any::<u8>(), 0..64),
        4 => proptest::collection::vec(any::<u8>(), 0..400),
        1 => proptest::collection::vec(any::<u8>(), 1400..3000),
        1 => (1usize..4, any::<u8>(), any::<u8>()).prop_map(|(n, fill, flags)| {
            // Bodies shaped like jumbo packets, with arbitrary jumbo-header flags.
            let mut v = Vec::new();
            for _ in 0..n {
                v.extend(std::iter::repeat_n(fill, JUMBO_DATALEN));
                v.extend_from_slice(&[flags, 0, 0, 0]);
            }
            v
        }),
    ]
}

fn check_arbitrary(datagram: &[u8]) -> Result<(), TestCaseError> {
    let owned = Packet::parse(datagram);
    let zero_copy = Packet::parse_bytes(Bytes::copy_from_slice(datagram));
    prop_assert_eq!(&owned, &zero_copy);
    if let Ok(p) = owned {
        let emitted = p.to_vec();
        prop_assert_eq!(emitted.len(), p.buffer_len());
        let again = Packet::parse(&emitted);
        prop_assert_eq!(again.as_ref(), Ok(&p));
        prop_assert_eq!(again.unwrap().to_vec(), emitted);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(b in proptest::collection::vec(any::<u8>(), 0..200)) {
        check_arbitrary(&b)?;
    }

    #[test]
    fn arbitrary_body_after_valid_header(h in arb_header_of_type(), body in arb_body()) {
        let mut d = h.to_bytes().to_vec();
        d.extend_from_slice(&body);
        check_arbitrary(&d)?;
        // Also with the jumbo flag forced on for DATA.
        if h.packet_type == PacketType::DATA {
            d[21] |= Flags::JUMBO_PACKET.0;
            check_arbitrary(&d)?;
        }
    }
}
