//! rxkad tickets in the Kerberos IV ("athena") layout that OpenAFS and Linux use for every kvno
//! below 256, sealed with single DES in PCBC mode under the server key (IV = the key).
//!
//! Plaintext layout (integers big-endian unless bit 0 of `flags` says little-endian):
//!
//! ```text
//! u8 flags | name\0 | instance\0 | realm\0 | u32 host | session key[8] | u8 life |
//! u32 start | service\0 | service instance\0 | zero padding to a multiple of 8
//! ```
//!
//! Names are at most 63 bytes (`name` and `service` at least 1). The ticket's end time comes
//! from the `life` byte: below 0x80 it counts 5-minute units, 0x80..=0xbf index OpenAFS's table
//! of lifetimes from 10.67 hours to 30 days ([`LIFETIMES`]), 0xc0..=0xfe mean 30 days and 0xff
//! means the ticket never expires (what `-localauth` mints, with start 0).

use crate::keys::DesKey;
use crate::{des_pcbc, fuzzing};

/// Shortest ticket a RESPONSE may carry (`MINKTCTICKETLEN`).
pub const MIN_TICKET_LEN: usize = 32;
/// Longest ticket a RESPONSE may carry (`MAXKTCTICKETLEN`).
pub const MAX_TICKET_LEN: usize = 12000;
/// Longest name, instance or realm in bytes (`MAXKTCNAMELEN` − 1).
pub const MAX_NAME_LEN: usize = 63;
/// The end time meaning "never expires" (`NEVERDATE`).
pub const NEVER: u32 = 0xffff_ffff;
/// The `life` byte meaning "never expires".
pub const LIFE_NEVER: u8 = 0xff;
/// Longest finite ticket lifetime: 30 days.
pub const MAX_LIFETIME: u32 = 30 * 24 * 3600;
/// Clock skew tolerated when checking ticket times: 15 minutes.
pub const TIME_UNCERTAINTY: u32 = 15 * 60;

/// OpenAFS's lifetimes in seconds for `life` bytes 0x80..=0xbf (ratio ≈ 1.06914 between
/// entries; 0x80 equals 128 five-minute units).
pub const LIFETIMES: [u32; 64] = [
    38400, 41055, 43894, 46929, 50174, 53643, 57352, 61318, 65558, 70091, 74937, 80119, 85658,
    91581, 97914, 104684, 111922, 119661, 127935, 136781, 146239, 156350, 167161, 178720, 191077,
    204289, 218415, 233517, 249664, 266926, 285383, 305116, 326213, 348769, 372885, 398668, 426234,
    455705, 487215, 520904, 556921, 595430, 636601, 680618, 727680, 777995, 831789, 889303, 950794,
    1016537, 1086825, 1161973, 1242318, 1328218, 1420057, 1518247, 1623226, 1735464, 1855462,
    1983758, 2120925, 2267576, 2424367, 2592000,
];

/// The end time of a ticket starting at `start` with lifetime byte `life` (arithmetic modulo
/// 2³² as in OpenAFS).
pub fn life_to_time(start: u32, life: u8) -> u32 {
    match life {
        LIFE_NEVER => NEVER,
        0..=0x7f => start.wrapping_add(u32::from(life) * 300),
        0x80..=0xbf => start.wrapping_add(LIFETIMES[usize::from(life - 0x80)]),
        _ => start.wrapping_add(MAX_LIFETIME),
    }
}

/// The smallest `life` byte whose lifetime covers `end − start` (`None` for a lifetime that is
/// zero, negative or over 30 days); [`NEVER`] gives [`LIFE_NEVER`].
pub fn time_to_life(start: u32, end: u32) -> Option<u8> {
    if end == NEVER {
        return Some(LIFE_NEVER);
    }
    let lifetime = end
        .checked_sub(start)
        .filter(|l| (1..=MAX_LIFETIME).contains(l))?;
    if lifetime < LIFETIMES[0] {
        return u8::try_from(lifetime.div_ceil(300)).ok();
    }
    let i = LIFETIMES.iter().position(|l| *l >= lifetime)?;
    u8::try_from(0x80 + i).ok()
}

/// What the clock says about a ticket's start and end times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// Usable now.
    Valid,
    /// Starts more than [`TIME_UNCERTAINTY`] in the future (rxkad abort `RXKADNOAUTH`).
    NotYetValid,
    /// Ended more than [`TIME_UNCERTAINTY`] ago (`RXKADEXPIRED`).
    Expired,
    /// Inconsistent times: end not after start, a finite lifetime over 30 days, a start over
    /// 30 days ahead or an end long past (`RXKADBADTICKET`).
    Bad,
}

/// Check a ticket's times against `now` with OpenAFS's rules (`tkt_CheckTimes`): start 0 or
/// end [`NEVER`] mean "no limit" on that side; 15 minutes of clock skew are tolerated.
pub fn check_times(start: u32, end: u32, now: u64) -> Validity {
    let (s, e) = (u64::from(start), u64::from(end));
    let skew = u64::from(TIME_UNCERTAINTY);
    let max = u64::from(MAX_LIFETIME);
    if s >= e || s > now + skew + max {
        return Validity::Bad;
    }
    if start != 0 && end != NEVER && e - s > max {
        return Validity::Bad;
    }
    if end != NEVER && e + skew < now {
        return if start != 0 && now - s > max + 24 * 3600 {
            Validity::Bad
        } else {
            Validity::Expired
        };
    }
    if start == 0 || s <= now + skew {
        Validity::Valid
    } else {
        Validity::NotYetValid
    }
}

/// Why a ticket could not be made or read. A server answers all of these with
/// `RXKADBADTICKET`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TicketError {
    /// Sealed length not a multiple of 8 in 32..=12000.
    #[error("ticket length {0} is not a multiple of 8 in 32..=12000")]
    Length(usize),
    /// A string field is unterminated, too long, too short or holds a control character.
    #[error("bad ticket field {0}")]
    Field(&'static str),
    /// The fixed fields run past the end.
    #[error("ticket truncated")]
    Truncated,
    /// The fields do not fill the ticket up to its padding.
    #[error("ticket of {sealed} bytes holds {used} bytes of fields")]
    Padding {
        /// Length of the ticket.
        sealed: usize,
        /// Length of its fields.
        used: usize,
    },
    /// A lifetime that cannot be expressed (zero, over 30 days, or past 2106).
    #[error("lifetime cannot be expressed in a ticket")]
    Lifetime,
}

/// The contents of an rxkad (Kerberos IV) ticket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ticket {
    /// Flags byte; bit 0 set means `host` and `start` are little-endian.
    pub flags: u8,
    /// Principal name (1..=63 bytes).
    pub name: String,
    /// Principal instance (0..=63 bytes).
    pub instance: String,
    /// Realm (cell) of the principal; empty means the server's own cell.
    pub realm: String,
    /// IPv4 address of the requester (0 if unbound).
    pub host: u32,
    /// The session key shared by client and server.
    pub session_key: DesKey,
    /// Lifetime byte (see [`life_to_time`]).
    pub life: u8,
    /// Start (issue) time, Unix seconds; 0 with `life` 0xff for never-expiring tickets.
    pub start: u32,
    /// Service name (`afs`).
    pub service: String,
    /// Service instance (usually empty).
    pub service_instance: String,
}

/// Check and append one NUL-terminated string field.
fn put_str(out: &mut Vec<u8>, s: &str, min: usize, what: &'static str) -> Result<(), TicketError> {
    let b = s.as_bytes();
    if b.len() < min || b.len() > MAX_NAME_LEN || b.iter().any(|c| *c < 0x20 || *c == 0x7f) {
        return Err(TicketError::Field(what));
    }
    out.extend_from_slice(b);
    out.push(0);
    Ok(())
}

/// A reader over the plaintext.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], TicketError> {
        let s = self
            .pos
            .checked_add(n)
            .and_then(|end| self.buf.get(self.pos..end))
            .ok_or(TicketError::Truncated)?;
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, TicketError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self, little_endian: bool) -> Result<u32, TicketError> {
        let s = self.take(4)?;
        let w = [s[0], s[1], s[2], s[3]];
        Ok(if little_endian {
            u32::from_le_bytes(w)
        } else {
            u32::from_be_bytes(w)
        })
    }
    fn str(&mut self, min: usize, what: &'static str) -> Result<String, TicketError> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        let len = rest
            .iter()
            .position(|c| *c == 0)
            .ok_or(TicketError::Field(what))?;
        let s = &rest[..len];
        if len < min || len > MAX_NAME_LEN || s.iter().any(|c| *c < 0x20 || *c == 0x7f) {
            return Err(TicketError::Field(what));
        }
        let s = std::str::from_utf8(s).map_err(|_| TicketError::Field(what))?;
        self.pos += len + 1;
        Ok(s.to_owned())
    }
}

impl Ticket {
    /// The end time ([`NEVER`] for a never-expiring ticket).
    pub fn end(&self) -> u32 {
        life_to_time(self.start, self.life)
    }

    /// The end time as Unix seconds, `None` if the ticket never expires.
    pub fn expires(&self) -> Option<u64> {
        match self.end() {
            NEVER => None,
            e => Some(u64::from(e)),
        }
    }

    /// Check the ticket's times against `now` (Unix seconds).
    pub fn validity(&self, now: u64) -> Validity {
        check_times(self.start, self.end(), now)
    }

    /// The plaintext, zero-padded to a multiple of 8.
    pub fn encode_plain(&self) -> Result<Vec<u8>, TicketError> {
        let le = self.flags & 1 != 0;
        let word = |w: u32| if le { w.to_le_bytes() } else { w.to_be_bytes() };
        let mut v = Vec::with_capacity(64);
        v.push(self.flags);
        put_str(&mut v, &self.name, 1, "name")?;
        put_str(&mut v, &self.instance, 0, "instance")?;
        put_str(&mut v, &self.realm, 0, "realm")?;
        v.extend_from_slice(&word(self.host));
        v.extend_from_slice(&self.session_key.0);
        v.push(self.life);
        v.extend_from_slice(&word(self.start));
        put_str(&mut v, &self.service, 1, "service")?;
        put_str(&mut v, &self.service_instance, 0, "service instance")?;
        v.resize(v.len().next_multiple_of(8), 0);
        Ok(v)
    }

    /// Parse a decrypted ticket. The fields must account for the whole ticket up to its
    /// padding (OpenAFS also accepts any 56-byte ticket, and so does this).
    pub fn decode_plain(plain: &[u8]) -> Result<Ticket, TicketError> {
        let mut r = Reader { buf: plain, pos: 0 };
        let flags = r.u8()?;
        let le = flags & 1 != 0;
        let name = r.str(1, "name")?;
        let instance = r.str(0, "instance")?;
        let realm = r.str(0, "realm")?;
        let host = r.u32(le)?;
        let mut session_key = [0u8; 8];
        session_key.copy_from_slice(r.take(8)?);
        let life = r.u8()?;
        let start = r.u32(le)?;
        let service = r.str(1, "service")?;
        let service_instance = r.str(0, "service instance")?;
        if r.pos.next_multiple_of(8) != plain.len() && plain.len() != 56 {
            return Err(TicketError::Padding {
                sealed: plain.len(),
                used: r.pos,
            });
        }
        Ok(Ticket {
            flags,
            name,
            instance,
            realm,
            host,
            session_key: DesKey(session_key),
            life,
            start,
            service,
            service_instance,
        })
    }

    /// Seal the ticket under `server_key` (DES-PCBC, IV = key).
    pub fn seal(&self, server_key: &DesKey) -> Result<Vec<u8>, TicketError> {
        let mut v = self.encode_plain()?;
        if v.len() > MAX_TICKET_LEN {
            return Err(TicketError::Length(v.len()));
        }
        if !fuzzing() {
            des_pcbc::encrypt(&server_key.0, server_key.0, &mut v);
        }
        Ok(v)
    }

    /// Decrypt a sealed ticket with `server_key` and parse it.
    pub fn open(sealed: &[u8], server_key: &DesKey) -> Result<Ticket, TicketError> {
        let n = sealed.len();
        if !(MIN_TICKET_LEN..=MAX_TICKET_LEN).contains(&n) || n % 8 != 0 {
            return Err(TicketError::Length(n));
        }
        let mut plain = sealed.to_vec();
        if !fuzzing() {
            des_pcbc::decrypt(&server_key.0, server_key.0, &mut plain);
        }
        Ticket::decode_plain(&plain)
    }
}

/// How long a minted ticket lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// This many seconds from its start (rounded up to what the `life` byte can express;
    /// 1..=2592000).
    Seconds(u32),
    /// Never expires (`life` 0xff). OpenAFS servers accept such tickets; Linux servers read
    /// the byte as 255 five-minute units and, with start 0, reject the ticket as expired.
    Never,
}

/// Build a ticket starting at `start` (Unix seconds).
pub fn make_ticket(
    name: &str,
    instance: &str,
    realm: &str,
    session_key: DesKey,
    start: u32,
    lifetime: Lifetime,
) -> Result<Ticket, TicketError> {
    let life = match lifetime {
        Lifetime::Never => LIFE_NEVER,
        Lifetime::Seconds(s) => {
            let end = start
                .checked_add(s)
                .filter(|e| *e != NEVER)
                .ok_or(TicketError::Lifetime)?;
            time_to_life(start, end).ok_or(TicketError::Lifetime)?
        }
    };
    Ok(Ticket {
        flags: 0,
        name: name.to_owned(),
        instance: instance.to_owned(),
        realm: realm.to_owned(),
        host: 0,
        session_key,
        life,
        start,
        service: "afs".to_owned(),
        service_instance: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes() {
        assert_eq!(life_to_time(1000, 0), 1000);
        assert_eq!(life_to_time(1000, 0x7f), 1000 + 127 * 300);
        assert_eq!(life_to_time(1000, 0x80), 1000 + 38400);
        assert_eq!(life_to_time(1000, 0xbf), 1000 + 2_592_000);
        assert_eq!(life_to_time(1000, 0xc0), 1000 + MAX_LIFETIME);
        assert_eq!(life_to_time(0, 0xff), NEVER);
        assert_eq!(time_to_life(0, NEVER), Some(0xff));
        assert_eq!(time_to_life(100, 100), None);
        assert_eq!(time_to_life(100, 99), None);
        assert_eq!(time_to_life(0, 1), Some(1));
        assert_eq!(time_to_life(0, 300), Some(1));
        assert_eq!(time_to_life(0, 301), Some(2));
        assert_eq!(time_to_life(0, 36000), Some(120));
        assert_eq!(time_to_life(0, 38100), Some(0x7f));
        assert_eq!(time_to_life(0, 38101), Some(0x80));
        assert_eq!(time_to_life(0, 38401), Some(0x81));
        assert_eq!(time_to_life(0, MAX_LIFETIME), Some(0xbf));
        assert_eq!(time_to_life(0, MAX_LIFETIME + 1), None);
        // The table is increasing and every life byte round-trips.
        assert!(LIFETIMES.windows(2).all(|w| w[0] < w[1]));
        for life in 1..=0xbfu8 {
            assert_eq!(
                time_to_life(5, life_to_time(5, life)),
                Some(life),
                "{life:#x}"
            );
        }
    }

    #[test]
    fn times() {
        let now = 1_700_000_000u64;
        let n = now as u32;
        assert_eq!(check_times(0, NEVER, now), Validity::Valid);
        assert_eq!(check_times(n - 60, n + 3600, now), Validity::Valid);
        // 15 minutes of skew either side.
        assert_eq!(check_times(n + 900, n + 3600, now), Validity::Valid);
        assert_eq!(check_times(n + 901, n + 3600, now), Validity::NotYetValid);
        assert_eq!(check_times(n - 3600, n - 900, now), Validity::Valid);
        assert_eq!(check_times(n - 3600, n - 901, now), Validity::Expired);
        assert_eq!(check_times(n, n, now), Validity::Bad);
        assert_eq!(check_times(n, n + MAX_LIFETIME + 1, now), Validity::Bad);
        assert_eq!(
            check_times(n + MAX_LIFETIME + 901, NEVER, now),
            Validity::Bad
        );
        // Long dead: bad rather than expired.
        assert_eq!(
            check_times(n - MAX_LIFETIME - 86401, n - MAX_LIFETIME, now),
            Validity::Bad
        );
        // Start 0 with a finite end is allowed while the end is ahead.
        assert_eq!(check_times(0, n + 10, now), Validity::Valid);
        assert_eq!(check_times(0, n - 1000, now), Validity::Expired);
    }

    fn sample() -> Ticket {
        make_ticket(
            "admin",
            "",
            "",
            DesKey([0xd3, 0xa7, 0xbf, 0x83, 0xe3, 0x20, 0xe5, 0xc8]),
            0,
            Lifetime::Never,
        )
        .unwrap()
    }

    #[test]
    fn plain_roundtrip_and_errors() {
        let t = sample();
        let p = t.encode_plain().unwrap();
        assert_eq!(p.len() % 8, 0);
        assert_eq!(Ticket::decode_plain(&p).unwrap(), t);
        // Little-endian flag.
        let mut le = t.clone();
        le.flags = 1;
        le.start = 0x0102_0304;
        le.life = 10;
        let p = le.encode_plain().unwrap();
        assert_eq!(Ticket::decode_plain(&p).unwrap(), le);
        // Every truncation fails.
        let p = t.encode_plain().unwrap();
        for n in 0..p.len() {
            assert!(Ticket::decode_plain(&p[..n]).is_err(), "{n}");
        }
        // Extra blocks beyond the padding.
        let mut long = p.clone();
        long.extend_from_slice(&[0; 8]);
        assert!(matches!(
            Ticket::decode_plain(&long),
            Err(TicketError::Padding { .. })
        ));
        let mut bad = t.clone();
        bad.name = String::new();
        assert_eq!(bad.encode_plain(), Err(TicketError::Field("name")));
        bad.name = "x".repeat(64);
        assert_eq!(bad.encode_plain(), Err(TicketError::Field("name")));
        bad.name = "a\tb".to_owned();
        assert_eq!(bad.encode_plain(), Err(TicketError::Field("name")));
        assert_eq!(
            make_ticket("a", "", "", DesKey([0; 8]), 10, Lifetime::Seconds(0)),
            Err(TicketError::Lifetime)
        );
        assert_eq!(
            make_ticket(
                "a",
                "",
                "",
                DesKey([0; 8]),
                u32::MAX - 5,
                Lifetime::Seconds(10)
            ),
            Err(TicketError::Lifetime)
        );
    }

    #[cfg(not(feature = "fuzzing"))]
    #[test]
    fn seal_open() {
        let key = DesKey([0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]);
        let t = sample();
        let sealed = t.seal(&key).unwrap();
        assert_ne!(sealed, t.encode_plain().unwrap());
        assert_eq!(Ticket::open(&sealed, &key).unwrap(), t);
        assert!(Ticket::open(&sealed, &DesKey([0xfe; 8])).is_err());
        assert_eq!(
            Ticket::open(&sealed[..24], &key),
            Err(TicketError::Length(24))
        );
        assert_eq!(
            Ticket::open(&sealed[..31], &key),
            Err(TicketError::Length(31))
        );
    }

    /// The never-expiring `afs` ticket that `pts -localauth` (OpenAFS 1.8.9) sent in the
    /// sample capture, as decrypted in shared/peers/openafs/README.md.
    #[cfg(not(feature = "fuzzing"))]
    #[test]
    fn localauth_plaintext_from_readme() {
        let plain = crate::hex::decode(concat!(
            "0061667300", // flags, "afs"
            "0000",       // instance, realm
            "00000000",   // host
            "d3a7bf83e320e5c8",
            "ff",       // life: never
            "00000000", // start
            "6166730000",
            "000000", // padding
        ))
        .unwrap();
        assert_eq!(plain.len(), 32);
        let t = Ticket::decode_plain(&plain).unwrap();
        assert_eq!(t.name, "afs");
        assert_eq!((t.life, t.start, t.expires()), (0xff, 0, None));
        assert_eq!(t.session_key.to_hex(), "d3a7bf83e320e5c8");
        assert_eq!(t.encode_plain().unwrap(), plain);
    }
}
