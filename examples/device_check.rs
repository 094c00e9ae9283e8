//! The record of a CUDA device: first every kernel check (`mss_examples::checks`: each of the
//! project's kernels against the path it replaces, on random data, no model files needed),
//! one `PASS` / `FAIL` / `SKIP` line each and a summary; then, given a model and a text, the
//! CUDA proof: SmolLM2 logits on CUDA against the CPU backend (f32 and bf16), the perplexity on
//! CUDA against transformers' value, and prefill throughput of a long prompt in bf16 (one JSON
//! object). A failed check exits non-zero before the proof: nothing is timed on a kernel that
//! disagrees. The output is plain lines, to be kept in docs/results/ as it is.
//!
//! Built here (no CUDA toolkit needed) and run on a GPU machine:
//! ```text
//! cargo build --release --example device_check --features cuda
//! device_check > kernel-checks.txt                          # the kernel checks only
//! device_check --gguf SmolLM2-135M-Instruct.Q4_1.gguf --text hamlet_gut.txt > result.txt
//! device_check --no-checks --gguf SmolLM2-135M-Instruct.Q4_1.gguf --text hamlet_gut.txt > result.json
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
use mss_examples::checks::suite::{self, Family, Suite};

#[derive(Parser)]
struct Args {
    /// The families of kernel checks to run (all by default; they run in the suite's order).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = Family::ALL)]
    checks: Vec<Family>,
    /// Skip the kernel checks: only the model proof (whose output is then one JSON object).
    #[arg(long)]
    no_checks: bool,
    /// The attention through cuBLAS products around a softmax kernel instead of the flash
    /// kernels (the default on CUDA), in the checks (where they do not switch it themselves,
    /// as `prefill_timing --no-flash`) and in the model proof.
    #[arg(long)]
    no_flash: bool,
    /// CUDA builds only: the attention through the flash kernel instead of cuDNN's fused
    /// attention (the default where cuDNN ≥ 9.11 is found) where the checks do not switch it
    /// themselves, and in the model proof.
    #[arg(long)]
    no_cudnn: bool,
    /// CUDA builds only: queries per plane of the flash attention kernel, 32 (the default) or
    /// 16 (`mss::models::set_flash_rows_per_plane`).
    #[arg(long, default_value_t = 32)]
    flash_rows: usize,
    /// The SmolLM2 GGUF (converted to a Hugging Face folder in a temporary directory) of the
    /// model proof.
    #[arg(long)]
    gguf: Option<PathBuf>,
    /// A Hugging Face model folder instead of a GGUF.
    #[arg(long)]
    model: Option<PathBuf>,
    /// The text whose tokens feed the model (the model proof runs with it and a model only).
    #[arg(long)]
    text: Option<PathBuf>,
    /// Tokens compared between CPU and CUDA.
    #[arg(long, default_value_t = 512, value_parser = mss_examples::positive)]
    compare_tokens: usize,
    /// Tokens of the perplexity check (transformers: 30.3229 on Hamlet's first 2048); at
    /// least 2.
    #[arg(long, default_value_t = 2048, value_parser = at_least_two)]
    ppl_tokens: usize,
    /// Length of the prefill timed on CUDA.
    #[arg(long, default_value_t = 8192, value_parser = mss_examples::positive)]
    prefill_tokens: usize,
    /// Chunk size of the chunked prefill timing.
    #[arg(long, default_value_t = 512, value_parser = mss_examples::positive)]
    chunk: usize,
    /// Timed repetitions (after one warm-up).
    #[arg(long, default_value_t = 3, value_parser = mss_examples::positive)]
    repeats: usize,
}

/// `--ppl-tokens`: a perplexity needs one prediction at least.
fn at_least_two(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n >= 2 => Ok(n),
        _ => Err(format!(
            "expected a whole number of at least 2, got `{text}`"
        )),
    }
}

type Gpu = mss::Cuda;
type Cpu = burn::backend::Flex;

fn main() -> std::process::ExitCode {
    mss_examples::exit::run(run)
}

fn run() -> anyhow::Result<()> {
    mss_examples::persist_kernel_caches();
    let args = Args::parse();
    let proof = match (&args.model, &args.gguf, &args.text) {
        (None, None, None) => None,
        (Some(_), _, Some(text)) | (None, Some(_), Some(text)) => Some(text.clone()),
        (_, _, None) => {
            return Err(mss_examples::exit::bad_usage(
                "the model proof needs --text beside --gguf or --model",
            ));
        }
        (None, None, Some(_)) => {
            return Err(mss_examples::exit::bad_usage(
                "the model proof needs --gguf or --model beside --text",
            ));
        }
    };
    if args.no_checks && proof.is_none() {
        return Err(mss_examples::exit::bad_usage(
            "nothing to do: --no-checks and no model proof (--gguf or --model, and --text)",
        ));
    }
    if ![16, 32].contains(&args.flash_rows) {
        return Err(mss_examples::exit::bad_usage("--flash-rows takes 16 or 32"));
    }
    mss::models::use_flash_attention(!args.no_flash);
    #[cfg(feature = "cuda")]
    {
        mss::models::set_flash_rows_per_plane(args.flash_rows);
        mss::models::use_cudnn_attention(!args.no_cudnn);
        println!(
            "cuDNN: {}",
            mss::models::cudnn_version().map_or("not found".to_string(), |v| v.to_string())
        );
    }
    if !args.no_checks {
        kernel_checks(&args)?;
    }
    match proof {
        Some(text) => model_proof(&args, &text),
        None => {
            println!("model proof: not run (give --gguf or --model, and --text)");
            Ok(())
        }
    }
}

/// Runs the kernel checks of `--checks` after a line on the device and the paths asked; fails
/// if any check failed.
fn kernel_checks(args: &Args) -> anyhow::Result<()> {
    match device_name() {
        Some(name) => println!("device: {name}"),
        None => println!("device: CUDA device 0 (nvidia-smi did not name it)"),
    }
    let cublas = mss::models::cublas_available();
    println!(
        "linear layers: {}; attention between the checks: {}",
        if cublas {
            "cuBLAS"
        } else {
            "Burn's matrix product"
        },
        // The crate's attention kernels need its cuBLAS path.
        match (cublas, args.no_flash) {
            (false, _) => "Burn's operations",
            (true, false) => "flash kernels",
            (true, true) => "products around a softmax kernel",
        }
    );
    let suite = Suite::new(Default::default(), !args.no_flash);
    let verdicts = suite.run(&args.checks);
    println!();
    anyhow::ensure!(
        suite::all_passed(&verdicts),
        "{}",
        suite::summary(&verdicts)
    );
    Ok(())
}

/// The GPU's name, driver and memory as `nvidia-smi` gives them (Burn and CubeCL do not name
/// the device), for the first of `CUDA_VISIBLE_DEVICES` where it is set (Burn's default device);
/// `None` without `nvidia-smi`.
fn device_name() -> Option<String> {
    let mut command = std::process::Command::new("nvidia-smi");
    command.args([
        "--query-gpu=name,driver_version,memory.total",
        "--format=csv,noheader",
    ]);
    if let Ok(visible) = std::env::var("CUDA_VISIBLE_DEVICES") {
        let first = visible.split(',').next().unwrap_or("").trim().to_string();
        if !first.is_empty() {
            command.args(["-i", &first]);
        }
    }
    let output = command.output().ok().filter(|o| o.status.success())?;
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().next()?.trim();
    (!line.is_empty()).then(|| line.to_string())
}

/// The CUDA proof of the model named by `--gguf` or `--model`, fed with `text`: prints one JSON
/// object.
fn model_proof(args: &Args, text: &std::path::Path) -> anyhow::Result<()> {
    let dir = match (&args.model, &args.gguf) {
        (Some(dir), _) => dir.clone(),
        (None, Some(gguf)) => {
            // One converted folder per GGUF (named by its file name and size): another GGUF
            // never reuses it.
            let bytes = std::fs::metadata(gguf)
                .with_context(|| format!("reading {}", gguf.display()))?
                .len();
            let name = gguf.file_stem().unwrap_or_default().to_string_lossy();
            let tmp = std::env::temp_dir().join(format!("mss-device-check-{name}-{bytes}"));
            if !tmp.join("model.safetensors").is_file() {
                let _ = std::fs::remove_dir_all(&tmp);
                mss::assets::convert_gguf_to_hf(gguf, &tmp, mss::assets::OutputDtype::F32)?;
            }
            tmp
        }
        (None, None) => anyhow::bail!("give --gguf or --model"),
    };
    let tokenizer = Tokenizer::from_dir(&dir)?;
    let text = std::fs::read_to_string(text).context("reading --text")?;
    let ids = tokenizer.encode(&text, false)?;
    let needed = args
        .prefill_tokens
        .max(args.compare_tokens)
        .max(args.ppl_tokens);
    anyhow::ensure!(
        ids.len() >= needed,
        "the text has only {} tokens; --prefill-tokens, --compare-tokens and --ppl-tokens ask for {needed}",
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
            mss_examples::checks::relative_error(&got, &reference).into(),
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
