//! Random lifetimes of arena arrays across resets of a `BumperAllocator` (over each buffer
//! kind), checked against a model: arrays are made (plain and checked), derived from each other
//! (`map`, `+`, `similar` + `assign`), dropped in any order, and the allocator is reset at any
//! point. After every step: no two live arrays share memory, every live unchecked array holds
//! its values (resets never hand out memory a live array uses), checked arrays refuse access
//! once their allocator was reset, and the memory used stays bounded (all of it comes back once
//! no array lives).
//!
//! `cargo +nightly fuzz run arrays` (from `fuzz/`).
#![no_main]

use allocarrays::{
    with_allocator, AllocArray, AutoscalingAllocBuffer, BumperAllocator, CheckedAllocArray,
};
use arbitrary::Arbitrary;
use bumper::{AllocBuffer, Buffer, SlabBuffer};
use libfuzzer_sys::fuzz_target;
use ndarray::Ix1;

const MAX_LIVE: usize = 64;
/// Elements per array at most (f64: 32 KiB).
const MAX_LEN: usize = 4096;
/// What the allocator may hold at most, whatever the input (inputs are at most a few thousand
/// operations of at most `MAX_LEN` elements each).
const CAPACITY_BOUND: usize = 256 << 20;

#[derive(Arbitrary, Debug)]
enum Kind {
    /// 64 KiB slabs; longer arrays get their own allocations.
    Slab,
    /// A main buffer of `n * 64` bytes, grown by additional buffers.
    Autoscaling(u16),
    /// A fixed 8 MiB buffer (arrays are only made while they fit: a full fixed buffer makes
    /// array creation panic, by design).
    Fixed,
}

#[derive(Arbitrary, Debug)]
enum Op {
    New {
        len: u16,
        seed: u8,
    },
    NewChecked {
        len: u16,
        seed: u8,
    },
    /// `map` of a live array.
    Map(u8),
    /// The sum of two live arrays of the same length (or `map` if the lengths differ).
    Add(u8, u8),
    /// `similar` + `assign` of a live array.
    Copy(u8),
    Drop(u8),
    Reset,
    Verify,
}

/// A live array, the values it must hold, and where its elements are (taken when it was made:
/// a checked array refuses access after a reset, but keeps its memory until it is dropped).
struct Live {
    array: Arr,
    expected: Vec<f64>,
    range: (usize, usize),
}

enum Arr {
    Plain(AllocArray<f64, Ix1>),
    /// Valid until the next reset.
    Checked(CheckedAllocArray<f64, Ix1>, bool),
}

impl Live {
    fn new(array: Arr, expected: Vec<f64>) -> Live {
        let (p, len) = match &array {
            Arr::Plain(a) => (a.as_slice().as_ptr() as usize, a.len()),
            Arr::Checked(a, _) => (a.try_as_slice().expect("new").as_ptr() as usize, a.len()),
        };
        Live {
            array,
            expected,
            range: (p, p + len * 8),
        }
    }

    fn range(&self) -> (usize, usize) {
        self.range
    }

    fn verify(&self) {
        match &self.array {
            Arr::Plain(a) => assert_eq!(a.as_slice(), &self.expected[..], "values changed"),
            Arr::Checked(a, valid) => {
                if *valid {
                    let s = a
                        .try_as_slice()
                        .expect("checked array valid before any reset");
                    assert_eq!(s, &self.expected[..], "values changed");
                } else {
                    assert!(a.check().is_err(), "checked array usable after a reset");
                }
            }
        }
    }

    /// The values, for deriving new arrays (plain view of a checked array only while valid).
    fn values(&self) -> Option<&[f64]> {
        match &self.array {
            Arr::Plain(a) => Some(a.as_slice()),
            Arr::Checked(a, true) => Some(a.try_as_slice().expect("valid")),
            Arr::Checked(_, false) => None,
        }
    }
}

fn values(len: usize, seed: u8) -> Vec<f64> {
    (0..len).map(|i| (i as f64) * 0.5 + seed as f64).collect()
}

fn run<B: Buffer + Send + 'static>(alloc: BumperAllocator<B>, fixed: bool, ops: &[Op]) {
    let mut live: Vec<Live> = Vec::new();
    for op in ops {
        if fixed {
            // Room for the largest array this op can make, whatever the alignment padding.
            let stats = alloc.stats();
            if stats.capacity - stats.used < MAX_LEN * 8 + 64
                && !matches!(op, Op::Reset | Op::Drop(_))
            {
                continue;
            }
        }
        with_allocator(&alloc, || match op {
            Op::New { len, seed } | Op::NewChecked { len, seed } if live.len() < MAX_LIVE => {
                let len = *len as usize % (MAX_LEN + 1);
                let expected = values(len, *seed);
                let array = if matches!(op, Op::New { .. }) {
                    let a = AllocArray::from_shape_fn(len, |i| expected[i]);
                    assert!(
                        len == 0 || a.is_arena(),
                        "made under with_allocator: arena memory"
                    );
                    Arr::Plain(a)
                } else {
                    Arr::Checked(CheckedAllocArray::from_shape_fn(len, |i| expected[i]), true)
                };
                live.push(Live::new(array, expected));
            }
            Op::Map(i) if !live.is_empty() && live.len() < MAX_LIVE => {
                let src = &live[*i as usize % live.len()];
                if let (Arr::Plain(a), Some(v)) = (&src.array, src.values()) {
                    let expected: Vec<f64> = v.iter().map(|x| x * 2.0 + 1.0).collect();
                    let b = a.map(|x| x * 2.0 + 1.0);
                    live.push(Live::new(Arr::Plain(b), expected));
                }
            }
            Op::Add(i, j) if !live.is_empty() && live.len() < MAX_LIVE => {
                let (i, j) = (*i as usize % live.len(), *j as usize % live.len());
                if let (Arr::Plain(a), Arr::Plain(b)) = (&live[i].array, &live[j].array) {
                    if a.len() == b.len() {
                        let expected: Vec<f64> = live[i]
                            .expected
                            .iter()
                            .zip(&live[j].expected)
                            .map(|(x, y)| x + y)
                            .collect();
                        let c = a + b;
                        live.push(Live::new(Arr::Plain(c), expected));
                    }
                }
            }
            Op::Copy(i) if !live.is_empty() && live.len() < MAX_LIVE => {
                let src = &live[*i as usize % live.len()];
                if let Arr::Plain(a) = &src.array {
                    let mut b = a.similar();
                    b.assign(a);
                    let expected = src.expected.clone();
                    live.push(Live::new(Arr::Plain(b), expected));
                }
            }
            Op::Drop(i) if !live.is_empty() => {
                let k = *i as usize % live.len();
                live[k].verify();
                live.swap_remove(k);
            }
            Op::Reset => {
                let report = alloc.reset();
                // Empty arena arrays hold a lease too (and pin no bytes).
                assert!(
                    report.pinned_arrays <= live.len(),
                    "{report:?} with {} live",
                    live.len()
                );
                let bytes: usize = live.iter().map(|l| l.range().1 - l.range().0).sum();
                if bytes == 0 {
                    assert_eq!(report.pinned_bytes, 0, "{report:?}: pinned bytes with none live");
                }
                for l in &mut live {
                    if let Arr::Checked(_, valid) = &mut l.array {
                        *valid = false;
                    }
                }
            }
            _ => {}
        });
        // No two live arrays share memory.
        let mut ranges: Vec<(usize, usize)> = live
            .iter()
            .map(Live::range)
            .filter(|(s, e)| s != e)
            .collect();
        ranges.sort_unstable();
        for w in ranges.windows(2) {
            assert!(
                w[0].1 <= w[1].0,
                "live arrays overlap: {:x?} and {:x?}",
                w[0],
                w[1]
            );
        }
        for l in &live {
            l.verify();
        }
        let stats = alloc.stats();
        assert!(
            stats.capacity <= CAPACITY_BOUND,
            "allocator grew to {stats:?}"
        );
        assert!(
            stats.live_arrays <= live.len(),
            "{stats:?} with {} live",
            live.len()
        );
    }
    // Once nothing lives, a reset gives every byte back.
    drop(live);
    alloc.reset();
    let stats = alloc.stats();
    assert_eq!(
        (stats.used, stats.live_arrays),
        (0, 0),
        "memory kept after everything was dropped"
    );
}

fuzz_target!(|input: (Kind, Vec<Op>)| {
    let (kind, ops) = input;
    match kind {
        Kind::Slab => run(
            BumperAllocator::new(SlabBuffer::<65536>::with_slab_size()),
            false,
            &ops,
        ),
        Kind::Autoscaling(n) => run(
            BumperAllocator::new(AutoscalingAllocBuffer::with_initial_size(n as usize * 64)),
            false,
            &ops,
        ),
        Kind::Fixed => run(
            BumperAllocator::new(AllocBuffer::with_capacity(8 << 20)),
            true,
            &ops,
        ),
    }
});
