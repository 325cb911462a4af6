//! Resource usage of the whole process (all threads), from `getrusage(RUSAGE_SELF)`: page
//! faults and CPU time.
//!
//! Candle's matrix products run on rayon worker threads, so per-thread counters
//! (`RUSAGE_THREAD`) would miss much of it.

use std::time::Duration;

/// Page faults and CPU time so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Minor faults: pages the kernel had to map (first touch of fresh memory).
    pub minor_faults: u64,
    /// Major faults: pages that had to be read from disk.
    pub major_faults: u64,
    /// User plus system CPU time of all threads.
    pub cpu: Duration,
}

fn timeval(tv: libc::timeval) -> Duration {
    Duration::from_secs(tv.tv_sec.max(0) as u64) + Duration::from_micros(tv.tv_usec.max(0) as u64)
}

fn rusage() -> Option<libc::rusage> {
    // SAFETY: `rusage` is plain old data, for which all-zero bytes are a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable `rusage`; the call writes nothing else.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    (rc == 0).then_some(usage)
}

impl Usage {
    /// The process's usage now (zeros where `getrusage` is unavailable or fails). Never
    /// allocates.
    pub fn now() -> Usage {
        let Some(usage) = rusage() else {
            return Usage::default();
        };
        Usage {
            minor_faults: usage.ru_minflt.max(0) as u64,
            major_faults: usage.ru_majflt.max(0) as u64,
            cpu: timeval(usage.ru_utime) + timeval(usage.ru_stime),
        }
    }

    /// The usage from `earlier` to `self`.
    pub fn since(&self, earlier: &Usage) -> Usage {
        Usage {
            minor_faults: self.minor_faults.saturating_sub(earlier.minor_faults),
            major_faults: self.major_faults.saturating_sub(earlier.major_faults),
            cpu: self.cpu.saturating_sub(earlier.cpu),
        }
    }
}

/// The peak resident set size of the process so far, in KiB (0 where unavailable).
pub fn max_rss_kib() -> u64 {
    rusage().map_or(0, |u| u.ru_maxrss.max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touching_fresh_memory_faults_and_takes_time() {
        let before = Usage::now();
        let mut v = vec![0u8; 64 << 20];
        for i in (0..v.len()).step_by(4096) {
            v[i] = 1;
        }
        std::hint::black_box(&v);
        let delta = Usage::now().since(&before);
        assert!(delta.minor_faults > 0);
        assert!(delta.cpu > Duration::ZERO);
        assert!(max_rss_kib() > 0);
    }
}
