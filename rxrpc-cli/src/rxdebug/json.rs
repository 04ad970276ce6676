//! The `--json` output: one JSON object describing everything the server reported.
//!
//! Layer: output. The wire structures do not depend on serde, so this module mirrors them in
//! `Serialize` structs with readable companions (state and flag words, dotted addresses). Every
//! field of a record is given whatever `-long` says; the connection filters (`-only*`,
//! `-nodally`) apply as in the text output.
//!
//! ```text
//! {"server":"127.0.0.1","port":7002,"stats":{...},"rxstats":{...},"connections":[...],
//!  "peers":[...],"warnings":[],"errors":[]}
//! ```

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::Serialize;

use rxrpc_proto::wire::{DebugConn, DebugPeer, DebugStats, RxStatistics};

use super::reply::Features;
use super::text::{
    CALL_FLAGS, CALL_STATES, CONN_FLAGS, PACKET_TYPE_NAMES, RXGK_FLAGS, RXKAD_FLAGS,
    expires_in_hours, flag_words, level_name, sectype,
};

/// The whole report.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// Server address.
    pub server: String,
    /// Server UDP port.
    pub port: u16,
    /// The VERSION string (`-version` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// GETSTATS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<JsonStats>,
    /// RXSTATS (`-rxstats`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rxstats: Option<JsonRxStats>,
    /// The connections shown (absent with `-noconns` or `-version`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connections: Option<Vec<JsonConn>>,
    /// Connections skipped because all their calls were idle or dallying (`-nodally`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped_dallying: Option<u32>,
    /// The peers shown (`-peers`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peers: Option<Vec<JsonPeer>>,
    /// Warnings (unsupported requests, unexpected reply sizes).
    pub warnings: Vec<String>,
    /// Failures (no reply, aborted or unusable replies).
    pub errors: Vec<String>,
}

/// GETSTATS, with the fields the debug format does not support left out.
#[derive(Debug, Serialize)]
pub struct JsonStats {
    /// Debug-format letter (`"S"` for current OpenAFS).
    pub debug_format: String,
    /// Free packet buffers.
    pub free_packets: i32,
    /// Packet buffers allocated (format 'S').
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packets: Option<i32>,
    /// Packet reclaims.
    pub packet_reclaims: i32,
    /// Calls executed.
    pub calls: i32,
    /// File descriptors in use.
    pub used_fds: u8,
    /// Whether a thread waits for packet buffers.
    pub waiting_for_packets: bool,
    /// Calls waiting for a thread (format 'N').
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calls_waiting: Option<i32>,
    /// Idle threads (format 'O').
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_threads: Option<i32>,
    /// Calls that waited for a thread (format 'R').
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calls_waited: Option<i32>,
}

impl JsonStats {
    /// From a GETSTATS reply.
    pub fn new(s: &DebugStats, f: Features) -> JsonStats {
        JsonStats {
            debug_format: char::from(s.version).to_string(),
            free_packets: s.n_free_packets,
            packets: f.packets.then_some(s.n_packets),
            packet_reclaims: s.packet_reclaims,
            calls: s.calls_executed,
            used_fds: s.used_fds,
            waiting_for_packets: s.waiting_for_packets != 0,
            calls_waiting: f.waiters.then_some(s.n_waiting),
            idle_threads: f.idle_threads.then_some(s.idle_threads),
            calls_waited: f.waited.then_some(s.n_waited),
        }
    }
}

/// Seconds and microseconds.
#[derive(Debug, Serialize)]
pub struct JsonClock {
    /// Seconds.
    pub sec: i32,
    /// Microseconds.
    pub usec: i32,
}

/// RXSTATS, every counter (C `int`s, given as unsigned like `rx_PrintTheseStats` does).
#[derive(Debug, Serialize)]
pub struct JsonRxStats {
    /// Packet allocation requests.
    pub packet_requests: u32,
    /// Receive packet allocation failures.
    pub receive_pkt_alloc_failures: u32,
    /// Receive cbuf allocation failures.
    pub receive_cbuf_pkt_alloc_failures: u32,
    /// Send packet allocation failures.
    pub send_pkt_alloc_failures: u32,
    /// Send cbuf allocation failures.
    pub send_cbuf_pkt_alloc_failures: u32,
    /// Special packet allocation failures.
    pub special_pkt_alloc_failures: u32,
    /// Whether SO_GREEDY succeeded.
    pub socket_greedy: u32,
    /// Short packets read.
    pub bogus_packet_on_read: u32,
    /// Where the last short packet came from.
    pub bogus_host: String,
    /// Reads that found no packet.
    pub no_packet_on_read: u32,
    /// Packets dropped for lack of buffers.
    pub no_packet_buffers_on_read: u32,
    /// Selects.
    pub selects: u32,
    /// Send selects.
    pub send_selects: u32,
    /// Packets read by type name.
    pub packets_read: BTreeMap<String, u32>,
    /// DATA packets read.
    pub data_packets_read: u32,
    /// ACK packets read.
    pub ack_packets_read: u32,
    /// Duplicate packets read.
    pub dup_packets_read: u32,
    /// Spurious packets read.
    pub spurious_packets_read: u32,
    /// Packets dropped because their call was dallying.
    pub ignore_packet_dally: u32,
    /// Packets sent by type name.
    pub packets_sent: BTreeMap<String, u32>,
    /// ACKs sent.
    pub ack_packets_sent: u32,
    /// Pings sent.
    pub ping_packets_sent: u32,
    /// ABORTs sent.
    pub abort_packets_sent: u32,
    /// BUSYs sent.
    pub busy_packets_sent: u32,
    /// Unique DATA packets sent.
    pub data_packets_sent: u32,
    /// DATA retransmissions.
    pub data_packets_re_sent: u32,
    /// Retransmissions pushed early.
    pub data_packets_pushed: u32,
    /// Packets skipped because already acknowledged.
    pub ignore_acked_packet: u32,
    /// Failed sends.
    pub net_send_failures: u32,
    /// Fatal errors.
    pub fatal_errors: u32,
    /// Round-trip samples.
    pub rtt_samples: i32,
    /// Sum of the samples.
    pub total_rtt: JsonClock,
    /// Smallest sample.
    pub min_rtt: JsonClock,
    /// Largest sample.
    pub max_rtt: JsonClock,
    /// Mean round-trip time in seconds, if there are samples.
    pub average_rtt_secs: Option<f64>,
    /// Server connections.
    pub server_connections: i32,
    /// Client connections.
    pub client_connections: i32,
    /// Peer structures.
    pub peer_structs: i32,
    /// Call structures.
    pub call_structs: i32,
    /// Free call structures.
    pub free_call_structs: i32,
    /// BUSY packets.
    pub busies: u32,
}

fn by_type(v: &[i32]) -> BTreeMap<String, u32> {
    // Three types share the name "unused": key them by number instead.
    PACKET_TYPE_NAMES
        .iter()
        .zip(v)
        .enumerate()
        .map(|(i, (name, &n))| {
            let key = if *name == "unused" {
                format!("type{}", i + 1)
            } else {
                (*name).to_string()
            };
            (key, n as u32)
        })
        .collect()
}

impl JsonRxStats {
    /// From an RXSTATS reply.
    pub fn new(s: &RxStatistics) -> JsonRxStats {
        let c = |k: rxrpc_proto::wire::RxClock| JsonClock {
            sec: k.sec,
            usec: k.usec,
        };
        let total = f64::from(s.total_rtt.sec) + f64::from(s.total_rtt.usec) / 1e6;
        JsonRxStats {
            packet_requests: s.packet_requests as u32,
            receive_pkt_alloc_failures: s.receive_pkt_alloc_failures as u32,
            receive_cbuf_pkt_alloc_failures: s.receive_cbuf_pkt_alloc_failures as u32,
            send_pkt_alloc_failures: s.send_pkt_alloc_failures as u32,
            send_cbuf_pkt_alloc_failures: s.send_cbuf_pkt_alloc_failures as u32,
            special_pkt_alloc_failures: s.special_pkt_alloc_failures as u32,
            socket_greedy: s.socket_greedy as u32,
            bogus_packet_on_read: s.bogus_packet_on_read as u32,
            bogus_host: Ipv4Addr::from(s.bogus_host as u32).to_string(),
            no_packet_on_read: s.no_packet_on_read as u32,
            no_packet_buffers_on_read: s.no_packet_buffers_on_read as u32,
            selects: s.selects as u32,
            send_selects: s.send_selects as u32,
            packets_read: by_type(&s.packets_read),
            data_packets_read: s.data_packets_read as u32,
            ack_packets_read: s.ack_packets_read as u32,
            dup_packets_read: s.dup_packets_read as u32,
            spurious_packets_read: s.spurious_packets_read as u32,
            ignore_packet_dally: s.ignore_packet_dally as u32,
            packets_sent: by_type(&s.packets_sent),
            ack_packets_sent: s.ack_packets_sent as u32,
            ping_packets_sent: s.ping_packets_sent as u32,
            abort_packets_sent: s.abort_packets_sent as u32,
            busy_packets_sent: s.busy_packets_sent as u32,
            data_packets_sent: s.data_packets_sent as u32,
            data_packets_re_sent: s.data_packets_re_sent as u32,
            data_packets_pushed: s.data_packets_pushed as u32,
            ignore_acked_packet: s.ignore_acked_packet as u32,
            net_send_failures: s.net_send_failures as u32,
            fatal_errors: s.fatal_errors as u32,
            rtt_samples: s.n_rtt_samples,
            total_rtt: c(s.total_rtt),
            min_rtt: c(s.min_rtt),
            max_rtt: c(s.max_rtt),
            average_rtt_secs: (s.n_rtt_samples != 0).then(|| total / f64::from(s.n_rtt_samples)),
            server_connections: s.n_server_conns,
            client_connections: s.n_client_conns,
            peer_structs: s.n_peer_structs,
            call_structs: s.n_call_structs,
            free_call_structs: s.n_free_call_structs,
            busies: s.n_busies as u32,
        }
    }
}

/// A connection's security statistics.
#[derive(Debug, Serialize)]
pub struct JsonSecurity {
    /// `unknown`, `rxnull`, `rxvab`, `rxkad`, `rxgk` or `typeN`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Security level (0 clear, 1 auth, 2 crypt for rxkad/rxgk).
    pub level: u8,
    /// Name of the level for rxkad/rxgk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level_name: Option<&'static str>,
    /// The raw flags word.
    pub flags: i32,
    /// Flag words for rxkad/rxgk.
    pub flag_words: Vec<&'static str>,
    /// Credential expiry (Unix time), 0 if none.
    pub expires: u32,
    /// Hours until expiry, if there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in_hours: Option<f64>,
    /// Packets received.
    pub packets_received: u32,
    /// Packets sent.
    pub packets_sent: u32,
    /// Bytes received.
    pub bytes_received: u32,
    /// Bytes sent.
    pub bytes_sent: u32,
}

/// One call channel of a connection.
#[derive(Debug, Serialize)]
pub struct JsonCall {
    /// Channel 0..=3.
    pub channel: u8,
    /// Current call number.
    pub call_number: u32,
    /// `not initialized`, `precall`, `active`, `dally`, `hold`, `reset` or `stateN`.
    pub state: String,
    /// `sending`, `receiving`, `error`, `eof` or `unknown`.
    pub mode: &'static str,
    /// Raw call flags.
    pub flags: u8,
    /// Call flag words.
    pub flag_words: Vec<&'static str>,
    /// Data queued in.
    pub has_input_packets: bool,
    /// Data queued out.
    pub has_output_packets: bool,
}

/// One connection.
#[derive(Debug, Serialize)]
pub struct JsonConn {
    /// Peer address.
    pub host: String,
    /// Peer port.
    pub port: u16,
    /// Epoch (0 from servers that do not report it).
    pub epoch: u32,
    /// Connection ID.
    pub cid: u32,
    /// `"EPOCH/CID"` in hex, as rxdebug's `Cuid`.
    pub cuid: String,
    /// Connection error.
    pub error: i32,
    /// Next serial.
    pub serial: u32,
    /// NAT MTU.
    pub nat_mtu: u32,
    /// Raw connection flags.
    pub flags: u8,
    /// Connection flag words.
    pub flag_words: Vec<&'static str>,
    /// Security index.
    pub security_index: u8,
    /// `client` or `server`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Security statistics (debug format 'L' and later).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security: Option<JsonSecurity>,
    /// The four call channels.
    pub calls: Vec<JsonCall>,
}

fn mode_name(m: u8) -> &'static str {
    match m {
        1 => "sending",
        2 => "receiving",
        3 => "error",
        4 => "eof",
        _ => "unknown",
    }
}

impl JsonConn {
    /// From a connection record; `now` (Unix seconds) is for the expiry.
    pub fn new(c: &DebugConn, f: Features, now: i64) -> JsonConn {
        let s = &c.sec_stats;
        let security = f.sec_stats.then(|| {
            let (kind, table): (String, &[(u8, &'static str)]) = match s.sec_type {
                sectype::UNKNOWN => ("unknown".into(), &[]),
                sectype::NULL => ("rxnull".into(), &[]),
                sectype::VAB => ("rxvab".into(), &[]),
                sectype::KAD => ("rxkad".into(), &RXKAD_FLAGS),
                sectype::GK => ("rxgk".into(), &RXGK_FLAGS),
                t => (format!("type{t}"), &[]),
            };
            let levelled = matches!(s.sec_type, sectype::KAD | sectype::GK);
            JsonSecurity {
                kind,
                level: s.level,
                level_name: levelled.then(|| level_name(s.level)),
                flags: s.flags,
                flag_words: flag_words(s.flags as u8, table),
                expires: s.expires,
                expires_in_hours: (s.expires != 0).then(|| expires_in_hours(s.expires, now)),
                packets_received: s.packets_received,
                packets_sent: s.packets_sent,
                bytes_received: s.bytes_received,
                bytes_sent: s.bytes_sent,
            }
        });
        let calls = (0..4u8)
            .map(|j| {
                let i = usize::from(j);
                let st = c.call_state[i];
                JsonCall {
                    channel: j,
                    call_number: c.call_number[i],
                    state: CALL_STATES
                        .get(usize::from(st))
                        .map_or_else(|| format!("state{st}"), |s| (*s).to_string()),
                    mode: mode_name(c.call_mode[i]),
                    flags: c.call_flags[i],
                    flag_words: flag_words(c.call_flags[i], &CALL_FLAGS),
                    has_input_packets: c.call_other[i] & 1 != 0,
                    has_output_packets: c.call_other[i] & 2 != 0,
                }
            })
            .collect();
        JsonConn {
            host: Ipv4Addr::from(c.host).to_string(),
            port: c.port,
            epoch: c.epoch,
            cid: c.cid,
            cuid: format!("{:x}/{:x}", c.epoch, c.cid),
            error: c.error as i32,
            serial: c.serial,
            nat_mtu: c.nat_mtu,
            flags: c.flags,
            flag_words: flag_words(c.flags, &CONN_FLAGS),
            security_index: c.security_index,
            kind: if c.conn_type == 0 { "client" } else { "server" },
            security,
            calls,
        }
    }
}

/// One peer, every field.
#[derive(Debug, Serialize)]
pub struct JsonPeer {
    /// Address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Interface MTU.
    pub if_mtu: u16,
    /// NAT MTU.
    pub nat_mtu: u16,
    /// Maximum MTU.
    pub max_mtu: u16,
    /// Current MTU.
    pub mtu: u16,
    /// Packets sent.
    pub packets_sent: u32,
    /// Packets resent.
    pub packet_resends: u32,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Round-trip time in ms (`rtt >> 3`).
    pub rtt_ms: u32,
    /// Its deviation in ms (`rtt_dev >> 2`).
    pub rtt_dev_ms: u32,
    /// The raw, scaled `rtt`.
    pub rtt_raw: i32,
    /// The raw, scaled `rtt_dev`.
    pub rtt_dev_raw: i32,
    /// Retransmission timeout as received (OpenAFS servers send 0).
    pub timeout: JsonClock,
    /// Inbound packet skew.
    pub in_packet_skew: i32,
    /// Outbound packet skew.
    pub out_packet_skew: i32,
    /// Congestion window.
    pub cwind: u16,
    /// Current packets per datagram.
    pub n_dgram_packets: u16,
    /// Interface packets per datagram.
    pub if_dgram_packets: u16,
    /// Maximum packets per datagram.
    pub max_dgram_packets: u16,
    /// Congestion sequence.
    pub congest_seq: u16,
    /// When the peer became idle.
    pub idle_when: u32,
    /// Reference count.
    pub ref_count: i16,
    /// Rate flag.
    pub rate_flag: i32,
}

impl JsonPeer {
    /// From a peer record.
    pub fn new(p: &DebugPeer) -> JsonPeer {
        JsonPeer {
            host: Ipv4Addr::from(p.host).to_string(),
            port: p.port,
            if_mtu: p.if_mtu,
            nat_mtu: p.nat_mtu,
            max_mtu: p.max_mtu,
            mtu: p.mtu,
            packets_sent: p.n_sent as u32,
            packet_resends: p.re_sends as u32,
            bytes_sent: p.bytes_sent,
            bytes_received: p.bytes_received,
            rtt_ms: (p.rtt >> 3) as u32,
            rtt_dev_ms: (p.rtt_dev >> 2) as u32,
            rtt_raw: p.rtt,
            rtt_dev_raw: p.rtt_dev,
            timeout: JsonClock {
                sec: p.timeout.sec,
                usec: p.timeout.usec,
            },
            in_packet_skew: p.in_packet_skew,
            out_packet_skew: p.out_packet_skew,
            cwind: p.cwind,
            n_dgram_packets: p.n_dgram_packets,
            if_dgram_packets: p.if_dgram_packets,
            max_dgram_packets: p.max_dgram_packets,
            congest_seq: p.congest_seq,
            idle_when: p.idle_when,
            ref_count: p.ref_count,
            rate_flag: p.rate_flag,
        }
    }
}
