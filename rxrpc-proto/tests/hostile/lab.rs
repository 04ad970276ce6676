//! The hostile-peer lab: a server (node 1), a victim client (node 0) and a healthy client
//! (node 2) on the simulated network of `tests/netsim`, with a log of every datagram the
//! engines send, an optional rewrite hook, packet forging helpers and the end-of-test leak
//! check.
//!
//! The healthy client talks to the server on its own connection (another peer address), so a
//! forgery aimed at the victim's connection must leave it alone: each test checks that its
//! healthy call delivered every byte (the applications of `tests/netsim/app.rs` check each
//! byte against a generator) and succeeded.

use std::cell::{Ref, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use rxrpc_proto::wire::{
    Ack, AckReason, AckTrailer, Flags, HEADER_LEN, Header, PacketType, Seq, Serial,
};
use rxrpc_proto::{Completion, Endpoint, EndpointConfig, Instant};

use crate::app::World;
use crate::sim::{LinkConfig, Sim, Stop, Verdict, node_addr};

/// Client index (and node) of the victim client.
pub(crate) const VICTIM: usize = 0;
/// Client index of the healthy client (on node 2).
pub(crate) const HEALTHY: usize = 1;
/// Node of the server.
pub(crate) const SERVER_NODE: usize = 1;
/// Node of the healthy client.
pub(crate) const HEALTHY_NODE: usize = 2;

/// A datagram an engine sent.
#[derive(Clone, Debug)]
pub(crate) struct Sent {
    pub(crate) at: Instant,
    pub(crate) from: SocketAddr,
    pub(crate) to: SocketAddr,
    pub(crate) header: Header,
    pub(crate) bytes: Vec<u8>,
}

impl Sent {
    /// The abort code, if this is an ABORT.
    pub(crate) fn abort_code(&self) -> Option<i32> {
        if self.header.packet_type != PacketType::ABORT {
            return None;
        }
        let b = self.bytes.get(HEADER_LEN..HEADER_LEN + 4)?;
        Some(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The ACK body, if this is a decodable ACK.
    pub(crate) fn ack(&self) -> Option<Ack> {
        if self.header.packet_type != PacketType::ACK {
            return None;
        }
        Ack::parse(self.bytes.get(HEADER_LEN..)?).ok()
    }
}

/// Rewrites a datagram an engine sends (`Some(bytes)` replaces it).
pub(crate) type Rewrite = Box<dyn FnMut(&Sent) -> Option<Vec<u8>>>;

/// The lab.
pub(crate) struct Lab {
    pub(crate) w: World,
    log: Rc<RefCell<Vec<Sent>>>,
    rewrite: Rc<RefCell<Option<Rewrite>>>,
}

/// Address of a node (or of a fake peer, for `n >= 3`).
pub(crate) fn addr(n: usize) -> SocketAddr {
    node_addr(n)
}

impl Lab {
    /// A lab with 2 ms one-way delay; `configure` adjusts each endpoint's configuration
    /// (node 0 victim client, 1 server, 2 healthy client).
    pub(crate) fn new(seed: u64, configure: impl FnMut(usize, &mut EndpointConfig)) -> Lab {
        let sim = Sim::new(
            3,
            seed,
            LinkConfig::delay(Duration::from_millis(2)),
            configure,
        );
        let mut w = World::new(sim);
        w.add_server(SERVER_NODE);
        w.add_client(0);
        w.add_client(HEALTHY_NODE);
        let log: Rc<RefCell<Vec<Sent>>> = Rc::default();
        let rewrite: Rc<RefCell<Option<Rewrite>>> = Rc::default();
        let (l, r) = (log.clone(), rewrite.clone());
        w.sim.hook = Some(Box::new(move |wire| {
            let Some(header) = wire.header else {
                return Verdict::Pass;
            };
            let sent = Sent {
                at: wire.at,
                from: wire.from,
                to: wire.to,
                header,
                bytes: wire.bytes.to_vec(),
            };
            let replaced = r.borrow_mut().as_mut().and_then(|f| f(&sent));
            l.borrow_mut().push(sent);
            match replaced {
                Some(b) => Verdict::Replace(b),
                None => Verdict::Pass,
            }
        }));
        Lab { w, log, rewrite }
    }

    /// A lab with default configurations.
    pub(crate) fn plain(seed: u64) -> Lab {
        Lab::new(seed, |_, _| {})
    }

    /// Now.
    pub(crate) fn now(&self) -> Instant {
        self.w.sim.now
    }

    /// The engine of a node.
    pub(crate) fn ep(&mut self, node: usize) -> &mut Endpoint {
        self.w.sim.ep(node)
    }

    /// Start a call from the victim client. Returns its user ID.
    pub(crate) fn victim_call(&mut self, req: u64, reply: u64) -> u64 {
        self.w.call(VICTIM, SERVER_NODE, req, reply)
    }

    /// Start a call from the healthy client. Returns its user ID.
    pub(crate) fn healthy_call(&mut self, req: u64, reply: u64) -> u64 {
        self.w.call(HEALTHY, SERVER_NODE, req, reply)
    }

    /// Install (or remove) the rewrite hook.
    pub(crate) fn set_rewrite(&mut self, f: Option<Rewrite>) {
        *self.rewrite.borrow_mut() = f;
    }

    /// Run the network and applications for `d` (or until nothing is pending).
    pub(crate) fn run(&mut self, d: Duration) {
        let until = self.now() + d;
        self.w.run_until(d, |_| false);
        if self.now() < until {
            self.w.sim.advance_to(until);
            self.w.dispatch();
        }
    }

    /// Run until `done` or `max` passes.
    pub(crate) fn run_until(&mut self, max: Duration, done: impl FnMut(&World) -> bool) -> Stop {
        self.w.run_until(max, done)
    }

    /// Run until the given client calls have their terminal messages (at most `max`).
    pub(crate) fn run_until_ended(&mut self, calls: &[(usize, u64)], max: Duration) {
        let calls = calls.to_vec();
        let stop = self.w.run_until(max, |w| {
            calls.iter().all(|&(c, id)| {
                w.clients[c]
                    .calls
                    .get(&id)
                    .is_some_and(|k| k.terminal.is_some())
            })
        });
        assert_eq!(
            stop,
            Stop::Done,
            "calls {calls:?} did not end within {max:?}"
        );
    }

    /// Deliver a forged datagram now.
    pub(crate) fn inject(&mut self, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>) {
        self.w.sim.inject(from, to, bytes, Duration::ZERO);
    }

    /// Deliver a forged datagram and let the engines react (a few milliseconds).
    pub(crate) fn inject_and_settle(&mut self, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>) {
        self.inject(from, to, bytes);
        self.run(Duration::from_millis(1));
    }

    /// Everything the engines sent so far.
    pub(crate) fn sent(&self) -> Ref<'_, Vec<Sent>> {
        self.log.borrow()
    }

    /// How many datagrams the engines have sent so far (a mark for [`sent_since`]).
    pub(crate) fn mark(&self) -> usize {
        self.log.borrow().len()
    }

    /// Datagrams sent since `mark` that match.
    pub(crate) fn sent_since(&self, mark: usize, pred: impl Fn(&Sent) -> bool) -> Vec<Sent> {
        self.log.borrow()[mark..]
            .iter()
            .filter(|s| pred(s))
            .cloned()
            .collect()
    }

    /// The header of the last datagram of type `ty` sent from `from` to `to`.
    pub(crate) fn last_header(
        &self,
        from: SocketAddr,
        to: SocketAddr,
        ty: PacketType,
    ) -> Option<Header> {
        self.log
            .borrow()
            .iter()
            .rev()
            .find(|s| s.from == from && s.to == to && s.header.packet_type == ty)
            .map(|s| s.header)
    }

    /// The terminal message of a client call.
    pub(crate) fn terminal(&self, client: usize, id: u64) -> Option<Completion> {
        self.w.clients[client].calls.get(&id)?.terminal
    }

    /// Assert that a client call succeeded with every byte both ways (content checked by the
    /// applications).
    pub(crate) fn assert_intact(&self, client: usize, id: u64) {
        let k = &self.w.clients[client].calls[&id];
        assert!(
            k.errors.is_empty(),
            "client {client} call {id}: {:?}",
            k.errors
        );
        assert_eq!(
            k.terminal,
            Some(Completion::Succeeded),
            "client {client} call {id}"
        );
        assert!(k.end_of_data, "client {client} call {id}: no end of data");
        assert_eq!(k.received, k.spec.reply_len, "client {client} call {id}");
        assert!(k.tx.done && k.tx.sent == k.spec.req_len);
        assert!(
            self.w.sim.violations.is_empty(),
            "wire violations: {:?}",
            self.w.sim.violations
        );
    }

    /// Close every socket, check that no call survives, let every timeout pass and check that
    /// no connection, peer or timer is left on any engine.
    pub(crate) fn finish(mut self) {
        let now = self.now();
        self.set_rewrite(None);
        let socks: Vec<(usize, rxrpc_proto::SocketId)> = self
            .w
            .clients
            .iter()
            .map(|c| (c.node, c.socket))
            .chain(self.w.servers.iter().map(|s| (s.node, s.socket)))
            .collect();
        for (node, sock) in socks {
            self.ep(node).close_socket(now, sock);
        }
        for n in 0..3 {
            assert_eq!(self.ep(n).live_calls(), 0, "node {n}: calls after close");
        }
        // Longer than every idle-connection timeout.
        self.w.sim.advance_to(now + Duration::from_secs(1200));
        for n in 0..3 {
            let ep = self.ep(n);
            assert_eq!(ep.live_calls(), 0, "node {n}: calls at the end");
            assert_eq!(ep.live_conns(), 0, "node {n}: connections at the end");
            assert_eq!(ep.live_peers(), 0, "node {n}: peers at the end");
        }
    }
}

// ----- forging ------------------------------------------------------------------------------

/// A datagram from a header and a body.
pub(crate) fn datagram(h: &Header, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    h.emit(&mut out);
    out.extend_from_slice(body);
    out
}

/// `h` retyped, with a fresh high serial and seq 0 (the shape of a non-DATA packet).
pub(crate) fn retype(h: &Header, ty: PacketType, flags: Flags) -> Header {
    let mut h = *h;
    h.packet_type = ty;
    h.flags = flags.with(Flags(h.flags.0 & Flags::CLIENT_INITIATED.0));
    h.seq = Seq(0);
    h.serial = Serial(h.serial.0.wrapping_add(1000));
    h
}

/// An ACK body.
pub(crate) fn ack_body(
    first: u32,
    prev: u32,
    reason: AckReason,
    acks: Vec<u8>,
    trailer: Option<AckTrailer>,
) -> Vec<u8> {
    let a = Ack {
        buffer_space: 0,
        max_skew: 0,
        first_packet: Seq(first),
        previous_packet: Seq(prev),
        serial: Serial(0),
        reason,
        acks,
        trailer,
    };
    let mut out = Vec::new();
    a.emit(&mut out);
    out
}

/// A trailer with these values.
pub(crate) fn trailer(max_mtu: u32, if_mtu: u32, rwind: u32) -> Option<AckTrailer> {
    Some(AckTrailer {
        max_mtu,
        if_mtu,
        rwind,
        jumbo_max: 1,
    })
}
