//! The rxdebug responder: answers DEBUG packets (type 8) with OpenAFS's reply layouts, format
//! version 'S' (`reference-openafs-rx.md` §1.12), so OpenAFS's `rxdebug` can inspect us.
//!
//! Layer: the engine. Replies are built from the endpoint's counters and its connection and
//! peer tables. Only client-initiated requests are answered; the reply is the request header
//! with CLIENT_INITIATED cleared.

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;

use super::Endpoint;
use crate::call::Side;
use crate::call::state::CallState;
use crate::wire::{
    DEBUG_FORMAT_VERSION, Debug, DebugConn, DebugPeer, DebugReply, DebugRequestType, DebugStats,
    Flags, Header, RX_N_PACKET_TYPES, RxClock, RxStatistics, SecurityObjectStats, Serial,
};

fn ipv4_bits(a: SocketAddr) -> u32 {
    match a.ip() {
        IpAddr::V4(v4) => u32::from(v4),
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(u32::from).unwrap_or(0),
    }
}

fn clamp_i32(v: u64) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

impl Endpoint {
    pub(super) fn on_debug(&mut self, from: SocketAddr, header: &Header, body: Bytes) {
        if !header.is_client_initiated() {
            return;
        }
        let Ok(Debug::Request(req)) = Debug::parse(header, body) else {
            self.stats.dropped += 1;
            return;
        };
        let index = usize::try_from(req.index).unwrap_or(usize::MAX);
        let reply = match req.kind {
            DebugRequestType::GETSTATS => DebugReply::Stats(self.debug_stats()),
            DebugRequestType::GETCONN | DebugRequestType::GETALLCONN => {
                // We keep no "interesting" filter: every connection is listed for both.
                DebugReply::Conn(self.debug_conn(index).unwrap_or_else(DebugConn::end_marker))
            }
            DebugRequestType::RXSTATS => DebugReply::RxStats(self.debug_rxstats()),
            DebugRequestType::GETPEER => {
                DebugReply::Peer(self.debug_peer(index).unwrap_or_else(DebugPeer::end_marker))
            }
            _ => DebugReply::BadType,
        };
        let mut h = *header;
        h.flags = header.flags.without(Flags::CLIENT_INITIATED);
        h.serial = Serial(0);
        let msg = Debug::Reply(reply);
        self.push_packet(from, &h, |out| msg.emit(out));
        self.stats.debug_replies += 1;
    }

    fn debug_stats(&self) -> DebugStats {
        let charged: usize = self.sockets.iter().map(|(_, s)| s.charges.len()).sum();
        let waiting: usize = self.sockets.iter().map(|(_, s)| s.recv_queue.len()).sum();
        DebugStats {
            calls_executed: clamp_i32(self.stats.service_calls_done),
            used_fds: 1,
            version: DEBUG_FORMAT_VERSION,
            n_waiting: clamp_i32(waiting as u64),
            idle_threads: clamp_i32(charged as u64),
            ..DebugStats::default()
        }
    }

    fn debug_conn(&self, index: usize) -> Option<DebugConn> {
        let (_, conn) = self.conns.iter().nth(index)?;
        let mut c = DebugConn {
            host: ipv4_bits(conn.peer),
            cid: conn.cid.0,
            serial: conn.tx_serial.0,
            error: conn.aborted.map_or(0, |a| a.to_wire()),
            port: conn.peer.port(),
            flags: 0,
            conn_type: match conn.side {
                Side::Client => 0,
                Side::Service => 1,
            },
            security_index: conn.security_index.0,
            epoch: conn.epoch.0,
            nat_mtu: 1444,
            sec_stats: SecurityObjectStats {
                packets_received: conn.packets_received as u32,
                packets_sent: conn.packets_sent as u32,
                ..SecurityObjectStats::default()
            },
            ..DebugConn::default()
        };
        for (i, slot) in conn.channels.iter().enumerate() {
            c.call_number[i] = slot.call_number.0;
            let Some(call) = slot.call.and_then(|k| self.calls.get(k)) else {
                continue;
            };
            // OpenAFS states: 1 PRECALL, 2 ACTIVE, 3 DALLY; modes: 1 SENDING, 2 RECEIVING, 3 ERROR, 4 EOF.
            let (state, mode) = match call.state {
                CallState::ClientAwaitConn
                | CallState::ClientPreSend
                | CallState::ServerPrealloc => (1, 1),
                CallState::ClientSendRequest
                | CallState::ClientAwaitAck
                | CallState::ServerSendReply => (2, 1),
                CallState::ServerAwaitAck => (3, 1),
                CallState::ClientAwaitReply
                | CallState::ClientRecvReply
                | CallState::ServerRecvRequest => (2, 2),
                CallState::ServerAckRequest => (2, 4),
                CallState::Complete(c) if c.is_success() => (3, 4),
                CallState::Complete(_) => (3, 3),
            };
            c.call_state[i] = state;
            c.call_mode[i] = mode;
            c.call_other[i] = u8::from(call.rx.has_data()) | (u8::from(call.tx.outstanding()) << 1);
        }
        Some(c)
    }

    fn debug_peer(&self, index: usize) -> Option<DebugPeer> {
        let mut peers: Vec<(&SocketAddr, &super::PeerStats)> =
            self.peers.iter().map(|(a, p)| (a, &p.stats)).collect();
        peers.sort_by_key(|(a, _)| **a);
        let (addr, p) = peers.into_iter().nth(index)?;
        // OpenAFS keeps rtt in ms << 3 and rtt_dev in ms << 2.
        let rtt_ms8 = clamp_i32(p.srtt_us * 8 / 1000);
        let dev_ms4 = clamp_i32(p.rttvar_us * 4 / 1000);
        Some(DebugPeer {
            host: ipv4_bits(*addr),
            port: addr.port(),
            if_mtu: 1444,
            ref_count: i16::try_from(p.conns).unwrap_or(i16::MAX),
            rtt: rtt_ms8,
            rtt_dev: dev_ms4,
            n_sent: clamp_i32(p.packets_sent),
            re_sends: clamp_i32(p.resends),
            nat_mtu: 1444,
            max_mtu: 1444,
            max_dgram_packets: 1,
            if_dgram_packets: 1,
            mtu: 1444,
            cwind: 4,
            n_dgram_packets: 1,
            bytes_sent: p.bytes_sent,
            bytes_received: p.bytes_received,
            timeout: RxClock::default(),
            ..DebugPeer::default()
        })
    }

    fn debug_rxstats(&self) -> RxStatistics {
        let s = &self.stats;
        let mut r = RxStatistics::default();
        for t in 1..=RX_N_PACKET_TYPES {
            // OpenAFS counts type t at index t - 1.
            r.packets_read[t - 1] = clamp_i32(s.packets_in[t]);
            r.packets_sent[t - 1] = clamp_i32(s.packets_out[t]);
        }
        r.data_packets_read = clamp_i32(s.packets_in[1]);
        r.ack_packets_read = clamp_i32(s.packets_in[2]);
        r.ack_packets_sent = clamp_i32(s.packets_out[2]);
        r.abort_packets_sent = clamp_i32(s.aborts_sent);
        r.busy_packets_sent = clamp_i32(s.busy_sent);
        r.data_packets_sent = clamp_i32(s.packets_out[1]);
        r.data_packets_re_sent = clamp_i32(s.retransmits);
        r.bogus_packet_on_read = clamp_i32(s.malformed);
        r.n_server_conns = clamp_i32(
            self.conns
                .iter()
                .filter(|(_, c)| c.side == Side::Service)
                .count() as u64,
        );
        r.n_client_conns = clamp_i32(
            self.conns
                .iter()
                .filter(|(_, c)| c.side == Side::Client)
                .count() as u64,
        );
        r.n_peer_structs = clamp_i32(self.peers.len() as u64);
        r.n_call_structs = clamp_i32(self.calls.len() as u64);
        r
    }
}
