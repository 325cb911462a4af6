//! The scratch arena: a process-wide [`HeapArena`] that [`with_scratch_arena`] lends to work
//! whose heap temporaries are all freed before it returns (a library's internal buffers, such
//! as a matrix product's packing buffer), so that such work takes nothing from the wrapped
//! allocator once the arena's memory is warm.

use crate::heap_arena::{self, HeapArena};
use crate::route;

/// The arena behind [`with_scratch_arena`]. A `static`, never dropped: it has one lane per
/// thread inside [`with_scratch_arena`] at the same time (not one per thread that ever used
/// it), and an idle lane serves whichever thread comes next.
static SCRATCH: HeapArena = HeapArena::new();

/// Runs `f` with this thread's heap allocations served by the process-wide scratch arena
/// ([`scratch_arena`]), when [`ArenaRouter`](crate::ArenaRouter) is the global allocator: for
/// work whose temporaries are all freed before it returns, such as a library call that takes
/// a working buffer from the heap and frees it again. Once the arena's memory is warm, such
/// work makes no call to the wrapped allocator.
///
/// - Inside a [`HeapArena::scope`], `f` just runs: its allocations already go to that arena.
/// - Without `ArenaRouter` as the global allocator, `f` just runs, with nothing printed and
///   nothing recorded (unlike a [`HeapArena::scope`], which warns): library code can call it
///   unconditionally. The first call of the process finds out with one probe allocation in
///   a lane taken and given back at once; later calls read the cached answer.
/// - Memory that `f` frees is reused by the next call. A value allocated inside `f` and kept
///   (the result, say) stays intact: it pins its 64 KiB block(s) of the scratch arena until
///   it is freed, as at [`HeapArena::reset`]. Make values meant to be kept outside the call,
///   or inside [`without_arena`](crate::without_arena).
/// - Each thread inside the call at the same time holds one of the process's
///   [`HeapArena::MAX_LANES`] lanes while `f` runs; a lane left idle is reused by the next
///   call on any thread, so the arena has as many lanes as threads ever used it *at once*.
///   If no lane can be had, `f` runs with allocations going to the wrapped allocator.
///
/// The cost: two uncontended lock operations and a few loads and stores per call; meant for
/// calls that do some work (microseconds and up), not for every small allocation.
///
/// ```
/// use arena_router::{scratch_arena, with_scratch_arena, ArenaRouter};
///
/// #[global_allocator]
/// static GLOBAL: ArenaRouter = ArenaRouter::new(std::alloc::System);
///
/// /// A library call that takes a working buffer from the heap.
/// fn sum_of_squares(x: &[f64]) -> f64 {
///     let squares: Vec<f64> = x.iter().map(|v| v * v).collect();
///     squares.iter().sum()
/// }
///
/// fn main() {
///     let x = vec![1.0, 2.0, 3.0]; // kept: made outside
///     for _ in 0..3 {
///         // The buffer comes from the scratch arena and goes back to it.
///         assert_eq!(with_scratch_arena(|| sum_of_squares(&x)), 14.0);
///     }
///     let stats = scratch_arena().stats();
///     assert_eq!(stats.allocations, 3);
///     assert_eq!(stats.in_use_bytes, 0); // nothing left: the memory is reused
/// }
/// ```
pub fn with_scratch_arena<R>(f: impl FnOnce() -> R) -> R {
    if !route::current().is_null() || !heap_arena::router_installed() {
        return f();
    }
    SCRATCH.scope_quiet(f)
}

/// The arena that [`with_scratch_arena`] serves allocations from, for its statistics and to
/// [`trim`](HeapArena::trim) a peak: its lanes keep the memory they touched for the next
/// calls. (A [`scope`](HeapArena::scope) or [`reset`](HeapArena::reset) of it is allowed,
/// and as safe as for any arena, but not needed: every call leaves its lane ready for reuse.)
///
/// ```
/// let arena = arena_router::scratch_arena();
/// // No `ArenaRouter` in this doctest: calls run `f` and the arena serves nothing.
/// assert_eq!(arena_router::with_scratch_arena(|| vec![1u8; 64].len()), 64);
/// assert_eq!(arena.stats().allocations, 0);
/// assert_eq!(arena.stats().routing_off, None);
/// ```
pub fn scratch_arena() -> &'static HeapArena {
    &SCRATCH
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heap_arena::{ROUTER, ROUTER_ABSENT};
    use std::sync::atomic::Ordering::Relaxed;

    #[test]
    fn without_the_router_calls_run_the_work_and_record_nothing() {
        // This test binary's global allocator is the system's.
        for round in 0..3usize {
            let v = with_scratch_arena(|| vec![round; 100]);
            assert_eq!(v, vec![round; 100]);
            assert!(!crate::region::contains(v.as_ptr().addr()));
        }
        assert!(!heap_arena::router_installed());
        assert_eq!(ROUTER.load(Relaxed), ROUTER_ABSENT, "the answer is kept");
        let stats = scratch_arena().stats();
        assert_eq!(stats.lanes, 0, "the scratch arena took no lane");
        assert_eq!(stats.allocations, 0);
        assert_eq!(stats.routing_off, None);
        // A panic passes through.
        let caught = std::panic::catch_unwind(|| with_scratch_arena(|| panic!("passes")));
        assert!(caught.is_err());
    }
}
