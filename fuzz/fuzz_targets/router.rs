//! Random operation sequences against the global-allocator router: this binary's global
//! allocator is `ArenaRouter`, and the ops run inside and outside `HeapArena::scope`s:
//! `alloc`, `alloc_zeroed`, `realloc` and `dealloc` in any order, frees on another thread,
//! `reset` and `trim` at any point (inside a scope too), and blocks that escape their scope and
//! live across resets. After every step: no two live blocks overlap, each is aligned, zeroed
//! blocks read as zero, and each still holds its bytes.
//!
//! `cargo +nightly fuzz run router` (from `fuzz/`).
#![no_main]

use std::alloc::{Layout, System};
use std::sync::mpsc;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use arena_router::{ArenaRouter, HeapArena};
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static GLOBAL: ArenaRouter = ArenaRouter::new(System);

const MAX_LIVE: usize = 128;

#[derive(Arbitrary, Debug, Clone, Copy)]
struct Size {
    raw: u16,
    shift: u8,
    align_log2: u8,
}

impl Size {
    fn layout(self) -> Layout {
        // Up to 2 MiB: beyond a 64 KiB block, and past the router's big-allocation paths.
        let size = ((self.raw as usize) << (self.shift % 6)).clamp(1, 2 << 20);
        let align = 1usize << (self.align_log2 % 13);
        Layout::from_size_align(size, align).expect("valid by construction")
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    Alloc(Size),
    AllocZeroed(Size),
    /// Resize the block at `index % live` to `size` bytes (same alignment).
    Realloc {
        index: u8,
        size: Size,
    },
    Free(u8),
    /// Free the block on the worker thread (outside any scope there), and wait for it.
    FreeElsewhere(u8),
    /// Enter a scope of the arena (nests); ends at `ScopeEnd` or the end of the input.
    ScopeBegin,
    ScopeEnd,
    Reset,
    Trim,
    /// A `Vec` and a `String` built and dropped by ordinary code.
    Collections(u8),
    Verify,
}

/// A live block: where, its layout, and the pattern in it.
struct Block {
    addr: usize,
    layout: Layout,
    tag: u8,
}

impl Block {
    fn byte(&self, i: usize) -> u8 {
        self.tag.wrapping_add((i as u8).wrapping_mul(13))
    }

    fn fill(&self) {
        let p = self.addr as *mut u8;
        for i in 0..self.layout.size() {
            // SAFETY: a live block of `size` bytes (the global allocator's contract).
            unsafe { p.add(i).write(self.byte(i)) };
        }
    }

    fn check(&self, upto: usize) {
        let p = self.addr as *const u8;
        for i in 0..upto.min(self.layout.size()) {
            // SAFETY: as in `fill`.
            let got = unsafe { p.add(i).read() };
            assert_eq!(
                got,
                self.byte(i),
                "byte {i} of a live {:?} block changed",
                self.layout
            );
        }
    }

    /// A cheaper check for every step: both ends and one byte in every 256.
    fn sample(&self) {
        let p = self.addr as *const u8;
        let size = self.layout.size();
        let ends = (0..size.min(64)).chain(size.saturating_sub(64)..size);
        for i in ends.chain((0..size).step_by(256)) {
            // SAFETY: as in `fill`.
            let got = unsafe { p.add(i).read() };
            assert_eq!(
                got,
                self.byte(i),
                "byte {i} of a live {:?} block changed",
                self.layout
            );
        }
    }
}

struct Model {
    live: Vec<Block>,
    tag: u8,
}

impl Model {
    fn add(&mut self, p: *mut u8, layout: Layout, zeroed: bool) {
        if p.is_null() {
            return; // out of memory is allowed; nothing to track
        }
        let addr = p as usize;
        assert_eq!(addr % layout.align(), 0, "misaligned for {layout:?}");
        self.disjoint(addr, addr + layout.size(), None);
        if zeroed {
            for i in 0..layout.size() {
                // SAFETY: fresh block of `size` bytes.
                assert_eq!(
                    unsafe { p.add(i).read() },
                    0,
                    "alloc_zeroed byte {i} not zero"
                );
            }
        }
        self.tag = self.tag.wrapping_add(1);
        let b = Block {
            addr,
            layout,
            tag: self.tag,
        };
        b.fill();
        self.live.push(b);
    }

    fn disjoint(&self, start: usize, end: usize, skip: Option<usize>) {
        for (j, b) in self.live.iter().enumerate() {
            if Some(j) == skip {
                continue;
            }
            let (s, e) = (b.addr, b.addr + b.layout.size());
            assert!(
                end <= s || e <= start,
                "{start:#x}..{end:#x} overlaps live {s:#x}..{e:#x}"
            );
        }
    }

    /// Every block sampled (blocks are checked in full when freed, reallocated, and at the
    /// end of the input).
    fn verify(&self) {
        for b in &self.live {
            b.sample();
        }
    }

    fn verify_full(&self) {
        for b in &self.live {
            b.check(usize::MAX);
        }
    }

    fn take(&mut self, index: u8) -> Option<Block> {
        if self.live.is_empty() {
            return None;
        }
        let i = index as usize % self.live.len();
        Some(self.live.swap_remove(i))
    }
}

/// A thread that frees the blocks it is sent (the router finds their owner by address).
fn worker() -> &'static mpsc::SyncSender<(usize, Layout, mpsc::SyncSender<()>)> {
    static WORKER: OnceLock<mpsc::SyncSender<(usize, Layout, mpsc::SyncSender<()>)>> =
        OnceLock::new();
    WORKER.get_or_init(|| {
        let (tx, rx) = mpsc::sync_channel::<(usize, Layout, mpsc::SyncSender<()>)>(0);
        std::thread::spawn(move || {
            for (addr, layout, done) in rx {
                // SAFETY: the block was allocated by the global allocator with `layout` and
                // removed from the model, so it is freed exactly once.
                unsafe { std::alloc::dealloc(addr as *mut u8, layout) };
                let _ = done.send(());
            }
        });
        tx
    })
}

/// The arena every input uses (lanes live as long as the process, so one arena is reused).
fn arena() -> &'static HeapArena {
    static ARENA: HeapArena = HeapArena::new();
    &ARENA
}

fn step(model: &mut Model, ops: &[Op], depth: usize) -> usize {
    let mut i = 0;
    while i < ops.len() {
        let op = &ops[i];
        i += 1;
        match op {
            Op::Alloc(size) | Op::AllocZeroed(size) if model.live.len() < MAX_LIVE => {
                let layout = size.layout();
                let zeroed = matches!(op, Op::AllocZeroed(_));
                // SAFETY: the layout has a non-zero size.
                let p = unsafe {
                    if zeroed {
                        std::alloc::alloc_zeroed(layout)
                    } else {
                        std::alloc::alloc(layout)
                    }
                };
                model.add(p, layout, zeroed);
            }
            Op::Alloc(_) | Op::AllocZeroed(_) => {}
            Op::Realloc { index, size } => {
                if let Some(b) = model.take(*index) {
                    b.check(usize::MAX);
                    let new_size = size.layout().size();
                    // SAFETY: a live block of this layout; the new size is non-zero and, with
                    // the block's alignment, a valid layout (both are small).
                    let p = unsafe { std::alloc::realloc(b.addr as *mut u8, b.layout, new_size) };
                    if p.is_null() {
                        model.live.push(b); // unchanged on failure
                        continue;
                    }
                    let moved = Block {
                        addr: p as usize,
                        layout: b.layout,
                        tag: b.tag,
                    };
                    // The common prefix is kept.
                    moved.check(new_size.min(b.layout.size()));
                    let layout = Layout::from_size_align(new_size, b.layout.align()).unwrap();
                    // Re-tag the whole new block.
                    model.add(p, layout, false);
                }
            }
            Op::Free(index) => {
                if let Some(b) = model.take(*index) {
                    b.check(usize::MAX);
                    // SAFETY: a live block of this layout, removed from the model.
                    unsafe { std::alloc::dealloc(b.addr as *mut u8, b.layout) };
                }
            }
            Op::FreeElsewhere(index) => {
                if let Some(b) = model.take(*index) {
                    b.check(usize::MAX);
                    // The channels' own memory (a reply channel the worker drops after
                    // answering, waiter lists inside the process-wide worker channel) stays out of
                    // the arena: only the block itself is freed on the other thread.
                    arena_router::without_arena(|| {
                        let (done_tx, done_rx) = mpsc::sync_channel(1);
                        worker()
                            .send((b.addr, b.layout, done_tx))
                            .expect("worker alive");
                        done_rx.recv().expect("worker alive");
                    });
                }
            }
            Op::ScopeBegin if depth < 8 => {
                i += arena().scope(|| step(model, &ops[i..], depth + 1));
            }
            Op::ScopeBegin => {}
            Op::ScopeEnd if depth > 0 => break,
            Op::ScopeEnd => {}
            Op::Reset => {
                let report = arena().reset();
                let _ = report;
            }
            Op::Trim => {
                arena().trim();
            }
            Op::Collections(n) => {
                let v: Vec<u64> = (0..*n as u64 * 37).collect();
                let s: String = v
                    .iter()
                    .map(|x| char::from(b'a' + (x % 26) as u8))
                    .collect();
                assert_eq!(v.iter().sum::<u64>(), (0..*n as u64 * 37).sum());
                assert_eq!(s.len(), v.len());
            }
            Op::Verify => model.verify_full(),
        }
        model.verify();
    }
    i
}

/// Pins a reset finds once every block of the input is freed: lazily made process state
/// (thread-local destructor lists and the like, made inside a scope the first time) may pin a
/// few blocks once; the warm-up input below makes those, and no input may pin more.
fn baseline_pins() -> usize {
    static BASELINE: OnceLock<usize> = OnceLock::new();
    *BASELINE.get_or_init(|| {
        worker();
        let warm_up = [
            Op::ScopeBegin,
            Op::Alloc(Size {
                raw: 100,
                shift: 0,
                align_log2: 3,
            }),
            Op::FreeElsewhere(0),
            Op::Collections(9),
            Op::Reset,
            Op::Trim,
            Op::ScopeEnd,
        ];
        let mut model = Model {
            live: Vec::with_capacity(MAX_LIVE * 2),
            tag: 0,
        };
        step(&mut model, &warm_up, 0);
        assert!(model.live.is_empty());
        arena().reset().pinned_blocks
    })
}

fuzz_target!(|ops: Vec<Op>| {
    let baseline = baseline_pins();
    let mut model = Model {
        live: Vec::with_capacity(MAX_LIVE * 2),
        tag: 0,
    };
    step(&mut model, &ops, 0);
    model.verify_full();
    for b in model.live.drain(..) {
        // SAFETY: live blocks of these layouts, each freed once.
        unsafe { std::alloc::dealloc(b.addr as *mut u8, b.layout) };
    }
    // With nothing live, a reset pins nothing.
    let report = arena().reset();
    assert!(
        report.pinned_blocks <= baseline,
        "a reset after every block was freed found pins: {report:?} (baseline {baseline})"
    );
});
