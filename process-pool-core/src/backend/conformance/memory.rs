//! This process's memory as the suites measure it, where the OS tells it (Linux's
//! `/proc/self/status`); elsewhere the figures are `None` and the memory checks are skipped.

/// A field of `/proc/self/status` in bytes (`VmRSS`: resident now; `VmHWM`: the peak since
/// [`reset_peak_rss`]).
fn status(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))?;
    let kib: u64 = kib.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib << 10)
}

/// The resident memory of this process now.
pub fn rss() -> Option<u64> {
    status("VmRSS")
}

/// The peak resident memory of this process so far (`VmHWM`).
pub fn peak_rss() -> Option<u64> {
    status("VmHWM")
}

/// Sets the peak resident memory (`VmHWM`) back to the resident memory now.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
