//! The parsed interface definition.

use crate::source::Span;

/// A type specifier as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeSpec {
    /// `int`, `afs_int32`, `long`.
    Int,
    /// `unsigned`, `unsigned int`, `u_int`, `afs_uint32`, `u_long`.
    UInt,
    /// `afs_int64`, `hyper`.
    Hyper,
    /// `afs_uint64`, `unsigned hyper`.
    UHyper,
    /// `short`.
    Short,
    /// `unsigned short`, `u_short`.
    UShort,
    /// `char`.
    Char,
    /// `unsigned char`, `u_char`.
    UChar,
    /// `bool`.
    Bool,
    /// `float`.
    Float,
    /// `double`.
    Double,
    /// `string` (with `<N>`).
    String,
    /// `opaque` (with `[N]` or `<N>`).
    Opaque,
    /// `void` (union arms).
    Void,
    /// `afsUUID`.
    AfsUuid,
    /// A name: a struct, union, enum or typedef of the interface (or an external type).
    Named(String),
}

/// A value: a number or the name of a constant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A number as written.
    Number(String),
    /// A constant or enumerator name.
    Name(String),
}

/// How the declared name relates to the type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rel {
    /// `T x`.
    Alias,
    /// `T *x`.
    Pointer,
    /// `T x[N]`.
    Fixed(Value),
    /// `T x<N>` (`None`: `<>`, unbounded).
    Var(Option<Value>),
}

/// A declaration: `type [*]name [ [N] | <N> ]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decl {
    /// The type.
    pub ty: TypeSpec,
    /// Where the type was written.
    pub ty_span: Span,
    /// The declared name (empty for `void`).
    pub name: String,
    /// Pointer, array or plain.
    pub rel: Rel,
    /// Where the name was written.
    pub span: Span,
}

/// A parameter direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Sent by the client.
    In,
    /// Sent back by the server.
    Out,
    /// Both.
    InOut,
}

/// A procedure parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Direction (carried over from the previous parameter when not written).
    pub dir: Dir,
    /// Whether the direction was carried over from the previous *procedure* (rxgen does that).
    pub dir_inherited_from_previous_proc: bool,
    /// The declaration.
    pub decl: Decl,
}

/// A procedure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    /// Its name (without the package prefix).
    pub name: String,
    /// The server stub name, if given (only meaningful for C).
    pub server_stub: Option<String>,
    /// Parameters in order.
    pub params: Vec<Param>,
    /// `split`.
    pub split: bool,
    /// `multi`.
    pub multi: bool,
    /// The opcode (explicit or assigned).
    pub opcode: u32,
    /// Whether the opcode was explicit.
    pub explicit_opcode: bool,
    /// Where the procedure starts.
    pub span: Span,
}

/// A `package` and its procedures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// The prefix, e.g. `VL_`.
    pub prefix: String,
    /// `statindex`, if given.
    pub statindex: Option<u32>,
    /// Procedures in order.
    pub procs: Vec<Proc>,
    /// Where the package statement is.
    pub span: Span,
}

/// A union arm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arm {
    /// The case label.
    pub label: Value,
    /// Where the label is.
    pub label_span: Span,
    /// The arm's declaration (`void` for none).
    pub decl: Decl,
}

/// A type or constant definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Def {
    /// `const NAME = VALUE;`
    Const {
        /// Name.
        name: String,
        /// Value (a number, a constant name, or a string constant).
        value: ConstValue,
        /// Where.
        span: Span,
    },
    /// `enum NAME { A = 1, B, ... };`
    Enum {
        /// Name.
        name: String,
        /// Members and explicit values.
        members: Vec<(String, Option<Value>, Span)>,
        /// Where.
        span: Span,
    },
    /// `struct NAME { decls };` (`customized` too).
    Struct {
        /// Name.
        name: String,
        /// Fields.
        fields: Vec<Decl>,
        /// `customized struct`.
        customized: bool,
        /// Where.
        span: Span,
    },
    /// `union NAME switch (decl) { case ...: decl; default: decl; };`
    Union {
        /// Name.
        name: String,
        /// The discriminant.
        discr: Decl,
        /// Arms.
        arms: Vec<Arm>,
        /// The default arm.
        default: Option<Decl>,
        /// Where.
        span: Span,
    },
    /// `typedef decl;`
    Typedef(Decl),
}

/// A constant's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConstValue {
    /// A number or another constant.
    Value(Value),
    /// A string constant (quotes included).
    Str(String),
}

/// A whole interface definition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spec {
    /// Type and constant definitions, in order.
    pub defs: Vec<Def>,
    /// Packages, in order.
    pub packages: Vec<Package>,
    /// `prefix` (server-side name prefix; only meaningful for C).
    pub server_prefix: Option<String>,
    /// `splitprefix IN=... OUT=...`.
    pub split_prefix: (Option<String>, Option<String>),
}
