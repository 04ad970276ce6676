//! Proves the fixtures work against the real peers: Rx VERSION probes to OpenAFS and to the
//! Linux kernel, the OpenAFS tools, and packet capture on `lo`.
//!
//! Without peers these tests print `SKIPPED: ...` and pass, except under CI (`CI=true`) or
//! `RXRPC_REQUIRE_PEERS=1`, where a missing peer fails them. Run them with `scripts/test-all`
//! (or `scripts/peers.sh start` then `cargo test -p rxrpc-testkit`).

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::time::Duration;

use rxrpc_proto::wire::{Body, Flags, Packet, PacketType, Version};
use rxrpc_testkit::{
    Capture, LinuxGuest, OpenAfsCell, OpenAfsTool, PTSERVER_PORT, RXPERF_SERVICE, RxHeader,
    VERSION_REQUEST, VLSERVER_PORT, rx_version_probe,
};

const TOOL_TIMEOUT: Duration = Duration::from_secs(30);

/// Decode `datagram` with the codec and cross-check its header against the testkit's
/// independent hand-written decoder.
fn decode(datagram: &[u8]) -> Packet {
    let pkt =
        Packet::parse(datagram).unwrap_or_else(|e| panic!("codec rejects {datagram:02x?}: {e}"));
    let by_hand = RxHeader::parse(datagram).unwrap();
    let h = &pkt.header;
    assert_eq!(
        (h.epoch.0, h.cid.0, h.call_number.0, h.seq.0, h.serial.0),
        (
            by_hand.epoch,
            by_hand.cid,
            by_hand.call_number,
            by_hand.seq,
            by_hand.serial
        )
    );
    assert_eq!(
        (h.packet_type.0, h.flags.0),
        (by_hand.packet_type, by_hand.flags)
    );
    assert_eq!(
        (h.user_status, h.security_index.0, h.cksum, h.service_id.0),
        (
            by_hand.user_status,
            by_hand.security_index,
            by_hand.cksum,
            by_hand.service_id
        )
    );
    assert_eq!(
        pkt.to_vec(),
        datagram,
        "codec does not re-emit the datagram byte for byte"
    );
    pkt
}

/// Probe `addr`, check the reply is a well-formed VERSION reply to our request (decoded with
/// the project's wire codec), and return its version string.
fn probe_version(addr: SocketAddr) -> String {
    let datagram = rx_version_probe(addr).unwrap_or_else(|e| panic!("VERSION probe {addr}: {e}"));
    assert_eq!(
        datagram.len(),
        28 + 65,
        "{addr}: VERSION reply is not 28 + 65 bytes"
    );
    let pkt = decode(&datagram);
    let header = pkt.header;
    assert_eq!(header.packet_type, PacketType::VERSION, "{addr}: {pkt:?}");
    assert!(
        !header.flags.contains(Flags::CLIENT_INITIATED),
        "{addr}: {pkt:?}"
    );
    let Body::Version(version @ Version::Reply { .. }) = &pkt.body else {
        panic!("{addr}: not a VERSION reply: {pkt:?}");
    };
    // Both implementations answer with our epoch/cid/call number copied back.
    assert_eq!(
        (header.epoch.0, header.cid.0, header.call_number.0),
        (999, 0, 101),
        "{addr}: header not echoed: {pkt:?}"
    );
    let text = version.text().unwrap();
    assert_eq!(Some(&text), rxrpc_testkit::version_text(&datagram).as_ref());
    text
}

#[test]
fn version_request_matches_codec() {
    // The testkit's hand-made request is what the codec builds and parses.
    let pkt = decode(&VERSION_REQUEST);
    assert_eq!(pkt.header.packet_type, PacketType::VERSION);
    assert_eq!(
        pkt.header.flags,
        Flags::CLIENT_INITIATED.with(Flags::LAST_PACKET)
    );
    assert_eq!(pkt.body, Body::Version(Version::request()));
}

#[test]
fn openafs_ptserver_answers_version() {
    let Some(cell) = OpenAfsCell::get() else {
        return;
    };
    assert_eq!(cell.ptserver().port(), PTSERVER_PORT);
    let reply = probe_version(cell.ptserver());
    assert!(
        reply.starts_with("OpenAFS"),
        "ptserver version: {:?}",
        reply
    );
    assert_eq!(reply, cell.version());
}

#[test]
fn openafs_vlserver_answers_version() {
    let Some(cell) = OpenAfsCell::get() else {
        return;
    };
    assert_eq!(cell.vlserver().port(), VLSERVER_PORT);
    let reply = probe_version(cell.vlserver());
    assert!(
        reply.starts_with("OpenAFS"),
        "vlserver version: {:?}",
        reply
    );
}

#[test]
fn linux_rxperf_port_answers_version() {
    let Some(guest) = LinuxGuest::get() else {
        return;
    };
    assert_eq!(guest.rxperf_service(), RXPERF_SERVICE);
    let reply = probe_version(guest.rxperf());
    let text = reply;
    assert!(text.contains("AF_RXRPC"), "guest version: {text:?}");
    if let Some(kernel) = guest.kernel() {
        assert_eq!(text, format!("linux-{kernel} AF_RXRPC"));
    }
}

#[test]
fn linux_cache_manager_answers_version() {
    let Some(guest) = LinuxGuest::get() else {
        return;
    };
    let Some(cm) = guest.cache_manager() else {
        return;
    };
    assert!(probe_version(cm).contains("AF_RXRPC"));
}

#[test]
fn rxdebug_version_against_ptserver() {
    let Some(cell) = OpenAfsCell::get() else {
        return;
    };
    let port = cell.ptserver().port().to_string();
    let host = cell.host().to_string();
    let out = OpenAfsTool::Rxdebug
        .run([host.as_str(), &port, "-version"], TOOL_TIMEOUT)
        .unwrap();
    out.assert_success();
    assert!(out.stdout.contains("AFS version: OpenAFS"), "{out}");
}

#[test]
fn rxdebug_version_against_linux_guest() {
    let Some(guest) = LinuxGuest::get() else {
        return;
    };
    let port = guest.rxperf().port().to_string();
    let host = guest.host().to_string();
    let out = OpenAfsTool::Rxdebug
        .run([host.as_str(), &port, "-version"], TOOL_TIMEOUT)
        .unwrap();
    out.assert_success();
    assert!(out.stdout.contains("AF_RXRPC"), "{out}");
}

#[test]
fn udebug_sees_sync_site() {
    let Some(cell) = OpenAfsCell::get() else {
        return;
    };
    let port = cell.vlserver().port().to_string();
    let host = cell.host().to_string();
    let out = OpenAfsTool::Udebug
        .run([host.as_str(), &port], TOOL_TIMEOUT)
        .unwrap();
    out.assert_success();
    assert!(out.stdout.contains("I am sync site"), "{out}");
}

#[test]
fn pts_examine_with_cell_config() {
    let Some(cell) = OpenAfsCell::get() else {
        return;
    };
    assert!(cell.noauth(), "peers.sh starts the cell in NoAuth mode");
    let mut args: Vec<&OsStr> = ["examine", "admin", "-noauth"].map(OsStr::new).to_vec();
    args.extend(cell.config_args());
    let out = OpenAfsTool::Pts.run(args, TOOL_TIMEOUT).unwrap();
    out.assert_success();
    assert!(out.stdout.contains("Name: admin, id: 1"), "{out}");
}

#[test]
fn capture_sees_probe_and_reply() {
    let Some(cell) = OpenAfsCell::get() else {
        return;
    };
    let server = cell.vlserver();
    let mut cap = Capture::start(&[server.port()]).expect("tcpdump on lo");
    let reply = rx_version_probe(server).unwrap();
    let datagrams = cap.stop().unwrap();
    // Not `is_complete()`: the filter is the server's well-known port, which other tests (and
    // other processes) may be using right now; only a capture filtered on a port of one's own
    // can promise to hold everything.
    let stats = cap.stats().expect("tcpdump printed its counters");
    assert!(stats.captured >= 2, "{stats:?}");
    let sent: Vec<_> = datagrams.iter().filter(|d| d.dst == server).collect();
    let recv: Vec<_> = datagrams.iter().filter(|d| d.src == server).collect();
    assert!(
        sent.iter().any(|d| d.payload == VERSION_REQUEST),
        "our request is not in the capture ({} datagrams, filter {:?})",
        datagrams.len(),
        cap.filter()
    );
    // Other tests may talk to the same server concurrently: look for our exchange.
    let ours = recv
        .iter()
        .find(|d| d.payload == reply)
        .expect("the reply is not in the capture");
    let h = ours.rx_header().unwrap();
    assert_eq!((h.packet_type, h.call_number), (13, 101));
    let pkt = decode(&ours.payload);
    assert!(
        matches!(pkt.body, Body::Version(Version::Reply { .. })),
        "{pkt:?}"
    );
    let request = sent.iter().find(|d| d.payload == VERSION_REQUEST).unwrap();
    assert!(ours.timestamp >= request.timestamp);
    assert_eq!(
        ours.dst, request.src,
        "reply goes back to the probe's socket"
    );
}
