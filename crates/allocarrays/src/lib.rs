#![doc = include_str!("../README.md")]
//!
//! # Overview
//!
//! - [`with_allocator`] sets the allocator for the dynamic extent of a closure on this thread;
//!   outside it, arrays come from the heap.
//! - [`BumperAllocator`] (thread-safe, with a lock, tracks checked arrays) and
//!   [`UncheckedBumperAllocator`] (no lock, one thread) hand out memory from a [`bumper`]
//!   buffer; [`AutoscalingAllocBuffer`] is the default buffer, growing and re-sizing itself from
//!   the usage of past runs.
//! - `reset` is safe: memory a live array still uses is never handed out again.
//! - [`AllocArray`] is an owned, row-major n-d array (over [`ndarray`]) whose *new* arrays
//!   (arithmetic with broadcasting, `map`, `similar`, `clone`, `dot`, `sum_axis`, ...) take
//!   their memory from the current allocator; [`view`](AllocArrayBase::view) hands any
//!   `ndarray` function a view of it. [`CheckedAllocArray`] is the same array with a check,
//!   once per operation, that its memory was not reset since it was handed out
//!   ([`InvalidMemory`] otherwise).
//! - Threads don't inherit the allocator: [`thread_scope`] (`std::thread::scope` whose threads
//!   run under it), [`with_carry`] / [`Carry::wrap`] (any executor), and `rayon_scope` (feature
//!   `rayon`) take it along.
//! - Models: [`ToAllocArrays`] converts a model's parameter arrays, [`infer_batch`] and
//!   [`WrappedModel`] run a batch in the arena, copy the output out, and reset.
//! - Code that never heard of arenas (feature `router`, on by default; the [`arena_router`]
//!   crate, re-exported): with [`ArenaRouter`] as the global allocator, every heap allocation a
//!   thread makes inside [`HeapArena::scope`] comes from the arena; [`HeapArena::reset`] reuses
//!   it, skipping blocks still live (pinned); [`without_arena`] opts out. The thread helpers
//!   above carry the heap arena too.
//!
// Without the `router` feature the router's items are not in scope: link them on docs.rs.
#![cfg_attr(
    not(feature = "router"),
    doc = "[`arena_router`]: https://docs.rs/arena-router",
    doc = "[`ArenaRouter`]: https://docs.rs/arena-router/latest/arena_router/struct.ArenaRouter.html",
    doc = "[`HeapArena::scope`]: https://docs.rs/arena-router/latest/arena_router/struct.HeapArena.html#method.scope",
    doc = "[`HeapArena::reset`]: https://docs.rs/arena-router/latest/arena_router/struct.HeapArena.html#method.reset",
    doc = "[`without_arena`]: https://docs.rs/arena-router/latest/arena_router/fn.without_arena.html"
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod allocator;
mod arena;
mod array;
mod autoscaling;
mod checked;
mod context;
mod epoch;
mod error;
mod heap_carry;
mod methods;
mod model;
mod ops;
mod propagate;
mod storage;

pub use allocator::{BumperAllocator, UncheckedBumperAllocator};
pub use arena::{AllocatorStats, ResetReport};
#[cfg(feature = "router")]
pub use arena_router::{
    arena_routing_active, scratch_arena, with_scratch_arena, without_arena, ArenaRouter, HeapArena,
    HeapArenaOptions, HeapArenaStats, HeapResetReport, RoutingOff, StrictResetError,
};
pub use array::{AllocArray, AllocArrayBase, AllocView, AllocViewBase, ReshapeError};
pub use autoscaling::{AutoscalingAllocBuffer, AutoscalingCheckpoint, HistorySizeError};
pub use checked::{
    ArrayKind, Checked, CheckedAllocArray, CheckedView, Checking, InvalidMemory, Unchecked,
    UncheckedArenaArray,
};
pub use context::{has_allocator, with_allocator, without_allocator, ArrayAllocator};
pub use epoch::Lease;
pub use error::ArrayError;
pub use model::{infer_batch, ToAllocArrays, WrappedModel};
pub use ops::{DotDim, Operand, Scalar, ScalarOperand, DIRECT_DOT_MAX};
#[cfg(feature = "rayon")]
pub use propagate::{rayon_scope, AllocRayonScope};
pub use propagate::{thread_scope, with_carry, AllocThreadScope, Carry};

#[cfg(feature = "router")]
pub use arena_router;

pub use bumper;
pub use ndarray;
