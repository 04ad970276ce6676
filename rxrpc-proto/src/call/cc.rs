//! Congestion control: the interface between a call's transmit side and a pluggable
//! congestion controller, and the default NewReno-style controller.
//!
//! Layer: the call engine. The transmit side (`Tx`) owns loss detection (NACKs
//! with a reordering window, the tail-loss probe, the retransmission timeout) and the
//! recovery episodes; the controller only turns those events into a congestion window. Windows
//! are counted in packets (one DATA packet carries at most 1412 bytes), as in every Rx
//! implementation. A controller is built per call by the [`CongestionFactory`] in
//! [`EndpointConfig::congestion`](crate::EndpointConfig::congestion), seeded with the slow-start
//! threshold the previous call to the same peer ended with.

use core::fmt::Debug;
use core::time::Duration;

use crate::time::Instant;

/// Congestion window every call starts with, in packets (`RXRPC_MIN_CWND`).
pub const INITIAL_CWND: u32 = 4;

/// What a new controller starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CongestionInit {
    /// Initial congestion window, in packets.
    pub initial_cwnd: u32,
    /// The largest window the call may use (the transmit window cap), in packets.
    pub max_window: u32,
    /// The slow-start threshold the previous call to this peer ended with, if any.
    pub cached_ssthresh: Option<u32>,
}

impl CongestionInit {
    /// A start with `initial_cwnd` and `max_window` and no cached threshold.
    pub fn new(initial_cwnd: u32, max_window: u32) -> Self {
        CongestionInit {
            initial_cwnd,
            max_window,
            cached_ssthresh: None,
        }
    }
}

/// An ACK that acknowledged new data (hard or soft), after the transmit side processed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AckSample {
    /// When the ACK arrived.
    pub now: Instant,
    /// Packets newly acknowledged by it (hard- or soft-ACKed for the first time).
    pub newly_acked: u32,
    /// Packets still in flight (sent, neither acknowledged nor declared lost).
    pub in_flight: u32,
    /// The call's smoothed round-trip time, if measured.
    pub srtt: Option<Duration>,
    /// The round-trip sample this ACK gave, if any.
    pub rtt: Option<Duration>,
    /// A loss recovery episode is in progress (it ends when everything that was in flight
    /// when it began has been hard-ACKed).
    pub in_recovery: bool,
}

/// A congestion controller for one direction of one call.
///
/// The transmit side calls these methods and never sends more than
/// `min(cwnd, peer's receive window, transmit window cap)` packets in flight (a tail-loss
/// probe may exceed it by one).
pub trait CongestionController: Debug + Send {
    /// New data was acknowledged.
    fn on_ack(&mut self, ack: &AckSample);
    /// Loss was detected (a NACKed packet outlived the reordering window). Called once per
    /// recovery episode, when it begins; `in_flight` counts what is still in flight once the
    /// lost packets were taken out.
    fn on_loss(&mut self, now: Instant, in_flight: u32);
    /// The retransmission timer expired with data in flight: everything in flight is presumed
    /// lost.
    fn on_rto(&mut self, now: Instant, in_flight: u32);
    /// The call sent nothing for at least one retransmission timeout and has data to send
    /// again: the window learned before the pause no longer reflects the path (RFC 5681
    /// §4.1).
    fn on_idle_restart(&mut self, now: Instant, idle: Duration);
    /// The congestion window, in packets (at least 1).
    fn cwnd(&self) -> u32;
    /// The slow-start threshold, in packets. Remembered per peer when the call ends.
    fn ssthresh(&self) -> u32;
}

/// Builds a controller for each call. Set in
/// [`EndpointConfig::congestion`](crate::EndpointConfig::congestion).
pub trait CongestionFactory: Debug + Send + Sync {
    /// A controller for a new call.
    fn build(&self, init: &CongestionInit) -> Box<dyn CongestionController>;
    /// A short name for logs and snapshots.
    fn name(&self) -> &'static str;
}

/// The default: RFC 5681 slow start and congestion avoidance in packets, halving once per
/// recovery episode (NewReno), a window of 1 after a retransmission timeout, and a restart
/// from the initial window after idleness. Growth stops while a recovery episode is in
/// progress.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NewReno;

impl CongestionFactory for NewReno {
    fn build(&self, init: &CongestionInit) -> Box<dyn CongestionController> {
        Box::new(NewRenoController::new(init))
    }
    fn name(&self) -> &'static str {
        "newreno"
    }
}

/// State of the [`NewReno`] controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRenoController {
    cwnd: u32,
    ssthresh: u32,
    /// Packets acknowledged towards the next congestion-avoidance increment.
    acc: u32,
    max: u32,
    initial: u32,
}

impl NewRenoController {
    /// A controller starting from `init`.
    pub fn new(init: &CongestionInit) -> Self {
        let max = init.max_window.max(1);
        NewRenoController {
            cwnd: init.initial_cwnd.clamp(1, max),
            ssthresh: init.cached_ssthresh.unwrap_or(max).clamp(2, max.max(2)),
            acc: 0,
            max,
            initial: init.initial_cwnd.clamp(1, max),
        }
    }
}

impl CongestionController for NewRenoController {
    fn on_ack(&mut self, ack: &AckSample) {
        if ack.newly_acked == 0 || ack.in_recovery {
            return;
        }
        if self.cwnd < self.ssthresh {
            self.cwnd = self.cwnd.saturating_add(ack.newly_acked).min(self.max);
        } else {
            self.acc = self.acc.saturating_add(ack.newly_acked);
            if self.acc >= self.cwnd {
                self.acc = 0;
                self.cwnd = (self.cwnd + 1).min(self.max);
            }
        }
    }

    fn on_loss(&mut self, _now: Instant, in_flight: u32) {
        self.ssthresh = (in_flight.max(2) / 2).max(2);
        self.cwnd = self.ssthresh.min(self.max);
    }

    fn on_rto(&mut self, _now: Instant, in_flight: u32) {
        self.ssthresh = (in_flight / 2).max(2);
        self.cwnd = 1;
    }

    fn on_idle_restart(&mut self, _now: Instant, _idle: Duration) {
        // RFC 5681 §4.1 restart window; keep what was learned as the threshold.
        self.ssthresh = self.ssthresh.max(self.cwnd - self.cwnd / 4).min(self.max);
        self.cwnd = self.cwnd.min(self.initial);
        self.acc = 0;
    }

    fn cwnd(&self) -> u32 {
        self.cwnd.max(1)
    }

    fn ssthresh(&self) -> u32 {
        self.ssthresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(n: u32) -> AckSample {
        AckSample {
            now: Instant::ZERO,
            newly_acked: n,
            in_flight: 0,
            srtt: None,
            rtt: None,
            in_recovery: false,
        }
    }

    #[test]
    fn slow_start_then_avoidance() {
        let mut c = NewReno.build(&CongestionInit {
            cached_ssthresh: Some(8),
            ..CongestionInit::new(4, 128)
        });
        c.on_ack(&ack(3));
        assert_eq!(c.cwnd(), 7);
        c.on_ack(&ack(3));
        assert_eq!(c.cwnd(), 10, "slow start overshoots by at most one ACK");
        // Congestion avoidance: one packet per window of ACKs.
        for _ in 0..9 {
            c.on_ack(&ack(1));
        }
        assert_eq!(c.cwnd(), 10);
        c.on_ack(&ack(1));
        assert_eq!(c.cwnd(), 11);
    }

    #[test]
    fn loss_halves_and_rto_collapses() {
        let mut c = NewReno.build(&CongestionInit::new(4, 128));
        c.on_loss(Instant::ZERO, 40);
        assert_eq!((c.cwnd(), c.ssthresh()), (20, 20));
        // No growth during recovery.
        c.on_ack(&AckSample {
            in_recovery: true,
            ..ack(5)
        });
        assert_eq!(c.cwnd(), 20);
        c.on_rto(Instant::ZERO, 20);
        assert_eq!((c.cwnd(), c.ssthresh()), (1, 10));
    }

    #[test]
    fn idle_restart_keeps_threshold() {
        let mut c = NewReno.build(&CongestionInit::new(4, 255));
        c.on_ack(&ack(100));
        assert_eq!(c.cwnd(), 104);
        c.on_idle_restart(Instant::ZERO, Duration::from_secs(1));
        assert_eq!(c.cwnd(), 4);
        assert_eq!(c.ssthresh(), 255, "the threshold never drops on a restart");
        let mut c = NewReno.build(&CongestionInit {
            cached_ssthresh: Some(30),
            ..CongestionInit::new(4, 255)
        });
        c.on_ack(&ack(100));
        c.on_idle_restart(Instant::ZERO, Duration::from_secs(1));
        assert_eq!((c.cwnd(), c.ssthresh()), (4, 78));
    }

    #[test]
    fn cached_threshold_and_window_cap() {
        let c = NewReno.build(&CongestionInit {
            cached_ssthresh: Some(1000),
            ..CongestionInit::new(4, 255)
        });
        assert_eq!(c.ssthresh(), 255);
        let mut c = NewReno.build(&CongestionInit::new(4, 255));
        for _ in 0..100 {
            c.on_ack(&ack(10));
        }
        assert_eq!(c.cwnd(), 255);
    }
}
