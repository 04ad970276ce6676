//! Hostile peers against secured connections (issue 9, security parts): scripted forged,
//! tampered, replayed and flooded CHALLENGE, RESPONSE and DATA packets against real engines
//! with the real rxkad and yfs-rxgk classes, on the simulated network of `tests/netsim`.
//!
//! Each test checks what the engine does against the documented behaviour (module docs of
//! `src/endpoint/secure.rs` and `src/security.rs`; `reference-linux-rxrpc.md` §4.6, §5): the
//! abort code it sends (and whether it is a call or a connection abort) or the silent drop;
//! that nothing panics; that a healthy secured call from another client delivers every byte;
//! and at the end ([`Lab::finish`]) that closing the sockets and letting every timeout pass
//! leaves no call, connection or peer behind.
//!
//! The victim client (node 0) and the healthy client (node 2) both call the server (node 1)
//! with credentials of the class under test; the server's socket accepts that class.
//!
//! `cargo test -p rxrpc-proto --test hostile_secure`

#[allow(dead_code)]
#[path = "netsim/app.rs"]
mod app;
#[allow(dead_code)]
#[path = "hostile/lab.rs"]
mod lab;
#[allow(dead_code)]
#[path = "netsim/sim.rs"]
mod sim;

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lab::{HEALTHY, HEALTHY_NODE, Lab, SERVER_NODE, Sent, VICTIM, addr, datagram};
use rxrpc_proto::security::{ClientSecurityRef, SecurityLevel, ServerSecurityRef};
use rxrpc_proto::wire::{
    AbortCode, CallNumber, Channel, Cid, ConnId, Epoch, Flags, HEADER_LEN, Header, PacketType,
    SecurityIndex, Seq, Serial,
};
use rxrpc_proto::{AbortReason, Completion, EndpointConfig};
use rxrpc_rxgk::krb5::{Enctype, Key};
use rxrpc_rxgk::token::MintParams;
use rxrpc_rxgk::{RxgkClient, RxgkServer};
use rxrpc_rxkad::{DesKey, KeyTable, Lifetime, RxkadClient, RxkadServer};

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);

// ----- the classes -----------------------------------------------------------------------

/// The class under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Rxkad,
    Rxgk,
}

const CLASSES: [Class; 2] = [Class::Rxkad, Class::Rxgk];

/// The rxkad server key (kvno 1).
const RXKAD_KEY: DesKey = DesKey([0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]);
/// A fixed session key, so that tampering has the same effect on every run.
const RXKAD_SESSION: DesKey = DesKey([0x13, 0x57, 0x9b, 0xdf, 0x02, 0x46, 0x8a, 0xce]);

fn rxgk_server_key() -> Key {
    Key::new(Enctype::Aes128CtsHmacSha256128, &[0x5a; 16]).unwrap()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl Class {
    fn index(self) -> SecurityIndex {
        match self {
            Class::Rxkad => SecurityIndex::RXKAD,
            Class::Rxgk => SecurityIndex::YFS_RXGK,
        }
    }

    /// The server's keys (kvno 1) accepting `min` or above; its clock runs `skew` seconds
    /// ahead of the system's.
    fn server(self, min: SecurityLevel, skew: u64) -> ServerSecurityRef {
        match self {
            Class::Rxkad => {
                let keys = KeyTable::from_keys([(1, RXKAD_KEY)]);
                let mut s = RxkadServer::new(Arc::new(keys), min);
                if skew > 0 {
                    let clock = rxrpc_rxkad::ManualClock::new(unix_now() + skew);
                    s = s.with_clock(Arc::new(clock));
                }
                Arc::new(s)
            }
            Class::Rxgk => {
                let mut s = RxgkServer::new()
                    .with_key(1, rxgk_server_key())
                    .with_min_level(min);
                if skew > 0 {
                    let clock = rxrpc_rxgk::clock::ManualClock::at_unix_secs(unix_now() + skew);
                    s = s.with_clock(clock.clock());
                }
                Arc::new(s)
            }
        }
    }

    /// Client credentials valid for an hour at `level`, sealed with the server key but
    /// claiming key version `kvno`.
    fn client(self, level: SecurityLevel, kvno: u32) -> ClientSecurityRef {
        self.client_from(level, kvno, 0)
    }

    /// [`Class::client`] with a ticket whose hour starts `shift` seconds from now (a minute
    /// earlier, for clock skew).
    fn client_from(self, level: SecurityLevel, kvno: u32, shift: u64) -> ClientSecurityRef {
        match self {
            Class::Rxkad => {
                let start = u32::try_from(unix_now() + shift - 60).unwrap();
                let token = rxrpc_rxkad::mint_token_at(
                    &RXKAD_KEY,
                    kvno,
                    "victim",
                    "",
                    "EXAMPLE.ORG",
                    Lifetime::Seconds(3600),
                    Some(RXKAD_SESSION),
                    start,
                )
                .unwrap()
                .with_level(level);
                Arc::new(RxkadClient::new(token))
            }
            Class::Rxgk => {
                let tps = rxrpc_rxgk::clock::TICKS_PER_SEC;
                let now = rxrpc_rxgk::clock::Clock::system().now();
                let start = now + shift * tps - 60 * tps;
                let k0 = Key::new(Enctype::Aes128CtsHmacSha256128, &[0x33; 16]).unwrap();
                let token = MintParams::new(kvno, level, k0, start, 3600)
                    .mint(&rxgk_server_key())
                    .unwrap();
                Arc::new(RxgkClient::new(token))
            }
        }
    }

    /// Good credentials (kvno 1, encrypt).
    fn good(self) -> ClientSecurityRef {
        self.client(SecurityLevel::Encrypt, 1)
    }

    /// A well-formed CHALLENGE body with `nonce`.
    fn challenge(self, nonce: u32) -> Vec<u8> {
        match self {
            Class::Rxkad => words(&[2, nonce, 0, 0]),
            Class::Rxgk => {
                let mut b = nonce.to_be_bytes().repeat(5);
                b.truncate(20);
                b
            }
        }
    }
}

fn words(w: &[u32]) -> Vec<u8> {
    w.iter().flat_map(|v| v.to_be_bytes()).collect()
}

// ----- the lab -----------------------------------------------------------------------------

fn client() -> SocketAddr {
    addr(VICTIM)
}
fn server() -> SocketAddr {
    addr(SERVER_NODE)
}
fn healthy_addr() -> SocketAddr {
    addr(HEALTHY_NODE)
}

/// A lab whose server accepts `class` through `keys`.
fn secure_lab(
    seed: u64,
    keys: ServerSecurityRef,
    configure: impl FnMut(usize, &mut EndpointConfig),
) -> Lab {
    let mut lab = Lab::new(seed, configure);
    let sock = lab.w.servers[0].socket;
    lab.ep(SERVER_NODE)
        .add_server_security(sock, keys)
        .expect("add the class");
    lab
}

/// A secured call from client `c` with `creds`.
fn call(lab: &mut Lab, c: usize, creds: &ClientSecurityRef, req: u64, reply: u64) -> u64 {
    let creds = creds.clone();
    lab.w
        .call_with(c, SERVER_NODE, req, reply, move |p| p.security(creds))
}

/// The healthy secured call, started at once and checked at the end of each test.
fn healthy(lab: &mut Lab, class: Class) -> u64 {
    call(lab, HEALTHY, &class.good(), 300_000, 300_000)
}

/// The healthy call ends, having delivered every byte both ways.
fn assert_healthy(lab: &mut Lab, h: u64) {
    lab.run_until_ended(&[(HEALTHY, h)], 120 * SEC);
    lab.assert_intact(HEALTHY, h);
}

/// ABORTs sent since `mark` from `from` to `to`: (connection level?, code).
fn aborts(lab: &Lab, mark: usize, from: SocketAddr, to: SocketAddr) -> Vec<(bool, i32)> {
    lab.sent_since(mark, |s| s.from == from && s.to == to)
        .iter()
        .filter_map(|s| Some((s.header.call_number.0 == 0, s.abort_code()?)))
        .collect()
}

/// Packets of type `ty` sent since `mark` from `from` to `to`.
fn count(lab: &Lab, mark: usize, from: SocketAddr, to: SocketAddr, ty: PacketType) -> usize {
    lab.sent_since(mark, |s| {
        s.from == from && s.to == to && s.header.packet_type == ty
    })
    .len()
}

/// The last packet of type `ty` from `from` to `to`.
fn last(lab: &Lab, from: SocketAddr, to: SocketAddr, ty: PacketType) -> Sent {
    lab.sent()
        .iter()
        .rev()
        .find(|s| s.from == from && s.to == to && s.header.packet_type == ty)
        .cloned()
        .unwrap_or_else(|| panic!("no {ty:?} from {from} to {to}"))
}

/// A connection-level header of type `ty` on the connection of `h`, in `h`'s direction.
fn conn_header(h: &Header, ty: PacketType, serial: u32) -> Header {
    let mut c = *h;
    c.packet_type = ty;
    c.call_number = CallNumber(0);
    c.cid = Cid::new(h.cid.conn_id(), Channel(0));
    c.seq = Seq(0);
    c.serial = Serial(serial);
    c.flags = Flags(h.flags.0 & Flags::CLIENT_INITIATED.0);
    c.cksum = 0;
    c
}

/// Server calls the application saw that are not the healthy client's.
fn victim_service_calls(lab: &Lab) -> Vec<&app::ServerCall> {
    lab.w.servers[0]
        .calls
        .values()
        .filter(|c| c.client.map(|x| x.0) != Some(HEALTHY))
        .collect()
}

/// Rewrite the first datagram that matches `pred` (once) with `f`.
fn rewrite_once(
    lab: &mut Lab,
    pred: impl Fn(&Sent) -> bool + 'static,
    f: impl Fn(&Sent) -> Vec<u8> + 'static,
) -> Rc<Cell<bool>> {
    let done = Rc::new(Cell::new(false));
    let d = done.clone();
    lab.set_rewrite(Some(Box::new(move |s: &Sent| {
        if d.get() || !pred(s) {
            return None;
        }
        d.set(true);
        Some(f(s))
    })));
    done
}

/// The first DATA packet (seq 1) of the victim's first call.
fn victim_first_data(s: &Sent) -> bool {
    s.from == client() && s.header.packet_type == PacketType::DATA && s.header.seq == Seq(1)
}

/// The victim's RESPONSE.
fn victim_response(s: &Sent) -> bool {
    s.from == client() && s.header.packet_type == PacketType::RESPONSE
}

// ----- DATA verification -------------------------------------------------------------------

/// Run a victim call whose first DATA packet is rewritten by `f`; the server must abort that
/// call (a call abort, not a connection abort) with `want(class)`, deliver none of its data,
/// and count one verification failure.
fn tampered_first_data(seed: u64, f: fn(&Sent) -> Vec<u8>, want: fn(Class) -> AbortCode) {
    for class in CLASSES {
        let mut lab = secure_lab(seed, class.server(SecurityLevel::Plain, 0), |_, _| {});
        let h = healthy(&mut lab, class);
        let done = rewrite_once(&mut lab, victim_first_data, f);
        let mark = lab.mark();
        let creds = class.good();
        let v = call(&mut lab, VICTIM, &creds, 1000, 1000);
        lab.run_until_ended(&[(VICTIM, v)], 30 * SEC);
        assert!(done.get(), "{class:?}: the first DATA was rewritten");
        let want = want(class);
        assert_eq!(
            lab.terminal(VICTIM, v),
            Some(Completion::RemoteAbort(want)),
            "{class:?}"
        );
        let sent = aborts(&lab, mark, server(), client());
        assert!(!sent.is_empty() && sent.iter().all(|&a| a == (false, want.0)));
        let stats = lab.ep(SERVER_NODE).stats();
        assert_eq!(stats.verify_failures, 1, "{class:?}");
        assert_eq!(stats.conn_aborts_sent, 0, "{class:?}");
        assert_eq!(stats.responses_verified, 2, "{class:?}: victim and healthy");
        let calls = victim_service_calls(&lab);
        assert_eq!(calls.len(), 1, "{class:?}: the service saw the call");
        assert_eq!(calls[0].received, 0, "{class:?}: no data delivered");
        assert!(matches!(
            calls[0].terminal,
            Some(Completion::LocalAbort { code, reason: AbortReason::ProtocolError("verify-packet-failed") })
                if code == want
        ));
        // The connection stays secure: the victim's next call succeeds on it, with no new
        // CHALLENGE.
        let v2 = call(&mut lab, VICTIM, &creds, 50_000, 50_000);
        lab.run_until_ended(&[(VICTIM, v2)], 30 * SEC);
        lab.assert_intact(VICTIM, v2);
        assert_eq!(lab.ep(SERVER_NODE).stats().responses_verified, 2);
        assert_healthy(&mut lab, h);
        lab.finish();
    }
}

/// DATA whose header checksum is wrong: rxkad aborts the call with RXKADSEALEDINCON; for
/// yfs-rxgk the field is the key number, and a key number far from the current one is
/// RXGK_BADKEYNO.
#[test]
fn data_with_a_bad_header_checksum_aborts_the_call() {
    tampered_first_data(
        1,
        |s| {
            let mut h = s.header;
            h.cksum ^= 0x5a5a;
            datagram(&h, &s.bytes[HEADER_LEN..])
        },
        |class| match class {
            Class::Rxkad => AbortCode::RXKADSEALEDINCON,
            Class::Rxgk => AbortCode::RXGK_BADKEYNO,
        },
    );
}

/// DATA too short for its security header (3 bytes at level encrypt): the class's code
/// (rxkad checks the length inside its sealed-block check: RXKADSEALEDINCON; rxgk:
/// RXGK_SEALEDINCON).
#[test]
fn data_shorter_than_the_security_header_aborts_the_call() {
    tampered_first_data(
        2,
        |s| {
            let mut h = s.header;
            h.flags = Flags(h.flags.0 & !Flags::JUMBO_PACKET.0);
            datagram(&h, &s.bytes[HEADER_LEN..HEADER_LEN + 3])
        },
        |class| match class {
            Class::Rxkad => AbortCode::RXKADSEALEDINCON,
            Class::Rxgk => AbortCode::RXGK_SEALEDINCON,
        },
    );
}

/// DATA with a byte of its sealed block flipped: the class's sealed-data code.
#[test]
fn data_with_a_tampered_sealed_block_aborts_the_call() {
    tampered_first_data(
        3,
        |s| {
            let mut b = s.bytes.clone();
            b[HEADER_LEN + 2] ^= 0x80;
            b
        },
        |class| match class {
            Class::Rxkad => AbortCode::RXKADSEALEDINCON,
            Class::Rxgk => AbortCode::RXGK_SEALEDINCON,
        },
    );
}

// ----- RESPONSE replays --------------------------------------------------------------------

/// A RESPONSE replayed after its connection is secure is dropped: no second verification,
/// no abort, no CHALLENGE, and the connection's next call succeeds. The same RESPONSE
/// replayed onto a new connection (another connection ID, from another address) fails that
/// connection's checks (rxkad: the sealed connection identity, RXKADSEALEDINCON; rxgk: the
/// transport key is the connection's, RXGK_SEALEDINCON) and only that connection is aborted.
#[test]
fn replayed_response_is_dropped_or_refused() {
    for class in CLASSES {
        let mut lab = secure_lab(10, class.server(SecurityLevel::Plain, 0), |_, _| {});
        let h = healthy(&mut lab, class);
        let creds = class.good();
        let v = call(&mut lab, VICTIM, &creds, 200_000, 1000);
        lab.run(30 * MS);
        let response = last(&lab, client(), server(), PacketType::RESPONSE);
        let verified = lab.ep(SERVER_NODE).stats().responses_verified;
        let dropped = lab.ep(SERVER_NODE).stats().dropped;
        let mark = lab.mark();
        let mut replay = response.header;
        replay.serial = Serial(response.header.serial.0 + 5000);
        lab.inject_and_settle(
            client(),
            server(),
            datagram(&replay, &response.bytes[HEADER_LEN..]),
        );
        let stats = lab.ep(SERVER_NODE).stats();
        assert_eq!(stats.responses_verified, verified, "{class:?}");
        assert_eq!(stats.dropped, dropped + 1, "{class:?}");
        assert!(aborts(&lab, mark, server(), client()).is_empty());
        assert_eq!(
            count(&lab, mark, server(), client(), PacketType::CHALLENGE),
            0
        );

        // Onto a new connection: a fake DATA opens it, the server challenges, the replayed
        // RESPONSE answers.
        let mut data = last(&lab, client(), server(), PacketType::DATA).header;
        data.cid = Cid::new(ConnId(data.cid.conn_id().0 ^ 0x0010_0000), Channel(0));
        data.call_number = CallNumber(1);
        data.seq = Seq(1);
        data.serial = Serial(1);
        data.flags = Flags::CLIENT_INITIATED.with(Flags::LAST_PACKET);
        let fake = addr(8);
        let mark = lab.mark();
        lab.inject_and_settle(fake, server(), datagram(&data, &[0; 16]));
        assert_eq!(count(&lab, mark, server(), fake, PacketType::CHALLENGE), 1);
        let mut onto = conn_header(&data, PacketType::RESPONSE, 2);
        onto.cksum = response.header.cksum;
        lab.inject_and_settle(
            fake,
            server(),
            datagram(&onto, &response.bytes[HEADER_LEN..]),
        );
        let want = match class {
            Class::Rxkad => AbortCode::RXKADSEALEDINCON,
            Class::Rxgk => AbortCode::RXGK_SEALEDINCON,
        };
        assert_eq!(
            aborts(&lab, mark, server(), fake),
            vec![(true, want.0)],
            "{class:?}"
        );
        assert!(aborts(&lab, mark, server(), client()).is_empty());

        lab.run_until_ended(&[(VICTIM, v)], 60 * SEC);
        lab.assert_intact(VICTIM, v);
        let v2 = call(&mut lab, VICTIM, &creds, 1000, 1000);
        lab.run_until_ended(&[(VICTIM, v2)], 30 * SEC);
        lab.assert_intact(VICTIM, v2);
        assert_eq!(
            lab.ep(SERVER_NODE).stats().responses_verified,
            verified,
            "{class:?}: the victim's connection was not challenged again"
        );
        assert_healthy(&mut lab, h);
        lab.finish();
    }
}

/// A RESPONSE where none was asked for: on a connection the server does not know (only DATA
/// opens one) it is refused with RX_PROTOCOL_ERROR and no connection is made; sent to a
/// client (RESPONSEs go to servers) it is dropped.
#[test]
fn response_on_a_never_challenged_connection() {
    for class in CLASSES {
        let mut lab = secure_lab(11, class.server(SecurityLevel::Plain, 0), |_, _| {});
        let h = healthy(&mut lab, class);
        let v = call(&mut lab, VICTIM, &class.good(), 200_000, 200_000);
        lab.run(30 * MS);
        let response = last(&lab, client(), server(), PacketType::RESPONSE);
        let body = &response.bytes[HEADER_LEN..];
        let conns = lab.ep(SERVER_NODE).live_conns();
        let fake = addr(7);
        let mark = lab.mark();
        let mut unknown = response.header;
        unknown.epoch = Epoch(0x8000_0bad);
        lab.inject_and_settle(fake, server(), datagram(&unknown, body));
        assert_eq!(
            aborts(&lab, mark, server(), fake),
            vec![(true, AbortCode::RX_PROTOCOL_ERROR.0)]
        );
        assert_eq!(lab.ep(SERVER_NODE).live_conns(), conns);
        assert_eq!(lab.ep(SERVER_NODE).stats().security_failures, 0);

        // To the victim client, on its own connection, in the server's direction.
        let to_client = conn_header(
            &last(&lab, server(), client(), PacketType::ACK).header,
            PacketType::RESPONSE,
            900_000,
        );
        let dropped = lab.ep(VICTIM).stats().dropped;
        let mark = lab.mark();
        lab.inject_and_settle(server(), client(), datagram(&to_client, body));
        assert_eq!(lab.ep(VICTIM).stats().dropped, dropped + 1);
        assert!(
            lab.sent_since(mark, |s| s.from == client() && s.abort_code().is_some())
                .is_empty()
        );
        lab.run_until_ended(&[(VICTIM, v)], 60 * SEC);
        lab.assert_intact(VICTIM, v);
        assert_healthy(&mut lab, h);
        lab.finish();
    }
}

// ----- refused RESPONSEs -------------------------------------------------------------------

/// The victim's call with `creds` against a server with `keys`, its RESPONSE rewritten by
/// `f` (if any): the server must abort the victim's connection with `want` before any call
/// exists (the service never sees one and no charge is used), drop the held DATA, and leave
/// the healthy call alone.
fn refused(
    seed: u64,
    class: Class,
    keys: ServerSecurityRef,
    creds: ClientSecurityRef,
    f: Option<fn(&Sent) -> Vec<u8>>,
    want: AbortCode,
) {
    refused_with(seed, class, keys, creds, class.good(), f, want);
}

/// [`refused`] with the healthy client's credentials.
fn refused_with(
    seed: u64,
    class: Class,
    keys: ServerSecurityRef,
    creds: ClientSecurityRef,
    healthy: ClientSecurityRef,
    f: Option<fn(&Sent) -> Vec<u8>>,
    want: AbortCode,
) {
    let mut lab = secure_lab(seed, keys, |_, _| {});
    let h = call(&mut lab, HEALTHY, &healthy, 300_000, 300_000);
    lab.run(30 * MS);
    let sock = lab.w.servers[0].socket;
    let charged = lab.ep(SERVER_NODE).charged(sock);
    let served = lab.w.servers[0].calls.len();
    let done = f.map(|f| rewrite_once(&mut lab, victim_response, f));
    let mark = lab.mark();
    let before = lab.ep(SERVER_NODE).stats();
    let v = call(&mut lab, VICTIM, &creds, 100_000, 1000);
    lab.run_until_ended(&[(VICTIM, v)], 30 * SEC);
    if let Some(done) = done {
        assert!(done.get(), "{class:?}: the RESPONSE was rewritten");
    }
    assert_eq!(
        lab.terminal(VICTIM, v),
        Some(Completion::RemoteAbort(want)),
        "{class:?}: want {want}"
    );
    assert_eq!(
        aborts(&lab, mark, server(), client()),
        vec![(true, want.0)],
        "{class:?}: one connection abort"
    );
    let after = lab.ep(SERVER_NODE).stats();
    assert_eq!(after.security_failures, before.security_failures + 1);
    assert_eq!(after.conn_aborts_sent, before.conn_aborts_sent + 1);
    assert_eq!(after.responses_verified, before.responses_verified);
    assert!(
        victim_service_calls(&lab).is_empty(),
        "{class:?}: a call was made"
    );
    assert_eq!(lab.w.servers[0].calls.len(), served);
    assert_eq!(lab.ep(SERVER_NODE).charged(sock), charged);
    assert_healthy(&mut lab, h);
    lab.finish();
}

/// A RESPONSE whose ticket is garbage: rxkad RXKADBADTICKET; rxgk RXGK_SEALEDINCON (the
/// sealed token does not open).
#[test]
fn response_with_a_garbage_ticket_aborts_the_connection() {
    for class in CLASSES {
        let (f, want): (fn(&Sent) -> Vec<u8>, _) = match class {
            // version, spare, 40-byte block, kvno, ticket length, ticket
            Class::Rxkad => (
                |s| {
                    let mut b = s.bytes.clone();
                    for x in &mut b[HEADER_LEN + 60..HEADER_LEN + 68] {
                        *x ^= 0xa5;
                    }
                    b
                },
                AbortCode::RXKADBADTICKET,
            ),
            // start time, token length, token (kvno, enctype, sealed), ...
            Class::Rxgk => (
                |s| {
                    let mut b = s.bytes.clone();
                    for x in &mut b[HEADER_LEN + 32..HEADER_LEN + 40] {
                        *x ^= 0xa5;
                    }
                    b
                },
                AbortCode::RXGK_SEALEDINCON,
            ),
        };
        refused(
            20,
            class,
            class.server(SecurityLevel::Plain, 0),
            class.good(),
            Some(f),
            want,
        );
    }
}

/// A RESPONSE cut short (inside its ticket, and to 20 bytes): the class's "packet short"
/// code.
#[test]
fn truncated_response_aborts_the_connection() {
    for class in CLASSES {
        let want = match class {
            Class::Rxkad => AbortCode::RXKADPACKETSHORT,
            Class::Rxgk => AbortCode::RXGK_PACKETSHORT,
        };
        let cuts: [fn(&Sent) -> Vec<u8>; 2] = [
            |s| s.bytes[..HEADER_LEN + 70].to_vec(),
            |s| s.bytes[..HEADER_LEN + 20].to_vec(),
        ];
        for f in cuts {
            refused(
                21,
                class,
                class.server(SecurityLevel::Plain, 0),
                class.good(),
                Some(f),
                want,
            );
        }
    }
}

/// An expired ticket (the server's clock is two days ahead; the client's own clock says the
/// ticket is valid): RXKADEXPIRED / RXGK_EXPIRED. The healthy client's ticket is valid at
/// the server's time.
#[test]
fn expired_ticket_aborts_the_connection() {
    const SKEW: u64 = 2 * 86_400;
    for class in CLASSES {
        let want = match class {
            Class::Rxkad => AbortCode::RXKADEXPIRED,
            Class::Rxgk => AbortCode::RXGK_EXPIRED,
        };
        refused_with(
            22,
            class,
            class.server(SecurityLevel::Plain, SKEW),
            class.good(),
            class.client_from(SecurityLevel::Encrypt, 1, SKEW),
            None,
            want,
        );
    }
}

/// A ticket claiming a key version the server does not have: RXKADUNKNOWNKEY /
/// RXGK_NOTAUTH.
#[test]
fn unknown_key_version_aborts_the_connection() {
    for class in CLASSES {
        let want = match class {
            Class::Rxkad => AbortCode::RXKADUNKNOWNKEY,
            Class::Rxgk => AbortCode::RXGK_NOTAUTH,
        };
        let creds = class.client(SecurityLevel::Encrypt, 7);
        refused(
            23,
            class,
            class.server(SecurityLevel::Plain, 0),
            creds,
            None,
            want,
        );
    }
}

/// A client at a level below the server's minimum. rxgk: the server refuses the RESPONSE
/// with RXGK_BADLEVEL. rxkad: the CHALLENGE carries the minimum, so the client itself
/// refuses it and aborts its connection with RXKADLEVELFAIL; a man in the middle who lowers
/// the CHALLENGE's minimum gets the RESPONSE refused by the server with RXKADLEVELFAIL.
#[test]
fn level_below_the_minimum_is_refused() {
    refused(
        24,
        Class::Rxgk,
        Class::Rxgk.server(SecurityLevel::Encrypt, 0),
        Class::Rxgk.client(SecurityLevel::Auth, 1),
        None,
        AbortCode::RXGK_BADLEVEL,
    );

    // rxkad, client side.
    let class = Class::Rxkad;
    let mut lab = secure_lab(25, class.server(SecurityLevel::Encrypt, 0), |_, _| {});
    let h = healthy(&mut lab, class);
    let mark = lab.mark();
    let v = call(
        &mut lab,
        VICTIM,
        &class.client(SecurityLevel::Auth, 1),
        100_000,
        1000,
    );
    lab.run_until_ended(&[(VICTIM, v)], 30 * SEC);
    assert!(matches!(
        lab.terminal(VICTIM, v),
        Some(Completion::LocalAbort {
            code: AbortCode::RXKADLEVELFAIL,
            reason: AbortReason::ProtocolError("challenge-refused")
        })
    ));
    assert_eq!(
        aborts(&lab, mark, client(), server()),
        vec![(true, AbortCode::RXKADLEVELFAIL.0)]
    );
    assert_eq!(
        count(&lab, mark, client(), server(), PacketType::RESPONSE),
        0
    );
    assert_eq!(lab.ep(VICTIM).stats().security_failures, 1);
    assert!(victim_service_calls(&lab).is_empty());
    assert_healthy(&mut lab, h);
    lab.finish();

    // rxkad, the CHALLENGE's minimum lowered in flight.
    let lower: fn(&Sent) -> Vec<u8> = |s| {
        let mut b = s.bytes.clone();
        b[HEADER_LEN + 8..HEADER_LEN + 12].copy_from_slice(&0u32.to_be_bytes());
        b
    };
    let mut lab = secure_lab(26, class.server(SecurityLevel::Encrypt, 0), |_, _| {});
    let h = healthy(&mut lab, class);
    lab.run(30 * MS);
    let done = rewrite_once(
        &mut lab,
        |s| s.to == client() && s.header.packet_type == PacketType::CHALLENGE,
        lower,
    );
    let mark = lab.mark();
    let v = call(
        &mut lab,
        VICTIM,
        &class.client(SecurityLevel::Auth, 1),
        100_000,
        1000,
    );
    lab.run_until_ended(&[(VICTIM, v)], 30 * SEC);
    assert!(done.get());
    assert_eq!(
        lab.terminal(VICTIM, v),
        Some(Completion::RemoteAbort(AbortCode::RXKADLEVELFAIL))
    );
    assert_eq!(
        aborts(&lab, mark, server(), client()),
        vec![(true, AbortCode::RXKADLEVELFAIL.0)]
    );
    assert!(victim_service_calls(&lab).is_empty());
    assert_healthy(&mut lab, h);
    lab.finish();
}

// ----- CHALLENGEs to a secured client --------------------------------------------------------

/// A forged CHALLENGE to a client whose secured call is running. Within half a
/// `challenge_interval` of the RESPONSE the client last sent it is dropped unread (the
/// rate limit). Later, a CHALLENGE the class cannot parse aborts the client's connection
/// with the class's code, as documented in `secure.rs` (and as Linux does: a CHALLENGE is
/// not authenticated, so an attacker who can spoof the server can do this): rxkad bad
/// version → RXKADINCONSISTENCY, rxkad or rxgk truncated → RXKADPACKETSHORT /
/// RXGK_PACKETSHORT. The server sees the connection ABORT; other connections are untouched.
#[test]
fn bad_or_truncated_challenge_to_a_secured_client() {
    let cases: [(Class, Vec<u8>, AbortCode); 3] = [
        (
            Class::Rxkad,
            words(&[1, 7, 0, 0]),
            AbortCode::RXKADINCONSISTENCY,
        ),
        (Class::Rxkad, vec![0, 0, 0], AbortCode::RXKADPACKETSHORT),
        (Class::Rxgk, vec![1; 19], AbortCode::RXGK_PACKETSHORT),
    ];
    for (i, (class, body, want)) in cases.into_iter().enumerate() {
        let mut lab = secure_lab(
            30 + i as u64,
            class.server(SecurityLevel::Plain, 0),
            |_, _| {},
        );
        let h = healthy(&mut lab, class);
        // A slow reader keeps the victim's call alive for seconds.
        lab.w.pace_client(
            VICTIM,
            app::Pace {
                bytes: 20_000,
                period: 100 * MS,
            },
        );
        let v = call(&mut lab, VICTIM, &class.good(), 1000, 1_000_000);
        lab.run(20 * MS);
        let response = last(&lab, client(), server(), PacketType::RESPONSE);
        let interval = lab.ep(VICTIM).config().challenge_interval;
        assert!(lab.now().saturating_since(response.at) < interval / 2);
        let base = last(&lab, server(), client(), PacketType::ACK).header;
        let forged = conn_header(&base, PacketType::CHALLENGE, 800_000);
        let dropped = lab.ep(VICTIM).stats().dropped;
        let mark = lab.mark();
        lab.inject_and_settle(server(), client(), datagram(&forged, &body));
        assert_eq!(lab.ep(VICTIM).stats().dropped, dropped + 1, "{class:?}");
        assert!(
            lab.sent_since(mark, |s| s.from == client()
                && matches!(
                    s.header.packet_type,
                    PacketType::RESPONSE | PacketType::ABORT
                ))
            .is_empty()
        );
        assert!(lab.terminal(VICTIM, v).is_none());

        lab.run(interval);
        let mark = lab.mark();
        let mut forged = forged;
        forged.serial = Serial(800_001);
        lab.inject_and_settle(server(), client(), datagram(&forged, &body));
        assert_eq!(
            aborts(&lab, mark, client(), server()),
            vec![(true, want.0)],
            "{class:?}"
        );
        lab.run_until_ended(&[(VICTIM, v)], 10 * SEC);
        assert!(
            matches!(lab.terminal(VICTIM, v),
                Some(Completion::LocalAbort { code, reason: AbortReason::ProtocolError("challenge-refused") })
                    if code == want),
            "{class:?}: {:?}",
            lab.terminal(VICTIM, v)
        );
        assert_eq!(lab.ep(VICTIM).stats().security_failures, 1);
        // The service call ends with the client's connection abort.
        lab.run(100 * MS);
        let calls = victim_service_calls(&lab);
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].terminal, Some(Completion::RemoteAbort(want)));
        // A new call from the victim gets a new connection and succeeds.
        let v2 = call(&mut lab, VICTIM, &class.good(), 10_000, 10_000);
        lab.run_until_ended(&[(VICTIM, v2)], 30 * SEC);
        lab.assert_intact(VICTIM, v2);
        assert_healthy(&mut lab, h);
        lab.finish();
    }
}

/// A flood of well-formed CHALLENGEs (2,000 over 2 s) to a secured client: it answers at
/// most one per half `challenge_interval` (no amplification), the server drops the
/// unexpected RESPONSEs on its secure connection, and the victim's call completes.
#[test]
fn challenge_flood_to_a_secured_client_is_rate_limited() {
    for class in CLASSES {
        let mut lab = secure_lab(40, class.server(SecurityLevel::Plain, 0), |_, _| {});
        let h = healthy(&mut lab, class);
        let v = call(&mut lab, VICTIM, &class.good(), 3_000_000, 3_000_000);
        lab.run(20 * MS);
        let base = last(&lab, server(), client(), PacketType::ACK).header;
        let interval = lab.ep(VICTIM).config().challenge_interval;
        let sent_before = lab.ep(VICTIM).stats().responses_sent;
        let verified = lab.ep(SERVER_NODE).stats().responses_verified;
        let mark = lab.mark();
        let start = lab.now();
        for i in 0..2000u32 {
            let forged = conn_header(&base, PacketType::CHALLENGE, 1_000_000 + i);
            lab.inject(server(), client(), datagram(&forged, &class.challenge(i)));
            lab.run(MS);
        }
        let elapsed = lab.now().saturating_since(start);
        let answered = count(&lab, mark, client(), server(), PacketType::RESPONSE);
        let bound = (elapsed.as_micros() / (interval / 2).as_micros()) as usize + 1;
        eprintln!("{class:?}: 2000 CHALLENGEs in {elapsed:?} -> {answered} RESPONSEs");
        assert!(
            answered >= 2 && answered <= bound,
            "{class:?}: {answered} RESPONSEs in {elapsed:?}, at most {bound}"
        );
        assert_eq!(
            lab.ep(VICTIM).stats().responses_sent - sent_before,
            answered as u64
        );
        assert_eq!(lab.ep(VICTIM).stats().security_failures, 0);
        assert_eq!(lab.ep(SERVER_NODE).stats().responses_verified, verified);
        assert!(aborts(&lab, mark, server(), client()).is_empty());
        lab.run_until_ended(&[(VICTIM, v)], 120 * SEC);
        lab.assert_intact(VICTIM, v);
        assert_healthy(&mut lab, h);
        lab.finish();
    }
}

// ----- fake clients -----------------------------------------------------------------------

/// A DATA header from a fake client on connection `conn` with `class`.
fn fake_data(class: Class, epoch: u32, conn: u32, seq: u32) -> Header {
    Header {
        epoch: Epoch(epoch),
        cid: Cid::new(ConnId::from_index(conn), Channel(0)),
        call_number: CallNumber(1),
        seq: Seq(seq),
        serial: Serial(seq),
        packet_type: PacketType::DATA,
        flags: Flags::CLIENT_INITIATED,
        user_status: 0,
        security_index: class.index(),
        cksum: 0,
        service_id: app::SVC,
    }
}

/// A flood of garbage RESPONSEs on a challenged connection: the first is verified and
/// refused (one connection abort, one security failure); every later one is dropped without
/// being looked at, and nothing more is sent to the flooder.
#[test]
fn response_flood_costs_one_verification() {
    for class in CLASSES {
        let mut lab = secure_lab(50, class.server(SecurityLevel::Plain, 0), |_, _| {});
        let h = healthy(&mut lab, class);
        lab.run(20 * MS);
        let fake = addr(9);
        let d = fake_data(class, 0x8000_0042, 7, 1);
        let mark = lab.mark();
        lab.inject_and_settle(fake, server(), datagram(&d, &[0; 64]));
        assert_eq!(count(&lab, mark, server(), fake, PacketType::CHALLENGE), 1);
        let before = lab.ep(SERVER_NODE).stats();
        for i in 0..1000u32 {
            let r = conn_header(&d, PacketType::RESPONSE, 10 + i);
            let len = (i as usize * 37) % 300;
            let body: Vec<u8> = (0..len).map(|j| (j as u32 ^ i) as u8).collect();
            lab.inject(fake, server(), datagram(&r, &body));
            if i % 50 == 0 {
                lab.run(MS);
            }
        }
        lab.run(10 * MS);
        let after = lab.ep(SERVER_NODE).stats();
        assert_eq!(after.security_failures, before.security_failures + 1);
        assert_eq!(after.conn_aborts_sent, before.conn_aborts_sent + 1);
        // The healthy call's own traffic may add a drop or two (a late duplicate, say).
        assert!(after.dropped >= before.dropped + 999, "{after:?}");
        let sent = aborts(&lab, mark, server(), fake);
        assert_eq!(sent.len(), 1, "{class:?}: {sent:?}");
        assert!(sent[0].0);
        assert_eq!(count(&lab, mark, server(), fake, PacketType::CHALLENGE), 1);
        assert_healthy(&mut lab, h);
        lab.finish();
    }
}

/// DATA on a connection the server aborted (its RESPONSE was refused) is neither held nor
/// challenged again: it is dropped. (It used to be held again, up to `unsecured_backlog`
/// packets, and answered with a fresh CHALLENGE every `challenge_interval`.)
#[test]
fn data_on_an_aborted_service_connection_is_dropped() {
    for class in CLASSES {
        let mut lab = secure_lab(51, class.server(SecurityLevel::Plain, 0), |_, _| {});
        let h = healthy(&mut lab, class);
        let fake = addr(9);
        let d = fake_data(class, 0x8000_0043, 8, 1);
        lab.inject_and_settle(fake, server(), datagram(&d, &[0; 64]));
        let r = conn_header(&d, PacketType::RESPONSE, 2);
        lab.inject_and_settle(fake, server(), datagram(&r, &[0; 8]));
        assert_eq!(lab.ep(SERVER_NODE).stats().conn_aborts_sent, 1);
        let mark = lab.mark();
        let dropped = lab.ep(SERVER_NODE).stats().dropped;
        for i in 0..20u32 {
            let d = fake_data(class, 0x8000_0043, 8, 2 + i);
            lab.inject(fake, server(), datagram(&d, &[0; 64]));
            lab.run(100 * MS);
        }
        assert_eq!(count(&lab, mark, server(), fake, PacketType::CHALLENGE), 0);
        assert!(lab.ep(SERVER_NODE).stats().dropped >= dropped + 20);
        assert_healthy(&mut lab, h);
        lab.finish();
    }
}

/// A connection ABORT from the client of an unsecured connection releases the DATA it held
/// at once (they used to stay counted against `unsecured_backlog_total` until the
/// connection was reaped, locking other new connections out of holding anything).
#[test]
fn client_abort_of_an_unsecured_connection_releases_its_held_data() {
    for class in CLASSES {
        let mut lab = secure_lab(54, class.server(SecurityLevel::Plain, 0), |i, c| {
            if i == SERVER_NODE {
                c.unsecured_backlog_total = 4;
            }
        });
        let h = healthy(&mut lab, class);
        lab.run(20 * MS);
        let fake = addr(9);
        let before = lab.ep(SERVER_NODE).stats();
        for seq in 1..=4 {
            let d = fake_data(class, 0x8000_0046, 40, seq);
            lab.inject(fake, server(), datagram(&d, &[0; 100]));
        }
        lab.run(MS);
        assert_eq!(lab.ep(SERVER_NODE).stats().dropped, before.dropped);
        let abort = conn_header(&fake_data(class, 0x8000_0046, 40, 1), PacketType::ABORT, 9);
        lab.inject_and_settle(fake, server(), datagram(&abort, &words(&[1])));
        // Another connection may now hold four packets.
        let before = lab.ep(SERVER_NODE).stats();
        for seq in 1..=4 {
            let d = fake_data(class, 0x8000_0046, 41, seq);
            lab.inject(fake, server(), datagram(&d, &[0; 100]));
        }
        lab.run(MS);
        assert_eq!(
            lab.ep(SERVER_NODE).stats().dropped,
            before.dropped,
            "{class:?}"
        );
        assert_healthy(&mut lab, h);
        lab.finish();
    }
}

/// DATA floods on connections that never answer the CHALLENGE: each holds at most
/// `unsecured_backlog` packets and all together at most `unsecured_backlog_total` (the rest
/// are dropped); each connection is challenged once, and again at most once per
/// `challenge_interval` while DATA keeps coming; no call is made. When the connections are
/// reaped, their held packets are released: a new connection can hold packets again.
#[test]
fn data_flood_on_unsecured_connections_is_bounded() {
    for class in CLASSES {
        let mut lab = secure_lab(52, class.server(SecurityLevel::Plain, 0), |i, c| {
            if i == SERVER_NODE {
                c.unsecured_backlog = 4;
                c.unsecured_backlog_total = 10;
                c.service_conn_idle = 20 * SEC;
            }
        });
        let h = healthy(&mut lab, class);
        lab.run(20 * MS);
        let served = lab.w.servers[0].calls.len();
        let fake = addr(9);
        let before = lab.ep(SERVER_NODE).stats();
        let mark = lab.mark();
        // Four connections, ten packets each: 4 + 4 + 2 + 0 held.
        for conn in 0..4u32 {
            for seq in 1..=10 {
                let d = fake_data(class, 0x8000_0044, 20 + conn, seq);
                lab.inject(fake, server(), datagram(&d, &[seq as u8; 200]));
            }
            lab.run(MS);
        }
        let after = lab.ep(SERVER_NODE).stats();
        assert_eq!(after.dropped - before.dropped, 30, "{class:?}");
        assert_eq!(count(&lab, mark, server(), fake, PacketType::CHALLENGE), 4);
        assert_eq!(lab.w.servers[0].calls.len(), served, "no call was made");
        // More DATA on the first connection over 1 s: re-challenged at most every 250 ms.
        let mark = lab.mark();
        for i in 0..100u32 {
            let d = fake_data(class, 0x8000_0044, 20, 11 + i);
            lab.inject(fake, server(), datagram(&d, &[0; 200]));
            lab.run(10 * MS);
        }
        let rechallenges = count(&lab, mark, server(), fake, PacketType::CHALLENGE);
        eprintln!(
            "{class:?}: 100 DATA in 1 s on a held-full connection -> {rechallenges} CHALLENGEs"
        );
        assert!((3..=5).contains(&rechallenges), "{rechallenges}");
        // The fake connections are reaped; a new one holds packets again.
        lab.run(30 * SEC);
        let before = lab.ep(SERVER_NODE).stats();
        for seq in 1..=10 {
            let d = fake_data(class, 0x8000_0045, 30, seq);
            lab.inject(fake, server(), datagram(&d, &[0; 200]));
        }
        lab.run(MS);
        assert_eq!(lab.ep(SERVER_NODE).stats().dropped - before.dropped, 6);
        assert_healthy(&mut lab, h);
        lab.finish();
    }
}

/// Many fake unsecured connections (500 from 50 addresses) against `max_incoming_conns`:
/// the table never holds more, the excess gets BUSY, each admitted connection is challenged
/// once, and the healthy secured call completes.
#[test]
fn many_unsecured_connections_are_bounded() {
    for class in CLASSES {
        let mut lab = secure_lab(53, class.server(SecurityLevel::Plain, 0), |i, c| {
            if i == SERVER_NODE {
                c.max_incoming_conns = 40;
            }
        });
        let h = healthy(&mut lab, class);
        lab.run(20 * MS);
        let mark = lab.mark();
        let mut peak = 0;
        for i in 0..500u32 {
            let from = addr(10 + (i % 50) as usize);
            let d = fake_data(class, 0x8000_0100 + i, 100 + i, 1);
            lab.inject(from, server(), datagram(&d, &[1; 100]));
            if i % 10 == 0 {
                lab.run(MS);
                peak = peak.max(lab.ep(SERVER_NODE).live_conns());
            }
        }
        lab.run(MS);
        peak = peak.max(lab.ep(SERVER_NODE).live_conns());
        assert!(peak <= 40, "{class:?}: {peak} connections");
        let to_fakes = |ty| {
            lab.sent_since(mark, |s| {
                s.from == server() && s.to != healthy_addr() && s.header.packet_type == ty
            })
            .len()
        };
        let (challenges, busy) = (to_fakes(PacketType::CHALLENGE), to_fakes(PacketType::BUSY));
        // The healthy client's connection holds one place.
        assert_eq!(challenges, 39, "{class:?}");
        assert_eq!(busy, 500 - 39, "{class:?}");
        assert_healthy(&mut lab, h);
        lab.finish();
    }
}
