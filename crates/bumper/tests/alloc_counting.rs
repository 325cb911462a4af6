//! System allocator calls in steady-state scope loops, counted by a counting global allocator
//! installed in this test binary. The counters are per thread, so the tests can run in
//! parallel: each counts only what its own thread does.

use std::alloc::System;

use bench_support::counting::{counted, Counting};
use bumper::{AllocBuffer, Buffer, SlabBuffer};

/// Forwards to `System`, counting the calls each thread makes.
#[global_allocator]
static GLOBAL: Counting<System> = Counting::new(System);

/// Loop length: shorter under Miri, which interprets every instruction.
const ITERATIONS: usize = if cfg!(miri) { 20 } else { 1000 };

/// System allocator calls (allocations, reallocations and frees) `f` makes on this thread.
fn calls_during(f: impl FnOnce()) -> usize {
    counted(f).1.calls() as usize
}

/// The seed's `f(x)`.
fn f(x: &[i64], buf: &mut impl Buffer) -> i64 {
    buf.no_escape(|s| {
        let y = s.alloc_slice_copy(x);
        y.iter_mut().for_each(|v| *v += 1);
        y.iter().sum()
    })
}

#[test]
fn the_counter_sees_heap_allocations() {
    let n = calls_during(|| {
        let v: Vec<u64> = std::hint::black_box((0..100).collect());
        drop(v);
    });
    assert_eq!(n, 2, "one alloc and one free");
}

#[test]
fn steady_state_scope_loops_make_no_system_allocations() {
    let x: Vec<i64> = (1..=30).collect();
    let mut fixed = AllocBuffer::with_capacity(1 << 16);
    let mut slab = SlabBuffer::new();
    // Warm up: the slab buffer makes its first slab, the default buffer is created.
    f(&x, &mut slab);
    bumper::no_escape(|s| {
        s.alloc(0u8);
    });
    let mut total = 0;
    let n = calls_during(|| {
        for _ in 0..ITERATIONS {
            total += f(&x, &mut fixed);
            total += f(&x, &mut slab);
            total += bumper::no_escape(|s| {
                s.alloc_slice_fill_with(x.len(), |i| x[i] + 1)
                    .iter()
                    .sum::<i64>()
            });
            bumper::no_escape(|s| {
                let mut m = s.alloc_array_zeroed::<f64, _>((8, 8));
                m += 1.0;
                total += m.sum() as i64;
            });
        }
    });
    assert_eq!(n, 0);
    assert_eq!(total, ITERATIONS as i64 * (3 * 495 + 64));
}

/// The seed's slab-boundary pitfall: the outer scope fills the first slab, so every inner scope
/// needs a second one. The slab is made once and kept: no system allocation per iteration.
#[test]
fn the_slab_boundary_loop_costs_no_allocation_per_iteration() {
    const N: usize = 1 << 16;
    let mut buf: SlabBuffer<N> = SlabBuffer::with_slab_size();
    let mut iterations = 0;
    let mut first = usize::MAX;
    let mut rest = usize::MAX;
    buf.no_escape(|s| {
        s.alloc_slice_fill(N / 2 - 1, 0u8); // just under half the first slab
        s.alloc_slice_fill(N / 2 - 1, 0u8); // another half: the slab is practically full
        first = calls_during(|| {
            s.no_escape(|inner| {
                let y = inner.alloc_slice_fill(10, 1u8); // opens the second slab
                iterations += y.len();
            });
        });
        rest = calls_during(|| {
            for _ in 0..ITERATIONS {
                s.no_escape(|inner| {
                    let y = inner.alloc_slice_fill(10, 1u8);
                    iterations += y.len();
                });
            }
        });
    });
    assert_eq!(first, 1, "the second slab is allocated once");
    assert_eq!(rest, 0, "and reused by every later iteration");
    assert_eq!(iterations, 10 * (ITERATIONS + 1));
    assert_eq!(buf.stats().unwrap().spare_slabs, 1);
}

/// Big requests are separate allocations: one alloc and one free per scope, and nothing else.
#[test]
fn big_requests_cost_exactly_one_alloc_and_one_free() {
    let mut buf: SlabBuffer<4096> = SlabBuffer::with_slab_size();
    buf.no_escape(|s| {
        s.alloc(0u8);
    });
    // Make room in the bookkeeping vector once.
    buf.no_escape(|s| {
        s.alloc_slice_fill(3000, 0u8);
    });
    let n = calls_during(|| {
        for _ in 0..ITERATIONS {
            buf.no_escape(|s| {
                s.alloc_slice_fill(3000, 0u8);
            });
        }
    });
    assert_eq!(n, 2 * ITERATIONS);
}
