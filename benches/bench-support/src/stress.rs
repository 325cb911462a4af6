//! Helpers for the stress tests: how long to run, and a small deterministic generator.

use std::time::Duration;

/// How long each stress test runs: `STRESS_SECS` seconds (fractions allowed), 2 s by default,
/// so a plain `cargo test -- --ignored` stays short while `scripts/stress.sh` runs minutes.
///
/// ```
/// assert!(bench_support::stress::duration() > std::time::Duration::ZERO);
/// ```
#[must_use]
pub fn duration() -> Duration {
    let secs = std::env::var("STRESS_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .unwrap_or(2.0);
    Duration::from_secs_f64(secs)
}

/// xorshift64*: a small deterministic generator, one per thread (seed it with anything but 0).
///
/// ```
/// let mut a = bench_support::stress::Rng(7);
/// let mut b = bench_support::stress::Rng(7);
/// assert_eq!(a.next(), b.next());
/// assert!(a.below(10) < 10);
/// ```
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    /// The next value.
    #[allow(clippy::should_implement_trait)] // not an iterator: it never ends
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
