// An `allocator_api2` vector whose memory comes from a scope can't leave the scope.
use allocator_api2::vec::Vec;
use bumper::AllocBuffer;

fn main() {
    let mut buf = AllocBuffer::with_capacity(1024);
    let v = buf.no_escape(|s| {
        let mut v = Vec::new_in(&*s);
        v.extend([1u32, 2, 3]);
        v
    });
    assert_eq!(v.len(), 3);
}
