// A scope on the thread's default buffer can't move to another thread either.
fn main() {
    bumper::no_escape(|s| {
        std::thread::scope(|t| {
            t.spawn(move || {
                s.alloc(1u8);
            });
        });
    });
}
