//! What a report says about the run: the build, the CPUs, the platform.

/// `release build`, or a warning that the numbers of a debug build mean nothing. It tells
/// the profile this crate was built with, which is the benchmark's own unless a profile
/// override sets them apart.
///
/// ```
/// let build = bench_support::machine::build();
/// assert!(build == "release build" || build.starts_with("DEBUG build"));
/// ```
pub fn build() -> &'static str {
    if cfg!(debug_assertions) {
        "DEBUG build: numbers are meaningless, use --release"
    } else {
        "release build"
    }
}

/// The CPUs this process may use (0 where that can't be told).
///
/// ```
/// assert!(bench_support::machine::cpus() >= 1);
/// ```
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(0, |n| n.get())
}

/// The operating system and the architecture, e.g. `linux x86_64`.
///
/// ```
/// assert!(bench_support::machine::platform().contains(std::env::consts::ARCH));
/// ```
pub fn platform() -> String {
    format!("{} {}", std::env::consts::OS, std::env::consts::ARCH)
}

/// `{build}; {cpus} CPUs; {platform}`: the tail of a report's first line.
///
/// ```
/// assert!(bench_support::machine::summary().contains(" CPUs; "));
/// ```
pub fn summary() -> String {
    format!("{}; {} CPUs; {}", build(), cpus(), platform())
}
