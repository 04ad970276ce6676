//! Call processing inside the endpoint: connecting client calls to channels, transmitting,
//! ACKing, timers, completion, disconnection, release and freeing.
//!
//! Layer: the engine. Every function here runs in the single owner of the endpoint (the
//! driver task), which plays the part of the kernel's I/O thread.

use std::cmp::Reverse;
use std::sync::Arc;

use bytes::Bytes;

use super::{Endpoint, Event, RecvMsg, SocketId, TimerTarget, tracing_event};
use crate::arena::Key;
use crate::call::state::{AbortReason, CallState, Completion};
use crate::call::{Call, Side};
use crate::conn::{BundleKey, Conn, LastCall, Terminal};
use crate::security::ClientSecurityRef;
use crate::time::Instant;
use crate::wire::{
    AbortCode, Ack, AckReason, Channel, ConnId, Flags, Header, PacketType, SecurityIndex, Seq,
    Serial,
};

impl Endpoint {
    // ----- connecting client calls ---------------------------------------------------------

    pub(super) fn connect_call(
        &mut self,
        now: Instant,
        key: Key,
        security: Option<ClientSecurityRef>,
    ) {
        let Some(call) = self.calls.get(key) else {
            return;
        };
        let bundle = BundleKey {
            peer: call.peer,
            service_id: call.service_id,
            security_index: security
                .as_ref()
                .map_or(SecurityIndex::NULL, |s| s.security_index()),
            security_id: security
                .as_ref()
                .map_or(0, |s| Arc::as_ptr(s) as *const () as usize),
            upgrade: call.upgrade,
        };
        let exclusive = call.exclusive;
        let service_id = call.service_id;
        if !exclusive {
            let conns = self.bundles.get(&bundle).cloned().unwrap_or_default();
            for ck in &conns {
                let Some(conn) = self.conns.get(*ck) else {
                    continue;
                };
                if conn.dont_reuse || conn.aborted.is_some() {
                    continue;
                }
                if conn.upgrade && conn.active_calls() > 0 {
                    continue; // only one upgrade probe at a time
                }
                if let Some(ch) = conn.free_channel() {
                    self.activate_channel(now, key, *ck, ch);
                    return;
                }
            }
            if conns.len() >= self.config.max_conns_per_bundle {
                self.waiting.entry(bundle).or_default().push_back(key);
                return;
            }
        }
        let cid = self.alloc_conn_id();
        let mut conn = Conn::new(
            Side::Client,
            bundle.peer,
            self.epoch,
            cid,
            service_id,
            bundle.security_index,
            now,
        );
        if let Some(sec) = &security {
            match sec.new_conn(&conn.ident()) {
                Ok(state) => {
                    conn.security = Some(state);
                    conn.credentials = Some(Arc::clone(sec));
                }
                Err(code) => {
                    self.complete_call(
                        now,
                        key,
                        Completion::LocalAbort {
                            code,
                            reason: AbortReason::UnsupportedSecurity,
                        },
                    );
                    return;
                }
            }
        }
        conn.dont_reuse = exclusive;
        conn.upgrade = bundle.upgrade;
        if !exclusive {
            conn.bundle = Some(bundle);
        }
        let ck = self.conns.insert(conn);
        self.peer_conn_added(now, bundle.peer);
        self.client_conns.insert(cid, ck);
        if !exclusive {
            self.bundles.entry(bundle).or_default().push(ck);
        }
        self.activate_channel(now, key, ck, Channel(0));
    }

    fn alloc_conn_id(&mut self) -> ConnId {
        loop {
            let idx = self.next_conn_index;
            self.next_conn_index = if idx >= 0x3fff_ffff { 1 } else { idx + 1 };
            let id = ConnId::from_index(idx);
            if !self.client_conns.contains_key(&id) {
                return id;
            }
        }
    }

    fn activate_channel(&mut self, now: Instant, key: Key, ck: Key, ch: Channel) {
        let Some(conn) = self.conns.get_mut(ck) else {
            return;
        };
        let slot = &mut conn.channels[ch.index()];
        // A new call implicitly acknowledges the channel's previous one.
        slot.final_ack_at = None;
        let number = slot.call_number.next();
        slot.call_number = number;
        slot.call = Some(key);
        conn.idle_since = None;
        let service_id = conn.service_id;
        if let Some(call) = self.calls.get_mut(key) {
            call.conn = Some(ck);
            call.channel = ch;
            call.call_number = number;
            call.service_id = service_id;
            call.enter_client_pre_send();
            call.start_timers(now);
        }
        self.poke(key);
    }

    // ----- attention queue -----------------------------------------------------------------

    /// Queue work for a call. A complete call is never queued; a queued call is held by the
    /// queue until processed.
    pub(crate) fn poke(&mut self, key: Key) {
        let Some(call) = self.calls.get_mut(key) else {
            return;
        };
        if call.holders.attention || call.is_complete() {
            return;
        }
        call.holders.attention = true;
        tracing_event(self.epoch, key, "get-poke", call.holders.count());
        self.attention.push_back(key);
    }

    /// Process every call with queued work.
    pub(crate) fn run_attention(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        while let Some(key) = self.attention.pop_front() {
            let complete = match self.calls.get_mut(key) {
                Some(c) => {
                    c.holders.attention = false;
                    tracing_event(self.epoch, key, "put-poke", c.holders.count());
                    c.is_complete()
                }
                None => continue,
            };
            if !complete {
                self.process_call(now, key);
            }
            self.maybe_free(key);
        }
    }

    /// Transmit what the call may send, send the ACKs it owes, and rearm its timers.
    pub(super) fn process_call(&mut self, now: Instant, key: Key) {
        let Some(call) = self.calls.get_mut(key) else {
            return;
        };
        if call.is_complete() {
            return;
        }
        let Some(ck) = call.conn else { return };
        let Some(conn) = self.conns.get_mut(ck) else {
            return;
        };
        let peer = call.peer;
        // DATA.
        if call.state.is_transmitting()
            || matches!(
                call.state,
                CallState::ClientPreSend | CallState::ServerSendReply | CallState::ServerAckRequest
            )
        {
            let channel = call.channel;
            let number = call.call_number;
            let side = call.side;
            let upgrade_probe = conn.upgrade && side == Side::Client;
            let config = &self.config;
            super::transmit::prepare(&mut call.tx, self.peers.get_mut(&peer), config);
            let mut sink = super::transmit::DataSink {
                transmits: &mut self.transmits,
                stats: &mut self.stats,
                peers: &mut self.peers,
                pool: &mut self.tx_pool,
                peer,
                now,
            };
            if !call.tx.outstanding() {
                // Nothing was in flight: the transmit side starts afresh now.
                call.tx_progress_at = now;
            }
            let rtt_samples = call.tx.rtt.samples;
            let mut secure_failed = None;
            let sent = call.tx.transmit(
                now,
                config,
                |pkts| {
                    let mut headers: Vec<Header> = pkts
                        .iter()
                        .map(|p| {
                            let mut h =
                                conn.header(channel, number, PacketType::DATA, p.seq, p.flags);
                            if upgrade_probe && p.seq.0 == 1 {
                                h.user_status = 1;
                            }
                            h
                        })
                        .collect();
                    let security = &mut conn.security;
                    super::transmit::push_data(&mut sink, &mut headers, pkts, |h, data, out| {
                        match security.as_mut() {
                            None => out.extend_from_slice(data),
                            // The class may set header fields (the checksum); push_data writes
                            // the headers after the payloads.
                            Some(sec) => {
                                if let Err(code) = sec.secure_packet(h, data, out) {
                                    secure_failed = Some(code);
                                }
                            }
                        }
                    })
                },
                |p, tx| {
                    // Never on the last packet of a reply: OpenAFS would then not hard-ACK it.
                    let last = p.flags.contains(Flags::LAST_PACKET);
                    if last && side == Side::Service {
                        return false;
                    }
                    p.resend
                        || rtt_samples < 3
                        || tx.cwnd() <= 4
                        || tx.rwind <= 2
                        || (!last && p.seq == tx.top && !tx.finished)
                },
            );
            if sent > 0 {
                call.exposed = true;
                call.enter_client_send_request();
                if call.tx.last_sent {
                    call.on_last_packet_sent();
                }
                call.start_timers(now);
                // DATA in the reverse direction acknowledges what we received, but it does not
                // answer a PING or an explicit ACK request: those stay pending.
                call.rx.data_sent();
                call.timers.delayed_ack = None;
            }
            if let Some(code) = secure_failed {
                self.local_abort(
                    now,
                    key,
                    code,
                    AbortReason::ProtocolError("secure-packet-failed"),
                );
                return;
            }
        }
        // ACKs owed by the receive side.
        let receiving =
            call.state.is_receiving() || matches!(call.state, CallState::ServerAckRequest);
        if let Some(plan) = call.rx.pending {
            self.send_call_ack(now, key, plan.reason, plan.serial);
        } else if receiving {
            let call = match self.calls.get(key) {
                Some(c) => c,
                None => return,
            };
            // Two unacknowledged packets (while more are to come: a complete request waits for
            // its reply or its delayed ACK), or the application consumed enough to reopen the
            // window noticeably: an IDLE ACK now.
            if (call.rx.unacked >= 2 && call.state != CallState::ServerAckRequest)
                || call.rx.consumed_since_ack > 8
                || (call.rx.consumed_since_ack > 0
                    && !call.rx.has_data()
                    && call.rx.advertised_rwind < call.rx.window / 2)
            {
                self.send_call_ack(now, key, AckReason::IDLE, Serial(0));
            }
        }
        self.maybe_send_pmtu_probe(now, key);
        let config = &self.config;
        let Some(call) = self.calls.get_mut(key) else {
            return;
        };
        if call.rx.unacked > 0 && call.timers.delayed_ack.is_none() {
            let srtt = call.tx.rtt.srtt;
            call.timers.delayed_ack = Some(now + crate::call::Rx::ack_delay(srtt, config));
        }
        // The loss timer (tail-loss probe, then retransmission timeout) runs while data is in
        // flight, and doubles as the persist timer while the peer's window holds back data we
        // have (its window update may have been lost): then it sends a PING to learn the
        // window.
        call.timers.reorder = call.tx.reorder_deadline();
        if (call.tx.outstanding() || call.tx.window_blocked()) && !call.is_complete() {
            // Never back off so far that one retransmission interval eats most of the peer's
            // idle timeout: keep several tries inside it.
            let cap = call.idle_timeout / 4;
            call.timers.rto = call.tx.loss_deadline(now, config, cap, call.timers.rto);
        } else {
            call.timers.rto = None;
        }
        self.schedule_call(key);
    }

    /// Send an ACK for a call now.
    pub(super) fn send_call_ack(
        &mut self,
        _now: Instant,
        key: Key,
        reason: AckReason,
        serial: Serial,
    ) {
        let Some(call) = self.calls.get_mut(key) else {
            return;
        };
        let Some(ck) = call.conn else { return };
        let Some(conn) = self.conns.get_mut(ck) else {
            return;
        };
        let mut reason = reason;
        let mut body = call.rx.build_ack(reason, serial);
        if let Some(t) = body.trailer.as_mut() {
            *t = super::peer::ack_trailer(&self.config, self.peers.get(&call.peer), t.rwind);
        }
        if reason == AckReason::DELAY && !body.acks.contains(&crate::wire::ACK_TYPE_ACK) {
            reason = AckReason::IDLE;
            body.reason = reason;
        }
        let flags = Flags::SLOW_START_OK;
        let h = conn.header(
            call.channel,
            call.call_number,
            PacketType::ACK,
            Seq(0),
            flags,
        );
        call.rx.ack_sent();
        call.timers.delayed_ack = None;
        let peer = call.peer;
        self.stats.acks_out[super::reason_index(reason)] += 1;
        self.push_packet(peer, &h, |out| body.emit(out));
    }

    /// Send a PING ACK on a call (RTT probe / keepalive).
    pub(crate) fn send_call_ping(&mut self, now: Instant, key: Key) {
        let Some(call) = self.calls.get_mut(key) else {
            return;
        };
        let Some(ck) = call.conn else { return };
        let Some(conn) = self.conns.get_mut(ck) else {
            return;
        };
        let (h, body) = super::peer::ping_ack(&self.config, call, conn, self.peers.get(&call.peer));
        call.ping_probe = Some((h.serial.0, now));
        call.last_ping_at = Some(now);
        let peer = call.peer;
        self.stats.acks_out[super::reason_index(AckReason::PING)] += 1;
        self.push_packet(peer, &h, |out| body.emit(out));
    }

    pub(super) fn push_packet(
        &mut self,
        dest: std::net::SocketAddr,
        h: &Header,
        body: impl FnOnce(&mut Vec<u8>),
    ) {
        let mut out = super::take_buf(&mut self.tx_pool, 64);
        h.emit(&mut out);
        body(&mut out);
        self.stats.datagrams_out += 1;
        self.stats.packets_out[super::type_index(h.packet_type)] += 1;
        if let Some(p) = self.peers.get_mut(&dest) {
            p.stats.packets_sent += 1;
            p.stats.bytes_sent += out.len() as u64;
            p.last_tx_at = self.last_now;
        }
        self.transmits.push_back(super::Transmit {
            destination: dest,
            contents: out,
        });
    }

    // ----- timers --------------------------------------------------------------------------

    pub(super) fn schedule_call(&mut self, key: Key) {
        let Some(call) = self.calls.get_mut(key) else {
            return;
        };
        // Push only when the deadline moves earlier than the entry already in the heap: a
        // later deadline is found when that entry fires (early wake-ups are harmless), so the
        // heap does not grow with every ACK.
        let Some(t) = call.timers.next() else {
            return;
        };
        if call.scheduled.is_none_or(|s| t < s) {
            call.scheduled = Some(t);
            self.push_timer(t, TimerTarget::Call(key));
        }
    }

    pub(super) fn schedule_conn(&mut self, ck: Key) {
        let idle = self.config.client_conn_idle;
        let sidle = self.config.service_conn_idle;
        let Some(conn) = self.conns.get_mut(ck) else {
            return;
        };
        let reap = conn.idle_since.map(|t| {
            t + match conn.side {
                Side::Client => idle,
                Side::Service => sidle,
            }
        });
        let next = crate::time::earliest(conn.next_final_ack(), reap);
        if next != conn.scheduled {
            conn.scheduled = next;
            if let Some(t) = next {
                self.push_timer(t, TimerTarget::Conn(ck));
            }
        }
    }

    /// Run every timer that is due. Spurious or early calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        while let Some(Reverse((t, target))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            match target {
                TimerTarget::Call(key) => {
                    if let Some(c) = self.calls.get_mut(key) {
                        if c.scheduled == Some(t) {
                            c.scheduled = None;
                        }
                    }
                    self.on_call_timer(now, key);
                    self.schedule_call(key);
                }
                TimerTarget::Conn(ck) => self.on_conn_timer(now, ck),
                TimerTarget::Peer(addr) => self.on_peer_timer(now, addr, t),
            }
        }
        self.run_attention(now);
    }

    fn on_call_timer(&mut self, now: Instant, key: Key) {
        let Some(call) = self.calls.get_mut(key) else {
            return;
        };
        if call.is_complete() {
            return;
        }
        let t = call.timers;
        let due = |d: Option<Instant>| d.is_some_and(|d| d <= now);
        if due(t.hard) {
            self.local_abort(
                now,
                key,
                AbortCode::RX_CALL_TIMEOUT,
                AbortReason::HardTimeout,
            );
            return;
        }
        if due(t.expect_rx_by) {
            // "Alive but ignoring this call" needs the peer to have been heard on the
            // connection recently and after this call last heard it; otherwise it is silence.
            let alive_elsewhere = call
                .conn
                .and_then(|ck| self.conns.get(ck))
                .is_some_and(|c| {
                    c.hi_serial.0 != call.seen_serial
                        && c.last_rx_at > call.heard_at
                        && now.saturating_since(c.last_rx_at) < call.idle_timeout / 2
                });
            let (code, why) = if call.heard_peer && alive_elsewhere {
                (AbortCode::RX_CALL_DEAD, AbortReason::CallReset)
            } else {
                (AbortCode::RX_CALL_TIMEOUT, AbortReason::IdleTimeout)
            };
            self.local_abort(now, key, code, why);
            return;
        }
        if due(t.expect_req_by)
            && call.state == CallState::ServerRecvRequest
            && call.rx.rwind() == 0
        {
            // We closed the window ourselves (the application is not reading): not the peer's
            // fault, so wait again.
            call.timers.expect_req_by = Some(now + self.config.request_idle_timeout);
        } else if due(t.expect_req_by) && call.state == CallState::ServerRecvRequest {
            self.local_abort(
                now,
                key,
                AbortCode::RX_CALL_TIMEOUT,
                AbortReason::RequestTimeout,
            );
            return;
        }
        if due(t.reorder) {
            let lost = call.tx.on_reorder_timeout(now);
            call.timers.reorder = call.tx.reorder_deadline();
            if lost {
                self.poke(key);
            }
        }
        if due(t.rto) {
            self.on_loss_timer(now, key);
        }
        let Some(call) = self.calls.get_mut(key) else {
            return;
        };
        if due(call.timers.delayed_ack) {
            call.timers.delayed_ack = None;
            let serial = call.rx.last_serial;
            self.send_call_ack(now, key, AckReason::DELAY, serial);
        }
        let Some(call) = self.calls.get_mut(key) else {
            return;
        };
        if due(call.timers.keepalive) {
            call.timers.keepalive = Some(now + call.idle_timeout / 6);
            self.send_call_ping(now, key);
        }
        self.schedule_call(key);
    }

    fn on_conn_timer(&mut self, now: Instant, ck: Key) {
        let Some(conn) = self.conns.get_mut(ck) else {
            return;
        };
        conn.scheduled = None;
        let mut due = Vec::new();
        for (i, slot) in conn.channels.iter_mut().enumerate() {
            if slot.final_ack_at.is_some_and(|t| t <= now) {
                slot.final_ack_at = None;
                due.push(Channel(i as u8));
            }
        }
        for ch in due {
            self.send_terminal(ck, ch, AckReason::IDLE, Serial(0));
        }
        let Some(conn) = self.conns.get(ck) else {
            return;
        };
        let limit = match conn.side {
            Side::Client => self.config.client_conn_idle,
            Side::Service => self.config.service_conn_idle,
        };
        if conn.active_calls() == 0 && conn.idle_since.is_some_and(|t| t + limit <= now) {
            self.reap_conn(ck);
            return;
        }
        self.schedule_conn(ck);
    }

    pub(super) fn reap_conn(&mut self, ck: Key) {
        let Some(conn) = self.conns.remove(ck) else {
            return;
        };
        self.held_total = self.held_total.saturating_sub(conn.held.len());
        if let Some(p) = self.peers.get_mut(&conn.peer) {
            p.stats.conns = p.stats.conns.saturating_sub(1);
            if p.stats.conns == 0 {
                self.peers.remove(&conn.peer);
            }
        }
        match conn.side {
            Side::Client => {
                self.client_conns.remove(&conn.cid);
                if let Some(b) = conn.bundle {
                    if let Some(list) = self.bundles.get_mut(&b) {
                        list.retain(|k| *k != ck);
                        if list.is_empty() {
                            self.bundles.remove(&b);
                        }
                    }
                }
            }
            Side::Service => {
                self.service_conns
                    .remove(&(conn.peer, conn.epoch, conn.cid));
            }
        }
    }

    /// Re-send the terminal packet a channel remembers for its last call.
    pub(super) fn send_terminal(
        &mut self,
        ck: Key,
        ch: Channel,
        reason: AckReason,
        serial: Serial,
    ) {
        let Some(conn) = self.conns.get_mut(ck) else {
            return;
        };
        let slot = conn.channels[ch.index()];
        let Some(last) = slot.last else { return };
        let peer = conn.peer;
        match last.terminal {
            Terminal::Ack { last_seq } => {
                let h = conn.header(
                    ch,
                    last.call_number,
                    PacketType::ACK,
                    Seq(0),
                    Flags::SLOW_START_OK,
                );
                let ack = Ack {
                    buffer_space: 0,
                    max_skew: 0,
                    first_packet: last_seq.next(),
                    previous_packet: last_seq,
                    serial,
                    reason,
                    acks: Vec::new(),
                    trailer: Some(super::peer::ack_trailer(
                        &self.config,
                        self.peers.get(&peer),
                        self.config.rx_window,
                    )),
                };
                self.stats.acks_out[super::reason_index(reason)] += 1;
                self.push_packet(peer, &h, |out| ack.emit(out));
            }
            Terminal::Abort(code) => {
                let h = conn.header(
                    ch,
                    last.call_number,
                    PacketType::ABORT,
                    Seq(0),
                    Flags::empty(),
                );
                self.push_packet(peer, &h, |out| {
                    out.extend_from_slice(&code.to_wire().to_be_bytes())
                });
                self.stats.aborts_sent += 1;
            }
        }
    }

    // ----- completion, disconnection, release ----------------------------------------------

    /// Abort a call locally: complete it and, if the peer knows of it, send an ABORT.
    pub(super) fn local_abort(
        &mut self,
        now: Instant,
        key: Key,
        code: AbortCode,
        reason: AbortReason,
    ) {
        let Some(call) = self.calls.get_mut(key) else {
            return;
        };
        if call.is_complete() {
            return;
        }
        if call.exposed {
            if let Some(ck) = call.conn {
                if let Some(conn) = self.conns.get_mut(ck) {
                    let h = conn.header(
                        call.channel,
                        call.call_number,
                        PacketType::ABORT,
                        Seq(0),
                        Flags::empty(),
                    );
                    let peer = call.peer;
                    self.push_packet(peer, &h, |out| {
                        out.extend_from_slice(&code.to_wire().to_be_bytes())
                    });
                    self.stats.aborts_sent += 1;
                }
            }
        }
        self.complete_call(now, key, Completion::LocalAbort { code, reason });
    }

    /// Complete a call, disconnect it from its channel and tell its socket.
    pub(super) fn complete_call(&mut self, now: Instant, key: Key, completion: Completion) {
        let Some(call) = self.calls.get_mut(key) else {
            return;
        };
        if !call.set_completion(completion) {
            return;
        }
        tracing_event(self.epoch, key, "completed", call.holders.count());
        self.disconnect_call(now, key);
        self.notify_readable(key);
    }

    /// Detach a completed call from its connection channel, leaving the channel's memory of
    /// it, and drop the I/O side's hold.
    fn disconnect_call(&mut self, now: Instant, key: Key) {
        let Some(call) = self.calls.get_mut(key) else {
            return;
        };
        let was_waiting = call.conn.is_none() && call.holders.io;
        if call.holders.io {
            call.holders.io = false;
            tracing_event(self.epoch, key, "put-io-disconnect", call.holders.count());
        }
        let completion = match call.state {
            CallState::Complete(c) => c,
            _ => return,
        };
        let Some(ck) = call.conn else {
            if was_waiting {
                for q in self.waiting.values_mut() {
                    q.retain(|k| *k != key);
                }
            }
            return;
        };
        let ch = call.channel;
        let number = call.call_number;
        let exposed = call.exposed;
        let side = call.side;
        let last_seq = call.rx.hard_ack;
        if side == Side::Service {
            self.stats.service_calls_done += 1;
        }
        self.remember_call_tx(key);
        let Some(conn) = self.conns.get_mut(ck) else {
            return;
        };
        let slot = &mut conn.channels[ch.index()];
        if slot.call == Some(key) {
            slot.call = None;
            if exposed {
                slot.last = Some(LastCall {
                    call_number: number,
                    terminal: match completion {
                        Completion::Succeeded => Terminal::Ack { last_seq },
                        Completion::LocalAbort { code, .. } => Terminal::Abort(code),
                        _ => Terminal::Abort(AbortCode::RX_CALL_DEAD),
                    },
                });
                if side == Side::Client && completion == Completion::Succeeded {
                    slot.final_ack_at = Some(now + self.config.final_ack_delay);
                }
            }
        }
        if conn.active_calls() == 0 {
            conn.idle_since = Some(now);
        }
        let bundle = conn.bundle;
        let reusable = !conn.dont_reuse && conn.aborted.is_none();
        if conn.upgrade && side == Side::Client {
            // The probe finished: the connection now knows the outcome.
            conn.upgrade = false;
        }
        // Hand the channel to a waiting call.
        if let (Some(b), true) = (bundle, reusable) {
            if let Some(next) = self.waiting.get_mut(&b).and_then(|q| q.pop_front()) {
                self.activate_channel(now, next, ck, ch);
            }
        }
        self.schedule_conn(ck);
    }

    /// Queue the call on its socket's receive queue and raise an event.
    pub(super) fn notify_readable(&mut self, key: Key) {
        let Some(call) = self.calls.get_mut(key) else {
            return;
        };
        if !call.holders.user_id || call.terminal_delivered {
            return;
        }
        let socket = call.socket;
        let user_id = call.user_id;
        if !call.holders.recv_queue {
            if let Some(s) = self.sockets.get_mut(socket) {
                call.holders.recv_queue = true;
                tracing_event(self.epoch, key, "get-notify-socket", call.holders.count());
                s.recv_queue.push_back(key);
            }
        }
        self.events.push_back(Event::Readable {
            socket: SocketId(socket),
            user_id,
        });
    }

    pub(super) fn notify_writable(&mut self, key: Key) {
        let Some(call) = self.calls.get(key) else {
            return;
        };
        if call.holders.user_id && call.may_send() && !call.tx.finished {
            self.events.push_back(Event::Writable {
                socket: SocketId(call.socket),
                user_id: call.user_id,
            });
        }
    }

    /// Release a call from the socket side: forget its user ID, leave the receive queue,
    /// abort it if unfinished, and send a pending final ACK now. Frees the call if nothing
    /// else holds it.
    pub(super) fn release_call(&mut self, now: Instant, key: Key, reason: AbortReason) {
        let Some(call) = self.calls.get(key) else {
            return;
        };
        if !call.is_complete() {
            let code = AbortCode::RX_CALL_DEAD;
            if call.state == CallState::ServerPrealloc {
                self.complete_call(now, key, Completion::LocalAbort { code, reason });
            } else {
                self.local_abort(now, key, code, reason);
            }
        }
        let Some(call) = self.calls.get_mut(key) else {
            return;
        };
        let socket = call.socket;
        let user_id = call.user_id;
        let in_queue = call.holders.recv_queue;
        if in_queue {
            call.holders.recv_queue = false;
            tracing_event(self.epoch, key, "put-release-recvq", call.holders.count());
        }
        if call.holders.user_id {
            call.holders.user_id = false;
            tracing_event(self.epoch, key, "put-userid", call.holders.count());
        }
        if let Some(s) = self.sockets.get_mut(socket) {
            if s.user_ids.get(&user_id) == Some(&key) {
                s.user_ids.remove(&user_id);
            }
            if in_queue {
                s.recv_queue.retain(|k| *k != key);
            }
            s.charges.retain(|k| *k != key);
        }
        // The final ACK of a client call goes out at release if it has not yet.
        if let (Side::Client, Some(ck)) = (call.side, call.conn) {
            let ch = call.channel;
            let number = call.call_number;
            if let Some(conn) = self.conns.get_mut(ck) {
                let slot = &mut conn.channels[ch.index()];
                if slot.final_ack_at.is_some() && slot.last.is_some_and(|l| l.call_number == number)
                {
                    slot.final_ack_at = None;
                    self.send_terminal(ck, ch, AckReason::IDLE, Serial(0));
                }
            }
        }
        self.maybe_free(key);
    }

    pub(super) fn discard_charge(&mut self, socket: Key, key: Key) {
        if let Some(s) = self.sockets.get_mut(socket) {
            s.charges.retain(|k| *k != key);
        }
        let now = self
            .calls
            .get(key)
            .map(|c| c.created_at)
            .unwrap_or_default();
        self.release_call(now, key, AbortReason::SocketClosed);
    }

    /// Free the call if no holder is left.
    pub(super) fn maybe_free(&mut self, key: Key) {
        let Some(call) = self.calls.get(key) else {
            return;
        };
        if call.holders.is_empty() {
            self.calls.remove(key);
            self.stats.calls_freed += 1;
            tracing_event(self.epoch, key, "free", 0);
        }
    }

    // ----- receiving -----------------------------------------------------------------------

    pub(super) fn read_call(&mut self, now: Instant, key: Key, max: usize) -> Option<RecvMsg> {
        let call = self.calls.get_mut(key)?;
        if call.terminal_delivered {
            return None;
        }
        let failed = matches!(call.state, CallState::Complete(c) if !c.is_success());
        let data = if failed { None } else { call.rx.read(max) };
        let end_of_data = !failed && call.rx.at_end();
        let terminal = match call.state {
            CallState::Complete(c) if failed || call.rx.at_end() => Some(c),
            _ => None,
        };
        if data.is_none() && terminal.is_none() && !end_of_data {
            return None;
        }
        let msg = RecvMsg {
            user_id: call.user_id,
            data: data.unwrap_or_else(Bytes::new),
            end_of_data,
            terminal,
            peer: call.peer,
            service_id: call.service_id,
        };
        if msg.data.is_empty() && terminal.is_none() && end_of_data {
            // End of data already reported with the last bytes: nothing new.
            if call.rx_end_reported() {
                return None;
            }
        }
        if end_of_data {
            call.mark_rx_end_reported();
        }
        // Consuming data may reopen the window: let the call send an IDLE ACK.
        self.poke(key);
        if terminal.is_some() {
            if let Some(c) = self.calls.get_mut(key) {
                c.terminal_delivered = true;
            }
            self.release_call(now, key, AbortReason::User);
        }
        Some(msg)
    }
}

impl Call {
    fn rx_end_reported(&self) -> bool {
        self.rx_end_reported
    }
    fn mark_rx_end_reported(&mut self) {
        self.rx_end_reported = true;
    }
}
