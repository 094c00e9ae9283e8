//! The KV cache's kernels (CUDA builds): the join of a layer's memory and chunk with its keys'
//! RoPE, and pruning's gather (the sinks and the chosen candidates), each one kernel, and
//! SnapKV's scores (pooled mean attention) as one kernel, against Burn's concatenations, RoPE
//! kernel, selects, cuts, pooling and division. They copy, rotate and add in the same order, so
//! the whole prefill must give the same bits: the memory every layer keeps (keys, values,
//! positions) and the last logits, under a pruner that keeps by position and one that keeps by
//! score, at fixed and at incremental memory.

use mss::DefaultBackend as B;
use mss::pruners::PrunerKind;
use mss::schedule::MemoryType;
use mss::{PrefillConfig, Prefiller, Transformer};

use super::{differing, host_f32};

/// One prefill's result as host values: the last logits, then every layer's keys, values and
/// positions.
struct Outcome {
    logits: Vec<f32>,
    layers: Vec<[Vec<f32>; 3]>,
}

/// Checks a prefill with the KV kernels (`mss::core::cuda::use_kv_kernels`) and the score
/// kernel (`mss::pruners::use_score_kernel`) against one through Burn's operations on the
/// random-weight model: `streaming_llm` and `snapkv` at FM (chunks of 256 after 256 memory
/// entries) and IMDC, `snapkv` at FI and at FM without sinks, over `ids` (the first 768). Every
/// layer's memory and the last logits must be the same bits. Leaves the kernels switched on.
///
/// The attention runs through the flash kernel here whatever `use_cudnn_attention` says: it is
/// not what is checked, and the flash kernel reads either side's queries by their strides with
/// the same arithmetic, where cuDNN builds a plan per layout (the join kernel's queries and
/// Burn's differ in strides) that need not give the same bits.
pub fn check_kv_kernels(model: &Transformer<B>, ids: &[u32]) -> anyhow::Result<()> {
    let cudnn_asked = mss::models::cudnn_attention_enabled();
    mss::models::use_cudnn_attention(false);
    let checked = check_kv_prefills(model, ids);
    mss::models::use_cudnn_attention(cudnn_asked);
    checked
}

fn check_kv_prefills(model: &Transformer<B>, ids: &[u32]) -> anyhow::Result<()> {
    let ids = &ids[..ids.len().min(768)];
    // (label, pruner, memory type, decremental chunks, sinks: the pruner's default unless
    // given). FI appends to the memory instead of re-selecting it (the gather keeps the old
    // memory whole, `start` past it); without sinks `start` is 0.
    let configs = [
        (
            "streaming_llm FM",
            PrunerKind::StreamingLlm,
            MemoryType::Fm,
            false,
            None,
        ),
        ("snapkv FM", PrunerKind::SnapKv, MemoryType::Fm, false, None),
        (
            "streaming_llm IMDC",
            PrunerKind::StreamingLlm,
            MemoryType::Im,
            true,
            None,
        ),
        (
            "snapkv IMDC",
            PrunerKind::SnapKv,
            MemoryType::Im,
            true,
            None,
        ),
        ("snapkv FI", PrunerKind::SnapKv, MemoryType::Fi, false, None),
        (
            "snapkv FM without sinks",
            PrunerKind::SnapKv,
            MemoryType::Fm,
            false,
            Some(0),
        ),
    ];
    let mut line = Vec::new();
    for (label, pruner, memory_type, decremental, sinks) in configs {
        let mut config =
            PrefillConfig::new(pruner, memory_type, 256, 256).with_decremental(decremental);
        if let Some(sinks) = sinks {
            config = config.with_sinks(sinks);
        }
        let run = |kernels: bool| -> anyhow::Result<Outcome> {
            mss::core::cuda::use_kv_kernels(kernels);
            mss::pruners::use_score_kernel(kernels);
            let prefill = Prefiller::<B>::new(config.clone())?.prefill(model, ids)?;
            let mut layers = Vec::new();
            for layer in 0..model.config.num_hidden_layers {
                let kv = prefill
                    .memory
                    .layer(layer)
                    .ok_or_else(|| anyhow::anyhow!("{label}: layer {layer} kept no memory"))?;
                layers.push([
                    host_f32(kv.keys.clone())?,
                    host_f32(kv.values.clone())?,
                    host_f32(kv.positions.clone().float())?,
                ]);
            }
            let logits = host_f32(prefill.next_logits)?;
            Ok(Outcome { logits, layers })
        };
        let launched = || {
            [
                mss::core::cuda::gather_kernel_launches(),
                mss::models::join_kernel_launches(),
                mss::pruners::score_kernel_launches(),
            ]
        };
        let before = launched();
        let kernels = run(true);
        let with = launched();
        let burn = run(false);
        let without = launched();
        mss::core::cuda::use_kv_kernels(true);
        mss::pruners::use_score_kernel(true);
        // A check where neither side ran the kernels (a shape or dtype they refuse, a switch
        // off) would compare Burn's operations with themselves. Only SnapKV scores.
        let ran: Vec<usize> = (0..3).map(|i| with[i] - before[i]).collect();
        let scores_expected = pruner == PrunerKind::SnapKv;
        anyhow::ensure!(
            ran[0] > 0 && ran[1] > 0 && (ran[2] > 0) == scores_expected && without == with,
            "{label}: the kernels did not run as asked ({} gathers, {} joins, {} scores through \
             them; {:?} more with them switched off)",
            ran[0],
            ran[1],
            ran[2],
            (0..3).map(|i| without[i] - with[i]).collect::<Vec<_>>()
        );
        let (kernels, burn) = (kernels?, burn?);
        let entries: usize = kernels.layers.iter().map(|l| l[2].len()).sum();
        for (layer, (k, b)) in kernels.layers.iter().zip(&burn.layers).enumerate() {
            for (part, (k, b)) in ["keys", "values", "positions"].iter().zip(k.iter().zip(b)) {
                let differ = differing(k, b);
                anyhow::ensure!(
                    differ == 0,
                    "{label}: layer {layer}'s {part} through the KV kernels differ from Burn's \
                     operations in {differ} of {} values",
                    k.len().max(b.len())
                );
            }
        }
        let differ = differing(&kernels.logits, &burn.logits);
        anyhow::ensure!(
            differ == 0,
            "{label}: the last logits through the KV kernels differ from Burn's operations in \
             {differ} of {}",
            kernels.logits.len()
        );
        line.push(format!("{label} {entries} entries"));
    }
    println!(
        "KV kernels (join with RoPE, gather) and SnapKV's score kernel vs Burn's operations, {} tokens: memories and last \
         logits the same bits ({})\n",
        ids.len(),
        line.join(", ")
    );
    Ok(())
}
