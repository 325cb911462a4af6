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
//!   to put any buffer in its place for a dynamic extent.
//!
//! # Features
//!
//! - `std` (default): the per-thread default buffer and [`with_buffer`]. Implies `alloc`.
//! - `alloc`: owned memory for [`AllocBuffer`] and [`SlabBuffer`]. Without it the crate needs no
//!   allocator at all: an [`AllocBuffer`] over a static array works in `#![no_std]` binaries.
//! - `ndarray` (default): n-d allocation as `ndarray::ArrayViewMut` ([`Scope::alloc_array_zeroed`]
//!   and friends).
//! - `allocator-api2` (default): `&Scope` implements `allocator_api2::alloc::Allocator`.
//!
//! # What is not dropped
//!
//! Values allocated in a scope are never dropped: the memory is reclaimed without running
//! `Drop`, which is safe (like [`core::mem::forget`]) but leaks whatever the values own.
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]

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
    reset_default_buffer, set_default_buffer_kind, with_buffer, DefaultBuffer, DefaultBufferError,
    DefaultBufferKind, DefaultCheckpoint, DefaultScope, ErasedCheckpoint, ERASED_CHECKPOINT_WORDS,
};
pub use error::AllocError;
pub use scope::Scope;
#[cfg(feature = "alloc")]
pub use slab_buffer::{SlabBuffer, SlabCheckpoint, DEFAULT_SLAB_SIZE};
pub use zeroable::Zeroable;
