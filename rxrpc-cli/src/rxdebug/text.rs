//! The text output, line for line as OpenAFS's `rxdebug` prints it.
//!
//! Layer: output. Every function returns the lines for one part of the report, each ending in
//! `\n`, with the C program's `printf` conversions reproduced: `%d` of an unsigned field prints
//! it as signed, `%u` of a signed one as unsigned, the peer's `rtt`/`rtt_dev` are shifted right
//! by 3 and 2 (they are kept scaled), the security flags are the low byte of the flags word,
//! and unknown call states print nothing. Formats are from OpenAFS 1.8's
//! `src/rxdebug/rxdebug.c` and `rx_PrintTheseStats` in `src/rx/rx.c`; the rxgk security
//! statistics block is from OpenAFS master.
//!
//! Two deliberate differences, both invisible against OpenAFS servers (which send zero in
//! these fields): the peer's retransmission `timeout` is printed as received, where OpenAFS's
//! client zeroes it before printing; and the peer's in/out packet skews are decoded from
//! network order, where OpenAFS's client prints them without `ntohl`.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use rxrpc_proto::wire::{DebugConn, DebugPeer, DebugStats, RX_N_PACKET_TYPES, RxStatistics};

use super::reply::Features;

/// `rx_packetTypes`: the names `rx_PrintTheseStats` gives packet types 1..=13.
pub const PACKET_TYPE_NAMES: [&str; RX_N_PACKET_TYPES] = [
    "data",
    "ack",
    "busy",
    "abort",
    "ackall",
    "challenge",
    "response",
    "debug",
    "params",
    "unused",
    "unused",
    "unused",
    "version",
];

/// Call states (`RX_STATE_*`) by value.
pub const CALL_STATES: [&str; 6] = [
    "not initialized",
    "precall",
    "active",
    "dally",
    "hold",
    "reset",
];
/// `RX_STATE_DALLY`.
pub const STATE_DALLY: u8 = 3;
/// `RX_STATE_NOTINIT`.
pub const STATE_NOTINIT: u8 = 0;

/// Connection flag bits (`RX_CONN_*`) and the words rxdebug prints for them.
pub const CONN_FLAGS: [(u8, &str); 7] = [
    (1, "MAKECALL_WAITING"),
    (2, "DESTROYED"),
    (4, "pktCksum"),
    (8, "knowWindow"),
    (16, "reset"),
    (32, "busy"),
    (64, "attachWait"),
];

/// Call flag bits (`RX_CALL_*`) and the words rxdebug prints for them.
pub const CALL_FLAGS: [(u8, &str); 7] = [
    (1, "reader_wait"),
    (2, "window_alloc"),
    (4, "window_send"),
    (8, "wait_packets"),
    (16, "waiting_for_process"),
    (32, "receive_done"),
    (64, "call_cleared"),
];

/// rxkad security-statistics flag bits and their words.
pub const RXKAD_FLAGS: [(u8, &str); 4] = [
    (1, "unalloc"),
    (2, "authenticated"),
    (4, "expired"),
    (8, "pktCksum"),
];

/// rxgk security-statistics flag bits and their words.
pub const RXGK_FLAGS: [(u8, &str); 2] = [(1, "unalloc"), (2, "authenticated")];

/// `RX_SECTYPE_*`: the security statistics' `type`.
pub mod sectype {
    /// No statistics procedure.
    pub const UNKNOWN: u8 = 0;
    /// rxnull.
    pub const NULL: u8 = 1;
    /// rxvab.
    pub const VAB: u8 = 2;
    /// rxkad.
    pub const KAD: u8 = 3;
    /// rxgk.
    pub const GK: u8 = 4;
}

/// Security index of rxkad.
pub const SECIDX_KAD: u8 = 2;

/// The words for the set bits of `bits`, in table order.
pub fn flag_words(bits: u8, table: &[(u8, &'static str)]) -> Vec<&'static str> {
    table
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|&(_, w)| w)
        .collect()
}

/// `Trying 127.0.0.1 (port 7002):`
pub fn trying(host: Ipv4Addr, port: u16) -> String {
    format!("Trying {host} (port {port}):\n")
}

/// `AFS version: ...`
pub fn version(text: &str) -> String {
    format!("AFS version: {text}\n")
}

/// The GETSTATS block: free packets, waiting, and the thread counters the format supports.
pub fn stats(s: &DebugStats, f: Features) -> String {
    let mut o = String::new();
    if f.packets {
        let _ = writeln!(
            o,
            "Free packets: {}/{}, packet reclaims: {}, calls: {}, used FDs: {}",
            s.n_free_packets, s.n_packets, s.packet_reclaims, s.calls_executed, s.used_fds
        );
    } else {
        let _ = writeln!(
            o,
            "Free packets: {}, packet reclaims: {}, calls: {}, used FDs: {}",
            s.n_free_packets, s.packet_reclaims, s.calls_executed, s.used_fds
        );
    }
    if s.waiting_for_packets == 0 {
        o.push_str("not ");
    }
    o.push_str("waiting for packets.\n");
    if f.waiters {
        let _ = writeln!(o, "{} calls waiting for a thread", s.n_waiting);
    }
    if f.idle_threads {
        let _ = writeln!(o, "{} threads are idle", s.idle_threads);
    }
    if f.waited {
        let _ = writeln!(o, "{} calls have waited for a thread", s.n_waited);
    }
    o
}

/// `%u` of a C `int`.
fn u(v: i32) -> u32 {
    v as u32
}

/// `clock_Float`: seconds as a double.
fn clock_float(sec: i32, usec: i32) -> f64 {
    f64::from(sec) + f64::from(usec) / 1e6
}

/// The RXSTATS block (`rx_PrintTheseStats`); `free_packets` is from GETSTATS and `version` is
/// the server's debug-format letter.
pub fn rxstats(s: &RxStatistics, free_packets: i32, version: u8) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "rx stats: free packets {free_packets}, allocs {}, ",
        s.packet_requests
    );
    if version >= b'P' {
        let _ = writeln!(
            o,
            "alloc-failures(rcv {}/{},send {}/{},ack {})",
            u(s.receive_pkt_alloc_failures),
            u(s.receive_cbuf_pkt_alloc_failures),
            u(s.send_pkt_alloc_failures),
            u(s.send_cbuf_pkt_alloc_failures),
            u(s.special_pkt_alloc_failures)
        );
    } else {
        let _ = writeln!(
            o,
            "alloc-failures(rcv {},send {},ack {})",
            u(s.receive_pkt_alloc_failures),
            u(s.send_pkt_alloc_failures),
            u(s.special_pkt_alloc_failures)
        );
    }
    let _ = writeln!(
        o,
        "   greedy {}, bogusReads {} (last from host {:x}), noPackets {}, noBuffers {}, \
         selects {}, sendSelects {}",
        u(s.socket_greedy),
        u(s.bogus_packet_on_read),
        u(s.bogus_host),
        u(s.no_packet_on_read),
        u(s.no_packet_buffers_on_read),
        u(s.selects),
        u(s.send_selects)
    );
    o.push_str("   packets read: ");
    for (name, n) in PACKET_TYPE_NAMES.iter().zip(s.packets_read) {
        let _ = write!(o, "{name} {} ", u(n));
    }
    o.push('\n');
    let _ = writeln!(
        o,
        "   other read counters: data {}, ack {}, dup {} spurious {} dally {}",
        u(s.data_packets_read),
        u(s.ack_packets_read),
        u(s.dup_packets_read),
        u(s.spurious_packets_read),
        u(s.ignore_packet_dally)
    );
    o.push_str("   packets sent: ");
    for (name, n) in PACKET_TYPE_NAMES.iter().zip(s.packets_sent) {
        let _ = write!(o, "{name} {} ", u(n));
    }
    o.push('\n');
    let _ = writeln!(
        o,
        "   other send counters: ack {}, data {} (not resends), resends {}, pushed {}, \
         acked&ignored {}",
        u(s.ack_packets_sent),
        u(s.data_packets_sent),
        u(s.data_packets_re_sent),
        u(s.data_packets_pushed),
        u(s.ignore_acked_packet)
    );
    let _ = writeln!(
        o,
        "   \t(these should be small) sendFailed {}, fatalErrors {}",
        u(s.net_send_failures),
        u(s.fatal_errors)
    );
    if s.n_rtt_samples != 0 {
        let avg = clock_float(s.total_rtt.sec, s.total_rtt.usec) / f64::from(s.n_rtt_samples);
        let _ = writeln!(
            o,
            "   Average rtt is {avg:.3}, with {} samples",
            s.n_rtt_samples
        );
        let _ = writeln!(
            o,
            "   Minimum rtt is {:.3}, maximum is {:.3}",
            clock_float(s.min_rtt.sec, s.min_rtt.usec),
            clock_float(s.max_rtt.sec, s.max_rtt.usec)
        );
    }
    let _ = writeln!(
        o,
        "   {} server connections, {} client connections, {} peer structs, {} call structs, \
         {} free call structs",
        s.n_server_conns,
        s.n_client_conns,
        s.n_peer_structs,
        s.n_call_structs,
        s.n_free_call_structs
    );
    o
}

/// The name rxdebug gives an `-onlyauth` level in its "Showing only" line (OpenAFS 1.8).
pub fn auth_level_name(level: i32) -> &'static str {
    match level {
        -1 => "unauthenticated",
        0 => "rxkad_clear",
        1 => "rxkad_auth",
        _ => "rxkad_crypt",
    }
}

/// The "Showing only ..." lines printed before the connections.
pub fn conn_filters(
    only_server: bool,
    only_client: bool,
    only_auth: Option<i32>,
    only_host: Option<Ipv4Addr>,
    only_port: Option<u16>,
) -> String {
    let mut o = String::new();
    if only_server {
        o.push_str("Showing only server connections\n");
    }
    if only_client {
        o.push_str("Showing only client connections\n");
    }
    if let Some(level) = only_auth {
        let _ = writeln!(o, "Showing only {} connections", auth_level_name(level));
    }
    if let Some(h) = only_host {
        let _ = writeln!(o, "Showing only connections from host {h}");
    }
    if let Some(p) = only_port {
        let _ = writeln!(o, "Showing only connections on port {p}");
    }
    o
}

/// The name of a security level (rxkad and rxgk share 0/1/2).
pub fn level_name(level: u8) -> &'static str {
    match level {
        0 => "clear",
        1 => "auth",
        2 => "crypt",
        _ => "unknown",
    }
}

/// Hours until `expires` (a Unix time) as rxdebug computes them: `(u32)expires - time(0)`.
pub fn expires_in_hours(expires: u32, now: i64) -> f64 {
    (i64::from(expires) - now) as f64 / 3600.0
}

/// One connection record; `now` (Unix seconds) is for the credentials' expiry.
pub fn conn(c: &DebugConn, f: Features, now: i64) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "Connection from host {}, port {}, ",
        Ipv4Addr::from(c.host),
        c.port
    );
    if c.epoch != 0 {
        let _ = write!(o, "Cuid {:x}/{:x}", c.epoch, c.cid);
    } else {
        let _ = write!(o, "cid {:x}", c.cid);
    }
    if c.error != 0 {
        let _ = write!(o, ", error {}", c.error as i32);
    }
    let _ = write!(o, "\n  serial {}, ", c.serial as i32);
    let _ = write!(o, " natMTU {}, ", c.nat_mtu as i32);
    if c.flags != 0 {
        o.push_str("flags");
        for w in flag_words(c.flags, &CONN_FLAGS) {
            o.push(' ');
            o.push_str(w);
        }
        o.push_str(", ");
    }
    let _ = write!(o, "security index {}, ", c.security_index);
    o.push_str(if c.conn_type == 0 {
        "client conn\n"
    } else {
        "server conn\n"
    });

    if f.sec_stats {
        sec_stats(&mut o, c, now);
    }

    for j in 0..4 {
        let _ = write!(o, "    call {j}: # {}, state ", c.call_number[j] as i32);
        let state = c.call_state[j];
        if state == STATE_NOTINIT {
            o.push_str("not initialized\n");
            continue;
        }
        if let Some(name) = CALL_STATES.get(usize::from(state)) {
            o.push_str(name);
            o.push_str(", ");
        }
        o.push_str("mode: ");
        o.push_str(match c.call_mode[j] {
            1 => "sending",
            2 => "receiving",
            3 => "error",
            4 => "eof",
            _ => "unknown",
        });
        if c.call_flags[j] != 0 {
            o.push_str(", flags:");
            for w in flag_words(c.call_flags[j], &CALL_FLAGS) {
                o.push(' ');
                o.push_str(w);
            }
        }
        if c.call_other[j] & 1 != 0 {
            o.push_str(", has_input_packets");
        }
        if c.call_other[j] & 2 != 0 {
            o.push_str(", has_output_packets");
        }
        o.push('\n');
    }
    o
}

fn sec_stats(o: &mut String, c: &DebugConn, now: i64) {
    let s = &c.sec_stats;
    match s.sec_type {
        sectype::UNKNOWN => {
            if c.security_index == SECIDX_KAD {
                o.push_str("  no GetStats procedure for security object\n");
            }
        }
        sectype::NULL => {
            let _ = writeln!(o, "  rxnull level={}, flags={}", s.level as i8, s.flags);
        }
        sectype::VAB => {
            let _ = writeln!(o, "  rxvab level={}, flags={}", s.level as i8, s.flags);
        }
        t @ (sectype::KAD | sectype::GK) => {
            let (name, table): (&str, &[(u8, &str)]) = if t == sectype::KAD {
                ("rxkad", &RXKAD_FLAGS)
            } else {
                ("rxgk", &RXGK_FLAGS)
            };
            // `char flags = secStats.flags`: the low byte.
            let flags = s.flags as u8;
            let _ = write!(o, "  {name}: level {}", level_name(s.level));
            if flags != 0 {
                o.push_str(", flags");
            }
            for w in flag_words(flags, table) {
                o.push(' ');
                o.push_str(w);
            }
            if s.expires != 0 {
                let _ = write!(
                    o,
                    ", expires in {:.1} hours",
                    expires_in_hours(s.expires, now)
                );
            }
            if flags & 1 == 0 {
                let _ = writeln!(
                    o,
                    "\n  Received {} bytes in {} packets",
                    s.bytes_received, s.packets_received
                );
                let _ = writeln!(
                    o,
                    "  Sent {} bytes in {} packets",
                    s.bytes_sent, s.packets_sent
                );
            } else {
                o.push('\n');
            }
        }
        _ => o.push_str("  unknown\n"),
    }
}

/// `Done.`, ending the connection and peer lists.
pub const DONE: &str = "Done.\n";

/// `Skipped N dallying connections.`
pub fn skipped(n: u32) -> String {
    format!("Skipped {n} dallying connections.\n")
}

/// One peer record; `long` adds the skew, window and jumbogram lines.
pub fn peer(p: &DebugPeer, long: bool) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Peer at host {}, port {}",
        Ipv4Addr::from(p.host),
        p.port
    );
    let _ = writeln!(
        o,
        "\tifMTU {}\tnatMTU {}\tmaxMTU {}",
        p.if_mtu, p.nat_mtu, p.max_mtu
    );
    let _ = writeln!(
        o,
        "\tpackets sent {}\tpacket resends {}",
        u(p.n_sent),
        u(p.re_sends)
    );
    let _ = writeln!(
        o,
        "\tbytes sent high {} low {}",
        p.bytes_sent >> 32,
        p.bytes_sent & 0xffff_ffff
    );
    let _ = writeln!(
        o,
        "\tbytes received high {} low {}",
        p.bytes_received >> 32,
        p.bytes_received & 0xffff_ffff
    );
    let _ = writeln!(
        o,
        "\trtt {} msec, rtt_dev {} msec",
        u(p.rtt >> 3),
        u(p.rtt_dev >> 2)
    );
    let _ = writeln!(
        o,
        "\ttimeout {}.{:03} sec",
        u(p.timeout.sec),
        u(p.timeout.usec / 1000)
    );
    if long {
        let _ = writeln!(
            o,
            "\tin/out packet skew: {}/{}",
            p.in_packet_skew, p.out_packet_skew
        );
        let _ = writeln!(o, "\tcongestion window {}, MTU {}", p.cwind, p.mtu);
        let _ = writeln!(
            o,
            "\tcurrent/if/max jumbogram size: {}/{}/{}",
            p.n_dgram_packets, p.if_dgram_packets, p.max_dgram_packets
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags() {
        assert_eq!(
            flag_words(0x05, &CONN_FLAGS),
            ["MAKECALL_WAITING", "pktCksum"]
        );
        assert!(flag_words(0x80, &CALL_FLAGS).is_empty());
    }

    #[test]
    fn expiry() {
        assert_eq!(format!("{:.1}", expires_in_hours(7200, 0)), "2.0");
        assert_eq!(format!("{:.1}", expires_in_hours(0, 1800)), "-0.5");
    }
}
