//! Minting cross-checked against `make-rxgk-token.py` (shared/peers/linux-kernel/), whose
//! tickets the Linux 7.3 server accepts. The commands and their output are recorded here;
//! with the same inputs (fixed K0, confounder and start) the tickets must be byte-identical,
//! both through the library and through the `rxgk-token` binary.

// These tests expect integrity checks to fail; the `fuzzing` feature turns them off.
#![cfg(not(feature = "fuzzing"))]

use std::process::Command;

use rxrpc_proto::security::SecurityLevel;
use rxrpc_rxgk::conn::transport_key;
use rxrpc_rxgk::hex;
use rxrpc_rxgk::krb5::{Enctype, Key, KeyRole};
use rxrpc_rxgk::token::{MintParams, RxgkToken, open_ticket};

const K18: &str = "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f";

/// `python3 make-rxgk-token.py token --server-key 4041...5f --enctype 18 --level encrypt
///  --k0 $(printf '%064d' 18) --confounder 000102030405060708090a0b0c0d0e0f --start 1795852375`
/// (the vector in the linux-kernel README).
const PY_TICKET_18: &str = "000000010000001200000064b84ea9e8b8f9898dd57c3f191ff38cf7756a800dd45ff3df6b3531eb3e1aa5902ed4c2a37e65bb2abd351fcd39abdf59a33b6a9995e5965ee78853ef7ffaf4f92f217b7bdb4c2aa7e39dfe3ea4c032033c6be619e5d4dab05466df8482c70d2d936e36c1";

/// `python3 make-rxgk-token.py token --server-key 000102030405060708090a0b0c0d0e0f --enctype 19
///  --level auth --k0-enctype 20 --k0 $(printf '%064d' 20) --lifetime 60 --bytelife 20
///  --confounder f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff --start 1795852375 --expire-in 7200 --kvno 7`
const PY_TICKET_19_K0_20: &str = "0000000700000013000000684fbbf9724f4ba887f0a2f724986c15cc328b9e16e0038dd726717bfa31bce8c9e61a63cb83f420bccf1e1c3a82e8ffe3720c69b840d7726ecb4759d7abc6f15db665adc265ad7a34dc469b85f83d068dddb103eedd2bdfa23e46d07aece76f28f4672725a401109e";

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn k0(et: Enctype, last: u8) -> Key {
    let mut b = vec![0u8; et.key_len()];
    let n = b.len();
    b[n - 1] = last;
    Key::new(et, &b).unwrap()
}

#[test]
fn mint_matches_python_enctype_18() {
    let sk = Key::new(Enctype::Aes256CtsHmacSha196, &h(K18)).unwrap();
    let mut p = MintParams::new(
        1,
        SecurityLevel::Encrypt,
        k0(Enctype::Aes256CtsHmacSha196, 0x18),
        17_958_523_750_000_000,
        3600,
    );
    p.confounder = Some(h("000102030405060708090a0b0c0d0e0f").try_into().unwrap());
    let tok = p.mint(&sk).unwrap();
    assert_eq!(hex::encode(&tok.ticket), PY_TICKET_18);
    assert_eq!(tok.end, 17_958_559_750_000_000);
    // And it opens again.
    let (c, t) = open_ticket(&tok.ticket, |_, _| Some(sk.clone())).unwrap();
    assert_eq!((c.kvno, c.enctype), (1, 18));
    assert_eq!(t.k0, tok.k0);
    assert_eq!(t.expiration, 17_958_559_750_000_000);
}

#[test]
fn mint_matches_python_enctype_19_with_k0_20() {
    let sk = Key::new(
        Enctype::Aes128CtsHmacSha256128,
        &(0..16).collect::<Vec<u8>>(),
    )
    .unwrap();
    let mut p = MintParams::new(
        7,
        SecurityLevel::Auth,
        k0(Enctype::Aes256CtsHmacSha384192, 0x20),
        17_958_523_750_000_000,
        7200,
    );
    p.lifetime = 60;
    p.bytelife = 20;
    p.confounder = Some(h("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff").try_into().unwrap());
    assert_eq!(hex::encode(&p.seal(&sk).unwrap()), PY_TICKET_19_K0_20);
}

#[test]
fn cli_mint_matches_python() {
    let out = Command::new(env!("CARGO_BIN_EXE_rxgk-token"))
        .args([
            "mint",
            "--server-key",
            K18,
            "--enctype",
            "18",
            "--level",
            "encrypt",
            "--k0",
            &format!("{:064}", 18),
            "--confounder",
            "000102030405060708090a0b0c0d0e0f",
            "--start",
            "1795852375",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "ENCTYPE=18");
    assert_eq!(lines[1], "KVNO=1");
    assert_eq!(lines[2], "LEVEL=encrypt");
    assert_eq!(lines[3], format!("K0={:064}", 18));
    assert_eq!(lines[4], format!("TICKET={PY_TICKET_18}"));
    // The comment line as make-rxgk-token.py prints it.
    assert_eq!(
        lines[5],
        "# token sealed with aes256-cts-hmac-sha1-96 server key kvno 1 (usage 1036); K0 aes256-cts-hmac-sha1-96; level 2; start 17958523750000000; expires 17958559750000000; ticket 112 bytes"
    );
}

/// `python3 make-rxgk-token.py tk --k0 $(printf '%064d' 42) --epoch 0xd700f8df --cid 0x96a5f484
///  --start-time 104070801 --key-number 0 --enctype 18` (the first connection of
/// sample-linux-rxgk.pcap) and the same for the second connection at key number 1.
#[test]
fn transport_keys_match_python() {
    let tk = transport_key(
        &k0(Enctype::Aes256CtsHmacSha196, 0x42),
        0xd700f8df,
        0x96a5f484,
        104_070_801,
        0,
    );
    assert_eq!(
        hex::encode(tk.as_bytes()),
        "6f3258e9f154ef3c0af8eb922d16e895c8579a7978239fb5b8702b8ad95cf60a"
    );
    assert_eq!(
        hex::encode(&tk.derive_usage_key(1030, KeyRole::Encryption)),
        "f12387a1414a29e62921e0b7efe6955c1b84c7e1795ecc9386f3fa570881888a"
    );
    assert_eq!(
        hex::encode(&tk.derive_usage_key(1029, KeyRole::Checksum)),
        "5722bb9ab4a968912b68cfd81aafa4eadf2708e18e85b68257dffe7aefb72ed3"
    );
    let tk = transport_key(
        &k0(Enctype::Aes128CtsHmacSha256128, 0x19),
        0xd700f8df,
        0x5ea809bc,
        105_537_296,
        1,
    );
    assert_eq!(
        hex::encode(tk.as_bytes()),
        "e6bf60e2200dc3206f01bd9bfff31970"
    );
    assert_eq!(
        hex::encode(&tk.derive_usage_key(1027, KeyRole::Checksum)),
        "2cfef48111f8ca3f988ab9d82eb26755"
    );
    assert_eq!(
        hex::encode(&tk.derive_usage_key(1026, KeyRole::Integrity)),
        "ec76f5b064afe30a79552efd980fb951"
    );
}

#[test]
fn client_token_xdr_round_trip() {
    let sk = Key::new(Enctype::Aes256CtsHmacSha196, &h(K18)).unwrap();
    let mut p = MintParams::new(
        1,
        SecurityLevel::Auth,
        k0(Enctype::Aes256CtsHmacSha196, 1),
        5,
        10,
    );
    p.lifetime = 30;
    p.bytelife = 12;
    let tok = p.mint(&sk).unwrap();
    let x = tok.encode_xdr();
    assert_eq!(RxgkToken::decode_xdr(&x).unwrap(), tok);
    let payload = tok.encode_key_payload("rxvm");
    assert_eq!(RxgkToken::decode_key_payload(&payload).unwrap(), tok);
    assert!(RxgkToken::decode_xdr(&x[..x.len() - 1]).is_err());
}
