//! The one reserved address range all arena memory of the process is carved from, so that
//! "is this pointer arena memory?" is a subtraction and a compare, whichever thread asks.
//!
//! The range is reserved lazily (the first time a [`HeapArena`](super::HeapArena) needs a lane)
//! and never unmapped, so a pointer into it never dangles into someone else's mapping. It is cut
//! into [`SLOTS`] equal, power-of-two slots; each lane of an arena owns one slot.

use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Number of slots (lanes that can exist at once, over all arenas of the process).
#[cfg(not(miri))]
pub(crate) const SLOTS: usize = 256;
#[cfg(miri)]
pub(crate) const SLOTS: usize = 16;

/// Where the range is. One static, so the hot paths find all three fields through one address
/// (one GOT entry in position-independent code). Set once, under [`SLOT_TABLE`]'s lock.
struct Range {
    /// Start of the range (null until reserved).
    base: AtomicPtr<u8>,
    /// Length of the range in bytes (0 until reserved).
    len: AtomicUsize,
    /// log2 of a slot's size.
    slot_shift: AtomicUsize,
}

static RANGE: Range = Range {
    base: AtomicPtr::new(std::ptr::null_mut()),
    len: AtomicUsize::new(0),
    slot_shift: AtomicUsize::new(0),
};

/// What a slot is used for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum SlotState {
    /// Never used, or released with no memory left in it.
    Free,
    /// A lane of a live arena.
    InUse,
    /// A lane of a dropped arena whose blocks were still pinned: reclaimed once they are freed.
    Orphaned,
}

/// The slots' states, and the lock that serialises reserving the range and claiming slots
/// (rare: once per new lane).
pub(crate) static SLOT_TABLE: Mutex<[SlotState; SLOTS]> = Mutex::new([SlotState::Free; SLOTS]);

/// Whether `addr` lies in the arena range: the router's ownership test, O(1).
#[inline(always)]
pub(crate) fn contains(addr: usize) -> bool {
    let base = RANGE.base.load(Ordering::Relaxed);
    addr.wrapping_sub(base.addr()) < RANGE.len.load(Ordering::Relaxed)
}

/// A pointer to `addr`, which lies in the range, carrying the range's provenance.
#[inline(always)]
pub(crate) fn ptr_at(addr: usize) -> *mut u8 {
    let base = RANGE.base.load(Ordering::Relaxed);
    base.wrapping_add(addr.wrapping_sub(base.addr()))
}

/// The base address and size of the slot holding `addr` (which lies in the range).
#[inline(always)]
pub(crate) fn slot_of(addr: usize) -> usize {
    let base = RANGE.base.load(Ordering::Relaxed).addr();
    let shift = RANGE.slot_shift.load(Ordering::Relaxed);
    base + (((addr - base) >> shift) << shift)
}

/// The size of one slot (0 before the range is reserved).
pub(crate) fn slot_size() -> usize {
    if RANGE.len.load(Ordering::Relaxed) == 0 {
        0
    } else {
        1 << RANGE.slot_shift.load(Ordering::Relaxed)
    }
}

/// Base address of slot `index`.
pub(crate) fn slot_base(index: usize) -> usize {
    RANGE.base.load(Ordering::Relaxed).addr() + (index << RANGE.slot_shift.load(Ordering::Relaxed))
}

/// Index of the slot whose base is `base`.
pub(crate) fn slot_index(base: usize) -> usize {
    (base - RANGE.base.load(Ordering::Relaxed).addr()) >> RANGE.slot_shift.load(Ordering::Relaxed)
}

/// Reserves the range if it is not yet; `false` if the platform has none to give. Call with
/// [`SLOT_TABLE`] locked.
pub(crate) fn ensure_reserved() -> bool {
    if RANGE.len.load(Ordering::Relaxed) != 0 {
        return true;
    }
    let Some((base, len)) = os::reserve() else {
        return false;
    };
    debug_assert!(len.is_power_of_two() && len >= SLOTS);
    RANGE
        .slot_shift
        .store((len / SLOTS).trailing_zeros() as usize, Ordering::Relaxed);
    RANGE.base.store(base, Ordering::Relaxed);
    // Last: a thread that sees the length sees the base too (both are read together only
    // after a lane exists, which was published through the slot lock).
    RANGE.len.store(len, Ordering::Release);
    true
}

/// Gives the memory of `[addr, addr + len)` back to the OS; it reads as zeros when next
/// touched.
pub(crate) fn discard(addr: usize, len: usize) {
    os::discard(addr, len);
}

/// Asks for transparent huge pages over `[addr, addr + len)`, where the OS has them.
pub(crate) fn advise_huge_pages(addr: usize, len: usize) {
    os::advise_huge_pages(addr, len);
}

#[cfg(all(unix, not(miri)))]
mod os {
    use super::ptr_at;

    /// Sizes tried, largest first: address space is plentiful on 64-bit targets, but limits
    /// (`ulimit -v`, strict overcommit) may refuse the larger ones.
    const SIZES: [usize; 5] = [1 << 42, 1 << 40, 1 << 38, 1 << 36, 1 << 34];

    pub(super) fn reserve() -> Option<(*mut u8, usize)> {
        if usize::BITS < 64 {
            return None;
        }
        for len in SIZES {
            // SAFETY: a fresh anonymous private mapping at an address of the kernel's choosing;
            // it overlaps nothing and nothing else is affected. `MAP_NORESERVE`: pages are only
            // backed when touched.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                    -1,
                    0,
                )
            };
            if p != libc::MAP_FAILED {
                return Some((p.cast(), len));
            }
        }
        None
    }

    pub(super) fn discard(addr: usize, len: usize) {
        // SAFETY: the range lies in our own mapping and holds no live allocation (the caller
        // checked every block's count); `MADV_DONTNEED` on a private anonymous mapping only
        // drops its pages, which read as zeros afterwards. A failure leaves the memory as is.
        unsafe {
            libc::madvise(ptr_at(addr).cast(), len, libc::MADV_DONTNEED);
        }
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub(super) fn advise_huge_pages(addr: usize, len: usize) {
        // SAFETY: the range lies in our own mapping; the advice changes only how it is backed.
        // Kernels without transparent huge pages refuse it, which is harmless.
        unsafe {
            libc::madvise(ptr_at(addr).cast(), len, libc::MADV_HUGEPAGE);
        }
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    pub(super) fn advise_huge_pages(_addr: usize, _len: usize) {}
}

/// Under Miri: a small range from the system allocator (Miri has no `mmap` to reserve with).
#[cfg(miri)]
mod os {
    use std::alloc::{GlobalAlloc, Layout, System};

    const LEN: usize = 1 << 25;

    pub(super) fn reserve() -> Option<(*mut u8, usize)> {
        let layout = Layout::from_size_align(LEN, LEN / super::SLOTS).ok()?;
        // SAFETY: the layout has a non-zero size. The block is never freed: like the mapping,
        // the range lives as long as the process.
        let p = unsafe { System.alloc_zeroed(layout) };
        (!p.is_null()).then_some((p, LEN))
    }

    pub(super) fn discard(addr: usize, len: usize) {
        // SAFETY: the range lies in the reserved block and holds no live allocation.
        unsafe { super::ptr_at(addr).write_bytes(0, len) }
    }

    pub(super) fn advise_huge_pages(_addr: usize, _len: usize) {}
}

/// Elsewhere: no range, so arenas are unavailable and everything goes to the wrapped allocator.
#[cfg(all(not(unix), not(miri)))]
mod os {
    pub(super) fn reserve() -> Option<(*mut u8, usize)> {
        None
    }

    pub(super) fn discard(_addr: usize, _len: usize) {}

    pub(super) fn advise_huge_pages(_addr: usize, _len: usize) {}
}
