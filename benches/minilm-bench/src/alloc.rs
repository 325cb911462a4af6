//! The allocators under the arena router: [`Selected`] (the system allocator or mimalloc,
//! chosen once per process from the environment) wrapped in `bench-support`'s [`Counting`],
//! whose [`RoleSizes`] observer counts every call that reaches it, process-wide, by thread role
//! and by size.
//!
//! The program's global allocator is `ArenaRouter<Counting<Selected, RoleSizes>>`: allocations
//! served by the arena never reach `Counting`, so its counters are exactly the calls to the
//! wrapped allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ffi::CStr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};

pub use bench_support::counting::Counting;
use bench_support::counting::{Call, Observe};
use mimalloc::MiMalloc;

/// The environment variable that picks the allocator [`Selected`] uses: `mimalloc`, or
/// anything else (or nothing) for the system allocator.
pub const ALLOCATOR_ENV: &str = "MINILM_ALLOCATOR";
const ALLOCATOR_ENV_C: &CStr = c"MINILM_ALLOCATOR";

/// Which allocator [`Selected`] forwards to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The C library's `malloc` (glibc's on Linux).
    System,
    /// mimalloc, statically linked by the `mimalloc` crate.
    Mimalloc,
}

impl Backend {
    /// A short name, as used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Backend::System => "system",
            Backend::Mimalloc => "mimalloc",
        }
    }
}

const UNDECIDED: u8 = 0;
const SYSTEM: u8 = 1;
const MIMALLOC: u8 = 2;

/// The system allocator or mimalloc, decided by [`ALLOCATOR_ENV`] at the first allocation of
/// the process and fixed from then on (so every block is freed by the allocator that made it).
///
/// One binary can then measure both allocators, each in its own process: the benchmark driver
/// re-executes itself with the variable set. The cost is one relaxed load and a predictable
/// branch per call, the same for both.
#[derive(Debug)]
pub struct Selected {
    state: AtomicU8,
}

impl Selected {
    /// An allocator that decides at its first use.
    pub const fn new() -> Self {
        Selected {
            state: AtomicU8::new(UNDECIDED),
        }
    }

    /// The allocator in use (deciding now if nothing was allocated yet).
    pub fn backend(&self) -> Backend {
        match self.decided() {
            MIMALLOC => Backend::Mimalloc,
            _ => Backend::System,
        }
    }

    #[inline(always)]
    fn decided(&self) -> u8 {
        let state = self.state.load(Relaxed);
        if state != UNDECIDED {
            return state;
        }
        self.decide()
    }

    /// Reads the environment without allocating (`getenv` returns a pointer into the
    /// environment block). Threads racing here all read the same variable, so they agree.
    #[cold]
    fn decide(&self) -> u8 {
        // SAFETY: the name is a valid C string; `getenv` only reads the environment, and this
        // program never modifies its environment while threads run.
        let value = unsafe { libc::getenv(ALLOCATOR_ENV_C.as_ptr()) };
        let state = if value.is_null() {
            SYSTEM
        } else {
            // SAFETY: a non-null result of `getenv` points at a NUL-terminated string that
            // stays valid while the environment is not modified.
            match unsafe { CStr::from_ptr(value) }.to_bytes() {
                b"mimalloc" => MIMALLOC,
                _ => SYSTEM,
            }
        };
        self.state.store(state, Relaxed);
        state
    }
}

impl Default for Selected {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: every call is forwarded unchanged to one of two sound allocators, and the choice is
// made before the first allocation and never changes, so a block is always freed or resized by
// the allocator that made it.
unsafe impl GlobalAlloc for Selected {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on.
        unsafe {
            if self.decided() == MIMALLOC {
                MiMalloc.alloc(layout)
            } else {
                System.alloc(layout)
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        unsafe {
            if self.decided() == MIMALLOC {
                MiMalloc.alloc_zeroed(layout)
            } else {
                System.alloc_zeroed(layout)
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as in `alloc`; `ptr` came from the same backend (the choice never changes).
        unsafe {
            if self.decided() == MIMALLOC {
                MiMalloc.dealloc(ptr, layout)
            } else {
                System.dealloc(ptr, layout)
            }
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as in `dealloc`.
        unsafe {
            if self.decided() == MIMALLOC {
                MiMalloc.realloc(ptr, layout, new_size)
            } else {
                System.realloc(ptr, layout, new_size)
            }
        }
    }
}

/// What kind of thread made an allocation, for the per-thread breakdown of the counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Role {
    /// The main thread, and any thread not tagged otherwise.
    Main = 0,
    /// A worker of the plain rayon pool (outside any arena).
    PlainWorker = 1,
    /// A worker of the rayon pool whose threads run inside the arena.
    ArenaWorker = 2,
}

/// Number of [`Role`]s.
pub const ROLES: usize = 3;

impl Role {
    /// All roles, in index order.
    pub const ALL: [Role; ROLES] = [Role::Main, Role::PlainWorker, Role::ArenaWorker];

    /// A short name, as used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Role::Main => "main",
            Role::PlainWorker => "plain-worker",
            Role::ArenaWorker => "arena-worker",
        }
    }
}

std::thread_local! {
    // `const`, `Copy` and without destructor: readable from inside the allocator, never
    // allocates, and stays readable during thread teardown.
    static ROLE: Cell<u8> = const { Cell::new(Role::Main as u8) };
}

/// Tags the calling thread, for [`Counts::by_role`].
pub fn set_thread_role(role: Role) {
    ROLE.with(|r| r.set(role as u8));
}

#[inline(always)]
fn thread_role() -> usize {
    ROLE.try_with(Cell::get).unwrap_or(0) as usize
}

/// Size classes of the breakdown: class `c` holds requests of `2^(c-1) + 1 ..= 2^c` bytes
/// (class 0: one byte).
pub const SIZE_CLASSES: usize = 48;

/// The size class of a request of `size` bytes.
#[inline(always)]
pub fn size_class(size: usize) -> usize {
    let bits = (usize::BITS - size.saturating_sub(1).leading_zeros()) as usize;
    bits.min(SIZE_CLASSES - 1)
}

/// The largest size in class `class`.
pub fn size_class_limit(class: usize) -> u64 {
    1u64 << class
}

/// The counting allocator over [`Selected`]: `bench-support`'s [`Counting`], which counts
/// per thread, with the process-wide breakdown of [`RoleSizes`].
pub type CountingSelected = Counting<Selected, RoleSizes>;

/// An [`Observe`]r of a [`Counting`] allocator that counts, in process-wide atomics, every
/// allocating call (`alloc`, `alloc_zeroed`, `realloc`) with its size, by the role of the
/// calling thread and by size class, plus the frees.
#[derive(Debug)]
pub struct RoleSizes {
    calls: [[AtomicU64; SIZE_CLASSES]; ROLES],
    bytes: AtomicU64,
    frees: AtomicU64,
}

impl RoleSizes {
    /// All counters at zero.
    pub const fn new() -> Self {
        RoleSizes {
            calls: [const { [const { AtomicU64::new(0) }; SIZE_CLASSES] }; ROLES],
            bytes: AtomicU64::new(0),
            frees: AtomicU64::new(0),
        }
    }

    /// The counters now. Reads atomics only: it never allocates.
    pub fn snapshot(&self) -> Counts {
        let mut counts = Counts {
            bytes: self.bytes.load(Relaxed),
            frees: self.frees.load(Relaxed),
            ..Counts::default()
        };
        for (row, atomics) in counts.calls.iter_mut().zip(&self.calls) {
            for (count, atomic) in row.iter_mut().zip(atomics) {
                *count = atomic.load(Relaxed);
            }
        }
        counts
    }
}

impl Default for RoleSizes {
    fn default() -> Self {
        Self::new()
    }
}

impl Observe for RoleSizes {
    #[inline(always)]
    fn observe(&self, call: Call, size: usize) {
        if call == Call::Free {
            self.frees.fetch_add(1, Relaxed);
        } else {
            self.calls[thread_role()][size_class(size)].fetch_add(1, Relaxed);
            self.bytes.fetch_add(size as u64, Relaxed);
        }
    }
}

/// A snapshot of [`RoleSizes`]' counters; subtract two for what happened in between.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    /// Allocating calls by thread role and size class.
    pub calls: [[u64; SIZE_CLASSES]; ROLES],
    /// Bytes asked for by them (the new size, for `realloc`).
    pub bytes: u64,
    /// Frees.
    pub frees: u64,
}

impl Default for Counts {
    fn default() -> Self {
        Counts {
            calls: [[0; SIZE_CLASSES]; ROLES],
            bytes: 0,
            frees: 0,
        }
    }
}

impl Counts {
    /// All allocating calls.
    pub fn total_calls(&self) -> u64 {
        self.calls.iter().flatten().sum()
    }

    /// Allocating calls made by threads of `role`.
    pub fn by_role(&self, role: Role) -> u64 {
        self.calls[role as usize].iter().sum()
    }

    /// Allocating calls in size class `class`, all roles.
    pub fn by_size_class(&self, class: usize) -> u64 {
        self.calls.iter().map(|row| row[class]).sum()
    }

    /// The counts from `earlier` to `self`.
    pub fn since(&self, earlier: &Counts) -> Counts {
        let mut delta = Counts {
            bytes: self.bytes - earlier.bytes,
            frees: self.frees - earlier.frees,
            ..Counts::default()
        };
        for (r, row) in delta.calls.iter_mut().enumerate() {
            for (c, count) in row.iter_mut().enumerate() {
                *count = self.calls[r][c] - earlier.calls[r][c];
            }
        }
        delta
    }

    /// Adds `other` to `self`.
    pub fn add(&mut self, other: &Counts) {
        self.bytes += other.bytes;
        self.frees += other.frees;
        for (row, other_row) in self.calls.iter_mut().zip(&other.calls) {
            for (count, other_count) in row.iter_mut().zip(other_row) {
                *count += other_count;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes() {
        assert_eq!(size_class(0), 0);
        assert_eq!(size_class(1), 0);
        assert_eq!(size_class(2), 1);
        assert_eq!(size_class(3), 2);
        assert_eq!(size_class(4), 2);
        assert_eq!(size_class(5), 3);
        assert_eq!(size_class(4096), 12);
        assert_eq!(size_class(4097), 13);
        assert_eq!(size_class(usize::MAX), SIZE_CLASSES - 1);
        for size in [1usize, 7, 64, 1000, 1 << 20] {
            assert!(size as u64 <= size_class_limit(size_class(size)));
        }
    }

    #[test]
    fn counting_counts_by_role_and_class() {
        let counting = Counting::with_observer(System, RoleSizes::new());
        let before = counting.observer().snapshot();
        let layout = Layout::from_size_align(100, 8).unwrap();
        // SAFETY: a non-zero layout; the block is freed with the same layout.
        unsafe {
            let p = counting.alloc(layout);
            assert!(!p.is_null());
            let p = counting.realloc(p, layout, 5000);
            assert!(!p.is_null());
            counting.dealloc(p, Layout::from_size_align(5000, 8).unwrap());
        }
        let delta = counting.observer().snapshot().since(&before);
        assert_eq!(delta.total_calls(), 2);
        assert_eq!(delta.by_role(Role::Main), 2);
        assert_eq!(delta.by_size_class(size_class(100)), 1);
        assert_eq!(delta.by_size_class(size_class(5000)), 1);
        assert_eq!(delta.bytes, 5100);
        assert_eq!(delta.frees, 1);
    }
}
