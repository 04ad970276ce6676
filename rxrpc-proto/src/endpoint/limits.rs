//! Resource bounds: admission checks for new calls and connections, reaping of idle
//! connections under pressure, and compaction of the timer heap.
//!
//! Layer: the engine. Every table the network can grow is bounded by a setting of
//! [`EndpointConfig`](crate::EndpointConfig) (see the crate documentation, "Resource bounds"):
//! incoming connections in total, per peer address and the number of peers. A DATA packet
//! that would exceed one gets BUSY (the client retries later, as with an empty backlog) after
//! connections idle for `pressure_conn_idle` have been reaped. Calls are bounded per socket and
//! per endpoint, and client connections in total; those limits fail the API call instead.
//!
//! The network cannot grow anything else without bound: a call buffers at most its receive
//! window of packets, its transmit queue is bounded by `tx_queue_max` (backpressure), and an
//! incoming call needs a charged call from the application.

use core::time::Duration;
use std::cmp::Reverse;
use std::net::SocketAddr;

use super::{CallError, Endpoint, TimerTarget};
use crate::arena::Key;
use crate::time::Instant;

/// Pressure sweeps run at most this often (each walks every connection).
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

impl Endpoint {
    /// Whether one more call (with a user ID) may be created on `socket`.
    pub(super) fn admit_call(&self, socket: Key) -> Result<(), CallError> {
        if self.calls.len() >= self.config.max_calls {
            return Err(CallError::Limit("calls per endpoint"));
        }
        let on_socket = self.sockets.get(socket).map_or(0, |s| s.user_ids.len());
        if on_socket >= self.config.max_calls_per_socket {
            return Err(CallError::Limit("calls per socket"));
        }
        Ok(())
    }

    /// Whether a new client call may go ahead as far as client connections are concerned:
    /// refused while `max_client_conns` exist and a pressure sweep frees none.
    pub(super) fn admit_client_call(&mut self, now: Instant) -> Result<(), CallError> {
        if self.client_conns.len() < self.config.max_client_conns {
            return Ok(());
        }
        self.pressure_sweep(now);
        if self.client_conns.len() < self.config.max_client_conns {
            return Ok(());
        }
        Err(CallError::Limit("client connections"))
    }

    /// Whether a new incoming connection from `from` may be created. At a limit, idle
    /// connections are reaped first; if that does not help the caller answers BUSY.
    pub(super) fn admit_incoming_conn(&mut self, now: Instant, from: SocketAddr) -> bool {
        if !self.incoming_over_limit(from) {
            return true;
        }
        self.pressure_sweep(now);
        !self.incoming_over_limit(from)
    }

    fn incoming_over_limit(&self, from: SocketAddr) -> bool {
        let c = &self.config;
        let per_peer = self.peers.get(&from).map(|p| p.stats.conns as usize);
        self.service_conns.len() >= c.max_incoming_conns
            || per_peer.is_some_and(|n| n >= c.max_incoming_conns_per_peer)
            || (per_peer.is_none() && self.peers.len() >= c.max_incoming_peers)
    }

    /// Reap every connection (either side) that has had no call for `pressure_conn_idle` and
    /// owes no final ACK. At most one sweep per [`SWEEP_INTERVAL`]. Returns how many went.
    fn pressure_sweep(&mut self, now: Instant) -> usize {
        if self
            .last_pressure_sweep
            .is_some_and(|t| now < t + SWEEP_INTERVAL)
        {
            return 0;
        }
        self.last_pressure_sweep = Some(now);
        let min_idle = self.config.pressure_conn_idle;
        let idle: Vec<Key> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                c.active_calls() == 0
                    && c.next_final_ack().is_none()
                    && c.idle_since.is_some_and(|t| t + min_idle <= now)
            })
            .map(|(k, _)| k)
            .collect();
        for &ck in &idle {
            self.reap_conn(ck);
        }
        if !idle.is_empty() {
            tracing::debug!(
                reaped = idle.len(),
                "rxrpc: connections reaped under pressure"
            );
            self.compact();
        }
        idle.len()
    }

    /// Drop timer-heap entries of calls and connections that no longer exist, and empty
    /// waiting queues, once the heap is much larger than what is alive (reaping early leaves
    /// the reaped connections' deadlines behind).
    pub(super) fn compact(&mut self) {
        self.waiting.retain(|_, q| !q.is_empty());
        self.compact_timers();
    }

    /// Add a timer-heap entry. Entries are never removed when a deadline moves or its call,
    /// connection or peer goes away (a binary heap cannot remove from the middle); they are
    /// skipped when they fire. So that finished calls' entries (a call's request timeout is
    /// 20 s away when it completes in 100 µs) do not pile up at the call rate, the heap is
    /// compacted whenever it holds more than twice the live objects plus 1024: amortised O(1)
    /// per push, and the heap stays about as small as what is alive.
    pub(super) fn push_timer(&mut self, t: Instant, target: TimerTarget) {
        self.timers.push(Reverse((t, target)));
        self.compact_timers();
    }

    /// Keep only the entry each live call, connection and peer is waiting for, if the heap
    /// has grown past the compaction threshold.
    fn compact_timers(&mut self) {
        let alive = self.calls.len() + self.conns.len() + self.peers.len();
        if self.timers.len() <= 2 * alive + 1024 {
            return;
        }
        let (calls, conns, peers) = (&self.calls, &self.conns, &self.peers);
        self.timers.retain(|&Reverse((t, target))| match target {
            TimerTarget::Call(k) => calls.get(k).is_some_and(|c| c.scheduled == Some(t)),
            TimerTarget::Conn(k) => conns.get(k).is_some_and(|c| c.scheduled == Some(t)),
            TimerTarget::Peer(a) => peers.get(&a).is_some_and(|p| p.keepalive_at == Some(t)),
        });
    }
}
