//! The yfs-rxgk security class (work in progress).
pub mod hex;
pub mod krb5;
