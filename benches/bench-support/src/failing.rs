//! Fault injection for test binaries: [`Failing`], a `GlobalAlloc` wrapper that fails on
//! command, and [`sweep`], which runs a case once per failure point.
//!
//! Two modes, armed per thread (so a test harness's other threads are never affected):
//! - *nth call*: exactly the `n`th allocation call from now fails, the others succeed;
//! - *byte budget*: every allocation call fails once `n` more bytes have been handed out.
//!
//! The wrapper also keeps, per thread, the bytes allocated minus the bytes freed, so a sweep
//! can check that nothing leaked at any failure point.
//!
//! ```no_run
//! use bench_support::failing::{sweep, Failing};
//!
//! #[global_allocator]
//! static GLOBAL: Failing = Failing::new(std::alloc::System);
//!
//! let failures = sweep("Vec::try_reserve", 64, |arm| {
//!     let mut v: Vec<u8> = Vec::new();
//!     let mut result = Ok(());
//!     let failed = arm(&mut || result = v.try_reserve(1000));
//!     assert_eq!(result.is_err(), failed);
//! });
//! assert!(failures > 0);
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ptr::NonNull;

/// Forwards to the wrapped allocator, except where this thread armed a failure (see
/// [`with_nth_call_failing`], [`with_byte_budget`]): then the call returns null.
#[derive(Debug, Default)]
pub struct Failing<A = System> {
    inner: A,
}

impl<A> Failing<A> {
    /// Wraps `inner`; nothing fails until a thread arms a failure.
    pub const fn new(inner: A) -> Self {
        Failing { inner }
    }
}

/// Per-thread state. `const`-initialised `Cell`s without destructors, so reading them inside
/// the allocator never allocates.
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

/// Whether this allocation of `size` bytes may go ahead; counts it against the armed limits.
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

#[allow(clippy::cast_possible_wrap)] // allocation sizes are at most `isize::MAX`
fn account(bytes: usize, sign: isize) {
    let _ = STATE.try_with(|s| s.live.set(s.live.get() + sign * bytes as isize));
}

// SAFETY: forwards every call to the wrapped allocator with its arguments unchanged, or returns
// null, which `GlobalAlloc` allows for any allocation call; the counting touches no memory.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Failing<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !admit(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { self.inner.alloc(layout) };
        if !p.is_null() {
            account(layout.size(), 1);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !admit(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: as above.
        let p = unsafe { self.inner.alloc_zeroed(layout) };
        if !p.is_null() {
            account(layout.size(), 1);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        account(layout.size(), -1);
        // SAFETY: as above.
        unsafe { self.inner.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !admit(new_size.saturating_sub(layout.size())) {
            return std::ptr::null_mut();
        }
        // SAFETY: as above.
        let p = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            account(layout.size(), -1);
            account(new_size, 1);
        }
        p
    }
}

/// Bytes this thread allocated minus bytes it freed, through [`Failing`].
#[must_use]
pub fn live_bytes() -> isize {
    STATE.with(|s| s.live.get())
}

/// Failures injected on this thread so far.
#[must_use]
pub fn injected() -> u64 {
    STATE.with(|s| s.injected.get())
}

fn disarm() {
    STATE.with(|s| {
        s.calls_left.set(u64::MAX);
        s.bytes_left.set(usize::MAX);
    });
}

/// Runs `f` with this thread's `n`th allocation call (from 0) failing; returns `f`'s result and
/// whether a failure was injected.
pub fn with_nth_call_failing<R>(n: u64, f: impl FnOnce() -> R) -> (R, bool) {
    let before = injected();
    STATE.with(|s| s.calls_left.set(n));
    let r = f();
    disarm();
    (r, injected() > before)
}

/// Runs `f` with this thread's allocations failing past `bytes` more bytes; returns `f`'s
/// result and whether a failure was injected.
pub fn with_byte_budget<R>(bytes: usize, f: impl FnOnce() -> R) -> (R, bool) {
    let before = injected();
    STATE.with(|s| s.bytes_left.set(bytes));
    let r = f();
    disarm();
    (r, injected() > before)
}

/// Sweeps `case` over every failure point: nth call for n = 0, 1, ... until a run completes
/// without an injected failure, then byte budgets from 0 in `step`s likewise (none if `step` is
/// 0). `case` gets the arming function (it runs the given closure armed and says whether a
/// failure was injected) and checks its own invariants; the sweep checks that nothing leaked.
/// Returns the number of failures injected.
///
/// # Panics
/// If a failure point leaks, if the case never reaches the allocator, or if it never stops
/// allocating (10 000 points).
pub fn sweep(name: &str, step: usize, case: impl Fn(&dyn Fn(&mut dyn FnMut()) -> bool)) -> u64 {
    let mut failures = 0;
    let mut run = |label: &str, arm: &dyn Fn(&mut dyn FnMut()) -> bool| -> bool {
        let base = live_bytes();
        let hit = Cell::new(false);
        case(&|f: &mut dyn FnMut()| {
            let h = arm(f);
            hit.set(hit.get() | h);
            h
        });
        assert_eq!(live_bytes(), base, "{name}: leak with {label}");
        if hit.get() {
            failures += 1;
        }
        hit.get()
    };
    for n in 0.. {
        let label = format!("call {n} failing");
        if !run(&label, &|f| with_nth_call_failing(n, f).1) {
            break;
        }
        assert!(n < 10_000, "{name}: no end to the allocation calls");
    }
    for k in 0.. {
        if step == 0 {
            break;
        }
        let budget = k * step;
        let label = format!("a budget of {budget} bytes");
        if !run(&label, &|f| with_byte_budget(budget, f).1) {
            break;
        }
        assert!(k < 10_000, "{name}: no end to the byte budgets");
    }
    assert!(
        failures > 0,
        "{name}: no failure point found (the case allocates nothing?)"
    );
    failures
}

/// Writes a pattern derived from `tag` into `len` bytes at `p`; [`check_pattern`] reads it back.
///
/// # Safety
/// `p` must be valid for writes of `len` bytes.
pub unsafe fn fill_pattern(p: NonNull<u8>, len: usize, tag: u8) {
    for i in 0..len {
        #[allow(clippy::cast_possible_truncation)] // the pattern wraps by design
        let byte = tag ^ i as u8;
        // SAFETY: `i < len`, and the caller guarantees `len` writable bytes.
        unsafe { p.as_ptr().add(i).write(byte) };
    }
}

/// Checks the pattern [`fill_pattern`] wrote.
///
/// # Safety
/// `p` must be valid for reads of `len` initialised bytes.
///
/// # Panics
/// At the first byte that differs.
pub unsafe fn check_pattern(p: NonNull<u8>, len: usize, tag: u8) {
    for i in 0..len {
        // SAFETY: `i < len`, and the caller guarantees `len` readable bytes.
        let byte = unsafe { p.as_ptr().add(i).read() };
        #[allow(clippy::cast_possible_truncation)] // the pattern wraps by design
        let expected = tag ^ i as u8;
        assert_eq!(byte, expected, "byte {i} changed");
    }
}
