//! The error returned by every fallible allocation.

use core::fmt;

/// Why an allocation could not be served.
///
/// Every `try_*` method returns this; the panicking forms panic with its [`Display`](fmt::Display)
/// text. A failed allocation never changes the buffer: what was free before is still free.
///
/// ```
/// use bumper::{AllocBuffer, AllocError, Buffer};
///
/// let mut buf = AllocBuffer::with_capacity(64);
/// buf.no_escape(|s| {
///     let err = s.try_alloc_slice_fill(100, 0u8).unwrap_err();
///     assert_eq!(
///         err,
///         AllocError::BufferFull { requested: 100, align: 1, available: 64, capacity: 64 }
///     );
///     assert_eq!(
///         err.to_string(),
///         "bump buffer full: requested 100 bytes (align 1), 64 bytes free of 64 bytes capacity"
///     );
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AllocError {
    /// A fixed-capacity buffer has no room for the request.
    BufferFull {
        /// Bytes asked for.
        requested: usize,
        /// Alignment asked for.
        align: usize,
        /// Bytes free at the bump position before alignment padding.
        available: usize,
        /// Total capacity of the buffer.
        capacity: usize,
    },
    /// The element count times the element size (or the product of array dimensions)
    /// overflows `isize::MAX` bytes.
    SizeOverflow,
    /// The system allocator refused to give a growable buffer more memory.
    OutOfMemory {
        /// Bytes asked of the system allocator.
        requested: usize,
    },
}

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AllocError::BufferFull {
                requested,
                align,
                available,
                capacity,
            } => write!(
                f,
                "bump buffer full: requested {requested} bytes (align {align}), \
                 {available} bytes free of {capacity} bytes capacity"
            ),
            AllocError::SizeOverflow => f.write_str(
                "allocation size overflows: the byte size of the request exceeds isize::MAX",
            ),
            AllocError::OutOfMemory { requested } => {
                write!(
                    f,
                    "the system allocator could not provide {requested} bytes for a bump buffer"
                )
            }
        }
    }
}

impl core::error::Error for AllocError {}

/// Panics with the error's text. Kept out of line so the fast paths stay small.
#[cold]
#[inline(never)]
#[track_caller]
pub(crate) fn alloc_failed(err: AllocError) -> ! {
    panic!("{err}")
}
