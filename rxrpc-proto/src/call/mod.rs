//! The call object: one RPC, its two data directions, its timers and its holders.
//!
//! Layer: the call engine, driven by the endpoint. A call never owns its socket or connection:
//! it names them by key. Who keeps a call alive is explicit in [`Holders`]; the endpoint frees
//! the call the moment the last holder lets go (the design brief's rule), so there is no dead
//! state and no reaper timer.

pub mod cc;
mod rx;
pub mod state;
mod tx;

use core::time::Duration;
use std::net::SocketAddr;

pub(crate) use rx::Rx;
pub(crate) use tx::{LossFired, Tx, TxOut};

use crate::arena::Key;
use crate::config::EndpointConfig;
use crate::time::{Instant, earliest};
use crate::wire::{CallNumber, Channel, ServiceId};
use state::CallState;

/// Which side of the call we are.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Side {
    /// We made the call.
    Client,
    /// We serve the call.
    Service,
}

/// The things that keep a call alive. The call is freed when none is set.
///
/// These mirror the kernel's reference holders after the design brief: the socket's user-ID
/// map, the I/O side (attached to a connection channel or waiting for one), the socket's
/// receive queue, and queued work ("attention").
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct Holders {
    /// The owning socket's user-ID map (or its charge backlog).
    pub user_id: bool,
    /// The I/O side: on a connection channel, or waiting for one.
    pub io: bool,
    /// The owning socket's receive queue.
    pub recv_queue: bool,
    /// The endpoint's attention (work) queue.
    pub attention: bool,
}

impl Holders {
    /// No holder is left.
    pub fn is_empty(&self) -> bool {
        !(self.user_id || self.io || self.recv_queue || self.attention)
    }
    /// How many holders there are.
    pub fn count(&self) -> u32 {
        u32::from(self.user_id)
            + u32::from(self.io)
            + u32::from(self.recv_queue)
            + u32::from(self.attention)
    }
}

/// Per-call deadlines. `handle_timeout` checks each; a spurious wake-up does nothing.
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct Timers {
    /// Retransmission timeout.
    pub(crate) rto: Option<Instant>,
    /// Reorder timer: a NACKed packet becomes old enough to be declared lost.
    pub(crate) reorder: Option<Instant>,
    /// Delayed ACK.
    pub(crate) delayed_ack: Option<Instant>,
    /// Keepalive PING while waiting on the peer.
    pub(crate) keepalive: Option<Instant>,
    /// Abort if nothing heard by then.
    pub(crate) expect_rx_by: Option<Instant>,
    /// Service: abort if the request stalls.
    pub(crate) expect_req_by: Option<Instant>,
    /// Hard deadline of the whole call.
    pub(crate) hard: Option<Instant>,
}

impl Timers {
    pub(crate) fn next(&self) -> Option<Instant> {
        [
            self.delayed_ack,
            self.keepalive,
            self.expect_rx_by,
            self.expect_req_by,
            self.hard,
            self.reorder,
        ]
        .into_iter()
        .fold(self.rto, earliest)
    }
    pub(crate) fn clear(&mut self) {
        *self = Timers::default();
    }
}

/// One RPC.
#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) side: Side,
    pub(crate) state: CallState,
    pub(crate) socket: Key,
    pub(crate) user_id: u64,
    pub(crate) peer: SocketAddr,
    pub(crate) service_id: ServiceId,
    pub(crate) conn: Option<Key>,
    pub(crate) channel: Channel,
    pub(crate) call_number: CallNumber,
    /// A packet of the call has been put on the wire (or, for a service call, received), so
    /// the peer knows of it and an abort must be sent.
    pub(crate) exposed: bool,
    pub(crate) holders: Holders,
    pub(crate) tx: Tx,
    pub(crate) rx: Rx,
    pub(crate) timers: Timers,
    /// Idle timeout in force for this call.
    pub(crate) idle_timeout: Duration,
    /// Hard timeout requested for this call.
    pub(crate) hard_timeout: Option<Duration>,
    /// Exclusive connection requested.
    pub(crate) exclusive: bool,
    /// Upgrade requested.
    pub(crate) upgrade: bool,
    /// We have heard from the peer on this call.
    pub(crate) heard_peer: bool,
    /// Highest serial the connection had received when this call last heard its peer.
    pub(crate) seen_serial: u32,
    /// The terminal message (completion) was delivered to the application.
    pub(crate) terminal_delivered: bool,
    /// End of data has been reported to the application.
    pub(crate) rx_end_reported: bool,
    /// Last time we sent a PING asking for an RTT sample.
    pub(crate) last_ping_at: Option<Instant>,
    /// Serial and send time of outstanding PINGs, for RTT samples.
    pub(crate) ping_probe: Option<(u32, Instant)>,
    pub(crate) created_at: Instant,
    /// Deadline of this call's entry in the endpoint's timer heap.
    pub(crate) scheduled: Option<Instant>,
    /// When we last heard the peer on this call.
    pub(crate) heard_at: Instant,
    /// When the transmit side last made progress (hard-ACK advanced, or nothing outstanding).
    pub(crate) tx_progress_at: Instant,
}

impl Call {
    pub(crate) fn new(
        side: Side,
        socket: Key,
        user_id: u64,
        peer: SocketAddr,
        service_id: ServiceId,
        config: &EndpointConfig,
        now: Instant,
    ) -> Self {
        Call {
            side,
            state: match side {
                Side::Client => CallState::ClientAwaitConn,
                Side::Service => CallState::ServerPrealloc,
            },
            socket,
            user_id,
            peer,
            service_id,
            conn: None,
            channel: Channel(0),
            call_number: CallNumber(0),
            exposed: false,
            holders: Holders {
                user_id: true,
                ..Holders::default()
            },
            tx: Tx::new(config),
            rx: Rx::new(config),
            timers: Timers::default(),
            idle_timeout: config.call_idle_timeout,
            hard_timeout: None,
            exclusive: false,
            upgrade: false,
            heard_peer: false,
            seen_serial: 0,
            terminal_delivered: false,
            rx_end_reported: false,
            last_ping_at: None,
            ping_probe: None,
            created_at: now,
            scheduled: None,
            heard_at: now,
            tx_progress_at: now,
        }
    }

    /// Whether the call is complete.
    pub(crate) fn is_complete(&self) -> bool {
        self.state.is_complete()
    }

    /// Whether the application can queue data in the current state.
    pub(crate) fn may_send(&self) -> bool {
        match self.side {
            Side::Client => matches!(
                self.state,
                CallState::ClientAwaitConn
                    | CallState::ClientPreSend
                    | CallState::ClientSendRequest
            ),
            Side::Service => {
                matches!(
                    self.state,
                    CallState::ServerAckRequest | CallState::ServerSendReply
                )
            }
        }
    }

    /// Whether the application could read something or learn something now.
    pub(crate) fn is_readable(&self) -> bool {
        if self.terminal_delivered {
            return false;
        }
        let failed = matches!(self.state, CallState::Complete(c) if !c.is_success());
        failed
            || self.rx.has_data()
            || (self.rx.at_end() && (!self.rx_end_reported || self.is_complete()))
    }

    /// Reset the "expect to hear" deadline after hearing the peer.
    ///
    /// While our own DATA is outstanding, hearing the peer (a PING, a PING_RESPONSE) does not
    /// push the deadline past `idle_timeout` after the transmit side last made progress: a
    /// path that passes small packets but drops every DATA packet (an MTU black hole) must
    /// still end the call instead of keeping it alive with pings for ever.
    pub(crate) fn heard(&mut self, now: Instant, conn_hi_serial: u32) {
        self.heard_peer = true;
        self.heard_at = now;
        self.seen_serial = conn_hi_serial;
        if !self.is_complete() {
            let mut by = now + self.idle_timeout;
            if self.tx.outstanding() {
                by = by.min(self.tx_progress_at + self.idle_timeout);
            }
            self.timers.expect_rx_by = Some(by);
            self.timers.keepalive = Some(now + self.idle_timeout / 6);
        }
    }

    /// Start the timers that run from the first transmission.
    pub(crate) fn start_timers(&mut self, now: Instant) {
        if self.timers.expect_rx_by.is_none() {
            self.timers.expect_rx_by = Some(now + self.idle_timeout);
            self.timers.keepalive = Some(now + self.idle_timeout / 6);
        }
        if let (Some(h), None) = (self.hard_timeout, self.timers.hard) {
            self.timers.hard = Some(self.created_at + h);
        }
    }
}
