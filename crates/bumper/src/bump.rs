//! The bump itself, shared by the buffers: move an offset up past an aligned block.

use core::alloc::Layout;

/// Bumps `*offset` past a block for `layout` if the block ends at or before `limit`; returns
/// the block's start offset.
///
/// Offsets, not addresses, keep the dependency chain short (add, mask, add) and need no
/// pointer arithmetic. The caller guarantees the base the offsets count from is aligned to at
/// least `layout.align()`, so aligning the offset aligns the address.
///
/// No overflow is possible: `*offset <= limit <= isize::MAX` (no object is larger), the mask is
/// below the base alignment (small), and `Layout` keeps the size rounded up to its alignment
/// within `isize::MAX`, so `start + size < 2^64`.
#[inline(always)]
pub(crate) fn bump_offset(offset: &mut usize, limit: usize, layout: Layout) -> Option<usize> {
    let mask = layout.align() - 1;
    let start = (*offset + mask) & !mask;
    let end = start + layout.size();
    if end > limit {
        return None;
    }
    *offset = end;
    Some(start)
}

/// Resizes the block at offset `block` of `old_size` bytes to `new_size` if it ends at `*offset`
/// (it is the newest) and `block + new_size <= limit`; returns whether it did.
#[inline]
pub(crate) fn resize_last(
    offset: &mut usize,
    limit: usize,
    block: usize,
    old_size: usize,
    new_size: usize,
) -> bool {
    // `block + old_size` can't overflow: both describe a live block inside the memory.
    if block + old_size != *offset || new_size > limit - block {
        return false;
    }
    *offset = block + new_size;
    true
}
