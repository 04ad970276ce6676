//! Configuration of an endpoint and parameters of a client call.
//!
//! Layer: the engine's inputs. Defaults follow the Linux kernel's tunables where they are
//! sensible and the intended semantics where the kernel has a quirk
//! (`reference-linux-rxrpc.md` §3.10: timeouts are real durations here, not jiffies read as
//! milliseconds).

use core::time::Duration;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::call::cc::{CongestionFactory, NewReno};
use crate::security::ClientSecurityRef;
use crate::wire::{MAX_JUMBO_SUBPACKETS, SecurityIndex, ServiceId, jumbo_datagram_len};

/// How our ACK trailers announce jumbo support (the trailer's last word, `jumbo_max`). The two
/// conventions in use cannot be combined in one value: Linux reads 0 as "I do path-MTU
/// discovery" and then probes before sending jumbo packets; OpenAFS reads a count above 1 as
/// "send me jumbo packets of up to this many subpackets" and anything else as "no jumbo".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum JumboAdvertise {
    /// Mirror the peer: 0 until the peer's own trailer shows a count (OpenAFS), then a
    /// count of at most 4 (OpenAFS's own default).
    #[default]
    Auto,
    /// Always 0, with the largest datagram we receive as `maxMTU` (the Linux convention).
    Pmtud,
    /// Always this count (clamped to 2..=46), with a `maxMTU` that fits it (the OpenAFS
    /// convention).
    Count(u32),
}

/// Settings of one [`Endpoint`](crate::Endpoint). Cheap to clone.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EndpointConfig {
    /// Seed of the identifier generator (epoch, first connection ID). Give each endpoint a
    /// different random seed in production; tests use fixed seeds.
    pub rng_seed: u64,
    /// The string sent in VERSION replies (at most 64 bytes are used).
    pub version_string: String,
    /// Receive window in packets (1..=255).
    pub rx_window: u32,
    /// Largest transmit window in packets (1..=255), whatever the peer advertises. The
    /// default is 128, like Linux; 255, the most one ACK can describe, works too.
    pub tx_window_max: u32,
    /// Transmit window assumed before the peer's first ACK trailer.
    pub tx_window_initial: u32,
    /// How many packets a call may queue for transmission beyond what is hard-ACKed before
    /// `send` stops accepting data (backpressure).
    pub tx_queue_max: u32,
    /// Retransmission timeout before any RTT sample.
    pub initial_rto: Duration,
    /// Smallest retransmission timeout.
    pub min_rto: Duration,
    /// Largest retransmission timeout (after backoff).
    pub max_rto: Duration,
    /// A call that hears nothing from its peer for this long fails (`RX_CALL_TIMEOUT`, or
    /// `RX_CALL_DEAD` if the peer is alive on the connection).
    pub call_idle_timeout: Duration,
    /// A service call whose request stops arriving for this long is aborted.
    pub request_idle_timeout: Duration,
    /// The longest a received DATA packet waits for an acknowledgement before SRTT is known.
    pub max_ack_delay: Duration,
    /// Whether and how long a service call holds back the ACK of a complete request, hoping
    /// to send the first reply packet first: reply DATA acknowledges the whole request, so a
    /// small RPC then takes three datagrams instead of four. See [`RequestAckHold`].
    pub request_ack_hold: RequestAckHold,
    /// Delay before a finished client call's final ACK is sent by its connection (a follow-on
    /// call on the channel acknowledges implicitly and cancels it).
    pub final_ack_delay: Duration,
    /// An idle client connection is discarded after this long.
    pub client_conn_idle: Duration,
    /// An idle service connection is discarded after this long.
    pub service_conn_idle: Duration,
    /// Largest backlog of charged (preallocated) incoming calls per listening socket.
    pub max_backlog: usize,
    /// Client connections per bundle (each has 4 channels).
    pub max_conns_per_bundle: usize,
    /// Answer rxdebug DEBUG requests (GETSTATS, GETCONN, GETALLCONN, RXSTATS, GETPEER).
    pub debug_responder: bool,
    /// DATA packets a secured service connection holds while it waits for the client's
    /// RESPONSE; more are dropped (the client retransmits them).
    pub unsecured_backlog: usize,
    /// DATA packets all service connections together hold while waiting for RESPONSEs.
    pub unsecured_backlog_total: usize,
    /// A service connection re-sends its CHALLENGE no more often than this while DATA keeps
    /// arriving without a RESPONSE.
    pub challenge_interval: Duration,
    // ----- resource bounds (see the crate documentation, "Resource bounds") -----
    /// Most calls alive on the endpoint at once (client calls and charged or incoming
    /// service calls). Beyond it `begin_call` and `charge_accept` fail with
    /// [`CallError::Limit`](crate::CallError::Limit). Default 65,536.
    pub max_calls: usize,
    /// Most user call IDs (calls and charges) on one socket. Default 16,384.
    pub max_calls_per_socket: usize,
    /// Most client connections alive. While this many exist and none can be reaped,
    /// `begin_call` fails with [`CallError::Limit`](crate::CallError::Limit). Default 16,384.
    pub max_client_conns: usize,
    /// Most incoming (service) connections alive. A DATA packet that would open one more gets
    /// BUSY. Default 16,384.
    pub max_incoming_conns: usize,
    /// Most connections (either direction) with one peer address before a new incoming
    /// connection from that address gets BUSY. Default 1,024.
    pub max_incoming_conns_per_peer: usize,
    /// Most peers (addresses with connections) before a new incoming connection from an
    /// address not yet known gets BUSY. Default 4,096.
    pub max_incoming_peers: usize,
    /// When a connection limit is reached, connections idle (no call) for at least this long
    /// are reaped at once instead of after `client_conn_idle` / `service_conn_idle`, at most
    /// one sweep a second. Default 30 s.
    pub pressure_conn_idle: Duration,
    /// Builds each call's congestion controller ([`NewReno`] by default).
    pub congestion: Arc<dyn CongestionFactory>,
    /// Send a tail-loss probe (RFC 8985 §7) when ACKs stop before the retransmission timeout.
    pub tail_loss_probe: bool,
    /// Send jumbo DATA packets (several full packets in one datagram) when the peer allows
    /// them, probe the path MTU of peers that do path-MTU discovery, and announce that we
    /// accept them. Off: one packet per datagram and a trailer saying "no jumbo".
    pub jumbo: bool,
    /// Most subpackets in a jumbo packet we send (1..=46).
    pub max_jumbo_subpackets: u32,
    /// How our ACK trailers announce jumbo support.
    pub jumbo_advertise: JumboAdvertise,
    /// Largest datagram (UDP payload, Rx header included) path-MTU discovery tries: the
    /// local interface MTU minus the IP and UDP headers, at most 65160 (a jumbo packet of 46
    /// subpackets).
    pub pmtud_max: usize,
    /// Send a VERSION keepalive to a peer with live connections when nothing was sent to it
    /// for this long (keeps NAT mappings open). Zero disables.
    pub peer_keepalive: Duration,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            rng_seed: 0x005e_ed0f_7278_7270,
            version_string: concat!("rxrpc-rs ", env!("CARGO_PKG_VERSION")).to_string(),
            rx_window: 255,
            tx_window_max: 128,
            tx_window_initial: 16,
            tx_queue_max: 256,
            initial_rto: Duration::from_secs(1),
            min_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(60),
            call_idle_timeout: Duration::from_secs(20),
            request_idle_timeout: Duration::from_secs(20),
            max_ack_delay: Duration::from_millis(100),
            request_ack_hold: RequestAckHold::Concurrent(Duration::from_millis(1)),
            final_ack_delay: Duration::from_millis(2),
            client_conn_idle: Duration::from_secs(120),
            service_conn_idle: Duration::from_secs(600),
            max_backlog: 32,
            max_conns_per_bundle: 4,
            debug_responder: true,
            unsecured_backlog: 32,
            unsecured_backlog_total: 4096,
            challenge_interval: Duration::from_millis(250),
            max_calls: 65_536,
            max_calls_per_socket: 16_384,
            max_client_conns: 16_384,
            max_incoming_conns: 16_384,
            max_incoming_conns_per_peer: 1_024,
            max_incoming_peers: 4_096,
            pressure_conn_idle: Duration::from_secs(30),
            congestion: Arc::new(NewReno),
            tail_loss_probe: true,
            jumbo: true,
            max_jumbo_subpackets: MAX_JUMBO_SUBPACKETS as u32,
            jumbo_advertise: JumboAdvertise::Auto,
            pmtud_max: jumbo_datagram_len(MAX_JUMBO_SUBPACKETS),
            peer_keepalive: Duration::from_secs(20),
        }
    }
}

/// Parameters of a new client call.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CallParams {
    /// The server's UDP address.
    pub peer: SocketAddr,
    /// The service to call.
    pub service_id: ServiceId,
    /// Security index of the call's class (set by [`CallParams::security`]; rxnull is 0).
    pub security_index: SecurityIndex,
    /// The caller's credentials for a security class; `None` is rxnull.
    pub security: Option<ClientSecurityRef>,
    /// Use a connection of its own that is never shared or reused.
    pub exclusive: bool,
    /// Ask the server to upgrade the service (AuriStor convention, `userStatus` 1).
    pub upgrade: bool,
    /// Exact total length of the request, if known; sending more or fewer bytes is an error.
    pub tx_total_len: Option<u64>,
    /// Hard limit on the whole call's duration.
    pub hard_timeout: Option<Duration>,
    /// Override of [`EndpointConfig::call_idle_timeout`] for this call.
    pub idle_timeout: Option<Duration>,
}

impl CallParams {
    /// A plain rxnull call to `service_id` at `peer`.
    pub fn new(peer: SocketAddr, service_id: ServiceId) -> Self {
        CallParams {
            peer,
            service_id,
            security_index: SecurityIndex::NULL,
            security: None,
            exclusive: false,
            upgrade: false,
            tx_total_len: None,
            hard_timeout: None,
            idle_timeout: None,
        }
    }
    /// Builder: make the call with these credentials (rxkad, rxgk, ...). Calls share a
    /// connection only if they use the same credentials object.
    pub fn security(mut self, security: ClientSecurityRef) -> Self {
        self.security_index = security.security_index();
        self.security = Some(security);
        self
    }
    /// Builder: use a connection of its own.
    pub fn exclusive(mut self, on: bool) -> Self {
        self.exclusive = on;
        self
    }
    /// Builder: probe for a service upgrade.
    pub fn upgrade(mut self, on: bool) -> Self {
        self.upgrade = on;
        self
    }
    /// Builder: announce the exact request length.
    pub fn tx_total_len(mut self, len: u64) -> Self {
        self.tx_total_len = Some(len);
        self
    }
    /// Builder: hard timeout of the whole call.
    pub fn hard_timeout(mut self, d: Duration) -> Self {
        self.hard_timeout = Some(d);
        self
    }
    /// Builder: idle timeout of the call.
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.idle_timeout = Some(d);
        self
    }
}

/// When a service call holds back the ACK of a complete request ([`EndpointConfig::request_ack_hold`]).
///
/// A held ACK is sent when the reply is not queued within the hold, as a DELAY ACK (no peer
/// takes it as an RTT sample); an ACK the request's last packet asked for (`REQUEST_ACK`) is
/// held too. Peers time their retransmissions from at least 200 ms (OpenAFS, Linux; this
/// crate's tail-loss probe allows `max_ack_delay` for the peer's ACK), so holds of a few
/// milliseconds cost nothing on the wire.
///
/// Measured on the 2-vCPU virtual machine of `bench/results/` (`docs/performance.md`): with 8
/// concurrent callers, holding 1 ms raised the rate of 4-byte RPCs by 5-25 % in interleaved
/// runs (noisy), but an unconditional hold slowed a lone caller from about 8.5 k to 5.8 k
/// calls/s: the early ACK wakes the idle client before the reply arrives, and waking a halted
/// vCPU is most of a lone call's round trip (with the client busy-polling the hold is neutral
/// for a lone caller). Hence the default: hold only while the connection carries other
/// calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestAckHold {
    /// Never hold: a requested ACK goes out at once, as Linux does.
    Never,
    /// Always hold up to this long.
    Always(Duration),
    /// Hold up to this long while the request's connection has other calls in progress; a
    /// lone call's requested ACK goes out at once. The default, with 1 ms.
    Concurrent(Duration),
}

impl RequestAckHold {
    /// The hold for a complete request; `concurrent`: its connection has other calls.
    pub fn hold(self, concurrent: bool) -> Duration {
        match self {
            RequestAckHold::Never => Duration::ZERO,
            RequestAckHold::Always(d) => d,
            RequestAckHold::Concurrent(d) if concurrent => d,
            RequestAckHold::Concurrent(_) => Duration::ZERO,
        }
    }
}
