//! n-d arrays whose new arrays come from a dynamically scoped bump allocator.
//!
//! This crate is at its beginning: `AllocArray`, `CheckedAllocArray`, `BumperAllocator` and
//! `with_allocator` are not built yet. Today it re-exports [`bumper`], on which it builds.
#![forbid(unsafe_code)]

pub use bumper;
