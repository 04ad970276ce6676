//! Property tests of the generated types: every value encodes, decodes back to itself, takes
//! a multiple of 4 bytes and at least `MIN_SIZE`; every strict prefix of an encoding fails to
//! decode with a typed error (never a panic), and so does the encoding with a byte appended.

use proptest::prelude::*;
use rxrpc_xdr::{DecodeErrorKind, Xdr};

use crate::{demo, pr, ubik, vl, xdrtest};

fn check<T: Xdr + PartialEq + std::fmt::Debug>(v: &T) -> Result<(), TestCaseError> {
    let b = v.to_xdr().map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(b.len() % 4, 0);
    prop_assert!(
        b.len() >= T::MIN_SIZE,
        "{} < MIN_SIZE {}",
        b.len(),
        T::MIN_SIZE
    );
    let back = T::from_xdr(&b).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&back, v);
    // Truncations fail (a few, to keep big values fast).
    for cut in [0, 1, b.len() / 2, b.len().saturating_sub(1)] {
        if cut < b.len() {
            prop_assert!(
                T::from_xdr(&b[..cut]).is_err(),
                "prefix of {} bytes decoded",
                cut
            );
        }
    }
    let mut longer = b.clone();
    longer.push(0);
    match T::from_xdr(&longer) {
        Err(e) => {
            let trailing = matches!(e.kind(), DecodeErrorKind::TrailingBytes { .. });
            prop_assert!(trailing, "{}", e);
        }
        Ok(_) => prop_assert!(false, "trailing byte accepted"),
    }
    Ok(())
}

macro_rules! roundtrip {
    ($($name:ident: $t:ty;)*) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]
            $(
                #[test]
                fn $name(v in any::<$t>()) {
                    check(&v)?;
                }
            )*
        }
    };
}

roundtrip! {
    vl_vldbentry: vl::Vldbentry;
    vl_nvldbentry: vl::Nvldbentry;
    vl_uvldbentry: vl::Uvldbentry;
    vl_single: vl::SingleNvldbentry;
    vl_list: vl::NvldbList;
    vl_attrs: vl::VldbListByAttributes;
    vl_update: vl::VldbUpdateEntry;
    vl_addr: vl::ListAddrByAttributes;
    vl_stats: vl::Vldstats;
    vl_header: vl::VitalVlheader;
    vl_callback: vl::VlCallBack;
    pr_check: pr::Prcheckentry;
    pr_list: pr::Prlistentries;
    pr_debug: pr::Prdebugentry;
    pr_update: pr::PrUpdateEntry;
    ubik_debug: ubik::UbikDebug;
    ubik_sdebug: ubik::UbikSdebug;
    ubik_debug_old: ubik::UbikDebugOld;
    ubik_sdebug_old: ubik::UbikSdebugOld;
    ubik_bdesc: ubik::BDesc;
    ubik_iovec: ubik::UbikIovec;
    ubik_ifaddr: ubik::UbikInterfaceAddr;
    demo_value: demo::DemoValue;
    demo_entry: demo::DemoEntry;
    demo_kind: demo::DemoKind;
    xt_prims: xdrtest::XtPrims;
    xt_arrays: xdrtest::XtArrays;
    xt_node: xdrtest::XtNode;
    xt_by_int: xdrtest::XtByInt;
    xt_by_enum: xdrtest::XtByEnum;
    xt_by_bool: xdrtest::XtByBool;
    xt_strict: xdrtest::XtStrict;
    xt_all: xdrtest::XtAll;
}

/// Wire sizes the interop tests and OpenAFS agree on.
#[test]
fn wire_sizes() {
    let size = |b: Vec<u8>| b.len();
    assert_eq!(size(vl::Nvldbentry::default().to_xdr().unwrap()), 476);
    assert_eq!(vl::Nvldbentry::MIN_SIZE, 476);
    assert_eq!(vl::Vldbentry::MIN_SIZE, 4 * (65 + 2 + 24 + 3 + 2));
    assert_eq!(
        vl::Uvldbentry::MIN_SIZE,
        4 * (65 + 1) + 13 * 44 + 4 * (3 * 13 + 3 + 2 + 9)
    );
    assert_eq!(pr::Prcheckentry::MIN_SIZE, 4 * (12 + 64));
    assert_eq!(ubik::UbikDebug::MIN_SIZE, 4 * (28 + 256));
    assert_eq!(ubik::UbikSdebug::MIN_SIZE, 4 * (9 + 255));
    assert_eq!(xdrtest::XtByInt::MIN_SIZE, 4);
}

/// The generated constants and opcode tables.
#[test]
fn constants_and_opcodes() {
    assert_eq!(vl::VL_MAXNAMELEN, 65);
    assert_eq!(vl::vl::opcodes::GET_ENTRY_BY_NAME_N, 519);
    assert_eq!(vl::vl::opcodes::LIST_ATTRIBUTES_N2, 534);
    assert_eq!(vl::vl::STATINDEX, 15);
    assert_eq!(vl::vl::procedure_name(514), Some("VL_ProbeServer"));
    assert_eq!(pr::pr::opcodes::LIST_SUPER_GROUPS, 530);
    assert_eq!(pr::pr::HIGHEST_OPCODE, 530);
    assert_eq!(ubik::vote::opcodes::X_DEBUG, 10006);
    assert_eq!(ubik::disk::opcodes::SET_VERSION, 20013);
    assert_eq!(ubik::VOTE_XSDEBUG, 10007, "#define constants are emitted");
    assert_eq!(xdrtest::XT_C_FLAG, 16, "%#define constants are evaluated");
    assert_eq!(xdrtest::XT_SMALL, 7);
    assert_eq!(xdrtest::XT_NEG, -5);
    assert_eq!(xdrtest::XT_STRING, "rxgen-rs");
    assert_eq!(
        xdrtest::XtColor::Cyan,
        xdrtest::XtColor::Green,
        "enum aliases"
    );
    assert_eq!(xdrtest::XtColor::Blue as i32, 6);
}

/// Bounds are enforced in both directions.
#[test]
fn bounds() {
    let mut a = xdrtest::XtArrays {
        var_bytes: vec![0; 10],
        ..Default::default()
    };
    let e = a.to_xdr().unwrap_err();
    assert_eq!(e.path(), ["var_bytes"]);
    a.var_bytes = vec![0; 9];
    let mut b = a.to_xdr().unwrap();
    // var_bytes' length word: after 5+pad, 40 bytes.
    let at = 8 + 40;
    assert_eq!(&b[at..at + 4], &[0, 0, 0, 9]);
    b[at + 3] = 10;
    let e = xdrtest::XtArrays::from_xdr(&b).unwrap_err();
    assert_eq!(
        e.kind(),
        &DecodeErrorKind::LengthOverBound { len: 10, max: 9 }
    );
    assert_eq!(e.path(), ["var_bytes"]);
    // An unknown enum value and an unknown union arm.
    let e = xdrtest::XtColor::from_xdr(&[0, 0, 0, 3]).unwrap_err();
    assert!(matches!(
        e.kind(),
        DecodeErrorKind::InvalidEnum { value: 3, .. }
    ));
    let e = xdrtest::XtStrict::from_xdr(&[0, 0, 0, 3]).unwrap_err();
    assert!(matches!(
        e.kind(),
        DecodeErrorKind::InvalidDiscriminant { value: 3, .. }
    ));
    // The default arm takes any other discriminant.
    let v = xdrtest::XtByInt::from_xdr(&[0, 0, 0, 9, 0, 0, 0, 1, 7, 0, 0, 0]).unwrap();
    assert_eq!(
        v,
        xdrtest::XtByInt::Default {
            discriminant: 9,
            value: vec![7]
        }
    );
    // A huge count in an unbounded array is refused before allocating.
    let e = pr::pr::Client::decode_idlist_for_test(&[0xff, 0xff, 0xff, 0xff]);
    assert!(matches!(e.kind(), DecodeErrorKind::LengthOverInput { .. }));
}

impl pr::pr::Client {
    fn decode_idlist_for_test(b: &[u8]) -> rxrpc_xdr::DecodeError {
        let mut d = rxrpc_xdr::Decoder::new(b);
        d.array(u32::MAX, 4, rxrpc_xdr::Decoder::i32).unwrap_err()
    }
}

/// Linked lists (optional data) round-trip, and hostile depth is refused.
#[test]
fn linked_lists() {
    let mut list: xdrtest::XtList = None;
    for v in 0..100 {
        list = Some(Box::new(xdrtest::XtNode {
            value: v,
            next: list,
        }));
    }
    let node = *list.unwrap();
    let b = node.to_xdr().unwrap();
    assert_eq!(xdrtest::XtNode::from_xdr(&b).unwrap(), node);
    let deep = [0u8, 0, 0, 0, 0, 0, 0, 1].repeat(1000);
    let e = xdrtest::XtNode::from_xdr(&deep).unwrap_err();
    assert!(matches!(e.kind(), DecodeErrorKind::TooDeep { .. }));
}
