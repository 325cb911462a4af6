// Two scopes can't trade places: each scope's lifetime is its own (`Scope` is invariant in it),
// so a scope that ends first can't hand its identity to one that lives on.
use bumper::AllocBuffer;

fn main() {
    let mut a = AllocBuffer::with_capacity(64);
    let mut b = AllocBuffer::with_capacity(64);
    let mut guard = b.checkpoint_guard();
    let mut outer = guard.scope();
    a.no_escape(|s| {
        std::mem::swap(s, &mut outer);
    });
    outer.alloc(1u8);
}
