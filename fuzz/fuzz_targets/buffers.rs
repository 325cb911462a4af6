//! Random operation sequences against every buffer kind (`AllocBuffer`, `SlabBuffer`,
//! `AutoscalingAllocBuffer`), checked against a model of the live allocations:
//! allocate (any size up to 1 MiB, zero-sized included, alignments up to 4 KiB), checkpoint,
//! restore, reset, nested scopes, and `allocator_api2::vec::Vec` growing and shrinking in a
//! scope. After every step: no two live allocations overlap, each is aligned as asked, and each
//! still holds the bytes written into it.
//!
//! `cargo +nightly fuzz run buffers` (from `fuzz/`).
#![no_main]

use std::alloc::Layout;
use std::ptr::NonNull;

use allocarrays::AutoscalingAllocBuffer;
use arbitrary::Arbitrary;
use bumper::{AllocBuffer, Buffer, Scope, SlabBuffer};
use libfuzzer_sys::fuzz_target;

/// At most this many live allocations are tracked (more are not made), so the checks stay fast.
const MAX_LIVE: usize = 256;

#[derive(Arbitrary, Debug)]
enum Kind {
    /// A fixed buffer of `64 << (n % 8)` bytes (64 B .. 8 KiB): allocations run out.
    Fixed(u8),
    /// Small slabs, so slab changes and big allocations happen often.
    Slab,
    /// An autoscaling buffer with a main buffer of `n * 16` bytes (0 allowed).
    Autoscaling(u16),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
struct Size {
    raw: u16,
    /// Scales `raw` up to reach sizes far beyond a slab or a fixed buffer.
    shift: u8,
    align_log2: u8,
}

impl Size {
    fn layout(self) -> Layout {
        let size = ((self.raw as usize) << (self.shift % 5)).min(1 << 20);
        let align = 1usize << (self.align_log2 % 13);
        Layout::from_size_align(size, align).expect("valid by construction")
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    Alloc(Size),
    /// Only on the buffer itself, outside scopes.
    Checkpoint,
    /// Back to the newest checkpoint (outside scopes).
    Restore,
    /// Everything freed (outside scopes).
    Reset,
    /// A nested scope; ends at the matching `ScopeEnd` or at the end of the input.
    ScopeBegin,
    ScopeEnd,
    /// A `Vec<u32>` in the current scope, grown and shrunk through `allocator_api2`.
    Vec(Vec<VecOp>),
    Verify,
}

#[derive(Arbitrary, Debug)]
enum VecOp {
    Push(u32),
    Extend(u8),
    Pop,
    Truncate(u8),
    ShrinkToFit,
    Reserve(u16),
    /// An allocation from the same scope while the vector lives.
    AllocBetween(Size),
}

#[derive(Arbitrary, Debug)]
struct Input {
    kind: Kind,
    ops: Vec<Op>,
}

/// One live allocation and the byte pattern written into it.
struct Block {
    ptr: NonNull<u8>,
    layout: Layout,
    tag: u8,
}

impl Block {
    fn byte(&self, i: usize) -> u8 {
        self.tag.wrapping_add((i as u8).wrapping_mul(31))
    }

    fn fill(&self) {
        for i in 0..self.layout.size() {
            // SAFETY: the block is live and `size` bytes long (the buffer's contract).
            unsafe { self.ptr.as_ptr().add(i).write(self.byte(i)) };
        }
    }

    fn check(&self) {
        for i in 0..self.layout.size() {
            // SAFETY: as in `fill`.
            let got = unsafe { self.ptr.as_ptr().add(i).read() };
            assert_eq!(
                got,
                self.byte(i),
                "byte {i} of a live {:?} block changed",
                self.layout
            );
        }
    }

    fn range(&self) -> (usize, usize) {
        let start = self.ptr.as_ptr() as usize;
        (start, start + self.layout.size())
    }
}

/// The live allocations, oldest first; scopes and checkpoints free a suffix.
#[derive(Default)]
struct Model {
    live: Vec<Block>,
    next_tag: u8,
}

impl Model {
    fn disjoint_from_live(&self, start: usize, end: usize, what: &str) {
        if start == end {
            return;
        }
        for b in &self.live {
            let (s, e) = b.range();
            assert!(
                end <= s || e <= start,
                "{what} {start:#x}..{end:#x} overlaps a live block {s:#x}..{e:#x}"
            );
        }
    }

    fn add(&mut self, ptr: NonNull<u8>, layout: Layout) {
        assert_eq!(
            ptr.as_ptr() as usize % layout.align(),
            0,
            "misaligned for {layout:?}"
        );
        let start = ptr.as_ptr() as usize;
        self.disjoint_from_live(start, start + layout.size(), "new block");
        self.next_tag = self.next_tag.wrapping_add(1);
        let block = Block {
            ptr,
            layout,
            tag: self.next_tag,
        };
        block.fill();
        self.live.push(block);
    }

    fn verify(&self) {
        for b in &self.live {
            b.check();
        }
    }

    fn full(&self) -> bool {
        self.live.len() >= MAX_LIVE
    }
}

fn alloc_in_scope<B: Buffer>(s: &Scope<'_, B>, model: &mut Model, size: Size) {
    if model.full() {
        return;
    }
    let layout = size.layout();
    if let Ok(ptr) = s.try_alloc_layout(layout) {
        model.add(ptr, layout);
    }
}

fn run_vec<B: Buffer>(s: &Scope<'_, B>, model: &mut Model, ops: &[VecOp]) {
    let mut v: allocator_api2::vec::Vec<u32, &Scope<'_, B>> = allocator_api2::vec::Vec::new_in(s);
    let mut expected: Vec<u32> = Vec::new();
    let mut counter = 0u32;
    for op in ops.iter().take(64) {
        // Grow/shrink may fail on a full fixed buffer: `try_reserve` keeps that a `Result`.
        match op {
            VecOp::Push(x) => {
                if v.try_reserve(1).is_ok() {
                    v.push(*x);
                    expected.push(*x);
                }
            }
            VecOp::Extend(n) => {
                let n = *n as usize;
                if v.try_reserve(n).is_ok() {
                    for _ in 0..n {
                        counter = counter.wrapping_add(0x9e37_79b9);
                        v.push(counter);
                        expected.push(counter);
                    }
                }
            }
            VecOp::Pop => assert_eq!(v.pop(), expected.pop()),
            VecOp::Truncate(n) => {
                v.truncate(*n as usize);
                expected.truncate(*n as usize);
            }
            VecOp::ShrinkToFit => v.shrink_to_fit(),
            VecOp::Reserve(n) => {
                let _ = v.try_reserve(*n as usize);
            }
            VecOp::AllocBetween(size) => alloc_in_scope(s, model, *size),
        }
        assert_eq!(&v[..], &expected[..], "vector contents changed");
        assert_eq!(v.as_ptr() as usize % std::mem::align_of::<u32>(), 0);
        if v.capacity() > 0 {
            let start = v.as_ptr() as usize;
            model.disjoint_from_live(start, start + v.capacity() * 4, "vector buffer");
        }
        model.verify();
    }
}

/// Runs ops inside a scope until its `ScopeEnd`; returns how many it consumed.
fn run_scope<B: Buffer>(
    s: &mut Scope<'_, B>,
    model: &mut Model,
    ops: &[Op],
    depth: usize,
) -> usize {
    let mark = model.live.len();
    let mut i = 0;
    while i < ops.len() {
        let op = &ops[i];
        i += 1;
        match op {
            Op::Alloc(size) => alloc_in_scope(s, model, *size),
            Op::ScopeBegin if depth < 16 => {
                i += s.no_escape(|inner| run_scope(inner, model, &ops[i..], depth + 1));
            }
            Op::ScopeEnd => break,
            Op::Vec(vops) => run_vec(s, model, vops),
            Op::Verify => model.verify(),
            // Checkpoints, restores and resets need the buffer itself.
            _ => {}
        }
    }
    model.verify();
    // Everything the scope made is freed when it ends.
    model.live.truncate(mark);
    i
}

fn run<B: Buffer>(mut buf: B, ops: &[Op]) {
    let mut model = Model::default();
    // Checkpoints with the model length at the time.
    let mut checkpoints: Vec<(B::Checkpoint, usize)> = Vec::new();
    let mut i = 0;
    while i < ops.len() {
        let op = &ops[i];
        i += 1;
        match op {
            Op::Alloc(size) => {
                if !model.full() {
                    let layout = size.layout();
                    if let Ok(ptr) = buf.try_alloc_layout(layout) {
                        model.add(ptr, layout);
                    }
                }
            }
            Op::Checkpoint => checkpoints.push((buf.checkpoint(), model.live.len())),
            Op::Restore => {
                if let Some((cp, len)) = checkpoints.pop() {
                    model.live.truncate(len);
                    // SAFETY: `cp` came from this buffer, no restore to an earlier checkpoint
                    // or reset happened since (those pop or clear `checkpoints`), and the blocks
                    // made after it were just dropped from the model, so none is used again.
                    unsafe { buf.restore(cp) };
                }
            }
            Op::Reset => {
                checkpoints.clear();
                model.live.clear();
                buf.reset();
            }
            Op::ScopeBegin => {
                i += buf.no_escape(|s| run_scope(s, &mut model, &ops[i..], 1));
            }
            Op::ScopeEnd => {}
            Op::Vec(vops) => {
                let mark = model.live.len();
                buf.no_escape(|s| run_vec(s, &mut model, vops));
                // The scope freed what it made.
                model.live.truncate(mark);
                model.verify();
            }
            Op::Verify => model.verify(),
        }
    }
    model.verify();
}

fuzz_target!(|input: Input| {
    match input.kind {
        Kind::Fixed(n) => run(AllocBuffer::with_capacity(64 << (n % 8)), &input.ops),
        Kind::Slab => run(SlabBuffer::<4096>::with_slab_size(), &input.ops),
        Kind::Autoscaling(n) => run(
            AutoscalingAllocBuffer::with_initial_size(n as usize * 16),
            &input.ops,
        ),
    }
});
