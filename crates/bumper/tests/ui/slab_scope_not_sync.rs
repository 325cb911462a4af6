// A slab buffer is `Sync`, but its scopes are not: allocation through `&Scope` changes the
// buffer without synchronisation, so a scope can't be shared with another thread.
use bumper::SlabBuffer;

fn main() {
    let mut buf: SlabBuffer = SlabBuffer::new();
    buf.no_escape(|s| {
        let s = &*s;
        std::thread::scope(|t| {
            t.spawn(|| s.alloc(1u8));
            s.alloc(2u8);
        });
    });
}
