//! Connections: identity (epoch, connection ID, direction), four call channels with their
//! per-channel memory of the last call, and the per-connection serial counter.
//!
//! Layer: the engine, below the endpoint. A connection outlives its calls: once a call
//! disconnects, its channel keeps the call number and the terminal packet (final ACK or ABORT),
//! so the connection can answer a peer that retransmits for the finished call without the call
//! object (`reference-linux-rxrpc.md` §4.5).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;

use crate::arena::Key;
use crate::call::Side;
use crate::security::{ConnIdent, ConnSecurity, PeerIdentity, SecurityLevel};
use crate::time::Instant;
use crate::wire::{
    AbortCode, CHANNELS, CallNumber, Channel, Cid, ConnId, Epoch, Flags, Header, PacketType,
    SecurityIndex, Seq, Serial, ServiceId,
};

/// The terminal packet a finished call left behind on its channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Terminal {
    /// The call succeeded; its final ACK covered `last_seq`.
    Ack {
        /// Highest DATA seq received on the call.
        last_seq: Seq,
    },
    /// The call ended otherwise; re-send an ABORT with this code.
    Abort(AbortCode),
}

/// What a channel remembers of its last call.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LastCall {
    pub(crate) call_number: CallNumber,
    pub(crate) terminal: Terminal,
}

/// One of the four call channels.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ChannelSlot {
    /// The call now on the channel.
    pub(crate) call: Option<Key>,
    /// Number of the current call, or of the last one.
    pub(crate) call_number: CallNumber,
    /// The last finished call.
    pub(crate) last: Option<LastCall>,
    /// A client call's final ACK waits until then (cancelled by a follow-on call).
    pub(crate) final_ack_at: Option<Instant>,
}

/// Key of a bundle of client connections that may share calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct BundleKey {
    pub(crate) peer: SocketAddr,
    /// A connection serves one service: calls to another service need another bundle.
    pub(crate) service_id: ServiceId,
    pub(crate) security_index: SecurityIndex,
    /// Identity of the client's credentials object (its address): calls with different
    /// credentials never share a connection.
    pub(crate) security_id: usize,
    pub(crate) upgrade: bool,
}

/// A connection.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) side: Side,
    pub(crate) peer: SocketAddr,
    pub(crate) epoch: Epoch,
    pub(crate) cid: ConnId,
    pub(crate) service_id: ServiceId,
    pub(crate) security_index: SecurityIndex,
    pub(crate) channels: [ChannelSlot; CHANNELS],
    /// Last serial we used.
    pub(crate) tx_serial: Serial,
    /// Highest serial received.
    pub(crate) hi_serial: Serial,
    /// When a packet of this connection was last received.
    pub(crate) last_rx_at: Instant,
    /// Never reuse (exclusive, aborted).
    pub(crate) dont_reuse: bool,
    pub(crate) bundle: Option<BundleKey>,
    /// The connection was aborted with this code.
    pub(crate) aborted: Option<AbortCode>,
    /// No call has been on the connection since then.
    pub(crate) idle_since: Option<Instant>,
    /// Client: upgrade probe outstanding; service: the service ID was upgraded.
    pub(crate) upgrade: bool,
    /// Owning socket (service connections; client connections are shared).
    pub(crate) socket: Option<Key>,
    /// Counters.
    pub(crate) packets_sent: u64,
    pub(crate) packets_received: u64,
    /// Deadline currently in the endpoint's timer heap.
    pub(crate) scheduled: Option<Instant>,
    /// Client: the credentials the connection was made with. Held so that the object's
    /// address, part of the bundle key, cannot be reused by other credentials while the
    /// connection lives.
    pub(crate) credentials: Option<crate::security::ClientSecurityRef>,
    /// Security state of the connection's class (`None`: rxnull).
    pub(crate) security: Option<Box<dyn ConnSecurity>>,
    /// Service: who the verified RESPONSE said the client is.
    pub(crate) identity: Option<Arc<PeerIdentity>>,
    /// Service: DATA packets that arrived before the connection was secure, replayed once the
    /// RESPONSE is verified (bounded by [`crate::EndpointConfig::unsecured_backlog`]).
    pub(crate) held: VecDeque<(Header, Bytes)>,
    /// Service: when we last sent a CHALLENGE.
    pub(crate) challenged_at: Option<Instant>,
    /// CHALLENGEs sent / RESPONSEs received (and the reverse on a client connection).
    pub(crate) challenges: u32,
}

impl Conn {
    pub(crate) fn new(
        side: Side,
        peer: SocketAddr,
        epoch: Epoch,
        cid: ConnId,
        service_id: ServiceId,
        security_index: SecurityIndex,
        now: Instant,
    ) -> Self {
        Conn {
            side,
            peer,
            epoch,
            cid,
            service_id,
            security_index,
            channels: [ChannelSlot::default(); CHANNELS],
            tx_serial: Serial(0),
            hi_serial: Serial(0),
            last_rx_at: now,
            dont_reuse: false,
            bundle: None,
            aborted: None,
            idle_since: Some(now),
            upgrade: false,
            socket: None,
            packets_sent: 0,
            packets_received: 0,
            scheduled: None,
            credentials: None,
            security: None,
            identity: None,
            held: VecDeque::new(),
            challenged_at: None,
            challenges: 0,
        }
    }

    /// Take the next serial (never 0).
    pub(crate) fn next_serial(&mut self) -> Serial {
        self.tx_serial = self.tx_serial.next();
        self.tx_serial
    }

    /// A header for a packet of ours on `channel`, taking a fresh serial.
    pub(crate) fn header(
        &mut self,
        channel: Channel,
        call_number: CallNumber,
        packet_type: PacketType,
        seq: Seq,
        flags: Flags,
    ) -> Header {
        let mut flags = flags;
        if self.side == Side::Client {
            flags = flags.with(Flags::CLIENT_INITIATED);
        }
        self.packets_sent += 1;
        Header {
            epoch: self.epoch,
            cid: Cid::new(self.cid, channel),
            call_number,
            seq,
            serial: self.next_serial(),
            packet_type,
            flags,
            user_status: 0,
            security_index: self.security_index,
            cksum: 0,
            service_id: self.service_id,
        }
    }

    /// What identifies the connection to its security class.
    pub(crate) fn ident(&self) -> ConnIdent {
        ConnIdent {
            side: self.side,
            peer: self.peer,
            epoch: self.epoch,
            cid: self.cid,
            service_id: self.service_id,
            security_index: self.security_index,
        }
    }

    /// Whether packets may flow: rxnull, a client connection, or a verified service one.
    pub(crate) fn is_secure(&self) -> bool {
        self.security.as_ref().is_none_or(|s| s.is_secure())
    }

    /// The connection's protection level.
    pub(crate) fn level(&self) -> SecurityLevel {
        self.security
            .as_ref()
            .map_or(SecurityLevel::Plain, |s| s.level())
    }

    /// A header for a connection-level packet of ours (CHALLENGE, RESPONSE, connection
    /// ABORT): call number 0, channel 0, seq 0, a fresh serial.
    pub(crate) fn conn_header(&mut self, packet_type: PacketType) -> Header {
        self.header(
            Channel(0),
            CallNumber(0),
            packet_type,
            Seq(0),
            Flags::empty(),
        )
    }

    /// Number of channels with a call on them.
    pub(crate) fn active_calls(&self) -> usize {
        self.channels.iter().filter(|c| c.call.is_some()).count()
    }

    /// The lowest free channel, if any.
    pub(crate) fn free_channel(&self) -> Option<Channel> {
        Channel::ALL
            .into_iter()
            .find(|c| self.channels[c.index()].call.is_none())
    }

    /// Earliest connection-level deadline (final ACKs).
    pub(crate) fn next_final_ack(&self) -> Option<Instant> {
        self.channels.iter().filter_map(|c| c.final_ack_at).min()
    }
}
