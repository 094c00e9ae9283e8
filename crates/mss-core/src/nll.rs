//! Negative log-likelihood of next tokens from a chunk's logits.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;

use crate::{CoreError, Result};

/// `-ln p(targets[i] | row i)` for the first `targets.len()` rows of `logits`, through Burn's
/// log-softmax (any backend).
///
/// # Shapes
/// - `logits`: `[1, rows, vocab]` (f32)
///
/// # Errors
/// [`CoreError::InvalidValue`] when there are more targets than rows or a target is outside
/// the vocabulary.
pub fn next_token_nll<B: Backend>(logits: Tensor<B, 3>, targets: &[u32]) -> Result<Vec<f32>> {
    let [_, rows, vocab] = logits.dims();
    check_targets(targets, rows, vocab)?;
    let n = targets.len();
    if n == 0 {
        return Ok(Vec::new());
    }
    let device = logits.device();
    let log_probs = log_softmax(logits.narrow(1, 0, n), 2);
    let ids: Vec<i32> = targets.iter().map(|&t| t as i32).collect();
    let index = Tensor::<B, 3, Int>::from_data(TensorData::new(ids, [1, n, 1]), &device);
    let picked = log_probs.gather(2, index).neg();
    Ok(picked
        .into_data()
        .convert::<f32>()
        .to_vec()
        .expect("f32 log-probabilities"))
}

/// A chunk scored from all its logits: the NLL of `targets` ([`next_token_nll`]) and the last
/// row of logits.
///
/// # Shapes
/// - `logits`: `[1, rows, vocab]` (f32); returns the last row as `[1, 1, vocab]`
///
/// # Errors
/// Those of [`next_token_nll`].
pub fn score_logits<B: Backend>(
    logits: Tensor<B, 3>,
    targets: &[u32],
) -> Result<(Vec<f32>, Tensor<B, 3>)> {
    let rows = logits.dims()[1];
    let nll = next_token_nll(logits.clone(), targets)?;
    Ok((nll, logits.narrow(1, rows - 1, 1)))
}

/// Refuses more targets than rows and targets outside the vocabulary.
///
/// # Errors
/// [`CoreError::InvalidValue`] naming the first problem.
pub fn check_targets(targets: &[u32], rows: usize, vocab: usize) -> Result<()> {
    if targets.len() > rows {
        return Err(CoreError::InvalidValue {
            what: "next-token targets".into(),
            reason: format!("{} targets for {rows} tokens", targets.len()),
        });
    }
    match targets.iter().find(|&&t| t as usize >= vocab) {
        Some(bad) => Err(CoreError::InvalidValue {
            what: "next-token target".into(),
            reason: format!("{bad} is outside the vocabulary of {vocab}"),
        }),
        None => Ok(()),
    }
}
