//! Fuzz XDR decoding of rxgen-generated types (VL, PR, ubik and the test interface that uses
//! every IDL construct) and of the runtime's primitives: any bytes must decode or fail with a
//! typed error, never panic or allocate without bound; a value that decodes must re-encode to
//! as many bytes as it consumed, and re-encoding must then be stable (the first re-encoding is
//! not always the same bytes: widened `char`/`short` values are accepted with either sign
//! extension and re-encoded the OpenAFS way; values are compared by their encodings, as a NaN
//! `float` is not equal to itself). The streaming decoder must agree with the one-shot one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rxrpc_afs::{demo, pr, ubik, vl, xdrtest};
use rxrpc_xdr::{Decoded, Decoder, Limits, StreamDecoder, Xdr};

fn check<T: Xdr + std::fmt::Debug>(data: &[u8]) {
    let mut d = Decoder::new(data);
    let Ok(v) = T::decode(&mut d) else { return };
    let used = d.position();
    let again = v.to_xdr().expect("a decoded value re-encodes");
    assert_eq!(again.len(), used, "{v:?}");
    let back = T::from_xdr(&again).expect("a re-encoded value decodes");
    assert_eq!(back.to_xdr().expect("re-encodes"), again);
    // Fed in pieces, the streaming decoder finds the same value.
    let mut s = StreamDecoder::new(Limits::default(), 1 << 20);
    let mut got = None;
    for chunk in data[..used].chunks(7) {
        s.push(chunk);
        if let Ok(Decoded::Item(x)) = s.try_decode(false, T::decode) {
            got = Some(x);
            break;
        }
    }
    if got.is_none() {
        if let Ok(Decoded::Item(x)) = s.try_decode(true, T::decode) {
            got = Some(x);
        }
    }
    let got = got.expect("the streaming decoder finds the value");
    assert_eq!(got.to_xdr().expect("re-encodes"), again);
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    match sel % 16 {
        0 => check::<vl::Nvldbentry>(rest),
        1 => check::<vl::Uvldbentry>(rest),
        2 => check::<vl::NvldbList>(rest),
        3 => check::<vl::VldbUpdateEntry>(rest),
        4 => check::<pr::Prcheckentry>(rest),
        5 => check::<pr::Prdebugentry>(rest),
        6 => check::<ubik::UbikDebug>(rest),
        7 => check::<ubik::UbikSdebug>(rest),
        8 => check::<demo::DemoEntry>(rest),
        9 => check::<xdrtest::XtAll>(rest),
        10 => check::<xdrtest::XtArrays>(rest),
        11 => check::<xdrtest::XtByInt>(rest),
        12 => check::<xdrtest::XtNode>(rest),
        13 => check::<xdrtest::XtStrict>(rest),
        14 => {
            // Lists as the generated stubs decode them (PR_NameToID's namelist, an unbounded
            // array of a fixed-size element; VL_ListAttributesN2's nbulkentries).
            let mut d = Decoder::new(rest);
            if let Ok(v) = d.array(u32::MAX, pr::Prname::MIN_SIZE, pr::Prname::decode) {
                assert!(v.len() * pr::Prname::MIN_SIZE <= rest.len());
            }
            let mut d = Decoder::new(rest);
            let _ = d.array(u32::MAX, vl::Nvldbentry::MIN_SIZE, vl::Nvldbentry::decode);
        }
        _ => {
            // Primitives with arbitrary bounds.
            let mut d = Decoder::new(rest);
            let max = u32::from(rest.first().copied().unwrap_or(0));
            let _ = d.string(max);
            let _ = d.opaque(u32::MAX);
            let _ = d.count(max, 0);
            let _ = d.bool();
            let _ = d.char();
            let _ = d.u_short();
            let _ = d.optional(|d| d.i64());
            let _ = d.finish();
        }
    }
});
