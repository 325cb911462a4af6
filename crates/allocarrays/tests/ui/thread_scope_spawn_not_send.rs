// Threads spawned through `thread_scope` get the allocator, not a licence to take `!Send`
// values along.
use std::rc::Rc;

use allocarrays::thread_scope;

fn main() {
    let shared = Rc::new(5);
    thread_scope(|s| {
        s.spawn(move || *shared + 1);
    });
}
