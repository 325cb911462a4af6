//! [`BumperAllocator`] (thread-safe, tracks checked arrays) and [`UncheckedBumperAllocator`]
//! (no lock, one thread): thin types over the one implementation in [`crate::arena`].

use std::alloc::Layout;
use std::fmt;
use std::ptr::NonNull;

use bumper::{AllocBuffer, AllocError, Buffer};

use crate::arena::{AllocatorStats, Core, Local, Locked, ResetReport, Sharing};
use crate::autoscaling::AutoscalingAllocBuffer;
use crate::context::ArrayAllocator;
use crate::epoch::Lease;

/// A bump allocator for arrays, safe to share between threads (the seed's `BumperAllocator`).
///
/// Every thread bumps in a chunk of its own, without a lock; chunks are carved from the buffer
/// under a lock.
///
/// - [`reset`](Self::reset) is safe: checked arrays made before it refuse access afterwards,
///   and memory that a live array still uses is never handed out again. Everything else is
///   reused, whatever order the arrays die in: an array kept across resets pins its own chunk
///   only, so a loop that carries a state array from step to step runs in bounded memory.
///   The [`ResetReport`] says what stayed pinned.
/// - Dropping the allocator while arrays live is safe too: the buffer is freed with the last of
///   them.
///
/// ```
/// use allocarrays::BumperAllocator;
///
/// let a = BumperAllocator::default(); // an AutoscalingAllocBuffer, 128 MiB to start
/// assert_eq!(a.to_string(), "BumperAllocator(AutoscalingAllocBuffer())");
/// let b = BumperAllocator::with_capacity(1 << 20); // autoscaling too, 1 MiB to start
/// let c = BumperAllocator::with_fixed_capacity(1 << 24); // a fixed 16 MiB AllocBuffer
/// let d = BumperAllocator::new(bumper::SlabBuffer::<65536>::with_slab_size()); // any buffer
/// let either = if c.stats().capacity > 0 { a } else { b }; // one type
/// # let _ = (either, c, d);
/// ```
pub struct BumperAllocator<B: Buffer + Send + 'static = AutoscalingAllocBuffer> {
    core: Core<B, Locked>,
}

/// A bump allocator for arrays without a lock, for one thread (the seed's
/// `UncheckedBumperAllocator`). It is `!Sync`, so the compiler keeps it on one thread, and it
/// does not make `CheckedAllocArray`s.
///
/// Its [`reset`](Self::reset) is as safe as [`BumperAllocator::reset`]: memory of live arrays is
/// never reused.
///
/// ```
/// use allocarrays::UncheckedBumperAllocator;
///
/// let alloc = UncheckedBumperAllocator::with_fixed_capacity(1 << 24);
/// assert_eq!(alloc.to_string(), "UncheckedBumperAllocator(AllocBuffer(16777216 bytes))");
/// ```
pub struct UncheckedBumperAllocator<B: Buffer + Send + 'static = AutoscalingAllocBuffer> {
    core: Core<B, Local>,
}

/// The inherent API of both allocator types, written once.
macro_rules! allocator_api {
    ($name:ident) => {
        impl<B: Buffer + Send + 'static> $name<B> {
            /// An allocator over `buffer`.
            ///
            /// ```
            #[doc = concat!("use allocarrays::", stringify!($name), ";")]
            ///
            #[doc = concat!("let alloc = ", stringify!($name), "::new(bumper::AllocBuffer::with_capacity(4096));")]
            /// assert_eq!(alloc.stats().capacity, 4096);
            /// ```
            #[must_use]
            pub fn new(buffer: B) -> Self {
                $name {
                    core: Core::new(buffer),
                }
            }

            /// Frees every array made since the last reset, except the memory live arrays
            /// still use; arrays made before now see their lease invalid from now on (checked
            /// ones refuse access) (the seed's `reset!`). Never allocates, so it can't fail.
            ///
            /// ```
            #[doc = concat!("use allocarrays::", stringify!($name), ";")]
            ///
            #[doc = concat!("let alloc = ", stringify!($name), "::with_fixed_capacity(1024);")]
            /// let report = alloc.reset();
            /// assert_eq!(report.pinned_arrays, 0);
            /// ```
            pub fn reset(&self) -> ResetReport {
                self.core.reset()
            }

            /// Usage figures.
            ///
            /// ```
            #[doc = concat!("use allocarrays::", stringify!($name), ";")]
            ///
            #[doc = concat!("let alloc = ", stringify!($name), "::with_fixed_capacity(1024);")]
            /// assert_eq!((alloc.stats().used, alloc.stats().capacity), (0, 1024));
            /// ```
            #[must_use]
            pub fn stats(&self) -> AllocatorStats {
                self.core.stats()
            }

            /// A readable summary: the buffer, bytes used of its capacity, live arrays, resets.
            /// The same text as the alternate form `{:#}`.
            ///
            /// ```
            #[doc = concat!("use allocarrays::", stringify!($name), ";")]
            ///
            #[doc = concat!("let alloc = ", stringify!($name), "::with_fixed_capacity(1024);")]
            /// assert_eq!(
            ///     alloc.summary(),
            #[doc = concat!("     \"", stringify!($name), "(AllocBuffer(1024 bytes)): 0 of 1024 bytes used, 0 live arrays, 0 resets\"")]
            /// );
            /// assert_eq!(format!("{alloc:#}"), alloc.summary());
            /// ```
            #[must_use]
            pub fn summary(&self) -> String {
                format!("{self:#}")
            }
        }

        impl $name<AutoscalingAllocBuffer> {
            /// An allocator over an [`AutoscalingAllocBuffer`] whose main buffer starts at
            /// `bytes` (like `Vec::with_capacity`, a start, not a limit: it grows past it, and
            /// re-sizes from the usage of past runs). The same type as `default()`.
            ///
            /// For a buffer that never grows, see
            #[doc = concat!("[`with_fixed_capacity`](", stringify!($name), "::with_fixed_capacity).")]
            ///
            /// ```
            #[doc = concat!("use allocarrays::", stringify!($name), ";")]
            ///
            #[doc = concat!("let alloc = ", stringify!($name), "::with_capacity(4096);")]
            /// assert_eq!(alloc.stats().capacity, 4096);
            /// ```
            #[must_use]
            pub fn with_capacity(bytes: usize) -> Self {
                Self::new(AutoscalingAllocBuffer::with_initial_size(bytes))
            }
        }

        impl $name<AllocBuffer<'static>> {
            /// An allocator over a fixed [`AllocBuffer`] of `bytes` (the seed's
            /// `BumperAllocator(n)`): allocations that find no room fail with
            /// [`AllocError::BufferFull`] instead of growing it.
            ///
            /// ```
            #[doc = concat!("use allocarrays::{", stringify!($name), ", ArrayAllocator};")]
            /// use std::alloc::Layout;
            ///
            #[doc = concat!("let alloc = ", stringify!($name), "::with_fixed_capacity(256);")]
            /// assert!(alloc.allocate(Layout::new::<[u8; 300]>(), false).is_err());
            /// ```
            #[must_use]
            pub fn with_fixed_capacity(bytes: usize) -> Self {
                Self::new(AllocBuffer::with_capacity(bytes))
            }
        }

        impl Default for $name<AutoscalingAllocBuffer> {
            /// An allocator over an [`AutoscalingAllocBuffer`] with its default 128 MiB start.
            fn default() -> Self {
                Self::new(AutoscalingAllocBuffer::new())
            }
        }

        impl<B: Buffer + Send + 'static> fmt::Display for $name<B> {
            /// The seed's form, e.g. `BumperAllocator(AutoscalingAllocBuffer())`, followed for
            /// a `BumperAllocator` by ` (tracking N CheckedAllocArray memory locations)` when
            /// checked arrays were made since the last reset. The alternate form `{:#}` is the
            /// [`summary`](Self::summary).
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let stats = self.stats();
                write_display(f, stringify!($name), &self.core, stats)
            }
        }

        impl<B: Buffer + Send + 'static> fmt::Debug for $name<B> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("stats", &self.stats())
                    .finish()
            }
        }
    };
}

allocator_api!(BumperAllocator);
allocator_api!(UncheckedBumperAllocator);

/// Both allocators' `Display`.
fn write_display<B: Buffer + Send + 'static, S: Sharing>(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    core: &Core<B, S>,
    stats: AllocatorStats,
) -> fmt::Result {
    write!(f, "{name}(")?;
    core.with_inner(|inner| buffer_name(inner.buffer(), f))?;
    f.write_str(")")?;
    if f.alternate() {
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        write!(
            f,
            ": {} of {} bytes used, {} live array{}, {} reset{}",
            stats.used,
            stats.capacity,
            stats.live_arrays,
            plural(stats.live_arrays),
            stats.resets,
            plural(stats.resets)
        )?;
        if stats.tracked_checked > 0 {
            write!(f, ", tracking {} checked", stats.tracked_checked)?;
        }
        return Ok(());
    }
    match stats.tracked_checked {
        0 => Ok(()),
        1 => f.write_str(" (tracking 1 CheckedAllocArray memory location)"),
        n => write!(f, " (tracking {n} CheckedAllocArray memory locations)"),
    }
}

// SAFETY: memory comes from chunks of the buffer, and each chunk is bumped by one slot at a time
// (its thread's, or the lock holder's), so requests get disjoint blocks; a chunk is handed out
// again only when no lease on it is left (see `crate::arena`), and dropping the allocator hands
// the buffer to the chunks that still have leases.
unsafe impl<B: Buffer + Send + 'static> ArrayAllocator for BumperAllocator<B> {
    #[inline]
    fn allocate(&self, layout: Layout, checked: bool) -> Result<(NonNull<u8>, Lease), AllocError> {
        self.core.allocate(layout, checked)
    }

    fn reset(&self) -> ResetReport {
        self.core.reset()
    }

    fn as_sync(&self) -> Option<&(dyn ArrayAllocator + Sync)> {
        Some(self)
    }
}

// SAFETY: as for `BumperAllocator`; the `RefCell` stands in for the lock because the allocator
// is `!Sync` (one thread), and `allocate` never calls back into it.
unsafe impl<B: Buffer + Send + 'static> ArrayAllocator for UncheckedBumperAllocator<B> {
    #[inline]
    fn allocate(&self, layout: Layout, checked: bool) -> Result<(NonNull<u8>, Lease), AllocError> {
        if checked {
            checked_unsupported();
        }
        self.core.allocate(layout, false)
    }

    fn reset(&self) -> ResetReport {
        self.core.reset()
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn checked_unsupported() -> ! {
    panic!(
        "UncheckedBumperAllocator does not make CheckedAllocArrays; use a BumperAllocator, which \
         tracks their validity"
    )
}

/// Names the buffer inside an allocator's `Display`, like the seed's `show`.
fn buffer_name<B: Buffer + 'static>(buffer: &B, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let any: &dyn std::any::Any = buffer;
    if let Some(b) = any.downcast_ref::<AutoscalingAllocBuffer>() {
        write!(f, "{b:#}")
    } else if let Some(b) = any.downcast_ref::<AllocBuffer<'static>>() {
        write!(f, "AllocBuffer({} bytes)", b.capacity())
    } else {
        f.write_str(&short_type_name(std::any::type_name::<B>()))
    }
}

/// A type name without module paths, also inside generics: `my::Logged<bumper::AllocBuffer<'_>>`
/// becomes `Logged<AllocBuffer<'_>>`.
fn short_type_name(full: &str) -> String {
    let mut out = String::with_capacity(full.len());
    // Where the path segment being written started in `out`.
    let mut segment = 0;
    let mut rest = full;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("::") {
            out.truncate(segment);
            rest = after;
            continue;
        }
        out.push(c);
        if !(c.is_alphanumeric() || c == '_') {
            segment = out.len();
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}
