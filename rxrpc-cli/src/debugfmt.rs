//! rxdebug (DEBUG packet) structures for output: key fields for the text line, every field
//! for `--json`.
//!
//! Layer: output helper used by [`crate::text`] and [`crate::json`]. The JSON objects are built
//! by exhaustive destructuring, so a field added to a wire structure without being added here
//! is a compile error rather than a silent omission.

use serde_json::{Map, Value};

use rxrpc_proto::wire::{
    DebugConn, DebugPeer, DebugReply, DebugRequestType, DebugStats, RxClock, RxStatistics,
    SecurityObjectStats,
};

/// The name of a DEBUG request type (`GETSTATS`, ...), or its number.
pub fn request_type_name(t: i32) -> String {
    match DebugRequestType(t).name() {
        Some(n) => n.to_string(),
        None => t.to_string(),
    }
}

/// Conversion of a debug-structure field to JSON.
trait ToJson {
    fn to_json(&self) -> Value;
}

macro_rules! to_json_num {
    ($($t:ty),*) => { $( impl ToJson for $t { fn to_json(&self) -> Value { Value::from(*self) } } )* };
}
to_json_num!(u8, u16, i16, u32, i32, u64);

impl<T: ToJson, const N: usize> ToJson for [T; N] {
    fn to_json(&self) -> Value {
        Value::Array(self.iter().map(ToJson::to_json).collect())
    }
}

/// Build a JSON object from every field of a struct; the destructuring pattern has no `..`, so
/// it must name them all.
macro_rules! all_fields {
    ($v:expr, $ty:ident { $($f:ident),* $(,)? }) => {{
        let $ty { $($f),* } = $v;
        let mut m = Map::new();
        $( m.insert(stringify!($f).to_string(), $f.to_json()); )*
        m
    }};
}

impl ToJson for RxClock {
    fn to_json(&self) -> Value {
        Value::Object(all_fields!(*self, RxClock { sec, usec }))
    }
}

impl ToJson for SecurityObjectStats {
    fn to_json(&self) -> Value {
        Value::Object(all_fields!(
            *self,
            SecurityObjectStats {
                sec_type,
                level,
                sparec,
                flags,
                expires,
                packets_received,
                packets_sent,
                bytes_received,
                bytes_sent,
                spares,
                sparel,
            }
        ))
    }
}

fn stats_json(s: &DebugStats) -> Map<String, Value> {
    all_fields!(
        *s,
        DebugStats {
            n_free_packets,
            packet_reclaims,
            calls_executed,
            waiting_for_packets,
            used_fds,
            version,
            spare1,
            n_waiting,
            idle_threads,
            n_waited,
            n_packets,
            spare2,
        }
    )
}

fn conn_json(c: &DebugConn) -> Map<String, Value> {
    let mut m = all_fields!(
        *c,
        DebugConn {
            host,
            cid,
            serial,
            call_number,
            error,
            port,
            flags,
            conn_type,
            security_index,
            sparec,
            call_state,
            call_mode,
            call_flags,
            call_other,
            sec_stats,
            epoch,
            nat_mtu,
            sparel,
        }
    );
    m.insert("host_addr".into(), c.host_addr().to_string().into());
    m.insert("end_marker".into(), c.is_end_marker().into());
    m
}

fn peer_json(p: &DebugPeer) -> Map<String, Value> {
    let mut m = all_fields!(
        *p,
        DebugPeer {
            host,
            port,
            if_mtu,
            idle_when,
            ref_count,
            burst_size,
            burst,
            burst_wait,
            rtt,
            rtt_dev,
            timeout,
            n_sent,
            re_sends,
            in_packet_skew,
            out_packet_skew,
            rate_flag,
            nat_mtu,
            max_mtu,
            max_dgram_packets,
            if_dgram_packets,
            mtu,
            cwind,
            n_dgram_packets,
            congest_seq,
            bytes_sent,
            bytes_received,
            sparel,
        }
    );
    m.insert("host_addr".into(), p.host_addr().to_string().into());
    m.insert("end_marker".into(), p.is_end_marker().into());
    m
}

fn rxstats_json(s: &RxStatistics) -> Map<String, Value> {
    all_fields!(
        *s,
        RxStatistics {
            packet_requests,
            receive_pkt_alloc_failures,
            send_pkt_alloc_failures,
            special_pkt_alloc_failures,
            socket_greedy,
            bogus_packet_on_read,
            bogus_host,
            no_packet_on_read,
            no_packet_buffers_on_read,
            selects,
            send_selects,
            packets_read,
            data_packets_read,
            ack_packets_read,
            dup_packets_read,
            spurious_packets_read,
            packets_sent,
            ack_packets_sent,
            ping_packets_sent,
            abort_packets_sent,
            busy_packets_sent,
            data_packets_sent,
            data_packets_re_sent,
            data_packets_pushed,
            ignore_acked_packet,
            total_rtt,
            min_rtt,
            max_rtt,
            n_rtt_samples,
            n_server_conns,
            n_client_conns,
            n_peer_structs,
            n_call_structs,
            n_free_call_structs,
            net_send_failures,
            fatal_errors,
            ignore_packet_dally,
            receive_cbuf_pkt_alloc_failures,
            send_cbuf_pkt_alloc_failures,
            n_busies,
            spares,
        }
    )
}

/// Every field of a DEBUG reply as a JSON object with `direction` and `reply` members saying
/// which structure it is.
pub fn reply_json(r: &DebugReply) -> Value {
    let (name, mut m) = match r {
        DebugReply::Stats(s) => ("stats", stats_json(s)),
        DebugReply::Conn(c) => ("conn", conn_json(c)),
        DebugReply::RxStats(s) => ("rxstats", rxstats_json(s)),
        DebugReply::Peer(p) => ("peer", peer_json(p)),
        DebugReply::BadType => ("badtype", Map::new()),
        DebugReply::Unknown(b) => {
            let mut m = Map::new();
            m.insert("len".into(), b.len().into());
            m.insert("hex".into(), crate::text::hex(b).into());
            ("unknown", m)
        }
    };
    m.insert("direction".into(), "reply".into());
    m.insert("reply".into(), name.into());
    Value::Object(m)
}

/// The debug-format letter as printed: the character when printable, else its number.
fn format_letter(v: u8) -> String {
    if v.is_ascii_graphic() {
        (v as char).to_string()
    } else {
        v.to_string()
    }
}

fn clock(c: &RxClock) -> String {
    format!("{}.{:06}", c.sec, c.usec)
}

/// The key fields of a DEBUG reply for the text line.
pub fn reply_summary(r: &DebugReply) -> String {
    match r {
        DebugReply::Stats(s) => format!(
            "stats version={} nFreePackets={} packetReclaims={} callsExecuted={} \
             waitingForPackets={} usedFDs={} nWaiting={} idleThreads={} nWaited={} nPackets={}",
            format_letter(s.version),
            s.n_free_packets,
            s.packet_reclaims,
            s.calls_executed,
            s.waiting_for_packets,
            s.used_fds,
            s.n_waiting,
            s.idle_threads,
            s.n_waited,
            s.n_packets
        ),
        DebugReply::Conn(c) if c.is_end_marker() => "conn end-of-list".to_string(),
        DebugReply::Conn(c) => format!(
            "conn host={}:{} cid={:#010x} epoch={:#010x} serial={} callNumbers={:?} error={} \
             type={} securityIndex={} flags={:#04x} callState={:?} callMode={:?} natMTU={}",
            c.host_addr(),
            c.port,
            c.cid,
            c.epoch,
            c.serial,
            c.call_number,
            c.error,
            match c.conn_type {
                0 => "client".to_string(),
                1 => "server".to_string(),
                n => n.to_string(),
            },
            c.security_index,
            c.flags,
            c.call_state,
            c.call_mode,
            c.nat_mtu
        ),
        DebugReply::Peer(p) if p.is_end_marker() => "peer end-of-list".to_string(),
        DebugReply::Peer(p) => format!(
            "peer host={}:{} ifMTU={} natMTU={} maxMTU={} MTU={} rtt={} rttDev={} timeout={} \
             nSent={} reSends={} cwind={} bytesSent={} bytesReceived={}",
            p.host_addr(),
            p.port,
            p.if_mtu,
            p.nat_mtu,
            p.max_mtu,
            p.mtu,
            p.rtt,
            p.rtt_dev,
            clock(&p.timeout),
            p.n_sent,
            p.re_sends,
            p.cwind,
            p.bytes_sent,
            p.bytes_received
        ),
        DebugReply::RxStats(s) => format!(
            "rxstats packetRequests={} packetsRead={:?} packetsSent={:?} dataPacketsRead={} \
             ackPacketsRead={} dupPacketsRead={} dataPacketsSent={} dataPacketsReSent={} \
             ackPacketsSent={} nRttSamples={} minRtt={} maxRtt={} nServerConns={} \
             nClientConns={} nPeerStructs={} nCallStructs={} nBusies={}",
            s.packet_requests,
            s.packets_read,
            s.packets_sent,
            s.data_packets_read,
            s.ack_packets_read,
            s.dup_packets_read,
            s.data_packets_sent,
            s.data_packets_re_sent,
            s.ack_packets_sent,
            s.n_rtt_samples,
            clock(&s.min_rtt),
            clock(&s.max_rtt),
            s.n_server_conns,
            s.n_client_conns,
            s.n_peer_structs,
            s.n_call_structs,
            s.n_busies
        ),
        DebugReply::BadType => "BADTYPE".to_string(),
        DebugReply::Unknown(b) => format!("unknown len={}", b.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_every_field() {
        let v = reply_json(&DebugReply::Conn(DebugConn::end_marker()));
        assert_eq!(v["reply"], "conn");
        assert_eq!(v["end_marker"], true);
        assert_eq!(v["sec_stats"]["sparel"].as_array().unwrap().len(), 8);
        let v = reply_json(&DebugReply::RxStats(RxStatistics::default()));
        assert_eq!(v["packets_read"].as_array().unwrap().len(), 13);
        assert_eq!(v["min_rtt"]["usec"], 0);
        assert_eq!(
            reply_summary(&DebugReply::Peer(DebugPeer::end_marker())),
            "peer end-of-list"
        );
    }
}
