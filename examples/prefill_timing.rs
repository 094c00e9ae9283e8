//! Times whole prefills of a long prompt on the build's backend (CPU, or CUDA with `--features
//! cuda`): full attention and FM / IMDC for `streaming_llm` and `snapkv` (or `--pruners`, with
//! `--adaptive` also IM under the adaptive curve), median of a few runs after a warm-up, each
//! ended by reading the first token back (the eval's time to first token).
//!
//! The model has SmolLM2-135M's shape with random weights unless `--model DIR` names a Hugging
//! Face folder: the work done does not depend on the weights, and nothing has to be carried to
//! a GPU machine.
//!
//! Before the timings it runs the device checks of `mss_examples::checks` (`--checks`,
//! `--no-checks`; `device_check` runs them all with a verdict each), so that nothing is timed
//! on a kernel that disagrees with the path it replaces.
//!
//! ```text
//! cargo run --release --example prefill_timing -- --tokens 2048 --chunk 256 --memory 256
//! cargo build --release --example prefill_timing --features cuda   # then run it on the GPU
//! ```

use std::path::PathBuf;
use std::time::Instant;

use burn::prelude::*;
use clap::Parser;
use mss::pruners::PrunerKind;
use mss::schedule::{LayerwiseCurve, MemoryType, QueryBlocks};
use mss::{DefaultBackend as B, PrefillConfig, Prefiller, Transformer};
use mss_examples::Precision;
use mss_examples::checks::{self, Check};
use mss_examples::random::{self, ModelShape};

#[derive(Parser)]
#[command(args_override_self = true)]
struct Args {
    /// A Hugging Face model folder; random weights of `--shape` if not given.
    #[arg(long)]
    model: Option<PathBuf>,
    /// The shape of the random-weight model.
    #[arg(long, value_enum, default_value_t = ModelShape::Smollm2)]
    shape: ModelShape,
    /// Prompt length.
    #[arg(long, default_value_t = 8192, value_parser = mss_examples::positive)]
    tokens: usize,
    /// Chunk size.
    #[arg(long, default_value_t = 1024, value_parser = mss_examples::positive)]
    chunk: usize,
    /// Memory size of the pruned runs.
    #[arg(long, default_value_t = 1024, value_parser = mss_examples::positive)]
    memory: usize,
    /// Timed runs per configuration (after one warm-up).
    #[arg(long, default_value_t = 3, value_parser = mss_examples::positive)]
    repeats: usize,
    /// Weights' and activations' type (bf16 wants a GPU).
    #[arg(long, value_enum, default_value_t = Precision::Bf16)]
    dtype: Precision,
    /// Pruned runs of these pruners, each under FM and IMDC.
    #[arg(long, value_delimiter = ',', default_value = "streaming_llm,snapkv")]
    pruners: Vec<PrunerKind>,
    /// Also IM with the adaptive layer-wise curve, for each pruner.
    #[arg(long)]
    adaptive: bool,
    /// Only the configurations whose label contains one of these texts (comma-separated).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Blocks of exactly this many queries in the attention that computes statistics, instead
    /// of the default rule (to compare against the fixed 256 of earlier versions).
    #[arg(long)]
    fixed_query_block: Option<usize>,
    /// Run the model through Burn's generic operations even where the project's own kernels
    /// apply (the host kernels of f32 on the CPU, cuBLAS products on CUDA), to compare the
    /// paths.
    #[arg(long)]
    burn_kernels: bool,
    /// Chunk size of the full-attention line (default: `--chunk`; the prompt length gives one
    /// forward pass over the whole prompt, as PyTorch's full prefill).
    #[arg(long)]
    full_chunk: Option<usize>,
    /// How cuBLAS products are ordered against CubeCL's kernels (with `--features cuda`): on
    /// CubeCL's own stream (found through CUPTI), by events from a stream of cuBLAS's own, or
    /// bracketed by host synchronisations (to compare them); each falls back to the next.
    #[arg(long, value_enum, default_value_t = Ordering::Stream)]
    product_ordering: Ordering,
    /// Attention of the runs without statistics: the fastest fused one (with `--features cuda`,
    /// the flash kernels, or cuBLAS products around one softmax kernel under `--no-flash`),
    /// Burn's fused kernel, or blocks of Burn's matrix products as with statistics.
    #[arg(long, value_enum, default_value_t = Attention::Fused)]
    attention: Attention,
    /// Skip the device checks (pooling, top-k, attention, RoPE, statistics); the cuBLAS
    /// products' checks run whenever cuBLAS serves the linear layers.
    #[arg(long)]
    no_checks: bool,
    /// The device checks to run (all by default; a fresh GPU compiles kernels for each).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = Check::ALL)]
    checks: Vec<Check>,
    /// RoPE through Burn's operations instead of the crate's CUDA kernel (for the A/B; the
    /// check compares the two either way).
    #[arg(long)]
    burn_rope: bool,
    /// Top-k through Burn's operations instead of the crate's two CUDA kernels (for the A/B;
    /// the check compares both with the host either way).
    #[arg(long)]
    burn_top_k: bool,
    /// Also check the model's last logits with the crate's CUDA kernels against Burn's
    /// operations (slow on a fresh machine: Burn's products are tuned for the model's shapes).
    #[arg(long)]
    check_model: bool,
    /// RoPE positions of the memory: `compact` (the paper's; rotated as one range, no position
    /// tensors) or `original` (each entry's document position, a tensor joined per layer and
    /// step) — the second also times the join the first avoids.
    #[arg(long, default_value = "compact")]
    positions: mss::PositionMode,
    /// Attention and the pruners' statistics through cuBLAS products around a softmax kernel
    /// instead of the flash kernels (the default on CUDA, `mss::models::use_flash_attention`);
    /// the attention check checks both either way.
    #[arg(long)]
    no_flash: bool,
    /// CUDA builds only: the attention through the flash kernel instead of cuDNN's fused
    /// attention (the default where cuDNN ≥ 9.11 is found, `mss::models::use_cudnn_attention`);
    /// the attention check checks both either way.
    #[arg(long)]
    no_cudnn: bool,
    /// CUDA builds only: queries per plane of the flash attention kernel, 32 (the default) or
    /// 16 (`mss::models::set_flash_rows_per_plane`).
    #[arg(long, default_value_t = 32)]
    flash_rows: usize,
    /// CUDA builds only: keys per plane of the flash statistics kernel, 16 (the default) or 32
    /// (`mss::models::set_statistics_rows_per_plane`).
    #[arg(long, default_value_t = 16)]
    statistics_rows: usize,
    /// CUDA builds only: the pool's free pages released after every step of every prefill
    /// (`mss::models::release_after_queued_work`; the warm-up's too) and exact-size
    /// allocations during the timed ones (`exact_size_allocations`); the pool peak is then the
    /// largest reading before a release. For the A/B of IMDC's peak, whose growing memory
    /// leaves pages behind.
    #[arg(long)]
    release_each_step: bool,
    /// Sample where the host spends the timed runs (built with feature `host-profile`): one
    /// file of folded stacks per configuration in this folder, for
    /// `scripts/gpu/folded-summary.py` or any flame-graph tool.
    #[arg(long)]
    host_profile: Option<PathBuf>,
    /// CUDA builds only: trace the timed runs' kernels, copies and driver calls through CUPTI's
    /// activity API (after the warm-up): one CSV per configuration in this folder, for
    /// `scripts/gpu/gaps.py` (where the GPU idles between kernels, without Nsight Systems).
    /// The traced runs' times include CUPTI's cost per launch: time without it.
    #[arg(long)]
    kernel_trace: Option<PathBuf>,
    /// Largest block of f32 attention scores the CUDA attention materialises at a time, as a
    /// power of two (default 25: 128 MiB), for the A/B of block sizes.
    #[arg(long, value_parser = clap::value_parser!(u32).range(16..=30))]
    score_block_log2: Option<u32>,
    /// CUDA builds only: the projections whose weights stay in Hugging Face's `[out, in]`
    /// storage, read transposed (comma-separated of q, k, v, o, gate, up, down, or `none`); the
    /// others are transposed into `[in, out]` (`mss::models::keep_weights_as_stored`; gate and
    /// up unless given): the A/B of cuBLAS's kernels for each layout.
    #[arg(long, value_parser = parse_projections)]
    weights_as_stored: Option<Projections>,
    /// CUDA builds only: the workspace cuBLAS's products get: `default` (cuBLAS's own pool),
    /// `none` (only kernels that need none) or a size in MiB
    /// (`mss::models::set_cublas_workspace`): the A/B of the fills cuBLAS runs before its gate
    /// and up kernels. The product checks run with it.
    #[arg(long, default_value = "default")]
    cublas_workspace: mss::models::CublasWorkspace,
    /// Before the prefills, time the model's linear-layer products on one chunk (this many
    /// of each shape; with `--features cuda`, cuBLAS against Burn's product).
    #[arg(long)]
    products: Option<usize>,
}

/// `--weights-as-stored`: one value holding the list (clap would take a `Vec` for repeats).
#[derive(Clone, Debug)]
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
struct Projections(Vec<mss::models::Projection>);

fn parse_projections(text: &str) -> Result<Projections, String> {
    mss_examples::projections(text).map(Projections)
}

/// `--product-ordering`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Ordering {
    Stream,
    Events,
    Synchronised,
}

/// `--attention`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Attention {
    Fused,
    Burn,
    Blocked,
}

fn main() -> std::process::ExitCode {
    mss_examples::exit::run(run)
}

fn run() -> anyhow::Result<()> {
    let process_start = Instant::now();
    if let Some(folder) = mss_examples::persist_kernel_caches() {
        println!("kernel caches: {}", folder.display());
    }
    let args = Args::parse();
    if args.release_each_step && !cfg!(feature = "cuda") {
        return Err(mss_examples::exit::bad_usage(
            "--release-each-step needs a CUDA build (`--features cuda`): only CubeCL's CUDA pool keeps pages",
        ));
    }
    if ![16, 32].contains(&args.flash_rows) {
        return Err(mss_examples::exit::bad_usage("--flash-rows takes 16 or 32"));
    }
    if ![16, 32].contains(&args.statistics_rows) {
        return Err(mss_examples::exit::bad_usage(
            "--statistics-rows takes 16 or 32",
        ));
    }
    if args.host_profile.is_some() && !mss_examples::host_profile::AVAILABLE {
        return Err(mss_examples::exit::bad_usage(
            "--host-profile needs the example built with `--features host-profile` (Unix)",
        ));
    }
    if args.weights_as_stored.is_some() && !cfg!(feature = "cuda") {
        return Err(mss_examples::exit::bad_usage(
            "--weights-as-stored needs a CUDA build (`--features cuda`): elsewhere every weight is transposed",
        ));
    }
    if args.cublas_workspace != mss::models::CublasWorkspace::Default && !cfg!(feature = "cuda") {
        return Err(mss_examples::exit::bad_usage(
            "--cublas-workspace needs a CUDA build (`--features cuda`): only there do products go through cuBLAS",
        ));
    }
    if args.kernel_trace.is_some() && !cfg!(feature = "cuda") {
        return Err(mss_examples::exit::bad_usage(
            "--kernel-trace needs a CUDA build (`--features cuda`): it reads CUPTI's records",
        ));
    }
    #[cfg(feature = "cuda")]
    {
        mss::models::use_cublas(!args.burn_kernels);
        mss::models::use_rope_kernel(!args.burn_rope);
        mss::models::use_flash_attention(!args.no_flash);
        mss::models::use_cudnn_attention(!args.no_cudnn);
        mss::models::set_flash_rows_per_plane(args.flash_rows);
        mss::models::set_statistics_rows_per_plane(args.statistics_rows);
        if let Some(log2) = args.score_block_log2 {
            mss::models::set_attention_score_block(1 << log2);
        }
        mss::pruners::use_top_k_kernel(!args.burn_top_k);
        if let Some(Projections(projections)) = &args.weights_as_stored {
            mss::models::keep_weights_as_stored(projections);
        }
        let kept = mss::models::weights_kept_as_stored();
        let kept: Vec<_> = kept.iter().map(|p| p.name()).collect();
        println!(
            "weights kept as stored ([out, in]): {}",
            if kept.is_empty() {
                "none".to_string()
            } else {
                kept.join(", ")
            }
        );
        mss::models::set_cublas_workspace(args.cublas_workspace);
        println!(
            "linear layers: {}",
            if mss::models::cublas_available() {
                format!(
                    "cuBLAS (workspace: {})",
                    match args.cublas_workspace {
                        mss::models::CublasWorkspace::Default => "cuBLAS's own pool".to_string(),
                        mss::models::CublasWorkspace::None => "none".to_string(),
                        mss::models::CublasWorkspace::Mib(mib) => format!("{mib} MiB of its own"),
                    }
                )
            } else {
                "Burn's matrix product".to_string()
            }
        );
        println!(
            "attention: {}",
            match (mss::models::cudnn_version(), args.no_flash, !args.no_cudnn) {
                (_, true, _) => "cuBLAS products around a softmax kernel".to_string(),
                (_, false, false) => "the flash kernel".to_string(),
                (Some(v), false, true) if mss::models::cudnn_attention_available() =>
                    format!("cuDNN {v}'s fused attention, the flash kernel where it builds no plan"),
                (found, false, true) => format!(
                    "the flash kernel (cuDNN {})",
                    found.map_or("not found".to_string(), |v| format!("{v} too old"))
                ),
            }
        );
    }
    let device = Default::default();
    let dtype = args.dtype.dtype();
    let model = match &args.model {
        Some(dir) => Transformer::<B>::load(dir, &device, dtype)?,
        None => random::model::<B>(args.shape, args.tokens, &device, dtype),
    };
    let model = model.with_host_kernels(!args.burn_kernels);
    let ids = random::ids(args.tokens, model.config.vocab_size, 1);
    let checking = |check| !args.no_checks && args.checks.contains(&check);
    if checking(Check::TopK) {
        checks::check_pooling(&device)?;
        checks::check_selection(&device, args.burn_top_k)?;
    }
    if checking(Check::Attention) {
        checks::check_long_chunks(&device, !args.no_flash)?;
    }
    // Cheap beside the checks above (two products per dtype), and the guard on every cuBLAS
    // figure: it runs even with `--no-checks`.
    #[cfg(feature = "cuda")]
    {
        checks::check_linear_products(&device, !args.burn_kernels)?;
        checks::check_product_chain(&device, !args.burn_kernels)?;
        // The checks compare the orderings; the timings use the one asked for.
        mss::models::order_cublas(match args.product_ordering {
            Ordering::Stream => mss::models::ProductOrdering::CubeclStream,
            Ordering::Events => mss::models::ProductOrdering::Events,
            Ordering::Synchronised => mss::models::ProductOrdering::Synchronised,
        });
    }
    mss::core::attention::use_attention_kernel(match args.attention {
        Attention::Fused => mss::core::attention::AttentionKernel::Fused,
        Attention::Burn => mss::core::attention::AttentionKernel::Burn,
        Attention::Blocked => mss::core::attention::AttentionKernel::Blocked,
    });
    #[cfg(feature = "cuda")]
    if args.check_model && !args.burn_kernels {
        checks::check_model_kernels(&model, &ids)?;
    }
    if checking(Check::Rope) {
        checks::check_rope(&device)?;
    }
    if checking(Check::Statistics) {
        checks::check_statistics_attention(&device)?;
        checks::check_model_statistics(&device, !args.no_flash)?;
    }
    if let Some(count) = args.products {
        time_products(&model, args.chunk, count, !args.burn_kernels)?;
    }
    println!(
        "forward pass: {}\n",
        if model.uses_host_kernels() {
            "host kernels"
        } else {
            "Burn operations"
        }
    );
    println!(
        "| configuration | L | C | M | median s | tokens/s | runs (s) | pool peak over weights, GiB |\n| --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    let full_chunk = args.full_chunk.unwrap_or(args.chunk);
    for (label, config) in configs(
        &args.pruners,
        args.adaptive,
        args.chunk,
        args.memory,
        full_chunk,
        args.positions,
    ) {
        if !args.only.is_empty() && !args.only.iter().any(|o| label.contains(o.as_str())) {
            continue;
        }
        let config = match args.fixed_query_block {
            Some(rows) => config.with_query_blocks(QueryBlocks::fixed(rows)),
            None => config,
        };
        let mut prefiller = Prefiller::<B>::new(config)?;
        // The largest reserved reading before a release, over the timed runs (with
        // `--release-each-step`).
        let step_peak = std::rc::Rc::new(std::cell::Cell::new(0u64));
        #[cfg(feature = "cuda")]
        if args.release_each_step {
            let (peak, device) = (step_peak.clone(), device.clone());
            prefiller = prefiller.on_step(move |_| {
                if let Some(reserved) = mss::models::release_after_queued_work(&device) {
                    peak.set(peak.get().max(reserved));
                }
            });
        }
        let mut run = || -> anyhow::Result<f64> {
            let start = Instant::now();
            let prefill = prefiller.prefill(&model, &ids)?;
            let _first: i64 = prefill.next_logits.argmax(0).into_scalar().elem();
            Ok(start.elapsed().as_secs_f64())
        };
        let warm_up_starts = process_start.elapsed().as_secs_f64();
        let warm_up = run()?;
        // Kernels are compiled and tuned during the warm-up: its length is the start-up cost.
        println!(
            "<!-- {label}: warm-up prefill started {warm_up_starts:.1} s into the process, took {warm_up:.1} s -->"
        );
        let pool_before = pool_reserved(&device, true);
        step_peak.set(0);
        #[cfg(feature = "cuda")]
        if args.release_each_step {
            mss::models::exact_size_allocations(&device, true);
        }
        let profile = args
            .host_profile
            .as_ref()
            .map(|_| mss_examples::host_profile::HostProfile::start())
            .transpose()?;
        #[cfg(feature = "cuda")]
        let trace = args
            .kernel_trace
            .as_ref()
            .map(|_| mss_examples::kernel_trace::KernelTrace::start())
            .transpose()
            .map_err(|e| anyhow::anyhow!("--kernel-trace: {e}"))?;
        let runs = (0..args.repeats.max(1))
            .map(|_| run())
            .collect::<anyhow::Result<Vec<f64>>>()?;
        if let (Some(profile), Some(folder)) = (profile, &args.host_profile) {
            std::fs::create_dir_all(folder)?;
            profile.write(&folder.join(format!("{}.folded", label.replace(' ', "-"))))?;
        }
        #[cfg(feature = "cuda")]
        if let (Some(trace), Some(folder)) = (trace, &args.kernel_trace) {
            // Every traced kernel done, so that its record is complete.
            B::sync(&device)?;
            std::fs::create_dir_all(folder)?;
            let path = folder.join(format!("{}.csv", label.replace(' ', "-")));
            let summary = trace
                .finish(&path)
                .map_err(|e| anyhow::anyhow!("--kernel-trace: {e}"))?;
            println!(
                "<!-- {label}: kernel trace {}: {summary} -->",
                path.display()
            );
        }
        #[cfg(feature = "cuda")]
        if args.release_each_step {
            mss::models::exact_size_allocations(&device, false);
        }
        #[cfg(feature = "cuda")]
        if let Some(ordering) = mss::models::cublas_ordering() {
            println!("{label}: cuBLAS products ordered by {ordering}");
        }
        #[cfg(feature = "cuda")]
        if mss::models::cudnn_attention_available() && !args.no_flash {
            let plans = mss::models::cudnn_plans();
            println!(
                "{label}: cuDNN attention plans so far in the process: {} built, {} read back \
                 ({:.2} s)",
                plans.built,
                plans.loaded,
                plans.took.as_secs_f64()
            );
        }
        let pool_peak = match (pool_before, pool_reserved(&device, false)) {
            (Some(before), Some(after)) => {
                let peak = after.max(step_peak.get());
                format!("{:.2}", peak.saturating_sub(before) as f64 / GIB)
            }
            _ => "-".to_string(),
        };
        let shown: Vec<String> = runs.iter().map(|s| format!("{s:.3}")).collect();
        let median = mss_examples::median(&runs);
        let (chunk, memory) = if label == "full attention" {
            (full_chunk, "-".to_string())
        } else {
            (args.chunk, args.memory.to_string())
        };
        println!(
            "| {label} | {} | {chunk} | {memory} | {median:.3} | {:.0} | {} | {pool_peak} |",
            args.tokens,
            args.tokens as f64 / median,
            shown.join(", ")
        );
        // Ends CubeCL's per-kernel profile of this configuration, when one is being taken.
        B::sync(&device)?;
    }
    Ok(())
}

const GIB: f64 = (1u64 << 30) as f64;

/// The bytes the CUDA pool reserves now, after the device has finished its work; with
/// `release`, after it has given its unused pages back, which leaves what is live (the weights,
/// the prompt). Released before a configuration's timed runs and read as it is after them, the
/// difference is their high-water mark beyond what was live, in pool pages. `None` off CUDA.
fn pool_reserved(device: &burn::tensor::Device<B>, release: bool) -> Option<u64> {
    B::sync(device).ok()?;
    #[cfg(feature = "cuda")]
    {
        if release {
            mss::models::release_unused_device_memory(device);
        }
        mss::models::device_pool(device).map(|p| p.reserved)
    }
    #[cfg(not(feature = "cuda"))]
    {
        let _ = release;
        None
    }
}

/// Times `count` products of each of the model's linear-layer shapes on one chunk of `rows`
/// tokens (a query projection, the MLP's gate and down projections), each batch ended by a
/// read-back, and prints milliseconds per product and TFLOP/s. On CUDA builds both cuBLAS and
/// Burn's product are timed; `cublas` is the switch left in place afterwards.
fn time_products(
    model: &Transformer<B>,
    rows: usize,
    count: usize,
    cublas: bool,
) -> anyhow::Result<()> {
    use burn::tensor::Distribution;
    let layer = &model.layers[0];
    let device = model.embed_tokens.device();
    let shapes = [
        ("q_proj", &layer.self_attn.q_proj),
        ("gate_proj", &layer.mlp.gate_proj),
        ("down_proj", &layer.mlp.down_proj),
    ];
    #[cfg(feature = "cuda")]
    let paths = [("cuBLAS", true), ("Burn", false)];
    #[cfg(not(feature = "cuda"))]
    let paths = [("Burn", false)];
    println!(
        "| product | rows x in x out | path | ms per product | TFLOP/s |\n| --- | --- | --- | --- | --- |"
    );
    for (name, linear) in shapes {
        let [d_in, d_out] = linear.weight.dims();
        let x = Tensor::<B, 3>::random([1, rows, d_in], Distribution::Normal(0.0, 1.0), &device)
            .cast(model.dtype());
        for (path, enabled) in paths {
            mss_examples::switch_cublas(enabled);
            let batch = || -> anyhow::Result<f64> {
                let start = Instant::now();
                let mut sum = linear.forward(x.clone()).sum();
                for _ in 1..count {
                    sum = sum + linear.forward(x.clone()).sum();
                }
                let _: f32 = sum.into_scalar().elem();
                Ok(start.elapsed().as_secs_f64())
            };
            batch()?;
            let seconds = batch()?.min(batch()?);
            let ms = seconds * 1e3 / count as f64;
            let tflops = 2.0 * (rows * d_in * d_out) as f64 / (ms * 1e-3) / 1e12;
            println!("| {name} | {rows} x {d_in} x {d_out} | {path} | {ms:.3} | {tflops:.0} |");
        }
    }
    mss_examples::switch_cublas(cublas);
    println!();
    Ok(())
}

/// Full attention, then FM and IMDC (and IM with the adaptive curve) for each pruner.
fn configs(
    pruners: &[PrunerKind],
    adaptive: bool,
    chunk: usize,
    memory: usize,
    full_chunk: usize,
    positions: mss::PositionMode,
) -> Vec<(String, PrefillConfig)> {
    let mut configs = vec![(
        "full attention".to_string(),
        PrefillConfig::full_attention(full_chunk),
    )];
    for &pruner in pruners {
        for (method, memory_type, decremental) in [
            ("FM", MemoryType::Fm, false),
            ("IMDC", MemoryType::Im, true),
        ] {
            let config = PrefillConfig::new(pruner, memory_type, chunk, memory)
                .with_decremental(decremental);
            configs.push((format!("{pruner} {method}"), config));
        }
        if adaptive {
            let config = PrefillConfig::new(pruner, MemoryType::Im, chunk, memory)
                .with_incremental(LayerwiseCurve::Adaptive.into());
            configs.push((format!("{pruner} IM adaptive"), config));
        }
    }
    // Timing only: positions past the model's trained window change the numbers, not the work.
    configs
        .into_iter()
        .map(|(name, config)| {
            let config = config
                .with_past_trained_positions(true)
                .with_positions(positions);
            (name, config)
        })
        .collect()
}
