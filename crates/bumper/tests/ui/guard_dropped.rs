// Using an allocation of a checkpoint guard's scope after the guard is dropped (and the
// checkpoint restored).
use bumper::AllocBuffer;

fn main() {
    let mut buf = AllocBuffer::with_capacity(64);
    let mut guard = buf.checkpoint_guard();
    let v = guard.scope().alloc(1u8);
    drop(guard);
    *v = 2;
}
