//! A counting global allocator: [`Counting<A, O>`] forwards every call to the allocator `A` it
//! wraps and counts it
//!
//! - on the calling thread, always: `const` thread-locals without destructors, so counting
//!   never allocates and works at any point of a thread's life; read them with
//!   [`thread_counts`] or around a closure with [`counted`];
//! - in the observer `O`, if one is given: [`Totals`] adds everything up process-wide, and a
//!   program can plug in its own breakdown (by size, by kind of thread) with [`Observe`].
//!
//! Per-thread counts make tests that run in parallel independent of each other: what a test
//! counts is what its own thread did.
//!
//! ```
//! use std::alloc::System;
//! use bench_support::counting::{counted, Counting};
//!
//! // In a test or benchmark binary:
//! #[global_allocator]
//! static GLOBAL: Counting<System> = Counting::new(System);
//!
//! let (v, counts) = counted(|| vec![1u8; 100]);
//! assert_eq!(counts.allocs, 1);
//! assert_eq!(counts.bytes, 100);
//! let ((), counts) = counted(|| drop(v));
//! assert_eq!(counts.frees, 1);
//! ```

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::fmt;
use std::ops::{Add, AddAssign, Sub};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::thread::LocalKey;

/// The kind of an allocator call, as an [`Observe`]r sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Call {
    /// `alloc` or `alloc_zeroed`.
    Alloc,
    /// `realloc` (its size is the new size).
    Realloc,
    /// `dealloc` (its size is the block's size).
    Free,
}

/// Something told of every call that reaches a [`Counting`] allocator, on the calling thread,
/// before the call is forwarded.
///
/// It runs inside the global allocator: it must not allocate, panic or block on a lock that
/// allocating code may hold. Atomics and `const` thread-locals are fine.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use bench_support::counting::{Call, Observe};
///
/// /// Counts the requests larger than a page.
/// struct Large(AtomicU64);
///
/// impl Observe for Large {
///     fn observe(&self, call: Call, size: usize) {
///         if call != Call::Free && size > 4096 {
///             self.0.fetch_add(1, Ordering::Relaxed);
///         }
///     }
/// }
///
/// let large = Large(AtomicU64::new(0));
/// large.observe(Call::Alloc, 10_000);
/// large.observe(Call::Free, 10_000);
/// assert_eq!(large.0.load(Ordering::Relaxed), 1);
/// ```
pub trait Observe {
    /// One call of kind `call` for `size` bytes.
    fn observe(&self, call: Call, size: usize);
}

/// No observer: only the per-thread counts.
impl Observe for () {
    #[inline(always)]
    fn observe(&self, _call: Call, _size: usize) {}
}

/// Allocator calls: of one thread ([`thread_counts`]), of a closure ([`counted`]) or of the
/// whole process ([`Totals`]). Subtract two for what happened in between.
///
/// ```
/// use bench_support::counting::Counts;
///
/// let a = Counts { allocs: 5, reallocs: 1, bytes: 100, frees: 4 };
/// let b = Counts { allocs: 2, reallocs: 0, bytes: 40, frees: 1 };
/// assert_eq!((a - b).allocating(), 4);
/// assert_eq!((a - b).calls(), 7);
/// assert_eq!(a - b + b, a);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Counts {
    /// `alloc` and `alloc_zeroed` calls.
    pub allocs: u64,
    /// `realloc` calls.
    pub reallocs: u64,
    /// Bytes asked for by the allocating calls (the new size, for `realloc`).
    pub bytes: u64,
    /// `dealloc` calls.
    pub frees: u64,
}

impl Counts {
    /// No calls.
    pub const ZERO: Counts = Counts {
        allocs: 0,
        reallocs: 0,
        bytes: 0,
        frees: 0,
    };

    /// The calls that ask for memory: `alloc`, `alloc_zeroed` and `realloc`.
    ///
    /// ```
    /// use bench_support::counting::Counts;
    ///
    /// let c = Counts { allocs: 2, reallocs: 1, bytes: 0, frees: 5 };
    /// assert_eq!(c.allocating(), 3);
    /// ```
    pub fn allocating(&self) -> u64 {
        self.allocs + self.reallocs
    }

    /// Every call: the allocating ones and the frees.
    ///
    /// ```
    /// use bench_support::counting::Counts;
    ///
    /// let c = Counts { allocs: 2, reallocs: 1, bytes: 0, frees: 5 };
    /// assert_eq!(c.calls(), 8);
    /// assert_eq!(Counts::ZERO.calls(), 0);
    /// ```
    pub fn calls(&self) -> u64 {
        self.allocating() + self.frees
    }
}

impl Sub for Counts {
    type Output = Counts;

    /// The counts from `earlier` to `self` (wrapping, so a misordered pair can't panic).
    fn sub(self, earlier: Counts) -> Counts {
        Counts {
            allocs: self.allocs.wrapping_sub(earlier.allocs),
            reallocs: self.reallocs.wrapping_sub(earlier.reallocs),
            bytes: self.bytes.wrapping_sub(earlier.bytes),
            frees: self.frees.wrapping_sub(earlier.frees),
        }
    }
}

impl Add for Counts {
    type Output = Counts;

    fn add(mut self, other: Counts) -> Counts {
        self += other;
        self
    }
}

impl AddAssign for Counts {
    fn add_assign(&mut self, other: Counts) {
        self.allocs += other.allocs;
        self.reallocs += other.reallocs;
        self.bytes += other.bytes;
        self.frees += other.frees;
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} alloc, {} realloc, {} dealloc ({} bytes asked for)",
            self.allocs, self.reallocs, self.frees, self.bytes
        )
    }
}

std::thread_local! {
    // `const` and without destructors: usable from inside the allocator at any point of a
    // thread's life (teardown included), and never allocating themselves.
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
    static REALLOCS: Cell<u64> = const { Cell::new(0) };
    static BYTES: Cell<u64> = const { Cell::new(0) };
    static FREES: Cell<u64> = const { Cell::new(0) };
}

/// Set by the first call that reaches a [`Counting`] allocator.
static ACTIVE: AtomicBool = AtomicBool::new(false);

#[inline(always)]
fn bump(counter: &'static LocalKey<Cell<u64>>, by: u64) {
    // `try_with`: a failure must never become a panic inside the allocator.
    let _ = counter.try_with(|c| c.set(c.get().wrapping_add(by)));
}

#[inline(always)]
fn read(counter: &'static LocalKey<Cell<u64>>) -> u64 {
    counter.try_with(Cell::get).unwrap_or(0)
}

/// The calls the calling thread made so far to a [`Counting`] allocator (zeros if none is
/// installed). Never allocates.
///
/// ```
/// use bench_support::counting::thread_counts;
///
/// let before = thread_counts();
/// let after = thread_counts();
/// assert_eq!((after - before).calls(), 0);
/// ```
pub fn thread_counts() -> Counts {
    Counts {
        allocs: read(&ALLOCS),
        reallocs: read(&REALLOCS),
        bytes: read(&BYTES),
        frees: read(&FREES),
    }
}

/// Runs `f` and returns its result with the calls it made on this thread (calls made by
/// threads it starts are theirs, not counted here).
///
/// ```
/// use bench_support::counting::counted;
///
/// let (sum, counts) = counted(|| (1..=4).sum::<u32>());
/// assert_eq!(sum, 10);
/// assert_eq!(counts.calls(), 0);
/// ```
pub fn counted<R>(f: impl FnOnce() -> R) -> (R, Counts) {
    let before = thread_counts();
    let result = f();
    (result, thread_counts() - before)
}

/// Whether a [`Counting`] allocator has seen a call in this process: without one installed
/// as the global allocator (or under it), every count stays zero.
///
/// ```
/// // True in a binary whose global allocator is (or wraps) a `Counting`.
/// let _ = bench_support::counting::counting_active();
/// ```
pub fn counting_active() -> bool {
    ACTIVE.load(Relaxed)
}

/// Forwards every call to `A` and counts it on the calling thread and in the observer `O`.
///
/// It can wrap any allocator (`System`, mimalloc, a switch between them) and be wrapped in
/// turn (by an arena router, say: it then counts only what reaches the heap).
///
/// ```
/// use std::alloc::{GlobalAlloc, Layout, System};
/// use bench_support::counting::{counted, Counting, Totals};
///
/// let counting = Counting::with_observer(System, Totals::new());
/// let layout = Layout::from_size_align(64, 8).unwrap();
/// let ((), counts) = counted(|| {
///     // SAFETY: a non-zero layout; the block is freed once, with the same layout.
///     unsafe {
///         let p = counting.alloc(layout);
///         assert!(!p.is_null());
///         counting.dealloc(p, layout);
///     }
/// });
/// assert_eq!((counts.allocs, counts.bytes, counts.frees), (1, 64, 1));
/// assert_eq!(counting.observer().snapshot(), counts);
/// ```
#[derive(Debug, Default)]
pub struct Counting<A, O = ()> {
    inner: A,
    observer: O,
}

impl<A> Counting<A> {
    /// Counts the calls to `inner`, per thread.
    ///
    /// ```
    /// use std::alloc::System;
    /// use bench_support::counting::Counting;
    ///
    /// static COUNTING: Counting<System> = Counting::new(System);
    /// assert_eq!(*COUNTING.observer(), ());
    /// ```
    pub const fn new(inner: A) -> Self {
        Counting {
            inner,
            observer: (),
        }
    }
}

impl<A, O> Counting<A, O> {
    /// Counts the calls to `inner`, per thread, and tells `observer` of each.
    ///
    /// ```
    /// use std::alloc::System;
    /// use bench_support::counting::{Counting, Totals};
    ///
    /// static COUNTING: Counting<System, Totals> = Counting::with_observer(System, Totals::new());
    /// assert_eq!(COUNTING.observer().snapshot().calls(), 0);
    /// ```
    pub const fn with_observer(inner: A, observer: O) -> Self {
        Counting { inner, observer }
    }

    /// The wrapped allocator.
    ///
    /// ```
    /// use std::alloc::System;
    /// use bench_support::counting::Counting;
    ///
    /// let counting = Counting::new(System);
    /// let _system: &System = counting.inner();
    /// ```
    pub const fn inner(&self) -> &A {
        &self.inner
    }

    /// The observer.
    ///
    /// ```
    /// use std::alloc::System;
    /// use bench_support::counting::{Counting, Totals};
    ///
    /// let counting = Counting::with_observer(System, Totals::new());
    /// assert_eq!(counting.observer().snapshot().allocs, 0);
    /// ```
    pub const fn observer(&self) -> &O {
        &self.observer
    }
}

impl<A, O: Observe> Counting<A, O> {
    #[inline(always)]
    fn note(&self, call: Call, size: usize) {
        match call {
            Call::Alloc => bump(&ALLOCS, 1),
            Call::Realloc => bump(&REALLOCS, 1),
            Call::Free => bump(&FREES, 1),
        }
        if call != Call::Free {
            bump(&BYTES, size as u64);
        }
        if !ACTIVE.load(Relaxed) {
            ACTIVE.store(true, Relaxed);
        }
        self.observer.observe(call, size);
    }
}

// SAFETY: every method forwards to `A` with the caller's arguments unchanged and returns its
// result, so it keeps `A`'s guarantees; the counting touches only `const` thread-locals, an
// atomic and the observer, none of which allocate (the `Observe` contract) or touch the memory.
unsafe impl<A: GlobalAlloc, O: Observe> GlobalAlloc for Counting<A, O> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.note(Call::Alloc, layout.size());
        // SAFETY: the caller's contract for `GlobalAlloc::alloc`, passed on.
        unsafe { self.inner.alloc(layout) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.note(Call::Alloc, layout.size());
        // SAFETY: the caller's contract for `GlobalAlloc::alloc_zeroed`, passed on.
        unsafe { self.inner.alloc_zeroed(layout) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.note(Call::Free, layout.size());
        // SAFETY: the caller's contract for `GlobalAlloc::dealloc`, passed on.
        unsafe { self.inner.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        self.note(Call::Realloc, new_size);
        // SAFETY: the caller's contract for `GlobalAlloc::realloc`, passed on.
        unsafe { self.inner.realloc(ptr, layout, new_size) }
    }
}

/// An [`Observe`]r that adds every call up process-wide, in relaxed atomics (one atomic add
/// or two per call: cheap, but a shared cache line when many threads allocate at once).
///
/// ```
/// use bench_support::counting::{Call, Observe, Totals};
///
/// let totals = Totals::new();
/// totals.observe(Call::Alloc, 10);
/// totals.observe(Call::Realloc, 30);
/// totals.observe(Call::Free, 30);
/// let c = totals.snapshot();
/// assert_eq!((c.allocs, c.reallocs, c.bytes, c.frees), (1, 1, 40, 1));
/// ```
#[derive(Debug, Default)]
pub struct Totals {
    allocs: AtomicU64,
    reallocs: AtomicU64,
    bytes: AtomicU64,
    frees: AtomicU64,
}

impl Totals {
    /// All zero.
    ///
    /// ```
    /// use bench_support::counting::{Counts, Totals};
    ///
    /// assert_eq!(Totals::new().snapshot(), Counts::ZERO);
    /// ```
    pub const fn new() -> Self {
        Totals {
            allocs: AtomicU64::new(0),
            reallocs: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            frees: AtomicU64::new(0),
        }
    }

    /// The totals now. Reads atomics only: it never allocates.
    ///
    /// ```
    /// use bench_support::counting::{Call, Observe, Totals};
    ///
    /// let totals = Totals::new();
    /// totals.observe(Call::Free, 8);
    /// assert_eq!(totals.snapshot().frees, 1);
    /// ```
    pub fn snapshot(&self) -> Counts {
        Counts {
            allocs: self.allocs.load(Relaxed),
            reallocs: self.reallocs.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            frees: self.frees.load(Relaxed),
        }
    }
}

impl Observe for Totals {
    #[inline(always)]
    fn observe(&self, call: Call, size: usize) {
        match call {
            Call::Alloc => self.allocs.fetch_add(1, Relaxed),
            Call::Realloc => self.reallocs.fetch_add(1, Relaxed),
            Call::Free => self.frees.fetch_add(1, Relaxed),
        };
        if call != Call::Free {
            self.bytes.fetch_add(size as u64, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::System;

    #[test]
    fn every_kind_of_call_is_counted_on_this_thread_and_observed() {
        let counting = Counting::with_observer(System, Totals::new());
        let layout = Layout::from_size_align(100, 8).unwrap();
        let ((), counts) = counted(|| {
            // SAFETY: non-zero layouts; each block is freed once with its current layout.
            unsafe {
                let p = counting.alloc_zeroed(layout);
                assert!(!p.is_null());
                assert!(std::slice::from_raw_parts(p, 100).iter().all(|&b| b == 0));
                let p = counting.realloc(p, layout, 5000);
                assert!(!p.is_null());
                counting.dealloc(p, Layout::from_size_align(5000, 8).unwrap());
                let q = counting.alloc(layout);
                counting.dealloc(q, layout);
            }
        });
        let expected = Counts {
            allocs: 2,
            reallocs: 1,
            bytes: 5200,
            frees: 2,
        };
        assert_eq!(counts, expected);
        assert_eq!(counting.observer().snapshot(), expected);
        assert!(counting_active());
    }

    #[test]
    fn other_threads_count_on_their_own() {
        let counting = Counting::new(System);
        let layout = Layout::from_size_align(16, 8).unwrap();
        let ((), here) = counted(|| {
            std::thread::scope(|s| {
                s.spawn(|| {
                    let ((), there) = counted(|| {
                        // SAFETY: a non-zero layout, freed once with the same layout.
                        unsafe { counting.dealloc(counting.alloc(layout), layout) }
                    });
                    assert_eq!((there.allocs, there.frees), (1, 1));
                });
            });
        });
        // This test binary's global allocator is `System`: spawning counted nothing here, and
        // the other thread's calls are its own.
        assert_eq!(here, Counts::ZERO);
    }
}
