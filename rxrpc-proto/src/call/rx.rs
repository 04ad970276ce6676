//! The receive side of a call: reassembly, the out-of-order buffer, the soft-ACK table, in-order
//! delivery to the application, and the ACK policy that follows from what arrived.
//!
//! Layer: the call engine. The hard-ACK point is the highest seq received in order (as Linux
//! does); flow control comes from the advertised `rwind`, which shrinks by the packets the
//! application has not consumed yet. Packets beyond `consumed + rx_window` are refused
//! (EXCEEDS_WINDOW), so a call never buffers more than its window.

use core::time::Duration;
use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;

use crate::config::EndpointConfig;
use crate::wire::{ACK_TYPE_ACK, ACK_TYPE_NACK, Ack, AckReason, AckTrailer, MAX_ACKS, Seq, Serial};

/// Why a DATA packet was refused as a protocol violation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RxError {
    /// DATA with seq 0.
    SeqZero,
    /// A packet after the one marked LAST, or LAST contradicting what was received.
    BeyondLast,
}

impl RxError {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RxError::SeqZero => "data-seq-zero",
            RxError::BeyondLast => "data-beyond-last",
        }
    }
}

/// An ACK the receive side wants sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AckPlan {
    pub(crate) reason: AckReason,
    pub(crate) serial: Serial,
}

fn priority(r: AckReason) -> u8 {
    match r {
        AckReason::IDLE => 1,
        AckReason::DELAY => 2,
        AckReason::REQUESTED => 3,
        AckReason::DUPLICATE => 4,
        AckReason::EXCEEDS_WINDOW => 5,
        AckReason::NOSPACE => 6,
        AckReason::OUT_OF_SEQUENCE => 7,
        AckReason::PING_RESPONSE => 8,
        _ => 0,
    }
}

/// Receive state of one direction of a call.
#[derive(Debug)]
pub(crate) struct Rx {
    /// Highest seq received in order.
    pub(crate) hard_ack: Seq,
    /// Highest seq whose data the application has fully consumed.
    pub(crate) consumed: Seq,
    /// In-order data not yet consumed, seqs `consumed+1 ..= hard_ack`.
    queue: VecDeque<Bytes>,
    /// Bytes of the queue's front already consumed.
    front_offset: usize,
    /// Received above `hard_ack + 1`, keyed by seq.
    ooo: BTreeMap<u32, Bytes>,
    /// Seq of the packet flagged LAST, once seen.
    pub(crate) last_seq: Option<Seq>,
    /// Highest seq received at all.
    pub(crate) highest: Seq,
    /// Serial of the most recent DATA.
    pub(crate) last_serial: Serial,
    pub(crate) window: u32,
    /// The receive window in our last ACK: a window update is only worth a packet when the
    /// peer was told of a small window.
    pub(crate) advertised_rwind: u32,
    /// Packets received since the last ACK we sent.
    pub(crate) unacked: u32,
    /// Packets consumed since the last ACK we sent.
    pub(crate) consumed_since_ack: u32,
    /// The strongest immediate ACK wanted.
    pub(crate) pending: Option<AckPlan>,
    /// Counters.
    pub(crate) packets_received: u64,
    pub(crate) bytes_received: u64,
}

/// What a DATA packet did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct DataOutcome {
    /// New in-order data is available to the application.
    pub(crate) readable: bool,
    /// The last packet of the phase is now received in order.
    pub(crate) complete: bool,
    /// A delayed ACK should be armed.
    pub(crate) delay_ack: bool,
}

impl Rx {
    pub(crate) fn new(config: &EndpointConfig) -> Self {
        Rx {
            hard_ack: Seq(0),
            consumed: Seq(0),
            queue: VecDeque::new(),
            front_offset: 0,
            ooo: BTreeMap::new(),
            last_seq: None,
            highest: Seq(0),
            last_serial: Serial(0),
            window: config.rx_window.clamp(1, MAX_ACKS as u32),
            advertised_rwind: config.rx_window.clamp(1, MAX_ACKS as u32),
            unacked: 0,
            consumed_since_ack: 0,
            pending: None,
            packets_received: 0,
            bytes_received: 0,
        }
    }

    /// Ask for an immediate ACK (keeping the strongest reason).
    pub(crate) fn propose(&mut self, reason: AckReason, serial: Serial) {
        match self.pending {
            Some(p) if priority(p.reason) >= priority(reason) => {}
            _ => self.pending = Some(AckPlan { reason, serial }),
        }
    }

    /// Receive one DATA (sub)packet.
    pub(crate) fn on_data(
        &mut self,
        seq: Seq,
        serial: Serial,
        last: bool,
        request_ack: bool,
        data: Bytes,
    ) -> Result<DataOutcome, RxError> {
        let mut out = DataOutcome::default();
        if seq.0 == 0 {
            return Err(RxError::SeqZero);
        }
        self.last_serial = serial;
        if let Some(l) = self.last_seq {
            if seq.after(l) || (last && seq != l) {
                return Err(RxError::BeyondLast);
            }
        }
        if last && seq.before(self.highest) {
            return Err(RxError::BeyondLast);
        }
        if seq.before_eq(self.hard_ack) || self.ooo.contains_key(&seq.0) {
            self.propose(AckReason::DUPLICATE, serial);
            return Ok(out);
        }
        if seq.distance(self.consumed) as u32 > self.window {
            self.propose(AckReason::EXCEEDS_WINDOW, serial);
            return Ok(out);
        }
        if last {
            self.last_seq = Some(seq);
        }
        if seq.after(self.highest) {
            self.highest = seq;
        }
        self.packets_received += 1;
        self.bytes_received += data.len() as u64;
        if seq == self.hard_ack.next() {
            let filled_hole = !self.ooo.is_empty();
            self.queue.push_back(data);
            self.hard_ack = seq;
            while let Some(d) = self.ooo.remove(&self.hard_ack.next().0) {
                self.queue.push_back(d);
                self.hard_ack = self.hard_ack.next();
            }
            out.readable = true;
            if filled_hole {
                self.propose(AckReason::DELAY, serial);
            }
        } else {
            self.ooo.insert(seq.0, data);
            self.propose(AckReason::OUT_OF_SEQUENCE, serial);
        }
        if request_ack {
            self.propose(AckReason::REQUESTED, serial);
        }
        self.unacked += 1;
        out.delay_ack = self.pending.is_none();
        if self.last_seq == Some(self.hard_ack) {
            out.complete = true;
        }
        Ok(out)
    }

    /// Every DATA packet up to and including the LAST one arrived in order.
    pub(crate) fn all_received(&self) -> bool {
        self.last_seq == Some(self.hard_ack)
    }

    /// Unconsumed data is queued.
    pub(crate) fn has_data(&self) -> bool {
        !self.queue.is_empty()
    }

    /// All data was received and consumed: the application is at end of data.
    pub(crate) fn at_end(&self) -> bool {
        self.all_received() && self.queue.is_empty()
    }

    /// Take up to `max` bytes of in-order data. Returns the data and whether the read drained
    /// the queue.
    pub(crate) fn read(&mut self, max: usize) -> Option<Bytes> {
        let front = self.queue.front_mut()?;
        let avail = front.len() - self.front_offset;
        let n = avail.min(max);
        let out = front.slice(self.front_offset..self.front_offset + n);
        self.front_offset += n;
        if self.front_offset >= front.len() {
            self.queue.pop_front();
            self.front_offset = 0;
            self.consumed = self.consumed.next();
            self.consumed_since_ack += 1;
        }
        Some(out)
    }

    /// Put back bytes that could not be delivered (a cancelled receive), at the front.
    pub(crate) fn unread(&mut self, data: Bytes) {
        if data.is_empty() {
            return;
        }
        if self.front_offset >= data.len() {
            self.front_offset -= data.len();
            return;
        }
        // The packet was popped: restore it as its own packet.
        self.queue.push_front(data);
        self.front_offset = 0;
        self.consumed = self.consumed.minus(1);
    }

    /// The receive window we advertise.
    pub(crate) fn rwind(&self) -> u32 {
        let unconsumed = self.hard_ack.distance(self.consumed).max(0) as u32;
        self.window.saturating_sub(unconsumed)
    }

    /// Build an ACK body describing what has been received.
    pub(crate) fn build_ack(&self, reason: AckReason, serial: Serial) -> Ack {
        let first = self.hard_ack.next();
        let n = (self.highest.distance(self.hard_ack).max(0) as usize).min(MAX_ACKS);
        let acks = (0..n as u32)
            .map(|i| {
                if self.ooo.contains_key(&first.plus(i).0) {
                    ACK_TYPE_ACK
                } else {
                    ACK_TYPE_NACK
                }
            })
            .collect();
        Ack {
            buffer_space: 0,
            max_skew: 0,
            first_packet: first,
            previous_packet: self.highest,
            serial,
            reason,
            acks,
            trailer: Some(AckTrailer {
                max_mtu: 1444,
                if_mtu: 1444,
                rwind: self.rwind(),
                jumbo_max: 1,
            }),
        }
    }

    /// Note that DATA went the other way: it implicitly acknowledges what we received, so
    /// counters and a pending DELAY/IDLE ACK are cleared, but a PING_RESPONSE or REQUESTED ACK
    /// still has to be sent.
    pub(crate) fn data_sent(&mut self) {
        self.unacked = 0;
        self.consumed_since_ack = 0;
        if self
            .pending
            .is_some_and(|p| matches!(p.reason, AckReason::DELAY | AckReason::IDLE))
        {
            self.pending = None;
        }
    }

    /// Note that an ACK was sent.
    pub(crate) fn ack_sent(&mut self) {
        self.advertised_rwind = self.rwind();
        self.unacked = 0;
        self.consumed_since_ack = 0;
        self.pending = None;
    }

    /// Delay for a deferred ACK.
    pub(crate) fn ack_delay(srtt: Option<Duration>, config: &EndpointConfig) -> Duration {
        srtt.map(|s| s.min(config.max_ack_delay))
            .unwrap_or(config.max_ack_delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rx() -> Rx {
        Rx::new(&EndpointConfig::default())
    }

    fn d(n: u8) -> Bytes {
        Bytes::from(vec![n; 3])
    }

    #[test]
    fn in_order_and_out_of_order() {
        let mut r = rx();
        assert!(
            r.on_data(Seq(1), Serial(1), false, false, d(1))
                .unwrap()
                .readable
        );
        r.on_data(Seq(3), Serial(2), true, false, d(3)).unwrap();
        assert_eq!(r.pending.unwrap().reason, AckReason::OUT_OF_SEQUENCE);
        let ack = r.build_ack(AckReason::DELAY, Serial(2));
        assert_eq!(ack.first_packet, Seq(2));
        assert_eq!(ack.acks, vec![ACK_TYPE_NACK, ACK_TYPE_ACK]);
        let o = r.on_data(Seq(2), Serial(3), false, false, d(2)).unwrap();
        assert!(o.complete);
        assert_eq!(r.hard_ack, Seq(3));
        let mut got = Vec::new();
        while let Some(b) = r.read(2) {
            got.extend_from_slice(&b);
        }
        assert_eq!(got, [1, 1, 1, 2, 2, 2, 3, 3, 3]);
        assert!(r.at_end());
    }

    #[test]
    fn duplicates_and_window() {
        let c = EndpointConfig {
            rx_window: 2,
            ..EndpointConfig::default()
        };
        let mut r = Rx::new(&c);
        r.on_data(Seq(1), Serial(1), false, false, d(1)).unwrap();
        r.ack_sent();
        r.on_data(Seq(1), Serial(2), false, false, d(1)).unwrap();
        assert_eq!(r.pending.unwrap().reason, AckReason::DUPLICATE);
        r.ack_sent();
        r.on_data(Seq(3), Serial(3), false, false, d(3)).unwrap();
        assert_eq!(r.pending.unwrap().reason, AckReason::EXCEEDS_WINDOW);
        assert_eq!(r.rwind(), 1);
    }

    #[test]
    fn protocol_errors() {
        let mut r = rx();
        assert_eq!(
            r.on_data(Seq(0), Serial(1), false, false, d(0))
                .unwrap_err(),
            RxError::SeqZero
        );
        r.on_data(Seq(2), Serial(1), true, false, d(2)).unwrap();
        assert_eq!(
            r.on_data(Seq(3), Serial(2), false, false, d(3))
                .unwrap_err(),
            RxError::BeyondLast
        );
    }

    #[test]
    fn unread_restores_partial_and_whole() {
        let mut r = rx();
        r.on_data(
            Seq(1),
            Serial(1),
            true,
            false,
            Bytes::from_static(b"abcdef"),
        )
        .unwrap();
        let a = r.read(2).unwrap();
        r.unread(a);
        let all = r.read(100).unwrap();
        assert_eq!(&all[..], b"abcdef");
        r.unread(all);
        assert_eq!(&r.read(100).unwrap()[..], b"abcdef");
    }
}
