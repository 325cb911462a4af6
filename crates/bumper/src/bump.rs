//! The bump itself, shared by the buffers: move a cursor up past an aligned block.

use core::alloc::Layout;
use core::ptr::NonNull;

/// Bumps `*cursor` past a block for `layout` if the block ends at or before the address `end`;
/// returns the block's start.
///
/// One comparison covers every failure: with `aligned = (position + align - 1) & !(align - 1)`
/// computed wrapping, the block's end offset `aligned + size - position` (also wrapping) is at
/// most `end - position` exactly when the block fits. If the rounding wrapped past the top of
/// the address space, `position >= 2^63` while `aligned + size <= isize::MAX` (a `Layout`
/// guarantee), so the offset wraps to a huge value and is refused.
///
/// # Safety
///
/// `*cursor` is non-null, at or before `end`, and `*cursor..end` lies in one allocation that
/// `*cursor` has the provenance of (or is empty).
#[inline(always)]
pub(crate) unsafe fn bump_up(
    cursor: &mut *mut u8,
    end: usize,
    layout: Layout,
) -> Option<NonNull<u8>> {
    let position = cursor.addr();
    let mask = layout.align() - 1;
    let aligned = position.wrapping_add(mask) & !mask;
    let block_end = aligned.wrapping_add(layout.size());
    if block_end.wrapping_sub(position) > end - position {
        return None;
    }
    let start = cursor.with_addr(aligned);
    *cursor = cursor.with_addr(block_end);
    // SAFETY: `position <= aligned <= block_end <= end`, all in the cursor's allocation, whose
    // addresses are non-null because the cursor's is (an allocation never wraps around).
    Some(unsafe { NonNull::new_unchecked(start) })
}
