//! The progress bar of xtask's long loops (eval's runs and tasks, the benchmark against PyTorch).

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `len` steps with elapsed time, estimate and a message, redrawn twice a second so
/// that a long step still shows time passing.
pub fn bar(len: usize) -> anyhow::Result<ProgressBar> {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(ProgressStyle::with_template(
        "{bar:30} {pos}/{len} [{elapsed} < {eta}] {msg}",
    )?);
    bar.enable_steady_tick(Duration::from_millis(500));
    Ok(bar)
}
