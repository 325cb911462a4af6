//! The thread's route: the lane its allocations go to, or none.
//!
//! A `const`-initialised thread-local of a type without drop glue: reading it is one load
//! relative to the thread pointer, it never allocates (no lazy initialiser that could recurse
//! into the allocator) and it registers no destructor, so it stays readable during thread
//! teardown.

use std::cell::Cell;

use crate::lane::Lane;

std::thread_local! {
    static ROUTE: Cell<*const Lane> = const { Cell::new(std::ptr::null()) };
}

/// The lane this thread allocates from, or null.
#[inline(always)]
pub(crate) fn current() -> *const Lane {
    ROUTE.try_with(Cell::get).unwrap_or(std::ptr::null())
}

/// Sets this thread's route, returning the previous one.
pub(crate) fn replace(lane: *const Lane) -> *const Lane {
    ROUTE
        .try_with(|r| r.replace(lane))
        .unwrap_or(std::ptr::null())
}

/// Puts a previous route back when dropped (also while unwinding).
#[derive(Debug)]
pub(crate) struct RestoreRoute(pub(crate) *const Lane);

impl Drop for RestoreRoute {
    fn drop(&mut self) {
        replace(self.0);
    }
}
