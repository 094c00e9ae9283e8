//! Joining what a loop over blocks produced.

use burn::prelude::*;
use burn::tensor::BasicOps;

/// `parts` concatenated along `dim`; a single part is returned as it is, since concatenating
/// it would copy it (the usual case when one block covers everything).
///
/// # Panics
/// If `parts` is empty or the parts' shapes differ outside `dim`.
pub fn cat_blocks<B: Backend, const D: usize, K: BasicOps<B>>(
    mut parts: Vec<Tensor<B, D, K>>,
    dim: usize,
) -> Tensor<B, D, K> {
    if parts.len() == 1 {
        parts.remove(0)
    } else {
        Tensor::cat(parts, dim)
    }
}
