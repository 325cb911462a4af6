//! Property tests: random sequences of allocations, checkpoints, restores and resets, run on
//! every kind of buffer and checked against a model of which allocations are live.
//!
//! After every step the live allocations must be aligned, must not overlap, must lie inside the
//! buffer's memory (for a fixed buffer), and must still hold the bytes written into them when
//! they were made. A failed allocation must leave the buffer as it was, and a restore must bring
//! the buffer's `used` figure back to what it was when the checkpoint was taken.
//!
//! The fixed and slab buffers are driven both through the raw `Buffer` methods and through
//! nested scopes. The thread's default buffer has no public checkpoint or restore, so it is
//! driven through nested scopes only: a checkpoint opens a nested scope (alternately with
//! `Scope::no_escape` and with a new default scope, which suspends the outer one), a restore
//! closes one or more of them.
//!
//! Under Miri the case counts and sequence lengths are cut down to a few, so the same code runs
//! there in reasonable time.

use core::alloc::Layout;
use core::ops::Range;
use core::ptr::NonNull;

use bumper::{
    AllocBuffer, AllocError, Buffer, DefaultBuffer, DefaultBufferError, DefaultBufferKind, Scope,
    SlabBuffer,
};
use std::cell::Cell;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;

// ---- configuration ------------------------------------------------------------------------

/// Longest operation sequence of a case.
const MAX_OPS: usize = if cfg!(miri) { 24 } else { 200 };

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: if cfg!(miri) { 2 } else { cases },
        // Keep failing seeds out of the source tree; proptest prints the shrunk input anyway.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---- operations -----------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    /// `try_alloc_layout` with this size and alignment `1 << align_log2`.
    Alloc { size: usize, align_log2: u32 },
    /// Take a checkpoint and push it on the stack.
    Checkpoint,
    /// Restore the most recent checkpoint (it stays on the stack: restoring twice is allowed).
    RestoreLatest,
    /// Restore a checkpoint picked anywhere in the stack; everything above it is popped, and so
    /// is the checkpoint itself when `pop_it`.
    RestoreAny { pick: Index, pop_it: bool },
    /// Reset the buffer; every checkpoint becomes invalid.
    Reset,
}

fn size_strategy() -> impl Strategy<Value = usize> {
    // Mostly small requests, so many allocations share a slab, with big ones mixed in (more than
    // half of a 256-byte slab, and up to about a seventh of the 4096-byte fixed buffer).
    prop_oneof![
        3 => 0usize..=16,
        3 => 0usize..=128,
        2 => 0usize..600,
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (size_strategy(), 0u32..=7)
            .prop_map(|(size, align_log2)| Op::Alloc { size, align_log2 }),
        3 => Just(Op::Checkpoint),
        2 => Just(Op::RestoreLatest),
        2 => (any::<Index>(), any::<bool>())
            .prop_map(|(pick, pop_it)| Op::RestoreAny { pick, pop_it }),
        1 => Just(Op::Reset),
    ]
}

fn ops_strategy() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op_strategy(), 0..=MAX_OPS)
}

// ---- byte patterns --------------------------------------------------------------------------

/// Patterns are windows of this table: allocation `id` holds `PATTERN[shift(id)..][..size]`, so
/// neighbouring allocations hold different bytes and a stray write into one shows up.
fn pattern_table() -> Vec<u8> {
    (0..1024u32).map(|i| (i % 251) as u8).collect()
}

fn shift(id: u64) -> usize {
    (id.wrapping_mul(7919) % 251) as usize
}

// ---- the model ------------------------------------------------------------------------------

/// An allocation the model considers live.
#[derive(Debug)]
struct Live {
    ptr: NonNull<u8>,
    size: usize,
    align: usize,
    /// How many checkpoints were on the stack when it was made: restoring checkpoint `i` frees
    /// the allocations with `depth > i`.
    depth: usize,
    id: u64,
}

/// What the runner knows about the buffer beyond the `Buffer` trait.
#[derive(Debug, Clone)]
struct Facts {
    /// The fixed buffer's memory: every allocation must lie inside it, and an allocation may
    /// fail only if it really does not fit behind the bump position.
    memory: Option<Range<usize>>,
    /// Whether an allocation may fail at all (fixed buffers); growable ones must always succeed.
    may_fail: bool,
}

struct Model<C> {
    /// The buffer's `used` figure after the last step.
    used: usize,
    stack: Vec<(C, usize)>,
    live: Vec<Live>,
    next_id: u64,
    table: Vec<u8>,
}

fn used_of<B: Buffer>(buf: &B) -> usize {
    buf.stats().expect("bumper's buffers keep stats").used
}

impl<C: Copy> Model<C> {
    fn new(used: usize) -> Self {
        Model {
            used,
            stack: Vec::new(),
            live: Vec::new(),
            next_id: 0,
            table: pattern_table(),
        }
    }

    fn expected(&self, id: u64, size: usize) -> &[u8] {
        let start = shift(id);
        &self.table[start..start + size]
    }

    /// Writes allocation `id`'s pattern into fresh memory.
    fn fill(&self, ptr: NonNull<u8>, size: usize, id: u64) {
        let pattern = self.expected(id, size);
        // SAFETY: the buffer just returned `ptr` as valid for writes of `size` bytes, and the
        // model checks it overlaps no other live allocation (after the write, before any read).
        unsafe { core::ptr::copy_nonoverlapping(pattern.as_ptr(), ptr.as_ptr(), size) };
    }

    /// Frees, in the model, everything made after checkpoint `index`.
    fn forget_after(&mut self, index: usize) {
        self.live.retain(|a| a.depth <= index);
    }

    /// Checks every invariant of the live set.
    fn check(&self, facts: &Facts) -> Result<(), TestCaseError> {
        for a in &self.live {
            let addr = a.ptr.as_ptr() as usize;
            prop_assert_eq!(addr % a.align, 0, "misaligned allocation {:?}", a);
            // Zero-byte blocks may dangle (when the room left can't be aligned for them).
            if let (Some(range), false) = (&facts.memory, a.size == 0) {
                prop_assert!(
                    addr >= range.start && addr + a.size <= range.end,
                    "allocation {:?} outside the buffer's memory {:x?}",
                    a,
                    range
                );
            }
        }
        let mut spans: Vec<(usize, usize, u64)> = self
            .live
            .iter()
            .filter(|a| a.size > 0)
            .map(|a| (a.ptr.as_ptr() as usize, a.size, a.id))
            .collect();
        spans.sort_unstable();
        for pair in spans.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            prop_assert!(
                a.0 + a.1 <= b.0,
                "allocations {} ({:#x}+{}) and {} ({:#x}+{}) overlap",
                a.2,
                a.0,
                a.1,
                b.2,
                b.0,
                b.1
            );
        }
        for a in &self.live {
            // SAFETY: the allocation is live (the model follows the buffer's contract), was
            // fully written by `fill`, and nothing else refers to it now.
            let bytes = unsafe { core::slice::from_raw_parts(a.ptr.as_ptr(), a.size) };
            prop_assert!(
                bytes == self.expected(a.id, a.size),
                "allocation {} ({} bytes) lost its contents",
                a.id,
                a.size
            );
        }
        Ok(())
    }
}

/// One allocation, through `alloc` (which returns the result and the `used` figure after it),
/// checked and recorded in the model as made at `depth`.
fn alloc_step<C: Copy>(
    model: &mut Model<C>,
    facts: &Facts,
    size: usize,
    align_log2: u32,
    depth: usize,
    alloc: impl FnOnce(Layout) -> (Result<NonNull<u8>, AllocError>, usize),
) -> Result<(), TestCaseError> {
    let align = 1usize << align_log2;
    let layout = Layout::from_size_align(size, align).expect("valid layout");
    let before = model.used;
    let (result, after) = alloc(layout);
    model.used = after;
    match result {
        Ok(ptr) => {
            let id = model.next_id;
            model.next_id += 1;
            model.fill(ptr, size, id);
            if let Some(range) = &facts.memory {
                let addr = ptr.as_ptr() as usize;
                if size == 0 && !range.contains(&addr) && addr != range.end {
                    // A zero-byte request the remaining room can't align gets a dangling
                    // pointer, and the position stays.
                    prop_assert_eq!(after, before, "used after {:?}", layout);
                } else {
                    // A fixed buffer's position ends right after the new allocation.
                    let end = addr + size - range.start;
                    prop_assert_eq!(after, end, "used after {:?}", layout);
                }
            }
            prop_assert!(after >= before + size, "used {} -> {}", before, after);
            model.live.push(Live {
                ptr,
                size,
                align,
                depth,
                id,
            });
        }
        Err(err) => {
            prop_assert!(facts.may_fail, "{:?} failed: {}", layout, err);
            prop_assert_eq!(after, before, "a failed alloc moved the buffer");
            if let Some(range) = &facts.memory {
                // The refusal must be justified: the request does not fit.
                let position = range.start + before;
                let aligned = position.next_multiple_of(align);
                prop_assert!(
                    aligned + size > range.end,
                    "{:?} refused although {} bytes are free at {:#x}",
                    layout,
                    range.end - position,
                    position
                );
            }
        }
    }
    Ok(())
}

/// Runs `ops` on `buf`, checking the model after every step.
fn run_ops<B: Buffer>(buf: &mut B, ops: &[Op], facts: &Facts) -> Result<(), TestCaseError> {
    let mut model: Model<B::Checkpoint> = Model::new(used_of(buf));
    for op in ops {
        match *op {
            Op::Alloc { size, align_log2 } => {
                let depth = model.stack.len();
                alloc_step(&mut model, facts, size, align_log2, depth, |layout| {
                    let result = buf.try_alloc_layout(layout);
                    (result, used_of(buf))
                })?;
            }
            Op::Checkpoint => {
                let cp = buf.checkpoint();
                model.stack.push((cp, used_of(buf)));
            }
            Op::RestoreLatest => {
                if let Some(&(cp, used)) = model.stack.last() {
                    let index = model.stack.len() - 1;
                    // SAFETY: `cp` came from this buffer, and every restore or reset since it was
                    // taken popped the checkpoints it went past, so it is still valid; the model
                    // drops (and never touches again) the allocations made after it.
                    unsafe { buf.restore(cp) };
                    model.forget_after(index);
                    prop_assert_eq!(used_of(buf), used, "used after restoring {:?}", cp);
                }
            }
            Op::RestoreAny { pick, pop_it } => {
                if !model.stack.is_empty() {
                    let index = pick.index(model.stack.len());
                    let (cp, used) = model.stack[index];
                    // SAFETY: as for `RestoreLatest`; the checkpoints above `index` are popped
                    // right after, since the buffer goes back past them.
                    unsafe { buf.restore(cp) };
                    model.stack.truncate(if pop_it { index } else { index + 1 });
                    model.forget_after(index);
                    prop_assert_eq!(used_of(buf), used, "used after restoring {:?}", cp);
                }
            }
            Op::Reset => {
                buf.reset();
                model.stack.clear();
                model.live.clear();
                prop_assert_eq!(used_of(buf), 0, "used after reset");
            }
        }
        model.used = used_of(buf);
        model.check(facts)?;
    }
    // Leave the buffer as we found it, so a reused (default) buffer starts clean.
    if let Some(&(cp, used)) = model.stack.first() {
        // SAFETY: as for `RestoreLatest`; the model is dropped right after.
        unsafe { buf.restore(cp) };
        prop_assert_eq!(used_of(buf), used);
    }
    buf.reset();
    prop_assert_eq!(used_of(buf), 0);
    Ok(())
}

fn fixed_facts(buf: &AllocBuffer<'_>) -> Facts {
    Facts {
        memory: Some(buf.memory_range()),
        may_fail: true,
    }
}

const GROWABLE: Facts = Facts {
    memory: None,
    may_fail: false,
};

/// Runs `f` on a thread of its own, so it meets a fresh per-thread default buffer; a panic in
/// it (a failed assertion) is passed on to the caller.
fn on_fresh_thread<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|t| t.spawn(f).join()).unwrap_or_else(|p| std::panic::resume_unwind(p))
}

// ---- the same sequences, through nested scopes ----------------------------------------------

/// How a scope-driven run nests: `Checkpoint` opens a nested scope, `RestoreLatest` closes the
/// innermost one, `RestoreAny` closes several at once, and `Reset` (impossible inside a scope)
/// checks that a reset is refused where the buffer allows asking.
trait Nest: Buffer + Sized {
    /// Opens a scope nested in `s`; `via_default` picks the default buffer's own nesting (a new
    /// default scope, which suspends the outer one) where there is one.
    fn nest<R>(
        s: &mut Scope<'_, Self>,
        via_default: bool,
        f: impl for<'t> FnOnce(&mut Scope<'t, Self>) -> R,
    ) -> R {
        let _ = via_default;
        s.no_escape(f)
    }

    /// Checks what a reset request does inside a scope.
    fn reset_refused() -> Result<(), TestCaseError> {
        Ok(())
    }
}

impl Nest for AllocBuffer<'_> {}

impl<const N: usize> Nest for SlabBuffer<N> {}

impl Nest for DefaultBuffer {
    fn nest<R>(
        s: &mut Scope<'_, Self>,
        via_default: bool,
        f: impl for<'t> FnOnce(&mut Scope<'t, Self>) -> R,
    ) -> R {
        if !via_default {
            return s.no_escape(f);
        }
        let outer = &*s;
        bumper::no_escape(|inner| {
            // On a shared default buffer (lent, or the thread's own fixed one) the outer scope
            // is suspended while this one is open; on the thread's own slab buffer it stays
            // usable, this scope having memory of its own.
            let shared = SHARED_DEFAULT.with(Cell::get);
            assert_eq!(
                outer.stats().is_none(),
                shared,
                "outer default scope suspended?"
            );
            f(inner)
        })
    }

    fn reset_refused() -> Result<(), TestCaseError> {
        prop_assert_eq!(
            bumper::reset_default_buffer(),
            Err(DefaultBufferError::ScopeOpen)
        );
        Ok(())
    }
}

/// How a nested level ended.
enum Exit {
    /// The operations ran out: close every level.
    Finished,
    /// Close this many more levels after the one returning it.
    Close(usize),
}

struct ScopedRun<'o> {
    ops: &'o [Op],
    next: usize,
    model: Model<()>,
    facts: Facts,
}

fn scope_used<B: Buffer>(s: &Scope<'_, B>) -> usize {
    s.stats().expect("an active scope has stats").used
}

/// Runs operations in scope `s`, at nesting `depth` (0 for the outermost scope).
fn run_level<B: Nest>(
    s: &mut Scope<'_, B>,
    run: &mut ScopedRun<'_>,
    depth: usize,
) -> Result<Exit, TestCaseError> {
    while let Some(op) = run.ops.get(run.next).cloned() {
        run.next += 1;
        match op {
            Op::Alloc { size, align_log2 } => {
                alloc_step(
                    &mut run.model,
                    &run.facts,
                    size,
                    align_log2,
                    depth,
                    |layout| (s.try_alloc_layout(layout), scope_used(s)),
                )?;
            }
            Op::Checkpoint => {
                let used = scope_used(s);
                // Alternate the two ways of nesting a default scope.
                let via_default = run.next % 2 == 0;
                let exit = B::nest(s, via_default, |inner| {
                    // A nested default scope on the thread's own buffer starts in memory of its
                    // own; every other nested scope where the outer one stands.
                    run.model.used = scope_used(inner);
                    run_level(inner, run, depth + 1)
                })?;
                // The nested scope has ended: everything made in it is gone.
                run.model.live.retain(|a| a.depth <= depth);
                run.model.used = scope_used(s);
                prop_assert_eq!(run.model.used, used, "used after a nested scope");
                match exit {
                    Exit::Finished => return Ok(Exit::Finished),
                    Exit::Close(0) => {}
                    Exit::Close(n) => return Ok(Exit::Close(n - 1)),
                }
            }
            Op::RestoreLatest if depth > 0 => return Ok(Exit::Close(0)),
            Op::RestoreAny { pick, .. } if depth > 0 => {
                return Ok(Exit::Close(pick.index(depth)));
            }
            Op::RestoreLatest | Op::RestoreAny { .. } => {}
            Op::Reset => B::reset_refused()?,
        }
        run.model.check(&run.facts)?;
    }
    Ok(Exit::Finished)
}

/// Runs `ops` as nested scopes on `buf`.
fn run_scoped<B: Nest>(buf: &mut B, ops: &[Op], facts: &Facts) -> Result<(), TestCaseError> {
    let before = used_of(buf);
    buf.no_escape(|s| run_in_scope(s, ops, facts))?;
    prop_assert_eq!(used_of(buf), before);
    Ok(())
}

/// Runs `ops` as nested scopes in `s`.
fn run_in_scope<B: Nest>(
    s: &mut Scope<'_, B>,
    ops: &[Op],
    facts: &Facts,
) -> Result<(), TestCaseError> {
    let mut run = ScopedRun {
        ops,
        next: 0,
        model: Model::new(scope_used(s)),
        facts: facts.clone(),
    };
    run_level(s, &mut run, 0)?;
    Ok(())
}

std::thread_local! {
    /// Whether the default buffer `run_on_default` runs on is shared by nested default scopes.
    static SHARED_DEFAULT: Cell<bool> = const { Cell::new(false) };
}

/// Runs `ops` as nested scopes on the thread's current default buffer; `shared`: whether
/// nested default scopes share it (a lent buffer, or the thread's own fixed one).
fn run_on_default(ops: &[Op], facts: &Facts, shared: bool) -> Result<(), TestCaseError> {
    let previous = SHARED_DEFAULT.with(|s| s.replace(shared));
    let result = run_on_default_inner(ops, facts);
    SHARED_DEFAULT.with(|s| s.set(previous));
    result
}

fn run_on_default_inner(ops: &[Op], facts: &Facts) -> Result<(), TestCaseError> {
    let before = bumper::default_buffer_stats().unwrap().used;
    bumper::no_escape(|s| run_in_scope(s, ops, facts))?;
    prop_assert_eq!(bumper::default_buffer_stats().unwrap().used, before);
    prop_assert_eq!(bumper::reset_default_buffer(), Ok(()));
    prop_assert_eq!(bumper::default_buffer_stats().unwrap().used, 0);
    Ok(())
}

// ---- the model-checked sequences ------------------------------------------------------------

proptest! {
    #![proptest_config(config(192))]

    #[test]
    fn alloc_buffer_owned(ops in ops_strategy(), capacity in prop_oneof![Just(0usize), 1usize..8192]) {
        let mut buf = AllocBuffer::with_capacity(capacity);
        let facts = fixed_facts(&buf);
        run_ops(&mut buf, &ops, &facts)?;
        prop_assert_eq!(buf.used(), 0);
    }

    #[test]
    fn alloc_buffer_borrowed(ops in ops_strategy(), len in 0usize..6000, skew in 0usize..64) {
        // `skew` moves the start of the memory off any particular alignment.
        let mut storage = vec![0u8; len + skew];
        let lent = storage[skew..].as_ptr_range();
        let lent = lent.start as usize..lent.end as usize;
        let mut buf = AllocBuffer::from(&mut storage[skew..]);
        let facts = fixed_facts(&buf);
        // The buffer may skip a few bytes at the start to align itself, never more.
        let range = facts.memory.clone().unwrap();
        prop_assert!(range.start - lent.start < 16);
        if range.start <= lent.end {
            prop_assert!(lent.start <= range.start && range.end == lent.end, "{:x?} in {:x?}", range, lent);
        } else {
            // Too short to reach a 16-byte aligned address: an empty buffer just past it.
            prop_assert!(range.is_empty() && range.start % 16 == 0, "{:x?} for {:x?}", range, lent);
        }
        prop_assert_eq!(buf.capacity(), range.len());
        run_ops(&mut buf, &ops, &facts)?;
    }

    #[test]
    fn slab_buffer_256(ops in ops_strategy()) {
        let mut buf: SlabBuffer<256> = SlabBuffer::with_slab_size();
        run_ops(&mut buf, &ops, &GROWABLE)?;
        let stats = buf.stats().unwrap();
        prop_assert_eq!((stats.used, stats.big_allocations), (0, 0));
    }

    #[test]
    fn slab_buffer_4096(ops in ops_strategy()) {
        let mut buf: SlabBuffer<4096> = SlabBuffer::with_slab_size();
        run_ops(&mut buf, &ops, &GROWABLE)?;
        let stats = buf.stats().unwrap();
        prop_assert_eq!((stats.used, stats.big_allocations), (0, 0));
    }

    #[test]
    fn slab_buffer_reused_across_sequences(first in ops_strategy(), second in ops_strategy()) {
        // The second sequence runs over the spare slabs the first one left behind.
        let mut buf: SlabBuffer<256> = SlabBuffer::with_slab_size();
        run_ops(&mut buf, &first, &GROWABLE)?;
        run_ops(&mut buf, &second, &GROWABLE)?;
        buf.release_spare_slabs();
        run_ops(&mut buf, &first, &GROWABLE)?;
    }

    #[test]
    fn scoped_alloc_buffer(ops in ops_strategy(), capacity in 0usize..8192) {
        let mut buf = AllocBuffer::with_capacity(capacity);
        let facts = fixed_facts(&buf);
        run_scoped(&mut buf, &ops, &facts)?;
    }

    #[test]
    fn scoped_slab_buffers(ops in ops_strategy()) {
        let mut small: SlabBuffer<256> = SlabBuffer::with_slab_size();
        run_scoped(&mut small, &ops, &GROWABLE)?;
        let mut large: SlabBuffer<4096> = SlabBuffer::with_slab_size();
        run_scoped(&mut large, &ops, &GROWABLE)?;
        prop_assert_eq!(small.stats().unwrap().big_allocations, 0);
    }

    #[test]
    fn default_buffer_slab_on_fresh_thread(ops in ops_strategy()) {
        on_fresh_thread(|| run_on_default(&ops, &GROWABLE, false))?;
    }

    #[test]
    fn default_buffer_fixed_on_fresh_thread(ops in ops_strategy()) {
        on_fresh_thread(|| {
            bumper::set_default_buffer_kind(DefaultBufferKind::Fixed { capacity: 4096 })
                .expect("the thread has no default buffer yet");
            prop_assert_eq!(bumper::default_buffer_stats().unwrap().capacity, 4096);
            run_on_default(&ops, &Facts { memory: None, may_fail: true }, true)
        })?;
    }

    #[test]
    fn default_buffer_lent_by_with_buffer(ops in ops_strategy()) {
        let mut slab: SlabBuffer<256> = SlabBuffer::with_slab_size();
        bumper::with_buffer(&mut slab, || run_on_default(&ops, &GROWABLE, true))?;
        let mut fixed = AllocBuffer::with_capacity(2048);
        let facts = fixed_facts(&fixed);
        bumper::with_buffer(&mut fixed, || run_on_default(&ops, &facts, true))?;
        // And with the lent buffer's own scope open around the default scopes.
        let mut fixed = AllocBuffer::with_capacity(2048);
        let facts = fixed_facts(&fixed);
        fixed.no_escape(|s| {
            s.alloc(0u32);
            s.no_escape(|inner| {
                let mut fixed2 = AllocBuffer::with_capacity(1024);
                let facts2 = fixed_facts(&fixed2);
                inner.alloc(1u64);
                bumper::with_buffer(&mut fixed2, || run_on_default(&ops, &facts2, true))
            })
        })?;
        run_scoped(&mut fixed, &ops, &facts)?;
    }
}

#[test]
fn default_scopes_nest_both_ways() {
    // A fixed interleaving of the two nestings (`Scope::no_escape` on a default scope, and a new
    // default scope opening inside one), so Miri sees every combination on every run.
    on_fresh_thread(|| {
        bumper::no_escape(|s| {
            let a = s.alloc(1u64);
            s.no_escape(|inner| {
                let b = inner.alloc(2u64);
                bumper::no_escape(|x| {
                    let c = x.alloc(3u64);
                    x.no_escape(|y| {
                        let d = y.alloc(4u64);
                        bumper::no_escape(|z| *z.alloc(5u64) + *d + *c)
                    }) + *b
                });
                let e = inner.alloc(6u64);
                *b += *e;
            });
            let f = s.alloc(7u64);
            *a += *f;
            assert_eq!(*a, 8);
        });
        assert_eq!(bumper::default_buffer_stats().unwrap().used, 0);
    });
}

// ---- used after restore ---------------------------------------------------------------------

/// Allocates every layout of `sizes` (alignment from the low bits of the size).
fn alloc_all<B: Buffer>(buf: &mut B, sizes: &[usize]) {
    for &size in sizes {
        let align = 1usize << (size % 8);
        let _ = buf.try_alloc_layout(Layout::from_size_align(size, align).unwrap());
    }
}

/// Nested checkpoints over random allocations; each restore must bring back the `used` figure
/// (and the count of big allocations) of its checkpoint, also when restored a second time.
fn used_roundtrip<B: Buffer>(buf: &mut B, rounds: &[Vec<usize>]) -> Result<(), TestCaseError> {
    let mut saved = Vec::new();
    for sizes in rounds {
        saved.push((buf.checkpoint(), buf.stats().unwrap()));
        alloc_all(buf, sizes);
    }
    while let Some((cp, stats)) = saved.pop() {
        for _ in 0..2 {
            // SAFETY: checkpoints are restored newest first, each possibly twice in a row, and
            // no allocation made after one is used again (the raw pointers were dropped).
            unsafe { buf.restore(cp) };
            let now = buf.stats().unwrap();
            prop_assert_eq!(now.used, stats.used);
            prop_assert_eq!(now.big_allocations, stats.big_allocations);
        }
    }
    Ok(())
}

/// The same through the safe wrappers: a `no_escape` scope and a checkpoint guard.
fn used_roundtrip_scoped<B: Buffer>(buf: &mut B, sizes: &[usize]) -> Result<(), TestCaseError> {
    let before = buf.stats().unwrap().used;
    buf.no_escape(|s| {
        for &size in sizes {
            let _ = s.try_alloc_layout(Layout::from_size_align(size, 8).unwrap());
        }
        let mid = s.stats().unwrap().used;
        s.no_escape(|inner| {
            for &size in sizes {
                let _ = inner.try_alloc_layout(Layout::from_size_align(size, 1).unwrap());
            }
        });
        assert_eq!(s.stats().unwrap().used, mid);
    });
    prop_assert_eq!(buf.stats().unwrap().used, before);
    {
        let mut guard = buf.checkpoint_guard();
        let s = guard.scope();
        for &size in sizes {
            let _ = s.try_alloc_slice_fill(size, 0xA5u8);
        }
    }
    prop_assert_eq!(buf.stats().unwrap().used, before);
    Ok(())
}

fn rounds_strategy() -> impl Strategy<Value = Vec<Vec<usize>>> {
    let len = if cfg!(miri) { 4 } else { 12 };
    prop::collection::vec(prop::collection::vec(0usize..700, 0..len), 1..len)
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn used_restored_alloc_buffer(rounds in rounds_strategy(), capacity in 0usize..8192) {
        let mut buf = AllocBuffer::with_capacity(capacity);
        alloc_all(&mut buf, &[3, 17]);
        used_roundtrip(&mut buf, &rounds)?;
        used_roundtrip_scoped(&mut buf, &rounds[0])?;
    }

    #[test]
    fn used_restored_slab_buffer(rounds in rounds_strategy()) {
        let mut small: SlabBuffer<256> = SlabBuffer::with_slab_size();
        alloc_all(&mut small, &[3, 17]);
        used_roundtrip(&mut small, &rounds)?;
        used_roundtrip_scoped(&mut small, &rounds[0])?;
        let mut large: SlabBuffer<4096> = SlabBuffer::with_slab_size();
        used_roundtrip(&mut large, &rounds)?;
        used_roundtrip_scoped(&mut large, &rounds[0])?;
    }

    #[test]
    fn used_restored_default_buffer(rounds in rounds_strategy()) {
        on_fresh_thread(|| {
            let before = bumper::default_buffer_stats().unwrap().used;
            default_rounds(&rounds)?;
            prop_assert_eq!(bumper::default_buffer_stats().unwrap().used, before);
            Ok(())
        })?;
    }
}

/// Nested default scopes, one per round, each checking that the scopes it opened gave their
/// memory back.
fn default_rounds(rounds: &[Vec<usize>]) -> Result<(), TestCaseError> {
    let Some((sizes, rest)) = rounds.split_first() else {
        return Ok(());
    };
    bumper::no_escape(|s| {
        for &size in sizes {
            let align = 1usize << (size % 8);
            let _ = s.try_alloc_layout(Layout::from_size_align(size, align).unwrap());
        }
        let used = s.stats().unwrap().used;
        let big = s.stats().unwrap().big_allocations;
        default_rounds(rest)?;
        prop_assert_eq!(s.stats().unwrap().used, used);
        prop_assert_eq!(s.stats().unwrap().big_allocations, big);
        Ok(())
    })
}

// ---- checkpoints a buffer must refuse -------------------------------------------------------

#[test]
#[should_panic(expected = "belongs to another buffer")]
fn alloc_buffer_refuses_foreign_checkpoint() {
    let a = AllocBuffer::with_capacity(64);
    let mut b = AllocBuffer::with_capacity(64);
    let cp = a.checkpoint();
    // SAFETY: deliberately breaks the contract; the buffer detects it and panics before acting.
    unsafe { b.restore(cp) };
}

#[test]
#[should_panic(expected = "belongs to another buffer")]
fn borrowed_alloc_buffer_refuses_foreign_checkpoint() {
    let mut storage = [0u8; 128];
    let (left, right) = storage.split_at_mut(64);
    let a = AllocBuffer::from(left);
    let mut b = AllocBuffer::from(right);
    let cp = a.checkpoint();
    // SAFETY: deliberately breaks the contract; the buffer detects it and panics before acting.
    unsafe { b.restore(cp) };
}

#[test]
#[should_panic(expected = "belongs to another buffer")]
fn slab_buffer_refuses_foreign_checkpoint() {
    let a: SlabBuffer<256> = SlabBuffer::with_slab_size();
    let mut b: SlabBuffer<256> = SlabBuffer::with_slab_size();
    let cp = a.checkpoint();
    // SAFETY: deliberately breaks the contract; the buffer detects it and panics before acting.
    unsafe { b.restore(cp) };
}

#[test]
#[should_panic(expected = "already restored or reset past")]
fn alloc_buffer_refuses_checkpoint_restored_past() {
    let mut buf = AllocBuffer::with_capacity(256);
    let early = buf.checkpoint();
    buf.alloc_layout(Layout::new::<[u8; 100]>());
    let late = buf.checkpoint();
    // SAFETY: `early` is valid, and nothing allocated after it is used again.
    unsafe { buf.restore(early) };
    // SAFETY: deliberately breaks the contract; the buffer detects it and panics before acting.
    unsafe { buf.restore(late) };
}

#[test]
#[should_panic(expected = "already restored or reset past")]
fn alloc_buffer_refuses_checkpoint_reset_past() {
    let mut buf = AllocBuffer::with_capacity(256);
    buf.alloc_layout(Layout::new::<[u8; 10]>());
    let cp = buf.checkpoint();
    buf.reset();
    // SAFETY: deliberately breaks the contract; the buffer detects it and panics before acting.
    unsafe { buf.restore(cp) };
}

#[test]
#[should_panic(expected = "already restored or reset past")]
fn slab_buffer_refuses_checkpoint_restored_past_in_same_slab() {
    let mut buf: SlabBuffer<256> = SlabBuffer::with_slab_size();
    let early = buf.checkpoint();
    buf.alloc_layout(Layout::new::<[u8; 100]>());
    let late = buf.checkpoint();
    // SAFETY: `early` is valid, and nothing allocated after it is used again.
    unsafe { buf.restore(early) };
    // SAFETY: deliberately breaks the contract; the buffer detects it and panics before acting.
    unsafe { buf.restore(late) };
}

#[test]
#[should_panic(expected = "already restored or reset past")]
fn slab_buffer_refuses_checkpoint_restored_past_in_later_slab() {
    let mut buf: SlabBuffer<256> = SlabBuffer::with_slab_size();
    buf.alloc_layout(Layout::new::<[u8; 100]>());
    let early = buf.checkpoint();
    for _ in 0..5 {
        buf.alloc_layout(Layout::new::<[u8; 100]>());
    }
    let late = buf.checkpoint();
    assert!(buf.stats().unwrap().slabs >= 3);
    // SAFETY: `early` is valid, and nothing allocated after it is used again.
    unsafe { buf.restore(early) };
    // SAFETY: deliberately breaks the contract; the buffer detects it and panics before acting.
    unsafe { buf.restore(late) };
}

#[test]
#[should_panic(expected = "already restored or reset past")]
fn slab_buffer_refuses_checkpoint_past_a_freed_big_allocation() {
    let mut buf: SlabBuffer<256> = SlabBuffer::with_slab_size();
    let early = buf.checkpoint();
    buf.alloc_layout(Layout::new::<[u8; 1000]>()); // a big allocation: the position stays put
    let late = buf.checkpoint();
    assert_eq!(buf.stats().unwrap().big_allocations, 1);
    // SAFETY: `early` is valid, and nothing allocated after it is used again.
    unsafe { buf.restore(early) };
    // SAFETY: deliberately breaks the contract; the buffer detects it and panics before acting.
    unsafe { buf.restore(late) };
}

#[test]
#[should_panic(expected = "already restored or reset past")]
fn slab_buffer_refuses_checkpoint_reset_past() {
    let mut buf: SlabBuffer<256> = SlabBuffer::with_slab_size();
    for _ in 0..4 {
        buf.alloc_layout(Layout::new::<[u8; 100]>());
    }
    let cp = buf.checkpoint();
    buf.reset();
    // SAFETY: deliberately breaks the contract; the buffer detects it and panics before acting.
    unsafe { buf.restore(cp) };
}

// ---- empty allocations from (nearly) empty fixed buffers ------------------------------------

/// Checks that zero-size requests of every alignment up to 128 get aligned pointers (or are
/// refused: a buffer with no aligned address in its memory may refuse).
fn empty_allocations_aligned(buf: &mut AllocBuffer<'_>) {
    for log2 in 0..=7 {
        let align = 1usize << log2;
        let layout = Layout::from_size_align(0, align).unwrap();
        if let Ok(p) = buf.try_alloc_layout(layout) {
            assert_eq!(
                p.as_ptr() as usize % align,
                0,
                "empty allocation of align {align} at {p:p}, buffer {buf:?} at {:x?}",
                buf.memory_range()
            );
        }
    }
}

#[test]
fn empty_allocations_aligned_in_empty_vec_buffer() {
    // `Vec::new()` has a dangling pointer aligned to 1 only.
    empty_allocations_aligned(&mut AllocBuffer::from(Vec::<u8>::new()));
}

#[test]
fn empty_allocations_aligned_in_empty_boxed_buffer() {
    empty_allocations_aligned(&mut AllocBuffer::from(Vec::<u8>::new().into_boxed_slice()));
}

#[test]
fn empty_allocations_aligned_in_tiny_borrowed_buffers() {
    // Slices too short to reach a 16-byte aligned address, at every offset from one.
    let mut storage = [0u8; 64];
    let base = storage.as_ptr() as usize;
    let aligned = base.next_multiple_of(16) - base;
    for at in aligned..aligned + 16 {
        for len in 0..16 {
            if at + len <= storage.len() {
                empty_allocations_aligned(&mut AllocBuffer::from(&mut storage[at..at + len]));
            }
        }
    }
}

#[test]
fn restoring_the_same_checkpoint_twice_is_fine() {
    let mut fixed = AllocBuffer::with_capacity(256);
    let mut slab: SlabBuffer<256> = SlabBuffer::with_slab_size();
    fn twice<B: Buffer>(buf: &mut B) {
        buf.alloc_layout(Layout::new::<u32>());
        let cp = buf.checkpoint();
        let used = buf.stats().unwrap().used;
        for _ in 0..3 {
            buf.alloc_layout(Layout::new::<[u8; 200]>());
            // SAFETY: `cp` is valid (restoring it again is allowed); the allocation made after
            // it is never used.
            unsafe { buf.restore(cp) };
            assert_eq!(buf.stats().unwrap().used, used);
        }
    }
    twice(&mut fixed);
    twice(&mut slab);
}
