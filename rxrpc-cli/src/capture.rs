//! Reading capture files: classic pcap (micro- and nanosecond, either byte order) and pcapng.
//!
//! Layer: the bottom of `rxdump`. [`CaptureReader`] opens a file, tells the two formats apart by
//! their magic number and yields one [`Frame`] per captured packet: its timestamp, link type,
//! captured bytes and original length. It knows nothing about IP or Rx.
//!
//! Two quirks of `pcap-file` 2.0 are worked around here rather than passed on:
//!
//! * its checked pcap packet reader rejects any record whose original length exceeds the file's
//!   snaplen, which is exactly what a snaplen-truncated capture contains, so records are read
//!   raw and checked here;
//! * its pcapng enhanced-packet timestamps assume nanosecond units whatever the interface's
//!   `if_tsresol` says (the default is microseconds), so the raw count is rescaled here.

use std::fs::File;
use std::io::{Cursor, Read};
use std::path::Path;
use std::time::Duration;

use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::{PcapError, TsResolution};

/// A link-layer header type as numbered in pcap files (`LINKTYPE_*`).
pub type LinkType = u32;

/// Link types `rxdump` can take apart.
pub mod linktype {
    use super::LinkType;
    /// BSD loopback: 4-byte address family in host byte order.
    pub const NULL: LinkType = 0;
    /// Ethernet II (with optional 802.1Q tags).
    pub const ETHERNET: LinkType = 1;
    /// Raw IP on some systems (`DLT_RAW` = 12 on most BSDs/Linux libpcap before 101).
    pub const RAW_12: LinkType = 12;
    /// Raw IP (`DLT_RAW` = 14 on OpenBSD).
    pub const RAW_14: LinkType = 14;
    /// Raw IPv4 or IPv6, version taken from the first nibble.
    pub const RAW: LinkType = 101;
    /// OpenBSD loopback: 4-byte address family in network byte order.
    pub const LOOP: LinkType = 108;
    /// Linux "cooked" capture, version 1 (16-byte header).
    pub const LINUX_SLL: LinkType = 113;
    /// Raw IPv4.
    pub const IPV4: LinkType = 228;
    /// Raw IPv6.
    pub const IPV6: LinkType = 229;
    /// Linux "cooked" capture, version 2 (20-byte header).
    pub const LINUX_SLL2: LinkType = 276;
}

/// One captured packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// 1-based position of the packet in the file.
    pub number: u64,
    /// Capture time since the Unix epoch (UTC). Zero for pcapng simple packet blocks.
    pub timestamp: Duration,
    /// Link-layer header type of the packet's interface.
    pub linktype: LinkType,
    /// The captured bytes (possibly fewer than were on the wire).
    pub data: Vec<u8>,
    /// Length of the packet on the wire.
    pub orig_len: u32,
}

/// Why a capture file could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The file could not be opened or read.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The file does not start with a pcap or pcapng magic number.
    #[error("not a pcap or pcapng file ({0})")]
    NotACapture(String),
    /// The file header was recognised but is invalid.
    #[error("bad capture file header: {0}")]
    BadHeader(String),
    /// The file ends in the middle of a record.
    #[error("capture file truncated: record {record} is incomplete")]
    Truncated {
        /// 1-based number of the record (packet or pcapng block) that was cut off.
        record: u64,
    },
    /// A record is malformed; reading cannot go on past it.
    #[error("capture file corrupt at record {record}: {reason}")]
    Corrupt {
        /// 1-based number of the record (packet or pcapng block).
        record: u64,
        /// What was wrong.
        reason: String,
    },
}

/// Per-interface facts a pcapng packet block needs.
#[derive(Debug, Clone, Copy)]
struct Interface {
    linktype: LinkType,
    /// `if_tsresol`: bit 7 clear = 10^-n seconds, set = 2^-n seconds.
    tsresol: u8,
    /// `if_tsoffset` in seconds.
    tsoffset: u64,
}

/// The byte source: the file (or standard input) with its first four bytes, already read to
/// recognise the format, put back in front.
type Source = std::io::Chain<Cursor<Vec<u8>>, Box<dyn Read>>;

enum Inner {
    Pcap {
        reader: PcapReader<Source>,
        linktype: LinkType,
        ts: TsResolution,
    },
    PcapNg {
        reader: PcapNgReader<Source>,
        interfaces: Vec<Interface>,
    },
}

/// A reader of pcap or pcapng files that yields [`Frame`]s.
///
/// Iteration stops after the first error: a truncated or corrupt file cannot be resynchronised.
pub struct CaptureReader {
    inner: Inner,
    /// Records (packets or blocks) read so far.
    records: u64,
    /// Packets yielded so far.
    packets: u64,
    done: bool,
}

/// Magic numbers of classic pcap files, as the first four bytes appear in the file.
const PCAP_MAGICS: [[u8; 4]; 4] = [
    [0xd4, 0xc3, 0xb2, 0xa1], // microseconds, little-endian
    [0xa1, 0xb2, 0xc3, 0xd4], // microseconds, big-endian
    [0x4d, 0x3c, 0xb2, 0xa1], // nanoseconds, little-endian
    [0xa1, 0xb2, 0x3c, 0x4d], // nanoseconds, big-endian
];
/// The pcapng section header block type, the same in both byte orders.
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

fn header_error(e: PcapError) -> CaptureError {
    match e {
        PcapError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            CaptureError::BadHeader("file ends inside the file header".into())
        }
        PcapError::IoError(e) => CaptureError::Io(e),
        other => CaptureError::BadHeader(other.to_string()),
    }
}

impl CaptureReader {
    /// Open `path` (`-` for standard input) and read its file header.
    pub fn open(path: &Path) -> Result<CaptureReader, CaptureError> {
        let mut input: Box<dyn Read> = if path.as_os_str() == "-" {
            Box::new(std::io::stdin())
        } else {
            Box::new(File::open(path)?)
        };
        let mut magic = Vec::with_capacity(4);
        (&mut input).take(4).read_to_end(&mut magic)?;
        let Ok(m) = <[u8; 4]>::try_from(&magic[..]) else {
            return Err(CaptureError::NotACapture(format!(
                "file is only {} bytes long",
                magic.len()
            )));
        };
        // Put the magic back in front so that the readers see the stream from its first byte;
        // this works for pipes, where seeking back does not.
        let source: Source = Cursor::new(magic).chain(input);
        let inner = if PCAP_MAGICS.contains(&m) {
            let reader = PcapReader::new(source).map_err(header_error)?;
            let header = reader.header();
            Inner::Pcap {
                linktype: u32::from(header.datalink),
                ts: header.ts_resolution,
                reader,
            }
        } else if m == PCAPNG_MAGIC {
            let reader = PcapNgReader::new(source).map_err(header_error)?;
            Inner::PcapNg {
                reader,
                interfaces: Vec::new(),
            }
        } else {
            return Err(CaptureError::NotACapture(format!(
                "magic number {:02x}{:02x}{:02x}{:02x}",
                m[0], m[1], m[2], m[3]
            )));
        };
        Ok(CaptureReader {
            inner,
            records: 0,
            packets: 0,
            done: false,
        })
    }

    /// The link type of a classic pcap file (`None` for pcapng, where it is per interface).
    pub fn file_linktype(&self) -> Option<LinkType> {
        match &self.inner {
            Inner::Pcap { linktype, .. } => Some(*linktype),
            Inner::PcapNg { .. } => None,
        }
    }

    fn record_error(&self, e: PcapError) -> CaptureError {
        let record = self.records + 1;
        match e {
            PcapError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                CaptureError::Truncated { record }
            }
            PcapError::IncompleteBuffer => CaptureError::Truncated { record },
            PcapError::IoError(e) => CaptureError::Io(e),
            other => CaptureError::Corrupt {
                record,
                reason: other.to_string(),
            },
        }
    }

    fn next_frame(&mut self) -> Option<Result<Frame, CaptureError>> {
        loop {
            match &mut self.inner {
                Inner::Pcap {
                    reader,
                    linktype,
                    ts,
                } => {
                    let raw = match reader.next_raw_packet()? {
                        Ok(raw) => raw,
                        Err(e) => return Some(Err(self.record_error(e))),
                    };
                    self.records += 1;
                    let frac = u64::from(raw.ts_frac);
                    let nanos = match ts {
                        TsResolution::MicroSecond => frac * 1000,
                        TsResolution::NanoSecond => frac,
                    };
                    // Out-of-range fractions are carried into the seconds rather than rejected.
                    let timestamp = Duration::from_secs(u64::from(raw.ts_sec))
                        .saturating_add(Duration::from_nanos(nanos));
                    self.packets += 1;
                    return Some(Ok(Frame {
                        number: self.packets,
                        timestamp,
                        linktype: *linktype,
                        data: raw.data.into_owned(),
                        orig_len: raw.orig_len,
                    }));
                }
                Inner::PcapNg { reader, interfaces } => {
                    let block = match reader.next_block()? {
                        Ok(block) => block,
                        Err(e) => {
                            let err = match e {
                                PcapError::IoError(e)
                                    if e.kind() == std::io::ErrorKind::UnexpectedEof =>
                                {
                                    CaptureError::Truncated {
                                        record: self.records + 1,
                                    }
                                }
                                PcapError::IoError(e) => CaptureError::Io(e),
                                other => CaptureError::Corrupt {
                                    record: self.records + 1,
                                    reason: other.to_string(),
                                },
                            };
                            return Some(Err(err));
                        }
                    };
                    self.records += 1;
                    let record = self.records;
                    let lookup = |interfaces: &Vec<Interface>, id: u32| {
                        interfaces
                            .get(id as usize)
                            .copied()
                            .ok_or_else(|| CaptureError::Corrupt {
                                record,
                                reason: format!("packet on undeclared interface {id}"),
                            })
                    };
                    match block {
                        Block::SectionHeader(_) => interfaces.clear(),
                        Block::InterfaceDescription(idb) => {
                            let mut iface = Interface {
                                linktype: u32::from(idb.linktype),
                                tsresol: 6,
                                tsoffset: 0,
                            };
                            for opt in &idb.options {
                                match opt {
                                    InterfaceDescriptionOption::IfTsResol(r) => iface.tsresol = *r,
                                    InterfaceDescriptionOption::IfTsOffset(o) => {
                                        iface.tsoffset = *o
                                    }
                                    _ => {}
                                }
                            }
                            interfaces.push(iface);
                        }
                        Block::EnhancedPacket(epb) => {
                            let iface = match lookup(interfaces, epb.interface_id) {
                                Ok(i) => i,
                                Err(e) => return Some(Err(e)),
                            };
                            // pcap-file built the Duration as if the units were nanoseconds.
                            let units = u64::try_from(epb.timestamp.as_nanos()).unwrap_or(u64::MAX);
                            self.packets += 1;
                            return Some(Ok(Frame {
                                number: self.packets,
                                timestamp: scale_timestamp(units, iface.tsresol, iface.tsoffset),
                                linktype: iface.linktype,
                                orig_len: epb.original_len,
                                data: epb.data.into_owned(),
                            }));
                        }
                        Block::Packet(pb) => {
                            let iface = match lookup(interfaces, u32::from(pb.interface_id)) {
                                Ok(i) => i,
                                Err(e) => return Some(Err(e)),
                            };
                            self.packets += 1;
                            return Some(Ok(Frame {
                                number: self.packets,
                                timestamp: scale_timestamp(
                                    pb.timestamp,
                                    iface.tsresol,
                                    iface.tsoffset,
                                ),
                                linktype: iface.linktype,
                                orig_len: pb.original_len,
                                data: pb.data.into_owned(),
                            }));
                        }
                        Block::SimplePacket(spb) => {
                            let iface = match lookup(interfaces, 0) {
                                Ok(i) => i,
                                Err(e) => return Some(Err(e)),
                            };
                            self.packets += 1;
                            return Some(Ok(Frame {
                                number: self.packets,
                                timestamp: Duration::ZERO,
                                linktype: iface.linktype,
                                orig_len: spb.original_len,
                                data: spb.data.into_owned(),
                            }));
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

impl Iterator for CaptureReader {
    type Item = Result<Frame, CaptureError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.next_frame();
        if matches!(item, None | Some(Err(_))) {
            self.done = true;
        }
        item
    }
}

/// Convert a pcapng timestamp of `units` ticks at resolution `tsresol` (plus `offset` seconds)
/// into a [`Duration`] since the epoch. Saturates instead of overflowing.
pub fn scale_timestamp(units: u64, tsresol: u8, offset: u64) -> Duration {
    let exp = u32::from(tsresol & 0x7f);
    let per_sec: u128 = if tsresol & 0x80 == 0 {
        10u128.checked_pow(exp).unwrap_or(u128::MAX)
    } else {
        2u128.checked_pow(exp).unwrap_or(u128::MAX)
    };
    let units = u128::from(units);
    let secs = units / per_sec;
    let rem = units % per_sec;
    let nanos = rem.saturating_mul(1_000_000_000) / per_sec;
    let secs = u64::try_from(secs)
        .unwrap_or(u64::MAX)
        .saturating_add(offset);
    // `nanos` < 1e9 because rem < per_sec.
    Duration::new(secs, u32::try_from(nanos).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcapng_timestamp_resolutions() {
        assert_eq!(
            scale_timestamp(1_500_000, 6, 0),
            Duration::new(1, 500_000_000)
        );
        assert_eq!(
            scale_timestamp(1_500_000_000, 9, 0),
            Duration::new(1, 500_000_000)
        );
        assert_eq!(scale_timestamp(3, 0x81, 10), Duration::new(11, 500_000_000));
        assert_eq!(scale_timestamp(5, 0, 0), Duration::from_secs(5));
        // Absurd resolutions do not panic.
        let _ = scale_timestamp(u64::MAX, 0x7f, u64::MAX);
        let _ = scale_timestamp(u64::MAX, 0xff, 0);
    }
}
