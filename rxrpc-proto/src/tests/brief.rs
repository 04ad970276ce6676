//! The design brief ("calls shouldn't hold socket refs"), one named test per point.

use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::wire::{AbortCode, Ack, AckReason, Body, Packet, PacketType};
use crate::{CallState, Completion};

/// Start a client call with a big request so it is mid-transfer; return after the server has
/// seen it.
fn start_big_call(net: &mut Net, cs: SocketId, id: u64) {
    let now = net.now;
    let p = params(net);
    net.ep(0).begin_call(now, cs, id, p).unwrap();
    net.ep(0)
        .send(now, cs, id, Bytes::from(vec![1u8; 200_000]), true)
        .unwrap();
    net.run_for(Duration::from_millis(3));
}

fn aborts_from(net: &Net, from: std::net::SocketAddr) -> Vec<(u32, AbortCode)> {
    net.seen
        .iter()
        .filter(|s| s.from == from && s.header.packet_type == PacketType::ABORT)
        .filter_map(|s| match Packet::parse(&s.bytes).ok()?.body {
            Body::Abort(a) => Some((s.header.call_number.0, a.code)),
            _ => None,
        })
        .collect()
}

#[test]
fn brief_closing_a_socket_releases_every_call_and_aborts_unfinished_ones() {
    let (mut net, cs, ss) = pair(101, 8);
    for id in 1..=3 {
        start_big_call(&mut net, cs, id);
    }
    assert_eq!(net.ep(0).live_calls(), 3);
    let now = net.now;
    net.ep(0).close_socket(now, cs);
    // Released at once: nothing alive, nothing remembered.
    assert_eq!(
        net.ep(0).live_calls(),
        0,
        "no call outlives its socket's close"
    );
    assert!(net.ep(0).user_ids(cs).is_empty());
    net.collect();
    let client = net.addr(0);
    let aborts = aborts_from(&net, client);
    assert_eq!(aborts.len(), 3, "one ABORT per unfinished call: {aborts:?}");
    assert!(aborts.iter().all(|(_, c)| *c == AbortCode::RX_CALL_DEAD));
    // The server's calls end with the remote abort.
    let mut dead = 0;
    net.run_until(Duration::from_secs(2), |n| {
        let now = n.now;
        while let Some(m) = n.ep(1).recvmsg(now, ss, 1 << 20) {
            if m.terminal == Some(Completion::RemoteAbort(AbortCode::RX_CALL_DEAD)) {
                dead += 1;
            }
        }
        dead == 3
    });
}

#[test]
fn brief_completion_alone_never_releases_a_call() {
    let (mut net, cs, ss) = pair(102, 1);
    let now = net.now;
    let p = params(&net);
    net.ep(0).begin_call(now, cs, 9, p).unwrap();
    net.ep(0)
        .send(now, cs, 9, Bytes::from_static(b"q"), false)
        .unwrap();
    net.run_until(Duration::from_secs(2), |n| n.ep(1).call_readable(ss, 1000));
    let now = net.now;
    net.ep(1).abort(now, ss, 1000, AbortCode(1)).unwrap();
    // The server call is complete but still known under its user ID ...
    assert!(matches!(
        net.ep(1).call_state(ss, 1000),
        Some(CallState::Complete(_))
    ));
    net.run_for(Duration::from_millis(20));
    // ... and so is the client call, completed by the remote abort.
    assert_eq!(
        net.ep(0).call_state(cs, 9),
        Some(CallState::Complete(Completion::RemoteAbort(AbortCode(1))))
    );
    assert_eq!(net.ep(0).user_ids(cs), vec![9]);
    // Only delivering the terminal message releases it.
    let now = net.now;
    let m = net.ep(0).recv(now, cs, 9, 100).unwrap().unwrap();
    assert_eq!(m.terminal, Some(Completion::RemoteAbort(AbortCode(1))));
    assert!(net.ep(0).user_ids(cs).is_empty());
    assert_eq!(net.ep(0).live_calls(), 0);
    // The user ID can be reused at once.
    let p = params(&net);
    net.ep(0).begin_call(now, cs, 9, p).unwrap();
}

#[test]
fn brief_socket_operations_release_calls() {
    let (mut net, cs, ss) = pair(103, 4);
    // end_call on an unfinished client call: released and aborted.
    start_big_call(&mut net, cs, 1);
    let now = net.now;
    net.ep(0).end_call(now, cs, 1).unwrap();
    assert_eq!(net.ep(0).call_state(cs, 1), None);
    assert_eq!(net.ep(0).live_calls(), 0);
    // reject_call on an incoming call: released on the server and aborted to the client.
    let now = net.now;
    let p = params(&net);
    net.ep(0).begin_call(now, cs, 2, p).unwrap();
    net.ep(0)
        .send(now, cs, 2, Bytes::from_static(b"x"), false)
        .unwrap();
    let mut sid = None;
    net.run_until(Duration::from_secs(2), |n| {
        let now = n.now;
        while let Some(m) = n.ep(1).recvmsg(now, ss, 10) {
            if &m.data[..] == b"x" {
                sid = Some(m.user_id);
            }
        }
        sid.is_some()
    });
    let sid = sid.unwrap();
    let now = net.now;
    net.ep(1).reject_call(now, ss, sid, AbortCode(17)).unwrap();
    assert_eq!(net.ep(1).call_state(ss, sid), None);
    let (_, term) = recv_all(&mut net, 0, cs, 2, Duration::from_secs(2));
    assert_eq!(term, Some(Completion::RemoteAbort(AbortCode(17))));
    // listen(0) discards the charged calls.
    let now = net.now;
    net.ep(1).listen(ss, 0).unwrap();
    assert_eq!(net.ep(1).charged(ss), 0);
    assert_eq!(net.ep(1).live_calls(), 0);
    assert!(net.ep(1).user_ids(ss).is_empty());
    let _ = now;
}

#[test]
fn brief_queued_work_holds_a_call_only_while_queued_and_complete_calls_are_never_queued() {
    let (mut net, cs, _ss) = pair(104, 1);
    let now = net.now;
    let p = params(&net);
    net.ep(0).begin_call(now, cs, 1, p).unwrap();
    let key = net.ep(0).lookup(cs, 1).unwrap();
    // After the command the attention queue is drained: no attention holder remains.
    assert!(!net.ep(0).calls.get(key).unwrap().holders.attention);
    net.ep(0).abort(now, cs, 1, AbortCode(5)).unwrap();
    // Poking a complete call queues nothing.
    net.ep(0).poke(key);
    assert!(net.ep(0).attention.is_empty());
    assert!(!net.ep(0).calls.get(key).unwrap().holders.attention);
    // A queued call that completes before processing is skipped, and its hold dropped.
    let p = params(&net);
    net.ep(0).begin_call(now, cs, 2, p).unwrap();
    let k2 = net.ep(0).lookup(cs, 2).unwrap();
    net.ep(0).poke(k2);
    assert!(net.ep(0).calls.get(k2).unwrap().holders.attention);
    net.ep(0)
        .calls
        .get_mut(k2)
        .unwrap()
        .set_completion(Completion::Succeeded);
    let sent_before = net.ep(0).transmits.len();
    net.ep(0).run_attention(now);
    assert_eq!(
        net.ep(0).transmits.len(),
        sent_before,
        "a complete call is never processed"
    );
    assert!(!net.ep(0).calls.get(k2).unwrap().holders.attention);
}

#[test]
fn brief_a_call_is_freed_the_moment_its_last_holder_lets_go() {
    let (mut net, cs, ss) = pair(105, 1);
    let now = net.now;
    let p = params(&net);
    net.ep(0).begin_call(now, cs, 1, p).unwrap();
    net.ep(0)
        .send(now, cs, 1, Bytes::from_static(b"ping"), false)
        .unwrap();
    let mut sid = 0;
    net.run_until(Duration::from_secs(2), |n| {
        let now = n.now;
        if let Some(m) = n.ep(1).recvmsg(now, ss, 100) {
            sid = m.user_id;
            return true;
        }
        false
    });
    let now = net.now;
    net.ep(1)
        .send(now, ss, sid, Bytes::from_static(b"pong"), false)
        .unwrap();
    net.run_until(Duration::from_secs(2), |n| n.ep(0).call_readable(cs, 1));
    let key = net.ep(0).lookup(cs, 1).unwrap();
    let h = net.ep(0).calls.get(key).unwrap().holders;
    assert!(
        h.user_id && !h.io,
        "complete and disconnected, held only by the socket: {h:?}"
    );
    let now = net.now;
    let m = net.ep(0).recv(now, cs, 1, 100).unwrap().unwrap();
    assert_eq!(m.terminal, Some(Completion::Succeeded));
    // No dead state, no timer: the call is gone right now.
    assert!(net.ep(0).calls.get(key).is_none());
    assert_eq!(net.ep(0).live_calls(), 0);
    assert_eq!(
        net.ep(0).stats().calls_freed,
        net.ep(0).stats().calls_created
    );
    // Shutting down checks that no call remains.
    let now = net.now;
    assert_eq!(net.ep(0).shutdown(now), Ok(()));
}

#[test]
fn brief_shutdown_reports_leaked_calls() {
    let (mut net, cs, _ss) = pair(106, 0);
    let now = net.now;
    let p = params(&net);
    net.ep(0).begin_call(now, cs, 1, p).unwrap();
    // Simulate a leak: a holder nobody will drop.
    let key = net.ep(0).lookup(cs, 1).unwrap();
    net.ep(0).calls.get_mut(key).unwrap().holders.attention = true;
    assert_eq!(net.ep(0).shutdown(now), Err(crate::CallsRemain(1)));
}

#[test]
fn brief_final_ack_is_sent_at_release_if_not_sent_yet() {
    let (mut net, cs, ss) = pair(107, 1);
    let now = net.now;
    let p = params(&net);
    net.ep(0).begin_call(now, cs, 1, p).unwrap();
    net.ep(0)
        .send(now, cs, 1, Bytes::from_static(b"a"), false)
        .unwrap();
    net.run_until(Duration::from_secs(2), |n| n.ep(1).call_readable(ss, 1000));
    let now = net.now;
    let _ = net.ep(1).recv(now, ss, 1000, 10).unwrap();
    net.ep(1)
        .send(now, ss, 1000, Bytes::from_static(b"b"), false)
        .unwrap();
    // Deliver the reply; stop the clock right there (the final ACK is deferred 2 ms).
    net.collect();
    let t = net.now + net.latency;
    while net.now < t {
        net.step(t);
    }
    assert!(matches!(
        net.ep(0).call_state(cs, 1),
        Some(CallState::Complete(_))
    ));
    let client = net.addr(0);
    let acks_before = final_acks(&net, client, 1);
    assert_eq!(acks_before, 0, "final ACK is deferred");
    let now = net.now;
    let m = net.ep(0).recv(now, cs, 1, 10).unwrap().unwrap();
    assert_eq!(m.terminal, Some(Completion::Succeeded));
    net.collect();
    assert_eq!(
        final_acks(&net, client, 1),
        1,
        "release sends the pending final ACK"
    );
    // The server call completes from it.
    net.run_until(Duration::from_secs(1), |n| {
        matches!(
            n.ep(1).call_state(ss, 1000),
            Some(CallState::Complete(Completion::Succeeded))
        )
    });
}

fn final_acks(net: &Net, from: std::net::SocketAddr, call: u32) -> usize {
    net.seen
        .iter()
        .filter(|s| s.from == from && s.header.packet_type == PacketType::ACK)
        .filter(|s| s.header.call_number.0 == call)
        .filter_map(|s| Ack::parse(&s.bytes[28..]).ok())
        .filter(|a| a.reason == AckReason::IDLE && a.first_packet.0 == 2)
        .count()
}

#[test]
fn brief_connection_resends_the_terminal_ack_after_the_call_is_gone() {
    let (mut net, cs, ss) = pair(108, 1);
    let now = net.now;
    let p = params(&net);
    net.ep(0).begin_call(now, cs, 1, p).unwrap();
    net.ep(0)
        .send(now, cs, 1, Bytes::from_static(b"a"), false)
        .unwrap();
    net.run_until(Duration::from_secs(2), |n| n.ep(1).call_readable(ss, 1000));
    let now = net.now;
    let _ = net.ep(1).recv(now, ss, 1000, 10).unwrap();
    net.ep(1)
        .send(now, ss, 1000, Bytes::from_static(b"reply"), false)
        .unwrap();
    net.run_until(Duration::from_secs(2), |n| n.ep(0).call_readable(cs, 1));
    let now = net.now;
    let _ = net.ep(0).recv(now, cs, 1, 100).unwrap().unwrap();
    assert_eq!(net.ep(0).live_calls(), 0, "the call object is gone");
    // The peer retransmits its last reply packet: replay it.
    let server = net.addr(1);
    let last_data = net
        .seen
        .iter()
        .rev()
        .find(|s| s.from == server && s.header.packet_type == PacketType::DATA)
        .unwrap()
        .clone();
    net.collect(); // the final ACK sent at release
    let before = net.seen.len();
    let now = net.now;
    net.ep(0)
        .handle_datagram(now, server, Bytes::from(last_data.bytes.clone()));
    net.collect();
    let replies: Vec<_> = net.seen[before..]
        .iter()
        .filter(|s| s.from == net.addr(0))
        .collect();
    assert_eq!(replies.len(), 1, "exactly one terminal packet re-sent");
    let ack = Ack::parse(&replies[0].bytes[28..]).unwrap();
    assert_eq!(replies[0].header.call_number.0, 1);
    assert_eq!(ack.reason, AckReason::DUPLICATE);
    assert_eq!(ack.first_packet.0, 2);
    assert_eq!(ack.serial, last_data.header.serial);
    assert_eq!(net.ep(0).stats().terminal_resent, 1);
    assert_eq!(net.ep(0).live_calls(), 0);
}

#[test]
fn brief_connection_resends_the_terminal_abort_after_the_call_is_gone() {
    let (mut net, cs, ss) = pair(109, 1);
    let now = net.now;
    let p = params(&net);
    net.ep(0).begin_call(now, cs, 1, p).unwrap();
    net.ep(0)
        .send(now, cs, 1, Bytes::from_static(b"a"), false)
        .unwrap();
    net.run_until(Duration::from_secs(2), |n| n.ep(1).call_readable(ss, 1000));
    let now = net.now;
    net.ep(0).end_call(now, cs, 1).unwrap(); // aborts RX_CALL_DEAD, releases, frees
    assert_eq!(net.ep(0).live_calls(), 0);
    // Lose that ABORT, then let the server send reply DATA for the finished call.
    net.filter = Some(Box::new(|_, _, _| false));
    net.collect();
    net.filter = None;
    let now = net.now;
    let _ = net.ep(1).recv(now, ss, 1000, 10);
    net.ep(1)
        .send(now, ss, 1000, Bytes::from_static(b"late"), false)
        .unwrap();
    let before = net.seen.len();
    net.run_for(Duration::from_millis(5));
    let client = net.addr(0);
    let resent: Vec<_> = net.seen[before..]
        .iter()
        .filter(|s| s.from == client && s.header.packet_type == PacketType::ABORT)
        .collect();
    assert!(
        !resent.is_empty(),
        "the connection answers with the saved ABORT"
    );
    match Packet::parse(&resent[0].bytes).unwrap().body {
        Body::Abort(a) => assert_eq!(a.code, AbortCode::RX_CALL_DEAD),
        _ => unreachable!(),
    }
    net.run_until(Duration::from_secs(1), |n| {
        matches!(
            n.ep(1).call_state(ss, 1000),
            Some(CallState::Complete(Completion::RemoteAbort(
                AbortCode::RX_CALL_DEAD
            )))
        )
    });
}

#[test]
fn brief_snapshot_lists_calls_and_holders() {
    let (mut net, cs, _ss) = pair(110, 2);
    start_big_call(&mut net, cs, 1);
    let snap = net.ep(0).snapshot();
    assert_eq!(snap.calls.len(), 1);
    let c = &snap.calls[0];
    assert_eq!(c.user_id, 1);
    assert!(c.holders.user_id && c.holders.io);
    assert_eq!(c.state, "ClSndReq");
    assert_eq!(snap.conns.len(), 1);
}
