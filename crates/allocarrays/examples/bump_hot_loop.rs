//! A bump scope in a hot loop: each iteration takes its scratch memory from a `bumper` buffer
//! and gives it all back when the scope ends, so the loop makes no heap allocation once the
//! buffer has its slab.
//!
//! `cargo run -p allocarrays --example bump_hot_loop`

use bumper::{Buffer, SlabBuffer};

#[path = "common/counting.rs"]
mod counting;

#[global_allocator]
static GLOBAL: counting::Counting = counting::Counting;

/// The seed's `f(x) = sum(x .+ 1)`, the temporary `x .+ 1` in a bump scope.
fn f(x: &[i64], buf: &mut impl Buffer) -> i64 {
    buf.no_escape(|s| {
        let y = s.alloc_slice_copy(x);
        y.iter_mut().for_each(|v| *v += 1);
        y.iter().sum()
    })
}

fn main() {
    let x: Vec<i64> = (1..=30).collect();
    let mut buf: SlabBuffer = SlabBuffer::new();
    assert_eq!(f(&x, &mut buf), 495); // the first call takes the slab from the heap

    let before = counting::allocations();
    let mut total = 0;
    for _ in 0..100_000 {
        total += f(&x, &mut buf);
    }
    let allocations = counting::allocations() - before;
    assert_eq!(total, 495 * 100_000);
    assert_eq!(allocations, 0, "the hot loop allocates nothing on the heap");
    println!("bump_hot_loop: 100000 calls of f(x) = {total}, {allocations} heap allocations");
}
