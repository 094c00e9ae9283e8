//! The model's head on host slices: the final norm and the LM head, as the last rows' logits or
//! as each row's negative log-likelihood a few rows of logits at a time.

use burn::prelude::*;
use rayon::prelude::*;

use super::simd::{cross_entropy, rms_norm};
use super::weights::HostWeights;
use crate::Transformer;

/// Rows of logits the scored head computes at a time: `[NLL_ROWS, vocab]` (6 MiB for a
/// 49K-word vocabulary) stays in cache and is never allocated per chunk at full size.
pub(super) const NLL_ROWS: usize = 32;

/// The final norm and the LM head over the residual rows `x`, `[rows, vocab]`; `normed` is
/// scratch of at least `x`'s length.
pub(super) fn logits(weights: &HostWeights, x: &[f32], normed: &mut [f32]) -> Vec<f32> {
    let hidden = weights.norm.weight().len();
    let rows = x.len() / hidden;
    let normed = &mut normed[..x.len()];
    rms_norm(x, weights.norm.weight(), weights.norm.eps, normed);
    let mut out = vec![0.0; rows * weights.lm_head.d_out()];
    weights.lm_head.forward(normed, &mut out, false);
    out
}

/// `-ln p(targets[i] | row i)` for the first `targets.len()` residual rows of `x`,
/// [`NLL_ROWS`] rows of logits at a time; `normed` is scratch as long as those rows.
pub(super) fn nll(
    weights: &HostWeights,
    x: &[f32],
    normed: &mut [f32],
    targets: &[u32],
) -> Vec<f32> {
    let hidden = weights.norm.weight().len();
    let vocab = weights.lm_head.d_out();
    let n = targets.len();
    let normed = &mut normed[..n * hidden];
    rms_norm(
        &x[..n * hidden],
        weights.norm.weight(),
        weights.norm.eps,
        normed,
    );
    let mut logits = vec![0.0; NLL_ROWS.min(n) * vocab];
    let mut nll = Vec::with_capacity(n);
    for (rows, targets) in normed
        .chunks(NLL_ROWS * hidden)
        .zip(targets.chunks(NLL_ROWS))
    {
        let block = &mut logits[..targets.len() * vocab];
        weights.lm_head.forward(rows, block, false);
        nll.par_extend(
            block
                .par_chunks(vocab)
                .zip(targets)
                .map(|(row, &target)| cross_entropy(row, target as usize)),
        );
    }
    nll
}

/// Host logits `[rows × vocab]` as the model's `[1, rows, vocab]` tensor on its device.
pub(super) fn logits_tensor<B: Backend>(model: &Transformer<B>, logits: Vec<f32>) -> Tensor<B, 3> {
    let vocab = model.config.vocab_size;
    let rows = logits.len() / vocab;
    Tensor::from_data(
        TensorData::new(logits, [1, rows, vocab]),
        &model.embed_tokens.val().device(),
    )
}
