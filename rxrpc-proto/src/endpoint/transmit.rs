//! Putting a call's DATA on the wire: building one datagram per packet or one jumbo datagram
//! from several, preparing a call's transmit side from what the endpoint knows of its peer,
//! and acting on the call's loss timer (tail-loss probe, retransmission timeout).
//!
//! Layer: the engine. [`Tx`](crate::call::Tx) decides which packets go in which datagram;
//! the endpoint stamps each packet's header (the connection owns serials) and calls
//! [`push_data`] with them. A jumbo datagram is `[header][payload][4-byte jumbo header]
//! [payload]...[last payload]` (`reference-linux-rxrpc.md` §1.4): every subpacket but the last
//! carries exactly 1412 bytes on the wire, and the jumbo header in front of a subpacket gives
//! its flags and checksum. Each payload is produced by the `payload` callback from the
//! packet's header and data (the security class's hook; rxnull copies the data).

use std::collections::VecDeque;
use std::net::SocketAddr;

use super::peer::Peer;
use super::{Endpoint, EndpointStats, Transmit};
use crate::arena::Key;
use crate::call::{LossFired, Tx, TxOut};
use crate::config::EndpointConfig;
use crate::time::Instant;
use crate::wire::{Flags, HEADER_LEN, Header, JUMBO_DATALEN, JumboHeader, PacketType, Serial};

/// Where DATA datagrams go and what they are counted against.
pub(super) struct DataSink<'a> {
    pub(super) transmits: &'a mut VecDeque<Transmit>,
    pub(super) stats: &'a mut EndpointStats,
    pub(super) peers: &'a mut super::HashMap<SocketAddr, Peer>,
    /// Buffers of datagrams already sent, for reuse.
    pub(super) pool: &'a mut Vec<Vec<u8>>,
    pub(super) peer: SocketAddr,
    pub(super) now: Instant,
}

impl DataSink<'_> {
    fn push(&mut self, contents: Vec<u8>, subpackets: usize, resends: u64) {
        self.stats.datagrams_out += 1;
        self.stats.packets_out[PacketType::DATA.0 as usize] += 1;
        self.stats.data_subpackets_out += subpackets as u64;
        if subpackets > 1 {
            self.stats.jumbo_datagrams_out += 1;
        }
        self.stats.retransmits += resends;
        if let Some(p) = self.peers.get_mut(&self.peer) {
            p.stats.packets_sent += 1;
            p.stats.bytes_sent += contents.len() as u64;
            p.stats.resends += resends;
            p.last_tx_at = self.now;
        }
        self.transmits.push_back(Transmit {
            destination: self.peer,
            contents,
        });
    }
}

/// Put `pkts` on the wire as one datagram (a jumbo datagram when there are several), with
/// `headers[i]` stamped for `pkts[i]` (consecutive serials). `payload(header, data, out)`
/// appends packet's wire payload to `out` and may set the header's checksum. If a payload
/// before the last does not come out at exactly 1412 bytes, the packets go in separate
/// datagrams instead. Returns the serial of the first packet.
pub(super) fn push_data(
    sink: &mut DataSink<'_>,
    headers: &mut [Header],
    pkts: &[TxOut],
    mut payload: impl FnMut(&mut Header, &[u8], &mut Vec<u8>),
) -> Serial {
    let Some(first) = headers.first().map(|h| h.serial) else {
        return Serial(0);
    };
    let resends = pkts.iter().filter(|p| p.resend).count() as u64;
    if headers.len() > 1 && headers.len() == pkts.len() {
        let data_len: usize = pkts.iter().map(|p| p.data.len() + 4).sum();
        let mut out = super::take_buf(sink.pool, HEADER_LEN + data_len + 64);
        let mut fits = true;
        let n = headers.len();
        let mut header_at = Vec::with_capacity(n);
        for (i, (h, p)) in headers.iter_mut().zip(pkts).enumerate() {
            // Room for the main header or the jumbo header, filled in once the payload (and
            // with it the checksum) is known.
            let at = out.len();
            out.resize(at + if i == 0 { HEADER_LEN } else { 4 }, 0);
            header_at.push(at);
            let start = out.len();
            payload(h, &p.data, &mut out);
            if i + 1 < n && out.len() - start != JUMBO_DATALEN {
                fits = false;
                break;
            }
        }
        if fits {
            for (i, h) in headers.iter().enumerate() {
                let at = header_at[i];
                if i == 0 {
                    out[at..at + HEADER_LEN].copy_from_slice(&h.to_bytes());
                } else {
                    let jh = JumboHeader {
                        flags: h.flags,
                        pad: 0,
                        cksum: h.cksum,
                    };
                    out[at..at + 4].copy_from_slice(&jh.to_bytes());
                }
            }
            sink.push(out, n, resends);
            return first;
        }
    }
    // One datagram per packet.
    for (h, p) in headers.iter_mut().zip(pkts) {
        h.flags = h.flags.without(Flags::JUMBO_PACKET);
        let mut out = super::take_buf(sink.pool, HEADER_LEN + p.data.len() + 16);
        out.resize(HEADER_LEN, 0);
        payload(h, &p.data, &mut out);
        out[..HEADER_LEN].copy_from_slice(&h.to_bytes());
        sink.push(out, 1, u64::from(p.resend));
    }
    first
}

/// Before a call transmits: apply what the endpoint remembers of the peer (once), tell the
/// peer if jumbo datagrams seem not to get through, and set how many packets may share a
/// datagram to it now.
pub(super) fn prepare(tx: &mut Tx, peer: Option<&mut Peer>, config: &EndpointConfig) {
    let Some(p) = peer else {
        tx.jumbo_max = 1;
        return;
    };
    if !tx.seeded {
        tx.seed(config, p.ssthresh, p.rtt, p.path_payload_limit());
    }
    if std::mem::take(&mut tx.jumbo_trouble) {
        p.jumbo_trouble(config);
    }
    tx.jumbo_max = p.jumbo_subpackets(config);
}

impl Endpoint {
    /// The call's loss timer fired: send a tail-loss probe, or declare everything in flight
    /// lost (and, if a jumbo datagram was hit, send fewer subpackets to the peer), or, with
    /// nothing outstanding but data held back by the peer's window, PING for a window update.
    pub(super) fn on_loss_timer(&mut self, now: Instant, key: Key) {
        let Some(call) = self.calls.get_mut(key) else {
            return;
        };
        call.timers.rto = None;
        match call.tx.on_loss_timer(now) {
            LossFired::Probe | LossFired::Rearm | LossFired::Timeout => self.poke(key),
            LossFired::Idle => {
                if call.tx.window_blocked() {
                    call.tx.backoff = (call.tx.backoff + 1).min(6);
                    self.send_call_ping(now, key);
                    self.poke(key);
                }
            }
        }
    }

    /// A call's transmit side ended (the call disconnected): remember its congestion
    /// threshold and RTT estimate for the next call to the peer.
    pub(super) fn remember_call_tx(&mut self, key: Key) {
        let config = &self.config;
        let Some(call) = self.calls.get(key) else {
            return;
        };
        let Some(p) = self.peers.get_mut(&call.peer) else {
            return;
        };
        if call.tx.packets_sent > 0 {
            p.ssthresh = Some(call.tx.cc.ssthresh());
        }
        if let Some(srtt) = call.tx.rtt.srtt {
            p.rtt = Some((srtt, call.tx.rtt.rttvar));
            p.stats.srtt_us = srtt.as_micros() as u64;
            p.stats.rttvar_us = call.tx.rtt.rttvar.as_micros() as u64;
        }
        p.refresh(config);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{
        CallNumber, Channel, Cid, ConnId, Data, Epoch, SecurityIndex, Seq, ServiceId,
    };
    use bytes::Bytes;

    fn header(seq: u32, serial: u32, flags: Flags) -> Header {
        Header {
            epoch: Epoch(7),
            cid: Cid::new(ConnId::from_index(1), Channel(2)),
            call_number: CallNumber(3),
            seq: Seq(seq),
            serial: Serial(serial),
            packet_type: PacketType::DATA,
            flags,
            user_status: 0,
            security_index: SecurityIndex::NULL,
            cksum: 0,
            service_id: ServiceId(4),
        }
    }

    fn out(seq: u32, len: usize, flags: Flags) -> TxOut {
        TxOut {
            seq: Seq(seq),
            data: Bytes::from(vec![seq as u8; len]),
            flags,
            resend: false,
        }
    }

    #[test]
    fn jumbo_datagram_round_trips() {
        let mut transmits = VecDeque::new();
        let mut stats = EndpointStats::default();
        let mut peers = crate::endpoint::HashMap::default();
        let mut pool = Vec::new();
        let peer: SocketAddr = ([10, 0, 0, 1], 7000).into();
        let mut sink = DataSink {
            transmits: &mut transmits,
            stats: &mut stats,
            peers: &mut peers,
            pool: &mut pool,
            peer,
            now: Instant::ZERO,
        };
        let j = Flags::JUMBO_PACKET;
        let pkts = [
            out(5, 1412, j),
            out(6, 1412, j),
            out(7, 100, Flags::LAST_PACKET | Flags::REQUEST_ACK),
        ];
        let mut hs = [
            header(5, 40, j),
            header(6, 41, j),
            header(7, 42, Flags::LAST_PACKET | Flags::REQUEST_ACK),
        ];
        let first = push_data(&mut sink, &mut hs, &pkts, |_, d, o| o.extend_from_slice(d));
        assert_eq!(first, Serial(40));
        assert_eq!((stats.packets_out[1], stats.jumbo_datagrams_out), (1, 1));
        assert_eq!(stats.data_subpackets_out, 3);
        let t = transmits.pop_front().unwrap();
        assert_eq!(
            t.contents.len(),
            crate::wire::jumbo_datagram_len(2) + 4 + 100
        );
        let h = Header::parse(&t.contents).unwrap();
        let data = Data::parse(&h, Bytes::from(t.contents).slice(HEADER_LEN..)).unwrap();
        let subs = data.subpackets(&h);
        assert_eq!(subs.len(), 3);
        for (i, (sh, d)) in subs.iter().enumerate() {
            assert_eq!(sh.seq, Seq(5 + i as u32));
            assert_eq!(sh.serial, Serial(40 + i as u32));
            assert_eq!(d[..], pkts[i].data[..]);
        }
        assert!(
            subs[2]
                .0
                .flags
                .contains(Flags::LAST_PACKET | Flags::REQUEST_ACK)
        );
    }

    #[test]
    fn wrong_payload_size_falls_back_to_single_packets() {
        let mut transmits = VecDeque::new();
        let mut stats = EndpointStats::default();
        let mut peers = crate::endpoint::HashMap::default();
        let mut pool = Vec::new();
        let mut sink = DataSink {
            transmits: &mut transmits,
            stats: &mut stats,
            peers: &mut peers,
            pool: &mut pool,
            peer: ([10, 0, 0, 1], 7000).into(),
            now: Instant::ZERO,
        };
        let j = Flags::JUMBO_PACKET;
        let pkts = [out(1, 1412, j), out(2, 10, Flags::empty())];
        let mut hs = [header(1, 1, j), header(2, 2, Flags::empty())];
        // A "security class" that adds 8 bytes to every payload.
        push_data(&mut sink, &mut hs, &pkts, |_, d, o| {
            o.extend_from_slice(&[0; 8]);
            o.extend_from_slice(d);
        });
        assert_eq!(transmits.len(), 2);
        for t in &transmits {
            let h = Header::parse(&t.contents).unwrap();
            assert!(!h.flags.contains(Flags::JUMBO_PACKET));
        }
        assert_eq!(transmits[0].contents.len(), HEADER_LEN + 8 + 1412);
    }
}
