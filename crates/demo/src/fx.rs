//! The seed's first Bumper.jl example, `f(x) = sum(x .+ 1)` over 30 integers with the temporary
//! `x .+ 1` in a bump buffer, four ways: an explicit fixed buffer, an explicit slab buffer, the
//! thread's default buffer, and a plain heap `Vec` for comparison.

use std::hint::black_box;
use std::time::Instant;

use bumper::{AllocBuffer, Buffer, SlabBuffer};

use crate::alloc_stack::{thread_counts, Counts};
use crate::measure::median;
use crate::report::{FxReport, FxRow};

/// `f(x)` with the temporary in a scope of an explicit buffer.
#[inline(never)]
pub fn f_explicit(x: &[i64], buf: &mut impl Buffer) -> i64 {
    buf.no_escape(|s| {
        let y = s.alloc_slice_from_iter(x.iter().map(|v| v + 1));
        y.iter().sum()
    })
}

/// `f(x)` with the temporary in a scope of the thread's default buffer.
#[inline(never)]
pub fn f_default(x: &[i64]) -> i64 {
    bumper::no_escape(|s| {
        let y = s.alloc_slice_from_iter(x.iter().map(|v| v + 1));
        y.iter().sum()
    })
}

/// `g(x)`: the same with a heap temporary.
#[inline(never)]
pub fn g_heap(x: &[i64]) -> i64 {
    let y: Vec<i64> = x.iter().map(|v| v + 1).collect();
    y.iter().sum()
}

/// Sizes of the measurement.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Samples per variant.
    pub samples: usize,
    /// Calls per sample.
    pub calls_per_sample: u32,
}

/// Timings and allocator calls of one variant.
struct Variant {
    name: &'static str,
    ns_per_call: Vec<f64>,
    counts: Counts,
}

impl Variant {
    fn new(name: &'static str, samples: usize) -> Self {
        Variant {
            name,
            ns_per_call: Vec::with_capacity(samples),
            counts: Counts::default(),
        }
    }

    /// Times `calls` calls of `f` and counts their allocator calls.
    fn sample(&mut self, calls: u32, x: &[i64], mut f: impl FnMut(&[i64]) -> i64) {
        let before = thread_counts();
        let start = Instant::now();
        for _ in 0..calls {
            black_box(f(black_box(x)));
        }
        let elapsed = start.elapsed();
        self.counts += thread_counts() - before;
        self.ns_per_call
            .push(elapsed.as_secs_f64() * 1e9 / f64::from(calls));
    }
}

/// The 30 integers.
pub fn input() -> Vec<i64> {
    (0..30).map(|i| (i * 7 + 3) % 10 + 1).collect()
}

/// Measures the four variants, samples interleaved.
pub fn measure(config: &Config) -> FxReport {
    let x = input();
    let expected: i64 = x.iter().map(|v| v + 1).sum();

    let mut fixed = AllocBuffer::new();
    let mut slab = SlabBuffer::new();
    // Every variant computes the same thing (and this warms them up).
    for _ in 0..1000 {
        assert_eq!(f_explicit(&x, &mut fixed), expected);
        assert_eq!(f_explicit(&x, &mut slab), expected);
        assert_eq!(f_default(&x), expected);
        assert_eq!(g_heap(&x), expected);
    }

    let n = config.samples;
    let mut variants = [
        Variant::new("AllocBuffer (explicit)", n),
        Variant::new("SlabBuffer (explicit)", n),
        Variant::new("default buffer", n),
        Variant::new("heap Vec", n),
    ];
    let calls = config.calls_per_sample;
    // Samples alternate between the variants so drift of the machine hits all alike.
    for _ in 0..n {
        variants[0].sample(calls, &x, |x| f_explicit(x, &mut fixed));
        variants[1].sample(calls, &x, |x| f_explicit(x, &mut slab));
        variants[2].sample(calls, &x, f_default);
        variants[3].sample(calls, &x, g_heap);
    }
    let total_calls = n as f64 * f64::from(calls);
    let heap = median(&variants[3].ns_per_call);
    FxReport {
        header: format!(
            "`f(x) = sum(x .+ 1)` over {} integers (= {expected}), the temporary in a bump \
             buffer scope; system allocator; median of {n} samples of {calls} calls each, samples \
             interleaved.",
            x.len()
        ),
        rows: variants
            .iter()
            .map(|v| {
                let ns = median(&v.ns_per_call);
                FxRow {
                    variant: v.name.to_string(),
                    ns_per_call: ns,
                    vs_heap: ns / heap,
                    allocs_per_call: v.counts.allocating() as f64 / total_calls,
                    bytes_per_call: v.counts.bytes as f64 / total_calls,
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_four_agree() {
        let x = input();
        let mut fixed = AllocBuffer::new();
        let mut slab = SlabBuffer::new();
        let expected = g_heap(&x);
        assert_eq!(f_explicit(&x, &mut fixed), expected);
        assert_eq!(f_explicit(&x, &mut slab), expected);
        assert_eq!(f_default(&x), expected);
        let report = measure(&Config {
            samples: 3,
            calls_per_sample: 10,
        });
        assert_eq!(report.rows.len(), 4);
        assert_eq!(report.rows[3].vs_heap, 1.0);
    }
}
