// The allocator keeps its buffer's checkpoints next to the buffer and uses them on whichever
// thread resets it: a buffer whose checkpoints are not `Send` can't make a shareable allocator.
use std::alloc::Layout;
use std::ptr::NonNull;

use allocarrays::BumperAllocator;
use bumper::{AllocError, Buffer};

/// A checkpoint holding a raw pointer: `Copy + Debug`, but neither `Send` nor `Sync`.
#[derive(Clone, Copy, Debug)]
struct PtrCheckpoint(*const u8);

struct PtrBuffer;

// SAFETY: never allocates.
unsafe impl Buffer for PtrBuffer {
    type Checkpoint = PtrCheckpoint;
    fn try_alloc_layout(&mut self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        let _ = layout;
        unimplemented!()
    }
    fn checkpoint(&self) -> PtrCheckpoint {
        PtrCheckpoint(std::ptr::null())
    }
    unsafe fn restore(&mut self, _: PtrCheckpoint) {}
    fn reset(&mut self) {}
}

fn main() {
    let alloc = BumperAllocator::new(PtrBuffer);
    std::thread::scope(|s| {
        s.spawn(|| alloc.reset());
    });
}
