//! The rxkad security class (work in progress).
