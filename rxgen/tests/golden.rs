//! Golden tests of the emitter: each `tests/golden/NAME.xg` compiles to exactly
//! `tests/golden/NAME.rs`. Regenerate after an intended change with
//! `RXGEN_BLESS=1 cargo test -p rxgen --test golden` and review the diff.
//!
//! The generated files are also compiled (by `rxrpc-afs`, whose build compiles the same kind
//! of input); here only the text is compared.

use std::path::Path;

fn golden(name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let input = dir.join(format!("{name}.xg"));
    let expected_path = dir.join(format!("{name}.rs"));
    let text = std::fs::read_to_string(&input).unwrap();
    let out = rxgen::compile_str(&format!("{name}.xg"), &text, &rxgen::Options::default())
        .unwrap_or_else(|e| panic!("{e}"));
    if std::env::var_os("RXGEN_BLESS").is_some() {
        std::fs::write(&expected_path, &out.code).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with RXGEN_BLESS=1 to create it)",
            expected_path.display()
        )
    });
    if out.code != expected {
        let (line, (a, b)) = out
            .code
            .lines()
            .zip(expected.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .unwrap_or((0, ("", "")));
        panic!(
            "{name}.xg: output differs from {name}.rs at line {}:\n  got:      {a}\n  expected: {b}\n\
             (RXGEN_BLESS=1 regenerates)",
            line + 1
        );
    }
}

#[test]
fn consts_and_struct() {
    golden("consts_and_struct");
}

#[test]
fn unions_and_enums() {
    golden("unions_and_enums");
}

#[test]
fn package() {
    golden("package");
}
