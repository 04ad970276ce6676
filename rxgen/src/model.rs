//! Semantic checks: constants evaluated, names resolved, types turned into wire types with
//! their bounds, Rust names chosen.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::ast::*;
use crate::names::{camel, ident, is_plain_ident, screaming, snake, strip_common_prefix};
use crate::pp::{Macro, eval_const_expr, parse_int};
use crate::source::{Diagnostic, Error, SourceMap, Span};

/// A resolved wire type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ty {
    /// `int`.
    I32,
    /// `unsigned`.
    U32,
    /// `hyper`.
    I64,
    /// `unsigned hyper`.
    U64,
    /// `bool`.
    Bool,
    /// `float`.
    F32,
    /// `double`.
    F64,
    /// `char` (widened).
    Char,
    /// `unsigned char` (widened).
    UChar,
    /// `short` (widened).
    Short,
    /// `unsigned short` (widened).
    UShort,
    /// `afsUUID`.
    Uuid,
    /// `string<max>`.
    String(u32),
    /// `opaque<max>`.
    Opaque(u32),
    /// `opaque[n]`.
    OpaqueFixed(u32),
    /// `T<max>`.
    Array(Box<Ty>, u32),
    /// `T[n]`.
    Fixed(Box<Ty>, u32),
    /// `T *` inside a type: optional data.
    Optional(Box<Ty>),
    /// A named type of the interface (IDL name).
    Named(String),
    /// A type provided by the user (Rust path).
    Extern(String),
    /// `void` (union arms).
    Void,
}

/// A constant.
#[derive(Debug, Clone)]
pub(crate) struct Const {
    /// IDL name (also the Rust name).
    pub(crate) name: String,
    /// Value.
    pub(crate) value: ConstVal,
    /// Where it came from (`const`, `#define`, `%#define`).
    pub(crate) origin: &'static str,
    /// Source position.
    pub(crate) span: Span,
}

/// A constant's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConstVal {
    /// An integer.
    Int(i64),
    /// A string (without quotes).
    Str(String),
}

/// A struct field.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    /// IDL name.
    pub(crate) name: String,
    /// Rust name (an identifier, possibly `r#`).
    pub(crate) rust: String,
    /// Type.
    pub(crate) ty: Ty,
    /// The declaration as written, for docs.
    pub(crate) written: String,
}

/// A union arm.
#[derive(Debug, Clone)]
pub(crate) struct UnionArm {
    /// The label as written.
    pub(crate) label: String,
    /// The discriminant value.
    pub(crate) value: i64,
    /// The enum member, when the discriminant is an enum.
    pub(crate) enum_member: Option<String>,
    /// Rust variant name.
    pub(crate) variant: String,
    /// The arm's type (`Void` for none).
    pub(crate) ty: Ty,
    /// The arm's declaration as written.
    pub(crate) written: String,
}

/// A named type.
#[derive(Debug, Clone)]
pub(crate) enum TypeDef {
    /// A struct.
    Struct {
        /// Fields.
        fields: Vec<Field>,
    },
    /// A discriminated union.
    Union {
        /// Discriminant type: `I32`, `U32`, `Bool` or `Named(enum)`.
        discr: Ty,
        /// Discriminant name as written.
        discr_name: String,
        /// Arms.
        arms: Vec<UnionArm>,
        /// The default arm's type.
        default: Option<Ty>,
    },
    /// An enum: members with values, Rust variant names.
    Enum {
        /// (IDL name, Rust variant, value).
        members: Vec<(String, String, i64)>,
    },
    /// A typedef.
    Typedef(Ty),
}

/// A named type with its names.
#[derive(Debug, Clone)]
pub(crate) struct TypeItem {
    /// IDL name.
    pub(crate) name: String,
    /// Rust name.
    pub(crate) rust: String,
    /// The definition.
    pub(crate) def: TypeDef,
    /// Where.
    pub(crate) span: Span,
}

/// A resolved parameter.
#[derive(Debug, Clone)]
pub(crate) struct ParamM {
    /// IDL name.
    pub(crate) name: String,
    /// Rust name.
    pub(crate) rust: String,
    /// Direction.
    pub(crate) dir: Dir,
    /// Type.
    pub(crate) ty: Ty,
    /// Declaration as written.
    pub(crate) written: String,
}

/// A resolved procedure.
#[derive(Debug, Clone)]
pub(crate) struct ProcM {
    /// IDL name (without package prefix).
    pub(crate) name: String,
    /// Rust method name.
    pub(crate) rust: String,
    /// Opcode.
    pub(crate) opcode: u32,
    /// Opcode constant name.
    pub(crate) opcode_const: String,
    /// Parameters.
    pub(crate) params: Vec<ParamM>,
    /// `split`.
    pub(crate) split: bool,
    /// `multi`.
    pub(crate) multi: bool,
}

/// A resolved package.
#[derive(Debug, Clone)]
pub(crate) struct PackageM {
    /// Prefix, e.g. `VL_`.
    pub(crate) prefix: String,
    /// Rust module name.
    pub(crate) module: String,
    /// statindex.
    pub(crate) statindex: Option<u32>,
    /// Procedures.
    pub(crate) procs: Vec<ProcM>,
}

/// The resolved interface.
#[derive(Debug, Clone)]
pub(crate) struct Model {
    /// Constants (const, enumerators excluded, then macros).
    pub(crate) consts: Vec<Const>,
    /// Named types in definition order.
    pub(crate) types: Vec<TypeItem>,
    /// IDL name → index in `types`.
    pub(crate) index: HashMap<String, usize>,
    /// Packages.
    pub(crate) packages: Vec<PackageM>,
    /// splitprefix.
    pub(crate) split_prefix: (String, String),
    /// Warnings.
    pub(crate) warnings: Vec<Diagnostic>,
}

impl Model {
    /// The named type.
    pub(crate) fn ty(&self, name: &str) -> &TypeItem {
        &self.types[self.index[name]]
    }

    /// Follow typedefs to the underlying type.
    pub(crate) fn expand<'a>(&'a self, mut t: &'a Ty) -> &'a Ty {
        let mut n = 0;
        while let Ty::Named(name) = t {
            match &self.ty(name).def {
                TypeDef::Typedef(inner) if n < 100 => {
                    t = inner;
                    n += 1;
                }
                _ => break,
            }
        }
        t
    }
}

/// Map IDL identifiers that are C typedefs in OpenAFS headers to wire types.
fn builtin(name: &str) -> Option<Ty> {
    Some(match name {
        "afs_int32" | "int32" | "long" | "afs_int" | "int32_t" => Ty::I32,
        "afs_uint32" | "u_int" | "u_long" | "uint32" | "u_int32" | "uint32_t" | "afs_uint" => {
            Ty::U32
        }
        "afs_int64" | "hyper" | "int64" | "int64_t" => Ty::I64,
        "afs_uint64" | "u_hyper" | "uint64" | "uint64_t" => Ty::U64,
        "afs_int16" | "int16" | "int16_t" => Ty::Short,
        "afs_uint16" | "u_short" | "uint16" | "uint16_t" => Ty::UShort,
        "u_char" | "afs_uint8" | "afs_byte" | "uint8_t" => Ty::UChar,
        "afs_int8" | "int8_t" => Ty::Char,
        "bool_t" => Ty::Bool,
        _ => return None,
    })
}

struct Resolver<'a> {
    sources: &'a SourceMap,
    spec: &'a Spec,
    externs: &'a BTreeMap<String, String>,
    values: HashMap<String, i64>,
    /// Enumerators: name → (enum name, value).
    enumerators: HashMap<String, (String, i64)>,
    type_names: HashMap<String, (Span, &'static str)>,
    /// Enum name → its members (IDL name, Rust variant, value).
    enum_variants: HashMap<String, Vec<(String, String, i64)>>,
    warnings: Vec<Diagnostic>,
}

/// Resolve a parsed spec.
pub(crate) fn resolve(
    spec: &Spec,
    sources: &SourceMap,
    defines: &[(String, Macro)],
    c_defines: &[(String, String, Span)],
    macros: &HashMap<String, Macro>,
    externs: &BTreeMap<String, String>,
) -> Result<Model, Error> {
    let mut r = Resolver {
        sources,
        spec,
        externs,
        values: HashMap::new(),
        enumerators: HashMap::new(),
        type_names: HashMap::new(),
        enum_variants: HashMap::new(),
        warnings: Vec::new(),
    };
    r.run(defines, c_defines, macros)
}

impl Resolver<'_> {
    fn err(&self, span: Span, msg: impl Into<String>) -> Error {
        Error::Source(self.sources.diag(span, msg))
    }

    fn value(&self, v: &Value, span: Span, what: &str) -> Result<i64, Error> {
        match v {
            Value::Number(s) => {
                parse_int(s).ok_or_else(|| self.err(span, format!("malformed number `{s}`")))
            }
            Value::Name(n) => self.values.get(n).copied().ok_or_else(|| {
                self.err(
                    span,
                    format!("unknown constant `{n}` used as {what} (define it with `const`)"),
                )
            }),
        }
    }

    fn bound(&self, v: &Option<Value>, span: Span) -> Result<u32, Error> {
        match v {
            None => Ok(u32::MAX),
            Some(v) => {
                let n = self.value(v, span, "a bound")?;
                u32::try_from(n)
                    .map_err(|_| self.err(span, format!("bound {n} is out of range 0..2^32")))
            }
        }
    }

    fn run(
        &mut self,
        defines: &[(String, Macro)],
        c_defines: &[(String, String, Span)],
        macros: &HashMap<String, Macro>,
    ) -> Result<Model, Error> {
        let spec = self.spec;
        // Type names first (types may be used before their definition, as in C via pointers).
        for d in &spec.defs {
            let (name, span, kind) = match d {
                Def::Struct { name, span, .. } => (name, *span, "struct"),
                Def::Union { name, span, .. } => (name, *span, "union"),
                Def::Enum { name, span, .. } => (name, *span, "enum"),
                Def::Typedef(decl) => (&decl.name, decl.span, "typedef"),
                Def::Const { .. } => continue,
            };
            if let Some((prev, _)) = self.type_names.get(name) {
                let p = self.sources.diag(*prev, "");
                return Err(self.err(
                    span,
                    format!(
                        "`{name}` is defined twice (first at {}:{}:{})",
                        p.file, p.line, p.col
                    ),
                ));
            }
            self.type_names.insert(name.clone(), (span, kind));
        }
        // Constants and enumerators, in order.
        let mut consts = Vec::new();
        let mut const_names = HashSet::new();
        for d in &spec.defs {
            match d {
                Def::Const { name, value, span } => {
                    if !const_names.insert(name.clone()) || self.enumerators.contains_key(name) {
                        return Err(self.err(*span, format!("constant `{name}` is defined twice")));
                    }
                    let v = match value {
                        ConstValue::Value(v) => {
                            let n = self.value(v, *span, "a constant value")?;
                            self.values.insert(name.clone(), n);
                            ConstVal::Int(n)
                        }
                        ConstValue::Str(s) => ConstVal::Str(s.trim_matches('"').to_string()),
                    };
                    consts.push(Const {
                        name: name.clone(),
                        value: v,
                        origin: "const",
                        span: *span,
                    });
                }
                Def::Enum { name, members, .. } => {
                    let mut next = 0i64;
                    for (m, v, mspan) in members {
                        let n = match v {
                            Some(v) => self.value(v, *mspan, "an enum value")?,
                            None => next,
                        };
                        if i32::try_from(n).is_err() {
                            return Err(
                                self.err(*mspan, format!("enum value {n} does not fit an int"))
                            );
                        }
                        if self.values.contains_key(m) || const_names.contains(m) {
                            return Err(self.err(*mspan, format!("`{m}` is defined twice")));
                        }
                        self.values.insert(m.clone(), n);
                        self.enumerators.insert(m.clone(), (name.clone(), n));
                        next = n + 1;
                    }
                }
                _ => {}
            }
        }
        // Macros with constant values (from `#define` in the files, and `%#define` lines).
        let lookup_values = self.values.clone();
        let lookup = |n: &str| lookup_values.get(n).copied();
        for (name, m) in defines {
            if m.function_like || const_names.contains(name) || self.values.contains_key(name) {
                continue;
            }
            if let Ok(v) = eval_const_expr(&m.body, macros, &lookup) {
                if is_plain_ident(name) && const_names.insert(name.clone()) {
                    consts.push(Const {
                        name: name.clone(),
                        value: ConstVal::Int(v),
                        origin: "#define",
                        span: m.span.unwrap_or_default(),
                    });
                }
            }
        }
        for (name, body, span) in c_defines {
            if const_names.contains(name) || self.values.contains_key(name) {
                continue;
            }
            let known: HashMap<String, i64> = consts
                .iter()
                .filter_map(|c| match c.value {
                    ConstVal::Int(v) => Some((c.name.clone(), v)),
                    ConstVal::Str(_) => None,
                })
                .chain(lookup_values.iter().map(|(k, v)| (k.clone(), *v)))
                .collect();
            if let Ok(v) = eval_const_expr(body, macros, &|n| known.get(n).copied()) {
                if is_plain_ident(name) && const_names.insert(name.clone()) {
                    consts.push(Const {
                        name: name.clone(),
                        value: ConstVal::Int(v),
                        origin: "%#define",
                        span: *span,
                    });
                }
            }
        }

        // `#define`d and `%#define`d constants may be used as bounds too (rxgen leaves them
        // to the C compiler).
        for c in &consts {
            if let ConstVal::Int(v) = c.value {
                self.values.entry(c.name.clone()).or_insert(v);
            }
        }

        // Rust type names.
        let mut rust_names: HashMap<String, String> = HashMap::new();
        let mut used: HashSet<String> = HashSet::new();
        for d in &spec.defs {
            let name = match d {
                Def::Struct { name, .. } | Def::Union { name, .. } | Def::Enum { name, .. } => name,
                Def::Typedef(decl) => &decl.name,
                Def::Const { .. } => continue,
            };
            let mut r = camel(name);
            while !used.insert(r.clone()) {
                r.push('_');
            }
            rust_names.insert(name.clone(), r);
        }

        // Types.
        let mut types = Vec::new();
        let mut index = HashMap::new();
        for d in &spec.defs {
            let item = match d {
                Def::Const { .. } => continue,
                Def::Struct {
                    name,
                    fields,
                    customized,
                    span,
                } => {
                    if *customized {
                        let w = self.sources.diag(
                            *span,
                            format!(
                                "customized struct `{name}`: its C XDR routine is hand-written; \
                                 generating the standard encoding of its declared members (map \
                                 it with an extern type if that is wrong)"
                            ),
                        );
                        self.warnings.push(w);
                    }
                    let mut out = Vec::new();
                    let mut seen = HashSet::new();
                    for f in fields {
                        let ty = self.decl_ty(f, false)?;
                        if ty == Ty::Void {
                            return Err(self.err(f.span, "void member in a struct"));
                        }
                        let mut rust = snake(&f.name);
                        while !seen.insert(rust.clone()) {
                            rust.push('_');
                        }
                        out.push(Field {
                            name: f.name.clone(),
                            rust: ident(&rust),
                            ty,
                            written: written(f),
                        });
                    }
                    TypeItem {
                        name: name.clone(),
                        rust: rust_names[name].clone(),
                        def: TypeDef::Struct { fields: out },
                        span: *span,
                    }
                }
                Def::Enum {
                    name,
                    members,
                    span,
                } => {
                    let base: Vec<(String, String, i64)> = members
                        .iter()
                        .map(|(m, _, _)| (m.clone(), camel(m), self.values[m]))
                        .collect();
                    // `RXGK_LEVEL_CLEAR`, `RXGK_LEVEL_AUTH` → `Clear`, `Auth`.
                    let stripped = strip_common_prefix(&base);
                    let mut out = Vec::new();
                    let mut seen = HashSet::new();
                    for ((m, _, v), mut rust) in base.into_iter().zip(stripped) {
                        if rust == "Self" {
                            rust.push('_');
                        }
                        while !seen.insert(rust.clone()) {
                            rust.push('_');
                        }
                        out.push((m, rust, v));
                    }
                    self.enum_variants.insert(name.clone(), out.clone());
                    TypeItem {
                        name: name.clone(),
                        rust: rust_names[name].clone(),
                        def: TypeDef::Enum { members: out },
                        span: *span,
                    }
                }
                Def::Typedef(decl) => {
                    let ty = self.decl_ty(decl, false)?;
                    if ty == Ty::Void {
                        return Err(self.err(decl.span, "typedef of void"));
                    }
                    TypeItem {
                        name: decl.name.clone(),
                        rust: rust_names[&decl.name].clone(),
                        def: TypeDef::Typedef(ty),
                        span: decl.span,
                    }
                }
                Def::Union {
                    name,
                    discr,
                    arms,
                    default,
                    span,
                } => self.union(name, discr, arms, default, *span, &rust_names)?,
            };
            index.insert(item.name.clone(), types.len());
            types.push(item);
        }

        self.check_cycles(&types, &index)?;

        // Packages.
        let mut packages = Vec::new();
        let mut modules = HashSet::new();
        for p in &spec.packages {
            let mut module = snake(p.prefix.trim_end_matches('_'));
            if module.starts_with('_') || !is_plain_ident(&module) {
                module = format!("pkg_{}", module.trim_start_matches('_'));
            }
            while !modules.insert(module.clone()) {
                module.push('_');
            }
            let mut procs = Vec::new();
            let mut methods = HashSet::new();
            for pr in &p.procs {
                let mut rust = snake(&pr.name);
                if matches!(rust.as_str(), "new" | "from_rpc" | "rpc" | "service") {
                    rust.push_str("_rpc");
                }
                while !methods.insert(rust.clone()) {
                    rust.push('_');
                }
                let mut params = Vec::new();
                let mut pnames = HashSet::new();
                for prm in &pr.params {
                    let ty = self.decl_ty(&prm.decl, true)?;
                    let mut r = snake(&prm.decl.name);
                    if r == "call" || r.starts_with("__") {
                        r.push('_');
                    }
                    while !pnames.insert(r.clone()) {
                        r.push('_');
                    }
                    params.push(ParamM {
                        name: prm.decl.name.clone(),
                        rust: ident(&r),
                        dir: prm.dir,
                        ty,
                        written: written(&prm.decl),
                    });
                }
                procs.push(ProcM {
                    name: pr.name.clone(),
                    rust: ident(&rust),
                    opcode: pr.opcode,
                    opcode_const: screaming(&pr.name),
                    params,
                    split: pr.split,
                    multi: pr.multi,
                });
            }
            packages.push(PackageM {
                prefix: p.prefix.clone(),
                module,
                statindex: p.statindex,
                procs,
            });
        }
        let split_prefix = (
            spec.split_prefix
                .0
                .clone()
                .unwrap_or_else(|| "Start".to_string()),
            spec.split_prefix
                .1
                .clone()
                .unwrap_or_else(|| "End".to_string()),
        );
        Ok(Model {
            consts,
            types,
            index,
            packages,
            split_prefix,
            warnings: std::mem::take(&mut self.warnings),
        })
    }

    /// Reject types that contain themselves by value (not through a pointer or a variable
    /// array): they would be infinitely large, and typedef cycles.
    fn check_cycles(
        &self,
        types: &[TypeItem],
        index: &HashMap<String, usize>,
    ) -> Result<(), Error> {
        fn direct<'t>(t: &'t Ty, out: &mut Vec<&'t str>) {
            match t {
                Ty::Named(n) => out.push(n),
                Ty::Fixed(t, _) => direct(t, out),
                _ => {}
            }
        }
        // 0 = unvisited, 1 = on the stack, 2 = done.
        let mut state = vec![0u8; types.len()];
        fn visit(
            i: usize,
            types: &[TypeItem],
            index: &HashMap<String, usize>,
            state: &mut Vec<u8>,
        ) -> Option<usize> {
            if state[i] == 2 {
                return None;
            }
            if state[i] == 1 {
                return Some(i);
            }
            state[i] = 1;
            let mut next = Vec::new();
            match &types[i].def {
                TypeDef::Struct { fields } => fields.iter().for_each(|f| direct(&f.ty, &mut next)),
                TypeDef::Union { arms, default, .. } => {
                    arms.iter().for_each(|a| direct(&a.ty, &mut next));
                    if let Some(d) = default {
                        direct(d, &mut next);
                    }
                }
                TypeDef::Typedef(t) => direct(t, &mut next),
                TypeDef::Enum { .. } => {}
            }
            for n in next {
                if let Some(&j) = index.get(n) {
                    if let Some(c) = visit(j, types, index, state) {
                        return Some(c);
                    }
                }
            }
            state[i] = 2;
            None
        }
        for i in 0..types.len() {
            if let Some(c) = visit(i, types, index, &mut state) {
                let t = &types[c];
                return Err(self.err(
                    t.span,
                    format!(
                        "`{}` contains itself (directly or through other types) without a                          pointer or a variable-length array",
                        t.name
                    ),
                ));
            }
        }
        Ok(())
    }

    fn base_ty(&self, ty: &TypeSpec, span: Span) -> Result<Ty, Error> {
        Ok(match ty {
            TypeSpec::Int => Ty::I32,
            TypeSpec::UInt => Ty::U32,
            TypeSpec::Hyper => Ty::I64,
            TypeSpec::UHyper => Ty::U64,
            TypeSpec::Short => Ty::Short,
            TypeSpec::UShort => Ty::UShort,
            TypeSpec::Char => Ty::Char,
            TypeSpec::UChar => Ty::UChar,
            TypeSpec::Bool => Ty::Bool,
            TypeSpec::Float => Ty::F32,
            TypeSpec::Double => Ty::F64,
            TypeSpec::AfsUuid => Ty::Uuid,
            TypeSpec::Void => Ty::Void,
            TypeSpec::String | TypeSpec::Opaque => unreachable!("handled by decl_ty"),
            TypeSpec::Named(n) => {
                if let Some(path) = self.externs.get(n) {
                    Ty::Extern(path.clone())
                } else if self.type_names.contains_key(n) {
                    Ty::Named(n.clone())
                } else if let Some(b) = builtin(n) {
                    b
                } else {
                    return Err(self.err(
                        span,
                        format!(
                            "unknown type `{n}` (define it in the interface, or map it to a Rust \
                             type with an extern type: --extern-type {n}=path::Type)"
                        ),
                    ));
                }
            }
        })
    }

    /// The wire type of a declaration; `param` means a top-level pointer is by-reference.
    fn decl_ty(&self, d: &Decl, param: bool) -> Result<Ty, Error> {
        let span = d.span;
        match (&d.ty, &d.rel) {
            (TypeSpec::String, Rel::Var(b)) => return Ok(Ty::String(self.bound(b, span)?)),
            (TypeSpec::Opaque, Rel::Var(b)) => return Ok(Ty::Opaque(self.bound(b, span)?)),
            (TypeSpec::Opaque, Rel::Fixed(n)) => {
                return Ok(Ty::OpaqueFixed(self.bound(&Some(n.clone()), span)?));
            }
            _ => {}
        }
        let base = self.base_ty(&d.ty, d.ty_span)?;
        Ok(match &d.rel {
            Rel::Alias => base,
            Rel::Pointer if param => base,
            Rel::Pointer => Ty::Optional(Box::new(base)),
            Rel::Fixed(n) => Ty::Fixed(Box::new(base), self.bound(&Some(n.clone()), span)?),
            Rel::Var(b) => Ty::Array(Box::new(base), self.bound(b, span)?),
        })
    }

    fn union(
        &mut self,
        name: &str,
        discr: &Decl,
        arms: &[Arm],
        default: &Option<Decl>,
        span: Span,
        rust_names: &HashMap<String, String>,
    ) -> Result<TypeItem, Error> {
        let dty = self.decl_ty(discr, false)?;
        let enum_name = match &dty {
            Ty::I32 | Ty::U32 | Ty::Bool => None,
            Ty::Named(n) if self.type_names.get(n).is_some_and(|(_, k)| *k == "enum") => {
                Some(n.clone())
            }
            _ => {
                return Err(self.err(
                    discr.span,
                    "a union discriminant must be int, unsigned, bool or an enum",
                ));
            }
        };
        let mut out = Vec::new();
        let mut seen_values = HashSet::new();
        let mut seen_variants = HashSet::new();
        for a in arms {
            let (value, member) = match (&a.label, &enum_name, &dty) {
                (Value::Name(n), Some(e), _) => match self.enumerators.get(n) {
                    Some((en, v)) if en == e => (*v, Some(n.clone())),
                    _ => {
                        return Err(
                            self.err(a.label_span, format!("`{n}` is not a member of enum `{e}`"))
                        );
                    }
                },
                (Value::Name(n), None, Ty::Bool) if n == "TRUE" || n == "FALSE" => {
                    (i64::from(n == "TRUE"), None)
                }
                (v, _, _) => (self.value(v, a.label_span, "a case label")?, None),
            };
            if dty == Ty::Bool && !(0..=1).contains(&value) {
                return Err(self.err(a.label_span, "a bool case label must be 0 or 1"));
            }
            if dty == Ty::U32 && u32::try_from(value).is_err()
                || dty == Ty::I32 && i32::try_from(value).is_err()
            {
                return Err(self.err(
                    a.label_span,
                    format!("case label {value} is out of range for the discriminant"),
                ));
            }
            if !seen_values.insert(value) {
                return Err(self.err(a.label_span, format!("duplicate case label {value}")));
            }
            let label = match &a.label {
                Value::Number(s) | Value::Name(s) => s.clone(),
            };
            let from_enum = enum_name.as_ref().and_then(|e| {
                self.enum_variants
                    .get(e)
                    .and_then(|ms| ms.iter().find(|(_, _, v)| *v == value))
                    .map(|(_, var, _)| var.clone())
            });
            let mut variant = match (&a.label, from_enum) {
                (_, Some(v)) => v,
                (Value::Name(n), None) => camel(n),
                (Value::Number(_), None) if value < 0 => format!("CaseMinus{}", -value),
                (Value::Number(_), None) => format!("Case{value}"),
            };
            if variant == "Default" {
                variant.push('_');
            }
            while !seen_variants.insert(variant.clone()) {
                variant.push('_');
            }
            let ty = self.decl_ty(&a.decl, false)?;
            out.push(UnionArm {
                label,
                value,
                enum_member: member,
                variant,
                ty,
                written: written(&a.decl),
            });
        }
        let default = match default {
            Some(d) => Some(self.decl_ty(d, false)?),
            None => None,
        };
        Ok(TypeItem {
            name: name.to_string(),
            rust: rust_names[name].clone(),
            def: TypeDef::Union {
                discr: dty,
                discr_name: discr.name.clone(),
                arms: out,
                default,
            },
            span,
        })
    }
}

fn written(d: &Decl) -> String {
    let ty = match &d.ty {
        TypeSpec::Int => "int".to_string(),
        TypeSpec::UInt => "unsigned".to_string(),
        TypeSpec::Hyper => "hyper".to_string(),
        TypeSpec::UHyper => "unsigned hyper".to_string(),
        TypeSpec::Short => "short".to_string(),
        TypeSpec::UShort => "unsigned short".to_string(),
        TypeSpec::Char => "char".to_string(),
        TypeSpec::UChar => "unsigned char".to_string(),
        TypeSpec::Bool => "bool".to_string(),
        TypeSpec::Float => "float".to_string(),
        TypeSpec::Double => "double".to_string(),
        TypeSpec::String => "string".to_string(),
        TypeSpec::Opaque => "opaque".to_string(),
        TypeSpec::Void => return "void".to_string(),
        TypeSpec::AfsUuid => "afsUUID".to_string(),
        TypeSpec::Named(n) => n.clone(),
    };
    let v = |v: &Value| match v {
        Value::Number(s) | Value::Name(s) => s.clone(),
    };
    match &d.rel {
        Rel::Alias => format!("{ty} {}", d.name),
        Rel::Pointer => format!("{ty} *{}", d.name),
        Rel::Fixed(n) => format!("{ty} {}[{}]", d.name, v(n)),
        Rel::Var(None) => format!("{ty} {}<>", d.name),
        Rel::Var(Some(n)) => format!("{ty} {}<{}>", d.name, v(n)),
    }
}
