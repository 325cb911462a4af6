//! The behaviour of the original AllocArrays.jl suite and documentation, ported: `similar`
//! outside a scope, `basic_reduction`, broadcasting over slices and transposes, arrays escaping a
//! reset, the threaded and unchecked doc examples, and a small dense model computed three ways.
// Operands are taken by reference where the seed's code reads that way.
#![allow(clippy::op_ref)]

use allocarrays::{
    with_allocator, AllocArray, AllocArrayBase, BumperAllocator, Checked, CheckedAllocArray,
    Checking, InvalidMemory, UncheckedBumperAllocator,
};
use ndarray::{s, Array1, Array2, Ix1, Ix2};

const INVALID: &str = "array accessed after its memory has been deallocated";

mod common;
use common::{ignore, panic_message};

/// Only compiles for checked arrays: the kind is part of the type.
fn assert_checked<A, D>(_: &CheckedAllocArray<A, D>) {}

/// Only compiles for unchecked arrays.
fn assert_unchecked<A, D>(_: &AllocArray<A, D>) {}

// The seed's demo: a function that knows nothing about allocators and only makes new arrays
// with `similar`.
fn some_allocating_function<K: Checking>(
    a: &AllocArrayBase<f64, Ix1, K>,
) -> (AllocArrayBase<f64, Ix1, K>, AllocArrayBase<f64, Ix1, K>) {
    let mut b = a.similar();
    b.assign(a);
    let mut c = a.similar();
    c.assign(a);
    (b, c)
}

fn basic_reduction<K: Checking>(a: &AllocArrayBase<f64, Ix1, K>) -> f64 {
    let (b, c) = some_allocating_function(a);
    (&b + &c).sum()
}

#[test]
fn similar_outside_a_scope_is_a_heap_alloc_array() {
    let a = AllocArray::from(vec![1.0, 2.0, 3.0]);
    let b = a.similar();
    assert_unchecked(&b);
    assert!(!b.is_arena());
    assert_eq!(b.shape(), &[3]);
    assert_eq!(b.as_slice(), &[0.0; 3]);

    let c = CheckedAllocArray::from(ndarray::array![[1, 2], [3, 4]]);
    let d = c.similar();
    assert_checked(&d);
    assert!(!d.is_arena());
    assert_eq!(d.shape(), &[2, 2]);
}

#[test]
fn basic_reduction_inside_and_outside_a_scope() {
    let a = AllocArray::from(vec![1.0; 1000]);
    let checked = CheckedAllocArray::from(vec![1.0; 1000]);

    // Outside any allocator: the heap.
    assert_eq!(basic_reduction(&a), 2000.0);
    assert_eq!(basic_reduction(&checked), 2000.0);

    // Inside, reset after each run like the seed's `bumper_reduction!`; twice, so the second
    // run reuses the memory of the first.
    let alloc = BumperAllocator::default();
    for _ in 0..2 {
        let (x, y) = with_allocator(&alloc, || {
            let x = basic_reduction(&a);
            let y = basic_reduction(&checked);
            assert!(
                alloc.stats().used > 0,
                "the temporaries came from the allocator"
            );
            alloc.reset();
            (x, y)
        });
        assert_eq!((x, y), (2000.0, 2000.0));
    }
    // Everything was freed: nothing pinned.
    let report = alloc.reset();
    assert_eq!(report.pinned_arrays, 0);

    // And with the unchecked allocator, for unchecked arrays.
    let unchecked = UncheckedBumperAllocator::with_fixed_capacity(1 << 20);
    let x = with_allocator(&unchecked, || {
        let x = basic_reduction(&a);
        unchecked.reset();
        x
    });
    assert_eq!(x, 2000.0);
}

#[test]
fn the_temporaries_of_basic_reduction_come_from_the_allocator() {
    let a = AllocArray::from(vec![1.0; 1000]);
    let alloc = BumperAllocator::with_fixed_capacity(1 << 20);
    with_allocator(&alloc, || {
        let (b, c) = some_allocating_function(&a);
        assert!(b.is_arena() && c.is_arena());
        let sum = &b + &c;
        assert!(sum.is_arena());
        // b, c and their sum: three arrays of 1000 f64.
        assert!(alloc.stats().used >= 3 * 8000);
        assert_eq!(alloc.stats().live_arrays, 3);
    });
}

#[test]
fn broadcasting_slices_and_transposes_stays_an_alloc_array() {
    // The seed: `a[1:2, :] .+ a[3:4, :]'` on an AllocArray is still an AllocArray.
    let data = ndarray::array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]];
    let expected = &data.slice(s![0..2, ..]) + &data.slice(s![2..4, ..]).t();

    let a = AllocArray::from(data.clone());
    let c = a.slice(s![0..2, ..]) + a.slice(s![2..4, ..]).t();
    assert_unchecked(&c);
    assert_eq!(c, expected);
    assert!(!c.is_arena());

    let checked = CheckedAllocArray::from(data.clone());
    let alloc = BumperAllocator::with_fixed_capacity(1 << 20);
    with_allocator(&alloc, || {
        let c = a.slice(s![0..2, ..]) + a.slice(s![2..4, ..]).t();
        assert!(c.is_arena());
        assert_eq!(c, expected);

        let d = checked.slice(s![0..2, ..]) + checked.slice(s![2..4, ..]).t();
        assert_checked(&d);
        assert!(d.is_arena());
        assert_eq!(d, expected);

        // Broadcasting a row and a column; mixing kinds gives a checked result.
        let row = a.slice(s![0, ..]); // shape [2]
        let col = checked.slice(s![.., 0..1]); // shape [4, 1]
        let e = row * col;
        assert_checked(&e);
        assert_eq!(e, &data.slice(s![0, ..]) * &data.slice(s![.., 0..1]));
    });
}

#[test]
fn a_checked_array_escaping_a_reset_is_invalid() {
    let alloc = BumperAllocator::with_fixed_capacity(1 << 20);
    let input = CheckedAllocArray::from(vec![1.0, 2.0, 3.0]);
    let escaped = with_allocator(&alloc, || &input * 2.0);
    assert!(escaped.is_arena());
    assert_eq!(escaped.try_sum(), Ok(12.0));

    let report = alloc.reset();
    assert_eq!(report.invalidated_checked, 1);
    assert_eq!(report.pinned_arrays, 1);

    // The Result forms.
    assert_eq!(escaped.check(), Err(InvalidMemory));
    assert_eq!(escaped.try_sum(), Err(InvalidMemory));
    assert!(escaped.try_view().is_err());
    assert!(escaped.try_as_slice().is_err());
    assert!(escaped.try_to_array().is_err());
    assert_eq!(InvalidMemory.to_string(), INVALID);

    // The panicking forms, each with the seed's message.
    assert_eq!(panic_message(|| ignore(escaped.sum())), INVALID);
    assert_eq!(panic_message(|| ignore(escaped[0])), INVALID);
    assert_eq!(panic_message(|| ignore(escaped.view())), INVALID);
    assert_eq!(panic_message(|| ignore(&escaped + 1.0)), INVALID);
    assert_eq!(panic_message(|| ignore(&input + &escaped)), INVALID);
    assert_eq!(panic_message(|| ignore(escaped.clone())), INVALID);
    assert_eq!(panic_message(|| ignore(escaped.slice(s![..1]))), INVALID);
    assert_eq!(panic_message(|| ignore(escaped.to_array())), INVALID);

    // The heap input was never invalid.
    assert_eq!(input.check(), Ok(()));
    assert_eq!(input.sum(), 6.0);
}

#[test]
fn views_and_reshapes_share_the_validity() {
    let alloc = BumperAllocator::with_fixed_capacity(1 << 20);
    let a = with_allocator(&alloc, || CheckedAllocArray::<f64, _>::ones(6));
    let view = a.slice(s![1..]);
    let t = a.t();
    assert_eq!(view.try_sum(), Ok(5.0));

    alloc.reset();
    assert_eq!(view.check(), Err(InvalidMemory));
    assert_eq!(t.check(), Err(InvalidMemory));
    assert_eq!(panic_message(|| ignore(view.sum())), INVALID);
    assert_eq!(panic_message(|| ignore(t.map(|x| x + 1.0))), INVALID);
    assert_eq!(panic_message(|| ignore(view.to_owned())), INVALID);

    // A reshape is the same memory: invalid too (the reshape itself refuses).
    assert_eq!(panic_message(|| ignore(a.reshape((2, 3)))), INVALID);

    // A reshape made before the reset shares it as well.
    let b = with_allocator(&alloc, || CheckedAllocArray::<f64, _>::ones(6));
    let b = b.reshape((3, 2)).unwrap();
    assert!(b.check().is_ok());
    alloc.reset();
    assert_eq!(b.check(), Err(InvalidMemory));
}

#[test]
fn an_unchecked_array_outliving_a_reset_keeps_its_values() {
    let alloc = BumperAllocator::with_fixed_capacity(1 << 16);
    let input = AllocArray::from(vec![1.0, 2.0, 3.0]);
    let escaped = with_allocator(&alloc, || &input * 2.0);
    assert!(escaped.is_arena());

    let report = alloc.reset();
    assert!(report.pinned_arrays > 0);
    assert!(report.pinned_bytes >= 3 * 8);
    assert!(!escaped.is_valid());

    // New arrays after the reset don't overwrite the pinned memory.
    with_allocator(&alloc, || {
        for _ in 0..10 {
            let junk = AllocArray::from_elem(64, -1.0);
            assert_eq!(junk.sum(), -64.0);
        }
        alloc.reset();
    });
    assert_eq!(escaped.as_slice(), &[2.0, 4.0, 6.0]);
    assert_eq!(escaped.sum(), 12.0);

    // Once it is gone, the next reset reclaims everything.
    drop(escaped);
    let report = alloc.reset();
    assert_eq!(report.pinned_arrays, 0);
    assert_eq!(alloc.stats().used, 0);
}

#[test]
fn ten_threads_share_one_bumper_allocator() {
    // The seed's `BumperAllocator` example: 10 tasks each put `sum(input .+ i)`, total 225.
    let alloc = BumperAllocator::with_fixed_capacity(1 << 24);
    let input = AllocArray::from(vec![1_i64, 2, 3]);
    let sums: Vec<i64> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..=10_i64)
            .map(|i| {
                let (alloc, input) = (&alloc, &input);
                s.spawn(move || {
                    with_allocator(alloc, || {
                        let shifted = input + i;
                        assert!(shifted.is_arena());
                        shifted.sum()
                    })
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    alloc.reset(); // outside the threaded region
    assert_eq!(sums.iter().sum::<i64>(), 225);
}

#[test]
fn ten_threads_with_checked_arrays() {
    let alloc = BumperAllocator::with_fixed_capacity(1 << 24);
    let input = CheckedAllocArray::from(vec![1_i64, 2, 3]);
    let total: i64 = std::thread::scope(|s| {
        let handles: Vec<_> = (1..=10_i64)
            .map(|i| {
                let (alloc, input) = (&alloc, &input);
                s.spawn(move || with_allocator(alloc, || (input + i).sum()))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(total, 225);
    assert_eq!(alloc.reset().invalidated_checked, 10);
}

#[test]
fn the_unchecked_doc_example_gives_12() {
    let input = AllocArray::from(vec![1, 2, 3]);
    let b = UncheckedBumperAllocator::with_fixed_capacity(1 << 24); // 16 MiB
    let ret = with_allocator(&b, || {
        let ret = (&input * 2).sum();
        b.reset();
        ret
    });
    assert_eq!(ret, 12);
}

#[test]
#[should_panic(expected = "UncheckedBumperAllocator does not make CheckedAllocArrays")]
fn checked_arrays_need_a_bumper_allocator() {
    let input = CheckedAllocArray::from(vec![1, 2, 3]);
    let b = UncheckedBumperAllocator::with_fixed_capacity(1 << 16);
    with_allocator(&b, || drop(&input * 2));
}

#[test]
fn a_checked_array_from_an_unchecked_arena_array_is_refused() {
    let alloc = BumperAllocator::with_fixed_capacity(1 << 16);
    let arena = with_allocator(&alloc, || AllocArray::<f64, _>::ones(3));
    let err = CheckedAllocArray::try_from(arena).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot make a CheckedAllocArray from an unchecked arena array: its validity was not tracked"
    );

    // A heap one is fine, and moves (no copy).
    let heap = AllocArray::from(vec![1.0, 2.0]);
    let ptr = heap.as_slice().as_ptr();
    let checked = CheckedAllocArray::try_from(heap).unwrap();
    assert_eq!(checked.as_slice().as_ptr(), ptr);
    assert_eq!(checked.sum(), 3.0);
}

// ---------------------------------------------------------------------------------------------
// A small dense model, 1 → 23 (tanh) → 1, over 4001 points in [-2, 2], computed with plain
// `ndarray`, with AllocArrays under an allocator, and with CheckedAllocArrays.

const HIDDEN: usize = 23;
/// 4001 points as in the seed; fewer under Miri, which is slow at arithmetic.
const POINTS: usize = if cfg!(miri) { 41 } else { 4001 };

struct Weights {
    w1: Array2<f64>, // HIDDEN × 1
    b1: Array2<f64>, // HIDDEN × 1
    w2: Array2<f64>, // 1 × HIDDEN
    b2: Array2<f64>, // 1 × 1
}

fn weights() -> Weights {
    Weights {
        w1: Array2::from_shape_fn((HIDDEN, 1), |(i, _)| (0.7 * i as f64 + 0.3).sin() * 1.5),
        b1: Array2::from_shape_fn((HIDDEN, 1), |(i, _)| (1.3 * i as f64).cos() * 0.5),
        w2: Array2::from_shape_fn((1, HIDDEN), |(_, j)| (j as f64 - 11.0) / 7.0),
        b2: Array2::from_elem((1, 1), 0.25),
    }
}

fn inputs() -> Array2<f64> {
    let x = Array1::linspace(-2.0, 2.0, POINTS);
    x.insert_axis(ndarray::Axis(0)) // 1 × POINTS
}

fn model_ndarray(w: &Weights, x: &Array2<f64>) -> f64 {
    let h = (w.w1.dot(x) + &w.b1).mapv(f64::tanh);
    let y = w.w2.dot(&h) + &w.b2;
    y.sum()
}

/// The same model over our arrays of either kind: only `dot`, `+`, `mapv` and `sum`.
fn model_alloc<K: Checking>(
    w1: &AllocArrayBase<f64, Ix2, K>,
    b1: &AllocArrayBase<f64, Ix2, K>,
    w2: &AllocArrayBase<f64, Ix2, K>,
    b2: &AllocArrayBase<f64, Ix2, K>,
    x: &AllocArrayBase<f64, Ix2, K>,
) -> f64 {
    let h = (w1.dot(x) + b1).mapv(f64::tanh);
    assert_eq!(h.shape(), &[HIDDEN, POINTS]);
    let y = w2.dot(&h) + b2;
    assert_eq!(y.shape(), &[1, POINTS]);
    y.sum()
}

#[test]
fn a_dense_model_gives_the_same_result_three_ways() {
    let w = weights();
    let x = inputs();
    let expected = model_ndarray(&w, &x);
    assert!(expected.is_finite() && expected.abs() > 1.0);

    let conv = |a: &Array2<f64>| AllocArray::from(a.clone());
    let (w1, b1, w2, b2, xa) = (conv(&w.w1), conv(&w.b1), conv(&w.w2), conv(&w.b2), conv(&x));

    let alloc = BumperAllocator::default();
    for _ in 0..3 {
        let got = with_allocator(&alloc, || {
            let got = model_alloc(&w1, &b1, &w2, &b2, &xa);
            alloc.reset();
            got
        });
        assert!((got - expected).abs() < 1e-9, "{got} vs {expected}");
    }

    // Outside any allocator, too.
    let got = model_alloc(&w1, &b1, &w2, &b2, &xa);
    assert!((got - expected).abs() < 1e-9);

    let conv = |a: &Array2<f64>| CheckedAllocArray::from(a.clone());
    let (w1, b1, w2, b2, xc) = (conv(&w.w1), conv(&w.b1), conv(&w.w2), conv(&w.b2), conv(&x));
    let got = with_allocator(&alloc, || {
        let got = model_alloc::<Checked>(&w1, &b1, &w2, &b2, &xc);
        alloc.reset();
        got
    });
    assert!((got - expected).abs() < 1e-9, "{got} vs {expected}");

    // And with the weights left as plain ndarray arrays: the input alone makes it allocate.
    let got = with_allocator(&alloc, || {
        let h = (xa.t().dot(&w.w1.t()) + &w.b1.t()).mapv(f64::tanh); // POINTS × HIDDEN
        assert!(h.is_arena());
        let y = h.dot(&w.w2.t()) + &w.b2;
        let got = y.sum();
        drop((h, y));
        alloc.reset();
        got
    });
    assert!((got - expected).abs() < 1e-9, "{got} vs {expected}");
}

/// One model function for both array kinds, bounded by `ArrayKind`: the parameters are
/// unchecked arrays, the activations of the input's kind.
fn dense_relu<K: allocarrays::ArrayKind>(
    x: &AllocArrayBase<f64, Ix2, K>,
    w: &AllocArray<f64, Ix2>,
    b: &AllocArray<f64, Ix1>,
) -> AllocArrayBase<f64, Ix2, K> {
    let y = x.dot(w) + b;
    let y = &y + &y.mapv(|v| v * 0.0); // K with K
    y.mapv(|v| v.max(0.0))
}

#[test]
fn one_model_function_serves_both_kinds() {
    let w = AllocArray::from(ndarray::array![[1.0, -1.0], [0.5, 2.0]]);
    let b = AllocArray::from(vec![0.0, -1.0]);
    let x = ndarray::array![[1.0, 2.0], [3.0, -4.0]];
    let alloc = BumperAllocator::with_fixed_capacity(1 << 16);
    with_allocator(&alloc, || {
        let plain = dense_relu(&AllocArray::from(x.clone()), &w, &b);
        let checked = dense_relu(&CheckedAllocArray::from(x.clone()), &w, &b);
        assert_unchecked(&plain);
        assert_checked(&checked);
        assert!(plain.is_arena() && checked.is_arena());
        assert_eq!(plain, ndarray::array![[2.0, 2.0], [1.0, 0.0]]);
        assert_eq!(checked, plain);
    });
    alloc.reset();
}
