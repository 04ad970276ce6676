//! Typed encode and decode errors.
//!
//! Every check the decoder makes has its own [`DecodeErrorKind`], so a caller (and a fuzz
//! target) can tell an attacker-controlled length that exceeds its declared bound from one that
//! exceeds the input, from a bad discriminant. Errors carry the byte offset where the failing
//! item started and, as they travel up through generated code, the path of fields being
//! decoded (`nvldbentry.name`).

use std::fmt;

/// What went wrong while decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input ended inside an item.
    UnexpectedEnd {
        /// Bytes the item needed.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// A variable-length item (string, opaque, array) announced more than its declared bound
    /// (`string name<65>` with a length of 70).
    LengthOverBound {
        /// The length (or element count) on the wire.
        len: u32,
        /// The bound declared in the interface.
        max: u32,
    },
    /// An array announced more elements than the remaining input could possibly hold (each
    /// element takes at least `min_elem_size` bytes); rejected before allocating anything.
    LengthOverInput {
        /// The element count on the wire.
        len: u32,
        /// Minimum encoded size of one element.
        min_elem_size: usize,
        /// Bytes left in the input.
        remaining: usize,
    },
    /// Padding after a string or opaque was not zero (only with [`Limits::strict_padding`]).
    ///
    /// [`Limits::strict_padding`]: crate::Limits::strict_padding
    NonZeroPadding,
    /// A `bool` was neither 0 nor 1.
    InvalidBool(u32),
    /// A widened `char`, `short` or their unsigned forms held a value outside the range of
    /// either signedness of the narrow type.
    NarrowOutOfRange {
        /// The C type (`char`, `u_short`, ...).
        ty: &'static str,
        /// The 32-bit value on the wire.
        value: i32,
    },
    /// A value that is not one of the enumeration's members.
    InvalidEnum {
        /// The enum's name in the interface.
        name: &'static str,
        /// The value on the wire.
        value: i32,
    },
    /// A union discriminant with no arm (and the union has no `default` arm).
    InvalidDiscriminant {
        /// The union's name in the interface.
        name: &'static str,
        /// The discriminant on the wire.
        value: i64,
    },
    /// Optional data nested deeper than [`Limits::max_depth`] (a linked list too long, or a
    /// hostile recursion).
    ///
    /// [`Limits::max_depth`]: crate::Limits::max_depth
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// Bytes left over after the last item of a message.
    TrailingBytes {
        /// How many.
        count: usize,
    },
}

impl fmt::Display for DecodeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeErrorKind::UnexpectedEnd { needed, available } => {
                write!(
                    f,
                    "input ends early: needed {needed} bytes, {available} left"
                )
            }
            DecodeErrorKind::LengthOverBound { len, max } => {
                write!(f, "length {len} exceeds the declared bound {max}")
            }
            DecodeErrorKind::LengthOverInput {
                len,
                min_elem_size,
                remaining,
            } => write!(
                f,
                "count {len} of elements of at least {min_elem_size} bytes cannot fit in the \
                 {remaining} bytes left"
            ),
            DecodeErrorKind::NonZeroPadding => write!(f, "non-zero padding"),
            DecodeErrorKind::InvalidBool(v) => write!(f, "bool value {v} is neither 0 nor 1"),
            DecodeErrorKind::NarrowOutOfRange { ty, value } => {
                write!(f, "value {value} is out of range for {ty}")
            }
            DecodeErrorKind::InvalidEnum { name, value } => {
                write!(f, "{value} is not a member of enum {name}")
            }
            DecodeErrorKind::InvalidDiscriminant { name, value } => {
                write!(f, "union {name} has no arm for discriminant {value}")
            }
            DecodeErrorKind::TooDeep { max } => {
                write!(f, "optional data nested deeper than {max} levels")
            }
            DecodeErrorKind::TrailingBytes { count } => {
                write!(f, "{count} unexpected bytes after the last item")
            }
        }
    }
}

/// A decode failure: what, where (byte offset) and in which field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    kind: DecodeErrorKind,
    offset: usize,
    /// Innermost first.
    path: Vec<&'static str>,
}

impl DecodeError {
    /// A new error of `kind` for the item starting at byte `offset`.
    pub fn new(kind: DecodeErrorKind, offset: usize) -> Self {
        DecodeError {
            kind,
            offset,
            path: Vec::new(),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> &DecodeErrorKind {
        &self.kind
    }

    /// Byte offset (from the start of the decoder's input) of the failing item.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The field path, outermost first (e.g. `["nvldbentry", "name"]`).
    pub fn path(&self) -> Vec<&'static str> {
        self.path.iter().rev().copied().collect()
    }

    /// Add an enclosing field or type name (generated code calls this as the error travels
    /// outwards).
    #[must_use]
    pub fn within(mut self, name: &'static str) -> Self {
        self.path.push(name);
        self
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "XDR decode error at byte {}", self.offset)?;
        if !self.path.is_empty() {
            write!(f, " in ")?;
            for (i, p) in self.path.iter().rev().enumerate() {
                if i > 0 {
                    write!(f, ".")?;
                }
                write!(f, "{p}")?;
            }
        }
        write!(f, ": {}", self.kind)
    }
}

impl std::error::Error for DecodeError {}

/// What went wrong while encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeErrorKind {
    /// A string, opaque or array is longer than its declared bound; the peer would reject it.
    LengthOverBound {
        /// Its length.
        len: usize,
        /// The declared bound.
        max: u32,
    },
    /// A fixed-length opaque was given the wrong number of bytes.
    WrongFixedLength {
        /// Bytes given.
        len: usize,
        /// Bytes declared.
        expected: usize,
    },
}

impl fmt::Display for EncodeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeErrorKind::LengthOverBound { len, max } => {
                write!(f, "length {len} exceeds the declared bound {max}")
            }
            EncodeErrorKind::WrongFixedLength { len, expected } => {
                write!(f, "fixed opaque of {expected} bytes given {len} bytes")
            }
        }
    }
}

/// An encode failure: what and in which field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError {
    kind: EncodeErrorKind,
    path: Vec<&'static str>,
}

impl EncodeError {
    /// A new error.
    pub fn new(kind: EncodeErrorKind) -> Self {
        EncodeError {
            kind,
            path: Vec::new(),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> &EncodeErrorKind {
        &self.kind
    }

    /// The field path, outermost first.
    pub fn path(&self) -> Vec<&'static str> {
        self.path.iter().rev().copied().collect()
    }

    /// Add an enclosing field or type name.
    #[must_use]
    pub fn within(mut self, name: &'static str) -> Self {
        self.path.push(name);
        self
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "XDR encode error")?;
        if !self.path.is_empty() {
            write!(f, " in ")?;
            for (i, p) in self.path.iter().rev().enumerate() {
                if i > 0 {
                    write!(f, ".")?;
                }
                write!(f, "{p}")?;
            }
        }
        write!(f, ": {}", self.kind)
    }
}

impl std::error::Error for EncodeError {}
