// A carry borrows the `with_carry` call that made it (the allocator may end with it), so it
// can't be handed to a thread that may outlive that call.
use allocarrays::with_carry;

fn main() {
    with_carry(|carry| {
        std::thread::spawn(move || carry.enter(|| ()));
    });
}
