//! Fault injection: a global allocator that fails on command, swept over every point where the
//! buffers ask the system for memory. For each failure point: the `try_*` call returns its
//! error (no abort, no panic), nothing leaks (bytes allocated minus bytes freed come back to
//! where they were), the buffer stays usable, and the data allocated before the failure is
//! intact.
//!
//! Two modes, armed per thread (so the test harness's other threads are never affected):
//! - *nth call*: exactly the `n`th allocation call from now fails, the others succeed;
//! - *byte budget*: every allocation call fails once `n` more bytes have been handed out.
#![cfg(not(miri))]

use std::alloc::{Layout, System};
use std::ptr::NonNull;

use allocator_api2::vec::Vec as ApiVec;
use bench_support::failing::{check_pattern, fill_pattern, sweep, with_byte_budget, Failing};
use bumper::{AllocBuffer, AllocError, Buffer, SlabBuffer};

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
fn alloc_buffer_creation_fails_cleanly() {
    let n = sweep("AllocBuffer::try_with_capacity", 1024, |arm| {
        let mut made = None;
        let failed = arm(&mut || made = Some(AllocBuffer::try_with_capacity(4096)));
        match made.expect("ran") {
            Err(e) => {
                assert!(failed);
                assert!(is_oom(&e), "{e:?}");
            }
            Ok(mut buf) => {
                assert_eq!(buf.capacity(), 4096);
                let p = buf.try_alloc_layout(Layout::new::<u64>()).unwrap();
                fill(p, 8, 1);
                check(p, 8, 1);
            }
        }
    });
    eprintln!("AllocBuffer::try_with_capacity: {n} failures injected and survived");
}

/// Allocations that move through several slabs and big allocations, with earlier data checked
/// after each failure and the buffer used again.
#[test]
fn slab_buffer_growth_fails_cleanly() {
    let layouts = [
        Layout::from_size_align(100, 8).unwrap(),
        Layout::from_size_align(3000, 16).unwrap(), // fills the first 4 KiB slab
        Layout::from_size_align(900, 8).unwrap(),   // next slab
        Layout::from_size_align(5000, 8).unwrap(),  // big: its own allocation
        Layout::from_size_align(64, 8192).unwrap(), // over-aligned: big too
        Layout::from_size_align(2000, 8).unwrap(),
        Layout::from_size_align(2000, 8).unwrap(), // another slab
    ];
    let n = sweep("SlabBuffer growth", 512, |arm| {
        let mut buf = SlabBuffer::<4096>::with_slab_size();
        // Made before any fault.
        let first = buf
            .try_alloc_layout(Layout::from_size_align(256, 8).unwrap())
            .unwrap();
        fill(first, 256, 0xa5);
        let mut made: Vec<(NonNull<u8>, usize, u8)> = Vec::with_capacity(layouts.len());
        let mut errors = Vec::with_capacity(layouts.len());
        arm(&mut || {
            for (i, layout) in layouts.iter().enumerate() {
                match buf.try_alloc_layout(*layout) {
                    Ok(p) => {
                        assert_eq!(p.as_ptr() as usize % layout.align(), 0);
                        fill(p, layout.size(), i as u8);
                        made.push((p, layout.size(), i as u8));
                    }
                    Err(e) => errors.push(e),
                }
            }
        });
        for e in &errors {
            assert!(is_oom(e), "{e:?}");
        }
        check(first, 256, 0xa5);
        for &(p, len, tag) in &made {
            check(p, len, tag);
        }
        // Still usable: a slab's worth more, and a big one.
        let again = buf
            .try_alloc_layout(Layout::from_size_align(4000, 8).unwrap())
            .unwrap();
        fill(again, 4000, 7);
        let big = buf
            .try_alloc_layout(Layout::from_size_align(10_000, 8).unwrap())
            .unwrap();
        fill(big, 10_000, 8);
        check(first, 256, 0xa5);
        buf.reset();
        assert_eq!(buf.used(), 0);
        drop(buf);
    });
    eprintln!("SlabBuffer growth: {n} failures injected and survived");
}

/// The same through scopes (checkpoint and restore around the failures) and the typed `try_`
/// forms.
#[test]
fn slab_buffer_scopes_fail_cleanly() {
    let n = sweep("SlabBuffer scopes", 1024, |arm| {
        let mut buf = SlabBuffer::<4096>::with_slab_size();
        let outer = buf
            .try_alloc_layout(Layout::from_size_align(64, 8).unwrap())
            .unwrap();
        fill(outer, 64, 0x3c);
        let used_before = buf.used();
        buf.no_escape(|s| {
            let kept = s.try_alloc_slice_fill(100, 9u32).unwrap();
            arm(&mut || {
                let a = s.try_alloc_slice_copy(&[1u64; 700]); // a new slab
                let b = s.try_alloc_slice_fill(3000, 2u8); // big
                let c = s.try_alloc_slice_fill_with(50, |i| i as u16);
                let d = s.try_alloc_slice_zeroed::<u32>(1500); // another slab
                if let Ok(a) = a {
                    assert!(a.iter().all(|&x| x == 1));
                }
                if let Ok(b) = b {
                    assert!(b.iter().all(|&x| x == 2));
                }
                if let Ok(c) = c {
                    assert!(c.iter().enumerate().all(|(i, &x)| x == i as u16));
                }
                if let Ok(d) = d {
                    assert!(d.iter().all(|&x| x == 0));
                }
            });
            assert!(kept.iter().all(|&x| x == 9));
            s.no_escape(|inner| {
                let x = inner.try_alloc_slice_fill(2000, 5u16).unwrap();
                assert!(x.iter().all(|&v| v == 5));
            });
        });
        assert_eq!(buf.used(), used_before);
        check(outer, 64, 0x3c);
    });
    eprintln!("SlabBuffer scopes: {n} failures injected and survived");
}

/// `allocator_api2` collections in a scope over a slab buffer: `try_reserve` reports the
/// failure and the vector keeps its elements.
#[test]
fn scoped_vec_growth_fails_cleanly() {
    let n = sweep("allocator-api2 Vec in a scope", 2048, |arm| {
        let mut buf = SlabBuffer::<4096>::with_slab_size();
        buf.no_escape(|s| {
            let mut v: ApiVec<u32, _> = ApiVec::new_in(&*s);
            v.extend(0..100u32);
            arm(&mut || {
                for round in 0..6usize {
                    if v.try_reserve(v.len() + 500 * round).is_ok() {
                        let start = v.len() as u32;
                        v.extend(start..start + 500);
                    }
                }
            });
            assert!(
                v.iter().enumerate().all(|(i, &x)| x == i as u32),
                "elements changed"
            );
            v.try_reserve(1000).expect("usable after the failures");
        });
    });
    eprintln!("allocator-api2 Vec in a scope: {n} failures injected and survived");
}

/// The allocator's failure reports: a fixed buffer that is full says so, and never asks the
/// system (so no injected failure changes its answer).
#[test]
fn fixed_buffer_never_asks_the_system() {
    let mut memory = [0u8; 512];
    let mut buf = AllocBuffer::from(&mut memory);
    let ((), hit) = with_byte_budget(0, || {
        for _ in 0..100 {
            let _ = buf.try_alloc_layout(Layout::from_size_align(48, 16).unwrap());
        }
        let e = buf.try_alloc_layout(Layout::new::<[u8; 64]>()).unwrap_err();
        assert!(matches!(e, AllocError::BufferFull { .. }), "{e:?}");
    });
    assert!(!hit, "a borrowed AllocBuffer called the global allocator");
}
