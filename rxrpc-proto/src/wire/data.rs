//! DATA packet bodies, including jumbo packets (several DATA subpackets in one datagram).
//!
//! Layer: `wire`. Owns the jumbo layout and its validation: splitting a datagram into
//! subpackets ([`Data::parse`], [`jumbo_iter`], [`DataView`]), deriving each subpacket's
//! header ([`Data::subpackets`]) and gluing full subpackets back together
//! ([`Data::build_jumbo`]). Security (rxkad/rxgk) headers inside the payload are not
//! interpreted here.
//!
//! Layout (`reference-linux-rxrpc.md` §1.4, `reference-openafs-rx.md` §1.3):
//!
//! ```text
//! [28-byte header][1412 data][4-byte jumbo hdr][1412 data][4-byte jumbo hdr] ... [last data]
//! ```
//!
//! A subpacket whose flags have `JUMBO_PACKET` is followed by another; the 4-byte jumbo header
//! (`flags`, `pad`, `cksum`) describes the *following* subpacket, whose `seq` and `serial` are
//! one more than its predecessor's.

use bytes::Bytes;

use super::packet::Reader;
use super::{Flags, HEADER_LEN, Header, HeaderView, PacketType, WireError};

/// Data bytes in a non-terminal jumbo subpacket.
pub const JUMBO_DATALEN: usize = 1412;
/// Length of the secondary (jumbo) header that precedes each subpacket after the first.
pub const JUMBO_HEADER_LEN: usize = 4;
/// A non-terminal subpacket's data plus the jumbo header that follows it.
pub const JUMBO_SUBPKTLEN: usize = JUMBO_DATALEN + JUMBO_HEADER_LEN;
/// Most subpackets a jumbo packet may hold (`RXRPC_MAX_NR_JUMBO`): 46 fill 65160 bytes.
pub const MAX_JUMBO_SUBPACKETS: usize = 46;

/// Datagram length (Rx header included, IP/UDP excluded) of a jumbo packet of `n` subpackets
/// whose terminal subpacket is also full: `28 + 1412 + (n - 1) * 1416`. `n = 0` counts as 1.
pub const fn jumbo_datagram_len(n: usize) -> usize {
    let extra = n.saturating_sub(1).saturating_mul(JUMBO_SUBPKTLEN);
    (HEADER_LEN + JUMBO_DATALEN).saturating_add(extra)
}

/// The 4-byte secondary header between jumbo subpackets; it describes the subpacket that
/// *follows* it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct JumboHeader {
    /// Flags of the following subpacket.
    pub flags: Flags,
    /// Padding byte (zero when sent; kept as received).
    pub pad: u8,
    /// Header checksum (rxkad) or key number (yfs-rxgk) of the following subpacket.
    pub cksum: u16,
}

impl JumboHeader {
    /// Decode the first 4 bytes of `buf`.
    pub fn parse(buf: &[u8]) -> Result<JumboHeader, WireError> {
        let mut r = Reader::new(buf, "jumbo header");
        Ok(JumboHeader {
            flags: Flags(r.u8()?),
            pad: r.u8()?,
            cksum: r.u16()?,
        })
    }

    /// The 4 wire bytes.
    pub fn to_bytes(&self) -> [u8; JUMBO_HEADER_LEN] {
        let c = self.cksum.to_be_bytes();
        [self.flags.0, self.pad, c[0], c[1]]
    }

    /// Append the 4 wire bytes to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_bytes());
    }

    /// Length on the wire (4).
    pub fn buffer_len(&self) -> usize {
        JUMBO_HEADER_LEN
    }
}

/// A subpacket after the first in a jumbo packet: its jumbo header and its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JumboSubpacket {
    /// The secondary header preceding (and describing) this subpacket.
    pub jumbo_header: JumboHeader,
    /// This subpacket's data: exactly 1412 bytes unless it is the terminal one.
    pub payload: Bytes,
}

impl JumboSubpacket {
    /// Append the jumbo header and the payload to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        self.jumbo_header.emit(out);
        out.extend_from_slice(&self.payload);
    }

    /// Length on the wire (4 + payload).
    pub fn buffer_len(&self) -> usize {
        JUMBO_HEADER_LEN + self.payload.len()
    }
}

/// A DATA body: the first subpacket's data and, for a jumbo packet, the subpackets after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Data {
    /// The first subpacket's data (the whole body of a plain DATA packet).
    pub payload: Bytes,
    /// The subpackets after the first; empty for a plain DATA packet.
    pub jumbo: Vec<JumboSubpacket>,
}

/// Where one subpacket lies, as found by [`split_step`].
enum Step {
    /// The terminal subpacket: its data is everything left.
    Terminal,
    /// A non-terminal subpacket: 1412 data bytes, then this jumbo header for the next one.
    NonTerminal(JumboHeader),
}

/// Validate the subpacket at `index` with flags `flags` and `rest` bytes of datagram left.
fn split_step(index: usize, flags: Flags, rest: &[u8]) -> Result<Step, WireError> {
    if !flags.contains(Flags::JUMBO_PACKET) {
        return Ok(Step::Terminal);
    }
    if flags.contains(Flags::LAST_PACKET) {
        return Err(WireError::JumboLastNotTerminal { index });
    }
    if index + 1 >= MAX_JUMBO_SUBPACKETS {
        return Err(WireError::JumboTooManySubpackets {
            max: MAX_JUMBO_SUBPACKETS,
        });
    }
    match rest.get(JUMBO_DATALEN..JUMBO_SUBPKTLEN) {
        Some(jh) => Ok(Step::NonTerminal(JumboHeader::parse(jh)?)),
        None => Err(WireError::JumboShortSubpacket {
            index,
            need: JUMBO_SUBPKTLEN,
            have: rest.len(),
        }),
    }
}

/// The header of subpacket `i` of a jumbo packet with main header `main`, given the jumbo
/// header that preceded it (`None` for subpacket 0).
fn derive_header(main: &Header, i: usize, jh: Option<&JumboHeader>) -> Header {
    let mut h = *main;
    if let Some(jh) = jh {
        let n = u32::try_from(i).unwrap_or(u32::MAX);
        h.seq = main.seq.plus(n);
        h.serial = main.serial.advance(n);
        h.flags = jh.flags;
        h.cksum = jh.cksum;
    }
    h
}

impl Data {
    /// Decode a DATA body. If the header's flags have `JUMBO_PACKET` the body is split into
    /// subpackets and validated (see the module docs); otherwise the whole body is the payload.
    pub fn parse(header: &Header, body: Bytes) -> Result<Data, WireError> {
        let mut jumbo = Vec::new();
        let mut flags = header.flags;
        let mut rest = body;
        let mut index = 0usize;
        let mut first: Option<Bytes> = None;
        let mut pending: Option<JumboHeader> = None;
        loop {
            let step = split_step(index, flags, &rest)?;
            let (payload, next) = match step {
                Step::Terminal => (core::mem::take(&mut rest), None),
                // split_step checked that at least JUMBO_SUBPKTLEN bytes remain.
                Step::NonTerminal(jh) => {
                    let p = rest.split_to(JUMBO_DATALEN);
                    rest = rest.slice(JUMBO_HEADER_LEN..);
                    (p, Some(jh))
                }
            };
            match pending.take() {
                None => first = Some(payload),
                Some(jumbo_header) => jumbo.push(JumboSubpacket {
                    jumbo_header,
                    payload,
                }),
            }
            match next {
                None => break,
                Some(jh) => {
                    flags = jh.flags;
                    pending = Some(jh);
                    index += 1;
                }
            }
        }
        Ok(Data {
            payload: first.unwrap_or_default(),
            jumbo,
        })
    }

    /// Append the body (first payload, then each jumbo header and payload) to `out`. The
    /// 28-byte Rx header is not included.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.reserve(self.buffer_len());
        out.extend_from_slice(&self.payload);
        for sp in &self.jumbo {
            sp.emit(out);
        }
    }

    /// Length of the body on the wire.
    pub fn buffer_len(&self) -> usize {
        self.jumbo
            .iter()
            .fold(self.payload.len(), |n, sp| n + sp.buffer_len())
    }

    /// Number of DATA subpackets (1 for a plain DATA packet).
    pub fn subpacket_count(&self) -> usize {
        1 + self.jumbo.len()
    }

    /// Each subpacket with its derived header. Subpacket 0 has `header` itself; subpacket
    /// `i > 0` has `header` with `seq + i`, `serial` advanced by `i` (skipping 0), and flags and
    /// cksum from the jumbo header preceding it. (The jumbo headers' pad bytes are not part
    /// of a [`Header`] and are dropped.)
    pub fn subpackets(&self, header: &Header) -> Vec<(Header, Bytes)> {
        let mut v = Vec::with_capacity(self.subpacket_count());
        v.push((*header, self.payload.clone()));
        for (i, sp) in self.jumbo.iter().enumerate() {
            v.push((
                derive_header(header, i + 1, Some(&sp.jumbo_header)),
                sp.payload.clone(),
            ));
        }
        v
    }

    /// Glue DATA subpackets into one (jumbo) packet: the inverse of [`Data::subpackets`].
    ///
    /// Requires 1..=46 subpackets of type DATA; every subpacket but the last must have
    /// `JUMBO_PACKET`, must not have `LAST_PACKET` and must carry exactly 1412 bytes; the last
    /// must not have `JUMBO_PACKET`; each header must follow the previous one (`seq + 1`, next
    /// serial) and otherwise equal the first apart from flags and cksum. The jumbo headers'
    /// pad bytes are zero.
    pub fn build_jumbo(subpackets: &[(Header, Bytes)]) -> Result<(Header, Data), WireError> {
        let err = |reason| Err(WireError::JumboBuild { reason });
        let Some(((first_h, first_p), rest)) = subpackets.split_first() else {
            return err("no subpackets");
        };
        if subpackets.len() > MAX_JUMBO_SUBPACKETS {
            return err("more than 46 subpackets");
        }
        if first_h.packet_type != PacketType::DATA {
            return err("not a DATA packet");
        }
        let last = subpackets.len() - 1;
        let mut prev = first_h;
        for (i, (h, p)) in subpackets.iter().enumerate() {
            if i < last {
                if !h.flags.contains(Flags::JUMBO_PACKET) {
                    return err("non-terminal subpacket lacks JUMBO_PACKET");
                }
                if h.flags.contains(Flags::LAST_PACKET) {
                    return err("non-terminal subpacket has LAST_PACKET");
                }
                if p.len() != JUMBO_DATALEN {
                    return err("non-terminal payload is not 1412 bytes");
                }
            } else if h.flags.contains(Flags::JUMBO_PACKET) {
                return err("terminal subpacket has JUMBO_PACKET");
            }
            if i > 0 {
                if h.seq != prev.seq.next() || h.serial != prev.serial.next() {
                    return err("subpacket seq/serial do not follow the previous subpacket");
                }
                let mut same = *h;
                same.seq = first_h.seq;
                same.serial = first_h.serial;
                same.flags = first_h.flags;
                same.cksum = first_h.cksum;
                if same != *first_h {
                    return err("subpacket headers differ in more than seq, serial, flags, cksum");
                }
            }
            prev = h;
        }
        let jumbo = rest
            .iter()
            .map(|(h, p)| JumboSubpacket {
                jumbo_header: JumboHeader {
                    flags: h.flags,
                    pad: 0,
                    cksum: h.cksum,
                },
                payload: p.clone(),
            })
            .collect();
        Ok((
            *first_h,
            Data {
                payload: first_p.clone(),
                jumbo,
            },
        ))
    }
}

/// Iterate over the subpackets of a DATA body without copying: each item is the subpacket's
/// derived header (as in [`Data::subpackets`]) and its data. Validation is the same as
/// [`Data::parse`]; after an error the iterator yields nothing more.
pub fn jumbo_iter<'a>(header: &Header, body: &'a [u8]) -> JumboIter<'a> {
    JumboIter {
        main: *header,
        flags: header.flags,
        rest: body,
        index: 0,
        pending: None,
        done: false,
    }
}

/// Zero-copy iterator over DATA subpackets, made by [`jumbo_iter`].
#[derive(Debug, Clone)]
pub struct JumboIter<'a> {
    main: Header,
    flags: Flags,
    rest: &'a [u8],
    index: usize,
    pending: Option<JumboHeader>,
    done: bool,
}

impl<'a> Iterator for JumboIter<'a> {
    type Item = Result<(Header, &'a [u8]), WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let step = match split_step(self.index, self.flags, self.rest) {
            Ok(s) => s,
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        };
        let header = derive_header(&self.main, self.index, self.pending.as_ref());
        match step {
            Step::Terminal => {
                self.done = true;
                Some(Ok((header, self.rest)))
            }
            Step::NonTerminal(jh) => {
                let (data, rest) = self
                    .rest
                    .split_at_checked(JUMBO_DATALEN)
                    .unwrap_or_default();
                self.rest = rest.get(JUMBO_HEADER_LEN..).unwrap_or_default();
                self.flags = jh.flags;
                self.pending = Some(jh);
                self.index += 1;
                Some(Ok((header, data)))
            }
        }
    }
}

/// A checked zero-copy view of a whole DATA datagram (header included).
///
/// Construction validates the header and the whole jumbo structure, so the getters cannot
/// fail afterwards.
#[derive(Debug, Clone, Copy)]
pub struct DataView<'a> {
    header: Header,
    body: &'a [u8],
    count: usize,
}

impl<'a> DataView<'a> {
    /// Check that `datagram` is a DATA packet with a well-formed (possibly jumbo) body.
    pub fn new_checked(datagram: &'a [u8]) -> Result<Self, WireError> {
        let hv = HeaderView::new_checked(datagram)?;
        if hv.packet_type() != PacketType::DATA {
            return Err(WireError::InvalidValue {
                what: "packet type (expected DATA)",
                value: u32::from(hv.packet_type().0),
            });
        }
        let header = hv.to_owned();
        let body = hv.body();
        let mut count = 0;
        for sp in jumbo_iter(&header, body) {
            sp?;
            count += 1;
        }
        Ok(DataView {
            header,
            body,
            count,
        })
    }

    /// The main (first subpacket's) header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The whole body after the 28-byte header.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// Number of subpackets (1 for a plain DATA packet).
    pub fn subpacket_count(&self) -> usize {
        self.count
    }

    /// The first subpacket's data.
    pub fn payload(&self) -> &'a [u8] {
        match self.subpackets().next() {
            Some(Ok((_, d))) => d,
            _ => &[],
        }
    }

    /// Iterate over the subpackets (already validated, so every item is `Ok`).
    pub fn subpackets(&self) -> JumboIter<'a> {
        jumbo_iter(&self.header, self.body)
    }

    /// The owned header and body (copying the payloads).
    pub fn to_owned(&self) -> (Header, Data) {
        let data =
            Data::parse(&self.header, Bytes::copy_from_slice(self.body)).unwrap_or_else(|_| Data {
                payload: Bytes::copy_from_slice(self.body),
                jumbo: vec![],
            });
        (self.header, data)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::wire::packet::tests::arb_header_of;
    use crate::wire::{Body, Packet, Seq, Serial};
    use proptest::prelude::*;

    fn main_header(flags: Flags) -> Header {
        Header {
            packet_type: PacketType::DATA,
            flags,
            seq: Seq(10),
            serial: Serial(100),
            ..Header::default()
        }
    }

    /// Subpacket lists that `build_jumbo` accepts: `n` subpackets, a terminal payload of
    /// `last_len` bytes, arbitrary payload contents, flags and cksums.
    pub(crate) fn arb_subpackets() -> impl Strategy<Value = Vec<(Header, Bytes)>> {
        (
            arb_header_of(PacketType::DATA, Flags(0), Flags::JUMBO_PACKET),
            1usize..=6,
            0usize..=1500,
            any::<u8>(),
            proptest::collection::vec((any::<u8>(), any::<u16>()), 6),
        )
            .prop_map(|(h0, n, last_len, fill, fc)| {
                let mut v = Vec::new();
                let mut h = h0;
                for (i, &(f, c)) in fc.iter().enumerate().take(n) {
                    if i > 0 {
                        h.seq = h.seq.next();
                        h.serial = h.serial.next();
                        h.cksum = c;
                        h.flags = Flags(f);
                    }
                    let last = i + 1 == n;
                    h.flags = if last {
                        h.flags.without(Flags::JUMBO_PACKET)
                    } else {
                        h.flags
                            .with(Flags::JUMBO_PACKET)
                            .without(Flags::LAST_PACKET)
                    };
                    let len = if last { last_len } else { JUMBO_DATALEN };
                    let payload: Vec<u8> = (0..len)
                        .map(|k| (k as u8).wrapping_add(fill).wrapping_add(i as u8))
                        .collect();
                    v.push((h, Bytes::from(payload)));
                }
                v
            })
    }

    /// DATA packets, plain and jumbo, with consistent header flags.
    pub(crate) fn arb_data_packet() -> impl Strategy<Value = Packet> {
        prop_oneof![
            (
                arb_header_of(PacketType::DATA, Flags(0), Flags::JUMBO_PACKET),
                crate::wire::packet::tests::arb_bytes(1500)
            )
                .prop_map(|(header, payload)| Packet {
                    header,
                    body: Body::Data(Data {
                        payload,
                        jumbo: vec![]
                    })
                }),
            (arb_subpackets(), any::<u8>()).prop_map(|(sps, pad)| {
                let (header, mut data) = Data::build_jumbo(&sps).unwrap();
                // Pad bytes are preserved by parse, so let them vary.
                for sp in &mut data.jumbo {
                    sp.jumbo_header.pad = pad;
                }
                Packet {
                    header,
                    body: Body::Data(data),
                }
            }),
        ]
    }

    fn jumbo_body(n: usize, last_len: usize) -> (Header, Vec<u8>) {
        let mut body = Vec::new();
        for i in 0..n {
            let last = i + 1 == n;
            let len = if last { last_len } else { JUMBO_DATALEN };
            body.extend(std::iter::repeat_n(i as u8, len));
            if !last {
                let f = if i + 2 == n {
                    Flags::LAST_PACKET
                } else {
                    Flags::JUMBO_PACKET
                };
                JumboHeader {
                    flags: f,
                    pad: 0,
                    cksum: i as u16,
                }
                .emit(&mut body);
            }
        }
        let flags = if n > 1 {
            Flags::JUMBO_PACKET
        } else {
            Flags::LAST_PACKET
        };
        (main_header(flags), body)
    }

    #[test]
    fn lengths() {
        assert_eq!(JUMBO_SUBPKTLEN, 1416);
        assert_eq!(jumbo_datagram_len(1), 1440);
        assert_eq!(jumbo_datagram_len(2), 2856);
        assert_eq!(jumbo_datagram_len(8), 11352);
        assert_eq!(jumbo_datagram_len(46), 65160);
        assert_eq!(jumbo_datagram_len(0), 1440);
        assert_eq!(jumbo_datagram_len(usize::MAX), usize::MAX);
    }

    #[test]
    fn plain_data() {
        let h = main_header(Flags::LAST_PACKET);
        let d = Data::parse(&h, Bytes::from_static(b"abc")).unwrap();
        assert_eq!(d.payload, Bytes::from_static(b"abc"));
        assert_eq!(d.subpacket_count(), 1);
        let sps = d.subpackets(&h);
        assert_eq!(sps, vec![(h, Bytes::from_static(b"abc"))]);
        assert_eq!(Data::build_jumbo(&sps).unwrap(), (h, d));
    }

    #[test]
    fn three_subpackets() {
        let (h, body) = jumbo_body(3, 100);
        let d = Data::parse(&h, Bytes::from(body.clone())).unwrap();
        assert_eq!(d.subpacket_count(), 3);
        assert_eq!(d.buffer_len(), body.len());
        let mut out = Vec::new();
        d.emit(&mut out);
        assert_eq!(out, body);
        let sps = d.subpackets(&h);
        assert_eq!(sps[1].0.seq, Seq(11));
        assert_eq!(sps[2].0.serial, Serial(102));
        assert_eq!(sps[2].0.flags, Flags::LAST_PACKET);
        assert_eq!(sps[2].0.cksum, 1);
        assert_eq!(sps[2].1.len(), 100);
        let (h2, d2) = Data::build_jumbo(&sps).unwrap();
        assert_eq!((h2, &d2), (h, &d));

        // The zero-copy iterator and view agree.
        let it: Vec<_> = jumbo_iter(&h, &body).map(|r| r.unwrap()).collect();
        assert_eq!(it.len(), 3);
        for ((ha, pa), (hb, pb)) in it.iter().zip(sps.iter()) {
            assert_eq!(ha, hb);
            assert_eq!(*pa, &pb[..]);
        }
        let mut dg = Vec::new();
        h.emit(&mut dg);
        dg.extend_from_slice(&body);
        let v = DataView::new_checked(&dg).unwrap();
        assert_eq!(v.subpacket_count(), 3);
        assert_eq!(v.payload().len(), JUMBO_DATALEN);
        assert_eq!(v.header(), &h);
        assert_eq!(v.body(), &body[..]);
        assert_eq!(v.to_owned(), (h, d));
    }

    #[test]
    fn serial_skips_zero_in_jumbo() {
        let mut h = main_header(Flags::JUMBO_PACKET);
        h.serial = Serial(u32::MAX);
        let (_, body) = jumbo_body(2, 5);
        let d = Data::parse(&h, Bytes::from(body)).unwrap();
        let sps = d.subpackets(&h);
        assert_eq!(sps[1].0.serial, Serial(1));
        assert!(Data::build_jumbo(&sps).is_ok());
    }

    #[test]
    fn validation_errors() {
        // Short non-terminal subpacket.
        let h = main_header(Flags::JUMBO_PACKET);
        let e = Data::parse(&h, Bytes::from(vec![0u8; 1415])).unwrap_err();
        assert_eq!(
            e,
            WireError::JumboShortSubpacket {
                index: 0,
                need: 1416,
                have: 1415
            }
        );
        // Second subpacket short.
        let mut body = vec![0u8; 1412];
        JumboHeader {
            flags: Flags::JUMBO_PACKET,
            pad: 0,
            cksum: 0,
        }
        .emit(&mut body);
        body.extend(std::iter::repeat_n(0u8, 20));
        let e = Data::parse(&h, Bytes::from(body.clone())).unwrap_err();
        assert_eq!(
            e,
            WireError::JumboShortSubpacket {
                index: 1,
                need: 1416,
                have: 20
            }
        );
        assert_eq!(jumbo_iter(&h, &body).filter(|r| r.is_err()).count(), 1);
        assert_eq!(jumbo_iter(&h, &body).count(), 2);
        // LAST_PACKET on a non-terminal subpacket.
        let h2 = main_header(Flags::JUMBO_PACKET | Flags::LAST_PACKET);
        let e = Data::parse(&h2, Bytes::from(vec![0u8; 3000])).unwrap_err();
        assert_eq!(e, WireError::JumboLastNotTerminal { index: 0 });
        let mut body = vec![0u8; 1412];
        JumboHeader {
            flags: Flags::JUMBO_PACKET | Flags::LAST_PACKET,
            pad: 0,
            cksum: 0,
        }
        .emit(&mut body);
        body.extend(std::iter::repeat_n(0u8, 1416));
        let e = Data::parse(&h, Bytes::from(body)).unwrap_err();
        assert_eq!(e, WireError::JumboLastNotTerminal { index: 1 });
        // 47 subpackets.
        let mut body = Vec::new();
        for _ in 0..46 {
            body.extend(std::iter::repeat_n(0u8, 1412));
            JumboHeader {
                flags: Flags::JUMBO_PACKET,
                pad: 0,
                cksum: 0,
            }
            .emit(&mut body);
        }
        body.push(1);
        let e = Data::parse(&h, Bytes::from(body)).unwrap_err();
        assert_eq!(e, WireError::JumboTooManySubpackets { max: 46 });
        // 46 is fine.
        let (h46, b46) = jumbo_body(46, 1412);
        assert_eq!(b46.len() + HEADER_LEN, jumbo_datagram_len(46));
        let d = Data::parse(&h46, Bytes::from(b46)).unwrap();
        assert_eq!(d.subpacket_count(), 46);
        // DataView rejects other types.
        let mut dg = vec![0u8; 28];
        dg[20] = 2;
        assert!(matches!(
            DataView::new_checked(&dg),
            Err(WireError::InvalidValue { .. })
        ));
    }

    #[test]
    fn build_errors() {
        let reason = |r: Result<(Header, Data), WireError>| match r {
            Err(WireError::JumboBuild { reason }) => reason,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(reason(Data::build_jumbo(&[])), "no subpackets");
        let (h, body) = jumbo_body(3, 10);
        let d = Data::parse(&h, Bytes::from(body)).unwrap();
        let good = d.subpackets(&h);

        let mut s = good.clone();
        s[1].1 = Bytes::from(vec![0u8; 1411]);
        assert!(reason(Data::build_jumbo(&s)).contains("1412"));
        let mut s = good.clone();
        s[0].0.flags = Flags(0);
        assert!(reason(Data::build_jumbo(&s)).contains("lacks JUMBO"));
        let mut s = good.clone();
        s[1].0.flags = Flags::JUMBO_PACKET | Flags::LAST_PACKET;
        assert!(reason(Data::build_jumbo(&s)).contains("LAST_PACKET"));
        let mut s = good.clone();
        s[2].0.flags = Flags::JUMBO_PACKET;
        assert!(reason(Data::build_jumbo(&s)).contains("terminal"));
        let mut s = good.clone();
        s[2].0.seq = Seq(99);
        assert!(reason(Data::build_jumbo(&s)).contains("follow"));
        let mut s = good.clone();
        s[2].0.serial = Serial(99);
        assert!(reason(Data::build_jumbo(&s)).contains("follow"));
        let mut s = good.clone();
        s[1].0.service_id = crate::wire::ServiceId(9);
        assert!(reason(Data::build_jumbo(&s)).contains("differ"));
        let mut s = good.clone();
        for (h, _) in &mut s {
            h.packet_type = PacketType::ACK;
        }
        assert!(reason(Data::build_jumbo(&s)).contains("DATA"));
        let many = vec![good[0].clone(); 47];
        assert!(reason(Data::build_jumbo(&many)).contains("46"));
    }

    #[test]
    fn jumbo_header_parse() {
        let jh = JumboHeader::parse(&[0x24, 7, 0x12, 0x34]).unwrap();
        assert_eq!(
            jh,
            JumboHeader {
                flags: Flags(0x24),
                pad: 7,
                cksum: 0x1234
            }
        );
        assert_eq!(jh.to_bytes(), [0x24, 7, 0x12, 0x34]);
        assert_eq!(jh.buffer_len(), 4);
        assert!(matches!(
            JumboHeader::parse(&[1, 2]),
            Err(WireError::Truncated { .. })
        ));
    }

    proptest! {
        #[test]
        fn build_then_split(sps in arb_subpackets()) {
            let (h, d) = Data::build_jumbo(&sps).unwrap();
            prop_assert_eq!(d.subpackets(&h), sps.clone());
            let mut body = Vec::new();
            d.emit(&mut body);
            prop_assert_eq!(body.len(), d.buffer_len());
            let d2 = Data::parse(&h, Bytes::from(body.clone())).unwrap();
            prop_assert_eq!(&d2, &d);
            let it: Vec<_> = jumbo_iter(&h, &body).map(|r| r.unwrap()).collect();
            prop_assert_eq!(it.len(), sps.len());
            for ((ha, pa), (hb, pb)) in it.iter().zip(sps.iter()) {
                prop_assert_eq!(ha, hb);
                prop_assert_eq!(*pa, &pb[..]);
            }
        }

        #[test]
        fn data_roundtrip(p in arb_data_packet()) {
            let Body::Data(d) = &p.body else { unreachable!() };
            let mut body = Vec::new();
            d.emit(&mut body);
            let d2 = Data::parse(&p.header, Bytes::from(body.clone())).unwrap();
            prop_assert_eq!(&d2, d);
            let mut again = Vec::new();
            d2.emit(&mut again);
            prop_assert_eq!(again, body);
        }

        #[test]
        fn arbitrary_bodies_agree(flags: u8, body in proptest::collection::vec(any::<u8>(), 0..5000)) {
            let h = main_header(Flags(flags));
            let owned = Data::parse(&h, Bytes::from(body.clone()));
            let iter: Result<Vec<_>, _> = jumbo_iter(&h, &body).collect();
            match (owned, iter) {
                (Ok(d), Ok(v)) => {
                    let sps = d.subpackets(&h);
                    prop_assert_eq!(sps.len(), v.len());
                    let mut out = Vec::new();
                    d.emit(&mut out);
                    prop_assert_eq!(out, body);
                }
                (Err(a), Err(b)) => prop_assert_eq!(a, b),
                (a, b) => prop_assert!(false, "disagree: {:?} vs {:?}", a.is_ok(), b.is_ok()),
            }
        }
    }
}
