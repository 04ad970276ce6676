//! Hostile peers (issue 9): scripted forged, malformed and abusive packets against real
//! engines on the simulated network of `tests/netsim`, and the endpoint's resource bounds.
//!
//! Each test checks what the engine does against the documented behaviour
//! (`reference-linux-rxrpc.md` §1.2, §1.5, §1.11; `reference-openafs-rx.md` §1.13): the abort
//! code it sends or the silent drop, that nothing panics, that a healthy call on another
//! connection still delivers every byte, and at the end ([`Lab::finish`]) that closing the
//! sockets and letting every timeout pass leaves no call, connection or peer behind.
//!
//! Regression tests for findings of the `endpoint` fuzz target say "Fuzz finding".
//!
//! `cargo test -p rxrpc-proto --test hostile`

#[allow(dead_code)]
#[path = "netsim/app.rs"]
mod app;
#[allow(dead_code)]
#[path = "hostile/lab.rs"]
mod lab;
#[allow(dead_code)]
#[path = "netsim/sim.rs"]
mod sim;

use std::time::Duration;

use bytes::Bytes;
use lab::{HEALTHY, Lab, SERVER_NODE, Sent, VICTIM, ack_body, addr, datagram, retype, trailer};
use rxrpc_proto::wire::{
    ACK_TYPE_ACK, AbortCode, Ack, AckReason, CallNumber, Cid, ConnId, Epoch, Flags, HEADER_LEN,
    Header, JUMBO_DATALEN, PacketType, SecurityIndex, Seq, Serial, ServiceId,
};
use rxrpc_proto::{AbortReason, CallError, CallParams, Completion, EndpointConfig, Instant};

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);
const SVC: ServiceId = app::SVC;
const PROTO: i32 = -5; // RX_PROTOCOL_ERROR

fn client() -> std::net::SocketAddr {
    addr(VICTIM)
}
fn server() -> std::net::SocketAddr {
    addr(SERVER_NODE)
}

/// The last DATA header the victim client sent (a template for forgeries "from the client").
fn client_data(lab: &Lab) -> Header {
    lab.last_header(client(), server(), PacketType::DATA)
        .expect("the victim client sent DATA")
}

/// The last header of type `ty` the server sent to the victim client.
fn server_header(lab: &Lab, ty: PacketType) -> Header {
    lab.last_header(server(), client(), ty)
        .expect("the server sent to the victim client")
}

/// Whether the call ended with our own protocol-error abort for `why`.
fn local_proto(c: Option<Completion>, why: &str) -> bool {
    matches!(c, Some(Completion::LocalAbort { code, reason: AbortReason::ProtocolError(r) })
        if code == AbortCode::RX_PROTOCOL_ERROR && r == why)
}

/// ABORTs sent since `mark` from `from` to `to`, as codes.
fn aborts(
    lab: &Lab,
    mark: usize,
    from: std::net::SocketAddr,
    to: std::net::SocketAddr,
) -> Vec<i32> {
    lab.sent_since(mark, |s| s.from == from && s.to == to)
        .iter()
        .filter_map(Sent::abort_code)
        .collect()
}

/// A fresh DATA header from a fake client: its own epoch and connection ID.
fn fake_data(epoch: u32, conn: u32, call: u32, seq: u32, flags: Flags) -> Header {
    Header {
        epoch: Epoch(epoch),
        cid: Cid::new(ConnId::from_index(conn), rxrpc_proto::wire::Channel(0)),
        call_number: CallNumber(call),
        seq: Seq(seq),
        serial: Serial(seq.max(1)),
        packet_type: PacketType::DATA,
        flags: flags.with(Flags::CLIENT_INITIATED),
        user_status: 0,
        security_index: SecurityIndex(0),
        cksum: 0,
        service_id: SVC,
    }
}

// ----- ACKALL ----------------------------------------------------------------------------

/// A forged ACKALL on a service call that is still receiving its request is dropped (ACKALL
/// is only accepted while transmitting, reference-linux-rxrpc.md §1.2); nothing is sent back
/// and the call goes on to deliver every byte.
#[test]
fn forged_ackall_on_a_receiving_service_call_is_dropped() {
    let mut lab = Lab::plain(1);
    let h = lab.healthy_call(100_000, 100_000);
    let v = lab.victim_call(300_000, 1000);
    lab.run(5 * MS);
    let snap = lab.ep(SERVER_NODE).snapshot();
    assert!(
        snap.calls.iter().any(|c| c.state == "SvRcvReq"),
        "a service call is receiving its request"
    );
    let dropped = lab.ep(SERVER_NODE).stats().dropped;
    let mark = lab.mark();
    let ackall = retype(&client_data(&lab), PacketType::ACKALL, Flags::empty());
    lab.inject_and_settle(client(), server(), datagram(&ackall, &[]));
    assert_eq!(lab.ep(SERVER_NODE).stats().dropped, dropped + 1);
    assert!(aborts(&lab, mark, server(), client()).is_empty());
    lab.run_until_ended(&[(VICTIM, v), (HEALTHY, h)], 60 * SEC);
    lab.assert_intact(VICTIM, v);
    lab.assert_intact(HEALTHY, h);
    lab.finish();
}

/// A forged ACKALL while the server transmits its reply hard-ACKs what was transmitted (as in
/// Linux), including packets that were lost: the call cannot deliver every byte, but it must
/// still end with a documented timeout and leak nothing. (It used to hang for ever: the
/// client's ACKs, now "stale" to the server, counted as transmit progress.)
#[test]
fn forged_ackall_during_a_lossy_reply_ends_the_call() {
    let mut lab = Lab::plain(2);
    lab.w.sim.link_mut(SERVER_NODE, VICTIM).loss = 0.03;
    let h = lab.healthy_call(1000, 300_000);
    let v = lab.victim_call(10, 2_000_000);
    lab.run_until(10 * SEC, |w| w.clients[VICTIM].calls[&v].received > 300_000);
    // Lose what the server sends for a moment, then forge the ACKALL.
    lab.w.sim.link_mut(SERVER_NODE, VICTIM).loss = 1.0;
    lab.run(3 * MS);
    let ackall = retype(&client_data(&lab), PacketType::ACKALL, Flags::empty());
    lab.inject(client(), server(), datagram(&ackall, &[]));
    lab.run(3 * MS);
    lab.w.sim.link_mut(SERVER_NODE, VICTIM).loss = 0.03;
    lab.run_until_ended(&[(VICTIM, v), (HEALTHY, h)], 60 * SEC);
    lab.assert_intact(HEALTHY, h);
    let t = lab.terminal(VICTIM, v).unwrap();
    assert!(app::is_documented_timeout(&t), "victim ended with {t}");
    lab.finish();
}

// ----- ACK sanity -------------------------------------------------------------------------

/// Run a victim call with a big request until the server has ACKed part of it. Returns the
/// lab, the victim's ID, a healthy call's ID and the server's last ACK to the victim.
fn mid_request(seed: u64) -> (Lab, u64, u64, Ack, Header) {
    let mut lab = Lab::plain(seed);
    let h = lab.healthy_call(50_000, 50_000);
    let v = lab.victim_call(3_000_000, 100);
    let mut found = None;
    for _ in 0..1000 {
        lab.run(MS);
        let last = lab
            .sent()
            .iter()
            .rev()
            .find(|s| s.from == server() && s.to == client() && s.ack().is_some())
            .cloned();
        if let Some(s) = last {
            let a = s.ack().unwrap();
            if a.first_packet.0 > 20 {
                found = Some((a, s.header));
                break;
            }
        }
    }
    let (a, hdr) = found.expect("the server ACKed part of the request");
    (lab, v, h, a, hdr)
}

/// An ACK whose firstPacket went backwards is stale: ignored, the call completes.
#[test]
fn ack_with_first_packet_going_backwards_is_ignored() {
    let (mut lab, v, h, a, hdr) = mid_request(3);
    let mark = lab.mark();
    let back = ack_body(
        a.first_packet.0 - 10,
        a.previous_packet.0,
        AckReason::DELAY,
        vec![0; 4],
        trailer(1444, 1444, 32),
    );
    lab.inject_and_settle(
        server(),
        client(),
        datagram(&retype(&hdr, PacketType::ACK, Flags::empty()), &back),
    );
    assert!(aborts(&lab, mark, client(), server()).is_empty());
    lab.run_until_ended(&[(VICTIM, v), (HEALTHY, h)], 120 * SEC);
    lab.assert_intact(VICTIM, v);
    lab.assert_intact(HEALTHY, h);
    lab.finish();
}

/// Check that a forged ACK aborts the victim call with RX_PROTOCOL_ERROR for `why`, the ABORT
/// reaches the server, and the healthy call is untouched.
fn assert_ack_aborts(seed: u64, why: &str, forge: impl FnOnce(&Ack) -> Vec<u8>) {
    let (mut lab, v, h, a, hdr) = mid_request(seed);
    let mark = lab.mark();
    let body = forge(&a);
    lab.inject_and_settle(
        server(),
        client(),
        datagram(&retype(&hdr, PacketType::ACK, Flags::empty()), &body),
    );
    lab.run_until_ended(&[(VICTIM, v)], SEC);
    assert!(
        local_proto(lab.terminal(VICTIM, v), why),
        "{why}: {:?}",
        lab.terminal(VICTIM, v)
    );
    assert_eq!(aborts(&lab, mark, client(), server()), vec![PROTO]);
    lab.run_until_ended(&[(HEALTHY, h)], 60 * SEC);
    lab.assert_intact(HEALTHY, h);
    lab.finish();
}

/// An ACK hard-ACKing beyond what was transmitted aborts the call (RX_PROTOCOL_ERROR).
#[test]
fn ack_beyond_what_was_sent_aborts() {
    assert_ack_aborts(4, "ack-hard-beyond-sent", |a| {
        ack_body(
            a.first_packet.0 + 100_000,
            a.previous_packet.0 + 100_000,
            AckReason::DELAY,
            vec![],
            trailer(1444, 1444, 32),
        )
    });
}

/// An ACK with more soft-ACKs than packets outstanding aborts the call.
#[test]
fn ack_with_too_many_soft_acks_aborts() {
    assert_ack_aborts(5, "ack-too-many-sacks", |a| {
        ack_body(
            a.first_packet.0,
            a.previous_packet.0,
            AckReason::DELAY,
            vec![ACK_TYPE_ACK; 255],
            trailer(1444, 1444, 32),
        )
    });
}

/// An ACK with firstPacket 0 aborts the call.
#[test]
fn ack_with_first_packet_zero_aborts() {
    assert_ack_aborts(6, "ack-first-zero", |_| {
        ack_body(0, 0, AckReason::DELAY, vec![], trailer(1444, 1444, 32))
    });
}

/// Every ACK the server sends is rewritten to carry a hostile trailer (OPENAFS-SA-2017-001:
/// MTU 0 or 65535, window 0 or huge): the sender neither trusts the MTU (no DATA above 1412
/// bytes, checked on the wire) nor deadlocks on a zero window, and the call delivers every
/// byte.
#[test]
fn hostile_ack_trailers_neither_deadlock_nor_oversize() {
    for (seed, (max_mtu, if_mtu, rwind)) in [
        (0u32, 0u32, 0u32),
        (65535, 65535, 0),
        (65535, 0, u32::MAX),
        (1, 1, 1),
    ]
    .into_iter()
    .enumerate()
    {
        let mut lab = Lab::plain(10 + seed as u64);
        let h = lab.healthy_call(10_000, 10_000);
        let v = lab.victim_call(400_000, 1000);
        let srv = server();
        lab.set_rewrite(Some(Box::new(move |s: &Sent| {
            if s.from != srv || s.to != client() {
                return None;
            }
            let mut a = s.ack()?;
            a.trailer = trailer(max_mtu, if_mtu, rwind);
            let mut body = Vec::new();
            a.emit(&mut body);
            Some(datagram(&s.header, &body))
        })));
        lab.run_until_ended(&[(VICTIM, v), (HEALTHY, h)], 600 * SEC);
        lab.assert_intact(VICTIM, v);
        lab.assert_intact(HEALTHY, h);
        let big = lab
            .sent()
            .iter()
            .filter(|s| s.header.packet_type == PacketType::DATA)
            .map(|s| s.bytes.len() - HEADER_LEN)
            .max()
            .unwrap();
        assert!(
            big <= JUMBO_DATALEN,
            "trailer {max_mtu}/{if_mtu}/{rwind}: DATA of {big} bytes"
        );
        lab.finish();
    }
}

// ----- DATA -------------------------------------------------------------------------------

/// DATA with seq 0 or call number 0 for an unknown connection is refused with RX_PROTOCOL_ERROR
/// before any connection or call is made for it.
#[test]
fn data_seq_zero_or_call_zero_on_a_new_connection_is_refused() {
    let mut lab = Lab::plain(20);
    let h = lab.healthy_call(1000, 1000);
    lab.run(5 * MS);
    let (conns, charged) = (
        lab.ep(SERVER_NODE).live_conns(),
        lab.w.servers[0].calls.len(),
    );
    let fake = addr(7);
    for (i, (call, seq)) in [(1, 0), (0, 1), (0, 0)].into_iter().enumerate() {
        let mark = lab.mark();
        let d = fake_data(0x8000_0001, 100 + i as u32, call, seq, Flags::LAST_PACKET);
        lab.inject_and_settle(fake, server(), datagram(&d, b"hello"));
        assert_eq!(
            aborts(&lab, mark, server(), fake),
            vec![PROTO],
            "call {call} seq {seq}"
        );
        assert_eq!(lab.ep(SERVER_NODE).live_conns(), conns);
    }
    assert_eq!(
        lab.w.servers[0].calls.len(),
        charged,
        "no incoming call appeared"
    );
    lab.run_until_ended(&[(HEALTHY, h)], 60 * SEC);
    lab.assert_intact(HEALTHY, h);
    lab.finish();
}

/// DATA with seq 0 on a live call aborts that call with RX_PROTOCOL_ERROR (the client learns
/// it from the ABORT); DATA with call number 0 on a live connection is dropped.
#[test]
fn data_seq_zero_on_a_live_call_aborts_it() {
    let mut lab = Lab::plain(21);
    let h = lab.healthy_call(100_000, 1000);
    let v = lab.victim_call(300_000, 1000);
    lab.run(5 * MS);
    let mut d = client_data(&lab);
    d.call_number = CallNumber(0);
    let dropped = lab.ep(SERVER_NODE).stats().dropped;
    let mark = lab.mark();
    lab.inject_and_settle(client(), server(), datagram(&d, b"x"));
    assert_eq!(lab.ep(SERVER_NODE).stats().dropped, dropped + 1);
    assert!(aborts(&lab, mark, server(), client()).is_empty());
    let mut d = client_data(&lab);
    d.seq = Seq(0);
    lab.inject_and_settle(client(), server(), datagram(&d, b"x"));
    lab.run_until_ended(&[(VICTIM, v)], 5 * SEC);
    assert_eq!(
        lab.terminal(VICTIM, v),
        Some(Completion::RemoteAbort(AbortCode::RX_PROTOCOL_ERROR))
    );
    lab.run_until_ended(&[(HEALTHY, h)], 60 * SEC);
    lab.assert_intact(HEALTHY, h);
    lab.finish();
}

/// DATA far beyond the receive window is not buffered: the receiver answers EXCEEDS_WINDOW
/// (or DUPLICATE when the seq lies "behind" in wrap-around order) and the call completes.
#[test]
fn data_far_beyond_the_window_is_refused_and_not_buffered() {
    let mut lab = Lab::plain(22);
    let h = lab.healthy_call(1000, 1000);
    let v = lab.victim_call(300_000, 1000);
    lab.run(5 * MS);
    for seq in [300, 10_000, 0x7fff_ffff, 0x8000_0000, u32::MAX] {
        let mark = lab.mark();
        let mut d = client_data(&lab);
        d.seq = Seq(seq);
        d.serial = Serial(d.serial.0 + 5000);
        d.flags = Flags::CLIENT_INITIATED;
        lab.inject_and_settle(client(), server(), datagram(&d, &[0xee; 1000]));
        let reasons: Vec<AckReason> = lab
            .sent_since(mark, |s| s.from == server() && s.to == client())
            .iter()
            .filter_map(Sent::ack)
            .map(|a| a.reason)
            .collect();
        assert!(
            reasons.contains(&AckReason::EXCEEDS_WINDOW) || reasons.contains(&AckReason::DUPLICATE),
            "seq {seq}: {reasons:?}"
        );
    }
    lab.run_until_ended(&[(VICTIM, v), (HEALTHY, h)], 60 * SEC);
    // The application checked every byte: none of the 0xee bytes got in.
    lab.assert_intact(VICTIM, v);
    lab.assert_intact(HEALTHY, h);
    lab.finish();
}

/// A jumbo DATA packet whose non-terminal subpacket carries LAST_PACKET aborts the call with
/// RX_PROTOCOL_ERROR (reference-linux-rxrpc.md §1.4).
#[test]
fn last_on_a_non_terminal_jumbo_subpacket_aborts() {
    let mut lab = Lab::plain(23);
    let h = lab.healthy_call(1000, 1000);
    let v = lab.victim_call(300_000, 1000);
    lab.run(5 * MS);
    let mut d = client_data(&lab);
    d.flags = Flags::CLIENT_INITIATED | Flags::JUMBO_PACKET | Flags::LAST_PACKET;
    let mut body = vec![0u8; JUMBO_DATALEN];
    body.extend_from_slice(&[0, 0, 0, 0]);
    body.extend_from_slice(&[1; 10]);
    let mark = lab.mark();
    lab.inject_and_settle(client(), server(), datagram(&d, &body));
    // The first ABORT, then the connection re-sends it for the client's DATA still coming.
    let codes = aborts(&lab, mark, server(), client());
    assert!(
        !codes.is_empty() && codes.iter().all(|&c| c == PROTO),
        "{codes:?}"
    );
    lab.run_until_ended(&[(VICTIM, v)], 5 * SEC);
    assert_eq!(
        lab.terminal(VICTIM, v),
        Some(Completion::RemoteAbort(AbortCode::RX_PROTOCOL_ERROR))
    );
    lab.run_until_ended(&[(HEALTHY, h)], 60 * SEC);
    lab.assert_intact(HEALTHY, h);
    lab.finish();
}

/// DATA beyond the packet marked LAST, once the request is complete, aborts the call.
#[test]
fn data_after_the_last_packet_aborts() {
    let mut lab = Lab::plain(24);
    let h = lab.healthy_call(1000, 1000);
    let v = lab.victim_call(100, 3_000_000);
    lab.run_until(10 * SEC, |w| w.clients[VICTIM].calls[&v].received > 0);
    let mut d = client_data(&lab);
    assert!(d.flags.contains(Flags::LAST_PACKET));
    d.seq = d.seq.next();
    d.serial = Serial(d.serial.0 + 5000);
    let mark = lab.mark();
    lab.inject_and_settle(client(), server(), datagram(&d, b"more"));
    assert_eq!(aborts(&lab, mark, server(), client()), vec![PROTO]);
    lab.run_until_ended(&[(VICTIM, v), (HEALTHY, h)], 60 * SEC);
    assert_eq!(
        lab.terminal(VICTIM, v),
        Some(Completion::RemoteAbort(AbortCode::RX_PROTOCOL_ERROR))
    );
    lab.assert_intact(HEALTHY, h);
    lab.finish();
}

// ----- call numbers -----------------------------------------------------------------------

/// After a call succeeded, DATA reusing its call number is dropped by the service connection
/// (it does not run the call again), and a call number going backwards is dropped too.
#[test]
fn reused_or_backward_call_numbers_are_dropped() {
    let mut lab = Lab::plain(30);
    let v1 = lab.victim_call(100, 100);
    lab.run_until_ended(&[(VICTIM, v1)], 10 * SEC);
    let v2 = lab.victim_call(100, 100);
    lab.run_until_ended(&[(VICTIM, v2)], 10 * SEC);
    lab.run(SEC);
    let d2 = client_data(&lab);
    assert_eq!(d2.call_number, CallNumber(2));
    let h = lab.healthy_call(100_000, 100_000);
    let calls = lab.w.servers[0].calls.len();
    let created = lab.ep(SERVER_NODE).stats().calls_created;
    for n in [2, 1, 0x8000_0002] {
        let mut d = d2;
        d.call_number = CallNumber(n);
        d.serial = Serial(d.serial.0 + 100 + n);
        let mark = lab.mark();
        lab.inject_and_settle(client(), server(), datagram(&d, b"again"));
        assert!(
            lab.sent_since(mark, |s| s.from == server() && s.to == client())
                .is_empty(),
            "call number {n}: the server answered"
        );
    }
    lab.run_until_ended(&[(HEALTHY, h)], 60 * SEC);
    assert_eq!(
        lab.w.servers[0].calls.len(),
        calls + 1,
        "only the healthy call arrived"
    );
    // Charges made to refill the backlog are the only calls created since.
    let now_created = lab.ep(SERVER_NODE).stats().calls_created;
    assert!(now_created <= created + 1 + 8);
    lab.assert_intact(HEALTHY, h);
    lab.finish();
}

/// A server-side packet for a call number the client never used is dropped by the client
/// connection; the victim call completes.
#[test]
fn future_call_number_on_a_client_connection_is_dropped() {
    let mut lab = Lab::plain(31);
    let v = lab.victim_call(200_000, 200_000);
    lab.run(10 * MS);
    let mut hdr = server_header(&lab, PacketType::ACK);
    let mark = lab.mark();
    for n in [hdr.call_number.0 + 1, hdr.call_number.0 + 1000] {
        hdr.call_number = CallNumber(n);
        let body = ack_body(1, 0, AckReason::IDLE, vec![], trailer(1444, 1444, 32));
        lab.inject_and_settle(server(), client(), datagram(&hdr, &body));
        let mut d = hdr;
        d.packet_type = PacketType::DATA;
        d.seq = Seq(1);
        d.flags = Flags::LAST_PACKET;
        lab.inject_and_settle(server(), client(), datagram(&d, b"reply?"));
    }
    assert!(aborts(&lab, mark, client(), server()).is_empty());
    lab.run_until_ended(&[(VICTIM, v)], 60 * SEC);
    lab.assert_intact(VICTIM, v);
    lab.finish();
}

// ----- CHALLENGE / RESPONSE on rxnull connections ------------------------------------------

/// A flood of CHALLENGEs to a client on an rxnull connection is dropped: no RESPONSE, no
/// ABORT (no amplification), and the call completes. (The security work may later answer a
/// CHALLENGE on an rxnull connection with a connection abort, as Linux does; this test then
/// changes with it.)
#[test]
fn challenge_flood_to_an_rxnull_client_is_dropped() {
    let mut lab = Lab::plain(40);
    let v = lab.victim_call(300_000, 300_000);
    lab.run(5 * MS);
    let mut hdr = server_header(&lab, PacketType::ACK);
    hdr.packet_type = PacketType::CHALLENGE;
    hdr.call_number = CallNumber(0);
    hdr.cid = Cid::new(hdr.cid.conn_id(), rxrpc_proto::wire::Channel(0));
    let dropped = lab.ep(VICTIM).stats().dropped;
    let mark = lab.mark();
    // version 2 challenge: version, nonce, min level, error (16 bytes), and a short one.
    let body: Vec<u8> = [2u32, 0x1234_5678, 1, 0]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    for i in 0..1000u32 {
        hdr.serial = Serial(100_000 + i);
        let b = if i % 2 == 0 { &body[..] } else { &body[..3] };
        lab.inject(server(), client(), datagram(&hdr, b));
        if i % 100 == 0 {
            lab.run(MS);
        }
    }
    lab.run(10 * MS);
    assert_eq!(lab.ep(VICTIM).stats().dropped, dropped + 1000);
    let answers = lab.sent_since(mark, |s| {
        s.from == client()
            && matches!(
                s.header.packet_type,
                PacketType::RESPONSE | PacketType::ABORT
            )
    });
    assert!(answers.is_empty(), "the client answered: {answers:?}");
    lab.run_until_ended(&[(VICTIM, v)], 60 * SEC);
    lab.assert_intact(VICTIM, v);
    lab.finish();
}

/// A RESPONSE on an existing rxnull service connection is dropped; on an unknown connection
/// it is answered with RX_PROTOCOL_ERROR (only DATA may open a connection, §1.11).
#[test]
fn response_on_an_rxnull_connection() {
    let mut lab = Lab::plain(41);
    let v = lab.victim_call(300_000, 1000);
    lab.run(5 * MS);
    let mut hdr = client_data(&lab);
    hdr.packet_type = PacketType::RESPONSE;
    hdr.call_number = CallNumber(0);
    hdr.seq = Seq(0);
    hdr.flags = Flags::CLIENT_INITIATED;
    let body = vec![0u8; 64];
    let mark = lab.mark();
    let dropped = lab.ep(SERVER_NODE).stats().dropped;
    lab.inject_and_settle(client(), server(), datagram(&hdr, &body));
    assert_eq!(lab.ep(SERVER_NODE).stats().dropped, dropped + 1);
    assert!(
        lab.sent_since(mark, |s| s.from == server()
            && s.to == client()
            && s.header.packet_type == PacketType::ABORT)
            .is_empty()
    );
    let fake = addr(8);
    let mut other = hdr;
    other.epoch = Epoch(0x8000_0bad);
    lab.inject_and_settle(fake, server(), datagram(&other, &body));
    assert_eq!(aborts(&lab, mark, server(), fake), vec![PROTO]);
    lab.run_until_ended(&[(VICTIM, v)], 60 * SEC);
    lab.assert_intact(VICTIM, v);
    lab.finish();
}

// ----- connection churn -------------------------------------------------------------------

/// Thousands of fake connections (new connection IDs and epochs, from one address and from
/// many) against small limits: the server's tables stay within them, the excess gets BUSY,
/// the healthy call completes, and once the fakes time out a new peer gets in again.
#[test]
fn connection_and_epoch_churn_stays_bounded() {
    let mut lab = Lab::new(50, |i, c| {
        if i == SERVER_NODE {
            c.max_incoming_conns = 150;
            c.max_incoming_conns_per_peer = 100;
            c.max_incoming_peers = 20;
        }
    });
    let h = lab.healthy_call(2_000_000, 2_000_000);
    lab.run(5 * MS);
    let mark = lab.mark();
    let mut peak = (0, 0);
    for i in 0..3000u32 {
        // One fake address for the first half, then 60 addresses (more than the peer limit).
        let from = if i < 1500 {
            addr(10)
        } else {
            addr(20 + (i % 60) as usize)
        };
        let epoch = 0x8000_0000 | (i % 7);
        let d = fake_data(epoch, 1000 + i, 1, 1, Flags::empty());
        lab.inject(from, server(), datagram(&d, &[1; 100]));
        if i % 10 == 0 {
            lab.run(MS);
            let ep = lab.ep(SERVER_NODE);
            peak = (peak.0.max(ep.live_conns()), peak.1.max(ep.live_peers()));
        }
    }
    assert!(peak.0 <= 150 && peak.1 <= 20, "peak conns/peers {peak:?}");
    assert!(peak.0 >= 100, "the fakes did fill the table: {peak:?}");
    let busy = lab.sent_since(mark, |s| {
        s.from == server() && s.header.packet_type == PacketType::BUSY
    });
    assert!(busy.len() > 1000, "{} BUSY", busy.len());
    lab.run_until_ended(&[(HEALTHY, h)], 120 * SEC);
    lab.assert_intact(HEALTHY, h);
    // The fakes' calls time out (request idle); their connections become reapable.
    lab.run(60 * SEC);
    let v = lab.victim_call(1000, 1000);
    lab.run_until_ended(&[(VICTIM, v)], 60 * SEC);
    lab.assert_intact(VICTIM, v);
    lab.finish();
}

/// A service connection that never gets a call (here: DATA whose call number lies "before"
/// the channel's in wrap-around order) was never reaped. (Found by review while writing the
/// fuzz target's "no connection left" invariant, and fixed before fuzzing.)
#[test]
fn a_connection_without_any_call_is_reaped() {
    let mut lab = Lab::plain(51);
    let fake = addr(9);
    let d = fake_data(0x8000_0001, 77, 0x8000_0001, 1, Flags::LAST_PACKET);
    lab.inject_and_settle(fake, server(), datagram(&d, b"x"));
    assert_eq!(lab.ep(SERVER_NODE).live_conns(), 1);
    assert_eq!(
        lab.ep(SERVER_NODE).live_calls(),
        8,
        "only the charged backlog"
    );
    lab.run(700 * SEC);
    assert_eq!(lab.ep(SERVER_NODE).live_conns(), 0);
    assert_eq!(lab.ep(SERVER_NODE).live_peers(), 0);
    lab.finish();
}

/// Fuzz finding: a charged call aborted by the application stayed in the backlog; the next
/// incoming call was attached to it and held a completed call on its channel for ever (the
/// call object leaked past `close_socket`).
#[test]
fn an_aborted_charge_leaves_the_backlog() {
    let mut lab = Lab::plain(52);
    let sock = lab.w.servers[0].socket;
    let ids = lab.ep(SERVER_NODE).user_ids(sock);
    let now = lab.now();
    let charged = lab.ep(SERVER_NODE).charged(sock);
    for id in &ids {
        lab.ep(SERVER_NODE)
            .abort(now, sock, *id, AbortCode::RX_USER_ABORT)
            .unwrap();
    }
    assert_eq!(lab.ep(SERVER_NODE).charged(sock), 0, "was {charged}");
    // The aborted charges' terminal messages are read by the server application, which
    // recharges; a call then arrives on fresh charges and succeeds.
    lab.w.dispatch();
    let v = lab.victim_call(1000, 1000);
    lab.run_until_ended(&[(VICTIM, v)], 30 * SEC);
    lab.assert_intact(VICTIM, v);
    lab.finish();
}

// ----- truncations ------------------------------------------------------------------------

/// Every packet type, aimed at a live call in both directions, truncated to every length
/// (header-only and shorter included): nothing panics, the healthy call completes, and the
/// endpoints end clean. Truncated ACK, ABORT, VERSION and DEBUG bodies count as malformed or
/// dropped; a header shorter than 28 bytes is malformed.
#[test]
fn truncated_packets_of_every_kind() {
    let mut lab = Lab::plain(60);
    let h = lab.healthy_call(500_000, 500_000);
    let v = lab.victim_call(200_000, 200_000);
    lab.run(5 * MS);
    let to_server = client_data(&lab);
    let to_client = server_header(&lab, PacketType::ACK);
    let malformed = lab.ep(SERVER_NODE).stats().malformed;
    let mut sent = 0;
    for ty in 0..=14u8 {
        for (from, to, base) in [
            (client(), server(), to_server),
            (server(), client(), to_client),
        ] {
            let mut hdr = base;
            hdr.packet_type = PacketType(ty);
            hdr.serial = Serial(base.serial.0 + 10_000 + u32::from(ty));
            // A plausible full body for each kind, then every truncation of it.
            let body: Vec<u8> = match PacketType(ty) {
                PacketType::ACK => {
                    ack_body(1, 1, AckReason::PING, vec![0, 1, 0], trailer(1444, 1444, 8))
                }
                PacketType::ABORT => (-1i32).to_be_bytes().to_vec(),
                PacketType::DATA => {
                    hdr.seq = Seq(1); // a duplicate: truncation must not corrupt the call
                    vec![9; 40]
                }
                PacketType::VERSION => vec![0; 65],
                PacketType::DEBUG => vec![0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0],
                _ => (0..40u8).collect(),
            };
            let full = datagram(&hdr, &body);
            for n in 0..=full.len() {
                lab.inject(from, to, full[..n].to_vec());
                sent += 1;
            }
            lab.run(MS);
        }
    }
    assert!(sent > 1000);
    assert!(
        lab.ep(SERVER_NODE).stats().malformed >= malformed + 28,
        "short headers are malformed"
    );
    lab.run_until_ended(&[(VICTIM, v), (HEALTHY, h)], 120 * SEC);
    lab.assert_intact(HEALTHY, h);
    lab.finish();
}

// ----- resource bounds --------------------------------------------------------------------

/// Calls per socket and per endpoint: `begin_call` and `charge_accept` fail with
/// `CallError::Limit` beyond them, and succeed again once calls are released.
#[test]
fn limit_calls_per_socket_and_per_endpoint() {
    let mut cfg = EndpointConfig::default();
    cfg.max_calls = 5;
    cfg.max_calls_per_socket = 3;
    let now = Instant::ZERO;
    let mut ep = rxrpc_proto::Endpoint::new(cfg, now);
    let (a, b) = (ep.open_socket(), ep.open_socket());
    let p = CallParams::new(addr(1), SVC);
    for id in 0..3 {
        ep.begin_call(now, a, id, p.clone()).unwrap();
    }
    assert_eq!(
        ep.begin_call(now, a, 3, p.clone()),
        Err(CallError::Limit("calls per socket"))
    );
    ep.begin_call(now, b, 0, p.clone()).unwrap();
    ep.bind_service(b, ServiceId(9)).unwrap();
    ep.listen(b, 8).unwrap();
    ep.charge_accept(now, b, 1).unwrap();
    assert_eq!(ep.live_calls(), 5);
    assert_eq!(
        ep.begin_call(now, b, 2, p.clone()),
        Err(CallError::Limit("calls per endpoint"))
    );
    assert_eq!(
        ep.charge_accept(now, b, 2),
        Err(CallError::Limit("calls per endpoint"))
    );
    ep.end_call(now, a, 0).unwrap();
    ep.begin_call(now, b, 2, p.clone()).unwrap();
    ep.shutdown(now).unwrap();
}

/// An empty backlog answers BUSY (the client keeps retransmitting); once the server charges
/// again, every call gets through.
#[test]
fn limit_incoming_backlog_busy_then_served() {
    let mut lab = Lab::plain(70);
    let sock = lab.w.servers[0].socket;
    let now = lab.now();
    lab.ep(SERVER_NODE).listen(sock, 1).unwrap();
    for id in lab.ep(SERVER_NODE).user_ids(sock) {
        lab.ep(SERVER_NODE)
            .abort(now, sock, id, AbortCode::RX_USER_ABORT)
            .unwrap();
    }
    let ids: Vec<u64> = (0..4).map(|_| lab.victim_call(100, 100)).collect();
    lab.run(20 * MS);
    assert!(lab.ep(SERVER_NODE).stats().busy_sent > 0, "BUSY sent");
    let calls: Vec<(usize, u64)> = ids.iter().map(|&i| (VICTIM, i)).collect();
    lab.run_until_ended(&calls, 60 * SEC);
    for id in ids {
        lab.assert_intact(VICTIM, id);
    }
    lab.finish();
}

/// Client connections in total: exclusive calls each need one; beyond the limit
/// `begin_call` fails until idle connections can be reaped (`pressure_conn_idle`).
#[test]
fn limit_client_connections_with_pressure_reaping() {
    let mut lab = Lab::new(71, |i, c| {
        if i == VICTIM {
            c.max_client_conns = 2;
            c.pressure_conn_idle = 5 * SEC;
        }
    });
    let ex = |p: CallParams| p.exclusive(true);
    let a = lab.w.call_with(VICTIM, SERVER_NODE, 100, 100, ex);
    let b = lab.w.call_with(VICTIM, SERVER_NODE, 100, 100, ex);
    let c = lab.w.call_with(VICTIM, SERVER_NODE, 100, 100, ex);
    let errs = &lab.w.clients[VICTIM].calls[&c].errors;
    assert!(
        errs.iter().any(|e| e.contains("client connections")),
        "{errs:?}"
    );
    lab.run_until_ended(&[(VICTIM, a), (VICTIM, b)], 10 * SEC);
    assert_eq!(
        lab.ep(VICTIM).live_conns(),
        2,
        "idle connections stay for reuse"
    );
    lab.run(6 * SEC);
    let d = lab.w.call_with(VICTIM, SERVER_NODE, 100, 100, ex);
    lab.run_until_ended(&[(VICTIM, d)], 10 * SEC);
    lab.assert_intact(VICTIM, d);
    assert!(lab.ep(VICTIM).live_conns() <= 2);
    lab.w.clients[VICTIM].calls.remove(&c);
    lab.finish();
}

/// Incoming connections per peer, in total and the number of peers each hold their limit;
/// a new peer is admitted again once idle connections can be reaped under pressure.
#[test]
fn limit_incoming_connections_and_peers() {
    for (per_peer, total, peers) in [(3, 100, 100), (100, 4, 100), (100, 100, 2)] {
        let mut lab = Lab::new(72, |i, c| {
            if i == SERVER_NODE {
                c.max_incoming_conns_per_peer = per_peer;
                c.max_incoming_conns = total;
                c.max_incoming_peers = peers;
                c.pressure_conn_idle = 2 * SEC;
                c.request_idle_timeout = 2 * SEC;
            }
        });
        let mark = lab.mark();
        for i in 0..10u32 {
            let from = if peers == 2 {
                addr(10 + i as usize)
            } else {
                addr(10)
            };
            let d = fake_data(0x8000_0001, 500 + i, 1, 1, Flags::empty());
            lab.inject_and_settle(from, server(), datagram(&d, b"x"));
        }
        let ep = lab.ep(SERVER_NODE);
        let limit = per_peer
            .min(total)
            .min(if peers == 2 { peers } else { usize::MAX });
        assert_eq!(ep.live_conns(), limit, "limits {per_peer}/{total}/{peers}");
        let busy = lab.sent_since(mark, |s| s.header.packet_type == PacketType::BUSY);
        assert_eq!(busy.len(), 10 - limit);
        // The fakes' calls time out; under pressure their connections go after 2 s idle.
        lab.run(5 * SEC);
        let v = lab.victim_call(1000, 1000);
        lab.run_until_ended(&[(VICTIM, v)], 30 * SEC);
        lab.assert_intact(VICTIM, v);
        lab.finish();
    }
}

/// Receive buffering per call is bounded by the window: with a reader that does not read,
/// DATA beyond `rx_window` packets is refused (EXCEEDS_WINDOW), and the window reopens as
/// the application reads.
#[test]
fn limit_receive_buffering_is_the_window() {
    let mut lab = Lab::new(73, |i, c| {
        if i == SERVER_NODE {
            c.rx_window = 8;
        }
    });
    // The server application reads nothing for now.
    lab.w.pace_server(
        0,
        app::Pace {
            bytes: 0,
            period: 3600 * SEC,
        },
    );
    let fake = addr(11);
    let mark = lab.mark();
    for seq in 1..=40u32 {
        let d = fake_data(0x8000_0002, 900, 1, seq, Flags::empty());
        lab.inject(fake, server(), datagram(&d, &[seq as u8; 1000]));
    }
    lab.run(10 * MS);
    let acks: Vec<Ack> = lab
        .sent_since(mark, |s| s.to == fake)
        .iter()
        .filter_map(Sent::ack)
        .collect();
    assert!(acks.iter().any(|a| a.reason == AckReason::EXCEEDS_WINDOW));
    let last = acks.last().unwrap();
    assert_eq!(last.first_packet, Seq(9), "eight packets buffered");
    assert_eq!(last.trailer.unwrap().rwind, 0, "window closed");
    let snap = lab.ep(SERVER_NODE).snapshot();
    let call = snap.calls.iter().find(|c| c.remote == fake).unwrap();
    assert_eq!(call.rx_hard_ack, 8);
    // Read: exactly eight packets' worth, then the window reopens.
    let sock = lab.w.servers[0].socket;
    let now = lab.now();
    let mut got = 0;
    while let Some(m) = lab.ep(SERVER_NODE).recvmsg(now, sock, 1 << 20) {
        got += m.data.len();
    }
    assert_eq!(got, 8 * 1000);
    lab.w.servers[0].calls.clear();
    lab.run(300 * MS);
    let last = lab
        .sent_since(mark, |s| s.to == fake)
        .iter()
        .filter_map(Sent::ack)
        .next_back()
        .unwrap();
    assert_eq!(last.trailer.unwrap().rwind, 8, "window reopened");
    lab.finish();
}

/// Transmit buffering per call is bounded (`tx_queue_max` packets): against a peer that never
/// answers, `send` stops accepting, and the call times out.
#[test]
fn limit_transmit_buffering_backpressure() {
    let mut cfg = EndpointConfig::default();
    cfg.tx_queue_max = 16;
    let now = Instant::ZERO;
    let mut ep = rxrpc_proto::Endpoint::new(cfg, now);
    let s = ep.open_socket();
    ep.begin_call(now, s, 1, CallParams::new(addr(12), SVC))
        .unwrap();
    let mut taken = 0;
    for _ in 0..100 {
        let n = ep
            .send(now, s, 1, Bytes::from(vec![0u8; 65536]), true)
            .unwrap();
        taken += n;
        if n < 65536 {
            break;
        }
    }
    assert!(taken <= 17 * JUMBO_DATALEN, "{taken} bytes queued");
    assert!(!ep.call_writable(s, 1));
    while ep.poll_transmit().is_some() {}
    let mut t = now;
    while let Some(next) = ep.poll_timeout() {
        if t > now + 60 * SEC {
            break;
        }
        t = next;
        ep.handle_timeout(t);
        while ep.poll_transmit().is_some() {}
    }
    assert!(
        matches!(ep.call_state(s, 1), Some(rxrpc_proto::CallState::Complete(c)) if app::is_documented_timeout(&c))
    );
    ep.shutdown(t).unwrap();
}

/// Idle connections and peers are reaped: client connections after `client_conn_idle`,
/// service connections after `service_conn_idle`, and a peer with its last connection.
#[test]
fn idle_connections_and_peers_are_reaped() {
    let mut lab = Lab::new(74, |_, c| {
        c.client_conn_idle = 10 * SEC;
        c.service_conn_idle = 20 * SEC;
    });
    let v = lab.victim_call(1000, 1000);
    let h = lab.healthy_call(1000, 1000);
    lab.run_until_ended(&[(VICTIM, v), (HEALTHY, h)], 10 * SEC);
    assert_eq!(lab.ep(SERVER_NODE).live_conns(), 2);
    assert_eq!(lab.ep(SERVER_NODE).live_peers(), 2);
    lab.run(11 * SEC);
    assert_eq!(
        (lab.ep(VICTIM).live_conns(), lab.ep(VICTIM).live_peers()),
        (0, 0)
    );
    assert_eq!(lab.ep(SERVER_NODE).live_conns(), 2);
    lab.run(10 * SEC);
    assert_eq!(
        (
            lab.ep(SERVER_NODE).live_conns(),
            lab.ep(SERVER_NODE).live_peers()
        ),
        (0, 0)
    );
    lab.finish();
}
