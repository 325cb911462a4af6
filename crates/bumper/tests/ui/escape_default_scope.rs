// Returning an allocation out of a scope on the thread's default buffer.
fn main() {
    let escaped = bumper::no_escape(|s| s.alloc(1u8));
    *escaped = 2;
}
