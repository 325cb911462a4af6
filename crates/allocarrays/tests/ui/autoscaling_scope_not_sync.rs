// A scope over an autoscaling buffer allocates through `&self` without synchronisation: it
// can't be shared with another thread even though the buffer itself is `Send + Sync`.
use allocarrays::AutoscalingAllocBuffer;
use bumper::Buffer;

fn main() {
    let mut buf = AutoscalingAllocBuffer::with_initial_size(1024);
    buf.no_escape(|s| {
        std::thread::scope(|t| {
            t.spawn(|| s.alloc(1u8));
        });
    });
}
