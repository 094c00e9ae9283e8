//! Times whole prefills of a long prompt on the build's backend (CPU, or CUDA with `--features
//! cuda`): full attention and FM / IMDC for `streaming_llm` and `snapkv` (or `--pruners`, with
//! `--adaptive` also IM under the adaptive curve), median of a few runs after a warm-up, each
//! ended by reading the first token back (the eval's time to first token).
//!
//! The model has SmolLM2-135M's shape with random weights unless `--model DIR` names a Hugging
//! Face folder: the work done does not depend on the weights, and nothing has to be carried to
//! a GPU machine.
//!
//! ```text
//! cargo run --release --example prefill_timing -- --tokens 2048 --chunk 256 --memory 256
//! cargo build --release --example prefill_timing --features cuda   # then run it on the GPU
//! ```

use std::path::PathBuf;
use std::time::Instant;

use burn::prelude::*;
use clap::Parser;
use mss::pruners::{PrunerKind, rank_top_k, top_k, top_k_mask};
use mss::schedule::{LayerwiseCurve, MemoryType, QueryBlocks};
use mss::{DefaultBackend as B, PrefillConfig, Prefiller, Transformer, TransformerConfig};
use mss_examples::Precision;

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
    /// Bracket every cuBLAS product by host synchronisations even where the driver can order
    /// it by events on the GPU (to compare the two).
    #[arg(long)]
    synchronised_products: bool,
    /// Attention of the runs without statistics: the fastest fused one (with `--features cuda`,
    /// cuBLAS products around one softmax kernel), Burn's fused kernel, or blocks of Burn's
    /// matrix products as with statistics.
    #[arg(long, value_enum, default_value_t = Attention::Fused)]
    attention: Attention,
    /// Skip the device checks of top-k and the statistics attention (not the cuBLAS check).
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
    /// Attention without statistics through the flash-style kernel (opt-in while it is
    /// measured; the attention check checks it either way).
    #[arg(long)]
    flash: bool,
    /// Sample where the host spends the timed runs (built with feature `host-profile`): one
    /// file of folded stacks per configuration in this folder, for
    /// `scripts/gpu/folded-summary.py` or any flame-graph tool.
    #[arg(long)]
    host_profile: Option<PathBuf>,
    /// Largest block of f32 attention scores the CUDA attention materialises at a time, as a
    /// power of two (default 25: 128 MiB), for the A/B of block sizes.
    #[arg(long, value_parser = clap::value_parser!(u32).range(16..=30))]
    score_block_log2: Option<u32>,
    /// Before the prefills, time the model's linear-layer products on one chunk (this many
    /// of each shape; with `--features cuda`, cuBLAS against Burn's product).
    #[arg(long)]
    products: Option<usize>,
}

/// `--attention`.
/// A device check of the example.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Check {
    /// The device top-k against the host's.
    TopK,
    /// The fused and flash attentions against blocked products.
    Attention,
    /// The RoPE kernel against Burn's operations.
    Rope,
    /// The attention statistics (products and flash kernels) against blocked products.
    Statistics,
}

impl Check {
    const ALL: [Check; 4] = [
        Check::TopK,
        Check::Attention,
        Check::Rope,
        Check::Statistics,
    ];
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Attention {
    Fused,
    Burn,
    Blocked,
}

/// Random-weight model shapes.
#[derive(Clone, Copy, clap::ValueEnum)]
enum ModelShape {
    /// SmolLM2-135M, the default model.
    Smollm2,
    /// LLaMA-2-7B, the paper's model (13.5 GB of weights in bf16).
    #[value(name = "llama2-7b")]
    Llama2_7b,
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
    #[cfg(feature = "cuda")]
    {
        mss::models::use_cublas(!args.burn_kernels);
        mss::models::use_rope_kernel(!args.burn_rope);
        mss::models::use_flash_attention(args.flash);
        if let Some(log2) = args.score_block_log2 {
            mss::models::set_attention_score_block(1 << log2);
        }
        mss::pruners::use_top_k_kernel(!args.burn_top_k);
        println!(
            "linear layers: {}",
            if mss::models::cublas_available() {
                "cuBLAS"
            } else {
                "Burn's matrix product"
            }
        );
    }
    let device = Default::default();
    let dtype = args.dtype.dtype();
    let model = match &args.model {
        Some(dir) => Transformer::<B>::load(dir, &device, dtype)?,
        None => {
            B::seed(&device, 0);
            let mut config = match args.shape {
                ModelShape::Smollm2 => TransformerConfig::smollm2_135m(),
                ModelShape::Llama2_7b => TransformerConfig::llama2_7b(),
            };
            // Random weights: positions past the trained length change only the numbers.
            config.max_position_embeddings = config.max_position_embeddings.max(args.tokens);
            config.init::<B>(&device, dtype)
        }
    };
    let model = model.with_host_kernels(!args.burn_kernels);
    let ids = mss_testkit::ids(args.tokens, model.config.vocab_size, 1);
    let checking = |check| !args.no_checks && args.checks.contains(&check);
    if checking(Check::TopK) {
        check_pooling(&device)?;
        check_selection(&device, args.burn_top_k)?;
    }
    if checking(Check::Attention) {
        check_long_chunks(&device, args.flash)?;
    }
    // Cheap beside the checks above (two products per dtype), and the guard on every cuBLAS
    // figure: it runs even with `--no-checks`.
    #[cfg(feature = "cuda")]
    {
        check_linear_products(&device, !args.burn_kernels)?;
        check_product_chain(&device, !args.burn_kernels)?;
        // The checks compare both orderings; the timings use the one asked for.
        mss::models::order_cublas_by_events(!args.synchronised_products);
    }
    mss::core::attention::use_attention_kernel(match args.attention {
        Attention::Fused => mss::core::attention::AttentionKernel::Fused,
        Attention::Burn => mss::core::attention::AttentionKernel::Burn,
        Attention::Blocked => mss::core::attention::AttentionKernel::Blocked,
    });
    #[cfg(feature = "cuda")]
    if args.check_model && !args.burn_kernels {
        check_model_kernels(&model, &ids)?;
    }
    if checking(Check::Rope) {
        check_rope(&device)?;
    }
    if checking(Check::Statistics) {
        check_statistics_attention(&device)?;
        check_model_statistics(&device, args.flash)?;
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
        let profile = args
            .host_profile
            .as_ref()
            .map(|_| host_profile::HostProfile::start())
            .transpose()?;
        let runs = (0..args.repeats.max(1))
            .map(|_| run())
            .collect::<anyhow::Result<Vec<f64>>>()?;
        if let (Some(profile), Some(folder)) = (profile, &args.host_profile) {
            std::fs::create_dir_all(folder)?;
            profile.write(&folder.join(format!("{}.folded", label.replace(' ', "-"))))?;
        }
        let pool_peak = match (pool_before, pool_reserved(&device, false)) {
            (Some(before), Some(after)) => {
                format!("{:.2}", after.saturating_sub(before) as f64 / GIB)
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

/// `snapkv`'s pooling (one pooling operation of the backend) against zero-padded shifted
/// views summed left to right, the way it was computed before: the top-k after it must see
/// the same scores, so they must agree to the bit.
fn check_pooling(device: &burn::tensor::Device<B>) -> anyhow::Result<()> {
    use burn::tensor::Distribution;
    let [heads, len, width] = [8, 2052, 5];
    let sums = Tensor::<B, 2>::random([heads, len], Distribution::Uniform(0.0, 300.0), device);
    let pooled: Vec<f32> = host_values(mss::pruners::avg_pool(sums.clone(), width).into_data())?;
    let zeros = Tensor::<B, 2>::zeros([heads, width / 2], device);
    let padded = Tensor::cat(vec![zeros.clone(), sums, zeros], 1);
    let shifted = (0..width)
        .map(|k| padded.clone().narrow(1, k, len))
        .reduce(|a, b| a.add(b))
        .expect("a width of 5")
        .div_scalar(width as f32);
    let shifted: Vec<f32> = host_values(shifted.into_data())?;
    let differ = pooled
        .iter()
        .zip(&shifted)
        .filter(|(p, s)| p.to_bits() != s.to_bits())
        .count();
    let largest = pooled
        .iter()
        .zip(&shifted)
        .map(|(p, s)| (p - s).abs())
        .fold(0.0f32, f32::max);
    println!(
        "snapkv pooling vs shifted sums: {differ} of {} scores differ, by at most {largest:.1e}",
        pooled.len()
    );
    anyhow::ensure!(
        differ == 0,
        "snapkv's pooling differs from the shifted sums in {differ} scores (at most {largest:.1e})"
    );
    Ok(())
}

/// Checks, before timing anything, that top-k on this backend's device chooses exactly what the
/// host would: random score rows with many ties (and NaN, −∞, −0.0 beside 0.0), the candidate
/// counts of a short row, of a `C = M = 1024` step and of two long rows (the second past the
/// one-cube kernel's reach, so the two-kernel path runs too), as indices and as a mask; with
/// `--features cuda` both the crate's kernels and Burn's operations. Leaves the kernels
/// switched as `--burn-top-k` says.
fn check_selection(device: &burn::tensor::Device<B>, burn_top_k: bool) -> anyhow::Result<()> {
    let heads = 3;
    let mut cases = 0;
    for kernels in [true, false] {
        #[cfg(feature = "cuda")]
        mss::pruners::use_top_k_kernel(kernels);
        #[cfg(not(feature = "cuda"))]
        if kernels {
            continue;
        }
        for (seed, len) in [
            (0, 2052),
            (1, 2052),
            (2, 2052),
            (3, 8195),
            (4, 37),
            (5, 17000),
        ] {
            let ids = mss_testkit::ids(heads * len, 64, seed);
            let values: Vec<f32> = ids
                .iter()
                .enumerate()
                .map(|(n, &i)| match (n % 97, n % 89, n % 83) {
                    (0, _, _) => f32::NAN,
                    (_, 0, _) => f32::NEG_INFINITY,
                    (_, _, 0) => -0.0,
                    _ => i as f32 / 8.0,
                })
                .collect();
            let scores =
                Tensor::<B, 2>::from_data(TensorData::new(values.clone(), [heads, len]), device);
            for budget in [1, 1024, 2047, len - 1, len + 5] {
                let want: Vec<Vec<usize>> = values
                    .chunks_exact(len)
                    .map(|row| top_k(row, budget))
                    .collect();
                let got: Vec<i64> = host_values(rank_top_k(scores.clone(), budget).into_data())?;
                let want_indices: Vec<i64> = want.iter().flatten().map(|&i| i as i64).collect();
                let mut want_mask = vec![0i64; heads * len];
                for (head, kept) in want.iter().enumerate() {
                    for &i in kept {
                        want_mask[head * len + i] = 1;
                    }
                }
                let mask: Vec<i64> =
                    host_values(top_k_mask(scores.clone(), budget).int().into_data())?;
                anyhow::ensure!(
                    got == want_indices && mask == want_mask,
                    "device top-k differs from the host's (kernels {kernels}, seed {seed}, \
                     {len} candidates, budget {budget})"
                );
                cases += 1;
            }
        }
    }
    #[cfg(feature = "cuda")]
    mss::pruners::use_top_k_kernel(!burn_top_k);
    #[cfg(not(feature = "cuda"))]
    let _ = burn_top_k;
    println!(
        "device top-k equals the host's in {cases} cases (3 heads, 37, 2052, 8195 or 17000 \
         candidates, many ties, NaN and infinities; indices and masks)\n"
    );
    Ok(())
}

/// Checks that a linear layer's cuBLAS product equals Burn's own on this device: f32 and bf16,
/// a contiguous weight and a transposed view (as loaded from Hugging Face's `[out, in]`), an
/// odd row count. Leaves cuBLAS switched as `cublas` says.
#[cfg(feature = "cuda")]
fn check_linear_products(device: &burn::tensor::Device<B>, cublas: bool) -> anyhow::Result<()> {
    use burn::tensor::{DType, Distribution};
    use mss::models::{Linear, use_cublas};
    if !mss::models::cublas_available() {
        return Ok(());
    }
    let (m, k, n) = (1001, 576, 1536);
    for dtype in [DType::F32, DType::BF16] {
        let x =
            Tensor::<B, 3>::random([1, m, k], Distribution::Normal(0.0, 1.0), device).cast(dtype);
        let random = |shape| Tensor::<B, 2>::random(shape, Distribution::Normal(0.0, 1.0), device);
        for (layout, weight) in [
            ("contiguous", random([k, n])),
            ("transposed", random([n, k]).transpose()),
        ] {
            let linear = Linear::new(weight.cast(dtype), None);
            use_cublas(true);
            let got = linear.forward(x.clone()).cast(DType::F32);
            use_cublas(false);
            let want = linear.forward(x.clone()).cast(DType::F32);
            let scale: f32 = want.clone().abs().max().into_scalar().elem();
            let error: f32 = (got - want).abs().max().into_scalar().elem();
            // Burn's f32 product on CUDA rounds its inputs to TF32 (10-bit mantissas); cuBLAS
            // here computes in full f32. A wrong layout would differ by the whole scale.
            let bound = if dtype == DType::F32 { 5e-3 } else { 3e-2 };
            anyhow::ensure!(
                error <= bound * scale,
                "cuBLAS differs from Burn's product ({dtype:?}, {layout} weight): {error} of {scale}"
            );
            println!(
                "cuBLAS vs Burn's product, {dtype:?}, {layout} weight: max |diff| {error:.2e} of {scale:.1}"
            );
        }
    }
    use_cublas(cublas);
    println!();
    Ok(())
}

/// Checks that cuBLAS products stay ordered against Burn's kernels around them: a chain of
/// eight pairs of products (each pair one cuBLAS operation, as q/k/v and gate/up are), each
/// reading the previous pair through `tanh` and a product of the two, with intermediates
/// dropped as they go (so that the pool hands their memory to later kernels). Products ordered
/// by events must give exactly what host-synchronised ones give (same cuBLAS products, same
/// order): a product that ran before its input was written, or whose output a later kernel
/// read too early, changes the result by its scale. Burn's products are a looser second
/// reference (its f32 product rounds inputs to TF32, and the chain amplifies that).
#[cfg(feature = "cuda")]
fn check_product_chain(device: &burn::tensor::Device<B>, cublas: bool) -> anyhow::Result<()> {
    use burn::tensor::{DType, Distribution};
    use mss::models::{Linear, order_cublas_by_events, project, use_cublas};
    if !mss::models::cublas_available() {
        return Ok(());
    }
    let (m, k) = (1001, 576);
    for (dtype, burn_bound) in [(DType::F32, 5e-2), (DType::BF16, 1e-1)] {
        let x =
            Tensor::<B, 3>::random([1, m, k], Distribution::Normal(0.0, 1.0), device).cast(dtype);
        let linears: Vec<Linear<B>> = (0..8)
            .map(|i| {
                let weight = if i % 2 == 0 {
                    Tensor::<B, 2>::random([k, k], Distribution::Normal(0.0, 0.05), device)
                } else {
                    Tensor::<B, 2>::random([k, k], Distribution::Normal(0.0, 0.05), device)
                        .transpose()
                };
                Linear::new(weight.cast(dtype), None)
            })
            .collect();
        let chain = |cublas: bool, events: bool| {
            use_cublas(cublas);
            order_cublas_by_events(events);
            let mut y = x.clone();
            for (i, linear) in linears.iter().enumerate() {
                let [a, b] = project(y, [linear, &linears[(i + 1) % linears.len()]]);
                y = burn::tensor::activation::tanh(a).mul(b.add_scalar(0.5));
            }
            y.cast(DType::F32)
        };
        let by_events = chain(true, true);
        let ordering = mss::models::cublas_ordering().unwrap_or("-");
        let synchronised = chain(true, false);
        let burn = chain(false, true);
        let scale: f32 = burn.clone().abs().max().into_scalar().elem();
        let max_diff = |a: &Tensor<B, 3>, b: &Tensor<B, 3>| -> f32 {
            (a.clone() - b.clone()).abs().max().into_scalar().elem()
        };
        let (versus_sync, versus_burn) = (
            max_diff(&by_events, &synchronised),
            max_diff(&by_events, &burn),
        );
        anyhow::ensure!(
            versus_sync <= 1e-6 * scale && versus_burn <= burn_bound * scale,
            "a chain of cuBLAS products ({ordering}) differs ({dtype:?}): by {versus_sync} from \
             host-synchronised products, by {versus_burn} from Burn's, of {scale}"
        );
        println!(
            "chain of 8 product pairs, {dtype:?}: cuBLAS ordered by {ordering} vs host-synchronised \
             max |diff| {versus_sync:.1e}, vs Burn's {versus_burn:.1e}, of {scale:.2}"
        );
    }
    use_cublas(cublas);
    order_cublas_by_events(true);
    println!();
    Ok(())
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
            switch_cublas(enabled);
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
    switch_cublas(cublas);
    println!();
    Ok(())
}

/// Switches the linear layers' cuBLAS products on or off (CUDA builds; nothing to switch on
/// others).
fn switch_cublas(enabled: bool) {
    #[cfg(feature = "cuda")]
    mss::models::use_cublas(enabled);
    #[cfg(not(feature = "cuda"))]
    let _ = enabled;
}

/// Checks RoPE (`mss::models::rope::RopeTable::rotate_range` and `rotate_at`, with
/// `--features cuda` through the crate's kernel, switched on for the check) against Burn's operations (`apply_rope` on the table's rows) in bf16, on a
/// strided input: 9 heads of 300 tokens at positions from 1000, and at random per-head
/// positions.
fn check_rope(device: &burn::tensor::Device<B>) -> anyhow::Result<()> {
    use burn::tensor::{DType, Distribution};
    use mss::models::rope::{RopeScaling, RopeTable, apply_rope, inv_freq};
    let freq = inv_freq(10_000.0, 64, RopeScaling::None, 4095);
    let table = RopeTable::<B>::new(4096, &freq, DType::BF16, device);
    // A view with the strides of the projections' output: [1, tokens, heads, dim] swapped.
    let x = Tensor::<B, 4>::random([1, 300, 9, 64], Distribution::Normal(0.0, 1.0), device)
        .cast(DType::BF16)
        .swap_dims(1, 2);
    let positions =
        Tensor::<B, 2, Int>::random([9, 300], Distribution::Uniform(0.0, 4096.0), device);
    let values = |t: Tensor<B, 4>| host_values::<f32>(t.cast(DType::F32).into_data());
    #[cfg(feature = "cuda")]
    let was_on = mss::models::rope_kernel_enabled();
    #[cfg(feature = "cuda")]
    mss::models::use_rope_kernel(true);
    let (cos, sin) = table.range(1000, 300);
    let range_error = mss_testkit::relative_error(
        &values(table.rotate_range(x.clone(), 1000))?,
        &values(apply_rope(x.clone(), cos, sin))?,
    );
    let (cos, sin) = table.select(positions.clone());
    let at_error = mss_testkit::relative_error(
        &values(table.rotate_at(x.clone(), positions))?,
        &values(apply_rope(x, cos, sin))?,
    );
    #[cfg(feature = "cuda")]
    mss::models::use_rope_kernel(was_on);
    anyhow::ensure!(
        range_error < 1e-2 && at_error < 1e-2,
        "RoPE differs from Burn's operations: {range_error} (a range of positions), {at_error} \
         (per-head positions)"
    );
    println!(
        "RoPE equals Burn's operations (bf16): a range of positions {range_error:.1e}, per-head positions {at_error:.1e}\n"
    );
    Ok(())
}

/// Checks the model's forward pass with the crate's CUDA kernels (cuBLAS products, the attention
/// and RoPE kernels) against Burn's operations on three chunks of 256 tokens with 256 memory
/// entries: full attention and `streaming_llm` must agree on the last logits; `snapkv`'s
/// figure is printed only (rounding can flip its near-tied selections).
#[cfg(feature = "cuda")]
fn check_model_kernels(model: &Transformer<B>, ids: &[u32]) -> anyhow::Result<()> {
    use burn::tensor::DType;
    let ids = &ids[..ids.len().min(768)];
    let mut line = Vec::new();
    let configs = [
        ("full attention", PrefillConfig::full_attention(256), true),
        (
            "streaming_llm FM",
            PrefillConfig::new(PrunerKind::StreamingLlm, MemoryType::Fm, 256, 256),
            true,
        ),
        (
            "snapkv FM",
            PrefillConfig::new(PrunerKind::SnapKv, MemoryType::Fm, 256, 256),
            false,
        ),
    ];
    for (label, config, must_agree) in configs {
        let logits = |own: bool| -> anyhow::Result<Vec<f32>> {
            switch_cublas(own);
            let mut prefiller = Prefiller::<B>::new(config.clone())?;
            let prefill = prefiller.prefill(model, ids)?;
            host_values::<f32>(prefill.next_logits.cast(DType::F32).into_data())
        };
        let own = logits(true)?;
        let burn = logits(false)?;
        switch_cublas(true);
        let error = mss_testkit::relative_error(&own, &burn);
        anyhow::ensure!(
            !must_agree || error < 5e-2,
            "{label}: the model's last logits with the crate's CUDA kernels differ from Burn's \
             operations by {error}"
        );
        line.push(format!("{label} {error:.1e}"));
    }
    println!(
        "model with the crate's CUDA kernels vs Burn's operations, last logits over {} tokens: {}\n",
        ids.len(),
        line.join(", ")
    );
    Ok(())
}

/// Checks that the attention which computes statistics (blocked, heads broadcast per KV head)
/// gives the fused kernel's output on this backend, in f32: 9 query heads over 3 KV heads,
/// 1024 queries over 2052 keys, in one block and in blocks of 256.
fn check_statistics_attention(device: &burn::tensor::Device<B>) -> anyhow::Result<()> {
    use burn::tensor::Distribution;
    use mss::core::AttentionNeeds;
    use mss::core::attention::attend;
    let random =
        |shape: [usize; 4]| Tensor::<B, 4>::random(shape, Distribution::Normal(0.0, 1.0), device);
    let (q, k, v) = (
        random([1, 9, 1024, 64]),
        random([1, 3, 2052, 64]),
        random([1, 3, 2052, 64]),
    );
    let needs = AttentionNeeds {
        last_query: true,
        column_sums: true,
        second_moments: true,
    };
    let (fused, _) = attend(
        q.clone(),
        k.clone(),
        v.clone(),
        None,
        AttentionNeeds::NONE,
        1024,
    );
    let fused: Vec<f32> = host_values(fused.into_data())?;
    for block in [1024, 256] {
        let (blocked, stats) = attend(q.clone(), k.clone(), v.clone(), None, needs, block);
        let blocked: Vec<f32> = host_values(blocked.into_data())?;
        let error = mss_testkit::relative_error(&blocked, &fused);
        anyhow::ensure!(
            error < 1e-2,
            "blocked attention differs from the fused kernel: {error}"
        );
        // Every query's probabilities sum to one: the column sums of a KV head add up to
        // 3 heads × 1024 queries.
        let total: f32 = stats.column_sums.expect("asked").sum().into_scalar().elem();
        anyhow::ensure!(
            (total / (3.0 * 3.0 * 1024.0) - 1.0).abs() < 1e-3,
            "column sums add up to {total}"
        );
    }
    println!(
        "statistics attention equals the fused kernel on this device (blocks of 1024 and 256)\n"
    );
    Ok(())
}

/// Checks the statistics of the model's attention (`mss::models::attend`: on CUDA, one more
/// cuBLAS product per block from the softmax's probabilities) against `mss_core`'s blocked
/// products, in f32 and bf16, 9 query heads over 3 KV heads: the output, the column sums, the
/// last query's row and the visible-query counts, for a few queries after memory, a 1024-query
/// chunk after 1024 entries, a 4608-query chunk (several query blocks) after 1024 and heads of
/// 128 off the flash kernels' 64-row blocks; bf16 through the flash kernels too.
fn check_model_statistics(
    device: &burn::tensor::Device<B>,
    flash_timed: bool,
) -> anyhow::Result<()> {
    use burn::tensor::{DType, Distribution};
    use mss::core::AttentionNeeds;
    let needs = AttentionNeeds {
        last_query: true,
        column_sums: true,
        second_moments: false,
    };
    let values = |t: Tensor<B, 2>| host_values::<f32>(t.cast(DType::F32).into_data());
    let started = Instant::now();
    // Every case runs; the failures are reported together at the end.
    let mut failures = Vec::new();
    // Burn's f32 products on this GPU round about as TF32 does (`check_linear_products`: ~1e-3
    // of the largest value), so the f32 reference is itself that far off.
    // bf16 twice: through the products around a softmax, then through the flash kernels.
    for (dtype, tolerance, flash) in [
        (DType::F32, 1e-2, false),
        (DType::BF16, 3e-2, false),
        (DType::BF16, 3e-2, true),
    ]
    .into_iter()
    .filter(|&(_, _, flash)| !flash || cfg!(feature = "cuda"))
    {
        #[cfg(feature = "cuda")]
        mss::models::use_flash_attention(flash);
        let random = |shape: [usize; 4]| {
            Tensor::<B, 4>::random(shape, Distribution::Normal(0.0, 1.0), device).cast(dtype)
        };
        let mut errors = Vec::new();
        for (chunk, memory, head_dim, heads, kv_heads) in [
            (7, 300, 64, 3, 3),
            (7, 300, 64, 9, 9),
            (7, 300, 64, 9, 3),
            (64, 300, 64, 9, 3),
            (1024, 1024, 64, 9, 3),
            (4608, 1024, 64, 9, 3),
            (100, 37, 128, 9, 3),
        ] {
            let (q, k, v) = (
                random([1, heads, chunk, head_dim]),
                random([1, kv_heads, memory + chunk, head_dim]),
                random([1, kv_heads, memory + chunk, head_dim]),
            );
            let (out, stats) =
                mss::models::attend(q.clone(), k.clone(), v.clone(), None, needs, 1024);
            let (reference, expected) = mss::core::attention::attend(q, k, v, None, needs, 1024);
            let flat = |t: Tensor<B, 4>| {
                let [a, b, c, d] = t.dims();
                t.reshape([a * b * c, d])
            };
            let pairs = [
                ("output", flat(out), flat(reference)),
                (
                    "column sums",
                    stats.column_sums.expect("asked"),
                    expected.column_sums.expect("asked"),
                ),
                (
                    "last query",
                    stats.last_query.expect("asked"),
                    expected.last_query.expect("asked"),
                ),
                (
                    "visible queries",
                    stats.visible_queries.expect("asked"),
                    expected.visible_queries.expect("asked"),
                ),
            ];
            let mut line = Vec::new();
            for (what, actual, expected) in pairs {
                let [rows, width] = actual.dims();
                let (actual, expected) = (values(actual)?, values(expected)?);
                let error = mss_testkit::relative_error(&actual, &expected);
                if error >= tolerance {
                    // Where it goes wrong: each row's total, and the worst entry.
                    let totals = |x: &[f32]| -> Vec<f32> {
                        x.chunks(width.max(1)).map(|r| r.iter().sum()).collect()
                    };
                    let worst = (0..actual.len())
                        .max_by(|&a, &b| {
                            let d = |i: usize| (actual[i] - expected[i]).abs();
                            d(a).total_cmp(&d(b))
                        })
                        .unwrap_or(0);
                    failures.push(format!(
                        "{what} of a {chunk}-query chunk after {memory} entries ({heads} heads \
                         over {kv_heads}, head {head_dim}, {dtype:?}, flash kernels: {flash}) \
                         differ from the blocked products: {error}; {rows} rows of {width}, \
                         totals {:?} (expected {:?}); worst at row {}, column {}: {} \
                         (expected {})",
                        totals(&actual),
                        totals(&expected),
                        worst / width.max(1),
                        worst % width.max(1),
                        actual.get(worst).copied().unwrap_or(0.0),
                        expected.get(worst).copied().unwrap_or(0.0),
                    ));
                }
                line.push(format!("{what} {error:.1e}"));
            }
            errors.push(format!(
                "{chunk} after {memory} ({heads}/{kv_heads} heads of {head_dim}): {}",
                line.join(", ")
            ));
        }
        let path = if flash { "flash kernels" } else { "products" };
        println!(
            "model attention with statistics vs blocked ({dtype:?}, {path}): {} [{:.0} s]",
            errors.join("; "),
            started.elapsed().as_secs_f64()
        );
    }
    #[cfg(feature = "cuda")]
    mss::models::use_flash_attention(flash_timed);
    #[cfg(not(feature = "cuda"))]
    let _ = flash_timed;
    println!();
    anyhow::ensure!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}

/// Checks the fused attentions (the model's, `mss::models::attend`, and Burn's kernel) against
/// blocked matrix products in bf16, 9 query heads over 3 KV heads, without and with memory:
/// short chunks (one query, a few), a 1024-query chunk, a chunk longer than 4096 queries
/// (where Burn's CUDA autotuner prefers its flash kernels), and heads of 64 and 128 (the
/// flash kernel's two sizes) at lengths off its 64-row blocks. Also prints, without failing, how far
/// Burn's own causal flag lands from them with memory (its flash kernels align the causal
/// boundary at the top left).
fn check_long_chunks(device: &burn::tensor::Device<B>, flash_timed: bool) -> anyhow::Result<()> {
    use burn::tensor::module::attention;
    use burn::tensor::ops::AttentionModuleOptions;
    use burn::tensor::{DType, Distribution};
    use mss::core::AttentionNeeds;
    use mss::core::attention::{AttentionKernel, repeat_kv, use_attention_kernel};
    let random = |shape: [usize; 4]| {
        Tensor::<B, 4>::random(shape, Distribution::Normal(0.0, 1.0), device).cast(DType::BF16)
    };
    let started = Instant::now();
    for (chunk, memory, head_dim) in [
        (1, 0, 64),
        (1, 700, 64),
        (7, 300, 64),
        (1024, 0, 64),
        (1024, 1024, 64),
        (4608, 0, 64),
        (4608, 1024, 64),
        (100, 37, 128),
        (1024, 1024, 128),
    ] {
        let (q, k, v) = (
            random([1, 9, chunk, head_dim]),
            random([1, 3, memory + chunk, head_dim]),
            random([1, 3, memory + chunk, head_dim]),
        );
        let run = |kernel| {
            use_attention_kernel(kernel);
            let (out, _) = mss::models::attend(
                q.clone(),
                k.clone(),
                v.clone(),
                None,
                AttentionNeeds::NONE,
                1024,
            );
            host_values::<f32>(out.cast(DType::F32).into_data())
        };
        let blocked = run(AttentionKernel::Blocked)?;
        let fused = run(AttentionKernel::Fused)?;
        // Burn's kernel at the heads of 64 only: each new shape of it compiles and autotunes
        // for minutes on a fresh GPU, and it stands beside the others for reference only.
        let burn = if head_dim == 64 {
            run(AttentionKernel::Burn)?
        } else {
            blocked.clone()
        };
        // The flash-style kernel: the fused run already went through it under `--flash`.
        #[cfg(feature = "cuda")]
        let flash = if flash_timed {
            fused.clone()
        } else {
            mss::models::use_flash_attention(true);
            let flash = run(AttentionKernel::Fused);
            mss::models::use_flash_attention(false);
            flash?
        };
        // No flash kernel off CUDA: the fused path stands in.
        #[cfg(not(feature = "cuda"))]
        let flash = {
            let _ = flash_timed;
            fused.clone()
        };
        use_attention_kernel(AttentionKernel::Fused);
        let error = mss_testkit::relative_error(&fused, &blocked);
        let burn_error = mss_testkit::relative_error(&burn, &blocked);
        let flash_error = mss_testkit::relative_error(&flash, &blocked);
        anyhow::ensure!(
            error < 3e-2 && burn_error < 3e-2 && flash_error < 3e-2,
            "fused attention of a {chunk}-query chunk after {memory} memory entries (head \
             {head_dim}) differs from the blocked products: {error} (Burn's kernel: \
             {burn_error}, the flash kernel: {flash_error})"
        );
        let flash_vs_fused = mss_testkit::relative_error(&flash, &fused);
        let mut line = format!(
            "attention ({chunk} queries, {memory} memory entries, head {head_dim}, bf16) vs blocked: fused {error:.1e}, flash kernel {flash_error:.1e} ({flash_vs_fused:.1e} from fused), Burn's kernel {burn_error:.1e} [{:.0} s]",
            started.elapsed().as_secs_f64()
        );
        if memory > 0 && chunk > 4096 {
            let options = AttentionModuleOptions {
                scale: None,
                softcap: None,
                is_causal: true,
            };
            let burn_causal = attention(q, repeat_kv(k, 3), repeat_kv(v, 3), None, None, options);
            let burn_causal = host_values::<f32>(burn_causal.cast(DType::F32).into_data())?;
            let burn_error = mss_testkit::relative_error(&burn_causal, &blocked);
            line += &format!("; Burn's causal flag instead of the mask: {burn_error:.1e}");
        }
        println!("{line}");
    }
    println!();
    Ok(())
}

/// A tensor's values read back as `E`.
fn host_values<E: burn::tensor::Element>(data: TensorData) -> anyhow::Result<Vec<E>> {
    data.convert::<E>()
        .to_vec()
        .map_err(|e| anyhow::anyhow!("{e:?}"))
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

/// Host-side sampling profiles of the timed runs (`--host-profile`): the GPU machines have no
/// `perf`, and on a small model the host's operation and launch costs set the time.
#[cfg(all(unix, feature = "host-profile"))]
mod host_profile {
    use std::path::Path;

    /// A running sampler of every thread of the process.
    pub struct HostProfile(pprof::ProfilerGuard<'static>);

    impl HostProfile {
        pub fn start() -> anyhow::Result<Self> {
            let guard = pprof::ProfilerGuardBuilder::default()
                .frequency(997)
                // Unwinding through these can fault (pprof's advice).
                .blocklist(&["libc", "libgcc", "pthread", "vdso"])
                .build()?;
            Ok(Self(guard))
        }

        /// Writes the samples as folded stacks: per line the thread, then the frames from the
        /// root down, `;`-separated, then the count.
        pub fn write(self, path: &Path) -> anyhow::Result<()> {
            let report = self.0.report().build()?;
            let mut lines: Vec<String> = report
                .data
                .iter()
                .map(|(stack, count)| {
                    let frames = stack
                        .frames
                        .iter()
                        .rev()
                        .flat_map(|frame| frame.iter().rev().map(|symbol| symbol.name()));
                    let names: Vec<String> = std::iter::once(stack.thread_name_or_id())
                        .chain(frames)
                        .collect();
                    format!("{} {count}", names.join(";"))
                })
                .collect();
            lines.sort();
            std::fs::write(path, lines.join("\n") + "\n")?;
            Ok(())
        }
    }
}

/// Stands in for the sampler where it is not built: asking for a profile is an error.
#[cfg(not(all(unix, feature = "host-profile")))]
mod host_profile {
    pub struct HostProfile;

    impl HostProfile {
        pub fn start() -> anyhow::Result<Self> {
            anyhow::bail!("--host-profile needs the example built with `--features host-profile`")
        }

        pub fn write(self, _path: &std::path::Path) -> anyhow::Result<()> {
            Ok(())
        }
    }
}
