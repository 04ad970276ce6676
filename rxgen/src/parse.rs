//! The parser: rxgen's RPC language (Sun RPCL plus rxgen's `package`, `prefix`, `statindex`,
//! `startingopcode`, `splitprefix`, `customized`, `special` and procedure declarations).
//!
//! Opcode numbering and parameter directions follow rxgen exactly: opcodes are explicit
//! (`= N`) or numbered from 0 (or `startingopcode`) across packages, and a package cannot mix
//! the two; a parameter without a direction takes the previous parameter's, *including the
//! last parameter of the previous procedure* (rxgen keeps it in a static variable; OpenAFS's
//! `RXAFS_GetCapabilities(Capabilities *capabilities)` relies on it being `OUT`).

use std::collections::HashMap;

use crate::ast::*;
use crate::pp::{Tok, Token, parse_int};
use crate::source::{Diagnostic, Error, SourceMap, Span};

/// Parse tokens into a [`Spec`].
pub(crate) fn parse(
    tokens: &[Token],
    sources: &SourceMap,
    macros_const: &HashMap<String, i64>,
) -> Result<(Spec, Vec<Diagnostic>), Error> {
    let mut p = Parser {
        toks: tokens,
        pos: 0,
        sources,
        spec: Spec::default(),
        consts: macros_const.clone(),
        last_dir: None,
        next_opcode: None,
        auto_in_package: false,
        warnings: Vec::new(),
        // "End of input" points just past the last token.
        eof_span: tokens
            .last()
            .map(|t| {
                let len = match &t.tok {
                    Tok::Ident(s) | Tok::Number(s) | Tok::Str(s) => s.chars().count(),
                    Tok::Punct(_) => 1,
                };
                Span {
                    col: t.span.col + len as u32,
                    ..t.span
                }
            })
            .unwrap_or(Span {
                file: 0,
                line: 1,
                col: 1,
            }),
    };
    p.spec_all()?;
    Ok((p.spec, p.warnings))
}

struct Parser<'a> {
    toks: &'a [Token],
    pos: usize,
    sources: &'a SourceMap,
    spec: Spec,
    /// Numeric constants known so far (for opcodes and `statindex`).
    consts: HashMap<String, i64>,
    last_dir: Option<Dir>,
    /// rxgen's `master_opcodenumber` (None = 99999, not started).
    next_opcode: Option<u32>,
    /// The current package numbers its procedures automatically.
    auto_in_package: bool,
    warnings: Vec<Diagnostic>,
    eof_span: Span,
}

const KEYWORDS: &[&str] = &[
    "const",
    "union",
    "switch",
    "case",
    "default",
    "struct",
    "typedef",
    "enum",
    "opaque",
    "bool",
    "void",
    "char",
    "int",
    "unsigned",
    "short",
    "afs_int32",
    "float",
    "double",
    "string",
    "program",
    "version",
    "package",
    "prefix",
    "statindex",
    "special",
    "startingopcode",
    "customized",
    "proc",
    "splitprefix",
    "split",
    "multi",
    "IN",
    "OUT",
    "INOUT",
    "afsUUID",
];

fn is_keyword(s: &str) -> bool {
    KEYWORDS.contains(&s)
}

impl Parser<'_> {
    fn err(&self, span: Span, msg: impl Into<String>) -> Error {
        Error::Source(self.sources.diag(span, msg))
    }

    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }

    fn peek_span(&self) -> Span {
        self.peek().map(|t| t.span).unwrap_or(self.eof_span)
    }

    fn next(&mut self) -> Option<&Token> {
        let t = self.toks.get(self.pos);
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    fn found(&self) -> String {
        match self.peek() {
            Some(t) => t.tok.describe(),
            None => "end of input".to_string(),
        }
    }

    fn is_punct(&self, c: char) -> bool {
        matches!(self.peek(), Some(Token { tok: Tok::Punct(p), .. }) if *p == c)
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Token { tok: Tok::Ident(s), .. }) if s == w)
    }

    fn eat_punct(&mut self, c: char) -> bool {
        if self.is_punct(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_word(&mut self, w: &str) -> bool {
        if self.is_word(w) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_punct(&mut self, c: char, what: &str) -> Result<Span, Error> {
        let span = self.peek_span();
        if self.eat_punct(c) {
            Ok(span)
        } else {
            Err(self.err(
                span,
                format!("expected `{c}` {what}, found {}", self.found()),
            ))
        }
    }

    /// An identifier that is not a keyword.
    fn ident(&mut self, what: &str) -> Result<(String, Span), Error> {
        let span = self.peek_span();
        match self.peek() {
            Some(Token {
                tok: Tok::Ident(s), ..
            }) if !is_keyword(s) => {
                let s = s.clone();
                self.pos += 1;
                Ok((s, span))
            }
            Some(Token {
                tok: Tok::Ident(s), ..
            }) => Err(self.err(
                span,
                format!("expected {what}, found `{s}`, a keyword of the RPC language"),
            )),
            _ => Err(self.err(span, format!("expected {what}, found {}", self.found()))),
        }
    }

    /// A number or a constant name (rxgen's `scan_num`).
    fn value(&mut self, what: &str) -> Result<(Value, Span), Error> {
        let span = self.peek_span();
        match self.peek() {
            Some(Token {
                tok: Tok::Number(n),
                ..
            }) => {
                let n = n.clone();
                if parse_int(&n).is_none() {
                    return Err(self.err(span, format!("malformed number `{n}`")));
                }
                self.pos += 1;
                Ok((Value::Number(n), span))
            }
            Some(Token {
                tok: Tok::Ident(s), ..
            }) if !is_keyword(s) => {
                let s = s.clone();
                self.pos += 1;
                Ok((Value::Name(s), span))
            }
            _ => Err(self.err(
                span,
                format!(
                    "expected {what} (a number or a constant), found {}",
                    self.found()
                ),
            )),
        }
    }

    /// A non-negative integer given as a number or a known constant.
    fn number_value(&mut self, what: &str) -> Result<(u32, Span), Error> {
        let (v, span) = self.value(what)?;
        let n = match &v {
            Value::Number(s) => parse_int(s),
            Value::Name(n) => self.consts.get(n).copied(),
        };
        match n {
            Some(n) if (0..=i64::from(u32::MAX)).contains(&n) => Ok((n as u32, span)),
            Some(n) => Err(self.err(span, format!("{what} {n} is out of range"))),
            None => Err(self.err(
                span,
                format!(
                    "{what} must be a number or a numeric constant defined earlier, found `{}`",
                    match v {
                        Value::Number(s) | Value::Name(s) => s,
                    }
                ),
            )),
        }
    }

    fn spec_all(&mut self) -> Result<(), Error> {
        while self.peek().is_some() {
            self.definition()?;
        }
        Ok(())
    }

    fn definition(&mut self) -> Result<(), Error> {
        let span = self.peek_span();
        let Some(Token { tok, .. }) = self.peek().cloned() else {
            return Ok(());
        };
        let word = match &tok {
            Tok::Ident(s) => s.clone(),
            Tok::Punct('(') => {
                self.procedure(None, span)?;
                return Ok(());
            }
            _ => {
                return Err(self.err(
                    span,
                    format!("expected a definition keyword, found {}", tok.describe()),
                ));
            }
        };
        match word.as_str() {
            "struct" => {
                self.pos += 1;
                self.def_struct(false, span)?;
                self.expect_punct(';', "after the struct definition")?;
            }
            "customized" => {
                self.pos += 1;
                if !self.eat_word("struct") {
                    let s = self.peek_span();
                    return Err(self.err(
                        s,
                        format!(
                            "expected `struct` after `customized`, found {}",
                            self.found()
                        ),
                    ));
                }
                self.def_struct(true, span)?;
                self.expect_punct(';', "after the struct definition")?;
            }
            "union" => {
                self.pos += 1;
                self.def_union(span)?;
                self.expect_punct(';', "after the union definition")?;
            }
            "enum" => {
                self.pos += 1;
                self.def_enum(span)?;
                self.expect_punct(';', "after the enum definition")?;
            }
            "typedef" => {
                self.pos += 1;
                let d = self.declaration(Context::Typedef)?;
                self.spec.defs.push(Def::Typedef(d));
                self.expect_punct(';', "after the typedef")?;
            }
            "const" => {
                self.pos += 1;
                self.def_const(span)?;
                self.expect_punct(';', "after the constant")?;
            }
            "package" => {
                self.pos += 1;
                let (prefix, _) = self.ident("a package prefix")?;
                self.spec.packages.push(Package {
                    prefix,
                    statindex: None,
                    procs: Vec::new(),
                    span,
                });
                self.auto_in_package = false;
            }
            "prefix" => {
                self.pos += 1;
                let (p, _) = self.ident("a server prefix")?;
                self.spec.server_prefix = Some(p);
            }
            "statindex" => {
                self.pos += 1;
                let (n, nspan) = self.number_value("statindex")?;
                let Some(pkg) = self.spec.packages.last_mut() else {
                    return Err(self.err(span, "'statindex' must follow a 'package' statement"));
                };
                if pkg.statindex.is_some() {
                    return Err(self.err(nspan, "only one 'statindex' per package"));
                }
                pkg.statindex = Some(n);
            }
            "startingopcode" => {
                self.pos += 1;
                let (n, nspan) = self.number_value("startingopcode")?;
                if n > 99999 {
                    return Err(self.err(nspan, "startingopcode must be below 100000"));
                }
                self.next_opcode = Some(n);
                self.auto_in_package = true;
            }
            "splitprefix" => {
                self.pos += 1;
                self.def_splitprefix(span)?;
            }
            "special" => {
                self.pos += 1;
                // `special struct T name, name;` — a C-only memory hint; skip it.
                while !self.is_punct(';') {
                    if self.next().is_none() {
                        return Err(self.err(span, "unterminated 'special' statement"));
                    }
                }
                self.pos += 1;
                let d = self
                    .sources
                    .diag(span, "'special' only affects C memory handling; ignored");
                self.warnings.push(d);
            }
            "program" | "version" => {
                return Err(self.err(
                    span,
                    "Sun RPC 'program' definitions are not rxgen procedures; declare procedures \
                     in a 'package'",
                ));
            }
            "proc" => {
                self.pos += 1;
                if self.is_punct('(') {
                    self.procedure(None, span)?;
                } else {
                    let (name, nspan) = self.ident("a procedure name")?;
                    self.procedure(Some((name, nspan)), span)?;
                }
            }
            w if !is_keyword(w) => {
                self.pos += 1;
                self.procedure(Some((word.clone(), span)), span)?;
            }
            _ => {
                return Err(self.err(
                    span,
                    format!("expected a definition keyword, found {}", tok.describe()),
                ));
            }
        }
        Ok(())
    }

    fn def_struct(&mut self, customized: bool, span: Span) -> Result<(), Error> {
        let (name, _) = self.ident("a struct name")?;
        self.expect_punct('{', "to open the struct")?;
        let mut fields = Vec::new();
        loop {
            let d = self.declaration(Context::Struct)?;
            fields.push(d);
            self.expect_punct(';', "after the struct member")?;
            if self.eat_punct('}') {
                break;
            }
        }
        self.spec.defs.push(Def::Struct {
            name,
            fields,
            customized,
            span,
        });
        Ok(())
    }

    fn def_union(&mut self, span: Span) -> Result<(), Error> {
        let (name, _) = self.ident("a union name")?;
        if !self.eat_word("switch") {
            let s = self.peek_span();
            return Err(self.err(s, format!("expected `switch`, found {}", self.found())));
        }
        self.expect_punct('(', "after `switch`")?;
        let discr = self.declaration(Context::Union)?;
        self.expect_punct(')', "after the discriminant")?;
        self.expect_punct('{', "to open the union")?;
        let mut arms = Vec::new();
        let mut default = None;
        let s = self.peek_span();
        if !self.is_word("case") {
            return Err(self.err(s, format!("expected `case`, found {}", self.found())));
        }
        loop {
            if self.eat_word("case") {
                let (label, label_span) = self.value("a case label")?;
                self.expect_punct(':', "after the case label")?;
                let decl = self.declaration(Context::Union)?;
                self.expect_punct(';', "after the union arm")?;
                arms.push(Arm {
                    label,
                    label_span,
                    decl,
                });
            } else if self.eat_word("default") {
                self.expect_punct(':', "after `default`")?;
                default = Some(self.declaration(Context::Union)?);
                self.expect_punct(';', "after the default arm")?;
                self.expect_punct('}', "after the default arm (it must be last)")?;
                break;
            } else if self.eat_punct('}') {
                break;
            } else {
                let s = self.peek_span();
                return Err(self.err(
                    s,
                    format!("expected `case`, `default` or `}}`, found {}", self.found()),
                ));
            }
        }
        self.spec.defs.push(Def::Union {
            name,
            discr,
            arms,
            default,
            span,
        });
        Ok(())
    }

    fn def_enum(&mut self, span: Span) -> Result<(), Error> {
        let (name, _) = self.ident("an enum name")?;
        self.expect_punct('{', "to open the enum")?;
        let mut members = Vec::new();
        let mut next: Option<i64> = Some(0);
        loop {
            let (m, mspan) = self.ident("an enum member")?;
            let mut v = None;
            if self.eat_punct('=') {
                let (val, _) = self.value("an enum value")?;
                v = Some(val);
            }
            // Track values so later opcodes may name enumerators.
            let num = match &v {
                Some(Value::Number(s)) => parse_int(s),
                Some(Value::Name(n)) => self.consts.get(n).copied(),
                None => next,
            };
            if let Some(n) = num {
                self.consts.insert(m.clone(), n);
            }
            next = num.map(|n| n + 1);
            members.push((m, v, mspan));
            if self.eat_punct(',') {
                continue;
            }
            self.expect_punct('}', "or `,` after the enum member")?;
            break;
        }
        self.spec.defs.push(Def::Enum {
            name,
            members,
            span,
        });
        Ok(())
    }

    fn def_const(&mut self, span: Span) -> Result<(), Error> {
        let (name, _) = self.ident("a constant name")?;
        self.expect_punct('=', "after the constant name")?;
        let vspan = self.peek_span();
        let value = match self.peek() {
            Some(Token {
                tok: Tok::Str(s), ..
            }) => {
                let s = s.clone();
                self.pos += 1;
                ConstValue::Str(s)
            }
            _ => {
                let (v, _) = self.value("a constant value")?;
                let num = match &v {
                    Value::Number(s) => parse_int(s),
                    Value::Name(n) => self.consts.get(n).copied(),
                };
                if let Some(n) = num {
                    self.consts.insert(name.clone(), n);
                }
                ConstValue::Value(v)
            }
        };
        let _ = vspan;
        self.spec.defs.push(Def::Const { name, value, span });
        Ok(())
    }

    fn def_splitprefix(&mut self, span: Span) -> Result<(), Error> {
        let mut any = false;
        loop {
            if self.eat_punct(';') {
                break;
            }
            let s = self.peek_span();
            let which = if self.eat_word("IN") {
                0
            } else if self.eat_word("OUT") {
                1
            } else {
                return Err(self.err(
                    s,
                    format!(
                        "syntax error in 'splitprefix': expected IN=, OUT= or `;`, found {}",
                        self.found()
                    ),
                ));
            };
            self.expect_punct('=', "in 'splitprefix'")?;
            let (name, _) = self.ident("a split prefix")?;
            if which == 0 {
                self.spec.split_prefix.0 = Some(name);
            } else {
                self.spec.split_prefix.1 = Some(name);
            }
            any = true;
        }
        if !any {
            return Err(self.err(span, "'splitprefix' needs IN=prefix and/or OUT=prefix"));
        }
        Ok(())
    }

    fn type_spec(&mut self, ctx: Context) -> Result<(TypeSpec, Span), Error> {
        let span = self.peek_span();
        let Some(Token {
            tok: Tok::Ident(w), ..
        }) = self.peek().cloned()
        else {
            return Err(self.err(span, format!("expected a type, found {}", self.found())));
        };
        self.pos += 1;
        let ty = match w.as_str() {
            "struct" | "enum" | "union" => {
                let (n, _) = self.ident(&format!("a {w} name"))?;
                TypeSpec::Named(n)
            }
            "unsigned" => {
                if self.eat_word("char") {
                    TypeSpec::UChar
                } else if self.eat_word("short") {
                    self.eat_word("int");
                    TypeSpec::UShort
                } else if self.eat_word("afs_int32") {
                    self.eat_word("int");
                    TypeSpec::UInt
                } else if self.eat_word("int") || self.eat_word("long") {
                    TypeSpec::UInt
                } else if self.eat_word("hyper") {
                    TypeSpec::UHyper
                } else {
                    TypeSpec::UInt
                }
            }
            "short" => {
                self.eat_word("int");
                TypeSpec::Short
            }
            "afs_int32" => {
                self.eat_word("int");
                TypeSpec::Int
            }
            "void" => {
                if ctx != Context::Union {
                    return Err(self.err(span, "void is allowed only in union arms"));
                }
                TypeSpec::Void
            }
            "string" => TypeSpec::String,
            "opaque" => TypeSpec::Opaque,
            "char" => TypeSpec::Char,
            "int" => TypeSpec::Int,
            "float" => TypeSpec::Float,
            "double" => TypeSpec::Double,
            "bool" => TypeSpec::Bool,
            "afsUUID" => TypeSpec::AfsUuid,
            w if !is_keyword(w) => TypeSpec::Named(w.to_string()),
            _ => {
                return Err(self.err(span, format!("expected a type, found `{w}`")));
            }
        };
        Ok((ty, span))
    }

    fn declaration(&mut self, ctx: Context) -> Result<Decl, Error> {
        let (ty, ty_span) = self.type_spec(ctx)?;
        if ty == TypeSpec::Void {
            return Ok(Decl {
                ty,
                ty_span,
                name: String::new(),
                rel: Rel::Alias,
                span: ty_span,
            });
        }
        let mut rel = Rel::Alias;
        if self.eat_punct('*') {
            rel = Rel::Pointer;
        }
        let (name, span) = self.ident("a name")?;
        if self.is_punct('[') {
            let s = self.peek_span();
            self.pos += 1;
            if rel == Rel::Pointer {
                return Err(self.err(s, "no array-of-pointer declarations -- use typedef"));
            }
            let (v, _) = self.value("an array size")?;
            self.expect_punct(']', "after the array size")?;
            rel = Rel::Fixed(v);
        } else if self.is_punct('<') {
            let s = self.peek_span();
            self.pos += 1;
            if rel == Rel::Pointer {
                return Err(self.err(s, "no array-of-pointer declarations -- use typedef"));
            }
            if self.eat_punct('>') {
                rel = Rel::Var(None);
            } else {
                let (v, _) = self.value("a maximum size")?;
                self.expect_punct('>', "after the maximum size")?;
                rel = Rel::Var(Some(v));
            }
        }
        match ty {
            TypeSpec::Opaque if !matches!(rel, Rel::Fixed(_) | Rel::Var(_)) => {
                return Err(self.err(
                    span,
                    "opaque needs an array declaration: `opaque x[N]` or `opaque x<N>`",
                ));
            }
            TypeSpec::String if !matches!(rel, Rel::Var(_)) => {
                return Err(self.err(
                    span,
                    "string needs a variable-length declaration: `string s<N>` or `string s<>`",
                ));
            }
            _ => {}
        }
        Ok(Decl {
            ty,
            ty_span,
            name,
            rel,
            span,
        })
    }

    fn procedure(&mut self, name: Option<(String, Span)>, span: Span) -> Result<(), Error> {
        let Some(pkg_prefix) = self.spec.packages.last().map(|p| p.prefix.clone()) else {
            let what = match &name {
                Some((n, _)) => format!("`{n}`"),
                None => "a procedure".into(),
            };
            return Err(self.err(
                span,
                format!(
                    "{what} looks like a procedure, but procedures must follow a 'package' \
                     statement (or this is not a valid definition)"
                ),
            ));
        };
        let name = match name {
            Some((n, _)) => n,
            None => pkg_prefix.trim_end_matches('_').to_string(),
        };
        let mut server_stub = None;
        if !self.is_punct('(') {
            let s = self.peek_span();
            match self.peek() {
                Some(Token {
                    tok: Tok::Ident(w), ..
                }) if !is_keyword(w) => {
                    server_stub = Some(w.clone());
                    self.pos += 1;
                }
                _ => {
                    return Err(self.err(
                        s,
                        format!(
                            "expected `(` after procedure `{name}`, found {}",
                            self.found()
                        ),
                    ));
                }
            }
        }
        self.expect_punct('(', &format!("to open the parameters of `{name}`"))?;
        let mut params = Vec::new();
        let mut first = true;
        if !self.eat_punct(')') {
            loop {
                let dspan = self.peek_span();
                let (dir, inherited) = if self.eat_word("IN") {
                    (Dir::In, false)
                } else if self.eat_word("OUT") {
                    (Dir::Out, false)
                } else if self.eat_word("INOUT") {
                    (Dir::InOut, false)
                } else {
                    match self.last_dir {
                        Some(d) => (d, first),
                        None => {
                            return Err(self.err(
                                dspan,
                                "the first parameter must be preceded by IN, OUT or INOUT",
                            ));
                        }
                    }
                };
                if inherited {
                    let d = self.sources.diag(
                        dspan,
                        format!(
                            "parameter has no direction; as rxgen does, it takes the direction \
                             of the previous procedure's last parameter ({dir:?})"
                        ),
                    );
                    self.warnings.push(d);
                }
                self.last_dir = Some(dir);
                let decl = self.declaration(Context::Param)?;
                params.push(Param {
                    dir,
                    dir_inherited_from_previous_proc: inherited,
                    decl,
                });
                first = false;
                if self.eat_punct(',') {
                    continue;
                }
                self.expect_punct(')', "or `,` after the parameter")?;
                break;
            }
        }
        let mut split = false;
        let mut multi = false;
        if self.eat_word("multi") {
            multi = true;
        } else if self.eat_word("split") {
            split = true;
        }
        let ospan = self.peek_span();
        let (opcode, explicit) = if self.eat_punct('=') {
            if self.auto_in_package {
                return Err(self.err(
                    ospan,
                    "opcode assignment isn't allowed here: this package numbers its procedures \
                     automatically (startingopcode, or an earlier procedure without opcode)",
                ));
            }
            let (n, nspan) = self.number_value("opcode")?;
            let pkg = self.spec.packages.last().expect("checked above");
            if let Some(other) = pkg.procs.iter().find(|p| p.opcode == n) {
                return Err(self.err(
                    nspan,
                    format!("opcode {n} is already used by `{}`", other.name),
                ));
            }
            (n, true)
        } else {
            let pkg = self.spec.packages.last().expect("checked above");
            if pkg.procs.iter().any(|p| p.explicit_opcode) {
                return Err(self.err(
                    ospan,
                    format!(
                        "procedure `{name}` has no opcode, but earlier procedures of package {} \
                         have explicit ones (rxgen cannot mix the two)",
                        pkg.prefix
                    ),
                ));
            }
            let n = self.next_opcode.unwrap_or(0);
            self.next_opcode = Some(n + 1);
            self.auto_in_package = true;
            (n, false)
        };
        self.expect_punct(';', &format!("at the end of procedure `{name}`"))?;
        let pkg = self.spec.packages.last().expect("checked above");
        if pkg.procs.iter().any(|p| p.name == name) {
            return Err(self.err(
                span,
                format!(
                    "procedure `{name}` is defined twice in package {}",
                    pkg.prefix
                ),
            ));
        }
        let pkg = self.spec.packages.last_mut().expect("checked above");
        pkg.procs.push(Proc {
            name,
            server_stub,
            params,
            split,
            multi,
            opcode,
            explicit_opcode: explicit,
            span,
        });
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    Struct,
    Union,
    Typedef,
    Param,
}
