// Nor can two threads share a scope.
use bumper::AllocBuffer;

fn main() {
    let mut buf = AllocBuffer::with_capacity(64);
    buf.no_escape(|s| {
        let s = &*s;
        std::thread::scope(|t| {
            t.spawn(|| {
                s.alloc(1u8);
            });
            s.alloc(2u8);
        });
    });
}
