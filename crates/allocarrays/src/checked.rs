//! [`CheckedAllocArray`]: the "slow but safe" array (the seed's `CheckedAllocArray`). It is an
//! [`AllocArrayBase`] whose kind is [`Checked`]: the same operations as [`AllocArray`], each of
//! which first checks, once, that the array's memory was not reset since it was handed out.
//!
//! The check is not what keeps Rust code memory-safe (an arena array's memory is never reused
//! while the array lives, whatever its kind); it is a bug detector, like the seed's: code that
//! reads an array made before the allocator's last `reset` gets an [`InvalidMemory`] error (or
//! panic) instead of stale values.
//!
//! [`AllocArray`]: crate::AllocArray

use std::error::Error;
use std::fmt;

use ndarray::{Array, ArrayViewMut, Dimension};

use crate::array::{AllocArrayBase, AllocViewBase};
use crate::epoch::Lease;
use crate::storage::Tracking;

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Unchecked {}
    impl Sealed for super::Checked {}
}

/// Whether an array checks the validity of its memory before every operation: [`Unchecked`]
/// ([`AllocArray`](crate::AllocArray)) or [`Checked`] ([`CheckedAllocArray`]). Sealed.
///
/// ```
/// use allocarrays::{Checked, Checking, Unchecked};
///
/// assert!(!Unchecked::CHECKED);
/// assert!(Checked::CHECKED);
/// // Combining a checked and an unchecked operand gives a checked result.
/// fn kind_of<K: Checking>() -> bool { K::CHECKED }
/// assert!(kind_of::<<Unchecked as Checking>::Or<Checked>>());
/// ```
pub trait Checking:
    sealed::Sealed + Copy + Default + fmt::Debug + Send + Sync + Unpin + 'static
{
    /// Whether arrays of this kind check their memory (and are counted by the allocator).
    const CHECKED: bool;

    /// The kind of a result computed from an operand of kind `Self` and one of kind `K`:
    /// checked if either is.
    type Or<K: Checking>: Checking;

    /// The owned array's name, for `Debug`.
    #[doc(hidden)]
    const ARRAY_NAME: &'static str;

    /// The view's name, for `Debug`.
    #[doc(hidden)]
    const VIEW_NAME: &'static str;
}

/// A kind for code written once for [`AllocArray`](crate::AllocArray) and
/// [`CheckedAllocArray`]: a [`Checking`] kind `K` whose arrays, combined with unchecked
/// operands (a model's parameters, `ndarray` arrays, scalars) or with arrays of their own kind,
/// give arrays of kind `K` again. Both kinds are; it names the bound
/// `K: Checking<Or<Unchecked> = K> + Checking<Or<K> = K>`, so a generic model function reads
/// `K: ArrayKind`.
///
/// ```
/// use allocarrays::{with_allocator, AllocArray, AllocArrayBase, ArrayKind, BumperAllocator,
///     CheckedAllocArray};
/// use ndarray::{array, Ix1, Ix2};
///
/// /// `relu(x · w + b)`, for unchecked and checked inputs alike; the parameters are unchecked.
/// fn dense<K: ArrayKind>(
///     x: &AllocArrayBase<f32, Ix2, K>,
///     w: &AllocArray<f32, Ix2>,
///     b: &AllocArray<f32, Ix1>,
/// ) -> AllocArrayBase<f32, Ix2, K> {
///     let y = x.dot(w) + b; // kind K, from the current allocator
///     let y = &y + &y; // K combined with K: K again
///     y.mapv(|v| v.max(0.0))
/// }
///
/// let (w, b) = (AllocArray::from(array![[1.0, -1.0]]), AllocArray::from(vec![0.5, 0.0]));
/// let alloc = BumperAllocator::with_fixed_capacity(1 << 16);
/// with_allocator(&alloc, || {
///     let plain = dense(&AllocArray::from(array![[2.0]]), &w, &b);
///     let checked = dense(&CheckedAllocArray::from(array![[2.0]]), &w, &b);
///     assert_eq!(plain.as_slice(), &[5.0, 0.0]);
///     assert_eq!(checked, plain);
/// });
/// alloc.reset();
/// ```
pub trait ArrayKind: Checking<Or<Unchecked> = Self> + Checking<Or<Self> = Self> {}

impl<K> ArrayKind for K where K: Checking<Or<Unchecked> = K> + Checking<Or<K> = K> {}

/// The kind of [`AllocArray`](crate::AllocArray): no validity checks.
///
/// ```
/// use allocarrays::{AllocArrayBase, Unchecked};
///
/// let a: AllocArrayBase<f64, ndarray::Ix1, Unchecked> = AllocArrayBase::zeros(3);
/// assert_eq!(a.sum(), 0.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Unchecked;

/// The kind of [`CheckedAllocArray`]: every operation checks that the memory was not reset.
///
/// ```
/// use allocarrays::{AllocArrayBase, Checked};
///
/// let a: AllocArrayBase<f64, ndarray::Ix1, Checked> = AllocArrayBase::zeros(3);
/// assert!(a.check().is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Checked;

impl Checking for Unchecked {
    const CHECKED: bool = false;
    type Or<K: Checking> = K;
    const ARRAY_NAME: &'static str = "AllocArray";
    const VIEW_NAME: &'static str = "AllocView";
}

impl Checking for Checked {
    const CHECKED: bool = true;
    type Or<K: Checking> = Checked;
    const ARRAY_NAME: &'static str = "CheckedAllocArray";
    const VIEW_NAME: &'static str = "CheckedView";
}

/// How arrays of kind `K` register their memory with the allocator.
#[inline]
pub(crate) fn tracking<K: Checking>() -> Tracking {
    if K::CHECKED {
        Tracking::Checked
    } else {
        Tracking::Unchecked
    }
}

/// The check of a `K` array with this lease (none: heap memory, always valid).
#[inline]
pub(crate) fn check_lease<K: Checking>(lease: Option<&Lease>) -> Result<(), InvalidMemory> {
    match lease {
        Some(lease) if K::CHECKED && !lease.is_valid() => Err(InvalidMemory),
        _ => Ok(()),
    }
}

/// The panic of the panicking forms.
#[cold]
#[inline(never)]
#[track_caller]
pub(crate) fn invalid_memory() -> ! {
    panic!("{InvalidMemory}")
}

/// A checked array (or a view or reshape of one) was used after the allocator its memory came
/// from was reset (the seed's `InvalidMemoryException`).
///
/// ```
/// use allocarrays::{with_allocator, BumperAllocator, CheckedAllocArray, InvalidMemory};
///
/// let alloc = BumperAllocator::with_fixed_capacity(1 << 16);
/// let a = CheckedAllocArray::from(vec![1.0, 2.0]);
/// let b = with_allocator(&alloc, || &a * 2.0); // from the allocator
/// alloc.reset();
/// assert_eq!(b.check(), Err(InvalidMemory));
/// assert_eq!(
///     InvalidMemory.to_string(),
///     "array accessed after its memory has been deallocated"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InvalidMemory;

impl fmt::Display for InvalidMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("array accessed after its memory has been deallocated")
    }
}

impl Error for InvalidMemory {}

/// A [`CheckedAllocArray`] can't be made from an [`AllocArray`](crate::AllocArray) whose memory
/// came from an allocator: its validity was never tracked (the seed refuses this too).
///
/// ```
/// use allocarrays::{with_allocator, AllocArray, BumperAllocator, CheckedAllocArray};
///
/// let alloc = BumperAllocator::with_fixed_capacity(1 << 16);
/// let arena = with_allocator(&alloc, || AllocArray::<f64, _>::zeros(4));
/// let err = CheckedAllocArray::try_from(arena).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "cannot make a CheckedAllocArray from an unchecked arena array: its validity was not tracked"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UncheckedArenaArray;

impl fmt::Display for UncheckedArenaArray {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "cannot make a CheckedAllocArray from an unchecked arena array: its validity was not \
             tracked",
        )
    }
}

impl Error for UncheckedArenaArray {}

/// The "slow but safe" [`AllocArray`](crate::AllocArray) (the seed's `CheckedAllocArray`): an
/// owned, row-major n-d array whose new arrays come from the current allocator, and which
/// refuses access once that allocator was reset.
///
/// Every operation (arithmetic, `map`, reductions, views, indexing, conversions) first checks
/// once, not per element, that the memory is still valid, and panics with
/// "array accessed after its memory has been deallocated" if not; the `try_*` forms and
/// [`check`](AllocArrayBase::check) return [`InvalidMemory`] instead. Views and reshapes
/// share the validity of the array they come from. Heap memory is always valid.
///
/// # Which calls check
///
/// The same for the array and its views ([`CheckedView`]):
///
/// | calls | check |
/// |---|---|
/// | shape queries: `shape`, `raw_dim`, `dim`, `ndim`, `len`, `is_empty`, `nrows`, `ncols`; `is_arena`, `lease`, `is_valid`; calls that only use the shape: `similar`, `similar_shaped`, `zeros_like`, `similar_uninit` | never |
/// | `check` and every `try_*` form (`try_view`, `try_alloc_view`, `try_sum`, `try_to_array`, `try_view_mut`, `try_as_slice`, `try_into_array`) | returns [`InvalidMemory`] |
/// | `Debug` and `Display` | print a note instead of the elements |
/// | everything else: element access (`view`, `as_slice`, `iter`, `get`, indexing, `sum`, ...), new arrays from it (operators, `map`, `to_owned`, `clone`, `dot`, ...), views of it (`alloc_view`, `slice`, `t`, `row`, `index_axis`, `axis_iter`, ...), reshapes (`reshape`, `into_dyn`, `insert_axis`), conversions (`into_array`, `into_unchecked`), writes | panics, at the caller's line |
///
/// A view checks again on every use, so one made before a reset refuses after it.
///
/// New checked arrays are counted by the allocator (the seed's "tracked memory locations"), so
/// they need a [`BumperAllocator`](crate::BumperAllocator): an
/// [`UncheckedBumperAllocator`](crate::UncheckedBumperAllocator) refuses them with a panic.
///
/// Operations mixing checked and unchecked operands give checked results.
///
/// ```
/// use allocarrays::{with_allocator, BumperAllocator, CheckedAllocArray};
///
/// let alloc = BumperAllocator::with_fixed_capacity(1 << 20);
/// let input = CheckedAllocArray::from(vec![1.0, 2.0, 3.0]);
/// let total = with_allocator(&alloc, || {
///     let doubled = &input * 2.0; // a checked array in the arena
///     let total = doubled.sum();
///     alloc.reset();
///     assert!(doubled.try_sum().is_err()); // used after its memory was reset
///     total
/// });
/// assert_eq!(total, 12.0);
/// ```
pub type CheckedAllocArray<A, D> = AllocArrayBase<A, D, Checked>;

/// A view of a [`CheckedAllocArray`] (from [`slice`](AllocArrayBase::slice),
/// [`t`](AllocArrayBase::t) or [`alloc_view`](AllocArrayBase::alloc_view)): it checks the
/// array's memory before every operation, like the array.
///
/// ```
/// use allocarrays::{CheckedAllocArray, CheckedView};
/// use ndarray::{s, Ix1};
///
/// let a = CheckedAllocArray::from(vec![1, 2, 3, 4]);
/// let head: CheckedView<'_, i32, Ix1> = a.slice(s![..2]);
/// let sum: CheckedAllocArray<i32, Ix1> = head + a.slice(s![2..]);
/// assert_eq!(sum.as_slice(), &[4, 6]);
/// ```
pub type CheckedView<'a, A, D> = AllocViewBase<'a, A, D, Checked>;

/// The `Result` forms of owned arrays (those shared with views, such as `check`, `try_view`,
/// `try_sum` and `try_to_array`, are with the other shared methods): each checks the memory
/// once and returns [`InvalidMemory`] where the plain form panics. On unchecked arrays they
/// always succeed.
impl<A, D: Dimension, K: Checking> AllocArrayBase<A, D, K> {
    /// A mutable `ndarray` view of the elements, after the check.
    ///
    /// # Errors
    ///
    /// [`InvalidMemory`] (see [`check`](AllocArrayBase::check)).
    ///
    /// ```
    /// use allocarrays::CheckedAllocArray;
    ///
    /// let mut a = CheckedAllocArray::from(vec![1, 2]);
    /// a.try_view_mut().unwrap()[0] = 5;
    /// assert_eq!(a.as_slice(), &[5, 2]);
    /// ```
    #[inline]
    pub fn try_view_mut(&mut self) -> Result<ArrayViewMut<'_, A, D>, InvalidMemory> {
        self.check()?;
        Ok(self.raw_view_mut())
    }

    /// The elements in row-major order, after the check.
    ///
    /// # Errors
    ///
    /// [`InvalidMemory`] (see [`check`](AllocArrayBase::check)).
    ///
    /// ```
    /// use allocarrays::CheckedAllocArray;
    ///
    /// let a = CheckedAllocArray::from(vec![1, 2]);
    /// assert_eq!(a.try_as_slice(), Ok(&[1, 2][..]));
    /// ```
    #[inline]
    pub fn try_as_slice(&self) -> Result<&[A], InvalidMemory> {
        self.check()?;
        Ok(self.storage().as_slice())
    }

    /// The elements as a heap `ndarray::Array` (no copy for heap memory), after the check.
    ///
    /// # Errors
    ///
    /// [`InvalidMemory`] (see [`check`](AllocArrayBase::check)).
    ///
    /// ```
    /// use allocarrays::CheckedAllocArray;
    ///
    /// let a = CheckedAllocArray::from(vec![1, 2]);
    /// assert_eq!(a.try_into_array().unwrap(), ndarray::array![1, 2]);
    /// ```
    pub fn try_into_array(self) -> Result<Array<A, D>, InvalidMemory> {
        self.check()?;
        Ok(self.into_array_unchecked())
    }
}

impl<A, D: Dimension> AllocArrayBase<A, D, Checked> {
    /// The same array without checks (no copy). Panics if its memory is already invalid.
    ///
    /// ```
    /// use allocarrays::{AllocArray, CheckedAllocArray};
    ///
    /// let a = CheckedAllocArray::from(vec![1, 2]);
    /// let b: AllocArray<i32, _> = a.into_unchecked();
    /// assert_eq!(b.as_slice(), &[1, 2]);
    /// ```
    #[track_caller]
    pub fn into_unchecked(self) -> AllocArrayBase<A, D, Unchecked> {
        if self.check().is_err() {
            invalid_memory();
        }
        self.into_kind()
    }
}

impl<A, D: Dimension> TryFrom<AllocArrayBase<A, D, Unchecked>> for AllocArrayBase<A, D, Checked> {
    type Error = UncheckedArenaArray;

    /// The same elements, checked from now on: moves a heap array (no copy); refuses an array
    /// whose memory came from an allocator, since nothing tracked its validity.
    ///
    /// ```
    /// use allocarrays::{AllocArray, CheckedAllocArray};
    ///
    /// let a = AllocArray::from(vec![1, 2]); // heap
    /// let c = CheckedAllocArray::try_from(a).unwrap();
    /// assert_eq!(c.as_slice(), &[1, 2]);
    /// ```
    fn try_from(array: AllocArrayBase<A, D, Unchecked>) -> Result<Self, Self::Error> {
        if array.is_arena() {
            Err(UncheckedArenaArray)
        } else {
            Ok(array.into_kind())
        }
    }
}
