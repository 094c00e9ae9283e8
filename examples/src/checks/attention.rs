//! Attention without statistics (what full attention and the pruners' plain steps run): the
//! model's fused attention (cuBLAS products around one softmax kernel on CUDA), the
//! flash-style kernel, cuDNN's fused attention where cuDNN is found and Burn's fused kernel,
//! each against blocked matrix products, the existing path. The shapes are the ones that broke before: one query, memory before the
//! chunk (the causal boundary off the diagonal), chunks longer than 4096 queries (where Burn's
//! autotuner switches kernels) and lengths off the flash kernel's 64-row blocks.

use burn::prelude::*;
use mss::DefaultBackend as B;
use std::time::Instant;

use super::{host_f32, relative_error};

/// Checks the fused attentions (the model's, `mss::models::attend`, and Burn's kernel) against
/// blocked matrix products in bf16, 9 query heads over 3 KV heads, without and with memory:
/// short chunks (one query, a few), a 1024-query chunk, a chunk longer than 4096 queries
/// (where Burn's CUDA autotuner prefers its flash kernels), and heads of 64 and 128 (the
/// flash kernel's two sizes) at lengths off its 64-row blocks. Also prints, without failing,
/// how far Burn's own causal flag lands from them with memory (its flash kernels align the
/// causal boundary at the top left). On CUDA the fused path runs three ways, products around a
/// softmax kernel, the flash kernels and cuDNN's attention (where a cuDNN ≥ 9.11 is found it
/// must run the cases of 64 queries and more); `flash_timed` is the flash switch left
/// afterwards (`prefill_timing` without `--no-flash`: on), cuDNN's is left as it was. Leaves
/// the attention kernel at the fused one.
pub fn check_long_chunks(
    device: &burn::tensor::Device<B>,
    flash_timed: bool,
) -> anyhow::Result<()> {
    use burn::tensor::module::attention;
    use burn::tensor::ops::AttentionModuleOptions;
    use burn::tensor::{DType, Distribution};
    use mss::core::AttentionNeeds;
    use mss::core::attention::{AttentionKernel, repeat_kv, use_attention_kernel};
    let random = |shape: [usize; 4]| {
        Tensor::<B, 4>::random(shape, Distribution::Normal(0.0, 1.0), device).cast(DType::BF16)
    };
    let started = Instant::now();
    let mut cudnn_cases = 0;
    // The last field multiplies the keys after the first quarter: a row's scores then grow by
    // far more than the flash kernel's `STALE_MAX` after its first blocks, so its lazily
    // moved max and rescaled output are exercised past the first step.
    for (chunk, memory, head_dim, late_gain) in [
        (1, 0, 64, 1.0),
        (1, 700, 64, 1.0),
        (7, 300, 64, 1.0),
        (1024, 0, 64, 1.0),
        (1024, 1024, 64, 1.0),
        (4608, 0, 64, 1.0),
        (4608, 1024, 64, 1.0),
        (100, 37, 128, 1.0),
        (1024, 1024, 128, 1.0),
        (1024, 1024, 128, 8.0),
    ] {
        let keys = memory + chunk;
        let (q, k, v) = (
            random([1, 9, chunk, head_dim]),
            random([1, 3, keys, head_dim]),
            random([1, 3, keys, head_dim]),
        );
        let k = if late_gain == 1.0 {
            k
        } else {
            let first = keys / 4;
            let late = k
                .clone()
                .narrow(2, first, keys - first)
                .mul_scalar(late_gain);
            Tensor::cat(vec![k.narrow(2, 0, first), late], 2)
        };
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
            host_f32(out)
        };
        let blocked = run(AttentionKernel::Blocked)?;
        // The fused path both ways on CUDA: products around a softmax kernel ("fused") and
        // the flash kernels, whichever of the two the process runs by default.
        // And cuDNN's attention where cuDNN is found (else, and for chunks too short for it,
        // the flash kernel stands in: `cudnn_ran` says which).
        #[cfg(feature = "cuda")]
        let (fused, flash, cudnn, cudnn_ran) = {
            let cudnn_asked = mss::models::cudnn_attention_enabled();
            mss::models::use_flash_attention(false);
            let fused = run(AttentionKernel::Fused);
            mss::models::use_flash_attention(true);
            mss::models::use_cudnn_attention(false);
            let flash = run(AttentionKernel::Fused);
            mss::models::use_cudnn_attention(true);
            let runs = mss::models::cudnn_attention_runs();
            let cudnn = run(AttentionKernel::Fused);
            let cudnn_ran = mss::models::cudnn_attention_runs() > runs;
            mss::models::use_cudnn_attention(cudnn_asked);
            mss::models::use_flash_attention(flash_timed);
            (fused?, flash?, cudnn?, cudnn_ran)
        };
        // No flash kernel or cuDNN off CUDA: the fused path stands in.
        #[cfg(not(feature = "cuda"))]
        let (fused, flash, cudnn, cudnn_ran) = {
            let _ = flash_timed;
            let fused = run(AttentionKernel::Fused)?;
            (fused.clone(), fused.clone(), fused, false)
        };
        cudnn_cases += usize::from(cudnn_ran);
        // Burn's kernel at the heads of 64 only: each new shape of it compiles and autotunes
        // for minutes on a fresh GPU, and it stands beside the others for reference only.
        let burn = if head_dim == 64 {
            run(AttentionKernel::Burn)?
        } else {
            blocked.clone()
        };
        use_attention_kernel(AttentionKernel::Fused);
        let error = relative_error(&fused, &blocked);
        let burn_error = relative_error(&burn, &blocked);
        let flash_error = relative_error(&flash, &blocked);
        let flash_vs_fused = relative_error(&flash, &fused);
        let cudnn_error = relative_error(&cudnn, &blocked);
        let cudnn_vs_flash = relative_error(&cudnn, &flash);
        // With scores grown eightfold the fused path and the flash kernel both sat 7.26e-2
        // from the blocked products on an H200 (the same digits: the reference's rounding of
        // large scores, not the lazy rescaling), so there the flash kernel is held to the
        // fused path and the blocked products bound both more loosely.
        let reference_bound = if late_gain == 1.0 { 3e-2 } else { 1.5e-1 };
        anyhow::ensure!(
            error < reference_bound
                && burn_error < reference_bound
                && flash_error < reference_bound
                && flash_vs_fused < 3e-2
                && cudnn_error < reference_bound
                && cudnn_vs_flash < 3e-2,
            "fused attention of a {chunk}-query chunk after {memory} memory entries (head \
             {head_dim}, late keys ×{late_gain}) differs from the blocked products: {error} (Burn's kernel: \
             {burn_error}, the flash kernel: {flash_error}, cuDNN: {cudnn_error}; the flash \
             kernel from the fused path: {flash_vs_fused}, cuDNN from the flash kernel: \
             {cudnn_vs_flash})"
        );
        let mut line = format!(
            "attention ({chunk} queries, {memory} memory entries, head {head_dim}, late keys ×{late_gain}, bf16) vs blocked: fused {error:.1e}, flash kernel {flash_error:.1e} ({flash_vs_fused:.1e} from fused), cuDNN {cudnn_error:.1e} ({cudnn_vs_flash:.1e} from flash{}), Burn's kernel {burn_error:.1e} [{:.0} s]",
            if cudnn_ran {
                ""
            } else {
                "; the flash kernel stood in"
            },
            started.elapsed().as_secs_f64()
        );
        if memory > 0 && chunk > 4096 {
            let options = AttentionModuleOptions {
                scale: None,
                softcap: None,
                is_causal: true,
            };
            let burn_causal = attention(q, repeat_kv(k, 3), repeat_kv(v, 3), None, None, options);
            let burn_causal = host_f32(burn_causal)?;
            let burn_error = relative_error(&burn_causal, &blocked);
            line += &format!("; Burn's causal flag instead of the mask: {burn_error:.1e}");
        }
        println!("{line}");
    }
    // A cuDNN that is found must have run the cases long enough for it: else the comparison
    // above compared the flash kernel with itself.
    #[cfg(feature = "cuda")]
    anyhow::ensure!(
        cudnn_cases > 0 || !mss::models::cudnn_attention_supported(),
        "cuDNN {:?} was found but ran none of the attention cases (no plan built: see above)",
        mss::models::cudnn_version()
    );
    println!("cuDNN ran {cudnn_cases} of the attention cases\n");
    Ok(())
}
