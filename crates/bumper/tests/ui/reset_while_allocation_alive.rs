// Resetting the buffer while an allocation made through a checkpoint guard is still in use.
use bumper::{AllocBuffer, Buffer};

fn main() {
    let mut buf = AllocBuffer::with_capacity(64);
    let mut guard = buf.checkpoint_guard();
    let v = guard.scope().alloc(1u8);
    buf.reset();
    *v = 2;
}
