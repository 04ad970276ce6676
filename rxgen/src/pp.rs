//! The preprocessor and the lexer.
//!
//! rxgen runs its input through the C preprocessor; this is the part of cpp that `.xg` files
//! use: `#include "file"` (searched beside the including file, then in the include
//! directories), object-like `#define` (substituted in the rest of the input), `#undef`,
//! `#if`/`#ifdef`/`#ifndef`/`#elif`/`#else`/`#endif` with integer expressions and `defined`,
//! `#error`, and line markers. Lines starting with `%` are C passed through by rxgen; they are
//! skipped, except that `%#define NAME <constant expression>` is remembered so the generated
//! Rust can offer the constant. `@{ ... @}` verbatim blocks are skipped. C comments (`/* */`
//! and `//`) are ignored.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::source::{Diagnostic, Error, SourceMap, Span};

/// A token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    /// An identifier or keyword.
    Ident(String),
    /// A number as written (`65`, `0x10`, `-1`).
    Number(String),
    /// A string constant, quotes included.
    Str(String),
    /// One of `; : , = * [ ] { } ( ) < >`, or any other single character.
    Punct(char),
}

impl Tok {
    /// How the token reads in a message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Number(s) => format!("number `{s}`"),
            Tok::Str(s) => format!("string {s}"),
            Tok::Punct(c) => format!("`{c}`"),
        }
    }
}

/// A token and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// Its position (for a token produced by a macro: where the macro was used).
    pub span: Span,
}

/// A macro: its body, and where it was defined (`None` for `-D` definitions).
#[derive(Debug, Clone)]
pub struct Macro {
    /// The body text.
    pub body: String,
    /// Function-like macros are recorded only to give a clear error if used.
    pub function_like: bool,
    /// Where it was defined, if in a file.
    pub span: Option<Span>,
}

/// Output of preprocessing.
#[derive(Debug, Clone)]
pub struct Preprocessed {
    /// The tokens.
    pub tokens: Vec<Token>,
    /// The files read.
    pub sources: SourceMap,
    /// Macros defined in the files (not `-D`), in order of definition, with their final body.
    pub defines: Vec<(String, Macro)>,
    /// `%#define NAME VALUE` lines, in order.
    pub c_defines: Vec<(String, String, Span)>,
    /// Every macro in force at the end (for evaluating constant expressions).
    pub macros: HashMap<String, Macro>,
    /// Warnings.
    pub warnings: Vec<Diagnostic>,
}

struct Cond {
    /// Whether this branch's lines are used.
    active: bool,
    /// Whether some branch of this `#if` was taken already.
    taken: bool,
    /// Whether `#else` was seen.
    seen_else: bool,
    span: Span,
}

struct Pp<'a> {
    sources: SourceMap,
    include_dirs: &'a [PathBuf],
    macros: HashMap<String, Macro>,
    defines: Vec<String>,
    c_defines: Vec<(String, String, Span)>,
    tokens: Vec<Token>,
    warnings: Vec<Diagnostic>,
    depth: usize,
    expansions: usize,
}

/// Most tokens a file (with its includes and macro expansions) may produce.
const MAX_TOKENS: usize = 1_000_000;
/// Most macro expansions in a file.
const MAX_EXPANSIONS: usize = 100_000;
/// Most steps an expression evaluation may take (macros can expand exponentially).
const MAX_EVAL_STEPS: usize = 100_000;

/// Preprocess and tokenize `text` (named `name`, read from `path` if any).
pub fn preprocess(
    name: &str,
    path: Option<&Path>,
    text: &str,
    include_dirs: &[PathBuf],
    predefined: &[(String, String)],
) -> Result<Preprocessed, Error> {
    let mut pp = Pp {
        sources: SourceMap::default(),
        include_dirs,
        macros: HashMap::new(),
        defines: Vec::new(),
        c_defines: Vec::new(),
        tokens: Vec::new(),
        warnings: Vec::new(),
        depth: 0,
        expansions: 0,
    };
    for (k, v) in predefined {
        pp.macros.insert(
            k.clone(),
            Macro {
                body: v.clone(),
                function_like: false,
                span: None,
            },
        );
    }
    let file = pp.sources.add(
        name.to_string(),
        path.map(Path::to_path_buf),
        text.to_string(),
    );
    pp.file(file)?;
    let mut seen = HashSet::new();
    let mut defines = Vec::new();
    for n in pp.defines.iter().rev() {
        if seen.insert(n.clone()) {
            if let Some(m) = pp.macros.get(n) {
                if m.span.is_some() {
                    defines.push((n.clone(), m.clone()));
                }
            }
        }
    }
    defines.reverse();
    Ok(Preprocessed {
        tokens: pp.tokens,
        sources: pp.sources,
        defines,
        c_defines: pp.c_defines,
        macros: pp.macros,
        warnings: pp.warnings,
    })
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl Pp<'_> {
    fn err(&self, span: Span, msg: impl Into<String>) -> Error {
        Error::Source(self.sources.diag(span, msg))
    }

    fn file(&mut self, file: usize) -> Result<(), Error> {
        self.depth += 1;
        if self.depth > 64 {
            return Err(self.err(
                Span {
                    file,
                    line: 1,
                    col: 1,
                },
                "#include nested more than 64 deep (recursive include?)",
            ));
        }
        let text = self.sources.file(file).text.clone();
        let lines: Vec<&str> = text.lines().collect();
        let mut conds: Vec<Cond> = Vec::new();
        let mut in_comment = false;
        let mut verbatim = false;
        let mut i = 0;
        while i < lines.len() {
            let lineno = i as u32 + 1;
            let mut line = lines[i].to_string();
            i += 1;
            let active = conds.iter().all(|c| c.active);
            let trimmed = line.trim_start();
            if !in_comment && !verbatim && trimmed.starts_with('#') {
                // Continuation lines.
                while line.ends_with('\\') && i < lines.len() {
                    line.pop();
                    line.push(' ');
                    line.push_str(lines[i]);
                    i += 1;
                }
                let col = (line.len() - line.trim_start().len()) as u32 + 1;
                let span = Span {
                    file,
                    line: lineno,
                    col,
                };
                let (body, opens_comment) = strip_comments(line.trim_start()[1..].trim());
                self.directive(body.trim(), span, &mut conds, active)?;
                in_comment = opens_comment;
                continue;
            }
            if !in_comment && !verbatim && trimmed.starts_with('%') {
                if active {
                    self.percent_line(trimmed, file, lineno);
                }
                continue;
            }
            self.lex_line(&line, file, lineno, active, &mut in_comment, &mut verbatim)?;
        }
        if let Some(c) = conds.last() {
            return Err(self.err(c.span, "unterminated conditional: #endif is missing"));
        }
        if in_comment {
            return Err(self.err(
                Span {
                    file,
                    line: lines.len().max(1) as u32,
                    col: 1,
                },
                "unterminated comment",
            ));
        }
        self.depth -= 1;
        Ok(())
    }

    fn percent_line(&mut self, trimmed: &str, file: usize, lineno: u32) {
        let rest = trimmed[1..].trim_start();
        let Some(rest) = rest.strip_prefix('#') else {
            return;
        };
        let rest = rest.trim_start();
        let Some(rest) = rest.strip_prefix("define") else {
            return;
        };
        if !rest.starts_with(char::is_whitespace) {
            return;
        }
        let (rest, _) = strip_comments(rest.trim());
        let rest = rest.trim();
        let name: String = rest.chars().take_while(|&c| is_ident_char(c)).collect();
        if name.is_empty() || !is_ident_start(name.chars().next().unwrap_or(' ')) {
            return;
        }
        let after = &rest[name.len()..];
        if after.starts_with('(') {
            return; // a function-like C macro
        }
        let value = after.trim().to_string();
        if value.is_empty() {
            return;
        }
        let col = (trimmed.find(&name).unwrap_or(0)) as u32 + 1;
        self.c_defines.push((
            name,
            value,
            Span {
                file,
                line: lineno,
                col,
            },
        ));
    }

    fn directive(
        &mut self,
        body: &str,
        span: Span,
        conds: &mut Vec<Cond>,
        active: bool,
    ) -> Result<(), Error> {
        let word: String = body.chars().take_while(|&c| is_ident_char(c)).collect();
        let rest = body[word.len()..].trim();
        match word.as_str() {
            "ifdef" | "ifndef" => {
                let name: String = rest.chars().take_while(|&c| is_ident_char(c)).collect();
                if active && name.is_empty() {
                    return Err(self.err(span, format!("#{word} needs a macro name")));
                }
                let defined = self.macros.contains_key(&name);
                let v = if word == "ifdef" { defined } else { !defined };
                conds.push(Cond {
                    active: v,
                    taken: v,
                    seen_else: false,
                    span,
                });
            }
            "if" => {
                let v = if active {
                    self.eval(rest, span)? != 0
                } else {
                    false
                };
                conds.push(Cond {
                    active: v,
                    taken: v,
                    seen_else: false,
                    span,
                });
            }
            "elif" => {
                let outer_active =
                    conds.len() < 2 || conds[..conds.len() - 1].iter().all(|c| c.active);
                let Some(c) = conds.last() else {
                    return Err(self.err(span, "#elif without #if"));
                };
                if c.seen_else {
                    return Err(self.err(span, "#elif after #else"));
                }
                let taken = c.taken;
                let v = !taken && outer_active && self.eval(rest, span)? != 0;
                let c = conds.last_mut().expect("checked above");
                c.active = v;
                c.taken = taken || v;
            }
            "else" => {
                let Some(c) = conds.last_mut() else {
                    return Err(self.err(span, "#else without #if"));
                };
                if c.seen_else {
                    return Err(self.err(span, "second #else"));
                }
                c.seen_else = true;
                c.active = !c.taken;
                c.taken = true;
            }
            "endif" => {
                if conds.pop().is_none() {
                    return Err(self.err(span, "#endif without #if"));
                }
            }
            _ if !active => {}
            "define" => self.define(rest, span)?,
            "undef" => {
                let name: String = rest.chars().take_while(|&c| is_ident_char(c)).collect();
                self.macros.remove(&name);
            }
            "include" => self.include(rest, span)?,
            "error" => return Err(self.err(span, format!("#error {rest}"))),
            "warning" => {
                let d = self.sources.diag(span, format!("#warning {rest}"));
                self.warnings.push(d);
            }
            "pragma" | "ident" | "line" | "" => {}
            w if w.chars().all(|c| c.is_ascii_digit()) => {} // line marker `# 12 "file"`
            w => return Err(self.err(span, format!("unknown preprocessor directive #{w}"))),
        }
        Ok(())
    }

    fn define(&mut self, rest: &str, span: Span) -> Result<(), Error> {
        let name: String = rest.chars().take_while(|&c| is_ident_char(c)).collect();
        if name.is_empty() || !is_ident_start(name.chars().next().unwrap_or(' ')) {
            return Err(self.err(span, "#define needs a macro name"));
        }
        let after = &rest[name.len()..];
        let function_like = after.starts_with('(');
        let body = if function_like {
            after.find(')').map(|p| after[p + 1..].trim()).unwrap_or("")
        } else {
            after.trim()
        };
        self.macros.insert(
            name.clone(),
            Macro {
                body: body.to_string(),
                function_like,
                span: Some(span),
            },
        );
        self.defines.push(name);
        Ok(())
    }

    fn include(&mut self, rest: &str, span: Span) -> Result<(), Error> {
        let (name, system) = if let Some(r) = rest.strip_prefix('"') {
            (r.split('"').next().unwrap_or(""), false)
        } else if let Some(r) = rest.strip_prefix('<') {
            (r.split('>').next().unwrap_or(""), true)
        } else {
            return Err(self.err(span, "#include expects \"FILE\" or <FILE>"));
        };
        if name.is_empty() {
            return Err(self.err(span, "#include of an empty file name"));
        }
        let mut candidates = Vec::new();
        if !system {
            if let Some(dir) = self
                .sources
                .file(span.file)
                .path
                .as_ref()
                .and_then(|p| p.parent())
            {
                candidates.push(dir.join(name));
            }
        }
        for d in self.include_dirs {
            candidates.push(d.join(name));
        }
        let Some(found) = candidates.into_iter().find(|p| p.is_file()) else {
            if system {
                // System headers (`<rx/rx.h>`) hold C for the C stubs: nothing for us.
                let d = self.sources.diag(
                    span,
                    format!("#include <{name}> not found in the include directories; skipped"),
                );
                self.warnings.push(d);
                return Ok(());
            }
            return Err(self.err(
                span,
                format!(
                    "cannot find included file \"{name}\" (searched beside the including file \
                     and in the include directories; add one with -I)"
                ),
            ));
        };
        let text = std::fs::read_to_string(&found)
            .map_err(|e| self.err(span, format!("cannot read {}: {e}", found.display())))?;
        let file = self
            .sources
            .add(found.display().to_string(), Some(found), text);
        self.file(file)
    }

    fn lex_line(
        &mut self,
        line: &str,
        file: usize,
        lineno: u32,
        active: bool,
        in_comment: &mut bool,
        verbatim: &mut bool,
    ) -> Result<(), Error> {
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let span = Span {
                file,
                line: lineno,
                col: i as u32 + 1,
            };
            if *in_comment {
                if c == '*' && chars.get(i + 1) == Some(&'/') {
                    *in_comment = false;
                    i += 2;
                } else {
                    i += 1;
                }
                continue;
            }
            if *verbatim {
                if c == '@' && chars.get(i + 1) == Some(&'}') {
                    *verbatim = false;
                    i += 2;
                } else {
                    i += 1;
                }
                continue;
            }
            if c == '/' && chars.get(i + 1) == Some(&'*') {
                *in_comment = true;
                i += 2;
                continue;
            }
            if c == '/' && chars.get(i + 1) == Some(&'/') {
                break;
            }
            if c == '@' && chars.get(i + 1) == Some(&'{') {
                *verbatim = true;
                i += 2;
                continue;
            }
            if c.is_whitespace() {
                i += 1;
                continue;
            }
            if !active {
                i += 1;
                continue;
            }
            if c == '"' {
                let start = i;
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    i += 1;
                }
                if i >= chars.len() {
                    return Err(self.err(span, "unterminated string constant"));
                }
                i += 1;
                let s: String = chars[start..i].iter().collect();
                self.tokens.push(Token {
                    tok: Tok::Str(s),
                    span,
                });
                continue;
            }
            if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
            {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric()) {
                    i += 1;
                }
                let s: String = chars[start..i].iter().collect();
                self.tokens.push(Token {
                    tok: Tok::Number(s),
                    span,
                });
                continue;
            }
            if is_ident_start(c) {
                let start = i;
                while i < chars.len() && is_ident_char(chars[i]) {
                    i += 1;
                }
                let s: String = chars[start..i].iter().collect();
                self.push_ident(s, span, &mut Vec::new())?;
                continue;
            }
            if "{}()[]<>;:,=*".contains(c) {
                self.tokens.push(Token {
                    tok: Tok::Punct(c),
                    span,
                });
                i += 1;
                continue;
            }
            return Err(self.err(span, format!("illegal character in file: {c:?}")));
        }
        Ok(())
    }

    /// Push an identifier, expanding object-like macros (not recursively into themselves).
    fn push_ident(
        &mut self,
        name: String,
        span: Span,
        expanding: &mut Vec<String>,
    ) -> Result<(), Error> {
        let Some(m) = self.macros.get(&name).cloned() else {
            self.tokens.push(Token {
                tok: Tok::Ident(name),
                span,
            });
            return Ok(());
        };
        if expanding.contains(&name) {
            self.tokens.push(Token {
                tok: Tok::Ident(name),
                span,
            });
            return Ok(());
        }
        if m.function_like {
            return Err(self.err(
                span,
                format!("function-like macro `{name}` is not supported by rxgen-rs"),
            ));
        }
        self.expansions += 1;
        if self.tokens.len() > MAX_TOKENS
            || self.expansions > MAX_EXPANSIONS
            || expanding.len() > 64
        {
            return Err(self.err(
                span,
                format!("macro `{name}` expands to too much (more than {MAX_TOKENS} tokens)"),
            ));
        }
        expanding.push(name);
        let toks = tokenize_simple(&m.body);
        for t in toks {
            match t {
                Tok::Ident(s) => self.push_ident(s, span, expanding)?,
                tok => self.tokens.push(Token { tok, span }),
            }
        }
        expanding.pop();
        Ok(())
    }

    fn eval(&self, expr: &str, span: Span) -> Result<i64, Error> {
        eval_expr(expr, &self.macros, &|_| None)
            .map_err(|m| self.err(span, format!("in #if expression: {m}")))
    }
}

/// Remove comments from one directive line; also says whether a block comment stays open.
fn strip_comments(s: &str) -> (String, bool) {
    let mut out = String::new();
    let b: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut in_str = false;
    while i < b.len() {
        if in_str {
            out.push(b[i]);
            if b[i] == '"' {
                in_str = false;
            }
            i += 1;
        } else if b[i] == '"' {
            in_str = true;
            out.push('"');
            i += 1;
        } else if b[i] == '/' && b.get(i + 1) == Some(&'*') {
            match s[s.char_indices().nth(i + 2).map_or(s.len(), |(p, _)| p)..].find("*/") {
                Some(_) => {
                    // Skip to the end of the comment.
                    let mut j = i + 2;
                    while j + 1 < b.len() && !(b[j] == '*' && b[j + 1] == '/') {
                        j += 1;
                    }
                    i = j + 2;
                    out.push(' ');
                }
                None => return (out, true),
            }
        } else if b[i] == '/' && b.get(i + 1) == Some(&'/') {
            break;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    (out, false)
}

/// Tokenize a macro body (no comments, no directives).
fn tokenize_simple(s: &str) -> Vec<Tok> {
    let (s, _) = strip_comments(s);
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit()
            || (c == '-' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let start = i;
            i += 1;
            while i < chars.len() && chars[i].is_ascii_alphanumeric() {
                i += 1;
            }
            out.push(Tok::Number(chars[start..i].iter().collect()));
        } else if is_ident_start(c) {
            let start = i;
            while i < chars.len() && is_ident_char(chars[i]) {
                i += 1;
            }
            out.push(Tok::Ident(chars[start..i].iter().collect()));
        } else {
            out.push(Tok::Punct(c));
            i += 1;
        }
    }
    out
}

/// Parse an integer literal as C writes it (`65`, `0x41`, `0101`, `-5`, with `u`/`l` suffixes).
pub fn parse_int(s: &str) -> Option<i64> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let s = s.trim_end_matches(['u', 'U', 'l', 'L']);
    let v = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()?
    } else if s.len() > 1 && s.starts_with('0') {
        i64::from_str_radix(&s[1..], 8).ok()?
    } else {
        s.parse::<i64>().ok()?
    };
    Some(if neg { -v } else { v })
}

/// Evaluate a C integer constant expression: numbers, macros (expanded), `defined`, other
/// identifiers through `lookup` (else 0, as cpp does), unary `! ~ - +`, binary arithmetic,
/// shifts, comparisons, bitwise and logical operators, `?:` and parentheses.
pub fn eval_expr(
    expr: &str,
    macros: &HashMap<String, Macro>,
    lookup: &dyn Fn(&str) -> Option<i64>,
) -> Result<i64, String> {
    let toks = expr_tokens(expr)?;
    let steps = std::cell::Cell::new(0);
    let mut p = ExprParser {
        toks,
        pos: 0,
        macros,
        lookup,
        depth: 0,
        strict: false,
        steps: &steps,
        nest: 0,
    };
    let v = p.ternary()?;
    if p.pos != p.toks.len() {
        return Err(format!("unexpected `{}`", p.toks[p.pos]));
    }
    Ok(v)
}

/// Like [`eval_expr`] but an unknown identifier is an error (for constant values).
pub fn eval_const_expr(
    expr: &str,
    macros: &HashMap<String, Macro>,
    lookup: &dyn Fn(&str) -> Option<i64>,
) -> Result<i64, String> {
    let toks = expr_tokens(expr)?;
    let steps = std::cell::Cell::new(0);
    let mut p = ExprParser {
        toks,
        pos: 0,
        macros,
        lookup,
        depth: 0,
        strict: true,
        steps: &steps,
        nest: 0,
    };
    let v = p.ternary()?;
    if p.pos != p.toks.len() {
        return Err(format!("unexpected `{}`", p.toks[p.pos]));
    }
    Ok(v)
}

fn expr_tokens(s: &str) -> Result<Vec<String>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_alphanumeric() {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
            continue;
        }
        if is_ident_start(c) {
            let start = i;
            while i < chars.len() && is_ident_char(chars[i]) {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
            continue;
        }
        let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
        if ["<<", ">>", "<=", ">=", "==", "!=", "&&", "||"].contains(&two.as_str()) {
            out.push(two);
            i += 2;
            continue;
        }
        if "+-*/%<>&|^!~()?:".contains(c) {
            out.push(c.to_string());
            i += 1;
            continue;
        }
        return Err(format!("unexpected character {c:?}"));
    }
    Ok(out)
}

struct ExprParser<'a> {
    toks: Vec<String>,
    pos: usize,
    macros: &'a HashMap<String, Macro>,
    lookup: &'a dyn Fn(&str) -> Option<i64>,
    depth: usize,
    strict: bool,
    /// Steps taken, shared with the parsers of macro bodies.
    steps: &'a std::cell::Cell<usize>,
    /// Parenthesis / unary nesting.
    nest: usize,
}

impl ExprParser<'_> {
    fn peek(&self) -> Option<&str> {
        self.toks.get(self.pos).map(String::as_str)
    }

    fn eat(&mut self, t: &str) -> bool {
        if self.peek() == Some(t) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn ternary(&mut self) -> Result<i64, String> {
        let c = self.binary(0)?;
        if self.eat("?") {
            let a = self.ternary()?;
            if !self.eat(":") {
                return Err("`?` without `:`".into());
            }
            let b = self.ternary()?;
            return Ok(if c != 0 { a } else { b });
        }
        Ok(c)
    }

    fn binary(&mut self, min_prec: u8) -> Result<i64, String> {
        let mut lhs = self.unary()?;
        while let Some(op) = self.peek().map(str::to_string) {
            let prec = match op.as_str() {
                "||" => 1,
                "&&" => 2,
                "|" => 3,
                "^" => 4,
                "&" => 5,
                "==" | "!=" => 6,
                "<" | ">" | "<=" | ">=" => 7,
                "<<" | ">>" => 8,
                "+" | "-" => 9,
                "*" | "/" | "%" => 10,
                _ => break,
            };
            if prec < min_prec {
                break;
            }
            self.pos += 1;
            let rhs = self.binary(prec + 1)?;
            lhs = match op.as_str() {
                "||" => i64::from(lhs != 0 || rhs != 0),
                "&&" => i64::from(lhs != 0 && rhs != 0),
                "|" => lhs | rhs,
                "^" => lhs ^ rhs,
                "&" => lhs & rhs,
                "==" => i64::from(lhs == rhs),
                "!=" => i64::from(lhs != rhs),
                "<" => i64::from(lhs < rhs),
                ">" => i64::from(lhs > rhs),
                "<=" => i64::from(lhs <= rhs),
                ">=" => i64::from(lhs >= rhs),
                "<<" => lhs.checked_shl(rhs as u32).ok_or("shift out of range")?,
                ">>" => lhs.checked_shr(rhs as u32).ok_or("shift out of range")?,
                "+" => lhs.checked_add(rhs).ok_or("overflow")?,
                "-" => lhs.checked_sub(rhs).ok_or("overflow")?,
                "*" => lhs.checked_mul(rhs).ok_or("overflow")?,
                "/" => lhs.checked_div(rhs).ok_or("division by zero")?,
                "%" => lhs.checked_rem(rhs).ok_or("division by zero")?,
                _ => unreachable!(),
            };
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<i64, String> {
        self.steps.set(self.steps.get() + 1);
        if self.steps.get() > MAX_EVAL_STEPS || self.nest > 200 {
            return Err("expression too complex".into());
        }
        self.nest += 1;
        let r = self.unary_inner();
        self.nest -= 1;
        r
    }

    fn unary_inner(&mut self) -> Result<i64, String> {
        let Some(t) = self.peek().map(str::to_string) else {
            return Err("expression ends early".into());
        };
        self.pos += 1;
        match t.as_str() {
            "!" => Ok(i64::from(self.unary()? == 0)),
            "~" => Ok(!self.unary()?),
            "-" => Ok(self.unary()?.wrapping_neg()),
            "+" => self.unary(),
            "(" => {
                let v = self.ternary()?;
                if !self.eat(")") {
                    return Err("missing `)`".into());
                }
                Ok(v)
            }
            "defined" => {
                let paren = self.eat("(");
                let name = self
                    .peek()
                    .map(str::to_string)
                    .ok_or("`defined` needs a name")?;
                self.pos += 1;
                if paren && !self.eat(")") {
                    return Err("missing `)` after defined(".into());
                }
                Ok(i64::from(self.macros.contains_key(&name)))
            }
            t if t.starts_with(|c: char| c.is_ascii_digit()) => {
                parse_int(t).ok_or_else(|| format!("bad number `{t}`"))
            }
            t if t.starts_with(is_ident_start) => {
                if let Some(m) = self.macros.get(t) {
                    if m.function_like {
                        return Err(format!("function-like macro `{t}`"));
                    }
                    if self.depth > 32 {
                        return Err(format!("macro `{t}` expands recursively"));
                    }
                    let mut sub = ExprParser {
                        toks: expr_tokens(&m.body)?,
                        pos: 0,
                        macros: self.macros,
                        lookup: self.lookup,
                        depth: self.depth + 1,
                        strict: self.strict,
                        steps: self.steps,
                        nest: self.nest,
                    };
                    let v = sub.ternary()?;
                    if sub.pos != sub.toks.len() {
                        return Err(format!("macro `{t}` is not a constant expression"));
                    }
                    return Ok(v);
                }
                match (self.lookup)(t) {
                    Some(v) => Ok(v),
                    None if self.strict => Err(format!("unknown name `{t}`")),
                    None => Ok(0),
                }
            }
            t => Err(format!("unexpected `{t}`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        preprocess("t.xg", None, src, &[], &[])
            .unwrap()
            .tokens
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }

    #[test]
    fn defines_conditionals_comments() {
        let t = toks(
            "#define OP 10 /* c */\n#if defined(OP) && OP > 5\nx = OP;\n#else\ny;\n#endif\n\
             /* multi\nline */ z // tail\n%#define C 1\n@{ verbatim @} w",
        );
        assert_eq!(
            t,
            vec![
                Tok::Ident("x".into()),
                Tok::Punct('='),
                Tok::Number("10".into()),
                Tok::Punct(';'),
                Tok::Ident("z".into()),
                Tok::Ident("w".into()),
            ]
        );
    }

    #[test]
    fn spans_and_errors() {
        let p = preprocess("t.xg", None, "a\n  $", &[], &[]);
        let e = p.unwrap_err();
        let d = e.diagnostic().unwrap();
        assert_eq!((d.line, d.col), (2, 3));
        let e = preprocess("t.xg", None, "#if 1\n", &[], &[]).unwrap_err();
        assert!(e.to_string().contains("t.xg:1:1: unterminated conditional"));
        let e = preprocess("t.xg", None, "#include \"nope.h\"\n", &[], &[]).unwrap_err();
        assert!(e.to_string().contains("cannot find included file"));
    }

    #[test]
    fn expressions() {
        let m = HashMap::new();
        assert_eq!(eval_expr("(1<<31) | 2", &m, &|_| None).unwrap(), 2147483650);
        assert_eq!(eval_expr("5*60", &m, &|_| None).unwrap(), 300);
        assert_eq!(eval_expr("X ? 1 : 2", &m, &|_| None).unwrap(), 2);
        assert!(eval_const_expr("X", &m, &|_| None).is_err());
        assert_eq!(parse_int("0x10"), Some(16));
        assert_eq!(parse_int("010"), Some(8));
        assert_eq!(parse_int("-5"), Some(-5));
    }
}
