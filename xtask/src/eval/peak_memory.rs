//! Peak memory of a run. On the CPU: the process's peak resident set (`VmHWM` of
//! `/proc/self/status`), reset before each run through `/proc/self/clear_refs`.

/// Resident-set figures of this process, bytes.
#[derive(Debug, Clone, Copy)]
pub struct Resident {
    /// Peak since the last reset.
    pub peak: u64,
}

/// Resets the peak to the current resident set (Linux ≥ 4.0); false if the kernel refused.
pub fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Current and peak resident set, if `/proc` has them.
pub fn resident() -> Option<Resident> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status.lines().find(|l| l.starts_with(name)).and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<u64>().ok())
                .map(|kb| kb * 1024)
        })
    };
    Some(Resident {
        peak: field("VmHWM:")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_follows_an_allocation_and_resets() {
        assert!(reset_peak());
        let before = resident().unwrap();
        let block = vec![1u8; 64 << 20];
        std::hint::black_box(&block);
        let during = resident().unwrap();
        assert!(
            during.peak >= before.peak + (60 << 20),
            "{before:?} {during:?}"
        );
        drop(block);
        assert!(reset_peak());
        let after = resident().unwrap();
        assert!(after.peak < during.peak, "{after:?} {during:?}");
    }
}
