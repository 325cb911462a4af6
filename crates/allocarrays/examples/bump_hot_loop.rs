//! A bump scope in a hot loop: each iteration takes its scratch memory from a `bumper` buffer
//! and gives it all back when the scope ends, so the loop makes no heap allocation once the
//! buffer has its slab.
//!
//! `cargo run -p allocarrays --example bump_hot_loop`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use bumper::{Buffer, SlabBuffer};

/// The system allocator, counting the allocations it serves.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; the counter has no effect on memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on as it is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout (above).
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

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

    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let mut total = 0;
    for _ in 0..100_000 {
        total += f(&x, &mut buf);
    }
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(total, 495 * 100_000);
    assert_eq!(allocations, 0, "the hot loop allocates nothing on the heap");
    println!("bump_hot_loop: 100000 calls of f(x) = {total}, {allocations} heap allocations");
}
