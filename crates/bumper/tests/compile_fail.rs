//! Compile-fail tests: each file under `tests/ui/` lets (or tries to let) a scope's allocation
//! outlive the scope, or misuses a scope, and must be rejected by the compiler with the error
//! recorded next to it in the `.stderr` file.
//!
//! The expected output depends on the compiler version; after a toolchain update, regenerate
//! with `TRYBUILD=overwrite cargo test -p bumper --test compile_fail` and read the diffs.

#[test]
#[cfg_attr(miri, ignore)]
fn ui() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
