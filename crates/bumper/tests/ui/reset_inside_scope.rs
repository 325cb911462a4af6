// Resetting the buffer from inside one of its scopes.
use bumper::{AllocBuffer, Buffer};

fn main() {
    let mut buf = AllocBuffer::with_capacity(64);
    buf.no_escape(|s| {
        let v = s.alloc(1u8);
        buf.reset();
        *v = 2;
    });
}
