//! Arrays under `with_allocator` in a model loop: a small dense network runs batch after batch;
//! every array it makes comes from the arena, and one `reset` per batch gives it all back, so
//! the steady-state loop makes no heap allocation.
//!
//! `cargo run -p allocarrays --example model_batches`

use allocarrays::{with_allocator, AllocArray, AllocArrayBase, ArrayKind, BumperAllocator};
use ndarray::{Array2, Axis, Ix1, Ix2};

#[path = "common/counting.rs"]
mod counting;

#[global_allocator]
static GLOBAL: counting::Counting = counting::Counting;

/// A dense layer and its activation.
struct Dense {
    weight: AllocArray<f32, Ix2>,
    bias: AllocArray<f32, Ix1>,
}

impl Dense {
    fn new(inputs: usize, outputs: usize, seed: usize) -> Self {
        let weight = Array2::from_shape_fn((inputs, outputs), |(i, j)| {
            ((i * 31 + j * 17 + seed) % 13) as f32 / 13.0 - 0.3
        });
        Dense {
            weight: AllocArray::from(weight),
            bias: AllocArray::from(vec![0.01; outputs]),
        }
    }

    /// `relu(x · w + b)`, for checked and unchecked inputs alike.
    fn forward<K: ArrayKind>(
        &self,
        x: &AllocArrayBase<f32, Ix2, K>,
    ) -> AllocArrayBase<f32, Ix2, K> {
        (x.dot(&self.weight) + &self.bias).mapv(|v| v.max(0.0))
    }
}

fn main() {
    let layers = [
        Dense::new(64, 32, 1),
        Dense::new(32, 32, 2),
        Dense::new(32, 10, 3),
    ];
    let batches: Vec<AllocArray<f32, Ix2>> = (0..8)
        .map(|b| {
            AllocArray::from(Array2::from_shape_fn((16, 64), |(i, j)| {
                ((i + j + b) % 7) as f32 / 7.0
            }))
        })
        .collect();
    let alloc = BumperAllocator::default();
    let mut scores = vec![0.0f32; batches.len()];
    let run_all = |scores: &mut [f32]| {
        for (batch, score) in batches.iter().zip(scores.iter_mut()) {
            *score = with_allocator(&alloc, || {
                let mut h = layers[0].forward(batch);
                for layer in &layers[1..] {
                    h = layer.forward(&h);
                }
                assert!(h.is_arena(), "the activations come from the arena");
                h.mean_axis(Axis(1)).expect("10 classes").sum()
            });
            alloc.reset(); // every array of the batch is gone: the arena starts over
        }
    };
    // Warm-up: the arena sizes itself to the batch.
    for _ in 0..8 {
        run_all(&mut scores);
    }
    let expected = scores.clone();
    let before = counting::allocations();
    for _ in 0..100 {
        run_all(&mut scores);
    }
    let allocations = counting::allocations() - before;
    assert_eq!(scores, expected);
    assert_eq!(
        allocations, 0,
        "steady-state batches allocate nothing on the heap"
    );
    assert_eq!(alloc.stats().live_arrays, 0);
    println!(
        "model_batches: {} batches x 100 passes, {allocations} heap allocations, scores {:.3?}",
        batches.len(),
        &scores[..3]
    );
}
