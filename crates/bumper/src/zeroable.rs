//! [`Zeroable`]: types for which all-zero bytes are a valid value.

use core::mem::MaybeUninit;
use core::num::{NonZeroI16, NonZeroI32, NonZeroI64, NonZeroI8, NonZeroIsize};
use core::num::{NonZeroU16, NonZeroU32, NonZeroU64, NonZeroU8, NonZeroUsize};

/// Types whose all-zero bit pattern is a valid value, so zeroed allocations
/// ([`Scope::alloc_slice_zeroed`](crate::Scope::alloc_slice_zeroed)) can hand them out.
///
/// # Safety
///
/// A value of the type whose bytes are all zero must be valid (no references, `NonZero`,
/// enums without a zero discriminant, ...).
///
/// ```
/// #[derive(Clone, Copy)]
/// #[repr(C)]
/// struct Point { x: f32, y: f32 }
/// // SAFETY: two `f32`s; zero bytes are 0.0.
/// unsafe impl bumper::Zeroable for Point {}
/// ```
pub unsafe trait Zeroable {}

macro_rules! zeroable {
    ($($t:ty),* $(,)?) => { $(
        // SAFETY: zero bytes are a valid value of this primitive.
        unsafe impl Zeroable for $t {}
    )* };
}

zeroable!(
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    bool,
    char,
    ()
);
zeroable!(
    Option<NonZeroU8>,
    Option<NonZeroU16>,
    Option<NonZeroU32>,
    Option<NonZeroU64>,
    Option<NonZeroUsize>,
    Option<NonZeroI8>,
    Option<NonZeroI16>,
    Option<NonZeroI32>,
    Option<NonZeroI64>,
    Option<NonZeroIsize>,
);

// SAFETY: an array of zeroable values is zeroable element by element.
unsafe impl<T: Zeroable, const N: usize> Zeroable for [T; N] {}
// SAFETY: any bytes are a valid `MaybeUninit`.
unsafe impl<T> Zeroable for MaybeUninit<T> {}
// SAFETY: a null raw pointer is a valid raw pointer.
unsafe impl<T> Zeroable for *const T {}
// SAFETY: as above.
unsafe impl<T> Zeroable for *mut T {}
// SAFETY: `Wrapping<T>` is `repr(transparent)` over `T`.
unsafe impl<T: Zeroable> Zeroable for core::num::Wrapping<T> {}

macro_rules! zeroable_tuple {
    ($($t:ident),+) => {
        // SAFETY: every field is zeroable, and padding bytes may hold anything.
        unsafe impl<$($t: Zeroable),+> Zeroable for ($($t,)+) {}
    };
}
zeroable_tuple!(A);
zeroable_tuple!(A, B);
zeroable_tuple!(A, B, C);
zeroable_tuple!(A, B, C, D);
