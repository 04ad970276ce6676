//! The transmit side of a call: packetisation, the transmit window, ACK processing, loss
//! marking and retransmission.
//!
//! Layer: the call engine. `Tx` decides *what* to send; the endpoint stamps headers and serials
//! (which belong to the connection) through the `emit` closure passed to [`Tx::transmit`].
//! Congestion control here is a plain RFC 5681 slow start / congestion avoidance in packets
//! with halving on loss; retransmission is driven by NACKs below a soft-ACKed packet (after
//! one smoothed RTT) and by the retransmission timeout (RFC 6298 estimator, exponential
//! backoff).

use core::time::Duration;
use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use crate::config::EndpointConfig;
use crate::time::Instant;
use crate::wire::{ACK_TYPE_ACK, Ack, AckReason, JUMBO_DATALEN, Seq, Serial};

/// One DATA packet in the transmit queue.
#[derive(Debug)]
pub(crate) struct TxBuf {
    pub(crate) seq: Seq,
    pub(crate) data: Bytes,
    pub(crate) last: bool,
    pub(crate) serial: Serial,
    pub(crate) sent_at: Option<Instant>,
    /// Soft-ACKed by the peer.
    pub(crate) acked: bool,
    /// Marked lost: to be retransmitted.
    pub(crate) lost: bool,
    pub(crate) retransmits: u32,
}

/// Why an incoming ACK was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AckError {
    /// The hard-ACK point is beyond what we sent.
    HardAckBeyondSent,
    /// More soft-ACKs than packets outstanding.
    TooManySoftAcks,
    /// firstPacket 0.
    ZeroFirstPacket,
}

impl AckError {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            AckError::HardAckBeyondSent => "ack-hard-beyond-sent",
            AckError::TooManySoftAcks => "ack-too-many-sacks",
            AckError::ZeroFirstPacket => "ack-first-zero",
        }
    }
}

/// What processing an ACK did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct AckOutcome {
    /// Every packet including the last one is hard-ACKed.
    pub(crate) all_acked: bool,
    /// The hard-ACK point moved.
    pub(crate) progress: bool,
    /// Room opened for more data from the application.
    pub(crate) writable: bool,
    /// Every packet including the last one is at least soft-ACKed. OpenAFS clients end a
    /// reply like this (they hard-ACK only what the application consumed); for a service call
    /// it is as good as a hard ACK, as in OpenAFS's own server.
    pub(crate) all_soft_acked: bool,
}

/// RFC 6298 round-trip estimator.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rtt {
    pub(crate) srtt: Option<Duration>,
    pub(crate) rttvar: Duration,
    pub(crate) samples: u32,
}

impl Rtt {
    pub(crate) fn new() -> Self {
        Rtt {
            srtt: None,
            rttvar: Duration::ZERO,
            samples: 0,
        }
    }

    pub(crate) fn sample(&mut self, m: Duration) {
        let m = m.max(Duration::from_micros(1));
        match self.srtt {
            None => {
                self.srtt = Some(m);
                self.rttvar = m / 2;
            }
            Some(s) => {
                let diff = s.abs_diff(m);
                self.rttvar = (self.rttvar * 3 + diff) / 4;
                self.srtt = Some((s * 7 + m) / 8);
            }
        }
        self.samples = self.samples.saturating_add(1);
    }

    pub(crate) fn rto(&self, config: &EndpointConfig) -> Duration {
        match self.srtt {
            None => config.initial_rto,
            Some(s) => (s + (self.rttvar * 4).max(Duration::from_millis(1)))
                .clamp(config.min_rto, config.max_rto),
        }
    }
}

/// Transmit state of one direction of a call.
#[derive(Debug)]
pub(crate) struct Tx {
    /// Unacknowledged packets, in order; the front is `bottom + 1`.
    pub(crate) queue: VecDeque<TxBuf>,
    /// Highest hard-ACKed seq.
    pub(crate) bottom: Seq,
    /// Highest seq queued.
    pub(crate) top: Seq,
    /// Highest seq transmitted at least once.
    pub(crate) transmitted: Seq,
    /// Bytes waiting to fill a packet.
    partial: BytesMut,
    /// The last packet has been queued.
    pub(crate) finished: bool,
    /// The last packet has been transmitted at least once.
    pub(crate) last_sent: bool,
    pub(crate) queued_bytes: u64,
    pub(crate) total_len: Option<u64>,
    /// The peer's receive window.
    pub(crate) rwind: u32,
    pub(crate) cwnd: u32,
    pub(crate) ssthresh: u32,
    cwnd_acc: u32,
    /// Loss recovery ends when the hard-ACK point passes this.
    recovery_until: Option<Seq>,
    pub(crate) backoff: u32,
    /// Soft-ACKed packets in the queue.
    n_acked: u32,
    /// Highest seq soft-ACKed by the latest ACK.
    highest_sacked: Option<Seq>,
    /// Packets in the queue marked lost.
    n_lost: u32,
    pub(crate) rtt: Rtt,
    pub(crate) max_payload: usize,
    queue_max: u32,
    window_max: u32,
    /// Counters.
    pub(crate) packets_sent: u64,
    pub(crate) retransmits: u64,
}

impl Tx {
    pub(crate) fn new(config: &EndpointConfig) -> Self {
        Tx {
            queue: VecDeque::new(),
            bottom: Seq(0),
            top: Seq(0),
            transmitted: Seq(0),
            partial: BytesMut::new(),
            finished: false,
            last_sent: false,
            queued_bytes: 0,
            total_len: None,
            rwind: config.tx_window_initial.max(1),
            cwnd: 4,
            ssthresh: config.tx_window_max,
            cwnd_acc: 0,
            recovery_until: None,
            backoff: 0,
            n_acked: 0,
            highest_sacked: None,
            n_lost: 0,
            rtt: Rtt::new(),
            max_payload: JUMBO_DATALEN,
            queue_max: config.tx_queue_max.max(1),
            window_max: config.tx_window_max.max(1),
            packets_sent: 0,
            retransmits: 0,
        }
    }

    /// Packets that may still be queued before backpressure applies.
    pub(crate) fn space(&self) -> usize {
        let used = self.top.distance(self.bottom).max(0) as u32;
        self.queue_max.saturating_sub(used) as usize
    }

    /// Queue application data. Returns how many bytes of `data` were accepted (possibly fewer
    /// than offered when the queue is full). With `more == false` and all of `data` accepted,
    /// the phase ends: the final packet is queued with LAST_PACKET.
    pub(crate) fn queue_data(&mut self, mut data: Bytes, more: bool) -> usize {
        let mut accepted = 0;
        loop {
            let room = self.max_payload - self.partial.len();
            if !data.is_empty() {
                if room == 0 {
                    // A full partial with more data behind it: not last.
                    if self.space() == 0 {
                        break;
                    }
                    self.push_packet(false);
                    continue;
                }
                let n = room.min(data.len());
                self.partial.extend_from_slice(&data.split_to(n));
                accepted += n;
                continue;
            }
            // All offered data taken. Ending the phase always succeeds (the final packet may
            // exceed the queue limit by one), so "all accepted with more == false" means
            // "finished" and callers need no second call.
            if !more {
                self.push_packet(true);
                self.finished = true;
            } else if self.partial.len() == self.max_payload && self.space() > 0 {
                self.push_packet(false);
            }
            break;
        }
        self.queued_bytes += accepted as u64;
        accepted
    }

    fn push_packet(&mut self, last: bool) {
        let data = self.partial.split().freeze();
        self.top = self.top.next();
        self.queue.push_back(TxBuf {
            seq: self.top,
            data,
            last,
            serial: Serial(0),
            sent_at: None,
            acked: false,
            lost: false,
            retransmits: 0,
        });
    }

    /// Packets in flight: sent, neither ACKed nor marked lost. Kept as counters so the hot
    /// path never walks the queue (soft-ACKed and lost packets are disjoint and all sent).
    fn in_flight(&self) -> u32 {
        let sent = self.transmitted.distance(self.bottom).max(0) as u32;
        sent.saturating_sub(self.n_acked + self.n_lost)
    }

    /// Drop the front packet (hard-ACKed), keeping the counters right.
    fn pop_front(&mut self) -> Option<TxBuf> {
        let b = self.queue.pop_front()?;
        if b.acked {
            self.n_acked = self.n_acked.saturating_sub(1);
        }
        if b.lost {
            self.n_lost = self.n_lost.saturating_sub(1);
        }
        Some(b)
    }

    fn window(&self) -> u32 {
        self.rwind.min(self.cwnd).min(self.window_max).max(1)
    }

    /// Transmit what the window allows: lost packets first, then fresh ones. `emit(buf,
    /// retransmission)` puts one packet on the wire and returns the serial it used; it is told
    /// whether to request an ACK through the returned flag of `request_ack`.
    pub(crate) fn transmit(
        &mut self,
        now: Instant,
        mut emit: impl FnMut(&TxBuf, bool) -> Serial,
        request_ack: impl Fn(&TxBuf, bool, &Tx) -> bool,
    ) -> u32 {
        let window = self.window();
        let mut in_flight = self.in_flight();
        let mut sent = 0;
        // Retransmissions.
        for i in 0..self.queue.len() {
            if in_flight >= window || self.n_lost == 0 {
                break;
            }
            let Some(buf) = self.queue.get(i) else { break };
            if !buf.lost {
                continue;
            }
            let ra = request_ack(buf, true, self);
            let serial = emit(buf, ra);
            if let Some(b) = self.queue.get_mut(i) {
                b.serial = serial;
                b.sent_at = Some(now);
                b.lost = false;
                b.retransmits += 1;
                self.n_lost = self.n_lost.saturating_sub(1);
            }
            self.retransmits += 1;
            self.packets_sent += 1;
            in_flight += 1;
            sent += 1;
        }
        // Fresh data, within the peer's receive window measured from the hard-ACK point.
        while in_flight < window && self.transmitted.before(self.top) {
            let seq = self.transmitted.next();
            if seq.distance(self.bottom) as u32 > self.rwind.max(1) {
                break;
            }
            let idx = seq.distance(self.bottom) as usize - 1;
            let Some(buf) = self.queue.get(idx) else {
                break;
            };
            let ra = request_ack(buf, false, self);
            let serial = emit(buf, ra);
            let last = buf.last;
            if let Some(b) = self.queue.get_mut(idx) {
                b.serial = serial;
                b.sent_at = Some(now);
            }
            self.transmitted = seq;
            if last {
                self.last_sent = true;
            }
            self.packets_sent += 1;
            in_flight += 1;
            sent += 1;
        }
        sent
    }

    /// Data is waiting but the peer's receive window holds all of it back, with nothing in
    /// flight that would bring a fresh window in an ACK.
    pub(crate) fn window_blocked(&self) -> bool {
        self.transmitted.before(self.top) && !self.outstanding()
    }

    /// Whether anything is outstanding (sent and not hard-ACKed).
    pub(crate) fn outstanding(&self) -> bool {
        self.transmitted.after(self.bottom)
    }

    /// The peer hard-ACKed everything transmitted so far (the reply started, or ACKALL): drop
    /// those packets. Packets not yet transmitted stay queued.
    pub(crate) fn ack_all(&mut self) -> AckOutcome {
        let progress = self.bottom != self.transmitted;
        while self.bottom.before(self.transmitted) {
            match self.pop_front() {
                Some(b) => self.bottom = b.seq,
                None => break,
            }
        }
        self.bottom = self.transmitted;
        let all_acked = self.finished && self.bottom == self.top;
        AckOutcome {
            all_acked,
            progress,
            writable: true,
            all_soft_acked: all_acked,
        }
    }

    /// Process an ACK packet. Soft-ACK bytes other than ACK count as NACK.
    pub(crate) fn on_ack(
        &mut self,
        now: Instant,
        ack: &Ack,
        config: &EndpointConfig,
    ) -> Result<AckOutcome, AckError> {
        if ack.first_packet.0 == 0 {
            return Err(AckError::ZeroFirstPacket);
        }
        let hard = ack.first_packet.minus(1);
        if hard.after(self.transmitted) {
            return Err(AckError::HardAckBeyondSent);
        }
        let outstanding_after = self.transmitted.distance(hard).max(0) as usize;
        if hard.after_eq(self.bottom) && ack.acks.len() > outstanding_after {
            return Err(AckError::TooManySoftAcks);
        }
        if let Some(t) = ack.trailer {
            self.rwind = t.rwind.clamp(1, self.window_max);
        }
        // RTT sample from an ACK provoked by one of our DATA packets.
        if matches!(ack.reason, AckReason::REQUESTED | AckReason::PING_RESPONSE)
            && ack.serial.0 != 0
        {
            if let Some(b) = self
                .queue
                .iter()
                .find(|b| b.serial == ack.serial && b.retransmits == 0)
            {
                if let Some(t) = b.sent_at {
                    self.rtt.sample(now - t);
                }
            }
        }
        let mut out = AckOutcome::default();
        if hard.before(self.bottom) {
            // Stale ACK (firstPacket went backwards): ignore its contents.
            return Ok(out);
        }
        let mut newly_acked = 0u32;
        while self.bottom.before(hard) {
            let Some(b) = self.pop_front() else {
                break;
            };
            if !b.acked {
                newly_acked += 1;
            }
            self.bottom = b.seq;
            out.progress = true;
        }
        if out.progress {
            self.backoff = 0;
            out.writable = true;
        }
        // Soft ACKs.
        let mut highest_sacked: Option<Seq> = None;
        for (i, &v) in ack.acks.iter().enumerate() {
            let Some(b) = self.queue.get_mut(i) else {
                break;
            };
            if v == ACK_TYPE_ACK {
                if !b.acked {
                    newly_acked += 1;
                    self.n_acked += 1;
                }
                b.acked = true;
                if b.lost {
                    b.lost = false;
                    self.n_lost = self.n_lost.saturating_sub(1);
                }
                highest_sacked = Some(b.seq);
            } else if b.acked {
                // The receiver may discard soft-ACKed data, so a NACK un-ACKs.
                b.acked = false;
                self.n_acked = self.n_acked.saturating_sub(1);
            }
        }
        // Loss: a NACKed packet below a soft-ACKed one that has had time to arrive (a
        // RACK-style reordering window); younger ones wait for the reorder timer.
        self.highest_sacked = highest_sacked;
        let loss = self.mark_reorder_losses(now);
        self.on_congestion_ack(newly_acked, loss);
        out.all_acked = self.finished && self.queue.is_empty() && self.bottom == self.top;
        out.all_soft_acked = self.finished
            && self.last_sent
            && self.transmitted == self.top
            && self.n_acked as usize == self.queue.len();
        let _ = config;
        Ok(out)
    }

    /// How long a NACKed packet below a soft-ACKed one may be merely reordered.
    /// Whole microseconds, like [`Instant`], so that a deadline computed from it and the test
    /// `now - sent >= window` agree exactly (a sub-microsecond remainder would make the reorder
    /// timer fire forever at the same instant).
    fn reorder_window(&self) -> Duration {
        let w = self
            .rtt
            .srtt
            .map(|s| s + s / 4)
            .unwrap_or(Duration::from_millis(10));
        Duration::from_micros(u64::try_from(w.as_micros()).unwrap_or(u64::MAX))
    }

    /// Mark as lost every NACKed packet below the highest soft-ACKed one that was sent at least
    /// a reordering window ago. Returns whether any was marked.
    pub(crate) fn mark_reorder_losses(&mut self, now: Instant) -> bool {
        let Some(hs) = self.highest_sacked else {
            return false;
        };
        let reo = self.reorder_window();
        let mut loss = false;
        for b in self.queue.iter_mut() {
            if b.seq.after_eq(hs) {
                break;
            }
            if !b.acked && !b.lost && b.sent_at.is_some_and(|t| now - t >= reo) {
                b.lost = true;
                self.n_lost += 1;
                loss = true;
            }
        }
        loss
    }

    /// When the next NACKed packet below the highest soft-ACKed one becomes old enough to be
    /// declared lost (the reorder timer).
    pub(crate) fn reorder_deadline(&self) -> Option<Instant> {
        let hs = self.highest_sacked?;
        let reo = self.reorder_window();
        self.queue
            .iter()
            .take_while(|b| b.seq.before(hs))
            .filter(|b| !b.acked && !b.lost)
            .filter_map(|b| b.sent_at)
            .min()
            .map(|t| t + reo)
    }

    /// The reorder timer fired: declare what is now old enough lost and react once per
    /// recovery episode.
    pub(crate) fn on_reorder_timeout(&mut self, now: Instant) -> bool {
        let loss = self.mark_reorder_losses(now);
        if loss {
            self.on_congestion_ack(0, true);
        }
        loss
    }

    fn on_congestion_ack(&mut self, newly_acked: u32, loss: bool) {
        if let Some(r) = self.recovery_until {
            if self.bottom.after_eq(r) {
                self.recovery_until = None;
            }
        }
        if loss && self.recovery_until.is_none() {
            let flight = self.in_flight().max(2);
            self.ssthresh = (flight / 2).max(2);
            self.cwnd = self.ssthresh;
            self.recovery_until = Some(self.transmitted);
            return;
        }
        if newly_acked == 0 || self.recovery_until.is_some() {
            return;
        }
        if self.cwnd < self.ssthresh {
            self.cwnd = (self.cwnd + newly_acked).min(self.window_max);
        } else {
            self.cwnd_acc += newly_acked;
            if self.cwnd_acc >= self.cwnd {
                self.cwnd_acc = 0;
                self.cwnd = (self.cwnd + 1).min(self.window_max);
            }
        }
    }

    /// The retransmission timer fired: everything in flight is presumed lost.
    pub(crate) fn on_rto(&mut self) {
        let flight = self.in_flight();
        let mut any = false;
        for b in self.queue.iter_mut() {
            if b.sent_at.is_some() && !b.acked && !b.lost {
                b.lost = true;
                self.n_lost += 1;
                any = true;
            }
        }
        if any {
            self.ssthresh = (flight / 2).max(2);
            self.cwnd = 1;
            self.recovery_until = Some(self.transmitted);
        }
        self.backoff = (self.backoff + 1).min(16);
    }

    /// Current retransmission timeout including backoff.
    pub(crate) fn rto(&self, config: &EndpointConfig) -> Duration {
        let base = self.rtt.rto(config);
        base.saturating_mul(1 << self.backoff.min(10))
            .min(config.max_rto)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::AckTrailer;

    fn cfg() -> EndpointConfig {
        EndpointConfig::default()
    }

    fn ack(first: u32, acks: Vec<u8>, rwind: u32) -> Ack {
        Ack {
            buffer_space: 0,
            max_skew: 0,
            first_packet: Seq(first),
            previous_packet: Seq(first + acks.len() as u32),
            serial: Serial(0),
            reason: AckReason::DELAY,
            acks,
            trailer: Some(AckTrailer {
                max_mtu: 1444,
                if_mtu: 1444,
                rwind,
                jumbo_max: 0,
            }),
        }
    }

    #[test]
    fn packetises_and_marks_last() {
        let mut tx = Tx::new(&cfg());
        assert_eq!(tx.queue_data(Bytes::from(vec![0u8; 3000]), true), 3000);
        assert_eq!(tx.queue.len(), 2); // two full packets, 176 bytes pending
        assert_eq!(tx.queue_data(Bytes::new(), false), 0);
        assert_eq!(tx.queue.len(), 3);
        assert!(tx.queue[2].last && !tx.queue[1].last);
        assert_eq!(tx.queue[2].data.len(), 3000 - 2 * 1412);
        assert!(tx.finished);
    }

    #[test]
    fn exact_multiple_gets_last_on_full_packet() {
        let mut tx = Tx::new(&cfg());
        tx.queue_data(Bytes::from(vec![0u8; 1412 * 2]), false);
        assert_eq!(tx.queue.len(), 2);
        assert!(tx.queue[1].last);
    }

    #[test]
    fn empty_request_is_one_empty_last_packet() {
        let mut tx = Tx::new(&cfg());
        tx.queue_data(Bytes::new(), false);
        assert_eq!(tx.queue.len(), 1);
        assert!(tx.queue[0].last && tx.queue[0].data.is_empty());
    }

    #[test]
    fn backpressure_stops_queueing() {
        let c = EndpointConfig {
            tx_queue_max: 2,
            ..cfg()
        };
        let mut tx = Tx::new(&c);
        let n = tx.queue_data(Bytes::from(vec![0u8; 10_000]), true);
        assert_eq!(n, 1412 * 3); // two packets queued plus one full partial held back
        assert_eq!(tx.space(), 0);
    }

    #[test]
    fn ack_processing_and_loss() {
        let c = cfg();
        let mut tx = Tx::new(&c);
        tx.queue_data(Bytes::from(vec![0u8; 1412 * 4]), false);
        let mut serial = 0;
        let now = Instant::from_micros(1_000_000);
        let n = tx.transmit(
            now,
            |_, _| {
                serial += 1;
                Serial(serial)
            },
            |_, _, _| false,
        );
        assert_eq!(n, 4);
        // Hard-ACK 1, NACK 2, soft-ACK 3.
        let later = now + Duration::from_millis(50);
        let out = tx.on_ack(later, &ack(2, vec![0, 1], 32), &c).unwrap();
        assert!(out.progress && !out.all_acked);
        assert_eq!(tx.bottom, Seq(1));
        assert!(tx.queue[0].lost);
        assert_eq!(tx.rwind, 32);
        // Hard-ACK beyond what was sent is refused.
        assert_eq!(
            tx.on_ack(later, &ack(9, vec![], 32), &c).unwrap_err(),
            AckError::HardAckBeyondSent
        );
        assert_eq!(
            tx.on_ack(later, &ack(2, vec![1; 4], 32), &c).unwrap_err(),
            AckError::TooManySoftAcks
        );
        let out = tx.on_ack(later, &ack(5, vec![], 32), &c).unwrap();
        assert!(out.all_acked);
    }

    #[test]
    fn ackall_keeps_packets_not_yet_transmitted() {
        let mut tx = Tx::new(&cfg());
        tx.queue_data(Bytes::from(vec![0u8; 1412 * 10]), false);
        let mut serial = 0;
        let n = tx.transmit(
            Instant::ZERO,
            |_, _| {
                serial += 1;
                Serial(serial)
            },
            |_, _, _| false,
        );
        assert_eq!(n, 4, "initial congestion window");
        let out = tx.ack_all();
        assert!(!out.all_acked);
        assert_eq!(tx.bottom, Seq(4));
        assert_eq!(tx.queue.len(), 6, "nothing untransmitted is dropped");
    }

    #[test]
    fn rto_marks_lost_and_backs_off() {
        let c = cfg();
        let mut tx = Tx::new(&c);
        tx.queue_data(Bytes::from_static(b"hello"), false);
        tx.transmit(Instant::ZERO, |_, _| Serial(1), |_, _, _| false);
        assert_eq!(tx.rto(&c), Duration::from_secs(1));
        tx.on_rto();
        assert!(tx.queue[0].lost);
        assert_eq!(tx.rto(&c), Duration::from_secs(2));
    }
}
