//! The dynamically scoped allocator: [`with_allocator`] sets it for the extent of a closure on
//! this thread, and every new array made by an array operation asks it for memory.

use std::alloc::Layout;
use std::cell::Cell;
use std::ptr::NonNull;

use bumper::AllocError;

use crate::arena::ResetReport;
use crate::epoch::Lease;

/// An allocator arrays can come from inside [`with_allocator`]: [`BumperAllocator`] and
/// [`UncheckedBumperAllocator`](crate::UncheckedBumperAllocator).
///
/// # Safety
///
/// `allocate` returns memory aligned and sized for `layout`, not overlapping any other memory
/// handed out whose [`Lease`] is alive, and valid for reads and writes while the returned lease
/// (or a clone of it) lives, whatever happens to the allocator meanwhile.
///
/// [`BumperAllocator`]: crate::BumperAllocator
pub unsafe trait ArrayAllocator {
    /// Memory for one array, and the lease that keeps it valid. `checked` says the array is a
    /// `CheckedAllocArray`; allocators that don't track those refuse with a panic.
    ///
    /// # Errors
    ///
    /// [`AllocError::BufferFull`] when a fixed buffer has no room left for `layout`,
    /// [`AllocError::OutOfMemory`] when the system allocator refuses memory (for a growing
    /// buffer, or for the allocator's own bookkeeping), [`AllocError::SizeOverflow`] for a
    /// layout no chunk can describe. A failed request changes nothing.
    ///
    /// ```
    /// use allocarrays::{ArrayAllocator, BumperAllocator};
    /// use bumper::AllocError;
    /// use std::alloc::Layout;
    ///
    /// let alloc = BumperAllocator::with_fixed_capacity(1024);
    /// let err = alloc.allocate(Layout::new::<[u8; 2048]>(), false).unwrap_err();
    /// assert!(matches!(err, AllocError::BufferFull { .. }));
    /// let (ptr, _lease) = alloc.allocate(Layout::new::<[u8; 512]>(), false)?;
    /// # let _ = ptr;
    /// # Ok::<(), AllocError>(())
    /// ```
    fn allocate(&self, layout: Layout, checked: bool) -> Result<(NonNull<u8>, Lease), AllocError>;

    /// Frees every array made since the last reset whose memory no live array still uses;
    /// invalidates checked arrays.
    fn reset(&self) -> ResetReport;

    /// This allocator as a thread-safe one, if it is: what [`thread_scope`] and [`with_carry`]
    /// carry into other threads. `None` (the default) keeps other threads on the heap.
    ///
    /// [`thread_scope`]: crate::thread_scope
    /// [`with_carry`]: crate::with_carry
    fn as_sync(&self) -> Option<&(dyn ArrayAllocator + Sync)> {
        None
    }
}

std::thread_local! {
    /// The allocator set by the innermost `with_allocator` on this thread. The lifetime is
    /// erased; `with_allocator` removes the pointer before its borrow ends.
    static CURRENT: Cell<Option<NonNull<dyn ArrayAllocator>>> = const { Cell::new(None) };
}

/// Runs `f` with `alloc` as this thread's array allocator: every new array an array operation
/// makes inside `f` (at any call depth) comes from `alloc`. Outside any `with_allocator`, new
/// arrays come from the heap. Calls nest; the previous allocator comes back when `f` returns or
/// panics.
///
/// ```
/// use allocarrays::{with_allocator, BumperAllocator};
///
/// let alloc = BumperAllocator::with_fixed_capacity(1 << 20);
/// let total = with_allocator(&alloc, || {
///     // ... array code here allocates from `alloc` ...
///     42
/// });
/// alloc.reset();
/// assert_eq!(total, 42);
/// ```
pub fn with_allocator<A: ArrayAllocator, R>(alloc: &A, f: impl FnOnce() -> R) -> R {
    let erased: NonNull<dyn ArrayAllocator + '_> = NonNull::from(alloc as &dyn ArrayAllocator);
    // SAFETY: only the trait object's lifetime bound changes; `Restore` takes the pointer out of
    // the thread-local (also on panic) before `alloc`'s borrow ends.
    let erased: NonNull<dyn ArrayAllocator> = unsafe { std::mem::transmute(erased) };
    set_current(Some(erased), f)
}

/// Runs `f` with no array allocator: new arrays come from the heap, even inside a
/// [`with_allocator`]. For arrays meant to outlive the allocator's next reset.
///
/// ```
/// use allocarrays::{with_allocator, without_allocator, BumperAllocator};
///
/// let alloc = BumperAllocator::with_fixed_capacity(1 << 20);
/// with_allocator(&alloc, || {
///     assert!(allocarrays::has_allocator());
///     without_allocator(|| assert!(!allocarrays::has_allocator()));
/// });
/// ```
pub fn without_allocator<R>(f: impl FnOnce() -> R) -> R {
    set_current(None, f)
}

/// Whether new arrays on this thread come from an allocator set by [`with_allocator`].
pub fn has_allocator() -> bool {
    CURRENT.with(|c| c.get().is_some())
}

pub(crate) fn set_current<R>(
    alloc: Option<NonNull<dyn ArrayAllocator>>,
    f: impl FnOnce() -> R,
) -> R {
    /// Puts the previous allocator back, also on panic.
    struct Restore(Option<NonNull<dyn ArrayAllocator>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0;
            CURRENT.with(|c| c.set(previous));
        }
    }
    let _restore = Restore(CURRENT.with(|c| c.replace(alloc)));
    f()
}

/// The current allocator, if any. Valid until the innermost `with_allocator` frame on this
/// thread returns.
pub(crate) fn current() -> Option<NonNull<dyn ArrayAllocator>> {
    CURRENT.with(|c| c.get())
}

/// Memory from the current allocator for `layout`, or `None` outside any [`with_allocator`].
#[inline]
pub(crate) fn allocate_current(
    layout: Layout,
    checked: bool,
) -> Option<Result<(NonNull<u8>, Lease), AllocError>> {
    let current = CURRENT.with(|c| c.get())?;
    // SAFETY: the pointer was set by a `with_allocator` frame still running on this thread
    // (frames remove it before returning), so the allocator is alive; `allocate` takes `&self`.
    Some(unsafe { current.as_ref() }.allocate(layout, checked))
}
