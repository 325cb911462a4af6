//! The steady state of the loop the allocators exist for,
//!
//! ```text
//! loop { with_allocator(&alloc, || { /* many allocations */ }); alloc.reset(); }
//! ```
//!
//! makes no call to the system allocator once warmed up. A counting `#[global_allocator]`
//! (forwarding to `System`) counts the calls made on the current thread while counting is on,
//! so the test harness's own threads don't disturb the figures.
//!
//! (Not for Miri: it counts real allocator calls and runs many iterations.)
#![cfg(not(miri))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fmt;

use allocarrays::{
    with_allocator, ArrayAllocator, AutoscalingAllocBuffer, BumperAllocator, Lease,
    UncheckedBumperAllocator,
};
use bumper::{Buffer, SlabBuffer};

/// Forwards to `System`, counting the calls made on a thread while its counting is on.
struct Counting;

std::thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
    static REALLOCS: Cell<usize> = const { Cell::new(0) };
    static DEALLOCS: Cell<usize> = const { Cell::new(0) };
}

/// Adds one to `counter` if counting is on on this thread. Const-initialised thread-locals
/// without destructors: reaching them never allocates.
fn note(counter: &'static std::thread::LocalKey<Cell<usize>>) {
    if ON.try_with(Cell::get).unwrap_or(false) {
        let _ = counter.try_with(|c| c.set(c.get() + 1));
    }
}

// SAFETY: every call is forwarded unchanged to `System`; the counting touches only
// thread-locals that need no allocation.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(&ALLOCS);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(&ALLOCS);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(&REALLOCS);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(&DEALLOCS);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// System allocator calls made by one piece of work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Calls {
    allocs: usize,
    reallocs: usize,
    deallocs: usize,
}

impl Calls {
    const NONE: Calls = Calls {
        allocs: 0,
        reallocs: 0,
        deallocs: 0,
    };

    fn add(&mut self, other: Calls) {
        self.allocs += other.allocs;
        self.reallocs += other.reallocs;
        self.deallocs += other.deallocs;
    }
}

impl fmt::Display for Calls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} alloc, {} realloc, {} dealloc",
            self.allocs, self.reallocs, self.deallocs
        )
    }
}

/// Runs `f` with counting on, and returns the calls it made on this thread.
fn counting<R>(f: impl FnOnce() -> R) -> (R, Calls) {
    let read = || Calls {
        allocs: ALLOCS.with(Cell::get),
        reallocs: REALLOCS.with(Cell::get),
        deallocs: DEALLOCS.with(Cell::get),
    };
    let before = read();
    ON.with(|on| on.set(true));
    let r = f();
    ON.with(|on| on.set(false));
    let after = read();
    (
        r,
        Calls {
            allocs: after.allocs - before.allocs,
            reallocs: after.reallocs - before.reallocs,
            deallocs: after.deallocs - before.deallocs,
        },
    )
}

#[test]
fn the_counter_counts() {
    let (v, calls) = counting(|| std::hint::black_box(vec![1u8; 100]));
    assert_eq!(calls.allocs, 1);
    let ((), calls) = counting(|| drop(v));
    assert_eq!(calls.deallocs, 1);
    let ((), calls) = counting(|| ());
    assert_eq!(calls, Calls::NONE);
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
        allocate: Calls::NONE,
        reset: Calls::NONE,
    };
    for _ in 0..MEASURED {
        let ((), calls) = counting(|| {
            iteration(alloc, &mut kept, checked);
            kept.clear(); // drops the leases: no allocator call
        });
        steady.allocate.add(calls);
        let (report, calls) = counting(|| alloc.reset());
        steady.reset.add(calls);
        assert_eq!(report.pinned_arrays, usize::from(pinned), "{report:?}");
    }
    drop(escaped);
    steady
}

/// Asserts that the `with_allocator` part of every measured iteration made no system call.
fn assert_allocate_free(name: &str, steady: &Steady) {
    assert_eq!(
        steady.allocate,
        Calls::NONE,
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
        steady_state(&BumperAllocator::new(SlabBuffer::<65536>::new()), c, p)
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
            if steady.reset != Calls::NONE {
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
        assert_eq!(calls, Calls::NONE, "{name}: {calls}");
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
    run("SlabBuffer<64 KiB>", SlabBuffer::<65536>::new());
}
