//! Stress: 8 threads in scopes of one `HeapArena` (with `ArenaRouter` as this binary's global
//! allocator) for a while (`STRESS_SECS`, default 2 s): each allocates (plain and zeroed),
//! frees in any order, grows and shrinks blocks (realloc), hands blocks to another thread
//! (which checks and frees them there), resets and trims the arena at random. Every block is
//! checked against the pattern written into it, zeroed ones read as zero, and after the last
//! thread ends a reset finds nothing pinned.
//!
//! Ignored by default (it runs for a fixed time): `scripts/stress.sh`, or
//! `STRESS_SECS=120 cargo test --release -p arena-router --test stress -- --ignored --nocapture`.
#![cfg(not(miri))]

use std::alloc::System;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc;
use std::time::Instant;

use arena_router::{ArenaRouter, HeapArena};

#[global_allocator]
static GLOBAL: ArenaRouter = ArenaRouter::new(System);

use bench_support::stress::{duration, Rng};

const THREADS: usize = 8;

fn pattern(id: u64, i: usize) -> u32 {
    (id.wrapping_mul(0x9e37_79b9) as u32) ^ (i as u32)
}

/// A block with its pattern: `data[i] == pattern(id, i)`.
struct Block {
    id: u64,
    data: Vec<u32>,
}

impl Block {
    fn new(id: u64, len: usize) -> Block {
        Block {
            id,
            data: (0..len).map(|i| pattern(id, i)).collect(),
        }
    }

    fn check(&self, what: &str) {
        for (i, &x) in self.data.iter().enumerate() {
            assert_eq!(
                x,
                pattern(self.id, i),
                "{what} block {}: element {i} changed",
                self.id
            );
        }
    }
}

#[derive(Default)]
struct Counts {
    allocs: AtomicU64,
    zeroed: AtomicU64,
    frees: AtomicU64,
    reallocs: AtomicU64,
    sent: AtomicU64,
    resets: AtomicU64,
    pinned_blocks: AtomicU64,
    trims: AtomicU64,
}

#[test]
#[ignore = "runs for STRESS_SECS; scripts/stress.sh"]
fn stress_heap_arena() {
    let arena = HeapArena::new();
    let until = Instant::now() + duration();
    let counts = Counts::default();
    let ids = AtomicU64::new(1);
    let (senders, receivers): (Vec<_>, Vec<_>) =
        (0..THREADS).map(|_| mpsc::channel::<Block>()).unzip();
    std::thread::scope(|s| {
        for (t, rx) in receivers.into_iter().enumerate() {
            let to_next = senders[(t + 1) % THREADS].clone();
            let (arena, counts, ids) = (&arena, &counts, &ids);
            s.spawn(move || {
                let mut rng = Rng(0x8765_4321 + t as u64 * 0x1_0000_0001);
                arena.scope(|| {
                    let mut live: Vec<Block> = Vec::new();
                    while Instant::now() < until {
                        match rng.below(100) {
                            0..=29 => {
                                let id = ids.fetch_add(1, Relaxed);
                                let max = if rng.below(20) == 0 { 40_000 } else { 600 };
                                let len = 1 + rng.below(max);
                                live.push(Block::new(id, len as usize));
                                counts.allocs.fetch_add(1, Relaxed);
                            }
                            30..=39 => {
                                // vec![0; n] is `alloc_zeroed`.
                                let len = 1 + rng.below(5000) as usize;
                                let z = vec![0u64; len];
                                assert!(z.iter().all(|&x| x == 0), "zeroed memory not zero");
                                let id = ids.fetch_add(1, Relaxed);
                                let mut b = Block {
                                    id,
                                    data: vec![0u32; len],
                                };
                                assert!(b.data.iter().all(|&x| x == 0), "zeroed memory not zero");
                                b.data
                                    .iter_mut()
                                    .enumerate()
                                    .for_each(|(i, x)| *x = pattern(id, i));
                                live.push(b);
                                counts.zeroed.fetch_add(2, Relaxed);
                            }
                            40..=59 if !live.is_empty() => {
                                let k = rng.below(live.len() as u64) as usize;
                                live.swap_remove(k).check("freed");
                                counts.frees.fetch_add(1, Relaxed);
                            }
                            60..=74 if !live.is_empty() => {
                                // Grow or shrink in place or by moving.
                                let k = rng.below(live.len() as u64) as usize;
                                let b = &mut live[k];
                                b.check("before realloc");
                                let new_len = 1 + rng.below(3000) as usize;
                                if new_len > b.data.len() {
                                    b.data.reserve_exact(new_len - b.data.len());
                                    let id = b.id;
                                    let start = b.data.len();
                                    b.data.extend((start..new_len).map(|i| pattern(id, i)));
                                } else {
                                    b.data.truncate(new_len);
                                    b.data.shrink_to_fit();
                                }
                                b.check("after realloc");
                                counts.reallocs.fetch_add(1, Relaxed);
                            }
                            75..=84 if !live.is_empty() => {
                                let k = rng.below(live.len() as u64) as usize;
                                if let Err(mpsc::SendError(b)) = to_next.send(live.swap_remove(k)) {
                                    b.check("unsent");
                                } else {
                                    counts.sent.fetch_add(1, Relaxed);
                                }
                            }
                            85..=87 => {
                                let report = arena.reset();
                                counts.resets.fetch_add(1, Relaxed);
                                counts
                                    .pinned_blocks
                                    .fetch_add(report.pinned_blocks as u64, Relaxed);
                            }
                            88 => {
                                arena.trim();
                                counts.trims.fetch_add(1, Relaxed);
                            }
                            _ => {}
                        }
                        while let Ok(b) = rx.try_recv() {
                            b.check("received");
                            if rng.below(2) == 0 {
                                live.push(b); // freed later, on this thread
                            }
                        }
                        if live.len() > 200 {
                            live.swap_remove(0).check("trimmed");
                        }
                    }
                    for b in &live {
                        b.check("final");
                    }
                });
                drop(to_next);
                // Outside the scope: blocks from another lane, freed on this thread.
                while let Ok(b) = rx.recv() {
                    b.check("late");
                }
            });
        }
        drop(senders);
    });
    let report = arena.reset();
    assert_eq!(
        report.pinned_blocks, 0,
        "blocks still pinned after every thread ended: {report:?}"
    );
    let c = |x: &AtomicU64| x.load(Relaxed);
    let ops = c(&counts.allocs)
        + c(&counts.zeroed)
        + c(&counts.frees)
        + c(&counts.reallocs)
        + c(&counts.sent)
        + c(&counts.resets)
        + c(&counts.trims);
    println!(
        "HeapArena: {THREADS} threads x {:.1} s: {ops} operations ({} allocations, {} zeroed, {} \
         frees, {} reallocs, {} blocks freed on another thread, {} resets pinning {} blocks in \
         all, {} trims)",
        duration().as_secs_f64(),
        c(&counts.allocs),
        c(&counts.zeroed),
        c(&counts.frees),
        c(&counts.reallocs),
        c(&counts.sent),
        c(&counts.resets),
        c(&counts.pinned_blocks),
        c(&counts.trims),
    );
    assert!(c(&counts.allocs) > 0 && c(&counts.resets) > 0);
}
