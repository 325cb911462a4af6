// An array's elements move with it: an array of `Rc`s must not go to another thread (the
// storage is `Send` only for `Send` elements).
use std::rc::Rc;

use allocarrays::AllocArray;

fn main() {
    let a = AllocArray::from(vec![Rc::new(1), Rc::new(2)]);
    std::thread::spawn(move || drop(a));
}
