//! Source files, positions and diagnostics.

use std::fmt;
use std::path::PathBuf;

/// A position in a source file: file index, 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord, Hash)]
pub struct Span {
    /// Index of the file among the files read (the main file is 0).
    pub file: usize,
    /// 1-based line.
    pub line: u32,
    /// 1-based column (in characters).
    pub col: u32,
}

/// The files read (the main `.xg` file and everything it `#include`s).
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

/// One file's name and text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The name used in messages.
    pub name: String,
    /// The path it was read from, if it came from disk.
    pub path: Option<PathBuf>,
    /// The text.
    pub text: String,
}

impl SourceMap {
    /// Add a file; returns its index.
    pub fn add(&mut self, name: String, path: Option<PathBuf>, text: String) -> usize {
        self.files.push(SourceFile { name, path, text });
        self.files.len() - 1
    }

    /// The file at `i`.
    pub fn file(&self, i: usize) -> &SourceFile {
        &self.files[i]
    }

    /// Every file read, in order.
    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }

    /// A diagnostic at `span`.
    pub fn diag(&self, span: Span, message: impl Into<String>) -> Diagnostic {
        let (file, line_text) = match self.files.get(span.file) {
            Some(f) => (
                f.name.clone(),
                f.text
                    .lines()
                    .nth(span.line.saturating_sub(1) as usize)
                    .map(str::to_string),
            ),
            None => ("<unknown>".to_string(), None),
        };
        Diagnostic {
            file,
            line: span.line,
            col: span.col,
            message: message.into(),
            line_text,
        }
    }
}

/// An error or warning that points at a line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// File name.
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub col: u32,
    /// What is wrong.
    pub message: String,
    /// The source line, for the excerpt.
    pub line_text: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )?;
        if let Some(t) = &self.line_text {
            let t = t.replace('\t', " ");
            let caret = " ".repeat(self.col.saturating_sub(1) as usize);
            write!(f, "\n  | {t}\n  | {caret}^")?;
        }
        Ok(())
    }
}

/// A compile failure: the first error found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// An error in the interface definition, with its position.
    Source(Diagnostic),
    /// A file could not be read or written.
    Io(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Source(d) => write!(f, "error: {d}"),
            Error::Io(m) => write!(f, "error: {m}"),
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    /// The diagnostic, for an error in the source.
    pub fn diagnostic(&self) -> Option<&Diagnostic> {
        match self {
            Error::Source(d) => Some(d),
            Error::Io(_) => None,
        }
    }
}
