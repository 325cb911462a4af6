//! n-d arrays whose new arrays come from a dynamically scoped bump allocator (the Rust form of
//! AllocArrays.jl).
//!
//! - [`with_allocator`] sets the allocator for the dynamic extent of a closure on this thread;
//!   outside it, arrays come from the heap.
//! - [`BumperAllocator`] (thread-safe, with a lock, tracks checked arrays) and
//!   [`UncheckedBumperAllocator`] (no lock, one thread) hand out memory from a [`bumper`]
//!   buffer; [`AutoscalingAllocBuffer`] is the default buffer, growing and re-sizing itself from
//!   the usage of past runs.
//! - `reset` is safe: memory a live array still uses is never handed out again.
//!
//! `AllocArray` and `CheckedAllocArray` (the arrays themselves) are not built yet.
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs, missing_debug_implementations)]

mod allocator;
mod arena;
mod autoscaling;
mod context;
mod epoch;
mod propagate;
#[allow(dead_code)] // used by the array types, which are next
mod storage;

pub use allocator::{BumperAllocator, UncheckedBumperAllocator};
pub use arena::{AllocatorStats, ResetReport};
pub use autoscaling::{AutoscalingAllocBuffer, AutoscalingCheckpoint};
pub use context::{has_allocator, with_allocator, without_allocator, ArrayAllocator};
pub use epoch::Lease;
#[cfg(feature = "rayon")]
pub use propagate::{rayon_scope, AllocRayonScope};
pub use propagate::{thread_scope, with_carry, AllocThreadScope, Carry};

pub use bumper;
