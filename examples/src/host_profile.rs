//! Where the host spends a run: a sampling profile of every thread of the process (pprof's
//! `setitimer` sampler, CPU time, ~1 kHz), written as folded stacks for
//! `scripts/gpu/folded-summary.py` or any flame-graph tool. The GPU machines have no `perf`,
//! and on a small model the host's operation and launch costs set the time. Built with the
//! feature `host-profile` on Unix; elsewhere asking for a profile is an error.

use std::path::Path;

/// Whether this build has the sampler: `HostProfile::start` errs otherwise.
pub const AVAILABLE: bool = cfg!(all(unix, feature = "host-profile"));

/// A running sampler of every thread of the process.
#[cfg(all(unix, feature = "host-profile"))]
pub struct HostProfile(pprof::ProfilerGuard<'static>);

/// Stands in for the sampler where it is not built.
#[cfg(not(all(unix, feature = "host-profile")))]
pub struct HostProfile;

#[cfg(all(unix, feature = "host-profile"))]
impl HostProfile {
    /// Starts sampling.
    pub fn start() -> anyhow::Result<Self> {
        let guard = pprof::ProfilerGuardBuilder::default()
            .frequency(997)
            // Unwinding through these can fault (pprof's advice).
            .blocklist(&["libc", "libgcc", "pthread", "vdso"])
            .build()?;
        Ok(Self(guard))
    }

    /// Writes the samples as folded stacks: per line the thread, then the frames from the root
    /// down, `;`-separated, then the count.
    pub fn write(self, path: &Path) -> anyhow::Result<()> {
        let report = self.0.report().build()?;
        let mut lines: Vec<String> = report
            .data
            .iter()
            .map(|(stack, count)| {
                let frames = stack
                    .frames
                    .iter()
                    .rev()
                    .flat_map(|frame| frame.iter().rev().map(|symbol| symbol.name()));
                let names: Vec<String> = std::iter::once(stack.thread_name_or_id())
                    .chain(frames)
                    .collect();
                format!("{} {count}", names.join(";"))
            })
            .collect();
        lines.sort();
        std::fs::write(path, lines.join("\n") + "\n")?;
        Ok(())
    }
}

#[cfg(not(all(unix, feature = "host-profile")))]
impl HostProfile {
    /// Refuses: the sampler is not built.
    pub fn start() -> anyhow::Result<Self> {
        anyhow::bail!("--host-profile needs the example built with `--features host-profile`")
    }

    /// Nothing to write.
    pub fn write(self, _path: &Path) -> anyhow::Result<()> {
        Ok(())
    }
}

#[cfg(all(test, not(all(unix, feature = "host-profile"))))]
mod tests {
    #[test]
    fn asking_for_a_profile_without_the_sampler_is_an_error() {
        let error = super::HostProfile::start().err().expect("no sampler built");
        assert!(
            error.to_string().contains("--features host-profile"),
            "{error}"
        );
    }
}
