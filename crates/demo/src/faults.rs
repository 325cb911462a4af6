//! Minor page faults of the calling thread (`getrusage(RUSAGE_THREAD)`): the first touches of
//! memory the kernel had to map, which is what fresh heap blocks cost and reused arena memory
//! doesn't.

/// The calling thread's minor page faults so far; `None` where the platform can't tell.
/// Makes no heap allocation.
pub fn minor_faults() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `rusage` is plain old data, for which all-zero bytes are a valid value.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `usage` is a valid, writable `rusage`; `RUSAGE_THREAD` is supported on Linux.
        let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
        (rc == 0).then(|| u64::try_from(usage.ru_minflt).unwrap_or(0))
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn touching_fresh_pages_faults() {
        let Some(before) = super::minor_faults() else {
            return;
        };
        // 64 MiB, above any malloc's mmap threshold: fresh pages, mapped lazily by the kernel.
        let mut pages = vec![0u8; 64 << 20];
        for i in (0..pages.len()).step_by(4096) {
            pages[i] = 1;
        }
        std::hint::black_box(&pages);
        let after = super::minor_faults().expect("read before");
        assert!(after > before, "{before} -> {after}");
    }
}
