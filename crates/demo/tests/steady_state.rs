//! In the steady state the arena variants make no allocator calls at all, under either backend,
//! while plain `ndarray` makes some every batch. Counted by the demo's own global allocator
//! stack, per thread (so tests running in parallel don't disturb the counts).

use allocarrays::{
    with_allocator, AllocArray, ArenaRouter, ArrayAllocator, BumperAllocator, CheckedAllocArray,
    HeapArena, ToAllocArrays,
};
use allocarrays_demo::alloc_stack::{
    counting_active, per_backend, thread_counts, with_backend, Backend, Counting, Switch,
};
use allocarrays_demo::model::{random_images, DigitsModel};
use allocarrays_demo::reduction::{basic_reduction, bumper_reduction, routed_reduction};
use ndarray::{Array2, Axis, Ix1, Ix4};

/// As the demo: the arena router over the counting switch (calls served by a `HeapArena` are
/// not counted: they never reach the wrapped allocator).
#[global_allocator]
static GLOBAL: ArenaRouter<Counting<Switch>> = ArenaRouter::new(Counting::new(Switch::new()));

/// Images per batch and batches: small, since tests run unoptimised.
const BATCH: usize = 4;
const BATCHES: usize = 2;

/// Allocator calls of `f` on this thread.
fn calls(f: impl FnOnce()) -> u64 {
    let before = thread_counts();
    f();
    (thread_counts() - before).allocs
}

/// Runs the model on every batch with the arena, writing into `out`; returns the allocator
/// calls of the last `BATCHES` passes after `warmup` passes.
fn arena_calls<X>(
    alloc: &impl ArrayAllocator,
    batches: &[X],
    warmup: usize,
    mut forward: impl FnMut(&X),
) -> u64 {
    let mut pass = || {
        for x in batches {
            with_allocator(alloc, || forward(x));
            alloc.reset();
        }
    };
    for _ in 0..warmup {
        pass();
    }
    calls(pass)
}

#[test]
fn arena_inference_makes_no_allocator_calls_per_batch() {
    let model = DigitsModel::random(5);
    let aa_model = model.clone().to_alloc_arrays();
    let images = random_images(6, BATCH * BATCHES);
    let plain: Vec<_> = images
        .axis_chunks_iter(Axis(0), BATCH)
        .map(|b| b.to_owned())
        .collect();
    let alloc_in: Vec<AllocArray<f32, Ix4>> = plain.iter().cloned().map(AllocArray::from).collect();
    let checked_in: Vec<CheckedAllocArray<f32, Ix4>> =
        plain.iter().cloned().map(CheckedAllocArray::from).collect();
    // The outputs are copied into a matrix made once, as the demo does.
    let mut out = Array2::<f32>::zeros((BATCH, 10));

    let fixed = per_backend(|| BumperAllocator::with_fixed_capacity(16 << 20));
    let auto = per_backend(BumperAllocator::default);
    for backend in Backend::ALL {
        with_backend(backend, || {
            let b = backend.index();
            let fixed_calls = arena_calls(&fixed[b], &alloc_in, 1, |x| {
                out.assign(&model.forward(x).view());
            });
            assert_eq!(fixed_calls, 0, "AllocArray, fixed arena, {backend}");
            // The autoscaling buffer re-sizes itself at its sixth reset at the latest.
            let auto_calls = arena_calls(&auto[b], &alloc_in, 3, |x| {
                out.assign(&model.forward(x).view());
            });
            assert_eq!(auto_calls, 0, "AllocArray, default arena, {backend}");
            let model_calls = arena_calls(&fixed[b], &alloc_in, 1, |x| {
                out.assign(&aa_model.forward(x).view());
            });
            assert_eq!(model_calls, 0, "AllocArray + weights, {backend}");
            let checked_calls = arena_calls(&fixed[b], &checked_in, 1, |x| {
                out.assign(&model.forward(x).view());
            });
            assert_eq!(checked_calls, 0, "CheckedAllocArray, {backend}");
            // Plain arrays, every allocation routed to a heap arena; strict: nothing of a
            // batch outlives it.
            let heap = HeapArena::new();
            let mut routed_pass = || {
                for x in &plain {
                    heap.scope(|| out.assign(&model.forward(x).view()));
                    heap.reset_strict().expect("nothing escapes a batch");
                }
            };
            routed_pass();
            assert_eq!(calls(routed_pass), 0, "ndarray, HeapArena, {backend}");
        });
    }
    assert!(counting_active());

    // Plain ndarray allocates every intermediate on the heap: 13 arrays per batch (patch
    // scratch and output of each convolution, batchnorm, two poolings, three dense layers,
    // softmax).
    let plain_calls = calls(|| {
        for x in &plain {
            std::hint::black_box(model.forward(x));
        }
    });
    assert_eq!(plain_calls, 13 * BATCHES as u64);
}

#[test]
fn arena_reduction_makes_no_allocator_calls() {
    let ones = vec![1.0f64; 10_000];
    let plain = ndarray::Array1::from(ones.clone());
    let alloc_in: AllocArray<f64, Ix1> = AllocArray::from(ones.clone());
    let checked_in: CheckedAllocArray<f64, Ix1> = CheckedAllocArray::from(ones);
    for backend in Backend::ALL {
        with_backend(backend, || {
            let alloc = BumperAllocator::default();
            for _ in 0..8 {
                bumper_reduction(&alloc, &alloc_in);
                bumper_reduction(&alloc, &checked_in);
            }
            let n = calls(|| {
                for _ in 0..10 {
                    assert_eq!(bumper_reduction(&alloc, &alloc_in), 20_000.0);
                    assert_eq!(bumper_reduction(&alloc, &checked_in), 20_000.0);
                }
            });
            assert_eq!(n, 0, "{backend}");
            let heap = HeapArena::new();
            routed_reduction(&heap, &plain);
            let n = calls(|| assert_eq!(routed_reduction(&heap, &plain), 20_000.0));
            assert_eq!(n, 0, "routed, {backend}");
            // The seed's plain version: `similar` twice and `b .+ c`, three heap arrays.
            assert_eq!(calls(|| assert_eq!(basic_reduction(&plain), 20_000.0)), 3);
        });
    }
}
