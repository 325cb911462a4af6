//! Large matrix products (over [`DIRECT_DOT_MAX`] multiply-adds, computed by matrixmultiply)
//! with `ArenaRouter` over a counting allocator as this test binary's global allocator: their
//! packing buffers come from the router's scratch arena, so a model-like loop of them makes no
//! call to the wrapped allocator per batch. (`steady_state.rs` counts the same products with
//! no router: there the packing buffer comes from the heap.)

#![cfg(feature = "router")]

use allocarrays::{
    scratch_arena, with_allocator, AllocArray, ArenaRouter, BumperAllocator, DIRECT_DOT_MAX,
};
use ndarray::{Array1, Array2, Ix1, Ix2};
use std::sync::{Mutex, MutexGuard};

use bench_support::counting::{counted, Counting};

#[global_allocator]
static GLOBAL: ArenaRouter<Counting<std::alloc::System>> =
    ArenaRouter::new(Counting::new(std::alloc::System));

/// The scratch arena is one per process: tests that read its statistics take this so that no
/// other test runs a product meanwhile.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Calls to the wrapped allocator that `f` makes on this thread.
fn calls_during(f: impl FnOnce()) -> u64 {
    counted(f).1.calls()
}

const BATCHES: usize = 20;

fn matrix(rows: usize, cols: usize, seed: usize) -> Array2<f64> {
    Array2::from_shape_fn((rows, cols), |(i, j)| {
        ((i * 7 + j * 3 + seed) % 11) as f64 - 5.0
    })
}

#[test]
#[cfg_attr(miri, ignore = "matrixmultiply's kernels take minutes under Miri")]
fn large_products_make_no_wrapped_allocator_call_per_batch() {
    let _serial = serial();
    const _: () = assert!(200 * 300 * 200 > DIRECT_DOT_MAX, "the large path");
    let (a, b) = (matrix(200, 300, 1), matrix(300, 200, 2));
    let expected = a.dot(&b);
    // ndarray's own product asks the heap: the output and the packing buffer.
    let plain = calls_during(|| drop(a.dot(&b)));
    assert!(plain >= 4, "ndarray's dot: {plain} calls");
    let (x, y) = (AllocArray::from(a), AllocArray::from(b));
    let alloc = BumperAllocator::default();
    let batch = || {
        with_allocator(&alloc, || {
            let p = x.dot(&y);
            assert!(p.is_arena(), "the output comes from the array allocator");
            assert_eq!(p, expected);
        });
        alloc.reset();
    };
    // Warm-up: the array allocator settles its buffer, the scratch arena its lane.
    for _ in 0..8 {
        batch();
    }
    let served = scratch_arena().stats().allocations;
    for round in 0..BATCHES {
        assert_eq!(calls_during(batch), 0, "batch {round}");
    }
    let stats = scratch_arena().stats();
    assert!(
        stats.allocations >= served + BATCHES as u64,
        "the packing buffers came from the scratch arena: {stats:?}"
    );
    assert_eq!(stats.in_use_bytes, 0);
    assert_eq!(stats.routing_off, None);
}

/// A 2-layer dense model, `relu(x · w1 + b1) · w2 + b2`, with products of 200 x 300 x 200 and
/// 200 x 200 x 100 multiply-adds, on batches of 200 rows.
#[test]
#[cfg_attr(miri, ignore = "matrixmultiply's kernels take minutes under Miri")]
fn a_dense_model_of_large_products_makes_no_wrapped_allocator_call_per_batch() {
    let _serial = serial();
    const _: () = assert!(
        200 * 200 * 100 > DIRECT_DOT_MAX,
        "both layers take the large path"
    );
    let (w1, w2) = (
        matrix(300, 200, 3).mapv(|v| v as f32 / 8.0),
        matrix(200, 100, 4).mapv(|v| v as f32 / 8.0),
    );
    let (b1, b2) = (
        Array1::from_elem(200, 0.25f32),
        Array1::from_elem(100, -0.5f32),
    );
    let batches: Vec<Array2<f32>> = (0..4)
        .map(|s| matrix(200, 300, s).mapv(|v| v as f32))
        .collect();
    let expected: Vec<Array2<f32>> = batches
        .iter()
        .map(|x| (x.dot(&w1) + &b1).mapv(|v| v.max(0.0)).dot(&w2) + &b2)
        .collect();

    let params = (
        AllocArray::from(w1),
        AllocArray::from(b1),
        AllocArray::from(w2),
        AllocArray::from(b2),
    );
    let dense =
        |x: &AllocArray<f32, Ix2>, w: &AllocArray<f32, Ix2>, b: &AllocArray<f32, Ix1>| x.dot(w) + b;
    let inputs: Vec<AllocArray<f32, Ix2>> = batches.into_iter().map(AllocArray::from).collect();
    let alloc = BumperAllocator::default();
    let mut outputs: Vec<f32> = Vec::with_capacity(200 * 100);
    let mut run = |i: usize| {
        with_allocator(&alloc, || {
            let h = dense(&inputs[i], &params.0, &params.1).mapv(|v| v.max(0.0));
            let y = dense(&h, &params.2, &params.3);
            assert!(y.is_arena());
            outputs.clear();
            outputs.extend(y.iter().copied()); // capacity reserved outside: no call
        });
        alloc.reset();
        assert_eq!(
            outputs.as_slice(),
            expected[i].as_slice().unwrap(),
            "batch {i}"
        );
    };
    for i in 0..8 {
        run(i % 4);
    }
    for i in 0..BATCHES {
        assert_eq!(calls_during(|| run(i % 4)), 0, "batch {i}");
    }
    assert_eq!(scratch_arena().stats().in_use_bytes, 0);
}

#[test]
fn small_products_never_enter_the_scratch_arena() {
    let _serial = serial();
    let x = AllocArray::from(matrix(32, 90, 5));
    let w = AllocArray::from(matrix(90, 10, 6));
    const _: () = assert!(32 * 90 * 10 <= DIRECT_DOT_MAX);
    let alloc = BumperAllocator::default();
    let expected = matrix(32, 90, 5).dot(&matrix(90, 10, 6));
    with_allocator(&alloc, || {
        assert_eq!(x.dot(&w), expected); // the allocator's first buffer
        let calls = calls_during(|| assert_eq!(x.dot(&w), expected));
        assert_eq!(calls, 0);
    });
    let before = scratch_arena().stats().allocations;
    with_allocator(&alloc, || drop(x.dot(&w)));
    assert_eq!(scratch_arena().stats().allocations, before);
}
