//! The seed's `MyAllocBuffer`: a custom buffer in a few lines, which then gets scopes, typed
//! allocation and the default-buffer machinery for free.
//!
//! `cargo run -p bumper --example my_alloc_buffer`

use std::alloc::Layout;
use std::ptr::NonNull;

use bumper::{AllocError, Buffer};

/// A heap chunk and an offset: the simplest bump buffer.
struct MyAllocBuffer {
    memory: Box<[u8]>,
    offset: usize,
}

impl MyAllocBuffer {
    fn new(n: usize) -> Self {
        MyAllocBuffer {
            memory: vec![0; n].into_boxed_slice(),
            offset: 0,
        }
    }
}

// SAFETY: allocations are disjoint, aligned sub-ranges of `memory` past `offset`; the memory is
// on the heap so it stays put when the struct moves; restore and reset only move `offset` back.
unsafe impl Buffer for MyAllocBuffer {
    type Checkpoint = usize;

    fn try_alloc_layout(&mut self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        let base = self.memory.as_mut_ptr();
        let start = (base as usize + self.offset).next_multiple_of(layout.align()) - base as usize;
        let end = start + layout.size();
        if end > self.memory.len() {
            return Err(AllocError::BufferFull {
                requested: layout.size(),
                align: layout.align(),
                available: self.memory.len() - self.offset,
                capacity: self.memory.len(),
            });
        }
        self.offset = end;
        Ok(NonNull::new(base.wrapping_add(start)).expect("a Box is never null"))
    }

    fn checkpoint(&self) -> usize {
        self.offset
    }

    unsafe fn restore(&mut self, checkpoint: usize) {
        self.offset = checkpoint;
    }

    fn reset(&mut self) {
        self.offset = 0;
    }
}

/// The seed's `f`, written once for any buffer.
fn f(x: &[i64], buf: &mut impl Buffer) -> i64 {
    buf.no_escape(|s| {
        let y = s.alloc_slice_copy(x);
        y.iter_mut().for_each(|v| *v += 1);
        y.iter().sum()
    })
}

/// The same on whatever the default buffer is.
fn f_default(x: &[i64]) -> i64 {
    bumper::no_escape(|s| s.alloc_slice_fill_with(x.len(), |i| x[i] + 1).iter().sum())
}

fn main() {
    let mut buf = MyAllocBuffer::new(100);
    println!(
        "f([1, 2, 3]) with MyAllocBuffer = {}",
        f(&[1, 2, 3], &mut buf)
    );
    assert_eq!(buf.offset, 0);

    // The bonus of the seed: make it the default buffer for a dynamic extent.
    let total = bumper::with_buffer(&mut buf, || f_default(&[1, 2, 3]));
    println!("f_default([1, 2, 3]) with MyAllocBuffer as the default buffer = {total}");

    // Running out is an error, not a corrupted buffer.
    let err = buf.no_escape(|s| s.try_alloc_slice_fill(1000, 0u8).unwrap_err());
    println!("asking for too much: {err}");
}
