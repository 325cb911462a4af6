// While a vector allocates from a scope, no nested scope can be opened on it (the nested scope's
// end would free the vector's newer blocks).
use allocator_api2::vec::Vec;
use bumper::AllocBuffer;

fn main() {
    let mut buf = AllocBuffer::with_capacity(1024);
    buf.no_escape(|s| {
        let mut v = Vec::new_in(&*s);
        v.push(1u32);
        s.no_escape(|inner| {
            inner.alloc(0u8);
        });
        v.push(2);
    });
}
