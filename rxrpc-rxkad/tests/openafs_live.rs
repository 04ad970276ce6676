//! Live interop with the shared OpenAFS 1.8.9 cell (`scripts/peers.sh start`): a minimal
//! hand-driven Rx client call (one DATA packet out, CHALLENGE/RESPONSE, one DATA packet back)
//! to the ptserver's `PR_ListMax` (510), protected by this crate at each level, with a token
//! minted from the cell's own `KeyFile`. Also the refusals the server answers with. Skips
//! loudly when the cell is not running (fails under `CI=true`).

#![cfg(not(feature = "fuzzing"))]

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rxrpc_proto::Side;
use rxrpc_proto::security::{ClientSecurity, ConnIdent, SecurityLevel};
use rxrpc_proto::wire::{
    AbortCode, Body, CallNumber, Cid, ConnId, Epoch, Flags, Header, Packet, PacketType,
    SecurityIndex, Seq, Serial, ServiceId,
};
use rxrpc_rxkad::{DesKey, KeyStore, KeyTable, Lifetime, RxkadClient, RxkadToken, mint_token_at};
use rxrpc_testkit::OpenAfsCell;

const PR_SERVICE: u16 = 73;
const PR_LIST_MAX: u32 = 510;

#[derive(Debug, PartialEq)]
enum Outcome {
    /// The reply's application data.
    Reply(Vec<u8>),
    /// An ABORT and the call number it came on (0: the connection).
    Abort(u32, AbortCode),
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// One call over a fresh connection.
fn call(cell: &OpenAfsCell, token: RxkadToken) -> Outcome {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.connect(cell.ptserver()).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let r = u32::from(sock.local_addr().unwrap().port());
    let epoch = Epoch(0x8000_0000 | (now() as u32 & 0x7fff_0000) | r);
    let conn = ConnId((r << 16 | 0x1000) & 0x7fff_fffc);
    let ident = ConnIdent {
        side: Side::Client,
        peer: cell.ptserver(),
        epoch,
        cid: conn,
        service_id: ServiceId(PR_SERVICE),
        security_index: SecurityIndex::RXKAD,
    };
    let mut sec = RxkadClient::new(token).new_conn(&ident).unwrap();
    let mut serial = 0u32;
    let mut header = |ty: PacketType, call: u32, seq: u32, flags: Flags| {
        serial += 1;
        Header {
            epoch,
            cid: Cid(conn.0),
            call_number: CallNumber(call),
            seq: Seq(seq),
            serial: Serial(serial),
            packet_type: ty,
            flags: flags.with(Flags::CLIENT_INITIATED),
            user_status: 0,
            security_index: SecurityIndex::RXKAD,
            cksum: 0,
            service_id: ServiceId(PR_SERVICE),
        }
    };
    let mut h = header(
        PacketType::DATA,
        1,
        1,
        Flags::LAST_PACKET | Flags::REQUEST_ACK,
    );
    sec.data_capacity(1412);
    let mut data_pkt = Vec::new();
    let mut payload = Vec::new();
    sec.secure_packet(&mut h, &PR_LIST_MAX.to_be_bytes(), &mut payload)
        .unwrap();
    h.emit(&mut data_pkt);
    data_pkt.extend_from_slice(&payload);
    sock.send(&data_pkt).unwrap();
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut buf = vec![0u8; 65536];
    while Instant::now() < deadline {
        let n = match sock.recv(&mut buf) {
            Ok(n) => n,
            Err(_) => {
                sock.send(&data_pkt).unwrap();
                continue;
            }
        };
        let raw = Bytes::copy_from_slice(&buf[..n]);
        let Ok(p) = Packet::parse_bytes(raw.clone()) else {
            continue;
        };
        match &p.body {
            Body::Challenge(_) => {
                let resp = sec
                    .respond_to_challenge(
                        &p.header,
                        raw.slice(28..),
                        [CallNumber(1), CallNumber(0), CallNumber(0), CallNumber(0)],
                    )
                    .unwrap();
                let mut out = Vec::new();
                header(PacketType::RESPONSE, 0, 0, Flags::empty()).emit(&mut out);
                out.extend_from_slice(&resp);
                sock.send(&out).unwrap();
            }
            Body::Abort(a) => return Outcome::Abort(p.header.call_number.0, a.code),
            Body::Data(_) if p.header.call_number.0 == 1 => {
                let plain = sec
                    .verify_packet(&p.header, raw.slice(28..))
                    .unwrap_or_else(|e| panic!("reply refused: {e:?}"));
                // Acknowledge everything so the server does not keep the call.
                let mut out = Vec::new();
                header(PacketType::ACKALL, 1, 0, Flags::empty()).emit(&mut out);
                sock.send(&out).unwrap();
                return Outcome::Reply(plain.to_vec());
            }
            _ => {}
        }
    }
    panic!("no answer from the ptserver within 8 s");
}

fn cell_keys(cell: &OpenAfsCell) -> (u32, DesKey) {
    let keys = KeyTable::load_dir(cell.config_dir()).unwrap();
    let (kvno, key) = keys.newest().expect("the cell has an rxkad key");
    assert_eq!(kvno, cell.kvno());
    if let Some(k) = cell.key() {
        assert_eq!(key.0, k, "KeyFile and env file agree");
    }
    assert_eq!(keys.get_key(kvno), Some(key));
    (kvno, key)
}

fn admin(key: &DesKey, kvno: u32, start: u64, life: Lifetime, level: SecurityLevel) -> RxkadToken {
    mint_token_at(key, kvno, "admin", "", "", life, None, start as u32)
        .unwrap()
        .with_level(level)
}

#[test]
fn pr_list_max_at_each_level() {
    let Some(cell) = OpenAfsCell::get() else {
        return;
    };
    let (kvno, key) = cell_keys(cell);
    for level in [
        SecurityLevel::Plain,
        SecurityLevel::Auth,
        SecurityLevel::Encrypt,
    ] {
        let tok = admin(&key, kvno, now() - 60, Lifetime::Seconds(3600), level);
        match call(cell, tok) {
            // uid, gid: the highest user and (negative) group ids.
            Outcome::Reply(r) => assert_eq!(r.len(), 8, "{level:?}"),
            other => panic!("{level:?}: {other:?}"),
        }
    }
    // A never-expiring "afs" ticket, as -localauth makes.
    let afs = mint_token_at(&key, kvno, "afs", "", "", Lifetime::Never, None, 0).unwrap();
    assert!(matches!(call(cell, afs), Outcome::Reply(_)));
}

#[test]
fn refusals_from_the_server() {
    let Some(cell) = OpenAfsCell::get() else {
        return;
    };
    let (kvno, key) = cell_keys(cell);
    let code = |o: Outcome| match o {
        Outcome::Abort(_, c) => c,
        other => panic!("{other:?}"),
    };
    let wrong = admin(
        &DesKey([0x5b; 8]),
        kvno,
        now() - 60,
        Lifetime::Seconds(3600),
        SecurityLevel::Encrypt,
    );
    assert_eq!(code(call(cell, wrong)), AbortCode::RXKADBADTICKET);
    let unknown = admin(
        &key,
        kvno + 7,
        now() - 60,
        Lifetime::Seconds(3600),
        SecurityLevel::Encrypt,
    );
    assert_eq!(code(call(cell, unknown)), AbortCode::RXKADUNKNOWNKEY);
    // Expired two hours ago (the client does not know: its token says "never").
    let old = admin(
        &key,
        kvno,
        now() - 3 * 3600,
        Lifetime::Seconds(3600),
        SecurityLevel::Encrypt,
    );
    let old = RxkadToken {
        expires: None,
        ..old
    };
    assert_eq!(code(call(cell, old)), AbortCode::RXKADEXPIRED);
    let early = admin(
        &key,
        kvno,
        now() + 7200,
        Lifetime::Seconds(3600),
        SecurityLevel::Encrypt,
    );
    assert_eq!(code(call(cell, early)), AbortCode::RXKADNOAUTH);
}
