//! Whole calls between two endpoints: small RPCs, bulk transfers with loss, BUSY, unknown
//! services, implicit end of a service call, VERSION replies.

use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::wire::{AbortCode, Flags, Header, Packet, PacketType, Seq, Serial};
use crate::{CallState, Completion, Event};

fn pattern(n: usize, salt: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt))
        .collect()
}

/// One request/response exchange, both applications running concurrently; returns the
/// server's user ID.
fn exchange(net: &mut Net, cs: SocketId, ss: SocketId, id: u64, req: &[u8], reply: &[u8]) -> u64 {
    let now = net.now;
    let p = params(net);
    net.ep(0).begin_call(now, cs, id, p).unwrap();
    let mut req_left = Bytes::copy_from_slice(req);
    let mut req_done = false;
    let mut got = Vec::new();
    let mut sid = None;
    net.run_until(Duration::from_secs(300), |n| {
        let now = n.now;
        if !req_done {
            let k = n.ep(0).send(now, cs, id, req_left.clone(), true).unwrap();
            let _ = req_left.split_to(k);
            if req_left.is_empty() {
                n.ep(0).send(now, cs, id, Bytes::new(), false).unwrap();
                req_done = true;
            }
        }
        while let Some(m) = n.ep(1).recvmsg(now, ss, 1 << 20) {
            sid = Some(m.user_id);
            got.extend_from_slice(&m.data);
            if m.end_of_data {
                return true;
            }
        }
        false
    });
    assert_eq!(got.len(), req.len());
    assert!(got == req, "request delivered intact and in order");
    let sid = sid.unwrap();
    let mut reply_left = Bytes::copy_from_slice(reply);
    let mut reply_done = false;
    let mut data = Vec::new();
    let mut term = None;
    net.run_until(Duration::from_secs(300), |n| {
        let now = n.now;
        if !reply_done {
            let k = n
                .ep(1)
                .send(now, ss, sid, reply_left.clone(), true)
                .unwrap();
            let _ = reply_left.split_to(k);
            if reply_left.is_empty() {
                n.ep(1).send(now, ss, sid, Bytes::new(), false).unwrap();
                reply_done = true;
            }
        }
        while let Ok(Some(m)) = n.ep(0).recv(now, cs, id, 1 << 20) {
            data.extend_from_slice(&m.data);
            if m.terminal.is_some() {
                term = m.terminal;
                return true;
            }
        }
        false
    });
    assert_eq!(data.len(), reply.len());
    assert!(data == reply, "reply delivered intact and in order");
    assert_eq!(term, Some(Completion::Succeeded));
    sid
}

#[test]
fn small_call_succeeds_and_everything_is_freed() {
    let (mut net, cs, ss) = pair(1, 4);
    let sid = exchange(&mut net, cs, ss, 7, b"hello", b"world");
    // The client call was released by the terminal message.
    assert!(net.ep(0).user_ids(cs).is_empty());
    // The server call completes when the final ACK arrives; recvmsg then gives its terminal.
    let mut term = None;
    net.run_until(Duration::from_secs(5), |n| {
        let now = n.now;
        if let Some(m) = n.ep(1).recvmsg(now, ss, 100) {
            term = m.terminal;
        }
        term.is_some()
    });
    assert_eq!(term, Some(Completion::Succeeded));
    assert_eq!(net.ep(1).call_state(ss, sid), None);
    assert_eq!(net.ep(0).live_calls(), 0);
    // Three charges remain on the server (preallocated calls).
    assert_eq!(net.ep(1).live_calls(), 3);
    // The ACK the server sent in reply to REQUEST_ACK, and the client's final ACK, are counted
    // by reason and shown in the stats table.
    let (server, client) = (net.ep(1).stats(), net.ep(0).stats());
    assert!(
        server.acks_out[1] >= 1,
        "REQUESTED sent: {:?}",
        server.acks_out
    );
    assert!(
        client.acks_in[1] >= 1,
        "REQUESTED received: {:?}",
        client.acks_in
    );
    assert!(
        client.acks_out[9] + client.acks_out[2] >= 1,
        "final ACK: {:?}",
        client.acks_out
    );
    let table = net.ep(0).snapshot().proc_stats();
    assert!(
        table.contains("Ack-Tx") && table.contains("req="),
        "{table}"
    );
    let now = net.now;
    net.ep(1).shutdown(now).unwrap();
    net.ep(0).shutdown(now).unwrap();
}

/// Calls that finish long before their timeouts leave their deadlines in the timer heap; the
/// heap must stay bounded by what is alive, not grow with the call rate (it reached millions
/// of entries in a 160,000-call rxperf run, and popping them cost a tenth of the server's time).
#[test]
fn the_timer_heap_stays_bounded_by_what_is_alive() {
    let (mut net, cs, ss) = pair(1, 4);
    net.latency = Duration::from_micros(20);
    for id in 1..=3000u64 {
        let now = net.now;
        net.ep(1).charge_accept(now, ss, 1_000_000 + id).unwrap();
        exchange(&mut net, cs, ss, id, b"ping", b"pong");
        // Wait for the server call's terminal message (the client's final ACK), which
        // releases it.
        net.run_until(Duration::from_secs(5), |n| {
            let now = n.now;
            n.ep(1)
                .recvmsg(now, ss, 100)
                .is_some_and(|m| m.terminal.is_some())
        });
    }
    for i in 0..2 {
        let ep = net.ep(i);
        let alive = ep.live_calls() + ep.live_conns() + 1;
        assert!(
            ep.timer_entries() <= 2 * alive + 1024 + 1,
            "endpoint {i}: {} timer entries for {alive} live objects",
            ep.timer_entries()
        );
    }
}

/// With a `request_ack_hold`, the client's requested ACK of its request is held, and the
/// reply, coming within the hold, acknowledges the request: three packets, no ACK from the
/// server.
#[test]
fn a_reply_within_the_hold_stands_in_for_the_requested_ack() {
    let (mut net, cs, ss) = pair_with(1, 4, |c| {
        c.request_ack_hold = crate::RequestAckHold::Always(Duration::from_millis(1))
    });
    exchange(&mut net, cs, ss, 7, b"hello", b"world");
    let asked = net
        .seen
        .iter()
        .any(|s| s.from == net.addr(0) && s.header.flags.contains(crate::wire::Flags::REQUEST_ACK));
    assert!(asked, "the client asked for an ACK");
    let (server, client) = (net.ep(1).stats(), net.ep(0).stats());
    assert_eq!(server.acks_out, [0; 10], "server ACKs");
    assert_eq!(client.acks_in, [0; 10], "client received ACKs");
}

/// The default hold applies only while the connection carries other calls: of two requests
/// arriving together, the first (alone on its connection when it completes) is ACKed at once,
/// the second's ACK is left to its reply.
#[test]
fn the_default_hold_applies_to_concurrent_calls_only() {
    let (mut net, cs, ss) = pair(1, 4);
    let now = net.now;
    for id in [1, 2] {
        let p = params(&net);
        net.ep(0).begin_call(now, cs, id, p).unwrap();
        net.ep(0)
            .send(now, cs, id, Bytes::from_static(b"req"), false)
            .unwrap();
    }
    let mut sids = Vec::new();
    net.run_until(Duration::from_secs(5), |n| {
        let now = n.now;
        while let Some(m) = n.ep(1).recvmsg(now, ss, 100) {
            if m.end_of_data {
                n.ep(1)
                    .send(now, ss, m.user_id, Bytes::from_static(b"rep"), false)
                    .unwrap();
                sids.push(m.user_id);
            }
        }
        sids.len() == 2
    });
    for id in [1, 2] {
        let (data, term) = recv_all(&mut net, 0, cs, id, Duration::from_secs(5));
        assert_eq!(
            (&data[..], term),
            (&b"rep"[..], Some(Completion::Succeeded))
        );
    }
    assert_eq!(
        net.ep(1).stats().acks_out[1],
        1,
        "one REQUESTED ACK, for the lone call"
    );
}

/// A server application slower than the hold: the held ACK goes out as a DELAY ACK once the
/// hold runs out, so the client neither retransmits its request nor takes the delay as RTT.
#[test]
fn a_held_ack_goes_out_when_the_reply_is_slow() {
    let (mut net, cs, ss) = pair_with(1, 4, |c| {
        c.request_ack_hold = crate::RequestAckHold::Always(Duration::from_millis(1))
    });
    let now = net.now;
    let p = params(&net);
    net.ep(0).begin_call(now, cs, 7, p).unwrap();
    net.ep(0)
        .send(now, cs, 7, Bytes::from_static(b"req"), false)
        .unwrap();
    let mut sid = None;
    net.run_until(Duration::from_secs(5), |n| {
        let now = n.now;
        while let Some(m) = n.ep(1).recvmsg(now, ss, 100) {
            sid = Some(m.user_id);
        }
        sid.is_some()
    });
    let arrived = net.now;
    // The application thinks for 50 ms: the ACK (DELAY, or IDLE as it soft-ACKs nothing)
    // goes out after the hold (1 ms).
    net.run_until(Duration::from_secs(5), |n| {
        let s = n.ep(1).stats();
        s.acks_out[2] + s.acks_out[9] >= 1
    });
    let held = net.now.saturating_since(arrived);
    assert!(
        held >= Duration::from_millis(1) && held < Duration::from_millis(5),
        "ACK after {held:?}"
    );
    let until = net.now + Duration::from_millis(50);
    while net.now < until && net.step(until) {}
    assert_eq!(net.ep(0).stats().retransmits, 0, "no retransmission");
    assert_eq!(net.ep(0).stats().acks_in[1], 0, "no REQUESTED ACK");
    let now = net.now;
    net.ep(1)
        .send(now, ss, sid.unwrap(), Bytes::from_static(b"reply"), false)
        .unwrap();
    let (data, term) = recv_all(&mut net, 0, cs, 7, Duration::from_secs(5));
    assert_eq!(data, b"reply");
    assert_eq!(term, Some(Completion::Succeeded));
}

#[test]
fn empty_request_and_reply() {
    let (mut net, cs, ss) = pair(2, 1);
    exchange(&mut net, cs, ss, 1, b"", b"");
}

#[test]
fn bulk_transfer_both_ways_without_loss() {
    let (mut net, cs, ss) = pair(3, 1);
    let req = pattern(3 * 1024 * 1024, 1);
    let reply = pattern(2 * 1024 * 1024 + 17, 2);
    exchange(&mut net, cs, ss, 1, &req, &reply);
}

#[test]
fn bulk_transfer_with_five_percent_loss() {
    let (mut net, cs, ss) = pair(4, 1);
    net.loss = 0.05;
    net.latency = Duration::from_millis(5);
    let req = pattern(2 * 1024 * 1024 + 3, 3);
    let reply = pattern(1024 * 1024 + 1, 4);
    exchange(&mut net, cs, ss, 1, &req, &reply);
    let c = net.ep(0).stats();
    assert!(c.retransmits > 0, "loss must have caused retransmissions");
}

#[test]
fn bulk_transfer_with_heavy_loss_still_delivers_everything() {
    let (mut net, cs, ss) = pair(5, 1);
    net.loss = 0.2;
    let req = pattern(300_000, 5);
    let reply = pattern(300_000, 6);
    exchange(&mut net, cs, ss, 1, &req, &reply);
}

#[test]
fn many_calls_share_channels_and_connections() {
    let (mut net, cs, ss) = pair(6, 32);
    let now = net.now;
    for id in 0..10u64 {
        let p = params(&net);
        net.ep(0).begin_call(now, cs, id, p).unwrap();
        net.ep(0)
            .send(now, cs, id, Bytes::from(vec![id as u8; 100]), false)
            .unwrap();
    }
    // Four calls per connection, at most four connections per bundle: 10 calls use 3 conns.
    assert_eq!(net.ep(0).live_conns(), 3);
    let mut served = 0;
    net.run_until(Duration::from_secs(10), |n| {
        let now = n.now;
        while let Some(m) = n.ep(1).recvmsg(now, ss, 1 << 20) {
            if m.end_of_data && m.terminal.is_none() {
                n.ep(1)
                    .send(now, ss, m.user_id, m.data.clone(), false)
                    .unwrap();
                served += 1;
            }
        }
        served == 10
    });
    let mut done = 0;
    net.run_until(Duration::from_secs(10), |n| {
        let now = n.now;
        while let Some(m) = n.ep(0).recvmsg(now, cs, 1 << 20) {
            if m.terminal == Some(Completion::Succeeded) {
                assert_eq!(&m.data[..], &vec![m.user_id as u8; 100][..]);
                done += 1;
            }
        }
        done == 10
    });
    assert_eq!(net.ep(0).live_calls(), 0);
}

#[test]
fn calls_beyond_sixteen_wait_for_a_channel() {
    let (mut net, cs, ss) = pair(7, 32);
    let now = net.now;
    for id in 0..20u64 {
        let p = params(&net);
        net.ep(0).begin_call(now, cs, id, p).unwrap();
        net.ep(0)
            .send(now, cs, id, Bytes::from_static(b"x"), false)
            .unwrap();
    }
    assert_eq!(net.ep(0).live_conns(), 4);
    assert_eq!(
        net.ep(0).call_state(cs, 19),
        Some(CallState::ClientAwaitConn)
    );
    let mut done = 0;
    net.run_until(Duration::from_secs(20), |n| {
        let now = n.now;
        while let Some(m) = n.ep(1).recvmsg(now, ss, 100) {
            if m.end_of_data && m.terminal.is_none() {
                n.ep(1)
                    .send(now, ss, m.user_id, Bytes::from_static(b"y"), false)
                    .unwrap();
            }
        }
        while let Some(m) = n.ep(0).recvmsg(now, cs, 100) {
            if m.terminal.is_some() {
                assert_eq!(m.terminal, Some(Completion::Succeeded));
                done += 1;
            }
        }
        done == 20
    });
}

#[test]
fn busy_when_nothing_is_charged_then_retry_succeeds() {
    let (mut net, cs, ss) = pair(8, 0);
    let now = net.now;
    let p = params(&net);
    net.ep(0).begin_call(now, cs, 1, p).unwrap();
    net.ep(0)
        .send(now, cs, 1, Bytes::from_static(b"req"), false)
        .unwrap();
    net.run_for(Duration::from_millis(50));
    let server = net.addr(1);
    assert!(net.count(PacketType::BUSY, server) >= 1);
    // Charging later lets the client's retransmission through.
    let now = net.now;
    net.ep(1).charge_accept(now, ss, 5).unwrap();
    let mut got = false;
    net.run_until(Duration::from_secs(10), |n| {
        let now = n.now;
        if let Some(m) = n.ep(1).recvmsg(now, ss, 100) {
            got = &m.data[..] == b"req";
        }
        got
    });
}

#[test]
fn unknown_service_is_aborted_with_invalid_operation() {
    let (mut net, cs, _ss) = pair(9, 1);
    let now = net.now;
    let p = CallParams::new(net.addr(1), ServiceId(4242));
    net.ep(0).begin_call(now, cs, 1, p).unwrap();
    net.ep(0)
        .send(now, cs, 1, Bytes::from_static(b"req"), false)
        .unwrap();
    let (_, term) = recv_all(&mut net, 0, cs, 1, Duration::from_secs(5));
    assert_eq!(
        term,
        Some(Completion::RemoteAbort(AbortCode::RX_INVALID_OPERATION))
    );
}

#[test]
fn remote_abort_reaches_the_client() {
    let (mut net, cs, ss) = pair(10, 1);
    let now = net.now;
    let p = params(&net);
    net.ep(0).begin_call(now, cs, 1, p).unwrap();
    net.ep(0)
        .send(now, cs, 1, Bytes::from_static(b"req"), false)
        .unwrap();
    let mut sid = None;
    net.run_until(Duration::from_secs(5), |n| {
        let now = n.now;
        if let Some(m) = n.ep(1).recvmsg(now, ss, 100) {
            sid = Some(m.user_id);
        }
        sid.is_some()
    });
    let now = net.now;
    net.ep(1)
        .abort(now, ss, sid.unwrap(), AbortCode(267269))
        .unwrap();
    let (_, term) = recv_all(&mut net, 0, cs, 1, Duration::from_secs(5));
    assert_eq!(term, Some(Completion::RemoteAbort(AbortCode(267269))));
}

#[test]
fn next_call_on_channel_implicitly_ends_the_previous_service_call() {
    let (mut net, cs, ss) = pair(11, 4);
    // Drop every final ACK from the client, so the server call stays in AWAIT_ACK.
    let client = net.addr(0);
    net.filter = Some(Box::new(move |from, _to, h: &Header| {
        !(from == client
            && h.packet_type == PacketType::ACK
            && h.seq == Seq(0)
            && h.call_number.0 == 1)
    }));
    let sid = exchange(&mut net, cs, ss, 1, b"a", b"b");
    net.run_for(Duration::from_millis(20));
    assert_eq!(
        net.ep(1).call_state(ss, sid),
        Some(CallState::ServerAwaitAck)
    );
    net.filter = None;
    // The next call on channel 0 completes the old one successfully.
    let now = net.now;
    let p = params(&net);
    net.ep(0).begin_call(now, cs, 2, p).unwrap();
    net.ep(0)
        .send(now, cs, 2, Bytes::from_static(b"c"), false)
        .unwrap();
    net.run_until(Duration::from_secs(5), |n| {
        matches!(
            n.ep(1).call_state(ss, sid),
            Some(CallState::Complete(Completion::Succeeded))
        )
    });
}

#[test]
fn version_request_gets_a_reply() {
    let mut net = Net::new(1, 12);
    let h = Header {
        epoch: crate::wire::Epoch(999),
        call_number: crate::wire::CallNumber(101),
        packet_type: PacketType::VERSION,
        flags: Flags::CLIENT_INITIATED | Flags::LAST_PACKET,
        ..Header::default()
    };
    let mut d = Vec::new();
    h.emit(&mut d);
    d.push(0);
    let peer: std::net::SocketAddr = ([127, 0, 0, 1], 40000).into();
    net.ep(0)
        .handle_datagram(Instant::ZERO, peer, Bytes::from(d));
    let t = net.ep(0).poll_transmit().expect("a VERSION reply");
    assert_eq!(t.destination, peer);
    let p = Packet::parse(&t.contents).unwrap();
    assert_eq!(p.header.packet_type, PacketType::VERSION);
    assert_eq!(p.header.flags, Flags::LAST_PACKET);
    assert_eq!(p.header.call_number.0, 101);
    assert_eq!(t.contents.len(), 28 + 65);
    match p.body {
        crate::wire::Body::Version(v) => assert!(v.text().unwrap().starts_with("rxrpc-rs")),
        other => panic!("unexpected body {other:?}"),
    }
}

#[test]
fn garbage_datagrams_never_panic() {
    let mut net = Net::new(1, 13);
    let peer: std::net::SocketAddr = ([127, 0, 0, 1], 40000).into();
    let mut rng = crate::rng::Rng::new(99);
    for i in 0..20_000u64 {
        let len = (rng.next_u32() % 120) as usize;
        let mut d: Vec<u8> = (0..len).map(|_| rng.next_u32() as u8).collect();
        if d.len() >= 28 {
            d[20] = (i % 14) as u8; // every packet type
            d[21] |= (i & 1) as u8; // both directions
            d[26] = 0;
            d[27] = 1;
        }
        net.ep(0)
            .handle_datagram(Instant::from_micros(i), peer, Bytes::from(d));
        while net.ep(0).poll_transmit().is_some() {}
    }
    assert_eq!(net.ep(0).live_calls(), 0);
}

#[test]
fn client_call_times_out_when_the_server_is_silent() {
    let mut net = Net::new(2, 14);
    let cs = net.ep(0).open_socket();
    let now = net.now;
    let p = CallParams::new(net.addr(1), SVC).idle_timeout(Duration::from_secs(3));
    net.ep(0).begin_call(now, cs, 1, p).unwrap();
    net.ep(0)
        .send(now, cs, 1, Bytes::from_static(b"x"), false)
        .unwrap();
    // Endpoint 1 has no socket: its replies are protocol aborts... drop everything instead.
    net.filter = Some(Box::new(|_, _, _| false));
    let (_, term) = recv_all(&mut net, 0, cs, 1, Duration::from_secs(10));
    assert_eq!(
        term.and_then(|c| c.abort_code()),
        Some(AbortCode::RX_CALL_TIMEOUT),
        "got {term:?}"
    );
    let _ = (
        Serial(0),
        Event::Readable {
            socket: cs,
            user_id: 0,
        },
    );
}

fn debug_request(kind: i32, index: i32) -> Bytes {
    let h = Header {
        epoch: crate::wire::Epoch(999),
        call_number: crate::wire::CallNumber(101),
        packet_type: PacketType::DEBUG,
        flags: Flags::CLIENT_INITIATED | Flags::LAST_PACKET,
        ..Header::default()
    };
    let mut d = Vec::new();
    h.emit(&mut d);
    d.extend_from_slice(&kind.to_be_bytes());
    d.extend_from_slice(&index.to_be_bytes());
    Bytes::from(d)
}

fn debug_reply(net: &mut Net, ep: usize, kind: i32, index: i32) -> crate::wire::DebugReply {
    let peer: std::net::SocketAddr = ([127, 0, 0, 1], 40001).into();
    let now = net.now;
    net.ep(ep)
        .handle_datagram(now, peer, debug_request(kind, index));
    let t = net.ep(ep).poll_transmit().expect("a DEBUG reply");
    let p = Packet::parse(&t.contents).unwrap();
    assert_eq!(
        p.header.flags,
        Flags::LAST_PACKET,
        "CLIENT_INITIATED cleared"
    );
    match p.body {
        crate::wire::Body::Debug(crate::wire::Debug::Reply(r)) => r,
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn debug_responder_answers_every_request_type() {
    use crate::wire::DebugReply;
    let (mut net, cs, ss) = pair(15, 2);
    exchange(&mut net, cs, ss, 1, b"abc", b"defg");
    match debug_reply(&mut net, 1, 1, 0) {
        DebugReply::Stats(s) => {
            assert_eq!(s.version, b'S');
            assert_eq!(s.idle_threads, 1, "one charged call left");
        }
        other => panic!("{other:?}"),
    }
    match debug_reply(&mut net, 1, 3, 0) {
        DebugReply::Conn(c) => {
            assert!(!c.is_end_marker());
            assert_eq!(c.conn_type, 1);
            assert_eq!(c.port, 7000);
            assert_eq!(c.call_number[0], 1);
        }
        other => panic!("{other:?}"),
    }
    match debug_reply(&mut net, 1, 2, 1) {
        DebugReply::Conn(c) => assert!(c.is_end_marker()),
        other => panic!("{other:?}"),
    }
    match debug_reply(&mut net, 1, 5, 0) {
        DebugReply::Peer(p) => {
            assert_eq!(p.port, 7000);
            assert!(p.n_sent > 0 && p.bytes_received > 0);
        }
        other => panic!("{other:?}"),
    }
    match debug_reply(&mut net, 1, 5, 1) {
        DebugReply::Peer(p) => assert!(p.is_end_marker()),
        other => panic!("{other:?}"),
    }
    match debug_reply(&mut net, 1, 4, 0) {
        DebugReply::RxStats(r) => {
            assert!(r.packets_read[0] >= 1, "DATA read");
            assert!(r.packets_sent[0] >= 1, "DATA sent");
            assert_eq!(r.n_server_conns, 1);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        debug_reply(&mut net, 1, 77, 0),
        DebugReply::BadType
    ));
    // Switched off: no reply.
    let cfg = EndpointConfig {
        debug_responder: false,
        ..Default::default()
    };
    let mut quiet = Endpoint::new(cfg, Instant::ZERO);
    quiet.handle_datagram(Instant::ZERO, net.addr(0), debug_request(1, 0));
    assert!(quiet.poll_transmit().is_none());
}

#[test]
fn calls_to_different_services_use_different_connections() {
    let (mut net, cs, ss) = pair(16, 4);
    net.ep(1).bind_service(ss, ServiceId(101)).unwrap();
    let now = net.now;
    let p1 = params(&net);
    let p2 = CallParams::new(net.addr(1), ServiceId(101));
    net.ep(0).begin_call(now, cs, 1, p1).unwrap();
    net.ep(0).begin_call(now, cs, 2, p2).unwrap();
    assert_eq!(net.ep(0).live_conns(), 2, "one connection per service");
    for id in [1, 2] {
        net.ep(0)
            .send(now, cs, id, Bytes::from_static(b"x"), false)
            .unwrap();
    }
    let mut services = Vec::new();
    net.run_until(Duration::from_secs(2), |n| {
        let now = n.now;
        while let Some(m) = n.ep(1).recvmsg(now, ss, 10) {
            services.push(m.service_id.0);
        }
        services.len() == 2
    });
    services.sort();
    assert_eq!(services, vec![100, 101]);
}

#[test]
fn a_ping_arriving_while_sending_still_gets_its_response() {
    use crate::wire::{Ack, AckReason, Body};
    let (mut net, cs, ss) = pair(17, 1);
    let now = net.now;
    let p = params(&net);
    net.ep(0).begin_call(now, cs, 1, p).unwrap();
    net.ep(0)
        .send(now, cs, 1, Bytes::from(vec![1u8; 50_000]), false)
        .unwrap();
    net.run_until(Duration::from_secs(2), |n| n.ep(1).call_readable(ss, 1000));
    // The server pings the client while the client is still sending DATA.
    let key = net.ep(1).lookup(ss, 1000).unwrap();
    let now = net.now;
    net.ep(1).send_call_ping(now, key);
    let ping_serial = net.ep(1).calls.get(key).unwrap().ping_probe.unwrap().0;
    net.run_for(Duration::from_millis(10));
    let client = net.addr(0);
    let answered = net.seen.iter().any(|s| {
        s.from == client
            && matches!(Packet::parse(&s.bytes).map(|p| p.body),
                Ok(Body::Ack(Ack { reason: AckReason::PING_RESPONSE, serial, .. })) if serial.0 == ping_serial)
    });
    assert!(answered, "PING_RESPONSE sent although DATA was going out");
}

#[test]
fn a_reply_soft_acked_in_full_completes_the_service_call() {
    use crate::wire::{Ack, AckReason, AckTrailer, CallNumber, Cid, Flags, Header, Seq, Serial};
    // Drive the server with a scripted client that, like OpenAFS, soft-ACKs the whole reply
    // and never hard-ACKs it.
    let (mut net, _cs, ss) = pair(18, 1);
    let client: std::net::SocketAddr = ([127, 0, 0, 1], 7100).into();
    let server = net.addr(1);
    let base = Header {
        epoch: crate::wire::Epoch(0x8000_1234),
        cid: Cid(0x0000_1000),
        call_number: CallNumber(1),
        service_id: SVC,
        ..Header::default()
    };
    let mut data = base;
    data.packet_type = PacketType::DATA;
    data.seq = Seq(1);
    data.serial = Serial(1);
    data.flags = Flags::CLIENT_INITIATED | Flags::LAST_PACKET;
    let mut d = Vec::new();
    data.emit(&mut d);
    d.extend_from_slice(b"req");
    let now = net.now;
    net.ep(1).handle_datagram(now, client, Bytes::from(d));
    let now = net.now;
    let _ = net.ep(1).recv(now, ss, 1000, 100).unwrap();
    net.ep(1)
        .send(now, ss, 1000, Bytes::from(vec![0u8; 3 * 1412]), false)
        .unwrap();
    while net.ep(1).poll_transmit().is_some() {}
    assert_eq!(
        net.ep(1).call_state(ss, 1000),
        Some(CallState::ServerAwaitAck)
    );
    let mut ack = base;
    ack.packet_type = PacketType::ACK;
    ack.serial = Serial(2);
    ack.flags = Flags::CLIENT_INITIATED;
    let body = Ack {
        buffer_space: 0,
        max_skew: 0,
        first_packet: Seq(1),
        previous_packet: Seq(3),
        serial: Serial(0),
        reason: AckReason::IDLE,
        acks: vec![1, 1, 1],
        trailer: Some(AckTrailer {
            max_mtu: 1444,
            if_mtu: 1444,
            rwind: 32,
            jumbo_max: 1,
        }),
    };
    let mut a = Vec::new();
    ack.emit(&mut a);
    body.emit(&mut a);
    let now = net.now;
    net.ep(1).handle_datagram(now, client, Bytes::from(a));
    assert_eq!(
        net.ep(1).call_state(ss, 1000),
        Some(CallState::Complete(Completion::Succeeded))
    );
    let _ = server;
}

/// Random packets aimed at live calls (right epoch, connection and call number, everything
/// else random) on both sides: no panic, and every call still ends (completes or is freed).
#[test]
fn random_packets_on_live_calls_never_panic() {
    let mut rng = crate::rng::Rng::new(4242);
    for round in 0..40u64 {
        let (mut net, cs, ss) = pair(500 + round, 4);
        let now = net.now;
        for id in 1..=3u64 {
            let p = params(&net);
            net.ep(0).begin_call(now, cs, id, p).unwrap();
            net.ep(0)
                .send(now, cs, id, Bytes::from(vec![id as u8; 5000]), true)
                .unwrap();
        }
        net.run_for(Duration::from_millis(3));
        let sample: Vec<Seen> = net.seen.clone();
        for _ in 0..300 {
            let Some(base) = sample.get(rng.next_u32() as usize % sample.len().max(1)) else {
                break;
            };
            let mut d = base.bytes.clone();
            // Keep epoch/cid/call number; scramble seq, serial, type, flags and the body.
            for b in d[12..22].iter_mut() {
                if rng.next_u32() % 3 == 0 {
                    *b = rng.next_u32() as u8;
                }
            }
            if d.len() > 28 {
                for b in d[28..].iter_mut() {
                    if rng.next_u32() % 8 == 0 {
                        *b = rng.next_u32() as u8;
                    }
                }
            }
            d.truncate(28 + (rng.next_u32() as usize % (d.len() - 27)));
            let (from, to) = (base.from, base.to);
            let target = if to == net.addr(0) { 0 } else { 1 };
            let now = net.now;
            net.ep(target).handle_datagram(now, from, Bytes::from(d));
            net.run_for(Duration::from_micros(200));
        }
        // Let everything finish or time out, reading whatever arrives.
        let limit = net.now + Duration::from_secs(120);
        while net.now < limit && (net.ep(0).live_calls() > 0 || net.ep(1).live_calls() > 4) {
            let now = net.now;
            while net.ep(0).recvmsg(now, cs, 1 << 20).is_some() {}
            while let Some(m) = net.ep(1).recvmsg(now, ss, 1 << 20) {
                if m.end_of_data && m.terminal.is_none() {
                    let _ = net
                        .ep(1)
                        .send(now, ss, m.user_id, Bytes::from_static(b"r"), false);
                }
            }
            net.step(limit);
        }
        let handled = net.ep(0).stats().datagrams_in + net.ep(1).stats().datagrams_in;
        assert!(
            handled >= 300,
            "round {round}: only {handled} datagrams handled"
        );
        let now = net.now;
        net.ep(0).close_socket(now, cs);
        assert_eq!(net.ep(0).live_calls(), 0, "round {round}");
        net.ep(1).close_socket(now, ss);
        assert_eq!(net.ep(1).live_calls(), 0, "round {round}");
    }
}

#[test]
fn a_ping_overtaking_a_lost_first_data_does_not_abort_the_call() {
    let (mut net, cs, ss) = pair(19, 1);
    // Lose the client's first DATA (and its retransmissions) for a while, so the client's
    // keepalive PING reaches the server before any DATA does.
    let client = net.addr(0);
    net.filter = Some(Box::new(move |from, _, h: &Header| {
        !(from == client && h.packet_type == PacketType::DATA)
    }));
    let now = net.now;
    let p = CallParams::new(net.addr(1), SVC).idle_timeout(Duration::from_secs(6));
    net.ep(0).begin_call(now, cs, 1, p).unwrap();
    net.ep(0)
        .send(now, cs, 1, Bytes::from_static(b"x"), false)
        .unwrap();
    net.run_for(Duration::from_millis(1500));
    assert!(net.count(PacketType::ACK, client) >= 1, "the client pinged");
    net.filter = None;
    let mut got = false;
    net.run_until(Duration::from_secs(10), |n| {
        let now = n.now;
        if let Some(m) = n.ep(1).recvmsg(now, ss, 10) {
            got = &m.data[..] == b"x";
        }
        got
    });
    assert!(!matches!(
        net.ep(0).call_state(cs, 1),
        Some(CallState::Complete(_))
    ));
}
