// Returning an allocation out of the closure of `Buffer::no_escape`.
use bumper::AllocBuffer;

fn main() {
    let mut buf = AllocBuffer::with_capacity(64);
    let escaped = buf.no_escape(|s| s.alloc(1u8));
    *escaped = 2;
}
