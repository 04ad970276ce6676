//! Datagram input: decoding, the VERSION responder, connection and channel demultiplexing, and
//! dispatch of each packet to its call or connection.
//!
//! Layer: the engine. Validation follows `reference-linux-rxrpc.md` §1.11: nothing from the
//! network can panic; undecodable datagrams are counted and dropped; illegal packets on a call
//! abort it with `RX_PROTOCOL_ERROR`; we never answer an ABORT with an ABORT.

use std::net::SocketAddr;

use bytes::Bytes;

use super::{Endpoint, Event, SocketId, tracing_event};
use crate::arena::Key;
use crate::call::Side;
use crate::call::state::{AbortReason, CallState, Completion};
use crate::conn::Conn;
use crate::time::Instant;
use crate::wire::{
    AbortCode, Ack, AckReason, Data, Flags, Header, HeaderView, PacketType, Seq, Serial, Version,
};

impl Endpoint {
    /// Handle one received UDP datagram from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: Bytes) {
        self.last_now = self.last_now.max(now);
        self.stats.datagrams_in += 1;
        let header = match HeaderView::new_checked(&datagram) {
            Ok(v) => v.to_owned(),
            Err(_) => {
                self.stats.malformed += 1;
                return;
            }
        };
        let body = datagram.slice(crate::wire::HEADER_LEN..);
        self.stats.packets_in[super::type_index(header.packet_type)] += 1;
        let len = datagram.len() as u64;
        match header.packet_type {
            PacketType::VERSION => {
                self.on_version(from, &header, body);
            }
            PacketType::DEBUG if self.config.debug_responder => self.on_debug(from, &header, body),
            PacketType::DEBUG | PacketType::PARAMS => self.stats.dropped += 1,
            t if t.0 == 0 || t.0 > 13 || (10..=12).contains(&t.0) => self.stats.dropped += 1,
            _ => self.on_packet(now, from, header, body),
        }
        // Counted after processing, so the packet that created the peer's first
        // connection is included.
        if let Some(p) = self.peers.get_mut(&from) {
            p.stats.packets_received += 1;
            p.stats.bytes_received += len;
        }
        self.run_attention(now);
    }

    fn on_version(&mut self, from: SocketAddr, header: &Header, body: Bytes) {
        if !header.is_client_initiated() {
            return; // a keepalive or a reply: nothing to do
        }
        if let Ok(Version::Request { payload }) = Version::parse(header, body) {
            if payload.first().copied().unwrap_or(0) != 0 {
                return;
            }
            let reply = Version::reply(&self.config.version_string);
            let mut h = *header;
            h.flags = Flags::LAST_PACKET;
            h.serial = Serial(0);
            h.seq = Seq(0);
            self.push_packet(from, &h, |out| reply.emit(out));
            self.stats.version_replies += 1;
        }
    }

    /// Count `header`'s packet as dropped and answer it with an `RX_PROTOCOL_ERROR` ABORT.
    fn refuse(&mut self, from: SocketAddr, header: &Header) {
        self.stats.dropped += 1;
        self.reject(
            from,
            header,
            PacketType::ABORT,
            Some(AbortCode::RX_PROTOCOL_ERROR),
        );
    }

    /// Reply to a packet that has no connection or call, inverting its direction.
    fn reject(
        &mut self,
        from: SocketAddr,
        header: &Header,
        ty: PacketType,
        code: Option<AbortCode>,
    ) {
        if header.packet_type == PacketType::ABORT {
            return;
        }
        let mut h = *header;
        h.packet_type = ty;
        h.flags = if header.is_client_initiated() {
            Flags::empty()
        } else {
            Flags::CLIENT_INITIATED
        };
        h.seq = Seq(0);
        h.serial = Serial(0);
        h.cksum = 0;
        match code {
            Some(c) => {
                self.push_packet(from, &h, |out| {
                    out.extend_from_slice(&c.to_wire().to_be_bytes())
                });
                self.stats.aborts_sent += 1;
            }
            None => {
                self.push_packet(from, &h, |_| {});
                self.stats.busy_sent += 1;
            }
        }
    }

    pub(super) fn on_packet(
        &mut self,
        now: Instant,
        from: SocketAddr,
        header: Header,
        body: Bytes,
    ) {
        let to_server = header.is_client_initiated();
        if header.service_id.0 == 0 {
            self.stats.dropped += 1;
            return;
        }
        let ck = if to_server {
            match self
                .service_conns
                .get(&(from, header.epoch, header.cid.conn_id()))
            {
                Some(&k) => k,
                None => match self.new_service_conn(now, from, &header) {
                    Some(k) => k,
                    None => return,
                },
            }
        } else {
            match self.client_conns.get(&header.cid.conn_id()) {
                Some(&k)
                    if self.conns.get(k).is_some_and(|c| {
                        c.epoch == header.epoch && c.peer.port() == from.port()
                    }) =>
                {
                    k
                }
                _ => {
                    self.refuse(from, &header);
                    return;
                }
            }
        };
        let Some(conn) = self.conns.get_mut(ck) else {
            return;
        };
        conn.packets_received += 1;
        conn.last_rx_at = now;
        if header.serial.after(conn.hi_serial) {
            conn.hi_serial = header.serial;
        }
        if header.security_index != conn.security_index {
            self.stats.dropped += 1;
            return;
        }
        // Service ID: only an upgrade may change it.
        if header.service_id != conn.service_id {
            if conn.side == Side::Client && conn.upgrade {
                conn.service_id = header.service_id;
            } else if conn.side == Side::Service && conn.upgrade {
                // Client still sends the original ID until it sees our reply: accept it.
            } else {
                self.stats.dropped += 1;
                return;
            }
        }
        if header.call_number.is_connection_level() {
            self.on_conn_packet(now, ck, &header, body);
            return;
        }
        if !conn.is_secure() {
            self.on_unsecured_packet(now, ck, header, body);
            return;
        }
        let ch = header.cid.channel();
        let slot = conn.channels[ch.index()];
        let number = header.call_number;
        if number.before(slot.call_number) {
            self.stats.dropped += 1;
            return;
        }
        if number == slot.call_number && slot.call.is_none() {
            // The channel's last call has finished: the connection answers for it.
            self.on_finished_call_packet(ck, &header, body);
            return;
        }
        if number.after(slot.call_number) {
            if conn.side == Side::Client || header.packet_type != PacketType::DATA {
                self.stats.dropped += 1;
                return;
            }
            // DATA seq 0 cannot start a call: refuse it before a charge is spent on it.
            if header.seq.0 == 0 {
                self.refuse(from, &header);
                return;
            }
            // A new call on a service channel implicitly ends the previous one.
            if let Some(old) = slot.call {
                self.implicit_end(now, old);
            }
            if !self.new_service_call(now, ck, &header) {
                return;
            }
        }
        let Some(conn) = self.conns.get(ck) else {
            return;
        };
        let Some(key) = conn.channels[ch.index()].call else {
            return;
        };
        let hi = conn.hi_serial.0;
        if let Some(call) = self.calls.get_mut(key) {
            call.heard(now, hi);
        }
        self.on_call_packet(now, key, &header, body);
    }

    fn new_service_conn(&mut self, now: Instant, from: SocketAddr, header: &Header) -> Option<Key> {
        // DATA needs a call number and a seq (reference-linux-rxrpc.md §1.2): refuse before
        // any state is made for it.
        if header.packet_type == PacketType::DATA
            && (header.call_number.is_connection_level() || header.seq.0 == 0)
        {
            self.refuse(from, header);
            return None;
        }
        if header.packet_type != PacketType::DATA {
            self.stats.dropped += 1;
            // An ACK (a client's keepalive PING, say) can overtake a first DATA packet that was
            // lost: dropping it lets the client's retransmission create the call. Anything
            // else on an unknown connection is a protocol error.
            if header.packet_type != PacketType::ACK {
                self.reject(
                    from,
                    header,
                    PacketType::ABORT,
                    Some(AbortCode::RX_PROTOCOL_ERROR),
                );
            }
            return None;
        }
        let Some(&sock) = self.services.get(&header.service_id) else {
            self.stats.dropped += 1;
            if header.seq.0 == 1 {
                self.reject(
                    from,
                    header,
                    PacketType::ABORT,
                    Some(AbortCode::RX_INVALID_OPERATION),
                );
            }
            return None;
        };
        let security = match self.service_security(sock, from, header) {
            Ok(s) => s,
            Err(code) => {
                self.reject(from, header, PacketType::ABORT, Some(code));
                return None;
            }
        };
        let socket = self.sockets.get(sock)?;
        if !socket.listening {
            self.reject(
                from,
                header,
                PacketType::ABORT,
                Some(AbortCode::RX_INVALID_OPERATION),
            );
            return None;
        }
        if socket.charges.is_empty() {
            self.reject(from, header, PacketType::BUSY, None);
            return None;
        }
        let upgrade = socket.upgrade;
        // Resource bounds (limits.rs): incoming connections in total, per peer, peers.
        if !self.admit_incoming_conn(now, from) {
            self.reject(from, header, PacketType::BUSY, None);
            return None;
        }
        let mut service_id = header.service_id;
        let mut upgraded = false;
        if let Some((f, t)) = upgrade {
            if header.user_status == 1 && header.service_id == f {
                service_id = t;
                upgraded = true;
            }
        }
        let mut conn = Conn::new(
            Side::Service,
            from,
            header.epoch,
            header.cid.conn_id(),
            service_id,
            header.security_index,
            now,
        );
        conn.upgrade = upgraded;
        conn.socket = Some(sock);
        if let super::secure::ServiceSecurity::Class(state) = security {
            conn.security = Some(state);
        }
        let ck = self.conns.insert(conn);
        self.peer_conn_added(now, from);
        self.service_conns
            .insert((from, header.epoch, header.cid.conn_id()), ck);
        // Arm the idle reaper now: if no call ever attaches, the connection must still go.
        self.schedule_conn(ck);
        Some(ck)
    }

    /// Attach a charged call to the first DATA packet of a new incoming call.
    fn new_service_call(&mut self, now: Instant, ck: Key, header: &Header) -> bool {
        let Some(conn) = self.conns.get(ck) else {
            return false;
        };
        let from = conn.peer;
        let sock = conn.socket.filter(|s| self.sockets.get(*s).is_some());
        let service_id = conn.service_id;
        let Some(sock) = sock else {
            self.reject(
                from,
                header,
                PacketType::ABORT,
                Some(AbortCode::RX_INVALID_OPERATION),
            );
            return false;
        };
        let key = match self.sockets.get_mut(sock) {
            Some(s) if s.listening => s.charges.pop_front(),
            _ => None,
        };
        let Some(key) = key else {
            let code = if self.sockets.get(sock).is_some_and(|s| s.listening) {
                None
            } else {
                Some(AbortCode::RX_INVALID_OPERATION)
            };
            match code {
                None => self.reject(from, header, PacketType::BUSY, None),
                Some(c) => self.reject(from, header, PacketType::ABORT, Some(c)),
            }
            return false;
        };
        let ch = header.cid.channel();
        let Some(conn) = self.conns.get_mut(ck) else {
            return false;
        };
        // Credentials that ran out refuse new calls (the class says with which code).
        if let Some(code) = conn.security.as_ref().and_then(|s| s.expired()) {
            if let Some(s) = self.sockets.get_mut(sock) {
                s.charges.push_front(key);
            }
            self.reject(from, header, PacketType::ABORT, Some(code));
            return false;
        }
        let capacity = conn
            .security
            .as_ref()
            .map(|s| s.data_capacity(crate::wire::JUMBO_DATALEN));
        let slot = &mut conn.channels[ch.index()];
        slot.call = Some(key);
        slot.call_number = header.call_number;
        slot.last = None;
        conn.idle_since = None;
        let Some(call) = self.calls.get_mut(key) else {
            return false;
        };
        call.peer = from;
        call.service_id = service_id;
        if let Some(cap) = capacity {
            call.tx.max_payload = cap.clamp(1, crate::wire::JUMBO_DATALEN);
            call.tx.jumbo_payload = call.tx.max_payload;
        }
        call.conn = Some(ck);
        call.channel = ch;
        call.call_number = header.call_number;
        call.exposed = true;
        call.holders.io = true;
        call.created_at = now;
        call.enter_server_recv_request();
        call.timers.expect_req_by = Some(now + self.config.request_idle_timeout);
        call.start_timers(now);
        tracing_event(self.epoch, key, "get-io-service", call.holders.count());
        let (socket, user_id) = (call.socket, call.user_id);
        self.events.push_back(Event::NewCall {
            socket: SocketId(socket),
            user_id,
        });
        true
    }

    fn implicit_end(&mut self, now: Instant, old: Key) {
        let Some(call) = self.calls.get(old) else {
            return;
        };
        if call.state == CallState::ServerAwaitAck {
            self.complete_call(now, old, Completion::Succeeded);
        } else {
            self.complete_call(
                now,
                old,
                Completion::LocalAbort {
                    code: AbortCode::RX_CALL_DEAD,
                    reason: AbortReason::ImplicitEnd,
                },
            );
        }
    }

    /// A packet for the channel's last, finished call: re-send its terminal packet.
    fn on_finished_call_packet(&mut self, ck: Key, header: &Header, body: Bytes) {
        let Some(conn) = self.conns.get(ck) else {
            return;
        };
        let slot = conn.channels[header.cid.channel().index()];
        let Some(last) = slot.last else {
            self.stats.dropped += 1;
            return;
        };
        if header.packet_type == PacketType::ABORT {
            return;
        }
        let is_ack_terminal = matches!(last.terminal, crate::conn::Terminal::Ack { .. });
        if conn.side == Side::Service && is_ack_terminal {
            self.stats.dropped += 1;
            return;
        }
        if header.packet_type == PacketType::ACK {
            if let Ok(ack) = Ack::parse(&body) {
                let (peer, now) = (conn.peer, self.last_now);
                self.peer_on_ack(now, peer, ck, &ack);
                if ack.reason == AckReason::PING_RESPONSE {
                    return;
                }
            }
        }
        self.stats.terminal_resent += 1;
        self.send_terminal(
            ck,
            header.cid.channel(),
            AckReason::DUPLICATE,
            header.serial,
        );
    }

    fn on_conn_packet(&mut self, now: Instant, ck: Key, header: &Header, body: Bytes) {
        match header.packet_type {
            PacketType::ABORT => {
                let code = crate::wire::Abort::parse(&body).map(|a| a.code);
                let Ok(code) = code else { return };
                let Some(conn) = self.conns.get_mut(ck) else {
                    return;
                };
                conn.aborted = Some(code);
                conn.dont_reuse = true;
                // DATA held for a RESPONSE that will not come now.
                self.held_total = self.held_total.saturating_sub(conn.held.len());
                conn.held.clear();
                let calls: Vec<Key> = conn.channels.iter().filter_map(|c| c.call).collect();
                for k in calls {
                    self.complete_call(now, k, Completion::RemoteAbort(code));
                }
            }
            PacketType::CHALLENGE => self.on_challenge(now, ck, header, body),
            PacketType::RESPONSE => self.on_response(now, ck, header, body),
            _ => self.stats.dropped += 1,
        }
    }

    fn on_call_packet(&mut self, now: Instant, key: Key, header: &Header, body: Bytes) {
        match header.packet_type {
            PacketType::DATA => self.on_data(now, key, header, body),
            PacketType::ACK => self.on_ack(now, key, header, body),
            PacketType::ABORT => {
                if let Ok(a) = crate::wire::Abort::parse(&body) {
                    self.complete_call(now, key, Completion::RemoteAbort(a.code));
                }
            }
            PacketType::ACKALL => {
                let Some(call) = self.calls.get_mut(key) else {
                    return;
                };
                if call.state.is_transmitting() {
                    let out = call.tx.ack_all();
                    if out.all_acked && call.tx.last_sent && call.on_all_tx_acked() {
                        self.complete_call(now, key, Completion::Succeeded);
                    }
                } else {
                    self.stats.dropped += 1;
                }
            }
            PacketType::BUSY => {
                // Like Linux: ignore; the call's timers deal with a busy server.
            }
            _ => self.stats.dropped += 1,
        }
    }

    fn on_data(&mut self, now: Instant, key: Key, header: &Header, body: Bytes) {
        let data = match Data::parse(header, body) {
            Ok(d) => d,
            Err(_) => {
                self.local_abort(
                    now,
                    key,
                    AbortCode::RX_PROTOCOL_ERROR,
                    AbortReason::ProtocolError("data-malformed"),
                );
                return;
            }
        };
        let Some(call) = self.calls.get_mut(key) else {
            return;
        };
        // Reply DATA implicitly hard-ACKs the whole request.
        if call.side == Side::Client
            && matches!(
                call.state,
                CallState::ClientSendRequest
                    | CallState::ClientAwaitAck
                    | CallState::ClientAwaitReply
            )
        {
            if !call.tx.finished || !call.tx.last_sent {
                self.local_abort(
                    now,
                    key,
                    AbortCode::RX_PROTOCOL_ERROR,
                    AbortReason::ProtocolError("early-reply"),
                );
                return;
            }
            call.tx.ack_all();
            call.timers.rto = None;
            call.on_all_tx_acked();
            call.enter_client_recv_reply();
        }
        let Some(call) = self.calls.get_mut(key) else {
            return;
        };
        let receiving = matches!(
            call.state,
            CallState::ServerRecvRequest | CallState::ClientRecvReply
        );
        let mut readable = false;
        let mut complete = false;
        let ck = call.conn;
        for (h, payload) in data.subpackets(header) {
            if !receiving {
                // Late duplicates of a phase that is over.
                if h.seq.before_eq(call.rx.hard_ack) {
                    call.rx.propose(AckReason::DUPLICATE, h.serial);
                    continue;
                }
                self.local_abort(
                    now,
                    key,
                    AbortCode::RX_PROTOCOL_ERROR,
                    AbortReason::ProtocolError("data-wrong-state"),
                );
                return;
            }
            let last = h.flags.contains(Flags::LAST_PACKET);
            let req = h.flags.contains(Flags::REQUEST_ACK);
            let security = ck
                .and_then(|ck| self.conns.get_mut(ck))
                .and_then(|c| c.security.as_mut());
            let payload = match security {
                None => payload,
                Some(sec) => match sec.verify_packet(&h, payload) {
                    Ok(p) => p,
                    Err(code) => {
                        self.stats.verify_failures += 1;
                        self.local_abort(
                            now,
                            key,
                            code,
                            AbortReason::ProtocolError("verify-packet-failed"),
                        );
                        return;
                    }
                },
            };
            match call.rx.on_data(h.seq, h.serial, last, req, payload) {
                Ok(o) => {
                    readable |= o.readable;
                    complete |= o.complete;
                }
                Err(e) => {
                    self.local_abort(
                        now,
                        key,
                        AbortCode::RX_PROTOCOL_ERROR,
                        AbortReason::ProtocolError(e.as_str()),
                    );
                    return;
                }
            }
        }
        if call.state == CallState::ServerRecvRequest {
            call.timers.expect_req_by = Some(now + self.config.request_idle_timeout);
        }
        if complete {
            call.timers.expect_req_by = None;
            if call.on_rx_complete() {
                // Client: reply fully received; the call succeeded.
                self.send_call_ack_if_requested(now, key);
                self.complete_call(now, key, Completion::Succeeded);
                return;
            }
            // Service: whole request in; ACK it after a delay unless the reply is quicker. A
            // requested ACK is held too (see `EndpointConfig::request_ack_hold`), unless the
            // packets also need a stronger ACK (a hole filled, a duplicate, ...).
            let concurrent = ck
                .and_then(|ck| self.conns.get(ck))
                .is_some_and(|c| c.active_calls() > 1);
            let hold = self.config.request_ack_hold.hold(concurrent);
            if !hold.is_zero()
                && call
                    .rx
                    .pending
                    .is_some_and(|p| p.reason == AckReason::REQUESTED)
            {
                call.rx.pending = None;
                call.timers.delayed_ack = Some(now + hold);
            } else {
                let srtt = call.tx.rtt.srtt;
                let delay = crate::call::Rx::ack_delay(srtt, &self.config).max(hold);
                call.timers.delayed_ack = Some(now + delay);
            }
        }
        if readable || complete {
            self.notify_readable(key);
        }
        self.poke(key);
    }

    /// A client call's reply finished with an ACK request pending: answer it before the call
    /// disconnects (the final ACK itself is the connection's job).
    fn send_call_ack_if_requested(&mut self, now: Instant, key: Key) {
        let Some(call) = self.calls.get(key) else {
            return;
        };
        if let Some(plan) = call.rx.pending {
            if plan.reason != AckReason::REQUESTED {
                return;
            }
            self.send_call_ack(now, key, AckReason::REQUESTED, plan.serial);
        }
    }

    fn on_ack(&mut self, now: Instant, key: Key, header: &Header, body: Bytes) {
        let ack = match Ack::parse(&body) {
            Ok(a) => a,
            Err(_) => {
                self.stats.malformed += 1;
                return;
            }
        };
        self.stats.acks_in[super::reason_index(ack.reason)] += 1;
        if let Some((peer, Some(ck))) = self.calls.get(key).map(|c| (c.peer, c.conn)) {
            self.peer_on_ack(now, peer, ck, &ack);
        }
        let Some(call) = self.calls.get_mut(key) else {
            return;
        };
        // RTT from PING_RESPONSE.
        if ack.reason == AckReason::PING_RESPONSE {
            if let Some((s, t)) = call.ping_probe {
                if ack.serial.0 == s {
                    call.tx.rtt.sample(now - t);
                    call.ping_probe = None;
                }
            }
        }
        if ack.reason == AckReason::PING {
            call.rx.propose(AckReason::PING_RESPONSE, header.serial);
        } else if header.flags.contains(Flags::REQUEST_ACK) {
            call.rx.propose(AckReason::REQUESTED, header.serial);
        }
        if call.state.is_transmitting() {
            // An ACK whose hard-ACK point lies below ours is stale (reordered, or the peer never
            // got what a forged ACKALL made us drop): it must not count as progress below, or
            // such a call would be kept alive for ever (hostile-peer suite).
            let stale = ack.first_packet.minus(1).before(call.tx.bottom);
            match call.tx.on_ack(now, &ack, &self.config) {
                Ok(out) => {
                    if out.progress {
                        call.timers.rto = None;
                    }
                    // Any ACK about our DATA (not a PING or its response) shows the peer is
                    // receiving it, even if its window holds us back: that is progress. An
                    // MTU black hole lets only PINGs through.
                    if out.progress
                        || (!stale
                            && !matches!(ack.reason, AckReason::PING | AckReason::PING_RESPONSE))
                    {
                        call.tx_progress_at = now;
                    }
                    let done = out.all_acked
                        || (out.all_soft_acked && call.state == CallState::ServerAwaitAck);
                    if done && call.tx.last_sent {
                        call.timers.rto = None;
                        if call.on_all_tx_acked() {
                            self.complete_call(now, key, Completion::Succeeded);
                            return;
                        }
                    }
                    if out.writable {
                        self.notify_writable(key);
                    }
                }
                Err(e) => {
                    self.local_abort(
                        now,
                        key,
                        AbortCode::RX_PROTOCOL_ERROR,
                        AbortReason::ProtocolError(e.as_str()),
                    );
                    return;
                }
            }
        }
        self.poke(key);
    }
}
