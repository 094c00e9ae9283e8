//! RoPE's cosine and sine table of a step, and rotations through it.

use burn::prelude::*;
use burn::tensor::DType;
#[cfg(feature = "cuda")]
use mss_core::LayerKv;

/// Cosines and sines of the RoPE positions `0..len` of one step, in the rotate-half layout.
///
/// Built once per forward pass (the dynamic scalings depend on the step's last position) and
/// read by every layer: queries take a contiguous range of rows, memory keys select theirs.
/// The sines carry `rotate_half`'s sign (`[-sin, sin]`), so a rotation is two products of the
/// halves-swapped input, with no concatenation. Under compact positions the table spans
/// memory and chunk; under original positions the document so far (at 32K positions and
/// head dim 64, 8 MiB in bf16).
///
/// # Shapes
/// - `cos`, `signed_sin`: `[len, head_dim]`
#[derive(Debug, Clone)]
pub struct RopeTable<B: Backend> {
    cos: Tensor<B, 2>,
    signed_sin: Tensor<B, 2>,
}

impl<B: Backend> RopeTable<B> {
    /// The table of positions `0..len` for the given inverse frequencies, in `dtype`. Angles are
    /// computed in f32, as transformers does.
    pub fn new(len: usize, inv_freq: &[f32], dtype: DType, device: &B::Device) -> Self {
        let half = inv_freq.len();
        let freq = Tensor::<B, 1>::from_data(
            TensorData::new(inv_freq.to_vec(), [half]),
            (device, DType::F32),
        );
        let angles = Tensor::<B, 1, Int>::arange(0..len as i64, device)
            .float()
            .cast(DType::F32)
            .reshape([len, 1])
            .mul(freq.reshape([1, half]));
        let cos = angles.clone().cos();
        let sin = angles.sin();
        Self {
            cos: Tensor::cat(vec![cos.clone(), cos], 1).cast(dtype),
            signed_sin: Tensor::cat(vec![sin.clone().neg(), sin], 1).cast(dtype),
        }
    }

    /// The rows of positions `start..start + n`, shared by every head: `[1, 1, n, head_dim]`.
    pub fn range(&self, start: usize, n: usize) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let d = self.cos.dims()[1];
        let rows = |t: &Tensor<B, 2>| t.clone().narrow(0, start, n).reshape([1, 1, n, d]);
        (rows(&self.cos), rows(&self.signed_sin))
    }

    /// `x` rotated at positions `start..start + len`, the same for every head (one kernel on
    /// Burn's CUDA backend with feature `cuda`, unless `use_rope_kernel` switched it off).
    ///
    /// # Shapes
    /// - `x`: `[1, heads, len, head_dim]`; returns the same
    pub fn rotate_range(&self, x: Tensor<B, 4>, start: usize) -> Tensor<B, 4> {
        #[cfg(feature = "cuda")]
        if let Some(out) = crate::cuda::rotate(&x, &self.cos, &self.signed_sin, None, start) {
            return out;
        }
        let (cos, sin) = self.range(start, x.dims()[2]);
        apply_rope(x, cos, sin)
    }

    /// `[memory; chunk]`, its keys rotated at `start..` and the chunk's queries at
    /// `query_start..`, as [`rotate_range`](Self::rotate_range) rotates them, through one
    /// kernel on Burn's CUDA backend (`None` where that kernel does not apply: the caller joins
    /// and rotates).
    #[cfg(feature = "cuda")]
    pub(crate) fn join_rotated(
        &self,
        memory: &LayerKv<B>,
        chunk: &LayerKv<B>,
        queries: (&Tensor<B, 4>, usize),
        start: usize,
    ) -> Option<(LayerKv<B>, Tensor<B, 4>, Tensor<B, 4>)> {
        crate::cuda::join_rotated(memory, chunk, queries, &self.cos, &self.signed_sin, start)
    }

    /// `x` rotated at explicit per-head positions (each below the table's length; one kernel on
    /// Burn's CUDA backend with feature `cuda`, unless `use_rope_kernel` switched it off).
    ///
    /// # Shapes
    /// - `x`: `[1, heads, len, head_dim]`, `positions`: `[heads, len]`; returns the shape of `x`
    pub fn rotate_at(&self, x: Tensor<B, 4>, positions: Tensor<B, 2, Int>) -> Tensor<B, 4> {
        #[cfg(feature = "cuda")]
        if let Some(out) = crate::cuda::rotate(&x, &self.cos, &self.signed_sin, Some(&positions), 0)
        {
            return out;
        }
        let (cos, sin) = self.select(positions);
        apply_rope(x, cos, sin)
    }

    /// The rows of explicit per-head positions `[heads, n]` (each below the table's length):
    /// `[1, heads, n, head_dim]`.
    pub fn select(&self, positions: Tensor<B, 2, Int>) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let [heads, n] = positions.dims();
        let d = self.cos.dims()[1];
        let flat = positions.reshape([heads * n]);
        let rows = |t: &Tensor<B, 2>| t.clone().select(0, flat.clone()).reshape([1, heads, n, d]);
        (rows(&self.cos), rows(&self.signed_sin))
    }
}

/// Rotates `x` by the given table rows: `x * cos + rotate_half(x) * sin`, computed as
/// `x * cos + swap_halves(x) * signed_sin`.
///
/// # Shapes
/// - `x`: `[1, heads, len, head_dim]`
/// - `cos`, `signed_sin`: `[1, heads or 1, len, head_dim]` (see [`RopeTable`])
pub fn apply_rope<B: Backend>(
    x: Tensor<B, 4>,
    cos: Tensor<B, 4>,
    signed_sin: Tensor<B, 4>,
) -> Tensor<B, 4> {
    let [b, h, t, d] = x.dims();
    let swapped = x
        .clone()
        .reshape([b, h, t, 2, d / 2])
        .flip([3])
        .reshape([b, h, t, d]);
    let cos = cos.expand([b, h, t, d]);
    let signed_sin = signed_sin.expand([b, h, t, d]);
    x.mul(cos).add(swapped.mul(signed_sin))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rope::{RopeScaling, inv_freq};

    type B = burn::backend::Flex;

    /// Hugging Face's definition: `x * cos + rotate_half(x) * sin` with `[cos, cos]`, `[sin, sin]`.
    fn reference(x: &[f32], position: usize, inv_freq: &[f32]) -> Vec<f32> {
        let half = inv_freq.len();
        (0..2 * half)
            .map(|i| {
                let angle = position as f32 * inv_freq[i % half];
                let rotated = if i < half { -x[i + half] } else { x[i - half] };
                x[i] * angle.cos() + rotated * angle.sin()
            })
            .collect()
    }

    #[test]
    fn table_rotation_matches_rotate_half() {
        let device = Default::default();
        let freq = inv_freq(10_000.0, 8, RopeScaling::None, 0);
        let table = RopeTable::<B>::new(12, &freq, DType::F32, &device);
        let x: Vec<f32> = (0..2 * 3 * 8).map(|i| (i as f32 * 0.37).sin()).collect();
        let input = Tensor::<B, 1>::from_floats(x.as_slice(), &device).reshape([1, 2, 3, 8]);

        // Contiguous positions 5, 6, 7 for both heads.
        let (cos, sin) = table.range(5, 3);
        let got: Vec<f32> = apply_rope(input.clone(), cos, sin)
            .into_data()
            .to_vec()
            .unwrap();
        // Explicit positions: head 0 at 0, 4, 11; head 1 at 2, 3, 9.
        let positions = Tensor::<B, 2, Int>::from_data([[0, 4, 11], [2, 3, 9]], &device);
        let (cos, sin) = table.select(positions);
        let selected: Vec<f32> = apply_rope(input, cos, sin).into_data().to_vec().unwrap();

        let explicit = [[0, 4, 11], [2, 3, 9]];
        for (head, head_positions) in explicit.iter().enumerate() {
            for (row, &position) in head_positions.iter().enumerate() {
                let at = (head * 3 + row) * 8;
                let want = reference(&x[at..at + 8], 5 + row, &freq);
                let want_sel = reference(&x[at..at + 8], position, &freq);
                for i in 0..8 {
                    assert!(
                        (got[at + i] - want[i]).abs() < 1e-5,
                        "range {head} {row} {i}"
                    );
                    assert!(
                        (selected[at + i] - want_sel[i]).abs() < 1e-5,
                        "select {head} {row} {i}"
                    );
                }
            }
        }
    }
}
