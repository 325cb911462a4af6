//! Fault injection under the router: `ArenaRouter` is this binary's global allocator, over an
//! allocator that fails on command. Allocations outside scopes pass the failure through
//! (null / `Err`, no abort); inside a scope the lanes never ask the wrapped allocator, so they
//! keep working while it fails; requests too big for a lane spill to it and, when it fails,
//! get null with the lane, the router's bookkeeping and the data made before unharmed (a
//! `realloc` that fails keeps the old block). Nothing leaks: bytes the wrapped allocator hands
//! out minus bytes freed come back to where they were.
#![cfg(not(miri))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use arena_router::{ArenaRouter, HeapArena};

// ---- the failing allocator ------------------------------------------------------------------

struct Faulty;

#[global_allocator]
static GLOBAL: ArenaRouter<Faulty> = ArenaRouter::new(Faulty);

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

/// A request no lane can hold (lanes are at most 16 GiB): it spills to the wrapped allocator.
const HUGE: usize = 1 << 40;

/// Code that allocates in every common way, checked as it goes.
fn workload(n: usize) -> usize {
    let v: Vec<u64> = (0..n as u64).collect();
    let s: String = (0..n).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    let mut grown = Vec::new();
    for i in 0..n {
        grown.push(i as u32); // realloc as it grows
    }
    grown.shrink_to_fit();
    let boxed: Box<[u8]> = vec![7u8; n].into_boxed_slice();
    assert_eq!(v.iter().sum::<u64>(), (n as u64) * (n as u64 - 1) / 2);
    assert!(grown.iter().enumerate().all(|(i, &x)| x == i as u32));
    v.len() + s.len() + grown.len() + boxed.len()
}

#[test]
fn failures_outside_scopes_pass_through() {
    let n = sweep("outside scopes", 256, |arm| {
        let mut v: Vec<u64> = (0..100).collect();
        let mut results = [true; 4];
        arm(&mut || {
            results[0] = v.try_reserve(1000).is_ok();
            results[1] = Vec::<u8>::new().try_reserve(5000).is_ok();
            let layout = Layout::from_size_align(300, 64).unwrap();
            // SAFETY: a non-zero size.
            let p = unsafe { std::alloc::alloc_zeroed(layout) };
            results[2] = !p.is_null();
            if !p.is_null() {
                // SAFETY: just allocated with `layout`.
                unsafe {
                    assert!((0..300).all(|i| p.add(i).read() == 0));
                    std::alloc::dealloc(p, layout);
                }
            }
            let mut s = String::with_capacity(0);
            results[3] = s.try_reserve(77).is_ok();
        });
        assert!(
            v.iter().enumerate().all(|(i, &x)| x == i as u64),
            "elements changed"
        );
        let _ = results;
    });
    eprintln!("outside scopes: {n} failures injected and survived");
}

#[test]
fn lanes_do_not_depend_on_the_wrapped_allocator() {
    let arena = HeapArena::new();
    // The lane comes into being with its first use.
    arena.scope(|| workload(10));
    arena.reset();
    for round in 0..5 {
        // Every call to the wrapped allocator fails: the scope's allocations don't make any.
        let (total, hit) = with_byte_budget(0, || arena.scope(|| workload(2000)));
        assert!(
            !hit,
            "round {round}: a lane allocation reached the wrapped allocator"
        );
        assert_eq!(total, 8000);
        assert!(arena.reset_strict().unwrap().is_clean());
    }
}

#[test]
fn spills_that_fail_leave_the_lane_intact() {
    let arena = HeapArena::new();
    // Requests this big fail whatever the byte budget: only the nth-call sweep applies.
    let n = sweep("spills in a scope", 0, |arm| {
        arena.scope(|| {
            let before = arena.stats().spills;
            let mut kept: Vec<u32> = (0..1000).collect();
            let mut fresh: Vec<u8> = Vec::new();
            let mut spilled = [false; 3];
            arm(&mut || {
                // Grows `kept` (a lane block) past any lane: realloc spills and fails.
                spilled[0] = kept.try_reserve(HUGE).is_ok();
                spilled[1] = fresh.try_reserve(HUGE).is_ok();
                let layout = Layout::from_size_align(HUGE, 4096).unwrap();
                // SAFETY: a non-zero size.
                let p = unsafe { std::alloc::alloc_zeroed(layout) };
                spilled[2] = !p.is_null();
                if !p.is_null() {
                    // SAFETY: allocated just now with `layout`.
                    unsafe { std::alloc::dealloc(p, layout) };
                }
            });
            // 1 TiB can't be had at all, so nothing succeeds; but the failure is reported.
            assert_eq!(spilled, [false; 3]);
            assert!(
                kept.iter().enumerate().all(|(i, &x)| x == i as u32),
                "elements changed"
            );
            assert!(arena.stats().spills > before, "the requests did not spill");
            // The lane still serves, in place.
            kept.extend(1000..5000);
            assert!(kept.iter().enumerate().all(|(i, &x)| x == i as u32));
            assert_eq!(workload(500), 2000);
        });
        assert!(arena.reset_strict().unwrap().is_clean());
    });
    eprintln!("spills in a scope: {n} failures injected and survived");
}
