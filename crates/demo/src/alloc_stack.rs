//! A global allocator built as a stack of small layers, each a [`GlobalAlloc`] wrapping the next:
//!
//! - [`Counting<A>`] (from `bench-support`) counts the calls that reach it (per thread), then
//!   forwards them to `A`;
//! - [`Switch`] sends new allocations to the system allocator or to mimalloc, whichever
//!   [`set_backend`] chose last, and every free or resize to the one that owns the pointer, so
//!   the backend can change while memory of the other one is still alive.
//!
//! The demo installs `Counting<Switch>` and runs each variant under both backends in one
//! process. Another layer (an allocator that routes a scope's allocations into an arena) can
//! wrap the stack from outside: `Counting` then sees only what reaches the heap.
//!
//! ```no_run
//! use allocarrays_demo::alloc_stack::{Counting, Switch};
//!
//! #[global_allocator]
//! static GLOBAL: Counting<Switch> = Counting::new(Switch::new());
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::c_void;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use libmimalloc_sys as mi;

// ---------------------------------------------------------------------------------------------
// Counting: the shared counting allocator, which counts per thread.

pub use bench_support::counting::{counting_active, thread_counts, Counting, Counts};

// ---------------------------------------------------------------------------------------------
// Switch.

/// A system-level allocator [`Switch`] can send new allocations to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// The platform's allocator (`std::alloc::System`: glibc's malloc on Linux).
    System,
    /// mimalloc (statically linked, from `libmimalloc-sys`).
    Mimalloc,
}

impl Backend {
    /// Both backends, in the order the demo reports them.
    pub const ALL: [Backend; 2] = [Backend::System, Backend::Mimalloc];

    /// The position in [`Backend::ALL`].
    pub fn index(self) -> usize {
        match self {
            Backend::System => 0,
            Backend::Mimalloc => 1,
        }
    }

    /// A short name: `System` or `mimalloc`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::System => "System",
            Backend::Mimalloc => "mimalloc",
        }
    }
}

/// Serialized as its [name](Backend::name).
impl serde::Serialize for Backend {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Sends `alloc` to the [`Backend`] chosen by [`set_backend`] (process-wide), and `dealloc` /
/// `realloc` to the backend that owns the pointer, found in O(1) by mimalloc's page map
/// (`mi_is_in_heap_region`). Memory keeps its owner for life: a `realloc` of system memory
/// stays with the system allocator even while mimalloc is selected.
#[derive(Debug, Default)]
pub struct Switch {
    _private: (),
}

impl Switch {
    /// The switch; it starts on [`Backend::System`].
    pub const fn new() -> Self {
        Switch { _private: () }
    }
}

const SYSTEM: u8 = 0;
const MIMALLOC: u8 = 1;

/// The backend new allocations go to.
static BACKEND: AtomicU8 = AtomicU8::new(SYSTEM);
/// Whether mimalloc ever allocated in this process: until it has, no pointer can be its, and
/// frees skip the ownership look-up.
static MIMALLOC_USED: AtomicBool = AtomicBool::new(false);

/// Chooses the backend for new allocations from now on (all threads).
pub fn set_backend(backend: Backend) {
    let code = match backend {
        Backend::System => SYSTEM,
        Backend::Mimalloc => MIMALLOC,
    };
    BACKEND.store(code, Ordering::Relaxed);
}

/// The backend new allocations go to.
pub fn backend() -> Backend {
    match BACKEND.load(Ordering::Relaxed) {
        MIMALLOC => Backend::Mimalloc,
        _ => Backend::System,
    }
}

/// Runs `f` with `backend` chosen, then puts the previous choice back (also on panic).
pub fn with_backend<R>(backend: Backend, f: impl FnOnce() -> R) -> R {
    struct Restore(Backend);
    impl Drop for Restore {
        fn drop(&mut self) {
            set_backend(self.0);
        }
    }
    let _restore = Restore(self::backend());
    set_backend(backend);
    f()
}

/// One value made under each backend, in the order of [`Backend::ALL`]: e.g. an arena whose
/// buffer comes from that backend, as everything else a variant allocates under it does.
pub fn per_backend<T>(mut make: impl FnMut() -> T) -> [T; 2] {
    Backend::ALL.map(|b| with_backend(b, &mut make))
}

/// Whether `ptr` (from this switch) belongs to mimalloc.
#[inline]
fn owned_by_mimalloc(ptr: *mut u8) -> bool {
    // SAFETY: `mi_is_in_heap_region` accepts any pointer; it only reads mimalloc's page map.
    MIMALLOC_USED.load(Ordering::Acquire) && unsafe { mi::mi_is_in_heap_region(ptr.cast()) }
}

#[inline]
fn note_mimalloc_used() {
    if !MIMALLOC_USED.load(Ordering::Relaxed) {
        MIMALLOC_USED.store(true, Ordering::Release);
    }
}

// SAFETY: `alloc`/`alloc_zeroed` return memory of the chosen backend for `layout` (mimalloc's
// aligned functions honour any power-of-two alignment); `dealloc`/`realloc` hand a pointer back
// to the backend that allocated it, which `owned_by_mimalloc` tells exactly: mimalloc's page map
// covers every block mimalloc handed out and nothing else, and `MIMALLOC_USED` is set (with
// release ordering, before the first mimalloc block is returned) before any mimalloc pointer
// can exist.
unsafe impl GlobalAlloc for Switch {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if BACKEND.load(Ordering::Relaxed) == MIMALLOC {
            note_mimalloc_used();
            // SAFETY: `layout` has a non-zero size (the caller's contract) and a power-of-two
            // alignment, which is what `mi_malloc_aligned` asks.
            unsafe { mi::mi_malloc_aligned(layout.size(), layout.align()).cast() }
        } else {
            // SAFETY: the caller's contract for `GlobalAlloc::alloc`, passed on.
            unsafe { System.alloc(layout) }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if BACKEND.load(Ordering::Relaxed) == MIMALLOC {
            note_mimalloc_used();
            // SAFETY: as in `alloc`.
            unsafe { mi::mi_zalloc_aligned(layout.size(), layout.align()).cast() }
        } else {
            // SAFETY: the caller's contract for `GlobalAlloc::alloc_zeroed`, passed on.
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if owned_by_mimalloc(ptr) {
            // SAFETY: `ptr` is a live mimalloc block (the caller's contract and the look-up).
            unsafe { mi::mi_free(ptr.cast::<c_void>()) }
        } else {
            // SAFETY: `ptr` came from `System` with `layout` (the caller's contract and the
            // look-up).
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if owned_by_mimalloc(ptr) {
            // SAFETY: `ptr` is a live mimalloc block allocated with `layout.align()`;
            // `new_size` is non-zero (the caller's contract).
            unsafe { mi::mi_realloc_aligned(ptr.cast(), new_size, layout.align()).cast() }
        } else {
            // SAFETY: `ptr` came from `System` with `layout`; the rest of the caller's contract
            // is passed on.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switch_allocates_from_both_backends_and_frees_by_owner() {
        let switch = Switch::new();
        let layout = Layout::from_size_align(48, 16).unwrap();
        // SAFETY: non-zero layout; each pointer is freed once, through the same switch.
        unsafe {
            let sys = with_backend(Backend::System, || switch.alloc(layout));
            let mim = with_backend(Backend::Mimalloc, || switch.alloc_zeroed(layout));
            assert!(!sys.is_null() && !mim.is_null());
            assert_eq!(mim as usize % 16, 0);
            assert!(owned_by_mimalloc(mim));
            assert!(!owned_by_mimalloc(sys));
            assert!(std::slice::from_raw_parts(mim, 48).iter().all(|&b| b == 0));
            // A resize keeps the owner, whatever the backend now.
            sys.write_bytes(7, 48);
            let sys = with_backend(Backend::Mimalloc, || switch.realloc(sys, layout, 4096));
            assert!(!owned_by_mimalloc(sys));
            assert_eq!(*sys.add(47), 7);
            let big = Layout::from_size_align(4096, 16).unwrap();
            switch.dealloc(sys, big);
            let mim = switch.realloc(mim, layout, 1 << 20);
            assert!(owned_by_mimalloc(mim));
            switch.dealloc(mim, Layout::from_size_align(1 << 20, 16).unwrap());
        }
    }
}
