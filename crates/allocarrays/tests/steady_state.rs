//! System allocator calls per iteration of `with_allocator` loops over arrays, counted per
//! thread by a counting global allocator installed in this test binary.

use allocarrays::{infer_batch, with_allocator, AllocArray, BumperAllocator, CheckedAllocArray};
use ndarray::{Array1, Ix1, Ix2};

#[path = "common/thread_counting.rs"]
mod thread_counting;

#[global_allocator]
static GLOBAL: thread_counting::ThreadCounting = thread_counting::ThreadCounting;

fn calls_during(f: impl FnOnce()) -> usize {
    let before = thread_counting::thread_calls();
    f();
    (thread_counting::thread_calls() - before) as usize
}

const ITERATIONS: usize = if cfg!(miri) { 3 } else { 100 };

/// The seed's `basic_reduction`: temporaries made by `similar`, summed.
fn basic_reduction(a: &AllocArray<f64, Ix1>) -> f64 {
    let mut b = a.similar();
    b.assign(a);
    let mut c = a.similar();
    c.assign(a);
    (&b + &c).sum()
}

#[test]
fn basic_reduction_makes_no_system_allocation_per_iteration() {
    let a = AllocArray::from(Array1::<f64>::ones(if cfg!(miri) { 100 } else { 100_000 }));
    {
        let alloc = BumperAllocator::default();
        let run = || {
            let total = with_allocator(&alloc, || basic_reduction(&a));
            alloc.reset();
            total
        };
        // Warm-up: the autoscaling buffer settles its main buffer to the workload within the
        // seed's history of six resets (one reallocation), then stays.
        for _ in 0..8 {
            assert_eq!(run(), 2.0 * a.len() as f64);
        }
        let mut total = 0.0;
        let calls = calls_during(|| {
            for _ in 0..ITERATIONS {
                total += run();
            }
        });
        assert_eq!(
            calls, 0,
            "system allocator calls in {ITERATIONS} iterations"
        );
        assert_eq!(total, (ITERATIONS * 2 * a.len()) as f64);
    }
}

#[test]
fn a_fixed_allocator_and_checked_arrays_make_none_either() {
    let alloc = BumperAllocator::with_fixed_capacity(1 << 20);
    let a = CheckedAllocArray::from(Array1::<f64>::ones(1000));
    let run = || {
        let total = with_allocator(&alloc, || {
            let mut b = a.similar();
            b.assign(&a);
            (&b * 2.0).sum()
        });
        alloc.reset();
        total
    };
    assert_eq!(run(), 2000.0);
    let calls = calls_during(|| {
        for _ in 0..ITERATIONS {
            assert_eq!(run(), 2000.0);
        }
    });
    assert_eq!(calls, 0);
}

#[test]
fn a_dense_layer_per_batch_allocates_only_its_output() {
    let alloc = BumperAllocator::default();
    let weights = AllocArray::from(ndarray::Array2::from_shape_fn((16, 8), |(i, j)| {
        (i + j) as f64 / 10.0
    }));
    let batch = ndarray::Array2::from_shape_fn((32, 16), |(i, j)| ((i * j) % 7) as f64);
    let model = |x: AllocArray<f64, Ix2>| x.dot(&weights).mapv(|v| v.max(0.0)); // relu: exact under Miri too
    let first = infer_batch(&alloc, model, batch.view());
    for _ in 0..8 {
        infer_batch(&alloc, model, batch.view());
    }
    let calls = calls_during(|| {
        for _ in 0..ITERATIONS {
            let out = infer_batch(&alloc, model, batch.view());
            assert_eq!(out, first);
        }
    });
    // Per batch: the heap copy of the output (an allocation and a free) and matrixmultiply's
    // packing buffer inside `dot` (an allocation and a free: code that calls the global
    // allocator directly, which `AllocArray` can't reach). Nothing else.
    assert_eq!(calls, 4 * ITERATIONS);
}
