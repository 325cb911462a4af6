//! `AllocArray` and `CheckedAllocArray`: construction and conversions, where new arrays' memory
//! comes from, arithmetic and broadcasting against `ndarray`, products, reductions, reshapes,
//! indexing, formatting, element drops, and the checked forms.
// Operands are taken by reference on purpose: every form of operand is under test.
#![allow(clippy::op_ref)]

use std::cell::Cell;
use std::mem::MaybeUninit;
use std::rc::Rc;

use allocarrays::{
    with_allocator, without_allocator, AllocArray, AllocView, ArrayError, BumperAllocator,
    CheckedAllocArray, CheckedView, InvalidMemory, Operand, Scalar, UncheckedBumperAllocator,
};
use ndarray::{array, s, Array, Array1, Array2, Array3, ArrayD, Axis, Ix1, Ix2, Ix3, IxDyn};

mod common;
use common::{ignore, panic_message};

fn arena() -> BumperAllocator<bumper::AllocBuffer<'static>> {
    BumperAllocator::with_fixed_capacity(1 << 22)
}

/// A deterministic matrix with distinct entries.
fn matrix(rows: usize, cols: usize) -> Array2<f64> {
    Array2::from_shape_fn((rows, cols), |(i, j)| (i * cols + j) as f64 * 0.5 - 3.0)
}

// ---------------------------------------------------------------------------------------------
// Construction and conversions.

#[test]
fn from_an_ndarray_array_takes_its_memory() {
    let data = array![[1, 2, 3], [4, 5, 6]];
    let ptr = data.as_ptr();
    let a = AllocArray::from(data);
    assert_eq!(a.as_slice().as_ptr(), ptr, "no copy");
    assert!(!a.is_arena());
    assert_eq!(a.shape(), &[2, 3]);
    assert_eq!(a.dim(), (2, 3));
    assert_eq!(a.ndim(), 2);
    assert_eq!(a.len(), 6);

    // Back, also without a copy.
    let back: Array2<i32> = a.into();
    assert_eq!(back.as_ptr(), ptr);
    assert_eq!(back, array![[1, 2, 3], [4, 5, 6]]);
}

#[test]
fn from_sliced_and_transposed_ndarray_arrays() {
    // A slice that starts inside the vector: standard layout with an offset.
    let sliced = Array1::from_iter(0..10).slice_move(s![3..7]);
    let a = AllocArray::from(sliced);
    assert_eq!(a.as_slice(), &[3, 4, 5, 6]);

    // Not standard layout: moved into row-major order.
    let t = array![[1, 2, 3], [4, 5, 6]].reversed_axes();
    let b = AllocArray::from(t.clone());
    assert_eq!(b.as_slice(), &[1, 4, 2, 5, 3, 6]);
    assert_eq!(b, t);

    // Strided with a step.
    let stepped = Array1::from_iter(0..10).slice_move(s![..;3]);
    assert_eq!(AllocArray::from(stepped).as_slice(), &[0, 3, 6, 9]);

    // Empty.
    let empty = AllocArray::from(Array2::<f64>::zeros((0, 3)));
    assert!(empty.is_empty());
    assert_eq!(empty.shape(), &[0, 3]);
}

#[test]
fn from_an_ndarray_array_with_non_copy_elements() {
    let strings = Array1::from_iter((0..6).map(|i| i.to_string()));
    let sliced = strings.slice_move(s![1..4]);
    let a = AllocArray::from(sliced);
    assert_eq!(a.as_slice(), &["1", "2", "3"]);
    let t = Array2::from_shape_fn((2, 2), |(i, j)| format!("{i}{j}")).reversed_axes();
    let b = AllocArray::from(t);
    assert_eq!(b.as_slice(), &["00", "10", "01", "11"]);
}

#[test]
fn constructors() {
    let a = AllocArray::from_shape_vec((2, 2), vec![1, 2, 3, 4]).unwrap();
    assert_eq!(a, array![[1, 2], [3, 4]]);
    assert!(AllocArray::<i32, Ix2>::from_shape_vec((2, 3), vec![1, 2]).is_err());

    assert_eq!(
        AllocArray::<f64, _>::zeros((2, 3)),
        Array2::<f64>::zeros((2, 3))
    );
    assert_eq!(AllocArray::<f64, _>::ones(4), Array1::<f64>::ones(4));
    assert_eq!(AllocArray::from_elem((1, 2), 7u8), array![[7u8, 7]]);
    let f = AllocArray::from_shape_fn((2, 3, 2), |(i, j, k)| i * 100 + j * 10 + k);
    assert_eq!(
        f,
        Array3::from_shape_fn((2, 3, 2), |(i, j, k)| i * 100 + j * 10 + k)
    );
    let v = AllocArray::from(vec![1.0, 2.0]);
    assert_eq!(v.raw_dim(), ndarray::Dim([2]));

    // Zero-dimensional and dynamic.
    let scalar = AllocArray::<i32, _>::from_elem((), 5);
    assert_eq!(scalar.ndim(), 0);
    assert_eq!(scalar.len(), 1);
    assert_eq!(scalar[()], 5);
    let dynamic = AllocArray::<i32, IxDyn>::zeros(IxDyn(&[2, 1, 3]));
    assert_eq!(dynamic.shape(), &[2, 1, 3]);
}

#[test]
fn to_array_copies_to_the_heap_and_into_array_moves() {
    let alloc = arena();
    let a = with_allocator(&alloc, || AllocArray::from_shape_fn((2, 2), |(i, j)| i + j));
    assert!(a.is_arena());
    let copy = with_allocator(&alloc, || a.to_array()); // always the heap
    assert_eq!(copy, array![[0, 1], [1, 2]]);
    let moved = a.into_array();
    assert_eq!(moved, array![[0, 1], [1, 2]]);
    assert_eq!(
        alloc.stats().live_arrays,
        0,
        "the arena memory was released"
    );
}

// ---------------------------------------------------------------------------------------------
// Where new arrays come from.

#[test]
fn new_arrays_come_from_the_current_allocator() {
    let alloc = arena();
    let heap = AllocArray::from(matrix(3, 4));
    let nd = matrix(3, 4);

    // Outside: the heap.
    assert!(!(&heap + 1.0).is_arena());
    assert!(!heap.similar().is_arena());
    assert!(!heap.clone().is_arena());

    with_allocator(&alloc, || {
        let results = [
            &heap + &heap,
            &heap - 1.0,
            2.0 * &heap,
            -&heap,
            &nd + &heap,
            &heap * &nd,
            heap.map(|x| x * 2.0),
            heap.mapv(f64::exp),
            heap.similar(),
            heap.zeros_like(),
            heap.clone(),
            heap.t().to_owned().reshape((3, 4)).unwrap(),
            heap.dot(&heap.t())
                .reshape((3, 4))
                .unwrap_or_else(|_| heap.clone()),
            AllocArray::zeros((3, 4)),
            AllocArray::from_elem((3, 4), 1.0),
        ];
        for r in &results {
            assert!(r.is_arena(), "{r:?}");
        }
        assert!(heap.sum_axis(Axis(0)).is_arena());
        assert!(heap.dot(&nd.t()).is_arena());

        // Wrapping existing data is not a new array: it keeps its heap memory.
        assert!(!AllocArray::from(matrix(2, 2)).is_arena());
        assert!(!AllocArray::from(vec![1, 2]).is_arena());

        // `without_allocator` goes back to the heap.
        without_allocator(|| assert!(!(&heap + 1.0).is_arena()));
    });

    // An unchecked allocator works the same for unchecked arrays.
    let unchecked = UncheckedBumperAllocator::with_fixed_capacity(1 << 20);
    with_allocator(&unchecked, || assert!((&heap * 3.0).is_arena()));
}

#[test]
fn a_full_fixed_allocator_panics_with_its_error() {
    let alloc = BumperAllocator::with_fixed_capacity(64);
    let msg = panic_message(|| {
        with_allocator(&alloc, || ignore(AllocArray::<f64, _>::zeros(1000)));
    });
    assert!(msg.starts_with("array allocation failed"), "{msg}");
}

// ---------------------------------------------------------------------------------------------
// Arithmetic against ndarray.

#[test]
fn elementwise_arithmetic_matches_ndarray() {
    let x = matrix(3, 4);
    let y = matrix(3, 4).mapv(|v| v * v + 1.0);
    let (a, b) = (AllocArray::from(x.clone()), AllocArray::from(y.clone()));

    assert_eq!(&a + &b, &x + &y);
    assert_eq!(&a - &b, &x - &y);
    assert_eq!(&a * &b, &x * &y);
    assert_eq!(&a / &b, &x / &y);
    assert_eq!(&a % &b, &x % &y);
    assert_eq!(-&a, -&x);

    // Every operand form: owned, by reference, views, ndarray arrays and views.
    assert_eq!(a.clone() + b.clone(), &x + &y);
    assert_eq!(a.clone() + &b, &x + &y);
    assert_eq!(&a + b.alloc_view(), &x + &y);
    assert_eq!(a.alloc_view() + &b.alloc_view(), &x + &y);
    assert_eq!(&a.alloc_view() + b.alloc_view(), &x + &y);
    assert_eq!(&a + &y, &x + &y);
    assert_eq!(&a + y.view(), &x + &y);
    assert_eq!(&a + y.clone(), &x + &y);
    assert_eq!(&x + &b, &x + &y);
    assert_eq!(x.view() + &b, &x + &y);
    assert_eq!(x.clone() + b.alloc_view(), &x + &y);
    assert_eq!(&x - b.t().t(), &x - &y);
    assert_eq!(a.alloc_view() - &*y, &x - &y); // &ArrayRef

    // Scalars on both sides; literals infer their type.
    assert_eq!(&a + 1.0, &x + 1.0);
    assert_eq!(&a * 2.0, &x * 2.0);
    assert_eq!(1.0 - &a, 1.0 - &x);
    assert_eq!(10.0 / a.alloc_view(), 10.0 / &x);
    assert_eq!(a.clone() / 4.0, &x / 4.0);
    let ints = AllocArray::from(vec![1_i32, 2, 3]);
    assert_eq!((&ints + 2).as_slice(), &[3, 4, 5]);
    assert_eq!((2 * &ints).as_slice(), &[2, 4, 6]);
    assert_eq!((&ints % 2).as_slice(), &[1, 0, 1]);
    assert_eq!((&ints + Scalar(10)).as_slice(), &[11, 12, 13]);
    let untyped = AllocArray::from(vec![1.5, 2.5]);
    assert_eq!((&untyped * 2.0).sum(), 8.0);
}

#[test]
fn broadcasting_matches_ndarray() {
    let m = matrix(3, 4);
    let row = array![1.0, 2.0, 3.0, 4.0];
    let col = array![[10.0], [20.0], [30.0]];
    let a = AllocArray::from(m.clone());

    assert_eq!(&a + &row, &m + &row);
    assert_eq!(&a * &col, &m * &col);
    let r = AllocArray::from(row.clone());
    let c = AllocArray::from(col.clone());
    // Both sides broadcast: [4] with [3, 1] gives [3, 4].
    let outer = &r + &c;
    assert_eq!(outer, &row + &col);
    assert_eq!(&c - &r, &col - &row);
    // Through transposed and strided views.
    assert_eq!(a.t() + &col.t(), &m.t() + &col.t());
    assert_eq!(
        a.slice(s![.., ..;2]) * r.slice(s![..;2]),
        &m.slice(s![.., ..;2]) * &row.slice(s![..;2])
    );
    assert_eq!(a.slice(s![..;-1, ..]) - &c, &m.slice(s![..;-1, ..]) - &col);
    // A one-element array broadcasts like a scalar.
    let one = AllocArray::from(array![[5.0]]);
    assert_eq!(&a + &one, &m + 5.0);
    assert_eq!(&one - &a, 5.0 - &m);
    // Higher and dynamic dimensions.
    let cube = Array3::from_shape_fn((2, 3, 4), |(i, j, k)| (i + 2 * j + 3 * k) as f64);
    let ac = AllocArray::from(cube.clone());
    assert_eq!(&ac + &a, &cube + &m);
    let dynamic: ArrayD<f64> = m.clone().into_dyn();
    let sum: AllocArray<f64, IxDyn> = &ac + &dynamic;
    assert_eq!(sum, (&cube + &m).into_dyn());
    // Zero-dimensional operands.
    let zero_d = Array::from_elem((), 2.0);
    assert_eq!(&a * &zero_d, &m * 2.0);
    let zero_a = AllocArray::from_elem((), 3.0);
    assert_eq!((&zero_a + &zero_d)[()], 5.0);
}

#[test]
fn incompatible_shapes_panic() {
    let a = AllocArray::<f64, _>::zeros((3, 4));
    let b = AllocArray::<f64, _>::zeros((3,));
    let msg = panic_message(|| ignore(&a + &b));
    assert_eq!(
        msg,
        "cannot broadcast arrays of shapes [3, 4] and [3] together"
    );
    let mut c = AllocArray::<f64, _>::zeros((3,));
    let msg = panic_message(|| c += &a);
    assert_eq!(
        msg,
        "cannot broadcast an array of shape [3, 4] to shape [3]"
    );
}

#[test]
fn compound_assignment_and_assign() {
    let m = matrix(2, 3);
    let mut a = AllocArray::from(m.clone());
    let ptr = a.as_slice().as_ptr();
    a += 1.0;
    a *= &AllocArray::from(array![1.0, 2.0, 3.0]);
    a -= array![[1.0], [2.0]];
    a /= Scalar(2.0);
    a %= 100.0;
    let mut expected = m.clone();
    expected += 1.0;
    expected *= &array![1.0, 2.0, 3.0];
    expected -= &array![[1.0], [2.0]];
    expected /= 2.0;
    expected %= 100.0;
    assert_eq!(a, expected);
    assert_eq!(a.as_slice().as_ptr(), ptr, "in place");

    let mut b = a.similar();
    b.assign(&a);
    assert_eq!(b, a);
    b.assign(Scalar(0.5));
    assert_eq!(b.sum(), 3.0);
    b.assign(a.t().t());
    assert_eq!(b, a);
    b.fill(1.0);
    assert_eq!(b.sum(), 6.0);
}

#[test]
fn mixing_kinds_gives_checked_results() {
    let a = AllocArray::from(vec![1.0, 2.0]);
    let c = CheckedAllocArray::from(vec![3.0, 4.0]);
    let r1: CheckedAllocArray<f64, Ix1> = &a + &c;
    let r2: CheckedAllocArray<f64, Ix1> = &c + &a;
    let r3: CheckedAllocArray<f64, Ix1> = a.alloc_view() * c.alloc_view();
    let r4: AllocArray<f64, Ix1> = &a + &a;
    let r5: CheckedAllocArray<f64, Ix1> = &array![1.0, 1.0] + &c;
    assert_eq!(r1, r2);
    assert_eq!(r3.as_slice(), &[3.0, 8.0]);
    assert_eq!(r4.as_slice(), &[2.0, 4.0]);
    assert_eq!(r5.as_slice(), &[4.0, 5.0]);
}

// ---------------------------------------------------------------------------------------------
// map, reductions, products.

#[test]
fn map_and_reductions_match_ndarray() {
    let m = matrix(4, 5);
    let a = AllocArray::from(m.clone());
    assert_eq!(a.map(|x| x * x), m.map(|x| x * x));
    // (Exact arithmetic only: Miri makes `sin` and friends slightly non-deterministic.)
    assert_eq!(a.mapv(f64::abs), m.mapv(f64::abs));
    assert_eq!(a.t().mapv(|x| 3.0 * x - 1.0), m.t().mapv(|x| 3.0 * x - 1.0));
    assert_eq!(a.sum(), m.sum());
    assert_eq!(a.mean(), m.mean());
    assert_eq!(a.t().sum(), m.sum());
    assert_eq!(a.product(), m.product());
    assert_eq!(
        a.fold(f64::MIN, |acc, &x| acc.max(x)),
        m.fold(f64::MIN, |acc, &x| acc.max(x))
    );
    assert_eq!(AllocArray::<f64, _>::zeros(0).mean(), None);

    for axis in 0..2 {
        assert_eq!(a.sum_axis(Axis(axis)), m.sum_axis(Axis(axis)));
        assert_eq!(a.t().sum_axis(Axis(axis)), m.t().sum_axis(Axis(axis)));
    }
    let cube = Array3::from_shape_fn((3, 4, 5), |(i, j, k)| (i * 7 + j * 3 + k) as i64);
    let ac = AllocArray::from(cube.clone());
    for axis in 0..3 {
        assert_eq!(ac.sum_axis(Axis(axis)), cube.sum_axis(Axis(axis)));
    }
    let msg = panic_message(|| ignore(ac.sum_axis(Axis(3))));
    assert!(msg.contains("out of bounds"), "{msg}");

    let mut b = a.clone();
    b.mapv_inplace(|x| x + 1.0);
    assert_eq!(b, &m + 1.0);
    b.map_inplace(|x| *x = -*x);
    assert_eq!(b, -(&m + 1.0));

    // map to another element type, and into non-Copy elements.
    let labels = a.map(|x| format!("{x}"));
    assert_eq!(labels[[0, 0]], "-3");
    let lengths = labels.map(String::len);
    assert_eq!(lengths.shape(), &[4, 5]);

    // zip_with is the general form.
    let z = a.zip_with(&array![1.0, 0.0, 1.0, 0.0, 1.0], |x, k| {
        if *k > 0.0 {
            *x
        } else {
            0.0
        }
    });
    assert_eq!(z.sum_axis(Axis(0)).len(), 5);
}

#[test]
fn dot_products_match_ndarray() {
    let m = matrix(4, 3);
    let n = matrix(3, 5);
    let v3 = array![1.0, -2.0, 0.5];
    let v4 = array![0.25, 1.0, -1.0, 2.0];
    let (am, an) = (AllocArray::from(m.clone()), AllocArray::from(n.clone()));
    let (a3, a4) = (AllocArray::from(v3.clone()), AllocArray::from(v4.clone()));

    assert_eq!(a3.dot(&a3), v3.dot(&v3));
    assert_eq!(am.dot(&a3), m.dot(&v3));
    assert_eq!(a4.dot(&am), v4.dot(&m));
    assert_eq!(am.dot(&an), m.dot(&n));
    // With views (transposed: not contiguous) and ndarray operands.
    assert_eq!(an.t().dot(&am.t()), n.t().dot(&m.t()));
    assert_eq!(am.t().dot(&v4), m.t().dot(&v4));
    assert_eq!(am.dot(&n), m.dot(&n));
    assert_eq!(am.dot(n.view()), m.dot(&n));
    // Other element types take the generic path.
    let mi = Array2::from_shape_fn((3, 3), |(i, j)| (i * 3 + j) as i32);
    let ai = AllocArray::from(mi.clone());
    assert_eq!(ai.dot(&ai), mi.dot(&mi));
    let mf = m.mapv(|x| x as f32);
    let af = AllocArray::from(mf.clone());
    assert_eq!(af.dot(&af.t()), mf.dot(&mf.t()));

    // The result comes from the allocator, checked if an operand is.
    let alloc = arena();
    with_allocator(&alloc, || {
        let p = am.dot(&an);
        assert!(p.is_arena());
        let c = CheckedAllocArray::from(n.clone());
        let q: CheckedAllocArray<f64, Ix2> = am.dot(&c);
        assert_eq!(q, m.dot(&n));
    });

    let msg = panic_message(|| ignore(am.dot(&am)));
    assert_eq!(msg, "dot: shapes [4, 3] and [4, 3] are not aligned");
    let msg = panic_message(|| ignore(a3.dot(&a4)));
    assert_eq!(msg, "dot: shapes [3] and [4] are not aligned");
}

// ---------------------------------------------------------------------------------------------
// Shapes, views, indexing.

#[test]
fn reshape_keeps_the_memory_and_refuses_other_sizes() {
    let alloc = arena();
    with_allocator(&alloc, || {
        let a = AllocArray::from_shape_fn(6, |i| i);
        let ptr = a.as_slice().as_ptr();
        let b = a.reshape((2, 3)).unwrap();
        assert_eq!(b.as_slice().as_ptr(), ptr);
        assert!(b.is_arena());
        assert_eq!(b, array![[0, 1, 2], [3, 4, 5]]);
        let err = b.reshape((4, 2)).unwrap_err();
        assert_eq!(err.from(), &[2, 3]);
        assert_eq!(err.to(), &[4, 2]);
        assert_eq!(
            err.to_string(),
            "cannot reshape an array of shape [2, 3] (6 elements) into shape [4, 2] (8 elements)"
        );
    });
    let c = AllocArray::from(vec![1, 2, 3]).insert_axis(Axis(0));
    assert_eq!(c.shape(), &[1, 3]);
    let d = c.into_dyn().reshape(IxDyn(&[3])).unwrap();
    assert_eq!(d.shape(), &[3]);
    let empty = AllocArray::<u8, _>::zeros((0, 4))
        .reshape((4, 0, 7))
        .unwrap();
    assert!(empty.is_empty());
}

#[test]
fn views_slices_and_transposes() {
    let m = matrix(4, 6);
    let a = AllocArray::from(m.clone());
    let v: AllocView<'_, f64, Ix2> = a.slice(s![1..3, ..;2]);
    assert_eq!(v.shape(), &[2, 3]);
    assert_eq!(v, m.slice(s![1..3, ..;2]));
    assert_eq!(v.t().shape(), &[3, 2]);
    assert_eq!(v.slice(s![.., 1]).to_array(), m.slice(s![1..3, 2]));
    assert_eq!(v[(1, 2)], m[(2, 4)]);
    assert_eq!(v.get((5, 5)), None);
    assert_eq!(v.iter().count(), 6);
    let collected: Vec<f64> = v.into_iter().copied().collect();
    assert_eq!(
        collected,
        m.slice(s![1..3, ..;2]).iter().copied().collect::<Vec<_>>()
    );
    assert_eq!(a.t().to_owned(), m.t());
    assert_eq!(a.alloc_view().reversed_axes(), m.t());

    // Every read-only ndarray function works on `view()`.
    assert_eq!(a.view().row(2), m.row(2));
    assert_eq!(a.view().diag(), m.diag());
    assert_eq!(
        a.view().fold_axis(Axis(1), 0.0, |s, x| s + x),
        m.sum_axis(Axis(1))
    );

    // And AllocView::from wraps any ndarray view.
    let w = AllocView::from(m.view()) * 2.0;
    assert_eq!(w, &m * 2.0);
}

#[test]
fn indexing() {
    let mut a = AllocArray::from(array![[1, 2, 3], [4, 5, 6]]);
    assert_eq!(a[(1, 2)], 6);
    assert_eq!(a[[0, 1]], 2);
    a[(0, 0)] = 10;
    a[[1, 1]] += 100;
    *a.get_mut((1, 0)).unwrap() = -4;
    assert_eq!(a, array![[10, 2, 3], [-4, 105, 6]]);
    assert_eq!(a.get((2, 0)), None);
    let msg = panic_message(|| ignore(a[(2, 0)]));
    assert_eq!(msg, "index out of bounds for an array of shape [2, 3]");
    a.slice_mut(s![.., 0]).fill(0);
    a.view_mut()[(0, 2)] = 9;
    a.as_slice_mut()[1] = 8;
    assert_eq!(a, array![[0, 8, 9], [0, 105, 6]]);

    let d = AllocArray::<i32, IxDyn>::from_shape_fn(IxDyn(&[2, 2, 2]), |ix| {
        (ix[0] * 4 + ix[1] * 2 + ix[2]) as i32
    });
    assert_eq!(d[&[1, 0, 1][..]], 5);

    // Zero-sized elements.
    let units = AllocArray::from_elem((3, 2), ());
    assert_eq!(units[(2, 1)], ());
    assert_eq!(units.len(), 6);
}

#[test]
fn equality_formatting_and_iteration() {
    let a = AllocArray::from(array![[1, 2], [3, 4]]);
    let nd = array![[1, 2], [3, 4]];
    assert_eq!(a, nd);
    assert_eq!(nd, a);
    assert_eq!(a, a.clone());
    assert_ne!(a, AllocArray::from(array![[1, 2], [3, 5]]));
    assert_ne!(a.alloc_view(), a.t());
    assert_eq!(CheckedAllocArray::from(nd.clone()), a);

    assert_eq!(format!("{a}"), format!("{nd}"));
    let debug = format!("{a:?}");
    assert!(debug.starts_with("AllocArray(heap, [[1, 2],"), "{debug}");
    let alloc = arena();
    let c = with_allocator(&alloc, || CheckedAllocArray::from(nd.clone()) * 1);
    let debug = format!("{c:?}");
    assert!(
        debug.starts_with("CheckedAllocArray(arena, [[1, 2],"),
        "{debug}"
    );
    assert!(format!("{:?}", c.t()).starts_with("CheckedView(arena, "));
    alloc.reset();
    assert_eq!(
        format!("{c:?}"),
        "CheckedAllocArray(arena, <array accessed after its memory has been deallocated>, \
         shape=[2, 2])"
    );
    assert_eq!(
        format!("{c}"),
        "<array accessed after its memory has been deallocated>"
    );

    let total: i32 = (&a).into_iter().sum();
    assert_eq!(total, 10);
    assert_eq!(a.iter().copied().collect::<Vec<_>>(), [1, 2, 3, 4]);
}

#[test]
fn operand_gives_views_of_everything() {
    let a = AllocArray::from(vec![1, 2, 3]);
    assert_eq!((&a).with_view(|v| v.sum()), 6);
    assert_eq!(a.t().with_view(|v| v.len()), 3);
    assert_eq!(array![[1, 2]].with_view(|v| v.shape().to_vec()), [1, 2]);
    assert_eq!(Scalar(4).with_view(|v| v[()]), 4);
}

// ---------------------------------------------------------------------------------------------
// Elements are dropped exactly once.

/// Counts its drops.
#[derive(Clone, Debug)]
struct Counted {
    drops: Rc<Cell<usize>>,
    value: usize,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
    }
}

fn counted(drops: &Rc<Cell<usize>>, value: usize) -> Counted {
    Counted {
        drops: Rc::clone(drops),
        value,
    }
}

#[test]
fn arena_elements_are_dropped_exactly_once() {
    let drops = Rc::new(Cell::new(0));
    let alloc = UncheckedBumperAllocator::with_fixed_capacity(1 << 20);
    with_allocator(&alloc, || {
        let a = AllocArray::from_shape_fn((2, 3), |(i, j)| counted(&drops, i * 3 + j));
        assert!(a.is_arena());
        assert_eq!(drops.get(), 0);

        let b = a.clone(); // 6 more, in the arena
        let c = a.map(|x| counted(&drops, x.value * 10)); // 6 more
        assert_eq!(drops.get(), 0);
        drop(b);
        assert_eq!(drops.get(), 6);

        // Reshaped: the same elements, dropped once.
        let c = c.reshape(6).unwrap();
        drop(c);
        assert_eq!(drops.get(), 12);

        // Moved out to the heap: dropped once, there.
        let heap = a.into_array();
        assert_eq!(drops.get(), 12);
        assert_eq!(heap[(1, 2)].value, 5);
        drop(heap);
        assert_eq!(drops.get(), 18);

        // Strings too.
        let words = AllocArray::from_shape_fn(3, |i| "word".repeat(i + 1));
        let upper = words.map(|w| w.to_uppercase());
        assert_eq!(upper[2], "WORDWORDWORD");
    });

    // An array living past a reset, and past the allocator itself.
    let survivor = with_allocator(&alloc, || AllocArray::from_elem(4, counted(&drops, 1)));
    assert_eq!(drops.get(), 19, "the element given to from_elem");
    alloc.reset();
    drop(alloc);
    assert_eq!(survivor[3].value, 1);
    drop(survivor);
    assert_eq!(drops.get(), 23);
}

#[test]
fn heap_elements_are_dropped_exactly_once() {
    let drops = Rc::new(Cell::new(0));
    let a = AllocArray::from(Array1::from_iter((0..5).map(|i| counted(&drops, i))));
    let sliced = AllocArray::from(
        Array1::from_iter((0..5).map(|i| counted(&drops, i))).slice_move(s![1..3]),
    );
    assert_eq!(drops.get(), 3, "the elements sliced away");
    let t = AllocArray::from(
        Array2::from_shape_fn((2, 2), |(i, j)| counted(&drops, i + j)).reversed_axes(),
    );
    assert_eq!(drops.get(), 3);
    drop((a, sliced, t));
    assert_eq!(drops.get(), 3 + 5 + 2 + 4);
}

#[test]
fn similar_uninit_and_assume_init() {
    let a = AllocArray::from(array![[1, 2], [3, 4]]);
    let mut u = a.similar_uninit();
    assert_eq!(u.shape(), &[2, 2]);
    for (slot, x) in u.as_slice_mut().iter_mut().zip(a.iter()) {
        slot.write(x * 2);
    }
    // SAFETY: every element was written.
    let b = unsafe { u.assume_init() };
    assert_eq!(b, array![[2, 4], [6, 8]]);
    assert!(!b.is_arena());

    let alloc = arena();
    with_allocator(&alloc, || {
        let drops = Rc::new(Cell::new(0));
        let mut u = AllocArray::<MaybeUninit<Counted>, _>::uninit((2, 2));
        assert!(u.is_arena());
        for (i, slot) in u.as_slice_mut().iter_mut().enumerate() {
            slot.write(counted(&drops, i));
        }
        // SAFETY: every element was written.
        let c = unsafe { u.assume_init() };
        assert!(c.is_arena());
        assert_eq!(c[(1, 1)].value, 3);
        assert_eq!(drops.get(), 0);
        drop(c);
        assert_eq!(drops.get(), 4);
        let _: AllocArray<MaybeUninit<u8>, Ix3> =
            AllocArray::<u8, _>::zeros((1, 1, 1)).similar_uninit();
    });
}

// ---------------------------------------------------------------------------------------------
// Checked arrays.

#[test]
fn checked_arrays_work_like_unchecked_ones_while_valid() {
    let m = matrix(3, 3);
    let c = CheckedAllocArray::from(m.clone());
    let alloc = arena();
    with_allocator(&alloc, || {
        let r = (&c * 2.0 + &c).dot(&c.t()) - 1.0;
        assert_eq!(r, (&m * 3.0).dot(&m.t()) - 1.0);
        assert!(r.is_arena());
        assert_eq!(r.try_sum(), Ok(r.sum()));
        let view: CheckedView<'_, f64, Ix1> = c.slice(s![.., 0]);
        assert_eq!(view.try_view().unwrap(), m.column(0));
        assert_eq!(c.sum_axis(Axis(1)), m.sum_axis(Axis(1)));
        assert_eq!(alloc.stats().tracked_checked, 5);
    });
    assert_eq!(alloc.reset().invalidated_checked, 5);
    // Heap memory is never invalidated.
    assert_eq!(c.check(), Ok(()));
}

#[test]
fn every_checked_access_after_a_reset_is_refused() {
    const INVALID: &str = "array accessed after its memory has been deallocated";
    let alloc = arena();
    let mut c = with_allocator(&alloc, || CheckedAllocArray::<f64, _>::ones((2, 2)));
    alloc.reset();
    assert!(!c.is_valid());
    // Shape queries don't touch the memory.
    assert_eq!(
        (c.shape(), c.len(), c.ndim(), c.is_arena()),
        (&[2, 2][..], 4, 2, true)
    );

    assert_eq!(c.check(), Err(InvalidMemory));
    assert!(c.try_view().is_err());
    assert!(c.try_view_mut().is_err());
    assert!(c.try_alloc_view().is_err());
    assert!(c.try_as_slice().is_err());
    assert_eq!(c.try_sum(), Err(InvalidMemory));
    type Case = Box<dyn FnOnce(&mut CheckedAllocArray<f64, Ix2>)>;
    let cases: Vec<(&str, Case)> = vec![
        ("view_mut", Box::new(|c| ignore(c.view_mut()))),
        ("as_slice_mut", Box::new(|c| ignore(c.as_slice_mut()))),
        ("index_mut", Box::new(|c| c[(0, 0)] = 1.0)),
        ("add_assign", Box::new(|c| *c += 1.0)),
        ("assign", Box::new(|c| c.assign(Scalar(1.0)))),
        ("mapv_inplace", Box::new(|c| c.mapv_inplace(|x| x))),
        ("fill", Box::new(|c| c.fill(0.0))),
        ("map", Box::new(|c| ignore(c.map(|x| *x)))),
        ("mean", Box::new(|c| ignore(c.mean()))),
        ("fold", Box::new(|c| ignore(c.fold(0.0, |a, b| a + b)))),
        ("sum_axis", Box::new(|c| ignore(c.sum_axis(Axis(0))))),
        ("dot", Box::new(|c| ignore(c.dot(&array![[1.0], [1.0]])))),
        ("iter", Box::new(|c| ignore(c.iter().count()))),
        (
            "eq",
            Box::new(|c| ignore(*c == array![[1.0, 1.0], [1.0, 1.0]])),
        ),
        ("t", Box::new(|c| ignore(c.t()))),
        ("clone", Box::new(|c| ignore(c.clone()))),
        ("operand", Box::new(|c| ignore(array![1.0, 2.0] + &*c))),
        ("get", Box::new(|c| ignore(c.get((0, 0))))),
    ];
    for (name, case) in cases {
        assert_eq!(panic_message(|| case(&mut c)), INVALID, "{name}");
    }
    assert_eq!(panic_message(|| ignore(c.into_unchecked())), INVALID);

    let d = with_allocator(&alloc, || CheckedAllocArray::<f64, _>::ones(3));
    alloc.reset();
    assert_eq!(d.try_into_array(), Err(InvalidMemory));
}

/// The rule: shape queries (and calls that only use the shape, like `similar`) never check;
/// every other call on a checked array or view does, once, at the call: the panicking forms
/// panic, the `try_*` forms return `InvalidMemory`. Arrays and views have the same `try_*`
/// forms.
#[test]
fn checked_arrays_and_views_check_alike() {
    const INVALID: &str = "array accessed after its memory has been deallocated";
    let alloc = arena();
    let c = with_allocator(&alloc, || {
        CheckedAllocArray::from_shape_fn((2, 3), |(i, j)| (i + j) as f64)
    });
    let v = c.t();
    alloc.reset();
    // Shape queries: no check, on both.
    assert_eq!((c.shape(), v.shape()), (&[2, 3][..], &[3, 2][..]));
    assert_eq!((c.dim(), v.dim()), ((2, 3), (3, 2)));
    assert_eq!((c.len(), v.len(), c.ndim(), v.ndim()), (6, 6, 2, 2));
    assert_eq!((c.nrows(), v.ncols()), (2, 2));
    assert!(c.is_arena() && v.is_arena() && !c.is_valid() && !v.is_valid());
    assert_eq!(c.similar().shape(), &[2, 3]);
    assert_eq!(c.similar_shaped(4).len(), 4);
    assert!(format!("{c:?} {v:?} {c} {v}").contains(INVALID));
    // The Result forms, on both.
    assert_eq!(
        (c.check(), v.check()),
        (Err(InvalidMemory), Err(InvalidMemory))
    );
    assert!(c.try_view().is_err() && v.try_view().is_err());
    assert!(c.try_alloc_view().is_err() && v.try_alloc_view().is_err());
    assert!(c.try_to_array().is_err() && v.try_to_array().is_err());
    assert_eq!(
        (c.try_sum(), v.try_sum()),
        (Err(InvalidMemory), Err(InvalidMemory))
    );
    // Every other call panics, on both, views included.
    type Case<'c> = (&'static str, Box<dyn Fn() + 'c>);
    let cases: Vec<Case<'_>> = vec![
        ("alloc_view", Box::new(|| ignore(c.alloc_view()))),
        ("view.alloc_view", Box::new(|| ignore(v.alloc_view()))),
        ("slice", Box::new(|| ignore(c.slice(s![.., ..1])))),
        ("view.slice", Box::new(|| ignore(v.slice(s![..1, ..])))),
        ("t", Box::new(|| ignore(c.t()))),
        ("view.t", Box::new(|| ignore(v.t()))),
        ("row", Box::new(|| ignore(c.row(0)))),
        ("view.column", Box::new(|| ignore(v.column(0)))),
        ("index_axis", Box::new(|| ignore(c.index_axis(Axis(1), 0)))),
        (
            "view.axis_iter",
            Box::new(|| ignore(v.axis_iter(Axis(0)).count())),
        ),
        ("to_slice", Box::new(|| ignore(c.to_slice()))),
        ("view.get", Box::new(|| ignore(v.get((0, 0))))),
        ("view.mean_axis", Box::new(|| ignore(v.mean_axis(Axis(0))))),
        (
            "map_axis",
            Box::new(|| ignore(c.map_axis(Axis(0), |l| l.len()))),
        ),
    ];
    for (name, case) in cases {
        assert_eq!(panic_message(case), INVALID, "{name}");
    }
    assert_eq!(panic_message(|| ignore(c.reshape(6))), INVALID);
}

#[test]
fn checked_views_check_on_every_operation() {
    let alloc = arena();
    let c = with_allocator(&alloc, || CheckedAllocArray::from_shape_fn(4, |i| i as f64));
    let head = c.slice(s![..2]);
    let tail = c.slice(s![2..]);
    assert_eq!((head + tail).as_slice(), &[2.0, 4.0]);
    alloc.reset();
    assert_eq!(
        panic_message(|| ignore(head + tail)),
        "array accessed after its memory has been deallocated"
    );
    assert_eq!(head.try_sum(), Err(InvalidMemory));
    assert!(!head.is_valid());
}

#[test]
fn checked_conversions() {
    let c = CheckedAllocArray::from(vec![1, 2, 3]);
    let u = c.into_unchecked();
    assert_eq!(u.sum(), 6);
    let c = CheckedAllocArray::try_from(u).unwrap();
    assert_eq!(Array1::from(c), array![1, 2, 3]);
}

#[test]
fn arrays_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<AllocArray<f64, Ix2>>();
    send_sync::<CheckedAllocArray<String, IxDyn>>();
    send_sync::<AllocView<'static, f64, Ix2>>();
    send_sync::<CheckedView<'static, f64, Ix1>>();
}

// ---------------------------------------------------------------------------------------------
// Fallible construction and bad shapes.

#[test]
fn try_constructors_return_the_allocators_error() {
    let full = BumperAllocator::with_fixed_capacity(64);
    let a = AllocArray::<f64, _>::zeros(1000); // on the heap
    with_allocator(&full, || {
        let errors = [
            AllocArray::<f64, _>::try_zeros(1000).unwrap_err(),
            AllocArray::try_from_elem((10, 100), 1.0f64).unwrap_err(),
            AllocArray::try_from_shape_fn(1000, |i| i as f64).unwrap_err(),
            a.try_similar().unwrap_err(),
            a.try_similar_shaped((100, 10)).unwrap_err(),
            AllocArray::<MaybeUninit<f64>, _>::try_uninit(1000).unwrap_err(),
        ];
        for err in errors {
            let ArrayError::Alloc { bytes, source } = &err else {
                panic!("not an allocation error: {err:?}")
            };
            assert_eq!(*bytes, 8000);
            assert!(matches!(source, bumper::AllocError::BufferFull { .. }));
            assert!(err
                .to_string()
                .starts_with("array allocation failed (8000 bytes)"));
        }
        // Small ones still fit.
        assert_eq!(
            AllocArray::<f64, _>::try_zeros(2).unwrap().as_slice(),
            &[0.0; 2]
        );
    });
    // Outside any allocator: the heap.
    assert!(!AllocArray::try_from_elem(3, 1u8).unwrap().is_arena());
}

#[test]
fn shapes_whose_size_overflows_are_refused_with_a_clear_error() {
    let huge = (usize::MAX / 2, 3);
    let expected = format!(
        "the number of elements of shape [{}, 3] overflows usize",
        usize::MAX / 2
    );
    let a = AllocArray::from(vec![1u8, 2]);
    let errors = [
        AllocArray::<u8, _>::try_zeros(huge).unwrap_err(),
        AllocArray::try_from_elem(huge, 0u8).unwrap_err(),
        AllocArray::try_from_shape_fn(huge, |_| 0u8).unwrap_err(),
        a.try_similar_shaped(huge).unwrap_err(),
        AllocArray::<MaybeUninit<u8>, _>::try_uninit(huge).unwrap_err(),
    ];
    for err in errors {
        assert_eq!(
            err,
            ArrayError::ShapeOverflow {
                shape: vec![usize::MAX / 2, 3]
            }
        );
        assert_eq!(err.to_string(), expected);
    }
    // The element count fits but the bytes don't.
    let err = AllocArray::<u64, _>::try_zeros(usize::MAX / 4).unwrap_err();
    assert!(
        matches!(err, ArrayError::SizeOverflow { elem_size: 8, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("overflows isize::MAX bytes"),
        "{err}"
    );
    // An n-d shape (dynamic too), and the panicking forms name the problem.
    let dyn_shape = IxDyn(&[1 << 32, 1 << 32, 2]);
    assert!(matches!(
        AllocArray::<u8, _>::try_zeros(dyn_shape.clone()),
        Err(ArrayError::ShapeOverflow { .. })
    ));
    assert_eq!(
        panic_message(|| ignore(AllocArray::<u8, _>::zeros(dyn_shape))),
        format!(
            "the number of elements of shape [{}, {}, 2] overflows usize",
            1u64 << 32,
            1u64 << 32
        )
    );
    assert!(panic_message(|| ignore(a.similar_shaped(huge))).contains("overflows usize"));
    assert!(panic_message(|| ignore(AllocArray::from_elem(huge, 1u8))).contains("overflows usize"));
    // A reshape into such a shape is an error, and its text doesn't overflow either.
    let err = a.reshape(huge).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "cannot reshape an array of shape [2] (2 elements) into shape [{}, 3] (a number of \
             elements that overflows usize)",
            usize::MAX / 2
        )
    );
}

// ---------------------------------------------------------------------------------------------
// The ndarray methods model code reaches for: views of the same memory, new arrays from the
// current allocator.

#[test]
fn views_share_memory_and_new_arrays_come_from_the_allocator() {
    let alloc = arena();
    let m = matrix(3, 4);
    with_allocator(&alloc, || {
        let a = AllocArray::from(m.clone()).to_owned(); // in the arena
        assert!(a.is_arena());
        let base = a.as_slice().as_ptr();
        // Views: the same memory, the same lease.
        let row = a.row(1);
        assert_eq!(row.to_slice().unwrap().as_ptr(), base.wrapping_add(4));
        assert_eq!(row.to_array(), m.row(1));
        assert_eq!(a.column(2).to_array(), m.column(2));
        assert_eq!(
            a.column(2).get(1).map(|x| x as *const f64),
            Some(base.wrapping_add(6))
        );
        assert_eq!(
            a.index_axis(Axis(1), 3).to_array(),
            m.index_axis(Axis(1), 3)
        );
        assert_eq!(a.t().row(3).to_array(), m.column(3));
        let rows: Vec<_> = a.outer_iter().map(|r| r.to_array()).collect();
        assert_eq!(
            rows,
            m.outer_iter().map(|r| r.to_owned()).collect::<Vec<_>>()
        );
        let cols: Vec<_> = a.axis_iter(Axis(1)).rev().map(|c| c.sum()).collect();
        let expected: Vec<_> = m.axis_iter(Axis(1)).rev().map(|c| c.sum()).collect();
        assert_eq!(cols, expected);
        for v in [a.row(0), a.column(0), a.t().column(0)] {
            assert!(v.is_arena());
        }
        assert_eq!((a.nrows(), a.ncols(), a.t().nrows()), (3, 4, 4));
        // New arrays: from the allocator, equal to ndarray's.
        let news = [
            (a.mean_axis(Axis(0)).unwrap(), m.mean_axis(Axis(0)).unwrap()),
            (
                a.t().mean_axis(Axis(1)).unwrap(),
                m.mean_axis(Axis(0)).unwrap(),
            ),
            (
                a.fold_axis(Axis(0), f64::MIN, |&acc, &x| acc.max(x)),
                m.fold_axis(Axis(0), f64::MIN, |&acc, &x| acc.max(x)),
            ),
            (
                a.map_axis(Axis(0), |c| c.sum()),
                m.map_axis(Axis(0), |c| c.sum()),
            ),
            (a.row(2).mapv(|x| x * 2.0), m.row(2).mapv(|x| x * 2.0)),
            (a.column(1).map(|x| x - 1.0), m.column(1).map(|x| x - 1.0)),
        ];
        for (ours, theirs) in &news {
            assert!(ours.is_arena());
            assert_eq!(ours, theirs);
        }
        assert_eq!(a.map_axis(Axis(1), |r| r.len()).as_slice(), &[4, 4, 4]);
        assert_eq!(a.row(0).fold(0.0, |s, x| s + x), m.row(0).sum());
        assert_eq!(a.row(0).iter().count(), 4);
        // An axis of length 0 has no mean.
        assert!(AllocArray::<f64, _>::zeros((0, 3))
            .mean_axis(Axis(0))
            .is_none());
        // In place.
        let mut b = a.clone();
        b.map_inplace(|x| *x = -*x);
        assert_eq!(b, -&a);
    });
    alloc.reset();
}

#[test]
fn axis_and_index_errors_panic_with_their_reason() {
    let a = AllocArray::from(matrix(2, 3));
    assert_eq!(
        panic_message(|| ignore(a.row(2))),
        "index 2 out of bounds for axis 0 of length 2"
    );
    assert_eq!(
        panic_message(|| ignore(a.index_axis(Axis(2), 0))),
        "axis 2 out of bounds for an array of 2 axes"
    );
    assert_eq!(
        panic_message(|| ignore(a.axis_iter(Axis(5)).count())),
        "axis 5 out of bounds for an array of 2 axes"
    );
    assert_eq!(
        panic_message(|| ignore(a.mean_axis(Axis(3)))),
        "axis 3 out of bounds for an array of 2 axes"
    );
}

#[test]
fn similar_shaped_makes_an_array_of_another_shape_from_the_allocator() {
    let alloc = arena();
    let c = AllocArray::from(vec![1.0f32, 2.0]);
    assert!(!c.similar_shaped((100, 100)).is_arena());
    with_allocator(&alloc, || {
        // The seed's `similar(c, 100, 100)`.
        let m = c.similar_shaped((100, 100));
        assert!(m.is_arena());
        assert_eq!(m.shape(), &[100, 100]);
        assert_eq!(m.sum(), 0.0);
        let d = c.t().to_owned().similar_shaped(IxDyn(&[2, 3, 4]));
        assert_eq!(d.shape(), &[2, 3, 4]);
    });
    alloc.reset();
    let checked = CheckedAllocArray::from(vec![1, 2]);
    let s: CheckedAllocArray<i32, Ix3> = checked.similar_shaped((1, 2, 3));
    assert_eq!(s.len(), 6);
}

#[test]
fn small_and_large_products_match_ndarray() {
    let alloc = arena();
    with_allocator(&alloc, || {
        let shapes = [
            (1, 1, 1),
            (3, 5, 2),
            (32, 90, 10),
            (7, 0, 3),
            (0, 4, 2),
            (80, 70, 60),
        ];
        // The large product goes through matrixmultiply's kernels: minutes under Miri.
        let shapes = if cfg!(miri) {
            &shapes[..5]
        } else {
            &shapes[..]
        };
        for &(m, k, n) in shapes {
            let a = Array2::from_shape_fn((m, k), |(i, j)| ((i * 7 + j * 3) % 11) as f64 - 5.0);
            let b = Array2::from_shape_fn((k, n), |(i, j)| ((i * 5 + j) % 13) as f64 * 0.5);
            let expected = a.dot(&b);
            let (x, y) = (AllocArray::from(a.clone()), AllocArray::from(b.clone()));
            assert_eq!(x.dot(&y), expected, "{m}x{k}x{n}");
            // Strided operands: a transposed right side (not row-contiguous), a sliced left.
            let yt = AllocArray::from(b.t().to_owned());
            assert_eq!(x.dot(&yt.t()), expected, "{m}x{k}x{n}, transposed");
            assert_eq!(x.slice(s![.., ..]).dot(&b), expected);
            assert!(x.dot(&y).is_arena());
        }
    });
    alloc.reset();
    const _: () = assert!(
        80 * 70 * 60 > allocarrays::DIRECT_DOT_MAX,
        "one product takes the large path"
    );
}
