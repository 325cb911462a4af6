//! Panics of array operations point at the line that called them (`#[track_caller]` through the
//! operator paths), not into the library: checked by a panic hook that records the `Location`.
// Operands are taken by reference on purpose: every form of operand is under test.
#![allow(clippy::op_ref)]

use std::panic::{self, AssertUnwindSafe};
use std::sync::Mutex;

use allocarrays::{with_allocator, AllocArray, BumperAllocator, CheckedAllocArray};
use ndarray::{array, Array2};

/// The file and line where `f` panicked.
fn panic_location(f: impl FnOnce()) -> (String, u32) {
    static SEEN: Mutex<Option<(String, u32)>> = Mutex::new(None);
    let previous = panic::take_hook();
    panic::set_hook(Box::new(|info| {
        let at = info.location().expect("panics have a location");
        *SEEN.lock().unwrap() = Some((at.file().to_string(), at.line()));
    }));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    panic::set_hook(previous);
    assert!(result.is_err(), "expected a panic");
    SEEN.lock().unwrap().take().expect("the hook saw the panic")
}

/// Asserts that `f` panics on the line `line` of this file.
#[track_caller]
fn assert_panics_here(line: u32, f: impl FnOnce()) {
    let (file, at) = panic_location(f);
    assert!(
        file.ends_with("caller_location.rs"),
        "panicked in {file}:{at}"
    );
    assert_eq!(at, line, "panicked at line {at} of {file}");
}

/// One test, so the process-wide panic hook is never swapped by two tests at once.
#[test]
fn panics_point_at_the_callers_line() {
    let a = AllocArray::from(vec![1.0; 1000]);
    let m = AllocArray::from(Array2::<f64>::ones((40, 40)));
    let full = BumperAllocator::with_fixed_capacity(64);
    with_allocator(&full, || {
        // A full fixed buffer: every way of making a new array.
        assert_panics_here(line!(), || drop(&a * 2.0));
        assert_panics_here(line!(), || drop(2.0 * &a));
        assert_panics_here(line!(), || drop(&a + &a));
        assert_panics_here(line!(), || drop(-&a));
        assert_panics_here(line!(), || drop(&array![1.0] + &a));
        assert_panics_here(line!(), || drop(a.slice(ndarray::s![1..]) - 1.0));
        assert_panics_here(line!(), || drop(a.map(|x| x + 1.0)));
        assert_panics_here(line!(), || drop(a.clone()));
        assert_panics_here(line!(), || drop(a.similar()));
        assert_panics_here(line!(), || drop(a.to_owned()));
        assert_panics_here(line!(), || drop(m.dot(&m)));
        assert_panics_here(line!(), || drop(m.sum_axis(ndarray::Axis(0))));
        assert_panics_here(line!(), || drop(AllocArray::<f64, _>::zeros(1000)));
    });
    // Shapes that don't fit.
    assert_panics_here(line!(), || drop(&a + &AllocArray::from(vec![1.0, 2.0])));
    assert_panics_here(line!(), || drop(m.dot(&a)));
    let mut b = a.clone();
    assert_panics_here(line!(), || b += &AllocArray::from(vec![1.0, 2.0]));
    // A checked array used after a reset.
    let alloc = BumperAllocator::with_fixed_capacity(1 << 16);
    let c = with_allocator(&alloc, || CheckedAllocArray::<f64, _>::ones(4));
    alloc.reset();
    assert_panics_here(line!(), || drop(&c * 2.0));
    assert_panics_here(line!(), || drop(&a.slice(ndarray::s![..4]) + &c));
    // Shapes whose element count overflows.
    let huge = (usize::MAX, 2);
    assert_panics_here(line!(), || drop(AllocArray::<u8, _>::zeros(huge)));
}
