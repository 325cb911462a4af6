//! Compile-fail tests of the thread-safety claims (`Send` / `Sync`, hand-written or derived):
//! each file under `tests/ui/` tries to move or share something across threads that must not
//! go, and must be rejected with the error recorded next to it in the `.stderr` file. The
//! `thread_safe_types` test pins the other side: what must stay `Send` / `Sync`.
//!
//! The expected output depends on the compiler version; after a toolchain update, regenerate
//! with `TRYBUILD=overwrite cargo test -p allocarrays --test compile_fail` and read the diffs.

use allocarrays::{
    AllocArray, AutoscalingAllocBuffer, BumperAllocator, Carry, CheckedAllocArray, Lease,
};
use bumper::{AllocBuffer, SlabBuffer};
use ndarray::{Ix1, Ix2};

#[test]
#[cfg_attr(miri, ignore)]
fn ui() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}

fn send<T: Send>() {}
fn sync<T: Sync>() {}

#[test]
fn thread_safe_types() {
    // Allocators over every buffer kind of the workspace are shareable.
    send::<BumperAllocator>();
    sync::<BumperAllocator>();
    sync::<BumperAllocator<SlabBuffer>>();
    sync::<BumperAllocator<SlabBuffer<4096>>>();
    sync::<BumperAllocator<AllocBuffer<'static>>>();
    send::<AutoscalingAllocBuffer>();
    sync::<AutoscalingAllocBuffer>();
    // Arrays of thread-safe elements move and are shared.
    send::<AllocArray<f64, Ix2>>();
    sync::<AllocArray<f64, Ix1>>();
    send::<CheckedAllocArray<f32, Ix1>>();
    sync::<CheckedAllocArray<f32, Ix1>>();
    send::<Lease>();
    sync::<Lease>();
    send::<Carry<'static>>();
    sync::<Carry<'static>>();
}
