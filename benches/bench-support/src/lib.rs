//! Measuring and reporting shared by the demo, the benchmark binaries and the test binaries
//! that count allocator calls.
//!
//! - [`counting`]: [`Counting`](counting::Counting), a `GlobalAlloc` wrapper that counts the
//!   calls reaching it per thread (and, through an [`Observe`](counting::Observe)r, in any
//!   process-wide breakdown), without allocating.
//! - [`failing`]: [`Failing`](failing::Failing), a `GlobalAlloc` wrapper that fails on
//!   command per thread, and [`sweep`](failing::sweep) over every failure point of a case.
//! - [`stats`]: quantiles, medians and paired ratios.
//! - [`stress`]: the stress tests' duration and generator.
//! - [`table`]: Markdown tables.
//! - [`svg`]: grouped horizontal bar charts as SVG.
//! - [`process`]: the process's peak resident set size and page faults, from `/proc`.
//! - [`machine`]: the build, CPUs and platform a report names.
//!
//! It has no dependencies, so a test binary can install the counting allocator at no build
//! cost.
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs, missing_debug_implementations)]

pub mod counting;
pub mod failing;
pub mod machine;
pub mod process;
pub mod stats;
pub mod stress;
pub mod svg;
pub mod table;
