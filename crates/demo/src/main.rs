//! The seed's first example, `f(x) = sum(x .+ 1)` over 30 integers, four ways: an explicit
//! fixed buffer, an explicit slab buffer, the thread's default buffer, and a plain heap `Vec`.
//! Prints the median time per call and the system allocator calls per call.
//!
//! `cargo run --release -p allocarrays-demo`

mod counting;

use std::hint::black_box;
use std::time::Instant;

use bumper::{AllocBuffer, Buffer, SlabBuffer};

#[global_allocator]
static GLOBAL: counting::CountingAllocator = counting::CountingAllocator;

/// `f(x)` with the temporary in a scope of an explicit buffer.
#[inline(never)]
fn f_explicit(x: &[i64], buf: &mut impl Buffer) -> i64 {
    buf.no_escape(|s| {
        let y = s.alloc_slice_from_iter(x.iter().map(|v| v + 1));
        y.iter().sum()
    })
}

/// `f(x)` with the temporary in a scope of the thread's default buffer.
#[inline(never)]
fn f_default(x: &[i64]) -> i64 {
    bumper::no_escape(|s| {
        let y = s.alloc_slice_from_iter(x.iter().map(|v| v + 1));
        y.iter().sum()
    })
}

/// `g(x)`: the same with a heap temporary.
#[inline(never)]
fn g_heap(x: &[i64]) -> i64 {
    let y: Vec<i64> = x.iter().map(|v| v + 1).collect();
    y.iter().sum()
}

/// Timings and allocation counts of one variant.
struct Variant {
    name: &'static str,
    ns_per_call: Vec<f64>,
    allocs: u64,
    bytes: u64,
}

const CALLS_PER_SAMPLE: u32 = 10_000;
const SAMPLES: usize = 101;

impl Variant {
    fn new(name: &'static str) -> Self {
        Variant {
            name,
            ns_per_call: Vec::with_capacity(SAMPLES),
            allocs: 0,
            bytes: 0,
        }
    }

    /// Times `CALLS_PER_SAMPLE` calls of `f` and counts their allocations.
    fn sample(&mut self, x: &[i64], mut f: impl FnMut(&[i64]) -> i64) {
        let before = counting::counts();
        let start = Instant::now();
        for _ in 0..CALLS_PER_SAMPLE {
            black_box(f(black_box(x)));
        }
        let elapsed = start.elapsed();
        let after = counting::counts();
        self.ns_per_call
            .push(elapsed.as_secs_f64() * 1e9 / f64::from(CALLS_PER_SAMPLE));
        self.allocs += after.allocs - before.allocs;
        self.bytes += after.bytes - before.bytes;
    }
}

fn main() {
    let x: Vec<i64> = (0..30).map(|i| (i * 7 + 3) % 10 + 1).collect();
    let expected: i64 = x.iter().map(|v| v + 1).sum();

    let mut fixed = AllocBuffer::new();
    let mut slab: SlabBuffer = SlabBuffer::new();
    // Every variant computes the same thing (and this warms them up).
    for _ in 0..1000 {
        assert_eq!(f_explicit(&x, &mut fixed), expected);
        assert_eq!(f_explicit(&x, &mut slab), expected);
        assert_eq!(f_default(&x), expected);
        assert_eq!(g_heap(&x), expected);
    }

    let mut variants = [
        Variant::new("AllocBuffer (explicit)"),
        Variant::new("SlabBuffer (explicit)"),
        Variant::new("default buffer"),
        Variant::new("heap Vec"),
    ];
    // Samples alternate between the variants so drift of the machine hits all alike.
    for _ in 0..SAMPLES {
        variants[0].sample(&x, |x| f_explicit(x, &mut fixed));
        variants[1].sample(&x, |x| f_explicit(x, &mut slab));
        variants[2].sample(&x, f_default);
        variants[3].sample(&x, g_heap);
    }
    print_table(&x, expected, &mut variants);
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn print_table(x: &[i64], expected: i64, variants: &mut [Variant]) {
    let calls = (SAMPLES as f64) * f64::from(CALLS_PER_SAMPLE);
    let medians: Vec<f64> = variants
        .iter_mut()
        .map(|v| median(&mut v.ns_per_call))
        .collect();
    let heap = medians[variants
        .iter()
        .position(|v| v.name == "heap Vec")
        .expect("heap variant")];
    println!(
        "f(x) = sum(x .+ 1) over {} integers (= {expected})",
        x.len()
    );
    println!("median of {SAMPLES} samples of {CALLS_PER_SAMPLE} calls each, samples interleaved\n");
    println!("| variant                | ns/call | vs heap Vec | allocs/call | bytes/call |");
    println!("|------------------------|--------:|------------:|------------:|-----------:|");
    for (v, median) in variants.iter().zip(&medians) {
        println!(
            "| {:<22} | {:>7.2} | {:>10.2}x | {:>11.3} | {:>10.1} |",
            v.name,
            median,
            median / heap,
            v.allocs as f64 / calls,
            v.bytes as f64 / calls
        );
    }
}
