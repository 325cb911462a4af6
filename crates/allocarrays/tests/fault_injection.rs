//! Fault injection: a global allocator that fails on command, swept over every point where the
//! autoscaling buffer and the bump allocators ask the system for memory. For each failure point:
//! the `try_*` call (or `ArrayAllocator::allocate`) returns its error, array creation panics
//! with the allocator's error and nothing else, nothing leaks (bytes allocated minus bytes
//! freed come back to where they were), the buffer or allocator stays usable, and the data made
//! before the failure is intact. (`reset` under failure is covered by the allocator tests.)
//!
//! Two modes, armed per thread (so the test harness's other threads are never affected):
//! - *nth call*: exactly the `n`th allocation call from now fails, the others succeed;
//! - *byte budget*: every allocation call fails once `n` more bytes have been handed out.
#![cfg(not(miri))]

use std::alloc::{Layout, System};
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;

use allocarrays::{
    with_allocator, AllocArray, ArrayAllocator, AutoscalingAllocBuffer, BumperAllocator,
    CheckedAllocArray, Lease,
};
use bench_support::failing::{
    check_pattern, fill_pattern, live_bytes, sweep, with_nth_call_failing, Failing,
};
use bumper::{AllocError, Buffer, SlabBuffer};
use ndarray::Ix1;

#[global_allocator]
static GLOBAL: Failing = Failing::new(System);

// ---- the checks --------------------------------------------------------------------------

/// Writes a pattern into `len` bytes at `p`, a live allocation of at least `len` bytes.
fn fill(p: NonNull<u8>, len: usize, tag: u8) {
    // SAFETY: callers pass live allocations of at least `len` bytes.
    unsafe { fill_pattern(p, len, tag) }
}

/// Checks the pattern `fill` wrote.
fn check(p: NonNull<u8>, len: usize, tag: u8) {
    // SAFETY: as in `fill`, and the bytes were written by `fill`.
    unsafe { check_pattern(p, len, tag) }
}

fn is_oom(e: &AllocError) -> bool {
    matches!(e, AllocError::OutOfMemory { .. })
}

#[test]
fn autoscaling_creation_fails_cleanly() {
    let n = sweep(
        "AutoscalingAllocBuffer::try_with_initial_size",
        1024,
        |arm| {
            let mut made = None;
            let failed =
                arm(&mut || made = Some(AutoscalingAllocBuffer::try_with_initial_size(8192)));
            match made.expect("ran") {
                Err(e) => {
                    assert!(failed);
                    assert!(is_oom(&e), "{e:?}");
                }
                Ok(mut buf) => {
                    assert_eq!(buf.main_capacity(), 8192);
                    let p = buf.try_alloc_layout(Layout::new::<u64>()).unwrap();
                    fill(p, 8, 1);
                    check(p, 8, 1);
                }
            }
        },
    );
    eprintln!("AutoscalingAllocBuffer::try_with_initial_size: {n} failures injected and survived");
}

/// Growth by additional buffers, with checkpoints and restores around the failures.
#[test]
fn autoscaling_growth_fails_cleanly() {
    let sizes = [200usize, 300, 1000, 50, 4000, 100, 9000, 16];
    let n = sweep("AutoscalingAllocBuffer growth", 1024, |arm| {
        let mut buf = AutoscalingAllocBuffer::with_initial_size(256);
        let first = buf
            .try_alloc_layout(Layout::from_size_align(128, 8).unwrap())
            .unwrap();
        fill(first, 128, 0x5a);
        let mut made: Vec<(NonNull<u8>, usize, u8)> = Vec::with_capacity(sizes.len() * 2);
        let mut errors: Vec<AllocError> = Vec::with_capacity(sizes.len() * 2);
        let cp = buf.checkpoint();
        arm(&mut || {
            for (i, &size) in sizes.iter().enumerate() {
                let layout = Layout::from_size_align(size, 8 << (i % 4)).unwrap();
                match buf.try_alloc_layout(layout) {
                    Ok(p) => {
                        assert_eq!(p.as_ptr() as usize % layout.align(), 0);
                        fill(p, size, i as u8);
                        made.push((p, size, i as u8));
                    }
                    Err(e) => errors.push(e),
                }
                if i == 3 {
                    // A nested checkpoint whose restore must survive the failures after it.
                    let inner = buf.checkpoint();
                    if let Ok(p) = buf.try_alloc_layout(Layout::from_size_align(700, 8).unwrap()) {
                        fill(p, 700, 0xee);
                    }
                    // SAFETY: taken from this buffer just now; nothing allocated since is used.
                    unsafe { buf.restore(inner) };
                }
            }
        });
        for e in &errors {
            assert!(is_oom(e), "{e:?}");
        }
        check(first, 128, 0x5a);
        for &(p, len, tag) in &made {
            check(p, len, tag);
        }
        // Usable: more growth, then back to the checkpoint and a reset.
        let again = buf
            .try_alloc_layout(Layout::from_size_align(20_000, 8).unwrap())
            .unwrap();
        fill(again, 20_000, 3);
        check(first, 128, 0x5a);
        // SAFETY: `cp` came from this buffer and was not restored past; nothing after it is
        // used again.
        unsafe { buf.restore(cp) };
        check(first, 128, 0x5a);
        buf.reset();
        assert_eq!(buf.used(), 0);
    });
    eprintln!("AutoscalingAllocBuffer growth: {n} failures injected and survived");
}

/// `ArrayAllocator::allocate` (the fallible form under every array constructor) on
/// `BumperAllocator`s over growing buffers.
fn allocator_allocate_fails_cleanly<B: Buffer + Send + 'static>(name: &str, make: impl Fn() -> B) {
    // Some requests exceed a chunk of the allocator, so the buffer under it must grow.
    let sizes = [64usize, 3000, 500, 80_000, 100, 150_000];
    let n = sweep(name, 1024, |arm| {
        let alloc = BumperAllocator::new(make());
        let (first, first_lease) = alloc
            .allocate(Layout::from_size_align(96, 8).unwrap(), false)
            .unwrap();
        fill(first, 96, 0x77);
        let mut served: Vec<(NonNull<u8>, usize, u8, Lease)> = Vec::with_capacity(sizes.len());
        let mut failures: Vec<AllocError> = Vec::with_capacity(sizes.len());
        arm(&mut || {
            for (i, &size) in sizes.iter().enumerate() {
                let checked = i % 2 == 1;
                match alloc.allocate(Layout::from_size_align(size, 16).unwrap(), checked) {
                    Ok((p, lease)) => {
                        fill(p, size, i as u8);
                        served.push((p, size, i as u8, lease));
                    }
                    Err(e) => failures.push(e),
                }
            }
        });
        for e in &failures {
            assert!(is_oom(e), "{e:?}");
        }
        check(first, 96, 0x77);
        for (p, len, tag, lease) in &served {
            assert!(lease.is_valid());
            check(*p, *len, *tag);
        }
        let stats = alloc.stats();
        assert_eq!(stats.live_arrays, 1 + served.len(), "{stats:?}");
        // Usable.
        let (p, lease) = alloc
            .allocate(Layout::from_size_align(5000, 8).unwrap(), false)
            .unwrap();
        fill(p, 5000, 1);
        check(first, 96, 0x77);
        drop((served, lease, first_lease));
        alloc.reset();
        assert_eq!(alloc.stats().live_arrays, 0);
    });
    eprintln!("{name}: {n} failures injected and survived");
}

#[test]
fn bumper_allocator_over_slabs_fails_cleanly() {
    allocator_allocate_fails_cleanly(
        "BumperAllocator<SlabBuffer<4096>>::allocate",
        SlabBuffer::<4096>::with_slab_size,
    );
}

#[test]
fn bumper_allocator_over_autoscaling_fails_cleanly() {
    allocator_allocate_fails_cleanly("BumperAllocator<AutoscalingAllocBuffer>::allocate", || {
        AutoscalingAllocBuffer::with_initial_size(512)
    });
}

/// Array constructors have no `try_` form: a failure panics with the allocator's error. The
/// panic unwinds cleanly (nothing leaks) and the allocator and earlier arrays are unharmed.
#[test]
fn array_creation_failure_panics_cleanly() {
    // The default panic hook prints (and may symbolise a backtrace, caching what it read):
    // keep this thread's expected panics quiet, so the byte count sees only the arrays.
    thread_local!(static QUIET: Cell<bool> = const { Cell::new(false) });
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !QUIET.with(Cell::get) {
            default_hook(info)
        }
    }));
    // The first panic of a thread sets up state that lives on: do it before counting.
    QUIET.with(|q| q.set(true));
    let _ = catch_unwind(|| panic!("warm-up"));
    QUIET.with(|q| q.set(false));
    let mut failures = 0;
    for n in 0.. {
        let base = live_bytes();
        let alloc = BumperAllocator::new(SlabBuffer::<4096>::with_slab_size());
        let kept: AllocArray<f64, Ix1> =
            with_allocator(&alloc, || AllocArray::from_shape_fn(100, |i| i as f64));
        QUIET.with(|q| q.set(true));
        let (result, hit) = with_nth_call_failing(n, || {
            catch_unwind(AssertUnwindSafe(|| {
                with_allocator(&alloc, || {
                    let a = AllocArray::from_shape_fn(2000, |i| i as f64 * 2.0); // a big block
                    let b = CheckedAllocArray::<f64, Ix1>::from_shape_fn(300, |i| i as f64);
                    let c = a.map(|x| x + 1.0);
                    (a.sum(), b.try_sum().unwrap(), c.sum())
                })
            }))
        });
        QUIET.with(|q| q.set(false));
        match result {
            Ok(sums) => {
                assert!(!hit);
                let a: f64 = (0..2000).map(|i| i as f64 * 2.0).sum();
                assert_eq!(sums, (a, (0..300).map(|i| i as f64).sum(), a + 2000.0));
            }
            Err(payload) => {
                assert!(hit);
                let msg = payload
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| payload.downcast_ref::<&str>().copied())
                    .unwrap_or("");
                assert!(
                    msg.contains("array allocation failed"),
                    "unexpected panic: {msg}"
                );
                failures += 1;
            }
        }
        assert_eq!(
            kept.sum(),
            (0..100).map(|i| i as f64).sum::<f64>(),
            "earlier array changed"
        );
        // Still usable.
        let more = with_allocator(&alloc, || AllocArray::from_shape_fn(3000, |i| i as f64));
        assert!(more.is_arena());
        drop((kept, more));
        alloc.reset();
        drop(alloc);
        assert_eq!(live_bytes(), base, "leak with call {n} failing");
        if !hit {
            break;
        }
        assert!(n < 10_000);
    }
    assert!(failures > 0);
    eprintln!("array creation: {failures} failures injected and survived");
}
