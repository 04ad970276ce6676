//! Compile the interface definitions in the repository's `idl/` directory with rxgen.

fn main() {
    let idl = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../idl");
    let mut b = rxgen::Builder::new()
        .include_dir(&idl)
        // The round-trip tests (unit tests of this crate) need `Arbitrary` for every type.
        .proptest_arbitrary(Some("test"));
    for f in ["vl.xg", "pr.xg", "ubik.xg", "demo.xg", "xdrtest.xg"] {
        b = b.file(idl.join(f));
    }
    if let Err(e) = b.compile() {
        panic!("rxgen failed:\n{e}");
    }
}
