//! Lock-free latency histogram and the per-message delivery slots shared by every
//! subscriber task.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Sub-buckets per power of two: values are kept to within 1/64 (about 1.6 %).
const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;
/// Values above 2^40 µs (12 days) are clamped.
const MAX_EXP: u32 = 40;

/// Microsecond histogram with log-linear buckets, safe to record into from many tasks.
pub struct Histogram {
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum: AtomicU64,
    max: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        let len = ((MAX_EXP - SUB_BITS + 2) as u64 * SUB) as usize;
        Self {
            buckets: (0..len).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }
}

fn bucket_of(value: u64) -> usize {
    let value = value.min((1 << MAX_EXP) - 1);
    if value < SUB {
        return value as usize;
    }
    let exp = 63 - value.leading_zeros();
    let sub = (value >> (exp - SUB_BITS)) & (SUB - 1);
    ((exp - SUB_BITS + 1) as u64 * SUB + sub) as usize
}

/// The middle of a bucket's range.
fn value_of(bucket: usize) -> u64 {
    let bucket = bucket as u64;
    if bucket < SUB {
        return bucket;
    }
    let exp = (bucket / SUB) as u32 + SUB_BITS - 1;
    let low = (SUB + bucket % SUB) << (exp - SUB_BITS);
    low + (1u64 << (exp - SUB_BITS)) / 2
}

/// Percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Summary {
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Histogram {
    pub fn record(&self, micros: u64) {
        self.buckets[bucket_of(micros)].fetch_add(1, Relaxed);
        self.count.fetch_add(1, Relaxed);
        self.sum.fetch_add(micros, Relaxed);
        self.max.fetch_max(micros, Relaxed);
    }

    /// The smallest recorded value (bucket middle) with at least `q` of the values at or
    /// below it, in µs.
    fn quantile(&self, q: f64) -> u64 {
        let count = self.count.load(Relaxed);
        if count == 0 {
            return 0;
        }
        let rank = ((q * count as f64).ceil() as u64).clamp(1, count);
        let mut seen = 0;
        for (index, bucket) in self.buckets.iter().enumerate() {
            seen += bucket.load(Relaxed);
            if seen >= rank {
                return value_of(index).min(self.max.load(Relaxed));
            }
        }
        self.max.load(Relaxed)
    }

    pub fn summary(&self) -> Summary {
        let count = self.count.load(Relaxed);
        let ms = |us: u64| us as f64 / 1000.0;
        Summary {
            count,
            mean: if count == 0 { 0.0 } else { self.sum.load(Relaxed) as f64 / count as f64 / 1000.0 },
            p50: ms(self.quantile(0.50)),
            p90: ms(self.quantile(0.90)),
            p99: ms(self.quantile(0.99)),
            max: ms(self.max.load(Relaxed)),
        }
    }
}

/// Microseconds since the Unix epoch: the stamp carried in each message.
pub fn wall_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// What happened to each planned message, indexed by its sequence number.
pub struct Slots {
    pub sent_us: Vec<AtomicU64>,
    pub published: Vec<AtomicBool>,
    pub deliveries: Vec<AtomicU32>,
    pub last_delivery_us: Vec<AtomicU64>,
}

impl Slots {
    pub fn new(messages: usize) -> Self {
        Self {
            sent_us: (0..messages).map(|_| AtomicU64::new(0)).collect(),
            published: (0..messages).map(|_| AtomicBool::new(false)).collect(),
            deliveries: (0..messages).map(|_| AtomicU32::new(0)).collect(),
            last_delivery_us: (0..messages).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.sent_us.len()
    }

    pub fn delivered(&self, seq: usize, at_us: u64) {
        self.deliveries[seq].fetch_add(1, Relaxed);
        self.last_delivery_us[seq].fetch_max(at_us, Relaxed);
    }
}

/// Finds `t=<micros>` (at the start or after a non-alphanumeric byte) and `seq=<n>` in an
/// event's data: the stamp the publisher put in the message content.
pub fn parse_stamp(data: &[u8]) -> Option<(u64, u64)> {
    Some((number_after(data, b"t=")?, number_after(data, b"seq=")?))
}

fn number_after(data: &[u8], key: &[u8]) -> Option<u64> {
    let mut from = 0;
    while let Some(offset) = data[from..].windows(key.len()).position(|w| w == key) {
        let start = from + offset;
        let boundary = start == 0 || !data[start - 1].is_ascii_alphanumeric();
        let digits = &data[start + key.len()..];
        let len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
        if boundary && len > 0 {
            return std::str::from_utf8(&digits[..len]).ok()?.parse().ok();
        }
        from = start + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_round_trip_within_precision() {
        for value in [0u64, 1, 63, 64, 65, 1000, 12_345, 999_999, 123_456_789] {
            let back = value_of(bucket_of(value));
            let error = back.abs_diff(value) as f64 / value.max(1) as f64;
            assert!(error <= 1.0 / SUB as f64, "{value} -> {back}");
        }
        let h = Histogram::default();
        (1..=1000).for_each(|v| h.record(v * 1000));
        let s = h.summary();
        assert!((s.p50 - 500.0).abs() < 10.0 && (s.p99 - 990.0).abs() < 16.0, "{s:?}");
        assert_eq!(s.max, 1000.0);
    }

    #[test]
    fn stamps_are_found_in_json_and_plain_text() {
        assert_eq!(parse_stamp(b"t=17 seq=3"), Some((17, 3)));
        let json = br#"{"id":9,"content":"t=1764072000123456 seq=42","created_at":"2026"}"#;
        assert_eq!(parse_stamp(json), Some((1_764_072_000_123_456, 42)));
        assert_eq!(parse_stamp(b"at=5 t=6 seq=7"), Some((6, 7)));
        assert_eq!(parse_stamp(b"{\"hello\":1}"), None);
    }
}
