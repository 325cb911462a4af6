//! [`ArenaRouter`]: the global allocator that sends a thread's allocations to the arena lane
//! its route points at, and everything else to the wrapped allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt;

use crate::lane::Lane;
use crate::{region, route};

/// A global allocator that serves every heap allocation made inside a [`HeapArena`](crate::HeapArena) scope
/// from the arena, and passes everything else to the allocator it wraps (`System` by default,
/// any [`GlobalAlloc`] such as mimalloc by choice).
///
/// Install it once per program; it changes nothing until a scope is entered:
///
/// ```
/// use arena_router::{ArenaRouter, HeapArena};
/// use std::alloc::System;
///
/// #[global_allocator]
/// static GLOBAL: ArenaRouter = ArenaRouter::new(System);
///
/// fn main() {
///     let arena = HeapArena::new();
///     let total = arena.scope(|| {
///         // Plain code that never heard of arenas: the Vec comes from the arena.
///         let v: Vec<u64> = (0..1000).collect();
///         v.iter().sum::<u64>()
///     });
///     assert_eq!(total, 499_500);
///     arena.reset(); // the arena's memory is reused by the next scope
/// }
/// ```
///
/// Costs and rules:
///
/// - Outside a scope an allocation costs one thread-local load more than the wrapped
///   allocator's, a free one range check (one load, an exclusive or, a shift): arena memory is
///   carved from one reserved address range, so ownership is known in O(1) on any thread.
/// - Inside a scope, allocations bump a pointer in the thread's lane; freeing the newest one
///   moves it back, and `realloc` grows or shrinks the newest one in place. An allocation and
///   the free of the newest one within the current 64 KiB block are the fast path: a few loads,
///   compares and stores each, no call. Memory freed out of order is reused before the lane
///   grows: recent frees by size, and blocks whose allocations were all freed, so code that
///   frees in any order keeps working in warm memory.
/// - Frees of arena memory may come from any thread, at any time (also after a reset or after
///   the arena is dropped): the block the memory is in stays pinned, and out of reuse, until
///   then.
/// - A `realloc` of memory from the wrapped allocator stays with the wrapped allocator, also
///   inside a scope; an allocation the arena has no room for goes to the wrapped allocator too.
/// - The allocator never allocates, never panics and never takes a lock.
pub struct ArenaRouter<G = System> {
    inner: G,
}

impl<G> ArenaRouter<G> {
    /// A router over `inner`, the allocator used outside arena scopes.
    ///
    /// ```
    /// static ROUTER: arena_router::ArenaRouter = arena_router::ArenaRouter::new(std::alloc::System);
    /// # let _ = &ROUTER;
    /// ```
    #[must_use]
    pub const fn new(inner: G) -> Self {
        ArenaRouter { inner }
    }

    /// The wrapped allocator.
    ///
    /// ```
    /// let router = arena_router::ArenaRouter::new(std::alloc::System);
    /// let _system: &std::alloc::System = router.inner();
    /// ```
    #[must_use]
    pub const fn inner(&self) -> &G {
        &self.inner
    }
}

impl Default for ArenaRouter<System> {
    fn default() -> Self {
        ArenaRouter::new(System)
    }
}

impl<G> fmt::Debug for ArenaRouter<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArenaRouter")
            .field("inner", &std::any::type_name::<G>())
            .finish()
    }
}

// SAFETY: memory from the wrapped allocator is returned to it (its pointers lie outside the
// reserved range, which the OS gave to us alone). Arena memory is carved from a lane held by
// the calling thread alone (its route), aligned and sized as asked, and not handed out again
// while the block counts show it live: every allocation counts its blocks, every free uncounts
// them, and the bump pointer never enters a block with a non-zero count (see `Lane`).
unsafe impl<G: GlobalAlloc> GlobalAlloc for ArenaRouter<G> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let lane = route::current();
        if lane.is_null() {
            // SAFETY: the caller's contract (non-zero size) is passed on unchanged.
            return unsafe { self.inner.alloc(layout) };
        }
        // SAFETY: a non-null route points at the header of a lane this thread holds, in the
        // reserved range, which is never unmapped; the route's pointer was derived from the
        // range's base.
        if let Some(p) = unsafe { Lane::alloc_fast(lane, layout.size(), layout.align()) } {
            return p;
        }
        // SAFETY: as above; the caller's contract (non-zero size) is passed on.
        unsafe { self.alloc_in_lane(lane, layout) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let lane = route::current();
        if lane.is_null() {
            // SAFETY: as in `alloc`.
            return unsafe { self.inner.alloc_zeroed(layout) };
        }
        // SAFETY: as in `alloc`.
        unsafe { self.alloc_zeroed_in_lane(lane, layout) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let addr = ptr.addr();
        if !region::contains(addr) {
            // SAFETY: not arena memory, so it came from the wrapped allocator with this layout.
            return unsafe { self.inner.dealloc(ptr, layout) };
        }
        let lane = route::current();
        // SAFETY: a non-null route points at the header of a lane this thread holds (lane
        // headers live forever in the reserved range); `[addr, addr + size)` is arena memory
        // handed out with this size (the caller's contract), which `free_if_newest` only frees
        // if it is that lane's newest allocation.
        if !lane.is_null() && unsafe { &*lane }.free_if_newest(addr, layout.size()) {
            return;
        }
        free_in_lane(addr, layout.size());
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let addr = ptr.addr();
        if !region::contains(addr) {
            // SAFETY: not arena memory: the wrapped allocator's, with this layout; the caller
            // vouches for `new_size`.
            return unsafe { self.inner.realloc(ptr, layout, new_size) };
        }
        let lane = Lane::of(addr);
        let holder = lane == route::current();
        // SAFETY: as in `dealloc`.
        if unsafe { &*lane }.resize_in_place(addr, layout.size(), new_size, holder) {
            return ptr;
        }
        // SAFETY: the caller guarantees `new_size`, rounded up to `layout.align()`, does not
        // overflow `isize`, and the alignment is that of a valid layout.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: `new_size` is non-zero (caller's contract).
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are live, distinct allocations of at least the copied size.
            unsafe { std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
            // SAFETY: `ptr` was allocated by this allocator with `layout`, and is freed once.
            unsafe { self.dealloc(ptr, layout) };
        }
        new
    }
}

impl<G: GlobalAlloc> ArenaRouter<G> {
    /// `alloc` inside a scope, past the fast path: from the lane, or from the wrapped
    /// allocator if it is full. Out of line, so the fast path needs no stack frame.
    ///
    /// # Safety
    ///
    /// `lane` is this thread's route (non-null); `layout` has a non-zero size.
    #[inline(never)]
    unsafe fn alloc_in_lane(&self, lane: *const Lane, layout: Layout) -> *mut u8 {
        // SAFETY: a non-null route points at the header of a lane this thread holds, in the
        // reserved range, which is never unmapped.
        match unsafe { &*lane }.alloc(layout.size(), layout.align()) {
            Some(addr) => region::ptr_at(addr),
            // SAFETY: the caller's contract (non-zero size) is passed on.
            None => unsafe { self.inner.alloc(layout) },
        }
    }

    /// `alloc_zeroed` inside a scope.
    ///
    /// # Safety
    ///
    /// `lane` is this thread's route (non-null); `layout` has a non-zero size.
    #[inline(never)]
    unsafe fn alloc_zeroed_in_lane(&self, lane: *const Lane, layout: Layout) -> *mut u8 {
        // SAFETY: a non-null route points at the header of a lane this thread holds, in the
        // reserved range, which is never unmapped.
        let lane = unsafe { &*lane };
        let fresh_from = lane.high_water();
        match lane.alloc(layout.size(), layout.align()) {
            Some(addr) => {
                let p = region::ptr_at(addr);
                // Memory at or above the old high water was never handed out: already zeros.
                let dirty = fresh_from.saturating_sub(addr).min(layout.size());
                // SAFETY: `[p, p + dirty)` is part of the allocation just made.
                unsafe { p.write_bytes(0, dirty) };
                p
            }
            // SAFETY: the caller's contract (non-zero size) is passed on.
            None => unsafe { self.inner.alloc_zeroed(layout) },
        }
    }
}

/// `dealloc` of arena memory past the fast path: uncounts its blocks in its lane, by the holder
/// (the memory is not the newest, or spans blocks) or remotely.
#[inline(never)]
fn free_in_lane(addr: usize, size: usize) {
    let lane = region::ptr_at(region::slot_of(addr)).cast::<Lane>();
    // SAFETY: `lane` is the header of the slot holding `addr`; the slot has been a lane since
    // the memory was handed out, since slots are only released once no block is live.
    unsafe { &*lane }.free(addr, size, lane.cast_const() == route::current());
}
