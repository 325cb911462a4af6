// A buffer over borrowed memory is `Send`, but keeps the borrow: it can't go to a thread that
// may outlive the memory.
use bumper::AllocBuffer;

fn main() {
    let mut memory = [0u8; 256];
    let mut buf = AllocBuffer::from(&mut memory);
    std::thread::spawn(move || {
        buf.no_escape(|s| *s.alloc(1u8))
    });
}
