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

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ptr::NonNull;

use allocator_api2::vec::Vec as ApiVec;
use bumper::{AllocBuffer, AllocError, Buffer, SlabBuffer};

// ---- the failing allocator ------------------------------------------------------------------

struct Faulty;

#[global_allocator]
static GLOBAL: Faulty = Faulty;

/// Per-thread state of the failing allocator. `const`-initialised `Cell`s without destructors,
/// so reading them inside the allocator never allocates.
struct State {
    /// Fail the call when this reaches 0 (then disarm); `u64::MAX` = off.
    calls_left: Cell<u64>,
    /// Fail every call past this many more bytes; `usize::MAX` = off.
    bytes_left: Cell<usize>,
    /// Bytes allocated minus bytes freed on this thread.
    live: Cell<isize>,
    /// Failures injected so far.
    injected: Cell<u64>,
}

thread_local! {
    static STATE: State = const {
        State {
            calls_left: Cell::new(u64::MAX),
            bytes_left: Cell::new(usize::MAX),
            live: Cell::new(0),
            injected: Cell::new(0),
        }
    };
}

/// Whether this allocation of `size` bytes must fail; counts it otherwise.
fn admit(size: usize) -> bool {
    STATE
        .try_with(|s| {
            let calls = s.calls_left.get();
            if calls != u64::MAX {
                if calls == 0 {
                    s.calls_left.set(u64::MAX);
                    s.injected.set(s.injected.get() + 1);
                    return false;
                }
                s.calls_left.set(calls - 1);
            }
            let bytes = s.bytes_left.get();
            if bytes != usize::MAX {
                if size > bytes {
                    s.injected.set(s.injected.get() + 1);
                    return false;
                }
                s.bytes_left.set(bytes - size);
            }
            true
        })
        .unwrap_or(true)
}

fn account(delta: isize) {
    let _ = STATE.try_with(|s| s.live.set(s.live.get() + delta));
}

// SAFETY: forwards to the system allocator, or returns null (allowed for any call).
unsafe impl GlobalAlloc for Faulty {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !admit(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            account(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !admit(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: as above.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            account(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        account(-(layout.size() as isize));
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !admit(new_size.saturating_sub(layout.size())) {
            return std::ptr::null_mut();
        }
        // SAFETY: as above.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            account(new_size as isize - layout.size() as isize);
        }
        p
    }
}

fn live_bytes() -> isize {
    STATE.with(|s| s.live.get())
}

fn injected() -> u64 {
    STATE.with(|s| s.injected.get())
}

fn disarm() {
    STATE.with(|s| {
        s.calls_left.set(u64::MAX);
        s.bytes_left.set(usize::MAX);
    });
}

/// Runs `f` with the `n`th allocation call (from 0) failing; returns whether a failure was
/// injected.
fn with_nth_call_failing<R>(n: u64, f: impl FnOnce() -> R) -> (R, bool) {
    let before = injected();
    STATE.with(|s| s.calls_left.set(n));
    let r = f();
    disarm();
    (r, injected() > before)
}

/// Runs `f` with allocations failing past `bytes` more bytes; returns whether one failed.
fn with_byte_budget<R>(bytes: usize, f: impl FnOnce() -> R) -> (R, bool) {
    let before = injected();
    STATE.with(|s| s.bytes_left.set(bytes));
    let r = f();
    disarm();
    (r, injected() > before)
}

/// Sweeps `case` over every failure point: nth call for n = 0, 1, ... until a run completes
/// without any injected failure, then byte budgets from 0 in `step`s likewise (none if `step`
/// is 0). `case` gets the
/// arming function and checks its own invariants; the sweep checks that nothing leaked.
/// Returns the number of failures injected.
fn sweep(name: &str, step: usize, case: impl Fn(&dyn Fn(&mut dyn FnMut()) -> bool)) -> u64 {
    let mut failures = 0;
    for n in 0.. {
        let base = live_bytes();
        let hit = Cell::new(false);
        case(&|f: &mut dyn FnMut()| {
            let ((), h) = with_nth_call_failing(n, f);
            hit.set(hit.get() | h);
            h
        });
        assert_eq!(live_bytes(), base, "{name}: leak with call {n} failing");
        if !hit.get() {
            break;
        }
        failures += 1;
        assert!(n < 10_000, "{name}: no end to the allocation calls");
    }
    for k in 0.. {
        if step == 0 {
            break;
        }
        let budget = k * step;
        let base = live_bytes();
        let hit = Cell::new(false);
        case(&|f: &mut dyn FnMut()| {
            let ((), h) = with_byte_budget(budget, f);
            hit.set(hit.get() | h);
            h
        });
        assert_eq!(
            live_bytes(),
            base,
            "{name}: leak with a budget of {budget} bytes"
        );
        if !hit.get() {
            break;
        }
        failures += 1;
        assert!(k < 10_000, "{name}: no end to the byte budgets");
    }
    assert!(
        failures > 0,
        "{name}: no failure point found (the case allocates nothing?)"
    );
    failures
}

// ---- the checks --------------------------------------------------------------------------

/// Writes a pattern into `len` bytes at `p`.
fn fill(p: NonNull<u8>, len: usize, tag: u8) {
    for i in 0..len {
        // SAFETY: `p` is a live allocation of at least `len` bytes (callers).
        unsafe { p.as_ptr().add(i).write(tag ^ i as u8) };
    }
}

fn check(p: NonNull<u8>, len: usize, tag: u8) {
    for i in 0..len {
        // SAFETY: as in `fill`.
        let byte = unsafe { p.as_ptr().add(i).read() };
        assert_eq!(byte, tag ^ i as u8, "byte {i} changed");
    }
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
