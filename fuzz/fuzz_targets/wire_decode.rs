//! Fuzz the Rx wire decoder: any bytes given to `Packet::parse` must decode or fail with a
//! typed error, never panic; a packet that decodes must re-encode to bytes that decode to the
//! same packet, and re-encoding that is stable. The zero-copy `parse_bytes` must agree.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rxrpc_proto::wire::Packet;

fuzz_target!(|data: &[u8]| {
    let parsed = Packet::parse(data);
    assert_eq!(Packet::parse_bytes(Bytes::copy_from_slice(data)), parsed);
    if let Ok(p) = parsed {
        let emitted = p.to_vec();
        assert_eq!(emitted.len(), p.buffer_len());
        let again = Packet::parse(&emitted).expect("a re-encoded packet must decode");
        assert_eq!(again, p);
        assert_eq!(again.to_vec(), emitted);
    }
});
