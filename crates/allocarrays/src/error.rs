//! [`ArrayError`]: why a new array could not be made.

use std::error::Error;
use std::fmt;

use bumper::AllocError;

/// Why a new array could not be made (its shape, its memory, or the shapes of an operation's
/// operands): the error of the fallible constructors
/// ([`try_zeros`](crate::AllocArrayBase::try_zeros),
/// [`try_from_elem`](crate::AllocArrayBase::try_from_elem),
/// [`try_similar`](crate::AllocArrayBase::try_similar), ...). The panicking forms panic with its
/// text, at the caller's line.
///
/// ```
/// use allocarrays::{with_allocator, AllocArray, ArrayError, BumperAllocator};
///
/// let alloc = BumperAllocator::with_fixed_capacity(64);
/// let err = with_allocator(&alloc, || AllocArray::<f64, _>::try_zeros(1000)).unwrap_err();
/// assert!(matches!(err, ArrayError::Alloc { .. }));
/// assert!(err.to_string().starts_with("array allocation failed"));
///
/// let err = AllocArray::<u8, _>::try_zeros((usize::MAX, 2)).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "the number of elements of shape [18446744073709551615, 2] overflows usize"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ArrayError {
    /// The product of the shape's lengths overflows `usize`.
    ShapeOverflow {
        /// The shape asked for.
        shape: Vec<usize>,
    },
    /// The elements' size in bytes overflows `isize::MAX`.
    SizeOverflow {
        /// The number of elements.
        len: usize,
        /// The size of one element in bytes.
        elem_size: usize,
    },
    /// The current allocator could not provide the memory (a full fixed-capacity buffer, or
    /// the system refusing to grow one).
    Alloc {
        /// The bytes asked for.
        bytes: usize,
        /// The allocator's error.
        source: AllocError,
    },
    /// The shapes of an elementwise operation's operands can't be broadcast together.
    Broadcast {
        /// The left operand's shape.
        lhs: Vec<usize>,
        /// The right operand's shape.
        rhs: Vec<usize>,
    },
    /// An operand can't be broadcast to the shape of the array it is assigned to.
    BroadcastTo {
        /// The operand's shape.
        from: Vec<usize>,
        /// The array's shape.
        to: Vec<usize>,
    },
    /// The inner lengths of a product's operands differ.
    NotAligned {
        /// The left operand's shape.
        lhs: Vec<usize>,
        /// The right operand's shape.
        rhs: Vec<usize>,
    },
}

impl fmt::Display for ArrayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArrayError::ShapeOverflow { shape } => {
                write!(
                    f,
                    "the number of elements of shape {shape:?} overflows usize"
                )
            }
            ArrayError::SizeOverflow { len, elem_size } => write!(
                f,
                "an array of {len} elements of {elem_size} bytes overflows isize::MAX bytes"
            ),
            ArrayError::Alloc { bytes, source } => {
                write!(f, "array allocation failed ({bytes} bytes): {source}")
            }
            ArrayError::Broadcast { lhs, rhs } => write!(
                f,
                "cannot broadcast arrays of shapes {lhs:?} and {rhs:?} together"
            ),
            ArrayError::BroadcastTo { from, to } => write!(
                f,
                "cannot broadcast an array of shape {from:?} to shape {to:?}"
            ),
            ArrayError::NotAligned { lhs, rhs } => {
                write!(f, "dot: shapes {lhs:?} and {rhs:?} are not aligned")
            }
        }
    }
}

impl Error for ArrayError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            ArrayError::Alloc { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The value, or a panic with the error's text at the caller's line.
#[inline]
#[track_caller]
pub(crate) fn or_panic<T>(result: Result<T, ArrayError>) -> T {
    match result {
        Ok(value) => value,
        Err(err) => fail(err),
    }
}

/// The panic of the panicking forms, at the caller's line.
#[cold]
#[inline(never)]
#[track_caller]
pub(crate) fn fail(err: ArrayError) -> ! {
    panic!("{err}")
}
