//! The Rust emitter.
//!
//! For an interface it writes: the constants; a Rust type per struct, union, enum and typedef,
//! each (but typedefs) with an `Xdr` implementation that enforces the declared bounds; and per
//! `package` a module with the opcodes, an async `Client`, a `Service` trait with one method per
//! procedure, a `Server<S>` dispatcher and a `serve` function. See the crate docs for the
//! shape of the generated code.

use std::collections::HashSet;
use std::fmt::Write as _;

use crate::ast::Dir;
use crate::model::*;
use crate::names::snake;

/// What to emit.
#[derive(Debug, Clone)]
pub struct EmitOptions {
    /// Path of the runtime crate in the generated code (default `::rxrpc_xdr`).
    pub runtime: String,
    /// Emit clients.
    pub client: bool,
    /// Emit server traits and dispatchers.
    pub server: bool,
    /// Emit `proptest::arbitrary::Arbitrary` impls: `None` = no, `Some(None)` = always,
    /// `Some(Some(cfg))` = under `#[cfg(cfg)]`.
    pub arbitrary: Option<Option<String>>,
    /// Name of the input, for the header.
    pub source_name: String,
}

impl Default for EmitOptions {
    fn default() -> Self {
        EmitOptions {
            runtime: "::rxrpc_xdr".to_string(),
            client: true,
            server: true,
            arbitrary: None,
            source_name: "interface.xg".to_string(),
        }
    }
}

struct W {
    out: String,
    indent: usize,
}

impl W {
    fn line(&mut self, s: &str) {
        if s.is_empty() {
            self.out.push('\n');
            return;
        }
        for l in s.lines() {
            if l.is_empty() {
                self.out.push('\n');
            } else {
                for _ in 0..self.indent {
                    self.out.push_str("    ");
                }
                self.out.push_str(l);
                self.out.push('\n');
            }
        }
    }

    fn open(&mut self, s: &str) {
        self.line(s);
        self.indent += 1;
    }

    fn close(&mut self, s: &str) {
        self.indent -= 1;
        self.line(s);
    }

    fn doc(&mut self, s: &str) {
        for l in s.lines() {
            if l.is_empty() {
                self.line("///");
            } else {
                self.line(&format!("/// {l}"));
            }
        }
    }
}

/// How generated code refers to a value being encoded.
#[derive(Clone)]
enum Val {
    /// A place of type `T` (`self.x`, a by-value parameter).
    Place(String),
    /// An expression of type `&T`.
    Ref(String),
}

impl Val {
    fn value(&self) -> String {
        match self {
            Val::Place(p) => p.clone(),
            Val::Ref(r) => format!("*{r}"),
        }
    }
    fn reference(&self) -> String {
        match self {
            Val::Place(p) => format!("&{p}"),
            Val::Ref(r) => r.clone(),
        }
    }
    /// For method calls (auto-deref applies).
    fn recv(&self) -> String {
        match self {
            Val::Place(p) | Val::Ref(p) => p.clone(),
        }
    }
}

/// A decoder: a function path (usable as a closure) or an expression using `__d`.
enum Dec {
    Path(String),
    Expr(String),
}

impl Dec {
    fn call(&self) -> String {
        match self {
            Dec::Path(p) => format!("{p}(__d)"),
            Dec::Expr(e) => e.clone(),
        }
    }
    fn closure(&self) -> String {
        match self {
            Dec::Path(p) => p.clone(),
            Dec::Expr(e) => format!("|__d| {e}"),
        }
    }
}

/// Minimum encoded size: a number plus symbolic parts.
#[derive(Clone)]
struct Min {
    n: usize,
    syms: Vec<String>,
}

impl Min {
    fn num(n: usize) -> Self {
        Min {
            n,
            syms: Vec::new(),
        }
    }
    fn sym(s: String) -> Self {
        Min {
            n: 0,
            syms: vec![s],
        }
    }
    fn add(mut self, o: Min) -> Self {
        self.n += o.n;
        self.syms.extend(o.syms);
        self
    }
    fn mul(self, k: u32) -> Self {
        if self.syms.is_empty() {
            Min::num(self.n.saturating_mul(k as usize))
        } else {
            Min::sym(format!("{k} * ({})", self.expr()))
        }
    }
    fn expr(&self) -> String {
        let mut parts: Vec<String> = self.syms.clone();
        if self.n != 0 || parts.is_empty() {
            parts.insert(0, self.n.to_string());
        }
        parts.join(" + ")
    }
}

struct Emitter<'a> {
    m: &'a Model,
    o: &'a EmitOptions,
    r: String,
    w: W,
    /// Prefix of the interface's own types (`super::` inside package modules).
    tp: String,
}

/// Emit Rust source for `model`.
pub(crate) fn emit(model: &Model, options: &EmitOptions) -> String {
    let mut e = Emitter {
        m: model,
        o: options,
        r: options.runtime.clone(),
        w: W {
            out: String::new(),
            indent: 0,
        },
        tp: String::new(),
    };
    e.file();
    e.w.out
}

fn is_upper(s: &str) -> bool {
    !s.chars().any(|c| c.is_ascii_lowercase())
}

fn pad4(n: u32) -> usize {
    (n as usize).div_ceil(4) * 4
}

fn bound(b: u32) -> String {
    if b == u32::MAX {
        "u32::MAX".to_string()
    } else {
        b.to_string()
    }
}

impl Emitter<'_> {
    fn file(&mut self) {
        let name = self.o.source_name.clone();
        self.w.line(&format!(
            "// @generated by rxgen {} from {name}. Do not edit: change the .xg file.",
            env!("CARGO_PKG_VERSION")
        ));
        self.w.line("//");
        self.w
            .line("// Include it in a module of its own: `mod vl { include!(concat!(env!(\"OUT_DIR\"), \"/vl.rs\")); }`.");
        self.w.line("");
        for c in &self.m.consts.clone() {
            self.constant(c);
        }
        for t in &self.m.types.clone() {
            self.type_item(t);
        }
        for p in &self.m.packages.clone() {
            self.package(p);
        }
    }

    fn constant(&mut self, c: &Const) {
        let (ty, v) = match &c.value {
            ConstVal::Int(v) => {
                let ty = if i32::try_from(*v).is_ok() {
                    "i32"
                } else if u32::try_from(*v).is_ok() {
                    "u32"
                } else {
                    "i64"
                };
                (ty.to_string(), v.to_string())
            }
            ConstVal::Str(s) => ("&str".to_string(), format!("{s:?}")),
        };
        let shown = match &c.value {
            ConstVal::Int(v) => v.to_string(),
            ConstVal::Str(s) => format!("{s:?}"),
        };
        let how = match c.origin {
            "const" => format!("`const {} = {shown}`", c.name),
            o => format!("`{o} {} {shown}`", c.name),
        };
        self.w.doc(&format!("{how} ({}).", self.loc(c.span)));
        if !is_upper(&c.name) {
            self.w.line("#[allow(non_upper_case_globals)]");
        }
        self.w.line(&format!("pub const {}: {ty} = {v};", c.name));
        self.w.line("");
    }

    fn loc(&self, span: crate::source::Span) -> String {
        let _ = span;
        self.o.source_name.clone()
    }

    // --- types -------------------------------------------------------------------------------

    fn rust_ty(&self, t: &Ty) -> String {
        let r = &self.r;
        match t {
            Ty::I32 => "i32".into(),
            Ty::U32 => "u32".into(),
            Ty::I64 => "i64".into(),
            Ty::U64 => "u64".into(),
            Ty::Bool => "bool".into(),
            Ty::F32 => "f32".into(),
            Ty::F64 => "f64".into(),
            Ty::Char => "i8".into(),
            Ty::UChar => "u8".into(),
            Ty::Short => "i16".into(),
            Ty::UShort => "u16".into(),
            Ty::Uuid => format!("{r}::AfsUuid"),
            Ty::String(_) => format!("{r}::XdrString"),
            Ty::Opaque(_) => "Vec<u8>".into(),
            Ty::OpaqueFixed(n) => format!("[u8; {n}]"),
            Ty::Array(t, _) => format!("Vec<{}>", self.rust_ty(t)),
            Ty::Fixed(t, n) if **t == Ty::Char => format!("{r}::FixedChars<{n}>"),
            Ty::Fixed(t, n) => format!("[{}; {n}]", self.rust_ty(t)),
            Ty::Optional(t) => format!("Option<Box<{}>>", self.rust_ty(t)),
            Ty::Named(n) => format!("{}{}", self.tp, self.m.ty(n).rust),
            Ty::Extern(p) => p.clone(),
            Ty::Void => "()".into(),
        }
    }

    fn is_enum(&self, t: &Ty) -> bool {
        matches!(self.m.expand(t), Ty::Named(n) if matches!(self.m.ty(n).def, TypeDef::Enum { .. }))
    }

    fn is_scalar(&self, t: &Ty) -> bool {
        let t = self.m.expand(t);
        matches!(
            t,
            Ty::I32
                | Ty::U32
                | Ty::I64
                | Ty::U64
                | Ty::Bool
                | Ty::F32
                | Ty::F64
                | Ty::Char
                | Ty::UChar
                | Ty::Short
                | Ty::UShort
        ) || self.is_enum(t)
    }

    fn min(&self, t: &Ty) -> Min {
        let r = &self.r;
        match self.m.expand(t) {
            Ty::I64 | Ty::U64 | Ty::F64 => Min::num(8),
            Ty::I32
            | Ty::U32
            | Ty::Bool
            | Ty::F32
            | Ty::Char
            | Ty::UChar
            | Ty::Short
            | Ty::UShort => Min::num(4),
            Ty::Uuid => Min::num(44),
            Ty::String(_) | Ty::Opaque(_) | Ty::Array(..) | Ty::Optional(_) => Min::num(4),
            Ty::OpaqueFixed(n) => Min::num(pad4(*n)),
            Ty::Fixed(t, n) => self.min(t).mul(*n),
            Ty::Void => Min::num(0),
            Ty::Named(n) => {
                let item = self.m.ty(n);
                match item.def {
                    TypeDef::Enum { .. } => Min::num(4),
                    _ => Min::sym(format!("<{}{} as {r}::Xdr>::MIN_SIZE", self.tp, item.rust)),
                }
            }
            Ty::Extern(p) => Min::sym(format!("<{p} as {r}::Xdr>::MIN_SIZE")),
        }
    }

    /// Statements encoding `v` of type `t` into `__e`.
    fn enc(&self, t: &Ty, v: &Val, path: Option<&str>) -> String {
        let r = &self.r;
        let q = |expr: String| match path {
            Some(p) => format!("{expr}.map_err(|__x| __x.within({p:?}))?;"),
            None => format!("{expr}?;"),
        };
        let t = self.m.expand(t);
        match t {
            Ty::I32 => format!("__e.i32({});", v.value()),
            Ty::U32 => format!("__e.u32({});", v.value()),
            Ty::I64 => format!("__e.i64({});", v.value()),
            Ty::U64 => format!("__e.u64({});", v.value()),
            Ty::Bool => format!("__e.bool({});", v.value()),
            Ty::F32 => format!("__e.f32({});", v.value()),
            Ty::F64 => format!("__e.f64({});", v.value()),
            Ty::Char => format!("__e.char({});", v.value()),
            Ty::UChar => format!("__e.u_char({});", v.value()),
            Ty::Short => format!("__e.short({});", v.value()),
            Ty::UShort => format!("__e.u_short({});", v.value()),
            Ty::Void => String::new(),
            Ty::String(b) => q(format!("__e.string({}, {})", v.reference(), bound(*b))),
            Ty::Opaque(b) => q(format!("__e.opaque({}, {})", v.reference(), bound(*b))),
            Ty::OpaqueFixed(n) => q(format!("__e.opaque_fixed({}, {n})", v.reference())),
            Ty::Array(et, b) => {
                let inner = self.enc(et, &Val::Ref("__it".into()), None);
                q(format!(
                    "__e.array({}, {}, |__e, __it| {{\n    {}\n    Ok(())\n}})",
                    v.reference(),
                    bound(*b),
                    inner.replace('\n', "\n    ")
                ))
            }
            Ty::Fixed(et, _) if **et == Ty::Char => {
                q(format!("{r}::Xdr::encode({}, __e)", v.reference()))
            }
            Ty::Fixed(et, _) => {
                let inner = self.enc(et, &Val::Ref("__it".into()), path);
                format!(
                    "for __it in {}.iter() {{\n    {}\n}}",
                    v.recv(),
                    inner.replace('\n', "\n    ")
                )
            }
            Ty::Optional(et) => {
                let inner = self.enc(et, &Val::Ref("__it".into()), None);
                q(format!(
                    "__e.optional({}.as_deref(), |__e, __it| {{\n    {}\n    Ok(())\n}})",
                    v.recv(),
                    inner.replace('\n', "\n    ")
                ))
            }
            Ty::Named(n) if self.is_enum(&Ty::Named(n.clone())) => {
                format!("__e.i32({} as i32);", v.value())
            }
            Ty::Named(_) | Ty::Uuid | Ty::Extern(_) => {
                q(format!("{r}::Xdr::encode({}, __e)", v.reference()))
            }
        }
    }

    /// A decoder of `t` from `__d`.
    fn dec(&self, t: &Ty) -> Dec {
        let r = &self.r;
        match self.m.expand(t) {
            Ty::I32 => Dec::Path(format!("{r}::Decoder::i32")),
            Ty::U32 => Dec::Path(format!("{r}::Decoder::u32")),
            Ty::I64 => Dec::Path(format!("{r}::Decoder::i64")),
            Ty::U64 => Dec::Path(format!("{r}::Decoder::u64")),
            Ty::Bool => Dec::Path(format!("{r}::Decoder::bool")),
            Ty::F32 => Dec::Path(format!("{r}::Decoder::f32")),
            Ty::F64 => Dec::Path(format!("{r}::Decoder::f64")),
            Ty::Char => Dec::Path(format!("{r}::Decoder::char")),
            Ty::UChar => Dec::Path(format!("{r}::Decoder::u_char")),
            Ty::Short => Dec::Path(format!("{r}::Decoder::short")),
            Ty::UShort => Dec::Path(format!("{r}::Decoder::u_short")),
            Ty::Void => Dec::Expr("Ok(())".into()),
            Ty::String(b) => Dec::Expr(format!("__d.string({})", bound(*b))),
            Ty::Opaque(b) => Dec::Expr(format!("__d.opaque({})", bound(*b))),
            Ty::OpaqueFixed(n) => Dec::Expr(format!("__d.opaque_array::<{n}>()")),
            Ty::Array(et, b) => Dec::Expr(format!(
                "__d.array({}, {}, {})",
                bound(*b),
                self.min(et).expr(),
                self.dec(et).closure()
            )),
            Ty::Fixed(et, n) if **et == Ty::Char => {
                Dec::Path(format!("<{r}::FixedChars<{n}> as {r}::Xdr>::decode"))
            }
            Ty::Fixed(et, n) => Dec::Expr(format!(
                "__d.fixed_array::<_, {n}>({})",
                self.dec(et).closure()
            )),
            Ty::Optional(et) => Dec::Expr(format!("__d.optional({})", self.dec(et).closure())),
            t @ (Ty::Named(_) | Ty::Uuid | Ty::Extern(_)) => {
                Dec::Path(format!("<{} as {r}::Xdr>::decode", self.rust_ty(t)))
            }
        }
    }

    fn needs_manual_default(&self, t: &Ty) -> bool {
        match self.m.expand(t) {
            Ty::OpaqueFixed(n) => *n > 32,
            Ty::Fixed(et, n) => **et != Ty::Char && *n > 32,
            _ => false,
        }
    }

    fn default_expr(&self, t: &Ty) -> String {
        if self.needs_manual_default(t) {
            format!("{}::default_array()", self.r)
        } else {
            "Default::default()".into()
        }
    }

    fn type_item(&mut self, t: &TypeItem) {
        match &t.def {
            TypeDef::Typedef(ty) => {
                self.w.doc(&format!(
                    "`typedef {}` ({}).",
                    self.written_ty(ty, &t.name),
                    self.loc(t.span)
                ));
                self.w
                    .line(&format!("pub type {} = {};", t.rust, self.rust_ty(ty)));
                self.w.line("");
            }
            TypeDef::Struct { fields } => self.struct_item(t, fields),
            TypeDef::Enum { members } => self.enum_item(t, members),
            TypeDef::Union {
                discr,
                discr_name,
                arms,
                default,
            } => self.union_item(t, discr, discr_name, arms, default.as_ref()),
        }
    }

    fn written_ty(&self, ty: &Ty, name: &str) -> String {
        match ty {
            Ty::String(b) => format!("string {name}<{}>", bound_text(*b)),
            Ty::Opaque(b) => format!("opaque {name}<{}>", bound_text(*b)),
            Ty::OpaqueFixed(n) => format!("opaque {name}[{n}]"),
            Ty::Array(t, b) => format!("{} {name}<{}>", self.idl_name(t), bound_text(*b)),
            Ty::Fixed(t, n) => format!("{} {name}[{n}]", self.idl_name(t)),
            Ty::Optional(t) => format!("{} *{name}", self.idl_name(t)),
            t => format!("{} {name}", self.idl_name(t)),
        }
    }

    fn idl_name(&self, t: &Ty) -> String {
        match t {
            Ty::I32 => "int".into(),
            Ty::U32 => "unsigned".into(),
            Ty::I64 => "hyper".into(),
            Ty::U64 => "unsigned hyper".into(),
            Ty::Bool => "bool".into(),
            Ty::F32 => "float".into(),
            Ty::F64 => "double".into(),
            Ty::Char => "char".into(),
            Ty::UChar => "unsigned char".into(),
            Ty::Short => "short".into(),
            Ty::UShort => "unsigned short".into(),
            Ty::Uuid => "afsUUID".into(),
            Ty::Named(n) => n.clone(),
            Ty::Extern(p) => p.clone(),
            Ty::Void => "void".into(),
            other => self.rust_ty(other),
        }
    }

    fn struct_item(&mut self, t: &TypeItem, fields: &[Field]) {
        let r = self.r.clone();
        self.w
            .doc(&format!("`struct {}` ({}).", t.name, self.loc(t.span)));
        let manual_default = fields.iter().any(|f| self.needs_manual_default(&f.ty));
        if manual_default {
            self.w.line("#[derive(Debug, Clone, PartialEq)]");
        } else {
            self.w.line("#[derive(Debug, Clone, PartialEq, Default)]");
        }
        self.w.open(&format!("pub struct {} {{", t.rust));
        for f in fields {
            self.w.doc(&format!("`{}`", f.written));
            self.w
                .line(&format!("pub {}: {},", f.rust, self.rust_ty(&f.ty)));
        }
        self.w.close("}");
        self.w.line("");
        if manual_default {
            self.w.open(&format!("impl Default for {} {{", t.rust));
            self.w.open("fn default() -> Self {");
            self.w.open("Self {");
            for f in fields {
                self.w
                    .line(&format!("{}: {},", f.rust, self.default_expr(&f.ty)));
            }
            self.w.close("}");
            self.w.close("}");
            self.w.close("}");
            self.w.line("");
        }
        let min = fields
            .iter()
            .fold(Min::num(0), |m, f| m.add(self.min(&f.ty)));
        self.w.open(&format!("impl {r}::Xdr for {} {{", t.rust));
        self.w
            .line(&format!("const MIN_SIZE: usize = {};", min.expr()));
        self.w.line("");
        self.w.open(&format!(
            "fn encode(&self, __e: &mut {r}::Encoder) -> Result<(), {r}::EncodeError> {{"
        ));
        for f in fields {
            let s = self.enc(
                &f.ty,
                &Val::Place(format!("self.{}", f.rust)),
                Some(&f.name),
            );
            self.w.line(&s);
        }
        self.w.line("Ok(())");
        self.w.close("}");
        self.w.line("");
        self.w.open(&format!(
            "fn decode(__d: &mut {r}::Decoder<'_>) -> Result<Self, {r}::DecodeError> {{"
        ));
        let mut names = Vec::new();
        for f in fields {
            self.w.line(&format!(
                "let {} = {}.map_err(|__x| __x.within({:?}))?;",
                f.rust,
                self.dec(&f.ty).call(),
                f.name
            ));
            names.push(f.rust.clone());
        }
        self.w.line(&format!("Ok(Self {{ {} }})", names.join(", ")));
        self.w.close("}");
        self.w.close("}");
        self.w.line("");
        self.arbitrary_struct(t, fields);
    }

    fn enum_item(&mut self, t: &TypeItem, members: &[(String, String, i64)]) {
        let r = self.r.clone();
        let variants: Vec<String> = members.iter().map(|m| m.1.clone()).collect();
        self.w
            .doc(&format!("`enum {}` ({}).", t.name, self.loc(t.span)));
        self.w.line("#[allow(clippy::enum_variant_names)]");
        self.w
            .line("#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]");
        self.w.line("#[repr(i32)]");
        self.w.open(&format!("pub enum {} {{", t.rust));
        let mut seen_values = HashSet::new();
        let mut aliases = Vec::new();
        let mut first = true;
        for ((m, _, v), var) in members.iter().zip(&variants) {
            if !seen_values.insert(*v) {
                aliases.push((m.clone(), var.clone(), *v));
                continue;
            }
            self.w.doc(&format!("`{m}` = {v}"));
            if first {
                self.w.line("#[default]");
                first = false;
            }
            self.w.line(&format!("{var} = {v},"));
        }
        self.w.close("}");
        self.w.line("");
        let primary: Vec<(String, String, i64)> = members
            .iter()
            .zip(&variants)
            .filter(|((m, _, _), _)| !aliases.iter().any(|a| &a.0 == m))
            .map(|((m, _, v), var)| (m.clone(), var.clone(), *v))
            .collect();
        if !aliases.is_empty() {
            self.w.open(&format!("impl {} {{", t.rust));
            for (m, var, v) in &aliases {
                let target = primary.iter().find(|p| p.2 == *v).expect("value seen");
                self.w
                    .doc(&format!("`{m}` = {v} (same value as `{}`)", target.0));
                self.w.line("#[allow(non_upper_case_globals)]");
                self.w
                    .line(&format!("pub const {var}: Self = Self::{};", target.1));
            }
            self.w.close("}");
            self.w.line("");
        }
        self.w.open(&format!("impl TryFrom<i32> for {} {{", t.rust));
        self.w.line("type Error = i32;");
        self.w.line("");
        self.w.open("fn try_from(v: i32) -> Result<Self, i32> {");
        self.w.open("match v {");
        for (_, var, v) in &primary {
            self.w.line(&format!("{v} => Ok(Self::{var}),"));
        }
        self.w.line("v => Err(v),");
        self.w.close("}");
        self.w.close("}");
        self.w.close("}");
        self.w.line("");
        self.w.open(&format!("impl {r}::Xdr for {} {{", t.rust));
        self.w.line("const MIN_SIZE: usize = 4;");
        self.w.line("");
        self.w.open(&format!(
            "fn encode(&self, __e: &mut {r}::Encoder) -> Result<(), {r}::EncodeError> {{"
        ));
        self.w.line("__e.i32(*self as i32);");
        self.w.line("Ok(())");
        self.w.close("}");
        self.w.line("");
        self.w.open(&format!(
            "fn decode(__d: &mut {r}::Decoder<'_>) -> Result<Self, {r}::DecodeError> {{"
        ));
        self.w.line("let __at = __d.position();");
        self.w.open("Self::try_from(__d.i32()?).map_err(|value| {");
        self.w.line(&format!(
            "{r}::DecodeError::new({r}::DecodeErrorKind::InvalidEnum {{ name: {:?}, value }}, __at)",
            t.name
        ));
        self.w.close("})");
        self.w.close("}");
        self.w.close("}");
        self.w.line("");
        if let Some(cfg) = self.arb_cfg() {
            self.w.line(&cfg);
            self.w.open(&format!(
                "impl ::proptest::arbitrary::Arbitrary for {} {{",
                t.rust
            ));
            self.w.line("type Parameters = ();");
            self.w
                .line("type Strategy = ::proptest::strategy::BoxedStrategy<Self>;");
            self.w.line("");
            self.w.open("fn arbitrary_with((): ()) -> Self::Strategy {");
            self.w.line("use ::proptest::strategy::Strategy as _;");
            let list: Vec<String> = primary
                .iter()
                .map(|(_, var, _)| format!("Self::{var}"))
                .collect();
            self.w.line(&format!(
                "::proptest::sample::select(vec![{}]).boxed()",
                list.join(", ")
            ));
            self.w.close("}");
            self.w.close("}");
            self.w.line("");
        }
    }

    fn union_item(
        &mut self,
        t: &TypeItem,
        discr: &Ty,
        discr_name: &str,
        arms: &[UnionArm],
        default: Option<&Ty>,
    ) {
        let r = self.r.clone();
        let dty = self.rust_ty(discr);
        self.w.doc(&format!(
            "`union {} switch ({} {discr_name})` ({}).",
            t.name,
            self.idl_name(discr),
            self.loc(t.span)
        ));
        self.w
            .line("#[allow(clippy::large_enum_variant, clippy::enum_variant_names)]");
        let void_first = arms.first().is_some_and(|a| a.ty == Ty::Void);
        if void_first {
            self.w.line("#[derive(Debug, Clone, PartialEq, Default)]");
        } else {
            self.w.line("#[derive(Debug, Clone, PartialEq)]");
        }
        self.w.open(&format!("pub enum {} {{", t.rust));
        for (i, a) in arms.iter().enumerate() {
            self.w.doc(&format!("`case {}: {}`", a.label, a.written));
            if i == 0 && void_first {
                self.w.line("#[default]");
            }
            if a.ty == Ty::Void {
                self.w.line(&format!("{},", a.variant));
            } else {
                self.w
                    .line(&format!("{}({}),", a.variant, self.rust_ty(&a.ty)));
            }
        }
        if let Some(d) = default {
            self.w.doc("`default:` any other discriminant.");
            if *d == Ty::Void {
                self.w.line(&format!("Default({dty}),"));
            } else {
                self.w.open("Default {");
                self.w.doc("The discriminant.");
                self.w.line(&format!("discriminant: {dty},"));
                self.w.doc("The default arm's value.");
                self.w.line(&format!("value: {},", self.rust_ty(d)));
                self.w.close("},");
            }
        }
        self.w.close("}");
        self.w.line("");
        // Default: the first arm.
        if !void_first {
            self.w.open(&format!("impl Default for {} {{", t.rust));
            self.w.open("fn default() -> Self {");
            match (arms.first(), default) {
                (Some(a), _) => self.w.line(&format!(
                    "Self::{}({})",
                    a.variant,
                    self.default_expr(&a.ty)
                )),
                (None, Some(Ty::Void)) => self.w.line("Self::Default(Default::default())"),
                (None, Some(d)) => self.w.line(&format!(
                    "Self::Default {{ discriminant: Default::default(), value: {} }}",
                    self.default_expr(d)
                )),
                (None, None) => self.w.line("unreachable!(\"a union has an arm\")"),
            }
            self.w.close("}");
            self.w.close("}");
            self.w.line("");
        }
        // Discriminant literal of an arm.
        let enum_rust = match discr {
            Ty::Named(n) => Some(self.m.ty(n).rust.clone()),
            _ => None,
        };
        let enum_variants: Vec<(String, String, i64)> = match discr {
            Ty::Named(n) => match &self.m.ty(n).def {
                TypeDef::Enum { members } => members.clone(),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        let lit = |a: &UnionArm| -> String {
            match (discr, &enum_rust) {
                (Ty::Bool, _) => (a.value != 0).to_string(),
                (Ty::Named(_), Some(er)) => {
                    let var = enum_variants
                        .iter()
                        .find(|(m, _, _)| Some(m) == a.enum_member.as_ref())
                        .map(|(_, v, _)| v.clone())
                        .unwrap_or_default();
                    format!("{er}::{var}")
                }
                _ => a.value.to_string(),
            }
        };
        let enc_discr = |v: &str| -> String {
            match discr {
                Ty::Bool => format!("__e.bool({v});"),
                Ty::U32 => format!("__e.u32({v});"),
                Ty::I32 => format!("__e.i32({v});"),
                _ => format!("__e.i32({v} as i32);"),
            }
        };
        let mut min_arms: Vec<Min> = arms.iter().map(|a| self.min(&a.ty)).collect();
        if let Some(d) = default {
            min_arms.push(self.min(d));
        }
        let min = if min_arms.iter().all(|m| m.syms.is_empty()) {
            Min::num(4 + min_arms.iter().map(|m| m.n).min().unwrap_or(0)).expr()
        } else {
            format!(
                "4 + {r}::min_of(&[{}])",
                min_arms
                    .iter()
                    .map(Min::expr)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        self.w.open(&format!("impl {r}::Xdr for {} {{", t.rust));
        self.w.line(&format!("const MIN_SIZE: usize = {min};"));
        self.w.line("");
        self.w.open(&format!(
            "fn encode(&self, __e: &mut {r}::Encoder) -> Result<(), {r}::EncodeError> {{"
        ));
        self.w.open("match self {");
        for a in arms {
            let d = enc_discr(&lit(a));
            if a.ty == Ty::Void {
                self.w.line(&format!("Self::{} => {{ {d} }}", a.variant));
            } else {
                self.w.open(&format!("Self::{}(__v) => {{", a.variant));
                self.w.line(&d);
                let name = if a.written.is_empty() {
                    a.label.clone()
                } else {
                    arm_name(&a.written)
                };
                let s = self.enc(&a.ty, &Val::Ref("__v".into()), Some(&name));
                self.w.line(&s);
                self.w.close("}");
            }
        }
        if let Some(d) = default {
            if *d == Ty::Void {
                self.w.line(&format!(
                    "Self::Default(__v) => {{ {} }}",
                    enc_discr("*__v")
                ));
            } else {
                self.w.open("Self::Default { discriminant, value } => {");
                self.w.line(&enc_discr("*discriminant"));
                let s = self.enc(d, &Val::Ref("value".into()), Some("default"));
                self.w.line(&s);
                self.w.close("}");
            }
        }
        self.w.close("}");
        self.w.line("Ok(())");
        self.w.close("}");
        self.w.line("");
        if matches!(discr, Ty::Bool | Ty::Named(_)) {
            // Every value may have an arm.
            self.w.line("#[allow(unreachable_patterns)]");
        }
        self.w.open(&format!(
            "fn decode(__d: &mut {r}::Decoder<'_>) -> Result<Self, {r}::DecodeError> {{"
        ));
        self.w.line("let __at = __d.position();");
        let ddec = match discr {
            Ty::Bool => "__d.bool()?".to_string(),
            Ty::U32 => "__d.u32()?".to_string(),
            Ty::I32 => "__d.i32()?".to_string(),
            _ => format!("<{dty} as {r}::Xdr>::decode(__d)?"),
        };
        self.w.line(&format!("let __discr = {ddec};"));
        self.w.open("match __discr {");
        for a in arms {
            if a.ty == Ty::Void {
                self.w
                    .line(&format!("{} => Ok(Self::{}),", lit(a), a.variant));
            } else {
                let name = arm_name(&a.written);
                self.w.line(&format!(
                    "{} => Ok(Self::{}({}.map_err(|__x| __x.within({name:?}))?)),",
                    lit(a),
                    a.variant,
                    self.dec(&a.ty).call()
                ));
            }
        }
        match default {
            Some(Ty::Void) => self.w.line("__v => Ok(Self::Default(__v)),"),
            Some(d) => self.w.line(&format!(
                "discriminant => Ok(Self::Default {{ discriminant, value: {}.map_err(|__x| __x.within(\"default\"))? }}),",
                self.dec(d).call()
            )),
            None => {
                let val = match discr {
                    Ty::Bool => "i64::from(__v)".to_string(),
                    Ty::I32 | Ty::U32 => "i64::from(__v)".to_string(),
                    _ => "__v as i64".to_string(),
                };
                self.w.line(&format!(
                    "__v => Err({r}::DecodeError::new({r}::DecodeErrorKind::InvalidDiscriminant {{ name: {:?}, value: {val} }}, __at)),",
                    t.name
                ));
            }
        }
        self.w.close("}");
        self.w.close("}");
        self.w.close("}");
        self.w.line("");
        self.arbitrary_union(t, discr, arms, default, &lit_values(arms));
    }

    // --- proptest ----------------------------------------------------------------------------

    fn arb_cfg(&self) -> Option<String> {
        match &self.o.arbitrary {
            None => None,
            Some(None) => Some("#[allow(clippy::all)]".into()),
            Some(Some(c)) => Some(format!("#[cfg({c})]")),
        }
    }

    /// Whether `t` can reach the named type `target` (through any nesting).
    fn reaches(&self, t: &Ty, target: &str, seen: &mut HashSet<String>) -> bool {
        match t {
            Ty::Named(n) => {
                if n == target {
                    return true;
                }
                if !seen.insert(n.clone()) {
                    return false;
                }
                match &self.m.ty(n).def {
                    TypeDef::Typedef(t) => self.reaches(t, target, seen),
                    TypeDef::Struct { fields } => {
                        fields.iter().any(|f| self.reaches(&f.ty, target, seen))
                    }
                    TypeDef::Union { arms, default, .. } => {
                        arms.iter().any(|a| self.reaches(&a.ty, target, seen))
                            || default
                                .as_ref()
                                .is_some_and(|d| self.reaches(d, target, seen))
                    }
                    TypeDef::Enum { .. } => false,
                }
            }
            Ty::Array(t, _) | Ty::Fixed(t, _) | Ty::Optional(t) => self.reaches(t, target, seen),
            _ => false,
        }
    }

    /// A proptest strategy for `t` (inside the impl for `owner`).
    fn strategy(&self, t: &Ty, owner: &str) -> String {
        let r = &self.r;
        let small = |b: u32, cap: u32| b.min(cap);
        match self.m.expand(t) {
            Ty::I32 => "::proptest::prelude::any::<i32>()".into(),
            Ty::U32 => "::proptest::prelude::any::<u32>()".into(),
            Ty::I64 => "::proptest::prelude::any::<i64>()".into(),
            Ty::U64 => "::proptest::prelude::any::<u64>()".into(),
            Ty::Bool => "::proptest::prelude::any::<bool>()".into(),
            Ty::F32 => "(-1.0e6f32..1.0e6f32)".into(),
            Ty::F64 => "(-1.0e12f64..1.0e12f64)".into(),
            Ty::Char => "::proptest::prelude::any::<i8>()".into(),
            Ty::UChar => "::proptest::prelude::any::<u8>()".into(),
            Ty::Short => "::proptest::prelude::any::<i16>()".into(),
            Ty::UShort => "::proptest::prelude::any::<u16>()".into(),
            Ty::Void => "::proptest::strategy::Just(())".into(),
            Ty::Uuid => format!(
                "(::proptest::prelude::any::<u32>(), ::proptest::prelude::any::<u16>(), ::proptest::prelude::any::<u16>(), ::proptest::prelude::any::<i8>(), ::proptest::prelude::any::<i8>(), ::proptest::prelude::any::<[i8; 6]>()).prop_map(|(a, b, c, d, e, f)| {r}::AfsUuid {{ time_low: a, time_mid: b, time_hi_and_version: c, clock_seq_hi_and_reserved: d, clock_seq_low: e, node: f }})"
            ),
            Ty::String(b) => format!(
                "::proptest::collection::vec(::proptest::prelude::any::<u8>(), 0..={}).prop_map({r}::XdrString::from)",
                small(*b, 24)
            ),
            Ty::Opaque(b) => format!(
                "::proptest::collection::vec(::proptest::prelude::any::<u8>(), 0..={})",
                small(*b, 24)
            ),
            Ty::OpaqueFixed(n) => format!(
                "::proptest::collection::vec(::proptest::prelude::any::<u8>(), {n}).prop_map(|v| <[u8; {n}]>::try_from(v).unwrap_or([0; {n}]))"
            ),
            Ty::Array(et, b) => format!(
                "::proptest::collection::vec({}, 0..={})",
                self.strategy(et, owner),
                small(*b, 4)
            ),
            Ty::Fixed(et, n) if **et == Ty::Char => format!(
                "::proptest::collection::vec(::proptest::prelude::any::<u8>(), {n}).prop_map(|v| {r}::FixedChars::<{n}>(<[u8; {n}]>::try_from(v).unwrap_or([0; {n}])))"
            ),
            Ty::Fixed(et, n) => format!(
                "::proptest::collection::vec({}, {n}).prop_map(|v| match <[{}; {n}]>::try_from(v) {{ Ok(a) => a, Err(_) => unreachable!() }})",
                self.strategy(et, owner),
                self.rust_ty(et)
            ),
            Ty::Optional(et) => {
                if self.reaches(et, owner, &mut HashSet::new()) {
                    format!(
                        "::proptest::strategy::Just(None::<Box<{}>>)",
                        self.rust_ty(et)
                    )
                } else {
                    format!(
                        "::proptest::option::of({}.prop_map(Box::new))",
                        self.strategy(et, owner)
                    )
                }
            }
            t @ (Ty::Named(_) | Ty::Extern(_)) => {
                format!("::proptest::prelude::any::<{}>()", self.rust_ty(t))
            }
        }
    }

    fn arbitrary_struct(&mut self, t: &TypeItem, fields: &[Field]) {
        let Some(cfg) = self.arb_cfg() else { return };
        self.w.line(&cfg);
        self.w.open(&format!(
            "impl ::proptest::arbitrary::Arbitrary for {} {{",
            t.rust
        ));
        self.w.line("type Parameters = ();");
        self.w
            .line("type Strategy = ::proptest::strategy::BoxedStrategy<Self>;");
        self.w.line("");
        self.w.open("fn arbitrary_with((): ()) -> Self::Strategy {");
        self.w.line("use ::proptest::strategy::Strategy as _;");
        // Tuples of strategies stop at 12: nest groups of 8.
        let strats: Vec<String> = fields
            .iter()
            .map(|f| self.strategy(&f.ty, &t.name))
            .collect();
        let names: Vec<String> = fields.iter().map(|f| f.rust.clone()).collect();
        let groups: Vec<(Vec<String>, Vec<String>)> = strats
            .chunks(8)
            .zip(names.chunks(8))
            .map(|(s, n)| (s.to_vec(), n.to_vec()))
            .collect();
        let outer_s: Vec<String> = groups
            .iter()
            .map(|(s, _)| format!("({},)", s.join(", ")))
            .collect();
        let outer_p: Vec<String> = groups
            .iter()
            .map(|(_, n)| format!("({},)", n.join(", ")))
            .collect();
        self.w.line(&format!(
            "({},).prop_map(|({},)| Self {{ {} }}).boxed()",
            outer_s.join(", "),
            outer_p.join(", "),
            names.join(", ")
        ));
        self.w.close("}");
        self.w.close("}");
        self.w.line("");
    }

    fn arbitrary_union(
        &mut self,
        t: &TypeItem,
        discr: &Ty,
        arms: &[UnionArm],
        default: Option<&Ty>,
        used: &[i64],
    ) {
        let Some(cfg) = self.arb_cfg() else { return };
        self.w.line(&cfg);
        self.w.open(&format!(
            "impl ::proptest::arbitrary::Arbitrary for {} {{",
            t.rust
        ));
        self.w.line("type Parameters = ();");
        self.w
            .line("type Strategy = ::proptest::strategy::BoxedStrategy<Self>;");
        self.w.line("");
        self.w.open("fn arbitrary_with((): ()) -> Self::Strategy {");
        self.w.line("use ::proptest::strategy::Strategy as _;");
        let mut alts = Vec::new();
        for a in arms {
            if a.ty == Ty::Void {
                alts.push(format!(
                    "::proptest::strategy::Just(Self::{}).boxed()",
                    a.variant
                ));
            } else {
                alts.push(format!(
                    "{}.prop_map(Self::{}).boxed()",
                    self.strategy(&a.ty, &t.name),
                    a.variant
                ));
            }
        }
        if let Some(d) = default {
            // A discriminant no arm uses.
            let free: Option<String> = match discr {
                Ty::Bool => [0, 1]
                    .into_iter()
                    .find(|v| !used.contains(v))
                    .map(|v| (v != 0).to_string()),
                Ty::I32 | Ty::U32 => (0..)
                    .find(|v| !used.contains(v))
                    .map(|v: i64| v.to_string()),
                Ty::Named(n) => match &self.m.ty(n).def {
                    TypeDef::Enum { members } => members
                        .iter()
                        .find(|(_, _, v)| !used.contains(v))
                        .map(|(_, var, _)| format!("{}::{var}", self.m.ty(n).rust)),
                    _ => None,
                },
                _ => None,
            };
            if let Some(f) = free {
                if *d == Ty::Void {
                    alts.push(format!(
                        "::proptest::strategy::Just(Self::Default({f})).boxed()"
                    ));
                } else {
                    alts.push(format!(
                        "{}.prop_map(|value| Self::Default {{ discriminant: {f}, value }}).boxed()",
                        self.strategy(d, &t.name)
                    ));
                }
            }
        }
        self.w.line(&format!(
            "::proptest::strategy::Union::new(vec![{}]).boxed()",
            alts.join(", ")
        ));
        self.w.close("}");
        self.w.close("}");
        self.w.line("");
    }

    // --- packages ----------------------------------------------------------------------------

    fn outs<'p>(&self, p: &'p ProcM) -> Vec<&'p ParamM> {
        p.params
            .iter()
            .filter(|x| matches!(x.dir, Dir::Out | Dir::InOut))
            .collect()
    }

    fn ins<'p>(&self, p: &'p ProcM) -> Vec<&'p ParamM> {
        p.params
            .iter()
            .filter(|x| matches!(x.dir, Dir::In | Dir::InOut))
            .collect()
    }

    fn out_ty(&self, p: &ProcM) -> String {
        let outs = self.outs(p);
        match outs.len() {
            0 => "()".into(),
            1 => self.rust_ty(&outs[0].ty),
            _ => format!("{}Out", crate::names::camel(&p.name)),
        }
    }

    fn package(&mut self, pkg: &PackageM) {
        let r = self.r.clone();
        let mut doc = format!("Package `{}`", pkg.prefix);
        if let Some(s) = pkg.statindex {
            write!(doc, " (statindex {s})").ok();
        }
        doc.push_str(": opcodes");
        if self.o.client {
            doc.push_str(", the async [`Client`](self::");
            doc.push_str(&pkg.module);
            doc.push_str("::Client)");
        }
        if self.o.server {
            doc.push_str(", the [`Service`](self::");
            doc.push_str(&pkg.module);
            doc.push_str("::Service) trait and its dispatcher");
        }
        doc.push('.');
        self.w.doc(&doc);
        // The module is often included in a module of the same name (`vl::vl`).
        self.w.line("#[allow(clippy::module_inception)]");
        self.w.open(&format!("pub mod {} {{", pkg.module));
        self.tp = "super::".to_string();
        self.w.doc("Procedure opcodes.");
        self.w.open("pub mod opcodes {");
        for p in &pkg.procs {
            self.w.doc(&format!("`{}{}`.", pkg.prefix, p.name));
            self.w.line(&format!(
                "pub const {}: u32 = {};",
                p.opcode_const, p.opcode
            ));
        }
        self.w.close("}");
        self.w.line("");
        self.w
            .doc(&format!("The package prefix, `{}`.", pkg.prefix));
        self.w
            .line(&format!("pub const PACKAGE: &str = {:?};", pkg.prefix));
        if let Some(s) = pkg.statindex {
            self.w.doc("The RPC statistics index (`statindex`).");
            self.w.line(&format!("pub const STATINDEX: u32 = {s};"));
        }
        let lo = pkg.procs.iter().map(|p| p.opcode).min().unwrap_or(0);
        let hi = pkg.procs.iter().map(|p| p.opcode).max().unwrap_or(0);
        self.w.doc("The lowest opcode.");
        self.w
            .line(&format!("pub const LOWEST_OPCODE: u32 = {lo};"));
        self.w.doc("The highest opcode.");
        self.w
            .line(&format!("pub const HIGHEST_OPCODE: u32 = {hi};"));
        self.w.doc("The number of procedures.");
        self.w.line(&format!(
            "pub const NUMBER_OPCODES: usize = {};",
            pkg.procs.len()
        ));
        self.w
            .doc("Every procedure: (opcode, name with the package prefix).");
        self.w.open("pub const PROCEDURES: &[(u32, &str)] = &[");
        for p in &pkg.procs {
            self.w.line(&format!(
                "(opcodes::{}, {:?}),",
                p.opcode_const,
                format!("{}{}", pkg.prefix, p.name)
            ));
        }
        self.w.close("];");
        self.w.line("");
        self.w.doc("The name of the procedure with `opcode`.");
        self.w
            .open("pub fn procedure_name(opcode: u32) -> Option<&'static str> {");
        self.w
            .line("PROCEDURES.iter().find(|p| p.0 == opcode).map(|p| p.1)");
        self.w.close("}");
        self.w.line("");
        // Output structs.
        for p in &pkg.procs {
            let outs = self.outs(p);
            if outs.len() < 2 {
                continue;
            }
            self.w.doc(&format!(
                "The results of `{}{}` (its OUT and INOUT parameters).",
                pkg.prefix, p.name
            ));
            self.w.line("#[derive(Debug, Clone, PartialEq, Default)]");
            self.w.open(&format!("pub struct {} {{", self.out_ty(p)));
            for o in outs {
                self.w.doc(&format!("`{}`", o.written));
                self.w
                    .line(&format!("pub {}: {},", o.rust, self.rust_ty(&o.ty)));
            }
            self.w.close("}");
            self.w.line("");
        }
        if self.o.client {
            self.client(pkg, &r);
        }
        if self.o.server {
            self.server(pkg, &r);
        }
        self.tp.clear();
        self.w.close("}");
        self.w.line("");
    }

    fn param_in_ty(&self, t: &Ty) -> String {
        if self.is_scalar(t) {
            return self.rust_ty(t);
        }
        match self.m.expand(t) {
            Ty::String(_) | Ty::Opaque(_) => "impl AsRef<[u8]>".into(),
            Ty::Array(et, _) => format!("&[{}]", self.rust_ty(et)),
            _ => format!("&{}", self.rust_ty(t)),
        }
    }

    fn param_val(&self, p: &ParamM) -> Val {
        if self.is_scalar(&p.ty) {
            Val::Place(p.rust.clone())
        } else {
            Val::Ref(p.rust.clone())
        }
    }

    fn encode_closure(&self, pkg: &PackageM, p: &ProcM, ins: &[&ParamM]) -> String {
        if ins.is_empty() {
            return "|_| Ok(())".into();
        }
        let mut s = String::from("|__e| {\n");
        for x in ins {
            let path = format!("{}{}.{}", pkg.prefix, p.name, x.name);
            let st = self.enc(&x.ty, &self.param_val(x), Some(&path));
            for l in st.lines() {
                s.push_str("    ");
                s.push_str(l);
                s.push('\n');
            }
        }
        s.push_str("    Ok(())\n}");
        s
    }

    fn decode_closure(&self, pkg: &PackageM, p: &ProcM, outs: &[&ParamM], ret: &str) -> String {
        if outs.is_empty() {
            return "|_| Ok(())".into();
        }
        let mut s = String::from("|__d| {\n");
        for x in outs {
            let path = format!("{}{}.{}", pkg.prefix, p.name, x.name);
            s.push_str(&format!(
                "    let {} = {}.map_err(|__x| __x.within({path:?}))?;\n",
                x.rust,
                self.dec(&x.ty).call()
            ));
        }
        s.push_str(&format!("    Ok({ret})\n}}"));
        s
    }

    fn out_value(&self, p: &ProcM, outs: &[&ParamM]) -> String {
        match outs.len() {
            0 => "()".into(),
            1 => outs[0].rust.clone(),
            _ => format!(
                "{} {{ {} }}",
                self.out_ty(p),
                outs.iter()
                    .map(|o| o.rust.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    fn proc_doc(&self, pkg: &PackageM, p: &ProcM) -> String {
        let mut d = format!("`{}{}` (opcode {})", pkg.prefix, p.name, p.opcode);
        if p.split {
            d.push_str(", split");
        }
        if p.multi {
            d.push_str(", multi");
        }
        d.push_str(".\n");
        if !p.params.is_empty() {
            d.push('\n');
            for x in &p.params {
                let dir = match x.dir {
                    Dir::In => "IN",
                    Dir::Out => "OUT",
                    Dir::InOut => "INOUT",
                };
                writeln!(d, "* {dir} `{}`", x.written).ok();
            }
        }
        d
    }

    fn client(&mut self, pkg: &PackageM, r: &str) {
        self.w.doc(&format!(
            "An async client of package `{}`: one method per procedure, each making one call.\n\n\
             Errors: a remote abort is [`RpcError::Aborted`]({r}::rx::RpcError::Aborted) with the \
             server's code; see [`RpcError`]({r}::rx::RpcError).",
            pkg.prefix
        ));
        self.w.line("#[derive(Debug, Clone)]");
        self.w.open("pub struct Client {");
        self.w.line(&format!("rpc: {r}::rx::RpcClient,"));
        self.w.close("}");
        self.w.line("");
        self.w.open("impl Client {");
        self.w
            .doc("Calls to `service` at `peer`, made from `endpoint`.");
        self.w.open(&format!(
            "pub fn new(endpoint: &{r}::rx::RxEndpoint, peer: ::std::net::SocketAddr, service: {r}::rx::ServiceId) -> Self {{"
        ));
        self.w.line(&format!(
            "Self::from_rpc({r}::rx::RpcClient::new(endpoint, peer, service))"
        ));
        self.w.close("}");
        self.w.line("");
        self.w
            .doc("A client over an `RpcClient` (which carries the call options).");
        self.w.open(&format!(
            "pub fn from_rpc(rpc: {r}::rx::RpcClient) -> Self {{"
        ));
        self.w.line("Self { rpc }");
        self.w.close("}");
        self.w.line("");
        self.w.doc("The underlying RPC client.");
        self.w
            .open(&format!("pub fn rpc(&self) -> &{r}::rx::RpcClient {{"));
        self.w.line("&self.rpc");
        self.w.close("}");
        let (sp_in, sp_out) = (snake(&self.m.split_prefix.0), snake(&self.m.split_prefix.1));
        for p in &pkg.procs {
            let ins = self.ins(p);
            let outs = self.outs(p);
            let mut args = vec!["&self".to_string()];
            let mut prelude = Vec::new();
            for x in &ins {
                let ty = self.param_in_ty(&x.ty);
                if ty.starts_with("impl AsRef") {
                    prelude.push(format!("let {0} = {0}.as_ref();", x.rust));
                }
                args.push(format!("{}: {ty}", x.rust));
            }
            let ret = self.out_ty(p);
            let enc = self.encode_closure(pkg, p, &ins);
            let dec = self.decode_closure(pkg, p, &outs, &self.out_value(p, &outs));
            let many = if args.len() > 7 {
                "#[allow(clippy::too_many_arguments)]\n"
            } else {
                ""
            };
            if !p.split {
                self.w.line("");
                self.w.doc(&self.proc_doc(pkg, p));
                self.w.line(&format!(
                    "{many}pub async fn {}({}) -> Result<{ret}, {r}::rx::RpcError> {{",
                    p.rust,
                    args.join(", ")
                ));
                self.w.indent += 1;
                for l in &prelude {
                    self.w.line(l);
                }
                self.w.line(&format!(
                    "self.rpc.call(opcodes::{}, {}, {}).await",
                    p.opcode_const, enc, dec
                ));
                self.w.close("}");
            }
            if p.split || p.multi {
                let name = p.rust.trim_start_matches("r#");
                self.w.line("");
                self.w.doc(&format!(
                    "{}\nFirst half of the split call: sends the IN and INOUT parameters and \
                     returns the call's stream; finish with [`{sp_out}_{name}`](Self::{sp_out}_{name}).",
                    self.proc_doc(pkg, p)
                ));
                self.w.line(&format!(
                    "{many}pub async fn {sp_in}_{name}({}) -> Result<{r}::rx::CallStream, {r}::rx::RpcError> {{",
                    args.join(", ")
                ));
                self.w.indent += 1;
                for l in &prelude {
                    self.w.line(l);
                }
                self.w.line(&format!(
                    "self.rpc.start_split(opcodes::{}, {}).await",
                    p.opcode_const, enc
                ));
                self.w.close("}");
                self.w.line("");
                self.w.doc(&format!(
                    "Second half of the split call `{}{}`: ends the request if still open, reads \
                     the OUT and INOUT parameters.",
                    pkg.prefix, p.name
                ));
                self.w.open(&format!(
                    "pub async fn {sp_out}_{name}(&self, call: {r}::rx::CallStream) -> Result<{ret}, {r}::rx::RpcError> {{"
                ));
                self.w
                    .line(&format!("self.rpc.end_split(call, {dec}).await"));
                self.w.close("}");
            }
        }
        self.w.close("}");
        self.w.line("");
    }

    fn server(&mut self, pkg: &PackageM, r: &str) {
        self.w.doc(&format!(
            "The procedures of package `{}`, implemented by a server.\n\n\
             Each method gets the decoded IN and INOUT parameters and returns the OUT and INOUT \
             results, or an error code that becomes the call's abort code (no results are sent \
             then). A method not implemented answers `RXGEN_OPCODE`. Split procedures get the \
             call's stream to read or write the data between the parameters and the results.",
            pkg.prefix
        ));
        self.w.open("pub trait Service: Send + Sync + 'static {");
        for (i, p) in pkg.procs.iter().enumerate() {
            if i > 0 {
                self.w.line("");
            }
            let ins = self.ins(p);
            let call_ty = if p.split {
                format!("&mut {r}::rx::ServerCall")
            } else {
                format!("&{r}::rx::CallContext")
            };
            let mut args = vec!["&self".to_string(), format!("_call: {call_ty}")];
            for x in &ins {
                args.push(format!(
                    "_{}: {}",
                    x.rust.trim_start_matches("r#"),
                    self.rust_ty(&x.ty)
                ));
            }
            self.w.doc(&self.proc_doc(pkg, p));
            if args.len() > 7 {
                self.w.line("#[allow(clippy::too_many_arguments)]");
            }
            self.w.open(&format!(
                "fn {}({}) -> impl ::std::future::Future<Output = Result<{}, {r}::rx::AbortCode>> + Send {{",
                p.rust,
                args.join(", "),
                self.out_ty(p)
            ));
            self.w.line(&format!(
                "async {{ Err({r}::rx::AbortCode::RXGEN_OPCODE) }}"
            ));
            self.w.close("}");
        }
        self.w.close("}");
        self.w.line("");
        self.w.doc(&format!(
            "Dispatches calls of package `{}` to a [`Service`]: decodes the opcode and the \
             arguments, calls the method, sends the results. Unknown opcodes are aborted with \
             `RXGEN_OPCODE`, arguments that do not decode with `RXGEN_SS_UNMARSHAL`.",
            pkg.prefix
        ));
        self.w.line("#[derive(Debug, Clone, Default)]");
        self.w.open("pub struct Server<S> {");
        self.w.line("service: S,");
        self.w.close("}");
        self.w.line("");
        self.w.open("impl<S: Service> Server<S> {");
        self.w.doc("A dispatcher for `service`.");
        self.w.open("pub fn new(service: S) -> Self {");
        self.w.line("Self { service }");
        self.w.close("}");
        self.w.line("");
        self.w.doc("The service.");
        self.w.open("pub fn service(&self) -> &S {");
        self.w.line("&self.service");
        self.w.close("}");
        self.w.close("}");
        self.w.line("");
        self.w.open(&format!(
            "impl<S: Service> {r}::rx::Dispatch for Server<S> {{"
        ));
        self.w.open("fn package(&self) -> &'static str {");
        self.w.line("PACKAGE");
        self.w.close("}");
        self.w.line("");
        self.w.open(&format!(
            "async fn dispatch(&self, opcode: u32, call: &mut {r}::rx::ServerCall) -> Result<(), {r}::rx::DispatchError> {{"
        ));
        if pkg.procs.is_empty() {
            self.w.line("let _ = call;");
            self.w
                .line(&format!("Err({r}::rx::DispatchError::Opcode(opcode))"));
        } else {
            self.w.open("match opcode {");
            for p in &pkg.procs {
                let ins = self.ins(p);
                let outs = self.outs(p);
                self.w.open(&format!("opcodes::{} => {{", p.opcode_const));
                let names: Vec<String> = ins.iter().map(|x| x.rust.clone()).collect();
                let read = if p.split { "split_args" } else { "args" };
                if ins.is_empty() {
                    self.w.line(&format!("call.{read}(|_| Ok(())).await?;"));
                } else {
                    let mut s = format!("let ({},) = call.{read}(|__d| {{\n", names.join(", "));
                    for x in &ins {
                        let path = format!("{}{}.{}", pkg.prefix, p.name, x.name);
                        s.push_str(&format!(
                            "    let {} = {}.map_err(|__x| __x.within({path:?}))?;\n",
                            x.rust,
                            self.dec(&x.ty).call()
                        ));
                    }
                    s.push_str(&format!("    Ok(({},))\n}}).await?;", names.join(", ")));
                    self.w.line(&s);
                }
                let ctx = if p.split { "call" } else { "call.context()" };
                let mut cargs = vec![ctx.to_string()];
                cargs.extend(names.iter().cloned());
                let bind = if outs.is_empty() { "" } else { "let __out = " };
                self.w.line(&format!(
                    "{bind}self.service.{}({}).await.map_err({r}::rx::DispatchError::Method)?;",
                    p.rust,
                    cargs.join(", ")
                ));
                if outs.is_empty() {
                    self.w.line("call.reply(|_| Ok(())).await");
                } else {
                    let mut s = String::from("call.reply(|__e| {\n");
                    for o in &outs {
                        let place = if outs.len() == 1 {
                            "__out".to_string()
                        } else {
                            format!("__out.{}", o.rust)
                        };
                        let path = format!("{}{}.{}", pkg.prefix, p.name, o.name);
                        let st = self.enc(&o.ty, &Val::Place(place), Some(&path));
                        for l in st.lines() {
                            s.push_str("    ");
                            s.push_str(l);
                            s.push('\n');
                        }
                    }
                    s.push_str("    Ok(())\n})\n.await");
                    self.w.line(&s);
                }
                self.w.close("}");
            }
            self.w.line(&format!(
                "_ => Err({r}::rx::DispatchError::Opcode(opcode)),"
            ));
            self.w.close("}");
        }
        self.w.close("}");
        self.w.close("}");
        self.w.line("");
        self.w.doc(&format!(
            "Serve package `{}` with `service` on every call `listener` accepts, each call in a \
             task of its own, until the listener fails (its error is returned).",
            pkg.prefix
        ));
        self.w.open(&format!(
            "pub async fn serve<S: Service>(listener: {r}::rx::Listener, service: S) -> {r}::rx::RxError {{"
        ));
        self.w.line(&format!(
            "{r}::rx::serve(listener, ::std::sync::Arc::new(Server::new(service)), Default::default()).await"
        ));
        self.w.close("}");
    }
}

fn bound_text(b: u32) -> String {
    if b == u32::MAX {
        String::new()
    } else {
        b.to_string()
    }
}

fn arm_name(written: &str) -> String {
    written
        .rsplit([' ', '*'])
        .next()
        .unwrap_or("")
        .split(['[', '<'])
        .next()
        .unwrap_or("")
        .to_string()
}

fn lit_values(arms: &[UnionArm]) -> Vec<i64> {
    arms.iter().map(|a| a.value).collect()
}
