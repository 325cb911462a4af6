//! The seed's static-binary example: a times table in an `AllocBuffer` over a `static` array.
//! The table's memory needs no allocator (`bumper` builds the same buffer in `no_std` mode); only
//! the argument parsing and printing here use the heap.
//!
//! `cargo run -p bumper --example times_table -- 12 7`

use bumper::AllocBuffer;

/// Memory for the buffer: lives in the binary's data, not on the heap.
static mut MEMORY: [u8; 1 << 16] = [0; 1 << 16];

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.trim_end_matches(',').parse().ok())
        .collect();
    let [rows, cols] = args[..] else {
        eprintln!("usage: times_table ROWS COLS");
        std::process::exit(2);
    };

    let memory_ptr = &raw mut MEMORY;
    // SAFETY: this is the only place `MEMORY` is referenced, and `main` runs once.
    let memory = unsafe { &mut *memory_ptr };
    let mut buf = AllocBuffer::from(memory);

    let printed = buf.no_escape(|s| {
        let Ok(mut m) = s.try_alloc_array_zeroed::<usize, _>((rows, cols)) else {
            eprintln!("a {rows}x{cols} table does not fit in {} bytes", 1 << 16);
            return false;
        };
        for ((i, j), v) in m.indexed_iter_mut() {
            *v = (i + 1) * (j + 1);
        }
        for row in m.rows() {
            let line: Vec<String> = row.iter().map(|v| format!("{v:<4}")).collect();
            println!("{}", line.join("").trim_end());
        }
        true
    });
    std::process::exit(if printed { 0 } else { 1 });
}
