//! A lane: one slot of the reserved range, bump-allocated by one thread at a time.
//!
//! The slot starts with the lane's header and a table of per-block live counts (blocks of
//! [`BLOCK`] bytes); the data follows. Every allocation adds one to the count of each block it
//! overlaps and every free takes it back, so at reset a block with a non-zero count holds memory
//! still in use somewhere (*pinned*) and the bump pointer skips it.
//!
//! The thread that holds the lane (its route points here) keeps its counts in `local` with plain
//! loads and stores; frees from any other thread go to `remote` with an atomic add. A block's
//! live count is `local - remote` (wrapping).
//!
//! The holder's fast path works in the *open block*, the block its bump pointer is in: the
//! header keeps a pointer to that block's count, a limit at the block's end (or lower) and a
//! rewind floor at its start (or higher), so an allocation that fits below the limit, and the
//! free of the newest allocation above the floor, each update one count with no block index to
//! work out and no span to check. Every other path is out of line and re-derives these fields
//! (`sync_fast_fields`) after it moves the bump pointer, the run, the high water or the blocks
//! kept for reuse.
//!
//! Fields are atomics so that statistics can be read from other threads without a data race;
//! the holder updates them with relaxed loads and stores (plain moves on common targets).

use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering::*};

use crate::region;

/// log2 of [`BLOCK`].
const BLOCK_SHIFT: u32 = 16;
/// Granularity of pinning: a live allocation keeps the blocks it overlaps from reuse.
pub(crate) const BLOCK: usize = 1 << BLOCK_SHIFT;

/// The live count of one block.
#[derive(Debug)]
#[repr(C)]
struct BlockCount {
    /// Allocations minus frees made by the holder of the lane.
    local: AtomicU32,
    /// Frees made by other threads (or by anyone while the lane was not held).
    remote: AtomicU32,
}

impl BlockCount {
    fn live(&self) -> u32 {
        self.local
            .load(Relaxed)
            .wrapping_sub(self.remote.load(Acquire))
    }
}

/// A lane's table of block counts.
#[derive(Clone, Copy, Debug)]
struct Table(*const BlockCount);

impl Table {
    /// The count of block `index` (counted from the slot's base).
    #[inline(always)]
    fn get(&self, index: usize) -> &BlockCount {
        // SAFETY: `index` is below the slot's block count (callers pass blocks of addresses in
        // the slot), so the entry lies in the table, which lies in the slot, is aligned (the
        // offset is a multiple of 64 and entries are 8 bytes) and was zeroed or written as
        // atomics only; it lives as long as the reserved range, that is forever. The pointer
        // carries the range's provenance.
        unsafe { &*self.0.add(index) }
    }
}

/// The header at the start of a lane's slot.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct Lane {
    /// Next free byte.
    pos: AtomicUsize,
    /// How far the bump pointer may move with nothing else to update: the end of the *open
    /// block* (the block the bump pointer was in when the fast fields were last synced), of the
    /// current run or the high water, whichever is lowest. Past it,
    /// [`alloc_past_limit`](Self::alloc_past_limit) opens the next block, raises the high
    /// water or moves to another run.
    limit: AtomicUsize,
    /// The open block's live count: every allocation the fast path makes, and every free it
    /// rewinds, lies in the open block, so it counts here with no index to work out. Points
    /// into the lane's table (derived from the range's base).
    open: AtomicPtr<BlockCount>,
    /// Start of the current run of free blocks: the bump pointer never goes back before it.
    run_start: AtomicUsize,
    /// Where a free of the newest allocation may move the bump pointer back to, at the lowest,
    /// with nothing else to do: `run_start` or the open block's start, whichever is higher, or
    /// `usize::MAX` while blocks are kept for reuse (then freeing goes through
    /// [`freed_out_of_order`](Self::freed_out_of_order)).
    rewind_floor: AtomicUsize,
    /// The smallest allocation that looks at the blocks kept for reuse: [`RECYCLE_MIN`], or
    /// `usize::MAX` while none are kept. One compare on the fast path.
    recycle_from: AtomicUsize,
    /// End of the current run (start of the next pinned block, or the slot's end).
    run_end: AtomicUsize,
    /// Highest end of any allocation ever made, rounded up to a whole block: memory from here
    /// on has never been handed out since the slot was last discarded, so it reads as zeros.
    /// (Whole blocks, so that the bump pointer crosses it once per block, not at every
    /// allocation.)
    high_water: AtomicUsize,
    /// First byte of data (after header and table).
    data_start: AtomicUsize,
    /// End of the slot.
    slot_end: AtomicUsize,
    /// The arena the lane belongs to (its shared state), while it is held.
    pub(crate) arena: AtomicPtr<()>,
    /// Intrusive links of the arena's lists.
    pub(crate) next_idle: AtomicPtr<Lane>,
    pub(crate) next_all: AtomicPtr<Lane>,
    /// Allocations served and bytes asked for by them.
    allocations: AtomicU64,
    bytes: AtomicU64,
    /// Allocations that did not fit and went to the wrapped allocator.
    spills: AtomicU64,
    /// Allocations served from blocks freed out of order (see `recycled`).
    reused: AtomicU64,
    /// Blocks the holder freed out of order (not the newest), kept for reuse by allocations of
    /// about their size until the next reset: code that frees its temporaries in no
    /// particular order (tensor libraries) then reuses warm memory instead of streaming
    /// through fresh memory. Only the holder touches them.
    recycled: [Recycled; RECYCLE_SLOTS],
    /// How many entries of `recycled` are in use.
    recycled_len: AtomicUsize,
}

/// A freed block kept for reuse: `[addr, addr + size)`, all of it free.
#[derive(Debug)]
struct Recycled {
    addr: AtomicUsize,
    size: AtomicUsize,
}

impl Recycled {
    const fn empty() -> Recycled {
        Recycled {
            addr: AtomicUsize::new(0),
            size: AtomicUsize::new(0),
        }
    }

    fn get(&self) -> (usize, usize) {
        (self.addr.load(Relaxed), self.size.load(Relaxed))
    }

    fn set(&self, (addr, size): (usize, usize)) {
        self.addr.store(addr, Relaxed);
        self.size.store(size, Relaxed);
    }
}

/// How many freed blocks a lane keeps for reuse.
const RECYCLE_SLOTS: usize = 64;
/// Smallest block kept for reuse: smaller ones are cheap to bump past.
const RECYCLE_MIN: usize = 256;
/// How far a run in untouched memory reaches past the allocation that starts it.
const FRESH_RUN: usize = 2 << 20;

/// Where the block table starts, from the slot's base.
const TABLE_OFFSET: usize = std::mem::size_of::<Lane>().next_multiple_of(64);

/// Statistics of one lane.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LaneStats {
    pub allocations: u64,
    pub bytes: u64,
    pub spills: u64,
    pub reused: u64,
    pub high_water: usize,
    pub in_use: usize,
}

/// What a reset of one lane found.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LaneScan {
    pub pinned_blocks: usize,
}

impl Lane {
    /// Sets up a lane in the slot at `slot_base` (whose memory reads as zeros) and returns it.
    ///
    /// # Safety
    ///
    /// The slot is claimed by the caller and holds no lane in use.
    pub(crate) unsafe fn init(slot_base: usize, slot_size: usize) -> *mut Lane {
        let blocks = slot_size >> BLOCK_SHIFT;
        let table_end = slot_base + TABLE_OFFSET + blocks * std::mem::size_of::<BlockCount>();
        let align = if slot_size >= 64 << 20 {
            2 << 20
        } else {
            BLOCK
        };
        let data_start = table_end.next_multiple_of(align);
        let slot_end = slot_base + slot_size;
        let lane = region::ptr_at(slot_base).cast::<Lane>();
        // SAFETY: the slot is ours (caller), lies in the reserved range, is aligned to its
        // (power-of-two, at least 64 KiB) size, so also for `Lane`, and is readable and writable.
        unsafe {
            lane.write(Lane {
                pos: AtomicUsize::new(data_start),
                limit: AtomicUsize::new(data_start),
                open: AtomicPtr::new(std::ptr::null_mut()),
                run_start: AtomicUsize::new(data_start),
                rewind_floor: AtomicUsize::new(data_start),
                recycle_from: AtomicUsize::new(usize::MAX),
                run_end: AtomicUsize::new((data_start + FRESH_RUN).min(slot_end)),
                high_water: AtomicUsize::new(data_start),
                data_start: AtomicUsize::new(data_start),
                slot_end: AtomicUsize::new(slot_end),
                arena: AtomicPtr::new(std::ptr::null_mut()),
                next_idle: AtomicPtr::new(std::ptr::null_mut()),
                next_all: AtomicPtr::new(std::ptr::null_mut()),
                allocations: AtomicU64::new(0),
                bytes: AtomicU64::new(0),
                spills: AtomicU64::new(0),
                reused: AtomicU64::new(0),
                recycled: [const { Recycled::empty() }; RECYCLE_SLOTS],
                recycled_len: AtomicUsize::new(0),
            });
            (*lane).sync_fast_fields();
        }
        lane
    }

    /// The lane whose slot holds `addr` (an address in the reserved range).
    #[inline(always)]
    pub(crate) fn of(addr: usize) -> *const Lane {
        region::ptr_at(region::slot_of(addr)).cast::<Lane>()
    }

    /// Base address of the lane's slot.
    pub(crate) fn slot_base(&self) -> usize {
        (self as *const Lane).addr()
    }

    /// The lane's table of block counts (indexed from the slot's base). Look it up once per
    /// operation: it costs a load of the range's base.
    #[inline(always)]
    fn table(&self) -> Table {
        Table(region::ptr_at(self.slot_base() + TABLE_OFFSET).cast::<BlockCount>())
    }

    /// The blocks `[first, last]` (indices from the slot's base) that `[start, end)` overlaps.
    #[inline(always)]
    fn blocks(&self, start: usize, end: usize) -> (usize, usize) {
        let base = self.slot_base();
        (
            (start - base) >> BLOCK_SHIFT,
            (end - 1 - base) >> BLOCK_SHIFT,
        )
    }

    /// Adds `delta` to the holder's count of each block in `[first, last]`: +1 for an
    /// allocation, -1 for a free.
    #[inline(always)]
    fn add_local(&self, first: usize, last: usize, delta: i32) {
        let table = self.table();
        // A plain counted loop (not `first..=last`): most allocations touch one block.
        let mut b = first;
        loop {
            let c = &table.get(b).local;
            c.store(c.load(Relaxed).wrapping_add_signed(delta), Relaxed);
            if b >= last {
                break;
            }
            b += 1;
        }
    }

    /// Records frees of `[first, last]` from a thread that does not hold the lane.
    fn unhold_remote(&self, first: usize, last: usize) {
        let table = self.table();
        for b in first..=last {
            // Release: the freeing thread's last uses of the memory happen before a reset that
            // sees the count drop (and reuses the block).
            table.get(b).remote.fetch_add(1, Release);
        }
    }

    /// Bump-allocates `size` bytes aligned to `align` (a power of two); `None` if the slot has
    /// no room. Only the lane's holder calls it.
    ///
    /// The fast path, inlined into the router: a bump below [`limit`](Self::limit) and one
    /// block count; everything else is out of line.
    #[inline(always)]
    pub(crate) fn alloc(&self, size: usize, align: usize) -> Option<usize> {
        if size >= self.recycle_from.load(Relaxed) {
            return self.alloc_recycled_or_bump(size, align);
        }
        let pos = self.pos.load(Relaxed);
        let start = pos.checked_add(align - 1)? & !(align - 1);
        let end = start.checked_add(size)?;
        if end > self.limit.load(Relaxed) {
            return self.alloc_past_limit(start, end, size, align);
        }
        self.pos.store(end, Relaxed);
        self.count_allocation(start, end);
        Some(start)
    }

    /// The router's fast path of [`alloc`](Self::alloc) on the lane at `this`: a bump within
    /// the open block, below the limit, nothing kept for reuse to look at; `None` for anything
    /// else (then [`alloc`](Self::alloc) serves it). The result is derived from `this`, which
    /// carries the range's provenance, so the range's base is not loaded.
    ///
    /// # Safety
    ///
    /// `this` is the header of a lane the calling thread holds, as the route gives it (a
    /// pointer derived from the range's base).
    #[inline(always)]
    pub(crate) unsafe fn alloc_fast(
        this: *const Lane,
        size: usize,
        align: usize,
    ) -> Option<*mut u8> {
        // SAFETY: lane headers live forever in the reserved range (caller).
        let lane = unsafe { &*this };
        if size >= lane.recycle_from.load(Relaxed) {
            return None;
        }
        let pos = lane.pos.load(Relaxed);
        // No overflow: `pos` is a user-space address (below 2^63) and `align` at most 2^63.
        let start = pos.wrapping_add(align - 1) & !(align - 1);
        let end = start.checked_add(size)?;
        if end > lane.limit.load(Relaxed) {
            return None;
        }
        // `[start, end)` lies in the open block: `pos` is in it and `limit` at most its end.
        lane.pos.store(end, Relaxed);
        lane.open_count(1);
        lane.allocations
            .store(lane.allocations.load(Relaxed) + 1, Relaxed);
        lane.add_bytes(size);
        Some(
            this.cast::<u8>()
                .cast_mut()
                .wrapping_add(start - this.addr()),
        )
    }

    /// The router's fast path of a free by the holder: if `[addr, addr + size)` (arena memory)
    /// is this lane's newest allocation and lies in the open block, frees it (rewinding the
    /// bump pointer) and returns `true`; otherwise does nothing and returns `false`. Only the
    /// holder calls it.
    ///
    /// Memory that ends at this lane's bump pointer and starts at or after its floor lies in
    /// this lane's slot, so the test also tells that the memory is this lane's.
    #[inline(always)]
    pub(crate) fn free_if_newest(&self, addr: usize, size: usize) -> bool {
        let end = addr + size;
        if end == self.pos.load(Relaxed) && addr >= self.rewind_floor.load(Relaxed) {
            // `[addr, end)` lies in the open block: it starts at or after the block's start
            // (the floor) and ends at the bump pointer, which is in it.
            self.open_count(-1);
            self.pos.store(addr, Relaxed);
            true
        } else {
            false
        }
    }

    /// Adds `delta` to the holder's count of the open block.
    #[inline(always)]
    fn open_count(&self, delta: i32) {
        // SAFETY: `open` points at the open block's entry of this lane's table (set by
        // `sync_fast_fields`, in bounds, carrying the range's provenance); the entry lives as
        // long as the range, and only the holder (the caller) writes `local`.
        let c = unsafe { &(*self.open.load(Relaxed)).local };
        c.store(c.load(Relaxed).wrapping_add_signed(delta), Relaxed);
    }

    /// `alloc` with blocks kept for reuse: one of them if one fits, else a bump.
    #[inline(never)]
    fn alloc_recycled_or_bump(&self, size: usize, align: usize) -> Option<usize> {
        if let Some(addr) = self.alloc_recycled(size, align) {
            return Some(addr);
        }
        let pos = self.pos.load(Relaxed);
        let start = pos.checked_add(align - 1)? & !(align - 1);
        let end = start.checked_add(size)?;
        if end > self.limit.load(Relaxed) {
            return self.alloc_past_limit(start, end, size, align);
        }
        self.commit(start, end);
        Some(start)
    }

    /// `alloc` past the limit: within the run (raising the high water), or in another run.
    #[inline(never)]
    fn alloc_past_limit(
        &self,
        start: usize,
        end: usize,
        size: usize,
        align: usize,
    ) -> Option<usize> {
        if end > self.run_end.load(Relaxed) {
            return self.alloc_slow(size, align);
        }
        self.commit(start, end);
        Some(start)
    }

    /// Serves `size` bytes from the best-fitting freed block kept for reuse (at most a
    /// quarter bigger than asked).
    #[inline(never)]
    fn alloc_recycled(&self, size: usize, align: usize) -> Option<usize> {
        let len = self.recycled_len.load(Relaxed);
        let mut best: Option<(usize, usize)> = None;
        for (i, entry) in self.recycled[..len].iter().enumerate() {
            let (addr, have) = entry.get();
            if have >= size && have - size <= size / 4 && addr & (align - 1) == 0 {
                if best.is_none_or(|(_, best_size)| have < best_size) {
                    best = Some((i, have));
                }
                if have == size {
                    break;
                }
            }
        }
        let (i, have) = best?;
        let (addr, _) = self.recycled[i].get();
        if have > size {
            // The rest stays listed: too small to be chosen, but the bump pointer can still
            // move back over it.
            self.recycled[i].set((addr + size, have - size));
        } else {
            self.recycled[i].set(self.recycled[len - 1].get());
            self.set_recycled_len(len - 1);
        }
        self.count_allocation(addr, addr + size);
        self.reused.store(self.reused.load(Relaxed) + 1, Relaxed);
        Some(addr)
    }

    /// Keeps the freed block `[addr, addr + size)` for reuse, if there is room in the list.
    fn recycle(&self, addr: usize, size: usize) {
        let len = self.recycled_len.load(Relaxed);
        if len < RECYCLE_SLOTS {
            self.recycled[len].set((addr, size));
            self.set_recycled_len(len + 1);
        }
    }

    /// After the bump pointer moved back to `pos`: kept blocks that end there are free memory
    /// at the top of the run too, so the pointer moves back over them (and they leave the list).
    fn rewind_over_recycled(&self, mut pos: usize) {
        let run_start = self.run_start.load(Relaxed);
        let mut len = self.recycled_len.load(Relaxed);
        let mut i = 0;
        while i < len {
            let (addr, size) = self.recycled[i].get();
            if addr + size == pos && addr >= run_start {
                pos = addr;
                len -= 1;
                self.recycled[i].set(self.recycled[len].get());
                // Start over: an earlier entry may end at the new position.
                i = 0;
            } else {
                i += 1;
            }
        }
        self.recycled_len.store(len, Relaxed);
        self.pos.store(pos, Relaxed);
        self.sync_fast_fields();
    }

    /// Sets how many entries of `recycled` are in use.
    fn set_recycled_len(&self, len: usize) {
        self.recycled_len.store(len, Relaxed);
        self.sync_fast_fields();
    }

    /// Derives the fast path's fields (`limit`, `open`, `rewind_floor`, `recycle_from`) from
    /// the bump pointer, the run, the high water and the kept blocks. Every slow path calls it
    /// after its last change to any of those.
    fn sync_fast_fields(&self) {
        let pos = self.pos.load(Relaxed);
        let slot_end = self.slot_end.load(Relaxed);
        let open = pos & !(BLOCK - 1);
        let limit = self
            .run_end
            .load(Relaxed)
            .min(self.high_water.load(Relaxed))
            .min(open + BLOCK);
        self.limit.store(limit, Relaxed);
        // At the slot's end there is no open block: the limit is `pos` (nothing fits) and the
        // floor above it (nothing rewinds); the pointer names the last block, never used.
        let index = (open.min(slot_end - BLOCK) - self.slot_base()) >> BLOCK_SHIFT;
        self.open
            .store(self.table().0.wrapping_add(index).cast_mut(), Relaxed);
        let kept = self.recycled_len.load(Relaxed) != 0;
        let floor = if kept {
            usize::MAX
        } else {
            self.run_start.load(Relaxed).max(open)
        };
        self.rewind_floor.store(floor, Relaxed);
        let from = if kept { RECYCLE_MIN } else { usize::MAX };
        self.recycle_from.store(from, Relaxed);
    }

    /// Forgets the kept blocks (a reset makes all free memory reusable anyway).
    fn clear_recycled(&self) {
        self.set_recycled_len(0);
    }

    /// Makes `[start, end)` (inside the current run, starting at or after `pos`) allocated.
    #[inline(always)]
    fn commit(&self, start: usize, end: usize) {
        self.pos.store(end, Relaxed);
        self.raise_high_water(end);
        self.sync_fast_fields();
        self.count_allocation(start, end);
    }

    /// Counts `[start, end)` as a live allocation: its blocks, and the statistics.
    #[inline(always)]
    fn count_allocation(&self, start: usize, end: usize) {
        let (first, last) = self.blocks(start, end);
        self.add_local(first, last, 1);
        self.allocations
            .store(self.allocations.load(Relaxed) + 1, Relaxed);
        self.add_bytes(end - start);
    }

    /// Takes an allocation of `bytes` bytes (made and freed) back out of the statistics.
    pub(crate) fn forget_allocation(&self, bytes: usize) {
        self.allocations
            .store(self.allocations.load(Relaxed) - 1, Relaxed);
        self.bytes
            .store(self.bytes.load(Relaxed) - bytes as u64, Relaxed);
    }

    /// Adds to the bytes-served statistic.
    #[inline(always)]
    fn add_bytes(&self, n: usize) {
        self.bytes
            .store(self.bytes.load(Relaxed) + n as u64, Relaxed);
    }

    /// Records that memory up to `end` has been handed out (the high water moves to the end of
    /// its block).
    #[inline(always)]
    fn raise_high_water(&self, end: usize) {
        let end = end.next_multiple_of(BLOCK);
        if end > self.high_water.load(Relaxed) {
            self.high_water.store(end, Relaxed);
        }
    }

    /// The current run is full: moves to the next run of free blocks that fits. Blocks whose
    /// allocations were all freed are reused before the lane grows into memory never touched
    /// (next fit: on from the current run to the high water, then once round from the start),
    /// so code that frees in no particular order keeps working in warm memory.
    #[cold]
    #[inline(never)]
    fn alloc_slow(&self, size: usize, align: usize) -> Option<usize> {
        let touched_end = self.high_water.load(Relaxed).next_multiple_of(BLOCK);
        let mut from = self.run_end.load(Relaxed);
        let mut wrapped = false;
        loop {
            let next = self.next_run(from);
            if !wrapped && next.is_none_or(|(start, _)| start >= touched_end) {
                // Nothing fitted up to the high water: go round once from the start.
                wrapped = true;
                from = self.data_start.load(Relaxed);
                continue;
            }
            let Some((run_start, run_end)) = next else {
                self.spills.store(self.spills.load(Relaxed) + 1, Relaxed);
                return None;
            };
            let start = run_start.checked_add(align - 1)? & !(align - 1);
            match start.checked_add(size) {
                Some(end) if end <= run_end => {
                    // A run in untouched memory is cut a little past this allocation, so the
                    // lane soon comes back here to look for freed blocks before growing on.
                    let run_end = if run_start >= touched_end {
                        run_end.min(end.saturating_add(FRESH_RUN).next_multiple_of(BLOCK))
                    } else {
                        run_end
                    };
                    // Blocks kept for reuse lie in the old run, which a later round may hand
                    // out as a run of its own: forget them.
                    self.clear_recycled();
                    self.run_start.store(run_start, Relaxed);
                    self.run_end.store(run_end, Relaxed);
                    self.pos.store(run_start, Relaxed);
                    // Syncs the fast fields.
                    self.commit(start, end);
                    return Some(start);
                }
                _ => from = run_end,
            }
        }
    }

    /// The first run of free blocks at or after `from` (a block boundary or the slot's end):
    /// from there to the next pinned block or the slot's end. `None` at the slot's end.
    fn next_run(&self, from: usize) -> Option<(usize, usize)> {
        let slot_end = self.slot_end.load(Relaxed);
        // Blocks wholly above the high water were never handed out: all free.
        let touched_end = self.high_water.load(Relaxed).next_multiple_of(BLOCK);
        let base = self.slot_base();
        let table = self.table();
        let mut start = from.next_multiple_of(BLOCK);
        while start < touched_end && table.get((start - base) >> BLOCK_SHIFT).live() != 0 {
            start += BLOCK;
        }
        if start >= slot_end {
            return None;
        }
        let mut end = start;
        while end < touched_end && table.get((end - base) >> BLOCK_SHIFT).live() == 0 {
            end += BLOCK;
        }
        if end >= touched_end {
            // A run of touched memory ends at the high water (so crossing it goes through
            // `alloc_slow`, which reuses freed blocks first); one in untouched memory runs on.
            end = if start >= touched_end {
                slot_end
            } else {
                touched_end
            };
        }
        Some((start, end))
    }

    /// Frees `[addr, addr + size)`. `holder`: the calling thread holds the lane. The holder
    /// freeing the newest allocation of the current run moves the bump pointer back (LIFO).
    ///
    /// The router's fast path is [`free_if_newest`](Self::free_if_newest); this is the rest.
    pub(crate) fn free(&self, addr: usize, size: usize, holder: bool) {
        let end = addr + size;
        let (first, last) = self.blocks(addr, end);
        if holder {
            self.add_local(first, last, -1);
            if end == self.pos.load(Relaxed) && addr >= self.rewind_floor.load(Relaxed) {
                self.pos.store(addr, Relaxed);
                self.sync_fast_fields();
            } else {
                self.freed_out_of_order(addr, size);
            }
        } else {
            self.unhold_remote(first, last);
        }
    }

    /// The holder freed `[addr, addr + size)` (already uncounted), and it is not the newest
    /// allocation or blocks are kept for reuse.
    #[inline(never)]
    fn freed_out_of_order(&self, addr: usize, size: usize) {
        let end = addr + size;
        if end == self.pos.load(Relaxed) && addr >= self.run_start.load(Relaxed) {
            self.rewind_over_recycled(addr);
        } else if size >= RECYCLE_MIN
            && addr >= self.run_start.load(Relaxed)
            && end <= self.pos.load(Relaxed)
        {
            // Only blocks of the current run: no other run can hand them out meanwhile.
            self.recycle(addr, size);
        }
    }

    /// Resizes `[addr, addr + old)` to `new` bytes without moving it, if it can: a shrink
    /// always can; a growth only for the holder's newest allocation with room after it.
    pub(crate) fn resize_in_place(
        &self,
        addr: usize,
        old: usize,
        new: usize,
        holder: bool,
    ) -> bool {
        let newest =
            holder && addr + old == self.pos.load(Relaxed) && addr >= self.run_start.load(Relaxed);
        let (_, old_last) = self.blocks(addr, addr + old);
        if new <= old {
            let (_, new_last) = self.blocks(addr, addr + new);
            if new_last < old_last {
                if holder {
                    self.add_local(new_last + 1, old_last, -1);
                } else {
                    self.unhold_remote(new_last + 1, old_last);
                }
            }
            if newest {
                self.pos.store(addr + new, Relaxed);
                self.sync_fast_fields();
            }
            return true;
        }
        if !newest {
            return false;
        }
        let Some(end) = addr.checked_add(new) else {
            return false;
        };
        let run_end = self.run_end.load(Relaxed);
        if end > run_end {
            // A run reaching into untouched memory may reach further: all of that is free.
            let touched_end = self.high_water.load(Relaxed).next_multiple_of(BLOCK);
            let slot_end = self.slot_end.load(Relaxed);
            if run_end < touched_end || end > slot_end {
                return false;
            }
            let longer = end.saturating_add(FRESH_RUN).next_multiple_of(BLOCK);
            self.run_end.store(longer.min(slot_end), Relaxed);
        }
        let (_, new_last) = self.blocks(addr, end);
        if new_last > old_last {
            self.add_local(old_last + 1, new_last, 1);
        }
        self.pos.store(end, Relaxed);
        self.raise_high_water(end);
        self.sync_fast_fields();
        self.add_bytes(new - old);
        true
    }

    /// The high water mark: memory at or above it reads as zeros.
    #[inline(always)]
    pub(crate) fn high_water(&self) -> usize {
        self.high_water.load(Relaxed)
    }

    /// Whether the bump pointer is at the start of the lane's data with no freed blocks kept
    /// for reuse: what a [`reset`](Self::reset) would leave when nothing is pinned, so a reset
    /// now would change nothing the next allocations see (blocks still pinned further on are
    /// skipped by `alloc_slow` as they would be after a reset). O(1).
    pub(crate) fn is_at_start(&self) -> bool {
        self.pos.load(Relaxed) == self.data_start.load(Relaxed)
            && self.recycled_len.load(Relaxed) == 0
    }

    /// Starts over at the first free run: every block no live allocation overlaps is reused.
    /// Called by the holder or, for an idle lane, under the arena's lock.
    pub(crate) fn reset(&self) -> LaneScan {
        self.clear_recycled();
        let data_start = self.data_start.load(Relaxed);
        let scan = self.scan();
        let (run_start, mut run_end) = self
            .next_run(data_start)
            .unwrap_or((self.slot_end.load(Relaxed), self.slot_end.load(Relaxed)));
        if run_start >= self.high_water.load(Relaxed) {
            // Untouched memory: cut short, as in `alloc_slow`.
            run_end = run_end.min(run_start.saturating_add(FRESH_RUN));
        }
        self.run_start.store(run_start, Relaxed);
        self.run_end.store(run_end, Relaxed);
        self.pos.store(run_start, Relaxed);
        self.sync_fast_fields();
        scan
    }

    /// Counts the pinned blocks (live count non-zero).
    pub(crate) fn scan(&self) -> LaneScan {
        let base = self.slot_base();
        let first = (self.data_start.load(Relaxed) - base) >> BLOCK_SHIFT;
        let end = (self.high_water.load(Relaxed).next_multiple_of(BLOCK) - base) >> BLOCK_SHIFT;
        let table = self.table();
        let pinned_blocks = (first..end).filter(|&b| table.get(b).live() != 0).count();
        LaneScan { pinned_blocks }
    }

    /// Gives the touched memory back to the OS and makes the lane as new. Only when
    /// [`scan`](Self::scan) found no pinned block and nobody holds the lane.
    pub(crate) fn discard(&self) {
        let base = self.slot_base();
        let touched = self.high_water.load(Relaxed).next_multiple_of(BLOCK) - base;
        // The header and table are discarded too: the slot reads as zeros, as when first used.
        region::discard(base, touched);
    }

    /// Gives the memory above the bump pointer and above every live block back to the OS;
    /// returns how many bytes. Called by the holder or, for an idle lane, under the arena's
    /// lock.
    pub(crate) fn trim(&self) -> usize {
        // Kept blocks lie below the bump pointer, which trimming never crosses; forgetting
        // them keeps that obvious.
        self.clear_recycled();
        let base = self.slot_base();
        let table = self.table();
        let data_start = self.data_start.load(Relaxed);
        let pos = self.pos.load(Relaxed);
        let touched_end = self.high_water.load(Relaxed).next_multiple_of(BLOCK);
        // Just past the last block still live (or the data start).
        let first = (data_start - base) >> BLOCK_SHIFT;
        let mut end_block = (touched_end - base) >> BLOCK_SHIFT;
        while end_block > first && table.get(end_block - 1).live() == 0 {
            end_block -= 1;
        }
        let keep = (base + (end_block << BLOCK_SHIFT)).max(pos.next_multiple_of(BLOCK));
        if keep >= touched_end {
            return 0;
        }
        region::discard(keep, touched_end - keep);
        // From `keep` on, memory reads as zeros again.
        // `keep` is a whole block at or past `pos`.
        self.high_water.store(keep, Relaxed);
        self.sync_fast_fields();
        touched_end - keep
    }

    /// Asks for huge pages over the lane's data.
    pub(crate) fn advise_huge_pages(&self) {
        let start = self.data_start.load(Relaxed);
        region::advise_huge_pages(start, self.slot_end.load(Relaxed) - start);
    }

    /// The lane's statistics.
    pub(crate) fn stats(&self) -> LaneStats {
        LaneStats {
            allocations: self.allocations.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            spills: self.spills.load(Relaxed),
            reused: self.reused.load(Relaxed),
            high_water: self.high_water.load(Relaxed) - self.data_start.load(Relaxed),
            in_use: self.pos.load(Relaxed) - self.data_start.load(Relaxed),
        }
    }
}
