//! Ticket known answers from the test cell's own tool, shared/peers/openafs/make-rxkad-ticket.py
//! (byte-for-byte OpenAFS `tkt_MakeTicket`, DES by the `openssl` command), and the
//! `rxkad-ticket` command line.
//!
//! The vectors were made once with these commands (the tool applies odd parity to
//! `--session`):
//!
//! ```text
//! make-rxkad-ticket.py make --key 0123456789abcdef --kvno 1 --name admin --life 36000 \
//!     --start 1700000000 --session 0123456789abcdef
//! make-rxkad-ticket.py make --key 0123456789abcdef --kvno 3 --name afs --never-expire \
//!     --session 8a3b1c2d4e5f6071
//! make-rxkad-ticket.py make --key a7838acbc783ec94 --kvno 1 --name jdoe --inst admin \
//!     --realm EXAMPLE.ORG --life 7200 --start 1795851600 --session fedcba9876543210
//! ```

#![cfg(not(feature = "fuzzing"))]

use std::process::Command;

use rxrpc_proto::security::SecurityLevel;
use rxrpc_rxkad::ticket::NEVER;
use rxrpc_rxkad::{DesKey, Lifetime, RxkadToken, Ticket, hex, mint_token_at};

struct Vector {
    key: &'static str,
    kvno: u32,
    name: &'static str,
    instance: &'static str,
    realm: &'static str,
    lifetime: Lifetime,
    start: u32,
    session: &'static str,
    /// What the tool printed.
    session_out: &'static str,
    ticket: &'static str,
    life: u8,
}

const VECTORS: [Vector; 3] = [
    Vector {
        key: "0123456789abcdef",
        kvno: 1,
        name: "admin",
        instance: "",
        realm: "",
        lifetime: Lifetime::Seconds(36000),
        start: 1_700_000_000,
        session: "0123456789abcdef",
        session_out: "0123456789abcdef",
        ticket: "2212ffff12100bd337d5370e7086c36fc73c957f820ea44202d113fa951c5510",
        life: 0x78,
    },
    Vector {
        key: "0123456789abcdef",
        kvno: 3,
        name: "afs",
        instance: "",
        realm: "",
        lifetime: Lifetime::Never,
        start: 0,
        session: "8a3b1c2d4e5f6071",
        session_out: "8a3b1c2c4f5e6170",
        ticket: "73fa07d6d567fd5b0406594ecae8d898d664b788c0e3488684bbd616f1430ac0",
        life: 0xff,
    },
    Vector {
        key: "a7838acbc783ec94",
        kvno: 1,
        name: "jdoe",
        instance: "admin",
        realm: "EXAMPLE.ORG",
        lifetime: Lifetime::Seconds(7200),
        start: 1_795_851_600,
        session: "fedcba9876543210",
        session_out: "fedcba9876543210",
        ticket: "3dedfc9acb915f47368a215827f374a0b7960f9dcaddad18696a948e2a46ed16\
                 d7ce0098f9dd408e14fb96701c6e0f6d",
        life: 0x18,
    },
];

#[test]
fn mint_matches_make_rxkad_ticket_py() {
    for v in &VECTORS {
        let key = DesKey::from_hex(v.key).unwrap();
        let session = DesKey::from_hex(v.session).unwrap().with_odd_parity();
        assert_eq!(session.to_hex(), v.session_out);
        let tok = mint_token_at(
            &key,
            v.kvno,
            v.name,
            v.instance,
            v.realm,
            v.lifetime,
            Some(session),
            v.start,
        )
        .unwrap();
        assert_eq!(hex::encode(&tok.ticket), v.ticket, "{}", v.name);
        assert_eq!(tok.kvno, v.kvno);
        let t = Ticket::open(&tok.ticket, &key).unwrap();
        assert_eq!(
            (t.name.as_str(), t.instance.as_str(), t.realm.as_str()),
            (v.name, v.instance, v.realm)
        );
        assert_eq!((t.life, t.start, t.session_key), (v.life, v.start, session));
        assert_eq!(t.service, "afs");
        match v.lifetime {
            Lifetime::Never => assert_eq!((t.end(), tok.expires), (NEVER, None)),
            Lifetime::Seconds(s) => assert_eq!(tok.expires, Some(u64::from(v.start + s))),
        }
    }
}

fn tool(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rxkad-ticket"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn cli_mint_and_decode() {
    let v = &VECTORS[0];
    let (ok, out, err) = tool(&[
        "mint",
        "--key",
        v.key,
        "--name",
        "admin",
        "--lifetime",
        "36000",
        "--start",
        "1700000000",
        "--session",
        v.session,
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!(
            "KVNO=1\nSESSION_KEY={}\nTICKET={}\n",
            v.session_out, v.ticket
        )),
        "{out}"
    );
    let tok = RxkadToken::from_assignments(&out, SecurityLevel::Auth).unwrap();
    assert_eq!(hex::encode(&tok.ticket), v.ticket);
    assert_eq!(tok.expires, Some(1_700_036_000));

    let (ok, out, err) = tool(&["decode", v.ticket, "--key", v.key]);
    assert!(ok, "{err}");
    assert!(out.contains("name=\"admin\""), "{out}");
    assert!(
        out.contains("life=0x78\nstart=1700000000\nend=1700036000"),
        "{out}"
    );

    // A KeyFile, a never-expiring ticket with a random session key.
    let dir = std::env::temp_dir().join(format!("rxkad-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kf = dir.join("KeyFile");
    std::fs::write(
        &kf,
        [
            0, 0, 0, 1, 0, 0, 0, 7, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
        ],
    )
    .unwrap();
    let kfs = kf.to_str().unwrap();
    let (ok, out, err) = tool(&["mint", "--keyfile", kfs, "--name", "afs", "--never-expire"]);
    assert!(ok, "{err}");
    let tok = RxkadToken::from_assignments(&out, SecurityLevel::Plain).unwrap();
    assert_eq!((tok.kvno, tok.expires), (7, None));
    let (ok, out, _) = tool(&["decode", &hex::encode(&tok.ticket), "--keyfile", kfs]);
    assert!(ok);
    assert!(out.contains("end=never"), "{out}");
    // Errors: wrong key, no key, unknown kvno.
    let (ok, _, err) = tool(&[
        "decode",
        &hex::encode(&tok.ticket),
        "--key",
        "fedcba9876543210",
    ]);
    assert!(!ok && err.contains("cannot decode"), "{err}");
    let (ok, _, _) = tool(&["mint", "--name", "x"]);
    assert!(!ok);
    let (ok, _, err) = tool(&["mint", "--keyfile", kfs, "--kvno", "2", "--name", "x"]);
    assert!(!ok && err.contains("kvno 2"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
