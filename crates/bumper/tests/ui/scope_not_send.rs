// A scope can't move to another thread: allocation mutates the buffer through `&self`, with no
// synchronisation.
use bumper::AllocBuffer;

fn main() {
    let mut buf = AllocBuffer::with_capacity(64);
    let mut guard = buf.checkpoint_guard();
    let s = guard.scope();
    std::thread::scope(|t| {
        t.spawn(move || {
            s.alloc(1u8);
        });
    });
}
