//! Fuzz rxkad ticket and key-file decoding. Built with rxrpc-rxkad's `fuzzing` feature, so
//! `Ticket::open` does no DES and the input is the ticket's plaintext: any bytes must decode
//! or fail with a typed error, never panic, and a decoded ticket must re-encode to a ticket
//! that decodes to the same fields. The same bytes are also read as `KeyFile` and
//! `KeyFileExt` images.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rxrpc_rxkad::{DesKey, KeyTable, Ticket};

fuzz_target!(|data: &[u8]| {
    let key = DesKey([0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]);
    if let Ok(t) = Ticket::decode_plain(data) {
        let again = t.encode_plain().expect("a decoded ticket re-encodes");
        assert_eq!(
            Ticket::decode_plain(&again).expect("re-encoded ticket decodes"),
            t
        );
        let _ = t.validity(1_700_000_000);
        let _ = t.expires();
    }
    let _ = Ticket::open(data, &key);
    if let Ok(k) = KeyTable::parse_keyfile(data) {
        assert_eq!(
            KeyTable::parse_keyfile(&k.to_keyfile()).expect("round trip"),
            k
        );
    }
    let _ = KeyTable::parse_keyfile_ext(data);
});
