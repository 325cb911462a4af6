// The unchecked allocator has no lock: it must not be shared between threads.
use allocarrays::UncheckedBumperAllocator;

fn main() {
    let alloc = UncheckedBumperAllocator::with_fixed_capacity(1024);
    std::thread::scope(|s| {
        s.spawn(|| alloc.reset());
    });
}
