//! Figures of the whole process read from `/proc/self` (Linux): the peak resident set size
//! and the minor page faults. Both read into a stack buffer, so they can be called between
//! measurements without disturbing allocation counts; both give `None` where there is no
//! `/proc` (other systems) or the file can't be parsed.

use std::io::Read;

/// Reads `path` into `buf`, returning the text read (up to the buffer's size).
fn read_small<'b>(path: &str, buf: &'b mut [u8]) -> Option<&'b str> {
    let mut file = std::fs::File::open(path).ok()?;
    let mut len = 0;
    while len < buf.len() {
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    std::str::from_utf8(&buf[..len]).ok()
}

/// The value in KiB of the `key:` line of a `/proc/*/status` text (`VmHWM: 1234 kB`).
fn status_kib(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix(key)?.strip_prefix(':')?;
        value.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

/// The peak resident set size of this process so far (`VmHWM` of `/proc/self/status`), in
/// KiB.
///
/// ```
/// if let Some(kib) = bench_support::process::peak_rss_kib() {
///     assert!(kib > 0);
/// }
/// ```
pub fn peak_rss_kib() -> Option<u64> {
    let mut buf = [0u8; 8192];
    status_kib(read_small("/proc/self/status", &mut buf)?, "VmHWM")
}

/// Field 10 (`minflt`) of a `/proc/*/stat` text.
fn stat_minor_faults(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may hold spaces: count from its end.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(7)?.parse().ok()
}

/// The minor page faults of this process so far (all threads), from `/proc/self/stat`.
///
/// ```
/// if let Some(faults) = bench_support::process::minor_faults() {
///     let v = vec![1u8; 1 << 22];
///     std::hint::black_box(&v);
///     assert!(bench_support::process::minor_faults().unwrap() >= faults);
/// }
/// ```
pub fn minor_faults() -> Option<u64> {
    let mut buf = [0u8; 1024];
    stat_minor_faults(read_small("/proc/self/stat", &mut buf)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_parse() {
        let status = "Name:\tx\nVmPeak:\t  2000 kB\nVmHWM:\t   1234 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(status_kib(status, "VmHWM"), Some(1234));
        assert_eq!(status_kib(status, "VmSwap"), None);
        assert_eq!(status_kib("VmHWM:\tlots\n", "VmHWM"), None);
    }

    #[test]
    fn stat_fields_count_from_the_command_name() {
        let stat = "42 (a b) c) S 1 2 3 4 5 6 777 8 9";
        assert_eq!(stat_minor_faults(stat), Some(777));
        assert_eq!(stat_minor_faults("no name"), None);
    }

    // Not under Miri: it reads real files, which Miri's isolation forbids.
    #[cfg(all(target_os = "linux", not(miri)))]
    #[test]
    fn this_process_has_a_peak_and_faults() {
        let before = minor_faults().expect("minor faults on Linux");
        let v = vec![1u8; 8 << 20];
        std::hint::black_box(&v);
        assert!(minor_faults().unwrap() > before);
        assert!(peak_rss_kib().expect("VmHWM on Linux") >= 8 << 10);
    }
}
