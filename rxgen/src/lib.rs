//! # rxgen: compile rxgen `.xg` interface definitions into Rust
//!
//! OpenAFS defines every Rx interface (VL, PR, RXAFS, RXAFSCB, VOTE, BOZO, volser) in rxgen's
//! IDL, an extension of Sun's RPC language. This crate parses that language and emits Rust:
//!
//! * a type per `struct`, `union` (a Rust enum), `enum` and `typedef`, with an
//!   [`rxrpc_xdr::Xdr`](https://docs.rs/rxrpc-xdr) implementation that enforces every declared
//!   bound on decode;
//! * the `const`s, and the numeric `#define`s of the file;
//! * per `package`, a module with its opcodes, an async `Client` (one method per procedure,
//!   `start_`/`end_` pairs for `split` procedures), a `Service` trait for servers and a
//!   `Server<S>` dispatcher that maps opcodes to methods, answers unknown opcodes with
//!   `RXGEN_OPCODE` and undecodable arguments with `RXGEN_SS_UNMARSHAL`, and never sends OUT
//!   arguments after an error.
//!
//! The generated code depends on the `rxrpc-xdr` crate (and, for clients and servers, on
//! `rxrpc` through it).
//!
//! ## From `build.rs`
//!
//! ```no_run
//! // In build.rs's main():
//! rxgen::Builder::new()
//!     .file("idl/vl.xg")
//!     .include_dir("idl")
//!     .compile()
//!     .unwrap_or_else(|e| panic!("{e}"));
//! ```
//!
//! and in the crate: `mod vl { include!(concat!(env!("OUT_DIR"), "/vl.rs")); }`.
//!
//! ## From the command line
//!
//! `rxgen idl/vl.xg -o src/vl.rs` (see `rxgen --help`).
//!
//! ## Errors
//!
//! Errors point at a line and column: `vl.xg:12:5: unknown type `foo` ...`, followed by the
//! line and a caret.
#![forbid(unsafe_code)]

pub mod ast;
mod emit;
mod model;
mod names;
mod parse;
pub mod pp;
mod source;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

pub use emit::EmitOptions;
pub use source::{Diagnostic, Error, Span};

/// Options of one compilation (everything but the input).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Directories searched by `#include` (after the including file's directory).
    pub include_dirs: Vec<PathBuf>,
    /// Macros defined before the input (`-D NAME=VALUE`).
    pub defines: Vec<(String, String)>,
    /// IDL type names provided by the user, mapped to Rust paths; the types must implement
    /// `rxrpc_xdr::Xdr` (and `proptest`'s `Arbitrary` if arbitrary impls are emitted).
    pub extern_types: BTreeMap<String, String>,
    /// What to emit.
    pub emit: EmitOptions,
}

/// The result of a compilation.
#[derive(Debug, Clone)]
pub struct Output {
    /// The Rust source.
    pub code: String,
    /// Warnings (each with its position).
    pub warnings: Vec<Diagnostic>,
    /// Every file read (for `cargo:rerun-if-changed`).
    pub files: Vec<PathBuf>,
}

/// Parse `text` (named `name`) and check it, without emitting: the parsed [`ast::Spec`].
pub fn parse_str(name: &str, text: &str) -> Result<ast::Spec, Error> {
    let pre = pp::preprocess(name, None, text, &[], &[])?;
    let consts = macro_consts(&pre);
    let (spec, _) = parse::parse(&pre.tokens, &pre.sources, &consts)?;
    Ok(spec)
}

fn macro_consts(pre: &pp::Preprocessed) -> HashMap<String, i64> {
    pre.macros
        .iter()
        .filter(|(_, m)| !m.function_like)
        .filter_map(|(k, m)| {
            pp::eval_const_expr(&m.body, &pre.macros, &|_| None)
                .ok()
                .map(|v| (k.clone(), v))
        })
        .collect()
}

fn compile_inner(
    name: &str,
    path: Option<&Path>,
    text: &str,
    options: &Options,
) -> Result<Output, Error> {
    let pre = pp::preprocess(name, path, text, &options.include_dirs, &options.defines)?;
    let consts = macro_consts(&pre);
    let (spec, mut warnings) = parse::parse(&pre.tokens, &pre.sources, &consts)?;
    let model = model::resolve(
        &spec,
        &pre.sources,
        &pre.defines,
        &pre.c_defines,
        &pre.macros,
        &options.extern_types,
    )?;
    let mut emit_opts = options.emit.clone();
    if emit_opts.source_name == EmitOptions::default().source_name {
        emit_opts.source_name = Path::new(name)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| name.to_string());
    }
    let code = emit::emit(&model, &emit_opts);
    let mut all = pre.warnings;
    all.append(&mut warnings);
    all.extend(model.warnings.iter().cloned());
    Ok(Output {
        code,
        warnings: all,
        files: pre
            .sources
            .files()
            .iter()
            .filter_map(|f| f.path.clone())
            .collect(),
    })
}

/// Compile interface text (named `name` in messages; `#include`s are searched in
/// `options.include_dirs`).
pub fn compile_str(name: &str, text: &str, options: &Options) -> Result<Output, Error> {
    compile_inner(name, None, text, options)
}

/// Compile an interface file.
pub fn compile_file(path: &Path, options: &Options) -> Result<Output, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Io(format!("cannot read {}: {e}", path.display())))?;
    compile_inner(&path.display().to_string(), Some(path), &text, options)
}

/// The `build.rs` interface: compile `.xg` files into `OUT_DIR/<stem>.rs`.
#[derive(Debug, Clone, Default)]
pub struct Builder {
    files: Vec<PathBuf>,
    options: Options,
    out_dir: Option<PathBuf>,
}

impl Builder {
    /// A builder emitting clients and servers with the runtime at `::rxrpc_xdr`.
    pub fn new() -> Self {
        Builder::default()
    }

    /// Add an interface file.
    #[must_use]
    pub fn file(mut self, path: impl AsRef<Path>) -> Self {
        self.files.push(path.as_ref().to_path_buf());
        self
    }

    /// Add a directory searched by `#include`.
    #[must_use]
    pub fn include_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.options.include_dirs.push(dir.as_ref().to_path_buf());
        self
    }

    /// Define a macro (`-D NAME=VALUE`).
    #[must_use]
    pub fn define(mut self, name: &str, value: &str) -> Self {
        self.options
            .defines
            .push((name.to_string(), value.to_string()));
        self
    }

    /// Map an IDL type the interface does not define (e.g. `afs_time64`) to a Rust type that
    /// implements `rxrpc_xdr::Xdr`.
    #[must_use]
    pub fn extern_type(mut self, idl_name: &str, rust_path: &str) -> Self {
        self.options
            .extern_types
            .insert(idl_name.to_string(), rust_path.to_string());
        self
    }

    /// Emit clients (default true).
    #[must_use]
    pub fn client(mut self, on: bool) -> Self {
        self.options.emit.client = on;
        self
    }

    /// Emit server traits and dispatchers (default true).
    #[must_use]
    pub fn server(mut self, on: bool) -> Self {
        self.options.emit.server = on;
        self
    }

    /// The path of the runtime crate in generated code (default `::rxrpc_xdr`).
    #[must_use]
    pub fn runtime_path(mut self, path: &str) -> Self {
        self.options.emit.runtime = path.to_string();
        self
    }

    /// Emit `proptest::arbitrary::Arbitrary` impls for the generated types, under
    /// `#[cfg(cfg)]` if given (e.g. `Some("test")`).
    #[must_use]
    pub fn proptest_arbitrary(mut self, cfg: Option<&str>) -> Self {
        self.options.emit.arbitrary = Some(cfg.map(str::to_string));
        self
    }

    /// Where to write the output (default: `$OUT_DIR`).
    #[must_use]
    pub fn out_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.out_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Compile every file into `<out_dir>/<stem>.rs`; print `cargo:rerun-if-changed` for every
    /// file read and `cargo:warning` for every warning. Returns the paths written.
    pub fn compile(self) -> Result<Vec<PathBuf>, Error> {
        let out_dir = match self.out_dir {
            Some(d) => d,
            None => PathBuf::from(std::env::var_os("OUT_DIR").ok_or_else(|| {
                Error::Io("OUT_DIR is not set (not in a build script?): call out_dir()".into())
            })?),
        };
        let mut written = Vec::new();
        for f in &self.files {
            let out = compile_file(f, &self.options)?;
            for r in &out.files {
                println!("cargo:rerun-if-changed={}", r.display());
            }
            for w in &out.warnings {
                println!(
                    "cargo:warning={}",
                    w.to_string().lines().next().unwrap_or("")
                );
            }
            let stem = f
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "interface".into());
            let dest = out_dir.join(format!("{stem}.rs"));
            std::fs::write(&dest, out.code)
                .map_err(|e| Error::Io(format!("cannot write {}: {e}", dest.display())))?;
            written.push(dest);
        }
        Ok(written)
    }
}
