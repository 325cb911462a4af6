//! The seed's `DigitsModel` inference benchmark: random images through the CNN of
//! [`crate::model`] in batches, the same model code on plain `ndarray` input and on arena input
//! (as the seed's `infer_batches!` with `data`, `AllocArray.(data)`, the adapted model and
//! `CheckedAllocArray.(data)`).

use std::cell::RefCell;
use std::hint::black_box;

use allocarrays::{
    infer_batch, with_allocator, AllocArray, ArrayAllocator, BumperAllocator, CheckedAllocArray,
    HeapArena, ToAllocArrays,
};
use ndarray::{s, Array2, Array4, ArrayView2, Axis, Ix4};

use crate::alloc_stack::{per_backend, Backend};
use crate::measure::{
    checked_target, rows_of, time_target, zero_calls_target, CaseResult, Runner, Variant,
    MIMALLOC_TIME_LIMIT,
};
use crate::model::{random_images, DigitsModel, CLASSES};
use crate::report::{Row, Target, Workload};

/// Sizes of the measurement.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Images (the seed: 1000).
    pub images: usize,
    /// Images per batch (the seed: 32; the last batch may be smaller).
    pub batch: usize,
    /// Measured rounds (passes over all images per variant and backend).
    pub rounds: usize,
}

/// Bytes of the fixed arena (the seed's `BumperAllocator(n)` form).
pub const FIXED_ARENA_BYTES: usize = 64 << 20;
/// Seed of the model's weights.
pub const MODEL_SEED: u64 = 0x5EED_0001;
/// Seed of the images.
pub const IMAGES_SEED: u64 = 0x5EED_0002;

/// The variants, in the order of the table; the first is the baseline.
pub const PLAIN: &str = "ndarray";
/// `AllocArray` input, fixed arena.
pub const ALLOC_FIXED: &str = "AllocArray, 64 MiB arena";
/// `AllocArray` input through `infer_batch` (copies the batch in and the output out).
pub const ALLOC_INFER: &str = "AllocArray, `infer_batch`";
/// `AllocArray` input, default (autoscaling) arena.
pub const ALLOC_AUTO: &str = "AllocArray, default arena";
/// `AllocArray` input and weights, fixed arena.
pub const ALLOC_MODEL: &str = "AllocArray + weights";
/// `CheckedAllocArray` input, fixed arena.
pub const CHECKED: &str = "CheckedAllocArray";
/// Plain `ndarray` input and model, every heap allocation routed to a `HeapArena` (with
/// `allocarrays::ArenaRouter` as the global allocator).
pub const ROUTED: &str = "ndarray, HeapArena";

/// Runs `f` with `alloc` as the current allocator, then resets it (the seed's
/// `with_allocator(b) do ... reset!(b) end`).
fn in_arena<R>(alloc: &impl ArrayAllocator, f: impl FnOnce() -> R) -> R {
    let result = with_allocator(alloc, f);
    alloc.reset();
    result
}

/// The images split into batches of `batch`.
fn batches(images: &Array4<f32>, batch: usize) -> Vec<Array4<f32>> {
    images
        .axis_chunks_iter(Axis(0), batch)
        .map(|b| b.to_owned())
        .collect()
}

/// Where each variant writes its predictions: one `(images, 10)` matrix per backend.
type Predictions = [RefCell<Array2<f32>>; 2];

fn predictions(images: usize) -> Predictions {
    std::array::from_fn(|_| RefCell::new(Array2::zeros((images, CLASSES))))
}

/// Writes `y`, the output of batch `i`, into its rows of the predictions made under `backend`.
fn store(preds: &Predictions, backend: Backend, i: usize, batch: usize, y: ArrayView2<'_, f32>) {
    let mut preds = preds[backend.index()].borrow_mut();
    let start = i * batch;
    preds.slice_mut(s![start..start + y.nrows(), ..]).assign(&y);
}

/// The variants' names, in table order.
const NAMES: [&str; 7] = [
    PLAIN,
    ALLOC_FIXED,
    ALLOC_INFER,
    ALLOC_AUTO,
    ALLOC_MODEL,
    CHECKED,
    ROUTED,
];

/// Whether each variant of [`NAMES`] runs in an arena.
const IN_ARENA: [bool; 7] = [false, true, true, true, true, true, true];

/// The model and the data, on the heap and as arena arrays, made once before measuring.
struct Inputs {
    model: DigitsModel,
    aa_model: <DigitsModel as ToAllocArrays>::Output,
    plain: Vec<Array4<f32>>,
    alloc: Vec<AllocArray<f32, Ix4>>,
    checked: Vec<CheckedAllocArray<f32, Ix4>>,
}

impl Inputs {
    fn new(config: &Config) -> Inputs {
        let model = DigitsModel::random(MODEL_SEED);
        let aa_model = model.clone().to_alloc_arrays();
        let images = random_images(IMAGES_SEED, config.images);
        // The data, converted once per kind, as the seed's `AllocArray.(data)` (heap copies).
        let plain = batches(&images, config.batch);
        let alloc = plain.iter().cloned().map(AllocArray::from).collect();
        let checked = plain.iter().cloned().map(CheckedAllocArray::from).collect();
        Inputs {
            model,
            aa_model,
            plain,
            alloc,
            checked,
        }
    }
}

/// An arena of [`FIXED_ARENA_BYTES`].
type FixedArena = BumperAllocator<bumper::AllocBuffer<'static>>;

/// The arenas of the arena variants: each has one allocator per backend, whose buffer comes
/// from that backend.
struct Arenas {
    fixed: [FixedArena; 2],
    fixed_infer: [FixedArena; 2],
    fixed_model: [FixedArena; 2],
    fixed_checked: [FixedArena; 2],
    auto: [BumperAllocator; 2],
    heap: [HeapArena; 2],
}

impl Arenas {
    fn new() -> Arenas {
        let fixed_arena = || BumperAllocator::with_fixed_capacity(FIXED_ARENA_BYTES);
        Arenas {
            fixed: per_backend(fixed_arena),
            fixed_infer: per_backend(fixed_arena),
            fixed_model: per_backend(fixed_arena),
            fixed_checked: per_backend(fixed_arena),
            auto: per_backend(BumperAllocator::default),
            heap: per_backend(HeapArena::new),
        }
    }
}

/// A boxed step of the runner.
type Step<'a> = Box<dyn FnMut(usize, Backend) + 'a>;

/// A step that runs `f` with the arena of the step's backend as the current allocator, then
/// resets that arena.
fn arena_step<'a, A: ArrayAllocator>(
    arenas: &'a [A; 2],
    f: impl Fn(usize, Backend) + 'a,
) -> Step<'a> {
    Box::new(move |i, backend| in_arena(&arenas[backend.index()], || f(i, backend)))
}

/// One step per variant of [`NAMES`]: batch `i` through the model under the given backend,
/// the output stored in the variant's predictions `preds[v]`.
fn steps<'a>(
    inputs: &'a Inputs,
    arenas: &'a Arenas,
    preds: &'a [Predictions],
    batch: usize,
) -> Vec<Step<'a>> {
    let (model, aa_model) = (&inputs.model, &inputs.aa_model);
    let (plain, alloc, checked) = (&inputs.plain, &inputs.alloc, &inputs.checked);
    // Batch `i` of each kind of input through the model, into the predictions of variant `v`.
    let plain_batch = move |v: usize, i: usize, b: Backend| {
        store(
            &preds[v],
            b,
            i,
            batch,
            model.forward(black_box(&plain[i])).view(),
        );
    };
    let alloc_batch = move |v: usize, i: usize, b: Backend| {
        store(
            &preds[v],
            b,
            i,
            batch,
            model.forward(black_box(&alloc[i])).view(),
        );
    };
    vec![
        Box::new(move |i, b| plain_batch(0, i, b)),
        arena_step(&arenas.fixed, move |i, b| alloc_batch(1, i, b)),
        Box::new(move |i, b| {
            let y = infer_batch(
                &arenas.fixed_infer[b.index()],
                |x: AllocArray<f32, Ix4>| model.forward(&x),
                black_box(&plain[i]).view(),
            );
            store(&preds[2], b, i, batch, y.view());
        }),
        arena_step(&arenas.auto, move |i, b| alloc_batch(3, i, b)),
        arena_step(&arenas.fixed_model, move |i, b| {
            let y = aa_model.forward(black_box(&alloc[i]));
            store(&preds[4], b, i, batch, y.view());
        }),
        arena_step(&arenas.fixed_checked, move |i, b| {
            let y = model.forward(black_box(&checked[i]));
            store(&preds[5], b, i, batch, y.view());
        }),
        Box::new(move |i, b| {
            let arena = &arenas.heap[b.index()];
            arena.scope(|| plain_batch(6, i, b));
            // A lenient arena: the reset always succeeds.
            let _ = arena.reset();
        }),
    ]
}

/// The largest absolute difference of variant `v`'s predictions under backend `b` from the
/// plain variant's under System.
fn max_abs_diff(preds: &[Predictions], v: usize, b: usize) -> f64 {
    let reference = preds[0][0].borrow();
    let other = preds[v][b].borrow();
    let d = ndarray::Zip::from(&*reference)
        .and(&*other)
        .fold(0.0f32, |acc, &x, &y| acc.max((x - y).abs()));
    f64::from(d)
}

/// The targets: every arena variant no slower than `ndarray` under either backend, no
/// allocator calls per batch where the output is copied into the predictions, checked within
/// 2x of unchecked.
fn targets(rows: &[Row], results: &[[CaseResult; 2]]) -> Vec<Target> {
    let in_arena_variants = &NAMES[1..];
    vec![
        time_target(KEY, rows, in_arena_variants, Backend::System, 1.0),
        time_target(
            KEY,
            rows,
            in_arena_variants,
            Backend::Mimalloc,
            MIMALLOC_TIME_LIMIT,
        ),
        zero_calls_target(
            KEY,
            "batch",
            rows,
            &[ALLOC_FIXED, ALLOC_AUTO, ALLOC_MODEL, CHECKED, ROUTED],
        ),
        checked_target(KEY, &NAMES, results, (CHECKED, ALLOC_FIXED), 2.0),
    ]
}

/// The workload's key in the report.
const KEY: &str = "digits";

/// The workload of `rows`, with its titles and what was measured.
fn workload(config: &Config, n_batches: usize, warmup: usize, rows: Vec<Row>) -> Workload {
    let batch = config.batch;
    Workload {
        key: KEY,
        name: format!("DigitsModel, batches of {batch}"),
        title: format!(
            "DigitsModel inference, {} random 28x28 images in batches of {batch}",
            config.images
        ),
        header: format!(
            "The seed's CNN (conv 3x3 1->32 relu, batchnorm+relu, maxpool 2, conv 3x3 32->16 \
             relu, maxpool 2, conv 3x3 16->10 relu, dense 90->10, a shared dense 10->10 twice, \
             softmax) in f32 with random weights: one generic model on `ndarray` input and on \
             arena input (`with_allocator` + `reset()` per batch, outputs copied into a matrix \
             made once; `infer_batch` copies the batch in and returns a new heap array); and the \
             plain model inside a `HeapArena` scope, every heap allocation routed to the arena by \
             the `ArenaRouter` global allocator (`reset()` per batch). \
             {n_batches} batches per pass; {} passes per variant and allocator, interleaved, after \
             {warmup} unmeasured; `total ms` is the median pass; per-batch times over all \
             measured batches; `vs {PLAIN}` and `mimalloc/System` are medians over passes of the \
             ratio of the passes' median batch times; `max abs diff` compares the class \
             probabilities with `{PLAIN}` under System.",
            config.rounds
        ),
        unit: "batch",
        sizes: vec![
            ("images", config.images),
            ("batch", batch),
            ("batches_per_pass", n_batches),
            ("rounds", config.rounds),
            ("warmup_rounds", warmup),
        ],
        baseline: PLAIN.to_string(),
        rows,
    }
}

/// Measures inference over `config.images` random images in batches, every variant under both
/// backends; and checks the targets: every arena variant no slower than `ndarray`, no
/// allocator calls per batch where the output is copied into the predictions (all arena
/// variants but `infer_batch`, which returns a new heap array by design), checked within 2x
/// of unchecked.
pub fn measure(config: &Config) -> (Workload, Vec<Target>) {
    let inputs = Inputs::new(config);
    let arenas = Arenas::new();
    let n_batches = inputs.plain.len();
    let preds: Vec<Predictions> = NAMES.iter().map(|_| predictions(config.images)).collect();
    // Enough batches for the autoscaling buffer to settle (it re-sizes at its sixth reset at the
    // latest).
    let warmup = 8usize.div_ceil(n_batches);
    let mut runner = Runner {
        variants: NAMES
            .iter()
            .zip(IN_ARENA)
            .zip(steps(&inputs, &arenas, &preds, config.batch))
            .map(|((&name, arena), step)| Variant {
                name,
                arena,
                units: n_batches,
                step,
            })
            .collect(),
        rounds: config.rounds,
        warmup,
    };
    let results = runner.run();
    drop(runner);

    let diff = |v: usize, b: usize| Some(max_abs_diff(&preds, v, b));
    let rows = rows_of(&NAMES, &IN_ARENA, &results, diff, true);
    let targets = targets(&rows, &results);
    (workload(config, n_batches, warmup, rows), targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tiny_measurement_has_every_variant_agreeing_with_plain() {
        let (w, targets) = measure(&Config {
            images: 10,
            batch: 4,
            rounds: 1,
        });
        assert_eq!(targets.len(), 4);
        assert_eq!(w.variants(), NAMES);
        assert_eq!(w.rows.len(), 2 * NAMES.len());
        for row in &w.rows {
            assert!(row.max_abs_diff.unwrap() <= 1e-6, "{row:?}");
            assert!(row.total_ms.is_some());
        }
    }
}
