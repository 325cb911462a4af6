// Shared access to an array reads its elements from several threads: an array of `Cell`s must
// not be shared (the storage is `Sync` only for `Sync` elements).
use std::cell::Cell;

use allocarrays::AllocArray;

fn main() {
    let a = AllocArray::from(vec![Cell::new(1), Cell::new(2)]);
    std::thread::scope(|s| {
        s.spawn(|| a.as_slice()[0].set(3));
    });
}
