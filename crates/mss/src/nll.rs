//! Negative log-likelihood of next tokens from a chunk's logits.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;

/// `-log p(target_i | prefix)` for the first `targets.len()` rows of `logits`.
///
/// # Shapes
/// - `logits`: `[1, rows, vocab]` (f32), with `rows >= targets.len()`
pub(crate) fn next_token_nll<B: Backend>(logits: Tensor<B, 3>, targets: &[u32]) -> Vec<f32> {
    let n = targets.len();
    if n == 0 {
        return Vec::new();
    }
    let device = logits.device();
    let log_probs = log_softmax(logits.narrow(1, 0, n), 2);
    let ids: Vec<i32> = targets.iter().map(|&t| t as i32).collect();
    let index = Tensor::<B, 3, Int>::from_data(TensorData::new(ids, [1, n, 1]), &device);
    let picked = log_probs.gather(2, index).neg();
    picked
        .into_data()
        .convert::<f32>()
        .to_vec()
        .expect("f32 log-probabilities")
}
