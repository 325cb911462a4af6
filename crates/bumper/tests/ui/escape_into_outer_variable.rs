// Storing an allocation in a variable declared outside the closure.
use bumper::AllocBuffer;

fn main() {
    let mut buf = AllocBuffer::with_capacity(64);
    let mut keep = None;
    buf.no_escape(|s| keep = Some(s.alloc(1u8)));
    if let Some(v) = keep {
        *v = 2;
    }
}
