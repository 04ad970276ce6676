//! DEBUG packet bodies (type 8): the rxdebug protocol's requests and raw-struct replies.
//!
//! Layer: `wire`. Owns the byte layout of `rx_debugIn` and of the four reply structures
//! OpenAFS sends (`rx_debugStats` 56 bytes, `rx_debugConn` 176, `rx_debugPeer` 132,
//! `rx_statistics` 284), as described in `reference-openafs-rx.md` §1.12 and OpenAFS
//! `src/rx/rx.h`. Replies are C structs with every integer in network order (the host and
//! port fields were stored in network order to begin with, so reading them big-endian gives
//! the address and port). Spare and padding fields are kept, as arrays, so a reply re-encodes
//! byte for byte.
//!
//! A request is a DEBUG packet with `CLIENT_INITIATED` set; a reply is told apart from the
//! others only by its length.

use core::net::Ipv4Addr;

use bytes::Bytes;

use super::packet::{PutBe, Reader};
use super::{Flags, Header, WireError};

/// The debug-format letter current OpenAFS servers report in [`DebugStats::version`].
pub const DEBUG_FORMAT_VERSION: u8 = b'S';
/// Length of a debug request (`rx_debugIn`).
pub const DEBUG_REQUEST_LEN: usize = 8;
/// Length of `rx_debugStats`.
pub const DEBUG_STATS_LEN: usize = 56;
/// Length of `rx_debugConn` (format 'M' and later).
pub const DEBUG_CONN_LEN: usize = 176;
/// Length of `rx_debugPeer`.
pub const DEBUG_PEER_LEN: usize = 132;
/// Length of `rx_statistics`.
pub const RX_STATISTICS_LEN: usize = 284;
/// Length of the per-type arrays of [`RxStatistics`] (`RX_N_PACKET_TYPES`): OpenAFS counts
/// packet type `t` (1..=13) at index `t - 1`.
pub const RX_N_PACKET_TYPES: usize = 13;
/// The value of both words of the reply to an unknown request type (`RX_DEBUGI_BADTYPE`).
pub const DEBUG_BADTYPE: i32 = -8;

/// A fixed-size big-endian field of a debug structure.
trait Field: Sized {
    fn read(r: &mut Reader<'_>) -> Result<Self, WireError>;
    fn write(&self, out: &mut Vec<u8>);
}

impl Field for u8 {
    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        r.u8()
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.push(*self);
    }
}

impl Field for u16 {
    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        r.u16()
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.put_u16(*self);
    }
}

impl Field for i16 {
    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        r.i16()
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.put_i16(*self);
    }
}

impl Field for u32 {
    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        r.u32()
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.put_u32(*self);
    }
}

impl Field for i32 {
    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        r.i32()
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.put_i32(*self);
    }
}

/// `afs_hyper_t`: high word then low word.
impl Field for u64 {
    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        r.hyper()
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.put_hyper(*self);
    }
}

impl<T: Field + Default + Copy, const N: usize> Field for [T; N] {
    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let mut a = [T::default(); N];
        for v in a.iter_mut() {
            *v = T::read(r)?;
        }
        Ok(a)
    }
    fn write(&self, out: &mut Vec<u8>) {
        for v in self {
            v.write(out);
        }
    }
}

/// Define a fixed-layout debug structure with `parse` (exactly `$len` bytes), `emit` and
/// `buffer_len`, fields in wire order.
macro_rules! debug_struct {
    (
        $(#[$m:meta])*
        $name:ident, $len:expr, $what:literal {
            $( $(#[$fm:meta])* $field:ident : $ty:ty, )*
        }
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name {
            $( $(#[$fm])* pub $field: $ty, )*
        }

        impl $name {
            #[doc = concat!("Length on the wire (", stringify!($len), " bytes).")]
            pub const LEN: usize = $len;

            #[doc = concat!("Decode exactly ", stringify!($len), " bytes.")]
            pub fn parse(buf: &[u8]) -> Result<Self, WireError> {
                let mut r = Reader::new(buf, $what);
                r.require($len)?;
                let v = <Self as Field>::read(&mut r)?;
                r.finish()?;
                Ok(v)
            }

            #[doc = concat!("Append the ", stringify!($len), " wire bytes to `out`.")]
            pub fn emit(&self, out: &mut Vec<u8>) {
                <Self as Field>::write(self, out);
            }

            #[doc = concat!("Length on the wire (", stringify!($len), ").")]
            pub fn buffer_len(&self) -> usize {
                $len
            }
        }

        impl Field for $name {
            fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
                Ok($name { $( $field: <$ty as Field>::read(r)?, )* })
            }
            fn write(&self, out: &mut Vec<u8>) {
                $( <$ty as Field>::write(&self.$field, out); )*
            }
        }
    };
}

/// An rxdebug request type (`rx_debugIn.type`). Unknown values are preserved.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct DebugRequestType(pub i32);

impl DebugRequestType {
    /// Basic statistics ([`DebugStats`]).
    pub const GETSTATS: DebugRequestType = DebugRequestType(1);
    /// The `index`-th "interesting" connection ([`DebugConn`]).
    pub const GETCONN: DebugRequestType = DebugRequestType(2);
    /// The `index`-th connection, interesting or not ([`DebugConn`]).
    pub const GETALLCONN: DebugRequestType = DebugRequestType(3);
    /// All Rx statistics ([`RxStatistics`]).
    pub const RXSTATS: DebugRequestType = DebugRequestType(4);
    /// The `index`-th peer ([`DebugPeer`]).
    pub const GETPEER: DebugRequestType = DebugRequestType(5);

    /// Upper-case name of a known type (`"GETSTATS"`), or `None`.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1 => "GETSTATS",
            2 => "GETCONN",
            3 => "GETALLCONN",
            4 => "RXSTATS",
            5 => "GETPEER",
            _ => return None,
        })
    }
}

impl core::fmt::Debug for DebugRequestType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.name() {
            Some(n) => write!(f, "DebugRequestType({n})"),
            None => write!(f, "DebugRequestType({})", self.0),
        }
    }
}

/// An rxdebug request (`struct rx_debugIn`, 8 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DebugRequest {
    /// What is asked for.
    pub kind: DebugRequestType,
    /// Which connection or peer (for GETCONN, GETALLCONN, GETPEER); 0 otherwise.
    pub index: i32,
}

impl DebugRequest {
    /// Decode exactly 8 bytes.
    pub fn parse(buf: &[u8]) -> Result<DebugRequest, WireError> {
        let mut r = Reader::new(buf, "DEBUG request");
        r.require(DEBUG_REQUEST_LEN)?;
        let v = DebugRequest {
            kind: DebugRequestType(r.i32()?),
            index: r.i32()?,
        };
        r.finish()?;
        Ok(v)
    }

    /// Append the 8 wire bytes to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_i32(self.kind.0);
        out.put_i32(self.index);
    }

    /// Length on the wire (8).
    pub fn buffer_len(&self) -> usize {
        DEBUG_REQUEST_LEN
    }
}

debug_struct! {
    /// Basic server statistics (`struct rx_debugStats`, 56 bytes), the GETSTATS reply.
    DebugStats, 56, "rx_debugStats" {
        /// Free packet buffers.
        n_free_packets: i32,
        /// Packet reclaims.
        packet_reclaims: i32,
        /// Calls executed by server threads.
        calls_executed: i32,
        /// Whether a thread is waiting for packet buffers.
        waiting_for_packets: u8,
        /// File descriptors in use.
        used_fds: u8,
        /// Debug-format letter (`'S'` for current OpenAFS).
        version: u8,
        /// Spare.
        spare1: u8,
        /// Calls waiting for a thread (format 'N' and later).
        n_waiting: i32,
        /// Idle server threads (format 'O' and later).
        idle_threads: i32,
        /// Calls that waited for a thread (format 'R' and later).
        n_waited: i32,
        /// Packet buffers allocated (format 'S' and later).
        n_packets: i32,
        /// Spare words.
        spare2: [i32; 6],
    }
}

debug_struct! {
    /// Statistics of a connection's security object (`struct rx_securityObjectStats`,
    /// 76 bytes), part of [`DebugConn`].
    SecurityObjectStats, 76, "rx_securityObjectStats" {
        /// Security class type (0 unknown, 1 null, 2 vab, 3 kad).
        sec_type: u8,
        /// Security level.
        level: u8,
        /// Alignment padding.
        sparec: [u8; 10],
        /// Flags (1 unallocated, 2 authenticated, 4 expired).
        flags: i32,
        /// Expiry time of the credentials.
        expires: u32,
        /// Packets received.
        packets_received: u32,
        /// Packets sent.
        packets_sent: u32,
        /// Bytes received.
        bytes_received: u32,
        /// Bytes sent.
        bytes_sent: u32,
        /// Spare shorts.
        spares: [i16; 4],
        /// Spare words.
        sparel: [i32; 8],
    }
}

debug_struct! {
    /// One connection (`struct rx_debugConn`, 176 bytes), the GETCONN/GETALLCONN reply.
    /// The list ends with a record whose `cid` is `0xffffffff`.
    DebugConn, 176, "rx_debugConn" {
        /// Peer IPv4 address.
        host: u32,
        /// Connection ID (channel bits zero).
        cid: u32,
        /// Next outgoing serial.
        serial: u32,
        /// Current call number of each channel.
        call_number: [u32; 4],
        /// Connection error.
        error: u32,
        /// Peer UDP port.
        port: u16,
        /// Connection flags.
        flags: u8,
        /// 0 client connection, 1 server connection.
        conn_type: u8,
        /// Security index.
        security_index: u8,
        /// Alignment padding.
        sparec: [u8; 3],
        /// State of each channel's call.
        call_state: [u8; 4],
        /// Mode of each channel's call.
        call_mode: [u8; 4],
        /// Flags of each channel's call.
        call_flags: [u8; 4],
        /// 1 = data queued in, 2 = data queued out, per channel.
        call_other: [u8; 4],
        /// Security object statistics.
        sec_stats: SecurityObjectStats,
        /// Connection epoch.
        epoch: u32,
        /// NAT MTU.
        nat_mtu: u32,
        /// Spare words.
        sparel: [u32; 9],
    }
}

impl DebugConn {
    /// Whether this is the end-of-list record (`cid == 0xffffffff`).
    pub fn is_end_marker(&self) -> bool {
        self.cid == 0xffff_ffff
    }

    /// The end-of-list record: all zero except `cid = 0xffffffff`.
    pub fn end_marker() -> DebugConn {
        DebugConn {
            cid: 0xffff_ffff,
            ..DebugConn::default()
        }
    }

    /// The peer address.
    pub fn host_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.host)
    }
}

debug_struct! {
    /// A `struct clock`: seconds and microseconds.
    RxClock, 8, "clock" {
        /// Seconds.
        sec: i32,
        /// Microseconds.
        usec: i32,
    }
}

debug_struct! {
    /// One peer (`struct rx_debugPeer`, 132 bytes), the GETPEER reply. The list ends with a
    /// record whose `host` is `0xffffffff`.
    DebugPeer, 132, "rx_debugPeer" {
        /// Peer IPv4 address.
        host: u32,
        /// Peer UDP port.
        port: u16,
        /// Interface MTU.
        if_mtu: u16,
        /// When the peer became idle.
        idle_when: u32,
        /// Reference count.
        ref_count: i16,
        /// Burst size.
        burst_size: u8,
        /// Burst.
        burst: u8,
        /// Burst wait.
        burst_wait: RxClock,
        /// Smoothed round-trip time.
        rtt: i32,
        /// Round-trip time deviation.
        rtt_dev: i32,
        /// Retransmission timeout.
        timeout: RxClock,
        /// Packets sent.
        n_sent: i32,
        /// Packets re-sent.
        re_sends: i32,
        /// Inbound packet skew.
        in_packet_skew: i32,
        /// Outbound packet skew.
        out_packet_skew: i32,
        /// Rate flag.
        rate_flag: i32,
        /// NAT MTU.
        nat_mtu: u16,
        /// Maximum MTU.
        max_mtu: u16,
        /// Maximum packets per datagram.
        max_dgram_packets: u16,
        /// Interface packets per datagram.
        if_dgram_packets: u16,
        /// Current MTU.
        mtu: u16,
        /// Congestion window.
        cwind: u16,
        /// Packets per datagram.
        n_dgram_packets: u16,
        /// Congestion sequence.
        congest_seq: u16,
        /// Bytes sent (`afs_hyper_t`, high word first).
        bytes_sent: u64,
        /// Bytes received (`afs_hyper_t`, high word first).
        bytes_received: u64,
        /// Spare words.
        sparel: [i32; 10],
    }
}

impl DebugPeer {
    /// Whether this is the end-of-list record (`host == 0xffffffff`).
    pub fn is_end_marker(&self) -> bool {
        self.host == 0xffff_ffff
    }

    /// The end-of-list record: all zero except `host = 0xffffffff`.
    pub fn end_marker() -> DebugPeer {
        DebugPeer {
            host: 0xffff_ffff,
            ..DebugPeer::default()
        }
    }

    /// The peer address.
    pub fn host_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.host)
    }
}

debug_struct! {
    /// All Rx statistics (`struct rx_statistics`, 284 bytes), the RXSTATS reply. The per-type
    /// arrays hold packet type `t` (1 DATA ..= 13 VERSION) at index `t - 1`.
    RxStatistics, 284, "rx_statistics" {
        /// Packet allocation requests.
        packet_requests: i32,
        /// Receive packet allocation failures.
        receive_pkt_alloc_failures: i32,
        /// Send packet allocation failures.
        send_pkt_alloc_failures: i32,
        /// Special packet allocation failures.
        special_pkt_alloc_failures: i32,
        /// Whether `SO_GREEDY` succeeded.
        socket_greedy: i32,
        /// Inappropriately short packets received.
        bogus_packet_on_read: i32,
        /// Host address of the last bogus packet.
        bogus_host: i32,
        /// Reads that found no packet.
        no_packet_on_read: i32,
        /// Packets dropped for lack of buffers.
        no_packet_buffers_on_read: i32,
        /// Selects waiting for a packet or timeout.
        selects: i32,
        /// Selects forced when sending.
        send_selects: i32,
        /// Packets read, per type (index = type - 1).
        packets_read: [i32; RX_N_PACKET_TYPES],
        /// Unique DATA packets read.
        data_packets_read: i32,
        /// ACK packets read.
        ack_packets_read: i32,
        /// Duplicate DATA packets read.
        dup_packets_read: i32,
        /// Inappropriate DATA packets read.
        spurious_packets_read: i32,
        /// Packets sent, per type (index = type - 1).
        packets_sent: [i32; RX_N_PACKET_TYPES],
        /// ACKs sent.
        ack_packets_sent: i32,
        /// Pings sent.
        ping_packets_sent: i32,
        /// ABORTs sent.
        abort_packets_sent: i32,
        /// BUSYs sent.
        busy_packets_sent: i32,
        /// Unique DATA packets sent.
        data_packets_sent: i32,
        /// DATA retransmissions.
        data_packets_re_sent: i32,
        /// Retransmissions pushed early by a NACK.
        data_packets_pushed: i32,
        /// Packets skipped because already ACKed.
        ignore_acked_packet: i32,
        /// Total of the measured round-trip times.
        total_rtt: RxClock,
        /// Minimum round-trip time.
        min_rtt: RxClock,
        /// Maximum round-trip time.
        max_rtt: RxClock,
        /// Round-trip samples taken.
        n_rtt_samples: i32,
        /// Server connections.
        n_server_conns: i32,
        /// Client connections.
        n_client_conns: i32,
        /// Peer structures.
        n_peer_structs: i32,
        /// Call structures allocated.
        n_call_structs: i32,
        /// Free call structures.
        n_free_call_structs: i32,
        /// Failed sends.
        net_send_failures: i32,
        /// Fatal errors.
        fatal_errors: i32,
        /// Packets dropped because their call was dallying.
        ignore_packet_dally: i32,
        /// Receive cbuf allocation failures.
        receive_cbuf_pkt_alloc_failures: i32,
        /// Send cbuf allocation failures.
        send_cbuf_pkt_alloc_failures: i32,
        /// BUSY packets.
        n_busies: i32,
        /// Spare words.
        spares: [i32; 4],
    }
}

/// A DEBUG reply, recognised by its length.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DebugReply {
    /// 56 bytes: GETSTATS.
    Stats(DebugStats),
    /// 176 bytes: GETCONN / GETALLCONN.
    Conn(DebugConn),
    /// 284 bytes: RXSTATS.
    RxStats(RxStatistics),
    /// 132 bytes: GETPEER.
    Peer(DebugPeer),
    /// 8 bytes of type = index = -8: the request type was not understood.
    BadType,
    /// Anything else (e.g. the old 172-byte connection layout): the raw body.
    Unknown(Bytes),
}

impl DebugReply {
    /// The bytes of a [`DebugReply::BadType`].
    const BADTYPE_BYTES: [u8; 8] = [0xff, 0xff, 0xff, 0xf8, 0xff, 0xff, 0xff, 0xf8];

    /// Classify and decode a reply body by its length. Never fails.
    pub fn parse(body: Bytes) -> Result<DebugReply, WireError> {
        Ok(match body.len() {
            DEBUG_STATS_LEN => DebugReply::Stats(DebugStats::parse(&body)?),
            DEBUG_CONN_LEN => DebugReply::Conn(DebugConn::parse(&body)?),
            RX_STATISTICS_LEN => DebugReply::RxStats(RxStatistics::parse(&body)?),
            DEBUG_PEER_LEN => DebugReply::Peer(DebugPeer::parse(&body)?),
            _ if body[..] == Self::BADTYPE_BYTES => DebugReply::BadType,
            _ => DebugReply::Unknown(body),
        })
    }

    /// Append the body to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        match self {
            DebugReply::Stats(s) => s.emit(out),
            DebugReply::Conn(c) => c.emit(out),
            DebugReply::RxStats(s) => s.emit(out),
            DebugReply::Peer(p) => p.emit(out),
            DebugReply::BadType => out.extend_from_slice(&Self::BADTYPE_BYTES),
            DebugReply::Unknown(b) => out.extend_from_slice(b),
        }
    }

    /// Length of the body on the wire.
    pub fn buffer_len(&self) -> usize {
        match self {
            DebugReply::Stats(_) => DEBUG_STATS_LEN,
            DebugReply::Conn(_) => DEBUG_CONN_LEN,
            DebugReply::RxStats(_) => RX_STATISTICS_LEN,
            DebugReply::Peer(_) => DEBUG_PEER_LEN,
            DebugReply::BadType => DEBUG_REQUEST_LEN,
            DebugReply::Unknown(b) => b.len(),
        }
    }
}

/// A DEBUG body: a request (client-initiated) or a reply.
// The 284-byte `rx_statistics` reply makes this enum large; DEBUG packets are rare and the
// agreed API holds the structures inline, so they are not boxed.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Debug {
    /// `CLIENT_INITIATED` set: a request.
    Request(DebugRequest),
    /// `CLIENT_INITIATED` clear: a reply.
    Reply(DebugReply),
}

impl Debug {
    /// Decode a DEBUG body; the header's `CLIENT_INITIATED` flag says which kind it is.
    pub fn parse(header: &Header, body: Bytes) -> Result<Debug, WireError> {
        if header.flags.contains(Flags::CLIENT_INITIATED) {
            Ok(Debug::Request(DebugRequest::parse(&body)?))
        } else {
            Ok(Debug::Reply(DebugReply::parse(body)?))
        }
    }

    /// Append the body to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        match self {
            Debug::Request(r) => r.emit(out),
            Debug::Reply(r) => r.emit(out),
        }
    }

    /// Length of the body on the wire.
    pub fn buffer_len(&self) -> usize {
        match self {
            Debug::Request(r) => r.buffer_len(),
            Debug::Reply(r) => r.buffer_len(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::wire::packet::tests::{arb_bytes, arb_header_of};
    use crate::wire::{Body, Packet, PacketType};
    use proptest::prelude::*;

    fn arb_raw(n: usize) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), n)
    }

    pub(crate) fn arb_stats() -> impl Strategy<Value = DebugStats> {
        arb_raw(DEBUG_STATS_LEN).prop_map(|b| DebugStats::parse(&b).unwrap())
    }
    pub(crate) fn arb_conn() -> impl Strategy<Value = DebugConn> {
        arb_raw(DEBUG_CONN_LEN).prop_map(|b| DebugConn::parse(&b).unwrap())
    }
    pub(crate) fn arb_peer() -> impl Strategy<Value = DebugPeer> {
        arb_raw(DEBUG_PEER_LEN).prop_map(|b| DebugPeer::parse(&b).unwrap())
    }
    pub(crate) fn arb_rxstats() -> impl Strategy<Value = RxStatistics> {
        arb_raw(RX_STATISTICS_LEN).prop_map(|b| RxStatistics::parse(&b).unwrap())
    }
    pub(crate) fn arb_request() -> impl Strategy<Value = DebugRequest> {
        any::<(i32, i32)>().prop_map(|(k, index)| DebugRequest {
            kind: DebugRequestType(k),
            index,
        })
    }

    pub(crate) fn arb_reply() -> impl Strategy<Value = DebugReply> {
        prop_oneof![
            arb_stats().prop_map(DebugReply::Stats),
            arb_conn().prop_map(DebugReply::Conn),
            arb_rxstats().prop_map(DebugReply::RxStats),
            arb_peer().prop_map(DebugReply::Peer),
            Just(DebugReply::BadType),
            Just(DebugReply::Conn(DebugConn::end_marker())),
            Just(DebugReply::Peer(DebugPeer::end_marker())),
            arb_bytes(300)
                .prop_filter("length of a known reply", |b| {
                    ![56, 176, 284, 132].contains(&b.len()) && b[..] != DebugReply::BADTYPE_BYTES
                })
                .prop_map(DebugReply::Unknown),
        ]
    }

    pub(crate) fn arb_debug_packet() -> impl Strategy<Value = Packet> {
        prop_oneof![
            (
                arb_header_of(PacketType::DEBUG, Flags::CLIENT_INITIATED, Flags(0)),
                arb_request()
            )
                .prop_map(|(header, r)| Packet {
                    header,
                    body: Body::Debug(Debug::Request(r))
                }),
            (
                arb_header_of(PacketType::DEBUG, Flags(0), Flags::CLIENT_INITIATED),
                arb_reply()
            )
                .prop_map(|(header, r)| Packet {
                    header,
                    body: Body::Debug(Debug::Reply(r))
                }),
        ]
    }

    fn emit<F: Fn(&mut Vec<u8>)>(f: F) -> Vec<u8> {
        let mut v = Vec::new();
        f(&mut v);
        v
    }

    #[test]
    fn sizes() {
        assert_eq!(emit(|o| DebugStats::default().emit(o)).len(), 56);
        assert_eq!(emit(|o| SecurityObjectStats::default().emit(o)).len(), 76);
        assert_eq!(emit(|o| DebugConn::default().emit(o)).len(), 176);
        assert_eq!(emit(|o| DebugPeer::default().emit(o)).len(), 132);
        assert_eq!(emit(|o| RxStatistics::default().emit(o)).len(), 284);
        assert_eq!(emit(|o| RxClock::default().emit(o)).len(), RxClock::LEN);
        assert_eq!(DebugStats::default().buffer_len(), DebugStats::LEN);
        assert_eq!(DebugConn::LEN, DEBUG_CONN_LEN);
        assert_eq!(DebugPeer::LEN, DEBUG_PEER_LEN);
        assert_eq!(RxStatistics::LEN, RX_STATISTICS_LEN);
    }

    /// Field offsets from reference-openafs-rx.md §1.12: put a marker in one field and find
    /// it at the documented byte offset.
    #[test]
    fn offsets() {
        let at = |v: Vec<u8>, off: usize, b: &[u8]| assert_eq!(&v[off..off + b.len()], b);
        let s = DebugStats {
            version: b'S',
            n_waiting: 7,
            n_packets: 9,
            ..Default::default()
        };
        let v = emit(|o| s.emit(o));
        at(v.clone(), 14, b"S");
        at(v.clone(), 16, &[0, 0, 0, 7]);
        at(v, 28, &[0, 0, 0, 9]);

        let mut c = DebugConn {
            port: 7000,
            security_index: 2,
            epoch: 5,
            nat_mtu: 6,
            ..Default::default()
        };
        c.call_number[3] = 4;
        c.call_state[0] = 1;
        c.call_other[3] = 2;
        c.sec_stats.sec_type = 3;
        c.sec_stats.flags = 2;
        c.sec_stats.bytes_sent = 8;
        c.sec_stats.spares[0] = 1;
        c.sec_stats.sparel[7] = -1;
        let v = emit(|o| c.emit(o));
        at(v.clone(), 24, &[0, 0, 0, 4]);
        at(v.clone(), 32, &7000u16.to_be_bytes());
        at(v.clone(), 36, &[2]);
        at(v.clone(), 40, &[1]);
        at(v.clone(), 55, &[2]);
        at(v.clone(), 56, &[3]);
        at(v.clone(), 68, &[0, 0, 0, 2]);
        at(v.clone(), 88, &[0, 0, 0, 8]);
        at(v.clone(), 92, &[0, 1]);
        at(v.clone(), 128, &[0xff; 4]);
        at(v.clone(), 132, &[0, 0, 0, 5]);
        at(v, 136, &[0, 0, 0, 6]);

        let p = DebugPeer {
            port: 7001,
            ref_count: -2,
            burst_wait: RxClock { sec: 1, usec: 2 },
            rtt: 3,
            timeout: RxClock { sec: 4, usec: 5 },
            rate_flag: 6,
            nat_mtu: 7,
            congest_seq: 8,
            bytes_sent: (9u64 << 32) | 10,
            bytes_received: 11,
            ..Default::default()
        };
        let v = emit(|o| p.emit(o));
        at(v.clone(), 4, &7001u16.to_be_bytes());
        at(v.clone(), 12, &[0xff, 0xfe]);
        at(v.clone(), 16, &[0, 0, 0, 1, 0, 0, 0, 2]);
        at(v.clone(), 24, &[0, 0, 0, 3]);
        at(v.clone(), 32, &[0, 0, 0, 4, 0, 0, 0, 5]);
        at(v.clone(), 56, &[0, 0, 0, 6]);
        at(v.clone(), 60, &[0, 7]);
        at(v.clone(), 74, &[0, 8]);
        at(v.clone(), 76, &[0, 0, 0, 9, 0, 0, 0, 10]);
        at(v, 84, &[0, 0, 0, 0, 0, 0, 0, 11]);

        let mut r = RxStatistics {
            packet_requests: 1,
            send_selects: 2,
            n_busies: 3,
            ..Default::default()
        };
        r.packets_read[12] = 4;
        r.packets_sent[0] = 5;
        r.max_rtt.usec = 6;
        r.spares[3] = 7;
        let v = emit(|o| r.emit(o));
        at(v.clone(), 0, &[0, 0, 0, 1]);
        at(v.clone(), 40, &[0, 0, 0, 2]);
        at(v.clone(), 44 + 48, &[0, 0, 0, 4]);
        at(v.clone(), 112, &[0, 0, 0, 5]);
        at(v.clone(), 216, &[0, 0, 0, 6]);
        at(v.clone(), 264, &[0, 0, 0, 3]);
        at(v, 280, &[0, 0, 0, 7]);
    }

    #[test]
    fn markers_and_names() {
        assert!(DebugConn::end_marker().is_end_marker());
        assert!(!DebugConn::default().is_end_marker());
        assert!(DebugPeer::end_marker().is_end_marker());
        assert!(!DebugPeer::default().is_end_marker());
        let p = DebugPeer {
            host: 0x7f00_0001,
            ..Default::default()
        };
        assert_eq!(p.host_addr(), Ipv4Addr::LOCALHOST);
        let c = DebugConn {
            host: 0x7f00_0001,
            ..Default::default()
        };
        assert_eq!(c.host_addr(), Ipv4Addr::LOCALHOST);
        assert_eq!(DebugRequestType::RXSTATS.name(), Some("RXSTATS"));
        assert_eq!(DebugRequestType(9).name(), None);
        assert_eq!(
            format!("{:?}", DebugRequestType::GETPEER),
            "DebugRequestType(GETPEER)"
        );
        assert_eq!(
            format!("{:?}", DebugRequestType(-8)),
            "DebugRequestType(-8)"
        );
    }

    #[test]
    fn classify() {
        let req = Header {
            packet_type: PacketType::DEBUG,
            flags: Flags(5),
            ..Header::default()
        };
        let rep = Header {
            flags: Flags(4),
            ..req
        };
        let d = Debug::parse(&req, Bytes::from_static(&[0, 0, 0, 2, 0, 0, 0, 3])).unwrap();
        assert_eq!(
            d,
            Debug::Request(DebugRequest {
                kind: DebugRequestType::GETCONN,
                index: 3
            })
        );
        assert_eq!(d.buffer_len(), 8);
        assert_eq!(
            Debug::parse(&req, Bytes::from_static(&[0, 0, 0, 2])),
            Err(WireError::Truncated {
                what: "DEBUG request",
                need: 8,
                have: 4
            })
        );
        assert_eq!(
            Debug::parse(&req, Bytes::from(vec![0u8; 9])),
            Err(WireError::TrailingBytes {
                what: "DEBUG request",
                extra: 1
            })
        );
        let bad = Debug::parse(&rep, Bytes::from_static(&DebugReply::BADTYPE_BYTES)).unwrap();
        assert_eq!(bad, Debug::Reply(DebugReply::BadType));
        assert_eq!(emit(|o| bad.emit(o)), DebugReply::BADTYPE_BYTES);
        let other = Debug::parse(&rep, Bytes::from(vec![0u8; 8])).unwrap();
        assert_eq!(
            other,
            Debug::Reply(DebugReply::Unknown(Bytes::from(vec![0u8; 8])))
        );
        for (n, want) in [
            (56, "Stats"),
            (176, "Conn"),
            (284, "RxStats"),
            (132, "Peer"),
            (172, "Unknown"),
        ] {
            let d = Debug::parse(&rep, Bytes::from(vec![0u8; n])).unwrap();
            assert!(format!("{d:?}").contains(want), "{n}");
            assert_eq!(d.buffer_len(), n);
        }
        assert!(matches!(
            DebugStats::parse(&[0; 55]),
            Err(WireError::Truncated { .. })
        ));
        assert!(matches!(
            DebugStats::parse(&[0; 57]),
            Err(WireError::TrailingBytes { .. })
        ));
    }

    proptest! {
        #[test]
        fn struct_roundtrips(
            s in arb_stats(), c in arb_conn(), p in arb_peer(), r in arb_rxstats(),
            q in arb_request(),
        ) {
            prop_assert_eq!(DebugStats::parse(&emit(|o| s.emit(o))).unwrap(), s);
            prop_assert_eq!(DebugConn::parse(&emit(|o| c.emit(o))).unwrap(), c);
            prop_assert_eq!(DebugPeer::parse(&emit(|o| p.emit(o))).unwrap(), p);
            prop_assert_eq!(RxStatistics::parse(&emit(|o| r.emit(o))).unwrap(), r);
            prop_assert_eq!(DebugRequest::parse(&emit(|o| q.emit(o))).unwrap(), q);
        }

        #[test]
        fn canonical(len in prop_oneof![Just(56usize), Just(132), Just(176), Just(284), 0usize..300],
                     seed: u8) {
            let b: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect();
            let d = DebugReply::parse(Bytes::from(b.clone())).unwrap();
            prop_assert_eq!(d.buffer_len(), b.len());
            prop_assert_eq!(emit(|o| d.emit(o)), b);
        }

        #[test]
        fn packet_roundtrip(p in arb_debug_packet()) {
            let Body::Debug(d) = &p.body else { unreachable!() };
            let out = emit(|o| d.emit(o));
            prop_assert_eq!(out.len(), d.buffer_len());
            let back = Debug::parse(&p.header, Bytes::from(out.clone())).unwrap();
            prop_assert_eq!(&back, d);
            prop_assert_eq!(emit(|o| back.emit(o)), out);
        }
    }
}
