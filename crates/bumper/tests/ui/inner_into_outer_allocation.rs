// Storing an allocation of a nested scope into an allocation of the outer scope, which outlives
// the nested one.
use bumper::AllocBuffer;

fn main() {
    let mut buf = AllocBuffer::with_capacity(64);
    buf.no_escape(|s| {
        let slot: &mut Option<&mut u8> = s.alloc(None);
        s.no_escape(|inner| {
            *slot = Some(inner.alloc(1u8));
        });
        if let Some(v) = slot {
            **v = 2;
        }
    });
}
