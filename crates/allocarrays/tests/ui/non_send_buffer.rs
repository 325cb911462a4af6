// An allocator's buffer may be freed on whichever thread drops the last array made from it, so
// a buffer that is not `Send` can't back a `BumperAllocator`.
use std::alloc::Layout;
use std::ptr::NonNull;
use std::rc::Rc;

use allocarrays::BumperAllocator;
use bumper::{AllocError, Buffer};

struct RcBuffer {
    _shared: Rc<()>,
}

// SAFETY: never allocates.
unsafe impl Buffer for RcBuffer {
    type Checkpoint = usize;
    fn try_alloc_layout(&mut self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        let _ = layout;
        unimplemented!()
    }
    fn checkpoint(&self) -> usize {
        0
    }
    unsafe fn restore(&mut self, _: usize) {}
    fn reset(&mut self) {}
}

fn main() {
    let _alloc = BumperAllocator::new(RcBuffer { _shared: Rc::new(()) });
}
