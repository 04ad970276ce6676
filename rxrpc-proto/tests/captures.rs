//! Decode every Rx datagram of the real captures in `testdata/captures/` (OpenAFS 1.8.9 and
//! Linux AF_RXRPC peers, including rxkad and yfs-rxgk traffic) and check that each one
//! re-encodes to the same bytes.
//!
//! Where the wire format is not canonical the difference is checked field by field and listed
//! (see [`Deviation`]): the decoder deliberately ignores
//!
//! * bytes after an ACK's trailer: Linux pads its path-MTU probe PINGs (reason 6) up to the
//!   probed size with zeros, so those ACKs are longer than 18 + nAcks + 3 + 16;
//! * nonzero ACK pad bytes (old OpenAFS leaked memory there, CVE-2015-7762): emitted as zero;
//! * a 1..=18-byte tail after the soft-ACKs (too short for pad + trailer);
//! * bytes after an ABORT's 4-byte code.
//!
//! Everything else must round-trip byte for byte.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use etherparse::{SlicedPacket, TransportSlice};
use pcap_file::DataLink;
use pcap_file::pcap::PcapReader;
use rxrpc_proto::wire::{
    ACK_BODY_LEN, ACK_PAD_LEN, ACK_TRAILER_LEN, AckView, Body, DataView, HEADER_LEN, Packet,
    PacketType, jumbo_iter,
};

/// One UDP datagram from a capture.
struct Datagram {
    /// 1-based frame number in the capture (as Wireshark numbers them).
    frame: usize,
    src_port: u16,
    dst_port: u16,
    payload: Vec<u8>,
}

fn captures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/captures")
}

/// Every UDP datagram in a classic pcap file, whatever its link type (Ethernet, Linux cooked
/// or raw IP). Fails on IP fragments and on frames cut short by the snap length, since their
/// payload would not be a whole datagram.
fn udp_datagrams(path: &Path) -> Vec<Datagram> {
    let file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = PcapReader::new(file).expect("pcap header");
    let link = reader.header().datalink;
    let mut out = Vec::new();
    let mut frame = 0;
    while let Some(pkt) = reader.next_packet() {
        let pkt = pkt.expect("pcap record");
        frame += 1;
        assert_eq!(
            pkt.orig_len as usize,
            pkt.data.len(),
            "frame {frame} truncated by snaplen"
        );
        let sliced = match link {
            DataLink::ETHERNET => SlicedPacket::from_ethernet(&pkt.data),
            DataLink::LINUX_SLL => SlicedPacket::from_linux_sll(&pkt.data),
            DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => SlicedPacket::from_ip(&pkt.data),
            other => panic!("{}: unsupported link type {other:?}", path.display()),
        };
        let sliced = sliced.unwrap_or_else(|e| panic!("frame {frame}: {e:?}"));
        if let Some(net) = &sliced.net {
            let fragmented = net.ip_payload_ref().is_some_and(|p| p.fragmented);
            assert!(!fragmented, "frame {frame} is an IP fragment");
        }
        if let Some(TransportSlice::Udp(udp)) = &sliced.transport {
            out.push(Datagram {
                frame,
                src_port: udp.source_port(),
                dst_port: udp.destination_port(),
                payload: udp.payload().to_vec(),
            });
        }
    }
    out
}

fn is_rx_port(p: u16) -> bool {
    (7000..=7009).contains(&p) || (17000..=17999).contains(&p)
}

/// The datagrams on Rx ports: 7000-7009 and 17000-17999, plus any port seen talking to one.
fn rx_datagrams(path: &Path) -> Vec<Datagram> {
    let all = udp_datagrams(path);
    let mut ports: BTreeSet<u16> = BTreeSet::new();
    for d in &all {
        if is_rx_port(d.src_port) || is_rx_port(d.dst_port) {
            ports.insert(d.src_port);
            ports.insert(d.dst_port);
        }
    }
    all.into_iter()
        .filter(|d| ports.contains(&d.src_port) || ports.contains(&d.dst_port))
        .collect()
}

/// A field that legitimately does not survive parse → emit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Deviation {
    /// ACK with this many bytes after the trailer (path-MTU probe padding); their values.
    AckPaddingAfterTrailer {
        reason: u8,
        len: usize,
        all_zero: bool,
    },
    /// ACK whose 3 pad bytes were not zero.
    AckNonzeroPad([u8; 3]),
    /// ACK with 1..=18 bytes after the soft-ACKs.
    AckPartialTrailer(usize),
    /// ABORT with bytes after the code.
    AbortExtraBytes(usize),
}

/// Compare a datagram with its re-encoding; return the explained deviations, panicking on
/// anything unexplained.
fn check_roundtrip(name: &str, d: &Datagram, pkt: &Packet) -> Vec<Deviation> {
    let orig = &d.payload[..];
    let emitted = pkt.to_vec();
    assert_eq!(emitted.len(), pkt.buffer_len());
    // Whatever the deviations, the re-encoding must decode to the same packet.
    assert_eq!(
        &Packet::parse(&emitted).unwrap(),
        pkt,
        "{name} frame {}",
        d.frame
    );
    if emitted == orig {
        return vec![];
    }
    let ctx = format!("{name} frame {} ({:?})", d.frame, pkt.header.packet_type);
    // The header always round-trips.
    assert_eq!(&emitted[..HEADER_LEN], &orig[..HEADER_LEN], "{ctx}: header");
    let body = &orig[HEADER_LEN..];
    let out = &emitted[HEADER_LEN..];
    let mut devs = Vec::new();
    match &pkt.body {
        Body::Ack(ack) => {
            let v = AckView::new_checked(body).unwrap();
            let fixed = ACK_BODY_LEN + ack.acks.len();
            // Fixed part and soft-ACKs are identical.
            assert_eq!(
                &out[..fixed],
                &body[..fixed],
                "{ctx}: ACK fixed part / soft-ACKs"
            );
            let tail = v.tail();
            if tail.len() > ACK_PAD_LEN + ACK_TRAILER_LEN - 1 {
                // Pad + trailer present: the trailer bytes are identical, the pad is emitted
                // as zeros, and anything after the trailer is dropped.
                let t = fixed + ACK_PAD_LEN;
                assert_eq!(
                    &out[t..],
                    &body[t..t + ACK_TRAILER_LEN],
                    "{ctx}: ACK trailer"
                );
                assert_eq!(&out[fixed..t], &[0u8; 3], "{ctx}: emitted pad");
                let pad = v.pad().unwrap();
                if pad != [0; 3] {
                    devs.push(Deviation::AckNonzeroPad(pad));
                }
                let extra = v.ignored();
                if !extra.is_empty() {
                    devs.push(Deviation::AckPaddingAfterTrailer {
                        reason: ack.reason.0,
                        len: extra.len(),
                        all_zero: extra.iter().all(|&b| b == 0),
                    });
                }
            } else {
                assert!(!tail.is_empty());
                assert_eq!(out.len(), fixed, "{ctx}");
                devs.push(Deviation::AckPartialTrailer(tail.len()));
            }
        }
        Body::Abort(_) => {
            assert_eq!(out, &body[..4], "{ctx}: abort code");
            devs.push(Deviation::AbortExtraBytes(body.len() - 4));
        }
        other => panic!("{ctx}: re-encoding differs and nothing explains it: {other:?}"),
    }
    assert!(
        !devs.is_empty(),
        "{ctx}: differs without a recorded deviation"
    );
    devs
}

/// Extra consistency checks between the owned decoders and the zero-copy views.
fn check_views(pkt: &Packet, raw: &[u8]) {
    let body = &raw[HEADER_LEN..];
    match &pkt.body {
        Body::Data(data) => {
            let view = DataView::new_checked(raw).unwrap();
            assert_eq!(view.subpacket_count(), data.subpacket_count());
            assert_eq!(view.to_owned(), (pkt.header, data.clone()));
            let subs: Vec<_> = jumbo_iter(&pkt.header, body).map(|r| r.unwrap()).collect();
            let owned = data.subpackets(&pkt.header);
            assert_eq!(subs.len(), owned.len());
            for ((h1, p1), (h2, p2)) in subs.iter().zip(owned.iter()) {
                assert_eq!(h1, h2);
                assert_eq!(*p1, &p2[..]);
            }
        }
        Body::Ack(ack) => {
            assert_eq!(&AckView::new_checked(body).unwrap().to_owned(), ack);
        }
        _ => {}
    }
}

struct Summary {
    by_type: BTreeMap<String, usize>,
    identical: usize,
    deviations: Vec<(usize, Deviation)>,
    total: usize,
    jumbo: usize,
}

fn run_capture(name: &str) -> Summary {
    let path = captures_dir().join(name);
    let dgrams = rx_datagrams(&path);
    let mut s = Summary {
        by_type: BTreeMap::new(),
        identical: 0,
        deviations: vec![],
        total: dgrams.len(),
        jumbo: 0,
    };
    for d in &dgrams {
        let pkt =
            Packet::parse(&d.payload).unwrap_or_else(|e| panic!("{name} frame {}: {e}", d.frame));
        let zc = Packet::parse_bytes(Bytes::copy_from_slice(&d.payload)).unwrap();
        assert_eq!(zc, pkt);
        check_views(&pkt, &d.payload);
        let label = match &pkt.body {
            Body::Ack(a) => format!("ACK/{}", a.reason),
            Body::Debug(rxrpc_proto::wire::Debug::Request(_)) => "DEBUG/request".into(),
            Body::Debug(rxrpc_proto::wire::Debug::Reply(r)) => {
                format!("DEBUG/reply/{}", variant_name(&format!("{r:?}")))
            }
            Body::Version(v) => match v {
                rxrpc_proto::wire::Version::Request { .. } => "VERSION/request".into(),
                rxrpc_proto::wire::Version::Reply { .. } => "VERSION/reply".into(),
                rxrpc_proto::wire::Version::Keepalive { .. } => "VERSION/keepalive".into(),
            },
            Body::Challenge(c) => format!("CHALLENGE/{}", variant_name(&format!("{c:?}"))),
            Body::Response(r) => format!("RESPONSE/{}", variant_name(&format!("{r:?}"))),
            Body::Data(dt) if dt.subpacket_count() > 1 => {
                s.jumbo += 1;
                "DATA/jumbo".into()
            }
            _ => format!("{}", pkt.header.packet_type),
        };
        *s.by_type.entry(label).or_default() += 1;
        let devs = check_roundtrip(name, d, &pkt);
        if devs.is_empty() {
            s.identical += 1;
        }
        s.deviations
            .extend(devs.into_iter().map(|dv| (d.frame, dv)));
    }
    println!(
        "== {name}: {} Rx datagrams, {} byte-identical",
        s.total, s.identical
    );
    for (t, n) in &s.by_type {
        println!("   {t:<24} {n}");
    }
    for (frame, dv) in &s.deviations {
        println!("   frame {frame}: {dv:?}");
    }
    s
}

fn variant_name(debug: &str) -> &str {
    debug.split(['(', ' ', '{']).next().unwrap_or(debug)
}

#[test]
fn openafs_capture_roundtrips() {
    let s = run_capture("sample-openafs-rx.pcap");
    assert_eq!(s.total, 117);
    assert_eq!(
        s.identical, s.total,
        "every OpenAFS packet re-encodes identically"
    );
    assert_eq!(s.by_type.get("DEBUG/request"), Some(&2));
    assert_eq!(s.by_type.get("DEBUG/reply/Stats"), Some(&1));
    assert_eq!(s.by_type.get("DEBUG/reply/RxStats"), Some(&1));
    assert_eq!(s.by_type.get("VERSION/reply"), Some(&4));
    assert_eq!(s.by_type.get("RESPONSE/RxkadV2"), Some(&7));
    assert_eq!(s.by_type.get("CHALLENGE/RxkadV2"), Some(&7));
}

/// The rxdebug replies of the OpenAFS capture decode to plausible values, which checks the
/// `rx_debugStats` and `rx_statistics` layouts against a real server.
#[test]
fn openafs_debug_replies() {
    use rxrpc_proto::wire::{Debug, DebugReply, DebugRequestType};
    let path = captures_dir().join("sample-openafs-rx.pcap");
    let mut kinds = Vec::new();
    for d in rx_datagrams(&path) {
        let p = Packet::parse(&d.payload).unwrap();
        match p.body {
            Body::Debug(Debug::Request(r)) => kinds.push(r.kind),
            Body::Debug(Debug::Reply(DebugReply::Stats(s))) => {
                assert_eq!(s.version, b'S');
                assert_eq!(s.n_free_packets, 345);
                assert_eq!(s.calls_executed, 12);
                assert_eq!(s.idle_threads, 11);
                assert_eq!(s.n_packets, 737);
                assert_eq!(s.spare2, [0; 6]);
            }
            Body::Debug(Debug::Reply(DebugReply::RxStats(r))) => {
                assert_eq!(r.packet_requests, 30);
                // Index = type - 1: DATA, ACK, RESPONSE and DEBUG packets were read.
                assert_eq!(r.packets_read[0], 13);
                assert_eq!(r.packets_read[1], 6);
                assert_eq!(r.packets_read[6], 3);
                assert_eq!(r.packets_read[7], 2);
                assert_eq!(r.data_packets_read, 12);
                assert_eq!(r.ack_packets_read, 6);
                // minRtt starts at 9999999 s until a sample is taken.
                assert_eq!(r.min_rtt.sec, 9_999_999);
                assert_eq!(
                    (r.n_server_conns, r.n_peer_structs, r.n_call_structs),
                    (5, 5, 5)
                );
                assert_eq!(r.spares, [0; 4]);
            }
            _ => {}
        }
    }
    assert_eq!(
        kinds,
        [DebugRequestType::GETSTATS, DebugRequestType::RXSTATS]
    );
}

#[test]
fn linux_capture_roundtrips() {
    let s = run_capture("sample-linux-rx.pcap");
    assert_eq!(s.total, 48);
    assert_eq!(
        s.identical, s.total,
        "every Linux packet re-encodes identically"
    );
    assert_eq!(s.by_type.get("CHALLENGE/RxkadV2"), Some(&5));
    assert_eq!(s.by_type.get("RESPONSE/RxkadV2"), Some(&5));
}

#[test]
fn linux_rxgk_capture_roundtrips() {
    let s = run_capture("sample-linux-rxgk.pcap");
    assert_eq!(s.total, 83);
    // The only packets that do not re-encode identically are Linux's path-MTU probe PINGs,
    // zero-padded after the trailer up to the probed size (1403..=1407 extra bytes here).
    assert_eq!(s.deviations.len(), 23);
    for (frame, dv) in &s.deviations {
        match dv {
            Deviation::AckPaddingAfterTrailer {
                reason, all_zero, ..
            } => {
                assert_eq!(*reason, 6, "frame {frame}: {dv:?}");
                assert!(all_zero, "frame {frame}: padding not zero");
            }
            other => panic!("frame {frame}: unexpected {other:?}"),
        }
    }
    assert_eq!(s.identical + s.deviations.len(), s.total);
    assert_eq!(s.by_type.get("CHALLENGE/Opaque"), Some(&3));
    assert_eq!(s.by_type.get("RESPONSE/Opaque"), Some(&2));
}

/// Regenerate the fuzz seed corpus from the captures: per capture, one file for each
/// distinct (type, flags, security index, length / 256) up to 14, plus two synthetic seeds
/// for shapes the captures lack (a 3-subpacket jumbo and a 255-soft-ACK ACK). Run with
/// `cargo test -p rxrpc-proto --test captures -- --ignored write_fuzz_corpus`.
#[test]
#[ignore = "writes fuzz/corpus/wire_decode: run by hand to regenerate the seeds"]
fn write_fuzz_corpus() {
    use rxrpc_proto::wire::{Ack, AckTrailer, Data, Flags, Header, Seq};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/wire_decode");
    std::fs::create_dir_all(&dir).unwrap();
    let mut n = 0;
    for name in [
        "sample-openafs-rx.pcap",
        "sample-linux-rx.pcap",
        "sample-linux-rxgk.pcap",
    ] {
        let mut seen = BTreeSet::new();
        for d in rx_datagrams(&captures_dir().join(name)) {
            let Ok(p) = Packet::parse(&d.payload) else {
                continue;
            };
            let h = p.header;
            let key = (
                h.packet_type,
                h.flags.0,
                h.security_index.0,
                d.payload.len() / 256,
            );
            if seen.len() >= 14 || !seen.insert(key) {
                continue;
            }
            let stem = name.trim_start_matches("sample-").trim_end_matches(".pcap");
            let file = dir.join(format!(
                "{stem}-{:03}-{}",
                d.frame,
                type_slug(h.packet_type)
            ));
            std::fs::write(file, &d.payload).unwrap();
            n += 1;
        }
    }
    // A jumbo packet of three subpackets.
    let mut h = Header {
        packet_type: PacketType::DATA,
        flags: Flags::CLIENT_INITIATED | Flags::JUMBO_PACKET,
        seq: Seq(1),
        ..Header::default()
    };
    h.serial = h.serial.next();
    let mut subs = Vec::new();
    for i in 0..3u8 {
        if i == 2 {
            h.flags = Flags::CLIENT_INITIATED | Flags::LAST_PACKET;
        }
        let len = if i == 2 {
            100
        } else {
            rxrpc_proto::wire::JUMBO_DATALEN
        };
        subs.push((h, Bytes::from(vec![i; len])));
        h.seq = h.seq.next();
        h.serial = h.serial.next();
    }
    let (jh, jd) = Data::build_jumbo(&subs).unwrap();
    let jumbo = Packet {
        header: jh,
        body: Body::Data(jd),
    };
    std::fs::write(dir.join("synthetic-jumbo3"), jumbo.to_vec()).unwrap();
    let ack = Packet {
        header: Header {
            packet_type: PacketType::ACK,
            ..Header::default()
        },
        body: Body::Ack(Ack {
            acks: vec![1; 255],
            trailer: Some(AckTrailer {
                max_mtu: 1444,
                if_mtu: 1444,
                rwind: 255,
                jumbo_max: 4,
            }),
            ..Ack::default()
        }),
    };
    std::fs::write(dir.join("synthetic-ack255"), ack.to_vec()).unwrap();
    n += 2;
    println!("wrote {n} seeds to {}", dir.display());
}

fn type_slug(t: PacketType) -> String {
    t.name()
        .map(str::to_lowercase)
        .unwrap_or_else(|| format!("type{}", t.0))
}
