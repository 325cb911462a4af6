//! n-d arrays whose new arrays come from a dynamically scoped bump allocator.
//!
//! This crate is at its beginning: `AllocArray`, `CheckedAllocArray`, `BumperAllocator` and
//! `with_allocator` are not built yet. Today it re-exports [`bumper`], on which it builds.
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

mod autoscaling;

pub use autoscaling::{AutoscalingAllocBuffer, AutoscalingCheckpoint};

pub use bumper;
