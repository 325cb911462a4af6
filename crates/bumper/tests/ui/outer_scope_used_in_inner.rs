// Allocating from the outer scope while a nested scope is open: the nested scope's end would
// free the allocation.
use bumper::AllocBuffer;

fn main() {
    let mut buf = AllocBuffer::with_capacity(64);
    buf.no_escape(|s| {
        s.no_escape(|inner| {
            let a = s.alloc(1u8);
            let b = inner.alloc(2u8);
            *a += *b;
        });
    });
}
