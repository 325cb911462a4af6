//! System allocator calls per iteration of `with_allocator` loops over arrays, counted per
//! thread by a counting global allocator installed in this test binary.

use allocarrays::{infer_batch, with_allocator, AllocArray, BumperAllocator, CheckedAllocArray};
use ndarray::{Array1, Ix1, Ix2};

use bench_support::counting::{counted, Counting};

#[global_allocator]
static GLOBAL: Counting<std::alloc::System> = Counting::new(std::alloc::System);

fn calls_during(f: impl FnOnce()) -> usize {
    counted(f).1.calls() as usize
}

const ITERATIONS: usize = if cfg!(miri) { 3 } else { 100 };

/// Runs `run` 9 times to warm up, then counts the system allocator calls of `ITERATIONS` more
/// runs; every run must give the first one's result.
fn steady_state_calls<T: PartialEq + std::fmt::Debug>(run: impl Fn() -> T) -> usize {
    let first = run();
    for _ in 0..8 {
        assert_eq!(run(), first);
    }
    calls_during(|| {
        for _ in 0..ITERATIONS {
            assert_eq!(run(), first);
        }
    })
}

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
        assert_eq!(infer_batch(&alloc, model, batch.view()), first);
    }
    let calls = calls_during(|| {
        for _ in 0..ITERATIONS {
            let out = infer_batch(&alloc, model, batch.view());
            assert_eq!(out, first);
        }
    });
    // Per batch: the heap copy of the output (an allocation and a free). `dot` takes nothing
    // from the heap for a product this small.
    assert_eq!(calls, 2 * ITERATIONS);
}

/// The dense head of the seed's DigitsModel (dense 90 -> 10, a shared dense 10 -> 10 twice,
/// each `relu(x · w + b)`) on batches of 32, written with `dot`.
#[test]
fn dense_layers_written_with_dot_make_no_system_allocation_per_batch() {
    let param = |rows: usize, cols: usize| {
        AllocArray::from(ndarray::Array2::from_shape_fn((rows, cols), |(i, j)| {
            ((i * 7 + j * 3) % 11) as f32 / 11.0 - 0.5
        }))
    };
    let (w1, b1) = (param(90, 10), AllocArray::from(vec![0.1f32; 10]));
    let (w2, b2) = (param(10, 10), AllocArray::from(vec![-0.1f32; 10]));
    let dense = |x: &AllocArray<f32, Ix2>, w: &AllocArray<f32, Ix2>, b: &AllocArray<f32, Ix1>| {
        (x.dot(w) + b).mapv(|v| v.max(0.0))
    };
    let batch = AllocArray::from(ndarray::Array2::from_shape_fn((32, 90), |(i, j)| {
        ((i + j) % 5) as f32
    }));
    let alloc = BumperAllocator::default();
    let run = || {
        let total = with_allocator(&alloc, || {
            let h = dense(&batch, &w1, &b1);
            let h = dense(&h, &w2, &b2);
            let h = dense(&h, &w2, &b2);
            assert!(h.is_arena());
            h.sum()
        });
        alloc.reset();
        total
    };
    let calls = steady_state_calls(run);
    assert_eq!(calls, 0, "system allocator calls in {ITERATIONS} batches");
}

/// A product over `DIRECT_DOT_MAX` multiply-adds goes to matrixmultiply, whose packing buffer
/// comes from the global allocator when `ArenaRouter` is not installed (as in this binary):
/// an allocation and a free per product. (`router_products.rs` has the same loop with the
/// router: no call at all.)
#[test]
#[cfg_attr(miri, ignore = "matrixmultiply's kernels take minutes under Miri")]
fn large_products_take_their_packing_buffer_from_the_heap_without_the_router() {
    const _: () = assert!(80 * 70 * 60 > allocarrays::DIRECT_DOT_MAX, "the large path");
    let a = AllocArray::from(ndarray::Array2::from_shape_fn((80, 70), |(i, j)| {
        ((i + 2 * j) % 9) as f64
    }));
    let b = AllocArray::from(ndarray::Array2::from_shape_fn((70, 60), |(i, j)| {
        ((3 * i + j) % 7) as f64
    }));
    let alloc = BumperAllocator::default();
    let run = || {
        let total = with_allocator(&alloc, || a.dot(&b).sum());
        alloc.reset();
        total
    };
    let calls = steady_state_calls(run);
    assert_eq!(
        calls,
        2 * ITERATIONS,
        "the packing buffer: one allocation and one free"
    );
}
