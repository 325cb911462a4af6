//! The demo: the seed's examples in Rust, timed, with allocator calls and page faults counted,
//! under the system allocator and mimalloc side by side.
//!
//! ```text
//! cargo run --release -p allocarrays-demo [-- --quick] [--json FILE] [--svg FILE] [--svg-dir DIR]
//! ```

use allocarrays::ArenaRouter;
use allocarrays_demo::alloc_stack::{Counting, Switch};

/// Inside a `HeapArena` scope, serves every allocation from the arena; outside, counts the
/// allocator calls of each thread and sends them to the system allocator or mimalloc, as the
/// demo switches.
#[global_allocator]
static GLOBAL: ArenaRouter<Counting<Switch>> = ArenaRouter::new(Counting::new(Switch::new()));

fn main() {
    std::process::exit(allocarrays_demo::cli::run(std::env::args().skip(1)));
}
