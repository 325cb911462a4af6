//! Helpers shared by the array test binaries.

use std::panic::{catch_unwind, AssertUnwindSafe};

/// The panic message of `f`, which must panic.
pub fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else {
        String::from("<non-string panic>")
    }
}

/// Evaluates and discards a value (`drop` on a `Copy` value draws a lint).
pub fn ignore<T>(_: T) {}
