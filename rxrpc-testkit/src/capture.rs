//! Packet capture on `lo` with tcpdump, for tests that must check what actually went on the
//! wire, and a small reader for the resulting pcap files.

use std::fs;
use std::io::{self, BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::probe::RxHeader;

/// A running `tcpdump -i lo` that records the UDP datagrams to or from some ports into a pcap
/// file.
///
/// ```no_run
/// # use rxrpc_testkit::{Capture, rx_version_probe};
/// let mut cap = Capture::start(&[7002]).unwrap();
/// rx_version_probe("127.0.0.1:7002".parse().unwrap()).unwrap();
/// let datagrams = cap.stop().unwrap();
/// assert!(datagrams.iter().any(|d| d.dst.port() == 7002));
/// ```
///
/// Filter on a port only your test uses (e.g. the local port of your own socket) when you need
/// to see *all* of its traffic and nothing else: a server's well-known port is shared with
/// other tests running at the same time. [`Capture::stats`] tells whether tcpdump kept up.
///
/// Needs root (or CAP_NET_RAW) and `/usr/bin/tcpdump`. The pcap file lives in the temp
/// directory and is deleted when the `Capture` is dropped, unless the environment variable
/// `RXRPC_KEEP_CAPTURES=1` is set or [`Capture::persist`] is called. Dropping a running capture
/// kills tcpdump.
#[derive(Debug)]
pub struct Capture {
    child: Option<Child>,
    path: PathBuf,
    filter: String,
    stderr: Arc<Mutex<String>>,
    reader: Option<thread::JoinHandle<()>>,
    keep: bool,
}

/// tcpdump's own counters, printed when it exits (see [`Capture::stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureStats {
    /// "N packets captured": written to the file.
    pub captured: u64,
    /// "N packets received by filter": copies that matched the filter, including any still
    /// unread in the kernel's buffer when tcpdump stopped. On `lo` the kernel counts every
    /// packet twice (its outgoing and its incoming copy; libpcap keeps only the incoming one),
    /// so a complete capture on `lo` has `received_by_filter == 2 * captured`.
    pub received_by_filter: u64,
    /// "N packets dropped by kernel": lost because the capture buffer overflowed.
    pub dropped_by_kernel: u64,
}

impl CaptureStats {
    /// Whether the file holds every packet that matched the filter, for a capture on `lo` (as
    /// [`Capture`] makes): nothing was dropped by the kernel and nothing was left unread when
    /// tcpdump stopped (`received_by_filter <= 2 * captured`, see that field).
    pub fn is_complete(&self) -> bool {
        self.dropped_by_kernel == 0 && self.received_by_filter <= self.captured.saturating_mul(2)
    }

    /// Parse tcpdump's exit summary out of its stderr; `None` if it is not there.
    pub fn parse(stderr: &str) -> Option<CaptureStats> {
        let count = |suffix: &str| {
            stderr
                .lines()
                .find_map(|l| l.trim().strip_suffix(suffix)?.trim().parse::<u64>().ok())
        };
        Some(CaptureStats {
            captured: count(" packets captured").or_else(|| count(" packet captured"))?,
            received_by_filter: count(" packets received by filter")
                .or_else(|| count(" packet received by filter"))?,
            dropped_by_kernel: count(" packets dropped by kernel")
                .or_else(|| count(" packet dropped by kernel"))?,
        })
    }
}

static CAPTURE_COUNTER: AtomicU32 = AtomicU32::new(0);

impl Capture {
    /// Start capturing UDP traffic on `lo` to or from any of `ports` (all UDP if empty), and
    /// return once tcpdump reports that it is listening.
    pub fn start(ports: &[u16]) -> io::Result<Capture> {
        let mut filter = String::from("udp");
        if !ports.is_empty() {
            let alts: Vec<String> = ports.iter().map(|p| format!("port {p}")).collect();
            filter = format!("udp and ({})", alts.join(" or "));
        }
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "rxrpc-capture-{}-{}-{}.pcap",
            std::process::id(),
            CAPTURE_COUNTER.fetch_add(1, Ordering::Relaxed),
            nanos % 1_000_000_000
        ));
        let mut child = Command::new("tcpdump")
            .args(["-i", "lo", "--immediate-mode", "-U", "-n", "-s", "0", "-w"])
            .arg(&path)
            .arg(&filter)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot start tcpdump: {e}")))?;
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let reader = {
            let pipe = child.stderr.take().expect("stderr is piped");
            let stderr = Arc::clone(&stderr);
            thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    if line.contains("listening on") {
                        let _ = tx.send(());
                    }
                    if let Ok(mut s) = stderr.lock() {
                        s.push_str(&line);
                        s.push('\n');
                    }
                }
            })
        };
        let keep = std::env::var("RXRPC_KEEP_CAPTURES").is_ok_and(|v| v == "1");
        let mut cap = Capture {
            child: Some(child),
            path,
            filter,
            stderr,
            reader: Some(reader),
            keep,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(()) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // stderr closed: tcpdump exited before listening.
                    thread::sleep(Duration::from_millis(50));
                    let why = cap.stderr_text();
                    cap.kill();
                    return Err(io::Error::other(format!("tcpdump failed to start: {why}")));
                }
            }
            if let Some(c) = cap.child.as_mut()
                && let Some(status) = c.try_wait()?
            {
                let why = cap.stderr_text();
                cap.child = None;
                return Err(io::Error::other(format!(
                    "tcpdump exited ({status}): {why}"
                )));
            }
            if Instant::now() >= deadline {
                let why = cap.stderr_text();
                cap.kill();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("tcpdump not listening after 10 s: {why}"),
                ));
            }
        }
        // The filter is attached once "listening on" is printed; give it a moment anyway.
        thread::sleep(Duration::from_millis(100));
        Ok(cap)
    }

    /// The pcap file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The BPF filter tcpdump was given.
    pub fn filter(&self) -> &str {
        &self.filter
    }

    /// What tcpdump printed on stderr so far.
    pub fn stderr_text(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// tcpdump's counters from its exit summary, once [`Self::stop`] has run (`None` before,
    /// or if it printed none). Check [`CaptureStats::is_complete`] before asserting that the
    /// capture shows *every* packet: bursts on `lo` can overrun tcpdump's buffer.
    pub fn stats(&self) -> Option<CaptureStats> {
        CaptureStats::parse(&self.stderr_text())
    }

    /// Stop tcpdump and return every UDP datagram in the file. Calling it again just re-reads
    /// the file.
    ///
    /// Before signalling tcpdump it waits until the file has stopped growing for 300 ms (at most
    /// 10 s), so packets still queued in the kernel's capture buffer of a busy machine get
    /// written rather than lost. After it returns, [`Self::stderr_text`] and [`Self::stats`]
    /// include tcpdump's exit summary.
    pub fn stop(&mut self) -> io::Result<Vec<CapturedDatagram>> {
        if let Some(mut child) = self.child.take() {
            self.wait_until_quiet(Duration::from_millis(300), Duration::from_secs(10));
            // SIGTERM lets tcpdump flush, close the file and print its counters; no libc needed.
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while child.try_wait()?.is_none() {
                if Instant::now() >= deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                thread::sleep(Duration::from_millis(20));
            }
            // tcpdump has exited, so its stderr is closed and the reader finishes.
            if let Some(r) = self.reader.take() {
                let _ = r.join();
            }
        }
        read_pcap_udp(&self.path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("{e} (tcpdump said: {})", self.stderr_text()),
            )
        })
    }

    /// Wait until the pcap file's size has not changed for `quiet`, or `max` has passed.
    fn wait_until_quiet(&self, quiet: Duration, max: Duration) {
        let size = || fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        let start = Instant::now();
        let mut last = size();
        let mut since = Instant::now();
        while start.elapsed() < max {
            thread::sleep(Duration::from_millis(50));
            let now = size();
            if now != last {
                last = now;
                since = Instant::now();
            } else if since.elapsed() >= quiet {
                return;
            }
        }
    }

    /// Stop the capture and keep the pcap file; returns its path.
    pub fn persist(mut self) -> io::Result<PathBuf> {
        self.stop()?;
        self.keep = true;
        Ok(self.path.clone())
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.kill();
        if self.keep {
            let _ = writeln_stderr(&format!(
                "rxrpc-testkit: capture kept at {}",
                self.path.display()
            ));
        } else {
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn writeln_stderr(s: &str) -> io::Result<()> {
    use std::io::Write;
    writeln!(io::stderr(), "{s}")
}

/// One UDP datagram read from a pcap file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedDatagram {
    /// Capture time since the Unix epoch.
    pub timestamp: Duration,
    /// Source address and port.
    pub src: SocketAddr,
    /// Destination address and port.
    pub dst: SocketAddr,
    /// The UDP payload (an Rx packet, for Rx traffic).
    pub payload: Vec<u8>,
}

impl CapturedDatagram {
    /// The payload's Rx header, if it is at least 28 bytes long.
    pub fn rx_header(&self) -> Option<RxHeader> {
        RxHeader::parse(&self.payload)
    }
}

/// Read every UDP-over-IPv4/IPv6 datagram from a classic pcap file (microsecond or nanosecond,
/// either byte order; link types Ethernet, BSD loopback, raw IP, Linux cooked v1/v2).
/// Non-UDP packets, IP fragments and truncated packets are skipped. pcapng is not supported.
pub fn read_pcap_udp(path: &Path) -> io::Result<Vec<CapturedDatagram>> {
    let data = fs::read(path)?;
    parse_pcap_udp(&data).map_err(|why| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {why}", path.display()),
        )
    })
}

fn parse_pcap_udp(data: &[u8]) -> Result<Vec<CapturedDatagram>, String> {
    if data.len() < 24 {
        return Err(format!("not a pcap file ({} bytes)", data.len()));
    }
    let magic = [data[0], data[1], data[2], data[3]];
    let (big, nanos) = match magic {
        [0xa1, 0xb2, 0xc3, 0xd4] => (true, false),
        [0xd4, 0xc3, 0xb2, 0xa1] => (false, false),
        [0xa1, 0xb2, 0x3c, 0x4d] => (true, true),
        [0x4d, 0x3c, 0xb2, 0xa1] => (false, true),
        [0x0a, 0x0d, 0x0d, 0x0a] => return Err("pcapng is not supported".into()),
        _ => return Err(format!("bad pcap magic {magic:02x?}")),
    };
    let u32_at = |d: &[u8], i: usize| {
        let b = [d[i], d[i + 1], d[i + 2], d[i + 3]];
        if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    };
    let linktype = u32_at(data, 20) & 0x0fff_ffff;
    let mut out = Vec::new();
    let mut off = 24;
    while off + 16 <= data.len() {
        let sec = u32_at(data, off);
        let frac = u32_at(data, off + 4);
        let incl = u32_at(data, off + 8) as usize;
        off += 16;
        let Some(frame) = data.get(off..off + incl) else {
            break; // truncated file (e.g. tcpdump killed mid-write)
        };
        off += incl;
        let frac_ns = if nanos {
            frac
        } else {
            frac.saturating_mul(1000)
        };
        let timestamp = Duration::new(u64::from(sec), frac_ns.min(999_999_999));
        if let Some(ip) = link_payload(linktype, frame)
            && let Some((src, dst, payload)) = udp_of_ip(ip)
        {
            out.push(CapturedDatagram {
                timestamp,
                src,
                dst,
                payload: payload.to_vec(),
            });
        }
    }
    Ok(out)
}

/// The IP packet inside a link-layer frame.
fn link_payload(linktype: u32, f: &[u8]) -> Option<&[u8]> {
    match linktype {
        // Ethernet (what `-i lo` gives on Linux), skipping 802.1Q tags.
        1 => {
            let mut off = 12;
            loop {
                let et = u16::from_be_bytes([*f.get(off)?, *f.get(off + 1)?]);
                if et == 0x8100 || et == 0x88a8 {
                    off += 4;
                    continue;
                }
                return (et == 0x0800 || et == 0x86dd)
                    .then(|| f.get(off + 2..))
                    .flatten();
            }
        }
        // BSD loopback / OpenBSD loop: 4-byte address family.
        0 | 108 => f.get(4..),
        // Raw IP.
        101 | 12 | 14 => Some(f),
        // Linux cooked capture v1 (16-byte header) and v2 (20 bytes).
        113 => f.get(16..),
        276 => f.get(20..),
        _ => None,
    }
}

fn udp_of_ip(ip: &[u8]) -> Option<(SocketAddr, SocketAddr, &[u8])> {
    let version = ip.first()? >> 4;
    let (src_ip, dst_ip, udp): (IpAddr, IpAddr, &[u8]) = match version {
        4 => {
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            if ihl < 20 || ip.len() < ihl || ip[9] != 17 {
                return None;
            }
            let frag = u16::from_be_bytes([ip[6], ip[7]]);
            if frag & 0x3fff != 0 {
                return None; // a fragment
            }
            let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
            let end = total.clamp(ihl, ip.len());
            let s = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
            let d = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
            (s.into(), d.into(), &ip[ihl..end])
        }
        6 => {
            if ip.len() < 40 || ip[6] != 17 {
                return None; // extension headers are not followed
            }
            let plen = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
            let end = (40 + plen).min(ip.len());
            let s: [u8; 16] = ip[8..24].try_into().ok()?;
            let d: [u8; 16] = ip[24..40].try_into().ok()?;
            (
                Ipv6Addr::from(s).into(),
                Ipv6Addr::from(d).into(),
                &ip[40..end],
            )
        }
        _ => return None,
    };
    if udp.len() < 8 {
        return None;
    }
    let sport = u16::from_be_bytes([udp[0], udp[1]]);
    let dport = u16::from_be_bytes([udp[2], udp[3]]);
    let ulen = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
    if ulen < 8 || ulen > udp.len() {
        return None; // truncated by the snap length
    }
    Some((
        SocketAddr::new(src_ip, sport),
        SocketAddr::new(dst_ip, dport),
        &udp[8..ulen],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        let total = 20 + 8 + payload.len();
        let mut ip = vec![
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0x40,
            0,
            64,
            17,
            0,
            0,
        ];
        ip.extend_from_slice(&[127, 0, 0, 1, 127, 0, 0, 2]);
        f.extend_from_slice(&ip);
        let ulen = 8 + payload.len();
        f.extend_from_slice(&[0x1b, 0x5a, 0x1b, 0x59, (ulen >> 8) as u8, ulen as u8, 0, 0]);
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn reads_little_endian_ethernet_pcap() {
        let mut d = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        d.extend_from_slice(&[0; 8]);
        d.extend_from_slice(&65535u32.to_le_bytes());
        d.extend_from_slice(&1u32.to_le_bytes());
        let f = frame(b"hello");
        d.extend_from_slice(&10u32.to_le_bytes());
        d.extend_from_slice(&500u32.to_le_bytes());
        d.extend_from_slice(&(f.len() as u32).to_le_bytes());
        d.extend_from_slice(&(f.len() as u32).to_le_bytes());
        d.extend_from_slice(&f);
        let got = parse_pcap_udp(&d).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].src, "127.0.0.1:7002".parse().unwrap());
        assert_eq!(got[0].dst, "127.0.0.2:7001".parse().unwrap());
        assert_eq!(got[0].payload, b"hello");
        assert_eq!(got[0].timestamp, Duration::new(10, 500_000));
    }

    #[test]
    fn parses_tcpdump_summary() {
        let text = "tcpdump: listening on lo, link-type EN10MB (Ethernet), snapshot length 262144 bytes\n\
                    1 packet captured\n107 packets received by filter\n0 packets dropped by kernel\n";
        let st = CaptureStats::parse(text).unwrap();
        assert_eq!(
            (st.captured, st.received_by_filter, st.dropped_by_kernel),
            (1, 107, 0)
        );
        assert!(!st.is_complete());
        let ok = CaptureStats {
            captured: 5,
            received_by_filter: 5,
            dropped_by_kernel: 0,
        };
        assert!(ok.is_complete());
        assert_eq!(CaptureStats::parse("tcpdump: listening on lo"), None);
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_pcap_udp(b"not a pcap file at all, really").is_err());
        assert!(
            parse_pcap_udp(&[
                0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
            ])
            .is_err()
        );
    }
}
