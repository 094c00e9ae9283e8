//! CUDA proof: SmolLM2 logits on CUDA against the CPU backend (f32 and bf16), the perplexity on
//! CUDA against transformers' value, and prefill throughput of a long prompt in bf16.
//!
//! Built here (no CUDA toolkit needed) and run on a GPU machine:
//! ```text
//! cargo build --release --example device_check --features cuda
//! device_check --gguf SmolLM2-135M-Instruct.Q4_1.gguf --text hamlet_gut.txt > result.json
//! ```

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use burn::prelude::*;
use burn::tensor::DType;
use burn::tensor::activation::log_softmax;
use clap::Parser;
use mss::core::{ChunkPositions, ChunkedModel, Logits, NoMemory};
use mss::{PrefillConfig, Prefiller, Tokenizer, Transformer};

#[derive(Parser)]
struct Args {
    /// The SmolLM2 GGUF (converted to a Hugging Face folder in a temporary directory).
    #[arg(long)]
    gguf: Option<PathBuf>,
    /// A Hugging Face model folder instead of a GGUF.
    #[arg(long)]
    model: Option<PathBuf>,
    /// The text whose tokens feed the model.
    #[arg(long)]
    text: PathBuf,
    /// Tokens compared between CPU and CUDA.
    #[arg(long, default_value_t = 512)]
    compare_tokens: usize,
    /// Tokens of the perplexity check (transformers: 30.3229 on Hamlet's first 2048).
    #[arg(long, default_value_t = 2048)]
    ppl_tokens: usize,
    /// Length of the prefill timed on CUDA.
    #[arg(long, default_value_t = 8192)]
    prefill_tokens: usize,
    /// Chunk size of the chunked prefill timing.
    #[arg(long, default_value_t = 512)]
    chunk: usize,
    /// Timed repetitions (after one warm-up).
    #[arg(long, default_value_t = 3)]
    repeats: usize,
}

type Gpu = mss::Cuda;
type Cpu = burn::backend::Flex;

fn main() -> std::process::ExitCode {
    mss_examples::exit::run(run)
}

fn run() -> anyhow::Result<()> {
    mss_examples::persist_kernel_caches();
    let args = Args::parse();
    let tmp = std::env::temp_dir().join("mss-device-check-model");
    let dir = match (&args.model, &args.gguf) {
        (Some(dir), _) => dir.clone(),
        (None, Some(gguf)) => {
            if !tmp.join("model.safetensors").is_file() {
                let _ = std::fs::remove_dir_all(&tmp);
                mss::assets::convert_gguf_to_hf(gguf, &tmp, mss::assets::OutputDtype::F32)?;
            }
            tmp
        }
        (None, None) => anyhow::bail!("give --gguf or --model"),
    };
    let tokenizer = Tokenizer::from_dir(&dir)?;
    let text = std::fs::read_to_string(&args.text).context("reading --text")?;
    let ids = tokenizer.encode(&text, false)?;
    anyhow::ensure!(
        ids.len() >= args.prefill_tokens,
        "the text has only {} tokens",
        ids.len()
    );

    let cpu = Transformer::<Cpu>::load(&dir, &Default::default(), DType::F32)?;
    let reference = logits(&cpu, &ids[..args.compare_tokens]);
    drop(cpu);
    let device = Default::default();
    let mut report = serde_json::Map::new();
    for (name, dtype) in [("f32", DType::F32), ("bf16", DType::BF16)] {
        let gpu = Transformer::<Gpu>::load(&dir, &device, dtype)?;
        let got = logits(&gpu, &ids[..args.compare_tokens]);
        report.insert(
            format!("max_rel_err_vs_cpu_{name}"),
            mss_testkit::relative_error(&got, &reference).into(),
        );
        report.insert(
            format!("perplexity_{name}"),
            perplexity(&gpu, &ids[..args.ppl_tokens]).into(),
        );
        eprintln!("{name}: {report:?}");
    }
    let gpu = Transformer::<Gpu>::load(&dir, &device, DType::BF16)?;
    let prompt = &ids[..args.prefill_tokens];
    let one_shot = time(args.repeats, || {
        let t = tokens::<Gpu>(prompt, &device);
        let positions = ChunkPositions {
            document_start: 0,
            rope_start: 0,
        };
        let out = gpu
            .forward_chunk(t, positions, &mut NoMemory, Logits::Last)
            .unwrap();
        out.into_data();
    });
    let mut full = Prefiller::<Gpu>::new(PrefillConfig::full_attention(args.chunk))?;
    let chunked = time(args.repeats, || {
        full.prefill(&gpu, prompt).unwrap().next_logits.into_data();
    });
    let n = args.prefill_tokens as f64;
    report.insert("prefill_tokens".into(), args.prefill_tokens.into());
    report.insert("prefill_bf16_one_shot_s".into(), one_shot.into());
    report.insert(
        "prefill_bf16_one_shot_tokens_per_s".into(),
        (n / one_shot).into(),
    );
    report.insert("prefill_bf16_chunked_s".into(), chunked.into());
    report.insert(
        "prefill_bf16_chunked_tokens_per_s".into(),
        (n / chunked).into(),
    );
    report.insert("chunk".into(), args.chunk.into());
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

fn tokens<B: Backend>(ids: &[u32], device: &B::Device) -> Tensor<B, 2, Int> {
    let data: Vec<i32> = ids.iter().map(|&i| i as i32).collect();
    Tensor::from_data(TensorData::new(data, [1, ids.len()]), device)
}

fn forward<B: Backend>(model: &Transformer<B>, ids: &[u32]) -> Tensor<B, 3> {
    let positions = ChunkPositions {
        document_start: 0,
        rope_start: 0,
    };
    let device = model.embed_tokens.device();
    model
        .forward_chunk(
            tokens::<B>(ids, &device),
            positions,
            &mut NoMemory,
            Logits::All,
        )
        .unwrap()
}

fn logits<B: Backend>(model: &Transformer<B>, ids: &[u32]) -> Vec<f32> {
    forward(model, ids).into_data().to_vec().unwrap()
}

fn perplexity<B: Backend>(model: &Transformer<B>, ids: &[u32]) -> f64 {
    let n = ids.len();
    let log_probs = log_softmax(forward(model, ids).narrow(1, 0, n - 1), 2);
    let targets = tokens::<B>(&ids[1..], &model.embed_tokens.device()).reshape([1, n - 1, 1]);
    (-log_probs
        .gather(2, targets)
        .mean()
        .into_scalar()
        .elem::<f64>())
    .exp()
}

/// Median seconds of `repeats` runs after one warm-up.
fn time(repeats: usize, mut f: impl FnMut()) -> f64 {
    f();
    let secs: Vec<f64> = (0..repeats.max(1))
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .collect();
    mss_examples::median(&secs)
}
