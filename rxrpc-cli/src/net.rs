//! From a captured frame to a UDP datagram: link layer, IPv4/IPv6, UDP.
//!
//! Layer: above [`crate::capture`], below Rx decoding. Supports Ethernet (with VLAN tags), Linux
//! cooked capture v1 and v2, raw IP (link types 12, 14, 101, 228, 229) and BSD/OpenBSD loopback.
//! IP and UDP are parsed with `etherparse` in its lax mode, so a datagram cut short by the
//! capture's snaplen still yields its addresses, ports and the bytes that were captured, with
//! [`UdpDatagram::truncated`] saying how much is missing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket, TransportSlice};

use crate::capture::{LinkType, linktype};

/// A UDP datagram found in a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpDatagram<'a> {
    /// Source address and port.
    pub src: SocketAddr,
    /// Destination address and port.
    pub dst: SocketAddr,
    /// The captured UDP payload (all of it unless [`Self::truncated`] is set).
    pub payload: &'a [u8],
    /// `Some(full_len)` when the capture holds only part of the payload: `full_len` is the
    /// payload length from the UDP (or IP) length field.
    pub truncated: Option<usize>,
}

/// What a frame turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extracted<'a> {
    /// A UDP datagram (possibly truncated by the capture).
    Udp(UdpDatagram<'a>),
    /// Not a UDP datagram, or not one that can be taken apart; the reason is for the summary.
    Other(Skip),
}

/// Why a frame was not handed on as a UDP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Skip {
    /// The link type is not one `rxdump` understands.
    UnsupportedLinkType,
    /// A link-layer header that is not (or not carrying) IPv4/IPv6.
    NotIp,
    /// IP, but not UDP.
    NotUdp,
    /// A fragment of a fragmented IP datagram (not reassembled).
    Fragment,
    /// The link or IP header is malformed or cut off before the UDP header.
    Malformed,
}

impl Skip {
    /// A short description for the summary line.
    pub fn describe(self) -> &'static str {
        match self {
            Skip::UnsupportedLinkType => "unsupported link type",
            Skip::NotIp => "not IP",
            Skip::NotUdp => "not UDP",
            Skip::Fragment => "IP fragment",
            Skip::Malformed => "malformed or truncated IP/UDP header",
        }
    }
}

/// Take `data`, captured on a link of type `lt`, apart down to UDP.
pub fn extract(lt: LinkType, data: &[u8]) -> Extracted<'_> {
    let sliced = match lt {
        linktype::ETHERNET => match LaxSlicedPacket::from_ethernet(data) {
            Ok(p) => p,
            Err(_) => return Extracted::Other(Skip::Malformed),
        },
        linktype::RAW | linktype::RAW_12 | linktype::RAW_14 | linktype::IPV4 | linktype::IPV6 => {
            return from_ip(data);
        }
        linktype::NULL | linktype::LOOP => {
            // A 4-byte address family whose byte order and value differ between systems (AF_INET
            // is 2 everywhere, AF_INET6 is 10, 24, 28 or 30); the IP version nibble is reliable.
            match data.get(4..) {
                Some(rest) => return from_ip(rest),
                None => return Extracted::Other(Skip::Malformed),
            }
        }
        linktype::LINUX_SLL => match (data.get(14..16), data.get(16..)) {
            (Some(proto), Some(rest)) => LaxSlicedPacket::from_ether_type(
                EtherType(u16::from_be_bytes([proto[0], proto[1]])),
                rest,
            ),
            _ => return Extracted::Other(Skip::Malformed),
        },
        linktype::LINUX_SLL2 => match (data.get(0..2), data.get(20..)) {
            (Some(proto), Some(rest)) => LaxSlicedPacket::from_ether_type(
                EtherType(u16::from_be_bytes([proto[0], proto[1]])),
                rest,
            ),
            _ => return Extracted::Other(Skip::Malformed),
        },
        _ => return Extracted::Other(Skip::UnsupportedLinkType),
    };
    from_sliced(sliced)
}

fn from_ip(data: &[u8]) -> Extracted<'_> {
    match data.first().map(|b| b >> 4) {
        Some(4 | 6) => match LaxSlicedPacket::from_ip(data) {
            Ok(p) => from_sliced(p),
            Err(_) => Extracted::Other(Skip::Malformed),
        },
        Some(_) => Extracted::Other(Skip::NotIp),
        None => Extracted::Other(Skip::Malformed),
    }
}

fn from_sliced(p: LaxSlicedPacket<'_>) -> Extracted<'_> {
    let (src_ip, dst_ip, ip_payload) = match &p.net {
        Some(LaxNetSlice::Ipv4(v4)) => {
            let h = v4.header();
            (
                IpAddr::V4(Ipv4Addr::from(h.source())),
                IpAddr::V4(Ipv4Addr::from(h.destination())),
                v4.payload(),
            )
        }
        Some(LaxNetSlice::Ipv6(v6)) => {
            let h = v6.header();
            (
                IpAddr::V6(Ipv6Addr::from(h.source())),
                IpAddr::V6(Ipv6Addr::from(h.destination())),
                v6.payload(),
            )
        }
        None => {
            return Extracted::Other(if p.stop_err.is_some() {
                Skip::Malformed
            } else {
                Skip::NotIp
            });
        }
    };
    if ip_payload.ip_number != etherparse::ip_number::UDP {
        return Extracted::Other(Skip::NotUdp);
    }
    if ip_payload.fragmented {
        return Extracted::Other(Skip::Fragment);
    }
    let udp = match &p.transport {
        Some(TransportSlice::Udp(udp)) => udp,
        _ => return Extracted::Other(Skip::Malformed),
    };
    let payload = udp.payload();
    // The UDP length field is authoritative; fall back to the IP payload length when it is
    // zero or nonsense (shorter than the UDP header).
    let udp_len = usize::from(udp.length());
    let want = if udp_len >= 8 {
        udp_len - 8
    } else {
        payload.len()
    };
    let truncated =
        (ip_payload.incomplete || want > payload.len()).then_some(want.max(payload.len()));
    Extracted::Udp(UdpDatagram {
        src: SocketAddr::new(src_ip, udp.source_port()),
        dst: SocketAddr::new(dst_ip, udp.destination_port()),
        payload,
        truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn ipv4_udp(payload: &[u8]) -> Vec<u8> {
        let b = PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).udp(7001, 7000);
        let mut out = Vec::new();
        b.write(&mut out, payload).unwrap();
        out
    }

    #[test]
    fn raw_ipv4_udp() {
        let pkt = ipv4_udp(b"hello");
        match extract(linktype::RAW, &pkt) {
            Extracted::Udp(d) => {
                assert_eq!(d.src, "10.0.0.1:7001".parse().unwrap());
                assert_eq!(d.dst, "10.0.0.2:7000".parse().unwrap());
                assert_eq!(d.payload, b"hello");
                assert_eq!(d.truncated, None);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn snaplen_truncated() {
        let pkt = ipv4_udp(&[7u8; 100]);
        match extract(linktype::RAW, &pkt[..60]) {
            Extracted::Udp(d) => {
                assert_eq!(d.payload.len(), 32);
                assert_eq!(d.truncated, Some(100));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn cooked_and_loopback() {
        let ip = ipv4_udp(b"x");
        let mut sll = vec![0u8; 16];
        sll[14..16].copy_from_slice(&0x0800u16.to_be_bytes());
        sll.extend_from_slice(&ip);
        assert!(matches!(
            extract(linktype::LINUX_SLL, &sll),
            Extracted::Udp(_)
        ));
        let mut sll2 = vec![0u8; 20];
        sll2[0..2].copy_from_slice(&0x0800u16.to_be_bytes());
        sll2.extend_from_slice(&ip);
        assert!(matches!(
            extract(linktype::LINUX_SLL2, &sll2),
            Extracted::Udp(_)
        ));
        let mut null = 2u32.to_le_bytes().to_vec();
        null.extend_from_slice(&ip);
        assert!(matches!(extract(linktype::NULL, &null), Extracted::Udp(_)));
    }

    #[test]
    fn ipv6_over_ethernet() {
        let b = PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv6([0xfe; 16], [0xfd; 16], 64)
            .udp(7003, 50000);
        let mut pkt = Vec::new();
        b.write(&mut pkt, b"rx").unwrap();
        match extract(linktype::ETHERNET, &pkt) {
            Extracted::Udp(d) => {
                assert!(d.src.is_ipv6() && d.src.port() == 7003 && d.dst.port() == 50000);
                assert_eq!(d.payload, b"rx");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn junk_does_not_panic() {
        for lt in [0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 999] {
            for len in 0..80 {
                let junk: Vec<u8> = (0..len).map(|i| (i * 37 + 0x45) as u8).collect();
                let _ = extract(lt, &junk);
            }
        }
        assert_eq!(
            extract(999, &[]),
            Extracted::Other(Skip::UnsupportedLinkType)
        );
    }
}
