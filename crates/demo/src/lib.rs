//! The seed's examples in Rust, measured side by side, with allocator calls and page faults
//! counted: `cargo run --release -p allocarrays-demo` prints the tables.
//!
//! - [`fx`]: Bumper.jl's `f(x) = sum(x .+ 1)` with the temporary in a bump buffer.
//! - [`reduction`]: AllocArrays.jl's `basic_reduction`, plain `ndarray` against `AllocArray`
//!   and `CheckedAllocArray` under `with_allocator`.
//! - [`digits`]: AllocArrays.jl's `DigitsModel` CNN inference ([`model`], generic over the array
//!   family of [`tensor`], with the numeric [`kernels`]), on plain and arena arrays.
//!
//! Every variant runs under the system allocator and under mimalloc in the same process, through
//! the global allocator stack of [`alloc_stack`]; [`measure`] interleaves them, [`faults`] reads
//! page faults, [`report`] prints Markdown tables and writes the figures as JSON, [`svg`] draws
//! the charts, [`cli`] ties it together.

pub mod alloc_stack;
pub mod cli;
pub mod digits;
pub mod faults;
pub mod fx;
pub mod kernels;
pub mod measure;
pub mod model;
pub mod reduction;
pub mod report;
pub mod rng;
pub mod svg;
pub mod tensor;

/// The workspace README's examples (of every library crate), compiled and run as doc tests
/// here, in a crate that is never packaged, since the file lies outside the library packages.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
