//! Connection security in the engine: setting up the class state of service connections,
//! holding the DATA of a connection that is not yet secure, CHALLENGE/RESPONSE exchange and
//! connection-level aborts.
//!
//! Layer: the engine. The classes themselves live behind [`crate::security`]; this file only
//! moves their packets and acts on their verdicts:
//!
//! * a service connection whose class is not yet satisfied holds up to
//!   [`EndpointConfig::unsecured_backlog`](crate::EndpointConfig::unsecured_backlog) DATA
//!   packets (no call is created, no charge is used, nothing is ACKed) and challenges the
//!   client, again at most every
//!   [`EndpointConfig::challenge_interval`](crate::EndpointConfig::challenge_interval) while
//!   DATA keeps coming;
//! * a verified RESPONSE makes it secure and replays the held packets, which then create the
//!   calls; a refused one aborts the connection with the class's code and drops them;
//! * a client connection answers a CHALLENGE through its class, at most one per half
//!   `challenge_interval` (no amplification of floods); a CHALLENGE the class refuses (a level
//!   it will not meet, garbage) aborts the connection with the class's code; a CHALLENGE on an
//!   rxnull connection is dropped (Linux aborts the connection; a forged CHALLENGE should not
//!   be able to kill calls);
//! * a RESPONSE on a connection that was never challenged or is already secure, and a
//!   CHALLENGE on a service connection, are dropped;
//! * an aborted connection (either end) holds nothing: its held packets are released, and
//!   DATA, CHALLENGEs and RESPONSEs that arrive on it later are dropped (no re-challenge).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;

use super::Endpoint;
use crate::arena::Key;
use crate::call::Side;
use crate::call::state::{AbortReason, Completion};
use crate::time::Instant;
use crate::wire::{AbortCode, Header, PacketType, SecurityIndex};

/// How a service connection for a new client is to be secured.
pub(super) enum ServiceSecurity {
    /// rxnull.
    Null,
    /// A class of the socket's; the connection starts unsecured.
    Class(Box<dyn crate::security::ConnSecurity>),
}

impl Endpoint {
    /// Decide the security of a new service connection from the socket's classes, or the abort
    /// code to refuse it with.
    pub(super) fn service_security(
        &self,
        sock: Key,
        from: SocketAddr,
        header: &Header,
    ) -> Result<ServiceSecurity, AbortCode> {
        let Some(socket) = self.sockets.get(sock) else {
            return Err(AbortCode::RX_INVALID_OPERATION);
        };
        if header.security_index == SecurityIndex::NULL {
            if socket.require_security {
                return Err(AbortCode::RX_INVALID_OPERATION);
            }
            return Ok(ServiceSecurity::Null);
        }
        let Some(class) = socket
            .security
            .iter()
            .find(|c| c.security_index() == header.security_index)
        else {
            return Err(AbortCode::RX_INVALID_OPERATION);
        };
        let ident = crate::security::ConnIdent {
            side: Side::Service,
            peer: from,
            epoch: header.epoch,
            cid: header.cid.conn_id(),
            service_id: header.service_id,
            security_index: header.security_index,
        };
        class.new_conn(&ident).map(ServiceSecurity::Class)
    }

    /// A packet for a call on a service connection that is not yet secure: hold DATA and
    /// challenge; drop the rest.
    pub(super) fn on_unsecured_packet(
        &mut self,
        now: Instant,
        ck: Key,
        header: Header,
        body: Bytes,
    ) {
        let limit = self.config.unsecured_backlog;
        let interval = self.config.challenge_interval;
        let Some(conn) = self.conns.get_mut(ck) else {
            return;
        };
        // An aborted connection (its RESPONSE refused, or the client gave up on it) will never
        // deliver anything: hold nothing and challenge no more.
        if header.packet_type != PacketType::DATA || conn.aborted.is_some() {
            self.stats.dropped += 1;
            return;
        }
        if conn.held.len() < limit && self.held_total < self.config.unsecured_backlog_total {
            // A copy: a held slice would pin the whole receive block it came in.
            conn.held.push_back((header, Bytes::copy_from_slice(&body)));
            self.held_total += 1;
        } else {
            self.stats.dropped += 1;
        }
        let due = conn
            .challenged_at
            .is_none_or(|t| now.saturating_since(t) >= interval);
        if due {
            self.send_challenge(now, ck);
        }
    }

    /// Send (or re-send) the connection's CHALLENGE.
    fn send_challenge(&mut self, now: Instant, ck: Key) {
        let Some(conn) = self.conns.get_mut(ck) else {
            return;
        };
        let Some(body) = conn.security.as_mut().and_then(|s| s.issue_challenge()) else {
            return;
        };
        conn.challenged_at = Some(now);
        conn.challenges += 1;
        let h = conn.conn_header(PacketType::CHALLENGE);
        let peer = conn.peer;
        self.stats.challenges_sent += 1;
        self.push_packet(peer, &h, |out| out.extend_from_slice(&body));
    }

    /// A CHALLENGE for one of our client connections.
    pub(super) fn on_challenge(&mut self, now: Instant, ck: Key, header: &Header, body: Bytes) {
        let Some(conn) = self.conns.get_mut(ck) else {
            return;
        };
        if conn.side != Side::Client || conn.aborted.is_some() {
            self.stats.dropped += 1;
            return;
        }
        let counters = [
            conn.channels[0].call_number,
            conn.channels[1].call_number,
            conn.channels[2].call_number,
            conn.channels[3].call_number,
        ];
        let Some(sec) = conn.security.as_mut() else {
            // A CHALLENGE on an rxnull connection cannot be answered. Linux aborts the
            // connection; we drop it, so that a forged CHALLENGE cannot kill our calls.
            self.stats.dropped += 1;
            return;
        };
        // A RESPONSE is larger than a CHALLENGE: answer at most one per interval, so a flood
        // of CHALLENGEs is not amplified (a lost RESPONSE is covered by the server's
        // re-challenge, which comes no faster than its own interval).
        let interval = self.config.challenge_interval / 2;
        if conn
            .challenged_at
            .is_some_and(|t| now.saturating_since(t) < interval)
        {
            self.stats.dropped += 1;
            return;
        }
        let answer = sec
            .respond_to_challenge(header, body, counters)
            .map(|r| (r, sec.response_cksum()));
        match answer {
            Ok((response, cksum)) => {
                conn.challenges += 1;
                conn.challenged_at = Some(now);
                let mut h = conn.conn_header(PacketType::RESPONSE);
                h.cksum = cksum;
                let peer = conn.peer;
                self.stats.responses_sent += 1;
                self.push_packet(peer, &h, |out| out.extend_from_slice(&response));
            }
            Err(code) => {
                self.stats.security_failures += 1;
                self.abort_conn(now, ck, code, "challenge-refused");
            }
        }
    }

    /// A RESPONSE on one of our service connections.
    pub(super) fn on_response(&mut self, now: Instant, ck: Key, header: &Header, body: Bytes) {
        let Some(conn) = self.conns.get_mut(ck) else {
            return;
        };
        // Only an unsecured connection we challenged expects a RESPONSE.
        if conn.side != Side::Service
            || conn.aborted.is_some()
            || conn.challenged_at.is_none()
            || conn.is_secure()
        {
            self.stats.dropped += 1;
            return;
        }
        let Some(sec) = conn.security.as_mut() else {
            self.stats.dropped += 1;
            return;
        };
        match sec.verify_response(header, body) {
            Ok(identity) => {
                if !sec.is_secure() {
                    // A class that accepts a RESPONSE must be secure afterwards; anything
                    // else would hold the connection's calls for ever.
                    self.stats.security_failures += 1;
                    self.abort_conn(
                        now,
                        ck,
                        AbortCode::RX_PROTOCOL_ERROR,
                        "response-not-securing",
                    );
                    return;
                }
                conn.identity = Some(Arc::new(identity));
                self.stats.responses_verified += 1;
                let peer = conn.peer;
                let held = std::mem::take(&mut conn.held);
                self.held_total = self.held_total.saturating_sub(held.len());
                for (h, b) in held {
                    self.on_packet(now, peer, h, b);
                }
            }
            Err(code) => {
                self.stats.security_failures += 1;
                self.abort_conn(now, ck, code, "response-refused");
            }
        }
    }

    /// Abort a whole connection: a connection-level ABORT to the peer, every call on it
    /// completes with the code, held packets are dropped and the connection is never reused.
    pub(super) fn abort_conn(&mut self, now: Instant, ck: Key, code: AbortCode, why: &'static str) {
        let Some(conn) = self.conns.get_mut(ck) else {
            return;
        };
        if conn.aborted.is_some() {
            return;
        }
        conn.aborted = Some(code);
        conn.dont_reuse = true;
        self.held_total = self.held_total.saturating_sub(conn.held.len());
        conn.held.clear();
        let h = conn.conn_header(PacketType::ABORT);
        let peer = conn.peer;
        let calls: Vec<Key> = conn.channels.iter().filter_map(|c| c.call).collect();
        self.stats.aborts_sent += 1;
        self.stats.conn_aborts_sent += 1;
        self.push_packet(peer, &h, |out| {
            out.extend_from_slice(&code.to_wire().to_be_bytes())
        });
        for k in calls {
            self.complete_call(
                now,
                k,
                Completion::LocalAbort {
                    code,
                    reason: AbortReason::ProtocolError(why),
                },
            );
        }
    }
}
