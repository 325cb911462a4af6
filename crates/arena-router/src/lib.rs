#![doc = include_str!("../README.md")]
//!
//! # Overview
//!
//! Install [`ArenaRouter`] over any [`GlobalAlloc`](std::alloc::GlobalAlloc), then run the hot
//! loop inside [`HeapArena::scope`].
//!
//! - Outside any scope the router costs one thread-local load and a test per allocation and a
//!   range check per free; allocations go to the wrapped allocator.
//! - Ownership is O(1): arena memory lies in one reserved address range, so a free from any
//!   thread finds its owner by the address.
//! - `reset` is safe: memory still live (a value that escaped the scope into a cache, or was
//!   sent to another thread) pins its 64 KiB block(s), which are skipped until it is freed;
//!   the report says how much stayed pinned, and [`HeapArena::reset_strict`] turns pins into
//!   an error. The usual surprise: a collection made before a scope with no memory yet
//!   (`Vec::new()`) and grown inside it gets arena memory, and pins a block at every reset;
//!   reserve its capacity before the scope, or grow it inside [`without_arena`].
//! - Scopes that route nothing say so: without `ArenaRouter` as the global allocator, or where
//!   no address range can be reserved (a low `ulimit -v`), the arena records why
//!   ([`RoutingOff`], in its statistics and reset reports), prints a warning once per process,
//!   and [`HeapArena::reset_strict`] fails instead of passing.
//! - [`without_arena`] sends a part of a scope back to the wrapped allocator (for values meant
//!   to outlive it); [`with_current_arena`] lets thread pools enter the same arena on their
//!   workers.
//! - [`with_scratch_arena`] serves a piece of work whose temporaries are all freed before it
//!   returns (a library's working buffers) from a process-wide scratch arena, outside any
//!   scope too; without the router it just runs the work, silently.
//!
//! Depends on `std` and `libc` only. On non-unix targets there is no range and scopes pass
//! every allocation through to the wrapped allocator.
#![cfg_attr(docsrs, feature(doc_cfg))]

// The modules: `region` (the one reserved range arena memory comes from), `lane` (one
// thread's bump allocator in a slot of that range, with per-block live counts), `route` (the
// thread-local that says which lane a thread allocates from), `router` (the `GlobalAlloc` that
// follows the route), `heap_arena` (lanes, scopes, reset, statistics), `scratch` (the
// process-wide arena lent to self-contained work).
mod heap_arena;
mod lane;
mod region;
mod route;
mod router;
mod scratch;

pub use heap_arena::{
    HeapArena, HeapArenaOptions, HeapArenaStats, HeapResetReport, RoutingOff, StrictResetError,
};
pub use router::ArenaRouter;
pub use scratch::{scratch_arena, with_scratch_arena};

use lane::Lane;
use route::RestoreRoute;

/// Runs `f` with this thread's heap allocations going to the wrapped allocator, even inside a
/// [`HeapArena::scope`]: for values meant to outlive the scope (a cache, a thread pool, a
/// result kept across resets), so they don't pin arena memory.
///
/// ```
/// use arena_router::{without_arena, ArenaRouter, HeapArena};
///
/// #[global_allocator]
/// static GLOBAL: ArenaRouter = ArenaRouter::new(std::alloc::System);
///
/// fn main() {
///     let arena = HeapArena::new();
///     let kept: Vec<u32> = arena.scope(|| {
///         let scratch: Vec<u32> = (0..100).collect(); // from the arena
///         without_arena(|| scratch.iter().map(|x| x * 2).collect()) // from the heap
///     });
///     arena.reset_strict().unwrap(); // nothing of the arena is still live
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
/// let arena = arena_router::HeapArena::new();
/// assert!(!arena_router::arena_routing_active());
/// // Inside `arena.scope`, true only where `ArenaRouter` is the global allocator: here it
/// // is not.
/// assert!(!arena.scope(arena_router::arena_routing_active));
/// ```
#[must_use]
pub fn arena_routing_active() -> bool {
    if route::current().is_null() {
        return false;
    }
    let probe = Box::new(0u8);
    region::contains((&*probe as *const u8).addr())
}

/// Calls `f` with the arena whose scope this thread is in (the innermost [`HeapArena::scope`]
/// with a lane), or `None` outside any: what code that hands work to other threads takes
/// along so they can enter a scope of the same arena (allocarrays' `thread_scope`,
/// `with_carry` and `rayon_scope` do).
///
/// ```
/// use arena_router::{with_current_arena, HeapArena};
///
/// let arena = HeapArena::new();
/// assert!(with_current_arena(|a| a.is_none()));
/// let same = arena.scope(|| with_current_arena(|a| a.is_some_and(|a| std::ptr::eq(a, &arena))));
/// assert!(same);
/// ```
pub fn with_current_arena<R>(f: impl FnOnce(Option<&HeapArena>) -> R) -> R {
    let lane: *const Lane = route::current();
    if lane.is_null() {
        return f(None);
    }
    // SAFETY: lane headers live forever in the reserved range.
    let arena = unsafe { &*lane }
        .arena
        .load(std::sync::atomic::Ordering::Relaxed)
        .cast::<HeapArena>();
    // SAFETY: this thread holds a lane of `arena` only inside `arena.scope(..)`, which borrows
    // the arena for longer than this call (a frame further up this thread's stack), so the
    // arena is alive for the whole of `f`. A null pointer (no arena recorded) is `None`.
    f(unsafe { arena.as_ref() })
}
