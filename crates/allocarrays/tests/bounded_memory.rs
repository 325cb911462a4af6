//! Memory stays bounded when arrays live across resets: a loop that carries a small state array
//! from step to step (`state = with_allocator(&alloc, || &state + step()); alloc.reset();`) must
//! reuse the memory of every dead array, whatever order the arrays die in. Checked under a fixed
//! 1 MiB allocator (which would fail with "bump buffer full" otherwise), with `stats().used`
//! flat after a warm-up, and the process's resident memory flat too (`/proc/self/statm`).

use allocarrays::{
    with_allocator, AllocArray, BumperAllocator, CheckedAllocArray, UncheckedBumperAllocator,
};
use ndarray::Ix1;

/// Steps per scenario (a few under Miri, which checks the memory accesses instead).
const STEPS: usize = if cfg!(miri) { 40 } else { 100_000 };
/// Steps before the usage is taken as the steady level.
const WARM_UP: usize = if cfg!(miri) { 20 } else { 1_000 };
/// State length: 16 `f64`, 128 bytes.
const STATE: usize = 16;
/// The fixed buffer: 1 MiB.
const FIXED: usize = 1 << 20;

/// One step's work: temporaries of a few KiB (all dead by the reset) and a new state.
fn step(state: &AllocArray<f64, Ix1>, k: usize) -> AllocArray<f64, Ix1> {
    let wide = AllocArray::<f64, Ix1>::from_shape_fn(STATE * 16, |i| (i + k) as f64);
    let mut sum = 0.0;
    for chunk in wide.view().exact_chunks(STATE) {
        sum += chunk.sum();
    }
    let delta = AllocArray::<f64, Ix1>::from_elem(STATE, 1.0);
    let scaled = &delta * 2.0;
    let _ = sum;
    state + &scaled
}

/// Resident pages of this process, or `None` where `/proc` is not there (or under Miri).
fn resident_pages() -> Option<usize> {
    if cfg!(miri) {
        return None; // no `/proc` inside Miri's isolation
    }
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    statm.split_whitespace().nth(1)?.parse().ok()
}

/// The resident set is the whole process's: the tests of this binary run one at a time, so
/// none sees another's memory come and go.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Tracks `used` and the resident set after warm-up: both must stay flat.
struct Flat {
    _turn: std::sync::MutexGuard<'static, ()>,
    name: &'static str,
    used: Option<usize>,
    rss: Option<usize>,
}

impl Flat {
    fn new(name: &'static str) -> Self {
        Flat {
            _turn: turn(),
            name,
            used: None,
            rss: None,
        }
    }

    fn check(&mut self, k: usize, used: usize) {
        if k < WARM_UP {
            return;
        }
        let Some(baseline) = self.used else {
            self.used = Some(used);
            self.rss = resident_pages();
            return;
        };
        // A chunk of slack: which of the recycled chunks a step lands in may vary.
        assert!(
            used <= baseline + 64 * 1024,
            "{}: used grew from {baseline} to {used} bytes by step {k}",
            self.name
        );
        if k % 10_000 == 0 {
            if let (Some(before), Some(now)) = (self.rss, resident_pages()) {
                // Small noise allowed (the test harness's own threads): 1 MiB of 4 KiB pages.
                assert!(
                    now <= before + 256,
                    "{}: resident pages grew from {before} to {now} by step {k}",
                    self.name
                );
            }
        }
    }
}

#[test]
fn sliding_state_reuses_memory() {
    let alloc = BumperAllocator::with_fixed_capacity(FIXED);
    let mut state = AllocArray::<f64, Ix1>::zeros(STATE);
    let mut flat = Flat::new("sliding state");
    for k in 0..STEPS {
        state = with_allocator(&alloc, || step(&state, k));
        let report = alloc.reset();
        assert_eq!(report.pinned_arrays, 1, "step {k}: {report:?}");
        flat.check(k, alloc.stats().used);
    }
    assert!(state.iter().all(|&v| v == 2.0 * STEPS as f64));
    println!(
        "sliding state: {} bytes used after {STEPS} steps",
        alloc.stats().used
    );
}

#[test]
fn sliding_state_reuses_memory_unchecked_allocator() {
    let alloc = UncheckedBumperAllocator::with_fixed_capacity(FIXED);
    let mut state = AllocArray::<f64, Ix1>::zeros(STATE);
    let mut flat = Flat::new("sliding state, unchecked allocator");
    for k in 0..STEPS {
        state = with_allocator(&alloc, || step(&state, k));
        alloc.reset();
        flat.check(k, alloc.stats().used);
    }
    assert!(state.iter().all(|&v| v == 2.0 * STEPS as f64));
}

#[test]
fn two_interleaved_states_reuse_memory() {
    let alloc = BumperAllocator::with_fixed_capacity(FIXED);
    let mut a = AllocArray::<f64, Ix1>::zeros(STATE);
    let mut b = AllocArray::<f64, Ix1>::zeros(STATE);
    let mut flat = Flat::new("two interleaved states");
    for k in 0..STEPS {
        // Each state lives two steps and dies while the other one lives.
        if k % 2 == 0 {
            a = with_allocator(&alloc, || step(&a, k));
        } else {
            b = with_allocator(&alloc, || step(&b, k));
        }
        // (At step 0, `b` is still the heap array it started as.)
        assert_eq!(
            alloc.reset().pinned_arrays,
            1 + usize::from(k > 0),
            "step {k}"
        );
        flat.check(k, alloc.stats().used);
    }
    let half = (STEPS / 2) as f64;
    assert!(a.iter().all(|&v| v == 2.0 * half));
    assert!(b.iter().all(|&v| v == 2.0 * half));
}

#[test]
fn a_state_kept_ten_steps_reuses_memory() {
    let alloc = BumperAllocator::with_fixed_capacity(FIXED);
    let mut kept = AllocArray::<f64, Ix1>::zeros(STATE);
    let mut state = AllocArray::<f64, Ix1>::zeros(STATE);
    let mut flat = Flat::new("a state replaced every 10th step");
    for k in 0..STEPS {
        state = with_allocator(&alloc, || step(&state, k));
        if k % 10 == 0 {
            // Replaced only every 10th step: it lives across ten resets, while the arrays
            // made after it die at every one.
            kept = with_allocator(&alloc, || &kept + 1.0);
        }
        alloc.reset();
        flat.check(k, alloc.stats().used);
    }
    assert!(kept.iter().all(|&v| v == STEPS.div_ceil(10) as f64));
    assert!(state.iter().all(|&v| v == 2.0 * STEPS as f64));
}

#[test]
fn a_checked_state_refuses_access_after_the_reset_but_keeps_its_memory() {
    let _turn = turn();
    let alloc = BumperAllocator::with_fixed_capacity(FIXED);
    let mut state = CheckedAllocArray::<f64, Ix1>::zeros(STATE);
    for k in 0..if cfg!(miri) { 10 } else { 1000 } {
        let next = with_allocator(&alloc, || {
            let temp = CheckedAllocArray::<f64, Ix1>::from_elem(STATE * 8, 1.0);
            let one = temp.try_sum().unwrap() / (STATE * 8) as f64;
            &state + one
        });
        // Copied out to the heap before the reset: the way to carry a checked array over it.
        let values = next.try_to_array().unwrap();
        assert_eq!(alloc.reset().pinned_arrays, 1);
        // Made before the reset: its memory is kept (pinned) but access is refused.
        assert!(next.check().is_err(), "step {k}");
        assert!(next.try_sum().is_err());
        drop(next);
        state = CheckedAllocArray::from(values);
    }
    let steps = if cfg!(miri) { 10.0 } else { 1000.0 };
    assert!(state.try_view().unwrap().iter().all(|&v| v == steps));
}

#[test]
fn live_memory_is_never_handed_out_again() {
    let _turn = turn();
    // Every state keeps a pattern; every step fills its temporaries with another one. If a
    // temporary ever landed on a live state, the state's pattern would break.
    let alloc = BumperAllocator::with_fixed_capacity(64 * 1024);
    let mut states: Vec<AllocArray<u64, Ix1>> = Vec::new();
    for k in 0..if cfg!(miri) { 30 } else { 20_000 } {
        let kept = with_allocator(&alloc, || {
            let _temps: Vec<AllocArray<u64, Ix1>> = (0..3)
                .map(|t| AllocArray::from_elem(40 + t * 7, u64::MAX - k as u64))
                .collect();
            AllocArray::<u64, Ix1>::from_elem(8 + k % 5, k as u64)
        });
        states.push(kept);
        // States die in scrambled order: drop one chosen by a simple hash.
        if states.len() > 6 {
            let victim = (k * 7919) % states.len();
            states.swap_remove(victim);
        }
        alloc.reset();
        for s in &states {
            let tag = s[0];
            assert!(s.iter().all(|&v| v == tag), "a live array was overwritten");
            assert_eq!(s.len(), 8 + (tag as usize) % 5);
        }
    }
}
