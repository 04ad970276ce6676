//! The `rxgen` command line.

use std::path::Path;
use std::process::Command;

fn rxgen() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rxgen"))
}

fn idl(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../idl")
        .join(name)
}

#[test]
fn compiles_to_stdout_and_file() {
    let out = rxgen().arg(idl("vl.xg")).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let code = String::from_utf8(out.stdout).unwrap();
    let lib = rxgen::compile_file(&idl("vl.xg"), &rxgen::Options::default()).unwrap();
    assert_eq!(code, lib.code);
    assert!(code.contains("pub async fn list_attributes_n2("));

    let dir = std::env::temp_dir().join(format!("rxgen-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dest = dir.join("ubik.rs");
    let st = rxgen()
        .args([idl("ubik.xg").as_os_str(), "-o".as_ref(), dest.as_os_str()])
        .args(["--no-server", "--arbitrary=test"])
        .status()
        .unwrap();
    assert!(st.success());
    let text = std::fs::read_to_string(&dest).unwrap();
    assert!(text.contains("pub struct Client"));
    assert!(!text.contains("pub trait Service"));
    assert!(text.contains("#[cfg(test)]\nimpl ::proptest::arbitrary::Arbitrary"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn errors_point_at_line_and_column() {
    let dir = std::env::temp_dir().join(format!("rxgen-cli-err-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("bad.xg");
    std::fs::write(&f, "package X_\n\nGet(IN nosuch *x) = 1;\n").unwrap();
    let out = rxgen().arg("--check").arg(&f).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("bad.xg:3:8: unknown type `nosuch`"), "{err}");
    // -D and --extern-type.
    std::fs::write(
        &f,
        "#ifdef WANT\npackage X_\nGet(IN afs_time64 *t) = N;\n#endif\n",
    )
    .unwrap();
    let out = rxgen()
        .args(["--check", "-D", "WANT", "-D", "N=7"])
        .args(["--extern-type", "afs_time64=crate::Time"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
