// The router is shared by every thread of the process: it is `Sync` only when the allocator it
// wraps is, so it can't be the global allocator over one that isn't.
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use arena_router::ArenaRouter;

struct CountingUnsync {
    calls: Cell<usize>,
}

// SAFETY: forwards to the system allocator.
unsafe impl GlobalAlloc for CountingUnsync {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.calls.set(self.calls.get() + 1);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: ArenaRouter<CountingUnsync> = ArenaRouter::new(CountingUnsync { calls: Cell::new(0) });

fn main() {}
