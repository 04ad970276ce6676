//! The rxgk security class (work in progress).
