//! `minilm`: all-MiniLM-L6-v2 sentence embeddings with candle, arena routing off and on,
//! under the system allocator, tuned glibc malloc and mimalloc. See the crate's README.
//!
//! Without `--worker` it is the driver: it runs itself once per allocator configuration, each
//! process with the environment its configuration needs, and prints the report.

use std::process::ExitCode;

use allocarrays::ArenaRouter;
use minilm_bench::alloc::{Counting, CountingSelected, RoleSizes, Selected};
use minilm_bench::cli::{Options, USAGE};
use minilm_bench::report::run_driver;
use minilm_bench::run::run_worker;

/// Arena scopes are served by the router; everything else goes, counted, to the system
/// allocator or mimalloc (whichever `MINILM_ALLOCATOR` names at process start).
#[global_allocator]
static GLOBAL: ArenaRouter<CountingSelected> =
    ArenaRouter::new(Counting::with_observer(Selected::new(), RoleSizes::new()));

fn main() -> ExitCode {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match options.worker {
        Some(config) => run_worker(config, &options, GLOBAL.inner()),
        None => run_driver(&options),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
