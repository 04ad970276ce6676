//! Seeds for the cargo-fuzz targets `rxkad_ticket` and `rxkad_response` (fuzz/), which use
//! this crate built with the `fuzzing` feature: tickets and RESPONSE blocks are plaintext
//! there. `seeds_pass_the_checks` shows that the RESPONSE seeds get through every check of
//! the fuzz target's fixture (the constants of `fuzz/fuzz_targets/rxkad_response.rs`, the
//! same as tests/common); the ignored `write_fuzz_corpus` writes them:
//!
//! ```text
//! cargo test -p rxrpc-rxkad --features fuzzing --test fuzz_corpus -- --ignored
//! ```

#![cfg(feature = "fuzzing")]

mod common;

use std::path::Path;

use bytes::Bytes;
use common::*;
use rxrpc_proto::security::{ConnSecurity, SecurityLevel};
use rxrpc_proto::wire::{CallNumber, Challenge, Header, RxkadChallengeV1, RxkadChallengeV2};
use rxrpc_rxkad::ticket::make_ticket;
use rxrpc_rxkad::{DesKey, KeyTable, Lifetime, mint_token_at};

fn ticket_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let k = DesKey([0x3d; 8]);
    let mut v = vec![];
    let t = make_ticket("admin", "", "", k, 1_699_999_940, Lifetime::Seconds(3600)).unwrap();
    v.push(("admin-1h", t.encode_plain().unwrap()));
    let t = make_ticket("afs", "", "", k, 0, Lifetime::Never).unwrap();
    v.push(("afs-never", t.encode_plain().unwrap()));
    let t = make_ticket(
        "jdoe",
        "admin",
        "EXAMPLE.ORG",
        k,
        1_700_000_000,
        Lifetime::Seconds(86400 * 7),
    )
    .unwrap();
    v.push(("jdoe-admin-realm-7d", t.encode_plain().unwrap()));
    let mut le = make_ticket("le", "", "", k, 1_700_000_000, Lifetime::Seconds(600)).unwrap();
    le.flags = 1;
    v.push(("little-endian", le.encode_plain().unwrap()));
    v.push((
        "keyfile",
        KeyTable::from_keys([(1, cell_key())]).to_keyfile(),
    ));
    let mut ext = vec![0, 0, 0, 2];
    for w in [16u32, 0, 1, 0, 8] {
        ext.extend_from_slice(&w.to_be_bytes());
    }
    ext.extend_from_slice(&cell_key().0);
    for w in [16u32, 2, 2, 18, 4] {
        ext.extend_from_slice(&w.to_be_bytes());
    }
    ext.extend_from_slice(&[1, 2, 3, 4]);
    v.push(("keyfile-ext", ext));
    v
}

fn response_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let h = Header::default();
    let mut v = vec![];
    let v2 = |nonce, min_level| {
        let mut b = Vec::new();
        Challenge::RxkadV2(RxkadChallengeV2 {
            version: 2,
            nonce,
            min_level,
            spare: 0,
        })
        .emit(&mut b);
        b
    };
    for (name, level, life, start) in [
        (
            "response-clear-1h",
            SecurityLevel::Plain,
            Lifetime::Seconds(3600),
            NOW - 60,
        ),
        (
            "response-auth-never",
            SecurityLevel::Auth,
            Lifetime::Never,
            0,
        ),
        (
            "response-crypt-10h",
            SecurityLevel::Encrypt,
            Lifetime::Seconds(36000),
            NOW - 60,
        ),
    ] {
        let tok = mint_token_at(&cell_key(), 1, "admin", "", "", life, None, start as u32)
            .unwrap()
            .with_level(level);
        let mut p = pair_with(tok, SecurityLevel::Plain);
        let r = p
            .client
            .respond_to_challenge(&h, Bytes::from(v2(0, 0)), [CallNumber(1); 4])
            .unwrap();
        v.push((name, r));
    }
    v.push(("challenge-v2", v2(7, 1)));
    let mut b = Vec::new();
    Challenge::RxkadV1(RxkadChallengeV1 { nonce: 7, level: 0 }).emit(&mut b);
    v.push(("challenge-v1", b));
    v
}

#[test]
fn seeds_pass_the_checks() {
    let h = Header::default();
    for (name, r) in response_seeds()
        .into_iter()
        .filter(|(n, _)| n.starts_with("response"))
    {
        let mut p = pair_with(token(SecurityLevel::Plain), SecurityLevel::Plain);
        p.server.issue_challenge_with_nonce(0);
        p.server
            .verify_response(&h, Bytes::from(r))
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert!(p.server.is_secure());
    }
    for (name, t) in ticket_seeds().into_iter().take(4) {
        assert!(rxrpc_rxkad::Ticket::open(&t, &cell_key()).is_ok(), "{name}");
    }
}

#[test]
#[ignore = "writes the fuzz seed corpus into fuzz/corpus"]
fn write_fuzz_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    for (target, seeds) in [
        ("rxkad_ticket", ticket_seeds()),
        ("rxkad_response", response_seeds()),
    ] {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in seeds {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}
