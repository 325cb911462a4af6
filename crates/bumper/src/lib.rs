#![doc = include_str!("../README.md")]
//!
//! # Overview
//!
//! - [`AllocBuffer`]: fixed capacity, over owned memory or memory you lend (no allocator needed).
//! - [`SlabBuffer`]: grows by slabs (1 MiB by default), keeps them for reuse, gives big requests
//!   their own allocation.
//! - [`Buffer`]: the trait both implement; implement it for your own buffer and get everything
//!   else for free.
//! - [`Buffer::no_escape`] / [`no_escape`]: a closure scope. Everything allocated through its
//!   [`Scope`] is freed when the closure returns or panics, and letting an allocation out of the
//!   closure is a compile error.
//! - [`Buffer::checkpoint_guard`]: the same as a guard value; [`Buffer::checkpoint`] and
//!   `unsafe` [`Buffer::restore`] underneath.
//! - [`no_escape`], [`with_buffer`]: a per-thread default buffer, created on first use, and a way
//!   to put any buffer in its place for a dynamic extent; [`with_default_buffer`] hands it to
//!   code that takes a `&mut impl Buffer`.
//! - [`prelude`]: `use bumper::prelude::*;` brings the trait and the common names. The concrete
//!   buffers also have inherent `no_escape` / `checkpoint_guard`, so they work without it.
//!
//! ```
//! use bumper::{Buffer, SlabBuffer};
//!
//! // The seed's example: allocate a temporary, compute, free it all at the end of the scope.
//! fn f(x: &[i64], buf: &mut impl Buffer) -> i64 {
//!     buf.no_escape(|s| {
//!         let y = s.alloc_slice_fill_with(x.len(), |i| x[i] + 1);
//!         y.iter().sum()
//!     })
//! }
//!
//! let mut buf = SlabBuffer::new();
//! assert_eq!(f(&[1, 2, 3], &mut buf), 9);
//! // The thread's default buffer, passed like any other:
//! assert_eq!(bumper::with_default_buffer(|buf| f(&[1, 2, 3], buf)), 9);
//! // Or on the thread's default buffer:
//! assert_eq!(bumper::no_escape(|s| s.alloc_slice_copy(&[1, 2, 3]).iter().sum::<i32>()), 6);
//! ```
//!
//! # Features
//!
//! - `std` (default): the per-thread default buffer and [`with_buffer`]. Implies `alloc`.
//! - `alloc`: owned memory for [`AllocBuffer`] and [`SlabBuffer`]. Without it the crate needs no
//!   allocator at all: an [`AllocBuffer`] over a static array works in `#![no_std]` binaries.
//! - `ndarray` (default): n-d allocation as `ndarray::ArrayViewMut` ([`Scope::alloc_array_zeroed`]
//!   and friends).
//! - `allocator-api2` (default): `&Scope` and `&mut Scope` implement
//!   `allocator_api2::alloc::Allocator`; the crate is re-exported as [`allocator_api2`].
//!
//! # What is not dropped
//!
//! Values allocated in a scope are never dropped: the memory is reclaimed without running
//! `Drop`, which is safe (like [`core::mem::forget`]) but leaks whatever the values own.
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(clippy::missing_errors_doc, clippy::must_use_candidate)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod alloc_buffer;
#[cfg(feature = "ndarray")]
mod array;
mod buffer;
mod bump;
mod checkpoint;
#[cfg(feature = "std")]
mod default_buffer;
mod error;
#[cfg(feature = "allocator-api2")]
mod interop;
mod scope;
#[cfg(feature = "alloc")]
mod slab_buffer;
mod zeroable;

pub use alloc_buffer::{AllocBuffer, AllocCheckpoint, DEFAULT_ALLOC_BUFFER_CAPACITY};
pub use buffer::{Buffer, BufferStats};
pub use checkpoint::CheckpointGuard;
#[cfg(feature = "std")]
pub use default_buffer::{
    default_buffer_addr, default_buffer_exists, default_buffer_stats, no_escape,
    reset_default_buffer, set_default_buffer_kind, with_buffer, with_default_buffer, DefaultBuffer,
    DefaultBufferError, DefaultBufferHandle, DefaultBufferKind, DefaultCheckpoint, DefaultScope,
    ErasedCheckpoint, ERASED_CHECKPOINT_WORDS,
};
pub use error::AllocError;
pub use scope::Scope;
#[cfg(feature = "alloc")]
pub use slab_buffer::{SlabBuffer, SlabCheckpoint, DEFAULT_SLAB_SIZE};
pub use zeroable::Zeroable;

/// The `allocator_api2` crate whose `Allocator` trait `&Scope` and `&mut Scope` implement, so
/// `bumper::allocator_api2::vec::Vec::new_in(s)` works without a dependency of your own (and
/// without pinning a matching version).
#[cfg(feature = "allocator-api2")]
pub use allocator_api2;

/// The names most code needs, in one import: `use bumper::prelude::*;`.
///
/// [`AllocBuffer`] and [`SlabBuffer`] have inherent `no_escape` and `checkpoint_guard`
/// methods, so code that names a concrete buffer needs no import for them; code generic over
/// buffers (`&mut impl Buffer`), or calling other trait methods (`checkpoint`, `reset`,
/// `stats`), needs the [`Buffer`] trait in scope, which the prelude brings.
///
/// ```
/// use bumper::prelude::*;
///
/// fn f(x: &[i64], buf: &mut impl Buffer) -> i64 {
///     buf.no_escape(|s| s.alloc_slice_copy(x).iter().sum())
/// }
/// assert_eq!(f(&[1, 2, 3], &mut SlabBuffer::new()), 6);
/// assert_eq!(with_default_buffer(|buf| f(&[1, 2], buf)), 3);
/// ```
pub mod prelude {
    #[cfg(feature = "alloc")]
    pub use crate::SlabBuffer;
    #[cfg(feature = "std")]
    pub use crate::{no_escape, with_buffer, with_default_buffer};
    pub use crate::{AllocBuffer, AllocError, Buffer, Scope};
}
