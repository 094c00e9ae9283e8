//! Streams a greedy continuation of a prompt from the default model (SmolLM2-135M-Instruct,
//! fetched and converted on first use) or any Hugging Face Llama/Mistral folder.
//!
//! ```text
//! cargo run --release --example generate -- --prompt "Once upon a time"
//! cargo run --release --example generate -- --model path/to/hf-folder --prompt "..." --dtype bf16
//! ```

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use burn::tensor::DType;
use clap::{Parser, ValueEnum};
use mss::{DenseCache, Generation, Tokenizer, Transformer, generate};

#[derive(Parser)]
#[command(
    about = "Greedy generation from a Llama/Mistral model on CPU (or CUDA with --features cuda)"
)]
struct Args {
    /// The prompt to continue.
    #[arg(long)]
    prompt: String,
    /// A Hugging Face model folder; default: SmolLM2-135M-Instruct, fetched on first use.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Number of new tokens at most.
    #[arg(long, default_value_t = 64)]
    max_new_tokens: usize,
    /// Weight and activation dtype.
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    dtype: Precision,
    /// The prompt is prefilled in chunks of this many tokens.
    #[arg(long, default_value_t = 512)]
    chunk: usize,
}

#[derive(Clone, Copy, ValueEnum)]
enum Precision {
    F32,
    F16,
    Bf16,
}

#[cfg(not(feature = "cuda"))]
type Backend = mss::Cpu;
#[cfg(feature = "cuda")]
type Backend = mss::Cuda;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = match args.model {
        Some(dir) => dir,
        None => mss::assets::ensure_default_model().context("fetching the default model")?,
    };
    let dtype = match args.dtype {
        Precision::F32 => DType::F32,
        Precision::F16 => DType::F16,
        Precision::Bf16 => DType::BF16,
    };
    let device = Default::default();
    let model = Transformer::<Backend>::load(&dir, &device, dtype)?;
    let tokenizer = Tokenizer::from_dir(&dir)?;
    let prompt = tokenizer.encode(&args.prompt, false)?;
    let options = Generation {
        max_new_tokens: args.max_new_tokens,
        stop_tokens: model.config.eos_token_ids.clone(),
        prefill_chunk: args.chunk,
    };
    let mut cache = DenseCache::new(&model);
    let mut stream = tokenizer.stream();
    let mut stdout = std::io::stdout().lock();
    write!(stdout, "{}", args.prompt)?;
    let start = Instant::now();
    let mut failure = None;
    let new = generate(
        &model,
        &mut cache,
        &prompt,
        &options,
        &mut |id| match stream.push(id) {
            Ok(text) => {
                let _ = write!(stdout, "{text}");
                let _ = stdout.flush();
            }
            Err(e) => failure = Some(e),
        },
    )?;
    if let Some(e) = failure {
        return Err(e.into());
    }
    let secs = start.elapsed().as_secs_f64();
    writeln!(stdout)?;
    eprintln!(
        "{} prompt tokens, {} new tokens in {secs:.2} s ({:.1} tokens/s)",
        prompt.len(),
        new.len(),
        new.len() as f64 / secs
    );
    Ok(())
}
