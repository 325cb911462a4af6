//! Compile-fail tests of the thread-safety claims: each file under `tests/ui/` tries to share or
//! keep something across threads that must not be, and must be rejected with the error recorded
//! next to it in the `.stderr` file. `thread_safe_types` pins what must stay `Send` / `Sync`.
//!
//! The expected output depends on the compiler version; after a toolchain update, regenerate
//! with `TRYBUILD=overwrite cargo test -p arena-router --test compile_fail` and read the diffs.

use std::alloc::System;

use arena_router::{ArenaRouter, HeapArena, HeapResetReport};

#[test]
#[cfg_attr(miri, ignore)]
fn ui() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}

fn send<T: Send>() {}
fn sync<T: Sync>() {}

#[test]
fn thread_safe_types() {
    // One arena is entered by many threads at once (the lanes behind its lock are `Send`).
    send::<HeapArena>();
    sync::<HeapArena>();
    sync::<ArenaRouter<System>>();
    send::<HeapResetReport>();
}
