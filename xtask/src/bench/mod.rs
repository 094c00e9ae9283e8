//! `cargo xtask bench`: the criterion benchmarks (`crates/mss/benches/prefill.rs`), through
//! `cargo bench`, so that they build with the bench profile and their reports land in
//! `target/criterion/`; with `--versus-torch`, `mss` against the PyTorch yardstick in one run
//! ([`versus_torch`]). Recorded figures: `docs/results/bench.md`, `docs/results/cpu-speed.md`.

mod versus_torch;

use std::process::Command;

use anyhow::Context;
use clap::Args;

/// Options of `cargo xtask bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Only the benchmarks whose name contains this (e.g. `tiny_llama`, `smollm2`, `IMDC`).
    filter: Option<String>,
    /// Save the results as a named baseline (criterion's `--save-baseline`), to compare with
    /// `--baseline NAME` later.
    #[arg(long)]
    save_baseline: Option<String>,
    /// Compare against a saved baseline.
    #[arg(long, conflicts_with = "save_baseline")]
    baseline: Option<String>,
    /// Time `mss` against the PyTorch yardstick, side by side in this run, instead of the
    /// criterion benchmarks (`--python` names a Python with torch and transformers).
    #[arg(long)]
    versus_torch: bool,
    #[command(flatten)]
    versus: versus_torch::VersusArgs,
}

/// Runs the benchmarks.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.versus_torch {
        return versus_torch::run(args.versus);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command.args(["bench", "--package", "mss", "--bench", "prefill", "--"]);
    // The bench runs in its package's folder: a relative cache folder must not move with it.
    if let Some(dir) = std::env::var_os("MSS_CACHE_DIR").map(std::path::PathBuf::from)
        && dir.is_relative()
        && !dir.as_os_str().is_empty()
    {
        command.env("MSS_CACHE_DIR", std::env::current_dir()?.join(dir));
    }
    if let Some(filter) = &args.filter {
        command.arg(filter);
    }
    if let Some(name) = &args.save_baseline {
        command.args(["--save-baseline", name]);
    }
    if let Some(name) = &args.baseline {
        command.args(["--baseline", name]);
    }
    let status = command.status().context("running cargo bench")?;
    anyhow::ensure!(status.success(), "cargo bench failed ({status})");
    eprintln!("reports: target/criterion/");
    Ok(())
}
