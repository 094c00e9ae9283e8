//! Prefills a prompt (as long as you like) with a chosen pruner and memory schedule, then streams
//! a continuation from the compressed memory. Default model: SmolLM2-135M-Instruct, fetched and
//! converted on first use; any Hugging Face Llama/Mistral folder works with `--model`.
//!
//! ```text
//! cargo run --release --example generate -- --prompt "Once upon a time"
//! cargo run --release --example generate -- --prompt-file play.txt --pruner snapkv \
//!     --memory-type imdc --memory 512 --chunk 512 --temperature 0.7
//! ```

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use mss::models::{ChatTemplate, GenerationConfig};
use mss::pruners::PrunerKind;
use mss::schedule::IncrementalType;
use mss::{
    Generation, Method, PositionMode, PrefillConfig, Prefiller, Sampling, Tokenizer, Transformer,
    generate,
};
use mss_examples::Precision;

#[derive(Parser)]
#[command(
    about = "Chunked prefill with a pruned memory, then generation (CPU; CUDA with --features cuda)"
)]
struct Args {
    /// The prompt to continue.
    #[arg(
        long,
        conflicts_with = "prompt_file",
        required_unless_present = "prompt_file"
    )]
    prompt: Option<String>,
    /// Read the prompt from a file instead.
    #[arg(long)]
    prompt_file: Option<PathBuf>,
    /// A question fed after the prompt is prefilled and pruned: it attends to the compressed
    /// memory and is kept whole (`Prefill::append`), then the answer is generated.
    #[arg(long)]
    question: Option<String>,
    /// Write the prompt (and the question) as one user turn of the model's chat template
    /// (`tokenizer_config.json`), ending with the opening of the assistant's turn.
    #[arg(long)]
    chat: bool,
    /// A Hugging Face model folder; default: SmolLM2-135M-Instruct, fetched on first use.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Number of new tokens at most.
    #[arg(long, default_value_t = 64)]
    max_new_tokens: usize,
    /// Weight and activation dtype.
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    dtype: Precision,
    /// Pruner of FM, IM and FI: streaming_llm, chunk_prefix, h2o, tova, mean_attention, snapkv
    /// (conv), roco, random.
    #[arg(long, default_value = "snapkv")]
    pruner: PrunerKind,
    /// Memory type: full (full attention, no pruning), local (no memory), fm, im, imdc (IM
    /// with decremental chunks), fi.
    #[arg(long, default_value = "fm")]
    memory_type: Method,
    /// Memory size M (entries per layer and KV head, sinks excluded) after the prompt.
    #[arg(long, default_value_t = 1024, value_parser = mss_examples::positive)]
    memory: usize,
    /// Chunk size C.
    #[arg(long, default_value_t = 512, value_parser = mss_examples::positive)]
    chunk: usize,
    /// IM growth curve: linear, square, sqrt, inverse_convex, inverse_concave, square_sqrt,
    /// double_inverse, adaptive.
    #[arg(long, default_value = "linear")]
    incremental: IncrementalType,
    /// RoPE positions: compact (the paper) or original.
    #[arg(long, default_value = "compact")]
    positions: PositionMode,
    /// Sampling temperature; 0 = greedy.
    #[arg(long, default_value_t = 0.0, value_parser = mss_examples::temperature)]
    temperature: f32,
    /// Nucleus mass for sampling.
    #[arg(long, default_value_t = 0.9, value_parser = mss_examples::probability_mass)]
    top_p: f32,
    /// Allow rotating keys past the model's trained positions when its RoPE has no scaling
    /// (refused otherwise: the model was not trained there).
    #[arg(long)]
    past_trained_positions: bool,
    /// Refuse, before anything runs, a prefill whose predicted working set (weights aside)
    /// passes this many GiB; the refusal names the chunk or memory size that would fit.
    #[arg(long, value_parser = mss_examples::gibibytes)]
    memory_cap: Option<u64>,
    /// Seed of sampling and of the random pruner.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

type Backend = mss::DefaultBackend;

fn main() -> std::process::ExitCode {
    mss_examples::exit::run(run)
}

fn run() -> anyhow::Result<()> {
    mss_examples::persist_kernel_caches();
    let args = Args::parse();
    let dir = match &args.model {
        Some(dir) => dir.clone(),
        None => mss::assets::ensure_default_model().context("fetching the default model")?,
    };
    let dtype = args.dtype.dtype();
    let model = Transformer::<Backend>::load(&dir, &Default::default(), dtype)?;
    let tokenizer = Tokenizer::from_dir(&dir)?;
    let text = match (&args.prompt, &args.prompt_file) {
        (Some(text), _) => text.clone(),
        (None, Some(path)) => {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
        }
        (None, None) => unreachable!("clap requires one of them"),
    };
    // The tokenizer's own post-processor adds what the model expects at the start (Llama's
    // BOS; nothing for SmolLM2); the question continues the text and gets nothing added.
    // With the chat template, the rendered turn is cut where the question begins: the context
    // is prefilled into the pruned memory, the rest appended unpruned. The template writes its
    // own special tokens.
    let (prompt, question) = if args.chat {
        let template = ChatTemplate::from_dir(&dir)?
            .with_context(|| format!("{} has no chat template", dir.display()))?;
        let (context, question) =
            template.split_question(&text, args.question.as_deref().unwrap_or(""))?;
        let question = (!question.is_empty()).then_some(question);
        (tokenizer.encode(&context, false)?, question)
    } else {
        (tokenizer.encode(&text, true)?, args.question.clone())
    };
    let config = PrefillConfig::from_method(args.pruner, args.memory_type, args.chunk, args.memory)
        .with_incremental(args.incremental)
        .with_positions(args.positions)
        .with_past_trained_positions(args.past_trained_positions)
        .with_seed(args.seed);
    let mut prefiller = Prefiller::<Backend>::new(config)?;
    if let Some(bytes) = args.memory_cap {
        prefiller = prefiller.with_memory_cap(bytes);
    }
    let start = Instant::now();
    let mut prefill = prefiller.prefill(&model, &prompt)?;
    let prefill_secs = start.elapsed().as_secs_f64();
    eprintln!(
        "prefilled {} tokens in {} chunks with {} in {prefill_secs:.2} s; memory per layer: {} entries ({:.1} MiB)",
        prompt.len(),
        prefill.steps.len(),
        args.pruner,
        prefill.memory.lens().iter().max().unwrap_or(&0),
        prefill.memory.bytes() as f64 / (1 << 20) as f64,
    );
    if let Some(question) = &question {
        let question = tokenizer.encode(question, false)?;
        prefill.append(&model, &question)?;
        eprintln!(
            "appended a question of {} tokens without pruning",
            question.len()
        );
    }

    let sampling = if args.temperature > 0.0 {
        Sampling::Sample {
            temperature: args.temperature,
            top_p: args.top_p,
            seed: args.seed,
        }
    } else {
        Sampling::Greedy
    };
    let options = Generation {
        max_new_tokens: args.max_new_tokens,
        stop_tokens: GenerationConfig::from_dir(&dir)?.stop_tokens(&model.config),
        sampling,
    };
    let mut stream = tokenizer.stream();
    let mut stdout = std::io::stdout().lock();
    if args.prompt.is_some() {
        write!(stdout, "{text}")?;
    }
    if let Some(question) = &question {
        write!(stdout, "{question}")?;
    }
    let start = Instant::now();
    let mut failure = None;
    let new = generate(
        &model,
        &mut prefill,
        &options,
        &mut |id| match stream.push(id) {
            Ok(piece) => {
                let _ = write!(stdout, "{piece}");
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
        "{} new tokens in {secs:.2} s ({:.1} tokens/s)",
        new.len(),
        new.len() as f64 / secs
    );
    Ok(())
}
