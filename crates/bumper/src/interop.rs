//! Allocator interop: a scope serves as an `allocator_api2` allocator, so collections written
//! against that API (`allocator_api2::vec::Vec`, `hashbrown::HashMap`) live in the scope.

use core::alloc::Layout;
use core::ptr::NonNull;

use allocator_api2::alloc::{AllocError as ApiAllocError, Allocator};

use crate::buffer::Buffer;
use crate::scope::Scope;

/// A shared borrow of a scope allocates from it. Deallocation is a no-op (the memory comes back
/// when the scope ends), and growth copies into a new block.
///
/// The collection borrows the scope, so it can't outlive it, and no nested scope can be opened
/// while the collection is alive (a nested scope would otherwise free the collection's newer
/// blocks).
///
/// ```
/// use allocator_api2::vec::Vec;
/// use bumper::{Buffer, SlabBuffer};
///
/// let mut buf: SlabBuffer = SlabBuffer::new();
/// let sum = buf.no_escape(|s| {
///     let mut v = Vec::new_in(&*s);
///     v.extend(1..=10u32);
///     v.iter().sum::<u32>()
/// });
/// assert_eq!(sum, 55);
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
    unsafe fn deallocate(&self, _ptr: NonNull<u8>, _layout: Layout) {
        // Scope memory is reclaimed all at once when the scope ends.
    }
}
