//! The heap arena ([`arena_router`], feature `router`) as the thread-propagation helpers and the
//! array operations see it: which arena this thread is in, entering it elsewhere, keeping
//! buffers out of it, and lending the scratch arena to a library call's working buffers.
//! Without the feature there is never an arena and these are pass-throughs.

#[cfg(feature = "router")]
mod imp {
    use std::ptr::NonNull;

    /// A heap arena taken along to other threads.
    pub(crate) type HeapHandle = NonNull<arena_router::HeapArena>;

    /// The arena whose scope this thread is in. The pointer is valid for as long as that scope
    /// lasts on this thread.
    pub(crate) fn current() -> Option<HeapHandle> {
        arena_router::with_current_arena(|arena| arena.map(NonNull::from))
    }

    /// Runs `f` inside a scope of `heap`.
    ///
    /// # Safety
    /// `heap` must point to a live arena for the whole call.
    pub(crate) unsafe fn enter<R>(heap: HeapHandle, f: impl FnOnce() -> R) -> R {
        // SAFETY: the caller guarantees the arena is alive for the call.
        unsafe { heap.as_ref() }.scope(f)
    }

    /// Runs `f` with heap allocations going to the wrapped allocator even inside a scope.
    pub(crate) fn outside<R>(f: impl FnOnce() -> R) -> R {
        arena_router::without_arena(f)
    }

    /// Runs `f`, whose heap temporaries are all freed before it returns, with them served by
    /// the scratch arena where the router is installed (else, or inside a scope, it just runs).
    #[inline]
    pub(crate) fn scratch<R>(f: impl FnOnce() -> R) -> R {
        arena_router::with_scratch_arena(f)
    }
}

#[cfg(not(feature = "router"))]
mod imp {
    /// No heap arenas without the router: a handle can't exist.
    #[derive(Clone, Copy)]
    pub(crate) enum HeapHandle {}

    pub(crate) fn current() -> Option<HeapHandle> {
        None
    }

    /// # Safety
    /// Never callable: there is no handle.
    pub(crate) unsafe fn enter<R>(heap: HeapHandle, _f: impl FnOnce() -> R) -> R {
        match heap {}
    }

    pub(crate) fn outside<R>(f: impl FnOnce() -> R) -> R {
        f()
    }

    #[inline]
    pub(crate) fn scratch<R>(f: impl FnOnce() -> R) -> R {
        f()
    }
}

pub(crate) use imp::{current, enter, outside, scratch, HeapHandle};
