//! Allocator interop: a scope serves as an `allocator_api2` allocator, so collections written
//! against that API (`allocator_api2::vec::Vec`, `hashbrown::HashMap`) live in the scope.
//!
//! Both `&Scope` and `&mut Scope` are allocators, so `Vec::new_in(s)` works on the `&mut Scope`
//! a `no_escape` closure receives, as does `Vec::new_in(&*s)` (which leaves the scope free for
//! other allocations while the vector lives). The crate re-exports the `allocator_api2` it
//! implements, as [`bumper::allocator_api2`](crate::allocator_api2), so you need not pin a
//! matching version.

use core::alloc::Layout;
use core::ptr::NonNull;

use allocator_api2::alloc::{AllocError as ApiAllocError, Allocator};

use crate::buffer::Buffer;
use crate::scope::Scope;

/// A shared borrow of a scope allocates from it. The newest block grows and shrinks in place and
/// is given back at once when freed; other blocks come back when the scope ends (growing one
/// copies it into a new block).
///
/// The collection borrows the scope, so it can't outlive it, and no nested scope can be opened
/// while the collection is alive (a nested scope would otherwise free the collection's newer
/// blocks).
///
/// ```
/// use bumper::allocator_api2::vec::Vec;
/// use bumper::SlabBuffer;
///
/// let mut buf = SlabBuffer::new();
/// let sum = buf.no_escape(|s| {
///     let mut v = Vec::new_in(&*s);
///     v.extend(1..=10u32);
///     let w = s.alloc(5u32); // the scope still allocates while `v` lives
///     v.iter().sum::<u32>() + *w
/// });
/// assert_eq!(sum, 60);
/// ```
// SAFETY: blocks come from `Scope::try_alloc_layout`, aligned and sized as asked, disjoint, and
// valid until the scope ends, which the `&'a` borrow outlives every copy of this allocator.
unsafe impl<'a, 's, B: Buffer> Allocator for &'a Scope<'s, B> {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, ApiAllocError> {
        let ptr = self.try_alloc_layout(layout).map_err(|_| ApiAllocError)?;
        Ok(NonNull::slice_from_raw_parts(ptr, layout.size()))
    }

    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // The newest block goes back at once (LIFO); any other is reclaimed when the scope ends.
        // SAFETY: `ptr` is a live block of this scope for `layout` (the caller's contract).
        unsafe { self.try_resize_last(ptr, layout, 0) };
    }

    #[inline]
    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, ApiAllocError> {
        // In place when the block is the newest and already aligned enough.
        let aligned = ptr.as_ptr().addr() % new.align() == 0;
        // SAFETY: `ptr` is a live block of this scope for `old` (the caller's contract).
        if aligned && unsafe { self.try_resize_last(ptr, old, new.size()) } {
            return Ok(NonNull::slice_from_raw_parts(ptr, new.size()));
        }
        let new_ptr = self.allocate(new)?;
        // SAFETY: the old block is live for `old.size() <= new.size()` bytes and the new one is
        // fresh, so they don't overlap; the old block is then given up.
        unsafe {
            core::ptr::copy_nonoverlapping(ptr.as_ptr(), new_ptr.cast::<u8>().as_ptr(), old.size());
            self.deallocate(ptr, old);
        }
        Ok(new_ptr)
    }

    #[inline]
    unsafe fn shrink(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, ApiAllocError> {
        if ptr.as_ptr().addr() % new.align() == 0 {
            // The newest block gives its tail back; any other keeps it until the scope ends.
            // SAFETY: `ptr` is a live block of this scope for `old` (the caller's contract).
            unsafe { self.try_resize_last(ptr, old, new.size()) };
            return Ok(NonNull::slice_from_raw_parts(ptr, new.size()));
        }
        let new_ptr = self.allocate(new)?;
        // SAFETY: `new.size() <= old.size()` bytes of a live block into a fresh one.
        unsafe {
            core::ptr::copy_nonoverlapping(ptr.as_ptr(), new_ptr.cast::<u8>().as_ptr(), new.size());
            self.deallocate(ptr, old);
        }
        Ok(new_ptr)
    }
}

/// An exclusive borrow of a scope allocates from it too, exactly as `&Scope` does: the form
/// `Vec::new_in(s)` takes on the `&mut Scope` of a `no_escape` closure. The collection then holds
/// the scope's only borrow, so the scope can't allocate anything else while it lives (use
/// `Vec::new_in(&*s)` for that).
///
/// ```
/// use bumper::allocator_api2::vec::Vec;
/// use bumper::AllocBuffer;
///
/// let mut buf = AllocBuffer::with_capacity(1024);
/// let sum = buf.no_escape(|s| {
///     let mut v = Vec::new_in(s);
///     v.extend([1u64, 2, 3]);
///     v.iter().sum::<u64>()
/// });
/// assert_eq!((sum, buf.used()), (6, 0));
/// ```
// SAFETY: every method forwards to the `&Scope` allocator above, through a shared reborrow of
// the scope that lives no longer than this `&'a mut` borrow, which outlives every use of the
// blocks (the collection holding the allocator borrows the scope for `'a`).
unsafe impl<'a, 's, B: Buffer> Allocator for &'a mut Scope<'s, B> {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, ApiAllocError> {
        (&**self).allocate(layout)
    }

    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: the caller's contract, for the same scope.
        unsafe { (&**self).deallocate(ptr, layout) }
    }

    #[inline]
    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, ApiAllocError> {
        // SAFETY: the caller's contract, for the same scope.
        unsafe { (&**self).grow(ptr, old, new) }
    }

    #[inline]
    unsafe fn shrink(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, ApiAllocError> {
        // SAFETY: the caller's contract, for the same scope.
        unsafe { (&**self).shrink(ptr, old, new) }
    }
}
