//! `&Scope` as an `allocator_api2` allocator: `allocator_api2::vec::Vec` and `hashbrown::HashMap`
//! living in a scope on every kind of buffer, their memory coming back when the scope ends.

use allocator_api2::vec::Vec as ApiVec;
use bumper::{AllocBuffer, Buffer, DefaultBufferKind, Scope, SlabBuffer};
use hashbrown::HashMap;

/// Loop counts, cut down under Miri.
const N: usize = if cfg!(miri) { 200 } else { 5000 };

/// Pushes, extends and sums a vector living in `s`.
fn vec_work<B: Buffer>(s: &Scope<'_, B>) -> u64 {
    let mut v = ApiVec::new_in(s);
    for i in 0..N as u64 {
        v.push(i);
    }
    v.extend((0..N as u64).map(|i| 2 * i));
    assert_eq!(v.len(), 2 * N);
    v.iter().sum()
}

fn expected_vec_sum() -> u64 {
    let n = N as u64;
    3 * (n * (n - 1) / 2)
}

/// A few thousand inserts and lookups in a map living in `s`.
fn map_work<B: Buffer>(s: &Scope<'_, B>) {
    let mut map = HashMap::new_in(s);
    for i in 0..N as u32 {
        assert!(map.insert(i, i.wrapping_mul(2_654_435_761)).is_none());
    }
    assert_eq!(map.len(), N);
    for i in 0..N as u32 {
        assert_eq!(map.get(&i), Some(&i.wrapping_mul(2_654_435_761)));
    }
    assert_eq!(map.get(&(N as u32 + 1)), None);
    for i in (0..N as u32).step_by(2) {
        assert!(map.remove(&i).is_some());
    }
    assert_eq!(map.len(), N / 2);
    assert!(map.keys().all(|k| k % 2 == 1));
}

/// Both workloads in a scope on `buf`; `used` must be back where it was afterwards.
fn collections_in_scope<B: Buffer>(buf: &mut B) {
    let before = buf.stats().unwrap().used;
    let sum = buf.no_escape(|s| vec_work(s));
    assert_eq!(sum, expected_vec_sum());
    assert_eq!(buf.stats().unwrap().used, before);
    buf.no_escape(|s| map_work(s));
    assert_eq!(buf.stats().unwrap().used, before);
}

/// Both workloads in default scopes, nested in an outer default scope whose allocations survive.
fn default_collections() {
    let before = bumper::default_buffer_stats().unwrap().used;
    bumper::no_escape(|s| {
        let keep = s.alloc_slice_fill(5, 9u16);
        let used = s.stats().unwrap().used;
        let sum = bumper::no_escape(|inner| vec_work(inner));
        assert_eq!(sum, expected_vec_sum());
        s.no_escape(|inner| map_work(inner));
        bumper::no_escape(|inner| map_work(inner));
        assert_eq!(s.stats().unwrap().used, used);
        assert_eq!(keep, &[9; 5]);
    });
    assert_eq!(bumper::default_buffer_stats().unwrap().used, before);
}

#[test]
fn collections_on_alloc_buffer() {
    let mut buf = AllocBuffer::with_capacity(4 << 20);
    buf.no_escape(|s| {
        s.alloc(1u8);
    });
    collections_in_scope(&mut buf);
    // Also with something allocated beforehand that must survive.
    let mut guard = buf.checkpoint_guard();
    let mut s = guard.scope();
    let keep = s.alloc_slice_fill(33, 0x5Au8);
    let used = s.stats().unwrap().used;
    s.no_escape(|inner| {
        assert_eq!(vec_work(inner), expected_vec_sum());
        map_work(inner);
    });
    assert_eq!(s.stats().unwrap().used, used);
    assert!(keep.iter().all(|&b| b == 0x5A));
}

#[test]
fn collections_on_slab_buffers() {
    let mut small: SlabBuffer<4096> = SlabBuffer::with_slab_size();
    collections_in_scope(&mut small);
    let mut default_size = SlabBuffer::new();
    collections_in_scope(&mut default_size);
    // A second run reuses the slabs the first one kept.
    let capacity = small.stats().unwrap().capacity;
    collections_in_scope(&mut small);
    assert_eq!(small.stats().unwrap().capacity, capacity);
}

#[test]
fn collections_on_default_buffer() {
    std::thread::spawn(|| {
        let used = || bumper::default_buffer_stats().unwrap().used;
        bumper::no_escape(|s| {
            s.alloc(7u64);
        });
        let before = used();
        let sum = bumper::no_escape(|s| vec_work(s));
        assert_eq!(sum, expected_vec_sum());
        bumper::no_escape(|s| map_work(s));
        assert_eq!(used(), before);
        default_collections();
    })
    .join()
    .unwrap();
}

#[test]
fn collections_on_fixed_default_buffer_and_lent_buffer() {
    std::thread::spawn(|| {
        bumper::set_default_buffer_kind(DefaultBufferKind::Fixed { capacity: 4 << 20 }).unwrap();
        default_collections();
        let fixed = bumper::default_buffer_stats().unwrap();
        assert_eq!((fixed.capacity, fixed.used), (4 << 20, 0));
        let mut lent: SlabBuffer<8192> = SlabBuffer::with_slab_size();
        bumper::with_buffer(&mut lent, || {
            assert_eq!(bumper::no_escape(|s| vec_work(s)), expected_vec_sum());
            bumper::no_escape(|s| map_work(s));
        });
        assert_eq!(lent.stats().unwrap().used, 0);
    })
    .join()
    .unwrap();
}

#[test]
fn vec_memory_lies_in_the_fixed_buffer() {
    let mut buf = AllocBuffer::with_capacity(64 << 10);
    let range = buf.memory_range();
    buf.no_escape(|s| {
        let s = &*s;
        let mut v: ApiVec<u32, _> = ApiVec::new_in(s);
        for i in 0..1000 {
            v.push(i);
            let start = v.as_ptr() as usize;
            let end = start + v.capacity() * core::mem::size_of::<u32>();
            assert!(
                range.start <= start && end <= range.end,
                "{start:#x}..{end:#x} {range:x?}"
            );
        }
        let mut map = HashMap::new_in(s);
        map.extend((0..1000u32).map(|i| (i, i)));
        for (k, v) in &map {
            for addr in [k as *const u32 as usize, v as *const u32 as usize] {
                assert!(range.start <= addr && addr + 4 <= range.end);
            }
        }
    });
}

#[test]
fn vec_growth_past_a_fixed_buffer_is_an_error() {
    let mut storage = [0u8; 1024];
    let mut buf = AllocBuffer::from(&mut storage[..]);
    // The buffer may skip up to 15 bytes to start aligned.
    let capacity = buf.capacity();
    assert!(capacity > 1024 - 16);
    buf.no_escape(|s| {
        let s = &*s;
        let mut v: ApiVec<u64, _> = ApiVec::new_in(s);
        v.try_reserve(64).expect("512 bytes fit");
        v.extend(0..64u64);
        let used = s.stats().unwrap().used;
        // Growing past the buffer's capacity (in place or not) fails.
        assert!(v.try_reserve(capacity / 8).is_err());
        assert!(v.try_reserve_exact(capacity / 8).is_err());
        assert!(v.try_reserve(usize::MAX / 2).is_err());
        assert_eq!(
            s.stats().unwrap().used,
            used,
            "a failed growth left the buffer alone"
        );
        assert_eq!(v.len(), 64);
        assert_eq!(v.iter().sum::<u64>(), 63 * 64 / 2);
        // What is left can still be used.
        let rest = s.alloc_slice_fill(capacity - used, 1u8);
        assert_eq!(rest.len(), capacity - used);
        assert!(s.try_alloc(0u8).is_err());
    });
    assert_eq!(buf.used(), 0);
    // A map hits the same wall.
    buf.no_escape(|s| {
        let mut map = HashMap::new_in(&*s);
        assert!(map.try_reserve(1_000).is_err());
        map.try_reserve(8).expect("a few entries fit");
        map.insert(1u64, 2u64);
        assert_eq!(map[&1], 2);
    });
    assert_eq!(buf.used(), 0);
}

#[test]
fn vec_and_scope_allocations_coexist() {
    let mut buf: SlabBuffer<1024> = SlabBuffer::with_slab_size();
    buf.no_escape(|s| {
        let s = &*s;
        let mut v = ApiVec::new_in(s);
        let mut singles = std::vec::Vec::new();
        for i in 0..300u32 {
            v.push(i);
            singles.push(s.alloc(i));
        }
        for (i, x) in singles.iter().enumerate() {
            assert_eq!(**x, i as u32);
            assert_eq!(v[i], i as u32);
        }
        // The vector's later blocks (over 512 bytes) were big allocations, and so is the box.
        let big = s.stats().unwrap().big_allocations;
        assert!(big >= 1);
        let boxed = allocator_api2::boxed::Box::new_in([7u8; 2000], s);
        assert_eq!(boxed.iter().map(|&b| b as usize).sum::<usize>(), 14_000);
        assert_eq!(s.stats().unwrap().big_allocations, big + 1);
        assert_eq!(v.iter().sum::<u32>(), 299 * 300 / 2);
    });
    assert_eq!(buf.stats().unwrap().big_allocations, 0);
    assert_eq!(buf.used(), 0);
}

#[test]
#[should_panic(expected = "outer scope of the default buffer")]
fn vec_of_an_outer_default_scope_cannot_grow_inside_an_inner_one_on_a_lent_buffer() {
    // The borrow checker can't see default scopes nest across calls; on a lent buffer, shared
    // by nested scopes, the run-time check must stop the outer scope's vector from taking
    // memory the inner scope's end would free.
    let mut lent = SlabBuffer::new();
    bumper::with_buffer(&mut lent, || {
        bumper::no_escape(|s| {
            let mut v = ApiVec::new_in(&*s);
            v.push(1u64);
            bumper::no_escape(|inner| {
                inner.alloc(0u8);
                v.extend(0..1000u64);
            });
        });
    });
}

#[test]
fn vec_of_an_outer_default_scope_grows_inside_an_inner_one_on_the_threads_own_buffer() {
    // On the thread's own buffer every open scope has memory of its own: the outer vector
    // grows in the outer scope's memory, untouched by the inner scope's end.
    bumper::no_escape(|s| {
        let mut v = ApiVec::new_in(&*s);
        v.push(1u64);
        bumper::no_escape(|inner| {
            let w = inner.alloc_slice_fill(1000, 0xffu8);
            v.extend(0..1000u64);
            assert!(w.iter().all(|&b| b == 0xff));
        });
        bumper::no_escape(|again| {
            again.alloc_slice_fill(100_000, 0u8);
        });
        assert_eq!(v.len(), 1001);
        assert_eq!(v.iter().sum::<u64>(), 1 + 999 * 1000 / 2);
    });
}

#[test]
fn vec_of_an_outer_default_scope_grows_again_after_the_inner_one() {
    bumper::no_escape(|s| {
        let mut v = ApiVec::new_in(&*s);
        v.extend(0..100u64);
        let inner_sum = bumper::no_escape(|inner| {
            let w = inner.alloc_slice_copy(&v);
            w.iter().sum::<u64>()
        });
        v.extend(100..1000u64);
        assert_eq!(inner_sum, 99 * 100 / 2);
        assert_eq!(v.iter().sum::<u64>(), 999 * 1000 / 2);
    });
}

#[test]
fn the_newest_vector_grows_in_place_without_waste() {
    let mut buf = SlabBuffer::new();
    buf.no_escape(|s| {
        let s = &*s;
        s.alloc(0u8);
        let before = s.stats().unwrap().used;
        let mut v: ApiVec<u64, _> = ApiVec::new_in(s);
        v.push(1);
        let first = v.as_ptr();
        for i in 0..10_000u64 {
            v.push(i);
        }
        assert_eq!(v.as_ptr(), first, "every growth happened in place");
        let used = s.stats().unwrap().used - before;
        // Only the vector's final capacity (plus alignment padding), not the sum of its
        // intermediate sizes.
        assert!(
            used <= v.capacity() * 8 + 8,
            "{used} bytes for capacity {}",
            v.capacity()
        );
        v.shrink_to_fit();
        assert!(s.stats().unwrap().used - before <= v.len() * 8 + 8);
        drop(v);
        // Back to `before`, but for the padding that aligned the vector's block.
        let after = s.stats().unwrap().used;
        assert!(
            after - before < 8,
            "the newest block is given back when freed ({after} vs {before})"
        );

        // An older block grows by copying, and stays until the scope ends.
        let mut a: ApiVec<u64, _> = ApiVec::with_capacity_in(4, s);
        let b: ApiVec<u64, _> = ApiVec::with_capacity_in(4, s);
        a.extend(0..4);
        let a_ptr = a.as_ptr();
        a.push(4);
        assert_ne!(a.as_ptr(), a_ptr);
        assert_eq!(a, [0, 1, 2, 3, 4]);
        drop(b);
    });
}

#[test]
fn a_vector_of_an_outer_default_scope_can_be_dropped_inside_an_inner_one() {
    bumper::no_escape(|outer| {
        let v: ApiVec<u64, _> = {
            let mut v = ApiVec::new_in(&*outer);
            v.extend(0..100u64);
            v
        };
        bumper::no_escape(|inner| {
            inner.alloc(1u8);
            drop(v); // freeing through a suspended handle is a no-op, not a panic
        });
    });
}
