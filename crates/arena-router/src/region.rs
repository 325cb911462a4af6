//! The one reserved address range all arena memory of the process is carved from, so that
//! "is this pointer arena memory?" is one load, an exclusive or and a shift, whichever thread
//! asks.
//!
//! The range is reserved lazily (the first time a [`HeapArena`](super::HeapArena) needs a lane)
//! and never unmapped, so a pointer into it never dangles into someone else's mapping. Its
//! length is a power of two and its base is aligned to it, so the whole range is described by
//! one word: the base with log2 of the length in its low bits. It is cut into [`SLOTS`] equal,
//! power-of-two slots; each lane of an arena owns one slot.

use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::Mutex;

/// log2 of [`SLOTS`].
#[cfg(not(miri))]
const SLOT_BITS: u32 = 8;
#[cfg(miri)]
const SLOT_BITS: u32 = 4;

/// Number of slots (lanes that can exist at once, over all arenas of the process).
pub(crate) const SLOTS: usize = 1 << SLOT_BITS;

/// The range as one word: its base (aligned to its length, so to at least 64 KiB) or'ed with
/// log2 of its length; 0 until reserved. One word, so a reader can never see half of it (a
/// length with no base yet), and the ownership test on the hot path is a single load.
static WORD: AtomicUsize = AtomicUsize::new(0);

/// The base of the range as a pointer: the provenance every arena pointer is derived from.
/// Stored before [`WORD`] (release), so whoever sees the word (acquire) sees it too.
static BASE: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());

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

/// Whether `addr` lies in the range described by `word`. With `word == 0` (not reserved) only
/// address 0 would, and no allocation has address 0.
#[inline(always)]
fn word_contains(word: usize, addr: usize) -> bool {
    // In the range exactly when the bits above log2(len) are the base's; the low bits of the
    // word (the shift) are shifted out with the rest, and `wrapping_shr` takes the shift
    // modulo 64, that is from those low bits alone.
    (addr ^ word).wrapping_shr(word as u32) == 0
}

/// Whether `addr` lies in the arena range: the router's ownership test, O(1), one load.
#[inline(always)]
pub(crate) fn contains(addr: usize) -> bool {
    word_contains(WORD.load(Ordering::Acquire), addr)
}

/// log2 of the range's length (0 before it is reserved).
#[inline(always)]
fn len_shift() -> u32 {
    (WORD.load(Ordering::Acquire) & 63) as u32
}

/// log2 of a slot's size; only once the range is reserved.
#[inline(always)]
fn slot_shift() -> u32 {
    len_shift() - SLOT_BITS
}

/// A pointer to `addr`, which lies in the range, carrying the range's provenance.
#[inline(always)]
pub(crate) fn ptr_at(addr: usize) -> *mut u8 {
    let base = BASE.load(Ordering::Relaxed);
    base.wrapping_add(addr.wrapping_sub(base.addr()))
}

/// The base address of the slot holding `addr` (which lies in the range).
#[inline(always)]
pub(crate) fn slot_of(addr: usize) -> usize {
    // Slots are aligned to their size, since the range is aligned to its length.
    addr & !((1usize << slot_shift()) - 1)
}

/// The size of one slot (0 before the range is reserved).
pub(crate) fn slot_size() -> usize {
    match len_shift() {
        0 => 0,
        shift => 1 << (shift - SLOT_BITS),
    }
}

/// Base address of slot `index`.
pub(crate) fn slot_base(index: usize) -> usize {
    BASE.load(Ordering::Relaxed).addr() + (index << slot_shift())
}

/// Index of the slot whose base is `base`.
pub(crate) fn slot_index(base: usize) -> usize {
    (base - BASE.load(Ordering::Relaxed).addr()) >> slot_shift()
}

/// Reserves the range if it is not yet; `false` if the platform has none to give (or a limit
/// such as `ulimit -v` refuses every size tried). Call with [`SLOT_TABLE`] locked.
pub(crate) fn ensure_reserved() -> bool {
    if WORD.load(Ordering::Acquire) != 0 {
        return true;
    }
    let Some((base, len)) = os::reserve() else {
        return false;
    };
    debug_assert!(len.is_power_of_two() && len >= SLOTS << 16);
    debug_assert_eq!(base.addr() % len, 0);
    BASE.store(base, Ordering::Relaxed);
    // Release: a thread that sees the word (acquire) sees the base pointer too.
    WORD.store(
        base.addr() | len.trailing_zeros() as usize,
        Ordering::Release,
    );
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

    /// Lengths tried, largest first: address space is plentiful on 64-bit targets, but limits
    /// (`ulimit -v`, strict overcommit) may refuse the larger ones.
    const SIZES: [usize; 5] = [1 << 42, 1 << 40, 1 << 38, 1 << 36, 1 << 34];

    /// A range of one of [`SIZES`], aligned to its length: twice the length is mapped and
    /// what lies outside the aligned part is unmapped again.
    pub(super) fn reserve() -> Option<(*mut u8, usize)> {
        if usize::BITS < 64 {
            return None;
        }
        for len in SIZES {
            let map_len = 2 * len;
            // SAFETY: a fresh anonymous private mapping at an address of the kernel's choosing;
            // it overlaps nothing and nothing else is affected. `MAP_NORESERVE`: pages are only
            // backed when touched.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    map_len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                    -1,
                    0,
                )
            };
            if p == libc::MAP_FAILED {
                continue;
            }
            let p = p.cast::<u8>();
            let lead = p.addr().next_multiple_of(len) - p.addr();
            let base = p.wrapping_add(lead);
            // SAFETY: both pieces lie in the mapping just made, which nothing uses yet, and
            // are page-aligned (`len` is a multiple of the page size, `p` is page-aligned);
            // `[base, base + len)` stays mapped. A failed unmap only leaves address space
            // reserved.
            unsafe {
                if lead > 0 {
                    libc::munmap(p.cast(), lead);
                }
                let tail = map_len - lead - len;
                if tail > 0 {
                    libc::munmap(base.wrapping_add(len).cast(), tail);
                }
            }
            return Some((base, len));
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
        // Aligned to its length, as the native range is.
        let layout = Layout::from_size_align(LEN, LEN).ok()?;
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

#[cfg(test)]
mod tests {
    use super::word_contains;

    #[test]
    fn an_unreserved_range_contains_no_allocation() {
        // Before the range is reserved the word is 0: no non-null address is in it, low ones
        // included (a length published before its base would have taken those for arena
        // memory).
        for addr in [1, 8, 0x1000, 0x7fff_ffff, 1 << 40, usize::MAX] {
            assert!(!word_contains(0, addr), "{addr:#x}");
        }
    }

    #[test]
    fn a_reserved_range_contains_exactly_its_addresses() {
        let (base, shift) = (7usize << 40, 40);
        let word = base | shift;
        let len = 1usize << shift;
        for (addr, inside) in [
            (base, true),
            (base + 1, true),
            (base + len / 2, true),
            (base + len - 1, true),
            (base - 1, false),
            (base + len, false),
            (0x1000, false),
            (shift, false),
            (base ^ (1 << 63), false),
        ] {
            assert_eq!(word_contains(word, addr), inside, "{addr:#x}");
        }
    }
}
