//! Introspection: snapshots of an endpoint's calls, connections, peers and counters, with the
//! columns of Linux's `/proc/net/rxrpc/{calls,conns,peers,locals,stats}`.
//!
//! Layer: read-only views of the engine. A [`Snapshot`] is a plain value taken by the owner of
//! the endpoint between two events; the tokio runtime publishes one periodically so readers
//! never touch the engine (the analogue of the kernel's RCU-protected `/proc` walk).

use core::fmt::{self, Write as _};
use std::net::SocketAddr;

use crate::call::{Holders, Side};
use crate::endpoint::{EndpointStats, PeerStats};

/// A `/proc/net/rxrpc/calls` row.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallSnapshot {
    /// Debug ID (arena slot).
    pub debug_id: u32,
    /// Owning socket (arena slot), to filter per socket.
    pub socket: u32,
    /// Remote address.
    pub remote: SocketAddr,
    /// Service ID.
    pub service_id: u16,
    /// Connection ID (with channel).
    pub cid: u32,
    /// Call number.
    pub call_number: u32,
    /// User call ID.
    pub user_id: u64,
    /// `/proc` state name.
    pub state: &'static str,
    /// Abort code, if the call was aborted.
    pub abort_code: Option<i32>,
    /// Who holds the call.
    pub holders: Holders,
    /// Client or service.
    pub side: Side,
    /// Transmit hard-ACK point.
    pub tx_bottom: u32,
    /// Highest seq queued for transmission.
    pub tx_top: u32,
    /// Receive hard-ACK point.
    pub rx_hard_ack: u32,
    /// Receive window we advertise.
    pub rx_window: u32,
    /// Serial of the last DATA received.
    pub rx_serial: u32,
    /// Congestion window (packets).
    pub cwnd: u32,
    /// Milliseconds until the call times out for silence, if armed.
    pub rx_timeout_ms: Option<u64>,
}

/// A `/proc/net/rxrpc/conns` row.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnSnapshot {
    /// Debug ID (arena slot).
    pub debug_id: u32,
    /// Remote address.
    pub remote: SocketAddr,
    /// Service ID.
    pub service_id: u16,
    /// Connection ID.
    pub cid: u32,
    /// Epoch.
    pub epoch: u32,
    /// Client or service.
    pub side: Side,
    /// `/proc` state name (`Client`, `SvSecure`, `Aborted`).
    pub state: &'static str,
    /// Security index.
    pub security_index: u8,
    /// Calls on the channels.
    pub active_calls: usize,
    /// Call number per channel.
    pub call_numbers: [u32; 4],
    /// Last serial sent.
    pub tx_serial: u32,
    /// Highest serial received.
    pub hi_serial: u32,
}

/// A `/proc/net/rxrpc/peers` row.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerSnapshot {
    /// Remote address.
    pub remote: SocketAddr,
    /// Counters.
    pub stats: PeerStats,
}

/// A consistent picture of an endpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Snapshot {
    /// Calls.
    pub calls: Vec<CallSnapshot>,
    /// Connections.
    pub conns: Vec<ConnSnapshot>,
    /// Peers with connections.
    pub peers: Vec<PeerSnapshot>,
    /// Open sockets.
    pub sockets: usize,
    /// Counters.
    pub stats: EndpointStats,
    /// The local UDP address, when the driver knows it.
    pub local: Option<SocketAddr>,
}

fn local(s: &Snapshot) -> String {
    s.local.map_or_else(|| "-".to_string(), |a| a.to_string())
}

fn end(side: Side) -> &'static str {
    match side {
        Side::Client => "Clt",
        Side::Service => "Svc",
    }
}

impl Snapshot {
    /// The `calls` table.
    pub fn proc_calls(&self) -> String {
        let mut o = String::from(
            "Proto Local                                          Remote                                         SvID ConnID   CallID   End Use State    Abort   DebugId  TxSeq    TW RxSeq    RW RxSerial CW RxTimo\n",
        );
        for c in &self.calls {
            let _ = writeln!(
                o,
                "UDP   {:<46} {:<46} {:4} {:08x} {:08x} {} {:3} {:<8} {:08x} {:08x} {:08x} {:2} {:08x} {:3} {:08x} {:2} {}",
                local(self),
                c.remote,
                c.service_id,
                c.cid,
                c.call_number,
                end(c.side),
                c.holders.count(),
                c.state,
                c.abort_code.unwrap_or(0) as u32,
                c.debug_id,
                c.tx_bottom,
                c.tx_top.wrapping_sub(c.tx_bottom),
                c.rx_hard_ack,
                c.rx_window,
                c.rx_serial,
                c.cwnd,
                c.rx_timeout_ms
                    .map_or_else(|| "-".to_string(), |t| t.to_string()),
            );
        }
        o
    }

    /// The `conns` table.
    pub fn proc_conns(&self) -> String {
        let mut o = String::from(
            "Proto Local                                          Remote                                         SvID ConnID   End Act State    Serial   ISerial  CallId0  CallId1  CallId2  CallId3\n",
        );
        for c in &self.conns {
            let _ = writeln!(
                o,
                "UDP   {:<46} {:<46} {:4} {:08x} {} {:3} {:<8} {:08x} {:08x} {:08x} {:08x} {:08x} {:08x}",
                local(self),
                c.remote,
                c.service_id,
                c.cid,
                end(c.side),
                c.active_calls,
                c.state,
                c.tx_serial,
                c.hi_serial,
                c.call_numbers[0],
                c.call_numbers[1],
                c.call_numbers[2],
                c.call_numbers[3],
            );
        }
        o
    }

    /// The `peers` table.
    pub fn proc_peers(&self) -> String {
        let mut o = String::from(
            "Proto Local                                          Remote                                         Use  RTT(us) RTTVAR   Sent      Rcvd      Resends\n",
        );
        for p in &self.peers {
            let s = &p.stats;
            let _ = writeln!(
                o,
                "UDP   {:<46} {:<46} {:3} {:8} {:6} {:9} {:9} {}",
                local(self),
                p.remote,
                s.conns,
                s.srtt_us,
                s.rttvar_us,
                s.packets_sent,
                s.packets_received,
                s.resends,
            );
        }
        o
    }

    /// The `locals` table.
    pub fn proc_locals(&self) -> String {
        format!(
            "Proto Local                                          Use Act RxQ\nUDP   {:<46} {:3} {:3} {:3}\n",
            local(self),
            self.sockets,
            self.calls.len(),
            0
        )
    }

    /// The `stats` counters.
    pub fn proc_stats(&self) -> String {
        let s = &self.stats;
        let names = [
            "?", "data", "ack", "busy", "abort", "ackall", "chall", "resp", "debug", "params",
            "10", "11", "12", "version",
        ];
        let mut o = String::new();
        let _ = writeln!(
            o,
            "Datagrams: in={} out={} malformed={} dropped={}",
            s.datagrams_in, s.datagrams_out, s.malformed, s.dropped
        );
        let _ = writeln!(
            o,
            "Data-Tx  : nr={} retrans={}",
            s.packets_out[1], s.retransmits
        );
        let _ = write!(o, "Pkt-Rx   :");
        for (i, n) in names.iter().enumerate() {
            let _ = write!(o, " {n}={}", s.packets_in[i]);
        }
        let _ = write!(o, "\nPkt-Tx   :");
        for (i, n) in names.iter().enumerate() {
            let _ = write!(o, " {n}={}", s.packets_out[i]);
        }
        let reasons = [
            "?", "req", "dup", "oos", "exw", "nos", "png", "prs", "dly", "idl",
        ];
        let _ = write!(o, "\nAck-Tx   :");
        for (i, n) in reasons.iter().enumerate() {
            let _ = write!(o, " {n}={}", s.acks_out[i]);
        }
        let _ = write!(o, "\nAck-Rx   :");
        for (i, n) in reasons.iter().enumerate() {
            let _ = write!(o, " {n}={}", s.acks_in[i]);
        }
        let _ = writeln!(
            o,
            "\nCalls    : created={} freed={} service-done={} busy-sent={} aborts-sent={}",
            s.calls_created, s.calls_freed, s.service_calls_done, s.busy_sent, s.aborts_sent
        );
        let _ = writeln!(
            o,
            "Replies  : version={} debug={} terminal-resent={}",
            s.version_replies, s.debug_replies, s.terminal_resent
        );
        o
    }
}

impl fmt::Display for Snapshot {
    /// All five tables, as `rxrpc-stat` prints them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "== locals\n{}== calls\n{}== conns\n{}== peers\n{}== stats\n{}",
            self.proc_locals(),
            self.proc_calls(),
            self.proc_conns(),
            self.proc_peers(),
            self.proc_stats()
        )
    }
}
