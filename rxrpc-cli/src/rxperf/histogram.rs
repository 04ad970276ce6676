//! A small log-linear latency histogram (HDR-style): values in nanoseconds, exact below 1 µs,
//! then 128 sub-buckets per power of two, so every recorded value is known to within 1/128
//! (0.8 %). Min, max, count and sum are exact. Cheap to record into and to merge, so each
//! client task keeps its own and the report merges them.

use std::time::Duration;

/// Sub-buckets per power of two (7 bits of mantissa).
const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;
/// Values below this are counted exactly (one bucket per nanosecond).
const LINEAR: u64 = 1024;
const LINEAR_BITS: u32 = 10;
const BUCKETS: usize = LINEAR as usize + (64 - LINEAR_BITS as usize) * SUB as usize;

/// A latency histogram.
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    count: u64,
    sum_ns: u128,
    min_ns: u64,
    max_ns: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

fn index(v: u64) -> usize {
    if v < LINEAR {
        return v as usize;
    }
    let e = 63 - v.leading_zeros(); // >= LINEAR_BITS
    let sub = (v >> (e - SUB_BITS)) & (SUB - 1);
    LINEAR as usize + (e - LINEAR_BITS) as usize * SUB as usize + sub as usize
}

/// The smallest and largest value of bucket `i`.
fn bounds(i: usize) -> (u64, u64) {
    if i < LINEAR as usize {
        return (i as u64, i as u64);
    }
    let j = i - LINEAR as usize;
    let e = (j / SUB as usize) as u32 + LINEAR_BITS;
    let sub = (j % SUB as usize) as u64;
    let lo = (1u64 << e) | (sub << (e - SUB_BITS));
    let width = 1u64 << (e - SUB_BITS);
    (lo, lo.saturating_add(width - 1))
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            count: 0,
            sum_ns: 0,
            min_ns: u64::MAX,
            max_ns: 0,
        }
    }

    /// Record one duration.
    pub fn record(&mut self, d: Duration) {
        let v = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.counts[index(v)] += 1;
        self.count += 1;
        self.sum_ns += u128::from(v);
        self.min_ns = self.min_ns.min(v);
        self.max_ns = self.max_ns.max(v);
    }

    /// Add everything recorded in `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.count += other.count;
        self.sum_ns += other.sum_ns;
        self.min_ns = self.min_ns.min(other.min_ns);
        self.max_ns = self.max_ns.max(other.max_ns);
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The smallest value (zero if empty).
    pub fn min(&self) -> Duration {
        Duration::from_nanos(if self.count == 0 { 0 } else { self.min_ns })
    }

    /// The largest value.
    pub fn max(&self) -> Duration {
        Duration::from_nanos(self.max_ns)
    }

    /// The mean (zero if empty).
    pub fn mean(&self) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(u64::try_from(self.sum_ns / u128::from(self.count)).unwrap_or(0))
    }

    /// The value at percentile `p` (0..=100): the smallest recorded value such that at least
    /// `p` % of the values are at most it (nearest rank), to within the bucket precision; the
    /// midpoint of its bucket, clamped to the exact min and max.
    pub fn percentile(&self, p: f64) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * self.count as f64).ceil().max(1.0) as u64;
        let rank = rank.min(self.count);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if c > 0 && seen >= rank {
                let (lo, hi) = bounds(i);
                let mid = lo + (hi - lo) / 2;
                return Duration::from_nanos(mid.clamp(self.min_ns, self.max_ns));
            }
        }
        self.max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_and_order() {
        let mut last = 0;
        for v in [
            0u64,
            1,
            1023,
            1024,
            1025,
            2047,
            2048,
            5000,
            1 << 40,
            u64::MAX,
        ] {
            let i = index(v);
            assert!(i >= last, "{v}");
            last = i;
            let (lo, hi) = bounds(i);
            assert!(lo <= v && v <= hi, "{v} not in {lo}..={hi}");
            assert!(hi - lo <= v / 64, "{v}: bucket {lo}..={hi} too wide");
        }
        assert!(index(u64::MAX) < BUCKETS);
    }

    #[test]
    fn percentiles() {
        let mut h = Histogram::new();
        for us in 1..=1000u64 {
            h.record(Duration::from_micros(us));
        }
        let close = |d: Duration, us: u64| {
            let err = (d.as_nanos() as f64 - (us * 1000) as f64).abs() / (us * 1000) as f64;
            assert!(err < 0.01, "{d:?} vs {us} us");
        };
        close(h.percentile(50.0), 500);
        close(h.percentile(99.0), 990);
        assert_eq!(h.percentile(100.0), Duration::from_micros(1000));
        assert_eq!(h.percentile(0.0), Duration::from_micros(1));
        assert_eq!(h.min(), Duration::from_micros(1));
        assert_eq!(h.count(), 1000);
        close(h.mean(), 500);
        let mut g = Histogram::new();
        g.record(Duration::from_secs(1));
        h.merge(&g);
        assert_eq!(h.max(), Duration::from_secs(1));
        assert_eq!(h.count(), 1001);
        assert_eq!(Histogram::new().percentile(50.0), Duration::ZERO);
    }
}
