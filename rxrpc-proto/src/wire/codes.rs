//! Abort codes: the signed 32-bit value carried by ABORT packets, with named constants for the
//! Rx, rxgen, rxkad and rxgk families.
//!
//! Layer: `wire`. Values are from the Rx, rxgen and rxkad headers as documented in the project
//! references (`reference-linux-rxrpc.md` §1.10, `reference-openafs-rx.md` §1.3); rxgk uses the
//! revised (YFS) numbering that Linux and AuriStor use.

use core::fmt;

/// An Rx abort code. Negative values are Rx transport errors, small positive values and the
/// large "com_err" ranges belong to applications and security classes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AbortCode(pub i32);

macro_rules! abort_codes {
    ($( $(#[$doc:meta])* $name:ident = $value:expr; )*) => {
        impl AbortCode {
            $( $(#[$doc])* pub const $name: AbortCode = AbortCode($value); )*

            /// The symbolic name of a known code (`"RX_CALL_DEAD"`), or `None`.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $value => Some(stringify!($name)), )*
                    _ => None,
                }
            }

            /// Every named code, for tables and tests.
            pub const ALL_NAMED: &'static [AbortCode] = &[ $( AbortCode($value), )* ];
        }
    };
}

abort_codes! {
    /// The peer went silent, or the call was torn down (socket closed, channel reused).
    RX_CALL_DEAD = -1;
    /// Service not offered, unsupported security, listener gone.
    RX_INVALID_OPERATION = -2;
    /// The call timed out without hearing the peer.
    RX_CALL_TIMEOUT = -3;
    /// End of file (application level).
    RX_EOF = -4;
    /// Malformed or illegal packet.
    RX_PROTOCOL_ERROR = -5;
    /// Aborted by the user.
    RX_USER_ABORT = -6;
    /// Address in use (local only).
    RX_ADDRINUSE = -7;
    /// Unknown DEBUG request type (OpenAFS also calls -8 `RX_MSGSIZE`).
    RX_DEBUGI_BADTYPE = -8;
    /// The server is restarting.
    RX_RESTARTING = -100;
    /// rxgen client stub failed to marshal the arguments.
    RXGEN_CC_MARSHAL = -450;
    /// rxgen client stub failed to unmarshal the results.
    RXGEN_CC_UNMARSHAL = -451;
    /// rxgen server stub failed to marshal the results.
    RXGEN_SS_MARSHAL = -452;
    /// rxgen server stub failed to unmarshal the arguments.
    RXGEN_SS_UNMARSHAL = -453;
    /// rxgen decode error.
    RXGEN_DECODE = -454;
    /// rxgen server: unknown opcode.
    RXGEN_OPCODE = -455;
    /// rxgen server: failed to free arguments.
    RXGEN_SS_XDRFREE = -456;
    /// rxgen client: failed to free results.
    RXGEN_CC_XDRFREE = -457;
    /// rxkad: security object inconsistency.
    RXKADINCONSISTENCY = 19270400;
    /// rxkad: packet too short for its security header.
    RXKADPACKETSHORT = 19270401;
    /// rxkad: security level below the required minimum.
    RXKADLEVELFAIL = 19270402;
    /// rxkad: ticket length out of range.
    RXKADTICKETLEN = 19270403;
    /// rxkad: call number out of sequence.
    RXKADOUTOFSEQUENCE = 19270404;
    /// rxkad: caller not authenticated.
    RXKADNOAUTH = 19270405;
    /// rxkad: bad key.
    RXKADBADKEY = 19270406;
    /// rxkad: ticket could not be decrypted or parsed.
    RXKADBADTICKET = 19270407;
    /// rxkad: no server key for the ticket's kvno.
    RXKADUNKNOWNKEY = 19270408;
    /// rxkad: ticket expired.
    RXKADEXPIRED = 19270409;
    /// rxkad: sealed data inconsistent (checksum failure).
    RXKADSEALEDINCON = 19270410;
    /// rxkad: user data length wrong.
    RXKADDATALEN = 19270411;
    /// rxkad: illegal security level.
    RXKADILLEGALLEVEL = 19270412;
    /// rxgk: security object inconsistency.
    RXGK_INCONSISTENCY = 1233242880;
    /// rxgk: packet too short.
    RXGK_PACKETSHORT = 1233242881;
    /// rxgk: bad challenge.
    RXGK_BADCHALLENGE = 1233242882;
    /// rxgk: sealed data inconsistent.
    RXGK_SEALEDINCON = 1233242883;
    /// rxgk: not authorised.
    RXGK_NOTAUTH = 1233242884;
    /// rxgk: token expired.
    RXGK_EXPIRED = 1233242885;
    /// rxgk: bad security level.
    RXGK_BADLEVEL = 1233242886;
    /// rxgk: bad key number.
    RXGK_BADKEYNO = 1233242887;
    /// rxgk: not an rxgk connection.
    RXGK_NOTRXGK = 1233242888;
    /// rxgk: unsupported operation or enctype.
    RXGK_UNSUPPORTED = 1233242889;
    /// rxgk: GSS error.
    RXGK_GSSERROR = 1233242890;
}

impl AbortCode {
    /// The code as carried on the wire (big-endian two's complement).
    #[inline]
    pub fn to_wire(self) -> u32 {
        self.0 as u32
    }
    /// The code from its wire form.
    #[inline]
    pub fn from_wire(v: u32) -> Self {
        AbortCode(v as i32)
    }
}

impl fmt::Debug for AbortCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n}({})", self.0),
            None => write!(f, "AbortCode({})", self.0),
        }
    }
}

impl fmt::Display for AbortCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{} ({n})", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_wire_form() {
        assert_eq!(AbortCode::RX_CALL_DEAD.name(), Some("RX_CALL_DEAD"));
        assert_eq!(AbortCode::RX_CALL_DEAD.to_wire(), 0xffff_ffff);
        assert_eq!(AbortCode::from_wire(0xffff_fe39), AbortCode::RXGEN_OPCODE);
        assert_eq!(AbortCode::RXKADEXPIRED.0, 19270409);
        assert_eq!(AbortCode::RXGK_NOTAUTH.0, 1233242884);
        assert_eq!(AbortCode(267269).name(), None);
        assert_eq!(
            format!("{}", AbortCode::RX_PROTOCOL_ERROR),
            "-5 (RX_PROTOCOL_ERROR)"
        );
        // Every constant has a unique value.
        let mut v: Vec<i32> = AbortCode::ALL_NAMED.iter().map(|c| c.0).collect();
        v.sort();
        v.dedup();
        assert_eq!(v.len(), AbortCode::ALL_NAMED.len());
    }
}
