//! The transmit side of a call: packetisation, the transmit window, ACK processing, loss
//! detection and retransmission.
//!
//! Layer: the call engine. `Tx` decides *what* to send and in which datagrams; the endpoint
//! stamps headers and serials (which belong to the connection) and builds the datagrams
//! through the `emit` closure passed to [`Tx::transmit`]. The congestion window comes from a
//! pluggable [`CongestionController`] (NewReno by default, see [`super::cc`]); loss detection
//! is RACK-TLP-like (RFC 8985): a NACKed packet below a soft-ACKed one is lost once it
//! outlives a reordering window, a tail-loss probe (PTO = 2·SRTT) re-sends the last packet
//! (or sends a new one) when ACKs stop, and the retransmission timeout (RFC 6298 estimator,
//! exponential backoff) is the last resort. Fresh full packets may be glued into jumbo
//! datagrams when the peer allows; retransmissions always go one per datagram.

use core::time::Duration;
use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use super::cc::{AckSample, CongestionController, CongestionInit, INITIAL_CWND};
use crate::config::EndpointConfig;
use crate::time::Instant;
use crate::wire::{ACK_TYPE_ACK, Ack, AckReason, Flags, JUMBO_DATALEN, Seq, Serial};

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
    /// Its latest transmission was part of a jumbo datagram.
    pub(crate) in_jumbo: bool,
}

/// One DATA (sub)packet handed to the endpoint to put on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TxOut {
    pub(crate) seq: Seq,
    pub(crate) data: Bytes,
    /// `LAST_PACKET`, `REQUEST_ACK` and, on every subpacket of a jumbo datagram but the last,
    /// `JUMBO_PACKET`.
    pub(crate) flags: Flags,
    /// A retransmission (or a tail-loss probe re-sending a packet).
    pub(crate) resend: bool,
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

    /// Start from an estimate remembered from an earlier call (no sample counted).
    pub(crate) fn seed(&mut self, srtt: Duration, rttvar: Duration) {
        if self.srtt.is_none() && !srtt.is_zero() {
            self.srtt = Some(srtt);
            self.rttvar = rttvar;
        }
    }

    pub(crate) fn rto(&self, config: &EndpointConfig) -> Duration {
        match self.srtt {
            None => config.initial_rto,
            Some(s) => (s + (self.rttvar * 4).max(Duration::from_millis(1)))
                .clamp(config.min_rto, config.max_rto),
        }
    }
}

/// What the call's loss timer stands for while armed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum LossTimer {
    /// The retransmission timeout (or, with nothing outstanding, the persist timer).
    #[default]
    Rto,
    /// The tail-loss probe timeout.
    Pto,
}

/// What the loss timer did when it fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LossFired {
    /// Nothing is outstanding (the caller may be window-blocked: its persist PING).
    Idle,
    /// A tail-loss probe is due: transmit.
    Probe,
    /// A probe is no longer appropriate (loss recovery began): rearm as a retransmission
    /// timeout.
    Rearm,
    /// Retransmission timeout: everything in flight was marked lost.
    Timeout,
}

/// Smallest data payload a path-MTU limit can shrink packets to.
const MIN_PAYLOAD: usize = 256;

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
    /// The congestion controller.
    pub(crate) cc: Box<dyn CongestionController>,
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
    /// Data bytes per packet.
    pub(crate) max_payload: usize,
    /// Data length of a packet whose payload on the wire is exactly 1412 bytes, the only size
    /// that may precede another subpacket in a jumbo datagram (the security class's
    /// overhead is the difference to 1412).
    pub(crate) jumbo_payload: usize,
    /// Most packets glued into one datagram, set by the endpoint from what the peer allows.
    pub(crate) jumbo_max: usize,
    queue_max: u32,
    window_max: u32,
    /// What the armed loss timer stands for.
    pub(crate) loss_mode: LossTimer,
    /// Fresh data went out or new data was acknowledged: the probe timer may be (re)armed.
    rearm_pto: bool,
    /// The probe timer fired: the next transmission sends one probe.
    tlp_pending: bool,
    /// Probes sent since new data was last acknowledged (each doubles the next timeout).
    tlp_count: u32,
    /// When a DATA packet was last sent.
    last_send_at: Option<Instant>,
    /// Packets sent in jumbo datagrams declared lost since one sent in a jumbo datagram was
    /// last acknowledged.
    jumbo_lost_unacked: u32,
    /// Jumbo datagrams look undeliverable (a retransmission timeout hit one, or two jumbo
    /// datagrams' worth of their packets were lost with none acknowledged): the endpoint
    /// sends fewer subpackets to the peer. Taken by the endpoint.
    pub(crate) jumbo_trouble: bool,
    /// The peer's remembered state (ssthresh, RTT, path MTU) has been applied.
    pub(crate) seeded: bool,
    /// Counters.
    pub(crate) packets_sent: u64,
    pub(crate) retransmits: u64,
    pub(crate) tlp_probes: u64,
    pub(crate) jumbo_datagrams: u64,
}

impl Tx {
    pub(crate) fn new(config: &EndpointConfig) -> Self {
        let window_max = config.tx_window_max.clamp(1, crate::wire::MAX_ACKS as u32);
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
            cc: config
                .congestion
                .build(&CongestionInit::new(INITIAL_CWND, window_max)),
            recovery_until: None,
            backoff: 0,
            n_acked: 0,
            highest_sacked: None,
            n_lost: 0,
            rtt: Rtt::new(),
            max_payload: JUMBO_DATALEN,
            jumbo_payload: JUMBO_DATALEN,
            jumbo_max: 1,
            queue_max: config.tx_queue_max.max(1),
            window_max,
            loss_mode: LossTimer::Rto,
            rearm_pto: false,
            tlp_pending: false,
            tlp_count: 0,
            last_send_at: None,
            jumbo_lost_unacked: 0,
            jumbo_trouble: false,
            seeded: false,
            packets_sent: 0,
            retransmits: 0,
            tlp_probes: 0,
            jumbo_datagrams: 0,
        }
    }

    /// Apply what the endpoint remembers of the peer, once, before the first transmission:
    /// the slow-start threshold of the previous call (a new controller), its RTT estimate and
    /// the largest datagram the path carries.
    pub(crate) fn seed(
        &mut self,
        config: &EndpointConfig,
        ssthresh: Option<u32>,
        rtt: Option<(Duration, Duration)>,
        path_payload: Option<usize>,
    ) {
        if self.seeded {
            return;
        }
        self.seeded = true;
        if ssthresh.is_some() && self.packets_sent == 0 {
            self.cc = config.congestion.build(&CongestionInit {
                cached_ssthresh: ssthresh,
                ..CongestionInit::new(INITIAL_CWND, self.window_max)
            });
        }
        if let Some((srtt, rttvar)) = rtt {
            self.rtt.seed(srtt, rttvar);
        }
        if let Some(p) = path_payload {
            self.limit_payload(p);
        }
    }

    /// The congestion window.
    pub(crate) fn cwnd(&self) -> u32 {
        self.cc.cwnd()
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
            let room = self.max_payload.saturating_sub(self.partial.len());
            if !data.is_empty() {
                if room == 0 {
                    // A full partial with more data behind it: not last.
                    if self.space() == 0 {
                        break;
                    }
                    self.push_partial(false);
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
                self.push_partial(true);
                self.finished = true;
            } else if self.partial.len() >= self.max_payload && self.space() > 0 {
                self.push_partial(false);
            }
            break;
        }
        self.queued_bytes += accepted as u64;
        accepted
    }

    fn push_partial(&mut self, last: bool) {
        let data = self.partial.split().freeze();
        self.push_bytes(data, last);
    }

    fn push_bytes(&mut self, data: Bytes, last: bool) {
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
            in_jumbo: false,
        });
    }

    /// The path carries datagrams of at most `path_payload` bytes of UDP payload: shrink the
    /// data per packet to fit (never grows). Packets never transmitted are cut again (the
    /// peer has seen none of them, so their sequence numbers are still free); packets already
    /// sent keep their size, since the peer may hold them.
    pub(crate) fn limit_payload(&mut self, path_payload: usize) {
        let overhead = crate::wire::HEADER_LEN + JUMBO_DATALEN.saturating_sub(self.jumbo_payload);
        let n = path_payload
            .saturating_sub(overhead)
            .max(MIN_PAYLOAD)
            .min(self.max_payload);
        if n == self.max_payload {
            return;
        }
        self.max_payload = n;
        let first_unsent = self.transmitted.distance(self.bottom).max(0) as usize;
        let tail: Vec<TxBuf> = if first_unsent < self.queue.len() {
            self.queue.drain(first_unsent..).collect()
        } else {
            Vec::new()
        };
        let had_last = tail.last().is_some_and(|b| b.last);
        let mut data = BytesMut::new();
        for b in &tail {
            data.extend_from_slice(&b.data);
        }
        data.extend_from_slice(&self.partial);
        self.partial.clear();
        self.top = self.transmitted;
        let mut data = data.freeze();
        if had_last {
            loop {
                let chunk = data.split_to(n.min(data.len()));
                if data.is_empty() {
                    self.push_bytes(chunk, true);
                    break;
                }
                self.push_bytes(chunk, false);
            }
        } else {
            while data.len() > n {
                let chunk = data.split_to(n);
                self.push_bytes(chunk, false);
            }
            self.partial.extend_from_slice(&data);
        }
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
        if b.in_jumbo && !b.lost {
            self.jumbo_lost_unacked = 0;
        }
        if b.acked {
            self.n_acked = self.n_acked.saturating_sub(1);
        }
        if b.lost {
            self.n_lost = self.n_lost.saturating_sub(1);
        }
        Some(b)
    }

    fn window(&self) -> u32 {
        self.rwind.min(self.cwnd()).min(self.window_max).max(1)
    }

    fn in_recovery(&self) -> bool {
        self.recovery_until.is_some_and(|r| self.bottom.before(r))
    }

    /// Put the queued packets at `idx .. idx + n` on the wire as one datagram (a jumbo one
    /// when `n > 1`; the caller checked they may be glued). Returns whether the last of them
    /// was a first transmission.
    fn send_group(
        &mut self,
        idx: usize,
        n: usize,
        now: Instant,
        resend: bool,
        emit: &mut impl FnMut(&[TxOut]) -> Serial,
        request_ack: &impl Fn(&TxOut, &Tx) -> bool,
    ) {
        let mut outs: Vec<TxOut> = Vec::with_capacity(n);
        for k in 0..n {
            let Some(b) = self.queue.get(idx + k) else {
                break;
            };
            let mut flags = Flags::empty();
            if k + 1 < n {
                flags = flags.with(Flags::JUMBO_PACKET);
            } else if b.last {
                flags = flags.with(Flags::LAST_PACKET);
            }
            outs.push(TxOut {
                seq: b.seq,
                data: b.data.clone(),
                flags,
                resend: resend || b.retransmits > 0 || b.lost,
            });
        }
        let Some(terminal) = outs.last() else {
            return;
        };
        // Only the terminal subpacket may ask for an ACK.
        if request_ack(terminal, self) {
            if let Some(t) = outs.last_mut() {
                t.flags = t.flags.with(Flags::REQUEST_ACK);
            }
        }
        let first = emit(&outs);
        let jumbo = outs.len() > 1;
        if jumbo {
            self.jumbo_datagrams += 1;
        }
        let mut serial = first;
        for (k, o) in outs.iter().enumerate() {
            if k > 0 {
                serial = serial.next();
            }
            let Some(b) = self.queue.get_mut(idx + k) else {
                break;
            };
            b.serial = serial;
            b.sent_at = Some(now);
            b.in_jumbo = jumbo;
            if b.lost {
                b.lost = false;
                self.n_lost = self.n_lost.saturating_sub(1);
            }
            if o.resend {
                b.retransmits += 1;
                self.retransmits += 1;
            }
            let (seq, last) = (b.seq, b.last);
            if seq.after(self.transmitted) {
                self.transmitted = seq;
                if last {
                    self.last_sent = true;
                }
            }
            self.packets_sent += 1;
        }
    }

    /// Transmit what the window allows: lost packets first, one per datagram, then fresh ones,
    /// glued into jumbo datagrams of up to [`jumbo_max`](Self::jumbo_max) packets while the
    /// packets are full, then a tail-loss probe if one is due. `emit(packets)` puts one
    /// datagram on the wire and returns the serial of its first packet (the others follow
    /// it); `request_ack(packet, tx)` decides whether a datagram's last packet asks for an
    /// ACK. Returns the number of packets sent.
    pub(crate) fn transmit(
        &mut self,
        now: Instant,
        config: &EndpointConfig,
        mut emit: impl FnMut(&[TxOut]) -> Serial,
        request_ack: impl Fn(&TxOut, &Tx) -> bool,
    ) -> u32 {
        let has_work = self.n_lost > 0 || self.transmitted.before(self.top) || self.tlp_pending;
        if !has_work {
            return 0;
        }
        // Restart from the initial window after sending nothing for an RTO (RFC 5681 §4.1).
        if !self.outstanding() {
            if let Some(t) = self.last_send_at {
                let idle = now - t;
                if idle >= self.rtt.rto(config) {
                    self.cc.on_idle_restart(now, idle);
                }
            }
        }
        let window = self.window();
        let mut in_flight = self.in_flight();
        let mut sent = 0u32;
        // Retransmissions, one per datagram.
        let mut i = 0;
        while self.n_lost > 0 && in_flight < window && i < self.queue.len() {
            if self.queue.get(i).is_some_and(|b| b.lost) {
                self.send_group(i, 1, now, true, &mut emit, &request_ack);
                in_flight += 1;
                sent += 1;
            }
            i += 1;
        }
        // Fresh data, within the peer's receive window measured from the hard-ACK point.
        let mut fresh = false;
        while in_flight < window && self.transmitted.before(self.top) {
            let seq = self.transmitted.next();
            let dist = seq.distance(self.bottom);
            let rwind_room = i64::from(self.rwind.max(1)) - i64::from(dist) + 1;
            if rwind_room <= 0 || dist < 1 {
                break;
            }
            let idx = dist as usize - 1;
            let space = (window - in_flight) as usize;
            let rwind_room = usize::try_from(rwind_room).unwrap_or(1);
            // At most a quarter of the window per datagram: a small window still holds several
            // datagrams, for the ACK clock and against losing a whole flight at once.
            let jumbo = self.jumbo_max.min(window as usize / 4).max(1);
            // ACK clocking frees the window a few packets at a time: rather than send small
            // jumbo packets for ever, wait for room for a whole one while enough is in flight
            // to bring the ACKs that make it (not while repairing losses: then every packet
            // that brings an ACK counts).
            let unsent = self.top.distance(self.transmitted).max(0) as usize;
            let room = space.min(rwind_room);
            if jumbo > 1
                && room < jumbo
                && in_flight as usize >= jumbo
                && unsent >= jumbo
                && !self.in_recovery()
            {
                break;
            }
            let max_n = jumbo.min(room);
            let mut n = 1;
            while n < max_n {
                // Every subpacket but the terminal one must be full (1412 bytes on the wire).
                let glue = self
                    .queue
                    .get(idx + n - 1)
                    .is_some_and(|b| !b.last && b.data.len() == self.jumbo_payload);
                if !glue || idx + n >= self.queue.len() {
                    break;
                }
                n += 1;
            }
            self.send_group(idx, n, now, false, &mut emit, &request_ack);
            in_flight += n as u32;
            sent += n as u32;
            fresh = true;
        }
        // Tail-loss probe: one new packet if the receive window allows, else the highest
        // packet sent and not acknowledged again; both ask for an ACK.
        if std::mem::take(&mut self.tlp_pending) {
            let next = self.transmitted.next();
            let rwind_ok = self.transmitted.before(self.top)
                && next.distance(self.bottom) as u32 <= self.rwind.max(1);
            let target = if rwind_ok {
                Some((next.distance(self.bottom) as usize - 1, false))
            } else {
                self.queue
                    .iter()
                    .rposition(|b| b.sent_at.is_some() && !b.acked)
                    .map(|i| (i, true))
            };
            if let Some((idx, resend)) = target {
                // A probe asks for an ACK like a retransmission does (never on the last
                // packet of a reply: the caller's policy knows).
                let as_resend = |o: &TxOut, tx: &Tx| {
                    let o = TxOut {
                        resend: true,
                        ..o.clone()
                    };
                    request_ack(&o, tx)
                };
                self.send_group(idx, 1, now, resend, &mut emit, &as_resend);
                self.tlp_count += 1;
                self.tlp_probes += 1;
                // The next probe, later, if it still comes before the RTO.
                self.rearm_pto = true;
                sent += 1;
            }
        }
        if sent > 0 {
            self.last_send_at = Some(now);
        }
        if fresh {
            self.rearm_pto = true;
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
        self.tlp_count = 0;
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
        let _ = config;
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
        let mut rtt_sample = None;
        if matches!(ack.reason, AckReason::REQUESTED | AckReason::PING_RESPONSE)
            && ack.serial.0 != 0
        {
            if let Some(b) = self
                .queue
                .iter()
                .find(|b| b.serial == ack.serial && b.retransmits == 0)
            {
                if let Some(t) = b.sent_at {
                    rtt_sample = Some(now - t);
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
                    if b.in_jumbo && !b.lost {
                        self.jumbo_lost_unacked = 0;
                    }
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
        if newly_acked > 0 || out.progress {
            // New data acknowledged: a probe episode is over and the probe timer restarts.
            self.tlp_count = 0;
            self.rearm_pto = true;
        }
        // Loss: a NACKed packet below a soft-ACKed one that has had time to arrive (a
        // RACK-style reordering window); younger ones wait for the reorder timer.
        self.highest_sacked = highest_sacked;
        let loss = self.mark_reorder_losses(now);
        self.on_congestion_ack(now, newly_acked, loss, rtt_sample);
        out.all_acked = self.finished && self.queue.is_empty() && self.bottom == self.top;
        out.all_soft_acked = self.finished
            && self.last_sent
            && self.transmitted == self.top
            && self.n_acked as usize == self.queue.len();
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
        let mut jumbo_lost = 0;
        for b in self.queue.iter_mut() {
            if b.seq.after_eq(hs) {
                break;
            }
            if !b.acked && !b.lost && b.sent_at.is_some_and(|t| now - t >= reo) {
                b.lost = true;
                self.n_lost += 1;
                loss = true;
                jumbo_lost += u32::from(b.in_jumbo);
            }
        }
        if jumbo_lost > 0 {
            self.jumbo_lost_unacked += jumbo_lost;
            if self.jumbo_lost_unacked >= 2 * self.jumbo_max.max(2) as u32 {
                self.jumbo_trouble = true;
                self.jumbo_lost_unacked = 0;
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
            self.on_congestion_ack(now, 0, true, None);
        }
        loss
    }

    fn on_congestion_ack(
        &mut self,
        now: Instant,
        newly_acked: u32,
        loss: bool,
        rtt: Option<Duration>,
    ) {
        if self.recovery_until.is_some() && !self.in_recovery() {
            self.recovery_until = None;
        }
        if loss && self.recovery_until.is_none() {
            self.cc.on_loss(now, self.in_flight());
            self.recovery_until = Some(self.transmitted);
            return;
        }
        if newly_acked == 0 {
            return;
        }
        self.cc.on_ack(&AckSample {
            now,
            newly_acked,
            in_flight: self.in_flight(),
            srtt: self.rtt.srtt,
            rtt,
            in_recovery: self.recovery_until.is_some(),
        });
    }

    /// Whether a tail-loss probe timer may run: data in flight, no lost packet waiting to be
    /// sent again, no reordering being waited out.
    ///
    /// Two departures from RFC 8985 §7, both because the retransmission timeout here is at
    /// least 200 ms, hundreds of round trips on a short path: probes also run during loss
    /// recovery once every lost packet has been re-sent, and an unanswered probe is followed
    /// by another at twice the timeout (as QUIC's PTO, RFC 9002 §6.2) as long as that comes
    /// before the retransmission timeout, so that a lost probe or a lost ACK of one does not
    /// stall the call.
    fn pto_allowed(&self) -> bool {
        self.in_flight() > 0 && self.n_lost == 0 && self.reorder_deadline().is_none()
    }

    /// The probe timeout (RFC 8985 §7.2): two smoothed RTTs, plus the peer's worst-case ACK
    /// delay when a single packet is in flight (nothing else would make it ACK at once),
    /// doubled for every probe already unanswered. None before any RTT estimate.
    fn pto(&self, config: &EndpointConfig) -> Option<Duration> {
        if !config.tail_loss_probe {
            return None;
        }
        let srtt = self.rtt.srtt?;
        let mut pto = srtt * 2;
        if self.in_flight() <= 1 {
            pto += config.max_ack_delay;
        }
        Some(pto.max(Duration::from_micros(1)) * (1 << self.tlp_count.min(16)))
    }

    /// The loss timer's next deadline, given the one armed now (`current`): a fresh probe
    /// timeout after new data went out or was acknowledged, when a probe may be sent and
    /// comes before the retransmission timeout; else the armed deadline; else a
    /// retransmission timeout (at most `cap` from now).
    pub(crate) fn loss_deadline(
        &mut self,
        now: Instant,
        config: &EndpointConfig,
        cap: Duration,
        current: Option<Instant>,
    ) -> Option<Instant> {
        let rto = self.rto(config).min(cap);
        if std::mem::take(&mut self.rearm_pto) && self.pto_allowed() {
            if let Some(pto) = self.pto(config).filter(|p| *p < rto) {
                self.loss_mode = LossTimer::Pto;
                return Some(now + pto);
            }
        }
        if current.is_some() {
            return current;
        }
        self.loss_mode = LossTimer::Rto;
        Some(now + rto)
    }

    /// The loss timer fired.
    pub(crate) fn on_loss_timer(&mut self, now: Instant) -> LossFired {
        if !self.outstanding() {
            return LossFired::Idle;
        }
        if std::mem::take(&mut self.loss_mode) == LossTimer::Pto {
            if self.pto_allowed() {
                self.tlp_pending = true;
                return LossFired::Probe;
            }
            return LossFired::Rearm;
        }
        self.on_rto(now);
        LossFired::Timeout
    }

    /// The retransmission timer expired: everything in flight is presumed lost. Returns
    /// whether the lowest packet marked lost had last gone out in a jumbo datagram (then
    /// [`jumbo_trouble`](Self::jumbo_trouble) is set too).
    pub(crate) fn on_rto(&mut self, now: Instant) -> bool {
        let flight = self.in_flight();
        let mut first_jumbo = None;
        for b in self.queue.iter_mut() {
            if b.sent_at.is_some() && !b.acked && !b.lost {
                b.lost = true;
                self.n_lost += 1;
                first_jumbo.get_or_insert(b.in_jumbo);
            }
        }
        if first_jumbo.is_some() {
            self.cc.on_rto(now, flight);
            self.recovery_until = Some(self.transmitted);
        }
        self.tlp_count = 0;
        self.tlp_pending = false;
        self.backoff = (self.backoff + 1).min(16);
        let jumbo = first_jumbo.unwrap_or(false);
        self.jumbo_trouble |= jumbo;
        jumbo
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

    /// Transmit with consecutive serials from `*serial + 1`, recording each datagram as the
    /// list of its (seq, flags).
    fn send(
        tx: &mut Tx,
        now: Instant,
        c: &EndpointConfig,
        serial: &mut u32,
        log: &mut Vec<Vec<(u32, Flags)>>,
    ) -> u32 {
        tx.transmit(
            now,
            c,
            |pkts| {
                let first = Serial(*serial + 1);
                *serial += pkts.len() as u32;
                log.push(pkts.iter().map(|p| (p.seq.0, p.flags)).collect());
                first
            },
            |o, _| o.resend,
        )
    }

    fn send_quiet(tx: &mut Tx, now: Instant, c: &EndpointConfig) -> u32 {
        let mut serial = 0;
        send(tx, now, c, &mut serial, &mut Vec::new())
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
        let now = Instant::from_micros(1_000_000);
        assert_eq!(send_quiet(&mut tx, now, &c), 4);
        // Hard-ACK 1, NACK 2, soft-ACK 3.
        let later = now + Duration::from_millis(50);
        let out = tx.on_ack(later, &ack(2, vec![0, 1], 32), &c).unwrap();
        assert!(out.progress && !out.all_acked);
        assert_eq!(tx.bottom, Seq(1));
        assert!(tx.queue[0].lost);
        assert_eq!(tx.rwind, 32);
        // Loss halves the window once.
        assert_eq!(tx.cwnd(), 2);
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
        let c = cfg();
        let mut tx = Tx::new(&c);
        tx.queue_data(Bytes::from(vec![0u8; 1412 * 10]), false);
        let n = send_quiet(&mut tx, Instant::ZERO, &c);
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
        send_quiet(&mut tx, Instant::ZERO, &c);
        assert_eq!(tx.rto(&c), Duration::from_secs(1));
        // Without an RTT estimate there is no probe timer: the loss timer is the RTO.
        let at = tx.loss_deadline(Instant::ZERO, &c, Duration::from_secs(5), None);
        assert_eq!(at, Some(Instant::from_micros(1_000_000)));
        assert_eq!(
            tx.on_loss_timer(Instant::from_micros(1_000_000)),
            LossFired::Timeout
        );
        assert!(tx.queue[0].lost);
        assert_eq!(tx.rto(&c), Duration::from_secs(2));
    }

    #[test]
    fn full_packets_glue_into_jumbos_and_retransmit_alone() {
        use crate::call::cc::{CongestionFactory, NewReno};
        let c = cfg();
        let mut tx = Tx::new(&c);
        tx.rwind = 64;
        tx.jumbo_max = 3;
        tx.cc = NewReno.build(&CongestionInit::new(12, 128));
        // 7 full packets and a short last one.
        tx.queue_data(Bytes::from(vec![7u8; 1412 * 7 + 100]), false);
        let (mut serial, mut log) = (0, Vec::new());
        assert_eq!(send(&mut tx, Instant::ZERO, &c, &mut serial, &mut log), 8);
        let j = Flags::JUMBO_PACKET;
        // The short last packet ends a jumbo packet and carries LAST_PACKET.
        assert_eq!(
            log,
            [
                vec![(1, j), (2, j), (3, Flags::empty())],
                vec![(4, j), (5, j), (6, Flags::empty())],
                vec![(7, j), (8, Flags::LAST_PACKET)]
            ]
        );
        assert_eq!(tx.queue[1].serial, Serial(2));
        assert_eq!(tx.queue[7].serial, Serial(8));
        assert!(tx.queue[2].in_jumbo);
        // An RTO: the lowest lost packet went in a jumbo; retransmissions go one by one with
        // fresh serials.
        assert!(tx.on_rto(Instant::ZERO));
        assert!(tx.jumbo_trouble);
        log.clear();
        send(&mut tx, Instant::ZERO, &c, &mut serial, &mut log);
        assert_eq!(log, [vec![(1, Flags::REQUEST_ACK)]], "cwnd 1 after the RTO");
        assert_eq!(tx.queue[0].serial, Serial(9));
        assert_eq!(tx.retransmits, 1);
    }

    #[test]
    fn jumbo_size_follows_the_window_and_waits_for_room() {
        use crate::call::cc::{CongestionFactory, NewReno};
        let c = cfg();
        let mut tx = Tx::new(&c);
        tx.rwind = 64;
        tx.jumbo_max = 6;
        tx.queue_data(Bytes::from(vec![7u8; 1412 * 40]), true);
        let (mut serial, mut log) = (0, Vec::new());
        // A window of 4: no jumbo packets (at most a quarter of the window per datagram).
        send(&mut tx, Instant::ZERO, &c, &mut serial, &mut log);
        assert_eq!(log.len(), 4);
        // A window of 12: jumbo packets of 3.
        let mut tx = Tx::new(&c);
        tx.rwind = 64;
        tx.jumbo_max = 6;
        tx.cc = NewReno.build(&CongestionInit::new(12, 128));
        tx.queue_data(Bytes::from(vec![7u8; 1412 * 40]), true);
        log.clear();
        assert_eq!(send(&mut tx, Instant::ZERO, &c, &mut serial, &mut log), 12);
        assert!(log.iter().all(|d| d.len() == 3), "{log:?}");
        // Two packets acknowledged: the window grows to 14 and opens room for 4, one jumbo
        // packet of 3 goes and the last packet of room waits for a whole jumbo packet.
        let t = Instant::from_micros(10_000);
        tx.on_ack(t, &ack(3, vec![], 64), &c).unwrap();
        log.clear();
        assert_eq!(send(&mut tx, t, &c, &mut serial, &mut log), 3);
        assert_eq!(log[0][0].0, 13);
    }

    #[test]
    fn tail_loss_probe_resends_the_last_packet() {
        let c = cfg();
        let mut tx = Tx::new(&c);
        tx.rtt.sample(Duration::from_millis(10));
        tx.queue_data(Bytes::from(vec![0u8; 1412 * 3]), false);
        let (mut serial, mut log) = (0, Vec::new());
        send(&mut tx, Instant::ZERO, &c, &mut serial, &mut log);
        // Packets 1 and 2 are acknowledged, 3 (the last) is lost.
        let t = Instant::from_micros(10_000);
        tx.on_ack(t, &ack(3, vec![], 64), &c).unwrap();
        // One packet in flight: PTO = 2 SRTT + the peer's ACK delay, well before the RTO.
        let pto = tx
            .loss_deadline(t, &c, Duration::from_secs(5), None)
            .unwrap();
        assert_eq!(tx.loss_mode, LossTimer::Pto);
        assert_eq!(pto - t, Duration::from_millis(20) + c.max_ack_delay);
        assert!(pto - t < tx.rto(&c));
        assert_eq!(tx.on_loss_timer(pto), LossFired::Probe);
        log.clear();
        assert_eq!(send(&mut tx, pto, &c, &mut serial, &mut log), 1);
        assert_eq!(log, [vec![(3, Flags::LAST_PACKET | Flags::REQUEST_ACK)]]);
        assert_eq!((tx.tlp_probes, tx.retransmits), (1, 1));
        // A second probe would come 240 ms later, after the RTO: the RTO runs.
        let rto = tx
            .loss_deadline(pto, &c, Duration::from_secs(5), None)
            .unwrap();
        assert_eq!(tx.loss_mode, LossTimer::Rto);
        assert_eq!(rto - pto, tx.rto(&c));
    }

    #[test]
    fn probe_sends_new_data_when_the_receive_window_allows() {
        let c = cfg();
        let mut tx = Tx::new(&c);
        tx.rtt.sample(Duration::from_millis(10));
        tx.queue_data(Bytes::from(vec![0u8; 1412 * 6]), false);
        let (mut serial, mut log) = (0, Vec::new());
        send(&mut tx, Instant::ZERO, &c, &mut serial, &mut log);
        assert_eq!(tx.transmitted, Seq(4));
        let pto = tx
            .loss_deadline(Instant::ZERO, &c, Duration::from_secs(5), None)
            .unwrap();
        assert_eq!(tx.on_loss_timer(pto), LossFired::Probe);
        log.clear();
        send(&mut tx, pto, &c, &mut serial, &mut log);
        assert_eq!(
            log,
            [vec![(5, Flags::REQUEST_ACK)]],
            "beyond cwnd, new data"
        );
        assert_eq!(tx.retransmits, 0);
        // Unanswered: another probe at twice the timeout, still before the RTO.
        let pto2 = tx
            .loss_deadline(pto, &c, Duration::from_secs(5), None)
            .unwrap();
        assert_eq!(tx.loss_mode, LossTimer::Pto);
        assert_eq!(pto2 - pto, Duration::from_millis(40));
    }

    #[test]
    fn idle_restart_after_an_rto_of_silence() {
        let c = cfg();
        let mut tx = Tx::new(&c);
        tx.rwind = 255;
        tx.rtt.sample(Duration::from_millis(10));
        tx.queue_data(Bytes::from(vec![0u8; 1412 * 40]), true);
        let mut t = Instant::ZERO;
        let mut serial = 0;
        // Grow the window in slow start, acknowledging everything each round.
        for _ in 0..3 {
            send(&mut tx, t, &c, &mut serial, &mut Vec::new());
            t += Duration::from_millis(10);
            let hard = tx.transmitted.0 + 1;
            tx.on_ack(t, &ack(hard, vec![], 255), &c).unwrap();
        }
        assert_eq!(tx.cwnd(), 32);
        // The application pauses for longer than an RTO, then sends again.
        t += tx.rtt.rto(&c);
        tx.queue_data(Bytes::from(vec![0u8; 1412 * 40]), true);
        let n = send(&mut tx, t, &c, &mut serial, &mut Vec::new());
        assert_eq!(n, 4, "restarted from the initial window");
        assert_eq!(tx.cc.ssthresh(), 128);
    }

    #[test]
    fn cached_ssthresh_seeds_the_controller() {
        let c = cfg();
        let mut tx = Tx::new(&c);
        tx.seed(
            &c,
            Some(6),
            Some((Duration::from_millis(30), Duration::from_millis(5))),
            None,
        );
        assert_eq!(tx.cc.ssthresh(), 6);
        assert_eq!(tx.rtt.srtt, Some(Duration::from_millis(30)));
        assert_eq!(tx.rtt.samples, 0);
        assert_eq!(
            tx.rto(&c),
            Duration::from_millis(200),
            "50 ms floored at min_rto"
        );
        // Seeding happens once.
        tx.seed(&c, Some(50), None, None);
        assert_eq!(tx.cc.ssthresh(), 6);
    }

    #[test]
    fn path_limit_recuts_unsent_packets_only() {
        let c = cfg();
        let mut tx = Tx::new(&c);
        tx.queue_data(Bytes::from(vec![1u8; 1412 * 6 + 10]), false);
        assert_eq!(tx.queue.len(), 7);
        send_quiet(&mut tx, Instant::ZERO, &c);
        assert_eq!(tx.transmitted, Seq(4));
        // A 1200-byte path: 1172 data bytes per packet from now on.
        tx.limit_payload(1200);
        assert_eq!(tx.max_payload, 1172);
        let sizes: Vec<usize> = tx.queue.iter().map(|b| b.data.len()).collect();
        assert_eq!(sizes, [1412, 1412, 1412, 1412, 1172, 1172, 490]);
        assert!(tx.queue.back().unwrap().last);
        assert_eq!(tx.top, Seq(7));
        let total: usize = sizes.iter().sum();
        assert_eq!(total, 1412 * 6 + 10);
        // More data after an unfinished phase goes into smaller packets.
        let mut tx = Tx::new(&c);
        tx.queue_data(Bytes::from(vec![1u8; 2000]), true);
        tx.limit_payload(1000);
        assert_eq!(tx.max_payload, 972);
        tx.queue_data(Bytes::from(vec![1u8; 1000]), false);
        let sizes: Vec<usize> = tx.queue.iter().map(|b| b.data.len()).collect();
        assert_eq!(sizes, [972, 972, 972, 84]);
    }

    #[test]
    fn window_of_255() {
        let c = EndpointConfig {
            tx_window_max: 255,
            tx_queue_max: 1024,
            ..cfg()
        };
        let mut tx = Tx::new(&c);
        tx.queue_data(Bytes::from(vec![0u8; 1412 * 1000]), false);
        tx.rwind = 255;
        let mut t = Instant::ZERO;
        let mut serial = 0;
        // Slow start: 4, 8, ..., 128, then the cap.
        for _ in 0..6 {
            send(&mut tx, t, &c, &mut serial, &mut Vec::new());
            t += Duration::from_millis(10);
            let hard = tx.transmitted.0 + 1;
            tx.on_ack(t, &ack(hard, vec![], 255), &c).unwrap();
        }
        assert_eq!(tx.cwnd(), 255);
        assert_eq!(send(&mut tx, t, &c, &mut serial, &mut Vec::new()), 255);
        // An ACK describing all 255 outstanding packets is accepted.
        let base = tx.bottom.0 + 1;
        let out = tx.on_ack(t, &ack(base, vec![1; 255], 255), &c).unwrap();
        assert!(!out.progress);
        assert_eq!(tx.n_acked, 255);
    }
}
