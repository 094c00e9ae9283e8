//! The model end to end (CUDA builds): a prefill through the crate's CUDA kernels (cuBLAS
//! products, the attention and RoPE kernels) against one through Burn's operations, compared
//! on the last logits. The kernel checks cover each kernel alone; this one catches what only
//! their composition shows (layouts handed between kernels, memory reused across layers, the
//! pruners' steps). The weights may be random (`crate::random::model`): the work does not
//! depend on them.

use mss::DefaultBackend as B;
use mss::pruners::PrunerKind;
use mss::schedule::MemoryType;
use mss::{PrefillConfig, Prefiller, Transformer};

use super::{host_f32, relative_error};

/// Checks the model's forward pass with the crate's CUDA kernels (cuBLAS products, the attention
/// and RoPE kernels) against Burn's operations on three chunks of 256 tokens with 256 memory
/// entries: full attention and `streaming_llm` must agree on the last logits; `snapkv`'s
/// figure is printed only (rounding can flip its near-tied selections). `ids`: the prompt, of
/// which the first 768 are prefilled. Leaves the crate's kernels switched on.
pub fn check_model_kernels(model: &Transformer<B>, ids: &[u32]) -> anyhow::Result<()> {
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
            crate::switch_cublas(own);
            let mut prefiller = Prefiller::<B>::new(config.clone())?;
            let prefill = prefiller.prefill(model, ids)?;
            host_f32(prefill.next_logits)
        };
        let own = logits(true)?;
        let burn = logits(false)?;
        crate::switch_cublas(true);
        let error = relative_error(&own, &burn);
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
