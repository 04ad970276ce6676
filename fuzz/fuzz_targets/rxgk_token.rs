//! Fuzz the yfs-rxgk token decoders: a client token (XDR and Linux key payload), a ticket's
//! container and its plaintext `RXGK_Token`, and opening a ticket with a server key, must
//! decode or fail with a typed error, never panic; what decodes re-encodes to bytes that
//! decode to the same value. Built with rxrpc-rxgk's `fuzzing` feature (MACs not compared).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rxrpc_rxgk::krb5::{Enctype, Key};
use rxrpc_rxgk::token::{RxgkToken, RxgkTokenContainer, TokenContents, open_ticket};

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = RxgkToken::decode_xdr(data) {
        assert_eq!(RxgkToken::decode_xdr(&t.encode_xdr()).as_ref(), Ok(&t));
    }
    if let Ok(t) = RxgkToken::decode_key_payload(data) {
        assert_eq!(RxgkToken::decode_key_payload(&t.encode_key_payload("x")).as_ref(), Ok(&t));
    }
    if let Ok(c) = TokenContents::decode(data) {
        assert_eq!(TokenContents::decode(&c.encode()).as_ref(), Ok(&c));
    }
    if let Ok(c) = RxgkTokenContainer::decode(data) {
        assert_eq!(RxgkTokenContainer::decode(&c.encode()).as_ref(), Ok(&c));
    }
    let _ = open_ticket(data, |kvno, et| {
        let et = Enctype::from_number(et)?;
        (kvno == 1).then(|| Key::new(et, &(0..et.key_len() as u8).collect::<Vec<_>>()).unwrap())
    });
});
