//! [`Storage`]: the elements of one array, in heap memory or in arena memory held by a lease.

use std::alloc::Layout;
use std::fmt;
use std::mem::{self, ManuallyDrop, MaybeUninit};
use std::ptr::{self, NonNull};

use bumper::AllocError;

use crate::context::allocate_current;
use crate::epoch::Lease;
use crate::error::ArrayError;

/// The elements of one array: `len` initialised values of `A`, contiguous, owned.
pub(crate) struct Storage<A> {
    ptr: NonNull<A>,
    len: usize,
    owner: Owner,
}

/// Who gives the memory back.
enum Owner {
    /// A `Vec<A>` taken apart: its capacity.
    Heap { capacity: usize },
    /// Arena memory, kept from reuse by the lease.
    Arena(Lease),
}

// SAFETY: the storage owns its elements exclusively (like a `Vec<A>`) and its lease, which the
// bound requires to be `Send` too.
unsafe impl<A: Send> Send for Storage<A> where Lease: Send {}
// SAFETY: shared access only reads the elements (like `&Vec<A>`) and the lease (`Sync`).
unsafe impl<A: Sync> Sync for Storage<A> where Lease: Sync {}

/// Whether the memory of a new array is tracked as a checked array's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tracking {
    Unchecked,
    Checked,
}

impl<A> Storage<A> {
    /// Takes over a vector's elements and memory.
    pub(crate) fn from_vec(vec: Vec<A>) -> Self {
        let mut vec = ManuallyDrop::new(vec);
        let (len, capacity) = (vec.len(), vec.capacity());
        let ptr = NonNull::new(vec.as_mut_ptr()).expect("Vec pointers are never null");
        Storage {
            ptr,
            len,
            owner: Owner::Heap { capacity },
        }
    }

    /// `len` elements made by `f(index)`, in memory from the current allocator (the heap
    /// outside any `with_allocator`); an error if the memory can't be had.
    ///
    /// Calls `f` exactly once for each index in `0..len`, in increasing order (until it
    /// panics), and not at all on error: unsafe callers rely on this, so it is part of the
    /// contract.
    ///
    /// # Errors
    ///
    /// [`ArrayError::SizeOverflow`] if `len` elements overflow `isize::MAX` bytes;
    /// [`ArrayError::Alloc`] if the allocator can't provide the memory (a full fixed buffer).
    #[inline]
    pub(crate) fn try_from_fn(
        len: usize,
        tracking: Tracking,
        mut f: impl FnMut(usize) -> A,
    ) -> Result<Self, ArrayError> {
        let Ok(layout) = Layout::array::<A>(len) else {
            return Err(ArrayError::SizeOverflow {
                len,
                elem_size: mem::size_of::<A>(),
            });
        };
        match allocate_current(layout, tracking == Tracking::Checked) {
            None => {
                let mut vec = Vec::new();
                if vec.try_reserve_exact(len).is_err() {
                    return Err(ArrayError::Alloc {
                        bytes: layout.size(),
                        source: AllocError::OutOfMemory {
                            requested: layout.size(),
                        },
                    });
                }
                vec.extend((0..len).map(f));
                Ok(Self::from_vec(vec))
            }
            Some(Err(source)) => Err(ArrayError::Alloc {
                bytes: layout.size(),
                source,
            }),
            Some(Ok((ptr, lease))) => {
                let ptr = ptr.cast::<A>();
                let slots = ptr.as_ptr().cast::<MaybeUninit<A>>();
                for i in 0..len {
                    // SAFETY: the block holds `len` aligned slots, exclusively ours. If `f`
                    // panics, the values written so far are leaked (never dropped), and the
                    // lease drops, so the memory is released safely.
                    unsafe { (*slots.add(i)).write(f(i)) };
                }
                Ok(Storage {
                    ptr,
                    len,
                    owner: Owner::Arena(lease),
                })
            }
        }
    }

    /// Copies `src` into new storage from the current allocator.
    ///
    /// # Errors
    ///
    /// As [`try_from_fn`](Self::try_from_fn).
    pub(crate) fn try_from_slice(src: &[A], tracking: Tracking) -> Result<Self, ArrayError>
    where
        A: Clone,
    {
        Self::try_from_fn(src.len(), tracking, |i| src[i].clone())
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn as_ptr(&self) -> *const A {
        self.ptr.as_ptr()
    }

    pub(crate) fn as_mut_ptr(&mut self) -> *mut A {
        self.ptr.as_ptr()
    }

    pub(crate) fn as_slice(&self) -> &[A] {
        // SAFETY: `len` initialised elements, owned by `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [A] {
        // SAFETY: as above, exclusively borrowed.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// The lease, for arena memory.
    pub(crate) fn lease(&self) -> Option<&Lease> {
        match &self.owner {
            Owner::Arena(lease) => Some(lease),
            Owner::Heap { .. } => None,
        }
    }

    /// The elements as a `Vec` on the heap: the same memory for heap storage, a copy for arena
    /// storage.
    pub(crate) fn into_vec(self) -> Vec<A> {
        let this = ManuallyDrop::new(self);
        match &this.owner {
            // SAFETY: pointer, length and capacity come from a `Vec<A>` taken apart in
            // `from_vec`; `this` is not dropped, so the elements move into the new vector.
            Owner::Heap { capacity } => unsafe {
                Vec::from_raw_parts(this.ptr.as_ptr(), this.len, *capacity)
            },
            Owner::Arena(lease) => {
                let mut vec = Vec::with_capacity(this.len);
                // SAFETY: the elements are moved (bitwise) into the vector's fresh memory and
                // never dropped from the arena, which `this` being `ManuallyDrop` ensures.
                unsafe {
                    ptr::copy_nonoverlapping(this.ptr.as_ptr(), vec.as_mut_ptr(), this.len);
                    vec.set_len(this.len);
                }
                // SAFETY: read once, out of the `ManuallyDrop`; releases the arena memory.
                drop(unsafe { ptr::read(lease) });
                vec
            }
        }
    }
}

impl<A> Storage<MaybeUninit<A>> {
    /// The same memory, read as initialised elements.
    ///
    /// # Safety
    ///
    /// Every element is initialised.
    pub(crate) unsafe fn assume_init(self) -> Storage<A> {
        let this = ManuallyDrop::new(self);
        Storage {
            // `MaybeUninit<A>` has the size and alignment of `A`, so the block (and, for heap
            // memory, the `Vec` capacity) describes the same memory for `A`.
            ptr: this.ptr.cast::<A>(),
            len: this.len,
            // SAFETY: read once out of the `ManuallyDrop`, which is never dropped.
            owner: unsafe { ptr::read(&this.owner) },
        }
    }
}

impl<A> Drop for Storage<A> {
    fn drop(&mut self) {
        // SAFETY: `len` initialised elements, owned and dropped exactly once here.
        unsafe { ptr::drop_in_place(ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), self.len)) };
        if let Owner::Heap { capacity } = self.owner {
            // SAFETY: the memory of a `Vec<A>` of this capacity; its elements were dropped above.
            drop(unsafe { Vec::from_raw_parts(self.ptr.as_ptr(), 0, capacity) });
        }
        // Arena memory: the lease drops with `self.owner`.
    }
}

impl<A: fmt::Debug> fmt::Debug for Storage<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let place = match &self.owner {
            Owner::Heap { .. } => "heap",
            Owner::Arena(_) => "arena",
        };
        f.debug_struct("Storage")
            .field("len", &self.len)
            .field("memory", &place)
            .finish()
    }
}
