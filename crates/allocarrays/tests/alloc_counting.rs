//! The steady state of the loop the allocators exist for,
//!
//! ```text
//! loop { with_allocator(&alloc, || { /* many allocations */ }); alloc.reset(); }
//! ```
//!
//! makes no call to the system allocator once warmed up. A counting `#[global_allocator]`
//! (forwarding to `System`) counts the calls per thread, and a test reads those of its own
//! thread around the work, so the test harness's other threads don't disturb the figures.
//!
//! (Not for Miri: it counts real allocator calls and runs many iterations.)
#![cfg(not(miri))]

use std::alloc::{Layout, System};

use allocarrays::{
    with_allocator, ArrayAllocator, AutoscalingAllocBuffer, BumperAllocator, Lease,
    UncheckedBumperAllocator,
};
use bench_support::counting::{counted as counting, Counting, Counts as Calls};
use bumper::{Buffer, SlabBuffer};

/// Forwards to `System`, counting the calls each thread makes.
#[global_allocator]
static GLOBAL: Counting<System> = Counting::new(System);

#[test]
fn the_counter_counts() {
    let (v, calls) = counting(|| std::hint::black_box(vec![1u8; 100]));
    assert_eq!(calls.allocs, 1);
    let ((), calls) = counting(|| drop(v));
    assert_eq!(calls.frees, 1);
    let ((), calls) = counting(|| ());
    assert_eq!(calls, Calls::ZERO);
}

/// Allocations per iteration, and how many of them are still alive at the reset.
const PER_ITERATION: usize = 200;
const WARM_UP: usize = 10;
const MEASURED: usize = 200;

/// The sizes and alignments of one iteration's requests (the same every iteration, like one
/// inference batch): small to a few KiB, alignments 1 to 64.
fn request(i: usize) -> Layout {
    let size = 1 + (i * 37) % 3000;
    let align = 1 << (i % 7);
    Layout::from_size_align(size, align).unwrap()
}

/// One iteration's allocations inside `with_allocator`: half of the leases are dropped at once
/// (temporaries), the other half kept in `kept` (arrays alive until the end of the iteration).
fn iteration<A: ArrayAllocator>(alloc: &A, kept: &mut Vec<Lease>, checked: bool) {
    with_allocator(alloc, || {
        for i in 0..PER_ITERATION {
            let (ptr, lease) = alloc
                .allocate(request(i), checked && i % 3 == 0)
                .expect("allocation failed");
            // SAFETY: a fresh block of at least one byte, ours while the lease lives.
            unsafe { ptr.as_ptr().write(i as u8) };
            if i % 2 == 0 {
                kept.push(lease);
            }
        }
    });
}

/// What the measured iterations cost in system allocator calls: in the `with_allocator` part
/// and in the `reset` part.
#[derive(Debug)]
struct Steady {
    allocate: Calls,
    reset: Calls,
}

/// Runs the loop: warm-up, then `MEASURED` counted iterations. `pinned` keeps one lease of the
/// first iteration alive throughout (an array that escaped into a cache), so every reset
/// rewinds only the later epochs.
fn steady_state<A: ArrayAllocator>(alloc: &A, checked: bool, pinned: bool) -> Steady {
    // Room for the kept leases, made outside the counting.
    let mut kept: Vec<Lease> = Vec::with_capacity(PER_ITERATION);
    let mut escaped: Option<Lease> = None;
    for _ in 0..WARM_UP {
        iteration(alloc, &mut kept, checked);
        if pinned && escaped.is_none() {
            escaped = kept.pop();
        }
        kept.clear();
        alloc.reset();
    }
    let mut steady = Steady {
        allocate: Calls::ZERO,
        reset: Calls::ZERO,
    };
    for _ in 0..MEASURED {
        let ((), calls) = counting(|| {
            iteration(alloc, &mut kept, checked);
            kept.clear(); // drops the leases: no allocator call
        });
        steady.allocate += calls;
        let (report, calls) = counting(|| alloc.reset());
        steady.reset += calls;
        assert_eq!(report.pinned_arrays, usize::from(pinned), "{report:?}");
    }
    drop(escaped);
    steady
}

/// Asserts that the `with_allocator` part of every measured iteration made no system call.
fn assert_allocate_free(name: &str, steady: &Steady) {
    assert_eq!(
        steady.allocate,
        Calls::ZERO,
        "{name}: the with_allocator part made {} over {MEASURED} iterations",
        steady.allocate
    );
}

fn autoscaling_small() -> AutoscalingAllocBuffer {
    // Far too small for one iteration (~300 KB): the warm-up grows it, then it must stay put.
    AutoscalingAllocBuffer::with_initial_size(4096)
}

fn fixed() -> BumperAllocator<bumper::AllocBuffer<'static>> {
    BumperAllocator::with_fixed_capacity(1 << 20)
}

/// Every configuration the loop runs on, with its name.
fn for_each_config(mut f: impl FnMut(&str, &dyn Fn(bool, bool) -> Steady)) {
    f("BumperAllocator::default()", &|c, p| {
        steady_state(&BumperAllocator::default(), c, p)
    });
    f("BumperAllocator(Autoscaling 4 KiB start)", &|c, p| {
        steady_state(&BumperAllocator::new(autoscaling_small()), c, p)
    });
    f("BumperAllocator::with_fixed_capacity(1 MiB)", &|c, p| {
        steady_state(&fixed(), c, p)
    });
    f("BumperAllocator(SlabBuffer<64 KiB>)", &|c, p| {
        steady_state(
            &BumperAllocator::new(SlabBuffer::<65536>::with_slab_size()),
            c,
            p,
        )
    });
    f("UncheckedBumperAllocator::default()", &|_, p| {
        steady_state(&UncheckedBumperAllocator::default(), false, p)
    });
    f(
        "UncheckedBumperAllocator::with_fixed_capacity(1 MiB)",
        &|_, p| {
            steady_state(
                &UncheckedBumperAllocator::with_fixed_capacity(1 << 20),
                false,
                p,
            )
        },
    );
}

#[test]
fn allocating_inside_with_allocator_makes_no_system_calls() {
    for_each_config(|name, run| {
        for (checked, pinned) in [(false, false), (true, false), (false, true)] {
            let steady = run(checked, pinned);
            assert_allocate_free(
                &format!("{name} checked={checked} pinned={pinned}"),
                &steady,
            );
        }
    });
}

/// The whole loop, reset included. Reports every configuration before failing.
#[test]
fn steady_state_loop_makes_no_system_calls() {
    let mut failures = Vec::new();
    for_each_config(|name, run| {
        for (checked, pinned) in [(false, false), (true, false), (false, true)] {
            let steady = run(checked, pinned);
            let label = format!("{name} checked={checked} pinned={pinned}");
            assert_allocate_free(&label, &steady);
            if steady.reset != Calls::ZERO {
                failures.push(format!(
                    "{label}: {MEASURED} resets made {} ({:.2} alloc per reset)",
                    steady.reset,
                    steady.reset.allocs as f64 / MEASURED as f64
                ));
            }
        }
    });
    assert!(
        failures.is_empty(),
        "system allocator calls in the steady state:\n{}",
        failures.join("\n")
    );
}

/// The buffers alone (no allocator around them) need no system call in the steady state
/// either: a reset of the bare buffer is free, so any call above comes from the allocator.
#[test]
fn bare_buffers_reset_without_system_calls() {
    fn run<B: Buffer>(name: &str, mut buf: B) {
        let cycle = |buf: &mut B| {
            for i in 0..PER_ITERATION {
                buf.try_alloc_layout(request(i)).unwrap();
            }
            buf.reset();
        };
        for _ in 0..WARM_UP {
            cycle(&mut buf);
        }
        let ((), calls) = counting(|| {
            for _ in 0..MEASURED {
                cycle(&mut buf);
            }
        });
        assert_eq!(calls, Calls::ZERO, "{name}: {calls}");
    }
    run(
        "AutoscalingAllocBuffer::new()",
        AutoscalingAllocBuffer::new(),
    );
    run("AutoscalingAllocBuffer 4 KiB start", autoscaling_small());
    run(
        "AllocBuffer 1 MiB",
        bumper::AllocBuffer::with_capacity(1 << 20),
    );
    run("SlabBuffer<64 KiB>", SlabBuffer::<65536>::with_slab_size());
}
