//! The bump itself, shared by the buffers: move an offset up past an aligned block.

use core::alloc::Layout;

/// Bumps `*offset` past a block for `layout` if the block ends at or before `limit`; returns
/// the block's start offset.
///
/// Offsets, not addresses, need no pointer arithmetic. The caller guarantees the base the
/// offsets count from is aligned to at least `layout.align()`, so aligning the offset aligns
/// the address.
///
/// The common case is a position that is already aligned (a run of same-typed allocations, or
/// any request aligned to 1): then the chain from one allocation to the next is *load, add,
/// store*, with the alignment test off to the side, and the rare misaligned position is fixed
/// out of line. (Aligning unconditionally puts an add and a mask on that chain, which measurably
/// slows a loop of small allocations.)
///
/// No overflow is possible: `*offset <= limit <= isize::MAX` (no object is larger), the mask is
/// below the base alignment (small), and `Layout` keeps the size rounded up to its alignment
/// within `isize::MAX`, so `start + size < 2^64`.
#[inline(always)]
pub(crate) fn bump_offset(offset: &mut usize, limit: usize, layout: Layout) -> Option<usize> {
    let start = *offset;
    // A constant 0 for requests aligned to 1, folded away.
    if start & (layout.align() - 1) != 0 {
        // By value, so the offset's address doesn't leave the caller.
        let (start, end) = bump_offset_misaligned(start, limit, layout)?;
        *offset = end;
        return Some(start);
    }
    let end = start + layout.size();
    if end > limit {
        return None;
    }
    *offset = end;
    Some(start)
}

/// [`bump_offset`] when the position needs alignment padding first: the block's start and
/// end, or `None` if it doesn't fit.
#[cold]
#[inline(never)]
fn bump_offset_misaligned(offset: usize, limit: usize, layout: Layout) -> Option<(usize, usize)> {
    let mask = layout.align() - 1;
    let start = (offset + mask) & !mask;
    let end = start + layout.size();
    if end > limit {
        return None;
    }
    Some((start, end))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn aligned_and_misaligned_positions_give_the_same_blocks() {
        let mut offset = 0;
        assert_eq!(bump_offset(&mut offset, 64, layout(3, 1)), Some(0));
        assert_eq!(offset, 3);
        // Misaligned for 2 and 16: padded.
        assert_eq!(bump_offset(&mut offset, 64, layout(2, 2)), Some(4));
        assert_eq!(bump_offset(&mut offset, 64, layout(16, 16)), Some(16));
        assert_eq!(offset, 32);
        // Aligned: no padding.
        assert_eq!(bump_offset(&mut offset, 64, layout(0, 32)), Some(32));
        assert_eq!(bump_offset(&mut offset, 64, layout(8, 8)), Some(32));
        assert_eq!(offset, 40);
        // Too big, aligned or not: nothing moves.
        assert_eq!(bump_offset(&mut offset, 64, layout(25, 1)), None);
        assert_eq!(bump_offset(&mut offset, 64, layout(32, 16)), None);
        assert_eq!(offset, 40);
        assert_eq!(bump_offset(&mut offset, 64, layout(24, 1)), Some(40));
        assert_eq!(offset, 64);
    }
}
