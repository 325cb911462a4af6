//! Arena routing for code that never heard of arenas: with [`ArenaRouter`] as the program's
//! global allocator, every heap allocation a thread makes inside [`HeapArena::scope`] (plain
//! `Vec`, `Box`, `String`, collections, ndarray, any library) is bump-allocated from the
//! arena, and [`HeapArena::reset`] makes the memory reusable without ever reusing memory that
//! is still live.
//!
//! - [`region`]: the one reserved address range arena memory comes from (O(1) ownership test).
//! - [`lane`]: one thread's bump allocator in a slot of that range, with per-block live counts.
//! - [`route`]: the thread-local that says which lane a thread allocates from.
//! - [`router`]: the `GlobalAlloc` that follows the route.
//! - [`heap_arena`]: the arena: lanes, scopes, reset, statistics.

mod heap_arena;
mod lane;
mod region;
mod route;
mod router;

pub use heap_arena::{HeapArena, HeapArenaOptions, HeapArenaStats, HeapResetReport, PinnedAtReset};
pub use router::ArenaRouter;

use lane::Lane;
use route::RestoreRoute;

/// Runs `f` with this thread's heap allocations going to the wrapped allocator, even inside a
/// [`HeapArena::scope`]: for values meant to outlive the scope (a cache, a thread pool, a
/// result kept across resets), so they don't pin arena memory.
///
/// ```
/// use allocarrays::{without_arena, ArenaRouter, HeapArena, HeapArenaOptions};
///
/// #[global_allocator]
/// static GLOBAL: ArenaRouter = ArenaRouter::new(std::alloc::System);
///
/// fn main() {
///     let arena = HeapArena::with_options(HeapArenaOptions::new().strict(true));
///     let kept: Vec<u32> = arena.scope(|| {
///         let scratch: Vec<u32> = (0..100).collect(); // from the arena
///         without_arena(|| scratch.iter().map(|x| x * 2).collect()) // from the heap
///     });
///     arena.reset().unwrap(); // strict: nothing of the arena is still live
///     assert_eq!(kept[99], 198);
/// }
/// ```
pub fn without_arena<R>(f: impl FnOnce() -> R) -> R {
    let _restore = RestoreRoute(route::replace(std::ptr::null()));
    f()
}

/// Whether a heap allocation made here and now comes from an arena: this thread is inside a
/// [`HeapArena::scope`] that has a lane, and [`ArenaRouter`] is the global allocator (probed
/// with one small allocation).
///
/// ```
/// let arena = allocarrays::HeapArena::new();
/// assert!(!allocarrays::arena_routing_active());
/// // Inside `arena.scope`, true only where `ArenaRouter` is the global allocator: here it
/// // is not.
/// assert!(!arena.scope(allocarrays::arena_routing_active));
/// ```
pub fn arena_routing_active() -> bool {
    if route::current().is_null() {
        return false;
    }
    let probe = Box::new(0u8);
    region::contains((&*probe as *const u8).addr())
}

/// The arena whose lane this thread allocates from, if any: what the thread-propagation
/// helpers take along to other threads.
pub(crate) fn current_arena() -> Option<std::ptr::NonNull<HeapArena>> {
    let lane: *const Lane = route::current();
    if lane.is_null() {
        return None;
    }
    // SAFETY: lane headers live forever in the reserved range.
    let arena = unsafe { &*lane }
        .arena
        .load(std::sync::atomic::Ordering::Relaxed);
    std::ptr::NonNull::new(arena.cast::<HeapArena>())
}
