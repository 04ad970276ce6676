//! End-to-end tests of the `rxdump` binary: the shared sample captures, and small pcap/pcapng
//! files synthesised here with `pcap-file` and `etherparse` holding good and malformed Rx.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use etherparse::PacketBuilder;
use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use rxrpc_proto::wire::{
    Ack, AckReason, AckTrailer, CallNumber, Cid, Data, Epoch, Flags, HEADER_LEN, Header,
    JUMBO_DATALEN, Packet, PacketType, SecurityIndex, Seq, Serial, ServiceId,
};

const RXDUMP: &str = env!("CARGO_BIN_EXE_rxdump");

fn captures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/captures")
}

/// A fresh path in the target's scratch directory.
fn scratch(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rxdump-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let n = N.fetch_add(1, Ordering::Relaxed);
    dir.join(format!("{}-{n}-{name}", std::process::id()))
}

fn rxdump(args: &[&str]) -> Output {
    Command::new(RXDUMP)
        .args(args)
        .output()
        .expect("run rxdump")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn assert_no_panic(o: &Output) {
    let e = stderr(o);
    assert!(!e.contains("panicked"), "rxdump panicked: {e}");
    assert!(o.status.code().is_some(), "rxdump killed by a signal");
}

// ---------------------------------------------------------------------------------------------
// Sample captures.

#[test]
fn openafs_sample_capture() {
    let path = captures_dir().join("sample-openafs-rx.pcap");
    let o = rxdump(&[path.to_str().unwrap()]);
    assert_no_panic(&o);
    let out = stdout(&o);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "stdout:\n{out}\nstderr:\n{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 117, "one line per packet");
    assert!(!out.contains("ERROR"), "{out}");
    // rxdebug -version against the ptserver: request then an "OpenAFS ..." reply.
    assert!(
        lines[0].contains(" VERSION ") && lines[0].contains(": request len=1"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains(" VERSION ") && lines[1].contains("reply \"OpenAFS"),
        "{}",
        lines[1]
    );
    assert!(lines[0].starts_with("07:38:46.224324 127.0.0.1:44988 > 127.0.0.1:7002: VERSION "));
    // rxdebug statistics.
    assert!(
        out.contains(" DEBUG ") && out.contains("request type=GETSTATS"),
        "{out}"
    );
    // An application abort (PRNOENT-like code from pts) and ubik's abort.
    assert!(
        out.lines()
            .any(|l| l.contains(" ABORT ") && l.contains("code=267269")),
        "{out}"
    );
    // rxkad CHALLENGE/RESPONSE.
    assert!(
        out.lines()
            .any(|l| l.contains(" CHALLENGE ") && l.contains("rxkad v2 version=2"))
    );
    assert!(
        out.lines()
            .any(|l| l.contains(" RESPONSE ") && l.contains("kvno="))
    );
    // ACKs with trailers and soft-ACK maps.
    assert!(
        out.lines()
            .any(|l| l.contains(" ACK ") && l.contains("trailer maxMTU="))
    );
    assert!(
        out.lines()
            .any(|l| l.contains(" ACK ") && l.contains("acks=A"))
    );
    assert!(err.contains("117 packets read"), "{err}");
    assert!(err.contains("0 errors"), "{err}");
}

#[test]
fn linux_sample_capture() {
    let path = captures_dir().join("sample-linux-rx.pcap");
    let o = rxdump(&[path.to_str().unwrap()]);
    assert_no_panic(&o);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{}", stderr(&o));
    assert_eq!(out.lines().count(), 48);
    assert!(!out.contains("ERROR"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.contains(" CHALLENGE ") && l.contains("rxkad"))
    );
    assert!(out.lines().any(|l| l.contains(" ABORT ")));
    assert!(
        out.lines()
            .any(|l| l.contains(" ACK ") && l.contains("reason=PING_RESPONSE"))
    );
    assert!(
        out.lines()
            .any(|l| l.contains(" DATA ") && l.contains("flags=CLIENT"))
    );
}

#[test]
fn json_sample_capture() {
    let path = captures_dir().join("sample-openafs-rx.pcap");
    let o = rxdump(&["--json", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    let mut kinds = std::collections::BTreeSet::new();
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("valid JSON");
        assert!(v.get("error").is_none(), "{line}");
        let h = &v["header"];
        for k in [
            "epoch",
            "cid",
            "call",
            "seq",
            "serial",
            "type",
            "flags",
            "user_status",
        ] {
            assert!(h.get(k).is_some(), "missing header.{k} in {line}");
        }
        for k in ["security_index", "cksum", "service"] {
            assert!(h.get(k).is_some(), "missing header.{k} in {line}");
        }
        kinds.insert(v["body"]["kind"].as_str().unwrap().to_string());
    }
    for k in [
        "data",
        "ack",
        "abort",
        "version",
        "debug",
        "challenge",
        "response",
    ] {
        assert!(kinds.contains(k), "no {k} in {kinds:?}");
    }
    let first: serde_json::Value = serde_json::from_str(out.lines().nth(1).unwrap()).unwrap();
    assert_eq!(first["body"]["variant"], "reply");
    assert!(
        first["body"]["text"]
            .as_str()
            .unwrap()
            .starts_with("OpenAFS")
    );
    assert_eq!(first["ts"], "2026-11-28T07:38:46.224442Z");
}

#[test]
fn count_only() {
    let path = captures_dir().join("sample-linux-rx.pcap");
    let o = rxdump(&["--count-only", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.starts_with("48 packets read, 48 UDP, 48 Rx, 48 decoded, 0 errors; DATA "));
    let o = rxdump(&["--count-only", "--json", path.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["rx"], 48);
    assert_eq!(v["errors"], 0);
    assert!(v["types"]["ACK"].as_u64().unwrap() > 0);
}

#[test]
fn help_has_examples() {
    let o = rxdump(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(out.contains("Examples:") && out.contains("--port") && out.contains("--json"));
    assert!(out.contains("Exit status"));
}

// ---------------------------------------------------------------------------------------------
// Synthesised captures.

const CLIENT: ([u8; 4], u16) = ([10, 0, 0, 1], 40001);
const SERVER: ([u8; 4], u16) = ([10, 0, 0, 2], 7009);

#[derive(Clone, Copy)]
enum Link {
    Ethernet,
    RawIp,
}

/// One UDP datagram to put in a capture.
struct Dgram {
    src: ([u8; 4], u16),
    dst: ([u8; 4], u16),
    payload: Vec<u8>,
    /// Keep only this many bytes of the frame (snaplen).
    snap: Option<usize>,
}

fn dgram(payload: Vec<u8>) -> Dgram {
    Dgram {
        src: CLIENT,
        dst: SERVER,
        payload,
        snap: None,
    }
}

fn frame(link: Link, d: &Dgram) -> Vec<u8> {
    let mut out = Vec::new();
    match link {
        Link::Ethernet => PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(d.src.0, d.dst.0, 64)
            .udp(d.src.1, d.dst.1)
            .write(&mut out, &d.payload)
            .unwrap(),
        Link::RawIp => PacketBuilder::ipv4(d.src.0, d.dst.0, 64)
            .udp(d.src.1, d.dst.1)
            .write(&mut out, &d.payload)
            .unwrap(),
    }
    out
}

fn write_pcap(link: Link, dgrams: &[Dgram]) -> PathBuf {
    let path = scratch("synth.pcap");
    let header = PcapHeader {
        datalink: match link {
            Link::Ethernet => DataLink::ETHERNET,
            Link::RawIp => DataLink::RAW,
        },
        ..PcapHeader::default()
    };
    let file = std::fs::File::create(&path).unwrap();
    let mut w = PcapWriter::with_header(file, header).unwrap();
    for (i, d) in dgrams.iter().enumerate() {
        let full = frame(link, d);
        let data = match d.snap {
            Some(n) => &full[..n],
            None => &full[..],
        };
        let ts = Duration::new(1_700_000_000 + i as u64, 123_456_000);
        w.write_packet(&PcapPacket::new(ts, full.len() as u32, data))
            .unwrap();
    }
    path
}

fn header(ty: PacketType, flags: Flags, seq: u32, serial: u32) -> Header {
    Header {
        epoch: Epoch(0x8123_4567),
        cid: Cid(0x0001_0004 | 1),
        call_number: CallNumber(7),
        seq: Seq(seq),
        serial: Serial(serial),
        packet_type: ty,
        flags,
        user_status: 0,
        security_index: SecurityIndex(0),
        cksum: 0,
        service_id: ServiceId(147),
    }
}

/// A jumbo DATA of `n` subpackets, the last `last_len` bytes long, built by the codec.
fn jumbo_bytes(n: usize, last_len: usize) -> Vec<u8> {
    let mut subs = Vec::new();
    for i in 0..n {
        let last = i + 1 == n;
        let mut flags = Flags::CLIENT_INITIATED;
        if last {
            flags = flags | Flags::LAST_PACKET;
        } else {
            flags = flags | Flags::JUMBO_PACKET;
        }
        let h = header(PacketType::DATA, flags, 1 + i as u32, 10 + i as u32);
        let len = if last { last_len } else { JUMBO_DATALEN };
        subs.push((h, Bytes::from(vec![i as u8; len])));
    }
    let (h, d) = Data::build_jumbo(&subs).expect("build jumbo");
    let mut out = h.to_bytes().to_vec();
    d.emit(&mut out);
    out
}

fn ack_bytes(acks: Vec<u8>, trailer: Option<AckTrailer>) -> Vec<u8> {
    let p = Packet {
        header: header(PacketType::ACK, Flags::SLOW_START_OK, 0, 20),
        body: rxrpc_proto::wire::Body::Ack(Ack {
            buffer_space: 32,
            max_skew: 0,
            first_packet: Seq(3),
            previous_packet: Seq(5),
            serial: Serial(12),
            reason: AckReason::REQUESTED,
            acks,
            trailer,
        }),
    };
    p.to_vec()
}

const TRAILER: AckTrailer = AckTrailer {
    max_mtu: 1444,
    if_mtu: 1444,
    rwind: 255,
    jumbo_max: 4,
};

/// The codec's own error text for `bytes`, which rxdump must print.
fn wire_error(bytes: &[u8]) -> String {
    Packet::parse(bytes)
        .expect_err("should not decode")
        .to_string()
}

#[test]
fn good_synthesised_packets() {
    for link in [Link::Ethernet, Link::RawIp] {
        let jumbo = jumbo_bytes(3, 100);
        let mut acks = vec![1u8, 1, 0, 0, 1];
        acks.push(0x42);
        let full: Vec<u8> = (0..255).map(|i| (i % 3 == 0) as u8).collect();
        let dgrams = vec![
            dgram(jumbo),
            dgram(ack_bytes(acks, Some(TRAILER))),
            dgram(ack_bytes(vec![1, 0], None)),
            dgram(ack_bytes(full.clone(), Some(TRAILER))),
        ];
        let path = write_pcap(link, &dgrams);
        let o = rxdump(&[path.to_str().unwrap()]);
        assert_no_panic(&o);
        let out = stdout(&o);
        assert_eq!(o.status.code(), Some(0), "{out}\n{}", stderr(&o));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4, "{out}");

        let l = lines[0];
        assert!(
            l.starts_with("22:13:20.123456 10.0.0.1:40001 > 10.0.0.2:7009: DATA "),
            "{l}"
        );
        assert!(
            l.contains("epoch=0x81234567 cid=00010004:1 call=7 seq=1 serial=10"),
            "{l}"
        );
        assert!(l.contains("flags=CLIENT|JUMBO"), "{l}");
        assert!(l.contains("service=147"), "{l}");
        assert!(l.contains("len=2924 jumbo subpackets=3"), "{l}");
        assert!(
            l.contains("[seq=1 serial=10 flags=CLIENT|JUMBO len=1412]"),
            "{l}"
        );
        assert!(
            l.contains("[seq=2 serial=11 flags=CLIENT|JUMBO len=1412]"),
            "{l}"
        );
        assert!(
            l.contains("[seq=3 serial=12 flags=CLIENT|LAST len=100]"),
            "{l}"
        );

        let l = lines[1];
        assert!(l.contains(" ACK ") && l.contains("flags=SLOW_START"), "{l}");
        assert!(l.contains("reason=REQUESTED firstPacket=3 previousPacket=5 serial=12 nAcks=6"));
        assert!(l.contains("acks=AANNA[42]"), "{l}");
        assert!(
            l.contains("trailer maxMTU=1444 ifMTU=1444 rwind=255 jumbo_max=4"),
            "{l}"
        );
        assert!(!l.contains("pad="), "zero pad is not shown: {l}");

        let l = lines[2];
        assert!(
            l.contains("nAcks=2 acks=AN") && l.ends_with("no trailer"),
            "{l}"
        );

        let l = lines[3];
        let map: String = full
            .iter()
            .map(|&b| if b == 1 { 'A' } else { 'N' })
            .collect();
        assert!(l.contains(&format!("nAcks=255 acks={map} ")), "{l}");
        assert!(l.contains("trailer maxMTU=1444"), "{l}");
    }
}

#[test]
fn ack_nonzero_pad_is_shown() {
    let mut b = ack_bytes(vec![1], Some(TRAILER));
    // The pad follows header(28) + fixed(18) + 1 soft-ACK.
    b[HEADER_LEN + 18 + 1] = 0xab;
    let path = write_pcap(Link::RawIp, &[dgram(b)]);
    let o = rxdump(&[path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        stdout(&o).contains(" pad=ab0000 trailer maxMTU=1444"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn bad_synthesised_packets() {
    // 1. A header cut short.
    let short_header = vec![0u8; 20];
    // 2. A jumbo whose first (non-terminal) subpacket is short.
    let mut short_sub = jumbo_bytes(3, 100);
    short_sub.truncate(HEADER_LEN + 1000);
    // 3. A jumbo with LAST on a non-terminal subpacket: set LAST in the main header of a
    //    2-subpacket jumbo.
    let mut last_nonterm = jumbo_bytes(2, 50);
    last_nonterm[21] |= Flags::LAST_PACKET.0;
    // 4. A truncated ACK: fixed part cut off.
    let mut trunc_ack = ack_bytes(vec![1, 1, 1], Some(TRAILER));
    trunc_ack.truncate(HEADER_LEN + 10);
    // 5. An ACK whose soft-ACK array is cut off.
    let mut trunc_acks = ack_bytes(vec![1; 10], None);
    trunc_acks.truncate(HEADER_LEN + 18 + 4);

    let cases = [short_header, short_sub, last_nonterm, trunc_ack, trunc_acks];
    let expected: Vec<String> = cases.iter().map(|b| wire_error(b)).collect();
    assert_eq!(expected[0], "header truncated: need 28 bytes, have 20");
    assert!(
        expected[1].contains("jumbo subpacket 0 is short"),
        "{}",
        expected[1]
    );
    assert!(
        expected[2].contains("LAST_PACKET set but is not the last"),
        "{}",
        expected[2]
    );

    let dgrams: Vec<Dgram> = cases.iter().map(|b| dgram(b.clone())).collect();
    let path = write_pcap(Link::Ethernet, &dgrams);
    let o = rxdump(&[path.to_str().unwrap()]);
    assert_no_panic(&o);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), cases.len(), "{out}");
    assert!(lines[0].ends_with(": ERROR size=20: header truncated: need 28 bytes, have 20"));
    for (line, want) in lines.iter().zip(&expected).skip(1) {
        assert!(line.ends_with(&format!("ERROR: {want}")), "{line} / {want}");
        // The readable header is still printed.
        assert!(line.contains("epoch=0x81234567"), "{line}");
    }
    assert!(lines[1].contains(" DATA ") && lines[3].contains(" ACK "));
    let err = stderr(&o);
    assert!(err.contains("5 Rx, 0 decoded, 5 errors"), "{err}");

    // The same in JSON.
    let o = rxdump(&["--json", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    for (line, want) in out.lines().zip(&expected) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["error"].as_str(), Some(want.as_str()), "{line}");
        assert!(v["len"].as_u64().is_some(), "{line}");
        assert!(v.get("body").is_none(), "{line}");
    }
    let first: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert!(first["header"].is_null());
    assert_eq!(first["len"], 20);
}

#[test]
fn good_and_bad_mixed_exit_1() {
    let mut bad = ack_bytes(vec![1], None);
    bad.truncate(40);
    let path = write_pcap(Link::RawIp, &[dgram(ack_bytes(vec![], None)), dgram(bad)]);
    let o = rxdump(&[path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.lines().next().unwrap().contains("nAcks=0 acks=-"),
        "{out}"
    );
    assert!(
        stderr(&o).contains("2 Rx, 1 decoded, 1 errors; ACK 1"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn snaplen_truncated_datagram_is_an_error_line() {
    let mut d = dgram(jumbo_bytes(2, 10));
    // Ethernet 14 + IPv4 20 + UDP 8 + 40 bytes of Rx.
    d.snap = Some(14 + 20 + 8 + 40);
    let path = write_pcap(Link::Ethernet, &[d]);
    let o = rxdump(&[path.to_str().unwrap()]);
    assert_no_panic(&o);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains(" DATA epoch=0x81234567"), "{out}");
    assert!(
        out.contains("ERROR: datagram truncated by the capture: 40 of 1454 bytes"),
        "{out}"
    );
}

#[test]
fn ports_default_learned_and_explicit() {
    let abort = |code: i32| {
        let mut b = header(PacketType::ABORT, Flags::empty(), 0, 1)
            .to_bytes()
            .to_vec();
        b.extend_from_slice(&code.to_be_bytes());
        b
    };
    let other = ([10, 0, 0, 9], 5555);
    let dgrams = vec![
        // Not Rx yet: neither port in 7000-7009, nothing learned.
        Dgram {
            src: CLIENT,
            dst: other,
            payload: abort(-10),
            snap: None,
        },
        // Client talks to a server port: the client's endpoint is learned.
        Dgram {
            src: CLIENT,
            dst: SERVER,
            payload: abort(-1),
            snap: None,
        },
        // Now the client's endpoint is Rx towards anyone, in either direction.
        Dgram {
            src: other,
            dst: CLIENT,
            payload: abort(-5),
            snap: None,
        },
        // Another endpoint that was never seen with an Rx port: not Rx.
        Dgram {
            src: ([10, 0, 0, 3], 40001),
            dst: other,
            payload: abort(-6),
            snap: None,
        },
    ];
    let path = write_pcap(Link::RawIp, &dgrams);
    let o = rxdump(&[path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].contains("code=-1 (RX_CALL_DEAD)"), "{out}");
    assert!(lines[1].contains("10.0.0.9:5555 > 10.0.0.1:40001"), "{out}");
    assert!(lines[1].contains("code=-5 (RX_PROTOCOL_ERROR)"), "{out}");
    assert!(
        stderr(&o).contains("4 packets read, 4 UDP, 2 Rx"),
        "{}",
        stderr(&o)
    );

    // --port replaces the default: with 6000 nothing here is Rx (7009 no longer counts).
    let o = rxdump(&["--port", "6000", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), "");
    assert!(
        stderr(&o).contains("4 packets read, 4 UDP, 0 Rx"),
        "{}",
        stderr(&o)
    );
    // With 5555, the first datagram teaches 10.0.0.1:40001 and 10.0.0.3:40001 talks to 5555.
    let o = rxdump(&["--port", "5555", path.to_str().unwrap()]);
    assert_eq!(stdout(&o).lines().count(), 4, "{}", stdout(&o));
    // Ranges and repeats.
    let o = rxdump(&[
        "--port",
        "1-2",
        "--port",
        "7009-7009",
        path.to_str().unwrap(),
    ]);
    assert_eq!(stdout(&o).lines().count(), 2);
    // A bad range is a usage error.
    let o = rxdump(&["--port", "7009-7000", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("first port is above the last"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn pcapng_with_linux_sll2_and_resolutions() {
    let ip = frame(Link::RawIp, &dgram(ack_bytes(vec![1], None)));
    let mut sll2 = vec![0u8; 20];
    sll2[0..2].copy_from_slice(&0x0800u16.to_be_bytes());
    sll2.extend_from_slice(&ip);

    let path = scratch("synth.pcapng");
    let file = std::fs::File::create(&path).unwrap();
    let mut w = PcapNgWriter::new(file).unwrap();
    // Interface 0: nanosecond resolution, which is how pcap-file writes timestamps.
    let mut idb = InterfaceDescriptionBlock::new(DataLink::LINUX_SLL2, 0xffff);
    idb.options.push(InterfaceDescriptionOption::IfTsResol(9));
    w.write_pcapng_block(idb).unwrap();
    // Interface 1: default (microsecond) resolution; write the microsecond count raw.
    w.write_pcapng_block(InterfaceDescriptionBlock::new(DataLink::RAW, 0xffff))
        .unwrap();
    let epb = |iface: u32, ts: Duration, data: &[u8]| EnhancedPacketBlock {
        interface_id: iface,
        timestamp: ts,
        original_len: data.len() as u32,
        data: Cow::Owned(data.to_vec()),
        options: vec![],
    };
    w.write_pcapng_block(epb(0, Duration::new(1_700_000_000, 1), &sll2))
        .unwrap();
    // 1_700_000_000.5 s in microseconds, smuggled through pcap-file's nanosecond field.
    w.write_pcapng_block(epb(1, Duration::from_nanos(1_700_000_000_500_000), &ip))
        .unwrap();
    drop(w);

    let o = rxdump(&[path.to_str().unwrap()]);
    assert_no_panic(&o);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{}", stderr(&o));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("22:13:20.000000001 10.0.0.1:40001 > 10.0.0.2:7009: ACK "));
    assert!(lines[1].starts_with("22:13:20.500000 10.0.0.1:40001 > 10.0.0.2:7009: ACK "));
}

#[test]
fn truncated_pcap_file() {
    let dgrams: Vec<Dgram> = (0..3)
        .map(|_| dgram(ack_bytes(vec![1], Some(TRAILER))))
        .collect();
    let path = write_pcap(Link::Ethernet, &dgrams);
    let bytes = std::fs::read(&path).unwrap();
    // Cut at every length from inside the last record down to inside the file header.
    for cut in [bytes.len() - 1, bytes.len() - 30, 24 + 16 + 5, 30, 10, 0] {
        let p = scratch("cut.pcap");
        std::fs::write(&p, &bytes[..cut]).unwrap();
        let o = rxdump(&[p.to_str().unwrap()]);
        assert_no_panic(&o);
        assert_ne!(o.status.code(), Some(0), "cut at {cut}");
        assert_eq!(o.status.code(), Some(2), "cut at {cut}: {}", stderr(&o));
    }
    // Cut inside the last record: the complete records are still printed, then the error.
    let p = scratch("cut.pcap");
    std::fs::write(&p, &bytes[..bytes.len() - 30]).unwrap();
    let o = rxdump(&[p.to_str().unwrap()]);
    let out = stdout(&o);
    assert_eq!(
        out.lines().filter(|l| l.contains(" ACK ")).count(),
        2,
        "{out}"
    );
    assert!(out.contains("ERROR capture: capture file truncated: record 3 is incomplete"));
    assert!(
        stderr(&o).contains("stopped: capture file truncated"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn not_a_pcap_and_missing_file() {
    let p = scratch("notes.txt");
    std::fs::write(&p, "this is not a capture file\n").unwrap();
    let o = rxdump(&[p.to_str().unwrap()]);
    assert_no_panic(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("not a pcap or pcapng file"),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).is_empty());

    let p = scratch("does-not-exist.pcap");
    let o = rxdump(&[p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("does-not-exist.pcap"), "{}", stderr(&o));

    let o = rxdump(&[]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "missing argument is a usage error"
    );
}

#[test]
fn corrupted_captures_never_panic() {
    let path = captures_dir().join("sample-linux-rx.pcap");
    let bytes = std::fs::read(path).unwrap();
    // Flip bytes throughout the file (record headers, IP headers, Rx bodies).
    let mut state = 0x1234_5678u32;
    for round in 0..40 {
        let mut b = bytes.clone();
        for _ in 0..20 {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let i = 24 + (state as usize) % (b.len() - 24);
            b[i] = (state >> 8) as u8;
        }
        let p = scratch(&format!("fuzz{round}.pcap"));
        std::fs::write(&p, &b).unwrap();
        let o = rxdump(&[p.to_str().unwrap()]);
        assert_no_panic(&o);
        assert!(
            matches!(o.status.code(), Some(0..=2)),
            "round {round}: {:?}",
            o.status
        );
    }
}
